//! The `db` command as people and pipelines run it: the real binary (`fixture-db`, the
//! `reversible` fixture compiled in) against a fresh database on every backend, checking
//! its human and JSON output, its exit codes, and that refusals change nothing.

use std::path::PathBuf;
use std::process::{Command, Output};

use schema_runtime::sqlx::{self, MySqlPool, PgPool};
use schema_tests::{Server, ServerDatabase};
use serde_json::Value;

/// A fresh database and how to reach it.
struct Db {
    url: String,
    name: String,
    backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    _server: Option<ServerDatabase>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What one run of the command gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Db {
    fn sqlite() -> Option<Db> {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("ledger.db");
        Some(Db {
            url: format!("sqlite:{}", path.display()),
            name: "ledger.db".into(),
            backend: "sqlite",
            _dir: Some(dir),
            _server: None,
        })
    }

    fn server(server: Server) -> Option<Db> {
        let (database, url) = runtime().block_on(ServerDatabase::create(server))?;
        let url = match server {
            // Trust authentication ignores the password, so it can travel in the URL and
            // every output is checked not to show it.
            Server::Postgres => url.replacen("://postgres@", "://postgres:s3cret@", 1),
            Server::Mysql => url,
        };
        Some(Db {
            url,
            name: database.name().to_owned(),
            backend: match server {
                Server::Postgres => "postgres",
                Server::Mysql => "mysql",
            },
            _dir: None,
            _server: Some(database),
        })
    }

    fn postgres() -> Option<Db> {
        Db::server(Server::Postgres)
    }

    fn mysql() -> Option<Db> {
        Db::server(Server::Mysql)
    }

    /// `fixture-db reversible db ARGS` in `environment`.
    fn db(&self, environment: &str, args: &[&str]) -> Run {
        self.db_with(environment, &[], args)
    }

    /// Like [`db`](Self::db), with more environment variables.
    fn db_with(&self, environment: &str, vars: &[(&str, &str)], args: &[&str]) -> Run {
        self.fixture_db("reversible", environment, vars, args)
    }

    /// `fixture-db FIXTURE db ARGS`, not yet started.
    fn command(
        &self,
        fixture: &str,
        environment: &str,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fixture-db"));
        command
            .arg(fixture)
            .arg("db")
            .args(args)
            .env_remove("SCHEMA_DRIFT")
            .env_remove("SCHEMA_SESSION_SQL")
            .env_remove("FIXTURE_HISTORY_TABLE")
            .env_remove("FIXTURE_RUNTIME")
            // Removed before `vars`, so that a test can set it.
            .env_remove("SEED_DB")
            .envs(vars.iter().copied())
            .env("DATABASE_URL", &self.url)
            .env("APP_ENV", environment)
            .env("NO_COLOR", "1");
        command
    }

    /// `fixture-db FIXTURE db ARGS` run to its end.
    fn fixture_db(
        &self,
        fixture: &str,
        environment: &str,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> Run {
        let run: Run = self
            .command(fixture, environment, vars, args)
            .output()
            .unwrap()
            .into();
        assert!(
            !run.all().contains("s3cret"),
            "a password was printed:\n{}",
            run.all()
        );
        run
    }

    /// Runs SQL on the database directly, as a person with a console would.
    fn sql(&self, statement: &str) {
        match self.backend {
            "sqlite" => {
                let path = self.url.strip_prefix("sqlite:").unwrap();
                schema_runtime::rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(statement)
                    .unwrap();
            }
            "postgres" => runtime().block_on(async {
                let pool = PgPool::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }),
            _ => runtime().block_on(async {
                let pool = MySqlPool::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }),
        }
    }

    /// `status --json` in the test environment.
    fn status(&self) -> Value {
        let run = self.db("test", &["status", "--json"]);
        assert_eq!(run.code, 0, "{}", run.all());
        run.json()
    }

    fn migrate(&self) {
        let run = self.db("test", &["migrate"]);
        assert_eq!(run.code, 0, "{}", run.all());
    }
}

/// Each migration's `version state` from `status --json`.
fn states(status: &Value) -> Vec<String> {
    status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["version"], m["state"].as_str().unwrap()))
        .collect()
}

