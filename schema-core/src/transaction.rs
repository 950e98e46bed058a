//! The transaction rules: a migration that runs in the transaction the runtime opens for
//! it (with its history row) must not end that transaction itself, and on SQLite must not
//! rely on a setting that a transaction ignores.

use std::fmt;

use crate::Dialect;
use crate::sql::{TokenKind, split_statements};

/// A statement that a file running in a transaction must not contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionControl {
    /// The statement, for example `COMMIT`.
    pub statement: String,
    /// 1-based line where it starts.
    pub line: usize,
    /// What goes wrong.
    pub why: &'static str,
}

impl fmt::Display for TransactionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` at line {} {}", self.statement, self.line, self.why)
    }
}

const ENDS: &str = "ends the transaction the migration runs in, so its history row would not be written with it (a ROLLBACK would undo the file and still record it as applied)";
const PRAGMA: &str = "does nothing inside a transaction, and the migration runs in one: a table rebuilt with foreign keys still on cascades its deletes into the tables that reference it";

/// The top-level statements of `sql` that control the transaction (`BEGIN`,
/// `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK` but not `ROLLBACK TO`, `ABORT`,
/// `PREPARE TRANSACTION`) as `dialect` reads it, and on SQLite `PRAGMA foreign_keys`.
/// Mentions in comments, strings and routine or trigger bodies do not count. Only
/// dialects whose DDL is transactional run a migration in a transaction: on MySQL this
/// finds nothing.
///
/// ```
/// use schema_core::Dialect;
/// use schema_core::transaction::find_transaction_control;
///
/// let found = find_transaction_control("CREATE TABLE a (x int);\nCOMMIT;", Dialect::Postgres);
/// assert_eq!(found[0].statement, "COMMIT");
/// assert_eq!(found[0].line, 2);
/// assert!(find_transaction_control("SAVEPOINT a; ROLLBACK TO a;", Dialect::Postgres).is_empty());
/// ```
pub fn find_transaction_control(sql: &str, dialect: Dialect) -> Vec<TransactionControl> {
    if dialect == Dialect::Mysql || !mentions_a_first_word(sql) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for statement in split_statements(sql, dialect) {
        if statement.is_routine_definition() {
            continue;
        }
        let words: Vec<&str> = statement.words().take(3).collect();
        let why = match words.as_slice() {
            ["BEGIN" | "COMMIT" | "END" | "ABORT", ..] => ENDS,
            ["START", "TRANSACTION", ..] => ENDS,
            ["ROLLBACK", next, ..] if matches!(*next, "TO") => continue,
            ["ROLLBACK", ..] => ENDS,
            ["PREPARE", "TRANSACTION", ..] => ENDS,
            ["PRAGMA", ..] if dialect == Dialect::Sqlite && names_foreign_keys(&statement) => {
                PRAGMA
            }
            _ => continue,
        };
        let shown: Vec<&str> = statement
            .tokens
            .iter()
            .take_while(|t| !matches!(t.kind, TokenKind::Symbol('=') | TokenKind::Symbol('(')))
            .take(3)
            .map(|t| &sql[t.start..t.end])
            .collect();
        found.push(TransactionControl {
            statement: shown.join(" "),
            line: statement.line,
            why,
        });
    }
    found
}

/// Whether `sql` has, as a run of letters in any case, a word that starts a statement
/// this module looks for. A word token is a run of word bytes between bytes that are
/// not, so its letters are a run of letters here too: without one, no statement can
/// start with it, and the file is not split at all. Most files mention none, and the
/// build checks every file for each dialect, with the macro unoptimised.
fn mentions_a_first_word(sql: &str) -> bool {
    const WORDS: [&[u8]; 8] = [
        b"begin",
        b"commit",
        b"end",
        b"abort",
        b"start",
        b"rollback",
        b"prepare",
        b"pragma",
    ];
    sql.as_bytes()
        .split(|byte| !byte.is_ascii_alphabetic())
        .any(|word| {
            (3..=8).contains(&word.len())
                && WORDS
                    .iter()
                    .any(|candidate| word.eq_ignore_ascii_case(candidate))
        })
}

/// `PRAGMA foreign_keys …` or `PRAGMA main.foreign_keys …`.
fn names_foreign_keys(statement: &crate::sql::Statement<'_>) -> bool {
    statement.words().take(3).any(|w| w == "FOREIGN_KEYS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(sql: &str, dialect: Dialect) -> Vec<String> {
        find_transaction_control(sql, dialect)
            .into_iter()
            .map(|c| c.statement)
            .collect()
    }

    #[test]
    fn every_way_to_end_the_transaction() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            for sql in [
                "BEGIN;",
                "begin transaction;",
                "COMMIT;",
                "END;",
                "ROLLBACK;",
            ] {
                assert_eq!(statements(sql, dialect).len(), 1, "{dialect}: {sql}");
            }
        }
        assert_eq!(
            statements("START TRANSACTION;", Dialect::Postgres),
            ["START TRANSACTION"]
        );
        assert_eq!(statements("ABORT;", Dialect::Postgres), ["ABORT"]);
        assert_eq!(
            statements("PREPARE TRANSACTION 'x';", Dialect::Postgres),
            ["PREPARE TRANSACTION 'x'"]
        );
    }

    #[test]
    fn mentions_and_bodies_do_not_count() {
        for sql in [
            "-- COMMIT;\nSELECT 'ROLLBACK';",
            "SAVEPOINT a; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET x = 1; END;",
            "CREATE FUNCTION f() RETURNS void AS $$ BEGIN COMMIT; END $$ LANGUAGE plpgsql;",
            "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
        ] {
            for dialect in [Dialect::Postgres, Dialect::Sqlite] {
                assert!(statements(sql, dialect).is_empty(), "{dialect}: {sql}");
            }
        }
        assert!(statements("COMMIT;", Dialect::Mysql).is_empty());
    }

    #[test]
    fn sqlite_foreign_keys_pragma() {
        let found = find_transaction_control(
            "PRAGMA foreign_keys = OFF;\nCREATE TABLE a (x int);",
            Dialect::Sqlite,
        );
        assert_eq!(found[0].statement, "PRAGMA foreign_keys");
        assert!(found[0].why.contains("inside a transaction"));
        assert!(statements("PRAGMA main.foreign_keys=0;", Dialect::Sqlite).len() == 1);
        assert!(statements("PRAGMA journal_mode = WAL;", Dialect::Sqlite).is_empty());
        assert!(statements("PRAGMA foreign_keys = OFF;", Dialect::Postgres).is_empty());
    }
}
