//! The engine: every decision of a migrating run, written once.
//!
//! A run reads the history (one query when the database is up to date), takes the
//! migration lock, refuses another tool's database, creates the tables, reads the history
//! again under the lock, checks the environment stamp, plans, compares the schema with
//! its fingerprint, backs up, records amended checksums, applies each migration with its
//! history row, keeps the fingerprint following exactly what committed, applies seeds and
//! releases the lock. That order, and what each outcome means (which error names which
//! file, what a lost connection means, when the fingerprint is recorded), lives here and
//! nowhere else.
//!
//! The engine does no I/O of its own. It asks a [`Driver`] for each step and decides on
//! the reply: the rusqlite driver (`sqlite.rs`) and the sqlx driver (`sqlx_backend`) only
//! execute steps, and the tests below drive the whole orchestration with a scripted fake.
//! The steps are `async`: the sqlx driver awaits the server, and the rusqlite driver's
//! futures are ready at once, so [`finish_now`] runs a blocking run without any runtime.

use std::time::{Duration, Instant};

use crate::drift::Fingerprint;
use crate::error::Error;
use crate::migrator::{HistoryValues, Statements, Value, version_to_sql};
use crate::plan::History;
use crate::report::Report;
use crate::sql_text::{COOKIE_KEY, Dialect, FINGERPRINT_KEY, kind};
use crate::{Migration, Migrator, Version};

/// A row read as text (`None` for SQL NULL).
pub(crate) type TextRow = Vec<Option<String>>;

/// How running one file failed.
#[derive(Debug)]
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) enum Failure<E> {
    /// The file's own SQL failed, with the database's words; the engine names the file.
    Sql(String),
    /// The connection went away after the server may have had the whole step, its
    /// `COMMIT` included: whether it committed is not known here.
    Lost(String),
    /// Our own statements (the history row, `BEGIN`, `COMMIT`) failed.
    Bookkeeping(E),
}

impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Failure::Bookkeeping(error)
    }
}

/// How a run of migrations sent as one message failed.
#[derive(Debug)]
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) enum BatchFailure<E> {
    /// The file at this index of the batch fails on its own, with the database's words.
    File(usize, String),
    /// Every file runs on its own: the history rows failed.
    Bookkeeping(E),
}

/// One file to run with its history row.
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) struct File<'a> {
    /// The SQL as written.
    pub sql: &'static str,
    /// Its history row; `state` says whether the file runs in a transaction with it
    /// (`applied`) or after it (`started`, marked finished after).
    pub row: HistoryValues<'a>,
    /// Run statement by statement (a PostgreSQL `no-transaction` file, which the server
    /// would otherwise run as one implicit transaction).
    pub split: bool,
    /// Leave the transaction open for the next file: the run commits as one.
    pub whole_run: bool,
}

/// The SQL every database connection of this crate runs: the startup drivers and the
/// `db` command's console alike.
#[allow(async_fn_in_trait)] // crate-private: every implementation is known here
pub(crate) trait Sql {
    /// The connection's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The SQL flavour.
    fn dialect(&self) -> Dialect;
    /// SQL as written, possibly several statements.
    async fn script(&mut self, sql: &str) -> Result<(), Self::Error>;
    /// One statement with binds.
    async fn bind(&mut self, sql: &str, values: Vec<Value>) -> Result<(), Self::Error>;
    /// Every row of `sql`, each column as text.
    async fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Self::Error>;
}

/// What a database must do for the engine's run. Implemented by the rusqlite and sqlx
/// drivers, and by a scripted fake in the tests.
#[allow(async_fn_in_trait)] // crate-private: every driver is known here
pub(crate) trait Driver: Sql {
    /// Whether a database busy with another writer refused a read (SQLite): the run then
    /// waits for the lock instead of failing.
    fn is_busy(&self, _error: &Self::Error) -> bool {
        false
    }
    /// Whether this driver can keep one transaction open across files
    /// ([`Policy::group_transactions`](crate::Policy::group_transactions)), and on
    /// PostgreSQL send a run of them as one message.
    fn groups(&self) -> bool {
        false
    }
    /// Whether a transaction is still open after a failure (nothing more can be read
    /// on this connection until it ends).
    fn in_transaction(&self) -> bool {
        false
    }

