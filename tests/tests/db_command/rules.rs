//! Every `db` command that changes a database follows startup's rules: it waits for the
//! migration lock and decides from the history it reads under it, it refuses a database
//! of another environment, it uses the application's own policy, and every command an
//! error suggests is one that runs.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, Connection as _, MySqlConnection, PgConnection};
use serde_json::Value;

use super::{Db, Run, runtime, states, tables};

on_every_database!(
    a_down_waits_for_a_replica_that_is_migrating,
    write_commands_refuse_a_database_of_another_environment,
    the_command_uses_the_applications_own_history_table,
    a_half_applied_seed_stops_a_start_and_the_suggested_repair_runs,
    a_down_that_fails_part_way_is_reported_as_it_is_and_the_fingerprint_follows,
    another_tools_database_is_refused_until_adopted,
    a_foreign_table_with_the_history_name_is_named,
    the_command_runs_inside_an_applications_runtime,
);

/// A lock that the replica must wait for while it applies migration 2 of the `reversible`
/// fixture (a table referencing `accounts`), held by the test as a person's long
/// transaction would be.
enum Blocker {
    Sqlite(schema_runtime::rusqlite::Connection),
    Postgres(tokio::runtime::Runtime, PgConnection),
    Mysql(tokio::runtime::Runtime, MySqlConnection),
}

