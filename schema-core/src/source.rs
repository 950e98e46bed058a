//! Reading a migrations folder: every naming rule, directive, encoding check, the lock
//! check and the lint, judged together so that one build reports every problem.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Dialect;
use crate::lint::find_destructive_in;
use crate::lock::{LOCK_FILE_NAME, Lock};
use crate::name::{FileName, Side};
use crate::transaction::{TransactionControl, find_transaction_control};
use crate::{Checksum, Directives, Version, sql};

/// The folder name, inside the migrations folder, that holds seed data.
pub const SEEDS_FOLDER: &str = "seeds";

/// One `.sql` file that passed every rule.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Absolute path, for `include_str!`.
    pub path: PathBuf,
    /// Path as the user wrote it, relative to the crate: `migrations/0001_a.sql`.
    pub display: String,
    /// The file's text as it is on disk (a BOM included).
    pub text: String,
    /// SHA-256 over the normalised text.
    pub checksum: Checksum,
    /// Its directives.
    pub directives: Directives,
}

/// A migration: an up file and, optionally, its down file.
#[derive(Clone, Debug)]
pub struct SourceMigration {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// The up file.
    pub up: SourceFile,
    /// The down file, if any.
    pub down: Option<SourceFile>,
}

/// A seed file from `seeds/`.
#[derive(Clone, Debug)]
pub struct SourceSeed {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// The file.
    pub file: SourceFile,
}

/// A migrations folder that passed every rule.
#[derive(Clone, Debug)]
pub struct SourceFolder {
    /// Absolute path of the folder.
    pub dir: PathBuf,
    /// The folder as the user wrote it.
    pub display: String,
    /// Migrations sorted by version.
    pub migrations: Vec<SourceMigration>,
    /// Seeds sorted by version.
    pub seeds: Vec<SourceSeed>,
    /// Absolute path of `migrations.lock` (which may not exist yet).
    pub lock_path: PathBuf,
    /// The lock, when the file exists.
    pub lock: Option<Lock>,
}

/// A broken rule, naming the file it is about.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SourceError {
    /// The file or folder, as the user wrote the folder: `migrations/0001_a.sql`.
    pub file: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for SourceError {}

struct Reader {
    errors: Vec<SourceError>,
    /// The dialects the folder serves: every rule reads the SQL as each of them does.
    dialects: Vec<Dialect>,
}

impl Reader {
    fn error(&mut self, file: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SourceError {
            file: file.into(),
            message: message.into(),
        });
    }

    /// The `.sql` files of a folder, with their parsed names, in name order.
    fn list(
        &mut self,
        dir: &Path,
        display: &str,
        allow_seeds: bool,
    ) -> Vec<(PathBuf, String, FileName)> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                self.error(display, format!("cannot read the folder: {error}"));
                return Vec::new();
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
            else {
                self.error(
                    format!(
                        "{display}/{}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    "the file name is not valid UTF-8; rename it",
                );
                continue;
            };
            let shown = format!("{display}/{file_name}");
            if path.is_dir() {
                if allow_seeds && file_name == SEEDS_FOLDER {
                    continue;
                }
                let allowed = if allow_seeds {
                    "only `seeds/` may be inside the migrations folder"
                } else {
                    "seeds have no subfolders"
                };
                self.error(
                    format!("{shown}/"),
                    format!("is a folder, and {allowed}; move its files into `{display}/` or out of it (subfolders are never skipped silently)"),
                );
                continue;
            }
            if !file_name.ends_with(".sql") {
                if file_name.to_ascii_lowercase().ends_with(".sql") {
                    // The last four bytes are ASCII, so this cut is on a char boundary.
                    let stem = &file_name[..file_name.len() - ".sql".len()];
                    self.error(
                        shown,
                        format!("the extension must be `.sql` in lower case; rename the file to `{stem}.sql`"),
                    );
                }
                continue;
            }
            match FileName::parse(&file_name) {
                Ok(name) => files.push((path, shown, name)),
                Err(problem) => self.error(
                    shown,
                    format!("the file name {problem}; migrations are named `<version>_<name>.sql` (or `.up.sql`, `.down.sql`)"),
                ),
            }
        }
        files
    }

    fn read_file(&mut self, path: &Path, display: &str) -> Option<SourceFile> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.error(display, format!("cannot read the file: {error}"));
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let at = error.utf8_error().valid_up_to();
                let bytes = error.as_bytes();
                let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
                self.error(
                    display,
                    format!("is not valid UTF-8 (byte 0x{:02x} on line {line}, at byte offset {at}); save the file as UTF-8", bytes[at]),
                );
                return None;
            }
        };
        if !self
            .dialects
            .iter()
            .all(|&dialect| sql::has_sql(&text, dialect))
        {
            self.error(display, "has no SQL (it is empty or holds only comments); write the migration or delete the file");
            return None;
        }
        let directives = match Directives::parse(&text) {
            Ok(directives) => directives,
            Err(problems) => {
                for problem in problems {
                    self.error(display, problem.to_string());
                }
                return None;
            }
        };
        Some(SourceFile {
            path: path.to_path_buf(),
            display: display.to_owned(),
            checksum: Checksum::of_file(text.as_bytes()),
            text,
            directives,
        })
    }
}

