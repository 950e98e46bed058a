//! The startup runner on real SQLite files.

use std::path::{Path, PathBuf};

use schema_runtime::rules::{Checksum, Lock};
use schema_runtime::rusqlite::Connection;
use schema_runtime::{
    Environment, Error, HistoryProblem, Migration, Migrations, Migrator, Policy, Version,
};

static BASIC: Migrations = schema_runtime::embed_migrations!("tests/fixtures/basic");
static FAILING: Migrations =
    schema_runtime::embed_migrations!("tests/fixtures/failing", check = false);
static EDITED_BEFORE: Migrations =
    schema_runtime::embed_migrations!("tests/fixtures/edited_before");
static EDITED_AFTER: Migrations = schema_runtime::embed_migrations!("tests/fixtures/edited_after");

struct Database {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Database {
    fn new() -> Database {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        Database { _dir: dir, path }
    }

    fn open(&self) -> Connection {
        Connection::open(&self.path).unwrap()
    }

    fn strings(&self, sql: &str) -> Vec<String> {
        let conn = self.open();
        let mut statement = conn.prepare(sql).unwrap();
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.open().query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// Everything in the database: its schema and every row of every table.
    fn dump(&self) -> Vec<String> {
        let mut dump = self.strings("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY name");
        let conn = self.open();
        for table in
            self.strings("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        {
            let mut statement = conn
                .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
                .unwrap();
            let columns = statement.column_count();
            let mut rows = statement.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let values: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                dump.push(format!("{table}: {}", values.join(", ")));
            }
        }
        dump
    }
}

fn run(
    migrations: &'static Migrations,
    policy: Policy,
    db: &Database,
) -> Result<schema_runtime::Report, Error> {
    Migrator::with_policy(migrations, policy.write_dev_lock(false)).run(&mut db.open())
}

/// The BASIC migrations as if compiled from the source folder `dir` (where a
/// development run writes the lock).
fn compiled_from(dir: &Path) -> &'static Migrations {
    let source_dir: &'static str = Box::leak(dir.to_string_lossy().into_owned().into_boxed_str());
    Box::leak(Box::new(Migrations::new(
        BASIC.migrations(),
        &[],
        source_dir,
        "migrations",
    )))
}

fn test_policy() -> Policy {
    Policy::new(Environment::Test)
}

#[test]
fn applies_everything_then_nothing_on_the_second_start() {
    let db = Database::new();
    let report = run(&BASIC, test_policy(), &db).unwrap();
    assert_eq!(
        report
            .applied
            .iter()
            .map(|a| a.version.get())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM schema_history WHERE kind = 'migration' AND state = 'applied'"
        ),
        3
    );
    let before = db.dump();

    let second = run(&BASIC, test_policy(), &db).unwrap();
    assert!(second.is_up_to_date());
    assert_eq!(second.version_after(), Some(Version::new(3)));
    assert_eq!(db.dump(), before, "a second start changes nothing");
}

#[test]
fn history_rows_carry_the_audit_columns() {
    let db = Database::new();
    run(&BASIC, test_policy(), &db).unwrap();
    let rows = db.strings(
        "SELECT version || '|' || name || '|' || kind || '|' || checksum || '|' || state || '|' || environment || '|' || app_version || '|' || applied_by || '|' || applied_at || '|' || execution_ms FROM schema_history ORDER BY version",
    );
    let first: Vec<&str> = rows[0].split('|').collect();
    assert_eq!(
        &first[..6],
        [
            "1",
            "create_colours",
            "migration",
            &BASIC.migrations()[0].checksum().to_string(),
            "applied",
            "test"
        ]
    );
    assert_eq!(
        first[6],
        env!("CARGO_PKG_VERSION"),
        "the app version of the crate that embedded the migrations"
    );
    assert!(first[7].contains('@'), "user@host: {}", first[7]);
    assert!(
        first[8].ends_with('Z') && first[8].len() == 24,
        "UTC timestamp: {}",
        first[8]
    );
    assert!(first[9].parse::<i64>().unwrap() >= 0);
    assert_eq!(
        db.strings(
            "SELECT key_name || '=' || value FROM schema_meta WHERE key_name = 'environment'"
        ),
        ["environment=test"]
    );
    assert_eq!(
        db.strings("SELECT key_name FROM schema_meta WHERE key_name <> 'environment' ORDER BY 1"),
        ["fingerprint", "fingerprint_cookie"],
        "the schema as the migrations left it, for drift"
    );
}

