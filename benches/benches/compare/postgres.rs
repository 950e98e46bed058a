//! PostgreSQL on loopback, in one process: apply everything to an empty database, and
//! the no-op startup on an up-to-date one. Connections are opened before the clock
//! starts and kept (a pool of one for ours and sqlx, a `tokio_postgres::Client` for
//! refinery), because connecting is the server's cost, the same for all; the
//! fresh-process scenario measures it.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use schema_runtime::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::runtime::Runtime;

use std::sync::Arc;

use schema_tests::net::{Traffic, counted_url};

use crate::measure::{Contestant, Samples, Tool, interleave, set_round_trips};
use crate::tools::{Sets, policy};

/// The server named by `BENCH_POSTGRES_URL` or `TEST_POSTGRES_URL`, and the databases
/// this run created on it (each dropped when done, or when the run ends early).
pub struct Server {
    url: String,
    prefix: String,
    admin: PgPool,
    created: RefCell<Vec<String>>,
}

impl Server {
    /// The server to use, or why there is none.
    pub fn from_env(runtime: &Runtime) -> Result<Server, String> {
        let url = std::env::var("BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
            .map_err(|_| {
                "set TEST_POSTGRES_URL (or BENCH_POSTGRES_URL) to a PostgreSQL server".to_owned()
            })?;
        let admin = runtime
            .block_on(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url),
            )
            .map_err(|e| format!("cannot reach {}: {e}", schema_runtime::redact_url(&url)))?;
        Ok(Server {
            url,
            prefix: format!("schema_compare_{}", std::process::id()),
            admin,
            created: RefCell::new(Vec::new()),
        })
    }

    pub fn database_url(&self, name: &str) -> String {
        schema_benches::with_database(&self.url, name)
    }

    /// The name of this run's database `suffix`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    /// Whether this run created database `name` and has not dropped it.
    pub fn exists(&self, name: &str) -> bool {
        self.created.borrow().iter().any(|n| n == name)
    }

