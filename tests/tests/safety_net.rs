//! Backups before production migrations and restores: on real SQLite files (the online
//! backup) and on PostgreSQL through a backup command (`pg_dump`).

use std::path::{Path, PathBuf};
use std::process::Command;

use schema_runtime::rusqlite::Connection;
use schema_runtime::{Environment, Error, Migrator, Policy, Version};
use schema_tests::{REVERSIBLE, Server, ServerDatabase};

fn production() -> Policy {
    Policy::new(Environment::Production).write_dev_lock(false)
}

fn tables(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("backups"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_production_start_backs_up_before_the_first_pending_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut conn = Connection::open(&path).unwrap();
    Migrator::with_policy(&REVERSIBLE, production())
        .run_to(&mut conn, Some(Version::new(1)))
        .unwrap();
    let report = Migrator::with_policy(&REVERSIBLE, production())
        .run_to(&mut conn, Some(Version::new(2)))
        .unwrap();
    let backup = PathBuf::from(report.backup.clone().expect("a backup was made"));
    assert_eq!(backups(dir.path()).len(), 2);
    assert_eq!(backup.parent().unwrap(), dir.path().join("backups"));
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("ledger.db-") && name.ends_with("-v1.db"),
        "named with the time and the schema version it holds: {name}"
    );
    assert!(report.to_string().contains("backed up to"), "{report}");
    // The backup opens and holds the schema from before the migration.
    assert_eq!(
        tables(&backup),
        ["accounts", "schema_history", "schema_meta"]
    );
    assert_eq!(
        tables(&path),
        ["accounts", "ledger", "schema_history", "schema_meta"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
    }

    let unchanged = Migrator::with_policy(&REVERSIBLE, production())
        .run_to(&mut conn, Some(Version::new(2)))
        .unwrap();
    assert!(unchanged.backup.is_none(), "nothing pending: no backup");
    assert_eq!(backups(dir.path()).len(), 2);
    let test_run = Migrator::with_policy(
        &REVERSIBLE,
        Policy::new(Environment::Test).allow_environment_mismatch(true),
    )
    .run(&mut conn)
    .unwrap();
    assert!(
        test_run.backup.is_none(),
        "outside production: off by default"
    );
}

#[test]
fn retention_keeps_the_newest_backups() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("ledger.db")).unwrap();
    for version in 1..=3 {
        Migrator::with_policy(&REVERSIBLE, production().keep_backups(2))
            .run_to(&mut conn, Some(Version::new(version)))
            .unwrap();
    }
    let kept: Vec<String> = backups(dir.path())
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.rsplit('-').next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(kept, ["v1.db", "v2.db"], "the oldest (v0) went");
}

/// Several databases in one folder: each keeps its own backups, whatever their names.
#[test]
fn retention_counts_only_the_backups_of_its_own_database() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["data.db", "data-2.db", "app.db", "app.sqlite"];
    for name in names {
        let mut conn = Connection::open(dir.path().join(name)).unwrap();
        for version in 1..=3 {
            Migrator::with_policy(&REVERSIBLE, production().keep_backups(2))
                .run_to(&mut conn, Some(Version::new(version)))
                .unwrap();
        }
    }
    let files: Vec<String> = backups(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in names {
        let own: Vec<&String> = files
            .iter()
            .filter(|f| f.starts_with(&format!("{name}-2")))
            .collect();
        assert_eq!(own.len(), 2, "{name} keeps its newest two: {files:#?}");
        assert!(
            own[0].ends_with("-v1.db") && own[1].ends_with("-v2.db"),
            "{own:?}"
        );
    }
    assert_eq!(files.len(), 8, "{files:#?}");
}

#[test]
fn a_failed_backup_stops_the_migration_unless_the_policy_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    // A file where the backups folder should be: the backup cannot be written.
    std::fs::write(dir.path().join("backups"), "not a folder").unwrap();
    let mut conn = Connection::open(&path).unwrap();
    let error = Migrator::with_policy(&REVERSIBLE, production())
        .run(&mut conn)
        .unwrap_err();
    assert!(matches!(error, Error::Backup { .. }), "{error}");
    assert!(
        error.to_string().contains("nothing was migrated") && error.to_string().contains("backups"),
        "{error}"
    );
    assert_eq!(tables(&path), ["schema_history", "schema_meta"]);
    let report = Migrator::with_policy(&REVERSIBLE, production().backup_failure_stops(false))
        .run(&mut conn)
        .unwrap();
    assert_eq!(report.applied.len(), 3);
    assert!(
        report.warnings[0].starts_with("migrating without a backup"),
        "{:?}",
        report.warnings
    );
}

