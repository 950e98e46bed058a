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
//!   `<temp dir>/schema-runtime-templates-<uid>/<key>.db`, a folder of the user's own (migrated under a temporary name and
//!   renamed into place, so a reader never sees half of it), copied per test to a fresh
//!   file.
//!
//! A copy is made ahead: after each test database, a background thread copies the
//! template into spares (`schema_tsp_…`, two unless `SCHEMA_TEST_SPARES` says otherwise,
//! counted across processes) and the next test database is a spare renamed, which costs
//! the same at any size. Dropping hands the removal to a background thread too; the
//! process waits for those removals when it exits. [`settle`] waits for all of it.
//!
//! Every name carries this machine's tag and the process id: a database or file that a
//! crashed run left behind (its process no longer alive on this machine) is removed by
//! the first [`TestDatabase`] of a later run, with the spares of other migration sets
//! made over an hour before. Templates are kept (one per migration set; drop
//! `schema_tpl_*` and `schema_tsp_*` databases or the templates folder to reclaim them).
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

mod background;
#[cfg(feature = "sqlx-mysql")]
mod mysql;
#[cfg(feature = "sqlx-postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

/// A database with every migration applied and recorded, for one test; removed after it
/// is dropped (in the background; [`settle`] waits for it, and so does the process's
/// exit). See [the module](crate::testing) for how it is made.
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

    /// Removes the database now and says whether it worked. Dropping removes it in the
    /// background instead (the process waits for it at its exit) and only warns on
    /// failure.
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
        let name = self.name().to_owned();
        let warn = move |result: Result<(), Error>| {
            if let Err(error) = result {
                background::warn(&format!(
                    "the test database {name} was not removed: {error}"
                ));
            }
        };
        // Removed in the background, so the test does not wait for `DROP DATABASE` or
        // for a large file's unlinking; the process waits for it at its exit (where it
        // cannot, on the dropping thread).
        background::spawn_or_run(background::Work::Removal, move || match kind {
            #[cfg(feature = "rusqlite")]
            Kind::Sqlite { .. } => warn(finish_now(remove(kind))),
            #[cfg(feature = "async-runner")]
            _ => warn(block_on_own_runtime(remove(kind))),
            #[cfg(not(feature = "async-runner"))]
            #[allow(unreachable_patterns)]
            _ => {}
        });
    }
}

/// Blocks until this process's background work for test databases is done: the removal
/// of every dropped database, and the spare copies being made for the next tests.
///
/// A test never needs it: dropped databases are removed before the process exits, and a
/// spare not yet made only means the next test copies the template itself. It is for a
/// test that looks at the server afterwards, and for benchmarks that time a test alone.
pub fn settle() {
    background::wait(false, None);
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
    std::thread::spawn(move || block_on_own_runtime(future))
        .join()
        .unwrap_or_else(|_| {
            Err(Error::database_message(
                "making or removing the test database",
                "its thread panicked",
            ))
        })
}

/// Runs `future` to its end on a new current-thread runtime, on the calling thread
/// (which must not be running one).
#[cfg(feature = "async-runner")]
fn block_on_own_runtime<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::database("starting a runtime for the test database", e))?
        .block_on(future)
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
/// checksum, in order. Worked out once per migration set and process (a set is
/// `'static`, so its address names it), not once per test.
pub(crate) fn key(migrations: &'static Migrations) -> String {
    static KEYS: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());
    let address = std::ptr::from_ref(migrations) as usize;
    let mut keys = KEYS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, key)) = keys.iter().find(|(at, _)| *at == address) {
        return key.clone();
    }
    let key = hash_key(migrations);
    keys.push((address, key.clone()));
    key
}

fn hash_key(migrations: &Migrations) -> String {
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
    format!(
        "{INSTANCE_PREFIX}{key}_{}_{}_{}",
        host_tag(),
        std::process::id(),
        next_number()
    )
}

/// A name for a spare copy of a template:
/// `<spare prefix><key>_<unix seconds>_<host>_<pid>_<n>`. The time lets a later run
/// remove the spares of a migration set no longer used.
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
fn spare_name(key: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{SPARE_PREFIX}{key}_{now}_{}_{}_{}",
        host_tag(),
        std::process::id(),
        next_number()
    )
}

fn next_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

const INSTANCE_PREFIX: &str = "schema_tdb_";
/// Spare copies, made ahead for the next test ([`spare_name`]).
const SPARE_PREFIX: &str = "schema_tsp_";
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
const TEMPLATE_PREFIX: &str = "schema_tpl_";

/// How long the spares of another migration set are kept: a set not used for this long
/// (edited since, or another branch's) gives its spares back.
const SPARES_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The parts of one of our names after its prefix: the key, then (spares only) the
/// time, then the host, the process id and a number.
struct NameParts<'a> {
    key: &'a str,
    time: Option<u64>,
    host: &'a str,
    pid: &'a str,
}

/// The parts of `name` if it is one of ours, written exactly as this module writes
/// them (hex key and host, decimal time, pid and number): a name read back from a server
/// or a folder is used in SQL and paths only if it parses here, so a database or file
/// someone else named to look like ours cannot carry anything else in.
fn name_parts(name: &str) -> Option<NameParts<'_>> {
    let parts = name_parts_loose(name)?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let tail = name.rsplit('_').next().unwrap_or_default();
    (hex(parts.key, 16) && hex(parts.host, 6) && digits(parts.pid) && digits(tail)).then_some(parts)
}

fn name_parts_loose(name: &str) -> Option<NameParts<'_>> {
    if let Some(rest) = name.strip_prefix(INSTANCE_PREFIX) {
        let parts: Vec<&str> = rest.split('_').collect();
        let [key, host, pid, _n] = parts[..] else {
            return None;
        };
        Some(NameParts {
            key,
            time: None,
            host,
            pid,
        })
    } else if let Some(rest) = name.strip_prefix(SPARE_PREFIX) {
        let parts: Vec<&str> = rest.split('_').collect();
        let [key, time, host, pid, _n] = parts[..] else {
            return None;
        };
        Some(NameParts {
            key,
            time: Some(
                time.parse()
                    .ok()
                    .filter(|_| time.bytes().all(|b| b.is_ascii_digit()))?,
            ),
            host,
            pid,
        })
    } else {
        None
    }
}

/// Whether a name of ours belongs to a process of this machine that is gone, so that
/// what it left may be removed. Unknown (no `/proc`) means not.
fn left_by_dead_process(name: &str) -> bool {
    let Some(parts) = name_parts(name) else {
        return false;
    };
    if parts.host != host_tag() || !Path::new("/proc/self").exists() {
        return false;
    }
    match parts.pid.parse::<u32>() {
        Ok(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

/// Whether `name` is one of ours, exactly as written here (see [`name_parts`]).
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
fn is_ours(name: &str) -> bool {
    name_parts(name).is_some()
}

/// Whether a spare belongs to another migration set than `key` and was made longer ago
/// than [`SPARES_KEPT`].
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
fn stale_spare(name: &str, key: &str) -> bool {
    let Some(NameParts {
        key: of,
        time: Some(time),
        ..
    }) = name_parts(name)
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    of != key && now.saturating_sub(time) > SPARES_KEPT.as_secs()
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

/// Turns a server's error into ours, with what was being done.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
fn failed(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, e)
}
