//! One behaviour suite, written once, run against every backend: SQLite through
//! rusqlite, SQLite through sqlx, PostgreSQL and MariaDB/MySQL. Each test gets its own
//! fresh database (a temporary file, or a uniquely named database on the server that is
//! dropped afterwards). Server tests skip with a message when their URL is not set.

use std::path::PathBuf;

use schema_runtime::drift::DriftCheck;
use schema_runtime::sqlx::{self, MySqlPool, PgPool, Row, SqlitePool};
use schema_runtime::{
    Dialect, Environment, Error, HistoryProblem, Migrations, Migrator, Policy, Report, Version,
};
use schema_tests::{
    DRIFT_OBJECTS_MYSQL, DRIFT_OBJECTS_POSTGRES, DRIFT_OBJECTS_SQLITE, EDITED_AFTER, EDITED_BEFORE,
    ENDS_TRANSACTION, FAILING, PORTABLE, Server, ServerDatabase,
};

#[path = "backends/drift_objects.rs"]
mod drift_objects;
use drift_objects::{
    a_fingerprint_of_the_previous_format_still_compares,
    a_migration_that_changes_those_objects_is_not_drift, drift_names_checks_changed_by_hand,
    drift_names_routines_changed_by_hand, drift_names_sequences_changed_by_hand,
    drift_names_triggers_changed_by_hand, drift_names_types_changed_by_hand,
    drift_names_views_changed_by_hand,
};

/// A fresh database on one backend.
enum Target {
    Rusqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    SqlxSqlite {
        _dir: tempfile::TempDir,
        pool: SqlitePool,
    },
    Postgres {
        pool: PgPool,
        _database: ServerDatabase,
    },
    Mysql {
        pool: MySqlPool,
        _database: ServerDatabase,
    },
}

