//! One synchronous face for every database the `db` command talks to: rusqlite directly,
//! the sqlx servers through a runtime of their own. The commands are written once over it.

use crate::sql_text::Dialect;
use crate::{Error, Migrator, Policy, Report, Version};

pub(crate) use crate::migrator::Value as Param;

/// A row read as text (`None` for SQL NULL).
pub(crate) type TextRow = Vec<Option<String>>;

/// What the commands need from a database.
pub(crate) trait Console {
    /// The SQL flavour.
    fn dialect(&self) -> Dialect;
    /// Every row of `sql`, each column as text.
    fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Error>;
    /// One statement with binds (placeholders in the dialect's style).
    fn execute(&mut self, sql: &str, params: &[Param]) -> Result<(), Error>;
    /// SQL as written, possibly several statements.
    fn script(&mut self, sql: &str) -> Result<(), Error>;
    /// The startup runner, up to `target`. It takes the migration lock itself, so it is
    /// never called while this console holds it.
    fn migrate(&mut self, migrator: &Migrator, target: Option<Version>) -> Result<Report, Error>;
    /// Takes the migration lock that startup takes (the same key, the same wait), on this
    /// console's own connection.
    fn lock(&mut self, policy: &Policy) -> Result<Held, Error>;
    /// Releases a lock [`lock`](Console::lock) took.
    fn unlock(&mut self, held: Held);
    /// The rusqlite connection, for what only SQLite can do (online backup and restore).
    #[cfg(feature = "rusqlite")]
    fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        None
    }
}

/// The migration lock, held by a `db` command while it changes the database.
pub(crate) enum Held {
    /// The lock file beside a SQLite database, released when dropped.
    #[cfg(feature = "rusqlite")]
    File(#[allow(dead_code)] crate::filelock::FileLock),
    /// A server-side lock on the console's connection, released with this statement.
    #[cfg_attr(
        not(any(feature = "sqlx-postgres", feature = "sqlx-mysql")),
        allow(dead_code)
    )]
    Release(String),
}

/// A console as the engine's SQL connection: what the engine writes once (reading and
/// recording the fingerprint) runs on the `db` command's database too. Every console
/// call completes before it returns, so [`crate::engine::finish_now`] drives these.
pub(crate) struct AsSql<'a>(pub &'a mut dyn Console);

impl crate::engine::Sql for AsSql<'_> {
    type Error = Error;

    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }

    async fn script(&mut self, sql: &str) -> Result<(), Error> {
        self.0.script(sql)
    }

    async fn bind(&mut self, sql: &str, values: Vec<Param>) -> Result<(), Error> {
        self.0.execute(sql, &values)
    }

    async fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Error> {
        self.0.rows(sql)
    }
}

/// What to do with a SQLite file that does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Create it (the commands that migrate).
    Create,
    /// Read it as an empty database, creating nothing (the read commands).
    Empty,
    /// Refuse (the commands that change an existing database).
    Refuse,
}

/// Opens the database a URL names, with the backends this build has. A SQLite file that
/// does not exist is created only by the commands that migrate, so a mistyped path never
/// leaves a new empty file behind. A server is connected on first use, retried as
/// `policy` retries startup's connection.
#[cfg_attr(
    not(all(
        feature = "rusqlite",
        any(feature = "sqlx-postgres", feature = "sqlx-mysql")
    )),
    allow(unused_variables)
)]
pub(crate) fn open(
    url: &str,
    missing: Missing,
    policy: &Policy,
) -> Result<Box<dyn Console>, String> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        #[cfg(feature = "rusqlite")]
        return sqlite::open(path.split('?').next().unwrap_or(path), missing);
        #[cfg(not(feature = "rusqlite"))]
        return Err(format!(
            "this build has no SQLite support for {path} (enable schema-runtime's `rusqlite` feature)"
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "sqlx-postgres")]
        return servers::open::<sqlx::Postgres>(url, policy);
        #[cfg(not(feature = "sqlx-postgres"))]
        return Err(
            "this build has no PostgreSQL support (enable schema-runtime's `sqlx-postgres` feature)"
                .to_owned(),
        );
    }
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        #[cfg(feature = "sqlx-mysql")]
        return servers::open::<sqlx::MySql>(&url.replacen("mariadb://", "mysql://", 1), policy);
        #[cfg(not(feature = "sqlx-mysql"))]
        return Err(
            "this build has no MySQL/MariaDB support (enable schema-runtime's `sqlx-mysql` feature)"
                .to_owned(),
        );
    }
    Err(format!(
        "{} is not a database URL this command knows: use sqlite:path, postgres://… or mysql://…",
        super::redact(url)
    ))
}