/// An up file's name and where it is, known even when its contents break a rule, so
/// that a broken file is not also reported as missing by its down file or the lock.
struct UpName {
    name: String,
    display: String,
}

/// Reads and judges a migrations folder that serves `dialects` (all of them when the
/// list is empty).
///
/// `dir` is where the folder is; `display` is how to name it in messages (as the user
/// wrote it, so messages do not depend on the machine). Every problem in the folder is
/// returned, not just the first.
pub fn read_folder(
    dir: &Path,
    display: &str,
    dialects: &[Dialect],
) -> Result<SourceFolder, Vec<SourceError>> {
    let display = display.trim_end_matches('/');
    let mut reader = Reader {
        errors: Vec::new(),
        dialects: if dialects.is_empty() {
            Dialect::ALL.to_vec()
        } else {
            dialects.to_vec()
        },
    };
    if !dir.is_dir() {
        reader.error(
            display,
            "the migrations folder does not exist (paths are relative to the crate's Cargo.toml); create it or pass its path: `embed_migrations!(\"path/to/migrations\")`",
        );
        return Err(reader.errors);
    }

    let mut up_names: BTreeMap<Version, UpName> = BTreeMap::new();
    let mut ups: BTreeMap<Version, SourceFile> = BTreeMap::new();
    let mut downs: Vec<(FileName, String, Option<SourceFile>)> = Vec::new();
    for (path, shown, name) in reader.list(dir, display, true) {
        let file = reader.read_file(&path, &shown);
        if name.side == Side::Down {
            downs.push((name, shown, file));
            continue;
        }
        if let Some(other) = up_names.get(&name.version) {
            let message = if other.name == name.name {
                format!(
                    "is a second up file for migration {} `{}`, beside `{}`; keep one",
                    name.version, name.name, other.display
                )
            } else {
                format!(
                    "has version {}, like `{}`; versions must be unique: give the newer migration a version above the newest one",
                    name.version, other.display
                )
            };
            reader.error(shown, message);
            continue;
        }
        up_names.insert(
            name.version,
            UpName {
                name: name.name,
                display: shown,
            },
        );
        if let Some(file) = file {
            ups.insert(name.version, file);
        }
    }

    let mut down_by_version: BTreeMap<Version, SourceFile> = BTreeMap::new();
    for (name, shown, file) in downs {
        match up_names.get(&name.version) {
            Some(up) if up.name == name.name => {
                let Some(file) = file else { continue };
                if let Some(other) = down_by_version.get(&name.version) {
                    let message = format!(
                        "is a second down migration for version {}, beside `{}`; keep one",
                        name.version, other.display
                    );
                    reader.error(shown, message);
                } else {
                    down_by_version.insert(name.version, file);
                }
            }
            Some(up) => {
                let message = format!(
                    "has no up migration with its name: version {} is `{}`; name the down file after its up file: `{}`",
                    name.version,
                    up.display,
                    down_file_for(&up.display)
                );
                reader.error(shown, message);
            }
            None => {
                let up_file = shown.strip_suffix(".down.sql").unwrap_or(&shown);
                let message = format!(
                    "has no up migration: no file has version {} (expected `{up_file}.sql`); a down file undoes an up migration, so add the up file or delete this one",
                    name.version
                );
                reader.error(shown, message);
            }
        }
    }

    let migrations: Vec<SourceMigration> = ups
        .into_iter()
        .map(|(version, up)| SourceMigration {
            version,
            name: up_names[&version].name.clone(),
            up,
            down: down_by_version.remove(&version),
        })
        .collect();

    let seeds = read_seeds(&mut reader, dir, display);

    let lock_path = dir.join(LOCK_FILE_NAME);
    let lock_display = format!("{display}/{LOCK_FILE_NAME}");
    let lock = if lock_path.is_file() {
        match fs::read_to_string(&lock_path) {
            Ok(text) => match Lock::parse(&text) {
                Ok(lock) => Some(lock),
                Err(problems) => {
                    for problem in problems {
                        reader.error(&lock_display, problem.to_string());
                    }
                    None
                }
            },
            Err(error) => {
                reader.error(&lock_display, format!("cannot read the lock: {error}"));
                None
            }
        }
    } else {
        None
    };

    for migration in &migrations {
        let locked = lock
            .as_ref()
            .is_some_and(|lock| lock.get(migration.version).is_some());
        if !locked {
            transaction_rules(&mut reader, &migration.up);
        }
        if let Some(down) = &migration.down {
            transaction_rules(&mut reader, down);
        }
    }
    for seed in &seeds {
        transaction_rules(&mut reader, &seed.file);
    }

    if let Some(lock) = &lock {
        check_lock(&mut reader, lock, &lock_display, &up_names, &migrations);
        for migration in &migrations {
            if lock.get(migration.version).is_none() && !migration.up.directives.destructive {
                lint(&mut reader, &migration.up);
            }
        }
        if reader.dialects.contains(&Dialect::Postgres) {
            locking_rules(&mut reader, lock, &migrations);
        }
    }

    if reader.errors.is_empty() {
        Ok(SourceFolder {
            dir: dir.to_path_buf(),
            display: display.to_owned(),
            migrations,
            seeds,
            lock_path,
            lock,
        })
    } else {
        Err(reader.errors)
    }
}

