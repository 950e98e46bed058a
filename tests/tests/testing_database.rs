//! `schema_runtime::testing::TestDatabase` on every backend: isolated copies of one
//! migrated template per migration set, every migration recorded, the template made once
//! and reused, a new template for an edited set, removal on drop, many concurrent callers
//! and seeds only on request. Server tests skip when their URL is not set.

use std::time::{Duration, Instant};

use schema_runtime::sqlx::{self, MySql, MySqlPool, PgPool, Postgres, Sqlite};
use schema_runtime::testing::TestDatabase;
use schema_runtime::{Environment, Migrator, Policy};
use schema_tests::{EDITED_AFTER, EDITED_BEFORE, PORTABLE, REVERSIBLE, Server, with_database};

/// The base URL of a backend, or `None` when its server is not configured.
fn base(server: Option<Server>) -> Option<String> {
    match server {
        Some(server) => server.url(),
        None => Some("sqlite:".to_owned()),
    }
}

/// Whether a test database still exists.
async fn exists(server: Option<Server>, base_url: &str, name: &str) -> bool {
    match server {
        None => std::path::Path::new(name).exists(),
        Some(Server::Postgres) => {
            let pool = PgPool::connect(base_url).await.unwrap();
            let found: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            found.is_some()
        }
        Some(Server::Mysql) => {
            let pool = MySqlPool::connect(base_url).await.unwrap();
            let found: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?",
            )
            .bind(name)
            .fetch_optional(&pool)
            .await
            .unwrap();
            pool.close().await;
            found.is_some()
        }
    }
}

