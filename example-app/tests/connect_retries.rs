//! The app started before its database: its log (the `tracing` subscriber the app
//! installs, on stderr) has one line per connection attempt with the cause, and the
//! error after the deadline keeps the root cause. The runner's other connection cases
//! are in `tests/tests/connect_retries.rs`.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use schema_tests::{Server, ServerDatabase};

fn app(url: &str, retry: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_example-app"))
        .env("DATABASE_URL", url)
        .env("APP_ENV", "test")
        .env("SCHEMA_CONNECT_RETRY", retry)
        .env("SCHEMA_CONNECT_TIMEOUT", "2")
        .env_remove("SEED_DB")
        .env_remove("SCHEMA_SESSION_SQL")
        .output()
        .unwrap()
}

/// A port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `WARN` lines of the attempts: (attempt number, line).
fn attempts(stderr: &str) -> Vec<(u32, &str)> {
    stderr
        .lines()
        .filter(|line| line.contains("WARN schema: the database at "))
        .map(|line| {
            let rest = line.split_once("(attempt ").unwrap().1;
            let number = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap();
            (number.parse().unwrap(), line)
        })
        .collect()
}

#[test]
fn startup_on_a_closed_port_logs_every_attempt_and_the_refusal() {
    let port = closed_port();
    let started = Instant::now();
    let output = app(&format!("postgres://app:s3cret@127.0.0.1:{port}/app"), "1");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    // The app's pool waits up to 5 s for a connection; the policy gives up after 1 s.
    assert!(took < Duration::from_secs(15), "took {took:?}: {stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let attempts = attempts(&stderr);
    assert!(attempts.len() >= 2, "{stderr}");
    for (index, (number, line)) in attempts.iter().enumerate() {
        assert_eq!(*number as usize, index + 1, "{stderr}");
        assert!(
            line.contains(&format!(
                "the database at 127.0.0.1:{port} is not reachable"
            )),
            "{stderr}"
        );
        assert!(line.contains("Connection refused"), "{stderr}");
    }
    let (last, retrying) = attempts.split_last().unwrap();
    assert!(
        retrying
            .iter()
            .all(|(_, line)| line.contains("; retrying in "))
    );
    assert!(last.1.ends_with("; giving up"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: connecting to the database (127.0.0.1:{port}; {} attempts over ",
            attempts.len()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("): error communicating with database: Connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("timed out"), "{stderr}");
}

#[test]
fn startup_logs_its_attempts_until_a_late_server_answers() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((_database, url)) = runtime.block_on(ServerDatabase::create(Server::Postgres)) else {
        return;
    };
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (user, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    let server = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let server = server.to_socket_addrs().unwrap().next().unwrap();
    // Refuses for a moment, then forwards to the server.
    let port = closed_port();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let output = app(&format!("{scheme}://{at}127.0.0.1:{port}/{path}"), "20");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let attempts = attempts(&stderr);
    assert!(!attempts.is_empty(), "{stderr}");
    for (index, (number, line)) in attempts.iter().enumerate() {
        assert_eq!(*number as usize, index + 1, "{stderr}");
        assert!(line.contains("Connection refused"), "{stderr}");
        assert!(line.contains("; retrying in "), "{stderr}");
    }
    assert!(
        stderr.contains(&format!(
            "INFO schema: connected to the database at 127.0.0.1:{port} on attempt {}, after ",
            attempts.len() + 1
        )),
        "{stderr}"
    );
    assert!(stderr.contains("schema: applied "), "{stderr}");
}
