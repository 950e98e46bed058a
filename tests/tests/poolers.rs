//! Behind a connection pooler, as a user of hosted PostgreSQL meets it: a real PgBouncer
//! (Debian's `pgbouncer`), started by each test on a free port in front of the server of
//! `TEST_POSTGRES_URL`, and 8 replicas (real processes) starting at once through it.
//!
//! - `pool_mode = transaction`: every replica refuses with the message that names the
//!   direct URL, and nothing is migrated; the `db` command refuses the same way.
//! - The same pooler with `SCHEMA_DIRECT_URL` (or `DATABASE_URL_UNPOOLED`) at the server:
//!   every replica succeeds and each migration is recorded once.
//! - `pool_mode = transaction` on an up-to-date database: every replica starts, whatever
//!   server session its history read lands on.
//! - `pool_mode = session`: every replica simply succeeds.
//!
//! Skipped with a message when pgbouncer is not installed, unless
//! `SCHEMA_REQUIRE_SERVERS=1` (as in `.ci/run`, which installs it).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, PgPool, postgres::PgConnectOptions};
use schema_tests::{Server, ServerDatabase};
use tokio::sync::Mutex;

const RUNNER: &str = env!("CARGO_BIN_EXE_migrate-fixture");
const DB_COMMAND: &str = env!("CARGO_BIN_EXE_fixture-db");
const REPLICAS: usize = 8;
/// The refusal every replica must give behind a transaction pooler.
const REFUSAL: &str = "is a connection pooler in transaction mode";
const APPLIED: [&str; 3] = [
    "1 migration applied",
    "2 migration applied",
    "3 migration applied",
];

/// One test at a time: each runs its own PgBouncer and 8 replicas, whose connections
/// (two each while they look for a pooler) count against the server's limit.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The pgbouncer binary, or `None` after saying why the test is skipped.
fn pgbouncer_binary() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    // Debian installs it in /usr/sbin, which an ordinary user's PATH may not have.
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from));
    let found = dirs
        .into_iter()
        .map(|dir| dir.join("pgbouncer"))
        .find(|path| path.is_file());
    if found.is_none() {
        if std::env::var("SCHEMA_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!(
                "pgbouncer is not installed and SCHEMA_REQUIRE_SERVERS=1: these tests must run through it (apt-get install pgbouncer)"
            );
        }
        eprintln!(
            "skipped: pgbouncer is not installed (apt-get install pgbouncer to run this test)"
        );
    }
    found
}

