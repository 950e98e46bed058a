//! diesel's migrations as this crate's: `db import-diesel` converts diesel's folder into
//! migration files, and `db baseline` reads diesel's recorded versions with the same rule,
//! so that the two always agree.
//!
//! What diesel does (diesel_migrations 2.x, `version_from_string`): a folder
//! `2019-02-26-002946_create_users` with `up.sql` (and optionally `down.sql` and
//! `metadata.toml`) is recorded in `__diesel_schema_migrations` as the text before the
//! folder's first `_`, with every `-` removed: `20190226002946`. Newer diesel_cli writes
//! `2025-09-19-132648-0000_x`, recorded as the 18 digits `202509191326480000`. A `_` where
//! diesel_cli writes a `-` (`2024-03-13_170000_x`) ends the version there: diesel records
//! `20240313`. diesel runs and lists migrations in the order of those texts, as text.
//!
//! The mapping:
//!
//! - **Versions** are diesel's recorded digits with zeros appended up to the width of the
//!   history's widest version (14, diesel_cli's `%Y%m%d%H%M%S`, or more): in a history of
//!   14-digit versions each keeps its number, and every number has the same width, so
//!   ordering them as numbers is ordering diesel's texts as diesel does (`20240313`
//!   becomes `20240313000000`, after every migration of 2024-03-12 and before the
//!   migrations of 2024-03-13 that diesel runs after it, rather than before the years
//!   older 14-digit ones).
//! - **diesel's own setup**, `00000000000000_diesel_initial_setup` (the
//!   `diesel_manage_updated_at` functions), is version 1: a version here is above 0, and a
//!   database built from the converted folder needs those functions as much as one
//!   diesel built.
//! - **A file with no SQL** (comments only, or empty): diesel runs a file of comments
//!   alone on SQLite (PostgreSQL refuses it as an empty query, and diesel refuses an
//!   empty file before sending it), so a history may hold one; here a migration must run
//!   a statement, so `SELECT 1;` with a comment saying why is appended (the original
//!   text stays above it). A `down.sql` with no SQL is converted
//!   the same way when its `up.sql` has none either (there is nothing to undo); beside an
//!   `up.sql` that does something, it is diesel_cli's unedited template (`-- This file
//!   should undo anything in up.sql`) and is not converted, so `db down` refuses the
//!   migration rather than pretending to revert it.
//! - **`metadata.toml`** with `run_in_transaction = false` (or, as diesel reads it, a
//!   `metadata.toml` that does not mention `run_in_transaction`) starts both files with
//!   `-- schema: no-transaction`.
//! - **Names** are the folder's text after its first `_`, every character other than
//!   letters, digits and `_` made `_`.
//!
//! Everything else is copied byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use schema_core::Dialect;
use schema_core::sql::has_sql;

use super::{Failure, Outcome};
use crate::{Migrations, Version};

/// The narrowest version: diesel_cli's `%Y%m%d%H%M%S`.
const NARROWEST: usize = 14;
/// The widest version: every number of 19 digits fits in 64 bits.
const WIDEST: usize = 19;
/// What a converted file with no SQL runs.
const NO_SQL: &str = "SELECT 1; -- db import-diesel: diesel's file has no SQL, and a migration here must run a statement\n";

/// The version diesel records for the migration folder `folder`.
pub(super) fn recorded_version(folder: &str) -> String {
    folder
        .split('_')
        .next()
        .unwrap_or_default()
        .replace('-', "")
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// This crate's version for diesel's recorded `version`, in a history whose versions are
/// `width` digits wide; `None` when it is not digits, or wider.
pub(super) fn our_version(recorded: &str, width: usize) -> Option<Version> {
    if !is_digits(recorded) || recorded.len() > width || width > WIDEST {
        return None;
    }
    if recorded.bytes().all(|b| b == b'0') {
        return Some(Version::new(1));
    }
    format!("{recorded:0<width$}")
        .parse()
        .ok()
        .map(Version::new)
}

/// How `db baseline` reads one row of diesel's history.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    /// The migration of this binary it is.
    Found(Version),
    /// The version is not digits.
    NotDigits,
    /// No migration of this binary: the version `db import-diesel` would have given it.
    Missing(Version),
    /// Several migrations of this binary could be it.
    Ambiguous(Vec<Version>),
}

