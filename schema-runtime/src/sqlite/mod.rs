//! The rusqlite driver: executes the engine's steps on a SQLite connection.
//!
//! Exclusion between processes: a lock file beside the database (`<db>.schema-lock`,
//! locked with the operating system's advisory file lock) is held while migrating. The
//! kernel releases it when the process dies, so a crash never leaves a stale lock, and it
//! stays held across the per-migration transactions and around `no-transaction`
//! migrations, which `BEGIN IMMEDIATE` alone could not do. The database file itself is
//! never opened a second time: closing such a descriptor would drop SQLite's own locks.

use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::engine::{self, Failure};
use crate::error::Error;
use crate::filelock::FileLock;
use crate::migrator::{HistoryValues, Statements, Value, version_from_sql};
use crate::plan::History;
use crate::report::Report;
use crate::sql_text::Dialect;
use crate::{Migrator, Version};

mod group;

use group::{Group, apply_grouped, controls_transaction, end_group};

#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl Migrator {
    /// Applies every pending migration (and, in development with `SEED_DB=true`, every
    /// pending seed) to a SQLite database.
    ///
    /// On a database that is up to date this is one read of the history. Otherwise it
    /// takes the migration lock, checks the whole history against the binary, and applies
    /// each migration together with its history row: the run's migrations share one
    /// transaction, each in a savepoint of it, so a run commits once; a failing file is
    /// rolled back to its savepoint and the files before it are committed, as a
    /// transaction per file would leave them.
    pub fn run(&self, conn: &mut Connection) -> Result<Report, Error> {
        self.run_to(conn, None)
    }

    /// Like [`run`](Self::run), leaving migrations above `target` pending.
    pub fn run_to(&self, conn: &mut Connection, target: Option<Version>) -> Result<Report, Error> {
        if let Some(sql) = self.policy().session_sql() {
            conn.execute_batch(sql)
                .map_err(|e| Error::database("running the session settings", e))?;
        }
        engine::finish_now(engine::run(self, &mut Blocking::new(conn, self), target))
    }
}

/// The engine's steps on a rusqlite connection. Every step completes before it returns:
/// its futures are ready at once.
struct Blocking<'c> {
    conn: &'c Connection,
    lock_wait: Duration,
    backups_kept: usize,
    lock: Option<FileLock>,
    exclusive: Option<ExclusiveLocking<'c>>,
    /// A transaction open across migrations, each in a savepoint of it, and their rows
    /// ([`group`]); committed by `end_run`, on a failure, or before a file that runs on
    /// its own.
    group: Group,
}

/// A run abandoned with its group open (a panic) leaves the database as it was before
/// the group, not inside a transaction on the application's connection.
impl Drop for Blocking<'_> {
    fn drop(&mut self) {
        if self.group.is_open() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl<'c> Blocking<'c> {
    fn new(conn: &'c Connection, migrator: &Migrator) -> Self {
        Blocking {
            conn,
            lock_wait: migrator.policy().lock_wait(),
            backups_kept: migrator.policy().backups_kept(),
            lock: None,
            exclusive: None,
            group: Group::default(),
        }
    }
}

impl engine::Sql for Blocking<'_> {
    type Error = rusqlite::Error;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn script(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.group.flush(self.conn)?;
        self.conn.execute_batch(sql)
    }

    async fn bind(&mut self, sql: &str, values: Vec<Value>) -> rusqlite::Result<()> {
        self.group.flush(self.conn)?;
        self.conn
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(values))
            .map(drop)
    }

    async fn rows(&mut self, sql: &str) -> rusqlite::Result<Vec<engine::TextRow>> {
        self.group.flush(self.conn)?;
        text_rows(self.conn, sql)
    }
}

