//! `check-sqlite`: the folder replayed, migration by migration and statement by
//! statement, into an in-memory SQLite, so that SQL that does not run (a syntax error, a
//! table or column that no earlier migration made) fails the build with its file and
//! line instead of the first start.

use rusqlite::Connection;
use schema_core::source::{SourceError, SourceFolder};
use schema_core::{Dialect, sql};

/// Runs every up migration of `folder` in order on a fresh in-memory database: each in a
/// transaction unless it is `no-transaction`, as the runtime does. The first statement
/// that fails is an error; what follows it is not run.
pub fn sqlite(folder: &SourceFolder) -> Result<(), SourceError> {
    let conn = Connection::open_in_memory().map_err(|error| SourceError {
        file: folder.display.clone(),
        message: format!("check-sqlite: cannot open an in-memory SQLite database: {error}"),
    })?;
    for migration in &folder.migrations {
        let file = &migration.up;
        let transaction = !file.directives.no_transaction;
        let run = |sql: &str| conn.execute_batch(sql);
        if transaction {
            let _ = run("BEGIN");
        }
        for statement in sql::split_statements(&file.text, Dialect::Sqlite) {
            if let Err(error) = run(statement.text) {
                return Err(SourceError {
                    file: file.display.clone(),
                    message: format!(
                        "does not run on SQLite (check-sqlite): {error}, in the statement at line {} (`{}`); every migration before it ran in order in an in-memory database",
                        statement.line,
                        first_line(statement.text)
                    ),
                });
            }
        }
        if transaction {
            let _ = run("COMMIT");
        }
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut shown: String = line.chars().take(60).collect();
    if shown.len() < line.len() || text.lines().nth(1).is_some() {
        shown.push('…');
    }
    shown
}
