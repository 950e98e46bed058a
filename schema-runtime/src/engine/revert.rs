//! `db down`'s step (and `testing::check_reversible`'s): one migration reverted with its down file, and its history row.

use std::time::{Duration, Instant};

use super::{Sql, begin};
use crate::error::Error;
use crate::migrator::{Value, version_to_sql};
use crate::sql_text::kind;
use crate::{Migration, Migrator};

/// Reverts `migration` with its down file and replaces its history row with a revert
/// row: in one transaction where the server's DDL is transactional; otherwise (a
/// `no-transaction` down file, or any down file on MySQL/MariaDB, whose DDL commits as it
/// goes) after marking the migration started, like a non-transactional up, so that a
/// down that fails half-way leaves it half-applied by name for `db status`, startup and
/// `db repair`. How long the down file took.
pub(crate) async fn revert<D: Sql>(
    migrator: &Migrator,
    driver: &mut D,
    migration: &'static Migration,
) -> Result<Duration, Error> {
    let down = migration
        .down()
        .expect("only migrations with a down file are reverted");
    let dialect = driver.dialect();
    let history = &migrator.policy().history_table;
    let transactional = down.transaction() && dialect.transactional_ddl();
    let version = vec![Value::Integer(version_to_sql(migration.version()))];
    let audit = migrator.audit();
    let mut row = audit.row(
        kind::REVERT,
        migration.version(),
        migration.name(),
        migration.checksum(),
        true,
    );
    row.note = Some(format!("reverted with {}", down.path()));
    let bookkeeping = |error| {
        Error::database(
            format!(
                "recording the revert of {} in the history",
                migration.path()
            ),
            error,
        )
    };
    if !transactional {
        driver
            .bind(&dialect.mark_started(history), version.clone())
            .await
            .map_err(bookkeeping)?;
    } else {
        driver.script(begin(dialect)).await.map_err(bookkeeping)?;
    }
    let started = Instant::now();
    let ran = driver.script(down.sql()).await;
    let duration = started.elapsed();
    if let Err(error) = ran {
        if transactional {
            let _ = driver.script("ROLLBACK").await;
        }
        return Err(Error::Migration {
            version: migration.version(),
            path: down.path(),
            message: error.to_string(),
            in_transaction: transactional,
            whole_run: false,
        });
    }
    let recorded = async {
        driver
            .bind(&dialect.delete_migration(history), version)
            .await?;
        driver
            .bind(&dialect.insert_history(history), row.binds())
            .await?;
        if transactional {
            driver.script("COMMIT").await?;
        }
        Ok(())
    }
    .await;
    if let Err(error) = recorded {
        if transactional {
            let _ = driver.script("ROLLBACK").await;
        }
        return Err(bookkeeping(error));
    }
    Ok(duration)
}
