//! The application as its users run it: a real process, configured by environment variables.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use schema_runtime::rusqlite::Connection;

const MIGRATION_COUNT: i64 = 6;

fn app(database: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_example-app"));
    command.env_remove("APP_ENV").env_remove("SEED_DB");
    command.env("DATABASE_URL", format!("sqlite:{}", database.display()));
    command.envs(env.iter().copied());
    command
}

fn run(database: &Path, env: &[(&str, &str)]) -> Output {
    app(database, env).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn count(database: &Path, sql: &str) -> i64 {
    Connection::open(database)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

struct Scratch {
    _dir: tempfile::TempDir,
    database: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("tasks.db");
    Scratch {
        _dir: dir,
        database,
    }
}

#[test]
fn seed_matrix_through_app_env_and_seed_db() {
    for (env, seeded_users) in [
        (&[("APP_ENV", "development"), ("SEED_DB", "true")][..], 2),
        (&[("APP_ENV", "development")][..], 0),
        (&[("APP_ENV", "test"), ("SEED_DB", "true")][..], 0),
        (&[("APP_ENV", "production"), ("SEED_DB", "true")][..], 0),
    ] {
        let scratch = scratch();
        let output = run(&scratch.database, env);
        assert!(output.status.success(), "{env:?}: {}", text(&output));
        assert_eq!(
            count(&scratch.database, "SELECT count(*) FROM users"),
            seeded_users,
            "{env:?}"
        );
        assert_eq!(
            count(
                &scratch.database,
                "SELECT count(*) FROM schema_history WHERE kind = 'migration'"
            ),
            MIGRATION_COUNT,
            "{env:?}"
        );
        if env.contains(&("APP_ENV", "production")) {
            assert!(
                text(&output).contains("SEED_DB=true is ignored in production"),
                "{}",
                text(&output)
            );
        }
    }
}

#[test]
fn startup_logs_the_environment_and_where_it_came_from() {
    let scratch = scratch();
    let output = run(&scratch.database, &[("APP_ENV", "test")]);
    assert!(
        text(&output).contains("schema: environment test (APP_ENV=test)"),
        "{}",
        text(&output)
    );
    let output = run(&scratch.database, &[("APP_ENV", "staging")]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("APP_ENV=`staging` is not an environment; use one of: development (or dev), test, production (or prod)"),
        "{}",
        text(&output)
    );
}

#[test]
fn second_start_applies_nothing() {
    let scratch = scratch();
    assert!(
        run(&scratch.database, &[("APP_ENV", "test")])
            .status
            .success()
    );
    let second = run(&scratch.database, &[("APP_ENV", "test")]);
    assert!(second.status.success());
    assert!(
        text(&second).contains("schema: up to date at version 20251112143000"),
        "{}",
        text(&second)
    );
    assert_eq!(
        count(&scratch.database, "SELECT count(*) FROM schema_history"),
        MIGRATION_COUNT
    );
}

#[test]
fn eight_processes_starting_at_once_apply_each_migration_once() {
    let scratch = scratch();
    let children: Vec<_> = (0..8)
        .map(|_| {
            app(&scratch.database, &[("APP_ENV", "test")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    assert_eq!(
        count(
            &scratch.database,
            "SELECT count(*) FROM schema_history WHERE kind = 'migration'"
        ),
        MIGRATION_COUNT
    );
    assert_eq!(
        count(
            &scratch.database,
            "SELECT count(DISTINCT version) FROM schema_history WHERE kind = 'migration' AND state = 'applied'"
        ),
        MIGRATION_COUNT
    );
    assert_eq!(
        count(
            &scratch.database,
            "SELECT count(*) FROM schema_meta WHERE key_name = 'environment'"
        ),
        1,
        "one environment stamp"
    );
    assert_eq!(
        count(
            &scratch.database,
            "SELECT count(*) FROM schema_meta WHERE key_name = 'fingerprint'"
        ),
        1,
        "one schema fingerprint"
    );
}

#[test]
fn development_binary_pointed_at_a_production_database_is_refused() {
    let scratch = scratch();
    assert!(
        run(&scratch.database, &[("APP_ENV", "production")])
            .status
            .success()
    );
    let output = run(
        &scratch.database,
        &[("APP_ENV", "development"), ("SEED_DB", "true")],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("this database belongs to the production environment, but this run is development (APP_ENV=development)"),
        "{}",
        text(&output)
    );
    assert_eq!(
        count(&scratch.database, "SELECT count(*) FROM users"),
        0,
        "no seed reached production"
    );
}

#[test]
fn the_app_does_its_job_after_migrating() {
    let scratch = scratch();
    let env = &[("APP_ENV", "test")];
    let added = app(&scratch.database, env)
        .args(["add", "ada@example.com", "Write", "the", "docs"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let listed = run(&scratch.database, env);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("Write the docs"),
        "{}",
        text(&listed)
    );
    let done = app(&scratch.database, env)
        .args(["done", "1"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done));
    assert!(String::from_utf8_lossy(&run(&scratch.database, env).stdout).contains("no open tasks"));
}

#[test]
fn the_readme_deploy_pipeline_runs_on_the_db_command() {
    let scratch = scratch();
    let step = |args: &[&str]| {
        let output = app(&scratch.database, &[("APP_ENV", "production")])
            .arg("db")
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), text(&output))
    };
    let (code, output) = step(&["verify"]);
    assert_eq!(
        code,
        Some(1),
        "a new database has everything pending: {output}"
    );
    let (code, output) = step(&["verify", "--pending-ok"]);
    assert_eq!(code, Some(0), "{output}");
    let (code, output) = step(&["migrate", "--yes"]);
    assert_eq!(code, Some(0), "{output}");
    let (code, output) = step(&["verify"]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        count(&scratch.database, "SELECT COUNT(*) FROM schema_history"),
        MIGRATION_COUNT
    );
    let (code, output) = step(&["down"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("refusing to revert migrations"), "{output}");
    let (code, output) = step(&["status"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("environment       production (APP_ENV=production)"),
        "{output}"
    );
    assert!(output.contains("6 applied, 0 pending"), "{output}");
}
