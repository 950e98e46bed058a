//! What the `db` command prints with `--json`, as serde types.
//!
//! | Command | Prints |
//! |---------|--------|
//! | `db status --json` | [`Status`] |
//! | `db plan --json` | [`Plan`] |
//! | `db verify --json` | [`Verify`] |
//! | `db drift --json` | [`Drift`] |
//!
//! Each command prints one object, pretty-printed, on standard output. The field names
//! below are the JSON keys, and they are stable: a release only ever adds fields (the
//! types are `#[non_exhaustive]`), never renames or removes one or changes its type, so
//! a reader should ignore keys it does not know. A field that has no value is `null`,
//! never left out. Keys are printed in alphabetical order, the order the fields are
//! declared in.

use serde::Serialize;

use super::inspect;
use crate::{Version, drift};

/// `db status --json`: the environment, the app's and the database's versions, every
/// migration and seed with its state, the live schema and its drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The application compiled into this binary.
    pub app: App,
    /// The database the command ran against.
    pub database: Database,
    /// The newest migration recorded in the database and the application version that
    /// applied it; `null` when none is recorded.
    pub database_version: Option<DatabaseVersion>,
    /// How the live schema differs from what the migrations left, as in
    /// [`Drift::differences`]: `null` when no schema fingerprint is recorded yet (nothing
    /// was compared), `[]` when it matches.
    pub drift: Option<Vec<DriftDifference>>,
    /// The environment of this run and where it came from.
    pub environment: RunEnvironment,
    /// Every migration of the binary and every migration recorded in the database, by
    /// version.
    pub migrations: Vec<Entry>,
    /// Each table of the live schema by name, without the history and meta tables.
    pub schema: Vec<Table>,
    /// Every seed of the binary, by version.
    pub seeds: Vec<Entry>,
}

/// The application compiled into the binary ([`Status::app`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct App {
    /// Its package name, as compiled.
    pub name: String,
    /// Its package version, as compiled.
    pub version: String,
}

/// The database a command ran against ([`Status::database`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Database {
    /// `sqlite`, `postgres` or `mysql` (MySQL and MariaDB).
    pub backend: String,
    /// The environment the database is stamped with (`development`, `test` or
    /// `production`); `null` before the first run stamps it.
    pub stamp: Option<String>,
    /// The database URL with its password replaced by `***`.
    pub url: String,
}

/// The newest migration a database records ([`Status::database_version`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DatabaseVersion {
    /// The version of the application that applied it.
    pub app_version: String,
    /// Its version (the file name's timestamp).
    pub version: u64,
}

/// The environment of a run ([`Status::environment`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RunEnvironment {
    /// `development`, `test` or `production`.
    pub name: String,
    /// Where it came from, for a person: `APP_ENV=…`, `APP_ENV unset, debug build`,
    /// `APP_ENV unset, release build` or `set in code`.
    pub source: String,
}

/// A migration or seed with its state ([`Status::migrations`], [`Status::seeds`]). The
/// fields read from the history are `null` when it has no row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Entry {
    /// The application version recorded when it was applied.
    pub app_version: Option<String>,
    /// When it was applied, as recorded (UTC).
    pub applied_at: Option<String>,
    /// Who applied it: the operating-system user of the process that ran it.
    pub applied_by: Option<String>,
    /// The SHA-256 of the file in this binary, in lowercase hex; `null` for a migration
    /// only the database has.
    pub checksum: Option<String>,
    /// The environment recorded when it was applied.
    pub environment: Option<String>,
    /// How long it took to apply, in milliseconds.
    pub execution_ms: Option<i64>,
    /// Its name (the file name without the version and `.sql`).
    pub name: String,
    /// The history row's note: why a repair, an amendment or a baseline was made.
    pub note: Option<String>,
    /// The file's path as `embed_migrations!` read it; `null` for a migration only the
    /// database has.
    pub path: Option<String>,
    /// The checksum the history recorded for it (normally lowercase hex).
    pub recorded_checksum: Option<String>,
    /// `applied`, `amended` (applied, then its edit accepted), `pending`, `edited`
    /// (applied with other text), `missing` (applied, not in this binary) or
    /// `half-applied` (started and never finished).
    pub state: String,
    /// Its version (the file name's timestamp).
    pub version: u64,
}

/// A table of the live schema ([`Status::schema`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Table {
    /// How many foreign keys it has.
    pub foreign_keys: u64,
    /// How many indexes it has.
    pub indexes: u64,
    /// How many rows it holds.
    pub rows: u64,
    /// Its name.
    pub table: String,
}

/// `db plan --json`: what `db migrate` would run, in order. Changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The environment of this run: `development`, `test` or `production`.
    pub environment: String,
    /// The pending migrations, then (in development with `SEED_DB=true`) the pending
    /// seeds; `[]` when the database is up to date.
    pub steps: Vec<Step>,
}

