//! Rolling deploys on PostgreSQL: statements that lock a busy table.
//!
//! While a new version migrates, the replicas of the old version keep serving from the
//! same tables. A statement that holds a strong lock on a table for as long as it scans
//! or rewrites it (or that renames what the old binary still reads) stops them. The
//! rules are data ([`RULES`]): what the statement locks and why, and the safe recipe.
//!
//! They apply to the tables that an *earlier* migration of the folder created: a table
//! created in the same file is still empty and unseen by the running version. Tables
//! are tracked in version order through `CREATE TABLE`, `ALTER TABLE … RENAME TO` and
//! `DROP TABLE`, indexes through `CREATE INDEX … ON table` (so that `DROP INDEX` knows
//! its table). Names are compared by their last part, folded as PostgreSQL folds them
//! (`public.Users`, `users` and `"users"` are one table; `"Users"` is another): most
//! folders use one schema through the search path, and a missed table is a missed lock.
//!
//! Deliberately simple:
//! - `CREATE INDEX CONCURRENTLY` and `DROP INDEX CONCURRENTLY` are fine (PostgreSQL
//!   refuses them inside a transaction, so they need `-- schema: no-transaction`).
//! - `ALTER COLUMN … TYPE` is flagged except to `text` and to `varchar` without a
//!   length, which are binary-coercible from `varchar(n)` and `text` (the old type is
//!   not tracked, so `varchar(n)` → `varchar(m)` is flagged too: acknowledge it).
//! - A volatile default is one that calls `random()`, `clock_timestamp()`,
//!   `timeofday()`, `gen_random_uuid()`, `uuid_generate_v1()`/`v1mc()`/`v4()` or
//!   `nextval()`, or a `serial` type; `now()` is stable and PostgreSQL 11+ adds a column
//!   with a non-volatile default without a rewrite.
//! - `ADD COLUMN … UNIQUE` (or `PRIMARY KEY`) builds its index as `ADD UNIQUE` does;
//!   an inline `REFERENCES` or `CHECK` on a new column is not flagged (its values are
//!   all null or the default, so the check is quick), nor a `GENERATED … STORED` column.
//! - `SET NOT NULL` is fine once a `CHECK (col IS NOT NULL)` on that table was added
//!   validated, or added `NOT VALID` and then `VALIDATE CONSTRAINT`ed, by this or an
//!   earlier migration.

use std::collections::{HashMap, HashSet};

use crate::Dialect;
use crate::sql::{Token, TokenKind, split_statements};

/// The directive that acknowledges every statement of a file that these rules flag.
pub const DIRECTIVE: &str = "locks-tables";

/// One rule.
#[derive(PartialEq, Eq, Debug)]
pub struct Rule {
    /// Its name, as messages and the README name it.
    pub name: &'static str,
    /// The statement, as messages name it; `{table}` stands for the table.
    pub statement: &'static str,
    /// What it locks and why; `{table}` stands for the table.
    pub locks: &'static str,
    /// The safe recipe.
    pub recipe: &'static str,
}

