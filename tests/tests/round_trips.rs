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
    // sqlx hands a connection back to its pool on a task of its own.
    while pool.num_idle() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    traffic.reset();
    let report = migrator.run_async(&pool).await.unwrap();
    assert!(report.is_up_to_date());
    assert_eq!(
        (traffic.connections(), traffic.round_trips()),
        (0, 1),
        "an up-to-date start on an idle pooled connection: no new connection, one round trip"
    );
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
    pool.close().await;
}

/// The idle connection a start takes without sqlx's test may have died (the server
/// restarted it, a firewall dropped it): the start takes another and succeeds.
#[tokio::test]
async fn postgres_start_on_a_dead_idle_connection_takes_another() {
    let Some((_db, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let (url, traffic) = counted_url(&url);
    let migrator = Migrator::with_policy(&PORTABLE, policy());
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    migrator.run_async(&pool).await.unwrap();
    let pid: i32 = schema_runtime::sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    while pool.num_idle() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
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