/// The URL a command on a server works on: the policy's direct URL when it names one
/// (`SCHEMA_DIRECT_URL`, `DATABASE_URL_UNPOOLED`, `Policy::direct_url`), since the
/// application's own URL may go through a connection pooler in transaction mode, where
/// the migration lock cannot hold; said on stderr. A SQLite URL is kept as it is.
pub(crate) fn direct_or(url: String, policy: &Policy) -> String {
    match policy.direct_database_url() {
        Some(direct) if !url.starts_with("sqlite:") && direct != url => {
            eprintln!(
                "note: working on the direct URL {} (SCHEMA_DIRECT_URL, DATABASE_URL_UNPOOLED or Policy::direct_url), not {}",
                super::redact(direct),
                super::redact(&url)
            );
            direct.to_owned()
        }
        _ => url,
    }
}

#[cfg(feature = "rusqlite")]
mod sqlite {
    use rusqlite::Connection;

    use super::*;

    struct Sqlite(Connection);

    pub(super) fn open(path: &str, missing: Missing) -> Result<Box<dyn Console>, String> {
        let exists = path == ":memory:" || std::path::Path::new(path).exists();
        let path = match missing {
            _ if exists => path,
            Missing::Create => path,
            Missing::Empty => {
                eprintln!("note: there is no SQLite database at {path} yet; it reads as empty");
                ":memory:"
            }
            Missing::Refuse => {
                return Err(format!(
                    "there is no SQLite database at {path} (`db migrate` creates it)"
                ));
            }
        };
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the SQLite file {path}: {e}"))?;
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(|e| format!("cannot use the SQLite file {path}: {e}"))?;
        Ok(Box::new(Sqlite(conn)))
    }

    impl Console for Sqlite {
        fn dialect(&self) -> Dialect {
            Dialect::Sqlite
        }

        fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Error> {
            crate::sqlite::text_rows(&self.0, sql)
                .map_err(|e| Error::database("reading the database", e))
        }

        fn execute(&mut self, sql: &str, params: &[Param]) -> Result<(), Error> {
            self.0
                .execute(sql, rusqlite::params_from_iter(params))
                .map(drop)
                .map_err(|e| Error::database("writing the database", e))
        }

        fn script(&mut self, sql: &str) -> Result<(), Error> {
            self.0
                .execute_batch(sql)
                .map_err(|e| Error::database("running SQL", e))
        }

        fn migrate(
            &mut self,
            migrator: &Migrator,
            target: Option<Version>,
        ) -> Result<Report, Error> {
            migrator.run_to(&mut self.0, target)
        }

        fn lock(&mut self, policy: &Policy) -> Result<Held, Error> {
            let path = self.0.path().filter(|p| !p.is_empty()).map(str::to_owned);
            crate::filelock::FileLock::acquire_blocking(path.as_deref(), policy.lock_wait())
                .map(Held::File)
        }

        fn unlock(&mut self, held: Held) {
            drop(held);
        }

        fn sqlite(&mut self) -> Option<&mut Connection> {
            Some(&mut self.0)
        }
    }
}

#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
mod servers {
    use sqlx::pool::PoolConnection;
    use sqlx::{Executor, Pool};

    use super::*;
    use crate::sqlx_backend::Backend;
    use crate::sqlx_backend::Operations;

    /// A pool of one connection, driven by a runtime of its own.
    pub(super) struct Server<DB: Backend> {
        runtime: tokio::runtime::Runtime,
        pool: Pool<DB>,
        conn: Option<PoolConnection<DB>>,
        /// How the first connection is retried: as startup's.
        policy: Policy,
    }

