//! Every down file checked against its migration: apply, revert, compare, apply again.
//!
//! [`check_reversible`] works on a database of its own, made fresh for the check and
//! dropped after it: on SQLite an in-memory database, on PostgreSQL and MySQL/MariaDB a
//! uniquely named database created on the server of the URL it is given. For each
//! migration in order it reads the live schema (the fingerprint the drift check reads,
//! see [`drift`](crate::drift)), applies the migration, reverts it with its down file
//! (as `db down` does, history row included), reads the schema again and compares it with
//! the one before the up, then applies the migration again, so that the next one starts
//! where a real database would be. The migrator's own tables are left out of the
//! comparison.

// With no backend beside `testing`, only the error of `check_reversible` is left.
#![cfg_attr(not(feature = "rusqlite"), allow(dead_code))]

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::drift::{Difference, DriftCheck, Fingerprint, HASHED, query};
use crate::engine::{self, Sql};
use crate::error::Error;
use crate::{Environment, Migration, Migrations, Migrator, Policy, Version};

/// What [`check_reversible`] found: every migration whose down file does not restore
/// the schema, fails, or is missing. Empty [`problems`](Self::problems) means every
/// migration is reversible; its [`Display`](fmt::Display) lists them one per line, for
/// an assertion's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reversibility {
    /// How many migrations were checked (applied, reverted where they have a down file,
    /// and applied again).
    pub checked: usize,
    /// What is wrong, in the order of the migrations.
    pub problems: Vec<ReversibilityProblem>,
    /// How many later migrations were not checked because the check had to stop: a down
    /// file that failed half-way (its DDL not rolled back), or a migration that did not
    /// apply again after its down.
    pub unchecked: usize,
}

impl Reversibility {
    /// Whether every migration has a down file that restores the schema its up found.
    pub fn is_reversible(&self) -> bool {
        self.problems.is_empty() && self.unchecked == 0
    }
}

impl fmt::Display for Reversibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_reversible() {
            return write!(
                f,
                "every down file restores the schema its migration found ({} migrations checked)",
                self.checked
            );
        }
        write!(
            f,
            "{} problem{} in {} migration{} checked:",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" },
            self.checked,
            if self.checked == 1 { "" } else { "s" },
        )?;
        for problem in &self.problems {
            write!(f, "\n- {problem}")?;
        }
        if self.unchecked > 0 {
            write!(
                f,
                "\nthe check stopped there: {} later migration{} not checked",
                self.unchecked,
                if self.unchecked == 1 {
                    " was"
                } else {
                    "s were"
                }
            )?;
        }
        Ok(())
    }
}

/// One migration that is not reversible, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReversibilityProblem {
    /// The migration has no down file.
    NoDown {
        /// The migration's version.
        version: Version,
        /// Its up file.
        path: &'static str,
    },
    /// The schema after the down differs from the schema before the up.
    DownDiffers {
        /// The migration's version.
        version: Version,
        /// Its down file.
        path: &'static str,
        /// Each object that differs, named (`table posts is there after the down but
        /// was not before the up`).
        differences: Vec<String>,
    },
    /// The down file failed.
    DownFailed {
        /// The migration's version.
        version: Version,
        /// Its down file.
        path: &'static str,
        /// The database's words.
        message: String,
    },
    /// The migration failed when applied again after its down.
    UpAgainFailed {
        /// The migration's version.
        version: Version,
        /// Its up file.
        path: &'static str,
        /// The database's words.
        message: String,
    },
}

impl fmt::Display for ReversibilityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversibilityProblem::NoDown { version, path } => {
                write!(f, "{path} (version {version}) has no down file")
            }
            ReversibilityProblem::DownDiffers {
                version,
                path,
                differences,
            } => write!(
                f,
                "after the down of {path} (version {version}): {}",
                differences.join("; ")
            ),
            ReversibilityProblem::DownFailed {
                version,
                path,
                message,
            } => write!(
                f,
                "{path} (version {version}) failed: {}",
                one_line(message)
            ),
            ReversibilityProblem::UpAgainFailed {
                version,
                path,
                message,
            } => write!(
                f,
                "{path} (version {version}) failed when applied again after its down: {}",
                one_line(message)
            ),
        }
    }
}

