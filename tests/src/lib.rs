//! Shared pieces of the end-to-end tests: the fixture migration sets and fresh databases
//! on the servers named by `TEST_POSTGRES_URL` and `TEST_MYSQL_URL`.

use std::sync::atomic::{AtomicUsize, Ordering};

use schema_runtime::Migrations;
use schema_runtime::sqlx::{self, MySqlPool, PgPool};

pub mod net;

/// Migrations valid on SQLite, PostgreSQL and MySQL: two tables, an index outside a
/// transaction, and a seed.
pub static PORTABLE: Migrations = schema_runtime::embed_migrations!("fixtures/portable");
/// A first migration that works and a second that fails after changing things (on
/// purpose, so no compile-time check may refuse it).
pub static FAILING: Migrations =
    schema_runtime::embed_migrations!("fixtures/failing", check = false);
/// One migration as it was applied.
pub static EDITED_BEFORE: Migrations = schema_runtime::embed_migrations!("fixtures/edited_before");
/// The same migration edited afterwards.
pub static EDITED_AFTER: Migrations = schema_runtime::embed_migrations!("fixtures/edited_after");
/// A migration that sleeps (PostgreSQL), for the crash tests.
pub static SLOW_POSTGRES: Migrations =
    schema_runtime::embed_migrations!("fixtures/slow_postgres", dialects = "postgres");
/// A migration that sleeps (MySQL), for the crash tests.
pub static SLOW_MYSQL: Migrations =
    schema_runtime::embed_migrations!("fixtures/slow_mysql", dialects = "mysql");
/// PostgreSQL only: `CREATE INDEX CONCURRENTLY` and a function body.
pub static CONCURRENT_INDEX: Migrations =
    schema_runtime::embed_migrations!("fixtures/concurrent_index", dialects = "postgres");

/// For the drift tests, one set per backend: a first migration that makes every kind of
/// object the backend's drift check reads (views, triggers, CHECKs, and where the backend
/// has them routines, types and sequences), and a second that changes each of them the
/// way the tests do by hand.
pub static DRIFT_OBJECTS_SQLITE: Migrations =
    schema_runtime::embed_migrations!("fixtures/drift_objects_sqlite", dialects = "sqlite");
/// The PostgreSQL set of the drift tests (see [`DRIFT_OBJECTS_SQLITE`]).
pub static DRIFT_OBJECTS_POSTGRES: Migrations =
    schema_runtime::embed_migrations!("fixtures/drift_objects_postgres", dialects = "postgres");
/// The MySQL/MariaDB set of the drift tests (see [`DRIFT_OBJECTS_SQLITE`]).
pub static DRIFT_OBJECTS_MYSQL: Migrations =
    schema_runtime::embed_migrations!("fixtures/drift_objects_mysql", dialects = "mysql");

/// Three migrations with down files and a seed, locked, for the `db` command tests.
pub static REVERSIBLE: Migrations = schema_runtime::embed_migrations!("fixtures/reversible");

/// For `check_reversible`: a migration with a down file that undoes it, one without a
/// down file, and one whose down file drops the wrong table (the first one's).
pub static IRREVERSIBLE: Migrations = schema_runtime::embed_migrations!("fixtures/irreversible");

/// Two migrations whose first down file drops a table and then fails.
pub static BROKEN_DOWN: Migrations = schema_runtime::embed_migrations!("fixtures/broken_down");

/// A second migration that ends its own transaction (`ROLLBACK`), embedded as MySQL's
/// (which has no transaction rule) so that it gets past the build to the runtime.
pub static ENDS_TRANSACTION: Migrations =
    schema_runtime::embed_migrations!("fixtures/ends_transaction", dialects = "mysql");

/// `db import-diesel`'s conversion of `fixtures/diesel_history` (a diesel folder for
/// PostgreSQL with every hard case), whose database the real diesel migrates in the
/// diesel adoption tests.
pub static DIESEL_CONVERTED: Migrations =
    schema_runtime::embed_migrations!("fixtures/diesel_converted", dialects = "postgres");
/// The same for `fixtures/diesel_history_sqlite` (a migration of comments alone).
pub static DIESEL_CONVERTED_SQLITE: Migrations =
    schema_runtime::embed_migrations!("fixtures/diesel_converted_sqlite", dialects = "sqlite");

