//! An open database for one command: its connection, its URL and the migrator of the
//! run, with what every command reads first.

use super::console::{self, Console};
use super::inspect::{self, Recorded};
use super::{Failure, redact};
use crate::sql_text::Dialect;
use crate::{Migrations, Migrator, Policy};

/// An open database with the migrator of this run.
pub(super) struct Session {
    pub(super) migrator: Migrator,
    pub(super) url: String,
    pub(super) console: Box<dyn Console>,
}

impl Session {
    /// Opens the database `url` names (`missing` says what to do with a SQLite file that
    /// is not there) and runs the policy's session settings on it.
    pub(super) fn open(
        migrations: &'static Migrations,
        policy: Policy,
        url: String,
        missing: console::Missing,
    ) -> Result<Self, Failure> {
        let mut console = console::open(&url, missing, &policy).map_err(Failure::usage)?;
        if let Some(sql) = policy.session_sql() {
            console.script(sql).map_err(|e| {
                Failure::usage(format!(
                    "the session settings failed on {}: {e}",
                    redact(&url)
                ))
            })?;
        }
        Ok(Session {
            migrator: Migrator::with_policy(migrations, policy),
            url,
            console,
        })
    }

    pub(super) fn migrations(&self) -> &'static Migrations {
        self.migrator.migrations()
    }

    pub(super) fn policy(&self) -> &Policy {
        self.migrator.policy()
    }

    pub(super) fn backend(&self) -> &'static str {
        match self.console.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    pub(super) fn recorded(&mut self) -> Result<Recorded, Failure> {
        // A table of the history's name that another tool made is named as such.
        inspect::recorded(self.console.as_mut(), self.migrator.policy())
            .map_err(|e| self.migrator.history_error(e).into())
    }
}
