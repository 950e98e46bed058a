//! Connecting to a server that is down, or that comes up after the application: each
//! attempt has a short timeout of its own and is told with its cause, and the error after
//! the deadline keeps the root cause (here the operating system's "Connection refused")
//! instead of sqlx's `pool timed out while waiting for an open connection`. The same for
//! the startup runner and the `db` command.
//!
//! The bounds on time are generous on purpose: they prove "not the pool's whole acquire
//! timeout", not a speed. The runner's log lines (`tracing`) are checked through the
//! example app, which installs a subscriber (`example-app/tests/connect_retries.rs`);
//! the `db` command prints them itself, so they are checked here.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, Database, Pool};
use schema_runtime::sqlx_backend::Backend;
use schema_runtime::{Environment, Migrator, Policy};
use schema_tests::net::{address, closed_port, late_forwarder, on_port};
use schema_tests::{PORTABLE, Server, ServerDatabase, with_database};

/// A pool as applications build it, and as the issue describes it: lazy, with sqlx's
/// default acquire timeout of 30 s, far longer than the policy's deadline.
fn lazy_pool<DB: Database>(url: &str) -> Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy(url)
        .unwrap()
}

fn policy(deadline: Duration) -> Policy {
    Policy::new(Environment::Test)
        .write_dev_lock(false)
        .retry_connect_for(deadline)
        .connect_attempt_timeout(Duration::from_secs(2))
}

/// The startup runner on a closed port: an error naming the attempts and the refusal,
/// well before the pool's 30 s.
async fn runner_on_a_closed_port<DB: Backend>(scheme: &str) {
    let port = closed_port();
    let pool = lazy_pool::<DB>(&format!("{scheme}://app:s3cret@127.0.0.1:{port}/app"));
    let started = Instant::now();
    let error = Migrator::with_policy(&PORTABLE, policy(Duration::from_secs(1)))
        .run_async(&pool)
        .await
        .unwrap_err();
    let took = started.elapsed();
    let message = error.to_string();
    assert!(took < Duration::from_secs(15), "took {took:?}: {message}");
    assert!(
        message.starts_with(&format!("connecting to the database (127.0.0.1:{port}; ")),
        "{message}"
    );
    assert!(message.contains(" attempts over "), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
    assert!(!message.contains("timed out"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    // The driver's error is kept as the source, for code that looks at it.
    let source =
        std::error::Error::source(&error).and_then(|source| source.downcast_ref::<sqlx::Error>());
    assert!(
        matches!(source, Some(sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused),
        "{source:?}"
    );
    pool.close().await;
}

#[tokio::test]
async fn runner_on_a_closed_postgres_port_fails_with_the_refusal_within_its_deadline() {
    runner_on_a_closed_port::<sqlx::Postgres>("postgres").await;
}

#[tokio::test]
async fn runner_on_a_closed_mysql_port_fails_with_the_refusal_within_its_deadline() {
    runner_on_a_closed_port::<sqlx::MySql>("mysql").await;
}

#[tokio::test]
async fn zero_deadline_tries_once() {
    let port = closed_port();
    let pool = lazy_pool::<sqlx::Postgres>(&format!("postgres://app@127.0.0.1:{port}/app"));
    let message = Migrator::with_policy(&PORTABLE, policy(Duration::ZERO))
        .run_async(&pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "connecting to the database at 127.0.0.1:{port}: error communicating with database: Connection refused"
        )),
        "{message}"
    );
}

/// A server that answers nothing (it accepts, then stays silent): each attempt ends at
/// the policy's attempt timeout, and the error says so rather than "pool timed out".
#[tokio::test]
async fn a_silent_server_is_no_answer_within_the_attempt_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Keep the accepted sockets open and say nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming() {
            held.push(client);
        }
    });
    let pool = lazy_pool::<sqlx::Postgres>(&format!("postgres://app@127.0.0.1:{port}/app"));
    let policy = Policy::new(Environment::Test)
        .retry_connect_for(Duration::from_millis(500))
        .connect_attempt_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let message = Migrator::with_policy(&PORTABLE, policy)
        .run_async(&pool)
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}: {message}");
    assert!(message.contains(" attempts over "), "{message}");
    assert!(
        message.contains(
            "no answer within 0.3 s (Policy::connect_attempt_timeout, SCHEMA_CONNECT_TIMEOUT)"
        ),
        "{message}"
    );
}

