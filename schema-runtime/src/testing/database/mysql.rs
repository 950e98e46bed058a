use sqlx::{AssertSqlSafe, Connection, Executor, MySqlConnection, MySqlPool, Row};

use super::*;

async fn admin(base_url: &str) -> Result<(String, MySqlConnection), Error> {
    let admin_url = with_database(base_url, "")?;
    let conn = MySqlConnection::connect(&admin_url)
        .await
        .map_err(failed(format!(
            "connecting to {} to make a test database",
            crate::redact_url(&admin_url)
        )))?;
    Ok((admin_url, conn))
}

/// The templates this process has brought up to date already.
fn ready() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static READY: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    READY.get_or_init(Default::default)
}

pub(super) async fn create(
    migrations: &'static Migrations,
    base_url: &str,
    options: Options,
) -> Result<TestDatabase, Error> {
    let key = key(migrations);
    let template = format!("{TEMPLATE_PREFIX}{key}");
    let (admin_url, mut conn) = admin(base_url).await?;
    remove_leftovers(&mut conn).await;
    let is_ready = ready()
        .lock()
        .map(|r| r.contains(&template))
        .unwrap_or(false);
    if !is_ready {
        make_template(&mut conn, &admin_url, migrations, &template).await?;
        if let Ok(mut ready) = ready().lock() {
            ready.insert(template.clone());
        }
    }
    let name = instance_name(&key);
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .await
        .map_err(failed(format!("creating {name}")))?;
    let url = with_database(base_url, &name)?;
    let database = TestDatabase {
        url,
        kind: Kind::Mysql { admin_url, name },
        template,
        removed: false,
    };
    let copied = copy_tables(&mut conn, &database.template, database.name()).await?;
    let _ = conn.close().await;
    if !copied || options.seeds {
        let pool = MySqlPool::connect(&database.url)
            .await
            .map_err(failed("connecting to the test database"))?;
        let mut result = Ok(());
        if !copied {
            result = crate::Migrator::with_policy(migrations, template_policy())
                .run_async(&pool)
                .await
                .map(drop);
        }
        if result.is_ok() && options.seeds {
            result = crate::Migrator::with_policy(migrations, seed_policy())
                .run_async(&pool)
                .await
                .map(drop);
        }
        pool.close().await;
        result?;
    }
    Ok(database)
}

