//! Migrates `DATABASE_URL` (`postgres://`, `mysql://` or `sqlite:`) with one fixture
//! set, as an application would at startup. The process tests start many of these at
//! once, or kill one in the middle of a migration.
//!
//! ```text
//! migrate-fixture FIXTURE
//! ```
//!
//! The policy is the test environment's, with the direct URL `Policy::from_env` reads
//! (`SCHEMA_DIRECT_URL`, else `DATABASE_URL_UNPOOLED`) when one is set.

use std::process::ExitCode;

use schema_runtime::sqlx::{MySqlPool, PgPool, SqlitePool};
use schema_runtime::{Environment, Migrator, Policy};

#[tokio::main]
async fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(migrations) = schema_tests::fixture(&name) else {
        eprintln!(
            "usage: migrate-fixture portable|failing|slow_postgres|slow_mysql|concurrent_index"
        );
        return ExitCode::from(2);
    };
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL is not set");
        return ExitCode::from(2);
    };
    let mut policy = Policy::new(Environment::Test).write_dev_lock(false);
    let from_env = Policy::from_env(migrations).ok();
    if let Some(direct) = from_env.as_ref().and_then(Policy::direct_database_url) {
        policy = policy.direct_url(direct);
    }
    let migrator = Migrator::with_policy(migrations, policy);
    let result = if url.starts_with("postgres") {
        match PgPool::connect(&url).await {
            Ok(pool) => migrator.run_async(&pool).await,
            Err(error) => return connection_failed(error),
        }
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        match MySqlPool::connect(&url).await {
            Ok(pool) => migrator.run_async(&pool).await,
            Err(error) => return connection_failed(error),
        }
    } else {
        match SqlitePool::connect(&url).await {
            Ok(pool) => migrator.run_async(&pool).await,
            Err(error) => return connection_failed(error),
        }
    };
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn connection_failed(error: schema_runtime::sqlx::Error) -> ExitCode {
    eprintln!("error: cannot connect to the database: {error}");
    ExitCode::FAILURE
}
