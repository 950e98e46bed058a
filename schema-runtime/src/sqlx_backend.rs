//! The async executor over sqlx: one implementation for PostgreSQL, MySQL/MariaDB and
//! SQLite. What differs between them is data ([`Dialect`]: types, quoting, placeholders,
//! whether DDL is transactional) and the migration lock, the only per-backend code.
//!
//! The run holds one pooled connection from start to end. If the run is abandoned
//! half-way (an error we did not expect, a panic, a cancelled future) while that
//! connection holds the lock or an open transaction, the connection is closed instead of
//! going back to the pool, so the server rolls back and releases the lock.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Database, Executor, Pool, Row};

use crate::drift::{COOKIE_KEY, FINGERPRINT_KEY, Fingerprint};
use crate::error::Error;
use crate::migrator::{HistoryValues, Statements, version_from_sql, version_to_sql};
use crate::plan::History;
use crate::report::Report;
use crate::sql_text::{Dialect, Identifier, kind};
use crate::{Migrator, Version};

/// A database the async executor can drive. Implemented for `sqlx::Postgres`,
/// `sqlx::MySql` and `sqlx::Sqlite` (with their cargo features); sealed.
pub trait Backend: Database + sealed::Sealed {
    /// The SQL flavour.
    const DIALECT: Dialect;

    /// Takes the migration lock for `table` on `conn`, waiting at most `timeout`.
    #[doc(hidden)]
    fn lock(
        pool: &Pool<Self>,
        conn: &mut PoolConnection<Self>,
        table: &Identifier,
        timeout: Duration,
    ) -> impl Future<Output = Result<MigrationLock, Error>> + Send;
}

mod sealed {
    pub trait Sealed {}
}

/// A held migration lock.
#[doc(hidden)]
pub enum MigrationLock {
    /// A server-side lock on the connection, released with this statement.
    Session(String),
    /// An operating-system file lock (SQLite), released when dropped.
    #[cfg(feature = "sqlx-sqlite")]
    File(#[allow(dead_code)] crate::filelock::FileLock),
}

/// The stable 64-bit key of a history table's lock: the same for every process that
/// migrates the same table of the same database (and, on PostgreSQL, the same schema),
/// and different for two applications in two schemas or databases of one server.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
fn lock_key(database: &str, schema: &str, table: &Identifier) -> i64 {
    let digest = crate::Checksum::of_normalized(
        format!(
            "schema-runtime lock {database}\u{0}{schema}\u{0}{}",
            table.table()
        )
        .as_bytes(),
    );
    let bytes = digest.as_bytes();
    i64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

/// One connection for the whole run; closed rather than pooled if the run is abandoned
/// while it holds the lock or a transaction.
struct Session<DB: Backend> {
    conn: PoolConnection<DB>,
    lock: Option<MigrationLock>,
    in_transaction: bool,
    /// Commits were made without waiting for the disk (PostgreSQL); see `flush_commits`.
    unflushed: bool,
}

impl<DB: Backend> Drop for Session<DB> {
    fn drop(&mut self) {
        if self.in_transaction || matches!(self.lock, Some(MigrationLock::Session(_))) {
            self.conn.close_on_drop();
        }
    }
}

/// The pooled connection of a [`Backend`]; implemented for every one, never by you.
pub trait Driver: driver::Operations {}

impl<T: driver::Operations> Driver for T {}

pub(crate) mod driver {
    use super::*;

    /// The operations every backend shares, written once over sqlx's generic API.
    pub trait Operations {
        fn script(
            &mut self,
            sql: &'static str,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
        fn statement(&mut self, sql: &str) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
        fn history(
            &mut self,
            sql: &str,
        ) -> impl Future<Output = Result<Option<History>, sqlx::Error>> + Send;
        fn bind_execute(
            &mut self,
            sql: &str,
            values: Vec<Value>,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
        fn text_rows(
            &mut self,
            sql: &str,
        ) -> impl Future<Output = Result<Vec<Vec<Option<String>>>, sqlx::Error>> + Send;
    }

    pub use crate::migrator::Value;
}

use driver::{Operations, Value};

impl<DB> Operations for PoolConnection<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Decode<'q, DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    async fn script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&mut **self).await.map(drop)
    }

    async fn statement(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut **self)
            .await
            .map(drop)
    }

    async fn history(&mut self, sql: &str) -> Result<Option<History>, sqlx::Error> {
        // A prepared statement, cached on the connection: one round trip on every start
        // after the connection's first, and rows in binary form, read without copying.
        // Each row is read as it arrives and dropped: collecting them all first kept the
        // whole result alive, and at 10,000 migrations that cost more than the reading.
        let mut rows = sqlx::query(AssertSqlSafe(sql.to_owned())).fetch(&mut **self);
        let mut history = History::default();
        let mut checked = false;
        while let Some(row) = std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
            let row = match row {
                Ok(row) => row,
                Err(sqlx::Error::Database(error)) if is_missing_table(&*error) => return Ok(None),
                Err(error) => return Err(error),
            };
            if checked {
                history.push_row(
                    version_from_sql(row.try_get_unchecked(0)?),
                    row.try_get_unchecked::<&[u8], _>(1)?,
                    row.try_get_unchecked::<Option<&[u8]>, _>(2)?,
                );
                continue;
            }
            // The first row is decoded with sqlx's type checks, which fail clearly on a
            // history table whose columns are not what this crate created. A result's
            // column types are the same in every row (and SQLite converts any value to the
            // type asked for), so the other rows skip the checks and the UTF-8
            // validation, which were a third of the client's work on an up-to-date start
            // at 1,000 migrations.
            let version: i64 = row.try_get(0)?;
            let checksum: &str = row.try_get(1)?;
            let tag: Option<&str> = row.try_get(2)?;
            history.push_row(
                version_from_sql(version),
                checksum.as_bytes(),
                tag.map(str::as_bytes),
            );
            checked = true;
        }
        Ok(Some(history))
    }

