//! A migrated database per test, cloned from a template keyed by the migrations.
//!
//! The key is a short hash over every migration's version and checksum: an edited or
//! added migration makes a new key, so a new template, and a template is migrated once
//! per key, not once per test.
//!
//! - PostgreSQL: the template is a database `schema_tpl_<key>`, migrated once (under a
//!   server-wide advisory lock, so that many test processes starting at once make it
//!   once), then marked `IS_TEMPLATE` with connections refused; each test gets
//!   `CREATE DATABASE schema_tdb_… TEMPLATE schema_tpl_<key>`, a file-level copy.
//! - MySQL/MariaDB: a template database `schema_tpl_<key>` migrated once (under
//!   `GET_LOCK`); each test gets a database whose tables are made from the template's
//!   `SHOW CREATE TABLE` and filled with `INSERT … SELECT` (the history rows included).
//!   A template with views, triggers, routines or events is not copied (their text names
//!   the template): each test's database is migrated instead.
//! - SQLite (through rusqlite): a template file migrated once under
//!   `<temp dir>/schema-runtime-templates/<key>.db` (migrated under a temporary name and
//!   renamed into place, so a reader never sees half of it), copied per test to a fresh
//!   file.
//!
//! Every name carries this machine's tag and the process id: a database or file that a
//! crashed run left behind (its process no longer alive on this machine) is removed by
//! the first [`TestDatabase`] of a later run. Templates are kept (one per migration set;
//! drop `schema_tpl_*` databases or the templates folder to reclaim them).
//!
//! SQLite test databases need the `rusqlite` feature (sqlx's SQLite can open them with
//! [`TestDatabase::pool`]); without it or a server backend nothing here can be made.

// A build with `testing` and sqlx's SQLite alone has no backend to make one with.
#![cfg_attr(
    not(any(
        feature = "rusqlite",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql"
    )),
    allow(dead_code, unused_variables)
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::{Environment, Error, Migrations, Policy};

/// A database with every migration applied and recorded, for one test; removed when it
/// is dropped. See [the module](crate::testing) for how it is made.
///
/// ```no_run
/// # #[cfg(feature = "sqlx-postgres")]
/// # async fn example() -> Result<(), schema_runtime::Error> {
/// use schema_runtime::sqlx::Postgres;
/// use schema_runtime::testing::TestDatabase;
///
/// static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("../migrations");
///
/// let db = TestDatabase::new(&MIGRATIONS, "postgres://postgres@localhost/test").await?;
/// let pool = db.pool::<Postgres>().await?;
/// // … the test, on its own database …
/// pool.close().await;
/// db.close().await?; // or let it drop
/// # Ok(()) }
/// ```
pub struct TestDatabase {
    url: String,
    kind: Kind,
    template: String,
    removed: bool,
}

#[derive(Clone)]
enum Kind {
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
    Postgres { admin_url: String, name: String },
    #[cfg_attr(not(feature = "sqlx-mysql"), allow(dead_code))]
    Mysql { admin_url: String, name: String },
    #[cfg_attr(not(feature = "rusqlite"), allow(dead_code))]
    Sqlite { path: PathBuf },
}

/// Shows the URL with its password replaced.
impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &crate::redact_url(&self.url))
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// What a test database starts with beyond the migrations.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    seeds: bool,
}

/// Builds a [`TestDatabase`] with options: [`TestDatabase::builder`].
#[derive(Clone)]
pub struct TestDatabaseBuilder {
    migrations: &'static Migrations,
    base_url: String,
    options: Options,
}

/// Shows the URL with its password replaced.
impl std::fmt::Debug for TestDatabaseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabaseBuilder")
            .field("base_url", &crate::redact_url(&self.base_url))
            .field("seeds", &self.options.seeds)
            .finish_non_exhaustive()
    }
}

impl TestDatabaseBuilder {
    /// Runs the folder's seeds in the new database (never by default). The database keeps
    /// the `test` environment stamp; the seed rows are recorded in its history.
    pub fn with_seeds(mut self) -> Self {
        self.options.seeds = true;
        self
    }

    /// Makes the database (see [`TestDatabase::new`]).
    pub async fn build(self) -> Result<TestDatabase, Error> {
        TestDatabase::create(self.migrations, &self.base_url, self.options).await
    }

