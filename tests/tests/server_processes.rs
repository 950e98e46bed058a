//! Real processes against the real servers: many replicas starting at once, and a
//! process killed (SIGKILL) in the middle of a long migration.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, MySqlPool, PgPool};
use schema_tests::{Server, redact, unique_database_name, with_database};

const RUNNER: &str = env!("CARGO_BIN_EXE_migrate-fixture");

/// A database on a server for one test, dropped at the end.
struct Fresh {
    server: Server,
    admin_url: String,
    name: String,
    url: String,
}

impl Fresh {
    async fn create(server: Server) -> Option<Fresh> {
        let admin_url = server.url()?;
        let name = unique_database_name();
        admin(server, &admin_url, &format!("CREATE DATABASE {name}")).await;
        let url = with_database(&admin_url, &name);
        Some(Fresh {
            server,
            admin_url,
            name,
            url,
        })
    }

    fn spawn(&self, fixture: &str) -> Child {
        Command::new(RUNNER)
            .arg(fixture)
            .env("DATABASE_URL", &self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn run(&self, fixture: &str) -> Output {
        self.spawn(fixture).wait_with_output().unwrap()
    }

    async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.server {
            Server::Postgres => {
                let pool = PgPool::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, String>(sql)
                    .fetch_all(&pool)
                    .await
                    .unwrap()
            }
            Server::Mysql => {
                let pool = MySqlPool::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, String>(sql)
                    .fetch_all(&pool)
                    .await
                    .unwrap()
            }
        }
    }

    async fn history(&self) -> Vec<String> {
        self.strings(
            "SELECT CONCAT(version, ' ', kind, ' ', state) FROM schema_history ORDER BY id",
        )
        .await
    }

    async fn drop_database(self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        admin(self.server, &self.admin_url, &sql).await;
    }
}

async fn admin(server: Server, url: &str, statement: &str) {
    let sql = sqlx::AssertSqlSafe(statement.to_owned());
    let result = match server {
        Server::Postgres => match PgPool::connect(url).await {
            Ok(pool) => sqlx::raw_sql(sql).execute(&pool).await.map(drop),
            Err(e) => Err(e),
        },
        Server::Mysql => match MySqlPool::connect(url).await {
            Ok(pool) => sqlx::raw_sql(sql).execute(&pool).await.map(drop),
            Err(e) => Err(e),
        },
    };
    if let Err(error) = result {
        panic!("{statement} on {}: {error}", redact(url));
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn sixteen_processes_at_once(server: Server) {
    let Some(db) = Fresh::create(server).await else {
        return;
    };
    let children: Vec<Child> = (0..16).map(|_| db.spawn("portable")).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    assert_eq!(
        db.history().await,
        [
            "1 migration applied",
            "2 migration applied",
            "3 migration applied"
        ],
        "every migration recorded exactly once"
    );
    assert_eq!(
        db.strings("SELECT value FROM schema_meta WHERE key_name = 'environment'")
            .await,
        ["test"]
    );
    assert_eq!(
        db.strings("SELECT key_name FROM schema_meta WHERE key_name = 'fingerprint'")
            .await
            .len(),
        1,
        "one fingerprint, recorded by whichever process migrated"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn postgres_sixteen_processes_starting_at_once() {
    sixteen_processes_at_once(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_sixteen_processes_starting_at_once() {
    sixteen_processes_at_once(Server::Mysql).await;
}

/// Starts the slow fixture and kills the process with SIGKILL once the server is
/// running its sleep.
async fn kill_during_the_slow_migration(db: &Fresh, fixture: &str, sleeping: &str) {
    let mut child = db.spawn(fixture);
    let started = Instant::now();
    loop {
        if db.strings(sleeping).await.first().is_some_and(|n| n != "0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow migration never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process ended before it could be killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[tokio::test]
async fn postgres_start_after_a_killed_migration_applies_it_cleanly() {
    let Some(db) = Fresh::create(Server::Postgres).await else {
        return;
    };
    let sleeping = "SELECT CONCAT(COUNT(*), '') FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()";
    kill_during_the_slow_migration(&db, "slow_postgres", sleeping).await;
    // The server had the whole step (BEGIN, the file, its row, COMMIT) in one message and
    // does not notice the dead client during the sleep: it may well commit it. Whatever
    // it does, the history and the table agree once its session has ended.
    let started = Instant::now();
    while db.strings(sleeping).await.first().is_some_and(|n| n != "0") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the dead session never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tables = "SELECT CONCAT(COUNT(*), '') FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'job_runs'";
    match db.history().await.as_slice() {
        [one] if one == "1 migration applied" => assert_eq!(db.strings(tables).await, ["0"]),
        [_, two] if two == "2 migration applied" => assert_eq!(db.strings(tables).await, ["1"]),
        other => panic!("a half-kept step: {other:?}"),
    }
    // The next start applies it if it was not kept, and never twice.
    let output = db.run("slow_postgres");
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        db.history().await,
        ["1 migration applied", "2 migration applied"]
    );
    assert_eq!(
        db.strings("SELECT CONCAT(COUNT(*), '') FROM job_runs")
            .await,
        ["1"]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn mysql_start_after_a_killed_migration_reports_it_half_applied() {
    let Some(db) = Fresh::create(Server::Mysql).await else {
        return;
    };
    let sleeping = "SELECT CONCAT(COUNT(*), '') FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE '%SLEEP(4)%' AND ID <> CONNECTION_ID()";
    kill_during_the_slow_migration(&db, "slow_mysql", sleeping).await;
    assert_eq!(
        db.history().await,
        ["1 migration applied", "2 migration started"]
    );
    let output = db.run("slow_mysql");
    assert!(!output.status.success());
    let message = text(&output);
    assert!(
        message.contains(
            "fixtures/slow_mysql/0002_slow_backfill.sql (version 2) was started and never finished"
        ),
        "{message}"
    );
    assert!(
        message.contains("db repair 2 --resolved --reason"),
        "{message}"
    );
    assert_eq!(
        db.history().await,
        ["1 migration applied", "2 migration started"],
        "nothing more ran"
    );
    db.drop_database().await;
}