/// A migration or seed `db migrate` would run ([`Plan::steps`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Step {
    /// `migration` or `seed`.
    pub kind: String,
    /// Its name (the file name without the version and `.sql`).
    pub name: String,
    /// The file's path as `embed_migrations!` read it.
    pub path: String,
    /// The SQL that would run, as in the file.
    pub sql: String,
    /// Whether it runs in a transaction (`false` for a file that says
    /// `-- schema: no-transaction`).
    pub transaction: bool,
    /// Its version (the file name's timestamp).
    pub version: u64,
}

/// `db verify --json`: every difference between the database, this binary, its lock and
/// the recorded schema fingerprint. The command exits 1 when there is any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verify {
    /// What differs; `[]` when nothing does.
    pub differences: Vec<VerifyDifference>,
    /// Whether nothing differs.
    pub ok: bool,
}

/// A difference `db verify` found ([`Verify::differences`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyDifference {
    /// `pending`, `edited`, `missing`, `half-applied`, `environment` (the database is
    /// stamped with another environment), `unlocked` (applied, but the lock does not
    /// hold it with this checksum) or `drift` (the live schema differs).
    pub kind: String,
    /// What differs and what to do about it, for a person.
    pub message: String,
    /// The migration's name; empty when the difference is not about one migration.
    pub name: String,
    /// The migration's version; `null` when the difference is not about one migration.
    pub version: Option<u64>,
}

/// `db drift --json`: the live schema against the fingerprint the migrations left. The
/// command exits 1 when they differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Drift {
    /// What differs, tables first, then objects in name order; `[]` when nothing does or
    /// no fingerprint is recorded.
    pub differences: Vec<DriftDifference>,
    /// Whether a fingerprint is recorded in this database at all.
    pub fingerprint: bool,
    /// Whether nothing differs (also `true` when no fingerprint is recorded).
    pub ok: bool,
    /// The newest migration applied when the fingerprint was recorded; `null` when none
    /// was, or no fingerprint is recorded.
    pub recorded_after: Option<u64>,
    /// When the fingerprint was recorded (UTC); `null` when none is.
    pub recorded_at: Option<String>,
}

/// How one object of the live schema differs from the fingerprint ([`Drift::differences`],
/// [`Status::drift`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DriftDifference {
    /// `table added`, `table removed`, `added`, `removed` or `changed`.
    pub change: String,
    /// The definition in the live schema; `null` for a removed object and for a whole
    /// table.
    pub live: Option<String>,
    /// The difference, for a person.
    pub message: String,
    /// What it is: `table NAME`, or the kind of object (a column, an index, a constraint,
    /// …) with its table and name.
    pub object: String,
    /// The definition the migrations left; `null` for an added object and for a whole
    /// table.
    pub recorded: Option<String>,
}

impl Entry {
    /// A migration or seed as `db status` found it.
    pub(super) fn of(entry: &inspect::Entry) -> Entry {
        let row = entry.row.as_ref();
        Entry {
            app_version: row.map(|r| r.app_version.clone()),
            applied_at: row.map(|r| r.applied_at.clone()),
            applied_by: row.map(|r| r.applied_by.clone()),
            checksum: entry.checksum.map(|c| c.to_string()),
            environment: row.map(|r| r.environment.clone()),
            execution_ms: row.map(|r| r.execution_ms),
            name: entry.name.clone(),
            note: row.and_then(|r| r.note.clone()),
            path: entry.path.map(str::to_owned),
            recorded_checksum: row.map(|r| r.checksum.clone()),
            state: entry.state.key().to_owned(),
            version: entry.version.get(),
        }
    }
}

impl Table {
    /// A table of the live schema as `db status` counted it.
    pub(super) fn of(table: &inspect::Table) -> Table {
        Table {
            foreign_keys: table.foreign_keys,
            indexes: table.indexes,
            rows: table.rows,
            table: table.name.clone(),
        }
    }
}

impl DriftDifference {
    /// A difference of the live schema from the fingerprint.
    pub(super) fn of(difference: &drift::Difference) -> DriftDifference {
        use drift::Difference as D;
        let (change, object, recorded, live) = match difference {
            D::TableAdded(table) => ("table added", format!("table {table}"), None, None),
            D::TableRemoved(table) => ("table removed", format!("table {table}"), None, None),
            D::Added(object, now) => ("added", object.to_string(), None, Some(now.clone())),
            D::Removed(object, was) => ("removed", object.to_string(), Some(was.clone()), None),
            D::Changed(object, was, now) => (
                "changed",
                object.to_string(),
                Some(was.clone()),
                Some(now.clone()),
            ),
        };
        DriftDifference {
            change: change.to_owned(),
            live,
            message: difference.to_string(),
            object,
            recorded,
        }
    }
}

