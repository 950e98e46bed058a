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
//! the reply: the rusqlite driver (`sqlite/`) and the sqlx driver (`sqlx_backend`) only
//! execute steps, and the tests (`engine/tests.rs`) drive the whole orchestration with a scripted fake.
//! The steps are `async`: the sqlx driver awaits the server, and the rusqlite driver's
//! futures are ready at once, so [`finish_now`] runs a blocking run without any runtime.

mod driver;
mod fingerprint;
#[cfg(feature = "cli")]
mod record;
#[cfg(any(feature = "cli", feature = "testing"))]
mod revert;

use std::time::Instant;

pub(crate) use self::driver::*;
use self::fingerprint::check_drift;
pub(crate) use self::fingerprint::{fingerprints, record_fingerprint};
#[cfg(feature = "cli")]
pub(crate) use self::record::{Adoption, baseline, repair};
#[cfg(any(feature = "cli", feature = "testing"))]
pub(crate) use self::revert::revert;
use crate::drift::Fingerprint;
use crate::error::Error;
use crate::migrator::{Audit, Statements, Value, version_to_sql};
use crate::report::Report;
use crate::sql_text::{Dialect, kind};
use crate::{Migration, Migrator, Progress, Version};

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
    // A table of the history's name that another tool made is named before anything of
    // ours is created beside it.
    driver
        .probe(&statements.probe)
        .await
        .map_err(|e| reading_history(migrator, e))?;
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
    let total = plan.pending.len() + plan.seeds.len();
    if total > 0 {
        migrator.progressed(Progress::Starting { total });
    }

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

    let applied = apply_pending(
        migrator,
        driver,
        statements,
        &audit,
        &plan.pending,
        &mut report,
        total,
    )
    .await;
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
        let duration = driver.apply(statements, file).await.map_err(|failure| {
            failed(failure, seed.version(), seed.path(), "seed ", |message| {
                Error::Seed {
                    version: seed.version(),
                    path: seed.path(),
                    message,
                }
            })
        })?;
        report.record_seed(seed, duration);
        let done = report.applied.len() + report.seeded.len();
        if let Some(applied) = report.seeded.last() {
            migrator.progressed(Progress::Applied {
                applied,
                seed: true,
                done,
                total,
            });
        }
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
    audit: &Audit,
    pending: &[&'static Migration],
    report: &mut Report,
    total: usize,
) -> Result<(), Error> {
    let progressed = |report: &Report| {
        if let Some(applied) = report.applied.last() {
            migrator.progressed(Progress::Applied {
                applied,
                seed: false,
                done: report.applied.len(),
                total,
            });
        }
    };
    let dialect = driver.dialect();
    let transactional_ddl = dialect.transactional_ddl();
    let grouped = driver.groups() && migrator.policy().groups_transactions() && transactional_ddl;
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
            let rows = |batch: &[&'static Migration]| {
                batch
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
                    .collect::<Vec<_>>()
            };
            let mut retry = Retry::new(migrator);
            let outcome = loop {
                let rows = rows(batch);
                match driver.apply_batch(statements, batch, rows).await {
                    Err(BatchFailure::LockTimeout(message)) => {
                        let what = format!(
                            "the group of versions {} to {}",
                            batch[0].version(),
                            batch[batch.len() - 1].version()
                        );
                        match retry.next(&what, &message) {
                            Some(pause) => {
                                report.ddl_lock_retries += 1;
                                driver.pause(pause).await;
                            }
                            None => {
                                break Err(BatchFailure::File(
                                    0,
                                    format!(
                                        "{message} (the whole group of versions {} to {} waited for a lock and was rolled back)",
                                        batch[0].version(),
                                        batch[batch.len() - 1].version()
                                    ),
                                ));
                            }
                        }
                    }
                    other => break other,
                }
            };
            let durations = outcome.map_err(|failure| match failure {
                BatchFailure::LockTimeout(message) => Error::Migration {
                    version: batch[0].version(),
                    path: batch[0].path(),
                    message,
                    in_transaction: true,
                    whole_run: true,
                },
                BatchFailure::File(at, message) => Error::Migration {
                    version: batch[at].version(),
                    path: batch[at].path(),
                    message,
                    in_transaction: true,
                    whole_run: true,
                },
                BatchFailure::EndedTransaction(at) => Error::TransactionEnded {
                    version: batch[at].version(),
                    path: batch[at].path(),
                },
                BatchFailure::Bookkeeping(error) => {
                    Error::database("recording the migration history", error)
                }
            })?;
            for (migration, duration) in batch.iter().zip(durations) {
                report.record_migration(migration, duration);
                progressed(report);
            }
            index = end;
            continue;
        }
        index += 1;
        let whole_run = grouped && in_transaction;
        let file = || File {
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
        let mut retry = Retry::new(migrator);
        // In a grouped run the failure rolled back the files before this one in the
        // group too: only a file that runs on its own is tried again.
        let outcome = loop {
            match driver.apply(statements, file()).await {
                Err(Failure::LockTimeout(message)) if !whole_run => {
                    match retry.next(migration.path(), &message) {
                        Some(pause) => {
                            report.ddl_lock_retries += 1;
                            driver.pause(pause).await;
                        }
                        None => {
                            break Err(Failure::Sql(format!(
                                "{message} (it waited for a lock longer than the DDL lock timeout on every try until the retry deadline)"
                            )));
                        }
                    }
                }
                other => break other,
            }
        };
        let duration = outcome.map_err(|failure| {
            failed(
                failure,
                migration.version(),
                migration.path(),
                "",
                |message| Error::Migration {
                    version: migration.version(),
                    path: migration.path(),
                    message,
                    in_transaction,
                    whole_run,
                },
            )
        })?;
        report.record_migration(migration, duration);
        progressed(report);
    }
    // In a grouped run, the files after the last one that ran outside a transaction are
    // still in the open transaction that `end_run` commits.
    let open = pending.iter().rev().take_while(|m| m.transaction()).count();
    let group = &pending[pending.len() - open..];
    let Err(failure) = driver.end_run(statements).await else {
        return Ok(());
    };
    if !matches!(failure, Failure::Lost(_)) {
        // The group did not commit: the report (and the fingerprint recorded after a
        // failed run) must not count its files as applied.
        let kept = report.applied.len().saturating_sub(group.len());
        report.applied.truncate(kept);
    }
    Err(match (failure, group.first(), group.last()) {
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
        (Failure::Lost(message) | Failure::Sql(message) | Failure::LockTimeout(message), _, _) => {
            Error::database_message("committing the migrations", message)
        }
        (Failure::EndedTransaction, _, _) => {
            Error::database_message("committing the migrations", "the transaction ended early")
        }
        // Where DDL is transactional the run's one transaction is rolled back whole.
        (Failure::Bookkeeping(error), Some(first), Some(last)) => Error::database(
            format!(
                "recording versions {} to {} in the history and committing them (none of them was kept)",
                first.version(),
                last.version()
            ),
            error,
        ),
        (Failure::Bookkeeping(error), _, _) => Error::database("committing the migrations", error),
    })
}