    /// The history (`None` when its tables do not exist yet).
    async fn history(&mut self, sql: &str) -> Result<Option<History>, Self::Error>;
    /// Takes the migration lock, waiting as long as the policy allows.
    async fn lock(&mut self) -> Result<(), Error>;
    /// Releases the lock (on every path, after [`lock`](Driver::lock) succeeded).
    async fn unlock(&mut self);
    /// Backs the database up before the first change: `None` when this backend has
    /// nothing configured to back up with.
    async fn backup(&mut self, newest_applied: Option<Version>) -> Option<Result<String, String>>;
    /// Runs one file with its history row, and how long the file took.
    async fn apply(
        &mut self,
        statements: &Statements,
        file: File<'_>,
    ) -> Result<Duration, Failure<Self::Error>>;
    /// Runs a batch of transactional files and their rows as one message inside the
    /// run's transaction (only asked of a driver that [`groups`](Driver::groups), on
    /// PostgreSQL); each row's `execution_ms` is filled in by the driver.
    async fn apply_batch(
        &mut self,
        _statements: &Statements,
        _batch: &[&'static Migration],
        _rows: Vec<HistoryValues<'_>>,
    ) -> Result<Vec<Duration>, BatchFailure<Self::Error>> {
        unreachable!("only a grouping PostgreSQL driver is asked for batches")
    }
    /// Ends the run's changes: commits a transaction left open by grouping and makes
    /// commits that did not wait for the disk durable.
    async fn end_run(&mut self, _statements: &Statements) -> Result<(), Failure<Self::Error>> {
        Ok(())
    }
}

/// The output of a future that never waits: the steps of a blocking driver.
///
/// # Panics
///
/// If the future is not ready at once, which would mean a blocking driver awaited
/// something real.
#[cfg(any(feature = "rusqlite", feature = "cli", test))]
pub(crate) fn finish_now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("a blocking driver's step never waits"),
    }
}

/// Applies what is pending up to `target` through `driver`: the whole startup run.
pub(crate) async fn run<D: Driver>(
    migrator: &Migrator,
    driver: &mut D,
    target: Option<Version>,
) -> Result<Report, Error> {
    let started = Instant::now();
    migrator.policy().log_start();
    let dialect = driver.dialect();
    let statements = migrator.statements(dialect);
    match driver.history(&statements.read).await {
        Ok(Some(history)) => {
            if let Some(mut report) = migrator.up_to_date(&history, target, started)? {
                if migrator.drift_due(&history, dialect) {
                    check_drift(migrator, driver, &statements, &mut report).await?;
                }
                return Ok(report);
            }
        }
        Ok(None) => {}
        // Another process is migrating and holds the database: wait for it below.
        Err(error) if driver.is_busy(&error) => {}
        Err(error) => return Err(reading_history(migrator, error)),
    }
    driver.lock().await?;
    let result = run_locked(migrator, driver, &statements, target, started).await;
    driver.unlock().await;
    result
}

fn reading_history<E: std::error::Error + Send + Sync + 'static>(
    migrator: &Migrator,
    error: E,
) -> Error {
    migrator.history_error(Error::database("reading the migration history", error))
}

