//! The one error type of the runtime. Every variant carries what a person needs to act:
//! the file, the version, both checksums, the environment, and the next step.

use std::fmt;
use std::time::Duration;

use crate::{Checksum, Environment, Version};

/// Anything that stops a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `APP_ENV` has a value that is not an environment.
    #[error(
        "APP_ENV=`{value}` is not an environment; use one of: {}",
        crate::environment::VALID_APP_ENV
    )]
    InvalidEnvironment {
        /// The value it had.
        value: String,
    },

    /// `SEED_DB` has a value that is not a yes or no.
    #[error("SEED_DB=`{value}` is not understood; use true or false (1/0, yes/no)")]
    InvalidSeedDb {
        /// The value it had.
        value: String,
    },

    /// A setting read from the environment has a value that is not understood.
    #[error("{name}=`{value}` is not understood; use {expected}")]
    InvalidSetting {
        /// The variable.
        name: &'static str,
        /// The value it had.
        value: String,
        /// What it may be.
        expected: &'static str,
    },

    /// The live schema differs from what the migrations left, and the policy stops on
    /// drift; nothing was changed.
    #[error(
        "{0}. Nothing was migrated. Write a migration that makes (or undoes) the change, or, after checking it, accept the live schema with `db drift --accept --reason \"...\"`; Policy::on_drift(DriftCheck::Warn) or SCHEMA_DRIFT=warn makes this a warning"
    )]
    Drift(crate::drift::Drift),

    /// A configured table name is not a plain identifier.
    #[error(
        "`{name}` is not a valid table name: use letters, digits and `_` (not starting with a digit, at most 63 characters), optionally as `schema.table`"
    )]
    InvalidIdentifier {
        /// The name given.
        name: String,
    },

    /// The database was stamped by a run in another environment.
    #[error(
        "this database belongs to the {database} environment, but this run is {run} ({run_source}); refusing to migrate, seed or change anything. Point the application at its own database, or set APP_ENV={database} if this really is a {database} run"
    )]
    EnvironmentMismatch {
        /// The environment the database was stamped with.
        database: String,
        /// The environment of this run.
        run: Environment,
        /// Where this run's environment came from.
        run_source: String,
    },

    /// The backup before migrating failed, so nothing was migrated.
    #[error(
        "the backup before migrating failed, so nothing was migrated: {message}. Fix the backup, or let the policy migrate without one (Policy::backup_failure_stops(false))"
    )]
    Backup {
        /// What went wrong.
        message: String,
    },

    /// The history disagrees with the embedded migrations; nothing was applied.
    #[error("{0}")]
    History(HistoryProblems),

    /// A migration's SQL failed.
    #[error(
        "migration {path} (version {version}) failed: {message}. {}",
        if *whole_run {
            "The run's one transaction was rolled back: the database is as it was before this run. Fix the migration and start again".to_owned()
        } else if *in_transaction {
            "Its transaction was rolled back: the database is as it was before this migration. Fix the migration and start again".to_owned()
        } else {
            format!("It ran outside a transaction, so part of it may have been applied, and it is recorded as started: check the database, finish or undo its statements by hand, then run `{}`", suggest::resolve(*version))
        }
    )]
    Migration {
        /// The version.
        version: Version,
        /// The file, as written in the macro call.
        path: &'static str,
        /// The database's message.
        message: String,
        /// Whether it ran in a transaction (and so was rolled back whole).
        in_transaction: bool,
        /// Whether that transaction held every migration of the run
        /// ([`Policy::group_transactions`](crate::Policy::group_transactions)).
        whole_run: bool,
    },

    /// A seed's SQL failed.
    #[error(
        "seed {path} (version {version}) failed: {message}. Its transaction was rolled back; fix the seed and start again"
    )]
    Seed {
        /// The version.
        version: Version,
        /// The file.
        path: &'static str,
        /// The database's message.
        message: String,
    },

    /// Another process held the migration lock for longer than the policy waits.
    #[error(
        "waited {waited:?} for the migration lock on {what}, held by {holder}; another process is migrating this database. Wait for it to finish, or raise Policy::lock_timeout"
    )]
    LockTimeout {
        /// What was locked.
        what: String,
        /// Who holds it, as far as can be told.
        holder: String,
        /// How long this run waited.
        waited: Duration,
    },

    /// The database (or a file next to it) could not be used.
    #[error("{context}: {message}")]
    Database {
        /// What was being done.
        context: String,
        /// The driver's message.
        message: String,
    },
}

