//! The destructive-statement lint: data loss should be a decision, not an accident.
//!
//! The rules are data ([`RULES`]): the statement, why it loses data, and the dialects
//! where it does. They are matched where a statement runs now: at the start of each
//! top-level statement, inside a common table expression (`WITH d AS (DELETE …)`), in the
//! body of a PostgreSQL `DO` block, and in the SQL that a migration runs dynamically
//! (`EXECUTE '…'` in a `DO` block or a routine, MySQL's `PREPARE … FROM '…'`).
//! Statements in the bodies of routines and triggers run later, when called, and do not
//! count; dynamic SQL in them does, because it hides what it runs from every reader.
//! Nor does a `DROP TABLE` of temporary tables that the file itself created (and did not
//! rename): like `DROP TEMPORARY TABLE`, it loses no data from before the migration.

use std::fmt;

use crate::Dialect;
use crate::sql::{Token, TokenKind, literal_text, split_statements, tokenize};

/// A statement that can destroy data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Destructive {
    /// What kind of statement, for example `DROP TABLE` or `DELETE without WHERE`.
    pub kind: &'static str,
    /// Why it loses data.
    pub why: &'static str,
    /// 1-based line where the statement starts.
    pub line: usize,
    /// The statement's first line, shortened.
    pub excerpt: String,
    /// Where it was found, when not as a statement of the file itself (`dynamic SQL`,
    /// `a DO block`).
    pub within: Option<&'static str>,
}

impl fmt::Display for Destructive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}", self.kind, self.line)?;
        if let Some(within) = self.within {
            write!(f, " in {within}")?;
        }
        write!(f, ": `{}` ({})", self.excerpt, self.why)
    }
}

/// One rule of the lint.
#[derive(Debug)]
pub struct Rule {
    /// The statement, as messages name it.
    pub kind: &'static str,
    /// Why it loses data.
    pub why: &'static str,
    /// The dialects where it applies.
    pub dialects: &'static [Dialect],
    /// How it is recognised.
    pub shape: Shape,
}