/// The live tables from `status --json`.
fn tables(status: &Value) -> Vec<String> {
    status["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap().to_owned())
        .collect()
}

macro_rules! on_every_database {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $behaviour() { if let Some(db) = super::Db::sqlite() { super::$behaviour(&db) } } )* }
        mod postgres { $( #[test] fn $behaviour() { if let Some(db) = super::Db::postgres() { super::$behaviour(&db) } } )* }
        mod mysql { $( #[test] fn $behaviour() { if let Some(db) = super::Db::mysql() { super::$behaviour(&db) } } )* }
    };
}

on_every_database!(
    status_plan_and_migrate_describe_and_change_the_database,
    verify_fails_on_each_kind_of_difference,
    down_and_redo_use_the_down_files,
    production_refuses_what_removes_data_and_changes_nothing,
    repair_resolves_half_applied_and_accepts_checked_checksums,
    seed_runs_only_in_development,
    drift_names_what_was_changed_by_hand,
);

fn status_plan_and_migrate_describe_and_change_the_database(db: &Db) {
    let status = db.status();
    assert_eq!(status["environment"]["name"], "test");
    assert_eq!(status["environment"]["source"], "APP_ENV=test");
    assert_eq!(status["database"]["backend"], db.backend);
    assert_eq!(status["database"]["stamp"], Value::Null);
    assert_eq!(status["database_version"], Value::Null);
    assert_eq!(status["app"]["name"], "schema-tests");
    assert_eq!(states(&status), ["1 pending", "2 pending", "3 pending"]);
    assert_eq!(status["seeds"][0]["state"], "pending");
    assert!(tables(&status).is_empty(), "{status}");

    let plan = db.db("test", &["plan", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let plan = plan.json();
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "no seeds outside development: {plan}");
    assert_eq!(
        steps[0]["path"],
        "fixtures/reversible/0001_create_accounts.sql"
    );
    assert!(
        steps[1]["sql"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE ledger")
    );
    assert_eq!(steps[2]["transaction"], true);
    let human = db.db("test", &["plan", "--to", "1"]);
    assert_eq!(human.code, 0);
    assert!(
        human.stdout.starts_with(
            "-- migration 1: fixtures/reversible/0001_create_accounts.sql\nCREATE TABLE accounts"
        ),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("ledger"), "--to 1 stops at 1");
    assert!(
        db.status()["migrations"][0]["state"] == "pending",
        "plan changed nothing"
    );

    let migrate = db.db("test", &["migrate", "--to", "2"]);
    assert_eq!(migrate.code, 0, "{}", migrate.all());
    assert!(migrate.stdout.contains("+ 2"), "{}", migrate.stdout);
    assert!(
        migrate.stderr.contains("migrating"),
        "progress goes to stderr"
    );
    db.migrate();

    let status = db.status();
    assert_eq!(states(&status), ["1 applied", "2 applied", "3 applied"]);
    assert_eq!(status["database"]["stamp"], "test");
    assert_eq!(status["database_version"]["version"], 3);
    let first = &status["migrations"][0];
    assert_eq!(first["checksum"], first["recorded_checksum"]);
    assert!(first["applied_by"].as_str().unwrap().contains('@'));
    assert_eq!(tables(&status), ["accounts", "ledger", "notes"]);
    let ledger = &status["schema"][1];
    assert_eq!(ledger["foreign_keys"], 1, "{status}");
    assert_eq!(ledger["rows"], 0);
    assert!(
        status["schema"][0]["indexes"].as_u64().unwrap() >= 1,
        "{status}"
    );

    let human = db.db("test", &["status"]);
    assert_eq!(human.code, 0);
    assert!(
        human
            .stdout
            .starts_with("environment       test (APP_ENV=test)\n"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("VERSION  NAME             STATE    APPLIED AT"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("TABLE     ROWS  FOREIGN KEYS  INDEXES\n"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("3 applied, 0 pending"));
    let plan = db.db("test", &["plan"]);
    assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);
}

fn verify_fails_on_each_kind_of_difference(db: &Db) {
    let kinds = |run: &Run| -> Vec<String> {
        run.json()["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let pending = db.db("test", &["verify", "--json"]);
    assert_eq!(pending.code, 1, "{}", pending.all());
    assert_eq!(kinds(&pending), ["pending", "pending", "pending"]);
    assert_eq!(pending.json()["ok"], false);
    let before_migrate = db.db("test", &["verify", "--pending-ok"]);
    assert_eq!(before_migrate.code, 0, "{}", before_migrate.all());

    db.migrate();
    let ok = db.db("test", &["verify"]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.stdout.starts_with("ok: "), "{}", ok.stdout);

    let other = db.db("production", &["verify", "--json"]);
    assert_eq!(other.code, 1);
    assert_eq!(kinds(&other), ["environment"]);

    db.sql("UPDATE schema_history SET checksum = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' WHERE version = 2");
    let edited = db.db("test", &["verify"]);
    assert_eq!(edited.code, 1);
    assert!(
        edited.stdout.contains(
            "fixtures/reversible/0002_create_ledger.sql (version 2) was applied with sha256:aaaa"
        ),
        "{}",
        edited.stdout
    );
    assert!(edited.stdout.contains("db repair 2 --accept-checksum"));

    db.sql("UPDATE schema_history SET state = 'started' WHERE version = 3");
    db.sql(
        "INSERT INTO schema_history (version, name, kind, checksum, state, applied_at, execution_ms, app_version, environment, applied_by) \
         VALUES (9, 'from_the_future', 'migration', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'applied', '2026-01-01T00:00:00.000Z', 1, '9.9.9', 'test', 'ops@host')",
    );
    let all = db.db("test", &["verify", "--json"]);
    assert_eq!(all.code, 1);
    assert_eq!(kinds(&all), ["edited", "half-applied", "missing"]);
    let human = db.db("test", &["verify"]);
    assert!(
        human
            .stdout
            .contains("version 9 (from_the_future) is applied here but not in this binary"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("started and never finished"));
    let status = db.status();
    assert_eq!(
        states(&status),
        ["1 applied", "2 edited", "3 half-applied", "9 missing"]
    );
}

fn down_and_redo_use_the_down_files(db: &Db) {
    db.migrate();
    let down = db.db("test", &["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(
        down.stdout.starts_with(
            "reverted fixtures/reversible/0003_create_notes.sql with fixtures/reversible/0003_create_notes.down.sql"
        ),
        "{}",
        down.stdout
    );
    let status = db.status();
    assert_eq!(states(&status), ["1 applied", "2 applied", "3 pending"]);
    assert_eq!(tables(&status), ["accounts", "ledger"]);

    let redo = db.db("test", &["redo"]);
    assert_eq!(redo.code, 0, "{}", redo.all());
    db.migrate();
    let redo = db.db("test", &["redo"]);
    assert_eq!(redo.code, 0, "{}", redo.all());
    assert!(redo.stdout.contains("reverted"), "{}", redo.stdout);
    assert!(redo.stdout.contains("+ 3"), "{}", redo.stdout);
    assert_eq!(
        states(&db.status()),
        ["1 applied", "2 applied", "3 applied"]
    );

    let all = db.db("test", &["down", "--to", "0"]);
    assert_eq!(all.code, 0, "{}", all.all());
    assert_eq!(all.stdout.matches("reverted").count(), 3);
    let status = db.status();
    assert_eq!(states(&status), ["1 pending", "2 pending", "3 pending"]);
    assert!(tables(&status).is_empty(), "{status}");
    let nothing = db.db("test", &["down"]);
    assert_eq!(nothing.code, 0);
    assert!(nothing.stdout.contains("nothing to revert"));
    // Each revert is in the audit trail.
    db.migrate();
    assert_eq!(
        states(&db.status()),
        ["1 applied", "2 applied", "3 applied"]
    );
}

fn production_refuses_what_removes_data_and_changes_nothing(db: &Db) {
    let migrate = db.db("production", &["migrate"]);
    assert_eq!(migrate.code, 0, "{}", migrate.all());
    let before = db.db("production", &["status", "--json"]).json();
    for args in [
        vec!["down"],
        vec!["down", "--to", "0"],
        vec!["redo"],
        vec!["repair", "3", "--resolved", "--reason", "checked"],
        vec!["down", "--confirm-production", "not-this-one"],
    ] {
        let refused = db.db("production", &args);
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.all());
        assert!(
            refused.stderr.contains("refusing to ")
                && refused
                    .stderr
                    .contains("this run is production (APP_ENV=production)")
                && refused.stderr.contains("Nothing was changed"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    let seed = db.db("production", &["seed"]);
    assert_eq!(seed.code, 2);
    assert!(
        seed.stderr
            .contains("refusing to seed: seeds run only in development, and this is production"),
        "{}",
        seed.stderr
    );
    // A test-environment binary pointed at the production database is refused too, as
    // startup refuses it: the database belongs to another environment.
    let stamped = db.db("test", &["down"]);
    assert_eq!(stamped.code, 2, "{}", stamped.all());
    assert!(
        stamped
            .stderr
            .contains("this database belongs to the production environment"),
        "{}",
        stamped.all()
    );
    let after = db.db("production", &["status", "--json"]).json();
    assert_eq!(before["migrations"], after["migrations"]);
    assert_eq!(before["schema"], after["schema"]);

    let confirmed = db.db("production", &["down", "--confirm-production", &db.name]);
    assert_eq!(confirmed.code, 0, "{}", confirmed.all());
    assert!(confirmed.stderr.contains("confirmed for database"));
    assert_eq!(
        states(&db.db("production", &["status", "--json"]).json()),
        ["1 applied", "2 applied", "3 pending"]
    );
}

fn repair_resolves_half_applied_and_accepts_checked_checksums(db: &Db) {
    db.migrate();
    db.sql("UPDATE schema_history SET state = 'started' WHERE version = 3");
    let stuck = db.db("test", &["migrate"]);
    assert_eq!(stuck.code, 1, "{}", stuck.all());
    assert!(
        stuck.stderr.contains("0003_create_notes.sql"),
        "{}",
        stuck.stderr
    );
    let no_reason = db.db("test", &["repair", "3", "--resolved", "--reason", " "]);
    assert_eq!(no_reason.code, 2);
    let repaired = db.db(
        "test",
        &[
            "repair",
            "3",
            "--resolved",
            "--reason",
            "ops checked notes exists",
        ],
    );
    assert_eq!(repaired.code, 0, "{}", repaired.all());
    assert!(repaired.stdout.contains("is marked resolved"));
    let again = db.db("test", &["repair", "3", "--resolved", "--reason", "twice"]);
    assert_eq!(again.code, 1, "{}", again.all());
    assert_eq!(db.db("test", &["verify"]).code, 0);

    db.sql("UPDATE schema_history SET checksum = 'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc' WHERE version = 1 AND kind = 'migration'");
    assert_eq!(db.db("test", &["verify"]).code, 1);
    let accepted = db.db(
        "test",
        &[
            "repair",
            "1",
            "--accept-checksum",
            "--reason",
            "whitespace only, checked by ops",
        ],
    );
    assert_eq!(accepted.code, 0, "{}", accepted.all());
    assert!(
        accepted.stdout.contains("the old sha256:cccc"),
        "{}",
        accepted.stdout
    );
    assert_eq!(db.db("test", &["verify"]).code, 0);
    let unknown = db.db("test", &["repair", "7", "--resolved", "--reason", "x"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("version 7 is not recorded"));
    let usage = db.db("test", &["repair", "1", "--reason", "x"]);
    assert_eq!(usage.code, 2, "one of --resolved or --accept-checksum");
}

fn seed_runs_only_in_development(db: &Db) {
    let refused = db.db("test", &["seed"]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("seeds run only in development, and this is test")
    );
    assert!(
        db.status()["database"]["stamp"].is_null(),
        "a refused seed touches nothing"
    );
    let seeded = db.db("development", &["seed"]);
    assert_eq!(seeded.code, 0, "{}", seeded.all());
    let status = db.db("development", &["status", "--json"]).json();
    assert_eq!(status["seeds"][0]["state"], "applied");
    assert_eq!(status["schema"][0]["table"], "accounts");
    assert_eq!(status["schema"][0]["rows"], 1);
}

fn drift_names_what_was_changed_by_hand(db: &Db) {
    let messages = |run: &Run| -> Vec<String> {
        run.json()["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let nothing = db.db("test", &["drift"]);
    assert_eq!(nothing.code, 0, "{}", nothing.all());
    assert!(
        nothing.stdout.contains("no schema fingerprint is recorded"),
        "{}",
        nothing.stdout
    );
    db.migrate();
    let clean = db.db("test", &["drift"]);
    assert_eq!(clean.code, 0, "{}", clean.all());
    assert!(
        clean
            .stdout
            .contains("matches what the migrations left (recorded after version 3"),
        "{}",
        clean.stdout
    );

    // By hand, in a console: a column, an index, a table.
    db.sql("ALTER TABLE accounts ADD COLUMN nickname VARCHAR(40)");
    db.sql("CREATE INDEX notes_by_body ON notes (body)");
    db.sql("CREATE TABLE scratch (id INTEGER NOT NULL PRIMARY KEY)");
    let drift = db.db("test", &["drift"]);
    assert_eq!(drift.code, 1, "{}", drift.all());
    assert!(
        drift
            .stdout
            .starts_with("3 difference(s) between the live schema of"),
        "{}",
        drift.stdout
    );
    let json = db.db("test", &["drift", "--json"]);
    assert_eq!(json.code, 1);
    assert_eq!(
        messages(&json),
        [
            "table scratch exists in the database but no migration created it",
            "column accounts.nickname exists in the database but no migration created it",
            "index notes.notes_by_body exists in the database but no migration created it",
        ]
    );
    let verify = db.db("test", &["verify", "--json"]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_eq!(
        verify.json()["differences"][0]["kind"],
        "drift",
        "{}",
        verify.stdout
    );
    let status = db.status();
    assert_eq!(status["drift"].as_array().unwrap().len(), 3, "{status}");

    // A start with nothing to migrate: SQLite compares on every start (for free);
    // servers only on starts that migrate, unless the policy asks.
    let start = db.db("test", &["migrate"]);
    assert_eq!(start.code, 0, "{}", start.all());
    assert_eq!(
        start.all().contains("column accounts.nickname exists"),
        db.backend == "sqlite",
        "{}",
        start.all()
    );

    // A revert changes the schema through a down file: the fingerprint follows it, and
    // the hand-made changes it did not touch stay drift.
    let down = db.db("test", &["down"]);
    assert_eq!(down.code, 0, "{}", down.all());
    let after_down = db.db("test", &["drift", "--json"]);
    assert_eq!(
        messages(&after_down),
        [
            "table scratch exists in the database but no migration created it",
            "column accounts.nickname exists in the database but no migration created it",
        ]
    );

    // The policy can stop a start on drift before it changes anything.
    let refused = db.db_with("test", &[("SCHEMA_DRIFT", "error")], &["migrate"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.all().contains("column accounts.nickname exists")
            && refused.all().contains("Nothing was migrated"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        states(&db.status()),
        ["1 applied", "2 applied", "3 pending"]
    );
    // By default it is a warning; the migration's own change is recorded, the drift kept.
    let warned = db.db("test", &["migrate"]);
    assert_eq!(warned.code, 0, "{}", warned.all());
    assert!(
        warned.all().contains("column accounts.nickname exists"),
        "{}",
        warned.all()
    );
    assert_eq!(messages(&db.db("test", &["drift", "--json"])).len(), 2);

    let unreasoned = db.db("test", &["drift", "--accept"]);
    assert_eq!(unreasoned.code, 2, "{}", unreasoned.all());
    let accepted = db.db(
        "test",
        &[
            "drift",
            "--accept",
            "--reason",
            "ops: nickname and scratch checked",
        ],
    );
    assert_eq!(accepted.code, 0, "{}", accepted.all());
    assert_eq!(db.db("test", &["drift"]).code, 0);
    assert_eq!(db.db("test", &["verify"]).code, 0);
}

#[test]
fn usage_and_environment_errors_exit_2() {
    let run = |args: &[&str], url: Option<&str>| -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fixture-db"));
        command
            .arg("reversible")
            .arg("db")
            .args(args)
            .env_remove("DATABASE_URL")
            .env("APP_ENV", "test");
        if let Some(url) = url {
            command.env("DATABASE_URL", url);
        }
        command.output().unwrap().into()
    };
    let unknown = run(&["frobnicate"], Some("sqlite::memory:"));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("unrecognized subcommand 'frobnicate'")
    );
    assert!(
        unknown.stderr.contains("Usage: schema-tests db"),
        "{}",
        unknown.stderr
    );
    let no_url = run(&["status"], None);
    assert_eq!(no_url.code, 2);
    assert!(
        no_url
            .stderr
            .contains("set DATABASE_URL or pass --database-url")
    );
    let bad = run(&["status"], Some("oracle://scott:tiger@db/orcl"));
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("oracle://scott:***@db/orcl"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("tiger"));
    let bad_env = Command::new(env!("CARGO_BIN_EXE_fixture-db"))
        .args(["reversible", "db", "status"])
        .env("DATABASE_URL", "sqlite::memory:")
        .env("APP_ENV", "staging")
        .output()
        .unwrap();
    assert_eq!(bad_env.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite:{}", dir.path().join("typo.db").display());
    let status = run(&["status"], Some(&missing));
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stderr.contains("it reads as empty"),
        "{}",
        status.stderr
    );
    let down = run(&["down"], Some(&missing));
    assert_eq!(down.code, 2);
    assert!(down.stderr.contains("there is no SQLite database at"));
    assert!(
        !dir.path().join("typo.db").exists(),
        "reading or refusing creates no file"
    );
    let help = run(&["--help"], None);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("verify"));
}

/// Adoption: databases migrated by the real sqlx, refinery and diesel, then taken over by
/// `db baseline`; the next start applies only what is new.
mod adoption {
    use std::fs;
    use std::path::Path;

    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/reversible");
    const FIRST_TWO: [&str; 2] = ["0001_create_accounts", "0002_create_ledger"];

    fn up(name: &str) -> String {
        fs::read_to_string(Path::new(FIXTURE).join(format!("{name}.sql"))).unwrap()
    }

    /// After adoption: nothing ran again, the third migration is the only one applied,
    /// and each adopted row says where it came from.
    fn check_adopted(db: &Db, from: &str, noted: &str) {
        let baseline = db.db("test", &["baseline"]);
        assert_eq!(baseline.code, 0, "{}", baseline.all());
        assert!(
            baseline
                .stdout
                .starts_with(&format!("adopted 2 migration(s) from {from}")),
            "{}",
            baseline.stdout
        );
        assert!(baseline.stdout.contains("1 pending"), "{}", baseline.stdout);
        let status = db.status();
        assert_eq!(states(&status), ["1 applied", "2 applied", "3 pending"]);
        let note = status["migrations"][1]["note"].as_str().unwrap();
        assert!(note.starts_with(&format!("baseline: {noted}")), "{note}");

        let start = db.db("test", &["migrate"]);
        assert_eq!(start.code, 0, "{}", start.all());
        assert!(
            start.stdout.contains("applied 1 migration"),
            "{}",
            start.stdout
        );
        assert!(start.stdout.contains("+ 3"), "{}", start.stdout);
        assert_eq!(
            states(&db.status()),
            ["1 applied", "2 applied", "3 applied"]
        );
        assert_eq!(db.db("test", &["drift"]).code, 0);
        let again = db.db("test", &["baseline"]);
        assert_eq!(again.code, 1, "{}", again.all());
        assert!(again.stderr.contains("already has a migration history"));
    }

    fn sqlx_migrates_the_first_two(db: &Db) {
        let dir = tempfile::tempdir().unwrap();
        for name in FIRST_TWO {
            fs::write(dir.path().join(format!("{name}.sql")), up(name)).unwrap();
        }
        runtime().block_on(async {
            let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
            match db.backend {
                "sqlite" => {
                    let url = format!("{}?mode=rwc", db.url);
                    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                    migrator.run(&pool).await.unwrap();
                    pool.close().await;
                }
                "postgres" => {
                    let pool = PgPool::connect(&db.url).await.unwrap();
                    migrator.run(&pool).await.unwrap();
                    pool.close().await;
                }
                _ => {
                    let pool = MySqlPool::connect(&db.url).await.unwrap();
                    migrator.run(&pool).await.unwrap();
                    pool.close().await;
                }
            }
        });
    }

    fn a_sqlx_database_is_adopted(db: &Db) {
        sqlx_migrates_the_first_two(db);
        check_adopted(
            db,
            "sqlx's _sqlx_migrations",
            "from sqlx; its sha384 matches the same text",
        );
    }

    fn a_file_edited_after_sqlx_ran_it_is_not_adopted(db: &Db) {
        sqlx_migrates_the_first_two(db);
        db.sql("UPDATE _sqlx_migrations SET checksum = checksum || checksum WHERE version = 2");
        let refused = db.db("test", &["baseline"]);
        assert_eq!(refused.code, 1, "{}", refused.all());
        assert!(
            refused.stderr.contains("nothing was adopted")
                && refused.stderr.contains(
                    "fixtures/reversible/0002_create_ledger.sql (version 2) is not the file sqlx ran"
                )
                && refused.stderr.contains("this binary's text gives sha384:"),
            "{}",
            refused.stderr
        );
        assert_eq!(
            states(&db.status()),
            ["1 pending", "2 pending", "3 pending"],
            "nothing was written"
        );
    }

    fn a_database_built_by_hand_is_adopted_at_a_version(db: &Db) {
        for name in FIRST_TWO {
            db.sql(&up(name));
        }
        let nothing = db.db("test", &["baseline"]);
        assert_eq!(nothing.code, 2, "{}", nothing.all());
        assert!(nothing.stderr.contains("db baseline --version V"));
        let unknown = db.db("test", &["baseline", "--version", "7"]);
        assert_eq!(unknown.code, 2, "{}", unknown.all());
        let adopted = db.db("test", &["baseline", "--version", "2"]);
        assert_eq!(adopted.code, 0, "{}", adopted.all());
        assert!(
            adopted.stdout.contains("adopted by hand at version 2"),
            "{}",
            adopted.stdout
        );
        db.migrate();
        assert_eq!(
            states(&db.status()),
            ["1 applied", "2 applied", "3 applied"]
        );
    }

    mod sqlite {
        #[test]
        fn a_sqlx_database_is_adopted() {
            super::a_sqlx_database_is_adopted(&super::Db::sqlite().unwrap())
        }
        #[test]
        fn a_file_edited_after_sqlx_ran_it_is_not_adopted() {
            super::a_file_edited_after_sqlx_ran_it_is_not_adopted(&super::Db::sqlite().unwrap())
        }
        #[test]
        fn a_database_built_by_hand_is_adopted_at_a_version() {
            super::a_database_built_by_hand_is_adopted_at_a_version(&super::Db::sqlite().unwrap())
        }
    }

    mod postgres {
        #[test]
        fn a_sqlx_database_is_adopted() {
            if let Some(db) = super::Db::postgres() {
                super::a_sqlx_database_is_adopted(&db)
            }
        }
        #[test]
        fn a_database_built_by_hand_is_adopted_at_a_version() {
            if let Some(db) = super::Db::postgres() {
                super::a_database_built_by_hand_is_adopted_at_a_version(&db)
            }
        }
    }

    mod mysql {
        #[test]
        fn a_sqlx_database_is_adopted() {
            if let Some(db) = super::Db::mysql() {
                super::a_sqlx_database_is_adopted(&db)
            }
        }
    }

    #[test]
    fn a_refinery_database_is_adopted() {
        let db = Db::sqlite().unwrap();
        let migrations: Vec<refinery::Migration> = FIRST_TWO
            .iter()
            .map(|name| {
                let (number, rest) = name.split_once('_').unwrap();
                let version: u32 = number.parse().unwrap();
                refinery::Migration::unapplied(&format!("V{version}__{rest}"), &up(name)).unwrap()
            })
            .collect();
        let mut conn =
            schema_runtime::rusqlite::Connection::open(db.url.strip_prefix("sqlite:").unwrap())
                .unwrap();
        refinery::Runner::new(&migrations).run(&mut conn).unwrap();
        drop(conn);
        check_adopted(
            &db,
            "refinery's refinery_schema_history",
            "from refinery; its checksum matches",
        );
    }

    #[test]
    fn a_diesel_database_is_adopted() {
        use diesel::Connection as _;
        use diesel_migrations::MigrationHarness as _;

        let db = Db::sqlite().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for name in FIRST_TWO {
            let folder = dir.path().join(name);
            fs::create_dir(&folder).unwrap();
            fs::write(folder.join("up.sql"), up(name)).unwrap();
            fs::copy(
                Path::new(FIXTURE).join(format!("{name}.down.sql")),
                folder.join("down.sql"),
            )
            .unwrap();
        }
        let mut conn =
            diesel::SqliteConnection::establish(db.url.strip_prefix("sqlite:").unwrap()).unwrap();
        let migrations = diesel_migrations::FileBasedMigrations::from_path(dir.path()).unwrap();
        conn.run_pending_migrations(migrations).unwrap();
        drop(conn);
        check_adopted(
            &db,
            "diesel's __diesel_schema_migrations",
            "from diesel; it keeps no checksum",
        );
    }
}

/// Moving from diesel: `db import-diesel`, the real diesel on PostgreSQL, `db baseline`.
#[path = "db_command/diesel.rs"]
mod diesel_import;

/// The rules every command that changes a database shares with startup.
#[path = "db_command/rules.rs"]
mod rules;

#[path = "db_command/operators.rs"]
mod operators;

/// `db create` and `db reset`.
#[path = "db_command/create_reset.rs"]
mod create_reset;