impl engine::Driver for Blocking<'_> {
    fn is_busy(&self, error: &rusqlite::Error) -> bool {
        matches!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    async fn history(&mut self, sql: &str) -> rusqlite::Result<Option<History>> {
        self.group.flush(self.conn)?;
        read_history(self.conn, sql)
    }

    async fn lock(&mut self) -> Result<(), Error> {
        let path = self
            .conn
            .path()
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        self.lock = Some(FileLock::acquire_blocking(path.as_deref(), self.lock_wait)?);
        self.exclusive = Some(ExclusiveLocking::enter(self.conn));
        Ok(())
    }

    async fn unlock(&mut self) {
        // Migrations that ran are kept with their rows, as each file's own commit kept
        // them before grouping (the run's end and its failures commit first; this is for
        // any other way out).
        let _ = end_group(self);
        // SQLite's own lock first, then the file other processes wait on.
        self.exclusive = None;
        self.lock = None;
    }

    async fn backup(&mut self, newest_applied: Option<Version>) -> Option<Result<String, String>> {
        Some(
            crate::backup::sqlite(self.conn, self.backups_kept, newest_applied, "")
                .map(|path| path.display().to_string()),
        )
    }

    async fn apply(
        &mut self,
        statements: &Statements,
        file: engine::File<'_>,
    ) -> Result<Duration, engine::Failure<rusqlite::Error>> {
        let groups = file.row.kind == crate::sql_text::kind::MIGRATION
            && file.row.state == crate::sql_text::state::APPLIED
            && !controls_transaction(file.sql);
        if groups {
            return apply_grouped(self, statements, file.sql, file.row);
        }
        end_group(self).map_err(Failure::Bookkeeping)?;
        execute(self.conn, statements, file.sql, file.row)
    }

    async fn end_run(&mut self, _statements: &Statements) -> Result<(), Failure<rusqlite::Error>> {
        end_group(self).map_err(Failure::Bookkeeping)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Integer(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
            Value::OptionalText(v) => v.to_sql(),
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl Migrator {
    /// How the live schema of a SQLite database differs from what its migrations left
    /// (the fingerprint the last migrating run recorded): `None` when it matches or when
    /// no fingerprint is recorded yet. Reads only; what `db drift` shows.
    ///
    /// ```
    /// use schema_runtime::{Environment, Migrator, Migrations, Policy};
    ///
    /// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
    ///
    /// let mut conn = schema_runtime::rusqlite::Connection::open_in_memory().unwrap();
    /// let migrator = Migrator::with_policy(&MIGRATIONS, Policy::new(Environment::Test));
    /// migrator.run(&mut conn).unwrap();
    /// assert_eq!(migrator.drift(&conn).unwrap(), None);
    /// conn.execute_batch("CREATE TABLE scratch (id INTEGER)").unwrap();
    /// let drift = migrator.drift(&conn).unwrap().unwrap();
    /// assert_eq!(
    ///     drift.differences[0].to_string(),
    ///     "table scratch exists in the database but no migration created it"
    /// );
    /// ```
    pub fn drift(&self, conn: &Connection) -> Result<Option<crate::drift::Drift>, Error> {
        let statements = self.statements(Dialect::Sqlite);
        let (recorded, live) = engine::finish_now(engine::fingerprints(
            &mut Blocking::new(conn, self),
            &statements,
        ))
        .map_err(|e| Error::database("reading the schema", e))?;
        Ok(recorded
            .and_then(|text| crate::drift::compare_recorded(&text, &live, &self.own_tables())))
    }
}

/// Every row of `sql`, each column as text (`None` for NULL).
pub(crate) fn text_rows(
    conn: &Connection,
    sql: &str,
) -> rusqlite::Result<Vec<Vec<Option<String>>>> {
    fn text(value: ValueRef<'_>) -> Option<String> {
        match value {
            ValueRef::Null => None,
            ValueRef::Integer(v) => Some(v.to_string()),
            ValueRef::Real(v) => Some(v.to_string()),
            ValueRef::Text(v) | ValueRef::Blob(v) => Some(String::from_utf8_lossy(v).into_owned()),
        }
    }
    let mut statement = conn.prepare(sql)?;
    let columns = statement.column_count();
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(
            (0..columns)
                .map(|i| row.get_ref(i).map(text))
                .collect::<rusqlite::Result<_>>()?,
        );
    }
    Ok(out)
}

/// The history, or `None` when the tables do not exist yet. One query.
fn read_history(conn: &Connection, sql: &str) -> rusqlite::Result<Option<History>> {
    let mut statement = match conn.prepare_cached(sql) {
        Ok(statement) => statement,
        Err(error) if error.to_string().contains("no such table") => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut history = History::default();
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let tag = row.get_ref(2)?;
        history.push_row(
            version_from_sql(row.get(0)?),
            row.get_ref(1)?.as_bytes()?,
            match tag {
                rusqlite::types::ValueRef::Null => None,
                tag => Some(tag.as_bytes()?),
            },
        );
    }
    Ok(Some(history))
}

/// While migrating, the connection keeps SQLite's file lock between its transactions
/// (`locking_mode = EXCLUSIVE`): each migration still commits on its own, with the same
/// journal and the same durability, but SQLite no longer gives the lock up and re-checks
/// its cache after every commit, which is most of the cost of a commit. The mode goes back
/// when the guard is dropped, on every path. WAL databases keep their mode: their commits
/// are already cheap, and WAL's exclusive mode changes how readers work.
struct ExclusiveLocking<'c> {
    conn: Option<&'c Connection>,
}

impl<'c> ExclusiveLocking<'c> {
    fn enter(conn: &'c Connection) -> ExclusiveLocking<'c> {
        let file_backed = conn.path().is_some_and(|p| !p.is_empty());
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap_or_default();
        if !file_backed || journal.eq_ignore_ascii_case("wal") {
            return ExclusiveLocking { conn: None };
        }
        match conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(_) => ExclusiveLocking { conn: Some(conn) },
            Err(_) => ExclusiveLocking { conn: None },
        }
    }
}

impl Drop for ExclusiveLocking<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn {
            // The lock is released at the next access after the mode changes back.
            let _ = conn.query_row("PRAGMA locking_mode = NORMAL", [], |row| {
                row.get::<_, String>(0)
            });
            let _ = conn.query_row("PRAGMA schema_version", [], |row| row.get::<_, i64>(0));
        }
    }
}