/// `…/0002_add_email.down.sql` for the up file `…/0002_add_email.sql` or `….up.sql`.
fn down_file_for(up_display: &str) -> String {
    let stem = up_display
        .strip_suffix(".up.sql")
        .or_else(|| up_display.strip_suffix(".sql"))
        .unwrap_or(up_display);
    format!("{stem}.down.sql")
}

/// The file `display` renamed to carry `name`, its version spelled as it is:
/// `…/0002_add_email_column.sql` → `…/0002_add_email.sql`.
fn with_name(display: &str, name: &str) -> String {
    let (folder, file) = display.rsplit_once('/').unwrap_or(("", display));
    let version = file.split_once('_').map_or(file, |(version, _)| version);
    let extension = if file.ends_with(".up.sql") {
        ".up.sql"
    } else {
        ".sql"
    };
    let renamed = format!("{version}_{name}{extension}");
    if folder.is_empty() {
        renamed
    } else {
        format!("{folder}/{renamed}")
    }
}

fn read_seeds(reader: &mut Reader, dir: &Path, display: &str) -> Vec<SourceSeed> {
    let seeds_dir = dir.join(SEEDS_FOLDER);
    if !seeds_dir.is_dir() {
        return Vec::new();
    }
    let seeds_display = format!("{display}/{SEEDS_FOLDER}");
    let mut shown_by_version: BTreeMap<Version, String> = BTreeMap::new();
    let mut seeds: Vec<SourceSeed> = Vec::new();
    for (path, shown, name) in reader.list(&seeds_dir, &seeds_display, false) {
        if name.side == Side::Down {
            reader.error(
                shown,
                "is a down file, and seeds have no down side; delete it",
            );
            continue;
        }
        let file = reader.read_file(&path, &shown);
        if let Some(other) = shown_by_version.get(&name.version) {
            let message = format!(
                "has version {}, like `{other}`; seed versions must be unique: give one of them another version",
                name.version
            );
            reader.error(shown, message);
            continue;
        }
        shown_by_version.insert(name.version, shown);
        if let Some(file) = file {
            seeds.push(SourceSeed {
                version: name.version,
                name: name.name,
                file,
            });
        }
    }
    seeds.sort_by_key(|seed| seed.version);
    seeds
}

