//! The `db` command's audited changes to the history, each in one transaction with the
//! row that says who made it and why: a repair, and the adoption of another tool's
//! history (`db baseline`).

use super::{Sql, in_transaction};
use crate::Migrator;
use crate::migrator::{HistoryValues, Value};
use crate::sql_text::kind;

/// A migration recorded by `db baseline`: applied by another tool (or by hand) before
/// this history existed.
pub(crate) struct Adoption {
    /// The migration of this binary it corresponds to.
    pub migration: &'static crate::Migration,
    /// When the other tool applied it, if it says.
    pub applied_at: Option<String>,
    /// Where it came from, for the row's note.
    pub note: String,
}

/// Changes one history row (`change`, with its binds) and writes the audit row that
/// says so, in one transaction.
pub(crate) async fn repair<D: Sql>(
    driver: &mut D,
    change: &str,
    binds: Vec<Value>,
    audit_row: &HistoryValues<'_>,
    insert: &str,
) -> Result<(), D::Error> {
    in_transaction(driver, async |driver| {
        driver.bind(change, binds).await?;
        driver.bind(insert, audit_row.binds()).await
    })
    .await
}

/// Creates the history tables, stamps the database (unless `stamped`) and records each
/// adoption with a `baseline` row after them, in one transaction where the server allows
/// it (the tables are created before it: MySQL commits DDL on its own).
pub(crate) async fn baseline<D: Sql>(
    migrator: &Migrator,
    driver: &mut D,
    adopted: &[Adoption],
    source: &str,
    stamped: bool,
) -> Result<(), D::Error> {
    let statements = migrator.statements(driver.dialect());
    for create in &statements.create {
        driver.script(create).await?;
    }
    let audit = migrator.audit();
    let environment = migrator.policy().environment().as_str().to_owned();
    in_transaction(driver, async |driver| {
        if !stamped {
            driver
                .bind(&statements.insert_stamp, vec![Value::Text(environment)])
                .await?;
        }
        for adoption in adopted {
            let migration = adoption.migration;
            let mut row = audit.row(
                kind::MIGRATION,
                migration.version(),
                migration.name(),
                migration.checksum(),
                true,
            );
            if let Some(at) = &adoption.applied_at {
                row.applied_at = at.clone();
            }
            row.note = Some(format!("baseline: {}", adoption.note));
            driver.bind(&statements.insert, row.binds()).await?;
        }
        if let Some(newest) = adopted.last().map(|a| a.migration) {
            let mut row = audit.row(
                kind::BASELINE,
                newest.version(),
                newest.name(),
                newest.checksum(),
                true,
            );
            row.note = Some(format!(
                "adopted {} migration(s) from {source}",
                adopted.len()
            ));
            driver.bind(&statements.insert, row.binds()).await?;
        }
        Ok(())
    })
    .await
}