    /// Makes the database without an async runtime (see [`TestDatabase::new_blocking`]).
    pub fn build_blocking(self) -> Result<TestDatabase, Error> {
        TestDatabase::create_blocking(self.migrations, &self.base_url, self.options)
    }
}

impl TestDatabase {
    /// A fresh database with every migration of `migrations` applied and recorded
    /// (stamped `test`), on the server of `base_url`, isolated from every other test.
    ///
    /// `base_url` names the server: `postgres://…` or `mysql://…` (its database part is
    /// ignored; the user must be allowed to create databases), or `sqlite:` (any path
    /// after it is ignored: the databases are files in the system's temporary folder).
    pub async fn new(migrations: &'static Migrations, base_url: &str) -> Result<Self, Error> {
        TestDatabase::create(migrations, base_url, Options::default()).await
    }

    /// [`new`](Self::new) without an async runtime, for rusqlite users and synchronous
    /// tests: SQLite is made on the calling thread; a server's database is made on a
    /// thread of its own with a private runtime (so it may also be called from inside
    /// one). Dropping it works the same way.
    pub fn new_blocking(migrations: &'static Migrations, base_url: &str) -> Result<Self, Error> {
        TestDatabase::create_blocking(migrations, base_url, Options::default())
    }

    /// A database with options, such as seeds:
    /// `TestDatabase::builder(&MIGRATIONS, url).with_seeds().build().await`.
    pub fn builder(migrations: &'static Migrations, base_url: &str) -> TestDatabaseBuilder {
        TestDatabaseBuilder {
            migrations,
            base_url: base_url.to_owned(),
            options: Options::default(),
        }
    }

    /// The database's URL: a server URL naming the new database, or `sqlite:<path>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The template this database was cloned from: the template database's name on a
    /// server, the template file's path on SQLite.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The database's name on a server, or the file's path on SQLite.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Postgres { name, .. } | Kind::Mysql { name, .. } => name,
            Kind::Sqlite { path } => path.to_str().unwrap_or_default(),
        }
    }

    /// A new sqlx pool on this database (`Postgres`, `MySql`, or `Sqlite` for a SQLite
    /// test database). Close it before the database is dropped, or let the drop cut it
    /// (PostgreSQL drops with `WITH (FORCE)`).
    #[cfg(feature = "async-runner")]
    pub async fn pool<DB: sqlx::Database>(&self) -> Result<sqlx::Pool<DB>, Error> {
        sqlx::Pool::<DB>::connect(&self.url)
            .await
            .map_err(|e| Error::database("connecting to the test database", e))
    }

    /// Opens a rusqlite connection to this SQLite test database.
    #[cfg(feature = "rusqlite")]
    pub fn connect(&self) -> Result<rusqlite::Connection, Error> {
        match &self.kind {
            Kind::Sqlite { path } => rusqlite::Connection::open(path)
                .map_err(|e| Error::database("opening the test database", e)),
            _ => Err(Error::database_message(
                "opening the test database",
                "a rusqlite connection opens only a SQLite test database",
            )),
        }
    }

    /// Removes the database now and says whether it worked; dropping does the same and
    /// only warns on failure.
    pub async fn close(mut self) -> Result<(), Error> {
        self.removed = true;
        remove(self.kind.clone()).await
    }

    async fn create(
        migrations: &'static Migrations,
        base_url: &str,
        options: Options,
    ) -> Result<Self, Error> {
        match scheme(base_url)? {
            #[cfg(feature = "sqlx-postgres")]
            Scheme::Postgres => postgres::create(migrations, base_url, options).await,
            #[cfg(feature = "sqlx-mysql")]
            Scheme::Mysql => mysql::create(migrations, base_url, options).await,
            #[cfg(feature = "rusqlite")]
            Scheme::Sqlite => sqlite::create(migrations, options),
            #[allow(unreachable_patterns)]
            _ => Err(not_built(base_url)),
        }
    }

    fn create_blocking(
        migrations: &'static Migrations,
        base_url: &str,
        options: Options,
    ) -> Result<Self, Error> {
        match scheme(base_url)? {
            #[cfg(feature = "rusqlite")]
            Scheme::Sqlite => sqlite::create(migrations, options),
            #[cfg(feature = "async-runner")]
            _ => {
                let base_url = base_url.to_owned();
                on_own_runtime(
                    async move { TestDatabase::create(migrations, &base_url, options).await },
                )
            }
            #[cfg(not(feature = "async-runner"))]
            #[allow(unreachable_patterns)]
            _ => Err(not_built(base_url)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let kind = self.kind.clone();
        let result = match kind {
            #[cfg(feature = "rusqlite")]
            Kind::Sqlite { .. } => finish_now(remove(kind)),
            #[cfg(feature = "async-runner")]
            _ => on_own_runtime(remove(kind)),
            #[cfg(not(feature = "async-runner"))]
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        };
        if let Err(error) = result {
            eprintln!(
                "warning: the test database {} was not removed: {error}",
                self.name()
            );
        }
    }
}

/// Runs a future that never waits (the SQLite removal) to its end without a runtime.
#[cfg(feature = "rusqlite")]
fn finish_now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("the SQLite removal never waits"),
    }
}