impl Blocker {
    fn hold(db: &Db) -> Blocker {
        match db.backend {
            "sqlite" => {
                // In WAL mode readers go on while the test holds the write lock, as in
                // the field: only the writer (the replica's migration) waits.
                let conn = schema_runtime::rusqlite::Connection::open(sqlite_path(db)).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                Blocker::Sqlite(conn)
            }
            "postgres" => {
                let rt = runtime();
                let conn = rt.block_on(async {
                    let mut conn = PgConnection::connect(&db.url).await.unwrap();
                    sqlx::raw_sql("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    conn
                });
                Blocker::Postgres(rt, conn)
            }
            _ => {
                let rt = runtime();
                let conn = rt.block_on(async {
                    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
                    // MariaDB takes no lock on a foreign key's parent, so the test
                    // holds the history table instead: the replica reads it, takes the
                    // migration lock, and waits to write its `started` row.
                    sqlx::raw_sql("LOCK TABLES schema_history READ")
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    conn
                });
                Blocker::Mysql(rt, conn)
            }
        }
    }

    fn release(self) {
        match self {
            Blocker::Sqlite(conn) => conn.execute_batch("ROLLBACK").unwrap(),
            Blocker::Postgres(rt, mut conn) => rt.block_on(async {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
            }),
            Blocker::Mysql(rt, mut conn) => rt.block_on(async {
                sqlx::raw_sql("UNLOCK TABLES")
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }),
        }
    }
}

fn sqlite_path(db: &Db) -> &str {
    db.url.strip_prefix("sqlite:").unwrap()
}

/// Whether a process holds the migration lock of `db` and waits behind the blocker.
fn replica_is_waiting(db: &Db) -> bool {
    match db.backend {
        "sqlite" => {
            let lock = format!("{}.schema-lock", sqlite_path(db));
            match std::fs::File::open(lock) {
                Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
                Err(_) => false,
            }
        }
        "postgres" => runtime().block_on(async {
            let mut conn = PgConnection::connect(&db.url).await.unwrap();
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            waiting > 0
        }),
        _ => runtime().block_on(async {
            let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() AND state LIKE 'Waiting for%'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            waiting > 0
        }),
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(child: Child) -> Run {
    child.wait_with_output().unwrap().into()
}

fn spawn(db: &Db, fixture: &str, vars: &[(&str, &str)], args: &[&str]) -> Child {
    db.command(fixture, "test", vars, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `db down` started while a replica applies migrations 2 and 3 waits for the replica's
/// lock and then reverts what is newest by then (3), not what was newest when it started
/// (1, whose table migration 2 needs).
fn a_down_waits_for_a_replica_that_is_migrating(db: &Db) {
    let first = db.db("test", &["migrate", "--to", "1"]);
    assert_eq!(first.code, 0, "{}", first.all());
    if db.backend == "sqlite" {
        db.sql("PRAGMA journal_mode = WAL");
    }
    let blocker = Blocker::hold(db);
    let replica = spawn(db, "reversible", &[], &["migrate"]);
    wait_for("the replica to wait behind the blocker", || {
        replica_is_waiting(db)
    });
    let mut down = spawn(db, "reversible", &[], &["down"]);
    std::thread::sleep(Duration::from_millis(700));
    let early = down.try_wait().unwrap();
    blocker.release();
    let replica = finish(replica);
    let down = finish(down);
    assert_eq!(replica.code, 0, "the replica: {}", replica.all());
    assert!(
        early.is_none(),
        "down did not wait for the replica: {}",
        down.all()
    );
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(
        down.stdout
            .starts_with("reverted fixtures/reversible/0003_create_notes.sql"),
        "{}",
        down.all()
    );
    let status = db.status();
    assert_eq!(states(&status), ["1 applied", "2 applied", "3 pending"]);
    assert_eq!(tables(&status), ["accounts", "ledger"]);
    // And the database still starts.
    db.migrate();
}

fn write_commands_refuse_a_database_of_another_environment(db: &Db) {
    db.migrate();
    let before = db.status();
    for args in [
        vec!["down"],
        vec!["redo"],
        vec!["repair", "1", "--accept-checksum", "--reason", "checked"],
        vec!["drift", "--accept", "--reason", "checked"],
        vec!["baseline", "--version", "1"],
        vec!["migrate"],
    ] {
        let run = db.db("development", &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr
                .contains("this database belongs to the test environment"),
            "{args:?}: {}",
            run.all()
        );
    }
    let after = db.status();
    assert_eq!(states(&before), states(&after));
    assert_eq!(tables(&before), tables(&after));
    assert_eq!(
        before["migrations"].to_string(),
        after["migrations"].to_string()
    );
}

fn the_command_uses_the_applications_own_history_table(db: &Db) {
    let app = [("FIXTURE_HISTORY_TABLE", "app_history")];
    let migrate = db.fixture_db("reversible", "test", &app, &["migrate"]);
    assert_eq!(migrate.code, 0, "{}", migrate.all());
    let status = db.fixture_db("reversible", "test", &app, &["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.all());
    let status = status.json();
    assert_eq!(
        states(&status),
        ["1 applied", "2 applied", "3 applied"],
        "{status}"
    );
    // Its own tables are not part of the schema shown; no second history was made.
    assert_eq!(tables(&status), ["accounts", "ledger", "notes"]);
    let verify = db.fixture_db("reversible", "test", &app, &["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    let again = db.fixture_db("reversible", "test", &app, &["migrate"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("schema: up to date"),
        "{}",
        again.all()
    );
}

/// The command a message suggests, between backticks, starting with `prefix`.
fn suggested<'a>(run: &'a Run, prefix: &str) -> &'a str {
    let text = &run.stderr;
    let start = text
        .find(&format!("`{prefix}"))
        .unwrap_or_else(|| panic!("no `{prefix}…` suggested: {}", run.all()));
    let rest = &text[start + 1..];
    &rest[..rest.find('`').unwrap()]
}

fn a_half_applied_seed_stops_a_start_and_the_suggested_repair_runs(db: &Db) {
    let seeded = db.db("development", &["seed"]);
    assert_eq!(seeded.code, 0, "{}", seeded.all());
    // What a seed run outside a transaction leaves when the process dies inside it.
    db.sql("UPDATE schema_history SET state = 'started' WHERE kind = 'seed' AND version = 1");
    let status = db.db("development", &["status", "--json"]).json();
    assert_eq!(status["seeds"][0]["state"], "half-applied", "{status}");
    let start = db.db_with("development", &[("SEED_DB", "true")], &["seed"]);
    assert_eq!(start.code, 1, "{}", start.all());
    let suggestion = suggested(&start, "db repair");
    assert_eq!(
        suggestion,
        "db repair 1 --seed --resolved --reason \"…\"",
        "{}",
        start.all()
    );
    let args: Vec<&str> = suggestion
        .split_whitespace()
        .skip(1)
        .map(|word| {
            if word == "\"…\"" {
                "checked the demo rows"
            } else {
                word
            }
        })
        .collect();
    let repair = db.db("development", &args);
    assert_eq!(repair.code, 0, "{}", repair.all());
    let start = db.db("development", &["seed"]);
    assert_eq!(start.code, 0, "{}", start.all());
}

fn a_down_that_fails_part_way_is_reported_as_it_is_and_the_fingerprint_follows(db: &Db) {
    let migrate = db.fixture_db("broken_down", "test", &[], &["migrate"]);
    assert_eq!(migrate.code, 0, "{}", migrate.all());
    let down = db.fixture_db("broken_down", "test", &[], &["down", "--to", "0"]);
    assert_eq!(down.code, 1, "{}", down.all());
    assert!(
        down.stdout
            .contains("reverted fixtures/broken_down/0002_create_shelves.sql"),
        "{}",
        down.all()
    );
    let status = |db: &Db| {
        let run = db.fixture_db("broken_down", "test", &[], &["status", "--json"]);
        assert_eq!(run.code, 0, "{}", run.all());
        run.json()
    };
    let after: Value = status(db);
    if db.backend == "mysql" {
        // MariaDB's DDL commits as it goes: `parts` is gone, and the history says the
        // revert of version 1 started and did not finish.
        assert_eq!(states(&after), ["1 half-applied", "2 pending"], "{after}");
        assert_eq!(tables(&after), ["bins"]);
        let suggestion = suggested(&down, "db repair");
        assert_eq!(
            suggestion,
            "db repair 1 --resolved --reason \"…\"",
            "{}",
            down.all()
        );
        let repair = db.fixture_db(
            "broken_down",
            "test",
            &[],
            &[
                "repair",
                "1",
                "--resolved",
                "--reason",
                "dropped bins by hand",
            ],
        );
        assert_eq!(repair.code, 0, "{}", repair.all());
    } else {
        assert!(down.stderr.contains("rolled back"), "{}", down.all());
        assert_eq!(states(&after), ["1 applied", "2 pending"], "{after}");
        assert_eq!(tables(&after), ["bins", "parts"]);
    }
    // The fingerprint follows what committed: no false drift, and a start goes on.
    let drift = db.fixture_db("broken_down", "test", &[], &["drift"]);
    assert_eq!(drift.code, 0, "{}", drift.all());
    let start = db.fixture_db(
        "broken_down",
        "test",
        &[("SCHEMA_DRIFT", "error")],
        &["migrate"],
    );
    assert_eq!(start.code, 0, "{}", start.all());
}

fn another_tools_database_is_refused_until_adopted(db: &Db) {
    db.sql("CREATE TABLE _sqlx_migrations (version BIGINT NOT NULL PRIMARY KEY)");
    let start = db.db("test", &["migrate"]);
    assert_eq!(start.code, 1, "{}", start.all());
    assert!(
        start
            .stderr
            .contains("sqlx's migration history (_sqlx_migrations)")
            && start.stderr.contains("`db baseline`"),
        "{}",
        start.all()
    );
    // Nothing was changed: no history of ours, no application table.
    assert_eq!(tables(&db.status()), ["_sqlx_migrations"]);
}

fn a_foreign_table_with_the_history_name_is_named(db: &Db) {
    db.sql("CREATE TABLE schema_history (id INTEGER NOT NULL PRIMARY KEY, note VARCHAR(20))");
    let start = db.db("test", &["migrate"]);
    assert_eq!(start.code, 1, "{}", start.all());
    assert!(
        start
            .stderr
            .contains("the table schema_history is not a migration history of this library"),
        "{}",
        start.all()
    );
    assert!(
        start.stderr.contains("Policy::history_table"),
        "{}",
        start.all()
    );
    assert!(!start.stderr.contains(" at line "), "{}", start.all());
    // Nothing of ours was created beside it, and `db status` names the table too.
    let status = db.db("test", &["status"]);
    assert_eq!(status.code, 1, "{}", status.all());
    assert!(
        status
            .stderr
            .contains("the table schema_history is not a migration history of this library"),
        "{}",
        status.all()
    );
    // No `schema_meta` was created: this succeeds only where it does not exist.
    db.sql("CREATE TABLE schema_meta (id INTEGER)");
}

fn the_command_runs_inside_an_applications_runtime(db: &Db) {
    let inside = db.db_with("test", &[("FIXTURE_RUNTIME", "async")], &["migrate"]);
    assert_eq!(inside.code, 0, "{}", inside.all());
    let status = db.db_with(
        "test",
        &[("FIXTURE_RUNTIME", "async")],
        &["status", "--json"],
    );
    assert_eq!(status.code, 0, "{}", status.all());
    assert_eq!(
        states(&status.json()),
        ["1 applied", "2 applied", "3 applied"]
    );
    let blocking = db.db_with("test", &[("FIXTURE_RUNTIME", "blocking")], &["status"]);
    assert_eq!(blocking.code, 2, "{}", blocking.all());
    assert!(
        blocking.stderr.contains("Cli::run_from_async(args).await"),
        "{}",
        blocking.all()
    );
    assert!(!blocking.all().contains("panicked"), "{}", blocking.all());
}

/// Two applications in two schemas of one PostgreSQL database have two locks: one
/// applying a long migration does not hold up the other.
#[test]
fn postgres_schemas_of_one_database_do_not_share_a_lock() {
    let Some(db) = Db::postgres() else { return };
    db.sql("CREATE SCHEMA app_a; CREATE SCHEMA app_b");
    let in_a = [("SCHEMA_SESSION_SQL", "SET search_path TO app_a")];
    let in_b = [("SCHEMA_SESSION_SQL", "SET search_path TO app_b")];
    let first = db.fixture_db("reversible", "test", &in_a, &["migrate", "--to", "1"]);
    assert_eq!(first.code, 0, "{}", first.all());
    let rt = runtime();
    let mut blocker = rt.block_on(async {
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE app_a.accounts IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    });
    let a = spawn(&db, "reversible", &in_a, &["migrate"]);
    wait_for("app A to wait behind the blocker", || {
        replica_is_waiting(&db)
    });
    let b = db.fixture_db("reversible", "test", &in_b, &["migrate"]);
    let a_still_waiting = replica_is_waiting(&db);
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
    });
    let a = finish(a);
    assert_eq!(b.code, 0, "{}", b.all());
    assert!(a_still_waiting, "app B ran only after app A finished");
    assert_eq!(a.code, 0, "{}", a.all());
    let b_status = db.fixture_db("reversible", "test", &in_b, &["status", "--json"]);
    assert_eq!(
        states(&b_status.json()),
        ["1 applied", "2 applied", "3 applied"]
    );
}

/// `db restore` exists for the database that no longer opens.
#[test]
fn sqlite_restore_replaces_a_database_that_cannot_be_read() {
    let Some(db) = Db::sqlite() else { return };
    db.migrate();
    let backup = db.db("test", &["backup"]);
    assert_eq!(backup.code, 0, "{}", backup.all());
    let file = backup
        .stdout
        .split(" to ")
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("no backup file named: {}", backup.all()))
        .to_owned();
    std::fs::write(sqlite_path(&db), vec![0x5a_u8; 8192]).unwrap();
    let broken = db.db("test", &["status"]);
    assert_ne!(broken.code, 0, "{}", broken.all());
    let restore = db.db("test", &["restore", &file]);
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert!(
        restore.stderr.contains("cannot be read"),
        "{}",
        restore.all()
    );
    assert_eq!(
        states(&db.status()),
        ["1 applied", "2 applied", "3 applied"]
    );
}
