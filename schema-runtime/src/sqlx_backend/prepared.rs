//! PostgreSQL's history read: with the simple-query protocol, or as a statement sqlx
//! prepared and keeps on the connection, whichever this process has reason to think is
//! cheaper on the pool at hand.
//!
//! A prepared statement skips the server's parsing and planning and sends its rows in
//! binary; measured on PostgreSQL 15, one read on an open connection took 1.5x the plain
//! `SELECT version, checksum` at 100 migrations and 1.2x at 1,000 with the simple
//! protocol, 1.1x prepared. But preparing it costs a round trip of its own (Parse and
//! Describe) the first time on a connection, which is every time for a process that
//! starts, reads the history once and goes on. So the simple protocol reads on a pool
//! this process has not read the history on; once it has, the statement is prepared
//! (also in a run that migrated, on its read under the lock), and later starts on the
//! same connection are one round trip of binary rows. SQL's own `PREPARE` and `EXECUTE`
//! would save the planning in one round trip too, but the server then stores every row
//! before sending it: slower than planning at 1,000 migrations.
//!
//! Preparing pays only up to a size. The server's planning is a fixed cost, while a
//! prepared read pays more per row than the simple one does (binary rows through
//! sqlx's extended-query path): in the comparison bench's interleaved runs on
//! PostgreSQL 15, prepared against simple was 1.22x against 1.44x of the plain `SELECT`
//! at 1,000 migrations and 1.34x against 1.20x at 10,000, which puts the crossing near
//! 3,000 rows. So a migration set longer than [`PREPARED_MAX_ROWS`] is always read with
//! the simple protocol.
//!
//! Behind a transaction pooler each message may reach another server session, where a
//! statement sqlx prepared does not exist (or one of its name does). A prepared read that
//! fails so reads again with the simple protocol, and the pool is read that way from
//! then on.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use sqlx::Pool;
use sqlx::pool::PoolConnection;

use super::Backend;
use super::operations::Operations;
use crate::plan::History;

/// How a session reads the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// With the simple-query protocol: the pool is new to this process, or prepared
    /// statements failed on it.
    Simple,
    /// Prepared, kept on the connection by sqlx.
    Prepared,
}

/// A pool this process has read the history on, by its connect options (which live as
/// long as the pool), held weakly: that keeps the address from being reused by a later
/// pool while the entry lasts.
struct Served {
    pool: Weak<dyn Any + Send + Sync>,
    prepared_failed: bool,
}

/// The most history rows (the binary's migrations and seeds) a prepared read is chosen
/// for; the module says why.
const PREPARED_MAX_ROWS: usize = 2_500;

static SERVED: Mutex<Vec<Served>> = Mutex::new(Vec::new());

/// How a run's first read goes on `pool` (`first`), or a later one: the read under the
/// lock of a run that migrates, which prepares the statement for the starts after it.
/// `rows` is how many rows the read returns when the database is up to date.
pub(super) fn route<DB: Backend>(pool: &Pool<DB>, first: bool, rows: usize) -> Route {
    if rows > PREPARED_MAX_ROWS {
        return Route::Simple;
    }
    let options = pool.connect_options();
    let served = SERVED.lock().unwrap_or_else(PoisonError::into_inner);
    match served.iter().find(|served| same(&served.pool, &options)) {
        Some(served) if served.prepared_failed => Route::Simple,
        Some(_) => Route::Prepared,
        None if first => Route::Simple,
        None => Route::Prepared,
    }
}

/// Records a read on `pool`, and whether a prepared one failed there.
fn served<DB: Backend>(pool: &Pool<DB>, prepared_failed: bool) {
    let options = pool.connect_options();
    let mut served = SERVED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = served
        .iter_mut()
        .find(|served| same(&served.pool, &options))
    {
        entry.prepared_failed |= prepared_failed;
        return;
    }
    served.retain(|served| served.pool.strong_count() > 0);
    let options: Arc<dyn Any + Send + Sync> = options;
    served.push(Served {
        pool: Arc::downgrade(&options),
        prepared_failed,
    });
}

fn same<T>(served: &Weak<dyn Any + Send + Sync>, options: &Arc<T>) -> bool {
    std::ptr::addr_eq(served.as_ptr(), Arc::as_ptr(options))
}

/// PostgreSQL's SQLSTATEs for a prepared statement that is missing, that exists
/// already, and whose cached plan no longer fits its table (a column's type changed).
const STATEMENT_ERRORS: [&str; 3] = ["26000", "42P05", "0A000"];

/// Reads the history with `sql` by `route`, falling back as the module says.
pub(super) async fn history<DB>(
    pool: &Pool<DB>,
    conn: &mut PoolConnection<DB>,
    sql: &str,
    route: Route,
) -> Result<Option<History>, sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if route == Route::Simple {
        let read = conn.history(sql).await;
        if matches!(read, Ok(Some(_))) {
            served(pool, false);
        }
        return read;
    }
    match conn.history_prepared(sql).await {
        Err(error) if is_about_the_statement(&error) => {
            tracing::debug!(
                "schema: the prepared history read failed ({error}); reading with the simple protocol"
            );
            served(pool, true);
            conn.history(sql).await
        }
        read => {
            if matches!(read, Ok(Some(_))) {
                served(pool, false);
            }
            read
        }
    }
}

fn is_about_the_statement(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| STATEMENT_ERRORS.contains(&&*code)),
        _ => false,
    }
}
