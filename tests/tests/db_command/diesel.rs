//! Moving from diesel: `db import-diesel` converts diesel folders with every hard case
//! (`fixtures/diesel_history`, for PostgreSQL: diesel's initial setup, dash,
//! no-separator, `_`-spelled and 18-digit versions, `metadata.toml`, a template
//! `down.sql`; `fixtures/diesel_history_sqlite`: a migration of comments alone, which
//! diesel runs on SQLite but not on PostgreSQL), the real diesel migrates a database with
//! each, and `db baseline` adopts all of it, running nothing again; the converted folder
//! also builds the same schema from scratch.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{Db, Run, states};

/// A diesel folder, its conversion (committed, embedded as a fixture of `fixture-db`),
/// and what diesel records for it.
struct History {
    /// The diesel folder.
    diesel: &'static str,
    /// `db import-diesel`'s output, as committed.
    converted: &'static str,
    /// The `fixture-db` fixture that embeds it.
    fixture: &'static str,
    dialect: &'static str,
    /// What diesel records for each folder, in its (text) order.
    recorded: &'static [&'static str],
    /// Our versions of them, in our (number) order: the same order.
    versions: &'static [u64],
    /// What `db import-diesel` says about the conversion.
    said: &'static [&'static str],
}

const POSTGRES: History = History {
    diesel: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/diesel_history"),
    converted: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/diesel_converted"),
    fixture: "diesel_converted",
    dialect: "postgres",
    recorded: &[
        "00000000000000",
        "20190226002946",
        "20190301120000",
        "20190305",
        "20190305090000",
        "20200601000000",
        "202509191326480000",
        "202509191326480001",
    ],
    versions: &[
        1,
        201902260029460000,
        201903011200000000,
        201903050000000000,
        201903050900000000,
        202006010000000000,
        202509191326480000,
        202509191326480001,
    ],
    said: &[
        "converted 8 diesel migration(s)",
        "18 digits wide",
        "00000000000000_diesel_initial_setup → 000000000000000001_diesel_initial_setup.sql: diesel's own setup",
        "2019-03-05_120000_index_posts_title → 201903050000000000_120000_index_posts_title.sql: diesel records this folder as version 20190305",
        "202006010000000000_add_posts_body.sql: down.sql has no SQL: no down file",
        "202509191326480001_index_comments_concurrently.sql: named index_comments_concurrently; metadata.toml: outside a transaction (`-- schema: no-transaction`)",
    ],
};

const SQLITE: History = History {
    diesel: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/diesel_history_sqlite"
    ),
    converted: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/diesel_converted_sqlite"
    ),
    fixture: "diesel_converted_sqlite",
    dialect: "sqlite",
    recorded: &[
        "20190226002946",
        "20190305",
        "20190305090000",
        "20200101000000",
        "20200601000000",
    ],
    versions: &[
        20190226002946,
        20190305000000,
        20190305090000,
        20200101000000,
        20200601000000,
    ],
    said: &[
        "converted 5 diesel migration(s)",
        "14 digits wide",
        "2019-03-05_120000_index_users_name → 20190305000000_120000_index_users_name.sql: diesel records this folder as version 20190305",
        "2020-01-01-000000_nothing_to_do → 20200101000000_nothing_to_do.sql: up.sql has no SQL: `SELECT 1;` appended",
        "20200601000000_add_users_email.sql: down.sql has no SQL: no down file",
    ],
};

