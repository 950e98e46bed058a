//! The async executor over sqlx: one implementation for PostgreSQL, MySQL/MariaDB and
//! SQLite. What differs between them is data ([`Dialect`]: types, quoting, placeholders,
//! whether DDL is transactional) and the migration lock, the only per-backend code.
//!
//! The run holds one pooled connection from start to end. If the run is abandoned
//! half-way (an error we did not expect, a panic, a cancelled future) while that
//! connection holds the lock or an open transaction, the connection is closed instead of
//! going back to the pool, so the server rolls back and releases the lock.

mod apply;
mod locks;
mod operations;
mod pooler;
mod prepared;
mod session;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

pub(crate) use self::locks::MigrationLock;
pub(crate) use self::operations::Operations;
pub(crate) use self::session::Session;
use crate::engine;
use crate::error::Error;
use crate::report::Report;
use crate::sql_text::Dialect;
use crate::{Migrator, Version};

/// A database the async executor can drive. Implemented for `sqlx::Postgres`,
/// `sqlx::MySql` and `sqlx::Sqlite` (with their cargo features); sealed, so a function
/// generic over the database needs no other bound:
///
/// ```
/// use schema_runtime::sqlx::Pool;
/// use schema_runtime::sqlx_backend::Backend;
/// use schema_runtime::{Error, Migrator, Report};
///
/// async fn start<DB: Backend>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Report, Error> {
///     migrator.run_async(pool).await
/// }
/// ```
pub trait Backend: Database + sealed::Sealed {
    /// The SQL flavour.
    const DIALECT: Dialect;
}

/// A boxed future of this crate's own runs: compiled once here for each backend, not in
/// every application that calls them.
type Run<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

pub(crate) mod sealed {
    use super::*;

    /// What only this crate implements: the backend's lock, and the runs compiled here.
    pub trait Sealed: Database {
        /// Takes the migration lock for `table` on `conn`, waiting at most `timeout`.
        fn lock(
            pool: &Pool<Self>,
            conn: &mut PoolConnection<Self>,
            table: &crate::sql_text::Identifier,
            timeout: Duration,
        ) -> impl Future<Output = Result<MigrationLock, Error>> + Send;
        /// [`Migrator::run_async_to`] on this backend.
        fn run<'a>(
            migrator: &'a Migrator,
            pool: &'a Pool<Self>,
            target: Option<Version>,
        ) -> Run<'a, Report>;
        /// [`Migrator::drift_async`] on this backend.
        fn drift<'a>(
            migrator: &'a Migrator,
            pool: &'a Pool<Self>,
        ) -> Run<'a, Option<crate::drift::Drift>>;
        /// Whether the history is read with the simple-query protocol: one round trip on
        /// any connection, rows as text. Otherwise a prepared statement, cached on the
        /// connection (two round trips the first time, rows in binary form).
        const SIMPLE_HISTORY: bool = false;
        /// A column of a history row as its bytes (`None` for NULL), without type checks
        /// or UTF-8 validation: the first row was checked.
        fn history_bytes(row: &Self::Row, index: usize) -> Result<Option<&[u8]>, sqlx::Error>;
    }
}

/// The sealed runs of a backend, each the generic code below for that one database.
macro_rules! runs_for_backend {
    () => {
        fn run<'a>(
            migrator: &'a crate::Migrator,
            pool: &'a sqlx::Pool<Self>,
            target: Option<crate::Version>,
        ) -> crate::sqlx_backend::Run<'a, crate::Report> {
            Box::pin(crate::sqlx_backend::run(migrator, pool, target))
        }

        fn drift<'a>(
            migrator: &'a crate::Migrator,
            pool: &'a sqlx::Pool<Self>,
        ) -> crate::sqlx_backend::Run<'a, Option<crate::drift::Drift>> {
            Box::pin(crate::sqlx_backend::drift(migrator, pool))
        }
    };
}
use runs_for_backend;

