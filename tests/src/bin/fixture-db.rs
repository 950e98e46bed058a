//! The `db` command over one fixture set, as an application embeds it.
//!
//! ```text
//! fixture-db FIXTURE db <command> …
//! ```
//!
//! The command is built from a migrator (`Cli::from_migrator`) whose policy comes from
//! the environment, never writes the fixtures' lock files, and with
//! `FIXTURE_HISTORY_TABLE=name` names that history table. `FIXTURE_RUNTIME=async` runs it inside
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
    let policy = match Policy::from_env(migrations) {
        // The fixtures' lock files are part of the tests: a development run here must not
        // rewrite them under the other tests running beside it.
        Ok(policy) => policy.write_dev_lock(false),
        // The command itself reports a bad environment.
        Err(_) => return Cli::new(migrations).run_from(args),
    };
    let policy = match std::env::var("FIXTURE_HISTORY_TABLE") {
        Ok(table) => policy.history_table(&table).expect("a valid table name"),
        Err(_) => policy,
    };
    let cli = Cli::from_migrator(Migrator::with_policy(migrations, policy));
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