/// Runs `future` on a thread of its own with a private current-thread runtime: from
/// `Drop` and from blocking callers, whether or not a runtime is running here.
#[cfg(feature = "async-runner")]
fn on_own_runtime<T: Send + 'static>(
    future: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::database("starting a runtime for the test database", e))?;
        runtime.block_on(future)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::database_message(
            "making or removing the test database",
            "its thread panicked",
        ))
    })
}

async fn remove(kind: Kind) -> Result<(), Error> {
    match kind {
        #[cfg(feature = "sqlx-postgres")]
        Kind::Postgres { admin_url, name } => postgres::drop_database(&admin_url, &name).await,
        #[cfg(feature = "sqlx-mysql")]
        Kind::Mysql { admin_url, name } => mysql::drop_database(&admin_url, &name).await,
        Kind::Sqlite { path } => {
            let _ = std::fs::remove_file(format!("{}.schema-lock", path.display()));
            std::fs::remove_file(&path)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| Error::database(format!("removing {}", path.display()), e))
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}

enum Scheme {
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
    Postgres,
    #[cfg_attr(not(feature = "sqlx-mysql"), allow(dead_code))]
    Mysql,
    #[cfg_attr(not(feature = "rusqlite"), allow(dead_code))]
    Sqlite,
}

fn scheme(url: &str) -> Result<Scheme, Error> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Ok(Scheme::Postgres)
    } else if lower.starts_with("mysql://") || lower.starts_with("mariadb://") {
        Ok(Scheme::Mysql)
    } else if lower.starts_with("sqlite:") {
        Ok(Scheme::Sqlite)
    } else {
        Err(Error::database_message(
            "making a test database",
            format!(
                "{} is not a postgres://, mysql:// or sqlite: URL",
                crate::redact_url(url)
            ),
        ))
    }
}

#[allow(dead_code)]
fn not_built(url: &str) -> Error {
    Error::database_message(
        "making a test database",
        format!(
            "{}: this build of schema-runtime has no backend for it (enable sqlx-postgres, sqlx-mysql or rusqlite beside testing)",
            crate::redact_url(url)
        ),
    )
}

