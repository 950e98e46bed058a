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
mod session;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

pub(crate) use self::locks::MigrationLock;
pub(crate) use self::operations::Operations;
use self::session::Session;
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
    /// On an up-to-date database this is one history query on one pooled connection.
    /// Otherwise it takes the migration lock (an advisory lock on PostgreSQL, `GET_LOCK`
    /// on MySQL, a lock file beside a SQLite database), checks the whole history against
    /// the binary, and applies each migration with its history row: in one transaction
    /// where the server's DDL is transactional, and with a `started` row marked finished
    /// after where it is not (MySQL) or the file says `-- schema: no-transaction`.
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

async fn run<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    target: Option<Version>,
) -> Result<Report, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let conn = session_connection(migrator, pool).await?;
    let mut session = Session::new(pool, migrator.policy(), conn);
    engine::run(migrator, &mut session, target).await
}

async fn drift<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
) -> Result<Option<crate::drift::Drift>, Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let statements = migrator.statements(DB::DIALECT);
    let conn = session_connection(migrator, pool).await?;
    let mut session = Session::new(pool, migrator.policy(), conn);
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
    let mut conn = connect(pool, migrator.policy().connect_deadline()).await?;
    if let Some(sql) = migrator.policy().session_sql() {
        conn.close_on_drop();
        conn.statement(sql)
            .await
            .map_err(|e| Error::database("running the session settings", e))?;
    }
    Ok(conn)
}

/// A connection from `pool`, retrying with backoff while the server cannot be reached yet
/// (refused, reset, not resolvable, starting up), until `deadline` has passed.
async fn connect<DB: Backend>(
    pool: &Pool<DB>,
    deadline: Duration,
) -> Result<PoolConnection<DB>, Error> {
    let mut backoff =
        locks::Backoff::with_pauses(deadline, Duration::from_millis(100), Duration::from_secs(5));
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
