//! The `db` command (feature `cli`): what teams run by hand and in deploy pipelines,
//! working on the migrations compiled into the very binary that runs it.
//!
//! ```no_run
//! use schema_runtime::Migrations;
//! use schema_runtime::cli::Cli;
//!
//! static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
//!
//! fn main() -> std::process::ExitCode {
//!     let args: Vec<String> = std::env::args().skip(1).collect();
//!     if args.first().map(String::as_str) == Some("db") {
//!         // `my-app db status`, `my-app db migrate`, …
//!         return Cli::new(&MIGRATIONS)
//!             .default_database_url("sqlite:app.db")
//!             .run_from(args);
//!     }
//!     // … the application itself …
//!     std::process::ExitCode::SUCCESS
//! }
//! ```
//!
//! | Command | What it does |
//! |---------|--------------|
//! | `status [--json]` | environment, app and database versions, every migration and seed with its state, the live schema |
//! | `plan [--to V] [--json]` | the SQL that would run, in order; changes nothing |
//! | `migrate [--to V] [--yes]` | apply pending migrations (asks first on a terminal in production) |
//! | `seed` | apply pending migrations and seeds; development only |
//! | `down [--to V]` | revert the newest migration (or every one above `V`) with its down file |
//! | `redo` | `down`, then apply it again |
//! | `create` | create the URL's database if missing (a server's, or an empty SQLite file); exit 0 if it exists |
//! | `reset` | drop everything in the database, migrate (and seed in development with `SEED_DB=true`); refused in production and on a production-stamped database, with no override |
//! | `new NAME [--down]` | a timestamped migration file in the source folder |
//! | `lock` | write `migrations.lock` for every migration of the binary |
//! | `amend VERSION --reason TEXT` | accept an edited locked migration, with a trail |
//! | `verify [--pending-ok] [--json]` | exit 1 on any difference between database, binary, lock and schema fingerprint |
//! | `baseline [--version V]` | adopt a database managed by sqlx, refinery or diesel (or built by hand), running nothing again |
//! | `import-diesel FOLDER [--into DIR] [--dialect D]` | diesel's migrations folder as migration files, with the versions `baseline` matches to diesel's history; no database |
//! | `drift [--json] [--accept --reason TEXT]` | the live schema against what the migrations left; exit 1 if it differs |
//! | `repair VERSION (--resolved \| --accept-checksum) --reason TEXT` | audited fixes |
//!
//! Exit codes: 0 done (or no difference), 1 a check or a migration failed, 2 a usage or
//! environment error (including a refusal to touch production). Results go to stdout;
//! progress, warnings and errors to stderr. The URL comes from `--database-url` or
//! `DATABASE_URL`; its password is never printed. With a direct URL (`SCHEMA_DIRECT_URL`,
//! else `DATABASE_URL_UNPOOLED`, or the migrator's `Policy::direct_url`) a command on a
//! server works on that URL instead: the other may go through a connection pooler, where
//! the migration lock cannot hold.
//!
//! # JSON
//!
//! `status`, `plan`, `verify` and `drift` print with `--json` one of the types of
//! [`json`]: [`json::Status`], [`json::Plan`], [`json::Verify`] and [`json::Drift`], whose
//! field names are the keys. Fields are only ever added, never renamed or removed.

/// `println!` for what a command prints: a reader that closed the output (`| head`)
/// ends the command quietly (see `output::write_out`).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*), true)?
    };
}

/// `print!` for what a command prints, as [`say!`].
macro_rules! say_part {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*), false)?
    };
}

mod adopt;
mod args;
mod console;
mod create;
mod diesel;
mod down;
mod drift;
mod files;
mod inspect;
pub mod json;
mod migrate;
mod output;
mod progress;
mod repair;
mod reset;
mod restore;
mod session;
mod status;
mod verify;
mod write;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

pub use self::args::{Command, DbCommand};
use self::session::Session;
use crate::sql_text::kind;
use crate::{Migrations, Migrator, Policy, Version};

/// Runs the `db` command for an application's embedded migrations.
///
/// Build it from the application's own [`Migrator`] ([`Cli::from_migrator`]) so that the
/// command uses the application's table names, timeouts, backup command and session
/// settings; [`Cli::new`] reads the policy from the environment instead.
#[derive(Clone, Debug)]
pub struct Cli {
    migrations: &'static Migrations,
    migrator: Option<Migrator>,
    default_url: Option<String>,
}