/// The lock check: every locked migration is present, under its name, unchanged.
fn check_lock(
    reader: &mut Reader,
    lock: &Lock,
    lock_display: &str,
    up_names: &BTreeMap<Version, UpName>,
    migrations: &[SourceMigration],
) {
    let by_version: BTreeMap<Version, &SourceMigration> =
        migrations.iter().map(|m| (m.version, m)).collect();
    for entry in lock.entries() {
        let Some(up) = up_names.get(&entry.version) else {
            let message = format!(
                "lists version {} `{}` (sha256:{}), but no migration file has that version; an applied migration must stay in the folder: restore its file from version control (to drop a draft that only your development database ran, restore it, run `db down`, then delete it)",
                entry.version, entry.name, entry.checksum
            );
            reader.error(lock_display, message);
            continue;
        };
        if up.name != entry.name {
            let message = format!(
                "the lock lists version {} as `{}`, but this file names it `{}`; an applied migration keeps its name: rename the file back to `{}`",
                entry.version,
                entry.name,
                up.name,
                with_name(&up.display, &entry.name)
            );
            reader.error(&up.display, message);
            continue;
        }
        // A file that broke another rule was reported for it and has no checksum.
        let Some(migration) = by_version.get(&entry.version) else {
            continue;
        };
        let actual = migration.up.checksum;
        if actual == entry.checksum {
            continue;
        }
        let message = match entry.amendments.iter().find(|a| a.from == actual) {
            Some(amendment) => format!(
                "went back to its text from before `db amend`: the file hashes to sha256:{actual}, which the lock records as amended to sha256:{} (reason: \"{}\"); restore the amended text from version control",
                entry.checksum, amendment.reason
            ),
            None => format!(
                "was edited after it was applied: the lock records sha256:{} but the file now hashes to sha256:{actual}. Do not change an applied migration: add a new migration instead; to fix a draft that only your development database has, run `db down` first (put the applied text back, run `db down`, then make the change); for a change that is harmless on every database that ran it, run `db amend {v} --reason \"…\"`, or where the application no longer builds, `schema-lock amend {v} --reason \"…\" --dir {dir}` (`cargo install schema-core`)",
                entry.checksum,
                v = entry.version,
                dir = up.display.rsplit_once('/').map_or(".", |(d, _)| d)
            ),
        };
        reader.error(&up.display, message);
    }
}

fn lint(reader: &mut Reader, file: &SourceFile) {
    let found = find_destructive_in(&file.text, &reader.dialects);
    let every = reader.dialects.len();
    let list: Vec<String> = found
        .iter()
        .map(|(item, seen)| match seen.len() < every {
            true => {
                let names: Vec<String> = seen.iter().map(ToString::to_string).collect();
                format!("{item}, as {} reads it", names.join(" and "))
            }
            false => item.to_string(),
        })
        .collect();
    let what = match list.len() {
        0 => return,
        1 => "a destructive statement".to_owned(),
        n => format!("{n} destructive statements"),
    };
    let message = format!(
        "contains {what} ({}); data loss should be a decision: if it is intended, add `-- schema: destructive` at the top of the file",
        list.join("; ")
    );
    reader.error(&file.display, message);
}

