//! `db create` and `db reset`, the commands other tools (sqlx-cli, diesel_cli, Rails) have
//! for a developer's database: create makes the URL's database when it is missing, and
//! reset drops everything, migrates and seeds again; reset is refused, with the data
//! untouched, in production and on a database stamped production.

use schema_runtime::sqlx::{self, Connection as _, MySqlConnection, PgConnection};
use schema_tests::{Server, unique_database_name, with_database};
use serde_json::Value;

use super::{Db, Run, runtime, states, tables};

on_every_database!(
    reset_in_development_drops_everything_then_migrates_and_seeds,
    reset_is_refused_in_production_and_on_a_production_database,
    reset_refuses_a_database_of_another_environment,
    create_makes_a_missing_database_and_leaves_an_existing_one,
);

/// `status --json` in `environment`.
fn status_in(db: &Db, environment: &str) -> Value {
    let run = db.db(environment, &["status", "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    run.json()
}

/// Each table with its row count, from `status --json`.
fn row_counts(status: &Value) -> Vec<String> {
    status["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} {}", t["table"].as_str().unwrap(), t["rows"]))
        .collect()
}

/// One value read from the server, as text.
fn server_text(db: &Db, sql: &'static str) -> String {
    runtime().block_on(async {
        if db.backend == "postgres" {
            let mut conn = PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    })
}

/// What a reset keeps of the container it empties: PostgreSQL's schema owner, grants and
/// comment; MySQL's character set and collation.
fn container(db: &Db) -> String {
    match db.backend {
        "postgres" => server_text(
            db,
            "SELECT concat_ws(' ', nspowner::regrole::text, nspacl::text, obj_description(oid, 'pg_namespace')) FROM pg_namespace WHERE nspname = current_schema()",
        ),
        "mysql" => server_text(
            db,
            "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
        ),
        _ => String::new(),
    }
}

fn reset_in_development_drops_everything_then_migrates_and_seeds(db: &Db) {
    let seed = [("SEED_DB", "true")];
    let migrated = db.db_with("development", &seed, &["migrate"]);
    assert_eq!(migrated.code, 0, "{}", migrated.all());
    let kept = container(db);
    // By hand: a table, a view, rows.
    db.sql("CREATE TABLE scratch (id INTEGER NOT NULL PRIMARY KEY)");
    db.sql("INSERT INTO scratch (id) VALUES (1)");
    db.sql("INSERT INTO accounts (id, owner) VALUES (2, 'by hand')");
    db.sql("CREATE VIEW owners AS SELECT owner FROM accounts");
    assert_eq!(
        row_counts(&status_in(db, "development")),
        ["accounts 2", "ledger 0", "notes 0", "scratch 1"]
    );

    let reset = db.db_with("development", &seed, &["reset"]);
    assert_eq!(reset.code, 0, "{}", reset.all());
    assert!(
        reset.stdout.starts_with("reset ") && reset.stdout.contains(": dropped "),
        "{}",
        reset.stdout
    );
    assert!(
        reset.stdout.contains("applied 3 migrations"),
        "{}",
        reset.stdout
    );
    let status = status_in(db, "development");
    assert_eq!(states(&status), ["1 applied", "2 applied", "3 applied"]);
    assert_eq!(status["seeds"][0]["state"], "applied", "{status}");
    assert_eq!(status["database"]["stamp"], "development");
    assert_eq!(
        row_counts(&status),
        ["accounts 1", "ledger 0", "notes 0"],
        "the hand-made table and row are gone, the seed's row is back"
    );
    // The view went too: it can be made again (and goes again, or it is drift).
    db.sql("CREATE VIEW owners AS SELECT owner FROM accounts");
    db.sql("DROP VIEW owners");
    assert_eq!(container(db), kept, "the schema or database is as it was");
    let verify = db.db("development", &["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.all());

    // Without SEED_DB the seeds stay pending, as at any start.
    let plain = db.db("development", &["reset"]);
    assert_eq!(plain.code, 0, "{}", plain.all());
    let status = status_in(db, "development");
    assert_eq!(states(&status), ["1 applied", "2 applied", "3 applied"]);
    assert_eq!(status["seeds"][0]["state"], "pending", "{status}");
    assert_eq!(row_counts(&status), ["accounts 0", "ledger 0", "notes 0"]);
}

fn reset_is_refused_in_production_and_on_a_production_database(db: &Db) {
    let migrated = db.db("production", &["migrate"]);
    assert_eq!(migrated.code, 0, "{}", migrated.all());
    db.sql("INSERT INTO accounts (id, owner) VALUES (1, 'a customer')");
    db.sql("CREATE TABLE scratch (id INTEGER NOT NULL PRIMARY KEY)");
    db.sql("INSERT INTO scratch (id) VALUES (1)");
    let before = status_in(db, "production");
    assert_eq!(
        row_counts(&before),
        ["accounts 1", "ledger 0", "notes 0", "scratch 1"]
    );
    let refused_because = |run: &Run, why: &str| {
        assert_eq!(run.code, 2, "{}", run.all());
        for part in [
            &format!("refusing to reset: {why}")[..],
            "has no override",
            "Nothing was changed",
            "restore a backup instead",
            "point DATABASE_URL at a development database",
        ] {
            assert!(run.stderr.contains(part), "{part:?} in {}", run.stderr);
        }
    };

    refused_because(
        &db.db("production", &["reset"]),
        "this run is production (APP_ENV=production)",
    );
    let stamped = format!("the database {} is stamped production", db.name);
    // A binary of another environment pointed at the production database: with or
    // without seeds, the stamp alone refuses.
    refused_because(&db.db("development", &["reset"]), &stamped);
    refused_because(
        &db.db_with("development", &[("SEED_DB", "true")], &["reset"]),
        &stamped,
    );
    refused_because(&db.db("test", &["reset"]), &stamped);
    // There is no override to type.
    let typed = db.db("production", &["reset", "--confirm-production", &db.name]);
    assert_eq!(typed.code, 2, "{}", typed.all());
    assert!(
        typed
            .stderr
            .contains("unexpected argument '--confirm-production'"),
        "{}",
        typed.stderr
    );

    let after = status_in(db, "production");
    assert_eq!(row_counts(&after), row_counts(&before));
    assert_eq!(after["migrations"], before["migrations"]);
    assert_eq!(after["database"]["stamp"], "production");
}

fn reset_refuses_a_database_of_another_environment(db: &Db) {
    db.migrate();
    db.sql("INSERT INTO accounts (id, owner) VALUES (1, 'a tester')");
    let refused = db.db("development", &["reset"]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("this database belongs to the test environment"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        row_counts(&db.status()),
        ["accounts 1", "ledger 0", "notes 0"]
    );
    // Its own environment resets it (tests reset their databases too).
    let reset = db.db("test", &["reset"]);
    assert_eq!(reset.code, 0, "{}", reset.all());
    let status = db.status();
    assert_eq!(row_counts(&status), ["accounts 0", "ledger 0", "notes 0"]);
    assert_eq!(status["database"]["stamp"], "test");
}

/// A server database made by a test, dropped when the test ends however it ends.
struct Dropped {
    server: Server,
    admin_url: String,
    name: String,
}

impl Drop for Dropped {
    fn drop(&mut self) {
        runtime().block_on(async {
            match self.server {
                Server::Postgres => {
                    let mut conn = PgConnection::connect(&self.admin_url).await.unwrap();
                    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
                Server::Mysql => {
                    let mut conn = MySqlConnection::connect(&self.admin_url).await.unwrap();
                    let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
            }
        });
    }
}

fn create_makes_a_missing_database_and_leaves_an_existing_one(db: &Db) {
    // The command's own database URL, whatever DATABASE_URL says.
    let create = |url: &str| db.db("development", &["--database-url", url, "create"]);
    if db.backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let url = format!("sqlite:{}", path.display());
        let created = create(&url);
        assert_eq!(created.code, 0, "{}", created.all());
        assert!(
            created.stdout.starts_with(&format!(
                "created {}: an empty SQLite database",
                path.display()
            )),
            "{}",
            created.stdout
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let again = create(&url);
        assert_eq!(again.code, 0, "{}", again.all());
        assert!(again.stdout.contains("already exists"), "{}", again.stdout);
        let migrated = db.db("test", &["--database-url", &url, "migrate"]);
        assert_eq!(migrated.code, 0, "{}", migrated.all());
        let after_migrate = create(&url);
        assert!(after_migrate.stdout.contains("already exists"));

        let no_folder = dir.path().join("missing").join("app.db");
        let refused = create(&format!("sqlite:{}", no_folder.display()));
        assert_eq!(refused.code, 1, "{}", refused.all());
        assert!(refused.stderr.contains("cannot create the SQLite file"));
        assert!(!no_folder.parent().unwrap().exists());
        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "not a database, but long enough to have a header: ".repeat(4),
        )
        .unwrap();
        let not_sqlite = create(&format!("sqlite:{}", text.display()));
        assert_eq!(not_sqlite.code, 1, "{}", not_sqlite.all());
        assert!(
            not_sqlite.stderr.contains("is not a SQLite database"),
            "{}",
            not_sqlite.stderr
        );
        return;
    }

    let server = if db.backend == "postgres" {
        Server::Postgres
    } else {
        Server::Mysql
    };
    let admin_url = server.url().unwrap();
    let name = unique_database_name();
    let _dropped = Dropped {
        server,
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    // A password in the URL is never printed (PostgreSQL trusts the test's user, so it
    // can travel there; MariaDB's root has none).
    let url = with_database(&admin_url, &name).replacen("://postgres@", "://postgres:s3cret@", 1);
    let created = create(&url);
    assert_eq!(created.code, 0, "{}", created.all());
    assert!(
        created
            .stdout
            .starts_with(&format!("created the database {name} (")),
        "{}",
        created.stdout
    );
    // It is there: the next command connects to it and finds it empty.
    let status = db.db("development", &["--database-url", &url, "status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(tables(&status.json()).is_empty());
    let again = create(&url);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again
            .stdout
            .starts_with(&format!("the database {name} already exists")),
        "{}",
        again.stdout
    );
    // The test's own database exists already.
    let existing = db.db("development", &["create"]);
    assert_eq!(existing.code, 0, "{}", existing.all());
    assert!(
        existing.stdout.contains("already exists"),
        "{}",
        existing.stdout
    );

    let bad = create(&with_database(&admin_url, "app;drop"));
    assert_eq!(bad.code, 2, "{}", bad.all());
    assert!(
        bad.stderr
            .contains("`app;drop` is not a database name this command creates"),
        "{}",
        bad.stderr
    );
}