impl Target {
    async fn rusqlite() -> Option<Target> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        Some(Target::Rusqlite { _dir: dir, path })
    }

    async fn sqlx_sqlite() -> Option<Target> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let pool = SqlitePool::connect(&url).await.unwrap();
        Some(Target::SqlxSqlite { _dir: dir, pool })
    }

    async fn postgres() -> Option<Target> {
        let (database, url) = ServerDatabase::create(Server::Postgres).await?;
        let pool = PgPool::connect(&url).await.unwrap();
        Some(Target::Postgres {
            pool,
            _database: database,
        })
    }

    async fn mysql() -> Option<Target> {
        let (database, url) = ServerDatabase::create(Server::Mysql).await?;
        let pool = MySqlPool::connect(&url).await.unwrap();
        Some(Target::Mysql {
            pool,
            _database: database,
        })
    }

    fn transactional_ddl(&self) -> bool {
        !matches!(self, Target::Mysql { .. })
    }

    async fn run(&self, migrations: &'static Migrations, policy: Policy) -> Result<Report, Error> {
        self.run_up_to(migrations, policy, None).await
    }

    /// Like `run`, leaving the migrations above `version` pending.
    async fn run_to(
        &self,
        migrations: &'static Migrations,
        policy: Policy,
        version: u64,
    ) -> Result<Report, Error> {
        self.run_up_to(migrations, policy, Some(Version::new(version)))
            .await
    }

    async fn run_up_to(
        &self,
        migrations: &'static Migrations,
        policy: Policy,
        target: Option<Version>,
    ) -> Result<Report, Error> {
        let migrator = Migrator::with_policy(migrations, policy.write_dev_lock(false));
        match self {
            Target::Rusqlite { path, .. } => {
                let mut conn = schema_runtime::rusqlite::Connection::open(path).unwrap();
                migrator.run_to(&mut conn, target)
            }
            Target::SqlxSqlite { pool, .. } => migrator.run_async_to(pool, target).await,
            Target::Postgres { pool, .. } => migrator.run_async_to(pool, target).await,
            Target::Mysql { pool, .. } => migrator.run_async_to(pool, target).await,
        }
    }

    /// What `Migrator::drift` (or `drift_async`) finds, as text.
    async fn drift(&self, migrations: &'static Migrations) -> Vec<String> {
        let migrator = Migrator::with_policy(migrations, test_policy());
        let drift = match self {
            Target::Rusqlite { path, .. } => {
                migrator.drift(&schema_runtime::rusqlite::Connection::open(path).unwrap())
            }
            Target::SqlxSqlite { pool, .. } => migrator.drift_async(pool).await,
            Target::Postgres { pool, .. } => migrator.drift_async(pool).await,
            Target::Mysql { pool, .. } => migrator.drift_async(pool).await,
        };
        drift
            .unwrap()
            .map(|d| d.differences.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    fn is_sqlite(&self) -> bool {
        matches!(self, Target::Rusqlite { .. } | Target::SqlxSqlite { .. })
    }

    fn dialect(&self) -> Dialect {
        match self {
            Target::Rusqlite { .. } | Target::SqlxSqlite { .. } => Dialect::Sqlite,
            Target::Postgres { .. } => Dialect::Postgres,
            Target::Mysql { .. } => Dialect::Mysql,
        }
    }

    /// This backend's set of the drift tests: every kind of object it has.
    fn drift_objects(&self) -> &'static Migrations {
        match self.dialect() {
            Dialect::Sqlite => &DRIFT_OBJECTS_SQLITE,
            Dialect::Postgres => &DRIFT_OBJECTS_POSTGRES,
            Dialect::Mysql => &DRIFT_OBJECTS_MYSQL,
        }
    }

    /// Runs `sql` as a person with a console would.
    async fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        match self {
            Target::Rusqlite { path, .. } => schema_runtime::rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(&sql)
                .unwrap(),
            Target::SqlxSqlite { pool, .. } => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop)
                .unwrap(),
            Target::Postgres { pool, .. } => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop)
                .unwrap(),
            Target::Mysql { pool, .. } => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop)
                .unwrap(),
        }
    }

    /// The first column of every row of `sql`, as text.
    async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sql.to_owned();
        match self {
            Target::Rusqlite { path, .. } => {
                let conn = schema_runtime::rusqlite::Connection::open(path).unwrap();
                let mut statement = conn.prepare(&sql).unwrap();
                statement
                    .query_map([], |row| row.get::<_, String>(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Target::SqlxSqlite { pool, .. } => {
                fetch(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)
            }
            Target::Postgres { pool, .. } => {
                fetch(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)
            }
            Target::Mysql { pool, .. } => {
                fetch(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)
            }
        }
    }

    async fn count(&self, sql: &str) -> usize {
        self.strings(&format!(
            "SELECT CONCAT(COUNT(*), '') FROM ({sql}) AS counted"
        ))
        .await[0]
            .parse()
            .unwrap()
    }

    /// The user tables, sorted.
    async fn tables(&self) -> Vec<String> {
        let sql = match self {
            Target::Rusqlite { .. } | Target::SqlxSqlite { .. } => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Target::Postgres { .. } => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
            }
            Target::Mysql { .. } => {
                "SELECT CAST(table_name AS CHAR(64)) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
            }
        };
        self.strings(sql).await
    }

    /// The history rows that matter, one string each, in version order.
    async fn history(&self) -> Vec<String> {
        self.strings(
            "SELECT CONCAT(version, ' ', name, ' ', kind, ' ', state) FROM schema_history ORDER BY id",
        )
        .await
    }
}

fn fetch<R: Row>(rows: Result<Vec<R>, sqlx::Error>) -> Vec<String>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.unwrap()
        .iter()
        .map(|row| row.try_get::<String, _>(0).unwrap())
        .collect()
}

/// The runtime's second line of defence behind the build's transaction rule.
async fn a_file_that_ends_its_transaction_is_never_recorded(t: &Target) {
    let result = t.run(&ENDS_TRANSACTION, test_policy()).await;
    if !t.transactional_ddl() {
        // MySQL runs no migration in a transaction: the ROLLBACK has nothing to end.
        result.unwrap();
        return;
    }
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::TransactionEnded { version, .. } if version.get() == 2),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("2_rolls_back.sql (version 2) ended the transaction"),
        "{text}"
    );
    assert!(text.contains("-- schema: no-transaction"), "{text}");
    assert_eq!(t.history().await, ["1 create_kept migration applied"]);
    assert!(!t.tables().await.contains(&"gone".to_owned()));
    // Refused again, never recorded, on the next start too.
    assert!(t.run(&ENDS_TRANSACTION, test_policy()).await.is_err());
    assert_eq!(t.history().await, ["1 create_kept migration applied"]);
}

