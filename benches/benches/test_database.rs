//! `testing::TestDatabase` beside the `#[sqlx::test]` way of giving a test its database:
//! create a fresh database and run every migration in it, then drop it after the test.
//! On the same generated migrations (a table, an index and three rows each), at 100, 300
//! and 1,000 migrations, on SQLite and PostgreSQL.
//!
//! - The `#[sqlx::test]` way: PostgreSQL: `CREATE DATABASE` on a server connection made
//!   once before the clock (as `#[sqlx::test]` keeps a master pool per process), a pool on
//!   the new database, every migration run by `Migrator::run_async` (test environment),
//!   the pool closed and the database dropped. SQLite: a new temporary file migrated
//!   through rusqlite (`Migrator::run`), then removed. The migrator is ours in both, so
//!   only the way of getting a migrated database differs.
//! - Ours: `TestDatabase::new(&MIGRATIONS, url)` then dropped, measured after the
//!   template exists (one warm-up call first; its cost, which makes the template once per
//!   migration set, is shown apart), two ways: one test at a time with the background
//!   work of the last (spares made, removals) let finish untimed before it, as a test's
//!   own run time lets it (the per-test cost with a spare ready); and tests back to back,
//!   timed until their background work is done too (the server's whole cost of a test,
//!   when tests are too short to hide it).
//!
//! Each run salts the migrations with a comment naming the run, so that a template a
//! previous run left is not reused, and removes its templates at the end.
//!
//! `TEST_POSTGRES_URL=postgres://… cargo bench -p schema-benches --bench test_database`
//! (`BENCH_POSTGRES_URL` wins; PostgreSQL is skipped, saying so, without either).
//! `BENCH_SIZES` (default `100,300,1000`) and `BENCH_REPS` (default 5; 3 from 1,000
//! migrations up) choose the work: that many runs of the `#[sqlx::test]` way and twice
//! as many plus one of ours (cheap, and on PostgreSQL noisy: a copy may meet a
//! checkpoint); the median is shown.
//! Without `--bench` (as `cargo test --benches` runs it) it does one round at 5
//! migrations and checks no target.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use schema_runtime::rusqlite::Connection;
use schema_runtime::testing::{TestDatabase, settle};
use schema_runtime::{Environment, Migrations, Migrator, Policy, redact_url};
use sqlx::{AssertSqlSafe, PgPool};

