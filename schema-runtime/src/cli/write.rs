//! The rules every `db` command that changes a database follows, the same as startup's:
//! the migration lock, the history read again under it, and the environment stamp.
//!
//! A command that decided from a history read before the lock could revert a migration
//! that a replica is applying at that moment, or record a repair over one that has just
//! finished; so each decides only from what it reads while it holds the lock.

use super::inspect::Recorded;
use super::output::database_name;
use super::{Failure, Session};
use crate::Environment;

impl Session {
    /// Runs `change` holding the migration lock that startup takes, with the history read
    /// under that lock and the database's environment stamp checked first. The lock is
    /// released on every path (and by the server or kernel if the process dies).
    pub(super) fn locked<T>(
        &mut self,
        change: impl FnOnce(&mut Session, Recorded) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let held = self.console.lock(self.migrator.policy())?;
        let result = self.recorded().and_then(|recorded| {
            self.migrator.check_stamp_value(recorded.stamp.as_deref())?;
            change(self, recorded)
        });
        self.console.unlock(held);
        result
    }

    /// Refuses `what` when the environment or the database's stamp is production, unless
    /// the operator typed the database's name.
    pub(super) fn guard_production(
        &self,
        stamp: Option<&str>,
        what: &str,
        confirm: Option<&str>,
    ) -> Result<(), Failure> {
        let why = if self.policy().environment() == Environment::Production {
            format!(
                "this run is production ({})",
                self.policy().environment_source()
            )
        } else if stamp == Some(Environment::Production.as_str()) {
            "the database is stamped production".to_owned()
        } else {
            return Ok(());
        };
        let name = database_name(&self.url);
        if confirm == Some(name.as_str()) && !name.is_empty() {
            eprintln!("warning: {what} in production, confirmed for database {name}");
            return Ok(());
        }
        Err(Failure::usage(format!(
            "refusing to {what}: {why}, and {what} changes or removes data that a backup may not bring back. Nothing was changed. If this really must happen, take a backup and pass --confirm-production {name}"
        )))
    }
}
