//! Runs the build's rules over another project's migrations folder, to find the rules'
//! false positives on real histories.
//!
//! ```text
//! check-folder <folder> <dialect> [--unlocked all-but-first|all] [--keep]
//! ```
//!
//! The files are copied into a scratch folder under our naming scheme, a
//! `migrations.lock` is written, and `schema_core::read_folder(dir, "migrations",
//! &[dialect])` judges the folder; every error is printed grouped by rule (lint,
//! transaction, other), with counts, and the exit code is 1 when there is one.
//!
//! The mapping, kept simple:
//!
//! - **One folder per migration** (diesel `<dir>/up.sql` and `down.sql`; Prisma
//!   `<dir>/migration.sql`): the folder's name is the migration's key. Diesel's
//!   `metadata.toml` with `run_in_transaction = false` starts both copies with
//!   `-- schema: no-transaction`; other files in the folder are ignored.
//! - **Flat files** (golang-migrate, sqlx, popx …): `<key>[.<marker>…].sql`,
//!   where the markers after the key are `up` or `down` (the side; up when absent), a
//!   dialect (`postgres`, `mysql`, `sqlite3`, `cockroach` …: a file for another dialect is
//!   skipped, and one for ours replaces the generic file of the same key and side), and
//!   popx's `autocommit` (the file runs outside a transaction there, so its copy starts
//!   with `-- schema: no-transaction`). Any other marker stays part of the key. A file
//!   whose key does not start with a digit is not a migration (a README, a data file)
//!   and is skipped.
//! - **Order and names**: keys are sorted as their tool sorts them: by the number before
//!   the first `_` for files, by the text before it without `-` for folders (diesel's
//!   `2019-02-26-153500_x` is `20190226153500`), then by the whole key. The migration at
//!   position `n` is written `<n>_<key>.sql` and `<n>_<key>.down.sql`, `n` zero-padded,
//!   every character of the key outside `[A-Za-z0-9_]` replaced by `_` (so the original
//!   file stays findable). Contents are copied byte for byte.
//! - **The lock**: with `--unlocked all-but-first` (the default), `migrations.lock`
//!   locks only the first migration, so every other up file is linted and checked as
//!   new; with `--unlocked all`, the lock is empty and every up file is. (Without a lock
//!   the lint would not run at all.) Down files are always checked for the transaction
//!   rules, never linted, as the build does.
//!
//! `--keep` leaves the scratch folder in place and prints its path.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use schema_runtime::rules::{self as schema_core, Checksum, Dialect, Lock, LockEntry, Version};

/// The up and down files of one migration, as found in the project's folder.
#[derive(Default)]
struct Found {
    up: Option<Picked>,
    down: Option<Picked>,
}

/// A file chosen for one side: whether it names our dialect (it then beats a generic
/// one) and whether it runs outside a transaction.
struct Picked {
    path: PathBuf,
    specific: bool,
    no_transaction: bool,
}