fn policy() -> Policy {
    Policy::new(Environment::Test).write_dev_lock(false)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn next_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `#[sqlx::test]` way on PostgreSQL: a new database, migrated, dropped.
async fn fresh_postgres(admin: &PgPool, url: &str, migrations: &'static Migrations) {
    let name = next_name("sqlx_test_bench");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await
        .unwrap();
    let pool = PgPool::connect(&schema_benches::with_database(url, &name))
        .await
        .unwrap();
    Migrator::with_policy(migrations, policy())
        .run_async(&pool)
        .await
        .unwrap();
    pool.close().await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(admin)
        .await
        .unwrap();
}

/// The `#[sqlx::test]` way on SQLite: a new file, migrated, removed.
fn fresh_sqlite(migrations: &'static Migrations) {
    let path = std::env::temp_dir().join(format!("{}.db", next_name("sqlx_test_bench")));
    let mut conn = Connection::open(&path).unwrap();
    Migrator::with_policy(migrations, policy())
        .run(&mut conn)
        .unwrap();
    drop(conn);
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(format!("{}.schema-lock", path.display()));
}

/// Removes the template a run made and its spare copies: the files on SQLite, the
/// databases on PostgreSQL.
async fn remove_template(backend: Backend, template: &str, admin: Option<&PgPool>) {
    settle();
    let path = PathBuf::from(template);
    let key = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(template)
        .trim_start_matches("schema_tpl_")
        .to_owned();
    let spare_prefix = format!("schema_tsp_{key}_");
    match (backend, admin) {
        (Backend::Sqlite, _) => {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("lock"));
            let folder = path.parent().expect("a template is in a folder");
            for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&spare_prefix)
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        (Backend::Postgres, Some(admin)) => {
            let spares: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            )
            .bind(&spare_prefix)
            .fetch_all(admin)
            .await
            .unwrap_or_default();
            let mut sql = vec![
                format!("ALTER DATABASE {template} WITH IS_TEMPLATE false"),
                format!("DROP DATABASE IF EXISTS {template}"),
            ];
            sql.extend(
                spares
                    .iter()
                    .map(|spare| format!("DROP DATABASE IF EXISTS {spare}")),
            );
            for sql in sql {
                if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(admin).await {
                    eprintln!("warning: template {template} not removed: {e}");
                }
            }
        }
        (Backend::Postgres, None) => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite (file)",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

struct Row {
    backend: Backend,
    size: u64,
    fresh: Duration,
    ours: Duration,
    back_to_back: Duration,
    template: Duration,
}

fn main() {
    // `cargo bench` hands every bench target the same filters: none naming this one
    // means another target was asked for.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "test_database".contains(f.as_str())) {
        return;
    }
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = if quick {
        vec![5]
    } else {
        std::env::var("BENCH_SIZES")
            .unwrap_or_else(|_| "100,300,1000".to_owned())
            .split(',')
            .map(|s| s.trim().parse().expect("BENCH_SIZES: numbers"))
            .collect()
    };
    let reps: usize = if quick {
        1
    } else {
        std::env::var("BENCH_REPS")
            .ok()
            .map_or(5, |s| s.parse().expect("BENCH_REPS: a number"))
    };
    let postgres = std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .ok()
        .filter(|url| !url.is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = postgres
        .as_ref()
        .map(|url| runtime.block_on(PgPool::connect(url)).unwrap());
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let run = format!("test_database bench run {}-{stamp}", std::process::id());

    let mut backends = vec![(Backend::Sqlite, "sqlite:".to_owned())];
    if let Some(url) = &postgres {
        backends.push((Backend::Postgres, url.clone()));
    }
    let mut rows = Vec::new();
    for (backend, url) in &backends {
        let backend = *backend;
        for &size in &sizes {
            eprintln!(
                "{} at {size} migrations ({})",
                backend.label(),
                redact_url(url)
            );
            let migrations = schema_benches::generated_salted(size, &run);
            let fresh_reps = if size >= 1000 { reps.min(3) } else { reps };

            // The template, made once: the first call's cost.
            let started = Instant::now();
            let first = runtime
                .block_on(TestDatabase::new(migrations, url))
                .unwrap();
            let template_cost = started.elapsed();
            let template = first.template().to_owned();
            runtime.block_on(first.close()).unwrap();

            // A test as users write it: the database made, then dropped (its removal
            // handed to the background). Before each, the background work of the last
            // one is let finish, untimed, as a test's own run time would let it: the
            // per-test cost with a spare ready.
            let mut ours = Vec::new();
            for _ in 0..2 * reps + 1 {
                settle();
                let started = Instant::now();
                drop(
                    runtime
                        .block_on(TestDatabase::new(migrations, url))
                        .unwrap(),
                );
                ours.push(started.elapsed());
            }
            // The same tests back to back with nothing between them, timed until their
            // background work (spares, removals) is done too: the server's whole cost
            // of a test, when tests are too short to hide it.
            settle();
            let started = Instant::now();
            let count = 2 * reps + 1;
            for _ in 0..count {
                drop(
                    runtime
                        .block_on(TestDatabase::new(migrations, url))
                        .unwrap(),
                );
            }
            settle();
            let back_to_back = started.elapsed() / count as u32;
            eprintln!(
                "  ours: {} per test with a spare ready, {} back to back",
                ms(median(ours.clone())),
                ms(back_to_back)
            );
            let mut fresh = Vec::new();
            for _ in 0..fresh_reps {
                let started = Instant::now();
                match (backend, &admin) {
                    (Backend::Sqlite, _) => fresh_sqlite(migrations),
                    (Backend::Postgres, Some(admin)) => {
                        runtime.block_on(fresh_postgres(admin, url, migrations))
                    }
                    (Backend::Postgres, None) => unreachable!("no server, no PostgreSQL row"),
                }
                fresh.push(started.elapsed());
            }
            runtime.block_on(remove_template(backend, &template, admin.as_ref()));
            rows.push(Row {
                backend,
                size,
                fresh: median(fresh),
                ours: median(ours),
                back_to_back,
                template: template_cost,
            });
        }
    }
    if let Some(admin) = admin {
        runtime.block_on(admin.close());
    }

    println!(
        "| Backend | Migrations | `#[sqlx::test]` way per test | `TestDatabase` per test | Ratio | Back to back, per test | Ratio | Template, once |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {:.3}x | {} | {:.3}x | {} |",
            row.backend.label(),
            row.size,
            ms(row.fresh),
            ms(row.ours),
            row.ours.as_secs_f64() / row.fresh.as_secs_f64(),
            ms(row.back_to_back),
            row.back_to_back.as_secs_f64() / row.fresh.as_secs_f64(),
            ms(row.template),
        );
    }
    if postgres.is_none() {
        eprintln!("PostgreSQL skipped: set BENCH_POSTGRES_URL or TEST_POSTGRES_URL");
    }
    if quick {
        return;
    }

    // The targets: at most a tenth of the `#[sqlx::test]` way at 300 migrations,
    // and flat (the largest size within 1.5x of the smallest).
    println!();
    for (backend, _) in &backends {
        let of: Vec<&Row> = rows.iter().filter(|r| r.backend == *backend).collect();
        if let Some(row) = of.iter().find(|r| r.size == 300) {
            let ratio = row.ours.as_secs_f64() / row.fresh.as_secs_f64();
            println!(
                "- {}: at 300 migrations ours is {ratio:.3}x of the `#[sqlx::test]` way (target ≤ 0.1): {}",
                backend.label(),
                if ratio <= 0.1 { "met" } else { "missed" }
            );
        }
        let smallest = of.iter().min_by_key(|r| r.size);
        let largest = of.iter().max_by_key(|r| r.size);
        if let (Some(small), Some(large)) = (smallest, largest)
            && small.size < large.size
        {
            let growth = large.ours.as_secs_f64() / small.ours.as_secs_f64();
            println!(
                "- {}: ours at {} migrations is {growth:.2}x ours at {} (target ≤ 1.5x, flat): {}",
                backend.label(),
                large.size,
                small.size,
                if growth <= 1.5 { "met" } else { "missed" }
            );
        }
    }
}