    pub(super) fn open<DB>(url: &str, policy: &Policy) -> Result<Box<dyn Console>, String>
    where
        DB: Backend,
        PoolConnection<DB>: Operations,
        Server<DB>: Console,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let pool = {
            let _entered = runtime.enter();
            sqlx::pool::PoolOptions::<DB>::new()
                .max_connections(2)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect_lazy(url)
                .map_err(|e| format!("cannot use {}: {e}", crate::cli::redact(url)))?
        };
        Ok(Box::new(Server {
            runtime,
            pool,
            conn: None,
            policy: policy.clone(),
        }))
    }

    impl<DB: Backend> Server<DB> {
        /// The runtime and the session's connection (made on first use, each attempt
        /// and its cause printed, retried as startup retries).
        fn conn(&mut self) -> Result<(&tokio::runtime::Runtime, &mut PoolConnection<DB>), Error> {
            if self.conn.is_none() {
                let connect = crate::sqlx_backend::connect(
                    &self.pool,
                    &self.policy,
                    crate::sqlx_backend::Tell::Stderr,
                );
                self.conn = Some(self.runtime.block_on(connect)?);
            }
            Ok((&self.runtime, self.conn.as_mut().expect("connected above")))
        }
    }

    impl<DB: Backend> Drop for Server<DB> {
        fn drop(&mut self) {
            // The connection goes back to its pool on the runtime, which must be running.
            let conn = self.conn.take();
            let pool = self.pool.clone();
            self.runtime.block_on(async move {
                drop(conn);
                pool.close().await;
            });
        }
    }

    impl<DB> Console for Server<DB>
    where
        DB: Backend,
        PoolConnection<DB>: Operations,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> String: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
        usize: sqlx::ColumnIndex<DB::Row>,
    {
        fn dialect(&self) -> Dialect {
            DB::DIALECT
        }

        fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Error> {
            let (runtime, conn) = self.conn()?;
            runtime
                .block_on(conn.text_rows(sql))
                .map_err(|e| Error::database("reading the database", e))
        }

        fn execute(&mut self, sql: &str, params: &[Param]) -> Result<(), Error> {
            let (runtime, conn) = self.conn()?;
            runtime
                .block_on(conn.bind_execute(sql, params.to_vec()))
                .map_err(|e| Error::database("writing the database", e))
        }

        fn script(&mut self, sql: &str) -> Result<(), Error> {
            let (runtime, conn) = self.conn()?;
            runtime
                .block_on(conn.statement(sql))
                .map_err(|e| Error::database("running SQL", e))
        }

        fn migrate(
            &mut self,
            migrator: &Migrator,
            target: Option<Version>,
        ) -> Result<Report, Error> {
            // The runner takes a connection of its own from the pool.
            let pool = self.pool.clone();
            self.runtime.block_on(migrator.run_async_to(&pool, target))
        }

        fn lock(&mut self, policy: &Policy) -> Result<Held, Error> {
            let pool = self.pool.clone();
            let (runtime, conn) = self.conn()?;
            let held = runtime.block_on(DB::lock(
                &pool,
                conn,
                &policy.history_table,
                policy.lock_wait(),
            ))?;
            match held {
                crate::sqlx_backend::MigrationLock::Session(release) => Ok(Held::Release(release)),
                #[cfg(feature = "sqlx-sqlite")]
                crate::sqlx_backend::MigrationLock::File(_) => {
                    unreachable!("the db command opens SQLite through rusqlite")
                }
            }
        }

        #[allow(irrefutable_let_patterns)] // without SQLite, `Held` has one variant
        fn unlock(&mut self, held: Held) {
            let Held::Release(release) = held else {
                return;
            };
            if self.script(&release).is_err()
                && let Some(mut conn) = self.conn.take()
            {
                // Closing the connection ends the session and with it the lock.
                conn.close_on_drop();
                self.runtime.block_on(async move { drop(conn) });
            }
        }
    }
}
