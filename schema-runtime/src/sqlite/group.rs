//! A run's migrations in one transaction on SQLite, each in a savepoint of it, with
//! their history rows written together before the commit.
//!
//! A run of 100 files commits once instead of 100 times: one journal and one `fsync` set
//! instead of one per file (on a disk, most of a run's time). What a failure leaves is
//! what a transaction per file left: the failing file is rolled back to its savepoint and
//! the files before it are committed with their rows. Only a crash mid-run differs: it
//! leaves the database as before the run instead of with the files before it applied.
//! Files that run on their own (no transaction, seeds, a file that controls the
//! transaction itself) commit the group first.
//!
//! The rows wait in memory until the group commits (or anything else reads or writes
//! on the connection), then go in one multi-row `INSERT`: SQLite re-prepares a statement
//! after every change to the schema, so an `INSERT` after each file's DDL was prepared a
//! hundred times in a 100-file run, a tenth of its time. Nothing can see the difference:
//! the rows commit in the same transaction as before, and every statement the engine
//! runs between files writes them first ([`Group::flush`]).

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Blocking;
use crate::engine::Failure;
use crate::migrator::{HistoryValues, Statements, Value};

/// The rows of one multi-row `INSERT` at most: 11 binds each, well under SQLite's
/// 32,766 bound parameters.
const ROWS_PER_INSERT: usize = 500;

/// The transaction open across migrations, if any, and the history rows of the files
/// that ran in it.
#[derive(Default)]
pub(super) struct Group {
    open: bool,
    /// Each file's binds, in [`crate::sql_text::HISTORY_COLUMNS`] order.
    rows: Vec<Vec<Value>>,
    /// The single-row insert the rows are written with, repeated per row.
    insert: String,
}

impl Group {
    /// Whether a transaction is open across migrations.
    pub(super) fn is_open(&self) -> bool {
        self.open
    }

    /// Writes the rows waiting in memory: a statement is about to run on the connection.
    pub(super) fn flush(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let tuple = self
            .insert
            .rfind(" VALUES ")
            .map(|at| &self.insert[at + " VALUES ".len()..])
            .unwrap_or_default()
            .to_owned();
        for chunk in self.rows.chunks(ROWS_PER_INSERT) {
            let mut sql =
                String::with_capacity(self.insert.len() + chunk.len() * (tuple.len() + 2));
            sql.push_str(&self.insert);
            for _ in 1..chunk.len() {
                sql.push_str(", ");
                sql.push_str(&tuple);
            }
            conn.prepare(&sql)?
                .execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
        }
        self.rows.clear();
        Ok(())
    }

    /// Rolls the open transaction back and forgets its rows: nothing of the group stays.
    fn roll_back(&mut self, conn: &Connection) {
        let _ = conn.execute_batch("ROLLBACK");
        self.open = false;
        self.rows.clear();
    }
}

/// Runs one migration in a savepoint of the run's open transaction (begun by the
/// first); its row is written with the group's ([`Group::flush`]).
pub(super) fn apply_grouped(
    driver: &mut Blocking<'_>,
    statements: &Statements,
    sql: &str,
    mut row: HistoryValues<'_>,
) -> Result<Duration, Failure<rusqlite::Error>> {
    let conn = driver.conn;
    if !driver.group.open {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(Failure::Bookkeeping)?;
        driver.group.open = true;
    }
    conn.execute_batch("SAVEPOINT schema_file")
        .map_err(Failure::Bookkeeping)?;
    let started = Instant::now();
    let ran = conn.execute_batch(sql);
    let duration = started.elapsed();
    if conn.is_autocommit() {
        // The file ended the transaction after all (the build refuses such files, and
        // `controls_transaction` sends the ones it finds to run on their own): the files
        // before it committed with it, so their rows are written now; its own row must
        // not be written on its own.
        driver.group.open = false;
        let _ = driver.group.flush(conn);
        driver.group.rows.clear();
        return Err(match ran {
            Err(error) => Failure::Sql(error.to_string()),
            Ok(()) => Failure::EndedTransaction,
        });
    }
    let recorded = ran.map_err(|e| Failure::Sql(e.to_string())).and_then(|()| {
        conn.execute_batch("RELEASE schema_file")
            .map_err(Failure::Bookkeeping)
    });
    if let Err(failure) = recorded {
        // This file undone, the ones before it kept.
        let undone = conn.execute_batch("ROLLBACK TO schema_file; RELEASE schema_file");
        let kept = undone.and_then(|()| end_group(driver));
        if let Err(error) = kept {
            driver.group.roll_back(conn);
            return Err(Failure::Bookkeeping(error));
        }
        return Err(failure);
    }
    row.execution_ms = duration.as_millis() as i64;
    if driver.group.insert.is_empty() {
        driver.group.insert.clone_from(&statements.insert);
    }
    driver.group.rows.push(row.binds());
    Ok(duration)
}

/// Whether `sql` has a statement that controls the transaction (which the build refuses
/// in an embedded folder, but a hand-made [`crate::Migration`] may hold). The search
/// lexes only a file that has one of the words such a statement starts with: lexing
/// every file of a 100-file run cost more than its commits saved.
pub(super) fn controls_transaction(sql: &str) -> bool {
    !schema_core::transaction::find_transaction_control(sql, schema_core::Dialect::Sqlite)
        .is_empty()
}

/// Writes the group's rows and commits it, if one is open. Rows that cannot be written
/// (a migration of the group took the history table away) roll the whole group back:
/// none of its files is left without its row.
pub(super) fn end_group(driver: &mut Blocking<'_>) -> rusqlite::Result<()> {
    if !driver.group.open {
        return Ok(());
    }
    if let Err(error) = driver.group.flush(driver.conn) {
        driver.group.roll_back(driver.conn);
        return Err(error);
    }
    driver.conn.execute_batch("COMMIT")?;
    driver.group.open = false;
    Ok(())
}