/// Runs `$body` with `$pool` a sqlx pool of the right type on `$db`.
macro_rules! with_pool {
    ($server:expr, $db:expr, |$pool:ident| $body:expr) => {
        match $server {
            None => {
                let $pool = $db.pool::<Sqlite>().await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
            Some(Server::Postgres) => {
                let $pool = $db.pool::<Postgres>().await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
            Some(Server::Mysql) => {
                let $pool = $db.pool::<MySql>().await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
        }
    };
}

async fn scalar_i64(server: Option<Server>, db: &TestDatabase, sql: &'static str) -> i64 {
    with_pool!(server, db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&pool)
        .await
        .unwrap())
}

async fn texts(server: Option<Server>, db: &TestDatabase, sql: &'static str) -> Vec<String> {
    with_pool!(server, db, |pool| sqlx::query_scalar::<_, String>(sql)
        .fetch_all(&pool)
        .await
        .unwrap())
}

async fn execute(server: Option<Server>, db: &TestDatabase, sql: &'static str) {
    with_pool!(server, db, |pool| sqlx::raw_sql(sql)
        .execute(&pool)
        .await
        .map(drop)
        .unwrap());
}

/// Runs each of `statements` on the server's base database (a server backend).
async fn on_server(server: Option<Server>, statements: impl IntoIterator<Item = String>) {
    let url = base(server).unwrap();
    match server {
        Some(Server::Postgres) => {
            let pool = PgPool::connect(&url).await.unwrap();
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Some(Server::Mysql) => {
            let pool = MySqlPool::connect(&url).await.unwrap();
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        None => unreachable!("SQLite has no server"),
    }
}

/// Removes a template and its spare copies (waiting first for the spares this process is
/// making), so that the next `TestDatabase` of its set makes the template again.
async fn forget_template(server: Option<Server>, template: &str) {
    schema_runtime::testing::settle();
    match server {
        None => {
            let path = std::path::Path::new(template);
            for spare in spares(server, template).await {
                let _ = std::fs::remove_file(path.with_file_name(format!("{spare}.db")));
            }
            std::fs::remove_file(path).unwrap();
        }
        Some(Server::Postgres) => {
            let mut sql = vec![
                format!("ALTER DATABASE {template} WITH IS_TEMPLATE false"),
                format!("DROP DATABASE IF EXISTS {template}"),
            ];
            for spare in spares(server, template).await {
                sql.push(format!("DROP DATABASE IF EXISTS {spare}"));
            }
            on_server(server, sql).await;
        }
        Some(Server::Mysql) => {
            on_server(server, [format!("DROP DATABASE IF EXISTS {template}")]).await;
        }
    }
}

/// The names of the spare copies of a template (PostgreSQL databases; SQLite files, by
/// their stems), sorted.
async fn spares(server: Option<Server>, template: &str) -> Vec<String> {
    let key = template_key(template);
    let prefix = format!("schema_tsp_{key}_");
    let mut names: Vec<String> = match server {
        None => std::fs::read_dir(std::path::Path::new(template).parent().unwrap())
            .unwrap()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
            .filter(|file| file.starts_with(&prefix) && file.ends_with(".db"))
            .map(|file| file.trim_end_matches(".db").to_owned())
            .collect(),
        Some(Server::Postgres) => {
            let pool = PgPool::connect(&base(server).unwrap()).await.unwrap();
            let names = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            )
            .bind(&prefix)
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            names
        }
        Some(Server::Mysql) => Vec::new(),
    };
    names.sort();
    names
}

/// The key in a template's name or path.
fn template_key(template: &str) -> String {
    let name = std::path::Path::new(template)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(template);
    name.trim_start_matches("schema_tpl_").to_owned()
}

const MIGRATIONS_RECORDED: &str =
    "SELECT COUNT(*) FROM schema_history WHERE kind = 'migration' AND state = 'applied'";
const ACCOUNTS: &str = "SELECT COUNT(*) FROM accounts";
const APPLIED_AT: &str = "SELECT applied_at FROM schema_history ORDER BY version";
const STAMP: &str = "SELECT value FROM schema_meta WHERE key_name = 'environment'";

/// Two copies of one set are isolated, every migration is recorded (stamped `test`), the
/// second copy comes from the same template without migrating it again, and dropping
/// removes the copy.
async fn copies_are_isolated_and_recorded(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let first = TestDatabase::new(&PORTABLE, &base_url).await.unwrap();
    let second = TestDatabase::new(&PORTABLE, &base_url).await.unwrap();
    assert_ne!(first.url(), second.url());
    assert_eq!(first.template(), second.template());

    execute(
        server,
        &first,
        "INSERT INTO accounts (id, owner) VALUES (10, 'only here')",
    )
    .await;
    assert_eq!(scalar_i64(server, &first, ACCOUNTS).await, 1);
    assert_eq!(
        scalar_i64(server, &second, ACCOUNTS).await,
        0,
        "copies are isolated"
    );

    let migrations = PORTABLE.migrations().len() as i64;
    for db in [&first, &second] {
        assert_eq!(
            scalar_i64(server, db, MIGRATIONS_RECORDED).await,
            migrations
        );
        assert_eq!(texts(server, db, STAMP).await, ["test"]);
    }
    // Both copies hold the template's history: migrated once, at the same instants.
    assert_eq!(
        texts(server, &first, APPLIED_AT).await,
        texts(server, &second, APPLIED_AT).await
    );
    // A migrator finds nothing to do on a copy.
    if server.is_none() {
        let mut conn = first.connect().unwrap();
        let report = Migrator::with_policy(&PORTABLE, Policy::new(Environment::Test))
            .run(&mut conn)
            .unwrap();
        assert!(report.is_up_to_date());
    }

    let name = first.name().to_owned();
    assert!(exists(server, &base_url, &name).await);
    drop(first);
    // A server's database is removed in the background; settle() waits for it.
    schema_runtime::testing::settle();
    assert!(!exists(server, &base_url, &name).await, "dropped: {name}");
    let name = second.name().to_owned();
    second.close().await.unwrap();
    assert!(!exists(server, &base_url, &name).await, "closed: {name}");
}

/// An edited migration set gets a template of its own.
async fn an_edited_set_gets_another_template(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let before = TestDatabase::new(&EDITED_BEFORE, &base_url).await.unwrap();
    let after = TestDatabase::new(&EDITED_AFTER, &base_url).await.unwrap();
    assert_ne!(before.template(), after.template());
    let again = TestDatabase::new(&EDITED_BEFORE, &base_url).await.unwrap();
    assert_eq!(before.template(), again.template());
}

/// Seeds run only when asked, and the copy keeps its `test` stamp.
async fn seeds_only_on_request(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let plain = TestDatabase::new(&PORTABLE, &base_url).await.unwrap();
    assert_eq!(scalar_i64(server, &plain, ACCOUNTS).await, 0);
    let seeded = TestDatabase::builder(&PORTABLE, &base_url)
        .with_seeds()
        .build()
        .await
        .unwrap();
    assert_eq!(scalar_i64(server, &seeded, ACCOUNTS).await, 2);
    assert_eq!(
        scalar_i64(
            server,
            &seeded,
            "SELECT COUNT(*) FROM schema_history WHERE kind = 'seed'"
        )
        .await,
        1
    );
    assert_eq!(texts(server, &seeded, STAMP).await, ["test"]);
    // The seeds ran in the copy, not in the template.
    let after = TestDatabase::new(&PORTABLE, &base_url).await.unwrap();
    assert_eq!(scalar_i64(server, &after, ACCOUNTS).await, 0);
}

/// Many callers at once, with no template yet, all get their own migrated copy from one
/// template.
async fn many_at_once(server: Option<Server>, forget: bool) {
    let Some(base_url) = base(server) else { return };
    if forget {
        let probe = TestDatabase::new(&REVERSIBLE, &base_url).await.unwrap();
        let template = probe.template().to_owned();
        drop(probe);
        forget_template(server, &template).await;
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let base_url = base_url.clone();
            tokio::spawn(async move { TestDatabase::new(&REVERSIBLE, &base_url).await })
        })
        .collect();
    let mut databases = Vec::new();
    for task in tasks {
        databases.push(task.await.unwrap().unwrap());
    }
    let migrations = REVERSIBLE.migrations().len() as i64;
    let first_history = texts(server, &databases[0], APPLIED_AT).await;
    for db in &databases {
        assert_eq!(
            scalar_i64(server, db, MIGRATIONS_RECORDED).await,
            migrations
        );
        assert_eq!(
            texts(server, db, APPLIED_AT).await,
            first_history,
            "one template"
        );
    }
    let mut urls: Vec<_> = databases.iter().map(|d| d.url().to_owned()).collect();
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_copies_are_isolated_and_recorded() {
    copies_are_isolated_and_recorded(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_copies_are_isolated_and_recorded() {
    copies_are_isolated_and_recorded(Some(Server::Postgres)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_copies_are_isolated_and_recorded() {
    copies_are_isolated_and_recorded(Some(Server::Mysql)).await;
}

#[tokio::test]
async fn sqlite_edited_set_gets_another_template() {
    an_edited_set_gets_another_template(None).await;
}

#[tokio::test]
async fn postgres_edited_set_gets_another_template() {
    an_edited_set_gets_another_template(Some(Server::Postgres)).await;
}

#[tokio::test]
async fn mysql_edited_set_gets_another_template() {
    an_edited_set_gets_another_template(Some(Server::Mysql)).await;
}

#[tokio::test]
async fn sqlite_seeds_only_on_request() {
    seeds_only_on_request(None).await;
}

#[tokio::test]
async fn postgres_seeds_only_on_request() {
    seeds_only_on_request(Some(Server::Postgres)).await;
}

#[tokio::test]
async fn mysql_seeds_only_on_request() {
    seeds_only_on_request(Some(Server::Mysql)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_at_once() {
    many_at_once(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_many_at_once() {
    many_at_once(Some(Server::Postgres), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_many_at_once() {
    // The template is kept: this process remembers it is up to date, and the others
    // find it so under the lock.
    many_at_once(Some(Server::Mysql), false).await;
}

/// The blocking flavour, for rusqlite users: no runtime needed, and a server's database
/// is made and dropped on a private one.
#[test]
fn blocking_flavour() {
    let db = TestDatabase::new_blocking(&PORTABLE, "sqlite:").unwrap();
    let conn = db.connect().unwrap();
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_history", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, PORTABLE.migrations().len() as i64);
    drop(conn);
    let path = db.name().to_owned();
    drop(db);
    schema_runtime::testing::settle();
    assert!(!std::path::Path::new(&path).exists());

    if let Some(url) = Server::Postgres.url() {
        let db = TestDatabase::new_blocking(&PORTABLE, &url).unwrap();
        assert!(db.url().contains(db.name()));
        // Debug never shows a password.
        let secret = TestDatabase::builder(&PORTABLE, "postgres://u:hunter2@h/db");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}

/// A crashed run's database (its process gone from this machine) is removed by the
/// first `TestDatabase` of a later process; a live process's database is kept.
async fn leftovers_of_dead_processes_are_removed(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let db = TestDatabase::new(&PORTABLE, &base_url).await.unwrap();
    // The same name with the process id of no process (above Linux's largest pid).
    let dead = {
        let mut parts: Vec<String> = db.name().split('_').map(str::to_owned).collect();
        let len = parts.len();
        parts[len - 2] = "4194399".to_owned();
        parts.join("_")
    };
    match server {
        None => std::fs::write(&dead, b"").unwrap(),
        Some(_) => on_server(server, [format!("CREATE DATABASE {dead}")]).await,
    }
    assert!(exists(server, &base_url, &dead).await);
    // Spares of another migration set: made long ago (removed), made now by a process
    // that is gone (a whole copy: kept), and on SQLite half copied by a process that is
    // gone (removed).
    let host = db.name().rsplit('_').nth(2).unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old_spare = format!("schema_tsp_00000000000000aa_1000_{host}_4194399_0");
    let recent_spare = format!("schema_tsp_00000000000000aa_{now}_{host}_4194399_1");
    let half_spare = format!("schema_tsp_00000000000000aa_{now}_{host}_4194399_2");
    let templates = std::path::Path::new(db.template())
        .parent()
        .unwrap()
        .to_owned();
    let spare_path = |name: &str, extension: &str| templates.join(format!("{name}.{extension}"));
    match server {
        None => {
            std::fs::write(spare_path(&old_spare, "db"), b"").unwrap();
            std::fs::write(spare_path(&recent_spare, "db"), b"").unwrap();
            std::fs::write(spare_path(&half_spare, "building"), b"").unwrap();
        }
        Some(Server::Postgres) => {
            let create = [&old_spare, &recent_spare].map(|name| format!("CREATE DATABASE {name}"));
            on_server(server, create).await;
        }
        Some(Server::Mysql) => {}
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_makes_a_database", "--quiet"])
        .env("SCHEMA_TDB_CHILD_URL", &base_url)
        .env("SCHEMA_TDB_CHILD_FIXTURE", "portable")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        !exists(server, &base_url, &dead).await,
        "{dead} was removed"
    );
    assert!(
        exists(server, &base_url, db.name()).await,
        "a live one is kept"
    );
    match server {
        None => {
            assert!(
                !spare_path(&old_spare, "db").exists(),
                "an old spare is removed"
            );
            assert!(
                !spare_path(&half_spare, "building").exists(),
                "a half copy is removed"
            );
            assert!(
                spare_path(&recent_spare, "db").exists(),
                "a recent spare is kept"
            );
            std::fs::remove_file(spare_path(&recent_spare, "db")).unwrap();
        }
        Some(Server::Postgres) => {
            assert!(
                !exists(server, &base_url, &old_spare).await,
                "an old spare is removed"
            );
            assert!(
                exists(server, &base_url, &recent_spare).await,
                "a recent spare is kept"
            );
            on_server(server, [format!("DROP DATABASE {recent_spare}")]).await;
        }
        Some(Server::Mysql) => {}
    }
}

#[tokio::test]
async fn sqlite_leftovers_of_dead_processes_are_removed() {
    leftovers_of_dead_processes_are_removed(None).await;
}

#[tokio::test]
async fn postgres_leftovers_of_dead_processes_are_removed() {
    leftovers_of_dead_processes_are_removed(Some(Server::Postgres)).await;
}

#[tokio::test]
async fn mysql_leftovers_of_dead_processes_are_removed() {
    leftovers_of_dead_processes_are_removed(Some(Server::Mysql)).await;
}

/// The cost of a test database, measured: `TestDatabase::new` (the template made
/// beforehand) against migrating a fresh database, and on MySQL against copying the
/// tables with `CREATE TABLE … LIKE` (which loses the foreign keys). Prints the means;
/// run with `--nocapture`.
async fn measure(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let rounds = 10;
    drop(TestDatabase::new(&PORTABLE, &base_url).await.unwrap());
    let mut copy = Duration::ZERO;
    let mut copies = Vec::new();
    for _ in 0..rounds {
        // The spares the last one started are let finish first, as a test's own time
        // would let them (the bench `test_database` times tests back to back as well).
        schema_runtime::testing::settle();
        let started = Instant::now();
        copies.push(TestDatabase::new(&PORTABLE, &base_url).await.unwrap());
        copy += started.elapsed();
    }
    schema_runtime::testing::settle();
    let started = Instant::now();
    drop(copies);
    schema_runtime::testing::settle();
    let removal = started.elapsed() / rounds;
    let policy = || Policy::new(Environment::Test).write_dev_lock(false);
    let mut migrate = Duration::ZERO;
    let mut like = Duration::ZERO;
    for round in 0..rounds {
        let name = format!("schema_measure_{}_{round}", std::process::id());
        match server {
            None => {
                let dir = tempfile::tempdir().unwrap();
                let started = Instant::now();
                let mut conn =
                    schema_runtime::rusqlite::Connection::open(dir.path().join("m.db")).unwrap();
                Migrator::with_policy(&PORTABLE, policy())
                    .run(&mut conn)
                    .unwrap();
                drop(conn);
                migrate += started.elapsed();
            }
            Some(Server::Postgres) => {
                let admin = PgPool::connect(&base_url).await.unwrap();
                let started = Instant::now();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                let pool = PgPool::connect(&with_database(&base_url, &name))
                    .await
                    .unwrap();
                Migrator::with_policy(&PORTABLE, policy())
                    .run_async(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                migrate += started.elapsed();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await
                .unwrap();
                admin.close().await;
            }
            Some(Server::Mysql) => {
                let admin = MySqlPool::connect(&base_url).await.unwrap();
                let started = Instant::now();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                let pool = MySqlPool::connect(&with_database(&base_url, &name))
                    .await
                    .unwrap();
                Migrator::with_policy(&PORTABLE, policy())
                    .run_async(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                migrate += started.elapsed();

                let copy_name = format!("{name}_like");
                let started = Instant::now();
                let mut script = format!("CREATE DATABASE {copy_name};\n");
                for table in ["accounts", "ledger", "schema_history", "schema_meta"] {
                    script.push_str(&format!(
                        "CREATE TABLE {copy_name}.{table} LIKE {name}.{table};\nINSERT INTO {copy_name}.{table} SELECT * FROM {name}.{table};\n"
                    ));
                }
                sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                    .execute(&admin)
                    .await
                    .unwrap();
                like += started.elapsed();
                for db in [&name, &copy_name] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
                        .execute(&admin)
                        .await
                        .unwrap();
                }
                admin.close().await;
            }
        }
    }
    println!(
        "{server:?}, {} migrations, mean of {rounds}: TestDatabase::new {:?} (removal {removal:?}), migrating a fresh database {:?}{}",
        PORTABLE.migrations().len(),
        copy / rounds,
        migrate / rounds,
        if like.is_zero() {
            String::new()
        } else {
            format!(", CREATE TABLE LIKE + INSERT SELECT {:?}", like / rounds)
        }
    );
}

#[tokio::test]
async fn sqlite_measure() {
    measure(None).await;
}

#[tokio::test]
async fn postgres_measure() {
    measure(Some(Server::Postgres)).await;
}

#[tokio::test]
async fn mysql_measure() {
    measure(Some(Server::Mysql)).await;
}

/// Run by [`processes_at_once`] in child processes (does nothing otherwise): one test
/// database of the fixture `SCHEMA_TDB_CHILD_FIXTURE` on `SCHEMA_TDB_CHILD_URL`, its
/// history's times printed for the parent to compare.
#[tokio::test]
async fn child_process_makes_a_database() {
    let (Ok(url), Ok(fixture)) = (
        std::env::var("SCHEMA_TDB_CHILD_URL"),
        std::env::var("SCHEMA_TDB_CHILD_FIXTURE"),
    ) else {
        return;
    };
    let server = if url.starts_with("postgres") {
        Some(Server::Postgres)
    } else if url.starts_with("mysql") {
        Some(Server::Mysql)
    } else {
        None
    };
    let migrations = schema_tests::fixture(&fixture).unwrap();
    let db = TestDatabase::new(migrations, &url).await.unwrap();
    assert_eq!(
        scalar_i64(server, &db, MIGRATIONS_RECORDED).await,
        migrations.migrations().len() as i64
    );
    println!("TDB_HISTORY {:?}", texts(server, &db, APPLIED_AT).await);
    // Dropped at the end of the test: removed before the process exits.
    println!("TDB_NAME {}", db.name());
}

/// Four test processes start at once with no template yet (cargo nextest runs one
/// process per test): every one gets its database, all from one template migrated once.
async fn processes_at_once(server: Option<Server>, fixture: &str) {
    let Some(base_url) = base(server) else { return };
    let migrations = schema_tests::fixture(fixture).unwrap();
    let template = TestDatabase::new(migrations, &base_url)
        .await
        .unwrap()
        .template()
        .to_owned();
    forget_template(server, &template).await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_process_makes_a_database", "--nocapture"])
                .env("SCHEMA_TDB_CHILD_URL", &base_url)
                .env("SCHEMA_TDB_CHILD_FIXTURE", fixture)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut histories, mut names) = (Vec::new(), Vec::new());
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child process failed");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let history = stdout
            .lines()
            .find(|line| line.starts_with("TDB_HISTORY "))
            .unwrap_or_else(|| panic!("no history printed: {stdout}"))
            .to_owned();
        histories.push(history);
        let name = stdout
            .lines()
            .find_map(|line| line.strip_prefix("TDB_NAME "))
            .unwrap_or_else(|| panic!("no name printed: {stdout}"))
            .to_owned();
        names.push(name);
    }
    for name in names {
        assert!(
            !exists(server, &base_url, &name).await,
            "{name} was removed before its process exited"
        );
    }
    assert!(
        histories.windows(2).all(|w| w[0] == w[1]),
        "one template for all: {histories:?}"
    );
}

#[tokio::test]
async fn sqlite_processes_at_once() {
    processes_at_once(None, "diesel_converted_sqlite").await;
}

#[tokio::test]
async fn postgres_processes_at_once() {
    processes_at_once(Some(Server::Postgres), "concurrent_index").await;
}

#[tokio::test]
async fn mysql_processes_at_once() {
    processes_at_once(Some(Server::Mysql), "broken_down").await;
}

/// A migration set of its own for this run, so that no other test touches its spares.
fn set_of_this_run(label: &str) -> &'static schema_runtime::Migrations {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    schema_tests::set_made_at_run_time([(
        1,
        "probe",
        format!(
            "-- {label} {} {stamp}\nCREATE TABLE probe (id INTEGER PRIMARY KEY);\n",
            std::process::id()
        ),
    )])
}

/// Spare copies: after a test database is made, spares of its template are made in the
/// background; the next test database is one of them renamed (it is gone from the
/// spares at once), whole and migrated; and the spares are made again.
async fn spares_are_taken_and_made_again(server: Option<Server>) {
    let Some(base_url) = base(server) else { return };
    let wanted: usize = std::env::var("SCHEMA_TEST_SPARES")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(2);
    if wanted == 0 {
        eprintln!("skipped: SCHEMA_TEST_SPARES=0 turns spares off");
        return;
    }
    let migrations = set_of_this_run("spares");
    let first = TestDatabase::new(migrations, &base_url).await.unwrap();
    let template = first.template().to_owned();
    schema_runtime::testing::settle();
    let ready = spares(server, &template).await;
    assert_eq!(ready.len(), wanted, "spares made: {ready:?}");

    let second = TestDatabase::new(migrations, &base_url).await.unwrap();
    let after = spares(server, &template).await;
    let taken: Vec<&String> = ready.iter().filter(|s| !after.contains(s)).collect();
    assert_eq!(taken.len(), 1, "one spare taken: {ready:?}, then {after:?}");
    assert_eq!(scalar_i64(server, &second, MIGRATIONS_RECORDED).await, 1);
    assert_eq!(texts(server, &second, STAMP).await, ["test"]);
    assert_eq!(
        texts(server, &first, APPLIED_AT).await,
        texts(server, &second, APPLIED_AT).await,
        "a spare is a copy of the template"
    );

    schema_runtime::testing::settle();
    assert_eq!(spares(server, &template).await.len(), wanted, "made again");
    drop((first, second));
    forget_template(server, &template).await;
    assert!(spares(server, &template).await.is_empty());
}

#[tokio::test]
async fn sqlite_spares_are_taken_and_made_again() {
    spares_are_taken_and_made_again(None).await;
}

#[tokio::test]
async fn postgres_spares_are_taken_and_made_again() {
    spares_are_taken_and_made_again(Some(Server::Postgres)).await;
}

/// A database named to look like a spare cannot carry SQL into the claim: names read back
/// from the server go into statements only when they are exactly as `TestDatabase`
/// writes them. (The name below, claimed unchecked, ran `CREATE TABLE inj` on the
/// server connection.)
#[tokio::test]
async fn postgres_a_hostile_spare_name_runs_nothing() {
    let server = Some(Server::Postgres);
    let Some(base_url) = base(server) else { return };
    let migrations = set_of_this_run("hostile");
    let first = TestDatabase::new(migrations, &base_url).await.unwrap();
    let template = first.template().to_owned();
    schema_runtime::testing::settle();
    forget_spares(&template).await;
    let key = template_key(&template);
    let plain = format!("schema_tsp_{key}_");
    let hostile = format!("schema_tsp_{key}_ RESET ALL;CREATE TABLE inj()--");
    let admin = PgPool::connect(&with_database(&base_url, "postgres"))
        .await
        .unwrap();
    for name in [&plain, &hostile] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&admin)
            .await
            .unwrap();
    }
    let second = TestDatabase::new(migrations, &base_url).await;
    let injected: Option<String> = sqlx::query_scalar("SELECT CAST(to_regclass('inj') AS text)")
        .fetch_one(&admin)
        .await
        .unwrap();
    for sql in [
        "DROP TABLE IF EXISTS inj".to_owned(),
        format!("DROP DATABASE IF EXISTS \"{plain}\""),
        format!("DROP DATABASE IF EXISTS \"{hostile}\""),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    assert_eq!(injected, None, "the hostile name ran its SQL");
    let second = second.unwrap();
    assert_eq!(scalar_i64(server, &second, MIGRATIONS_RECORDED).await, 1);
    drop((first, second));
    forget_template(server, &template).await;
}

/// Drops the spares of a PostgreSQL template (after this process's makers are done).
async fn forget_spares(template: &str) {
    schema_runtime::testing::settle();
    let server = Some(Server::Postgres);
    let drop = spares(server, template)
        .await
        .into_iter()
        .map(|spare| format!("DROP DATABASE IF EXISTS {spare}"));
    on_server(server, drop).await;
}