    /// Creates an empty database named after this run and `suffix`.
    pub async fn create(&self, suffix: &str) -> String {
        let name = self.name(suffix);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.admin)
            .await
            .unwrap();
        self.created.borrow_mut().push(name.clone());
        name
    }

    /// Drops database `suffix` if this run has it, and creates it empty.
    pub async fn recreate(&self, suffix: &str) -> String {
        let name = self.name(suffix);
        if self.exists(&name) {
            self.drop_database(&name).await;
        }
        self.create(suffix).await
    }

    pub async fn drop_database(&self, name: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&self.admin)
        .await
        .unwrap();
        self.created.borrow_mut().retain(|n| n != name);
    }

    pub async fn pool(&self, name: &str) -> PgPool {
        pool_at(&self.database_url(name)).await
    }

    pub async fn refinery_client(&self, name: &str) -> tokio_postgres::Client {
        refinery_client_at(&self.database_url(name)).await
    }

    /// The URL of database `name` through a forwarder that counts round trips on the
    /// wire, and its count.
    pub fn counted_url(&self, name: &str) -> (String, Arc<Traffic>) {
        counted_url(&self.database_url(name))
    }

    /// The server's version, for the record.
    pub async fn version(&self) -> String {
        let (version,): (String,) = sqlx::query_as("SHOW server_version")
            .fetch_one(&self.admin)
            .await
            .unwrap();
        version
    }

    /// Drops what is left (a run that panicked midway) and closes the admin pool.
    pub async fn close(&self) {
        let left: Vec<String> = self.created.borrow().clone();
        for name in left {
            self.drop_database(&name).await;
        }
        self.admin.close().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let left = self.created.borrow().clone();
        if left.is_empty() {
            return;
        }
        // The pool belongs to a runtime that may be gone: use a connection of our own.
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(pool) = PgPool::connect(&url).await else {
                    return;
                };
                for name in left {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A pool of one connection, as every tool here is given.
async fn pool_at(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

async fn refinery_client_at(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Waits until the pool has its connection back (sqlx returns it on a task of its own),
/// so the next run finds it idle as an application's next start would.
async fn idle(pool: &PgPool) {
    while pool.num_idle() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn count_rows(pool: &PgPool, table: &str) -> u64 {
    let (count,): (i64,) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(pool)
            .await
            .unwrap();
    count as u64
}

fn history_table(tool: Tool) -> &'static str {
    match tool {
        Tool::Sqlx => "_sqlx_migrations",
        Tool::Refinery => "refinery_schema_history",
        _ => "schema_history",
    }
}

/// The most migrations the floor puts in one transaction: every table and index a
/// transaction creates holds a lock until it commits, and a server with the default
/// `max_locks_per_transaction` (64) runs out of room for them somewhere past 2,000.
pub const FLOOR_TRANSACTION: u64 = 1000;

/// The floor's SQL: every migration as one batch (one message), in transactions of at
/// most [`FLOOR_TRANSACTION`] migrations, so one transaction up to 1,000.
fn floor_batch(sets: &Sets) -> String {
    let mut batch = String::new();
    for (i, migration) in sets.ours.migrations().iter().enumerate() {
        if (i as u64).is_multiple_of(FLOOR_TRANSACTION) {
            if i > 0 {
                batch.push_str("COMMIT;\n");
            }
            batch.push_str("BEGIN;\n");
        }
        batch.push_str(migration.sql());
    }
    batch.push_str("COMMIT;");
    batch
}

/// Applies `sets` with `tool` to the database at `url`, timing only the run
/// (connecting is done first, closing after).
async fn apply_once(tool: Tool, sets: &Sets, url: &str) -> Duration {
    match tool {
        Tool::Refinery => {
            let mut client = refinery_client_at(url).await;
            let started = Instant::now();
            let report = sets.refinery_runner().run_async(&mut client).await.unwrap();
            let elapsed = started.elapsed();
            assert_eq!(report.applied_migrations().len() as u64, sets.count);
            elapsed
        }
        _ => {
            let pool = pool_at(url).await;
            let started = Instant::now();
            match tool {
                Tool::Ours | Tool::OursGrouped => {
                    let policy = policy().group_transactions(tool == Tool::OursGrouped);
                    let report = Migrator::with_policy(sets.ours, policy)
                        .run_async(&pool)
                        .await
                        .unwrap();
                    assert_eq!(report.applied.len() as u64, sets.count);
                }
                Tool::Sqlx => sets.sqlx.run(&pool).await.unwrap(),
                Tool::Floor => {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(floor_batch(sets)))
                        .execute(&pool)
                        .await
                        .unwrap();
                }
                Tool::Refinery | Tool::OursChecked => unreachable!(),
            }
            let elapsed = started.elapsed();
            pool.close().await;
            elapsed
        }
    }
}

/// Applies all of `sets` to an empty database with each of `tools`, `repetitions`
/// interleaved rounds; ours also in grouped mode (one transaction for the run) up to
/// 1,000 migrations: beyond, one transaction needs more locks than a default server has
/// room for. Each tool's last database stays, up to date, for [`noop`].
pub fn apply_all(
    sets: &Sets,
    runtime: &Runtime,
    server: &Server,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let mut tools = tools.to_vec();
    if sets.count <= FLOOR_TRANSACTION
        && let Some(ours) = tools.iter().position(|&tool| tool == Tool::Ours)
    {
        tools.insert(ours + 1, Tool::OursGrouped);
    }
    let mut contestants: Vec<Contestant> = tools
        .iter()
        .map(|&tool| {
            Contestant::new(tool, move || {
                runtime.block_on(async {
                    let name = server.recreate(tool.key()).await;
                    let elapsed = apply_once(tool, sets, &server.database_url(&name)).await;
                    let pool = server.pool(&name).await;
                    if tool != Tool::Floor {
                        assert_eq!(count_rows(&pool, history_table(tool)).await, sets.count);
                    }
                    let last = format!("bench_{}", sets.count);
                    assert_eq!(count_rows(&pool, &last).await, 3);
                    pool.close().await;
                    elapsed
                })
            })
        })
        .collect();
    let mut samples = interleave(
        &format!("postgres apply {}", sets.count),
        0,
        repetitions,
        &mut contestants,
    );
    drop(contestants);
    // One more run of each, on the wire, for its round trips.
    let counts: Vec<(Tool, usize)> = runtime.block_on(async {
        let mut counts = Vec::new();
        for &tool in &tools {
            let name = server.recreate(&format!("{}_counted", tool.key())).await;
            let (url, traffic) = server.counted_url(&name);
            apply_once(tool, sets, &url).await;
            counts.push((tool, traffic.round_trips()));
            server.drop_database(&name).await;
        }
        counts
    });
    set_round_trips(&mut samples, &counts);
    runtime.block_on(async {
        for tool in [Tool::Floor, Tool::OursGrouped] {
            server.drop_database(&server.name(tool.key())).await;
        }
    });
    samples
}

/// The startup check of each of `tools` on an up-to-date database, over a connection
/// already open: the databases [`apply_all`] left, or new ones (ours' whatever `tools`
/// says: the floor reads it).
pub fn noop(
    sets: &Sets,
    runtime: &Runtime,
    server: &Server,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let (names, ours_pool, floor_pool, sqlx_pool, refinery_client) = runtime.block_on(async {
        let mut names = Vec::new();
        for tool in [Tool::Ours, Tool::Sqlx, Tool::Refinery] {
            if tool != Tool::Ours && !tools.contains(&tool) {
                continue;
            }
            let name = server.name(tool.key());
            if !server.exists(&name) {
                server.create(tool.key()).await;
                apply_once(tool, sets, &server.database_url(&name)).await;
            }
            names.push(name);
        }
        let ours = server.name(Tool::Ours.key());
        let sqlx_pool = if tools.contains(&Tool::Sqlx) {
            Some(server.pool(&server.name(Tool::Sqlx.key())).await)
        } else {
            None
        };
        let refinery_client = if tools.contains(&Tool::Refinery) {
            Some(
                server
                    .refinery_client(&server.name(Tool::Refinery.key()))
                    .await,
            )
        } else {
            None
        };
        (
            names,
            server.pool(&ours).await,
            server.pool(&ours).await,
            sqlx_pool,
            refinery_client,
        )
    });
    let migrator = Migrator::with_policy(sets.ours, policy());
    let count = sets.count;
    // The floor's connection is held open, so its one statement is its one round trip
    // (a pool's acquire would add sqlx's ping).
    let mut floor_conn = runtime.block_on(floor_pool.acquire()).unwrap();
    let mut contestants = vec![Contestant::new(Tool::Floor, || {
        runtime.block_on(async {
            let started = Instant::now();
            let rows = floor_read(&mut floor_conn).await;
            let elapsed = started.elapsed();
            assert_eq!(rows as u64, count);
            elapsed
        })
    })];
    if tools.contains(&Tool::Ours) {
        contestants.push(Contestant::new(Tool::Ours, || {
            runtime.block_on(async {
                let started = Instant::now();
                let report = migrator.run_async(&ours_pool).await.unwrap();
                let elapsed = started.elapsed();
                assert!(report.is_up_to_date());
                elapsed
            })
        }));
    }
    if let Some(sqlx_pool) = &sqlx_pool {
        contestants.push(Contestant::new(Tool::Sqlx, move || {
            runtime.block_on(async {
                let started = Instant::now();
                sets.sqlx.run(sqlx_pool).await.unwrap();
                started.elapsed()
            })
        }));
    }
    if let Some(mut refinery_client) = refinery_client {
        contestants.push(Contestant::new(Tool::Refinery, move || {
            runtime.block_on(async {
                let started = Instant::now();
                let report = sets
                    .refinery_runner()
                    .run_async(&mut refinery_client)
                    .await
                    .unwrap();
                let elapsed = started.elapsed();
                assert!(report.applied_migrations().is_empty());
                elapsed
            })
        }));
    }
    let mut samples = interleave(
        &format!("postgres no-op {count}"),
        1,
        repetitions,
        &mut contestants,
    );
    // Closes refinery's client, which the last contestant owns, and gives the floor's
    // connection back (closing a pool waits for its connections).
    drop(contestants);
    // sqlx hands a connection back on a task: inside the runtime.
    runtime.block_on(async { drop(floor_conn) });
    let counts = runtime.block_on(noop_round_trips(sets, server, tools, &migrator));
    set_round_trips(&mut samples, &counts);
    runtime.block_on(async {
        for pool in [&ours_pool, &floor_pool].into_iter().chain(&sqlx_pool) {
            pool.close().await;
        }
        for name in &names {
            server.drop_database(name).await;
        }
    });
    samples
}

/// The floor's start: one `SELECT` of the history on an open connection, its rows
/// decoded. Returns how many.
async fn floor_read(conn: &mut sqlx::PgConnection) -> usize {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT version, checksum FROM schema_history")
        .fetch_all(conn)
        .await
        .unwrap();
    rows.len()
}

/// Round trips of each tool's up-to-date start, counted on the wire: each runs twice to
/// warm its connection (ours prepares its read on a pool's second start, and the timed
/// rounds are almost all later ones), then once counted.
async fn noop_round_trips(
    sets: &Sets,
    server: &Server,
    tools: &[Tool],
    migrator: &Migrator,
) -> Vec<(Tool, usize)> {
    let mut counts = Vec::new();
    for &tool in tools {
        let database = match tool {
            Tool::Floor | Tool::Ours => Tool::Ours,
            Tool::Sqlx | Tool::Refinery => tool,
            _ => continue,
        };
        let (url, traffic) = server.counted_url(&server.name(database.key()));
        match tool {
            Tool::Floor => {
                let pool = pool_at(&url).await;
                let mut conn = pool.acquire().await.unwrap();
                floor_read(&mut conn).await;
                traffic.reset();
                floor_read(&mut conn).await;
                drop(conn);
                pool.close().await;
            }
            Tool::Ours | Tool::Sqlx => {
                let pool = pool_at(&url).await;
                for counted in [false, false, true] {
                    idle(&pool).await;
                    if counted {
                        traffic.reset();
                    }
                    match tool {
                        Tool::Ours => drop(migrator.run_async(&pool).await.unwrap()),
                        _ => sets.sqlx.run(&pool).await.unwrap(),
                    }
                }
                pool.close().await;
            }
            _ => {
                let mut client = refinery_client_at(&url).await;
                for counted in [false, true] {
                    if counted {
                        traffic.reset();
                    }
                    sets.refinery_runner().run_async(&mut client).await.unwrap();
                }
            }
        }
        counts.push((tool, traffic.round_trips()));
    }
    counts
}