/// The template key: 16 hex digits of a SHA-256 over every migration's version and
/// checksum, in order.
pub(crate) fn key(migrations: &Migrations) -> String {
    let mut hash = Sha256::new();
    for migration in migrations.migrations() {
        hash.update(format!("{} {}\n", migration.version(), migration.checksum()).as_bytes());
    }
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// This machine's tag in the names (6 hex digits of its host name): a crashed run's
/// leftovers are judged (by their process id) only on the machine that made them.
fn host_tag() -> String {
    let digest = Sha256::digest(crate::audit::host_name().as_bytes());
    digest[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// A name for the next test database of this process: `<prefix><key>_<host>_<pid>_<n>`.
fn instance_name(key: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{INSTANCE_PREFIX}{key}_{}_{}_{}",
        host_tag(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

const INSTANCE_PREFIX: &str = "schema_tdb_";
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
const TEMPLATE_PREFIX: &str = "schema_tpl_";

/// Whether a name of ours belongs to a process of this machine that is gone, so that
/// what it left may be removed. Unknown (no `/proc`) means not.
fn left_by_dead_process(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(INSTANCE_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let [_key, host, pid, _n] = parts[..] else {
        return false;
    };
    if host != host_tag() || !Path::new("/proc/self").exists() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

/// The policy a template is migrated with: test, no lock file written.
fn template_policy() -> Policy {
    Policy::new(Environment::Test).write_dev_lock(false)
}

/// The policy the seeds run with on a fresh copy: development (where seeds run) on a
/// database stamped `test`, which keeps its stamp.
fn seed_policy() -> Policy {
    Policy::new(Environment::Development)
        .with_seeds(true)
        .allow_environment_mismatch(true)
        .write_dev_lock(false)
}

/// `url` with its database (path) replaced by `database`.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
fn with_database(url: &str, database: &str) -> Result<String, Error> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| Error::database(format!("reading the URL {}", crate::redact_url(url)), e))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

    use super::*;

    fn failed(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
        let context = context.into();
        move |e| Error::database(context, e)
    }

    async fn admin(base_url: &str) -> Result<(String, PgConnection), Error> {
        let admin_url = with_database(base_url, "postgres")?;
        let conn = PgConnection::connect(&admin_url)
            .await
            .map_err(failed(format!(
                "connecting to {} to make a test database",
                crate::redact_url(&admin_url)
            )))?;
        Ok((admin_url, conn))
    }

    /// The advisory lock of a key: a bigint from the key's hex.
    fn lock_id(key: &str) -> i64 {
        u64::from_str_radix(key, 16).unwrap_or(0) as i64
    }

    pub(super) async fn create(
        migrations: &'static Migrations,
        base_url: &str,
        options: Options,
    ) -> Result<TestDatabase, Error> {
        let key = key(migrations);
        let template = format!("{TEMPLATE_PREFIX}{key}");
        let (admin_url, mut conn) = admin(base_url).await?;
        remove_leftovers(&mut conn).await;
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&template)
            .fetch_optional(&mut conn)
            .await
            .map_err(failed("looking for the template database"))?;
        if found.is_none() {
            make_template(&mut conn, &admin_url, migrations, &key, &template).await?;
        }
        let name = instance_name(&key);
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .await
        .map_err(failed(format!("creating {name} from {template}")))?;
        let _ = conn.close().await;
        let url = with_database(base_url, &name)?;
        let database = TestDatabase {
            url,
            kind: Kind::Postgres { admin_url, name },
            template,
            removed: false,
        };
        if options.seeds {
            let pool = PgPool::connect(&database.url)
                .await
                .map_err(failed("connecting to the test database"))?;
            let seeded = crate::Migrator::with_policy(migrations, seed_policy())
                .run_async(&pool)
                .await;
            pool.close().await;
            seeded?;
        }
        Ok(database)
    }

    /// Makes the template under the key's advisory lock: migrated under a temporary name,
    /// then renamed and marked a template, so that a crash never leaves a template that
    /// is half migrated.
    async fn make_template(
        conn: &mut PgConnection,
        admin_url: &str,
        migrations: &'static Migrations,
        key: &str,
        template: &str,
    ) -> Result<(), Error> {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(lock_id(key))
            .execute(&mut *conn)
            .await
            .map_err(failed("taking the template's advisory lock"))?;
        let made = make_template_locked(conn, admin_url, migrations, template).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(lock_id(key))
            .execute(&mut *conn)
            .await;
        made
    }

    async fn make_template_locked(
        conn: &mut PgConnection,
        admin_url: &str,
        migrations: &'static Migrations,
        template: &str,
    ) -> Result<(), Error> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(template)
            .fetch_optional(&mut *conn)
            .await
            .map_err(failed("looking for the template database"))?;
        if found.is_some() {
            // Another process made it while this one waited for the lock.
            return Ok(());
        }
        let building = format!("{template}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(failed(format!("creating the template database {building}")))?;
        }
        let pool = PgPool::connect(&with_database(admin_url, &building)?)
            .await
            .map_err(failed(format!("connecting to {building}")))?;
        let migrated = crate::Migrator::with_policy(migrations, template_policy())
            .run_async(&pool)
            .await;
        pool.close().await;
        migrated?;
        for sql in [
            format!("ALTER DATABASE {building} RENAME TO {template}"),
            format!("ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
        ] {
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(failed(format!("making {template} a template")))?;
        }
        Ok(())
    }

    /// Drops, once per process, the test databases of this machine's processes that are
    /// gone (a crashed or killed run). Best effort.
    async fn remove_leftovers(conn: &mut PgConnection) {
        static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if DONE.swap(true, Ordering::Relaxed) {
            return;
        }
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'schema\\_tdb\\_%'",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
        for name in names.into_iter().filter(|n| left_by_dead_process(n)) {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }

    pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
        let mut conn = PgConnection::connect(admin_url)
            .await
            .map_err(failed("connecting to drop the test database"))?;
        let dropped = conn
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .map(drop)
            .map_err(failed(format!("dropping {name}")));
        let _ = conn.close().await;
        dropped
    }
}

#[cfg(feature = "rusqlite")]
mod sqlite {
    use super::*;

    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |e| Error::database(context, e)
    }

    fn folder(name: &str) -> Result<PathBuf, Error> {
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(dir)
    }

    pub(super) fn create(
        migrations: &'static Migrations,
        options: Options,
    ) -> Result<TestDatabase, Error> {
        let key = key(migrations);
        let templates = folder("schema-runtime-templates")?;
        let template = templates.join(format!("{key}.db"));
        if !template.exists() {
            // One process migrates it, under a file lock that the others wait on (the
            // kernel releases it if the process dies), into a name of its own renamed
            // into place: a reader never sees half of it.
            let lock_path = templates.join(format!("{key}.lock"));
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io(format!("opening {}", lock_path.display())))?;
            lock.lock()
                .map_err(io(format!("locking {}", lock_path.display())))?;
            if !template.exists() {
                make_template(migrations, &templates, &key, &template)?;
            }
            drop(lock);
        }
        let instances = folder("schema-runtime-tests")?;
        remove_leftovers(&instances, &templates);
        let path = instances.join(format!("{}.db", instance_name(&key)));
        std::fs::copy(&template, &path).map_err(io(format!(
            "copying {} to {}",
            template.display(),
            path.display()
        )))?;
        let database = TestDatabase {
            url: format!("sqlite:{}", path.display()),
            kind: Kind::Sqlite { path },
            template: template.display().to_string(),
            removed: false,
        };
        if options.seeds {
            let mut conn = database.connect()?;
            crate::Migrator::with_policy(migrations, seed_policy()).run(&mut conn)?;
        }
        Ok(database)
    }

    fn make_template(
        migrations: &'static Migrations,
        templates: &Path,
        key: &str,
        template: &Path,
    ) -> Result<(), Error> {
        let building = templates.join(format!("{}.building", instance_name(key)));
        let migrated = (|| {
            let mut conn = rusqlite::Connection::open(&building)
                .map_err(|e| Error::database("creating the template database", e))?;
            crate::Migrator::with_policy(migrations, template_policy()).run(&mut conn)?;
            conn.close()
                .map_err(|(_, e)| Error::database("closing the template database", e))?;
            std::fs::rename(&building, template).map_err(io(format!(
                "renaming the template into {}",
                template.display()
            )))
        })();
        if migrated.is_err() {
            let _ = std::fs::remove_file(&building);
        }
        let _ = std::fs::remove_file(format!("{}.schema-lock", building.display()));
        migrated
    }

    /// Removes, once per process, the files of this machine's processes that are gone.
    fn remove_leftovers(instances: &Path, templates: &Path) {
        static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if DONE.swap(true, Ordering::Relaxed) {
            return;
        }
        // Test databases, and templates a crashed process was building.
        for dir in [instances, templates] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let file = entry.file_name();
                let Some(file) = file.to_str() else { continue };
                let stem = file.split('.').next().unwrap_or_default();
                if left_by_dead_process(stem) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

#[cfg(feature = "sqlx-mysql")]
mod mysql {
    use sqlx::{AssertSqlSafe, Connection, Executor, MySqlConnection, MySqlPool, Row};

    use super::*;

    fn failed(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
        let context = context.into();
        move |e| Error::database(context, e)
    }

    async fn admin(base_url: &str) -> Result<(String, MySqlConnection), Error> {
        let admin_url = with_database(base_url, "")?;
        let conn = MySqlConnection::connect(&admin_url)
            .await
            .map_err(failed(format!(
                "connecting to {} to make a test database",
                crate::redact_url(&admin_url)
            )))?;
        Ok((admin_url, conn))
    }

    /// The templates this process has brought up to date already.
    fn ready() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
        static READY: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
            std::sync::OnceLock::new();
        READY.get_or_init(Default::default)
    }

    pub(super) async fn create(
        migrations: &'static Migrations,
        base_url: &str,
        options: Options,
    ) -> Result<TestDatabase, Error> {
        let key = key(migrations);
        let template = format!("{TEMPLATE_PREFIX}{key}");
        let (admin_url, mut conn) = admin(base_url).await?;
        remove_leftovers(&mut conn).await;
        let is_ready = ready()
            .lock()
            .map(|r| r.contains(&template))
            .unwrap_or(false);
        if !is_ready {
            make_template(&mut conn, &admin_url, migrations, &template).await?;
            if let Ok(mut ready) = ready().lock() {
                ready.insert(template.clone());
            }
        }
        let name = instance_name(&key);
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .await
            .map_err(failed(format!("creating {name}")))?;
        let url = with_database(base_url, &name)?;
        let database = TestDatabase {
            url,
            kind: Kind::Mysql { admin_url, name },
            template,
            removed: false,
        };
        let copied = copy_tables(&mut conn, &database.template, database.name()).await?;
        let _ = conn.close().await;
        if !copied || options.seeds {
            let pool = MySqlPool::connect(&database.url)
                .await
                .map_err(failed("connecting to the test database"))?;
            let mut result = Ok(());
            if !copied {
                result = crate::Migrator::with_policy(migrations, template_policy())
                    .run_async(&pool)
                    .await
                    .map(drop);
            }
            if result.is_ok() && options.seeds {
                result = crate::Migrator::with_policy(migrations, seed_policy())
                    .run_async(&pool)
                    .await
                    .map(drop);
            }
            pool.close().await;
            result?;
        }
        Ok(database)
    }

    /// Brings the template up to date under `GET_LOCK`: made and migrated by the first
    /// process, one history query for the others. A template whose run failed (MySQL's
    /// DDL is not transactional) is dropped, to be made again by the next run.
    async fn make_template(
        conn: &mut MySqlConnection,
        admin_url: &str,
        migrations: &'static Migrations,
        template: &str,
    ) -> Result<(), Error> {
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 600)")
            .bind(template)
            .fetch_one(&mut *conn)
            .await
            .map_err(failed("taking the template's lock"))?;
        if got != Some(1) {
            return Err(Error::database_message(
                "taking the template's lock",
                format!("GET_LOCK('{template}') did not return 1 within 600 s"),
            ));
        }
        let made = async {
            conn.execute(AssertSqlSafe(format!(
                "CREATE DATABASE IF NOT EXISTS `{template}`"
            )))
            .await
            .map_err(failed(format!("creating the template database {template}")))?;
            let pool = MySqlPool::connect(&with_database(admin_url, template)?)
                .await
                .map_err(failed(format!("connecting to {template}")))?;
            let migrated = crate::Migrator::with_policy(migrations, template_policy())
                .run_async(&pool)
                .await;
            pool.close().await;
            if migrated.is_err() {
                let _ = conn
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS `{template}`"
                    )))
                    .await;
            }
            migrated.map(drop)
        }
        .await;
        let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(template)
            .execute(&mut *conn)
            .await;
        made
    }

    /// Copies every table of `template` into `name` (its `SHOW CREATE TABLE`, foreign
    /// keys included, then its rows), in one script read from the template once per
    /// process. `false`, copying nothing, when the template holds objects whose text
    /// names it (views, triggers, routines, events).
    async fn copy_tables(
        conn: &mut MySqlConnection,
        template: &str,
        name: &str,
    ) -> Result<bool, Error> {
        type Scripts = std::sync::Mutex<std::collections::HashMap<String, Option<String>>>;
        static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
        let scripts = SCRIPTS.get_or_init(Default::default);
        let known = scripts.lock().ok().and_then(|s| s.get(template).cloned());
        let body = match known {
            Some(body) => body,
            None => {
                let body = copy_script(conn, template).await?;
                if let Ok(mut scripts) = scripts.lock() {
                    scripts.insert(template.to_owned(), body.clone());
                }
                body
            }
        };
        let Some(body) = body else {
            return Ok(false);
        };
        let script = format!(
            "USE `{name}`;\nSET FOREIGN_KEY_CHECKS = 0;\n{body}SET FOREIGN_KEY_CHECKS = 1;\nUSE `mysql`;\n"
        );
        sqlx::raw_sql(AssertSqlSafe(script))
            .execute(&mut *conn)
            .await
            .map_err(failed(format!("copying {template} into {name}")))?;
        Ok(true)
    }

    /// The statements that make the template's tables and copy their rows into the
    /// current database, or `None` when the template holds objects that name it.
    async fn copy_script(
        conn: &mut MySqlConnection,
        template: &str,
    ) -> Result<Option<String>, Error> {
        let others: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_type <> 'BASE TABLE') \
             + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = ?) \
             + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = ?) \
             + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = ?)",
        )
        .bind(template)
        .bind(template)
        .bind(template)
        .bind(template)
        .fetch_one(&mut *conn)
        .await
        .map_err(failed("reading the template's objects"))?;
        if others > 0 {
            return Ok(None);
        }
        conn.execute("SET SESSION group_concat_max_len = 1048576")
            .await
            .map_err(failed("reading the template's tables"))?;
        let columns = sqlx::query(
            "SELECT CAST(table_name AS CHAR), CAST(GROUP_CONCAT(CONCAT('`', column_name, '`') ORDER BY ordinal_position SEPARATOR ', ') AS CHAR) \
             FROM information_schema.columns WHERE table_schema = ? AND extra NOT LIKE '%GENERATED%' \
             GROUP BY table_name",
        )
        .bind(template)
        .fetch_all(&mut *conn)
        .await
        .map_err(failed("reading the template's tables"))?;
        let mut script = String::new();
        let mut inserts = String::new();
        for row in &columns {
            let table: String = row.try_get(0).map_err(failed("reading a table name"))?;
            let list: String = row.try_get(1).map_err(failed("reading a column list"))?;
            let create = sqlx::query(AssertSqlSafe(format!(
                "SHOW CREATE TABLE `{template}`.`{table}`"
            )))
            .fetch_one(&mut *conn)
            .await
            .map_err(failed(format!("reading {template}.{table}")))?;
            let create: String = create
                .try_get(1)
                .map_err(failed("reading a table's text"))?;
            script.push_str(&create);
            script.push_str(";\n");
            inserts.push_str(&format!(
                "INSERT INTO `{table}` ({list}) SELECT {list} FROM `{template}`.`{table}`;\n"
            ));
        }
        script.push_str(&inserts);
        Ok(Some(script))
    }

    /// Drops, once per process, the test databases of this machine's processes that are
    /// gone. Best effort.
    async fn remove_leftovers(conn: &mut MySqlConnection) {
        static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if DONE.swap(true, Ordering::Relaxed) {
            return;
        }
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'schema\\_tdb\\_%'",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
        for name in names.into_iter().filter(|n| left_by_dead_process(n)) {
            let _ = conn
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .await;
        }
    }

    /// Drops the database, first ending the sessions still using it (as PostgreSQL's
    /// `WITH (FORCE)` does), so that an open transaction cannot hold the drop.
    pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
        let mut conn = MySqlConnection::connect(admin_url)
            .await
            .map_err(failed("connecting to drop the test database"))?;
        let sessions: Vec<u64> = sqlx::query_scalar(
            "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
        )
        .bind(name)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        for id in sessions {
            let _ = conn.execute(AssertSqlSafe(format!("KILL {id}"))).await;
        }
        let dropped = conn
            .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .await
            .map(drop)
            .map_err(failed(format!("dropping {name}")));
        let _ = conn.close().await;
        dropped
    }
}