#[test]
fn seed_matrix() {
    for (app_env, seed_db, expected_seeds) in [
        (Some("development"), Some("true"), 2),
        (Some("development"), None, 0),
        (Some("dev"), Some("false"), 0),
        (Some("test"), Some("true"), 0),
        (Some("production"), Some("true"), 0),
        (None, Some("1"), 2), // unset in a debug build: development
    ] {
        let db = Database::new();
        let policy = Policy::from_vars(app_env, seed_db, true).unwrap();
        let report = run(&BASIC, policy, &db).unwrap();
        let label = format!("APP_ENV={app_env:?} SEED_DB={seed_db:?}");
        assert_eq!(report.applied.len(), 3, "{label}");
        assert_eq!(report.seeded.len(), expected_seeds, "{label}");
        assert_eq!(
            db.count("SELECT count(*) FROM colours"),
            expected_seeds as i64,
            "{label}: rows in the database"
        );
        assert_eq!(
            db.count("SELECT count(*) FROM schema_history WHERE kind = 'seed'"),
            expected_seeds as i64,
            "{label}"
        );
        if app_env == Some("production") {
            assert!(
                report
                    .warnings
                    .iter()
                    .any(|w| w.contains("SEED_DB=true is ignored in production")),
                "{label}"
            );
        }
    }
}

#[test]
fn seeds_run_once() {
    let db = Database::new();
    let seeded = || Policy::new(Environment::Development).with_seeds(true);
    assert_eq!(run(&BASIC, seeded(), &db).unwrap().seeded.len(), 2);
    assert!(run(&BASIC, seeded(), &db).unwrap().is_up_to_date());
    assert_eq!(db.count("SELECT count(*) FROM colours"), 2);
}

#[test]
fn failed_migration_leaves_the_database_exactly_as_before() {
    let db = Database::new();
    let applied_first = Migrator::with_policy(&FAILING, test_policy())
        .run_to(&mut db.open(), Some(Version::new(1)))
        .unwrap();
    assert_eq!(applied_first.applied.len(), 1);
    let before = db.dump();

    let error = run(&FAILING, test_policy(), &db).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, Error::Migration { version, in_transaction: true, .. } if version == Version::new(2))
    );
    assert!(
        message.contains("tests/fixtures/failing/0002_add_ledger.sql (version 2)"),
        "{message}"
    );
    assert!(
        message.contains("no such table: no_such_table"),
        "SQLite's message: {message}"
    );
    assert!(message.contains("rolled back"), "{message}");
    assert_eq!(
        db.dump(),
        before,
        "no table, column, row or history entry of the failed migration remains"
    );
}

#[test]
fn edited_applied_migration_refuses_to_start_with_both_checksums() {
    let db = Database::new();
    run(&EDITED_BEFORE, test_policy(), &db).unwrap();
    let before = db.dump();
    let error = run(&EDITED_AFTER, test_policy(), &db).unwrap_err();
    let message = error.to_string();
    let recorded = EDITED_BEFORE.migrations()[0].checksum();
    let embedded = EDITED_AFTER.migrations()[0].checksum();
    assert!(
        matches!(&error, Error::History(problems) if matches!(problems.0[..], [HistoryProblem::Edited { .. }]))
    );
    assert!(
        message.contains("tests/fixtures/edited_after/0001_create_notes.sql (version 1)"),
        "{message}"
    );
    assert!(
        message.contains(&format!("sha256:{recorded}"))
            && message.contains(&format!("sha256:{embedded}")),
        "{message}"
    );
    assert_eq!(db.dump(), before);
}