/// Why a command stopped: the exit code and what to say.
struct Failure {
    code: u8,
    message: String,
}

/// The exit code of a command whose output went to a reader that stopped reading
/// (`db status | head`): it did its work, and says nothing more.
const OUTPUT_CLOSED: u8 = 0;

impl Failure {
    /// Standard output was closed by its reader.
    fn output_closed() -> Self {
        Failure {
            code: OUTPUT_CLOSED,
            message: String::new(),
        }
    }

    fn check(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(error: crate::Error) -> Self {
        let code = match error {
            crate::Error::InvalidEnvironment { .. }
            | crate::Error::InvalidSeedDb { .. }
            | crate::Error::InvalidSetting { .. }
            | crate::Error::InvalidIdentifier { .. }
            | crate::Error::EnvironmentMismatch { .. }
            | crate::Error::TransactionPooler { .. } => 2,
            _ => 1,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

type Outcome = Result<u8, Failure>;

impl Cli {
    /// The command for `migrations`, with the policy of the process environment
    /// ([`Policy::from_env`]) read when a command runs.
    pub fn new(migrations: &'static Migrations) -> Self {
        Cli {
            migrations,
            migrator: None,
            default_url: None,
        }
    }

    /// The command for the application's own migrator: its migrations and its whole
    /// policy (history and metadata table names, lock timeout, backup command, session
    /// settings, environment), so that `db` sees the database exactly as startup does.
    ///
    /// ```no_run
    /// use schema_runtime::{Migrations, Migrator, Policy, cli::Cli};
    ///
    /// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
    ///
    /// # fn main() -> Result<(), schema_runtime::Error> {
    /// let policy = Policy::from_env(&MIGRATIONS)?.history_table("app_history")?;
    /// let migrator = Migrator::with_policy(&MIGRATIONS, policy);
    /// let code = Cli::from_migrator(migrator).run_from(["db", "status"]);
    /// # let _ = code;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_migrator(migrator: Migrator) -> Self {
        Cli {
            migrations: migrator.migrations(),
            migrator: Some(migrator),
            default_url: None,
        }
    }

    /// The database used when neither `--database-url` nor `DATABASE_URL` is given.
    pub fn default_database_url(mut self, url: impl Into<String>) -> Self {
        self.default_url = Some(url.into());
        self
    }

    /// Like [`run_from`](Self::run_from), for an application that already runs tokio
    /// (`#[tokio::main]`): the command runs on a thread of its own, with a runtime of its
    /// own for the servers, and this future completes with its exit code. The
    /// application's runtime is never blocked.
    ///
    /// ```no_run
    /// use schema_runtime::{Migrations, cli::Cli};
    ///
    /// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
    ///
    /// #[tokio::main]
    /// async fn main() -> std::process::ExitCode {
    ///     let args: Vec<String> = std::env::args().skip(1).collect();
    ///     if args.first().map(String::as_str) == Some("db") {
    ///         return Cli::new(&MIGRATIONS).run_from_async(args).await;
    ///     }
    ///     std::process::ExitCode::SUCCESS
    /// }
    /// ```
    #[cfg(feature = "async-runner")]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(
            feature = "sqlx-postgres",
            feature = "sqlx-mysql",
            feature = "sqlx-sqlite"
        )))
    )]
    pub async fn run_from_async<I, T>(&self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let cli = self.clone();
        let (done, finished) = tokio::sync::oneshot::channel();
        // A plain thread, not `spawn_blocking`: the command's own runtime may not be
        // started from a thread that belongs to the application's.
        let spawned = std::thread::Builder::new()
            .name("db-command".to_owned())
            .spawn(move || {
                let _ = done.send(cli.run_from(args));
            });
        if let Err(error) = spawned {
            eprintln!("error: cannot start the db command's thread: {error}");
            return ExitCode::from(1);
        }
        finished.await.unwrap_or_else(|_| {
            eprintln!("error: the db command stopped without an exit code");
            ExitCode::from(1)
        })
    }

    /// Parses `args` (starting with the command's own name, `db`) and runs them.
    ///
    /// This blocks the thread; inside a tokio runtime (`#[tokio::main]`) use
    /// [`run_from_async`](Self::run_from_async), which this tells you with exit code 2
    /// rather than blocking the runtime.
    pub fn run_from<I, T>(&self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let name = match self.migrations.app_name() {
            "" => "db".to_owned(),
            app => format!("{app} db"),
        };
        let parsed = DbCommand::command()
            .bin_name(name)
            .try_get_matches_from(args)
            .and_then(|matches| DbCommand::from_arg_matches(&matches));
        match parsed {
            Ok(command) => self.run(command),
            Err(error) => {
                let _ = error.print();
                ExitCode::from(if error.use_stderr() { 2 } else { 0 })
            }
        }
    }

    /// Runs a parsed command (blocking: see [`run_from`](Self::run_from)).
    pub fn run(&self, command: DbCommand) -> ExitCode {
        #[cfg(feature = "async-runner")]
        if tokio::runtime::Handle::try_current().is_ok() {
            eprintln!(
                "error: the db command was run blocking inside a tokio runtime, which it would block; call `Cli::run_from_async(args).await` there instead. Nothing was changed"
            );
            return ExitCode::from(2);
        }
        match self.dispatch(command) {
            Ok(code) => ExitCode::from(code),
            Err(failure) if failure.message.is_empty() => ExitCode::from(failure.code),
            Err(failure) => {
                eprintln!("error: {}", failure.message);
                ExitCode::from(failure.code)
            }
        }
    }

    fn dispatch(&self, command: DbCommand) -> Outcome {
        let url = command
            .database_url
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
            .or_else(|| self.default_url.clone());
        let policy = || match &self.migrator {
            Some(migrator) => Ok(migrator.policy().clone()),
            None => Policy::from_env(self.migrations).map_err(Failure::from),
        };
        let url = || {
            url.clone().ok_or_else(|| {
                Failure::usage("no database: set DATABASE_URL or pass --database-url")
            })
        };
        let missing = match command.command {
            Command::Migrate { .. } | Command::Seed => console::Missing::Create,
            Command::Status { .. }
            | Command::Plan { .. }
            | Command::Verify { .. }
            | Command::Drift { accept: false, .. } => console::Missing::Empty,
            _ => console::Missing::Refuse,
        };
        let session = |policy: Policy| -> Result<Session, Failure> {
            let url = console::direct_or(url()?, &policy);
            Session::open(self.migrations, policy, url, missing)
        };
        match command.command {
            Command::Status { json } => session(policy()?)?.status(json),
            Command::Plan { to, json } => session(policy()?)?.plan(to.map(Version::new), json),
            Command::Migrate { to, yes } => session(policy()?)?.migrate(to.map(Version::new), yes),
            Command::Seed => {
                let policy = policy()?.with_seeds(true);
                if !policy.runs_seeds() {
                    return Err(Failure::usage(format!(
                        "refusing to seed: seeds run only in development, and this is {} ({}). Seed data never reaches other environments",
                        policy.environment(),
                        policy.environment_source()
                    )));
                }
                session(policy)?.migrate(None, true)
            }
            Command::Down {
                to,
                confirm_production,
            } => session(policy()?)?.down(to.map(Version::new), confirm_production.as_deref()),
            Command::Redo { confirm_production } => {
                session(policy()?)?.redo(confirm_production.as_deref())
            }
            Command::Create => create::create(self.migrations, policy()?, &url()?),
            Command::Reset => {
                let policy = policy()?;
                reset::refuse_production_run(&policy)?;
                session(policy)?.reset()
            }
            Command::New { name, down } => files::new_migration(self.migrations, &name, down),
            Command::Lock => files::write_lock(self.migrations),
            Command::Amend { version, reason } => {
                files::amend(self.migrations, Version::new(version), &reason)
            }
            Command::Backup => session(policy()?)?.backup(),
            Command::Restore {
                file,
                confirm_production,
            } => session(policy()?)?.restore(&file, confirm_production.as_deref()),
            Command::Verify { pending_ok, json } => session(policy()?)?.verify(pending_ok, json),
            Command::Baseline { version } => {
                session(policy()?)?.baseline(version.map(Version::new))
            }
            Command::ImportDiesel {
                folder,
                into,
                dialect,
            } => diesel::import(self.migrations, &folder, into.as_deref(), &dialect),
            Command::Drift {
                json,
                accept,
                reason,
            } => session(policy()?)?.drift_command(json, accept, reason.as_deref()),
            Command::Repair {
                version,
                seed,
                resolved,
                accept_checksum: _,
                reason,
                confirm_production,
            } => session(policy()?)?.repair(
                Version::new(version),
                if seed { kind::SEED } else { kind::MIGRATION },
                resolved,
                &reason,
                confirm_production.as_deref(),
            ),
        }
    }
}

pub use crate::redact_url as redact;
