//! What comparing the live schema for drift costs at 1,000 tables: the README's figures.
//!
//! ```text
//! TEST_POSTGRES_URL=… TEST_MYSQL_URL=… cargo run --release -p schema-tests --bin drift-cost -- [TABLES] [ROUNDS]
//! ```
//!
//! On a fresh SQLite file and, when their URLs are set, a fresh PostgreSQL and MySQL
//! database, it migrates the portable fixture (so a fingerprint is recorded), then makes
//! `TABLES` tables by hand, each shaped like the comparison benchmark's (three columns,
//! a primary key, an index), and times `Migrator::drift` (`drift_async` on the servers):
//! the catalog read, the recorded fingerprint's read and the comparison, as `db drift`
//! and a start that compares do. Then it adds the other objects drift compares (a CHECK
//! on every table, a view and a trigger on every tenth, a function or an enum type where
//! the backend has them; SQLite, which cannot add a CHECK to a table, gets a table with
//! one for every tenth) and times it again. Prints the median and the fastest of
//! `ROUNDS` reads (after two unmeasured ones) for each. It uses only the public API, so
//! the same file built at an older commit measures the version before.

use std::future::Future;
use std::time::{Duration, Instant};

use schema_runtime::rusqlite::Connection;
use schema_runtime::sqlx::{self, MySqlPool, PgPool};
use schema_runtime::{Environment, Migrator, Policy};
use schema_tests::{PORTABLE, Server, ServerDatabase};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let tables: usize = args.next().map_or(1000, |a| a.parse().expect("TABLES"));
    let rounds: usize = args.next().map_or(15, |a| a.parse().expect("ROUNDS"));
    let migrator = Migrator::with_policy(
        &PORTABLE,
        Policy::new(Environment::Test).write_dev_lock(false),
    );
    println!("{tables} tables, median (fastest) of {rounds} reads");

    let dir = tempfile_dir();
    let path = dir.join("drift-cost.db");
    let mut conn = Connection::open(&path).unwrap();
    migrator.run(&mut conn).unwrap();
    conn.execute_batch(&tables_sql(Backend::Sqlite, tables))
        .unwrap();
    let a = time(rounds, || async { migrator.drift(&conn).unwrap() }).await;
    conn.execute_batch(&objects_sql(Backend::Sqlite, tables))
        .unwrap();
    let b = time(rounds, || async { migrator.drift(&conn).unwrap() }).await;
    print_row("SQLite (rusqlite)", a, b);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);

    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        let (_database, url) = ServerDatabase::create(Server::Postgres).await.unwrap();
        let pool = PgPool::connect(&url).await.unwrap();
        migrator.run_async(&pool).await.unwrap();
        raw(&pool, tables_sql(Backend::Postgres, tables)).await;
        let a = time(rounds, || async {
            migrator.drift_async(&pool).await.unwrap()
        })
        .await;
        raw(&pool, objects_sql(Backend::Postgres, tables)).await;
        let b = time(rounds, || async {
            migrator.drift_async(&pool).await.unwrap()
        })
        .await;
        print_row("PostgreSQL", a, b);
        pool.close().await;
    }
    if std::env::var("TEST_MYSQL_URL").is_ok_and(|u| !u.is_empty()) {
        let (_database, url) = ServerDatabase::create(Server::Mysql).await.unwrap();
        let pool = MySqlPool::connect(&url).await.unwrap();
        migrator.run_async(&pool).await.unwrap();
        raw(&pool, tables_sql(Backend::Mysql, tables)).await;
        let a = time(rounds, || async {
            migrator.drift_async(&pool).await.unwrap()
        })
        .await;
        raw(&pool, objects_sql(Backend::Mysql, tables)).await;
        let b = time(rounds, || async {
            migrator.drift_async(&pool).await.unwrap()
        })
        .await;
        print_row("MariaDB/MySQL", a, b);
        pool.close().await;
    }
}

/// The comparison benchmark's table: three columns, a primary key and an index.
fn tables_sql(_backend: Backend, tables: usize) -> String {
    (0..tables)
        .map(|i| {
            format!(
                "CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, created_at VARCHAR(20));\n\
                 CREATE INDEX bench_{i}_name ON bench_{i} (name);\n"
            )
        })
        .collect()
}

/// A CHECK on every table, a view and a trigger on every tenth, and functions or enum
/// types where the backend has them.
fn objects_sql(backend: Backend, tables: usize) -> String {
    let mut sql = String::new();
    if backend == Backend::Postgres {
        sql.push_str(
            "CREATE FUNCTION bench_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$;\n",
        );
    }
    for i in 0..tables {
        if backend != Backend::Sqlite {
            sql.push_str(&format!(
                "ALTER TABLE bench_{i} ADD CONSTRAINT bench_{i}_name_set CHECK (name <> '');\n"
            ));
        }
        if i % 10 != 0 {
            continue;
        }
        // SQLite has no ALTER TABLE … ADD CHECK: its CHECKs live in the CREATE TABLE text.
        if backend == Backend::Sqlite {
            sql.push_str(&format!(
                "CREATE TABLE bench_check_{i} (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));\n"
            ));
        }
        sql.push_str(&format!(
            "CREATE VIEW bench_{i}_view AS SELECT id, name FROM bench_{i};\n"
        ));
        sql.push_str(&match backend {
            Backend::Sqlite => format!(
                "CREATE TRIGGER bench_{i}_touch AFTER INSERT ON bench_{i} BEGIN UPDATE bench_{i} SET name = lower(name) WHERE id = NEW.id; END;\n"
            ),
            Backend::Postgres => format!(
                "CREATE TRIGGER bench_{i}_touch BEFORE INSERT ON bench_{i} FOR EACH ROW EXECUTE FUNCTION bench_touch();\n\
                 CREATE FUNCTION bench_{i}_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM bench_{i}';\n\
                 CREATE TYPE bench_{i}_state AS ENUM ('new', 'done');\n"
            ),
            Backend::Mysql => format!(
                "CREATE TRIGGER bench_{i}_touch BEFORE INSERT ON bench_{i} FOR EACH ROW SET NEW.name = LOWER(NEW.name);\n\
                 CREATE FUNCTION bench_{i}_count() RETURNS BIGINT READS SQL DATA RETURN (SELECT COUNT(*) FROM bench_{i});\n"
            ),
        });
    }
    sql
}

async fn raw<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, sql: String)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    // One statement at a time: MySQL's text protocol takes one per call with routines.
    let mut conn = pool.acquire().await.unwrap();
    for statement in sql.lines().filter(|l| !l.trim().is_empty()) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// Median and fastest of `rounds` calls, after two unmeasured ones.
async fn time<F, Fut, T>(rounds: usize, mut read: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    for _ in 0..2 {
        std::hint::black_box(read().await);
    }
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(read().await);
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[0])
}

fn print_row(backend: &str, tables: (Duration, Duration), objects: (Duration, Duration)) {
    println!(
        "{backend}: tables and indexes {:.1} ms ({:.1}); with CHECKs, views, triggers, routines {:.1} ms ({:.1})",
        ms(tables.0),
        ms(tables.1),
        ms(objects.0),
        ms(objects.1)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
