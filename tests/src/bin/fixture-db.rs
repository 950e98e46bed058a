//! The `db` command over one fixture set, as an application embeds it.
//!
//! ```text
//! fixture-db FIXTURE db <command> …
//! ```
//!
//! `FIXTURE_HISTORY_TABLE=name` builds the command from a migrator whose policy names
//! that history table (`Cli::from_migrator`). `FIXTURE_RUNTIME=async` runs it inside
//! `#[tokio::main]` with `run_from_async`, `FIXTURE_RUNTIME=blocking` calls the blocking
//! `run_from` there (which must refuse cleanly).

use std::process::ExitCode;

use schema_runtime::cli::Cli;
use schema_runtime::{Migrator, Policy};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let Some(migrations) = schema_tests::fixture(&name) else {
        eprintln!("usage: fixture-db portable|reversible|… db <command>");
        return ExitCode::from(2);
    };
    let args: Vec<String> = args.collect();
    let cli = match std::env::var("FIXTURE_HISTORY_TABLE") {
        Ok(table) => {
            let policy = Policy::from_env(migrations)
                .and_then(|policy| policy.history_table(&table))
                .expect("a valid policy");
            Cli::from_migrator(Migrator::with_policy(migrations, policy))
        }
        Err(_) => Cli::new(migrations),
    };
    match std::env::var("FIXTURE_RUNTIME").as_deref() {
        Ok("async") => tokio_main(|| async move { cli.run_from_async(args).await }),
        Ok("blocking") => tokio_main(|| async move { cli.run_from(args) }),
        _ => cli.run_from(args),
    }
}

/// What `#[tokio::main]` expands to, with the runtime flavour most applications use.
fn tokio_main<F: std::future::Future<Output = ExitCode>>(body: impl FnOnce() -> F) -> ExitCode {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(body())
}
