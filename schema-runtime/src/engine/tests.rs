//! The engine's orchestration against a scripted fake driver: the steps it asks for, in
//! order, and what it makes of each reply. No database: the real drivers are tested on
//! every backend by the integration tests.

use std::collections::VecDeque;

use super::*;
use std::time::Duration;

use crate::migrator::HistoryValues;
use crate::plan::{History, RowKind};
use crate::{Checksum, Environment, Migrations, Policy};

#[derive(Debug)]
struct FakeError(&'static str);

impl std::fmt::Display for FakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FakeError {}

/// What the fake database answers.
#[derive(Default)]
struct Fake {
    dialect: Option<Dialect>,
    groups: bool,
    /// Replies to history reads, in order (then "no tables").
    histories: VecDeque<Result<Option<History>, FakeError>>,
    /// The tables the look for other tools' histories finds.
    present: Vec<&'static str>,
    /// Files whose SQL fails (by the start of their text), and how.
    failing: Vec<(&'static str, Failure<FakeError>)>,
    /// A table of the history's name lacks our columns.
    foreign_history: bool,
    /// Replies to batches, in order (then success).
    batch_failures: VecDeque<BatchFailure<FakeError>>,
    /// The connection goes away when the run's last transaction is committed.
    commit_lost: bool,
    /// Every step asked for, in order.
    steps: Vec<String>,
}

impl Fake {
    fn on(dialect: Dialect) -> Fake {
        Fake {
            dialect: Some(dialect),
            ..Fake::default()
        }
    }

    fn replying(mut self, history: Option<History>) -> Fake {
        self.histories.push_back(Ok(history));
        self
    }

    /// The steps whose names start with one of `kinds`.
    fn steps_of(&self, kinds: &[&str]) -> Vec<&str> {
        self.steps
            .iter()
            .map(String::as_str)
            .filter(|step| kinds.iter().any(|kind| step.starts_with(kind)))
            .collect()
    }
}

impl Sql for Fake {
    type Error = FakeError;

    fn dialect(&self) -> Dialect {
        self.dialect.unwrap_or(Dialect::Sqlite)
    }
    async fn script(&mut self, sql: &str) -> Result<(), FakeError> {
        let word = if sql.starts_with("CREATE") {
            "create"
        } else {
            sql
        };
        self.steps.push(format!("script {word}"));
        Ok(())
    }
    async fn bind(&mut self, sql: &str, _values: Vec<Value>) -> Result<(), FakeError> {
        let what = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        self.steps.push(format!("bind {what}"));
        Ok(())
    }
    async fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, FakeError> {
        if sql.contains("_sqlx_migrations") {
            self.steps.push("look for histories".into());
            return Ok(self
                .present
                .iter()
                .map(|t| vec![Some((*t).to_owned())])
                .collect());
        }
        self.steps.push("read schema".into());
        Ok(Vec::new())
    }
}

impl Driver for Fake {
    fn is_busy(&self, error: &FakeError) -> bool {
        error.0 == "busy"
    }
    fn groups(&self) -> bool {
        self.groups
    }
    async fn history(&mut self, sql: &str) -> Result<Option<History>, FakeError> {
        if sql.contains("WHERE 1 = 0") {
            self.steps.push("probe history".into());
            return match self.foreign_history {
                true => Err(FakeError("column \"checksum\" does not exist")),
                false => Ok(None),
            };
        }
        self.steps.push("history".into());
        self.histories.pop_front().unwrap_or(Ok(None))
    }
    async fn pause(&mut self, duration: Duration) {
        self.steps
            .push(format!("pause {} ms", duration.as_millis()));
    }
    async fn lock(&mut self) -> Result<(), Error> {
        self.steps.push("lock".into());
        Ok(())
    }
    async fn unlock(&mut self) {
        self.steps.push("unlock".into());
    }
    async fn backup(&mut self, _newest: Option<Version>) -> Option<Result<String, String>> {
        self.steps.push("backup".into());
        Some(Ok("backup.db".into()))
    }
    async fn apply(
        &mut self,
        _statements: &Statements,
        file: File<'_>,
    ) -> Result<Duration, Failure<FakeError>> {
        self.steps.push(format!(
            "apply {} {}{}",
            file.row.version,
            file.row.state,
            if file.whole_run { " grouped" } else { "" }
        ));
        if let Some(at) = self
            .failing
            .iter()
            .position(|(s, _)| file.sql.starts_with(s))
        {
            return Err(self.failing.remove(at).1);
        }
        Ok(Duration::from_millis(1))
    }
    async fn apply_batch(
        &mut self,
        _statements: &Statements,
        batch: &[&'static Migration],
        _rows: Vec<HistoryValues<'_>>,
    ) -> Result<Vec<Duration>, BatchFailure<FakeError>> {
        let versions: Vec<String> = batch.iter().map(|m| m.version().to_string()).collect();
        self.steps.push(format!("batch {}", versions.join(",")));
        if let Some(failure) = self.batch_failures.pop_front() {
            return Err(failure);
        }
        Ok(vec![Duration::from_millis(1); batch.len()])
    }
    async fn end_run(&mut self, _statements: &Statements) -> Result<(), Failure<FakeError>> {
        self.steps.push("end run".into());
        if self.commit_lost {
            return Err(Failure::Lost("connection reset".into()));
        }
        Ok(())
    }
}

fn migration(version: u64, sql: &'static str) -> Migration {
    let path: &'static str = Box::leak(format!("migrations/{version:04}_m.sql").into_boxed_str());
    Migration::new(
        Version::new(version),
        "m",
        sql,
        Checksum::of_file(sql.as_bytes()),
        path,
    )
}

/// Three migrations; the third runs outside a transaction.
fn three() -> &'static Migrations {
    let list = vec![
        migration(1, "create table a (id int);"),
        migration(2, "create table b (id int);"),
        migration(3, "create index c on a (id);").without_transaction(),
    ];
    Box::leak(Box::new(Migrations::new(
        Box::leak(list.into_boxed_slice()),
        &[],
        "",
        "migrations",
    )))
}

fn migrator(policy: Policy) -> Migrator {
    Migrator::with_policy(three(), policy)
}

fn test_policy() -> Policy {
    Policy::new(Environment::Test)
}

/// The history of a database that ran `versions` of [`three`], stamped `stamp`.
fn history(versions: &[u64], stamp: &str) -> History {
    let mut history = History {
        stamp: Some(stamp.to_owned()),
        ..History::default()
    };
    for migration in three().migrations() {
        if versions.contains(&migration.version().get()) {
            let checksum = migration.checksum().to_string();
            history.push(
                RowKind::Migration,
                migration.version(),
                checksum.as_bytes(),
                true,
            );
        }
    }
    history
}

fn run_with(migrator: &Migrator, fake: &mut Fake) -> Result<Report, Error> {
    finish_now(run(migrator, fake, None))
}

#[test]
fn an_up_to_date_database_is_one_read_and_no_lock() {
    let mut fake = Fake::on(Dialect::Sqlite).replying(Some(history(&[1, 2, 3], "test")));
    let report = run_with(&migrator(test_policy()), &mut fake).unwrap();
    assert!(report.is_up_to_date());
    assert_eq!(fake.steps, ["history"]);
}

#[test]
fn a_fresh_database_is_locked_checked_created_stamped_and_migrated_in_order() {
    let mut fake = Fake::on(Dialect::Postgres);
    let report = run_with(&migrator(test_policy()), &mut fake).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert_eq!(
        fake.steps_of(&[
            "history",
            "probe",
            "lock",
            "look",
            "script create",
            "bind INSERT INTO \"schema_meta\"",
            "apply",
            "end run",
            "unlock"
        ]),
        [
            "history",
            "lock",
            "look for histories",
            "probe history",
            "script create",
            "script create",
            "history",
            "bind INSERT INTO \"schema_meta\"",
            "apply 1 applied",
            "apply 2 applied",
            "apply 3 started",
            "end run",
            // The fingerprint of what committed.
            "bind INSERT INTO \"schema_meta\"",
            "unlock",
        ]
    );
    // The fingerprint is read before the first change and recorded after the last, in
    // its own transaction.
    let end = fake.steps.iter().position(|s| s == "end run").unwrap();
    assert!(fake.steps[..end].iter().any(|s| s == "read schema"));
    assert_eq!(fake.steps[end + 1], "read schema");
    assert_eq!(fake.steps[end + 2], "script BEGIN");
    assert_eq!(fake.steps[fake.steps.len() - 2], "script COMMIT");
}

#[test]
fn a_busy_first_read_waits_for_the_lock_and_reads_again_under_it() {
    let mut fake = Fake::on(Dialect::Sqlite);
    fake.histories.push_back(Err(FakeError("busy")));
    fake.histories
        .push_back(Ok(Some(history(&[1, 2, 3], "test"))));
    let report = run_with(&migrator(test_policy()), &mut fake).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(
        fake.steps_of(&["history", "lock", "unlock", "apply"]),
        ["history", "lock", "history", "unlock"]
    );
}

#[test]
fn any_other_read_error_stops_before_the_lock() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.histories
        .push_back(Err(FakeError("permission denied")));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(error.to_string().contains("permission denied"), "{error}");
    assert_eq!(fake.steps, ["history"]);
}

#[test]
fn a_failing_migration_is_named_what_committed_is_fingerprinted_and_the_lock_released() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.failing
        .push(("create table b", Failure::Sql("syntax error".into())));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    match &error {
        Error::Migration {
            version,
            path,
            message,
            in_transaction,
            whole_run,
        } => {
            assert_eq!(version.get(), 2);
            assert_eq!(*path, "migrations/0002_m.sql");
            assert_eq!(message, "syntax error");
            assert!(in_transaction);
            assert!(!whole_run);
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    let apply = fake.steps_of(&["apply", "end run"]);
    assert_eq!(apply, ["apply 1 applied", "apply 2 applied"]);
    // Migration 1 committed: the fingerprint follows it.
    assert!(fake.steps.iter().any(|s| s == "script BEGIN"));
    assert_eq!(fake.steps.last().unwrap(), "unlock");
}

fn lock_timeout() -> Failure<FakeError> {
    Failure::LockTimeout("canceling statement due to lock timeout (code 55P03)".into())
}

#[test]
fn a_migration_that_hits_the_ddl_lock_timeout_is_retried_with_backoff_until_it_applies() {
    let mut fake = Fake::on(Dialect::Postgres);
    for _ in 0..3 {
        fake.failing.push(("create table b", lock_timeout()));
    }
    // The no-transaction file too: the driver says it is safe (nothing of it ran).
    fake.failing.push(("create index c", lock_timeout()));
    let policy = test_policy()
        .ddl_lock_timeout(Duration::from_secs(1))
        .ddl_lock_deadline(Duration::from_secs(60));
    let report = run_with(&migrator(policy), &mut fake).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert_eq!(report.ddl_lock_retries, 4);
    assert_eq!(
        fake.steps_of(&["apply", "pause"]),
        [
            "apply 1 applied",
            "apply 2 applied",
            "pause 500 ms",
            "apply 2 applied",
            "pause 1000 ms",
            "apply 2 applied",
            "pause 2000 ms",
            "apply 2 applied",
            "apply 3 started",
            "pause 500 ms",
            "apply 3 started",
        ]
    );
}

#[test]
fn a_ddl_lock_timeout_past_the_deadline_stops_the_run_and_other_failures_are_never_retried() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.failing.push(("create table b", lock_timeout()));
    let policy = test_policy()
        .ddl_lock_timeout(Duration::from_secs(1))
        .ddl_lock_deadline(Duration::ZERO);
    let error = run_with(&migrator(policy), &mut fake).unwrap_err();
    match &error {
        Error::Migration {
            version, message, ..
        } => {
            assert_eq!(version.get(), 2);
            assert!(message.contains("lock timeout"), "{message}");
            assert!(message.contains("retry deadline"), "{message}");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert_eq!(
        fake.steps_of(&["apply", "pause"]),
        ["apply 1 applied", "apply 2 applied"]
    );

    for failure in [
        Failure::Sql("deadlock detected (code 40P01)".into()),
        Failure::Lost("connection reset".into()),
    ] {
        let mut fake = Fake::on(Dialect::Postgres);
        fake.failing.push(("create table b", failure));
        let policy = test_policy().ddl_lock_timeout(Duration::from_secs(1));
        run_with(&migrator(policy), &mut fake).unwrap_err();
        assert_eq!(
            fake.steps_of(&["apply", "pause"]),
            ["apply 1 applied", "apply 2 applied"]
        );
    }
}

#[test]
fn a_grouped_batch_that_hits_the_ddl_lock_timeout_is_retried_whole() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.groups = true;
    fake.batch_failures
        .push_back(BatchFailure::LockTimeout("lock timeout".into()));
    let policy = test_policy()
        .group_transactions(true)
        .ddl_lock_timeout(Duration::from_secs(1));
    let report = run_with(&migrator(policy), &mut fake).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert_eq!(report.ddl_lock_retries, 1);
    assert_eq!(
        fake.steps_of(&["batch", "pause", "apply"]),
        ["batch 1,2", "pause 500 ms", "batch 1,2", "apply 3 started"]
    );
}

#[test]
fn a_lost_connection_is_an_unknown_outcome_not_a_rollback() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.failing
        .push(("create table a", Failure::Lost("connection reset".into())));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(
        matches!(error, Error::OutcomeUnknown { version, .. } if version.get() == 1),
        "{error:?}"
    );
    assert_eq!(fake.steps.last().unwrap(), "unlock");
}

#[test]
fn another_tools_history_is_refused_before_anything_is_created() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.present = vec!["_sqlx_migrations"];
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(
        matches!(error, Error::OtherToolsHistory { .. }),
        "{error:?}"
    );
    assert_eq!(
        fake.steps,
        ["history", "lock", "look for histories", "unlock"]
    );
}