    async fn bind_execute(&mut self, sql: &str, values: Vec<Value>) -> Result<(), sqlx::Error> {
        let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
        for value in values {
            query = match value {
                Value::Integer(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::OptionalText(v) => query.bind(v),
            };
        }
        query.execute(&mut **self).await.map(drop)
    }

    async fn text_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut **self)
            .await?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }
}

/// A history row's binds, in [`crate::sql_text::HISTORY_COLUMNS`] order.
fn is_missing_table(error: &dyn sqlx::error::DatabaseError) -> bool {
    // PostgreSQL 42P01, MySQL 1146 (42S02), SQLite "no such table".
    matches!(error.code().as_deref(), Some("42P01" | "42S02" | "1146"))
        || error.message().contains("no such table")
}

impl Migrator {
    /// Applies every pending migration (and, in development with `SEED_DB=true`, every
    /// pending seed) through a sqlx pool: PostgreSQL, MySQL/MariaDB or SQLite.
    ///
    /// On an up-to-date database this is one history query on one pooled connection.
    /// Otherwise it takes the migration lock (an advisory lock on PostgreSQL, `GET_LOCK`
    /// on MySQL, a lock file beside a SQLite database), checks the whole history against
    /// the binary, and applies each migration with its history row: in one transaction
    /// where the server's DDL is transactional, and with a `started` row marked finished
    /// after where it is not (MySQL) or the file says `-- schema: no-transaction`.
    pub async fn run_async<DB>(&self, pool: &Pool<DB>) -> Result<Report, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Driver,
    {
        self.run_async_to(pool, None).await
    }

    /// Like [`run_async`](Self::run_async), leaving migrations above `target` pending.
    pub async fn run_async_to<DB>(
        &self,
        pool: &Pool<DB>,
        target: Option<Version>,
    ) -> Result<Report, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Driver,
    {
        let started = Instant::now();
        self.policy().log_start();
        let statements = self.statements(DB::DIALECT);
        let reading = |e| self.history_error(Error::database("reading the migration history", e));
        let conn = self.connect(pool).await?;
        let mut session = Session {
            conn,
            lock: None,
            in_transaction: false,
            unflushed: false,
        };

        if let Some(history) = session
            .conn
            .history(&statements.read)
            .await
            .map_err(reading)?
            && let Some(mut report) = self.up_to_date(&history, target, started)?
        {
            if self.drift_due(&history, DB::DIALECT) {
                match drift_before(&mut session.conn, &statements).await {
                    Ok((recorded, Some(live))) => {
                        let differs = self.judge_drift(recorded.as_deref(), &live, &mut report)?;
                        if !differs && DB::DIALECT == Dialect::Sqlite {
                            // Back to one read on the next start: the counter is current.
                            let _ = record_cookie(&mut session.conn, &statements).await;
                        }
                    }
                    Ok((_, None)) => {}
                    Err(error) => self.fingerprint_failed("reading", error, &mut report),
                }
            }
            return Ok(report);
        }

        session.lock = Some(
            DB::lock(
                pool,
                &mut session.conn,
                &self.policy().history_table,
                self.policy().lock_wait(),
            )
            .await?,
        );
        let result = self
            .apply_locked(&mut session, &statements, target, started)
            .await;
        if let Some(lock) = session.lock.take() {
            let released = match lock {
                MigrationLock::Session(sql) => session.conn.statement(&sql).await,
                #[cfg(feature = "sqlx-sqlite")]
                MigrationLock::File(file) => {
                    drop(file);
                    Ok(())
                }
            };
            if let Err(error) = released {
                // Closing the connection ends the session and with it the lock.
                session.conn.close_on_drop();
                tracing::warn!(
                    "schema: releasing the migration lock failed ({error}); the connection is closed instead"
                );
            }
        }
        result
    }

