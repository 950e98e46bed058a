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

    /// A migration (or seed) that runs in a transaction ended that transaction itself
    /// (`COMMIT`, `END`, `ROLLBACK` in the file), so its history row was not written: the
    /// build refuses such a file, this is the runtime's second line of defence.
    #[error(
        "{path} (version {version}) ended the transaction it runs in (a COMMIT, END or ROLLBACK in the file), so it was not recorded as applied; what it did before that statement may be committed. Check what of it is in the database, start the file with `-- schema: no-transaction` so that it manages its own transaction (it is then recorded as started before it runs and finished after), and start again"
    )]
    TransactionEnded {
        /// The version.
        version: Version,
        /// The file.
        path: &'static str,
    },

    /// The connection to the server was lost while a migration (or seed) and its history
    /// row were being committed: the server may or may not have committed them.
    #[error(
        "the connection was lost while {path} (version {version}) was being applied ({message}), after the server may have received its commit: whether it was applied is not known here. Its history row is written in the same transaction, so the history tells: run `db status`. If it lists version {version} as applied, it committed whole; if it lists it as pending, nothing of it was kept. Then start again"
    )]
    OutcomeUnknown {
        /// The version.
        version: Version,
        /// The file.
        path: &'static str,
        /// What the driver said.
        message: String,
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

    /// The URL reaches PostgreSQL through a connection pooler in transaction mode
    /// (PgBouncer's `pool_mode = transaction`, Neon's `-pooler` host, Supabase's port
    /// 6543), found before the first migration ran: each transaction may run on another
    /// server session there, so the migration lock (a session's lock) cannot keep the
    /// other replicas out. The way out is a direct URL for migrations.
    #[error(
        "{target} is a connection pooler in transaction mode ({evidence}): each transaction may run on another server session, so the migration lock cannot keep other processes out, and nothing was migrated. Migrate over a direct connection to the server: set SCHEMA_DIRECT_URL (or DATABASE_URL_UNPOOLED) to its unpooled URL (Neon: the host without `-pooler`; Supabase: the direct host, or port 5432 instead of 6543), or use Policy::direct_url. The application keeps the pooled URL for its own queries"
    )]
    TransactionPooler {
        /// Where the connection went: host and port, never a password.
        target: String,
        /// What showed it.
        evidence: String,
    },

    /// The database (or a file next to it) could not be used.
    #[error("{context}: {message}")]
    Database {
        /// What was being done.
        context: String,
        /// The driver's message: the server's own text, without driver decoration.
        message: String,
        /// The server's SQLSTATE (PostgreSQL, MySQL) or SQLite's extended result code, when
        /// the server gave one.
        code: Option<String>,
        /// The driver's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// Another tool's migration history is in the database and none of this
    /// application's: starting would run again what that tool already ran.
    #[error(
        "this database has {tool}'s migration history ({table}) and none of this application's ({ours}): running the migrations would run again what {tool} already ran. Nothing was changed. Adopt the database once with `db baseline`, then start again"
    )]
    OtherToolsHistory {
        /// The tool (`sqlx`, `refinery`, `diesel`).
        tool: &'static str,
        /// Its history table.
        table: &'static str,
        /// This application's history table.
        ours: String,
    },

    /// A table with the history table's name exists but is not a history of this crate.
    #[error(
        "the table {table} is not a migration history of this library (reading it failed: {message}); another tool probably created it. Nothing was changed. Give this application's history another name with Policy::history_table(\"…\")"
    )]
    UnknownHistoryTable {
        /// The table.
        table: String,
        /// What reading it said.
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
    /// A driver error with what was being done, kept as the `source()`.
    pub(crate) fn database<E>(context: impl Into<String>, error: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let (message, code) = describe(&error);
        Error::Database {
            context: context.into(),
            message,
            code,
            source: Some(Box::new(error)),
        }
    }

    /// A failure that has a message and no driver error behind it.
    pub(crate) fn database_message(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Database {
            context: context.into(),
            message: message.into(),
            code: None,
            source: None,
        }
    }

    /// The server's SQLSTATE (or SQLite's extended result code) behind this error, if any.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")] {
    /// use schema_runtime::{Environment, Migrator, Migrations, Policy};
    ///
    /// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
    /// let conn = schema_runtime::rusqlite::Connection::open_in_memory().unwrap();
    /// conn.execute_batch("CREATE TABLE schema_history (id INTEGER)").unwrap();
    /// let mut conn = conn;
    /// let error = Migrator::with_policy(&MIGRATIONS, Policy::new(Environment::Test))
    ///     .run(&mut conn)
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("is not a migration history of this library"));
    /// # }
    /// ```
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Database { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// The message and code of a driver error: for a server's error its own text (sqlx's
/// `Display` of a PostgreSQL error appends the server's internal source line).
fn describe(error: &(dyn std::error::Error + 'static)) -> (String, Option<String>) {
    #[cfg(feature = "async-runner")]
    if let Some(sqlx::Error::Database(database)) = error.downcast_ref::<sqlx::Error>() {
        return (
            database.message().to_owned(),
            database.code().map(|c| c.into_owned()),
        );
    }
    #[cfg(feature = "rusqlite")]
    if let Some(rusqlite::Error::SqliteFailure(failure, _)) =
        error.downcast_ref::<rusqlite::Error>()
    {
        return (error.to_string(), Some(failure.extended_code.to_string()));
    }
    (error.to_string(), None)
}

/// Whether reading a history table failed because its columns are not ours.
pub(crate) fn is_unknown_column(error: &Error) -> bool {
    match error {
        Error::Database {
            code,
            message,
            source,
            ..
        } => {
            // A column the decoder asked for is missing or of another type.
            #[cfg(feature = "async-runner")]
            if let Some(sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnDecode { .. }) = source
                .as_deref()
                .and_then(|s| s.downcast_ref::<sqlx::Error>())
            {
                return true;
            }
            let _ = source;
            // PostgreSQL undefined_column, MySQL ER_BAD_FIELD_ERROR; SQLite says it in words.
            matches!(code.as_deref(), Some("42703" | "42S22")) || message.contains("no such column")
        }
        _ => false,
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

    /// Marks a half-applied history row of `kind` (migration or seed) resolved.
    #[cfg(feature = "cli")]
    pub(crate) fn resolve_row(kind: &str, version: Version) -> String {
        if kind == crate::sql_text::kind::SEED {
            resolve_seed(version)
        } else {
            resolve(version)
        }
    }

    /// The two ways to accept an edited applied migration, and the way not to need them.
    pub(crate) fn edited(version: Version) -> String {
        format!(
            "Restore the applied text and put the change in a new migration. If the edit is harmless on every database that ran it, record it for all of them with `db amend {version} --reason \"…\"`; for this database alone, after checking it, `db repair {version} --accept-checksum --reason \"…\"`"
        )
    }
}