fn insert_row(
    conn: &Connection,
    statements: &Statements,
    row: &HistoryValues<'_>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(&statements.insert)?.execute(params![
        row.version,
        row.name,
        row.kind,
        row.checksum,
        row.state,
        row.applied_at,
        row.execution_ms,
        row.app_version,
        row.environment,
        row.applied_by,
        row.note,
    ])
}

/// Runs one file's SQL with its history row. In a transaction: both commit together or
/// neither does. Outside one: a `started` row first, marked finished after, so a crash in
/// between is seen by the next start.
fn execute(
    conn: &Connection,
    statements: &Statements,
    sql: &str,
    mut row: HistoryValues<'_>,
) -> Result<Duration, Failure<rusqlite::Error>> {
    let bookkeeping = Failure::Bookkeeping;
    if row.state == crate::sql_text::state::APPLIED {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(bookkeeping)?;
        let started = Instant::now();
        tx.execute_batch(sql)
            .map_err(|e| Failure::Sql(e.to_string()))?;
        let duration = started.elapsed();
        if tx.is_autocommit() {
            // The file ended the transaction: its row must not be written on its own.
            return Err(Failure::EndedTransaction);
        }
        row.execution_ms = duration.as_millis() as i64;
        insert_row(&tx, statements, &row).map_err(bookkeeping)?;
        tx.commit().map_err(bookkeeping)?;
        Ok(duration)
    } else {
        insert_row(conn, statements, &row).map_err(bookkeeping)?;
        let started = Instant::now();
        conn.execute_batch(sql)
            .map_err(|e| Failure::Sql(e.to_string()))?;
        let duration = started.elapsed();
        conn.prepare_cached(&statements.finish)
            .and_then(|mut s| {
                s.execute(params![duration.as_millis() as i64, row.kind, row.version])
            })
            .map_err(bookkeeping)?;
        Ok(duration)
    }
}