/// Settings that waiting cannot fix stop at the first attempt, with the server's words.
async fn unknown_database_stops_at_once(server: Server, words: &str) {
    let Some(admin_url) = server.url() else {
        return;
    };
    let url = with_database(&admin_url, "schema_no_such_database");
    let started = Instant::now();
    let error = match server {
        Server::Postgres => {
            let pool = lazy_pool::<sqlx::Postgres>(&url);
            Migrator::with_policy(&PORTABLE, policy(Duration::from_secs(30)))
                .run_async(&pool)
                .await
        }
        Server::Mysql => {
            let pool = lazy_pool::<sqlx::MySql>(&url);
            Migrator::with_policy(&PORTABLE, policy(Duration::from_secs(30)))
                .run_async(&pool)
                .await
        }
    }
    .unwrap_err();
    let took = started.elapsed();
    let message = error.to_string();
    assert!(took < Duration::from_secs(10), "took {took:?}: {message}");
    assert!(
        message.starts_with("connecting to the database at "),
        "{message}"
    );
    assert!(!message.contains("attempts"), "{message}");
    assert!(message.contains(words), "{message}");
}

#[tokio::test]
async fn an_unknown_postgres_database_stops_at_once() {
    unknown_database_stops_at_once(
        Server::Postgres,
        "database \"schema_no_such_database\" does not exist",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_mysql_database_stops_at_once() {
    unknown_database_stops_at_once(Server::Mysql, "Unknown database 'schema_no_such_database'")
        .await;
}

/// The set-up: a lazy pool with a long acquire timeout, and a server that comes
/// up a moment after the application.
async fn runner_waits_for_a_late_server<DB: Backend>(server: Server, default_port: u16) {
    let Some((_database, url)) = ServerDatabase::create(server).await else {
        return;
    };
    let port = late_forwarder(address(&url, default_port), Duration::from_millis(800));
    let pool = lazy_pool::<DB>(&on_port(&url, port));
    let started = Instant::now();
    let report = Migrator::with_policy(&PORTABLE, policy(Duration::from_secs(20)))
        .run_async(&pool)
        .await
        .expect("startup retries until the server answers");
    let took = started.elapsed();
    assert_eq!(report.applied.len(), 3);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    pool.close().await;
}

#[tokio::test]
async fn runner_waits_for_a_postgres_server_that_comes_up_late() {
    runner_waits_for_a_late_server::<sqlx::Postgres>(Server::Postgres, 5432).await;
}

#[tokio::test]
async fn runner_waits_for_a_mysql_server_that_comes_up_late() {
    runner_waits_for_a_late_server::<sqlx::MySql>(Server::Mysql, 3306).await;
}

/// `fixture-db portable db ARGS` on `url`, with the given connect settings; its stderr
/// read line by line as it comes, each line with the time it came.
struct Db {
    code: Option<i32>,
    stdout: String,
    lines: Vec<(Duration, String)>,
}

impl Db {
    fn run(url: &str, retry: &str, args: &[&str]) -> Db {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_fixture-db"))
            .arg("portable")
            .arg("db")
            .args(args)
            .env("DATABASE_URL", url)
            .env("APP_ENV", "test")
            .env("SCHEMA_CONNECT_RETRY", retry)
            .env("SCHEMA_CONNECT_TIMEOUT", "2")
            .env_remove("SCHEMA_SESSION_SQL")
            .env_remove("FIXTURE_HISTORY_TABLE")
            .env_remove("FIXTURE_RUNTIME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
        let lines = BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map(|line| (started.elapsed(), line.unwrap()))
            .collect();
        let code = child.wait().unwrap().code();
        Db {
            code,
            stdout: stdout.join().unwrap(),
            lines,
        }
    }

    fn stderr(&self) -> String {
        self.lines
            .iter()
            .map(|(at, line)| format!("[{:.2} s] {line}\n", at.as_secs_f64()))
            .collect()
    }

    /// The attempt warnings: (attempt number, line).
    fn attempts(&self) -> Vec<(u32, &str)> {
        self.lines
            .iter()
            .filter_map(|(_, line)| {
                let rest = line.split_once("(attempt ")?.1;
                let number = rest.split(|c: char| !c.is_ascii_digit()).next()?;
                line.starts_with("warning: the database at ")
                    .then(|| (number.parse().unwrap(), line.as_str()))
            })
            .collect()
    }
}

#[test]
fn db_status_on_a_closed_port_says_why_at_once() {
    let port = closed_port();
    let db = Db::run(
        &format!("postgres://app:s3cret@127.0.0.1:{port}/app"),
        "1",
        &["status"],
    );
    let stderr = db.stderr();
    assert_ne!(db.code, Some(0), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!db.stdout.contains("s3cret"), "{}", db.stdout);
    // The first line is the first attempt and its cause, long before the old 10 s of
    // silence.
    let (first_at, first) = &db.lines[0];
    assert!(
        first.starts_with(&format!(
            "warning: the database at 127.0.0.1:{port} is not reachable yet (attempt 1, "
        )),
        "{stderr}"
    );
    assert!(first.contains("Connection refused"), "{stderr}");
    assert!(first.contains("; retrying in 100 ms"), "{stderr}");
    assert!(*first_at < Duration::from_secs(5), "{stderr}");
    // One line per attempt, numbered in order, each with the cause; the last gives up.
    let attempts = db.attempts();
    assert!(attempts.len() >= 2, "{stderr}");
    for (index, (number, line)) in attempts.iter().enumerate() {
        assert_eq!(*number as usize, index + 1, "{stderr}");
        assert!(line.contains("Connection refused"), "{stderr}");
    }
    assert!(
        attempts.last().unwrap().1.ends_with("; giving up"),
        "{stderr}"
    );
    let error = db
        .lines
        .iter()
        .find(|(_, line)| line.starts_with("error: "))
        .map(|(_, line)| line.as_str())
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert!(
        error.starts_with(&format!(
            "error: connecting to the database (127.0.0.1:{port}; {} attempts over ",
            attempts.len()
        )),
        "{stderr}"
    );
    assert!(error.contains("Connection refused"), "{stderr}");
    assert!(!error.contains("timed out"), "{stderr}");
    let (last_at, _) = db.lines.last().unwrap();
    assert!(*last_at < Duration::from_secs(20), "{stderr}");
}

#[test]
fn db_status_waits_for_a_server_that_comes_up_late() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((_database, url)) = runtime.block_on(ServerDatabase::create(Server::Postgres)) else {
        return;
    };
    let port = late_forwarder(address(&url, 5432), Duration::from_millis(800));
    let db = Db::run(&on_port(&url, port), "20", &["status"]);
    let stderr = db.stderr();
    assert_eq!(db.code, Some(0), "{stderr}\n{}", db.stdout);
    let attempts = db.attempts();
    assert!(!attempts.is_empty(), "{stderr}");
    for (index, (number, line)) in attempts.iter().enumerate() {
        assert_eq!(*number as usize, index + 1, "{stderr}");
        assert!(line.contains("Connection refused"), "{stderr}");
        assert!(line.contains("; retrying in "), "{stderr}");
    }
    let connected = format!(
        "note: connected to the database at 127.0.0.1:{port} on attempt {}, after ",
        attempts.len() + 1
    );
    assert!(
        db.lines
            .iter()
            .any(|(_, line)| line.starts_with(&connected)),
        "{stderr}"
    );
    assert!(db.stdout.contains("pending"), "{}", db.stdout);
}