/// Every rule.
pub const RULES: &[Rule] = &[
    Rule {
        name: "create-index",
        statement: "CREATE INDEX on {table} without CONCURRENTLY",
        locks: "blocks writes to {table} while it builds",
        recipe: "create it with CREATE INDEX CONCURRENTLY in a file of its own starting with -- schema: no-transaction",
    },
    Rule {
        name: "drop-index",
        statement: "DROP INDEX of an index on {table} without CONCURRENTLY",
        locks: "blocks reads and writes of {table} until every running query on it ends",
        recipe: "drop it with DROP INDEX CONCURRENTLY in a file of its own starting with -- schema: no-transaction",
    },
    Rule {
        name: "add-column-not-null",
        statement: "ADD COLUMN … NOT NULL without a default on {table}",
        locks: "fails on a table with rows, and the replicas still running the old binary insert rows without the column",
        recipe: "add the column nullable (or with a constant default), backfill it in batches, then add a CHECK (… IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL in later migrations",
    },
    Rule {
        name: "add-column-volatile-default",
        statement: "ADD COLUMN with a volatile default on {table}",
        locks: "rewrites {table} under an ACCESS EXCLUSIVE lock, blocking reads and writes",
        recipe: "add the column without a default (or with a constant one), then backfill it in batches",
    },
    Rule {
        name: "add-constraint-not-valid",
        statement: "ADD FOREIGN KEY or CHECK on {table} without NOT VALID",
        locks: "scans {table} to validate every row while blocking writes to it",
        recipe: "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration (which lets writes through)",
    },
    Rule {
        name: "alter-column-type",
        statement: "ALTER COLUMN … TYPE on {table}",
        locks: "rewrites {table} and its indexes under an ACCESS EXCLUSIVE lock, blocking reads and writes (only a change to text or unbounded varchar is known not to)",
        recipe: "add a column of the new type, write both from the application, backfill in batches, then switch reads and drop the old column",
    },
    Rule {
        name: "set-not-null",
        statement: "SET NOT NULL on {table} without a validated CHECK (… IS NOT NULL)",
        locks: "scans {table} under an ACCESS EXCLUSIVE lock, blocking reads and writes",
        recipe: "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan)",
    },
    Rule {
        name: "add-unique-without-index",
        statement: "ADD UNIQUE or PRIMARY KEY on {table} without USING INDEX",
        locks: "builds its index while blocking writes to {table}",
        recipe: "CREATE UNIQUE INDEX CONCURRENTLY in a -- schema: no-transaction file, then ADD CONSTRAINT … UNIQUE USING INDEX (or PRIMARY KEY USING INDEX) in a later migration",
    },
    Rule {
        name: "rename-table",
        statement: "renaming {table}",
        locks: "breaks the replicas still running the old binary, which use the old name",
        recipe: "create the new table (or a view under the new name), move the application to it in one release, and drop the old name in a later one",
    },
    Rule {
        name: "rename-column",
        statement: "renaming a column of {table}",
        locks: "breaks the replicas still running the old binary, which use the old name",
        recipe: "add a column under the new name, write both and backfill, move reads to it in one release, and drop the old column in a later one",
    },
];

fn rule(name: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.name == name)
        .expect("a rule of RULES")
}

/// A statement that locks a busy table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Locking {
    /// The rule.
    pub rule: &'static Rule,
    /// 1-based line.
    pub line: usize,
    /// The table, as the migration names it (last part, folded).
    pub table: String,
}

impl Locking {
    /// The message: `line 3: CREATE INDEX on accounts without CONCURRENTLY blocks …`.
    pub fn message(&self) -> String {
        let fill = |s: &str| s.replace("{table}", &self.table);
        format!(
            "line {}: {} {}; {}, or acknowledge with -- schema: {DIRECTIVE}",
            self.line,
            fill(self.rule.statement),
            fill(self.rule.locks),
            self.rule.recipe
        )
    }
}

/// What the migrations read so far have made of the schema.
#[derive(Clone, Default, Debug)]
pub struct Tables {
    tables: HashSet<String>,
    /// Index name → its table.
    indexes: HashMap<String, String>,
    /// `(table, column)` pairs with a validated `CHECK (column IS NOT NULL)`.
    not_null_checks: HashSet<(String, String)>,
    /// Constraint name → `(table, column)` of a `CHECK (column IS NOT NULL) NOT VALID`.
    pending_checks: HashMap<String, (String, String)>,
}

impl Tables {
    /// Whether an earlier migration created `table` (folded last part).
    pub fn contains(&self, table: &str) -> bool {
        self.tables.contains(table)
    }