impl Found {
    fn offer(&mut self, down: bool, picked: Picked) {
        let side = if down { &mut self.down } else { &mut self.up };
        if side
            .as_ref()
            .is_none_or(|old| picked.specific >= old.specific)
        {
            *side = Some(picked);
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Unlocked {
    AllButFirst,
    All,
}

const USAGE: &str =
    "usage: check-folder <folder> <postgres|mysql|sqlite> [--unlocked all-but-first|all] [--keep]";

fn main() -> ExitCode {
    let mut positional = Vec::new();
    let mut unlocked = Unlocked::AllButFirst;
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--unlocked" => match args.next().as_deref() {
                Some("all-but-first") => unlocked = Unlocked::AllButFirst,
                Some("all") => unlocked = Unlocked::All,
                _ => return usage(),
            },
            "--keep" => keep = true,
            _ if arg.starts_with('-') => return usage(),
            _ => positional.push(arg),
        }
    }
    let [folder, dialect] = positional.as_slice() else {
        return usage();
    };
    let Some(dialect) = Dialect::parse(dialect) else {
        return usage();
    };
    let folder = Path::new(folder);
    let (found, skipped) = match collect(folder, dialect) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("check-folder: cannot read {}: {error}", folder.display());
            return ExitCode::from(2);
        }
    };
    let scratch = std::env::temp_dir().join(format!("check-folder-{}", std::process::id()));
    let result = write_and_check(&scratch, &found, dialect, unlocked);
    if keep {
        println!("scratch folder kept: {}", scratch.display());
    } else {
        let _ = fs::remove_dir_all(&scratch);
    }
    let errors = match result {
        Ok(errors) => errors,
        Err(error) => {
            eprintln!("check-folder: cannot write {}: {error}", scratch.display());
            return ExitCode::from(2);
        }
    };
    let ups = found.values().filter(|f| f.up.is_some()).count();
    let downs = found.values().filter(|f| f.down.is_some()).count();
    println!(
        "{} as {}: {ups} migrations, {downs} down files ({skipped} files skipped: another dialect's, or not a migration); {}",
        folder.display(),
        dialect.name(),
        match unlocked {
            Unlocked::AllButFirst => "the first migration locked, the rest unlocked",
            Unlocked::All => "every migration unlocked",
        }
    );
    report(&errors)
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The migrations of `folder` for `dialect` by key, and how many `.sql` files were
/// skipped as another dialect's or as no migration.
fn collect(folder: &Path, dialect: Dialect) -> std::io::Result<(BTreeMap<Key, Found>, usize)> {
    let mut found: BTreeMap<Key, Found> = BTreeMap::new();
    let mut skipped = 0;
    for entry in fs::read_dir(folder)? {
        let path = entry?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_dir() {
            let up = ["up.sql", "migration.sql"]
                .iter()
                .map(|name| path.join(name))
                .find(|p| p.is_file());
            let Some(up) = up else { continue };
            // Diesel runs a migration outside a transaction when its metadata says so.
            let no_transaction = fs::read_to_string(path.join("metadata.toml"))
                .is_ok_and(|toml| toml.lines().any(is_run_in_transaction_false));
            let migration = found.entry(Key::folder(file_name)).or_default();
            migration.offer(false, picked(up, true, no_transaction));
            let down = path.join("down.sql");
            if down.is_file() {
                migration.offer(true, picked(down, true, no_transaction));
            }
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".sql") else {
            continue;
        };
        let mut parts = stem.split('.');
        let mut key = parts.next().unwrap_or_default().to_owned();
        let (mut down, mut specific, mut no_transaction) = (false, false, false);
        let mut other_dialect = false;
        for marker in parts {
            match marker.to_ascii_lowercase().as_str() {
                "up" => down = false,
                "down" => down = true,
                "autocommit" => no_transaction = true,
                "cockroach" | "cockroachdb" | "crdb" | "mssql" | "sqlserver" | "oracle" => {
                    other_dialect = true
                }
                name => match Dialect::parse(name) {
                    Some(d) if d == dialect => specific = true,
                    Some(_) => other_dialect = true,
                    None => {
                        key.push('.');
                        key.push_str(marker);
                    }
                },
            }
        }
        if other_dialect || !key.starts_with(|c: char| c.is_ascii_digit()) {
            skipped += 1;
            continue;
        }
        found
            .entry(Key::file(&key))
            .or_default()
            .offer(down, picked(path, specific, no_transaction));
    }
    found.retain(|_, f| f.up.is_some());
    Ok((found, skipped))
}

fn is_run_in_transaction_false(line: &str) -> bool {
    let squashed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    squashed == "run_in_transaction=false"
}

fn picked(path: PathBuf, specific: bool, no_transaction: bool) -> Picked {
    Picked {
        path,
        specific,
        no_transaction,
    }
}

/// A migration's key, ordered by its version, then as text.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    version: KeyVersion,
    text: String,
}

/// What stands before the key's first `_`: a number for flat files (golang-migrate, sqlx
/// and popx compare numbers: `2_` before `10_`), text without `-` for a folder (diesel
/// compares `2019-02-26-153500` as `20190226153500`, as text).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum KeyVersion {
    Number(u128),
    Text(String),
}

impl Key {
    fn file(text: &str) -> Key {
        let before = text.split('_').next().unwrap_or_default();
        Key {
            version: KeyVersion::Number(before.parse().unwrap_or(u128::MAX)),
            text: text.to_owned(),
        }
    }