/// The run under the lock: everything is decided again on what the history says now.
async fn run_locked<D: Driver>(
    migrator: &Migrator,
    driver: &mut D,
    statements: &Statements,
    target: Option<Version>,
    started: Instant,
) -> Result<Report, Error> {
    let present = driver
        .rows(&statements.histories_present)
        .await
        .map_err(|e| Error::database("looking for migration histories", e))?;
    migrator.refuse_other_tools(present.into_iter().filter_map(|mut row| row.swap_remove(0)))?;
    for create in &statements.create {
        driver
            .script(create)
            .await
            .map_err(|e| Error::database("creating the history tables", e))?;
    }
    let history = driver
        .history(&statements.read)
        .await
        .map_err(|e| reading_history(migrator, e))?
        .unwrap_or_default();
    migrator.check_stamp(&history)?;
    if history.stamp.is_none() {
        let environment = migrator.policy().environment().as_str().to_owned();
        driver
            .bind(&statements.insert_stamp, vec![Value::Text(environment)])
            .await
            .map_err(|e| Error::database("stamping the database with its environment", e))?;
    }
    let plan = migrator.plan(&history, target)?;
    let mut report = migrator.report(&plan, started);
    report.log_warnings();
    let watch = migrator.watches_drift(&plan);
    let (recorded, before) = if watch {
        match fingerprints(driver, statements).await {
            Ok((recorded, live)) => {
                migrator.judge_drift(recorded.as_deref(), &live, &mut report)?;
                (recorded, Some(live))
            }
            Err(error) => {
                migrator.fingerprint_failed("reading", error, &mut report);
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    if migrator.backs_up_before(&plan)
        && let Some(made) = driver.backup(plan.newest_applied).await
    {
        migrator.backed_up(made, &mut report)?;
    }
    let audit = migrator.audit();

    for planned in &plan.amendments {
        let migration = planned.migration;
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
        let update = vec![
            Value::Text(migration.checksum().to_string()),
            Value::Integer(version_to_sql(migration.version())),
        ];
        in_transaction(driver, async |driver| {
            driver.bind(&statements.update_checksum, update).await?;
            driver.bind(&statements.insert, row.binds()).await
        })
        .await
        .map_err(|e| {
            Error::database(
                format!("recording the amendment of {}", migration.path()),
                e,
            )
        })?;
        tracing::info!(
            "schema: recorded the amended checksum of {} from migrations.lock",
            migration.path()
        );
        report.amended.push(migration.version());
    }

    let applied = apply_pending(migrator, driver, statements, &plan.pending, &mut report).await;
    if watch && !driver.in_transaction() && (applied.is_err() || !report.applied.is_empty()) {
        let recording = async {
            let after = Fingerprint::from_rows(driver.rows(statements.fingerprint).await?);
            match migrator.fingerprint_after_run(
                recorded.as_deref(),
                before.as_ref(),
                &after,
                &report,
            ) {
                Some(text) => record_fingerprint(driver, statements, &text).await,
                None => Ok(()),
            }
        }
        .await;
        if let Err(error) = recording {
            migrator.fingerprint_failed("recording", error, &mut report);
        }
    }
    applied?;

    for seed in &plan.seeds {
        let file = File {
            sql: seed.sql(),
            row: audit.row(
                kind::SEED,
                seed.version(),
                seed.name(),
                seed.checksum(),
                seed.transaction(),
            ),
            split: false,
            whole_run: false,
        };
        let duration = driver
            .apply(statements, file)
            .await
            .map_err(|failure| match failure {
                Failure::Sql(message) => Error::Seed {
                    version: seed.version(),
                    path: seed.path(),
                    message,
                },
                Failure::Lost(message) => Error::OutcomeUnknown {
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

    migrator.write_dev_lock(&mut report);
    report.duration = started.elapsed();
    Ok(report)
}

/// Applies `pending` in order, each with its history row, recording each in `report`
/// as it commits.
async fn apply_pending<D: Driver>(
    migrator: &Migrator,
    driver: &mut D,
    statements: &Statements,
    pending: &[&'static Migration],
    report: &mut Report,
) -> Result<(), Error> {
    let dialect = driver.dialect();
    let transactional_ddl = dialect.transactional_ddl();
    let grouped = driver.groups() && migrator.policy().groups_transactions() && transactional_ddl;
    let audit = migrator.audit();
    let mut index = 0;
    while index < pending.len() {
        let migration = pending[index];
        let in_transaction = migration.transaction() && transactional_ddl;
        if grouped && in_transaction && dialect == Dialect::Postgres {
            // The longest run of migrations that can share the transaction, sent at once.
            let end = pending[index..]
                .iter()
                .position(|m| !m.transaction())
                .map_or(pending.len(), |n| index + n);
            let batch = &pending[index..end];
            let note = format!(
                "grouped: one transaction of {} files, time is the average",
                batch.len()
            );
            let rows = batch
                .iter()
                .map(|migration| {
                    let mut row = audit.row(
                        kind::MIGRATION,
                        migration.version(),
                        migration.name(),
                        migration.checksum(),
                        true,
                    );
                    row.note = Some(note.clone());
                    row
                })
                .collect();
            let durations = driver.apply_batch(statements, batch, rows).await.map_err(
                |failure| match failure {
                    BatchFailure::File(at, message) => Error::Migration {
                        version: batch[at].version(),
                        path: batch[at].path(),
                        message,
                        in_transaction: true,
                        whole_run: true,
                    },
                    BatchFailure::Bookkeeping(error) => {
                        Error::database("recording the migration history", error)
                    }
                },
            )?;
            for (migration, duration) in batch.iter().zip(durations) {
                report.record_migration(migration, duration);
            }
            index = end;
            continue;
        }
        index += 1;
        let whole_run = grouped && in_transaction;
        let file = File {
            sql: migration.sql(),
            row: audit.row(
                kind::MIGRATION,
                migration.version(),
                migration.name(),
                migration.checksum(),
                in_transaction,
            ),
            split: !migration.transaction() && dialect == Dialect::Postgres,
            whole_run,
        };
        let duration = driver
            .apply(statements, file)
            .await
            .map_err(|failure| match failure {
                Failure::Sql(message) => Error::Migration {
                    version: migration.version(),
                    path: migration.path(),
                    message,
                    in_transaction,
                    whole_run,
                },
                Failure::Lost(message) => Error::OutcomeUnknown {
                    version: migration.version(),
                    path: migration.path(),
                    message,
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
    }
    // In a grouped run, the files after the last one that ran outside a transaction are
    // still in the open transaction that `end_run` commits.
    let open = pending.iter().rev().take_while(|m| m.transaction()).count();
    let group = &pending[pending.len() - open..];
    driver.end_run(statements).await.map_err(|failure| {
        match (failure, group.first(), group.last()) {
            // The COMMIT of a grouped run was sent: all of it or none of it committed.
            (Failure::Lost(message), Some(first), Some(last)) => Error::OutcomeUnknown {
                version: last.version(),
                path: last.path(),
                message: format!(
                    "committing the run's one transaction, versions {} to {}: {message}",
                    first.version(),
                    last.version()
                ),
            },
            (Failure::Lost(message) | Failure::Sql(message), _, _) => {
                Error::database_message("committing the migrations", message)
            }
            (Failure::Bookkeeping(error), _, _) => {
                Error::database("committing the migrations", error)
            }
        }
    })
}

/// Reverts `migration` with its down file and replaces its history row with a revert
/// row: in one transaction where the server's DDL is transactional; otherwise (a
/// `no-transaction` down file, or any down file on MySQL/MariaDB, whose DDL commits as it
/// goes) after marking the migration started, like a non-transactional up, so that a
/// down that fails half-way leaves it half-applied by name for `db status`, startup and
/// `db repair`. How long the down file took.
#[cfg(feature = "cli")]
pub(crate) async fn revert<D: Sql>(
    migrator: &Migrator,
    driver: &mut D,
    migration: &'static Migration,
) -> Result<Duration, Error> {
    let down = migration
        .down()
        .expect("only migrations with a down file are reverted");
    let dialect = driver.dialect();
    let history = &migrator.policy().history_table;
    let transactional = down.transaction() && dialect.transactional_ddl();
    let version = vec![Value::Integer(version_to_sql(migration.version()))];
    let audit = migrator.audit();
    let mut row = audit.row(
        kind::REVERT,
        migration.version(),
        migration.name(),
        migration.checksum(),
        true,
    );
    row.note = Some(format!("reverted with {}", down.path()));
    let bookkeeping = |error| {
        Error::database(
            format!(
                "recording the revert of {} in the history",
                migration.path()
            ),
            error,
        )
    };
    if !transactional {
        driver
            .bind(&dialect.mark_started(history), version.clone())
            .await
            .map_err(bookkeeping)?;
    } else {
        driver.script(begin(dialect)).await.map_err(bookkeeping)?;
    }
    let started = Instant::now();
    let ran = driver.script(down.sql()).await;
    let duration = started.elapsed();
    if let Err(error) = ran {
        if transactional {
            let _ = driver.script("ROLLBACK").await;
        }
        return Err(Error::Migration {
            version: migration.version(),
            path: down.path(),
            message: error.to_string(),
            in_transaction: transactional,
            whole_run: false,
        });
    }
    let recorded = async {
        driver
            .bind(&dialect.delete_migration(history), version)
            .await?;
        driver
            .bind(&dialect.insert_history(history), row.binds())
            .await?;
        if transactional {
            driver.script("COMMIT").await?;
        }
        Ok(())
    }
    .await;
    if let Err(error) = recorded {
        if transactional {
            let _ = driver.script("ROLLBACK").await;
        }
        return Err(bookkeeping(error));
    }
    Ok(duration)
}

/// An up-to-date start whose schema may have moved: compare the live schema with the
/// fingerprint. On SQLite, when nothing differs, the schema counter is recorded again so
/// that the next start is back to one read.
async fn check_drift<D: Driver>(
    migrator: &Migrator,
    driver: &mut D,
    statements: &Statements,
    report: &mut Report,
) -> Result<(), Error> {
    match fingerprints(driver, statements).await {
        Ok((recorded, live)) => {
            let differs = migrator.judge_drift(recorded.as_deref(), &live, report)?;
            if !differs && driver.dialect() == Dialect::Sqlite {
                // Only a shortcut for the next start: failing to write it changes nothing.
                let _ = record_cookie(driver, statements).await;
            }
        }
        Err(error) => migrator.fingerprint_failed("reading", error, report),
    }
    Ok(())
}

/// The newest fingerprint recorded in the database (by any migration set sharing it)
/// and the live schema.
pub(crate) async fn fingerprints<D: Sql>(
    driver: &mut D,
    statements: &Statements,
) -> Result<(Option<String>, Fingerprint), D::Error> {
    let live = Fingerprint::from_rows(driver.rows(statements.fingerprint).await?);
    let recorded = match live.recorded_query(statements.dialect) {
        Some(sql) => crate::drift::newest(
            driver
                .rows(&sql)
                .await?
                .into_iter()
                .filter_map(|mut row| row.swap_remove(0)),
        ),
        None => None,
    };
    Ok((recorded, live))
}

/// Records `text` as the fingerprint in one transaction (on SQLite with its schema
/// counter, so that a start can tell cheaply whether the schema moved since).
pub(crate) async fn record_fingerprint<D: Sql>(
    driver: &mut D,
    statements: &Statements,
    text: &str,
) -> Result<(), D::Error> {
    let dialect = statements.dialect;
    in_transaction(driver, async |driver| {
        driver
            .bind(
                &statements.delete_meta,
                vec![Value::Text(FINGERPRINT_KEY.to_owned())],
            )
            .await?;
        driver
            .bind(
                &statements.insert_meta,
                vec![
                    Value::Text(FINGERPRINT_KEY.to_owned()),
                    Value::Text(text.to_owned()),
                ],
            )
            .await?;
        if dialect == Dialect::Sqlite {
            record_cookie(driver, statements).await?;
        }
        Ok(())
    })
    .await
}

/// Records SQLite's schema counter of this moment beside the fingerprint.
async fn record_cookie<D: Sql>(driver: &mut D, statements: &Statements) -> Result<(), D::Error> {
    let cookie = driver
        .rows("SELECT CAST(schema_version AS TEXT) FROM pragma_schema_version")
        .await?
        .into_iter()
        .next()
        .and_then(|mut row| row.swap_remove(0))
        .unwrap_or_default();
    driver
        .bind(
            &statements.delete_meta,
            vec![Value::Text(COOKIE_KEY.to_owned())],
        )
        .await?;
    driver
        .bind(
            &statements.insert_meta,
            vec![Value::Text(COOKIE_KEY.to_owned()), Value::Text(cookie)],
        )
        .await
}

/// Runs `body` between `BEGIN` (on SQLite `BEGIN IMMEDIATE`, which takes the write lock
/// at once) and `COMMIT`, rolled back on error.
async fn in_transaction<D: Sql, T>(
    driver: &mut D,
    body: impl AsyncFnOnce(&mut D) -> Result<T, D::Error>,
) -> Result<T, D::Error> {
    driver.script(begin(driver.dialect())).await?;
    match body(driver).await {
        Ok(value) => {
            driver.script("COMMIT").await?;
            Ok(value)
        }
        Err(error) => {
            let _ = driver.script("ROLLBACK").await;
            Err(error)
        }
    }
}

/// The statement that opens a migration's transaction.
pub(crate) fn begin(dialect: Dialect) -> &'static str {
    match dialect {
        // Take the write lock up front, so a busy database fails here, not half-way.
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres | Dialect::Mysql => "BEGIN",
    }
}

#[cfg(test)]
#[path = "engine/tests.rs"]
mod tests;
