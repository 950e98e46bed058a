//! The `db` command over one fixture set, as an application embeds it.
//!
//! ```text
//! fixture-db FIXTURE db <command> …
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let Some(migrations) = schema_tests::fixture(&name) else {
        eprintln!("usage: fixture-db portable|reversible|… db <command>");
        return ExitCode::from(2);
    };
    schema_runtime::cli::Cli::new(migrations).run_from(args)
}
