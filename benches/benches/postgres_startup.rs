//! Startup cost on PostgreSQL (loopback), beside the raw driver in the same run.
//!
//! - no-op check: 1,000 applied migrations; ours (`run_async` on an open pool of one
//!   connection) against one bare `SELECT version, checksum` of the history on the same
//!   pool.
//! - apply-all: 1,000 migrations into an empty schema, one transaction each with its
//!   history row, and the opt-in grouped mode (one transaction for the run), against the
//!   same SQL sent as one batch in one transaction.
//!
//! Needs `TEST_POSTGRES_URL` (or `BENCH_POSTGRES_URL`); without it, it says so and stops.
//! Run with `cargo bench -p schema-benches --bench postgres_startup`; results also go to
//! `target/bench-results/postgres_startup.json`.

use std::path::Path;
use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, PgPool, postgres::PgPoolOptions};
use schema_runtime::{Environment, Migrator, Policy};

const COUNT: usize = 1_000;

fn median(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    scenario: &str,
    ours: Vec<Duration>,
    floor: Vec<Duration>,
    target: f64,
) -> serde_json::Value {
    let (ours, ours_min, ours_max) = median(ours);
    let (floor, floor_min, floor_max) = median(floor);
    let ratio = ours.as_secs_f64() / floor.as_secs_f64();
    println!(
        "{scenario:<40} ours {:>9.3} ms [{:.3}–{:.3}]  floor {:>9.3} ms [{:.3}–{:.3}]  ratio {ratio:.3}x (target ≤ {target}x){}",
        ms(ours),
        ms(ours_min),
        ms(ours_max),
        ms(floor),
        ms(floor_min),
        ms(floor_max),
        if ratio <= target { "" } else { "  MISSED" }
    );
    serde_json::json!({"scenario": scenario, "ours_ms": ms(ours), "floor_ms": ms(floor), "ratio": ratio, "target": target})
}

async fn reset(pool: &PgPool) {
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(url) = std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .ok()
    else {
        eprintln!(
            "skipped: set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL) to a PostgreSQL server to run this benchmark"
        );
        return;
    };
    let quick = !std::env::args().any(|a| a == "--bench");
    // A database of its own, so the benchmark never touches anything else.
    let admin = PgPool::connect(&url).await.unwrap();
    let name = format!("schema_bench_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let bench_url = match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => url.clone(),
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&bench_url)
        .await
        .unwrap();
    let migrations = schema_benches::generated(COUNT);
    let policy = || Policy::new(Environment::Test).write_dev_lock(false);
    let mut results = Vec::new();

    // No-op startup on an up-to-date database.
    reset(&pool).await;
    Migrator::with_policy(migrations, policy())
        .run_async(&pool)
        .await
        .unwrap();
    let migrator = Migrator::with_policy(migrations, policy());
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..if quick { 3 } else { 200 } {
        let started = Instant::now();
        let report = migrator.run_async(&pool).await.unwrap();
        ours.push(started.elapsed());
        assert!(report.is_up_to_date());
        let started = Instant::now();
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, checksum FROM schema_history")
                .fetch_all(&pool)
                .await
                .unwrap();
        floor.push(started.elapsed());
        assert_eq!(rows.len(), COUNT);
    }
    results.push(report("no-op startup, 1,000 applied", ours, floor, 1.3));

    // Apply everything, per-migration transactions, grouped, and the one-batch floor.
    let batch: String = migrations.migrations().iter().map(|m| m.sql()).collect();
    let batch = format!("BEGIN;\n{batch}COMMIT;");
    let (mut ours, mut grouped, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..if quick { 1 } else { 7 } {
        reset(&pool).await;
        let started = Instant::now();
        let report = Migrator::with_policy(migrations, policy())
            .run_async(&pool)
            .await
            .unwrap();
        ours.push(started.elapsed());
        assert_eq!(report.applied.len(), COUNT);

        reset(&pool).await;
        let started = Instant::now();
        let report = Migrator::with_policy(migrations, policy().group_transactions(true))
            .run_async(&pool)
            .await
            .unwrap();
        grouped.push(started.elapsed());
        assert_eq!(report.applied.len(), COUNT);

        reset(&pool).await;
        let started = Instant::now();
        sqlx::raw_sql(sqlx::AssertSqlSafe(batch.clone()))
            .execute(&pool)
            .await
            .unwrap();
        floor.push(started.elapsed());
    }
    results.push(report(
        "apply 1,000, a transaction each",
        ours,
        floor.clone(),
        1.3,
    ));
    results.push(report(
        "apply 1,000, grouped (one transaction)",
        grouped,
        floor,
        1.05,
    ));

    pool.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    if !quick {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
        std::fs::create_dir_all(&out).unwrap();
        let json = serde_json::json!({"server": "PostgreSQL on loopback", "migrations": COUNT, "results": results});
        std::fs::write(
            out.join("postgres_startup.json"),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }
}
