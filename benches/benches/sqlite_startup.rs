//! Startup cost on SQLite, beside the raw driver doing the least possible in the same run.
//!
//! - no-op check: a database with 1,000 applied migrations; each sample opens a fresh
//!   connection (so SQLite loads the schema, as every application start does) and runs
//!   the migrator, against the floor: a fresh connection and one
//!   `SELECT version, checksum` of the history table.
//! - apply-all: 1,000 migrations (a table, an index and three rows each) applied to an
//!   empty file, each in its own transaction with its history row, against the floor:
//!   the same SQL in one `execute_batch` inside one transaction.
//!
//! Samples interleave ours and the floor so machine drift hits both alike. Run with
//! `cargo bench -p schema-benches --bench sqlite_startup`; results also go to
//! `target/bench-results/sqlite_startup.json`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use schema_runtime::rusqlite::Connection;
use schema_runtime::{Environment, Migrator, Policy};

const COUNT: usize = 1_000;

fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("schema-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn remove_database(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm", ".schema-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn interleave(
    repetitions: usize,
    mut ours: impl FnMut() -> Duration,
    mut floor: impl FnMut() -> Duration,
) -> (Stats, Stats) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..repetitions {
        a.push(ours());
        b.push(floor());
    }
    (stats(a), stats(b))
}

fn row(scenario: &str, ours: &Stats, floor: &Stats, target: f64) -> serde_json::Value {
    let ratio = ours.median.as_secs_f64() / floor.median.as_secs_f64();
    println!(
        "{scenario:<28} ours {:>10.1} µs (min {:>9.1}, max {:>9.1})   floor {:>10.1} µs (min {:>9.1}, max {:>9.1})   ratio {ratio:.3}x (target ≤ {target}x){}",
        micros(ours.median),
        micros(ours.min),
        micros(ours.max),
        micros(floor.median),
        micros(floor.min),
        micros(floor.max),
        if ratio <= target { "" } else { "  MISSED" }
    );
    serde_json::json!({
        "scenario": scenario,
        "ours_us": {"median": micros(ours.median), "min": micros(ours.min), "max": micros(ours.max)},
        "floor_us": {"median": micros(floor.median), "min": micros(floor.min), "max": micros(floor.max)},
        "ratio": ratio,
        "target": target,
    })
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent; keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let migrations = schema_benches::generated(COUNT);
    let policy = || Policy::new(Environment::Test).write_dev_lock(false);
    let dir = scratch_dir();
    let mut results = Vec::new();

    // No-op startup check on an up-to-date database.
    let database = dir.join("noop.db");
    remove_database(&database);
    Migrator::with_policy(migrations, policy())
        .run(&mut Connection::open(&database).unwrap())
        .unwrap();
    let migrator = Migrator::with_policy(migrations, policy());
    let (ours, floor) = interleave(
        if quick { 3 } else { 300 },
        || {
            let started = Instant::now();
            let mut conn = Connection::open(&database).unwrap();
            let report = migrator.run(&mut conn).unwrap();
            let elapsed = started.elapsed();
            assert!(report.is_up_to_date());
            elapsed
        },
        || {
            let started = Instant::now();
            let conn = Connection::open(&database).unwrap();
            let mut statement = conn
                .prepare("SELECT version, checksum FROM schema_history")
                .unwrap();
            let mut rows = statement.query([]).unwrap();
            let mut seen = 0usize;
            while let Some(row) = rows.next().unwrap() {
                let _version: i64 = row.get(0).unwrap();
                let _checksum: String = row.get(1).unwrap();
                seen += 1;
            }
            let elapsed = started.elapsed();
            assert_eq!(seen, COUNT);
            elapsed
        },
    );
    results.push(row("no-op startup, 1,000 applied", &ours, &floor, 1.1));

    // Apply everything to an empty file.
    let database = dir.join("apply.db");
    let batch: String = migrations.migrations().iter().map(|m| m.sql()).collect();
    let (ours, floor) = interleave(
        if quick { 1 } else { 15 },
        || {
            remove_database(&database);
            let started = Instant::now();
            let mut conn = Connection::open(&database).unwrap();
            let report = Migrator::with_policy(migrations, policy())
                .run(&mut conn)
                .unwrap();
            let elapsed = started.elapsed();
            assert_eq!(report.applied.len(), COUNT);
            elapsed
        },
        || {
            remove_database(&database);
            let started = Instant::now();
            let mut conn = Connection::open(&database).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(&batch).unwrap();
            tx.commit().unwrap();
            started.elapsed()
        },
    );
    results.push(row("apply 1,000 to an empty file", &ours, &floor, 1.3));
    remove_database(&database);
    let _ = std::fs::remove_dir_all(&dir);

    if !quick {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
        std::fs::create_dir_all(&out).unwrap();
        let json = serde_json::json!({ "database": dir.parent().map(|p| p.display().to_string()), "migrations": COUNT, "results": results });
        std::fs::write(
            out.join("sqlite_startup.json"),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }
}