/// The migration of this binary (`has` says which versions exist) that diesel's row
/// `recorded` is: the same number (a folder renamed by hand), else the number at the one
/// width that `db import-diesel` used (14 to 19 digits), else diesel's setup as version 1.
pub(super) fn match_recorded(recorded: &str, has: impl Fn(Version) -> bool) -> Recorded {
    let digits: String = recorded.chars().filter(|c| *c != '-').collect();
    if !is_digits(&digits) {
        return Recorded::NotDigits;
    }
    if let Ok(number) = digits.parse::<u64>()
        && number > 0
        && has(Version::new(number))
    {
        return Recorded::Found(Version::new(number));
    }
    let narrowest = digits.len().max(NARROWEST);
    let mut found: Vec<Version> = (narrowest..=WIDEST)
        .filter_map(|width| our_version(&digits, width))
        .filter(|version| has(*version))
        .collect();
    found.dedup();
    match found.as_slice() {
        [version] => Recorded::Found(*version),
        [] => Recorded::Missing(our_version(&digits, narrowest).unwrap_or(Version::new(u64::MAX))),
        _ => Recorded::Ambiguous(found),
    }
}

/// One diesel migration folder, read.
struct Folder {
    /// The folder's name.
    folder: String,
    /// What diesel records for it.
    recorded: String,
    up: String,
    down: Option<String>,
    no_transaction: bool,
    /// Files of the folder that are not converted.
    others: Vec<String>,
}

/// The files of the converted folder, and what a reader should know about them.
#[derive(Debug, Default)]
pub(super) struct Conversion {
    /// The width of every version.
    pub width: usize,
    /// File name and text, in version order (each up file before its down file).
    pub files: Vec<(String, String)>,
    /// How many migrations.
    pub migrations: usize,
    /// One line for each migration whose conversion was more than a rename.
    pub notes: Vec<String>,
}

/// Whether diesel runs the folder outside a transaction: diesel reads `metadata.toml`
/// with serde, its `run_in_transaction` defaulting to `false` when the file is there but
/// does not name it (and to `true` when the file is missing or does not parse).
fn runs_outside_transaction(metadata: &str) -> bool {
    let mut found = None;
    for line in metadata.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            // Not TOML this reader understands (a table header, a broken line): diesel
            // would fall back to its default only if the whole file failed to parse, so
            // stay with what diesel's field default says.
            continue;
        };
        if key.trim().trim_matches('"') == "run_in_transaction" {
            found = match value.trim() {
                "true" => Some(true),
                "false" => Some(false),
                // Not a boolean: the file does not parse, and diesel uses a transaction.
                _ => return false,
            };
        }
    }
    !found.unwrap_or(false)
}

fn read_text(path: &Path, problems: &mut Vec<String>) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                problems.push(format!(
                    "{}: is not UTF-8; save it as UTF-8 and convert again",
                    path.display()
                ));
                None
            }
        },
        Err(error) => {
            problems.push(format!("{}: cannot be read: {error}", path.display()));
            None
        }
    }
}

/// The migration folders of diesel's `dir`, as diesel finds them: every subfolder that
/// is not hidden and not empty.
fn read_diesel(dir: &Path, problems: &mut Vec<String>) -> Vec<Folder> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(format!("{}: cannot be read: {error}", dir.display()));
            return Vec::new();
        }
    };
    let mut folders = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str().map(str::to_owned) else {
            problems.push(format!(
                "{}: the folder's name is not UTF-8",
                path.display()
            ));
            continue;
        };
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        let mut files: Vec<String> = match std::fs::read_dir(&path) {
            Ok(files) => files
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|f| !f.starts_with('.'))
                .collect(),
            Err(error) => {
                problems.push(format!("{}: cannot be read: {error}", path.display()));
                continue;
            }
        };
        if files.is_empty() {
            continue;
        }
        files.sort();
        if !files.iter().any(|f| f == "up.sql") {
            problems.push(format!(
                "{}: has no up.sql, so it is no diesel migration (diesel refuses the whole folder for it); move it out",
                path.display()
            ));
            continue;
        }
        let Some(up) = read_text(&path.join("up.sql"), problems) else {
            continue;
        };
        let down = if files.iter().any(|f| f == "down.sql") {
            match read_text(&path.join("down.sql"), problems) {
                Some(down) => Some(down),
                None => continue,
            }
        } else {
            None
        };
        let no_transaction = if files.iter().any(|f| f == "metadata.toml") {
            match read_text(&path.join("metadata.toml"), problems) {
                Some(metadata) => runs_outside_transaction(&metadata),
                None => continue,
            }
        } else {
            false
        };
        folders.push(Folder {
            recorded: recorded_version(&name),
            folder: name,
            up,
            down,
            no_transaction,
            others: files
                .into_iter()
                .filter(|f| !matches!(f.as_str(), "up.sql" | "down.sql" | "metadata.toml"))
                .collect(),
        });
    }
    folders
}

