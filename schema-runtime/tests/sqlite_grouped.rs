//! On SQLite a run's migrations share one transaction, each in a savepoint of it (one
//! commit per run instead of one per file). What a failure leaves must be what a
//! transaction per file left: the files before the failing one committed, seen by another
//! connection, and the application's connection not left inside a transaction.

use std::path::Path;

use schema_runtime::rules::Checksum;
use schema_runtime::rusqlite::Connection;
use schema_runtime::{
    Environment, Error, Migration, Migrations, Migrator, Policy, Report, Version,
};

/// Hand-made migrations (the build would refuse some of these files).
fn migrations(files: &[&'static str]) -> &'static Migrations {
    let list: Vec<Migration> = files
        .iter()
        .enumerate()
        .map(|(i, sql)| {
            let version = i as u64 + 1;
            let path: &'static str =
                Box::leak(format!("migrations/{version}_m.sql").into_boxed_str());
            Migration::new(
                Version::new(version),
                "m",
                sql,
                Checksum::of_file(sql.as_bytes()),
                path,
            )
        })
        .collect();
    Box::leak(Box::new(Migrations::new(
        Box::leak(list.into_boxed_slice()),
        &[],
        "",
        "migrations",
    )))
}

fn policy() -> Policy {
    Policy::new(Environment::Test).write_dev_lock(false)
}

/// A column of `sql`'s rows, read on a connection of its own (so only what was
/// committed).
fn column<T: schema_runtime::rusqlite::types::FromSql>(path: &Path, sql: &str) -> Vec<T> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn.prepare(sql).unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Versions recorded as applied.
fn committed(path: &Path) -> Vec<i64> {
    column(
        path,
        "SELECT version FROM schema_history WHERE kind = 'migration' AND state = 'applied' ORDER BY version",
    )
}

fn tables(path: &Path) -> Vec<String> {
    column(
        path,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't%' ORDER BY name",
    )
}

/// Runs `files` on the database at `path`; the outcome and the connection it ran on,
/// which must not be left in a transaction whatever the outcome.
fn run(path: &Path, files: &[&'static str]) -> Result<Report, Error> {
    let mut conn = Connection::open(path).unwrap();
    let outcome = Migrator::with_policy(migrations(files), policy()).run(&mut conn);
    assert!(
        conn.is_autocommit(),
        "the connection is not left in a transaction"
    );
    // It writes at once.
    conn.execute_batch("CREATE TABLE other (id INTEGER); DROP TABLE other")
        .unwrap();
    outcome
}

#[test]
fn a_failure_keeps_the_files_before_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let error = run(
        &path,
        &[
            "CREATE TABLE t1 (id INTEGER);",
            "CREATE TABLE t2 (id INTEGER); INSERT INTO t2 VALUES (1);",
            "CREATE TABLE t3 (id INTEGER); INSERT INTO no_such_table VALUES (1);",
            "CREATE TABLE t4 (id INTEGER);",
        ],
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::Migration { version, .. } if version == Version::new(3)),
        "{error}"
    );
    assert_eq!(
        committed(&path),
        [1, 2],
        "the files before the failure are committed"
    );
    assert_eq!(tables(&path), ["t1", "t2"], "the failing file left nothing");
    // The next start goes on from there.
    let report = run(
        &path,
        &[
            "CREATE TABLE t1 (id INTEGER);",
            "CREATE TABLE t2 (id INTEGER); INSERT INTO t2 VALUES (1);",
            "CREATE TABLE t3 (id INTEGER);",
            "CREATE TABLE t4 (id INTEGER);",
        ],
    )
    .unwrap();
    let applied: Vec<Version> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(applied, [Version::new(3), Version::new(4)]);
    assert_eq!(committed(&path), [1, 2, 3, 4]);
}

#[test]
fn a_file_that_ends_the_transaction_runs_on_its_own_after_the_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let error = run(
        &path,
        &[
            "CREATE TABLE t1 (id INTEGER);",
            "CREATE TABLE t2 (id INTEGER); COMMIT;",
            "CREATE TABLE t3 (id INTEGER);",
        ],
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::TransactionEnded { version, .. } if version == Version::new(2)),
        "{error}"
    );
    assert_eq!(
        committed(&path),
        [1],
        "the file before it is committed, it is not recorded"
    );
}

#[test]
fn every_file_of_a_run_is_committed_together_with_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let report = run(
        &path,
        &[
            "CREATE TABLE t1 (id INTEGER);",
            "CREATE TABLE t2 (id INTEGER);",
            "-- schema: no-transaction\nCREATE TABLE t3 (id INTEGER);",
            "CREATE TABLE t4 (id INTEGER);",
        ],
    )
    .unwrap();
    assert_eq!(report.applied.len(), 4);
    assert_eq!(committed(&path), [1, 2, 3, 4]);
    assert_eq!(tables(&path), ["t1", "t2", "t3", "t4"]);
}