#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )))
)]
impl Migrator {
    /// Applies every pending migration (and, in development with `SEED_DB=true`, every
    /// pending seed) through a sqlx pool: PostgreSQL, MySQL/MariaDB or SQLite.
    ///
    /// On an up-to-date database this is one history query on one pooled connection: on
    /// PostgreSQL one round trip, on an idle connection of the pool or a new one alike.
    /// A process's first start on a pool reads with the simple-query protocol; later
    /// ones prepare the read once per connection (a round trip of its own), then only
    /// execute it, which spares the server its planning.
    /// An idle connection is taken without the pool's test before acquire (its ping, and
    /// a `before_acquire` hook): the read tests it, and a run whose idle connection turns
    /// out dead starts again on one the pool tests or makes.
    /// Otherwise it takes the migration lock (an advisory lock on PostgreSQL, `GET_LOCK`
    /// on MySQL, a lock file beside a SQLite database), checks the whole history against
    /// the binary, and applies each migration with its history row: in one transaction
    /// where the server's DDL is transactional, and with a `started` row marked finished
    /// after where it is not (MySQL) or the file says `-- schema: no-transaction`.
    ///
    /// With a [direct URL](crate::Policy::direct_url) (`SCHEMA_DIRECT_URL`) the whole run
    /// uses a connection of its own to that URL instead of `pool`. Before it takes the
    /// lock on PostgreSQL, a connection through a pooler in transaction mode is refused
    /// ([`Error::TransactionPooler`]): the lock cannot keep other replicas out there.
    pub async fn run_async<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Report, Error> {
        DB::run(self, pool, None).await
    }

    /// Like [`run_async`](Self::run_async), leaving migrations above `target` pending.
    pub async fn run_async_to<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        target: Option<Version>,
    ) -> Result<Report, Error> {
        DB::run(self, pool, target).await
    }

    /// How the live schema differs from what its migrations left (the fingerprint the
    /// last migrating run recorded): `None` when it matches or when no fingerprint is
    /// recorded yet. Reads only; what `db drift` shows.
    pub async fn drift_async<DB: Backend>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<Option<crate::drift::Drift>, Error> {
        DB::drift(self, pool).await
    }
}

/// A run on `pool`, or (when the policy names a direct URL) on a connection of its own to
/// that URL, closed when the run ends: behind a connection pooler the application keeps
/// the pooled URL, and the lock and every change go to the server itself.
async fn run<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    target: Option<Version>,
) -> Result<Report, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    match pooler::direct_pool(migrator.policy(), pool)? {
        Some(direct) => {
            let result = run_on(migrator, &direct, target).await;
            direct.close().await;
            result
        }
        None => run_on(migrator, pool, target).await,
    }
}

async fn run_on<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    target: Option<Version>,
) -> Result<Report, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    // An idle connection of the pool is taken as it is, without sqlx's test before
    // acquire (a round trip of its own): the history read that follows tests it, and
    // the session takes a tested connection if it was dead.
    let idle = match migrator.policy().session_sql() {
        None => pool.try_acquire(),
        Some(_) => None,
    };
    let untested = idle.is_some();
    let conn = match idle {
        Some(conn) => conn,
        None => session_connection(migrator, pool).await?,
    };
    let mut session = Session::new(pool, migrator, conn);
    session.untested = untested;
    let mut result = engine::run(migrator, &mut session, target).await;
    if session.dead_idle {
        // It failed on its first read, before it changed anything: again, on a
        // connection the pool tests (the dead one is closed with the session).
        drop(session);
        let conn = session_connection(migrator, pool).await?;
        let mut session = Session::new(pool, migrator, conn);
        result = engine::run(migrator, &mut session, target).await;
    }
    result.map_err(|error| pooler::explain_prepared_statements(error, &pooler::target(pool)))
}

async fn drift<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
) -> Result<Option<crate::drift::Drift>, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    match pooler::direct_pool(migrator.policy(), pool)? {
        Some(direct) => {
            let result = drift_on(migrator, &direct).await;
            direct.close().await;
            result
        }
        None => drift_on(migrator, pool).await,
    }
}

async fn drift_on<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
) -> Result<Option<crate::drift::Drift>, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let statements = migrator.statements(DB::DIALECT);
    let conn = session_connection(migrator, pool).await?;
    let mut session = Session::new(pool, migrator, conn);
    let (recorded, live) = engine::fingerprints(&mut session, &statements)
        .await
        .map_err(|e| Error::database("reading the schema", e))?;
    Ok(recorded
        .and_then(|text| crate::drift::compare_recorded(&text, &live, &migrator.own_tables())))
}

/// A connection of `pool` for this run (retried while the server is not up yet), with
/// the policy's session settings run on it. A connection that ran them is closed when
/// the run ends, never handed back to the application's pool with them.
async fn session_connection<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
) -> Result<PoolConnection<DB>, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let mut conn = connect(pool, migrator.policy(), Tell::Log).await?;
    if let Some(sql) = migrator.policy().session_sql() {
        conn.close_on_drop();
        conn.statement(sql)
            .await
            .map_err(|e| Error::database("running the session settings", e))?;
    }
    Ok(conn)
}