/// `text` starting with the no-transaction directive.
fn without_transaction(text: &str) -> String {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    format!("-- schema: no-transaction\n{body}")
}

/// `text` with a statement that does nothing appended.
fn with_statement(text: &str) -> String {
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(NO_SQL);
    out
}

/// Converts diesel's folder `dir`, reading its SQL as `dialects`; every problem at once.
pub(super) fn convert(dir: &Path, dialects: &[Dialect]) -> Result<Conversion, Vec<String>> {
    let mut problems = Vec::new();
    let folders = read_diesel(dir, &mut problems);
    let mut width = NARROWEST;
    for folder in &folders {
        if !is_digits(&folder.recorded) {
            problems.push(format!(
                "{}: diesel records its version as `{}`, which is not a number; versions here are numbers. Leave the folder out, or rename it (and its row in __diesel_schema_migrations) to a number",
                folder.folder, folder.recorded
            ));
        } else if folder.recorded.len() > WIDEST {
            problems.push(format!(
                "{}: diesel records its version as `{}`, {} digits; versions here have at most {WIDEST}",
                folder.folder,
                folder.recorded,
                folder.recorded.len()
            ));
        } else {
            width = width.max(folder.recorded.len());
        }
    }
    let mut by_version: BTreeMap<Version, &Folder> = BTreeMap::new();
    for folder in &folders {
        let Some(version) = our_version(&folder.recorded, width) else {
            continue;
        };
        if let Some(other) = by_version.insert(version, folder) {
            problems.push(format!(
                "{} and {} both become version {version} (diesel records `{}` and `{}`); rename one of them before converting",
                other.folder, folder.folder, other.recorded, folder.recorded
            ));
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(problems);
    }
    let no_sql = |text: &str| dialects.iter().any(|d| !has_sql(text, *d));
    let mut conversion = Conversion {
        width,
        migrations: by_version.len(),
        ..Conversion::default()
    };
    for (version, folder) in by_version {
        let rest = folder.folder.split_once('_').map_or("", |(_, rest)| rest);
        let mut name: String = rest
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() {
            name = "unnamed".to_owned();
        }
        let stem = format!("{:0width$}_{name}", version.get());
        let mut notes = Vec::new();
        if folder.recorded.bytes().all(|b| b == b'0') {
            notes.push(format!(
                "diesel's own setup (recorded as {}) is version 1",
                folder.recorded
            ));
        } else if folder.recorded.len() < NARROWEST {
            notes.push(format!(
                "diesel records this folder as version {} (the text before its first `_`) and runs it in that place",
                folder.recorded
            ));
        }
        if name != rest {
            notes.push(format!("named {name}"));
        }
        let up_empty = no_sql(&folder.up);
        let mut up = folder.up.clone();
        if up_empty {
            up = with_statement(&up);
            notes.push("up.sql has no SQL: `SELECT 1;` appended".to_owned());
        }
        if folder.no_transaction {
            up = without_transaction(&up);
            notes.push(
                "metadata.toml: outside a transaction (`-- schema: no-transaction`)".to_owned(),
            );
        }
        conversion.files.push((format!("{stem}.sql"), up));
        match &folder.down {
            Some(down) if no_sql(down) && !up_empty => notes.push(
                "down.sql has no SQL: no down file, so `db down` refuses this migration until one is written".to_owned(),
            ),
            Some(down) => {
                let mut down = down.clone();
                if up_empty && no_sql(&down) {
                    down = with_statement(&down);
                }
                if folder.no_transaction {
                    down = without_transaction(&down);
                }
                conversion.files.push((format!("{stem}.down.sql"), down));
            }
            None => {}
        }
        if !folder.others.is_empty() {
            notes.push(format!("not copied: {}", folder.others.join(", ")));
        }
        if !notes.is_empty() {
            conversion.notes.push(format!(
                "{} → {stem}.sql: {}",
                folder.folder,
                notes.join("; ")
            ));
        }
    }
    Ok(conversion)
}

/// The dialects named on the command line, else the backends this binary was built with
/// (as `embed_migrations!` chooses them), else all.
fn dialects(named: &[String]) -> Result<Vec<Dialect>, Failure> {
    let mut dialects = Vec::new();
    for name in named.iter().flat_map(|n| n.split(',')) {
        let dialect = Dialect::parse(name).ok_or_else(|| {
            Failure::usage(format!(
                "`{name}` is not a dialect: use postgres, mysql or sqlite"
            ))
        })?;
        if !dialects.contains(&dialect) {
            dialects.push(dialect);
        }
    }
    if dialects.is_empty() {
        dialects = [
            (cfg!(feature = "sqlx-postgres"), Dialect::Postgres),
            (cfg!(feature = "sqlx-mysql"), Dialect::Mysql),
            (
                cfg!(any(feature = "rusqlite", feature = "sqlx-sqlite")),
                Dialect::Sqlite,
            ),
        ]
        .into_iter()
        .filter_map(|(on, dialect)| on.then_some(dialect))
        .collect();
    }
    if dialects.is_empty() {
        dialects = Dialect::ALL.to_vec();
    }
    Ok(dialects)
}

/// `db import-diesel FOLDER [--into DIR] [--dialect D]`.
pub(super) fn import(
    migrations: &Migrations,
    from: &Path,
    into: Option<&Path>,
    dialect: &[String],
) -> Outcome {
    let dialects = dialects(dialect)?;
    let into: PathBuf = match into {
        Some(into) => into.to_owned(),
        None => {
            let dir = migrations.source_dir();
            if dir.as_os_str().is_empty() || !dir.is_dir() {
                return Err(Failure::usage(format!(
                    "the migrations folder this binary was built from ({}) is not here: run this command in the project's checkout, or name the folder to write with --into",
                    dir.display()
                )));
            }
            dir.to_owned()
        }
    };
    if !from.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a folder: name diesel's migrations folder (the one with a folder per migration)",
            from.display()
        )));
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(from, &into) {
        return Err(Failure::usage(format!(
            "{} is diesel's folder: write the converted files into another one (--into), then replace diesel's folder with it",
            from.display()
        )));
    }
    if into.is_dir() {
        let existing: Vec<String> = std::fs::read_dir(&into)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", into.display())))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        if !existing.is_empty() {
            return Err(Failure::usage(format!(
                "{} already holds migrations ({} .sql files): convert into an empty folder",
                into.display(),
                existing.len()
            )));
        }
    }
    let conversion = convert(from, &dialects).map_err(|problems| {
        Failure::check(format!(
            "nothing was written; {} problem(s) with diesel's folder {}:\n  {}",
            problems.len(),
            from.display(),
            problems.join("\n  ")
        ))
    })?;
    std::fs::create_dir_all(&into)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", into.display())))?;
    for (name, text) in &conversion.files {
        let path = into.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    say!(
        "converted {} diesel migration(s) from {} into {}: versions are diesel's, {} digits wide (zeros appended), so `db baseline` matches them to __diesel_schema_migrations",
        conversion.migrations,
        from.display(),
        into.display(),
        conversion.width
    );
    for note in &conversion.notes {
        say!("  {note}");
    }
    let display = into.display().to_string();
    if let Err(errors) = schema_core::read_folder(&into, &display, &dialects) {
        let mut message = format!(
            "the files were written, but the build refuses them ({} problem(s), read as {}); fix them, then build:",
            errors.len(),
            dialects
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for error in errors {
            let _ = write!(message, "\n  {error}");
        }
        return Err(Failure::check(message));
    }
    say!(
        "next: build, run `db baseline` on each database diesel migrated, then `db lock` and commit the folder and its lock"
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diesel_records_the_text_before_the_first_underscore_without_dashes() {
        assert_eq!(
            recorded_version("2019-02-26-002946_create_users"),
            "20190226002946"
        );
        assert_eq!(
            recorded_version("2025-09-19-132648-0000_theme-instance-default"),
            "202509191326480000"
        );
        assert_eq!(recorded_version("2024-03-13_170000_x"), "20240313");
        assert_eq!(
            recorded_version("00000000000000_diesel_initial_setup"),
            "00000000000000"
        );
        assert_eq!(recorded_version("2025-04-22-145900"), "20250422145900");
    }

    #[test]
    fn versions_are_padded_to_one_width_so_numbers_sort_as_diesel_sorts_text() {
        let mut recorded = [
            "20190226002946",
            "20240313",
            "20240312235959",
            "20240313090000",
            "202509191326480000",
            "00000000000000",
        ];
        let ours: Vec<u64> = recorded
            .iter()
            .map(|r| our_version(r, 18).unwrap().get())
            .collect();
        assert_eq!(
            ours,
            [
                201902260029460000,
                202403130000000000,
                202403122359590000,
                202403130900000000,
                202509191326480000,
                1
            ]
        );
        let mut by_number = recorded;
        by_number.sort_by_key(|r| our_version(r, 18).unwrap());
        recorded.sort();
        assert_eq!(by_number, recorded, "diesel's order is ours");
        assert_eq!(
            our_version("20190226002946", 14),
            Some(Version::new(20190226002946))
        );
        assert_eq!(our_version("2019x", 14), None);
        assert_eq!(our_version("12345678901234567890", 20), None);
    }

    #[test]
    fn baseline_finds_the_width_the_converter_used() {
        let binary = [1, 201902260029460000, 202403130000000000];
        let has = |v: Version| binary.contains(&v.get());
        assert_eq!(
            match_recorded("20190226002946", has),
            Recorded::Found(Version::new(201902260029460000))
        );
        assert_eq!(
            match_recorded("20240313", has),
            Recorded::Found(Version::new(202403130000000000))
        );
        assert_eq!(
            match_recorded("00000000000000", has),
            Recorded::Found(Version::new(1))
        );
        assert_eq!(
            match_recorded("20200101000000", has),
            Recorded::Missing(Version::new(20200101000000))
        );
        assert_eq!(match_recorded("lowercase", has), Recorded::NotDigits);
        // A folder renamed by hand keeps diesel's number.
        let renamed = |v: Version| v.get() == 20240313;
        assert_eq!(
            match_recorded("20240313", renamed),
            Recorded::Found(Version::new(20240313))
        );
        let both = |v: Version| [20240313000000, 202403130000000000].contains(&v.get());
        assert!(matches!(
            match_recorded("20240313", both),
            Recorded::Ambiguous(_)
        ));
    }

    #[test]
    fn metadata_is_read_as_diesel_reads_it() {
        assert!(runs_outside_transaction("run_in_transaction = false\n"));
        assert!(!runs_outside_transaction("run_in_transaction = true"));
        assert!(runs_outside_transaction("# nothing else\n"));
        assert!(!runs_outside_transaction("run_in_transaction = \"no\""));
    }

    struct Diesel(tempfile::TempDir);

    impl Diesel {
        fn new(folders: &[(&str, &[(&str, &str)])]) -> Diesel {
            let dir = tempfile::tempdir().unwrap();
            for (folder, files) in folders {
                std::fs::create_dir(dir.path().join(folder)).unwrap();
                for (name, text) in *files {
                    std::fs::write(dir.path().join(folder).join(name), text).unwrap();
                }
            }
            std::fs::write(dir.path().join(".keep"), "").unwrap();
            std::fs::create_dir(dir.path().join("empty")).unwrap();
            Diesel(dir)
        }

        fn convert(&self) -> Result<Conversion, Vec<String>> {
            convert(self.0.path(), &[Dialect::Postgres])
        }
    }

    #[test]
    fn converts_every_hard_case() {
        let diesel = Diesel::new(&[
            (
                "00000000000000_diesel_initial_setup",
                &[
                    (
                        "up.sql",
                        "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql;\n",
                    ),
                    ("down.sql", "DROP FUNCTION f();\n"),
                ],
            ),
            (
                "2019-02-26-002946_create-users",
                &[
                    ("up.sql", "CREATE TABLE users (id int);"),
                    ("down.sql", "DROP TABLE users;\n"),
                    ("README.md", "x"),
                ],
            ),
            (
                "2019-03-05_120000_late",
                &[("up.sql", "CREATE TABLE late (id int);\n")],
            ),
            (
                "2020-01-01-000000_nothing",
                &[
                    ("up.sql", "-- Your SQL goes here"),
                    (
                        "down.sql",
                        "-- This file should undo anything in `up.sql`\n",
                    ),
                ],
            ),
            (
                "2020-06-01-000000_template_down",
                &[
                    ("up.sql", "CREATE TABLE t (id int);\n"),
                    (
                        "down.sql",
                        "-- This file should undo anything in `up.sql`\n",
                    ),
                ],
            ),
            (
                "2025-09-19-132648-0000_concurrently",
                &[
                    ("up.sql", "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"),
                    ("down.sql", "DROP INDEX CONCURRENTLY t_id;\n"),
                    ("metadata.toml", "run_in_transaction = false\n"),
                ],
            ),
        ]);
        let conversion = diesel.convert().unwrap();
        assert_eq!(conversion.width, 18);
        assert_eq!(conversion.migrations, 6);
        let names: Vec<&str> = conversion.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "000000000000000001_diesel_initial_setup.sql",
                "000000000000000001_diesel_initial_setup.down.sql",
                "201902260029460000_create_users.sql",
                "201902260029460000_create_users.down.sql",
                "201903050000000000_120000_late.sql",
                "202001010000000000_nothing.sql",
                "202001010000000000_nothing.down.sql",
                "202006010000000000_template_down.sql",
                "202509191326480000_concurrently.sql",
                "202509191326480000_concurrently.down.sql",
            ]
        );
        let text = |name: &str| {
            conversion
                .files
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
                .unwrap()
        };
        assert_eq!(
            text("201902260029460000_create_users.sql"),
            "CREATE TABLE users (id int);"
        );
        assert_eq!(
            text("202001010000000000_nothing.sql"),
            format!("-- Your SQL goes here\n{NO_SQL}")
        );
        assert!(text("202001010000000000_nothing.down.sql").ends_with(NO_SQL));
        assert!(
            text("202509191326480000_concurrently.sql")
                .starts_with("-- schema: no-transaction\nCREATE INDEX CONCURRENTLY")
        );
        assert!(
            text("202509191326480000_concurrently.down.sql")
                .starts_with("-- schema: no-transaction\nDROP INDEX")
        );
        let notes = conversion.notes.join("\n");
        for expected in [
            "00000000000000_diesel_initial_setup → 000000000000000001_diesel_initial_setup.sql: diesel's own setup",
            "2019-02-26-002946_create-users → 201902260029460000_create_users.sql: named create_users; not copied: README.md",
            "2019-03-05_120000_late → 201903050000000000_120000_late.sql: diesel records this folder as version 20190305",
            "202001010000000000_nothing.sql: up.sql has no SQL",
            "202006010000000000_template_down.sql: down.sql has no SQL",
            "202509191326480000_concurrently.sql: metadata.toml",
        ] {
            assert!(notes.contains(expected), "{expected}\n{notes}");
        }
    }

    #[test]
    fn a_history_of_14_digit_versions_keeps_them() {
        let diesel = Diesel::new(&[(
            "2019-02-26-002946_create_users",
            &[("up.sql", "CREATE TABLE users (id int);\n")],
        )]);
        let conversion = diesel.convert().unwrap();
        assert_eq!(conversion.files[0].0, "20190226002946_create_users.sql");
        assert!(conversion.notes.is_empty(), "{:?}", conversion.notes);
    }

    #[test]
    fn refuses_what_cannot_be_a_version_here_all_at_once() {
        let up: &[(&str, &str)] = &[("up.sql", "SELECT 1;\n")];
        let diesel = Diesel::new(&[
            ("lowercase_person_names", up),
            ("2024-03-13_a", up),
            ("20240313000000_b", up),
            ("00000000000001_c", up),
            ("00000000000000_diesel_initial_setup", up),
            ("12345678901234567890_d", up),
            ("2024-05-05-000000_no_up", &[("down.sql", "SELECT 1;\n")]),
        ]);
        let problems = diesel.convert().unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        let all = problems.join("\n");
        for expected in [
            "lowercase_person_names: diesel records its version as `lowercase`, which is not a number",
            "both become version 20240313000000",
            "both become version 1",
            "12345678901234567890_d: diesel records its version as `12345678901234567890`, 20 digits",
            "2024-05-05-000000_no_up: has no up.sql",
        ] {
            assert!(all.contains(expected), "{expected}\n{all}");
        }
    }
}