/// Every disagreement between a database's history and the embedded migrations, found
/// before anything is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryProblems(pub Vec<HistoryProblem>);

impl fmt::Display for HistoryProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the database's migration history does not match this binary ({count} problem{}); nothing was applied:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// One disagreement between the history and the embedded migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryProblem {
    /// An applied migration's file changed after it ran.
    Edited {
        /// The version.
        version: Version,
        /// The file.
        path: &'static str,
        /// What the database recorded.
        recorded: Checksum,
        /// What this binary has.
        embedded: Checksum,
    },
    /// The database applied a migration this binary does not have (an older binary on a newer database).
    Missing {
        /// The version.
        version: Version,
        /// The recorded checksum.
        recorded: Checksum,
    },
    /// A migration started outside a transaction and never finished.
    HalfApplied {
        /// The version.
        version: Version,
        /// The file (or the name, if the binary does not have it).
        path: String,
    },
    /// A seed started outside a transaction and never finished.
    HalfAppliedSeed {
        /// The version.
        version: Version,
        /// The file (or the version, if the binary does not have it).
        path: String,
    },
    /// A pending migration is older than the newest applied one.
    OutOfOrder {
        /// The version.
        version: Version,
        /// The file.
        path: &'static str,
        /// The newest version the database has applied.
        newest_applied: Version,
    },
    /// A history row whose checksum is not 64 hex digits.
    Unreadable {
        /// The version.
        version: Version,
        /// What the row holds.
        checksum: String,
    },
}

impl fmt::Display for HistoryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryProblem::Edited {
                version,
                path,
                recorded,
                embedded,
            } => write!(
                f,
                "{path} (version {version}) was edited after this database applied it: the database recorded sha256:{recorded}, this binary has sha256:{embedded}. {}",
                suggest::edited(*version)
            ),
            HistoryProblem::Missing { version, recorded } => write!(
                f,
                "version {version} (sha256:{recorded}) is applied in this database but is not in this binary: the binary is older than the database. Deploy the newer binary, or allow it with Policy::allow_missing(true)"
            ),
            HistoryProblem::HalfApplied { version, path } => write!(
                f,
                "{path} (version {version}) was started and never finished (the process died while it ran outside a transaction). Check which of its statements took effect, finish or undo them by hand, then mark it resolved with `{}`",
                suggest::resolve(*version)
            ),
            HistoryProblem::HalfAppliedSeed { version, path } => write!(
                f,
                "{path} (seed version {version}) was started and never finished (the process died while it ran outside a transaction). Check which of its rows went in, finish or undo them by hand, then mark it resolved with `{}`",
                suggest::resolve_seed(*version)
            ),
            HistoryProblem::OutOfOrder {
                version,
                path,
                newest_applied,
            } => write!(
                f,
                "{path} (version {version}) is pending, but this database already applied version {newest_applied}: it was probably merged from an older branch. Renumber it above {newest_applied}, or allow it with Policy::allow_out_of_order(true)"
            ),
            HistoryProblem::Unreadable { version, checksum } => write!(
                f,
                "the history row of version {version} holds `{checksum}`, which is not a SHA-256 checksum; the history table was edited by hand"
            ),
        }
    }
}

impl Error {
    /// A driver error with what was being done.
    pub(crate) fn database(context: impl Into<String>, error: impl fmt::Display) -> Self {
        Error::Database {
            context: context.into(),
            message: error.to_string(),
        }
    }
}

/// The commands messages suggest, written once so that each is a command the `db`
/// parser accepts (a test parses every one of them).
pub(crate) mod suggest {
    use crate::Version;

    /// Marks a half-applied migration resolved.
    pub(crate) fn resolve(version: Version) -> String {
        format!("db repair {version} --resolved --reason \"…\"")
    }

    /// Marks a half-applied seed resolved.
    pub(crate) fn resolve_seed(version: Version) -> String {
        format!("db repair {version} --seed --resolved --reason \"…\"")
    }

    /// The two ways to accept an edited applied migration, and the way not to need them.
    pub(crate) fn edited(version: Version) -> String {
        format!(
            "Restore the applied text and put the change in a new migration. If the edit is harmless on every database that ran it, record it for all of them with `db amend {version} --reason \"…\"`; for this database alone, after checking it, `db repair {version} --accept-checksum --reason \"…\"`"
        )
    }
}