/// Where [`connect`] tells of its attempts: the runner logs them (`tracing`), the `db`
/// command prints them on stderr beside its other warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tell {
    Log,
    #[cfg_attr(
        not(all(
            feature = "cli",
            any(feature = "sqlx-postgres", feature = "sqlx-mysql")
        )),
        allow(dead_code)
    )]
    Stderr,
}

impl Tell {
    fn warn(self, line: &str) {
        match self {
            Tell::Log => tracing::warn!("schema: {line}"),
            Tell::Stderr => eprintln!("warning: {line}"),
        }
    }

    fn info(self, line: &str) {
        match self {
            Tell::Log => tracing::info!("schema: {line}"),
            Tell::Stderr => eprintln!("note: {line}"),
        }
    }
}

/// A connection from `pool`, retried with backoff while the server cannot be reached yet
/// (refused, reset, not resolvable, no answer, starting up), until the policy's deadline
/// ([`Policy::retry_connect_for`](crate::Policy::retry_connect_for)) has passed.
///
/// A sqlx pool hides why it cannot connect: its `acquire` retries a refused connection
/// silently until the pool's own acquire timeout (30 s by default, chosen by the
/// application) and then returns `PoolTimedOut`. So each attempt on a server first opens
/// a connection of its own with the pool's connect options, bounded by
/// [`Policy::connect_attempt_timeout`](crate::Policy::connect_attempt_timeout): its error
/// is the cause, logged with the attempt's number and the next pause, and kept as the
/// final error's source. Only once that works is the pool asked (bounded the same way):
/// the run uses the pool's connection, so the application's `after_connect` settings
/// apply to it. The first attempt asks the pool alone and probes beside it only when the
/// pool has not answered within [`PROBE_AFTER`], so a healthy start opens one
/// connection.
/// Errors that retrying cannot cure (a password, a database that does not exist, TLS)
/// stop at the first attempt.
pub(crate) async fn connect<DB: Backend>(
    pool: &Pool<DB>,
    policy: &crate::Policy,
    tell: Tell,
) -> Result<PoolConnection<DB>, Error> {
    let limit = policy.connect_attempt_limit();
    let mut backoff = locks::Backoff::with_pauses(
        policy.connect_deadline(),
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let server = DB::DIALECT != Dialect::Sqlite;
    // Where the server is, for the messages: host and port only, never a password.
    let target = if server {
        let url = sqlx::ConnectOptions::to_url_lossy(&*pool.connect_options());
        let host = url.host_str().unwrap_or("localhost").to_owned();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    } else {
        String::new()
    };
    let at = if server {
        format!(" at {target}")
    } else {
        String::new()
    };
    let mut attempt = 1u32;
    loop {
        // The first attempt asks the pool alone (a healthy server costs one connection),
        // and probes beside it only if the pool is slow to answer; later attempts probe
        // first, to learn and log why the server fails.
        let probe = match (server, attempt) {
            (false, _) => Probe::Never,
            (true, 1) => Probe::IfSlow,
            (true, _) => Probe::First,
        };
        let failed = match attempt_once(pool, limit, probe).await {
            Ok(conn) => {
                if attempt > 1 {
                    tell.info(&format!(
                        "connected to the database{at} on attempt {attempt}, after {:.1} s",
                        backoff.started.elapsed().as_secs_f64()
                    ));
                }
                return Ok(conn);
            }
            Err(failed) => failed,
        };
        let elapsed = backoff.started.elapsed().as_secs_f64();
        if failed.transient() && backoff.has_time() {
            tell.warn(&format!(
                "the database{at} is not reachable yet (attempt {attempt}, {elapsed:.1} s: {}); retrying in {} ms",
                failed.cause(),
                backoff.next_pause().as_millis()
            ));
            backoff.wait().await;
            attempt += 1;
            continue;
        }
        if failed.transient() && attempt > 1 {
            tell.warn(&format!(
                "the database{at} is not reachable (attempt {attempt}, {elapsed:.1} s: {}); giving up",
                failed.cause()
            ));
        }
        let context = match (attempt, server) {
            (1, _) => format!("connecting to the database{at}"),
            (_, true) => format!(
                "connecting to the database ({target}; {attempt} attempts over {elapsed:.1} s)"
            ),
            (_, false) => {
                format!("connecting to the database ({attempt} attempts over {elapsed:.1} s)")
            }
        };
        return Err(match failed {
            Failed::Driver(error) => Error::database(context, error),
            Failed::Silent(message) => Error::database_message(context, message),
        });
    }
}

/// Why one connection attempt failed.
enum Failed {
    /// The driver's error: refused, not resolvable, TLS, the server's own refusal.
    Driver(sqlx::Error),
    /// No answer within the attempt's time.
    Silent(String),
}

impl Failed {
    /// Whether another attempt may succeed: "not up yet" rather than "wrong settings".
    fn transient(&self) -> bool {
        match self {
            Failed::Silent(_) => true,
            Failed::Driver(error) => match error {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
                sqlx::Error::Database(error) => error.is_transient_in_connect_phase(),
                _ => false,
            },
        }
    }

    /// The cause as a log line says it: the operating system's or the server's own words.
    fn cause(&self) -> String {
        match self {
            Failed::Silent(message) => message.clone(),
            Failed::Driver(sqlx::Error::Io(error)) => error.to_string(),
            Failed::Driver(sqlx::Error::Database(error)) => match error.code() {
                Some(code) => format!("{} (SQLSTATE {code})", error.message()),
                None => error.message().to_owned(),
            },
            Failed::Driver(error) => error.to_string(),
        }
    }
}

/// When an attempt opens a connection of its own beside the pool's, to learn why the
/// server fails: a sqlx pool retries a refused connection silently until its acquire
/// timeout and then says only that it timed out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Probe {
    /// SQLite: nothing to learn.
    Never,
    /// The first attempt: the pool alone, and a probe beside it once the pool has not
    /// answered within [`PROBE_AFTER`].
    IfSlow,
    /// A later attempt: the probe, then the pool.
    First,
}

