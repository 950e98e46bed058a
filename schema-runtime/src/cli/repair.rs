//! `db repair`: the audited fixes of a history row, a half-applied migration (or seed)
//! marked resolved or an edited migration's checksum accepted, under the migration lock.

use super::console::{AsSql, Param};
use super::inspect;
use super::{Failure, Outcome, Session};
use crate::engine;
use crate::sql_text::{kind, state};
use crate::{Checksum, Version};

impl Session {
    pub(super) fn repair(
        mut self,
        version: Version,
        row_kind: &'static str,
        resolved: bool,
        reason: &str,
        confirm: Option<&str>,
    ) -> Outcome {
        if reason.trim().is_empty() {
            return Err(Failure::usage(
                "--reason must say who checked what: it is kept in the history",
            ));
        }
        self.locked(|session, recorded| {
            session.guard_production(recorded.stamp.as_deref(), "repair the history", confirm)?;
            session.repair_locked(&recorded, version, row_kind, resolved, reason)
        })
    }

    fn repair_locked(
        &mut self,
        recorded: &inspect::Recorded,
        version: Version,
        row_kind: &'static str,
        resolved: bool,
        reason: &str,
    ) -> Outcome {
        let Some(row) = recorded.get(row_kind, version).cloned() else {
            return Err(Failure::check(format!(
                "{row_kind} version {version} is not recorded in this database: there is nothing to repair"
            )));
        };
        let embedded = match row_kind {
            kind::SEED => {
                if !resolved {
                    return Err(Failure::usage(
                        "a seed that changed after it ran is not an error (seeds run once): only `--seed --resolved` applies to seeds",
                    ));
                }
                None
            }
            _ => self.migrations().get(version),
        };
        let dialect = self.console.dialect();
        let statements = self.migrator.statements(dialect);
        let audit = self.migrator.audit();
        let checksum = embedded.map_or_else(
            || Checksum::from_hex(row.checksum.as_bytes()).unwrap_or(Checksum::from_bytes([0; 32])),
            |m| m.checksum(),
        );
        let mut audit_row = audit.row(kind::REPAIR, version, &row.name, checksum, true);
        let (update, binds, done) = if resolved {
            if row.state != state::STARTED {
                return Err(Failure::check(format!(
                    "version {version} ({}) is not half-applied: it finished on {}",
                    row.name, row.applied_at
                )));
            }
            audit_row.note = Some(format!("marked resolved: {reason}"));
            (
                dialect.mark_resolved(&self.policy().history_table),
                vec![
                    Param::Text(row_kind.to_owned()),
                    Param::Integer(row.version),
                ],
                format!(
                    "version {version} ({}) is marked resolved; the next start goes on from it",
                    row.name
                ),
            )
        } else {
            let Some(migration) = embedded else {
                return Err(Failure::check(format!(
                    "version {version} ({}) is not in this binary: there is no checksum to accept",
                    row.name
                )));
            };
            if row.checksum == migration.checksum().to_string() {
                return Err(Failure::check(format!(
                    "version {version} ({}) already has this binary's checksum: nothing to accept",
                    row.name
                )));
            }
            audit_row.note = Some(format!(
                "accepted sha256:{} in place of sha256:{}: {reason}",
                migration.checksum(),
                row.checksum
            ));
            (
                statements.update_checksum.clone(),
                vec![
                    Param::Text(migration.checksum().to_string()),
                    Param::Integer(row.version),
                ],
                format!(
                    "version {version} ({}) now records sha256:{}; the old sha256:{} and your reason are in the history",
                    row.name,
                    migration.checksum(),
                    row.checksum
                ),
            )
        };
        let mut sql = AsSql(self.console.as_mut());
        engine::finish_now(engine::repair(
            &mut sql,
            &update,
            binds,
            &audit_row,
            &statements.insert,
        ))?;
        say!("{done}");
        Ok(0)
    }
}
