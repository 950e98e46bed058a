//! Round trips of a PostgreSQL start, counted on the wire by a forwarder that reads the
//! client's side of the protocol (each `Query` or `Sync` is one wait for the server): an
//! up-to-date start costs one round trip, on a pool with an idle connection and on a new
//! pool alike, and opens no connection but the one it uses.

use schema_runtime::sqlx::postgres::PgPoolOptions;
use schema_runtime::{Environment, Migrator, Policy};
use schema_tests::net::counted_url;
use schema_tests::{PORTABLE, Server, ServerDatabase};

fn policy() -> Policy {
    Policy::new(Environment::Test).write_dev_lock(false)
}

#[tokio::test]
async fn postgres_up_to_date_start_is_one_round_trip() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let (url, traffic) = counted_url(&url);
    let migrator = Migrator::with_policy(&PORTABLE, policy());

    // A pool as applications keep it, with a connection that has served before.
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    migrator.run_async(&pool).await.unwrap();
    wait_idle(&pool).await;
    traffic.reset();
    let report = migrator.run_async(&pool).await.unwrap();
    assert!(report.is_up_to_date());
    assert_eq!(
        (traffic.connections(), traffic.round_trips()),
        (0, 1),
        "an up-to-date start on an idle pooled connection: no new connection, one round trip"
    );
    // The run that migrated prepared the read (under the lock); this start executes it.
    read_by(&traffic, Read::Execute);
    pool.close().await;

    // A new pool, as a process starting up has: one connection, one round trip.
    traffic.reset();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&url)
        .unwrap();
    let report = migrator.run_async(&pool).await.unwrap();
    assert!(report.is_up_to_date());
    assert_eq!(
        (traffic.connections(), traffic.round_trips()),
        (1, 1),
        "an up-to-date start on a new pool: one connection, one round trip"
    );
    read_by(&traffic, Read::Simple);
    pool.close().await;
}

/// How a start read the history, as the wire shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Read {
    /// One simple-protocol query.
    Simple,
    /// Prepared (a `Parse`), then executed.
    Prepare,
    /// A statement prepared before, executed: neither a query nor a `Parse`.
    Execute,
}

fn read_by(traffic: &schema_tests::net::Traffic, read: Read) {
    let queries = traffic.queries();
    let seen = match (queries.as_slice(), traffic.parses()) {
        ([query], 0) if query.starts_with("SELECT version, checksum") => Read::Simple,
        ([], 1) => Read::Prepare,
        ([], 0) => Read::Execute,
        _ => panic!(
            "expected {read:?}: {queries:?} and {} Parse messages",
            traffic.parses()
        ),
    };
    assert_eq!(seen, read, "{queries:?}");
}

/// The start as a process makes it: `PgPool::connect` opened one connection, and the
/// simple protocol reads in one round trip. The process's next start on that pool
/// prepares the read (a round trip of its own), and every start after executes it.
#[tokio::test]
async fn postgres_starts_on_one_pool_prepare_the_read_once() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let migrator = Migrator::with_policy(&PORTABLE, policy());
    let setup = schema_runtime::sqlx::PgPool::connect(&url).await.unwrap();
    migrator.run_async(&setup).await.unwrap();
    setup.close().await;

    let (pool, traffic) = counted_pool(&url).await;
    for (read, round_trips) in [
        (Read::Simple, 1),
        (Read::Prepare, 2),
        (Read::Execute, 1),
        (Read::Execute, 1),
    ] {
        wait_idle(&pool).await;
        traffic.reset();
        let report = migrator.run_async(&pool).await.unwrap();
        assert!(report.is_up_to_date());
        assert_eq!(traffic.round_trips(), round_trips, "{read:?}");
        read_by(&traffic, read);
    }
    pool.close().await;
}

/// Preparing pays only up to a size (the server plans once, but a prepared read costs
/// more per row): a pool whose history is longer than that keeps the simple protocol,
/// one round trip every start, and never prepares.
#[tokio::test]
async fn postgres_start_with_a_long_history_keeps_the_simple_protocol() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let long = schema_tests::set_made_at_run_time(
        (1..=2_600).map(|version| (version, "select", format!("SELECT {version};\n"))),
    );
    let migrator = Migrator::with_policy(long, policy().group_transactions(true));
    let (pool, traffic) = counted_pool(&url).await;
    migrator.run_async(&pool).await.unwrap();
    for _ in 0..3 {
        wait_idle(&pool).await;
        traffic.reset();
        let report = migrator.run_async(&pool).await.unwrap();
        assert!(report.is_up_to_date());
        assert_eq!(traffic.round_trips(), 1);
        read_by(&traffic, Read::Simple);
    }
    pool.close().await;
}

/// A connection that lost the prepared read (the application ran `DISCARD ALL`), or
/// whose statement no longer fits the table (a column's type changed), costs the start
/// one more round trip, not a failure, and the pool is read with the simple protocol
/// from then on.
#[tokio::test]
async fn postgres_start_after_the_prepared_read_was_lost_or_went_stale_reads_simply() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let migrator = Migrator::with_policy(&PORTABLE, policy());
    for change in [
        "DISCARD ALL",
        "ALTER TABLE schema_history ALTER COLUMN checksum TYPE VARCHAR(64)",
    ] {
        let (pool, traffic) = counted_pool(&url).await;
        // The first start reads simply, the second prepares.
        for _ in 0..2 {
            migrator.run_async(&pool).await.unwrap();
            wait_idle(&pool).await;
        }
        schema_runtime::sqlx::raw_sql(change)
            .execute(&pool)
            .await
            .unwrap();
        for (read, round_trips) in [(Read::Execute, 2), (Read::Simple, 1)] {
            wait_idle(&pool).await;
            traffic.reset();
            let report = migrator.run_async(&pool).await.unwrap();
            assert!(report.is_up_to_date(), "after {change}");
            assert_eq!(traffic.round_trips(), round_trips, "after {change}");
            if read == Read::Simple {
                read_by(&traffic, read);
            } else {
                // The prepared statement failed, then the simple query read.
                assert_eq!(traffic.queries().len(), 1, "after {change}");
            }
        }
        pool.close().await;
    }
}

/// A pool of one connection, opened, to `url` through a counting forwarder.
async fn counted_pool(
    url: &str,
) -> (
    schema_runtime::sqlx::PgPool,
    std::sync::Arc<schema_tests::net::Traffic>,
) {
    let (url, traffic) = counted_url(url);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    (pool, traffic)
}

/// sqlx hands a connection back to its pool on a task of its own.
async fn wait_idle(pool: &schema_runtime::sqlx::PgPool) {
    while pool.num_idle() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The idle connection a start takes without sqlx's test may have died (the server
/// restarted it, a firewall dropped it): the start takes another and succeeds.
#[tokio::test]
async fn postgres_start_on_a_dead_idle_connection_takes_another() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let (pool, traffic) = counted_pool(&url).await;
    let migrator = Migrator::with_policy(&PORTABLE, policy());
    migrator.run_async(&pool).await.unwrap();
    let pid: i32 = schema_runtime::sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    wait_idle(&pool).await;
    // Ended from the server's side while idle in the pool.
    let admin = schema_runtime::sqlx::PgPool::connect(&Server::Postgres.url().unwrap())
        .await
        .unwrap();
    let ended: bool = schema_runtime::sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(ended);
    admin.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    traffic.reset();
    let report = migrator.run_async(&pool).await.unwrap();
    assert!(report.is_up_to_date());
    assert!(
        traffic.connections() >= 1,
        "a new connection replaced the dead one"
    );
    pool.close().await;
}