#[test]
fn another_environments_stamp_is_refused_at_once_or_under_the_lock() {
    // Seen on the first read: no lock is taken.
    let mut fake = Fake::on(Dialect::Postgres).replying(Some(history(&[1], "production")));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(
        matches!(error, Error::EnvironmentMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(fake.steps, ["history"]);

    // Stamped by another process between the first read and the lock.
    let mut fake = Fake::on(Dialect::Postgres)
        .replying(None)
        .replying(Some(history(&[], "production")));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(
        matches!(error, Error::EnvironmentMismatch { .. }),
        "{error:?}"
    );
    assert!(
        fake.steps_of(&["bind", "apply"]).is_empty(),
        "{:?}",
        fake.steps
    );
    assert_eq!(fake.steps.last().unwrap(), "unlock");
}

#[test]
fn a_half_applied_migration_under_the_lock_stops_the_run() {
    let mut half = history(&[1], "test");
    let second = &three().migrations()[1];
    let checksum = second.checksum().to_string();
    half.push(
        RowKind::Migration,
        second.version(),
        checksum.as_bytes(),
        false,
    );
    let mut fake = Fake::on(Dialect::Mysql)
        .replying(Some(half.clone()))
        .replying(Some(half));
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(matches!(error, Error::History(_)), "{error:?}");
    // Judged again under the lock: a started row may be another replica at work.
    assert_eq!(
        fake.steps_of(&["history", "lock", "apply", "unlock"]),
        ["history", "lock", "history", "unlock"]
    );
}

#[test]
fn grouped_runs_on_postgres_send_transactional_files_as_one_batch() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.groups = true;
    let migrator = migrator(test_policy().group_transactions(true));
    let report = run_with(&migrator, &mut fake).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert_eq!(
        fake.steps_of(&["batch", "apply", "end run"]),
        ["batch 1,2", "apply 3 started", "end run"]
    );

    // A driver that cannot group runs file by file whatever the policy says.
    let mut fake = Fake::on(Dialect::Postgres);
    run_with(&migrator, &mut fake).unwrap();
    assert_eq!(
        fake.steps_of(&["batch", "apply"]),
        ["apply 1 applied", "apply 2 applied", "apply 3 started"]
    );
}

#[test]
fn production_backs_up_before_the_first_change_only() {
    let policy = Policy::new(Environment::Production);
    let mut fake = Fake::on(Dialect::Sqlite)
        .replying(Some(history(&[1], "production")))
        .replying(Some(history(&[1], "production")));
    let report = run_with(&migrator(policy.clone()), &mut fake).unwrap();
    assert_eq!(report.backup.as_deref(), Some("backup.db"));
    let backup = fake.steps.iter().position(|s| s == "backup").unwrap();
    let first_apply = fake
        .steps
        .iter()
        .position(|s| s.starts_with("apply"))
        .unwrap();
    assert!(backup < first_apply);

    let mut fake = Fake::on(Dialect::Sqlite).replying(Some(history(&[1, 2, 3], "production")));
    run_with(&migrator(policy), &mut fake).unwrap();
    assert!(!fake.steps.iter().any(|s| s == "backup"));
}

#[test]
fn a_grouped_run_whose_commit_is_lost_names_the_open_transaction() {
    let list = vec![
        migration(1, "create table a (id int);"),
        migration(2, "create index c on a (id);").without_transaction(),
        migration(3, "create table b (id int);"),
        migration(4, "create table d (id int);"),
    ];
    let migrations: &'static Migrations = Box::leak(Box::new(Migrations::new(
        Box::leak(list.into_boxed_slice()),
        &[],
        "",
        "migrations",
    )));
    let migrator = Migrator::with_policy(migrations, test_policy().group_transactions(true));
    let mut fake = Fake::on(Dialect::Postgres);
    fake.groups = true;
    fake.commit_lost = true;
    let error = run_with(&migrator, &mut fake).unwrap_err();
    match &error {
        Error::OutcomeUnknown {
            version, message, ..
        } => {
            assert_eq!(version.get(), 4);
            assert!(message.contains("versions 3 to 4"), "{message}");
        }
        other => panic!("expected an unknown outcome, got {other:?}"),
    }
    assert_eq!(fake.steps.last().unwrap(), "unlock");
}

#[test]
fn a_foreign_table_of_the_history_name_stops_the_run_before_anything_is_created() {
    let mut fake = Fake::on(Dialect::Postgres);
    fake.foreign_history = true;
    let error = run_with(&migrator(test_policy()), &mut fake).unwrap_err();
    assert!(error.to_string().contains("checksum"), "{error}");
    assert_eq!(
        fake.steps,
        [
            "history",
            "lock",
            "look for histories",
            "probe history",
            "unlock"
        ]
    );
}
