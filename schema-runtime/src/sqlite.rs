//! The rusqlite executor: runs the plan on a SQLite connection.
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

use crate::drift::{COOKIE_KEY, FINGERPRINT_KEY, Fingerprint};
use crate::error::Error;
use crate::filelock::FileLock;
use crate::migrator::{HistoryValues, Statements, version_from_sql, version_to_sql};
use crate::plan::History;
use crate::report::Report;
use crate::sql_text::{Dialect, kind};
use crate::{Migrator, Version};

impl Migrator {
    /// Applies every pending migration (and, in development with `SEED_DB=true`, every
    /// pending seed) to a SQLite database.
    ///
    /// On a database that is up to date this is one read of the history. Otherwise it
    /// takes the migration lock, checks the whole history against the binary, and applies
    /// each migration in its own transaction together with its history row.
    pub fn run(&self, conn: &mut Connection) -> Result<Report, Error> {
        self.run_to(conn, None)
    }

    /// Like [`run`](Self::run), leaving migrations above `target` pending.
    pub fn run_to(&self, conn: &mut Connection, target: Option<Version>) -> Result<Report, Error> {
        let started = Instant::now();
        self.policy().log_start();
        let statements = self.statements(Dialect::Sqlite);
        let reading = |e| self.history_error(Error::database("reading the migration history", e));
        if let Some(sql) = self.policy().session_sql() {
            conn.execute_batch(sql)
                .map_err(|e| Error::database("running the session settings", e))?;
        }

        match read_history(conn, &statements) {
            Ok(Some(history)) => {
                if let Some(mut report) = self.up_to_date(&history, target, started)? {
                    if self.drift_due(&history, Dialect::Sqlite) {
                        self.check_drift(conn, &statements, &mut report)?;
                    }
                    return Ok(report);
                }
            }
            Ok(None) => {}
            // Another process is migrating and holds the database: wait for it below.
            Err(error) if is_busy(&error) => {}
            Err(error) => return Err(reading(error)),
        }

        let conn: &Connection = conn;
        let path = conn.path().filter(|p| !p.is_empty()).map(str::to_owned);
        let _lock = FileLock::acquire_blocking(path.as_deref(), self.policy().lock_wait())?;
        let _exclusive = ExclusiveLocking::enter(conn);
        let present = text_rows(conn, &statements.histories_present)
            .map_err(|e| Error::database("looking for migration histories", e))?;
        self.refuse_other_tools(present.into_iter().filter_map(|mut row| row.swap_remove(0)))?;
        for create in &statements.create {
            conn.execute_batch(create)
                .map_err(|e| Error::database("creating the history tables", e))?;
        }
        let history = read_history(conn, &statements)
            .map_err(reading)?
            .unwrap_or_default();
        self.check_stamp(&history)?;
        if history.stamp.is_none() {
            conn.execute(
                &statements.insert_stamp,
                [self.policy().environment().as_str()],
            )
            .map_err(|e| Error::database("stamping the database with its environment", e))?;
        }
        let plan = self.plan(&history, target)?;
        let mut report = self.report(&plan, started);
        report.log_warnings();
        let watch = self.watches_drift(&plan);
        let (recorded, before) = if watch {
            self.drift_before(conn, &statements, &mut report)?
        } else {
            (None, None)
        };
        self.backup(&plan, &mut report, || {
            crate::backup::sqlite(conn, self.policy().backups_kept(), plan.newest_applied, "")
                .map(|path| path.display().to_string())
        })?;
        let audit = self.audit();

        for planned in &plan.amendments {
            let migration = planned.migration;
            let recording = |e| {
                Error::database(
                    format!("recording the amendment of {}", migration.path()),
                    e,
                )
            };
            let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
                .map_err(recording)?;
            tx.execute(
                &statements.update_checksum,
                params![
                    migration.checksum().to_string(),
                    version_to_sql(migration.version())
                ],
            )
            .map_err(recording)?;
            let mut row = audit.row(
                kind::AMENDMENT,
                migration.version(),
                migration.name(),
                migration.checksum(),
                true,
            );
            row.note = Some(format!(
                "amends sha256:{} reason \"{}\"",
                planned.from,
                planned.amendment.reason()
            ));
            insert_row(&tx, &statements, &row).map_err(recording)?;
            tx.commit().map_err(recording)?;
            tracing::info!(
                "schema: recorded the amended checksum of {} from migrations.lock",
                migration.path()
            );
            report.amended.push(migration.version());
        }

        let applied = (|| {
            for migration in &plan.pending {
                self.apply(conn, &statements, &audit, migration, &mut report)?;
            }
            Ok::<(), Error>(())
        })();
        if watch && (applied.is_err() || !report.applied.is_empty()) {
            let recording = fingerprints(conn, &statements).and_then(|(_, after)| {
                match self.fingerprint_after_run(
                    recorded.as_deref(),
                    before.as_ref(),
                    &after,
                    &report,
                ) {
                    Some(text) => record_fingerprint(conn, &statements, &text),
                    None => Ok(()),
                }
            });
            if let Err(error) = recording {
                self.fingerprint_failed("recording", error, &mut report);
            }
        }
        applied?;

        for seed in &plan.seeds {
            let row = audit.row(
                kind::SEED,
                seed.version(),
                seed.name(),
                seed.checksum(),
                seed.transaction(),
            );
            let duration =
                execute(conn, &statements, seed.sql(), row).map_err(|failure| match failure {
                    Failure::Sql(message) => Error::Seed {
                        version: seed.version(),
                        path: seed.path(),
                        message,
                    },
                    Failure::Bookkeeping(error) => Error::database(
                        format!(
                            "recording seed {} (version {}) in the history",
                            seed.path(),
                            seed.version()
                        ),
                        error,
                    ),
                })?;
            report.record_seed(seed, duration);
        }

        self.write_dev_lock(&mut report);
        report.duration = started.elapsed();
        Ok(report)
    }
}

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
        let (recorded, live) = fingerprints(conn, &statements)
            .map_err(|e| Error::database("reading the schema", e))?;
        Ok(recorded
            .and_then(|text| crate::drift::compare_recorded(&text, &live, &self.own_tables())))
    }

    /// Applies one migration with its history row.
    fn apply(
        &self,
        conn: &Connection,
        statements: &Statements,
        audit: &crate::migrator::Audit,
        migration: &'static crate::Migration,
        report: &mut Report,
    ) -> Result<(), Error> {
        let row = audit.row(
            kind::MIGRATION,
            migration.version(),
            migration.name(),
            migration.checksum(),
            migration.transaction(),
        );
        let duration =
            execute(conn, statements, migration.sql(), row).map_err(|failure| match failure {
                Failure::Sql(message) => Error::Migration {
                    version: migration.version(),
                    path: migration.path(),
                    message,
                    in_transaction: migration.transaction(),
                    whole_run: false,
                },
                Failure::Bookkeeping(error) => Error::database(
                    format!(
                        "recording {} (version {}) in the history",
                        migration.path(),
                        migration.version()
                    ),
                    error,
                ),
            })?;
        report.record_migration(migration, duration);
        Ok(())
    }

    /// An up-to-date start whose schema counter moved: compare the live schema with the
    /// fingerprint. When nothing differs, the counter is recorded again, so the next start
    /// is back to one read.
    fn check_drift(
        &self,
        conn: &Connection,
        statements: &Statements,
        report: &mut Report,
    ) -> Result<(), Error> {
        match fingerprints(conn, statements) {
            Ok((recorded, live)) => {
                if !self.judge_drift(recorded.as_deref(), &live, report)? {
                    let _ = conn
                        .execute(&statements.delete_meta, [COOKIE_KEY])
                        .and_then(|_| {
                            conn.execute(
                                &statements.insert_meta,
                                [COOKIE_KEY, &schema_cookie(conn)?.to_string()],
                            )
                        });
                }
            }
            Err(error) => self.fingerprint_failed("reading", error, report),
        }
        Ok(())
    }

    /// Before a run migrates: the recorded fingerprint and the live schema, compared.
    fn drift_before(
        &self,
        conn: &Connection,
        statements: &Statements,
        report: &mut Report,
    ) -> Result<(Option<String>, Option<Fingerprint>), Error> {
        match fingerprints(conn, statements) {
            Ok((recorded, live)) => {
                self.judge_drift(recorded.as_deref(), &live, report)?;
                Ok((recorded, Some(live)))
            }
            Err(error) => {
                self.fingerprint_failed("reading", error, report);
                Ok((None, None))
            }
        }
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

/// The newest fingerprint recorded in the database (by any migration set sharing it)
/// and the live schema.
pub(crate) fn fingerprints(
    conn: &Connection,
    statements: &Statements,
) -> rusqlite::Result<(Option<String>, Fingerprint)> {
    let live = Fingerprint::from_rows(text_rows(conn, statements.fingerprint)?);
    let recorded = match live.recorded_query(Dialect::Sqlite) {
        Some(sql) => crate::drift::newest(
            text_rows(conn, &sql)?
                .into_iter()
                .filter_map(|mut row| row.swap_remove(0)),
        ),
        None => None,
    };
    Ok((recorded, live))
}

fn schema_cookie(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA schema_version", [], |row| row.get(0))
}

/// Records `text` as the fingerprint, with SQLite's schema counter of this moment.
pub(crate) fn record_fingerprint(
    conn: &Connection,
    statements: &Statements,
    text: &str,
) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for key in [FINGERPRINT_KEY, COOKIE_KEY] {
        tx.execute(&statements.delete_meta, [key])?;
    }
    tx.execute(&statements.insert_meta, [FINGERPRINT_KEY, text])?;
    tx.execute(
        &statements.insert_meta,
        [COOKIE_KEY, &schema_cookie(&tx)?.to_string()],
    )?;
    tx.commit()
}

/// The history, or `None` when the tables do not exist yet. One query.
fn read_history(conn: &Connection, statements: &Statements) -> rusqlite::Result<Option<History>> {
    let mut statement = match conn.prepare_cached(&statements.read) {
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

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
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

enum Failure {
    /// The file's own SQL failed: the caller names the file.
    Sql(String),
    /// Writing our own rows failed.
    Bookkeeping(rusqlite::Error),
}

/// Runs one file's SQL with its history row. In a transaction: both commit together or
/// neither does. Outside one: a `started` row first, marked finished after, so a crash in
/// between is seen by the next start.
fn execute(
    conn: &Connection,
    statements: &Statements,
    sql: &str,
    mut row: HistoryValues<'_>,
) -> Result<Duration, Failure> {
    let bookkeeping = Failure::Bookkeeping;
    if row.state == crate::sql_text::state::APPLIED {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(bookkeeping)?;
        let started = Instant::now();
        tx.execute_batch(sql)
            .map_err(|e| Failure::Sql(e.to_string()))?;
        let duration = started.elapsed();
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