/// A fixture set by name, for the runner binaries.
pub fn fixture(name: &str) -> Option<&'static Migrations> {
    match name {
        "portable" => Some(&PORTABLE),
        "reversible" => Some(&REVERSIBLE),
        "broken_down" => Some(&BROKEN_DOWN),
        "failing" => Some(&FAILING),
        "slow_postgres" => Some(&SLOW_POSTGRES),
        "slow_mysql" => Some(&SLOW_MYSQL),
        "concurrent_index" => Some(&CONCURRENT_INDEX),
        "diesel_converted" => Some(&DIESEL_CONVERTED),
        "diesel_converted_sqlite" => Some(&DIESEL_CONVERTED_SQLITE),
        _ => None,
    }
}

/// Which server a test wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// `TEST_POSTGRES_URL`
    Postgres,
    /// `TEST_MYSQL_URL`
    Mysql,
}

impl Server {
    fn variable(self) -> &'static str {
        match self {
            Server::Postgres => "TEST_POSTGRES_URL",
            Server::Mysql => "TEST_MYSQL_URL",
        }
    }

    /// The server's URL, or `None` (after saying why) when the test should skip.
    /// With `SCHEMA_REQUIRE_SERVERS=1` a missing URL fails the test instead.
    pub fn url(self) -> Option<String> {
        match std::env::var(self.variable()) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("SCHEMA_REQUIRE_SERVERS").as_deref() == Ok("1") => {
                panic!(
                    "{} is not set and SCHEMA_REQUIRE_SERVERS=1: this test must run against the server",
                    self.variable()
                )
            }
            _ => {
                eprintln!(
                    "skipped: {} is not set (set it to run this test against a real server)",
                    self.variable()
                );
                None
            }
        }
    }
}

/// A migration set made at run time, as `embed_migrations!` would make it from files
/// `migrations/<version>_<name>.sql` holding `sql`; leaked, as a set lives as long as
/// the program.
pub fn set_made_at_run_time(
    files: impl IntoIterator<Item = (u64, &'static str, String)>,
) -> &'static Migrations {
    use schema_runtime::{Checksum, Migration, Version};
    let migrations: Vec<Migration> = files
        .into_iter()
        .map(|(version, name, sql)| {
            let sql: &'static str = Box::leak(sql.into_boxed_str());
            Migration::new(
                Version::new(version),
                name,
                sql,
                Checksum::of_file(sql.as_bytes()),
                Box::leak(format!("migrations/{version}_{name}.sql").into_boxed_str()),
            )
        })
        .collect();
    Box::leak(Box::new(Migrations::new(
        migrations.leak(),
        &[],
        "",
        "migrations",
    )))
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A database name no other test (or test run) uses.
pub fn unique_database_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "schema_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub use schema_runtime::cli::redact;

/// A database created on a server for one test and dropped when the test ends, even
/// when it fails.
pub struct ServerDatabase {
    server: Server,
    admin_url: String,
    name: String,
}

impl ServerDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates a fresh database on `server`; `None` (after saying why) when the test
    /// should skip. Returns the database and its URL.
    pub async fn create(server: Server) -> Option<(ServerDatabase, String)> {
        let admin_url = server.url()?;
        let name = unique_database_name();
        let create = format!("CREATE DATABASE {name}");
        let result = match server {
            Server::Postgres => {
                let pool = PgPool::connect(&admin_url).await;
                match pool {
                    Ok(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                        .execute(&pool)
                        .await
                        .map(drop),
                    Err(e) => Err(e),
                }
            }
            Server::Mysql => match MySqlPool::connect(&admin_url).await {
                Ok(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&pool)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            },
        };
        if let Err(error) = result {
            panic!(
                "cannot create a test database on {}: {error}",
                redact(&admin_url)
            );
        }
        let url = with_database(&admin_url, &name);
        Some((
            ServerDatabase {
                server,
                admin_url,
                name,
            },
            url,
        ))
    }
}

impl Drop for ServerDatabase {
    fn drop(&mut self) {
        let (server, admin_url, name) = (self.server, self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime that could be awaited here: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                match server {
                    Server::Postgres => {
                        let pool = PgPool::connect(&admin_url).await?;
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&pool)
                            .await
                            .map(drop)
                    }
                    Server::Mysql => {
                        let pool = MySqlPool::connect(&admin_url).await?;
                        let sql = format!("DROP DATABASE IF EXISTS {name}");
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&pool)
                            .await
                            .map(drop)
                    }
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: the test database {} was not dropped", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_and_query_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@h/test?ssl-mode=disabled", "x"),
            "mysql://root@h/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