    /// How the live schema differs from what its migrations left (the fingerprint the
    /// last migrating run recorded): `None` when it matches or when no fingerprint is
    /// recorded yet. Reads only; what `db drift` shows.
    pub async fn drift_async<DB>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<Option<crate::drift::Drift>, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Driver,
    {
        let statements = self.statements(DB::DIALECT);
        let mut conn = self.connect(pool).await?;
        let (recorded, live) = drift_before(&mut conn, &statements)
            .await
            .map_err(|e| Error::database("reading the schema", e))?;
        Ok(match (recorded, live) {
            (Some(text), Some(live)) => {
                crate::drift::compare_recorded(&text, &live, &self.own_tables())
            }
            _ => None,
        })
    }

    /// A connection of `pool` for this run (retried while the server is not up yet), with
    /// the policy's session settings run on it. A connection that ran them is closed when
    /// the run ends, never handed back to the application's pool with them.
    async fn connect<DB>(&self, pool: &Pool<DB>) -> Result<PoolConnection<DB>, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Driver,
    {
        let mut conn = connect(pool, self.policy().connect_deadline()).await?;
        if let Some(sql) = self.policy().session_sql() {
            conn.close_on_drop();
            conn.statement(sql)
                .await
                .map_err(|e| Error::database("running the session settings", e))?;
        }
        Ok(conn)
    }

