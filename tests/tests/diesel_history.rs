//! A real diesel history, end to end, as a user moves it (by hand: it needs the folder
//! and a PostgreSQL server, and builds a crate):
//!
//! ```sh
//! DIESEL_HISTORY=/path/to/lemmy/migrations TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p schema-tests --test diesel_history -- --nocapture
//! ```
//!
//! 1. The real diesel (diesel_migrations' `FileBasedMigrations`, as `diesel migration
//!    run` uses it) migrates a fresh PostgreSQL database with the folder, one migration at
//!    a time, up to the first the server cannot run (Lemmy's newest need PostgreSQL 16).
//! 2. A scratch application (`embed_migrations!("migrations")` over an empty folder, and
//!    the `db` command) is built by cargo; its `db import-diesel` converts the folder into
//!    its own `migrations/`, and it is built again.
//! 3. Its `db baseline` adopts every version diesel recorded; `db status` shows those
//!    applied and only the rest pending; with none pending, `db migrate` applies nothing.
//! 4. On a second fresh database, its `db migrate --to` the newest adopted version builds
//!    the same tables, columns, foreign keys and indexes from scratch.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use schema_tests::{Server, ServerDatabase};
use serde_json::Value;

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// The scratch crates of `build_e2e` share this target dir: schema-runtime and its
/// dependencies are compiled once.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("build_e2e")
}

const MAIN_RS: &str = r#"static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("migrations", dialects = "postgres");

fn main() -> std::process::ExitCode {
    schema_runtime::cli::Cli::new(&MIGRATIONS).run_from(std::env::args().skip(1))
}
"#;

struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new() -> App {
        let dir = tempfile::Builder::new()
            .prefix("schema-diesel-history-")
            .tempdir()
            .unwrap();
        let runtime = workspace_dir().join("schema-runtime");
        let runtime = format!("{:?}", runtime.to_str().unwrap());
        fs::write(
            dir.path().join("Cargo.toml"),
            format!(
                "[package]\nname = \"schema-diesel-history\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\nschema-runtime = {{ path = {runtime}, default-features = false, features = [\"sqlx-postgres\", \"cli\"] }}\n\n\
                 [build-dependencies]\nschema-runtime = {{ path = {runtime}, default-features = false }}\n\n[workspace]\n"
            ),
        )
        .unwrap();
        if let Ok(lock) = fs::read(workspace_dir().join("Cargo.lock")) {
            fs::write(dir.path().join("Cargo.lock"), lock).unwrap();
        }
        fs::write(
            dir.path().join("build.rs"),
            "fn main() {\n    schema_runtime::build::track(\"migrations\");\n}\n",
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/main.rs"), MAIN_RS).unwrap();
        fs::create_dir_all(dir.path().join("migrations")).unwrap();
        App { dir }
    }

    fn build(&self) {
        let started = Instant::now();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .arg("build")
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the application should build:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("built in {:.1?}", started.elapsed());
    }

    /// `app db ARGS` on `url` in the test environment; its stdout.
    fn db(&self, url: &str, args: &[&str]) -> String {
        let binary = target_dir().join("debug").join(format!(
            "schema-diesel-history{}",
            std::env::consts::EXE_SUFFIX
        ));
        let output = Command::new(binary)
            .arg("db")
            .args(args)
            .current_dir(self.dir.path())
            .env("DATABASE_URL", url)
            .env("APP_ENV", "test")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "db {args:?} failed:\n{stdout}{stderr}"
        );
        if !stderr.is_empty() {
            eprintln!("db {args:?} said on stderr:\n{stderr}");
        }
        stdout
    }
}

/// The live tables with their columns, foreign keys and indexes, without diesel's table.
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

#[test]
fn a_real_diesel_history_moves_over_whole() {
    use diesel::Connection as _;
    use diesel_migrations::MigrationHarness as _;

    let Some(history) = std::env::var_os("DIESEL_HISTORY") else {
        eprintln!("skipped: set DIESEL_HISTORY to a diesel migrations folder");
        return;
    };
    let history = PathBuf::from(history);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((_adopted, adopted_url)) = runtime.block_on(ServerDatabase::create(Server::Postgres))
    else {
        return;
    };
    let Some((_fresh, fresh_url)) = runtime.block_on(ServerDatabase::create(Server::Postgres))
    else {
        return;
    };

    // diesel runs the folder one migration at a time, as `diesel migration run` does, up
    // to the first it cannot run on this server (Lemmy's newest need PostgreSQL 16).
    let started = Instant::now();
    let mut conn = diesel::PgConnection::establish(&adopted_url).unwrap();
    let source = diesel_migrations::FileBasedMigrations::from_path(&history).unwrap();
    let all = conn.pending_migrations(source).unwrap();
    let mut stopped = None;
    for migration in &all {
        if let Err(error) = conn.run_migration(&**migration) {
            stopped = Some(format!("{}: {error}", migration.name()));
            break;
        }
    }
    let recorded = conn.applied_migrations().unwrap();
    drop(conn);
    eprintln!(
        "diesel ran {} of {} migrations in {:.1?}{}",
        recorded.len(),
        all.len(),
        started.elapsed(),
        stopped
            .as_deref()
            .map(|s| format!(", and stopped at {s}"))
            .unwrap_or_default()
    );

    let app = App::new();
    app.build();
    let history_text = history.to_str().unwrap();
    let converted = app.db(
        &adopted_url,
        &["import-diesel", history_text, "--dialect", "postgres"],
    );
    eprintln!("{converted}");
    app.build();

    let baseline = app.db(&adopted_url, &["baseline"]);
    assert!(
        baseline.starts_with(&format!(
            "adopted {} migration(s) from diesel's __diesel_schema_migrations; none of them ran again",
            recorded.len()
        )),
        "{baseline}"
    );
    let pending = all.len() - recorded.len();
    assert!(
        baseline.contains(&format!("\n{pending} pending")),
        "{baseline}"
    );
    let status: Value = serde_json::from_str(&app.db(&adopted_url, &["status", "--json"])).unwrap();
    let migrations = status["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), all.len());
    let states: Vec<&str> = migrations
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    let mut expected = vec!["applied"; recorded.len()];
    expected.extend(vec!["pending"; pending]);
    assert_eq!(
        states, expected,
        "diesel's migrations first, in diesel's order"
    );
    let newest = &migrations[recorded.len() - 1]["version"];
    eprintln!(
        "adopted {} migrations: {} .. {newest}; {pending} pending",
        recorded.len(),
        migrations[0]["version"],
    );
    if pending == 0 {
        let migrate = app.db(&adopted_url, &["migrate"]);
        assert!(!migrate.contains("+ "), "{migrate}");
    }

    let started = Instant::now();
    app.db(&fresh_url, &["migrate", "--to", &newest.to_string()]);
    eprintln!(
        "the converted folder migrated an empty database up to {newest} in {:.1?}",
        started.elapsed()
    );
    let built: Value = serde_json::from_str(&app.db(&fresh_url, &["status", "--json"])).unwrap();
    assert_eq!(schema(&built), schema(&status));
    eprintln!(
        "both databases have the same {} tables, with the same columns, foreign keys and indexes",
        schema(&built).len()
    );
}
