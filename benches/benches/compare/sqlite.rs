//! SQLite in one process: apply everything to an empty file, and the no-op startup on
//! an up-to-date one. Every sample opens a fresh connection, inside the clock: that is
//! what an application start pays (SQLite reads the schema of every table on a new
//! connection), and it is how each tool is used at startup. sqlx gets a pool of one
//! connection, as its documentation runs `migrate!().run(&pool)`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use schema_runtime::Migrator;
use schema_runtime::rusqlite::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::runtime::Runtime;

use crate::measure::{Contestant, Samples, Tool, interleave};
use crate::tools::{Sets, policy};

/// A database file in `/dev/shm` (memory-backed, so the disk's noise stays out), or the
/// temporary directory where there is none.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("schema-compare-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn remove_database(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm", ".schema-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

async fn sqlx_pool(path: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

fn count_rows(path: &Path, table: &str) -> u64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
        row.get::<_, i64>(0)
    })
    .unwrap() as u64
}

/// Ours, sqlx and refinery, each on its own file (`ours.db`, ...).
fn apply_once(tool: Tool, sets: &Sets, runtime: &Runtime, path: &Path) {
    match tool {
        Tool::Ours => {
            let mut conn = Connection::open(path).unwrap();
            let report = Migrator::with_policy(sets.ours, policy())
                .run(&mut conn)
                .unwrap();
            assert_eq!(report.applied.len() as u64, sets.count);
        }
        Tool::Sqlx => runtime.block_on(async {
            let pool = sqlx_pool(path).await;
            sets.sqlx.run(&pool).await.unwrap();
            pool.close().await;
        }),
        Tool::Refinery => {
            let mut conn = Connection::open(path).unwrap();
            let report = sets.refinery_runner().run(&mut conn).unwrap();
            assert_eq!(report.applied_migrations().len() as u64, sets.count);
        }
        Tool::Floor => {
            let mut conn = Connection::open(path).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(&sets.batch).unwrap();
            tx.commit().unwrap();
        }
        Tool::OursGrouped | Tool::OursChecked => unreachable!("not an SQLite contestant"),
    }
}

fn history_table(tool: Tool) -> &'static str {
    match tool {
        Tool::Sqlx => "_sqlx_migrations",
        Tool::Refinery => "refinery_schema_history",
        _ => "schema_history",
    }
}

fn database_path(dir: &Path, tool: Tool) -> PathBuf {
    dir.join(format!("{}.db", tool.key()))
}

/// Applies all of `sets` to an empty file with each of `tools`, `repetitions` interleaved
/// rounds. Each tool's last file stays, up to date, for [`noop`].
pub fn apply_all(
    sets: &Sets,
    runtime: &Runtime,
    dir: &Path,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let mut contestants: Vec<Contestant> = tools
        .iter()
        .map(|&tool| {
            let path = database_path(dir, tool);
            Contestant::new(tool, move || {
                remove_database(&path);
                let started = Instant::now();
                apply_once(tool, sets, runtime, &path);
                let elapsed = started.elapsed();
                // The floor has no history; every tool must have recorded all.
                if tool != Tool::Floor {
                    assert_eq!(count_rows(&path, history_table(tool)), sets.count);
                }
                assert_eq!(count_rows(&path, &format!("bench_{}", sets.count)), 3);
                elapsed
            })
        })
        .collect();
    let samples = interleave(
        &format!("sqlite apply {}", sets.count),
        0,
        repetitions,
        &mut contestants,
    );
    remove_database(&database_path(dir, Tool::Floor));
    samples
}

/// The startup check of each of `tools` on an up-to-date file, a fresh connection per
/// sample: the files [`apply_all`] left, or new ones (ours' whatever `tools` says: the
/// floor reads it).
pub fn noop(
    sets: &Sets,
    runtime: &Runtime,
    dir: &Path,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let path_of = |tool: Tool| database_path(dir, tool);
    for tool in [Tool::Ours, Tool::Sqlx, Tool::Refinery] {
        if tool != Tool::Ours && !tools.contains(&tool) {
            continue;
        }
        let path = path_of(tool);
        if !path.exists() {
            apply_once(tool, sets, runtime, &path);
        }
    }
    let count = sets.count;
    let migrator = Migrator::with_policy(sets.ours, policy());
    let mut contestants = vec![
        Contestant::new(Tool::Floor, {
            // The floor reads our history: one `SELECT version, checksum`.
            let path = path_of(Tool::Ours);
            move || {
                let started = Instant::now();
                let conn = Connection::open(&path).unwrap();
                let mut statement = conn
                    .prepare("SELECT version, checksum FROM schema_history")
                    .unwrap();
                let mut rows = statement.query([]).unwrap();
                let mut seen = 0u64;
                while let Some(row) = rows.next().unwrap() {
                    let _version: i64 = row.get(0).unwrap();
                    let _checksum: String = row.get(1).unwrap();
                    seen += 1;
                }
                let elapsed = started.elapsed();
                assert_eq!(seen, count);
                elapsed
            }
        }),
        Contestant::new(Tool::Ours, {
            let path = path_of(Tool::Ours);
            move || {
                let started = Instant::now();
                let mut conn = Connection::open(&path).unwrap();
                let report = migrator.run(&mut conn).unwrap();
                let elapsed = started.elapsed();
                assert!(report.is_up_to_date());
                elapsed
            }
        }),
        Contestant::new(Tool::Sqlx, {
            let path = path_of(Tool::Sqlx);
            move || {
                runtime.block_on(async {
                    let started = Instant::now();
                    let pool = sqlx_pool(&path).await;
                    sets.sqlx.run(&pool).await.unwrap();
                    let elapsed = started.elapsed();
                    pool.close().await;
                    elapsed
                })
            }
        }),
        Contestant::new(Tool::Refinery, {
            let path = path_of(Tool::Refinery);
            move || {
                let started = Instant::now();
                let mut conn = Connection::open(&path).unwrap();
                let report = sets.refinery_runner().run(&mut conn).unwrap();
                let elapsed = started.elapsed();
                assert!(report.applied_migrations().is_empty());
                elapsed
            }
        }),
    ];
    contestants.retain(|c| tools.contains(&c.tool));
    let samples = interleave(
        &format!("sqlite no-op {count}"),
        1,
        repetitions,
        &mut contestants,
    );
    drop(contestants);
    for tool in [Tool::Ours, Tool::Sqlx, Tool::Refinery] {
        remove_database(&path_of(tool));
    }
    samples
}