impl Drift {
    /// What `db drift` found.
    pub(super) fn of(found: &super::drift::Found) -> Drift {
        use super::drift::Found;
        let (recorded_after, recorded_at, differences): (Option<Version>, _, &[_]) = match found {
            Found::Nothing => (None, None, &[]),
            Found::Same { after, at } => (*after, Some(at.clone()), &[]),
            Found::Drift(drift) => (
                drift.recorded_after,
                Some(drift.recorded_at.clone()),
                &drift.differences,
            ),
        };
        Drift {
            differences: differences.iter().map(DriftDifference::of).collect(),
            fingerprint: !matches!(found, Found::Nothing),
            ok: differences.is_empty(),
            recorded_after: recorded_after.map(Version::get),
            recorded_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `db` printed before these types: `serde_json::Value`, whose objects keep
    /// their keys sorted. The types print the same bytes only if every field is
    /// declared in that order and none is skipped.
    fn as_before<T: Serialize>(value: &T) -> String {
        serde_json::to_string_pretty(&serde_json::to_value(value).unwrap()).unwrap()
    }

    fn assert_same_bytes<T: Serialize>(value: &T) {
        assert_eq!(
            serde_json::to_string_pretty(value).unwrap(),
            as_before(value)
        );
    }

    fn entry(applied: bool) -> Entry {
        Entry {
            app_version: applied.then(|| "0.1.0".to_owned()),
            applied_at: applied.then(|| "2025-10-17 20:38:07".to_owned()),
            applied_by: applied.then(|| "deploy".to_owned()),
            checksum: Some("ab".repeat(32)),
            environment: applied.then(|| "test".to_owned()),
            execution_ms: applied.then_some(3),
            name: "create_users".to_owned(),
            note: None,
            path: Some("migrations/20251017203807_create_users.sql".to_owned()),
            recorded_checksum: applied.then(|| "ab".repeat(32)),
            state: if applied { "applied" } else { "pending" }.to_owned(),
            version: 20251017203807,
        }
    }

    fn drift_difference() -> DriftDifference {
        DriftDifference {
            change: "changed".to_owned(),
            live: Some("TEXT NOT NULL".to_owned()),
            message: "column users.email changed".to_owned(),
            object: "column users.email".to_owned(),
            recorded: Some("TEXT".to_owned()),
        }
    }

    #[test]
    fn status_prints_what_db_status_printed() {
        let status = Status {
            app: App {
                name: "example-app".to_owned(),
                version: "0.1.0".to_owned(),
            },
            database: Database {
                backend: "sqlite".to_owned(),
                stamp: Some("test".to_owned()),
                url: "sqlite:tasks.db".to_owned(),
            },
            database_version: Some(DatabaseVersion {
                app_version: "0.1.0".to_owned(),
                version: 20251017203807,
            }),
            drift: Some(vec![drift_difference()]),
            environment: RunEnvironment {
                name: "test".to_owned(),
                source: "APP_ENV=test".to_owned(),
            },
            migrations: vec![entry(true), entry(false)],
            schema: vec![Table {
                foreign_keys: 1,
                indexes: 2,
                rows: 3,
                table: "users".to_owned(),
            }],
            seeds: vec![entry(false)],
        };
        assert_same_bytes(&status);
        let text = serde_json::to_string(&Status {
            database_version: None,
            drift: None,
            ..status
        })
        .unwrap();
        assert!(text.contains(r#""database_version":null,"drift":null,"#));
    }

    #[test]
    fn plan_verify_and_drift_print_what_db_printed() {
        assert_same_bytes(&Plan {
            environment: "development".to_owned(),
            steps: vec![Step {
                kind: "migration".to_owned(),
                name: "create_users".to_owned(),
                path: "migrations/20251017203807_create_users.sql".to_owned(),
                sql: "CREATE TABLE users (id INTEGER PRIMARY KEY);\n".to_owned(),
                transaction: true,
                version: 20251017203807,
            }],
        });
        assert_same_bytes(&Verify {
            differences: vec![VerifyDifference {
                kind: "environment".to_owned(),
                message: "the database belongs to the production environment".to_owned(),
                name: String::new(),
                version: None,
            }],
            ok: false,
        });
        assert_same_bytes(&Drift {
            differences: vec![drift_difference()],
            fingerprint: true,
            ok: false,
            recorded_after: Some(20251017203807),
            recorded_at: Some("2025-10-17 20:38:07".to_owned()),
        });
    }

    #[test]
    fn drift_differences_name_the_change() {
        let removed = DriftDifference::of(&drift::Difference::TableRemoved("users".into()));
        assert_eq!(removed.change, "table removed");
        assert_eq!(removed.object, "table users");
        assert_eq!((removed.recorded, removed.live), (None, None));
        let nothing = Drift::of(&super::super::drift::Found::Nothing);
        assert!(nothing.ok && !nothing.fingerprint && nothing.differences.is_empty());
    }
}