/// The database's words on one line (SQLite quotes the statement, line breaks and all),
/// so that each problem is one line of the list.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks that every down file of `migrations` undoes its migration, on a fresh
/// database of the backend `base_url` names (`sqlite:…`, `postgres://…`, `mysql://…`,
/// `mariadb://…`).
///
/// On PostgreSQL and MySQL/MariaDB a database of a unique name is created on the server
/// of `base_url` (whose own database is only connected to, never changed) and dropped
/// at the end; the URL's user must be allowed to create databases. On SQLite the check
/// runs in memory (the rest of the URL is not read); it needs the `rusqlite` feature.
///
/// Each migration is applied, reverted with its down file and applied again; the schema
/// after the down is compared with the schema before the up, object by object (what the
/// drift check reads). `Ok` holds every problem found; `Err` means the check itself
/// could not run (no database, or a migration whose up fails the first time). Call it
/// from one test:
///
/// ```no_run
/// # async fn test() {
/// static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("../migrations");
///
/// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
/// let report = schema_runtime::testing::check_reversible(&MIGRATIONS, &url)
///     .await
///     .unwrap();
/// assert!(report.is_reversible(), "{report}");
/// # }
/// ```
pub async fn check_reversible(
    migrations: &'static Migrations,
    base_url: &str,
) -> Result<Reversibility, Error> {
    let scheme = base_url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "rusqlite")]
        "sqlite" => check_reversible_blocking(migrations),
        #[cfg(feature = "sqlx-postgres")]
        "postgres" | "postgresql" => server::check::<sqlx::Postgres>(migrations, base_url).await,
        #[cfg(feature = "sqlx-mysql")]
        "mysql" | "mariadb" => server::check::<sqlx::MySql>(migrations, base_url).await,
        _ => {
            let _ = migrations;
            Err(Error::database_message(
                "checking that the migrations are reversible",
                format!(
                    "no backend of this build serves `{scheme}:` URLs (SQLite needs the `rusqlite` feature, PostgreSQL `sqlx-postgres`, MySQL/MariaDB `sqlx-mysql`)"
                ),
            ))
        }
    }
}

/// [`check_reversible`] on an in-memory SQLite database, without an async runtime.
///
/// ```
/// static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("../migrations");
///
/// let report = schema_runtime::testing::check_reversible_blocking(&MIGRATIONS).unwrap();
/// assert_eq!(report.checked, MIGRATIONS.migrations().len());
/// ```
#[cfg(feature = "rusqlite")]
pub fn check_reversible_blocking(migrations: &'static Migrations) -> Result<Reversibility, Error> {
    let conn = rusqlite::Connection::open_in_memory()
        .map_err(|e| Error::database("opening an in-memory SQLite database", e))?;
    let migrator = migrator(migrations);
    engine::finish_now(check(&migrator, &mut Sqlite { conn }))
}

/// The migrator of a check: a test environment, no drift check (the down files change
/// the schema behind the fingerprint on purpose), no backups.
fn migrator(migrations: &'static Migrations) -> Migrator {
    Migrator::with_policy(
        migrations,
        Policy::new(Environment::Test)
            .on_drift(DriftCheck::Off)
            .backup_before_migrating(false),
    )
}

/// A database the check runs on: its SQL, and a migrating run up to a version.
#[allow(async_fn_in_trait)] // crate-private
trait Subject: Sql {
    async fn up(&mut self, migrator: &Migrator, version: Version) -> Result<(), Error>;
}

/// The whole check on a fresh database.
async fn check<S: Subject>(migrator: &Migrator, subject: &mut S) -> Result<Reversibility, Error> {
    let own = migrator.own_tables();
    let all: &'static [Migration] = migrator.migrations().migrations();
    let mut report = Reversibility {
        checked: 0,
        problems: Vec::new(),
        unchecked: 0,
    };
    for (index, migration) in all.iter().enumerate() {
        let version = migration.version();
        let before = schema(subject, &own).await?;
        subject.up(migrator, version).await?;
        report.checked += 1;
        let Some(down) = migration.down() else {
            report.problems.push(ReversibilityProblem::NoDown {
                version,
                path: migration.path(),
            });
            continue;
        };
        match engine::revert(migrator, subject, migration).await {
            Ok(_) => {}
            Err(Error::Migration {
                message,
                in_transaction,
                ..
            }) => {
                report.problems.push(ReversibilityProblem::DownFailed {
                    version,
                    path: down.path(),
                    message,
                });
                if in_transaction {
                    // Rolled back: the migration is still applied, the next one can go on.
                    continue;
                }
                report.unchecked = all.len() - index - 1;
                break;
            }
            Err(error) => return Err(error),
        }
        let after = schema(subject, &own).await?;
        let differences: Vec<String> = before.compare(&after).iter().map(describe).collect();
        if !differences.is_empty() {
            report.problems.push(ReversibilityProblem::DownDiffers {
                version,
                path: down.path(),
                differences,
            });
        }
        if let Err(error) = subject.up(migrator, version).await {
            let message = match error {
                Error::Migration { message, .. } => message,
                other => other.to_string(),
            };
            report.problems.push(ReversibilityProblem::UpAgainFailed {
                version,
                path: migration.path(),
                message,
            });
            report.unchecked = all.len() - index - 1;
            break;
        }
    }
    Ok(report)
}

/// The live schema, without the migrator's own tables.
async fn schema<S: Sql>(subject: &mut S, own: &[&str]) -> Result<Fingerprint, Error> {
    let rows = subject
        .rows(query(subject.dialect()))
        .await
        .map_err(|e| Error::database("reading the schema", e))?;
    Ok(Fingerprint::from_rows(rows).without(own))
}