    async fn apply_locked<DB>(
        &self,
        session: &mut Session<DB>,
        statements: &Statements,
        target: Option<Version>,
        started: Instant,
    ) -> Result<Report, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Driver,
    {
        let reading = |e| self.history_error(Error::database("reading the migration history", e));
        let present = session
            .conn
            .text_rows(&statements.histories_present)
            .await
            .map_err(|e| Error::database("looking for migration histories", e))?;
        self.refuse_other_tools(present.into_iter().filter_map(|mut row| row.swap_remove(0)))?;
        for create in &statements.create {
            session
                .conn
                .statement(create)
                .await
                .map_err(|e| Error::database("creating the history tables", e))?;
        }
        let history = session
            .conn
            .history(&statements.read)
            .await
            .map_err(reading)?
            .unwrap_or_default();
        self.check_stamp(&history)?;
        if history.stamp.is_none() {
            let environment = self.policy().environment().as_str().to_owned();
            session
                .conn
                .bind_execute(&statements.insert_stamp, vec![Value::Text(environment)])
                .await
                .map_err(|e| Error::database("stamping the database with its environment", e))?;
        }
        let plan = self.plan(&history, target)?;
        let mut report = self.report(&plan, started);
        report.log_warnings();
        let watch = self.watches_drift(&plan);
        let (recorded, before) = if watch {
            match drift_before(&mut session.conn, statements).await {
                Ok((recorded, Some(live))) => {
                    self.judge_drift(recorded.as_deref(), &live, &mut report)?;
                    (recorded, Some(live))
                }
                Ok(nothing) => nothing,
                Err(error) => {
                    self.fingerprint_failed("reading", error, &mut report);
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        let wanted =
            self.policy().server_backup().is_some() || self.policy().backup_asked() == Some(true);
        if wanted {
            self.backup(&plan, &mut report, || match self.policy().server_backup() {
            Some((command, url)) => crate::backup::command(command, url, plan.newest_applied),
            None if DB::DIALECT == Dialect::Sqlite => Err(
                "backups of SQLite through sqlx are not supported; use the rusqlite executor or Policy::backup_command"
                    .to_owned(),
            ),
            None => Err(
                "the policy backs up before migrating but names no backup command (Policy::backup_command)"
                    .to_owned(),
            ),
        })?;
        }
        let audit = self.audit();
        let transactional_ddl = DB::DIALECT.transactional_ddl();

        for planned in &plan.amendments {
            let migration = planned.migration;
            let recording = |e| {
                Error::database(
                    format!("recording the amendment of {}", migration.path()),
                    e,
                )
            };
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
            transaction(session, async |conn| {
                conn.bind_execute(
                    &statements.update_checksum,
                    vec![
                        Value::Text(migration.checksum().to_string()),
                        Value::Integer(version_to_sql(migration.version())),
                    ],
                )
                .await?;
                conn.bind_execute(&statements.insert, row.binds()).await
            })
            .await
            .map_err(|failure| failure.into_error(recording))?;
            report.amended.push(migration.version());
        }

        let applied: Result<(), Error> = async {
            let grouped = self.policy().groups_transactions() && transactional_ddl;
            let mut index = 0;
            while index < plan.pending.len() {
                let migration = plan.pending[index];
                let in_transaction = migration.transaction() && transactional_ddl;
                if grouped && in_transaction && DB::DIALECT == Dialect::Postgres {
                    // The longest run of migrations that can share the transaction, sent at once.
                    let end = plan.pending[index..]
                        .iter()
                        .position(|m| !m.transaction())
                        .map_or(plan.pending.len(), |n| index + n);
                    let batch = &plan.pending[index..end];
                    let durations = run_batch(session, statements, &audit, batch).await?;
                    for (migration, duration) in batch.iter().zip(durations) {
                        report.record_migration(migration, duration);
                    }
                    index = end;
                    continue;
                }
                index += 1;
                let row = audit.row(
                    kind::MIGRATION,
                    migration.version(),
                    migration.name(),
                    migration.checksum(),
                    in_transaction,
                );
                let split = !migration.transaction() && DB::DIALECT == Dialect::Postgres;
                let whole_run = grouped && in_transaction;
                let duration = execute(session, statements, migration.sql(), row, split, whole_run)
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
            commit_group(session)
                .await
                .map_err(|e| Error::database("committing the migrations", e))?;
            flush_commits(session, statements)
                .await
                .map_err(|e| Error::database("making the migrations durable", e))?;
            Ok(())
        }
        .await;
        if watch && !session.in_transaction && (applied.is_err() || !report.applied.is_empty()) {
            let recording = async {
                let after = session
                    .conn
                    .text_rows(statements.fingerprint)
                    .await
                    .map(Fingerprint::from_rows)?;
                match self.fingerprint_after_run(
                    recorded.as_deref(),
                    before.as_ref(),
                    &after,
                    &report,
                ) {
                    Some(text) => record_fingerprint(&mut session.conn, statements, &text).await,
                    None => Ok(()),
                }
            }
            .await;
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
            let duration = execute(session, statements, seed.sql(), row, false, false)
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

        self.write_dev_lock(&mut report);
        report.duration = started.elapsed();
        Ok(report)
    }
}

/// The newest fingerprint recorded in the database (by any migration set sharing it)
/// and the live schema.
async fn drift_before<C: Operations>(
    conn: &mut C,
    statements: &Statements,
) -> Result<(Option<String>, Option<Fingerprint>), sqlx::Error> {
    let live = Fingerprint::from_rows(conn.text_rows(statements.fingerprint).await?);
    let recorded = match live.recorded_query(statements.dialect) {
        Some(sql) => crate::drift::newest(
            conn.text_rows(&sql)
                .await?
                .into_iter()
                .filter_map(|mut row| row.swap_remove(0)),
        ),
        None => None,
    };
    Ok((recorded, Some(live)))
}

/// Records `text` as the fingerprint (on SQLite with its schema counter), in one
/// transaction.
pub(crate) async fn record_fingerprint<C: Operations>(
    conn: &mut C,
    statements: &Statements,
    text: &str,
) -> Result<(), sqlx::Error> {
    conn.statement("BEGIN").await?;
    let result = async {
        conn.bind_execute(
            &statements.delete_meta,
            vec![Value::Text(FINGERPRINT_KEY.to_owned())],
        )
        .await?;
        conn.bind_execute(
            &statements.insert_meta,
            vec![
                Value::Text(FINGERPRINT_KEY.to_owned()),
                Value::Text(text.to_owned()),
            ],
        )
        .await?;
        if statements.dialect == Dialect::Sqlite {
            record_cookie(conn, statements).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => conn.statement("COMMIT").await,
        Err(error) => {
            let _ = conn.statement("ROLLBACK").await;
            Err(error)
        }
    }
}

/// Records SQLite's schema counter of this moment beside the fingerprint.
async fn record_cookie<C: Operations>(
    conn: &mut C,
    statements: &Statements,
) -> Result<(), sqlx::Error> {
    let cookie = conn
        .text_rows("SELECT CAST(schema_version AS TEXT) FROM pragma_schema_version")
        .await?
        .into_iter()
        .next()
        .and_then(|mut row| row.swap_remove(0))
        .unwrap_or_default();
    conn.bind_execute(
        &statements.delete_meta,
        vec![Value::Text(COOKIE_KEY.to_owned())],
    )
    .await?;
    conn.bind_execute(
        &statements.insert_meta,
        vec![Value::Text(COOKIE_KEY.to_owned()), Value::Text(cookie)],
    )
    .await
}

/// A connection from `pool`, retrying with backoff while the server cannot be reached yet
/// (refused, reset, not resolvable, starting up), until `deadline` has passed.
async fn connect<DB: Backend>(
    pool: &Pool<DB>,
    deadline: Duration,
) -> Result<PoolConnection<DB>, Error> {
    let mut backoff =
        Backoff::with_pauses(deadline, Duration::from_millis(100), Duration::from_secs(5));
    let mut attempt = 1u32;
    loop {
        match pool.acquire().await {
            Ok(conn) => return Ok(conn),
            Err(error) if unreachable(&error) && backoff.has_time() => {
                tracing::warn!(
                    "schema: the database is not reachable yet (attempt {attempt}: {error}); retrying in {} ms",
                    backoff.next_pause().as_millis()
                );
                backoff.wait().await;
                attempt += 1;
            }
            Err(error) => {
                let context = if attempt > 1 {
                    format!(
                        "connecting to the database ({attempt} attempts over {:.1} s)",
                        backoff.started.elapsed().as_secs_f64()
                    )
                } else {
                    "connecting to the database".to_owned()
                };
                return Err(Error::database(context, error));
            }
        }
    }
}

/// Whether a connection error means "not up yet" rather than "wrong settings".
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(error) => error.is_transient_in_connect_phase(),
        _ => false,
    }
}

/// Whether the connection itself went away (rather than the server refusing a statement).
fn connection_lost(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::PoolClosed
    )
}

enum Failure {
    /// The file's own SQL failed; the caller names the file.
    Sql(String),
    /// The connection was lost after the server may have had the commit.
    Lost(String),
    /// Our own statements failed.
    Bookkeeping(sqlx::Error),
}

impl Failure {
    fn into_error(self, bookkeeping: impl FnOnce(sqlx::Error) -> Error) -> Error {
        match self {
            Failure::Sql(message) | Failure::Lost(message) => {
                Error::database_message("running SQL", message)
            }
            Failure::Bookkeeping(error) => bookkeeping(error),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Bookkeeping(error)
    }
}

/// The database's own words for a failed statement.
fn sql_message(error: sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(error) => match error.code() {
            Some(code) => format!("{} (code {code})", error.message()),
            None => error.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// Runs `body` between `BEGIN` and `COMMIT`, rolling back on error.
async fn transaction<DB, T>(
    session: &mut Session<DB>,
    body: impl AsyncFnOnce(&mut PoolConnection<DB>) -> Result<T, sqlx::Error>,
) -> Result<T, Failure>
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    session.conn.statement(begin(DB::DIALECT)).await?;
    session.in_transaction = true;
    match body(&mut session.conn).await {
        Ok(value) => {
            session.conn.statement("COMMIT").await?;
            session.in_transaction = false;
            Ok(value)
        }
        Err(error) => {
            rollback(session).await;
            Err(Failure::Bookkeeping(error))
        }
    }
}

/// The statements of a `no-transaction` file, for PostgreSQL, which would otherwise run a
/// multi-statement string in one implicit transaction (and refuse `CONCURRENTLY` in it).
fn split_for_no_transaction(sql: &'static str) -> Vec<&'static str> {
    schema_core::sql::split_statements(sql)
        .into_iter()
        .map(|statement| statement.text)
        .collect()
}

fn begin(dialect: Dialect) -> &'static str {
    match dialect {
        // Like BEGIN IMMEDIATE in the rusqlite executor: take the write lock up front.
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres | Dialect::Mysql => "BEGIN",
    }
}

async fn rollback<DB>(session: &mut Session<DB>)
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    if session.conn.statement("ROLLBACK").await.is_ok() {
        session.in_transaction = false;
    }
}

/// Runs one file with its history row: inside a transaction with the row, or (outside
/// one) after a `started` row that is marked finished when it is done. With `grouped`,
/// the transaction stays open for the next migration ([`commit_group`] ends it).
async fn execute<DB>(
    session: &mut Session<DB>,
    statements: &Statements,
    sql: &'static str,
    mut row: HistoryValues<'_>,
    split: bool,
    grouped: bool,
) -> Result<Duration, Failure>
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    if row.state == crate::sql_text::state::APPLIED && DB::DIALECT == Dialect::Postgres {
        // One round trip for the whole step: BEGIN, the file as written, its history row
        // and COMMIT travel as one simple query. They are one transaction, so any error
        // (in the file, or in a file that leaves a comment or a quote open) aborts all of
        // it, and the ROLLBACK below ends the aborted block. The history row's values are
        // written as escaped literals: the simple protocol has no parameters.
        // Commits inside the run need not wait for the disk: a migration and its row are
        // one transaction, so a crash loses both or neither (and the next start applies it
        // again), and the run ends with one durable commit that flushes them all
        // (`flush_commits`) before startup goes on.
        let begin = if session.in_transaction {
            ""
        } else {
            "BEGIN;\nSET LOCAL synchronous_commit = off;\n"
        };
        session.unflushed = true;
        let commit = if grouped { "" } else { ";\nCOMMIT" };
        // statement_timestamp() is when this message arrived: the time the file took.
        let execution_ms =
            "CAST(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000 AS BIGINT)";
        let step = format!(
            "{begin}{sql}\n;\n{}{commit}",
            statements.insert_literal(std::slice::from_ref(&row), Some(execution_ms))
        );
        session.in_transaction = true;
        let started = Instant::now();
        if let Err(error) = session.conn.statement(&step).await {
            if connection_lost(&error) {
                // The server may have received the whole message, COMMIT included.
                session.conn.close_on_drop();
                return Err(Failure::Lost(error.to_string()));
            }
            rollback(session).await;
            return Err(Failure::Sql(sql_message(error)));
        }
        if !grouped {
            session.in_transaction = false;
        }
        Ok(started.elapsed())
    } else if row.state == crate::sql_text::state::APPLIED {
        if !session.in_transaction {
            session.conn.statement(begin(DB::DIALECT)).await?;
            session.in_transaction = true;
        }
        let started = Instant::now();
        if let Err(error) = session.conn.script(sql).await {
            rollback(session).await;
            return Err(Failure::Sql(sql_message(error)));
        }
        let duration = started.elapsed();
        row.execution_ms = duration.as_millis() as i64;
        if let Err(error) = session
            .conn
            .bind_execute(&statements.insert, row.binds())
            .await
        {
            rollback(session).await;
            return Err(Failure::Bookkeeping(error));
        }
        if !grouped && let Err(error) = commit_group(session).await {
            if connection_lost(&error) {
                // COMMIT was sent: whether the server ran it is not known here.
                session.conn.close_on_drop();
                return Err(Failure::Lost(error.to_string()));
            }
            return Err(Failure::Bookkeeping(error));
        }
        Ok(duration)
    } else {
        commit_group(session).await?;
        session
            .conn
            .bind_execute(&statements.insert, row.binds())
            .await?;
        let started = Instant::now();
        let parts = if split {
            split_for_no_transaction(sql)
        } else {
            vec![sql]
        };
        for part in parts {
            session
                .conn
                .script(part)
                .await
                .map_err(|e| Failure::Sql(sql_message(e)))?;
        }
        let duration = started.elapsed();
        session
            .conn
            .bind_execute(
                &statements.finish,
                vec![
                    Value::Integer(duration.as_millis() as i64),
                    Value::Text(row.kind.to_owned()),
                    Value::Integer(row.version),
                ],
            )
            .await?;
        Ok(duration)
    }
}

/// Grouped mode on PostgreSQL: a run of migrations and their history rows sent as one
/// message inside the run's transaction, so a backlog costs one round trip rather than
/// one per file. Each row's execution time is measured by the server between marks. If
/// the message fails, the transaction is rolled back and the files are replayed one by
/// one in a transaction that is rolled back too, to name the file that fails.
async fn run_batch<DB>(
    session: &mut Session<DB>,
    statements: &Statements,
    audit: &crate::migrator::Audit,
    batch: &[&'static crate::Migration],
) -> Result<Vec<Duration>, Error>
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    let mut message = String::new();
    if !session.in_transaction {
        message.push_str("BEGIN;\n");
    }
    for migration in batch {
        message.push_str(migration.sql());
        message.push_str("\n;\n");
    }
    session.in_transaction = true;
    let started = Instant::now();
    if let Err(error) = session.conn.statement(&message).await {
        rollback(session).await;
        return Err(locate_failure(session, batch, error).await);
    }
    // The files ran as one message, so the server cannot time them one by one: each
    // row gets the batch's average and says so.
    let share = started.elapsed() / batch.len() as u32;
    let note = format!(
        "grouped: one transaction of {} files, time is the average",
        batch.len()
    );
    let rows: Vec<_> = batch
        .iter()
        .map(|migration| {
            let mut row = audit.row(
                kind::MIGRATION,
                migration.version(),
                migration.name(),
                migration.checksum(),
                true,
            );
            row.execution_ms = share.as_millis() as i64;
            row.note = Some(note.clone());
            row
        })
        .collect();
    if let Err(error) = session
        .conn
        .statement(&statements.insert_literal(&rows, None))
        .await
    {
        rollback(session).await;
        return Err(Error::database("recording the migration history", error));
    }
    Ok(vec![share; batch.len()])
}

/// Names the file of a batch that fails, by replaying the files one by one in a
/// transaction that is always rolled back.
async fn locate_failure<DB>(
    session: &mut Session<DB>,
    batch: &[&'static crate::Migration],
    batch_error: sqlx::Error,
) -> Error
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    let whole = |migration: &crate::Migration, message: String| Error::Migration {
        version: migration.version(),
        path: migration.path(),
        message,
        in_transaction: true,
        whole_run: true,
    };
    if session.conn.statement("BEGIN").await.is_ok() {
        session.in_transaction = true;
        for migration in batch {
            if let Err(error) = session.conn.script(migration.sql()).await {
                rollback(session).await;
                return whole(migration, sql_message(error));
            }
        }
        rollback(session).await;
    }
    // Every file ran on its own: the failure was in the bookkeeping.
    Error::database("recording the migration history", batch_error)
}

/// Ends a run whose commits did not wait for the disk with one that does: a durable
/// commit flushes the write-ahead log up to it, and so every commit before it.
async fn flush_commits<DB>(
    session: &mut Session<DB>,
    statements: &Statements,
) -> Result<(), sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    if session.unflushed {
        session.conn.statement(&statements.touch_stamp).await?;
        session.unflushed = false;
    }
    Ok(())
}

/// Commits the open transaction, if there is one.
async fn commit_group<DB>(session: &mut Session<DB>) -> Result<(), sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Driver,
{
    if session.in_transaction {
        session.conn.statement("COMMIT").await?;
        session.in_transaction = false;
    }
    Ok(())
}

/// Pauses between tries (for a lock, or a server that is not up yet), twice as long
/// each time up to a cap, until a deadline.
struct Backoff {
    started: Instant,
    timeout: Duration,
    pause: Duration,
    max_pause: Duration,
}

impl Backoff {
    /// The pauses of a lock wait: from 5 ms to 200 ms.
    #[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
    fn new(timeout: Duration) -> Backoff {
        Backoff::with_pauses(
            timeout,
            Duration::from_millis(5),
            Duration::from_millis(200),
        )
    }

    fn with_pauses(timeout: Duration, first: Duration, max_pause: Duration) -> Backoff {
        Backoff {
            started: Instant::now(),
            timeout,
            pause: first,
            max_pause,
        }
    }

    fn left(&self) -> Duration {
        self.timeout.saturating_sub(self.started.elapsed())
    }

    /// Whether the deadline leaves time for another try.
    fn has_time(&self) -> bool {
        !self.left().is_zero()
    }

    /// How long the next [`wait`](Self::wait) pauses.
    fn next_pause(&self) -> Duration {
        self.pause.min(self.left())
    }

    /// Waits before the next try; `false` once the deadline has passed.
    async fn wait(&mut self) -> bool {
        if !self.has_time() {
            return false;
        }
        tokio::time::sleep(self.next_pause()).await;
        self.pause = (self.pause * 2).min(self.max_pause);
        true
    }
}

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use super::*;
    use sqlx::Postgres;

    impl sealed::Sealed for Postgres {}

    impl Backend for Postgres {
        const DIALECT: Dialect = Dialect::Postgres;

        async fn lock(
            _pool: &Pool<Self>,
            conn: &mut PoolConnection<Self>,
            table: &Identifier,
            timeout: Duration,
        ) -> Result<MigrationLock, Error> {
            // The key names where the history table lives: its own schema when the name is
            // qualified, else the first schema of the search path, which is where an
            // unqualified name is created.
            let (database, schema): (String, Option<String>) =
                sqlx::query_as("SELECT current_database()::text, current_schema()::text")
                    .fetch_one(&mut **conn)
                    .await
                    .map_err(|e| Error::database("taking the migration lock", e))?;
            let schema = table
                .schema()
                .map(str::to_owned)
                .or(schema)
                .unwrap_or_default();
            let key = lock_key(&database, &schema, table);
            let mut backoff = Backoff::new(timeout);
            let got = loop {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut **conn)
                    .await
                    .map_err(|e| Error::database("taking the migration lock", e))?;
                if got || !backoff.wait().await {
                    break got;
                }
            };
            if !got {
                // Advisory locks on a bigint key show as classid (high half) and objid (low half).
                let holder = sqlx::query(
                    "SELECT format('backend %s (%s@%s, %s) since %s', a.pid, a.usename, coalesce(host(a.client_addr), 'local'), coalesce(nullif(a.application_name, ''), 'no application name'), a.backend_start) \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 LIMIT 1",
                )
                .bind(((key as u64) >> 32) as i64)
                .bind((key as u64 & 0xffff_ffff) as i64)
                .fetch_optional(&mut **conn)
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get::<String, _>(0).ok())
                .unwrap_or_else(|| "another session".to_owned());
                return Err(Error::LockTimeout {
                    what: format!("PostgreSQL advisory lock {key} (history table {table})"),
                    holder,
                    waited: timeout,
                });
            }
            Ok(MigrationLock::Session(format!(
                "SELECT pg_advisory_unlock({key})"
            )))
        }
    }
}

