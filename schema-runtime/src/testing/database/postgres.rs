use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

use super::*;

async fn admin(base_url: &str) -> Result<(String, PgConnection), Error> {
    let admin_url = with_database(base_url, "postgres")?;
    let conn = PgConnection::connect(&admin_url)
        .await
        .map_err(failed(format!(
            "connecting to {} to make a test database",
            crate::redact_url(&admin_url)
        )))?;
    Ok((admin_url, conn))
}

/// The advisory lock of a key: a bigint from the key's hex.
fn lock_id(key: &str) -> i64 {
    u64::from_str_radix(key, 16).unwrap_or(0) as i64
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
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut conn)
        .await
        .map_err(failed("looking for the template database"))?;
    if found.is_none() {
        make_template(&mut conn, &admin_url, migrations, &key, &template).await?;
    }
    let name = instance_name(&key);
    conn.execute(AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE {template}"
    )))
    .await
    .map_err(failed(format!("creating {name} from {template}")))?;
    let _ = conn.close().await;
    let url = with_database(base_url, &name)?;
    let database = TestDatabase {
        url,
        kind: Kind::Postgres { admin_url, name },
        template,
        removed: false,
    };
    if options.seeds {
        let pool = PgPool::connect(&database.url)
            .await
            .map_err(failed("connecting to the test database"))?;
        let seeded = crate::Migrator::with_policy(migrations, seed_policy())
            .run_async(&pool)
            .await;
        pool.close().await;
        seeded?;
    }
    Ok(database)
}

/// Makes the template under the key's advisory lock: migrated under a temporary name,
/// then renamed and marked a template, so that a crash never leaves a template that
/// is half migrated.
async fn make_template(
    conn: &mut PgConnection,
    admin_url: &str,
    migrations: &'static Migrations,
    key: &str,
    template: &str,
) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_id(key))
        .execute(&mut *conn)
        .await
        .map_err(failed("taking the template's advisory lock"))?;
    let made = make_template_locked(conn, admin_url, migrations, template).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_id(key))
        .execute(&mut *conn)
        .await;
    made
}

async fn make_template_locked(
    conn: &mut PgConnection,
    admin_url: &str,
    migrations: &'static Migrations,
    template: &str,
) -> Result<(), Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(template)
        .fetch_optional(&mut *conn)
        .await
        .map_err(failed("looking for the template database"))?;
    if found.is_some() {
        // Another process made it while this one waited for the lock.
        return Ok(());
    }
    let building = format!("{template}_building");
    for sql in [
        format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        format!("CREATE DATABASE {building}"),
    ] {
        conn.execute(AssertSqlSafe(sql))
            .await
            .map_err(failed(format!("creating the template database {building}")))?;
    }
    let pool = PgPool::connect(&with_database(admin_url, &building)?)
        .await
        .map_err(failed(format!("connecting to {building}")))?;
    let migrated = crate::Migrator::with_policy(migrations, template_policy())
        .run_async(&pool)
        .await;
    pool.close().await;
    migrated?;
    for sql in [
        format!("ALTER DATABASE {building} RENAME TO {template}"),
        format!("ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
    ] {
        conn.execute(AssertSqlSafe(sql))
            .await
            .map_err(failed(format!("making {template} a template")))?;
    }
    Ok(())
}

/// Drops, once per process, the test databases of this machine's processes that are
/// gone (a crashed or killed run). Best effort.
async fn remove_leftovers(conn: &mut PgConnection) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'schema\\_tdb\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names.into_iter().filter(|n| left_by_dead_process(n)) {
        let _ = conn
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .map_err(failed("connecting to drop the test database"))?;
    let dropped = conn
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .map(drop)
        .map_err(failed(format!("dropping {name}")));
    let _ = conn.close().await;
    dropped
}