/// A PgBouncer in front of the test server, stopped when dropped.
struct PgBouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts `binary` on a free port with `pool_mode = mode`, in front of the server of
    /// `server_url`, and waits until it accepts connections.
    fn start(binary: &Path, server_url: &str, mode: &str) -> PgBouncer {
        let options = PgConnectOptions::from_str(server_url).unwrap();
        let user = options.get_username().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "[databases]\n\
             * = host={host} port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {userlist}\n\
             pool_mode = {mode}\n\
             default_pool_size = 20\n\
             max_client_conn = 200\n\
             ignore_startup_parameters = extra_float_digits\n",
            host = options.get_host(),
            server_port = options.get_port(),
            userlist = dir.path().join("userlist.txt").display(),
        );
        let ini = dir.path().join("pgbouncer.ini");
        fs::write(&ini, config).unwrap();
        // trust still wants the user listed; its password (if the URL has one) is what
        // PgBouncer logs in to the server with.
        fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{user}\" \"{}\"\n", password(server_url)),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("pgbouncer.log")).unwrap();
        let mut command = Command::new(binary);
        // PgBouncer refuses to run as root: as root, it drops to `nobody`, who must be
        // able to read its files.
        if fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0) {
            for path in [dir.path().to_path_buf(), ini.clone()] {
                let mode = if path.is_dir() { 0o755 } else { 0o644 };
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            }
            let userlist = dir.path().join("userlist.txt");
            fs::set_permissions(&userlist, fs::Permissions::from_mode(0o644)).unwrap();
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut bouncer = PgBouncer { child, port, dir };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = bouncer.child.try_wait().unwrap() {
                panic!("pgbouncer stopped ({status}):\n{}", bouncer.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pgbouncer did not listen within 10 s:\n{}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bouncer
    }

    /// `database_url` with its host and port replaced by this pooler's.
    fn url(&self, database_url: &str) -> String {
        through(database_url, self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `url` with its host and port replaced by 127.0.0.1 and `port`: user, password,
/// database and parameters kept.
fn through(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let userinfo = rest[..authority_end]
        .rfind('@')
        .map_or("", |at| &rest[..=at]);
    format!(
        "{}{userinfo}127.0.0.1:{port}{}",
        &url[..scheme_end],
        &rest[authority_end..]
    )
}

/// The password of a URL as written (empty without one).
fn password(url: &str) -> String {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority
        .rfind('@')
        .and_then(|at| authority[..at].split_once(':'))
        .map(|(_, password)| password.to_owned())
        .unwrap_or_default()
}

/// How one process ended.
struct Ended {
    success: bool,
    code: Option<i32>,
    output: String,
}

/// Waits for every child, at most two minutes in all (then kills them and fails).
fn wait_all(children: Vec<Child>) -> Vec<Ended> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut children = children;
    loop {
        let mut running = false;
        for child in &mut children {
            running |= child.try_wait().unwrap().is_none();
        }
        if !running {
            break;
        }
        if Instant::now() > deadline {
            for child in &mut children {
                let _ = child.kill();
            }
            panic!("replicas still running after two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            Ended {
                success: output.status.success(),
                code: output.status.code(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            }
        })
        .collect()
}

/// `REPLICAS` startups of the `portable` fixture at once, each with `DATABASE_URL` and
/// `vars`, none with a direct URL of the test's environment.
fn replicas(database_url: &str, vars: &[(&str, &str)]) -> Vec<Ended> {
    startups(REPLICAS, database_url, vars)
}

/// `count` startups of the `portable` fixture at once.
fn startups(count: usize, database_url: &str, vars: &[(&str, &str)]) -> Vec<Ended> {
    let children = (0..count)
        .map(|_| {
            Command::new(RUNNER)
                .arg("portable")
                .env_remove("SCHEMA_DIRECT_URL")
                .env_remove("DATABASE_URL_UNPOOLED")
                .env("DATABASE_URL", database_url)
                .envs(vars.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_all(children)
}

/// `fixture-db portable db ARGS` in the test environment.
fn db_command(database_url: &str, vars: &[(&str, &str)], args: &[&str]) -> Ended {
    let child = Command::new(DB_COMMAND)
        .arg("portable")
        .arg("db")
        .args(args)
        .env_remove("SCHEMA_DIRECT_URL")
        .env_remove("DATABASE_URL_UNPOOLED")
        .env_remove("SCHEMA_SESSION_SQL")
        .env_remove("SEED_DB")
        .env("APP_ENV", "test")
        .env("NO_COLOR", "1")
        .env("DATABASE_URL", database_url)
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_all(vec![child]).pop().unwrap()
}

/// Every replica succeeded.
fn all_succeeded(ended: &[Ended]) {
    for (n, ended) in ended.iter().enumerate() {
        assert!(ended.success, "replica {n} failed:\n{}", ended.output);
    }
}

/// Every replica refused with the message that names the way out.
fn all_refused(ended: &[Ended]) {
    for (n, ended) in ended.iter().enumerate() {
        assert!(
            !ended.success,
            "replica {n} did not refuse:\n{}",
            ended.output
        );
        assert!(
            ended.output.contains(REFUSAL) && ended.output.contains("SCHEMA_DIRECT_URL"),
            "replica {n} failed otherwise:\n{}",
            ended.output
        );
        assert!(
            !ended.output.contains("sqlx_s_")
                || ended
                    .output
                    .contains("reading the migration history, the server answered"),
            "a raw driver error:\n{}",
            ended.output
        );
    }
}

/// The history rows (`version kind state`) read on the server itself; none when the
/// table does not exist.
async fn history(direct_url: &str) -> Vec<String> {
    let pool = PgPool::connect(direct_url).await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_history') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    if !exists {
        return Vec::new();
    }
    sqlx::query_scalar(
        "SELECT CONCAT(version, ' ', kind, ' ', state) FROM schema_history ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
}

/// Whether the fixture's tables or index exist, read on the server itself.
async fn objects(direct_url: &str) -> Vec<String> {
    let pool = PgPool::connect(direct_url).await.unwrap();
    sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relname IN ('accounts', 'ledger', 'accounts_by_owner') ORDER BY relname",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
}

/// A fresh database, its direct URL and a PgBouncer in `mode` in front of its server;
/// `None` when the test is skipped.
async fn setup(mode: &str) -> Option<(ServerDatabase, String, PgBouncer)> {
    let binary = pgbouncer_binary()?;
    let (database, direct_url) = ServerDatabase::create(Server::Postgres).await?;
    let bouncer = PgBouncer::start(&binary, &direct_url, mode);
    Some((database, direct_url, bouncer))
}

#[tokio::test]
async fn transaction_mode_refuses_every_replica_with_the_way_out() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((_database, direct_url, bouncer)) = setup("transaction").await else {
        return;
    };
    let pooled = bouncer.url(&direct_url);

    // A fresh database: the lock is refused before anything is created.
    all_refused(&replicas(&pooled, &[]));
    assert_eq!(history(&direct_url).await, Vec::<String>::new());
    assert_eq!(objects(&direct_url).await, Vec::<String>::new());

    // A database with a history and one migration pending: the history's prepared read
    // may clash on the pooler's shared server sessions; either way the refusal is the
    // same, and nothing more runs.
    all_succeeded(&startups(1, &direct_url, &[]));
    let pool = PgPool::connect(&direct_url).await.unwrap();
    sqlx::raw_sql("DELETE FROM schema_history WHERE version = 3; DROP INDEX accounts_by_owner")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    all_refused(&replicas(&pooled, &[]));
    assert_eq!(history(&direct_url).await, APPLIED[..2]);
    assert_eq!(objects(&direct_url).await, ["accounts", "ledger"]);

    // The db command refuses alike, as an environment error.
    let migrate = db_command(&pooled, &[], &["migrate", "--yes"]);
    assert_eq!(migrate.code, Some(2), "{}", migrate.output);
    assert!(migrate.output.contains(REFUSAL), "{}", migrate.output);
    assert_eq!(history(&direct_url).await, APPLIED[..2]);
    drop(bouncer);
}

#[tokio::test]
async fn transaction_mode_with_the_direct_url_migrates_each_migration_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((_database, direct_url, bouncer)) = setup("transaction").await else {
        return;
    };
    let pooled = bouncer.url(&direct_url);

    let ended = replicas(&pooled, &[("SCHEMA_DIRECT_URL", &direct_url)]);
    all_succeeded(&ended);
    assert_eq!(
        history(&direct_url).await,
        APPLIED,
        "each migration recorded once"
    );
    assert_eq!(
        objects(&direct_url).await,
        ["accounts", "accounts_by_owner", "ledger"]
    );

    // Neon's name for it works too; an up-to-date start changes nothing.
    let ended = replicas(&pooled, &[("DATABASE_URL_UNPOOLED", &direct_url)]);
    all_succeeded(&ended);
    assert_eq!(history(&direct_url).await, APPLIED);

    // The db command works on the direct URL and says so.
    let status = db_command(&pooled, &[("SCHEMA_DIRECT_URL", &direct_url)], &["status"]);
    assert_eq!(status.code, Some(0), "{}", status.output);
    assert!(
        status.output.contains("note: working on the direct URL"),
        "{}",
        status.output
    );
    drop(bouncer);
}

/// An up-to-date start takes no lock, so it works behind a transaction pooler without a
/// direct URL, even though the pooler hands each message whichever server session is
/// free: the history's read prepared on one session meets sessions that lack it or
/// already have it, and falls back to the plain query.
#[tokio::test]
async fn transaction_mode_up_to_date_starts_simply_work() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((_database, direct_url, bouncer)) = setup("transaction").await else {
        return;
    };
    let pooled = bouncer.url(&direct_url);
    all_succeeded(&startups(1, &direct_url, &[]));
    for _ in 0..3 {
        let ended = replicas(&pooled, &[]);
        all_succeeded(&ended);
        for ended in &ended {
            assert!(ended.output.contains("up to date"), "{}", ended.output);
        }
    }
    assert_eq!(history(&direct_url).await, APPLIED);

    // Two long-lived pools of one process, starting in turn: each prepares the read on
    // whichever server session it was handed, which the pooler then hands the other.
    let migrator = schema_runtime::Migrator::with_policy(
        &schema_tests::PORTABLE,
        schema_runtime::Policy::new(schema_runtime::Environment::Test).write_dev_lock(false),
    );
    let pools = [
        PgPool::connect(&pooled).await.unwrap(),
        PgPool::connect(&pooled).await.unwrap(),
    ];
    for round in 0..6 {
        for pool in &pools {
            let report = migrator.run_async(pool).await.unwrap_or_else(|error| {
                panic!("round {round}: {error}");
            });
            assert!(report.is_up_to_date());
        }
    }
    for pool in pools {
        pool.close().await;
    }
    drop(bouncer);
}

#[tokio::test]
async fn the_db_command_migrates_over_the_direct_url() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((_database, direct_url, bouncer)) = setup("transaction").await else {
        return;
    };
    let pooled = bouncer.url(&direct_url);
    let migrate = db_command(
        &pooled,
        &[("SCHEMA_DIRECT_URL", &direct_url)],
        &["migrate", "--yes"],
    );
    assert_eq!(migrate.code, Some(0), "{}", migrate.output);
    assert_eq!(history(&direct_url).await, APPLIED);
    drop(bouncer);
}

#[tokio::test]
async fn session_mode_simply_works() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((_database, direct_url, bouncer)) = setup("session").await else {
        return;
    };
    let pooled = bouncer.url(&direct_url);
    all_succeeded(&replicas(&pooled, &[]));
    assert_eq!(
        history(&direct_url).await,
        APPLIED,
        "each migration recorded once"
    );
    let status = db_command(&pooled, &[], &["status"]);
    assert_eq!(status.code, Some(0), "{}", status.output);
    drop(bouncer);
}

#[test]
fn the_pooler_url_keeps_user_password_database_and_query() {
    assert_eq!(password("postgres://u:p%40ss@h:5432/db"), "p%40ss");
    assert_eq!(password("postgres://u@h/db"), "");
    assert_eq!(
        through("postgres://u:p@db.host:5432/app?sslmode=disable", 6432),
        "postgres://u:p@127.0.0.1:6432/app?sslmode=disable"
    );
    assert_eq!(
        through("postgres://db.host/app", 6432),
        "postgres://127.0.0.1:6432/app"
    );
}