#[test]
fn database_of_another_environment_is_refused() {
    let db = Database::new();
    run(&BASIC, Policy::new(Environment::Production), &db).unwrap();
    let before = db.dump();
    let error = run(
        &BASIC,
        Policy::from_vars(Some("development"), Some("true"), true).unwrap(),
        &db,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "this database belongs to the production environment, but this run is development (APP_ENV=development); refusing to migrate, seed or change anything. Point the application at its own database, or set APP_ENV=production if this really is a production run"
    );
    assert_eq!(db.dump(), before);
    // The override is explicit, in code.
    let overridden = Policy::new(Environment::Development).allow_environment_mismatch(true);
    assert!(run(&BASIC, overridden, &db).is_ok());
}

#[test]
fn half_applied_migration_stops_the_next_start() {
    let db = Database::new();
    Migrator::with_policy(&BASIC, test_policy())
        .run_to(&mut db.open(), Some(Version::new(1)))
        .unwrap();
    // What a crash during the no-transaction migration 2 leaves behind: its started row.
    let checksum = BASIC.migrations()[1].checksum().to_string();
    db.open()
        .execute(
            "INSERT INTO schema_history (version, name, kind, checksum, state, applied_at, execution_ms, app_version, environment, applied_by) \
             VALUES (2, 'index_colours', 'migration', ?1, 'started', '2025-01-01T00:00:00.000Z', 0, '0.1.0', 'test', 'ci@host')",
            [checksum],
        )
        .unwrap();
    let error = run(&BASIC, test_policy(), &db).unwrap_err().to_string();
    assert!(
        error.contains(
            "tests/fixtures/basic/0002_index_colours.sql (version 2) was started and never finished"
        ),
        "{error}"
    );
    assert!(error.contains("db repair 2 --resolved --reason"), "{error}");
    assert_eq!(
        db.count("SELECT count(*) FROM schema_history WHERE version = 3"),
        0,
        "nothing after it ran"
    );
}

#[test]
fn no_transaction_migration_is_recorded_finished() {
    let db = Database::new();
    run(&BASIC, test_policy(), &db).unwrap();
    assert_eq!(
        db.strings("SELECT state FROM schema_history WHERE version = 2"),
        ["applied"]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name = 'colours_by_name'"),
        1
    );
}

#[test]
fn development_run_appends_to_the_lock() {
    let source = tempfile::tempdir().unwrap();
    let migrations = compiled_from(source.path());
    let db = Database::new();
    let report = Migrator::with_policy(migrations, Policy::new(Environment::Development))
        .run_to(&mut db.open(), Some(Version::new(2)))
        .unwrap();
    let lock_path = source.path().join("migrations.lock");
    assert_eq!(report.lock_written.as_deref(), Some(lock_path.as_path()));
    let lock = Lock::parse(&std::fs::read_to_string(&lock_path).unwrap()).unwrap();
    let locked: Vec<(u64, String, Checksum)> = lock
        .entries()
        .iter()
        .map(|e| (e.version.get(), e.name.clone(), e.checksum))
        .collect();
    let expected: Vec<(u64, String, Checksum)> = BASIC.migrations()[..2]
        .iter()
        .map(|m| (m.version().get(), m.name().to_owned(), m.checksum()))
        .collect();
    assert_eq!(locked, expected);

    // The next run appends the rest and keeps what was there.
    Migrator::with_policy(migrations, Policy::new(Environment::Development))
        .run(&mut db.open())
        .unwrap();
    let lock = Lock::parse(&std::fs::read_to_string(&lock_path).unwrap()).unwrap();
    assert_eq!(lock.entries().len(), 3);
}