/// Rolling deploys on PostgreSQL: the new up files must not lock the tables that
/// earlier migrations created (see [`crate::locking`]), unless they say
/// `-- schema: locks-tables`. Every up file is read, in version order, to know the tables.
fn locking_rules(reader: &mut Reader, lock: &Lock, migrations: &[SourceMigration]) {
    let ups = migrations.iter().map(|m| {
        let new = lock.get(m.version).is_none() && !crate::directive::locks_tables(&m.up.text);
        (m.up.text.as_str(), new)
    });
    for (index, found) in crate::locking::judge_folder(ups) {
        for item in found {
            reader.error(&migrations[index].up.display, item.message());
        }
    }
}

/// A file that runs in the transaction the runtime opens for it must leave that
/// transaction to the runtime.
fn transaction_rules(reader: &mut Reader, file: &SourceFile) {
    if file.directives.no_transaction {
        return;
    }
    let mut found: Vec<TransactionControl> = Vec::new();
    for &dialect in &reader.dialects {
        for item in find_transaction_control(&file.text, dialect) {
            if !found.contains(&item) {
                found.push(item);
            }
        }
    }
    for item in found {
        let fix = if item.statement.to_ascii_uppercase().starts_with("PRAGMA") {
            "SQLite's table-rebuild recipe works outside a transaction: start the file with `-- schema: no-transaction`, then `PRAGMA foreign_keys = OFF;`, `BEGIN;`, the rebuild, `PRAGMA foreign_key_check;`, `COMMIT;`, `PRAGMA foreign_keys = ON;`"
        } else {
            "if the file must manage its own transaction, start it with `-- schema: no-transaction` (the runtime then records it as started before it runs and finished after); otherwise remove the statement"
        };
        reader.error(&file.display, format!("{item}; {fix}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockEntry;

    struct Folder(tempdir::TempDir);

    mod tempdir {
        use std::path::{Path, PathBuf};

        /// A scratch folder removed on drop (schema-core has no dev-dependencies).
        pub struct TempDir(PathBuf);

        impl TempDir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "schema-core-test-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                TempDir(path)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    impl Folder {
        fn new(files: &[(&str, &str)]) -> Folder {
            let folder = Folder(tempdir::TempDir::new());
            for (name, text) in files {
                folder.write(name, text);
            }
            folder
        }
        fn write(&self, name: &str, text: &str) {
            let path = self.0.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        fn read(&self) -> Result<SourceFolder, Vec<SourceError>> {
            read_folder(self.0.path(), "migrations", &[])
        }
        fn errors(&self) -> Vec<String> {
            self.read()
                .unwrap_err()
                .into_iter()
                .map(|e| e.to_string())
                .collect()
        }
        fn lock(&self) {
            let folder = self.read().unwrap();
            let lock = Lock::new(
                folder
                    .migrations
                    .iter()
                    .map(|m| LockEntry::new(m.version, m.name.clone(), m.up.checksum)),
            );
            self.write(LOCK_FILE_NAME, &lock.render());
        }
    }

    #[test]
    fn reads_a_good_folder_sorted_with_downs_and_seeds() {
        let folder = Folder::new(&[
            ("10_c.sql", "select 3;"),
            ("0002_b.up.sql", "select 2;"),
            ("0002_b.down.sql", "-- schema: no-transaction\nselect -2;"),
            ("1_a.sql", "select 1;"),
            ("README.md", "not sql"),
            ("seeds/0001_demo.sql", "insert into a values (1);"),
        ]);
        let read = folder.read().unwrap();
        let versions: Vec<u64> = read.migrations.iter().map(|m| m.version.get()).collect();
        assert_eq!(versions, [1, 2, 10]);
        let down = read.migrations[1].down.as_ref().unwrap();
        assert!(down.directives.no_transaction);
        assert_eq!(down.display, "migrations/0002_b.down.sql");
        assert_eq!(read.seeds.len(), 1);
        assert!(read.lock.is_none());
    }

    #[test]
    fn reports_every_problem_at_once() {
        let folder = Folder::new(&[
            ("1_a.sql", "select 1;"),
            ("01_b.sql", "select 1;"),
            ("2_c.down.sql", "select 1;"),
            ("x_d.sql", "select 1;"),
            ("3_e.sql", "-- only a comment\n"),
            ("4_f.sql", "--no-transaction\nselect 1;"),
            ("old/5_g.sql", "select 1;"),
        ]);
        let errors = folder.errors();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors.iter().any(|e| {
            e.starts_with("migrations/1_a.sql: has version 1, like `migrations/01_b.sql`")
        }));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("migrations/2_c.down.sql: has no up migration"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("migrations/x_d.sql: the file name starts with `x`"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("migrations/3_e.sql: has no SQL"))
        );
        assert!(errors.iter().any(|e| {
            e.starts_with("migrations/4_f.sql: line 1: `--no-transaction` looks like a directive")
        }));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("migrations/old/: is a folder"))
        );
    }

    #[test]
    fn a_broken_up_file_is_reported_once_not_also_as_missing() {
        let folder = Folder::new(&[("1_a.sql", "select 1;\n")]);
        folder.lock();
        folder.write("1_a.sql", "--no-transaction\nselect 1;\n");
        folder.write("2_b.sql", "");
        folder.write("2_b.down.sql", "select 2;");
        let errors = folder.errors();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("migrations/1_a.sql: line 1: `--no-transaction`"));
        assert!(errors[1].starts_with("migrations/2_b.sql: has no SQL"));
    }

    #[test]
    fn the_same_migration_twice_is_not_called_a_version_clash() {
        let folder = Folder::new(&[("2_b.sql", "select 1;"), ("2_b.up.sql", "select 1;")]);
        assert_eq!(
            folder.errors(),
            [
                "migrations/2_b.up.sql: is a second up file for migration 2 `b`, beside `migrations/2_b.sql`; keep one"
            ]
        );
    }

    #[test]
    fn messages_name_the_file_to_rename_to() {
        let folder = Folder::new(&[
            ("0002_b.up.sql", "select 1;"),
            ("0002_bee.down.sql", "select 1;"),
            ("0003_c.down.sql", "select 1;"),
            ("0004_d.SQL", "select 1;"),
        ]);
        let errors = folder.errors();
        assert!(
            errors[0].ends_with(
                "the extension must be `.sql` in lower case; rename the file to `0004_d.sql`"
            ),
            "{errors:#?}"
        );
        assert!(
            errors[1]
                .ends_with("name the down file after its up file: `migrations/0002_b.down.sql`"),
            "{errors:#?}"
        );
        assert!(
            errors[2].contains("(expected `migrations/0003_c.sql`)"),
            "{errors:#?}"
        );
        assert_eq!(
            with_name("migrations/0002_bee.up.sql", "b"),
            "migrations/0002_b.up.sql"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let folder = Folder::new(&[]);
        fs::write(folder.0.path().join("1_a.sql"), b"select '\xff';").unwrap();
        assert_eq!(
            folder.errors(),
            [
                "migrations/1_a.sql: is not valid UTF-8 (byte 0xff on line 1, at byte offset 8); save the file as UTF-8"
            ]
        );
    }

    #[test]
    fn edited_locked_migration_names_both_checksums() {
        let folder = Folder::new(&[("1_a.sql", "select 1;\n")]);
        folder.lock();
        folder.write("1_a.sql", "select 1;\nselect 2;\n");
        let errors = folder.errors();
        let old = Checksum::of_file(b"select 1;\n");
        let new = Checksum::of_file(b"select 1;\nselect 2;\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains(&format!("sha256:{old}"))
                && errors[0].contains(&format!("sha256:{new}"))
        );
        assert!(errors[0].contains("run `db down` first"));
    }

    #[test]
    fn crlf_checkout_of_a_locked_migration_is_not_an_edit() {
        let folder = Folder::new(&[("1_a.sql", "select 1;\nselect 2;\n")]);
        folder.lock();
        folder.write("1_a.sql", "\u{feff}select 1;\r\nselect 2;\r\n");
        assert!(folder.read().is_ok());
    }

    #[test]
    fn missing_and_renamed_locked_migrations_are_errors() {
        let folder = Folder::new(&[("1_a.sql", "select 1;"), ("2_b.sql", "select 2;")]);
        folder.lock();
        fs::remove_file(folder.0.path().join("1_a.sql")).unwrap();
        fs::rename(
            folder.0.path().join("2_b.sql"),
            folder.0.path().join("2_bee.sql"),
        )
        .unwrap();
        let errors = folder.errors();
        assert!(
            errors[0].starts_with("migrations/migrations.lock: lists version 1 `a`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("migrations/2_bee.sql: the lock lists version 2 as `b`"),
            "{errors:?}"
        );
    }

    #[test]
    fn lint_applies_only_to_unlocked_migrations_once_a_lock_exists() {
        let folder = Folder::new(&[("1_a.sql", "DROP TABLE old;")]);
        assert!(folder.read().is_ok(), "no lock yet: adopting a folder");
        folder.lock();
        assert!(folder.read().is_ok(), "locked: the decision was made");
        folder.write("2_b.sql", "create table x (id int);\nDELETE FROM x;");
        assert_eq!(
            folder.errors(),
            [
                "migrations/2_b.sql: contains a destructive statement (DELETE without WHERE at line 2: `DELETE FROM x` (removes every row)); data loss should be a decision: if it is intended, add `-- schema: destructive` at the top of the file"
            ]
        );
        folder.write(
            "2_b.sql",
            "-- schema: destructive\ncreate table x (id int);\nDELETE FROM x;",
        );
        assert!(
            folder.read().unwrap().migrations[1]
                .up
                .directives
                .destructive
        );
    }

    #[test]
    fn amended_lock_accepts_the_new_text() {
        let folder = Folder::new(&[("1_a.sql", "select 1;")]);
        let old = Checksum::of_file(b"select 1;");
        let new = Checksum::of_file(b"select 1; -- typo fixed");
        let mut entry = LockEntry::new(Version::new(1), "a", new);
        entry.amendments.push(crate::lock::Amendment {
            from: old,
            reason: "typo".into(),
        });
        folder.write(LOCK_FILE_NAME, &Lock::new([entry]).render());
        folder.write("1_a.sql", "select 1; -- typo fixed");
        assert!(folder.read().is_ok());
        folder.write("1_a.sql", "select 1;");
        let errors = folder.errors();
        assert!(
            errors[0].contains("went back to its text from before `db amend`")
                && errors[0].contains(&format!("sha256:{old}"))
                && errors[0].contains(&format!("sha256:{new}")),
            "{errors:?}"
        );
    }

    #[test]
    fn seeds_follow_their_own_rules() {
        let folder = Folder::new(&[
            ("1_a.sql", "select 1;"),
            ("seeds/1_x.sql", "insert into a values (1);"),
            ("seeds/1_y.sql", "insert into a values (2);"),
            ("seeds/2_z.down.sql", "delete from a;"),
            ("seeds/more/3_w.sql", "select 1;"),
        ]);
        let errors = folder.errors();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with(
            "migrations/seeds/1_y.sql: has version 1, like `migrations/seeds/1_x.sql`"
        )));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("migrations/seeds/2_z.down.sql: is a down file"))
        );
        assert!(errors.iter().any(|e| {
            e.starts_with("migrations/seeds/more/: is a folder, and seeds have no subfolders")
        }));
    }
}
