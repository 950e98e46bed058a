//! `testing::check_reversible` beside the `#[sqlx::test]` way of testing down files: a
//! test that gets a fresh database, runs every migration, undoes them all
//! (`Migrator::undo(pool, 0)`) and runs them again. On the same generated migrations
//! (a table, an index and three rows each, and a down file that drops the table).
//!
//! What each one finds differs: the sqlx test fails only when a down file (or an up
//! applied again) fails; `check_reversible` also compares the schema after each down
//! with the schema before its up, object by object, and names what differs, so it
//! applies each migration twice, reverts it once and reads the catalog twice per
//! migration, and reports every problem instead of stopping at the first.
//!
//! - SQLite: ours in memory (`check_reversible_blocking`); sqlx on an in-memory pool of
//!   one connection.
//! - PostgreSQL (`BENCH_POSTGRES_URL` or `TEST_POSTGRES_URL`; skipped without): each
//!   sample creates a database and drops it after, as `#[sqlx::test]` does. sqlx's
//!   master pool is connected once before the clock, as `#[sqlx::test]` keeps one per
//!   process; ours connects to the server inside every call (that is its API).
//!
//! `cargo bench -p schema-benches --bench reversible`; `BENCH_SIZES` (default `10,100`)
//! and `BENCH_REPS` (default 5, the median is shown).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use schema_benches::{migration_name, migration_sql};
use schema_runtime::testing::{check_reversible, check_reversible_blocking};
use schema_runtime::{Checksum, Migration, Migrations, Version};
use sqlx::migrate::{Migration as SqlxMigration, MigrationType, Migrator as SqlxMigrator};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr};

/// `count` generated migrations, each with a down file that drops its table.
fn generated(count: u64) -> &'static Migrations {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let migrations: Vec<Migration> = (1..=count)
        .map(|i| {
            let sql = leak(migration_sql(i));
            Migration::new(
                Version::new(i),
                leak(migration_name(i)),
                sql,
                Checksum::of_file(sql.as_bytes()),
                leak(format!("migrations/{i:05}_{}.sql", migration_name(i))),
            )
            .with_down(
                leak(format!("DROP TABLE bench_{i};\n")),
                leak(format!("migrations/{i:05}_{}.down.sql", migration_name(i))),
                true,
            )
        })
        .collect();
    Box::leak(Box::new(Migrations::new(
        Box::leak(migrations.into_boxed_slice()),
        &[],
        "",
        "migrations",
    )))
}

/// The same migrations as sqlx's reversible pairs.
fn sqlx_migrator(migrations: &Migrations) -> SqlxMigrator {
    let mut pairs = Vec::new();
    for m in migrations.migrations() {
        let version = m.version().get() as i64;
        let down = m.down().expect("every generated migration has a down file");
        pairs.push(SqlxMigration::new(
            version,
            m.name().into(),
            MigrationType::ReversibleUp,
            AssertSqlSafe(m.sql()).into_sql_str(),
            false,
        ));
        pairs.push(SqlxMigration::new(
            version,
            m.name().into(),
            MigrationType::ReversibleDown,
            AssertSqlSafe(down.sql()).into_sql_str(),
            false,
        ));
    }
    SqlxMigrator::with_migrations(pairs)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn row(backend: &str, size: u64, ours: Duration, sqlx: Duration) {
    println!(
        "| {backend} | {size} | {} | {} | {:.2}x |",
        ms(ours),
        ms(sqlx),
        ours.as_secs_f64() / sqlx.as_secs_f64()
    );
}

async fn sqlx_postgres(admin: &PgPool, url: &str, migrator: &SqlxMigrator) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "sqlx_reversible_bench_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await
        .unwrap();
    let pool = PgPool::connect(&schema_benches::with_database(url, &name))
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();
    migrator.undo(&pool, 0).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(admin)
        .await
        .unwrap();
}

async fn sqlx_sqlite(migrator: &SqlxMigrator) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();
    migrator.undo(&pool, 0).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
}

fn main() {
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10,100".to_owned())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SIZES: numbers"))
        .collect();
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .map_or(5, |s| s.parse().expect("BENCH_REPS: a number"));
    let postgres = std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .ok()
        .filter(|url| !url.is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    println!("| Backend | Migrations | check_reversible | #[sqlx::test] run, undo, run | Ratio |");
    println!("|---|---|---|---|---|");
    for &size in &sizes {
        let migrations = generated(size);
        let migrator = sqlx_migrator(migrations);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let started = Instant::now();
            let report = check_reversible_blocking(migrations).unwrap();
            ours.push(started.elapsed());
            assert!(report.is_reversible(), "{report}");
            let started = Instant::now();
            runtime.block_on(sqlx_sqlite(&migrator));
            theirs.push(started.elapsed());
        }
        row("SQLite (memory)", size, median(ours), median(theirs));

        let Some(url) = &postgres else {
            continue;
        };
        let admin = runtime.block_on(PgPool::connect(url)).unwrap();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let started = Instant::now();
            let report = runtime.block_on(check_reversible(migrations, url)).unwrap();
            ours.push(started.elapsed());
            assert!(report.is_reversible(), "{report}");
            let started = Instant::now();
            runtime.block_on(sqlx_postgres(&admin, url, &migrator));
            theirs.push(started.elapsed());
        }
        runtime.block_on(admin.close());
        row("PostgreSQL", size, median(ours), median(theirs));
    }
    if postgres.is_none() {
        eprintln!("PostgreSQL skipped: set BENCH_POSTGRES_URL or TEST_POSTGRES_URL");
    }
}