#[test]
fn test_and_production_runs_never_write_the_lock() {
    for environment in [Environment::Test, Environment::Production] {
        let source = tempfile::tempdir().unwrap();
        let migrations = compiled_from(source.path());
        let report = Migrator::with_policy(migrations, Policy::new(environment))
            .run(&mut Database::new().open())
            .unwrap();
        assert_eq!(report.lock_written, None);
        assert!(
            !source.path().join("migrations.lock").exists(),
            "{environment}"
        );
    }
}

#[test]
fn unwritable_lock_is_a_warning_not_a_failed_start() {
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("migrations.lock"), "not a lock").unwrap();
    let migrations = compiled_from(source.path());
    let report = Migrator::with_policy(migrations, Policy::new(Environment::Development))
        .run(&mut Database::new().open())
        .unwrap();
    assert_eq!(report.applied.len(), 3);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("was not updated")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn amended_checksum_is_accepted_and_recorded() {
    let db = Database::new();
    run(&EDITED_BEFORE, test_policy(), &db).unwrap();
    // The binary after `db amend 1`: the new text, and the lock's record of the old checksum.
    let after = &EDITED_AFTER.migrations()[0];
    let amendments: &'static [schema_runtime::Amendment] =
        Box::leak(Box::new([schema_runtime::Amendment::new(
            EDITED_BEFORE.migrations()[0].checksum(),
            "index added for the search page",
        )]));
    let amended: &'static [Migration] = Box::leak(Box::new([after.with_amendments(amendments)]));
    let migrations: &'static Migrations =
        Box::leak(Box::new(Migrations::new(amended, &[], "", "migrations")));
    let report = run(migrations, test_policy(), &db).unwrap();
    assert_eq!(report.amended, [Version::new(1)]);
    assert_eq!(
        db.strings("SELECT checksum FROM schema_history WHERE kind = 'migration'"),
        [after.checksum().to_string()]
    );
    let note = db.strings("SELECT note FROM schema_history WHERE kind = 'amendment'");
    assert_eq!(
        note,
        [format!(
            "amends sha256:{} reason \"index added for the search page\"",
            EDITED_BEFORE.migrations()[0].checksum()
        )]
    );
    assert!(run(migrations, test_policy(), &db).unwrap().is_up_to_date());
}

#[test]
fn history_table_name_is_configurable_so_two_sets_share_a_database() {
    let db = Database::new();
    run(&BASIC, test_policy(), &db).unwrap();
    let other = test_policy()
        .history_table("notes_history")
        .unwrap()
        .meta_table("notes_meta")
        .unwrap();
    let report = run(&EDITED_BEFORE, other, &db).unwrap();
    assert_eq!(
        report.applied.len(),
        1,
        "the other set's rows are not seen as missing"
    );
    assert!(run(&BASIC, test_policy(), &db).unwrap().is_up_to_date());
}

#[test]
fn in_memory_databases_work() {
    let mut conn = Connection::open_in_memory().unwrap();
    let report = Migrator::with_policy(&BASIC, test_policy())
        .run(&mut conn)
        .unwrap();
    assert_eq!(report.applied.len(), 3);
}

#[test]
fn lock_file_sits_beside_the_database() {
    let db = Database::new();
    run(&BASIC, test_policy(), &db).unwrap();
    let lock = PathBuf::from(format!("{}.schema-lock", db.path.display()));
    assert!(Path::new(&lock).exists());
}

#[test]
fn other_connections_can_write_as_soon_as_the_run_returns() {
    let db = Database::new();
    let mut conn = db.open();
    Migrator::with_policy(&BASIC, test_policy())
        .run(&mut conn)
        .unwrap();
    // The migrating connection is still open; another must not wait for it.
    let other = db.open();
    other
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    other
        .execute("INSERT INTO colours (name) VALUES ('green')", [])
        .unwrap();
    assert_eq!(db.count("SELECT count(*) FROM colours"), 1);
    drop(conn);
}
