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
    remove_leftovers(&admin_url, &key);
    // The template and this set's spares (this user's: another's cannot be renamed by
    // this one), in one read.
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname = $1 \
         OR (datname LIKE $2 AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
         ORDER BY random()",
    )
    .bind(&template)
    .bind(spare_pattern(&key))
    .fetch_all(&mut conn)
    .await
    .map_err(failed("looking for the template database"))?;
    let name = instance_name(&key);
    let claimed = claim_spare(&mut conn, &found, &template, &name).await;
    if !claimed {
        if !found.contains(&template) {
            make_template(&mut conn, &admin_url, migrations, &key, &template).await?;
        }
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .await
        .map_err(failed(format!("creating {name} from {template}")))?;
    }
    let _ = conn.close().await;
    make_spares(&admin_url, &key, &template);
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

/// `LIKE` pattern of the spares of a key (`_` escaped).
fn spare_pattern(key: &str) -> String {
    format!("{}{key}\\_%", SPARE_PREFIX.replace('_', "\\_"))
}

/// Takes one of the spares in `found` by renaming it to `name`: a rename is atomic, so
/// of many processes reaching for one spare one gets it and the others try the next.
/// Nobody connects to a spare, so nothing blocks the rename. Only names exactly as this
/// module writes them go into the SQL: a database named to look like a spare could
/// otherwise carry statements of its own.
async fn claim_spare(
    conn: &mut PgConnection,
    found: &[String],
    template: &str,
    name: &str,
) -> bool {
    let spares = found
        .iter()
        .filter(|spare| *spare != template && spare.starts_with(SPARE_PREFIX) && is_ours(spare));
    for spare in spares {
        let renamed = conn
            .execute(AssertSqlSafe(format!(
                "ALTER DATABASE \"{spare}\" RENAME TO \"{name}\""
            )))
            .await;
        if renamed.is_ok() {
            return true;
        }
    }
    false
}

/// Makes spare copies of the template in the background until the server holds
/// [`spares_wanted`](background::spares_wanted) of this user's (counting those other
/// processes are making), so that the next test renames one instead of waiting for a
/// copy.
fn make_spares(admin_url: &str, key: &str, template: &str) {
    let wanted = background::spares_wanted();
    if wanted == 0 {
        return;
    }
    let Some(guard) = background::sole_maker(&format!("postgres {key}")) else {
        return;
    };
    let (admin_url, key, template) = (admin_url.to_owned(), key.to_owned(), template.to_owned());
    background::spawn(background::Work::Spare, move || {
        let made = block_on_own_runtime(async {
            let mut conn = connect_admin(&admin_url, "making spare test databases").await?;
            loop {
                // Another user's spares are not counted: this one cannot take them, and
                // their queries are not shown to it.
                let ready: Vec<String> = sqlx::query_scalar(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1 \
                     AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
                )
                .bind(spare_pattern(&key))
                .fetch_all(&mut conn)
                .await
                .map_err(failed("counting the spare test databases"))?;
                let in_flight: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND usename = current_user AND pid <> pg_backend_pid() AND query LIKE $1",
                )
                .bind(format!("CREATE DATABASE {}%", spare_pattern(&key)))
                .fetch_one(&mut conn)
                .await
                .map_err(failed("counting the spare test databases"))?;
                let ready = ready.iter().filter(|name| is_ours(name)).count();
                if ready + in_flight as usize >= wanted {
                    // Enough, unless a test asked since the count (it may have taken one).
                    if guard.done() {
                        break;
                    }
                    continue;
                }
                let spare = spare_name(&key);
                let created = conn
                    .execute(AssertSqlSafe(format!(
                        "CREATE DATABASE {spare} TEMPLATE {template}"
                    )))
                    .await;
                match created {
                    Ok(_) => {}
                    // The template was dropped: nothing to copy until a test makes it.
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => break,
                    Err(e) => return Err(failed(format!("making the spare {spare}"))(e)),
                }
            }
            let _ = conn.close().await;
            Ok(())
        });
        drop(guard);
        if let Err(error) = made {
            background::warn(&format!("no spare test database made: {error}"));
        }
    });
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

/// Drops, once per process and in the background, this user's test databases of this
/// machine's processes that are gone (a crashed or killed run) and its spares of other
/// migration sets unused for [`SPARES_KEPT`]. Best effort.
fn remove_leftovers(admin_url: &str, key: &str) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let (admin_url, key) = (admin_url.to_owned(), key.to_owned());
    background::spawn(background::Work::Removal, move || {
        let _ = block_on_own_runtime(async {
            let mut conn = connect_admin(&admin_url, "removing leftovers").await?;
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database \
                 WHERE (datname LIKE 'schema\\_tdb\\_%' OR datname LIKE 'schema\\_tsp\\_%') \
                 AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
            )
            .fetch_all(&mut conn)
            .await
            .map_err(failed("listing leftovers"))?;
            // Only names exactly as this module writes them (see `claim_spare`).
            let leftovers = names.into_iter().filter(|name| {
                is_ours(name)
                    && if name.starts_with(SPARE_PREFIX) {
                        stale_spare(name, &key)
                    } else {
                        left_by_dead_process(name)
                    }
            });
            for name in leftovers {
                let _ = conn
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await;
            }
            let _ = conn.close().await;
            Ok::<_, Error>(())
        });
    });
}

/// A server connection for work in the background, given up after [`CONNECT_WAIT`]: a
/// server gone silent must not hold the process's exit for long.
async fn connect_admin(admin_url: &str, doing: &str) -> Result<PgConnection, Error> {
    match tokio::time::timeout(CONNECT_WAIT, PgConnection::connect(admin_url)).await {
        Ok(connected) => connected.map_err(failed(format!("connecting for {doing}"))),
        Err(_) => Err(Error::database_message(
            format!("connecting for {doing}"),
            format!(
                "no answer from {} within {} s",
                crate::redact_url(admin_url),
                CONNECT_WAIT.as_secs()
            ),
        )),
    }
}

const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
    let mut conn = connect_admin(admin_url, "dropping the test database").await?;
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