/// The same in one transaction for the whole run: the ROLLBACK undoes the files before
/// it too, and the file that ended it is named.
async fn a_file_that_ends_the_grouped_transaction_is_named(t: &Target) {
    let result = t
        .run(&ENDS_TRANSACTION, test_policy().group_transactions(true))
        .await;
    if !t.transactional_ddl() {
        result.unwrap();
        return;
    }
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::TransactionEnded { version, .. } if version.get() == 2),
        "{error:?}"
    );
    assert!(!t.tables().await.contains(&"gone".to_owned()));
    let history = t.history().await;
    assert!(
        history.is_empty() || history == ["1 create_kept migration applied"],
        "{history:?}"
    );
}

fn test_policy() -> Policy {
    Policy::new(Environment::Test)
}

/// Runs one behaviour against each backend, as its own test.
macro_rules! on_every_backend {
    ($($behaviour:ident),* $(,)?) => {
        mod rusqlite { $( #[tokio::test] async fn $behaviour() { if let Some(t) = super::Target::rusqlite().await { super::$behaviour(&t).await } } )* }
        mod sqlx_sqlite { $( #[tokio::test] async fn $behaviour() { if let Some(t) = super::Target::sqlx_sqlite().await { super::$behaviour(&t).await } } )* }
        mod postgres { $( #[tokio::test] async fn $behaviour() { if let Some(t) = super::Target::postgres().await { super::$behaviour(&t).await } } )* }
        mod mysql { $( #[tokio::test] async fn $behaviour() { if let Some(t) = super::Target::mysql().await { super::$behaviour(&t).await } } )* }
    };
}

on_every_backend!(
    a_file_that_ends_its_transaction_is_never_recorded,
    a_file_that_ends_the_grouped_transaction_is_named,
    applies_everything_then_nothing,
    seeds_run_only_in_development_when_asked,
    failed_migration_is_rolled_back_or_clearly_marked,
    edited_applied_migration_is_refused_with_both_checksums,
    database_of_another_environment_is_refused,
    two_migration_sets_share_a_database,
    drift_at_startup_is_a_warning_or_stops_the_run,
    drift_names_views_changed_by_hand,
    drift_names_triggers_changed_by_hand,
    drift_names_checks_changed_by_hand,
    drift_names_routines_changed_by_hand,
    drift_names_types_changed_by_hand,
    drift_names_sequences_changed_by_hand,
    a_migration_that_changes_those_objects_is_not_drift,
    a_fingerprint_of_the_previous_format_still_compares,
    concurrent_starts_apply_each_migration_once,
    grouped_run_is_all_or_nothing_where_ddl_is_transactional,
);

async fn applies_everything_then_nothing(target: &Target) {
    let report = target.run(&PORTABLE, test_policy()).await.unwrap();
    assert_eq!(
        report
            .applied
            .iter()
            .map(|a| a.version.get())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        target.tables().await,
        ["accounts", "ledger", "schema_history", "schema_meta"]
    );
    assert_eq!(
        target.history().await,
        [
            "1 create_accounts migration applied",
            "2 create_ledger migration applied",
            "3 index_owners migration applied"
        ]
    );
    let second = target.run(&PORTABLE, test_policy()).await.unwrap();
    assert!(second.is_up_to_date());
    assert_eq!(target.history().await.len(), 3);
    assert_eq!(
        target
            .strings("SELECT value FROM schema_meta WHERE key_name = 'environment'")
            .await,
        ["test"]
    );
}

async fn seeds_run_only_in_development_when_asked(target: &Target) {
    let report = target
        .run(&PORTABLE, Policy::new(Environment::Development))
        .await
        .unwrap();
    assert!(report.seeded.is_empty());
    assert_eq!(target.count("SELECT id FROM accounts").await, 0);
    let report = target
        .run(
            &PORTABLE,
            Policy::new(Environment::Development).with_seeds(true),
        )
        .await
        .unwrap();
    assert_eq!(report.seeded.len(), 1);
    assert_eq!(target.count("SELECT id FROM accounts").await, 2);
    assert!(
        target
            .run(
                &PORTABLE,
                Policy::new(Environment::Development).with_seeds(true)
            )
            .await
            .unwrap()
            .is_up_to_date()
    );
    assert_eq!(
        target.count("SELECT id FROM accounts").await,
        2,
        "a seed runs once"
    );
}

async fn failed_migration_is_rolled_back_or_clearly_marked(target: &Target) {
    let error = target.run(&FAILING, test_policy()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("fixtures/failing/0002_create_ledger.sql (version 2)"),
        "{message}"
    );
    assert!(
        message.contains("no_such_table"),
        "the database's own message: {message}"
    );
    if target.transactional_ddl() {
        assert!(
            matches!(
                error,
                Error::Migration {
                    in_transaction: true,
                    ..
                }
            ),
            "{message}"
        );
        assert_eq!(
            target.tables().await,
            ["accounts", "schema_history", "schema_meta"],
            "the failed migration left nothing"
        );
        assert_eq!(
            target.history().await,
            ["1 create_accounts migration applied"]
        );
        assert_eq!(target.count("SELECT id FROM accounts").await, 1);
    } else {
        // MySQL commits DDL as it goes: the migration is marked, not silently half-done.
        assert!(
            matches!(
                error,
                Error::Migration {
                    in_transaction: false,
                    ..
                }
            ),
            "{message}"
        );
        assert!(
            message.contains("db repair 2 --resolved --reason"),
            "{message}"
        );
        assert_eq!(
            target.history().await,
            [
                "1 create_accounts migration applied",
                "2 create_ledger migration started"
            ]
        );
        let next = target.run(&FAILING, test_policy()).await.unwrap_err();
        assert!(
            matches!(&next, Error::History(problems) if matches!(problems.0[..], [HistoryProblem::HalfApplied { .. }])),
            "{next}"
        );
        assert!(next.to_string().contains(
            "fixtures/failing/0002_create_ledger.sql (version 2) was started and never finished"
        ));
    }
}

async fn edited_applied_migration_is_refused_with_both_checksums(target: &Target) {
    target.run(&EDITED_BEFORE, test_policy()).await.unwrap();
    let message = target
        .run(&EDITED_AFTER, test_policy())
        .await
        .unwrap_err()
        .to_string();
    let recorded = EDITED_BEFORE.migrations()[0].checksum();
    let embedded = EDITED_AFTER.migrations()[0].checksum();
    assert!(
        message.contains("fixtures/edited_after/0001_create_notes.sql (version 1) was edited"),
        "{message}"
    );
    assert!(
        message.contains(&format!("sha256:{recorded}"))
            && message.contains(&format!("sha256:{embedded}")),
        "{message}"
    );
    assert_eq!(target.history().await.len(), 1);
}

async fn database_of_another_environment_is_refused(target: &Target) {
    target
        .run(&PORTABLE, Policy::new(Environment::Production))
        .await
        .unwrap();
    let message = target
        .run(
            &PORTABLE,
            Policy::new(Environment::Development).with_seeds(true),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(
            "this database belongs to the production environment, but this run is development"
        ),
        "{message}"
    );
    assert_eq!(
        target.count("SELECT id FROM accounts").await,
        0,
        "no seed reached production"
    );
}

async fn two_migration_sets_share_a_database(target: &Target) {
    target.run(&PORTABLE, test_policy()).await.unwrap();
    let other = test_policy()
        .history_table("notes_history")
        .unwrap()
        .meta_table("notes_meta")
        .unwrap();
    assert_eq!(
        target
            .run(&EDITED_BEFORE, other)
            .await
            .unwrap()
            .applied
            .len(),
        1
    );
    let again = target
        .run(&PORTABLE, test_policy().check_drift_on_every_start(true))
        .await
        .unwrap();
    assert!(again.is_up_to_date());
    // The other set's tables came from its migrations, not from a person: no drift.
    assert_eq!(again.drift, None, "{:?}", again.warnings);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

async fn drift_at_startup_is_a_warning_or_stops_the_run(target: &Target) {
    target.run(&PORTABLE, test_policy()).await.unwrap();
    assert!(target.drift(&PORTABLE).await.is_empty());
    target
        .execute("ALTER TABLE accounts ADD COLUMN nickname VARCHAR(40)")
        .await;
    assert_eq!(
        target.drift(&PORTABLE).await,
        ["column accounts.nickname exists in the database but no migration created it"]
    );
    let warned = target
        .run(&PORTABLE, test_policy().check_drift_on_every_start(true))
        .await
        .unwrap();
    let drift = warned.drift.expect("the hand-made column is drift");
    assert_eq!(
        drift
            .differences
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["column accounts.nickname exists in the database but no migration created it"]
    );
    assert_eq!(drift.recorded_after, Some(schema_runtime::Version::new(3)));
    assert!(
        warned.warnings[0].contains("column accounts.nickname exists"),
        "{:?}",
        warned.warnings
    );
    // By default only SQLite compares on a start with nothing to do (at no cost there).
    let default = target.run(&PORTABLE, test_policy()).await.unwrap();
    assert_eq!(default.drift.is_some(), target.is_sqlite());
    let stopped = target
        .run(
            &PORTABLE,
            test_policy()
                .check_drift_on_every_start(true)
                .on_drift(DriftCheck::Error),
        )
        .await
        .unwrap_err();
    assert!(matches!(stopped, Error::Drift(_)), "{stopped}");
    assert!(
        stopped.to_string().contains("db drift --accept"),
        "{stopped}"
    );
    let off = target
        .run(
            &PORTABLE,
            test_policy()
                .check_drift_on_every_start(true)
                .on_drift(DriftCheck::Off),
        )
        .await
        .unwrap();
    assert_eq!(off.drift, None);
}

async fn concurrent_starts_apply_each_migration_once(target: &Target) {
    let runs = (0..6).map(|_| target.run(&PORTABLE, test_policy()));
    let reports = futures_join_all(runs).await;
    let applied: usize = reports.into_iter().map(|r| r.unwrap().applied.len()).sum();
    assert_eq!(
        applied, 3,
        "each migration applied by exactly one of the starts"
    );
    assert_eq!(target.history().await.len(), 3);
}

/// Polls every future to completion concurrently on this task.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn postgres_runs_concurrently_and_function_bodies_whole() {
    let Some(target) = Target::postgres().await else {
        return;
    };
    let report = target
        .run(&schema_tests::CONCURRENT_INDEX, test_policy())
        .await
        .unwrap();
    assert_eq!(report.applied.len(), 3);
    let indexes = target
        .strings(
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE tablename = 'events' ORDER BY 1",
        )
        .await;
    assert_eq!(
        indexes,
        ["events_by_kind", "events_by_payload", "events_pkey"]
    );
    assert_eq!(
        target
            .strings("SELECT kind || '|' || payload FROM events WHERE id = 2")
            .await,
        ["event: login\n|it's; fine"]
    );
    assert_eq!(
        target.history().await[1],
        "2 index_events_concurrently migration applied"
    );
}

async fn grouped_run_is_all_or_nothing_where_ddl_is_transactional(target: &Target) {
    let grouped = matches!(target, Target::SqlxSqlite { .. } | Target::Postgres { .. });
    let error = target
        .run(&FAILING, test_policy().group_transactions(true))
        .await
        .unwrap_err();
    if grouped {
        assert!(
            matches!(
                error,
                Error::Migration {
                    whole_run: true,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("the database is as it was before this run"),
            "{error}"
        );
        assert_eq!(
            target.tables().await,
            ["schema_history", "schema_meta"],
            "the first migration went too"
        );
        assert!(target.history().await.is_empty());
        let ok = target
            .run(&PORTABLE, test_policy().group_transactions(true))
            .await;
        assert_eq!(
            ok.unwrap().applied.len(),
            3,
            "a grouped run that succeeds applies everything"
        );
        assert_eq!(target.history().await.len(), 3);
    } else {
        // rusqlite and MySQL keep one transaction per migration (or none, on MySQL).
        assert!(
            matches!(
                error,
                Error::Migration {
                    whole_run: false,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            target.history().await[0],
            "1 create_accounts migration applied"
        );
    }
}

#[tokio::test]
async fn startup_waits_for_a_server_that_comes_up_late() {
    let Some((_database, url)) = ServerDatabase::create(Server::Postgres).await else {
        return;
    };
    let address = schema_tests::net::address(&url, 5432);
    let port = schema_tests::net::late_forwarder(address, std::time::Duration::from_millis(800));
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy(&schema_tests::net::on_port(&url, port))
        .unwrap();
    let report = Migrator::with_policy(
        &PORTABLE,
        test_policy().retry_connect_for(std::time::Duration::from_secs(20)),
    )
    .run_async(&pool)
    .await
    .expect("startup retries until the server answers");
    assert_eq!(report.applied.len(), 3);
    pool.close().await;
}

#[tokio::test]
async fn startup_gives_up_on_an_unreachable_server_after_its_deadline() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(100))
        .connect_lazy(&format!("postgres://app:s3cret@127.0.0.1:{port}/app"))
        .unwrap();
    let error = Migrator::with_policy(
        &PORTABLE,
        test_policy().retry_connect_for(std::time::Duration::from_millis(700)),
    )
    .run_async(&pool)
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("connecting to the database ("),
        "{message}"
    );
    assert!(message.contains(" attempts over "), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}
