//! The schema fingerprint of a run: compared before it changes anything, recorded after
//! it changed something, and on SQLite shortcut by the schema counter.

use super::{Driver, Sql, in_transaction};
use crate::Migrator;
use crate::drift::Fingerprint;
use crate::error::Error;
use crate::migrator::{Statements, Value};
use crate::report::Report;
use crate::sql_text::{COOKIE_KEY, Dialect, FINGERPRINT_KEY};

/// An up-to-date start whose schema may have moved: compare the live schema with the
/// fingerprint. On SQLite, when nothing differs, the schema counter is recorded again so
/// that the next start is back to one read.
pub(super) async fn check_drift<D: Driver>(
    migrator: &Migrator,
    driver: &mut D,
    statements: &Statements,
    report: &mut Report,
) -> Result<(), Error> {
    match fingerprints(driver, statements).await {
        Ok((recorded, live)) => {
            let differs = migrator.judge_drift(recorded.as_deref(), &live, report)?;
            if !differs && driver.dialect() == Dialect::Sqlite {
                // Only a shortcut for the next start: failing to write it changes nothing.
                let _ = record_cookie(driver, statements).await;
            }
        }
        Err(error) => migrator.fingerprint_failed("reading", error, report),
    }
    Ok(())
}

/// The newest fingerprint recorded in the database (by any migration set sharing it)
/// and the live schema.
pub(crate) async fn fingerprints<D: Sql>(
    driver: &mut D,
    statements: &Statements,
) -> Result<(Option<String>, Fingerprint), D::Error> {
    let live = Fingerprint::from_rows(driver.rows(statements.fingerprint).await?);
    let recorded = match live.recorded_query(statements.dialect) {
        Some(sql) => crate::drift::newest(
            driver
                .rows(&sql)
                .await?
                .into_iter()
                .filter_map(|mut row| row.swap_remove(0)),
        ),
        None => None,
    };
    Ok((recorded, live))
}

/// Records `text` as the fingerprint in one transaction (on SQLite with its schema
/// counter, so that a start can tell cheaply whether the schema moved since).
pub(crate) async fn record_fingerprint<D: Sql>(
    driver: &mut D,
    statements: &Statements,
    text: &str,
) -> Result<(), D::Error> {
    let dialect = statements.dialect;
    in_transaction(driver, async |driver| {
        driver
            .bind(
                &statements.delete_meta,
                vec![Value::Text(FINGERPRINT_KEY.to_owned())],
            )
            .await?;
        driver
            .bind(
                &statements.insert_meta,
                vec![
                    Value::Text(FINGERPRINT_KEY.to_owned()),
                    Value::Text(text.to_owned()),
                ],
            )
            .await?;
        if dialect == Dialect::Sqlite {
            record_cookie(driver, statements).await?;
        }
        Ok(())
    })
    .await
}

/// Records SQLite's schema counter of this moment beside the fingerprint.
async fn record_cookie<D: Sql>(driver: &mut D, statements: &Statements) -> Result<(), D::Error> {
    let cookie = driver
        .rows("SELECT CAST(schema_version AS TEXT) FROM pragma_schema_version")
        .await?
        .into_iter()
        .next()
        .and_then(|mut row| row.swap_remove(0))
        .unwrap_or_default();
    driver
        .bind(
            &statements.delete_meta,
            vec![Value::Text(COOKIE_KEY.to_owned())],
        )
        .await?;
    driver
        .bind(
            &statements.insert_meta,
            vec![Value::Text(COOKIE_KEY.to_owned()), Value::Text(cookie)],
        )
        .await
}