/// `fixture-db diesel_converted db import-diesel ARGS`, which needs no database.
fn import(args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_fixture-db"))
        .args(["diesel_converted", "db", "import-diesel"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
        .into()
}

/// The files of a folder, sorted, with their bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_converter_reproduces_the_committed_conversions() {
    for history in [POSTGRES, SQLITE] {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("migrations");
        let into_text = into.to_str().unwrap();
        let run = import(&[
            history.diesel,
            "--into",
            into_text,
            "--dialect",
            history.dialect,
        ]);
        assert_eq!(run.code, 0, "{}", run.all());
        let converted = files(&into);
        let committed = files(Path::new(history.converted));
        let names = |files: &[(String, Vec<u8>)]| -> Vec<String> {
            files.iter().map(|(n, _)| n.clone()).collect()
        };
        assert_eq!(names(&converted), names(&committed));
        for ((name, ours), (_, theirs)) in converted.iter().zip(&committed) {
            assert!(
                ours == theirs,
                "{name} differs from {}:\n{}",
                history.converted,
                String::from_utf8_lossy(ours)
            );
        }
        for expected in history.said {
            assert!(run.stdout.contains(expected), "{expected}\n{}", run.stdout);
        }

        // A folder that already holds migrations is not written into.
        let again = import(&[history.diesel, "--into", into_text]);
        assert_eq!(again.code, 2, "{}", again.all());
        assert!(
            again.stderr.contains("already holds migrations"),
            "{}",
            again.stderr
        );
        assert_eq!(files(&into), converted);
    }
}

/// The real diesel (diesel_migrations, as `diesel migration run` and its
/// `embed_migrations!` run them) migrates the database with the diesel folder; what it
/// recorded is returned, oldest first.
fn diesel_migrates(db: &Db, history: &History) -> Vec<String> {
    use diesel::Connection as _;
    use diesel_migrations::MigrationHarness as _;

    let migrations = diesel_migrations::FileBasedMigrations::from_path(history.diesel).unwrap();
    let applied = if db.backend == "postgres" {
        let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
        conn.run_pending_migrations(migrations).unwrap();
        conn.applied_migrations().unwrap()
    } else {
        let path = db.url.strip_prefix("sqlite:").unwrap();
        let mut conn = diesel::SqliteConnection::establish(path).unwrap();
        conn.run_pending_migrations(migrations).unwrap();
        conn.applied_migrations().unwrap()
    };
    let mut recorded: Vec<String> = applied.into_iter().map(|v| v.to_string()).collect();
    recorded.reverse();
    recorded
}

/// The live tables with their columns' foreign keys and indexes, without diesel's table.
fn schema(status: &Value) -> Vec<Value> {
    status["schema"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["table"] != "__diesel_schema_migrations")
        .map(|t| {
            let mut t = t.clone();
            t["rows"] = Value::Null;
            t
        })
        .collect()
}

/// diesel migrates `db`, `db baseline` adopts every migration it ran and nothing runs
/// again; the converted folder builds the same schema in `fresh`, an empty database.
fn adopted_whole(db: &Db, fresh: &Db, history: &History) {
    let recorded = diesel_migrates(db, history);
    assert_eq!(recorded, history.recorded, "what diesel records");
    let command = |db: &Db, args: &[&str]| {
        let run = db.fixture_db(history.fixture, "test", &[], args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        run
    };

    let baseline = command(db, &["baseline"]);
    assert!(
        baseline.stdout.starts_with(&format!(
            "adopted {} migration(s) from diesel's __diesel_schema_migrations; none of them ran again",
            history.versions.len()
        )),
        "{}",
        baseline.stdout
    );
    assert!(baseline.stdout.contains("0 pending"), "{}", baseline.stdout);
    assert!(!baseline.stderr.contains("warning"), "{}", baseline.stderr);

    let status = command(db, &["status", "--json"]).json();
    let expected: Vec<String> = history
        .versions
        .iter()
        .map(|v| format!("{v} applied"))
        .collect();
    assert_eq!(states(&status), expected);
    for ((migration, recorded), version) in status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(history.recorded)
        .zip(history.versions)
    {
        let note = migration["note"].as_str().unwrap();
        if recorded.parse::<u64>().ok() == Some(*version) {
            assert!(
                note.starts_with("baseline: from diesel; it keeps no checksum"),
                "{note}"
            );
        } else {
            assert!(
                note.starts_with(&format!(
                    "baseline: from diesel, which recorded it as version {recorded};"
                )),
                "{note}"
            );
        }
    }

    let migrate = command(db, &["migrate"]);
    assert!(!migrate.stdout.contains("+ "), "{}", migrate.stdout);
    command(db, &["drift"]);

    // The converted folder builds the same schema on an empty database, in diesel's
    // order: the setup's functions before the tables that call them, the `_`-spelled
    // migration before the one that needs its index, the comment-only one running.
    command(fresh, &["migrate"]);
    let built = command(fresh, &["status", "--json"]).json();
    assert_eq!(states(&built), expected);
    assert_eq!(schema(&built), schema(&status));
}

#[test]
fn a_postgres_database_migrated_by_diesel_is_adopted_whole() {
    let (Some(db), Some(fresh)) = (Db::postgres(), Db::postgres()) else {
        return;
    };
    adopted_whole(&db, &fresh, &POSTGRES);
}

#[test]
fn a_sqlite_database_migrated_by_diesel_is_adopted_whole() {
    adopted_whole(&Db::sqlite().unwrap(), &Db::sqlite().unwrap(), &SQLITE);
}