/// How a rule recognises its statement, from the statement's first word on.
#[derive(Debug)]
pub enum Shape {
    /// These words, in order; each position lists the words that may stand there.
    Words(&'static [&'static [&'static str]]),
    /// These words, and later in the statement this sequence of words.
    WordsThen(&'static [&'static [&'static str]], &'static [&'static str]),
    /// `DELETE` with no `WHERE` of its own (one inside a subquery does not filter it).
    DeleteWithoutWhere,
    /// `ALTER TABLE … DROP` of a column, with or without the word `COLUMN`, among the
    /// table's other changes (dropping a constraint, index or default loses no data).
    AlterTableDropColumn,
}

const ALL: &[Dialect] = &Dialect::ALL;
const SERVERS: &[Dialect] = &[Dialect::Postgres, Dialect::Mysql];
const POSTGRES: &[Dialect] = &[Dialect::Postgres];
const MYSQL: &[Dialect] = &[Dialect::Mysql];

/// Every rule of the lint.
pub const RULES: &[Rule] = &[
    Rule {
        kind: "DROP TABLE",
        why: "removes the table and every row in it",
        dialects: ALL,
        shape: Shape::Words(&[&["DROP"], &["TABLE", "TABLES"]]),
    },
    Rule {
        kind: "DROP SCHEMA",
        why: "removes every table in the schema",
        dialects: SERVERS,
        shape: Shape::Words(&[&["DROP"], &["SCHEMA"]]),
    },
    Rule {
        kind: "DROP DATABASE",
        why: "removes every table in the database",
        dialects: SERVERS,
        shape: Shape::Words(&[&["DROP"], &["DATABASE"]]),
    },
    Rule {
        kind: "DROP OWNED",
        why: "removes every object the role owns, tables included",
        dialects: POSTGRES,
        shape: Shape::Words(&[&["DROP"], &["OWNED"]]),
    },
    Rule {
        kind: "DROP … CASCADE",
        why: "also drops the columns that use the type, domain or extension",
        dialects: POSTGRES,
        shape: Shape::WordsThen(&[&["DROP"], &["TYPE", "DOMAIN", "EXTENSION"]], &["CASCADE"]),
    },
    Rule {
        kind: "TRUNCATE",
        why: "removes every row",
        dialects: SERVERS,
        shape: Shape::Words(&[&["TRUNCATE"]]),
    },
    Rule {
        kind: "DELETE without WHERE",
        why: "removes every row",
        dialects: ALL,
        shape: Shape::DeleteWithoutWhere,
    },
    Rule {
        kind: "REPLACE INTO",
        why: "deletes each row it replaces, and what references it",
        dialects: MYSQL,
        shape: Shape::Words(&[&["REPLACE"], &["INTO", "LOW_PRIORITY", "DELAYED"]]),
    },
    Rule {
        kind: "DROP COLUMN",
        why: "removes the column's values",
        dialects: ALL,
        shape: Shape::AlterTableDropColumn,
    },
    Rule {
        kind: "ALTER TABLE … DROP PARTITION",
        why: "removes the partition's rows",
        dialects: SERVERS,
        shape: Shape::WordsThen(&[&["ALTER"], &["TABLE"]], &["DROP", "PARTITION"]),
    },
    Rule {
        kind: "ALTER TABLE … TRUNCATE PARTITION",
        why: "removes the partition's rows",
        dialects: MYSQL,
        shape: Shape::WordsThen(&[&["ALTER"], &["TABLE"]], &["TRUNCATE", "PARTITION"]),
    },
];

/// Finds the statements in `sql` that destroy data, as `dialect` reads the text.
///
/// ```
/// use schema_core::Dialect;
/// use schema_core::lint::find_destructive;
///
/// let sql = "ALTER TABLE users ADD COLUMN a int;\nALTER TABLE users DROP COLUMN b;";
/// let found = find_destructive(sql, Dialect::Postgres);
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].kind, "DROP COLUMN");
/// assert_eq!(found[0].line, 2);
/// assert!(find_destructive("DELETE FROM sessions WHERE expired;", Dialect::Sqlite).is_empty());
/// let cte = "WITH d AS (DELETE FROM users RETURNING 1) SELECT count(*) FROM d;";
/// assert_eq!(find_destructive(cte, Dialect::Postgres)[0].kind, "DELETE without WHERE");
/// ```
pub fn find_destructive(sql: &str, dialect: Dialect) -> Vec<Destructive> {
    let mut found = Vec::new();
    let statements = split_statements(sql, dialect);
    // MySQL prepares from a variable as often as from a literal: a file that prepares
    // has every literal read as the SQL it may run.
    let prepares =
        dialect == Dialect::Mysql && statements.iter().any(|s| s.words().any(|w| w == "PREPARE"));
    // The temporary tables this file has created so far: dropping one of them loses no
    // data from before the migration, as `DROP TEMPORARY TABLE` does not.
    let mut temporary: Vec<Vec<String>> = Vec::new();
    for statement in &statements {
        let routine = statement.is_routine_definition();
        if !routine {
            if let Some(name) = created_temporary_table(&statement.tokens, sql) {
                temporary.push(name);
            }
            forget_renamed(&statement.tokens, sql, &mut temporary);
            if !drops_only_temporary_tables(&statement.tokens, sql, &mut temporary) {
                scan(&statement.tokens, sql, dialect, None, &mut found);
            }
        }
        let first = statement.words().next();
        if dialect == Dialect::Postgres && (first == Some("DO") || routine) {
            for body in statement.tokens.iter().filter(|t| is_dollar_body(sql, t)) {
                scan_body(sql, body, first == Some("DO"), &mut found);
            }
        }
        let dynamic = statement.words().any(|w| w == "EXECUTE" || w == "PREPARE");
        if (dynamic && (routine || dialect == Dialect::Mysql)) || prepares {
            scan_literals(sql, &statement.tokens, dialect, &mut found);
        }
    }
    found.sort_by_key(|d| d.line);
    found.dedup();
    found
}

/// The destructive statements of a file that serves several dialects: each rule under
/// each dialect's reading, once, with the dialect named where only some read it so.
pub fn find_destructive_in(sql: &str, dialects: &[Dialect]) -> Vec<(Destructive, Vec<Dialect>)> {
    let mut found: Vec<(Destructive, Vec<Dialect>)> = Vec::new();
    for &dialect in dialects {
        for item in find_destructive(sql, dialect) {
            match found.iter_mut().find(|(d, _)| *d == item) {
                Some((_, seen)) => seen.push(dialect),
                None => found.push((item, vec![dialect])),
            }
        }
    }
    found.sort_by_key(|(d, _)| d.line);
    found
}

/// Matches the rules at every place in `tokens` where a statement that runs now can
/// start: the beginning, after `(` (a common table expression or subquery), after the
/// `)` that ends a `WITH` clause, and after `AS` in `PREPARE name AS …`.
fn scan(
    tokens: &[Token],
    sql: &str,
    dialect: Dialect,
    within: Option<&'static str>,
    found: &mut Vec<Destructive>,
) {
    let starts_with = |word: &str| matches!(tokens.first().map(|t| &t.kind), Some(TokenKind::Word(w)) if w == word);
    let with = starts_with("WITH");
    let prepare = starts_with("PREPARE");
    for at in 0..tokens.len() {
        let starts_here = at == 0
            || match &tokens[at - 1].kind {
                TokenKind::Symbol('(') => true,
                TokenKind::Symbol(')') => with,
                TokenKind::Word(w) => prepare && w == "AS",
                _ => false,
            };
        if starts_here && let Some(rule) = matching_rule(&tokens[at..], dialect) {
            found.push(Destructive {
                kind: rule.kind,
                why: rule.why,
                line: tokens[at].line,
                excerpt: excerpt(&sql[tokens[at].start..statement_end(&tokens[at..])]),
                within,
            });
        }
    }
}

/// The rule `tokens` (from a statement's first word) matches under `dialect`, if any.
fn matching_rule(tokens: &[Token], dialect: Dialect) -> Option<&'static Rule> {
    let words: Vec<&str> = own_words(tokens);
    RULES.iter().find(|rule| {
        rule.dialects.contains(&dialect)
            && match &rule.shape {
                Shape::Words(pattern) => starts(&words, pattern),
                Shape::WordsThen(pattern, then) => {
                    starts(&words, pattern) && words.windows(then.len()).any(|w| w == *then)
                }
                Shape::DeleteWithoutWhere => {
                    words.first() == Some(&"DELETE") && !words.contains(&"WHERE")
                }
                Shape::AlterTableDropColumn => {
                    starts(&words, &[&["ALTER"], &["TABLE"]]) && drops_a_column(&words)
                }
            }
    })
}

fn starts(words: &[&str], pattern: &[&[&str]]) -> bool {
    words.len() >= pattern.len()
        && pattern
            .iter()
            .zip(words)
            .all(|(allowed, word)| allowed.contains(word))
}

/// The tokens of the statement that starts `tokens`, each with its nesting depth below
/// the statement: it ends at a `;` or at a `)` that closes an outer parenthesis.
fn own_tokens(tokens: &[Token]) -> impl Iterator<Item = (usize, &Token)> {
    let mut depth = 0usize;
    tokens.iter().map_while(move |token| {
        match &token.kind {
            TokenKind::Symbol('(') => depth += 1,
            TokenKind::Symbol(')') if depth == 0 => return None,
            TokenKind::Symbol(')') => depth -= 1,
            TokenKind::Semicolon => return None,
            _ => {}
        }
        Some((depth, token))
    })
}

/// The words of the statement that starts `tokens`, at its own nesting level: the words
/// inside its parentheses (a subquery's `WHERE`) are not its own.
fn own_words(tokens: &[Token]) -> Vec<&str> {
    own_tokens(tokens)
        .filter_map(|(depth, token)| match &token.kind {
            TokenKind::Word(word) if depth == 0 => Some(word.as_str()),
            _ => None,
        })
        .collect()
}

/// Where the statement that starts `tokens` ends, as a byte offset.
fn statement_end(tokens: &[Token]) -> usize {
    own_tokens(tokens)
        .last()
        .or(tokens.first().map(|t| (0, t)))
        .map_or(0, |(_, t)| t.end)
}

/// The name of the temporary table that a `CREATE [GLOBAL|LOCAL] TEMP[ORARY] TABLE
/// [IF NOT EXISTS] name …` statement creates.
fn created_temporary_table(tokens: &[Token], sql: &str) -> Option<Vec<String>> {
    let mut at = 0;
    if word_at(tokens, at) != Some("CREATE") {
        return None;
    }
    at += 1;
    if matches!(word_at(tokens, at), Some("GLOBAL" | "LOCAL")) {
        at += 1;
    }
    if !matches!(word_at(tokens, at), Some("TEMP" | "TEMPORARY"))
        || word_at(tokens, at + 1) != Some("TABLE")
    {
        return None;
    }
    at += 2;
    if word_at(tokens, at) == Some("IF") {
        at += 3; // IF NOT EXISTS
    }
    table_name(tokens, sql, &mut at)
}

/// Whether `tokens` are a `DROP TABLE [IF EXISTS] a, b … [CASCADE|RESTRICT]` whose every
/// table is one of the `temporary` tables the file created; those are then taken out of
/// the list, so that a second `DROP TABLE` of the name (which reaches the permanent table
/// of that name, if any) counts again.
fn drops_only_temporary_tables(
    tokens: &[Token],
    sql: &str,
    temporary: &mut Vec<Vec<String>>,
) -> bool {
    if temporary.is_empty()
        || word_at(tokens, 0) != Some("DROP")
        || word_at(tokens, 1) != Some("TABLE")
    {
        return false;
    }
    let mut at = 2;
    if word_at(tokens, at) == Some("IF") && word_at(tokens, at + 1) == Some("EXISTS") {
        at += 2;
    }
    let mut remaining = temporary.clone();
    loop {
        let Some(name) = table_name(tokens, sql, &mut at) else {
            return false;
        };
        let Some(index) = remaining.iter().position(|created| *created == name) else {
            return false;
        };
        remaining.remove(index);
        match tokens.get(at).map(|t| &t.kind) {
            Some(TokenKind::Symbol(',')) => at += 1,
            None => break,
            Some(_) if matches!(word_at(tokens, at), Some("CASCADE" | "RESTRICT")) => {
                if at + 1 != tokens.len() {
                    return false;
                }
                break;
            }
            Some(_) => return false,
        }
    }
    *temporary = remaining;
    true
}

/// Takes out of `temporary` the tables that an `ALTER TABLE … RENAME` or `RENAME TABLE`
/// names: once a temporary table is renamed, its old name may stand for a permanent
/// table again.
fn forget_renamed(tokens: &[Token], sql: &str, temporary: &mut Vec<Vec<String>>) {
    let renames = matches!(
        (word_at(tokens, 0), word_at(tokens, 1)),
        (Some("ALTER" | "RENAME"), Some("TABLE" | "TABLES"))
    ) && tokens
        .iter()
        .any(|t| t.kind == TokenKind::Word("RENAME".into()));
    if !renames {
        return;
    }
    let named: Vec<Vec<String>> = (0..tokens.len())
        .filter_map(|start| table_name(tokens, sql, &mut { start }))
        .collect();
    temporary.retain(|name| !named.iter().any(|n| n.ends_with(name)));
}

/// A table name from `tokens[*at]` on (`t`, `s.t`, `"T"`), each part as the lexer read
/// it (words upper-cased, quoted names as written), and `*at` past it.
fn table_name(tokens: &[Token], sql: &str, at: &mut usize) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    loop {
        match tokens.get(*at).map(|t| &t.kind) {
            Some(TokenKind::Word(word)) => parts.push(word.clone()),
            Some(TokenKind::QuotedName) => {
                parts.push(sql[tokens[*at].start..tokens[*at].end].to_owned());
            }
            _ => return None,
        }
        *at += 1;
        if tokens.get(*at).map(|t| &t.kind) != Some(&TokenKind::Symbol('.')) {
            return Some(parts);
        }
        *at += 1;
    }
}

fn word_at(tokens: &[Token], at: usize) -> Option<&str> {
    match tokens.get(at).map(|t| &t.kind) {
        Some(TokenKind::Word(word)) => Some(word.as_str()),
        _ => None,
    }
}

fn drops_a_column(words: &[&str]) -> bool {
    words.iter().enumerate().any(|(i, word)| {
        *word == "DROP"
            && match words.get(i + 1).copied() {
                Some("COLUMN") => true,
                Some(
                    "CONSTRAINT" | "INDEX" | "KEY" | "PRIMARY" | "FOREIGN" | "CHECK" | "DEFAULT"
                    | "NOT" | "IDENTITY" | "EXPRESSION" | "UNIQUE" | "TRIGGER" | "ROW" | "SYSTEM"
                    | "PERIOD" | "PARTITION",
                ) => false,
                // ALTER [COLUMN] c DROP …
                Some(_) => words.get(i.wrapping_sub(2)) != Some(&"ALTER"),
                None => false,
            }
    })
}

fn is_dollar_body(sql: &str, token: &Token) -> bool {
    token.kind == TokenKind::Literal && sql[token.start..].starts_with('$')
}

/// The body of a PostgreSQL `DO` block or routine: in a `DO` block its statements run
/// now; in either, the SQL it runs with `EXECUTE` is read too.
fn scan_body(sql: &str, body: &Token, runs_now: bool, found: &mut Vec<Destructive>) {
    let text = literal_text(sql, body, Dialect::Postgres);
    // A tag holds no line break: the body's first line is the tag's.
    let offset_line = body.line;
    let tokens = tokenize(&text, Dialect::Postgres);
    let mut inner = Vec::new();
    if runs_now {
        // PL/pgSQL: statements end at `;`, and a block keyword may stand before one.
        for piece in tokens.split(|t| t.kind == TokenKind::Semicolon) {
            let from = piece
                .iter()
                .position(|t| {
                    !matches!(&t.kind, TokenKind::Word(w) if matches!(w.as_str(), "BEGIN" | "THEN" | "ELSE" | "LOOP" | "DECLARE"))
                })
                .unwrap_or(piece.len());
            scan(
                &piece[from..],
                &text,
                Dialect::Postgres,
                Some("a DO block"),
                &mut inner,
            );
        }
    }
    if tokens
        .iter()
        .any(|t| t.kind == TokenKind::Word("EXECUTE".into()))
    {
        scan_literals(&text, &tokens, Dialect::Postgres, &mut inner);
    }
    for mut item in inner {
        item.line += offset_line - 1;
        found.push(item);
    }
}

/// Reads each string literal of `tokens` (and all of them joined, for SQL built by
/// concatenation) as SQL that may run dynamically.
fn scan_literals(sql: &str, tokens: &[Token], dialect: Dialect, found: &mut Vec<Destructive>) {
    let literals: Vec<(usize, String)> = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Literal && !is_dollar_body(sql, t))
        .map(|t| (t.line, literal_text(sql, t, dialect)))
        .collect();
    let joined = literals
        .iter()
        .map(|(_, text)| text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut candidates = literals.clone();
    if let Some((line, _)) = literals.first() {
        candidates.push((*line, joined));
    }
    for (line, text) in candidates {
        for statement in split_statements(&text, dialect) {
            let mut inner = Vec::new();
            scan(
                &statement.tokens,
                &text,
                dialect,
                Some("dynamic SQL"),
                &mut inner,
            );
            for mut item in inner {
                item.line = line;
                if !found
                    .iter()
                    .any(|f| f.kind == item.kind && f.line == item.line)
                {
                    found.push(item);
                }
            }
        }
    }
}

fn excerpt(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or("").trim();
    let mut out: String = first_line.chars().take(60).collect();
    if out.len() < first_line.len() || text.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[path = "lint_tests.rs"]
mod tests;
