//! The connection to PostgreSQL dies while a migration's step is on the server.
//!
//! The sqlx runner sends a step (BEGIN, the file, its history row, COMMIT) as one
//! simple-query message. When the connection is lost before the reply, the server may
//! have received the whole message and committed it, or not: the runner cannot know, so
//! it must say so (`Error::OutcomeUnknown`, naming the file and telling the operator to
//! check the history), never claim a rollback (`Error::Migration`). This test cuts a TCP
//! proxy between the runner and the server while the slow migration sleeps, then checks
//! on a direct connection what the server really did and that the next start agrees with
//! the history: up to date if the step committed, applying it (once) if it did not.

use std::net::SocketAddr;
use std::time::Duration;

use schema_runtime::sqlx::postgres::PgPoolOptions;
use schema_runtime::sqlx::{self, PgPool};
use schema_runtime::{Environment, Error, Migrator, Policy};
use schema_tests::{SLOW_POSTGRES, Server, ServerDatabase};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The slow fixture's second file: it sleeps between its `CREATE TABLE` and its `INSERT`.
const SLOW_FILE: &str = "0002_slow_backfill.sql";

/// How often the server's state is looked at while waiting for it to change.
const POLL: Duration = Duration::from_millis(20);

/// A TCP forwarder to the server whose connections can all be cut at once.
struct Proxy {
    port: u16,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `server`.
    async fn start(server: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cut_seen) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            let mut stop = cut_seen.clone();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|cut| *cut) => break,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            connections.spawn(forward(client, server, cut_seen.clone()));
                        }
                        Err(_) => break,
                    },
                }
            }
            drop(listener);
            connections.join_all().await;
        });
        Proxy { port, cut, task }
    }

    /// Resets every forwarded connection, both towards the client and towards the
    /// server, and stops accepting; returns once every socket is closed.
    async fn cut(self) {
        self.cut.send_replace(true);
        self.task.await.unwrap();
    }
}

/// Copies bytes both ways between `client` and a new connection to `server` until either
/// side closes, or until the cut, which resets both sockets (no orderly shutdown).
async fn forward(mut client: TcpStream, server: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut upstream) = TcpStream::connect(server).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cut.wait_for(|cut| *cut) => {
            // A zero linger makes the close send RST: the network dropped the connection.
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
    }
}

fn migrator() -> Migrator {
    Migrator::with_policy(
        &SLOW_POSTGRES,
        Policy::new(Environment::Test).write_dev_lock(false),
    )
}

/// The server process running the slow file's sleep, once there is one.
async fn sleeping_backend(direct: &PgPool) -> i32 {
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'active' \
             AND query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()",
        )
        .fetch_optional(direct)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until server process `pid` has ended: it has finished the step (committed or
/// not), found its client gone, and released its session's migration lock.
async fn backend_ended(direct: &PgPool, pid: i32) {
    loop {
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(direct)
            .await
            .unwrap();
        if alive == 0 {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn history(direct: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CONCAT(version, ' ', kind, ' ', state) FROM schema_history ORDER BY id",
    )
    .fetch_all(direct)
    .await
    .unwrap()
}

/// The rows of the slow file's table, or `None` when the table does not exist.
async fn job_runs(direct: &PgPool) -> Option<i64> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('job_runs')::text")
        .fetch_one(direct)
        .await
        .unwrap();
    table?;
    Some(
        sqlx::query_scalar("SELECT COUNT(*) FROM job_runs")
            .fetch_one(direct)
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn postgres_connection_lost_during_a_step_reports_the_outcome_unknown() {
    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let direct = PgPool::connect(&url).await.unwrap();
    let proxy = Proxy::start(schema_tests::net::address(&url, 5432)).await;
    let proxied = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&schema_tests::net::on_port(&url, proxy.port))
        .unwrap();

    let migrator = migrator();
    let run = migrator.run_async(&proxied);
    tokio::pin!(run);
    // Drive the run until the server is inside the slow file's sleep: its whole step,
    // COMMIT included, has then reached the server.
    let pid = tokio::select! {
        result = &mut run => panic!("the run ended before its slow step was seen on the server: {result:?}"),
        pid = sleeping_backend(&direct) => pid,
    };
    proxy.cut().await;
    let error = run
        .await
        .expect_err("the run cannot succeed once its connection is gone");

    let message = error.to_string();
    eprintln!("the run reported: {message}");
    match &error {
        Error::OutcomeUnknown { version, path, .. } => {
            assert_eq!(version.get(), 2, "{message}");
            assert!(path.ends_with(SLOW_FILE), "{message}");
        }
        other => panic!("expected OutcomeUnknown naming version 2, got {other:?}"),
    }
    assert!(
        message.contains(&format!("{SLOW_FILE} (version 2)")),
        "names the file: {message}"
    );
    assert!(
        message.contains("whether it was applied is not known"),
        "{message}"
    );
    assert!(
        message.contains("run `db status`"),
        "tells what to check: {message}"
    );
    assert!(
        !message.contains("rolled back"),
        "must not claim a rollback: {message}"
    );

    // What the server really did, once its process for the step has ended.
    backend_ended(&direct, pid).await;
    let after_loss = history(&direct).await;
    let committed = match after_loss.as_slice() {
        [first, second] if first == "1 migration applied" && second == "2 migration applied" => {
            true
        }
        [first] if first == "1 migration applied" => false,
        other => panic!("version 2 must be all applied or not at all: {other:?}"),
    };
    // The file and its history row are one transaction: the table agrees with the row.
    assert_eq!(
        job_runs(&direct).await,
        committed.then_some(1),
        "the table of version 2 exists (with its row) exactly when its history row does"
    );
    eprintln!(
        "on the server, version 2 {}",
        if committed {
            "committed: it had received the whole step, COMMIT included"
        } else {
            "was rolled back"
        }
    );

    // The next start, on a direct connection, agrees with the history.
    let report = migrator
        .run_async(&direct)
        .await
        .expect("the next start succeeds");
    let applied: Vec<u64> = report.applied.iter().map(|a| a.version.get()).collect();
    if committed {
        assert!(
            report.is_up_to_date(),
            "version 2 committed, so the next start is up to date: {applied:?}"
        );
    } else {
        assert_eq!(
            applied,
            [2],
            "version 2 rolled back, so the next start applies it"
        );
    }
    assert_eq!(
        history(&direct).await,
        ["1 migration applied", "2 migration applied"],
        "each migration recorded exactly once"
    );
    assert_eq!(job_runs(&direct).await, Some(1), "version 2 ran once");

    proxied.close().await;
    direct.close().await;
}
