//! `schema-lock`: changes to `migrations.lock` that need no build of the application.
//!
//! ```text
//! schema-lock amend <VERSION> --reason "<why the new text is safe>" [--dir migrations]
//! ```
//!
//! On a fresh clone where a locked migration was edited, the application does not build
//! (that is the rule), so its `db amend` cannot run; this does the same from the files.
//! Install it with `cargo install schema-core`. The arguments are read by hand: the crate
//! that holds the rules stays free of dependencies beyond its hash, so it installs in
//! seconds.

use std::path::PathBuf;
use std::process::ExitCode;

use schema_core::Version;
use schema_core::amend::{Amended, amend};

const USAGE: &str = "usage: schema-lock amend <VERSION> --reason \"<why the new text is safe for every database that ran the old one>\" [--dir <migrations folder>]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let [command, rest @ ..] = args else {
        return Err(USAGE.to_owned());
    };
    if command != "amend" {
        return Err(format!("unknown command `{command}`; {USAGE}"));
    }
    let mut version = None;
    let mut reason = None;
    let mut dir = PathBuf::from("migrations");
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--reason" => reason = rest.next().cloned(),
            "--dir" => dir = rest.next().map(PathBuf::from).ok_or(USAGE)?,
            text if version.is_none() => {
                version = Some(
                    text.parse::<u64>()
                        .ok()
                        .filter(|v| *v > 0)
                        .map(Version::new)
                        .ok_or_else(|| format!("`{text}` is not a migration version; {USAGE}"))?,
                );
            }
            other => return Err(format!("unexpected `{other}`; {USAGE}")),
        }
    }
    let (Some(version), Some(reason)) = (version, reason) else {
        return Err(USAGE.to_owned());
    };
    match amend(&dir, version, &reason)? {
        Amended::Amended { lock, from, to, .. } => Ok(format!(
            "amended version {version} in {}: sha256:{from} → sha256:{to}. Commit the lock with the file; each database records the amendment at its next start",
            lock.display()
        )),
        Amended::Unchanged { file, checksum } => Ok(format!(
            "{} is unchanged (sha256:{checksum}): nothing to amend",
            file.display()
        )),
    }
}