/// The retries of one migration (or group) that hit the DDL lock timeout: backoff from
/// 0.5 s doubling to 10 s, until the policy's deadline.
struct Retry {
    deadline: Instant,
    pause: std::time::Duration,
    attempt: usize,
}

impl Retry {
    fn new(migrator: &Migrator) -> Retry {
        Retry {
            deadline: Instant::now() + migrator.policy().ddl_lock_retry_deadline(),
            pause: std::time::Duration::from_millis(500),
            attempt: 0,
        }
    }

    /// How long to wait before trying `what` again after it hit the lock timeout with
    /// `message` (logged), or `None` when the deadline has passed.
    fn next(&mut self, what: &str, message: &str) -> Option<std::time::Duration> {
        let now = Instant::now();
        if now >= self.deadline {
            tracing::warn!(
                "schema: {what} waited for a lock longer than the DDL lock timeout ({message}); the retry deadline has passed, giving up"
            );
            return None;
        }
        let pause = self.pause.min(self.deadline - now);
        self.attempt += 1;
        tracing::warn!(
            "schema: {what} waited for a lock longer than the DDL lock timeout ({message}); rolled back, retry {} in {} ms",
            self.attempt,
            pause.as_millis()
        );
        self.pause = (self.pause * 2).min(std::time::Duration::from_secs(10));
        Some(pause)
    }
}

/// The error of a migration or seed (`what` is `"seed "` for one) whose step failed:
/// `sql` makes the error of its own SQL failing.
fn failed<E: std::error::Error + Send + Sync + 'static>(
    failure: Failure<E>,
    version: Version,
    path: &'static str,
    what: &str,
    sql: impl FnOnce(String) -> Error,
) -> Error {
    match failure {
        Failure::Sql(message) => sql(message),
        Failure::LockTimeout(message) => sql(format!(
            "{message} (it waited for a lock longer than the DDL lock timeout)"
        )),
        Failure::Lost(message) => Error::OutcomeUnknown {
            version,
            path,
            message,
        },
        Failure::EndedTransaction => Error::TransactionEnded { version, path },
        Failure::Bookkeeping(error) => Error::database(
            format!("recording {what}{path} (version {version}) in the history"),
            error,
        ),
    }
}

/// Runs `body` between `BEGIN` (on SQLite `BEGIN IMMEDIATE`, which takes the write lock
/// at once) and `COMMIT`, rolled back on error.
pub(crate) async fn in_transaction<D: Sql, T>(
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
mod tests;