    /// Reads one migration (an up file, in version order): returns what it does to
    /// the tables that earlier migrations created, and records what it creates.
    pub fn read(&mut self, sql: &str) -> Vec<Locking> {
        let mut found = Vec::new();
        // The tables this file created: exempt until the file ends.
        let mut fresh: HashSet<String> = HashSet::new();
        for statement in split_statements(sql, Dialect::Postgres) {
            let t = &statement.tokens;
            let old = |table: &str, fresh: &HashSet<String>| {
                self.tables.contains(table) && !fresh.contains(table)
            };
            let mut flag = |name: &str, line: usize, table: &str| {
                found.push(Locking {
                    rule: rule(name),
                    line,
                    table: table.to_owned(),
                })
            };
            match (word(t, 0), word(t, 1)) {
                (Some("CREATE"), _) => {
                    let mut at = 1;
                    skip(t, &mut at, &["GLOBAL", "LOCAL"]);
                    if matches!(word(t, at), Some("TEMP" | "TEMPORARY")) {
                        continue;
                    }
                    skip(t, &mut at, &["UNLOGGED"]);
                    match word(t, at) {
                        Some("TABLE") => {
                            at += 1;
                            skip_if_exists(t, &mut at);
                            if let Some(name) = name(sql, t, &mut at) {
                                fresh.insert(name.clone());
                                self.tables.insert(name);
                            }
                        }
                        Some("UNIQUE" | "INDEX") => {
                            skip(t, &mut at, &["UNIQUE"]);
                            at += 1; // INDEX
                            let concurrently = skip(t, &mut at, &["CONCURRENTLY"]);
                            skip_if_exists(t, &mut at);
                            let index = match word(t, at) {
                                Some("ON") => None,
                                _ => name(sql, t, &mut at),
                            };
                            if word(t, at) != Some("ON") {
                                continue;
                            }
                            at += 1;
                            skip(t, &mut at, &["ONLY"]);
                            let Some(table) = name(sql, t, &mut at) else {
                                continue;
                            };
                            if !concurrently && old(&table, &fresh) {
                                flag("create-index", statement.line, &table);
                            }
                            if let Some(index) = index {
                                self.indexes.insert(index, table);
                            }
                        }
                        _ => {}
                    }
                }
                (Some("DROP"), Some("TABLE")) => {
                    let mut at = 2;
                    skip_if_exists(t, &mut at);
                    while let Some(name) = name(sql, t, &mut at) {
                        self.tables.remove(&name);
                        if !symbol(t, at, ',') {
                            break;
                        }
                        at += 1;
                    }
                }
                (Some("DROP"), Some("INDEX")) => {
                    let mut at = 2;
                    let concurrently = skip(t, &mut at, &["CONCURRENTLY"]);
                    skip_if_exists(t, &mut at);
                    while let Some(index) = name(sql, t, &mut at) {
                        if let Some(table) = self.indexes.remove(&index)
                            && !concurrently
                            && old(&table, &fresh)
                        {
                            flag("drop-index", statement.line, &table);
                        }
                        if !symbol(t, at, ',') {
                            break;
                        }
                        at += 1;
                    }
                }
                (Some("ALTER"), Some("TABLE")) => {
                    let mut at = 2;
                    skip_if_exists(t, &mut at);
                    skip(t, &mut at, &["ONLY"]);
                    let Some(table) = name(sql, t, &mut at) else {
                        continue;
                    };
                    let busy = old(&table, &fresh);
                    for action in actions(&t[at..]) {
                        if let Some(rename) = self.alter(sql, &table, action) {
                            match rename {
                                Renamed::Table(new) => {
                                    if busy {
                                        flag("rename-table", action[0].line, &table);
                                    }
                                    self.tables.remove(&table);
                                    if fresh.remove(&table) {
                                        fresh.insert(new.clone());
                                    }
                                    self.tables.insert(new);
                                }
                                Renamed::Column => {
                                    if busy {
                                        flag("rename-column", action[0].line, &table);
                                    }
                                }
                                Renamed::Rule(name) => {
                                    if busy {
                                        flag(name, action[0].line, &table);
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// One action of `ALTER TABLE table …`: records constraints, and says what it
    /// does that a rule may flag.
    fn alter(&mut self, sql: &str, table: &str, action: &[Token]) -> Option<Renamed> {
        let w: Vec<&str> = top_words(action);
        match w.first().copied() {
            Some("RENAME") => match (w.get(1).copied(), w.get(2).copied()) {
                (Some("TO"), _) => {
                    let mut at = 2;
                    name(sql, action, &mut at).map(Renamed::Table)
                }
                (Some("CONSTRAINT"), _) => None,
                _ => Some(Renamed::Column),
            },
            Some("VALIDATE") => {
                let mut at = 2;
                let constraint = name(sql, action, &mut at)?;
                if let Some(pair) = self.pending_checks.remove(&constraint) {
                    self.not_null_checks.insert(pair);
                }
                None
            }
            Some("ADD") => {
                let mut at = 1;
                let constraint = if word(action, at) == Some("CONSTRAINT") {
                    at += 1;
                    name(sql, action, &mut at)
                } else {
                    None
                };
                let not_valid = w.windows(2).any(|p| p == ["NOT", "VALID"]);
                match word(action, at) {
                    Some("FOREIGN") => {
                        (!not_valid).then_some(Renamed::Rule("add-constraint-not-valid"))
                    }
                    Some("CHECK") => {
                        if let Some(column) = not_null_check(sql, &action[at + 1..]) {
                            let pair = (table.to_owned(), column);
                            match (not_valid, constraint) {
                                (false, _) => {
                                    self.not_null_checks.insert(pair);
                                }
                                (true, Some(c)) => {
                                    self.pending_checks.insert(c, pair);
                                }
                                (true, None) => {}
                            }
                        }
                        (!not_valid).then_some(Renamed::Rule("add-constraint-not-valid"))
                    }
                    Some("UNIQUE" | "PRIMARY") => {
                        let using = w.windows(2).any(|p| p == ["USING", "INDEX"]);
                        (!using).then_some(Renamed::Rule("add-unique-without-index"))
                    }
                    Some("EXCLUDE") | None => None,
                    Some(_) => {
                        // A column: ADD [COLUMN] [IF NOT EXISTS] name type …
                        let volatile = action.iter().enumerate().any(|(i, t)| {
                            matches!(&t.kind, TokenKind::Word(f) if VOLATILE.contains(&f.as_str()))
                                && symbol(action, i + 1, '(')
                        }) || w.iter().any(|x| SERIALS.contains(x));
                        let not_null = w.windows(2).any(|p| p == ["NOT", "NULL"]);
                        let default = w.contains(&"DEFAULT");
                        // An inline UNIQUE or PRIMARY KEY builds its index as ADD UNIQUE does.
                        let unique = w.iter().skip(1).any(|x| *x == "UNIQUE" || *x == "PRIMARY");
                        if volatile {
                            Some(Renamed::Rule("add-column-volatile-default"))
                        } else if unique {
                            Some(Renamed::Rule("add-unique-without-index"))
                        } else if not_null && !default {
                            Some(Renamed::Rule("add-column-not-null"))
                        } else {
                            None
                        }
                    }
                }
            }
            Some("ALTER") => {
                let mut at = 1;
                skip(action, &mut at, &["COLUMN"]);
                let column = name(sql, action, &mut at)?;
                let rest = &w[w.len().min(at)..];
                let rest: Vec<&str> = rest.to_vec();
                let ty = match rest.as_slice() {
                    ["TYPE", ..] => Some(1),
                    ["SET", "DATA", "TYPE", ..] => Some(3),
                    _ => None,
                };
                if let Some(skip_words) = ty {
                    let new_type = &rest[skip_words..];
                    let ty_at = at + skip_words;
                    let has_length = symbol(action, ty_at + new_type_len(new_type), '(');
                    // `text[]` is an array: not the same as `text`.
                    let array = symbol(action, ty_at + new_type_len(new_type), '[');
                    let coercible = !array
                        && match new_type {
                            ["TEXT", ..] => true,
                            ["VARCHAR", ..] => !has_length,
                            ["CHARACTER", "VARYING", ..] => !has_length,
                            _ => false,
                        };
                    return (!coercible).then_some(Renamed::Rule("alter-column-type"));
                }
                if rest.starts_with(&["SET", "NOT", "NULL"]) {
                    let checked = self
                        .not_null_checks
                        .contains(&(table.to_owned(), column.clone()));
                    return (!checked).then_some(Renamed::Rule("set-not-null"));
                }
                None
            }
            _ => None,
        }
    }
}

/// Words of a type name before its `(`: `VARCHAR` is 1, `CHARACTER VARYING` is 2.
fn new_type_len(new_type: &[&str]) -> usize {
    match new_type {
        ["CHARACTER", "VARYING", ..] => 2,
        _ => 1,
    }
}

enum Renamed {
    Table(String),
    Column,
    Rule(&'static str),
}

/// Functions whose value differs per row: a default calling one rewrites the table.
const VOLATILE: &[&str] = &[
    "RANDOM",
    "CLOCK_TIMESTAMP",
    "TIMEOFDAY",
    "GEN_RANDOM_UUID",
    "UUID_GENERATE_V1",
    "UUID_GENERATE_V1MC",
    "UUID_GENERATE_V4",
    "NEXTVAL",
];

/// Types whose default is `nextval(…)`.
const SERIALS: &[&str] = &[
    "SERIAL",
    "BIGSERIAL",
    "SMALLSERIAL",
    "SERIAL4",
    "SERIAL8",
    "SERIAL2",
];

/// The column of `( column IS NOT NULL )`.
fn not_null_check(sql: &str, tokens: &[Token]) -> Option<String> {
    if !symbol(tokens, 0, '(') {
        return None;
    }
    let mut at = 1;
    let column = name(sql, tokens, &mut at)?;
    let rest: Vec<Option<&str>> = (at..at + 3).map(|i| word(tokens, i)).collect();
    (rest == [Some("IS"), Some("NOT"), Some("NULL")] && symbol(tokens, at + 3, ')'))
        .then_some(column)
}

/// The actions of an `ALTER TABLE`, split at top-level commas.
fn actions(tokens: &[Token]) -> Vec<&[Token]> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::Symbol('(') => depth += 1,
            TokenKind::Symbol(')') => depth = depth.saturating_sub(1),
            TokenKind::Symbol(',') if depth == 0 => {
                out.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&tokens[start..]);
    out.retain(|a| !a.is_empty());
    out
}

/// The words outside parentheses.
fn top_words(tokens: &[Token]) -> Vec<&str> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for token in tokens {
        match &token.kind {
            TokenKind::Symbol('(') => depth += 1,
            TokenKind::Symbol(')') => depth = depth.saturating_sub(1),
            TokenKind::Word(w) if depth == 0 => out.push(w.as_str()),
            // A quoted name is a word in position, though not a keyword.
            TokenKind::QuotedName if depth == 0 => out.push(""),
            _ => {}
        }
    }
    out
}

fn word(tokens: &[Token], at: usize) -> Option<&str> {
    match tokens.get(at).map(|t| &t.kind) {
        Some(TokenKind::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn symbol(tokens: &[Token], at: usize, c: char) -> bool {
    tokens.get(at).map(|t| &t.kind) == Some(&TokenKind::Symbol(c))
}

/// Steps past one of `words` at `*at`, saying whether it did.
fn skip(tokens: &[Token], at: &mut usize, words: &[&str]) -> bool {
    match word(tokens, *at) {
        Some(w) if words.contains(&w) => {
            *at += 1;
            true
        }
        _ => false,
    }
}

fn skip_if_exists(tokens: &[Token], at: &mut usize) {
    match (word(tokens, *at), word(tokens, *at + 1)) {
        (Some("IF"), Some("EXISTS")) => *at += 2,
        (Some("IF"), Some("NOT")) => *at += 3,
        _ => {}
    }
}

/// A name from `tokens[*at]` on (`t`, `s.t`, `"T"`), its last part folded as
/// PostgreSQL folds it, and `*at` past it.
fn name(sql: &str, tokens: &[Token], at: &mut usize) -> Option<String> {
    let mut last;
    loop {
        let token = tokens.get(*at)?;
        last = match &token.kind {
            TokenKind::Word(w) => w.to_ascii_lowercase(),
            TokenKind::QuotedName => sql
                .get(token.start..token.end)?
                .trim_matches('"')
                .replace("\"\"", "\""),
            _ => return None,
        };
        *at += 1;
        if !symbol(tokens, *at, '.') {
            return Some(last);
        }
        *at += 1;
    }
}

/// Reads the up files of a folder in version order, each with whether it is new, and
/// judges the new ones: `(index, findings)` for each judged file with findings.
pub fn judge_folder<'a>(
    ups: impl IntoIterator<Item = (&'a str, bool)>,
) -> Vec<(usize, Vec<Locking>)> {
    let mut tables = Tables::default();
    let mut out = Vec::new();
    for (i, (sql, judged)) in ups.into_iter().enumerate() {
        let found = tables.read(sql);
        if judged && !found.is_empty() {
            out.push((i, found));
        }
    }
    out
}

#[cfg(test)]
#[path = "locking_tests.rs"]
mod tests;