fn db(url: &str, environment: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fixture-db"))
        .args(["reversible", "db"])
        .args(args)
        .env("DATABASE_URL", url)
        .env("APP_ENV", environment)
        .env_remove("SCHEMA_BACKUP_COMMAND")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn backup_and_restore_round_trip_through_the_db_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let url = format!("sqlite:{}", path.display());
    assert_eq!(db(&url, "test", &["migrate"]).0, 0);
    let (code, stdout, stderr) = db(&url, "test", &["backup"]);
    assert_eq!(code, 0, "{stderr}");
    let backup = stdout.trim().rsplit(" to ").next().unwrap().to_owned();
    assert!(Path::new(&backup).is_file(), "{stdout}");
    assert_eq!(db(&url, "test", &["down", "--to", "0"]).0, 0);
    assert_eq!(tables(&path), ["schema_history", "schema_meta"]);

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "this is not a database").unwrap();
    let (code, _, stderr) = db(&url, "test", &["restore", garbage.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(tables(&path), ["schema_history", "schema_meta"]);

    let (code, stdout, stderr) = db(&url, "test", &["restore", &backup]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("the database it replaced is kept at"),
        "{stdout}"
    );
    assert_eq!(
        tables(&path),
        [
            "accounts",
            "ledger",
            "notes",
            "schema_history",
            "schema_meta"
        ]
    );
    let replaced = backups(dir.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("-replaced-"))
        .expect("the replaced database is kept");
    assert_eq!(tables(&replaced), ["schema_history", "schema_meta"]);
    let (code, stdout, _) = db(&url, "test", &["verify"]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn restore_is_refused_in_production_without_the_database_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let url = format!("sqlite:{}", path.display());
    assert_eq!(db(&url, "production", &["migrate"]).0, 0);
    let backup = backups(dir.path())
        .pop()
        .expect("production migrate backed up");
    let (code, _, stderr) = db(&url, "production", &["restore", backup.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("refusing to restore a backup"), "{stderr}");
    assert_eq!(tables(&path).len(), 5, "nothing was changed");
    let (code, _, stderr) = db(
        &url,
        "production",
        &[
            "restore",
            backup.to_str().unwrap(),
            "--confirm-production",
            "ledger.db",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tables(&path), ["schema_history", "schema_meta"]);
}

#[tokio::test]
async fn a_server_is_backed_up_by_its_command_which_gets_the_url_in_its_environment() {
    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pool = schema_runtime::sqlx::PgPool::connect(&url).await.unwrap();
    Migrator::with_policy(&REVERSIBLE, production())
        .run_async_to(&pool, Some(Version::new(1)))
        .await
        .unwrap();
    let command = format!(
        "pg_dump --schema-only --file=\"{}/$SCHEMA_BACKUP_NAME.sql\" \"$DATABASE_URL\"",
        dir.path().display()
    );
    let report = Migrator::with_policy(&REVERSIBLE, production().backup_command(&command, &url))
        .run_async_to(&pool, Some(Version::new(2)))
        .await
        .unwrap();
    let name = report.backup.expect("the command ran");
    let dump = std::fs::read_to_string(dir.path().join(format!("{name}.sql"))).unwrap();
    assert!(dump.contains("CREATE TABLE public.accounts"), "{dump}");
    assert!(
        !dump.contains("CREATE TABLE public.ledger"),
        "the schema before 2"
    );

    let error = Migrator::with_policy(
        &REVERSIBLE,
        production().backup_command("echo \"no space left\" >&2; exit 3", &url),
    )
    .run_async(&pool)
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Backup { .. }), "{error}");
    assert!(error.to_string().contains("no space left"), "{error}");
    let (applied,): (i64,) = schema_runtime::sqlx::query_as(
        "SELECT COUNT(*) FROM schema_history WHERE kind = 'migration'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(applied, 2, "a failed backup stops the migration");
}

/// A grouped SQLite run writes its files' history rows together before it commits: a
/// migration that takes the history table away fails the run, which names the versions
/// it undid, and leaves the database as it was before the run.
#[test]
fn a_migration_that_takes_the_history_table_away_is_named_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let test = Policy::new(Environment::Test).write_dev_lock(false);
    let files = [
        (1, "CREATE TABLE a (id INTEGER);"),
        (2, "CREATE TABLE b (id INTEGER);"),
        (3, "ALTER TABLE schema_history RENAME TO gone;"),
        (4, "CREATE TABLE c (id INTEGER);"),
    ];
    let set = |count: usize| {
        schema_tests::set_made_at_run_time(
            files[..count]
                .iter()
                .map(|&(version, sql)| (version, "step", sql.to_owned())),
        )
    };
    Migrator::with_policy(set(1), test.clone())
        .run(&mut Connection::open(&path).unwrap())
        .unwrap();
    let before = tables(&path);

    let message = Migrator::with_policy(set(4), test)
        .run(&mut Connection::open(&path).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(
            "recording versions 2 to 4 in the history and committing them (none of them was kept)"
        ),
        "{message}"
    );
    assert!(
        message.contains("no such table: schema_history"),
        "{message}"
    );
    assert_eq!(tables(&path), before, "no table of versions 2 to 4 remains");
    let conn = Connection::open(&path).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_history ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, [1], "the history is as before the run");
    // The run's transaction is not left open: the file takes writes at once.
    conn.execute_batch("CREATE TABLE after (id INTEGER)")
        .unwrap();
}
