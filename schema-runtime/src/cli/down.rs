//! `db down` and `db redo`: applied migrations reverted with their down files, newest
//! first, under the migration lock; in development the lock forgets them so their drafts
//! can change.

use schema_core::Lock;

use super::console::AsSql;
use super::inspect::{self, Entry, Recorded, State};
use super::{Failure, Outcome, Session};
use crate::Version;
use crate::engine;
use crate::error::suggest;
use crate::sql_text::kind;

impl Session {
    /// The applied migrations `down` reverts, newest first, each checked to have a down
    /// file before anything runs.
    fn reverts(
        &self,
        recorded: &Recorded,
        target: Option<Version>,
    ) -> Result<Vec<&'static crate::Migration>, Failure> {
        let entries = inspect::entries(self.migrations(), recorded);
        if let Some(stuck) = entries.iter().find(|e| e.state == State::HalfApplied) {
            return Err(Failure::check(format!(
                "version {} ({}) is half-applied: resolve it first (`{}`)",
                stuck.version,
                stuck.name,
                suggest::resolve_row(stuck.kind, stuck.version)
            )));
        }
        let mut applied: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                e.kind == kind::MIGRATION && matches!(e.state, State::Applied | State::Amended)
            })
            .collect();
        applied.sort_by_key(|e| std::cmp::Reverse(e.version));
        let chosen: Vec<&Entry> = match target {
            Some(to) => applied.into_iter().filter(|e| e.version > to).collect(),
            None => applied.into_iter().take(1).collect(),
        };
        if let Some(blocked) = entries
            .iter()
            .filter(|e| matches!(e.state, State::Missing | State::Edited))
            .find(|e| chosen.iter().any(|c| c.version <= e.version))
        {
            return Err(Failure::check(format!(
                "version {} ({}) is {} here: `down` cannot revert past it with this binary",
                blocked.version,
                blocked.name,
                blocked.state.as_str()
            )));
        }
        chosen
            .into_iter()
            .map(|e| {
                let migration = self
                    .migrations()
                    .get(e.version)
                    .expect("applied entries are in the binary");
                match migration.down() {
                    Some(_) => Ok(migration),
                    None => Err(Failure::check(format!(
                        "{} (version {}) has no down file ({}_{}.down.sql), so it cannot be reverted; nothing was changed. Write a new migration that undoes it instead",
                        migration.path(),
                        migration.version(),
                        migration.version(),
                        migration.name()
                    ))),
                }
            })
            .collect()
    }

    pub(super) fn down(mut self, target: Option<Version>, confirm: Option<&str>) -> Outcome {
        self.locked(|session, recorded| {
            session.guard_production(recorded.stamp.as_deref(), "revert migrations", confirm)?;
            let reverts = session.reverts(&recorded, target)?;
            if reverts.is_empty() {
                say!("nothing to revert");
                return Ok(0);
            }
            session.keeping_fingerprint(false, |session| {
                for migration in reverts {
                    session.revert(migration)?;
                }
                Ok(0)
            })
        })
    }

    /// Runs `migration`'s down file and replaces its history row with a revert row, as
    /// the engine does it ([`crate::engine::revert`]).
    fn revert(&mut self, migration: &'static crate::Migration) -> Result<(), Failure> {
        let mut sql = AsSql(self.console.as_mut());
        let took = engine::finish_now(engine::revert(&self.migrator, &mut sql, migration))?;
        say!(
            "reverted {} with {} ({})",
            migration.path(),
            migration.down().expect("checked by reverts").path(),
            crate::report::milliseconds(took)
        );
        if self.policy().writes_dev_lock() {
            self.unlock(migration)?;
        }
        Ok(())
    }

    /// In development, drops a reverted migration from the lock so its draft can change.
    fn unlock(&self, migration: &crate::Migration) -> Result<(), Failure> {
        let path = self.migrations().lock_path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let Ok(mut lock) = Lock::parse(&text) else {
            eprintln!(
                "warning: {} does not parse; version {} was left in it",
                path.display(),
                migration.version()
            );
            return Ok(());
        };
        if lock.remove(migration.version()).is_some() {
            match crate::devlock::write_atomically(&path, &lock.render()) {
                Ok(()) => say!(
                    "removed version {} from {}: fix the draft and apply it again",
                    migration.version(),
                    path.display()
                ),
                Err(error) => eprintln!("warning: {} was not updated: {error}", path.display()),
            }
        }
        Ok(())
    }

    pub(super) fn redo(mut self, confirm: Option<&str>) -> Outcome {
        let reverted = self.locked(|session, recorded| {
            session.guard_production(recorded.stamp.as_deref(), "redo a migration", confirm)?;
            let reverts = session.reverts(&recorded, None)?;
            let Some(migration) = reverts.first().copied() else {
                return Ok(None);
            };
            session.keeping_fingerprint(false, |session| session.revert(migration))?;
            Ok(Some(migration))
        })?;
        let Some(migration) = reverted else {
            say!("nothing to redo: no migration is applied");
            return Ok(0);
        };
        // The runner takes the lock again itself, and reads the history again under it.
        self.run_startup(Some(migration.version()))
    }
}