/// How long a first attempt waits for the pool before it probes beside it: longer than
/// a healthy connection takes (a few milliseconds near the server, a few hundred with
/// TLS across regions), so a healthy start opens only the pool's connection.
const PROBE_AFTER: Duration = Duration::from_millis(500);

/// One attempt: the pool's connection within `limit`, with a connection of its own to
/// learn whether and why the server fails as `probe` says.
async fn attempt_once<DB: Backend>(
    pool: &Pool<DB>,
    limit: Duration,
    probe: Probe,
) -> Result<PoolConnection<DB>, Failed> {
    if probe == Probe::First {
        probe_server(pool, limit).await?;
    }
    let acquire = async {
        match tokio::time::timeout(limit, pool.acquire()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(Failed::Silent(format!(
                "the pool gave no connection within {} ({} open, {} idle, at most {})",
                seconds(limit.min(pool.options().get_acquire_timeout())),
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections()
            ))),
            Ok(Err(error)) => Err(Failed::Driver(error)),
        }
    };
    let mut acquire = std::pin::pin!(acquire);
    if probe != Probe::IfSlow {
        return acquire.await;
    }
    if let Ok(done) = tokio::time::timeout(PROBE_AFTER, acquire.as_mut()).await {
        return done;
    }
    // Slow: probe beside the pool. A probe that fails says why (the pool is left); one
    // that connects says the server is up, and the pool is waited for.
    let mut probing = std::pin::pin!(probe_server(pool, limit));
    let mut probed = false;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(done) = acquire.as_mut().poll(cx) {
            return std::task::Poll::Ready(done);
        }
        if !probed && let std::task::Poll::Ready(result) = probing.as_mut().poll(cx) {
            probed = true;
            if let Err(failed) = result {
                return std::task::Poll::Ready(Err(failed));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// A connection of its own with the pool's options, closed at once: `Ok` when the server
/// accepts it, else the driver's own error or no answer within `limit`.
async fn probe_server<DB: Backend>(pool: &Pool<DB>, limit: Duration) -> Result<(), Failed> {
    use sqlx::{ConnectOptions, Connection};

    let options = pool.connect_options();
    match tokio::time::timeout(limit, options.connect()).await {
        // Closed politely, so the server logs no lost client.
        Ok(Ok(conn)) => {
            drop(tokio::time::timeout(limit, conn.close()).await);
            Ok(())
        }
        Ok(Err(error)) => Err(Failed::Driver(error)),
        Err(_) => Err(Failed::Silent(format!(
            "no answer within {} (Policy::connect_attempt_timeout, SCHEMA_CONNECT_TIMEOUT)",
            seconds(limit)
        ))),
    }
}

/// A duration as a person reads it: `5 s`, `0.5 s`.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    /// Checked by the compiler: an application can spawn a run on any backend.
    #[allow(dead_code)]
    fn runs_can_be_spawned<DB: super::Backend>(migrator: &crate::Migrator, pool: &sqlx::Pool<DB>) {
        fn send<T: Send>(_: &T) {}
        send(&migrator.run_async(pool));
        send(&migrator.run_async_to(pool, None));
        send(&migrator.drift_async(pool));
    }
}
