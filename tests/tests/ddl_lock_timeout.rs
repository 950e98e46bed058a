//! A migration that alters a table a long transaction is reading, with real sessions.
//!
//! A long read transaction holds the table's weakest lock (PostgreSQL's ACCESS SHARE,
//! MariaDB's shared metadata lock) for a few seconds. The migration's `ALTER TABLE`
//! queues behind it for its exclusive lock, and every query on the table that comes
//! after queues behind the `ALTER TABLE`: without a DDL lock timeout the application's
//! readers wait for the whole of the long transaction. With
//! `Policy::ddl_lock_timeout(1s)` the `ALTER TABLE` gives up after a second, the readers
//! go on, and the migration is retried with backoff until the long transaction has
//! ended. Both runs print their readers' longest wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use schema_runtime::sqlx::pool::{PoolConnection, PoolOptions};
use schema_runtime::sqlx::{self, Database, Executor, Pool};
use schema_runtime::sqlx_backend::Backend;
use schema_runtime::{Environment, Error, Migrations, Migrator, Policy, Report, Version};
use schema_tests::{Server, ServerDatabase};

/// 1: `accounts`; 2: `ALTER TABLE accounts ADD COLUMN`.
static ALTER_BUSY: Migrations =
    schema_runtime::embed_migrations!("fixtures/alter_busy", dialects = "postgres, mysql");

/// How long the long read transaction lasts.
const HOLD: Duration = Duration::from_secs(4);
/// When the migration starts, after the long transaction began.
const MIGRATION_AFTER: Duration = Duration::from_millis(300);
/// The readers of the application, each on its own connection.
const READERS: usize = 3;

fn migrator(ddl_lock_timeout: Option<Duration>) -> Migrator {
    let mut policy = Policy::new(Environment::Test).write_dev_lock(false);
    if let Some(timeout) = ddl_lock_timeout {
        policy = policy
            .ddl_lock_timeout(timeout)
            .ddl_lock_deadline(Duration::from_secs(30));
    }
    Migrator::with_policy(&ALTER_BUSY, policy)
}

async fn exec<DB>(conn: &mut PoolConnection<DB>, sql: &str)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut **conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What one run of the scenario saw.
struct Outcome {
    run: Result<Report, Error>,
    /// How long the migrating run took.
    took: Duration,
    /// The migration finished this long after the long transaction committed (negative:
    /// before it, which cannot be).
    after_commit: Option<Duration>,
    /// The longest any reader's query waited.
    readers_max: Duration,
    /// How many queries the readers made.
    queries: usize,
}

/// Migration 1 applied, a long read of `accounts`, readers querying it in a loop, and
/// migration 2 run meanwhile with `ddl_lock_timeout`.
async fn scenario<DB>(url: &str, ddl_lock_timeout: Option<Duration>) -> Outcome
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let pool: Pool<DB> = PoolOptions::new()
        .max_connections(READERS as u32 + 3)
        .connect(url)
        .await
        .unwrap();
    migrator(None)
        .run_async_to(&pool, Some(Version::new(1)))
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    exec(
        &mut conn,
        "INSERT INTO accounts (id, name) VALUES (1, 'ada')",
    )
    .await;

    // The long transaction: its read keeps the table's shared lock until it commits.
    let mut holder = pool.acquire().await.unwrap();
    exec(&mut holder, "BEGIN").await;
    exec(&mut holder, "SELECT * FROM accounts").await;
    let holding = async {
        tokio::time::sleep(HOLD).await;
        exec(&mut holder, "COMMIT").await;
        Instant::now()
    };

    let stop = AtomicBool::new(false);
    let reader = || async {
        let mut conn = pool.acquire().await.unwrap();
        let (mut longest, mut queries) = (Duration::ZERO, 0);
        while !stop.load(Ordering::Relaxed) {
            let asked = Instant::now();
            exec(&mut conn, "SELECT COUNT(*) FROM accounts").await;
            longest = longest.max(asked.elapsed());
            queries += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (longest, queries)
    };

    let migrating = async {
        tokio::time::sleep(MIGRATION_AFTER).await;
        let started = Instant::now();
        let run = migrator(ddl_lock_timeout).run_async(&pool).await;
        let (took, done) = (started.elapsed(), Instant::now());
        // The readers go on a little after the run, then stop.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        (run, took, done)
    };

    let everything = async { tokio::join!(migrating, holding, reader(), reader(), reader()) };
    let ((run, took, done), committed, r1, r2, r3) =
        tokio::time::timeout(Duration::from_secs(60), everything)
            .await
            .expect("the scenario ended within a minute");
    let readers = [r1, r2, r3];
    Outcome {
        run,
        took,
        after_commit: done.checked_duration_since(committed),
        readers_max: readers.iter().map(|r| r.0).max().unwrap(),
        queries: readers.iter().map(|r| r.1).sum(),
    }
}

/// The run with the timeout: the readers never wait much over it, and the migration
/// applies once the long transaction has ended, after retries.
fn check_with_timeout(server: &str, outcome: &Outcome) {
    let report = outcome.run.as_ref().expect("the migration applies");
    eprintln!(
        "{server}, ddl_lock_timeout 1s: readers' longest wait {:?} over {} queries; \
         migration applied in {:?} after {} retries, {:?} after the long transaction committed",
        outcome.readers_max,
        outcome.queries,
        outcome.took,
        report.ddl_lock_retries,
        outcome.after_commit,
    );
    assert_eq!(report.applied.len(), 1, "{report}");
    assert!(
        report.ddl_lock_retries >= 1,
        "the ALTER TABLE timed out at least once and was retried: {report}"
    );
    assert!(
        outcome.readers_max < Duration::from_millis(2500),
        "the readers waited {:?}, more than the 1 s timeout allows",
        outcome.readers_max
    );
    // It cannot have applied before the long read ended (allowing for the two
    // connections' replies arriving in either order).
    assert!(
        outcome.took + MIGRATION_AFTER + Duration::from_millis(500) >= HOLD,
        "applied after {:?}, while the long transaction held the table for {HOLD:?}",
        outcome.took
    );
}