/// Brings the template up to date under `GET_LOCK`: made and migrated by the first
/// process, one history query for the others. A template whose run failed (MySQL's
/// DDL is not transactional) is dropped, to be made again by the next run.
async fn make_template(
    conn: &mut MySqlConnection,
    admin_url: &str,
    migrations: &'static Migrations,
    template: &str,
) -> Result<(), Error> {
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 600)")
        .bind(template)
        .fetch_one(&mut *conn)
        .await
        .map_err(failed("taking the template's lock"))?;
    if got != Some(1) {
        return Err(Error::database_message(
            "taking the template's lock",
            format!("GET_LOCK('{template}') did not return 1 within 600 s"),
        ));
    }
    let made = async {
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE IF NOT EXISTS `{template}`"
        )))
        .await
        .map_err(failed(format!("creating the template database {template}")))?;
        let pool = MySqlPool::connect(&with_database(admin_url, template)?)
            .await
            .map_err(failed(format!("connecting to {template}")))?;
        let migrated = crate::Migrator::with_policy(migrations, template_policy())
            .run_async(&pool)
            .await;
        pool.close().await;
        if migrated.is_err() {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{template}`"
                )))
                .await;
        }
        migrated.map(drop)
    }
    .await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(template)
        .execute(&mut *conn)
        .await;
    made
}

/// Copies every table of `template` into `name` (its `SHOW CREATE TABLE`, foreign
/// keys included, then its rows), in one script read from the template once per
/// process. `false`, copying nothing, when the template holds objects whose text
/// names it (views, triggers, routines, events).
async fn copy_tables(
    conn: &mut MySqlConnection,
    template: &str,
    name: &str,
) -> Result<bool, Error> {
    type Scripts = std::sync::Mutex<std::collections::HashMap<String, Option<String>>>;
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    let scripts = SCRIPTS.get_or_init(Default::default);
    let known = scripts.lock().ok().and_then(|s| s.get(template).cloned());
    let body = match known {
        Some(body) => body,
        None => {
            let body = copy_script(conn, template).await?;
            if let Ok(mut scripts) = scripts.lock() {
                scripts.insert(template.to_owned(), body.clone());
            }
            body
        }
    };
    let Some(body) = body else {
        return Ok(false);
    };
    let script = format!(
        "USE `{name}`;\nSET FOREIGN_KEY_CHECKS = 0;\n{body}SET FOREIGN_KEY_CHECKS = 1;\nUSE `mysql`;\n"
    );
    sqlx::raw_sql(AssertSqlSafe(script))
        .execute(&mut *conn)
        .await
        .map_err(failed(format!("copying {template} into {name}")))?;
    Ok(true)
}

/// The statements that make the template's tables and copy their rows into the
/// current database, or `None` when the template holds objects that name it.
async fn copy_script(conn: &mut MySqlConnection, template: &str) -> Result<Option<String>, Error> {
    let others: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_type <> 'BASE TABLE') \
         + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = ?) \
         + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = ?) \
         + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = ?)",
    )
    .bind(template)
    .bind(template)
    .bind(template)
    .bind(template)
    .fetch_one(&mut *conn)
    .await
    .map_err(failed("reading the template's objects"))?;
    if others > 0 {
        return Ok(None);
    }
    conn.execute("SET SESSION group_concat_max_len = 1048576")
        .await
        .map_err(failed("reading the template's tables"))?;
    let columns = sqlx::query(
        "SELECT CAST(table_name AS CHAR), CAST(GROUP_CONCAT(CONCAT('`', column_name, '`') ORDER BY ordinal_position SEPARATOR ', ') AS CHAR) \
         FROM information_schema.columns WHERE table_schema = ? AND extra NOT LIKE '%GENERATED%' \
         GROUP BY table_name",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .map_err(failed("reading the template's tables"))?;
    let mut script = String::new();
    let mut inserts = String::new();
    for row in &columns {
        let table: String = row.try_get(0).map_err(failed("reading a table name"))?;
        let list: String = row.try_get(1).map_err(failed("reading a column list"))?;
        let create = sqlx::query(AssertSqlSafe(format!(
            "SHOW CREATE TABLE `{template}`.`{table}`"
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(failed(format!("reading {template}.{table}")))?;
        let create: String = create
            .try_get(1)
            .map_err(failed("reading a table's text"))?;
        script.push_str(&create);
        script.push_str(";\n");
        inserts.push_str(&format!(
            "INSERT INTO `{table}` ({list}) SELECT {list} FROM `{template}`.`{table}`;\n"
        ));
    }
    script.push_str(&inserts);
    Ok(Some(script))
}

/// Drops, once per process, the test databases of this machine's processes that are
/// gone. Best effort.
async fn remove_leftovers(conn: &mut MySqlConnection) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'schema\\_tdb\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names.into_iter().filter(|n| left_by_dead_process(n)) {
        let _ = conn
            .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .await;
    }
}

/// Drops the database, first ending the sessions still using it (as PostgreSQL's
/// `WITH (FORCE)` does), so that an open transaction cannot hold the drop.
pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
    let mut conn = MySqlConnection::connect(admin_url)
        .await
        .map_err(failed("connecting to drop the test database"))?;
    let sessions: Vec<u64> = sqlx::query_scalar(
        "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(name)
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for id in sessions {
        let _ = conn.execute(AssertSqlSafe(format!("KILL {id}"))).await;
    }
    let dropped = conn
        .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
        .await
        .map(drop)
        .map_err(failed(format!("dropping {name}")));
    let _ = conn.close().await;
    dropped
}
