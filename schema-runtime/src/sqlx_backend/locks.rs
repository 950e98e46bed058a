//! The migration lock of each backend (the only per-backend code) and the backoff its
//! waits share.

use std::time::{Duration, Instant};

use sqlx::Pool;
use sqlx::pool::PoolConnection;

use super::{Backend, sealed};
use crate::error::Error;
use crate::sql_text::{Dialect, Identifier};

/// A held migration lock.
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

/// Pauses between tries (for a lock, or a server that is not up yet), twice as long
/// each time up to a cap, until a deadline.
pub(super) struct Backoff {
    pub(super) started: Instant,
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

    pub(super) fn with_pauses(timeout: Duration, first: Duration, max_pause: Duration) -> Backoff {
        Backoff {
            started: Instant::now(),
            timeout,
            pause: first,
            max_pause,
        }
    }

    pub(super) fn left(&self) -> Duration {
        self.timeout.saturating_sub(self.started.elapsed())
    }

    /// Whether the deadline leaves time for another try.
    pub(super) fn has_time(&self) -> bool {
        !self.left().is_zero()
    }

    /// How long the next [`wait`](Self::wait) pauses.
    pub(super) fn next_pause(&self) -> Duration {
        self.pause.min(self.left())
    }

    /// Waits before the next try; `false` once the deadline has passed.
    pub(super) async fn wait(&mut self) -> bool {
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
    use sqlx::{Postgres, Row};

    #[cfg_attr(docsrs, doc(cfg(feature = "sqlx-postgres")))]
    impl Backend for Postgres {
        const DIALECT: Dialect = Dialect::Postgres;
    }

    impl sealed::Sealed for Postgres {
        crate::sqlx_backend::runs_for_backend!();

        // A start is one round trip even on a new connection, where a prepared statement
        // costs a second one (Parse and Describe) before its rows.
        const SIMPLE_HISTORY: bool = true;

        fn history_bytes(
            row: &sqlx::postgres::PgRow,
            index: usize,
        ) -> Result<Option<&[u8]>, sqlx::Error> {
            use sqlx::ValueRef;
            let value = row.try_get_raw(index)?;
            if value.is_null() {
                return Ok(None);
            }
            // Text or binary alike: a checksum's bytes are the same either way.
            value
                .as_bytes()
                .map(Some)
                .map_err(|source| sqlx::Error::ColumnDecode {
                    index: index.to_string(),
                    source,
                })
        }

        async fn lock(
            pool: &Pool<Self>,
            conn: &mut PoolConnection<Self>,
            table: &Identifier,
            timeout: Duration,
        ) -> Result<MigrationLock, Error> {
            // A session's lock cannot keep other processes out behind a pooler in
            // transaction mode: refuse that before anything is taken or changed.
            crate::sqlx_backend::pooler::refuse_transaction_pooler(pool, conn).await?;
            // Every statement here is a simple query with its values written out: none is
            // prepared on a server session a pooler might not bring this connection back to.
            // The key names where the history table lives: its own schema when the name is
            // qualified, else the first schema of the search path, which is where an
            // unqualified name is created.
            let row = sqlx::raw_sql("SELECT current_database()::text, current_schema()::text")
                .fetch_one(&mut **conn)
                .await
                .map_err(|e| Error::database("taking the migration lock", e))?;
            let database: String = row
                .try_get(0)
                .map_err(|e| Error::database("taking the migration lock", e))?;
            let schema: Option<String> = row
                .try_get(1)
                .map_err(|e| Error::database("taking the migration lock", e))?;
            let schema = table
                .schema()
                .map(str::to_owned)
                .or(schema)
                .unwrap_or_default();
            let key = lock_key(&database, &schema, table);
            // Advisory locks on a bigint key show as classid (high half) and objid (low half).
            let (high, low) = ((key as u64) >> 32, key as u64 & 0xffff_ffff);
            let ours = format!(
                "l.locktype = 'advisory' AND l.granted AND l.classid = {high} AND l.objid = {low} AND l.objsubid = 1"
            );
            // A server session that already holds the lock although this connection never
            // took it serves other clients too (a transaction pooler): the lock would be
            // granted again, re-entrantly, and keep no one out.
            let take = format!(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks l WHERE {ours} AND l.pid = pg_backend_pid()) THEN 'held' \
                 WHEN pg_try_advisory_lock({key}) THEN 'taken' ELSE 'busy' END"
            );
            let mut backoff = Backoff::new(timeout);
            let got = loop {
                let answer: String = sqlx::raw_sql(sqlx::AssertSqlSafe(take.clone()))
                    .fetch_one(&mut **conn)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| Error::database("taking the migration lock", e))?;
                if answer == "held" {
                    return Err(Error::TransactionPooler {
                        target: crate::sqlx_backend::pooler::target(pool),
                        evidence: crate::sqlx_backend::pooler::HELD_BY_ANOTHER_CLIENT.to_owned(),
                    });
                }
                let got = answer == "taken";
                if got || !backoff.wait().await {
                    break got;
                }
            };
            if !got {
                let holder = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SELECT format('backend %s (%s@%s, %s) since %s', a.pid, a.usename, coalesce(host(a.client_addr), 'local'), coalesce(nullif(a.application_name, ''), 'no application name'), a.backend_start) \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE {ours} LIMIT 1",
                )))
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
            // The release fails, so that the connection is closed and the failure logged,
            // when this server session does not hold the lock: it was taken on another one,
            // which a pooler in transaction mode keeps serving other clients with the lock
            // still held. The cast is of the CASE's result: a cast of the constant itself
            // would be evaluated, and fail, when the statement is planned.
            Ok(MigrationLock::Session(format!(
                "SELECT CAST(CASE WHEN pg_advisory_unlock({key}) THEN '1' \
                 ELSE 'schema_runtime: this server session does not hold the migration lock; it was taken on another one, which still holds it (a connection pooler in transaction mode?)' END AS integer)"
            )))
        }
    }
}

#[cfg(feature = "sqlx-mysql")]
mod mysql {
    use super::*;
    use sqlx::MySql;

    #[cfg_attr(docsrs, doc(cfg(feature = "sqlx-mysql")))]
    impl Backend for MySql {
        const DIALECT: Dialect = Dialect::Mysql;
    }

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

    impl sealed::Sealed for MySql {
        crate::sqlx_backend::runs_for_backend!();

        fn history_bytes(
            row: &sqlx::mysql::MySqlRow,
            index: usize,
        ) -> Result<Option<&[u8]>, sqlx::Error> {
            sqlx::Row::try_get_unchecked(row, index)
        }

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

    #[cfg_attr(docsrs, doc(cfg(feature = "sqlx-sqlite")))]
    impl Backend for Sqlite {
        const DIALECT: Dialect = Dialect::Sqlite;
    }

    impl sealed::Sealed for Sqlite {
        crate::sqlx_backend::runs_for_backend!();

        fn history_bytes(
            row: &sqlx::sqlite::SqliteRow,
            index: usize,
        ) -> Result<Option<&[u8]>, sqlx::Error> {
            sqlx::Row::try_get_unchecked(row, index)
        }

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