/// The same without the timeout: the readers queue behind the ALTER TABLE for what is
/// left of the long transaction.
fn check_without_timeout(server: &str, outcome: &Outcome) {
    let report = outcome.run.as_ref().expect("the migration applies");
    eprintln!(
        "{server}, no ddl_lock_timeout: readers' longest wait {:?} over {} queries; \
         migration applied in {:?}",
        outcome.readers_max, outcome.queries, outcome.took,
    );
    assert_eq!(report.applied.len(), 1, "{report}");
    assert_eq!(report.ddl_lock_retries, 0);
    assert!(
        outcome.readers_max > HOLD - MIGRATION_AFTER - Duration::from_millis(1500),
        "the readers waited only {:?}: the ALTER TABLE did not queue them behind the long transaction",
        outcome.readers_max
    );
}

#[tokio::test]
async fn postgres_readers_wait_at_most_the_ddl_lock_timeout_and_the_migration_applies_after() {
    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let outcome = scenario::<sqlx::Postgres>(&url, Some(Duration::from_secs(1))).await;
    check_with_timeout("PostgreSQL", &outcome);

    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let outcome = scenario::<sqlx::Postgres>(&url, None).await;
    check_without_timeout("PostgreSQL", &outcome);
}

#[tokio::test]
async fn mysql_readers_wait_at_most_the_ddl_lock_timeout_and_the_migration_applies_after() {
    let Some((_database, url)) = ServerDatabase::create(Server::Mysql).await else {
        return;
    };
    let outcome = scenario::<sqlx::MySql>(&url, Some(Duration::from_secs(1))).await;
    check_with_timeout("MariaDB", &outcome);

    let Some((_database, url)) = ServerDatabase::create(Server::Mysql).await else {
        return;
    };
    let outcome = scenario::<sqlx::MySql>(&url, None).await;
    check_without_timeout("MariaDB", &outcome);
}

/// PostgreSQL, `no-transaction` files: 1 `accounts`; 2 `ALTER TABLE` then
/// `CREATE INDEX CONCURRENTLY`; 3 `CREATE INDEX CONCURRENTLY` alone.
static ALTER_BUSY_NO_TRANSACTION: Migrations =
    schema_runtime::embed_migrations!("fixtures/alter_busy_no_transaction", dialects = "postgres");

#[tokio::test]
async fn postgres_a_no_transaction_file_is_retried_only_when_that_is_safe() {
    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let migrator = |timeout: Option<Duration>| {
        let mut policy = Policy::new(Environment::Test).write_dev_lock(false);
        if let Some(timeout) = timeout {
            policy = policy
                .ddl_lock_timeout(timeout)
                .ddl_lock_deadline(Duration::from_secs(30));
        }
        Migrator::with_policy(&ALTER_BUSY_NO_TRANSACTION, policy)
    };
    let others: Pool<sqlx::Postgres> = PoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    // The migrations' own connection, to see what they leave on it.
    let own: Pool<sqlx::Postgres> = PoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    migrator(None)
        .run_async_to(&own, Some(Version::new(1)))
        .await
        .unwrap();
    let mut holder = others.acquire().await.unwrap();
    exec(
        &mut holder,
        "INSERT INTO accounts (id, name) VALUES (1, 'ada')",
    )
    .await;

    // The first statement (ALTER TABLE) times out behind a long read: nothing of the
    // file ran, so it is retried, and applies once the read ends.
    exec(&mut holder, "BEGIN").await;
    exec(&mut holder, "SELECT * FROM accounts").await;
    let holding = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        exec(&mut holder, "COMMIT").await;
    };
    let bounded = migrator(Some(Duration::from_secs(1)));
    let (run, ()) = tokio::join!(bounded.run_async_to(&own, Some(Version::new(2))), holding);
    let report = run.expect("the no-transaction file applies after retries");
    eprintln!("no-transaction, first statement timed out: {report}");
    assert!(report.ddl_lock_retries >= 1, "{report}");
    assert_eq!(report.applied.len(), 1);
    // The session's own lock_timeout is back as it was.
    let lock_timeout: String = sqlx::query_scalar("SHOW lock_timeout")
        .fetch_one(&own)
        .await
        .unwrap();
    assert_eq!(lock_timeout, "0");

    // CREATE INDEX CONCURRENTLY times out behind a writer: it may leave an invalid
    // index, so it is not retried and the file stays half-applied.
    exec(&mut holder, "BEGIN").await;
    exec(&mut holder, "UPDATE accounts SET name = name").await;
    let started = Instant::now();
    let run = tokio::time::timeout(Duration::from_secs(30), bounded.run_async(&own))
        .await
        .expect("the run gave up instead of waiting for the writer");
    exec(&mut holder, "COMMIT").await;
    let error = run.expect_err("a timed-out CONCURRENTLY is not retried");
    let message = error.to_string();
    eprintln!(
        "no-transaction, CONCURRENTLY timed out after {:?}: {message}",
        started.elapsed()
    );
    assert!(message.contains("not retried"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let state: String = sqlx::query_scalar("SELECT state FROM schema_history WHERE version = 3")
        .fetch_one(&own)
        .await
        .unwrap();
    assert_eq!(state, "started");
}
