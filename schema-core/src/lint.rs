//! The destructive-statement lint: data loss should be a decision, not an accident.

use std::fmt;

use crate::sql::{Statement, split_statements};

/// A statement that can destroy data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Destructive {
    /// What kind of statement, for example `DROP TABLE` or `DELETE without WHERE`.
    pub kind: &'static str,
    /// 1-based line where the statement starts.
    pub line: usize,
    /// The statement's first line, shortened.
    pub excerpt: String,
}

impl fmt::Display for Destructive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}: `{}`", self.kind, self.line, self.excerpt)
    }
}

/// Finds the statements in `sql` that destroy data: `DROP TABLE`, `DROP SCHEMA`,
/// `DROP DATABASE`, `ALTER TABLE … DROP [COLUMN] col` (and `DROP PARTITION`),
/// `TRUNCATE`, and `DELETE` without `WHERE`. Statements inside comments, strings and
/// routine or trigger bodies do not count (they do not run now). Dropping an index,
/// view, constraint, default or trigger loses no data and is not reported.
///
/// ```
/// use schema_core::lint::find_destructive;
///
/// let found = find_destructive("ALTER TABLE users ADD COLUMN a int;\nALTER TABLE users DROP COLUMN b;");
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].kind, "DROP COLUMN");
/// assert_eq!(found[0].line, 2);
/// assert!(find_destructive("DELETE FROM sessions WHERE expired;").is_empty());
/// ```
pub fn find_destructive(sql: &str) -> Vec<Destructive> {
    split_statements(sql)
        .iter()
        .filter(|statement| !statement.is_routine_definition())
        .filter_map(|statement| {
            classify(statement).map(|kind| Destructive {
                kind,
                line: statement.line,
                excerpt: excerpt(statement.text),
            })
        })
        .collect()
}

fn classify(statement: &Statement<'_>) -> Option<&'static str> {
    let words: Vec<&str> = statement.words().collect();
    match words.as_slice() {
        ["DROP", "TABLE" | "TABLES", ..] => Some("DROP TABLE"),
        ["DROP", "TEMPORARY", "TABLE", ..] => None,
        ["DROP", "SCHEMA", ..] => Some("DROP SCHEMA"),
        ["DROP", "DATABASE", ..] => Some("DROP DATABASE"),
        ["TRUNCATE", ..] => Some("TRUNCATE"),
        ["DELETE", rest @ ..] if !rest.contains(&"WHERE") => Some("DELETE without WHERE"),
        ["ALTER", "TABLE", rest @ ..] => alter_table_drops_data(rest),
        _ => None,
    }
}

fn alter_table_drops_data(words: &[&str]) -> Option<&'static str> {
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        if *word != "DROP" {
            continue;
        }
        match words.get(i + 1).copied() {
            Some("COLUMN") => return Some("DROP COLUMN"),
            Some("PARTITION") => return Some("ALTER TABLE … DROP PARTITION"),
            Some(
                "CONSTRAINT" | "INDEX" | "KEY" | "PRIMARY" | "FOREIGN" | "CHECK" | "DEFAULT"
                | "NOT" | "IDENTITY" | "EXPRESSION" | "UNIQUE" | "TRIGGER" | "ROW" | "SYSTEM"
                | "PERIOD",
            ) => {}
            Some(_) if words.get(i.wrapping_sub(2)) == Some(&"ALTER") => {} // ALTER [COLUMN] c DROP …
            Some(_) => found = Some("ALTER TABLE … DROP column"),
            None => {}
        }
    }
    found
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
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<&'static str> {
        find_destructive(sql).into_iter().map(|d| d.kind).collect()
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(kinds("DROP TABLE users;"), ["DROP TABLE"]);
        assert_eq!(kinds("drop table if exists users"), ["DROP TABLE"]);
        assert_eq!(kinds("DROP SCHEMA app CASCADE;"), ["DROP SCHEMA"]);
        assert_eq!(kinds("DROP DATABASE app;"), ["DROP DATABASE"]);
        assert_eq!(
            kinds("ALTER TABLE users DROP COLUMN email;"),
            ["DROP COLUMN"]
        );
        assert_eq!(
            kinds("ALTER TABLE users DROP email;"),
            ["ALTER TABLE … DROP column"]
        );
        assert_eq!(
            kinds("ALTER TABLE users ADD x int, DROP COLUMN IF EXISTS y;"),
            ["DROP COLUMN"]
        );
        assert_eq!(
            kinds("ALTER TABLE t DROP PARTITION p1;"),
            ["ALTER TABLE … DROP PARTITION"]
        );
        assert_eq!(kinds("TRUNCATE sessions;"), ["TRUNCATE"]);
        assert_eq!(kinds("DELETE FROM sessions;"), ["DELETE without WHERE"]);
    }

    #[test]
    fn a_bom_does_not_hide_the_first_statement() {
        assert_eq!(kinds("\u{feff}DROP TABLE users;\r\n"), ["DROP TABLE"]);
    }

    #[test]
    fn leaves_what_loses_no_data() {
        for sql in [
            "DROP INDEX users_email;",
            "DROP VIEW active_users;",
            "DROP TRIGGER t;",
            "DROP TEMPORARY TABLE scratch;",
            "ALTER TABLE users DROP CONSTRAINT users_email_key;",
            "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
            "ALTER TABLE users ALTER email DROP DEFAULT;",
            "ALTER TABLE users DROP PRIMARY KEY;",
            "DELETE FROM sessions WHERE expires_at < now();",
            "UPDATE users SET active = true;",
            "-- DROP TABLE users;\nSELECT 'DROP TABLE users';",
            "CREATE FUNCTION purge() RETURNS void AS $$ DELETE FROM sessions; $$ LANGUAGE sql;",
            "CREATE TRIGGER cascade AFTER DELETE ON users BEGIN DELETE FROM posts; END;",
        ] {
            assert_eq!(kinds(sql), Vec::<&str>::new(), "{sql}");
        }
    }

    #[test]
    fn reports_line_and_excerpt() {
        let found = find_destructive(
            "CREATE TABLE a (x int);\n\nDROP TABLE legacy_accounts_with_a_rather_long_name_that_goes_on_and_on_and_on;",
        );
        assert_eq!(found[0].line, 3);
        assert!(found[0].excerpt.ends_with('…'));
        assert!(
            found[0]
                .to_string()
                .starts_with("DROP TABLE at line 3: `DROP TABLE legacy")
        );
    }
}