#[cfg(feature = "sqlx-mysql")]
mod mysql {
    use super::*;
    use sqlx::MySql;

    impl sealed::Sealed for MySql {}

    /// `GET_LOCK` names are server-wide: the key covers the database (a qualified
    /// history table's own, else the connection's), and the name stays within the
    /// 64 characters the server allows.
    fn lock_name(database: &str, table: &Identifier) -> String {
        let database = table.schema().unwrap_or(database);
        let key = lock_key(database, "", table) as u64;
        let mut name = format!("schema:{key:016x}:{database}");
        name.truncate(name.char_indices().nth(64).map_or(name.len(), |(i, _)| i));
        name
    }

    impl Backend for MySql {
        const DIALECT: Dialect = Dialect::Mysql;

        async fn lock(
            _pool: &Pool<Self>,
            conn: &mut PoolConnection<Self>,
            table: &Identifier,
            timeout: Duration,
        ) -> Result<MigrationLock, Error> {
            let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
                .fetch_one(&mut **conn)
                .await
                .map_err(|e| Error::database("taking the migration lock", e))?;
            let name = lock_name(&database.unwrap_or_default(), table);
            let mut backoff = Backoff::new(timeout);
            let got = loop {
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
                    .bind(&name)
                    .fetch_one(&mut **conn)
                    .await
                    .map_err(|e| Error::database("taking the migration lock", e))?;
                if got == Some(1) || !backoff.wait().await {
                    break got == Some(1);
                }
            };
            if !got {
                let holder: Option<String> = sqlx::query_scalar(
                    "SELECT CONCAT('connection ', p.ID, ' (', p.USER, '@', p.HOST, ')') FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)",
                )
                .bind(&name)
                .fetch_optional(&mut **conn)
                .await
                .ok()
                .flatten();
                return Err(Error::LockTimeout {
                    what: format!("MySQL lock `{name}` (history table {table})"),
                    holder: holder.unwrap_or_else(|| "another connection".to_owned()),
                    waited: timeout,
                });
            }
            Ok(MigrationLock::Session(format!(
                "DO RELEASE_LOCK('{}')",
                name.replace('\'', "''")
            )))
        }
    }
}

#[cfg(feature = "sqlx-sqlite")]
mod sqlite {
    use super::*;
    use sqlx::Sqlite;

    impl sealed::Sealed for Sqlite {}

    impl Backend for Sqlite {
        const DIALECT: Dialect = Dialect::Sqlite;

        async fn lock(
            pool: &Pool<Self>,
            _conn: &mut PoolConnection<Self>,
            _table: &Identifier,
            timeout: Duration,
        ) -> Result<MigrationLock, Error> {
            let options = pool.connect_options();
            let path = options.get_filename().to_string_lossy().into_owned();
            let in_memory = path.is_empty() || path == ":memory:";
            let lock =
                crate::filelock::FileLock::acquire((!in_memory).then_some(path.as_str()), timeout)
                    .await?;
            Ok(MigrationLock::File(lock))
        }
    }
}