/// A difference between the schema before an up and after its down, in words that fit
/// that comparison (drift's own name the migrations and the database).
fn describe(difference: &Difference) -> String {
    match difference {
        Difference::TableAdded(table) => {
            format!("table {table} is there after the down but was not before the up")
        }
        Difference::TableRemoved(table) => {
            format!("table {table} was there before the up but is gone after the down")
        }
        Difference::Added(object, _) => {
            format!("{object} is there after the down but was not before the up")
        }
        Difference::Removed(object, _) => {
            format!("{object} was there before the up but is gone after the down")
        }
        Difference::Changed(object, was, now)
            if was.starts_with(HASHED) && now.starts_with(HASHED) =>
        {
            format!("{object} differs from before the up (the hash of its definition changed)")
        }
        Difference::Changed(object, was, now) => {
            format!("{object} differs: before the up `{was}`, after the down `{now}`")
        }
    }
}

/// A name no other check (in this process or another) uses.
#[cfg_attr(
    not(any(feature = "sqlx-postgres", feature = "sqlx-mysql")),
    allow(dead_code)
)]
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "schema_reversible_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The check on a rusqlite connection.
#[cfg(feature = "rusqlite")]
struct Sqlite {
    conn: rusqlite::Connection,
}

#[cfg(feature = "rusqlite")]
impl Sql for Sqlite {
    type Error = rusqlite::Error;

    fn dialect(&self) -> crate::Dialect {
        crate::Dialect::Sqlite
    }

    async fn script(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.conn.execute_batch(sql)
    }

    async fn bind(
        &mut self,
        sql: &str,
        values: Vec<crate::migrator::Value>,
    ) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(values))
            .map(drop)
    }

    async fn rows(&mut self, sql: &str) -> rusqlite::Result<Vec<engine::TextRow>> {
        crate::sqlite::text_rows(&self.conn, sql)
    }
}

#[cfg(feature = "rusqlite")]
impl Subject for Sqlite {
    async fn up(&mut self, migrator: &Migrator, version: Version) -> Result<(), Error> {
        migrator.run_to(&mut self.conn, Some(version)).map(drop)
    }
}

/// The check on a database created for it on a server.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
mod server {
    use sqlx::Pool;
    use sqlx::pool::PoolConnection;

    use super::{Reversibility, Subject, check as check_on, migrator, unique_name};
    use crate::error::Error;
    use crate::sql_text::Dialect;
    use crate::sqlx_backend::{Backend, Operations, Session};
    use crate::{Migrations, Migrator, Version, redact_url};

    /// Creates a database on `base_url`'s server, checks `migrations` on it, drops it.
    pub(super) async fn check<DB>(
        migrations: &'static Migrations,
        base_url: &str,
    ) -> Result<Reversibility, Error>
    where
        DB: Backend,
        PoolConnection<DB>: Operations,
    {
        let connecting = |e| Error::database(format!("connecting to {}", redact_url(base_url)), e);
        let admin = Pool::<DB>::connect(base_url).await.map_err(connecting)?;
        let name = unique_name();
        let mut conn = admin.acquire().await.map_err(connecting)?;
        conn.statement(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| Error::database(format!("creating the database {name}"), e))?;
        let result = async {
            let mut url = url::Url::parse(base_url).map_err(|e| {
                Error::database_message(
                    "checking that the migrations are reversible",
                    format!("{} is not a URL: {e}", redact_url(base_url)),
                )
            })?;
            url.set_path(&format!("/{name}"));
            let pool = Pool::<DB>::connect(url.as_str())
                .await
                .map_err(|e| Error::database(format!("connecting to the database {name}"), e))?;
            let result = async {
                let conn = pool.acquire().await.map_err(|e| {
                    Error::database(format!("connecting to the database {name}"), e)
                })?;
                let migrator = migrator(migrations);
                let mut session = Session::new(&pool, &migrator, conn);
                check_on(&migrator, &mut session).await
            }
            .await;
            pool.close().await;
            result
        }
        .await;
        let drop_sql = match DB::DIALECT {
            Dialect::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        let dropped = conn.statement(&drop_sql).await;
        drop(conn);
        admin.close().await;
        let report = result?;
        dropped.map_err(|e| Error::database(format!("dropping the database {name}"), e))?;
        Ok(report)
    }

    /// The driver's own session on the check's database runs the down files and the
    /// schema reads; the migrating runs take connections of their own from its pool.
    impl<DB> Subject for Session<'_, DB>
    where
        DB: Backend,
        PoolConnection<DB>: Operations,
    {
        async fn up(&mut self, migrator: &Migrator, version: Version) -> Result<(), Error> {
            migrator
                .run_async_to(self.pool(), Some(version))
                .await
                .map(drop)
        }
    }
}