    fn folder(text: &str) -> Key {
        let before = text.split('_').next().unwrap_or_default();
        Key {
            version: KeyVersion::Text(before.replace('-', "")),
            text: text.to_owned(),
        }
    }

    /// The key as a migration name: `[A-Za-z0-9_]` only.
    fn name(&self) -> String {
        self.text
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }
}

/// Writes the folder under our names with its lock, and judges it.
fn write_and_check(
    scratch: &Path,
    found: &BTreeMap<Key, Found>,
    dialect: Dialect,
    unlocked: Unlocked,
) -> std::io::Result<Vec<schema_core::SourceError>> {
    if scratch.exists() {
        fs::remove_dir_all(scratch)?;
    }
    fs::create_dir_all(scratch)?;
    let width = found.len().to_string().len().max(4);
    let mut lock = Vec::new();
    for (n, (key, files)) in found.iter().enumerate() {
        let version = n as u64 + 1;
        let stem = format!("{version:0width$}_{}", key.name());
        let Some(up) = &files.up else { continue };
        let up = copy(up, &scratch.join(format!("{stem}.sql")))?;
        if version == 1 && unlocked == Unlocked::AllButFirst {
            let checksum = Checksum::of_file(&up);
            lock.push(LockEntry::new(Version::new(1), key.name(), checksum));
        }
        if let Some(down) = &files.down {
            copy(down, &scratch.join(format!("{stem}.down.sql")))?;
        }
    }
    fs::write(
        scratch.join(schema_core::lock::LOCK_FILE_NAME),
        Lock::new(lock).render(),
    )?;
    Ok(
        match schema_core::read_folder(scratch, "migrations", &[dialect]) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        },
    )
}

/// Copies a file byte for byte (after the directive its source layout implies), and
/// returns what it wrote.
fn copy(picked: &Picked, to: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = fs::read(&picked.path)?;
    if picked.no_transaction {
        let after_bom = if bytes.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            0
        };
        let directive = b"-- schema: no-transaction\n".iter().copied();
        bytes.splice(after_bom..after_bom, directive);
    }
    fs::write(to, &bytes)?;
    Ok(bytes)
}

/// Which rule an error is from.
fn rule_of(message: &str) -> &'static str {
    if message.contains("destructive statement") {
        "lint"
    } else if message.contains("ends the transaction the migration runs in")
        || message.contains("does nothing inside a transaction")
    {
        "transaction"
    } else {
        "other"
    }
}

/// The message without the advice that every error of its rule repeats.
fn shortened(message: &str) -> &str {
    [
        "; data loss should be a decision",
        "; if the file must manage its own transaction",
        "; SQLite's table-rebuild recipe",
    ]
    .iter()
    .find_map(|advice| message.find(advice))
    .map_or(message, |at| &message[..at])
}

fn report(errors: &[schema_core::SourceError]) -> ExitCode {
    let mut by_rule: BTreeMap<&str, Vec<&schema_core::SourceError>> = BTreeMap::new();
    for error in errors {
        by_rule
            .entry(rule_of(&error.message))
            .or_default()
            .push(error);
    }
    for (rule, errors) in &by_rule {
        let mut files: Vec<&str> = errors.iter().map(|e| e.file.as_str()).collect();
        files.dedup();
        println!("\n{rule}: {} errors in {} files", errors.len(), files.len());
        for error in errors {
            println!("  {}: {}", error.file, shortened(&error.message));
        }
    }
    let lint = by_rule.get("lint").map_or(&[][..], Vec::as_slice);
    let mut kinds: Vec<(&str, usize)> = schema_core::lint::RULES
        .iter()
        .map(|rule| {
            let pattern = format!("{} at line", rule.kind);
            let count = lint
                .iter()
                .map(|e| e.message.matches(&pattern).count())
                .sum();
            (rule.kind, count)
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    kinds.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "\nsummary: lint {} ({}), transaction {}, other {}",
        lint.len(),
        kinds.join(", "),
        by_rule.get("transaction").map_or(0, Vec::len),
        by_rule.get("other").map_or(0, Vec::len),
    );
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
