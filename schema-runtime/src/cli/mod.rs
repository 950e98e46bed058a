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
//! | `new NAME [--down]` | a timestamped migration file in the source folder |
//! | `lock` | write `migrations.lock` for every migration of the binary |
//! | `amend VERSION --reason TEXT` | accept an edited locked migration, with a trail |
//! | `verify [--pending-ok] [--json]` | exit 1 on any difference between database, binary, lock and schema fingerprint |
//! | `baseline [--version V]` | adopt a database managed by sqlx, refinery or diesel (or built by hand), running nothing again |
//! | `drift [--json] [--accept --reason TEXT]` | the live schema against what the migrations left; exit 1 if it differs |
//! | `repair VERSION (--resolved \| --accept-checksum) --reason TEXT` | audited fixes |
//!
//! Exit codes: 0 done (or no difference), 1 a check or a migration failed, 2 a usage or
//! environment error (including a refusal to touch production). Results go to stdout;
//! progress, warnings and errors to stderr. The URL comes from `--database-url` or
//! `DATABASE_URL`; its password is never printed.
//!
//! # JSON
//!
//! `status --json`:
//! `{"environment": {"name", "source"}, "database": {"url", "backend", "stamp"},
//! "app": {"name", "version"}, "database_version": {"version", "app_version"} | null,
//! "migrations": [entry], "seeds": [entry], "schema": [{"table", "rows", "foreign_keys",
//! "indexes"}], "drift": null (no fingerprint) | [difference as in `drift --json`]}` where an entry is `{"version", "name", "path", "state", "checksum",
//! "recorded_checksum", "applied_at", "applied_by", "app_version", "environment",
//! "execution_ms", "note"}` (the recorded fields `null` when not applied) and `state` is one of
//! `applied`, `amended`, `pending`, `edited`, `missing`, `half-applied`.
//!
//! `plan --json`: `{"environment", "steps": [{"kind", "version", "name", "path",
//! "transaction", "sql"}]}`.
//!
//! `verify --json`: `{"ok", "differences": [{"kind", "version", "name", "message"}]}`
//! where `kind` is `pending`, `edited`, `missing`, `half-applied`, `environment`,
//! `unlocked` or `drift`.
//!
//! `drift --json`: `{"ok", "fingerprint" (whether one is recorded), "recorded_after",
//! "recorded_at", "differences": [{"change", "object", "recorded", "live", "message"}]}`
//! where `change` is `added`, `removed`, `changed`, `table added` or `table removed`.
//!
//! Fields are only ever added, never renamed or removed.

mod adopt;
mod console;
mod drift;
mod inspect;
mod restore;
mod write;

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use schema_core::{Lock, LockEntry};
use serde_json::{Value as Json, json};

use self::console::{Console, Param};
use self::inspect::{Entry, Recorded, State};
use crate::error::suggest;
use crate::plan::{History, RowKind};
use crate::sql_text::{Dialect, kind, state};
use crate::{Checksum, Environment, Migrations, Migrator, Policy, Version};

/// The `db` command of an application.
#[derive(Debug, Parser)]
#[command(
    name = "db",
    about = "Inspect, migrate, verify and repair the application's database",
    disable_version_flag = true
)]
pub struct DbCommand {
    /// The database (`sqlite:path`, `postgres://…`, `mysql://…`); default `DATABASE_URL`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The environment, app and database versions, each migration and seed, the schema.
    Status {
        /// Print JSON (see the module documentation for its shape).
        #[arg(long)]
        json: bool,
    },
    /// The SQL that `migrate` would run, in order. Changes nothing.
    Plan {
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations.
    Migrate {
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// Do not ask for confirmation (production on a terminal asks).
        #[arg(long)]
        yes: bool,
    },
    /// Apply pending migrations and seeds (development only).
    Seed,
    /// Revert the newest migration, or every migration above `--to`, with its down file.
    Down {
        /// Revert every applied migration above this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Revert the newest migration and apply it again.
    Redo {
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Create a timestamped migration file in the source folder.
    New {
        /// The migration's name: letters, digits and `_`.
        name: String,
        /// Create a down file beside it.
        #[arg(long)]
        down: bool,
    },
    /// Write `migrations.lock` for every migration of this binary.
    Lock,
    /// Accept the edited file of a locked migration, recording why in the lock.
    Amend {
        /// The migration's version.
        version: u64,
        /// Why the change is safe for every database that ran the old text.
        #[arg(long)]
        reason: String,
    },
    /// Back the database up now: SQLite into `backups/` beside it, a server with
    /// `SCHEMA_BACKUP_COMMAND`.
    Backup,
    /// Replace the SQLite database with a backup, after checking the backup's integrity;
    /// the database it replaces is kept in `backups/`.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Compare the database with this binary and the lock; exit 1 on any difference.
    Verify {
        /// Do not count pending migrations (the check before `migrate` in a pipeline).
        #[arg(long)]
        pending_ok: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take over a database that sqlx, refinery or diesel managed (or one built by hand,
    /// with `--version`) without running again what it already has.
    Baseline {
        /// The database was built by hand: the newest migration of this binary it has.
        #[arg(long, value_name = "VERSION")]
        version: Option<u64>,
    },
    /// Compare the live schema with what the migrations left; exit 1 if it differs.
    Drift {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Record the live schema as what the migrations left (after checking it).
        #[arg(long, requires = "reason")]
        accept: bool,
        /// With `--accept`: who checked what, for the history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark a half-applied migration resolved, or accept an edited one's checksum.
    Repair {
        /// The migration's (or with `--seed`, the seed's) version.
        version: u64,
        /// Repair a seed's row rather than a migration's.
        #[arg(long)]
        seed: bool,
        /// The half-applied migration was checked and completed (or undone) by hand.
        #[arg(
            long,
            conflicts_with = "accept_checksum",
            required_unless_present = "accept_checksum"
        )]
        resolved: bool,
        /// The edited migration was checked: record the binary's checksum.
        #[arg(long)]
        accept_checksum: bool,
        /// Who checked what, for the history.
        #[arg(long)]
        reason: String,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
}

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

impl Failure {
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
            | crate::Error::EnvironmentMismatch { .. } => 2,
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
            let url = url()?;
            let mut console = console::open(&url, missing).map_err(Failure::usage)?;
            if let Some(sql) = policy.session_sql() {
                console.script(sql).map_err(|e| {
                    Failure::usage(format!(
                        "the session settings failed on {}: {e}",
                        redact(&url)
                    ))
                })?;
            }
            Ok(Session {
                migrator: Migrator::with_policy(self.migrations, policy),
                url,
                console,
            })
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
            Command::New { name, down } => new_migration(self.migrations, &name, down),
            Command::Lock => write_lock(self.migrations),
            Command::Amend { version, reason } => {
                amend(self.migrations, Version::new(version), &reason)
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

/// The database's own name, as an operator types it to confirm: the SQLite file's name,
/// or the server database's.
fn database_name(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    if let Some(path) = without_query
        .strip_prefix("sqlite://")
        .or_else(|| without_query.strip_prefix("sqlite:"))
    {
        return Path::new(path)
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
    }
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, r)| r);
    after_scheme
        .split_once('/')
        .map(|(_, db)| db.to_owned())
        .unwrap_or_default()
}

/// Columns padded to their widest cell; the last column is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A difference `db verify` reports.
struct Difference {
    kind: &'static str,
    version: Option<Version>,
    name: String,
    message: String,
}

/// An open database with the migrator of this run.
struct Session {
    migrator: Migrator,
    url: String,
    console: Box<dyn Console>,
}

impl Session {
    fn migrations(&self) -> &'static Migrations {
        self.migrator.migrations()
    }

    fn policy(&self) -> &Policy {
        self.migrator.policy()
    }

    fn backend(&self) -> &'static str {
        match self.console.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    fn recorded(&mut self) -> Result<Recorded, Failure> {
        Ok(inspect::recorded(
            self.console.as_mut(),
            self.migrator.policy(),
        )?)
    }

    fn status(mut self, as_json: bool) -> Outcome {
        let recorded = self.recorded()?;
        let entries = inspect::entries(self.migrations(), &recorded);
        let policy = self.policy();
        let own = [
            policy.history_table.table().to_owned(),
            policy.meta_table.table().to_owned(),
        ];
        let schema: Vec<_> = inspect::schema(self.console.as_mut())?
            .into_iter()
            .filter(|t| !own.contains(&t.name))
            .collect();
        let found = self.drift()?;
        let newest = recorded.newest_migration();
        let migrations = self.migrations();
        let policy = self.policy();
        if as_json {
            let entry = |e: &Entry| {
                json!({
                    "version": e.version.get(),
                    "name": e.name,
                    "path": e.path,
                    "state": e.state.key(),
                    "checksum": e.checksum.map(|c| c.to_string()),
                    "recorded_checksum": e.row.as_ref().map(|r| r.checksum.clone()),
                    "applied_at": e.row.as_ref().map(|r| r.applied_at.clone()),
                    "applied_by": e.row.as_ref().map(|r| r.applied_by.clone()),
                    "app_version": e.row.as_ref().map(|r| r.app_version.clone()),
                    "environment": e.row.as_ref().map(|r| r.environment.clone()),
                    "execution_ms": e.row.as_ref().map(|r| r.execution_ms),
                    "note": e.row.as_ref().and_then(|r| r.note.clone()),
                })
            };
            print_json(&json!({
                "environment": {
                    "name": policy.environment().as_str(),
                    "source": policy.environment_source().to_string(),
                },
                "database": {
                    "url": redact(&self.url),
                    "backend": self.backend(),
                    "stamp": recorded.stamp,
                },
                "app": {"name": migrations.app_name(), "version": migrations.app_version()},
                "database_version": newest.map(|row| json!({
                    "version": row.version as u64,
                    "app_version": row.app_version,
                })),
                "migrations": entries.iter().filter(|e| e.kind == kind::MIGRATION).map(entry).collect::<Vec<_>>(),
                "seeds": entries.iter().filter(|e| e.kind == kind::SEED).map(entry).collect::<Vec<_>>(),
                "schema": schema.iter().map(|t| json!({
                    "table": t.name,
                    "rows": t.rows,
                    "foreign_keys": t.foreign_keys,
                    "indexes": t.indexes,
                })).collect::<Vec<_>>(),
                "drift": match &found {
                    drift::Found::Nothing => Json::Null,
                    drift::Found::Same { .. } => json!([]),
                    drift::Found::Drift(d) => d.differences.iter().map(drift::difference_json).collect(),
                },
            }));
            return Ok(0);
        }

        let stamp = match &recorded.stamp {
            Some(stamp) => format!("stamped {stamp}"),
            None => "not stamped yet".to_owned(),
        };
        let database_version = match newest {
            Some(row) => format!(
                "{} (applied by {} {})",
                row.version as u64,
                migrations.app_name(),
                row.app_version
            ),
            None => "none".to_owned(),
        };
        let binary_version = migrations
            .latest_version()
            .map_or_else(|| "none".to_owned(), |v| v.to_string());
        print!(
            "{}",
            table(
                &["", ""],
                &[
                    vec![
                        "environment".into(),
                        format!("{} ({})", policy.environment(), policy.environment_source())
                    ],
                    vec![
                        "database".into(),
                        format!("{} ({}, {stamp})", redact(&self.url), self.backend())
                    ],
                    vec![
                        "app version".into(),
                        format!(
                            "{} {}, newest migration {binary_version}",
                            migrations.app_name(),
                            migrations.app_version()
                        )
                    ],
                    vec!["database version".into(), database_version],
                ]
            )
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
        );
        for (title, which) in [("migrations", kind::MIGRATION), ("seeds", kind::SEED)] {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .filter(|e| e.kind == which)
                .map(|e| {
                    let row = e.row.as_ref();
                    vec![
                        e.version.to_string(),
                        e.name.clone(),
                        e.state.as_str().to_owned(),
                        row.map(|r| r.applied_at.clone()).unwrap_or_default(),
                        row.map(|r| r.applied_by.clone()).unwrap_or_default(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            println!("\n{title}:");
            print!(
                "{}",
                table(&["VERSION", "NAME", "STATE", "APPLIED AT", "BY"], &rows)
            );
        }
        let count = |state: State| {
            entries
                .iter()
                .filter(|e| e.kind == kind::MIGRATION && e.state == state)
                .count()
        };
        println!(
            "\n{} applied, {} pending, {} edited, {} missing, {} half-applied",
            count(State::Applied) + count(State::Amended),
            count(State::Pending),
            count(State::Edited),
            count(State::Missing),
            count(State::HalfApplied)
        );
        println!("\nschema:");
        if schema.is_empty() {
            println!("no tables");
        } else {
            let rows: Vec<Vec<String>> = schema
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.rows.to_string(),
                        t.foreign_keys.to_string(),
                        t.indexes.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["TABLE", "ROWS", "FOREIGN KEYS", "INDEXES"], &rows)
            );
        }
        match found {
            drift::Found::Nothing => {
                println!("\ndrift: not compared (no fingerprint recorded yet)")
            }
            drift::Found::Same { .. } => println!("\ndrift: none"),
            drift::Found::Drift(d) => {
                println!(
                    "\ndrift: {} difference(s) from what the migrations left (`db drift`):",
                    d.differences.len()
                );
                for difference in &d.differences {
                    println!("  {difference}");
                }
            }
        }
        Ok(0)
    }

    /// The planner's view of the recorded history.
    fn history(recorded: &Recorded) -> History {
        let mut history = History {
            stamp: recorded.stamp.clone(),
            ..History::default()
        };
        for row in &recorded.rows {
            let Some(kind) = RowKind::from_column(row.kind.as_bytes()) else {
                continue;
            };
            history.push(
                kind,
                Version::new(row.version as u64),
                row.checksum.as_bytes(),
                row.state != state::STARTED,
            );
        }
        history
    }

    fn plan(mut self, target: Option<Version>, as_json: bool) -> Outcome {
        let recorded = self.recorded()?;
        let history = Self::history(&recorded);
        self.migrator.check_stamp(&history)?;
        let plan = self.migrator.plan(&history, target)?;
        let mut steps = Vec::new();
        for migration in &plan.pending {
            steps.push((
                kind::MIGRATION,
                migration.version(),
                migration.name(),
                migration.path(),
                migration.transaction(),
                migration.sql(),
            ));
        }
        for seed in &plan.seeds {
            steps.push((
                kind::SEED,
                seed.version(),
                seed.name(),
                seed.path(),
                seed.transaction(),
                seed.sql(),
            ));
        }
        if as_json {
            print_json(&json!({
                "environment": self.policy().environment().as_str(),
                "steps": steps.iter().map(|(kind, version, name, path, transaction, sql)| json!({
                    "kind": kind,
                    "version": version.get(),
                    "name": name,
                    "path": path,
                    "transaction": transaction,
                    "sql": sql,
                })).collect::<Vec<_>>(),
            }));
            return Ok(0);
        }
        if steps.is_empty() {
            println!("-- nothing to run: the database is up to date");
        }
        for (kind, version, _, path, transaction, sql) in &steps {
            println!(
                "-- {kind} {version}: {path}{}",
                if *transaction {
                    ""
                } else {
                    " (outside a transaction)"
                }
            );
            println!("{}\n", sql.trim_end());
        }
        Ok(0)
    }

    fn migrate(mut self, target: Option<Version>, yes: bool) -> Outcome {
        if self.policy().environment() == Environment::Production
            && !yes
            && std::io::stdin().is_terminal()
        {
            let recorded = self.recorded()?;
            let plan = self.migrator.plan(&Self::history(&recorded), target)?;
            if plan.pending.is_empty() {
                println!("nothing to apply: the database is up to date");
                return Ok(0);
            }
            eprintln!(
                "about to apply {} migration(s) to the production database {}:",
                plan.pending.len(),
                redact(&self.url)
            );
            for migration in &plan.pending {
                eprintln!("  {}", migration.path());
            }
            eprint!("type yes to go on: ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            if answer.trim() != "yes" {
                return Err(Failure::usage("not confirmed; nothing was changed"));
            }
        }
        eprintln!(
            "migrating {} ({} migrations in this binary)…",
            redact(&self.url),
            self.migrations().migrations().len()
        );
        let report = self.console.migrate(&self.migrator, target)?;
        print!("{report}");
        Ok(0)
    }

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

    fn down(mut self, target: Option<Version>, confirm: Option<&str>) -> Outcome {
        self.locked(|session, recorded| {
            session.guard_production(recorded.stamp.as_deref(), "revert migrations", confirm)?;
            let reverts = session.reverts(&recorded, target)?;
            if reverts.is_empty() {
                println!("nothing to revert");
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

    /// Runs `migration`'s down file and removes its history row (one transaction where
    /// the server's DDL is transactional), recording the revert in the history.
    fn revert(&mut self, migration: &'static crate::Migration) -> Result<(), Failure> {
        let down = migration.down().expect("checked by reverts");
        let dialect = self.console.dialect();
        let statements = self.migrator.statements(dialect);
        let transactional = down.transaction() && dialect.transactional_ddl();
        let version = crate::migrator::version_to_sql(migration.version());
        let delete = format!(
            "DELETE FROM {} WHERE kind = '{}' AND version = {}",
            statements.history_table,
            kind::MIGRATION,
            dialect.placeholder(1)
        );
        let audit = self.migrator.audit();
        let mut row = audit.row(
            kind::REVERT,
            migration.version(),
            migration.name(),
            migration.checksum(),
            true,
        );
        row.note = Some(format!("reverted with {}", down.path()));
        let started = std::time::Instant::now();
        let steps = |console: &mut dyn Console| -> Result<(), crate::Error> {
            console
                .script(down.sql())
                .map_err(|e| crate::Error::Migration {
                    version: migration.version(),
                    path: down.path(),
                    message: e.to_string(),
                    in_transaction: transactional,
                    whole_run: false,
                })?;
            console.execute(&delete, &[Param::Integer(version)])?;
            console.execute(&statements.insert, &row.binds())
        };
        if transactional {
            console::in_transaction(self.console.as_mut(), steps)?;
        } else {
            // Outside a transaction (a `no-transaction` down file, or any down file on
            // MySQL/MariaDB, whose DDL commits as it goes) the migration is marked started
            // first, like a non-transactional up: a down that fails half-way leaves it
            // half-applied by name, for `db status`, startup and `db repair`.
            let mark = format!(
                "UPDATE {} SET state = '{}' WHERE kind = '{}' AND version = {}",
                statements.history_table,
                state::STARTED,
                kind::MIGRATION,
                dialect.placeholder(1)
            );
            self.console.execute(&mark, &[Param::Integer(version)])?;
            steps(self.console.as_mut())?;
        }
        println!(
            "reverted {} with {} ({})",
            migration.path(),
            down.path(),
            crate::report::milliseconds(started.elapsed())
        );
        if self.policy().writes_dev_lock() {
            self.unlock(migration);
        }
        Ok(())
    }

    /// In development, drops a reverted migration from the lock so its draft can change.
    fn unlock(&self, migration: &crate::Migration) {
        let path = self.migrations().lock_path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let Ok(mut lock) = Lock::parse(&text) else {
            eprintln!(
                "warning: {} does not parse; version {} was left in it",
                path.display(),
                migration.version()
            );
            return;
        };
        if lock.remove(migration.version()).is_some() {
            match crate::devlock::write_atomically(&path, &lock.render()) {
                Ok(()) => println!(
                    "removed version {} from {}: fix the draft and apply it again",
                    migration.version(),
                    path.display()
                ),
                Err(error) => eprintln!("warning: {} was not updated: {error}", path.display()),
            }
        }
    }

    fn redo(mut self, confirm: Option<&str>) -> Outcome {
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
            println!("nothing to redo: no migration is applied");
            return Ok(0);
        };
        // The runner takes the lock again itself, and reads the history again under it.
        let report = self
            .console
            .migrate(&self.migrator, Some(migration.version()))?;
        print!("{report}");
        Ok(0)
    }

    fn backup(mut self) -> Outcome {
        let recorded = self.recorded()?;
        let version = recorded
            .newest_migration()
            .map(|row| Version::new(row.version as u64));
        let keep = self.policy().backups_kept();
        #[cfg(feature = "rusqlite")]
        if let Some(conn) = self.console.sqlite() {
            let path = crate::backup::sqlite(conn, keep, version, "").map_err(Failure::check)?;
            println!("backed up {} to {}", redact(&self.url), path.display());
            return Ok(0);
        }
        let _ = keep;
        match self.policy().server_backup() {
            Some((command, url)) => {
                let name = crate::backup::command(command, url, version).map_err(Failure::check)?;
                println!(
                    "backed up {} with SCHEMA_BACKUP_COMMAND ({name})",
                    redact(&self.url)
                );
                Ok(0)
            }
            None => Err(Failure::usage(
                "a server is backed up by a command of yours: set SCHEMA_BACKUP_COMMAND (for example pg_dump --format=custom --file=\"backups/$SCHEMA_BACKUP_NAME\" \"$DATABASE_URL\"); it receives the URL in DATABASE_URL",
            )),
        }
    }

    fn differences(&mut self, pending_ok: bool) -> Result<Vec<Difference>, Failure> {
        let recorded = self.recorded()?;
        let entries = inspect::entries(self.migrations(), &recorded);
        let mut differences = Vec::new();
        if let Some(stamp) = &recorded.stamp
            && stamp != self.policy().environment().as_str()
        {
            differences.push(Difference {
                kind: "environment",
                version: None,
                name: String::new(),
                message: format!(
                    "the database belongs to the {stamp} environment, but this run is {} ({})",
                    self.policy().environment(),
                    self.policy().environment_source()
                ),
            });
        }
        for entry in &entries {
            if !entry.state.differs() || (entry.kind == kind::SEED && entry.state == State::Pending)
            {
                continue;
            }
            let path = entry.path.unwrap_or_default();
            let recorded_checksum = entry
                .row
                .as_ref()
                .map(|r| r.checksum.clone())
                .unwrap_or_default();
            let message = match entry.state {
                State::Pending if pending_ok => continue,
                State::Pending => format!("{path} is not applied: run `db migrate`"),
                State::Edited => format!(
                    "{path} (version {}) was applied with sha256:{recorded_checksum}, but this binary has sha256:{}. {}",
                    entry.version,
                    entry.checksum.map(|c| c.to_string()).unwrap_or_default(),
                    suggest::edited(entry.version)
                ),
                State::Missing => format!(
                    "version {} ({}) is applied here but not in this binary (sha256:{recorded_checksum}): this binary is older than the database",
                    entry.version, entry.name
                ),
                State::HalfApplied => format!(
                    "{} (version {}) started and never finished: check what it changed, complete or undo it by hand, then run `{}`",
                    if path.is_empty() { &entry.name } else { path },
                    entry.version,
                    suggest::resolve_row(entry.kind, entry.version)
                ),
                State::Applied | State::Amended => continue,
            };
            differences.push(Difference {
                kind: entry.state.key(),
                version: Some(entry.version),
                name: entry.name.clone(),
                message,
            });
        }
        let lock_path = self.migrations().lock_path();
        if let Ok(text) = std::fs::read_to_string(&lock_path) {
            let lock = Lock::parse(&text).map_err(|errors| {
                Failure::check(format!(
                    "{} does not parse: {}",
                    lock_path.display(),
                    errors.first().map(ToString::to_string).unwrap_or_default()
                ))
            })?;
            for entry in entries.iter().filter(|e| {
                e.kind == kind::MIGRATION && matches!(e.state, State::Applied | State::Amended)
            }) {
                let locked = lock.get(entry.version);
                if locked.is_none_or(|l| Some(l.checksum) != entry.checksum) {
                    differences.push(Difference {
                        kind: "unlocked",
                        version: Some(entry.version),
                        name: entry.name.clone(),
                        message: format!(
                            "{} is applied here but {} does not lock it with this checksum: run `db lock` and commit the lock",
                            entry.path.unwrap_or_default(),
                            lock_path.display()
                        ),
                    });
                }
            }
        } else {
            eprintln!(
                "note: {} is not here; the lock was not compared",
                lock_path.display()
            );
        }
        match self.drift()? {
            drift::Found::Drift(drift) => {
                differences.extend(drift.differences.iter().map(|d| Difference {
                    kind: "drift",
                    version: None,
                    name: String::new(),
                    message: format!(
                        "{d}: write a migration for it, or after checking run `db drift --accept --reason …`"
                    ),
                }));
            }
            drift::Found::Nothing if !recorded.rows.is_empty() => eprintln!(
                "note: no schema fingerprint is recorded here yet; drift was not compared"
            ),
            _ => {}
        }
        Ok(differences)
    }

    fn verify(mut self, pending_ok: bool, as_json: bool) -> Outcome {
        let differences = self.differences(pending_ok)?;
        if as_json {
            print_json(&json!({
                "ok": differences.is_empty(),
                "differences": differences.iter().map(|d| json!({
                    "kind": d.kind,
                    "version": d.version.map(Version::get),
                    "name": d.name,
                    "message": d.message,
                })).collect::<Vec<_>>(),
            }));
        } else if differences.is_empty() {
            println!(
                "ok: {} matches this binary ({} migrations) and its lock",
                redact(&self.url),
                self.migrations().migrations().len()
            );
        } else {
            println!(
                "{} difference(s) between {} and this binary:",
                differences.len(),
                redact(&self.url)
            );
            for difference in &differences {
                println!("  {:<13} {}", difference.kind, difference.message);
            }
        }
        Ok(if differences.is_empty() { 0 } else { 1 })
    }

    fn repair(
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
                format!(
                    "UPDATE {} SET state = '{}' WHERE kind = '{}' AND version = {} AND state = '{}'",
                    statements.history_table,
                    state::APPLIED,
                    row_kind,
                    dialect.placeholder(1),
                    state::STARTED
                ),
                vec![Param::Integer(row.version)],
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
        console::in_transaction(self.console.as_mut(), |console| {
            console.execute(&update, &binds)?;
            console.execute(&statements.insert, &audit_row.binds())
        })?;
        println!("{done}");
        Ok(0)
    }
}

/// The folder the binary was compiled from, or why it cannot be used.
fn source_folder(migrations: &Migrations) -> Result<PathBuf, Failure> {
    let dir = migrations.source_dir();
    if dir.as_os_str().is_empty() || !dir.is_dir() {
        return Err(Failure::usage(format!(
            "the migrations folder this binary was built from ({}) is not here: run this command in the project's checkout",
            dir.display()
        )));
    }
    Ok(dir.to_owned())
}

/// The up file of `version` in `dir`, read from disk (the binary may predate an edit).
fn up_file(dir: &Path, version: Version) -> Result<Option<(String, PathBuf)>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(name) = schema_core::FileName::parse(&file_name)
            && name.version == version
            && name.side == schema_core::Side::Up
        {
            return Ok(Some((name.name, entry.path())));
        }
    }
    Ok(None)
}

fn new_migration(migrations: &Migrations, name: &str, down: bool) -> Outcome {
    if !schema_core::name::is_valid_name(name) {
        return Err(Failure::usage(format!(
            "`{name}` is not a migration name: use letters, digits and `_` (for example add_user_email)"
        )));
    }
    let dir = source_folder(migrations)?;
    let now: String = crate::audit::now_utc()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let mut version: u64 = now.parse().unwrap_or(1);
    let newest = std::fs::read_dir(&dir)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .filter_map(|e| schema_core::FileName::parse(&e.file_name().to_string_lossy()).ok())
        .map(|n| n.version.get())
        .max()
        .unwrap_or(0);
    if version <= newest {
        version = newest + 1;
    }
    let up = dir.join(format!("{version}_{name}.sql"));
    let mut created = vec![up.clone()];
    let header = format!(
        "-- {version}_{name}: write the migration's SQL below. A file of comments alone does not build.\n"
    );
    std::fs::write(&up, header)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", up.display())))?;
    if down {
        let path = dir.join(format!("{version}_{name}.down.sql"));
        std::fs::write(
            &path,
            format!("-- Reverts {version}_{name}: write the SQL that undoes it below.\n"),
        )
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        created.push(path);
    }
    for path in created {
        println!("created {}", path.display());
    }
    Ok(0)
}

fn write_lock(migrations: &'static Migrations) -> Outcome {
    source_folder(migrations)?;
    let all: Vec<&crate::Migration> = migrations.migrations().iter().collect();
    match crate::devlock::append(migrations, &all) {
        Ok(Some(path)) => println!(
            "{} now locks all {} migrations of this binary: commit it",
            path.display(),
            all.len()
        ),
        Ok(None) => println!(
            "{} already locks all {} migrations of this binary",
            migrations.lock_path().display(),
            all.len()
        ),
        Err(message) => return Err(Failure::check(message)),
    }
    Ok(0)
}

fn amend(migrations: &Migrations, version: Version, reason: &str) -> Outcome {
    if reason.trim().is_empty() {
        return Err(Failure::usage(
            "--reason must say why the change is safe for every database that ran the old text",
        ));
    }
    let dir = source_folder(migrations)?;
    let path = migrations.lock_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut lock = Lock::parse(&text).map_err(|errors| {
        Failure::check(format!(
            "{} does not parse: {}",
            path.display(),
            errors.first().map(ToString::to_string).unwrap_or_default()
        ))
    })?;
    let Some(entry) = lock.get(version).cloned() else {
        return Err(Failure::check(format!(
            "version {version} is not in {}: it was never applied, so edit it freely",
            path.display()
        )));
    };
    let Some((name, file)) = up_file(&dir, version)? else {
        return Err(Failure::check(format!(
            "there is no migration file for version {version} in {}",
            dir.display()
        )));
    };
    let bytes = std::fs::read(&file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    let checksum = Checksum::of_file(&bytes);
    if checksum == entry.checksum {
        println!(
            "{} is unchanged (sha256:{checksum}): nothing to amend",
            file.display()
        );
        return Ok(0);
    }
    let mut amended = LockEntry::new(version, name, checksum);
    amended.amendments.push(schema_core::lock::Amendment {
        from: entry.checksum,
        reason: reason.to_owned(),
    });
    amended.amendments.extend(entry.amendments);
    lock.upsert(amended);
    crate::devlock::write_atomically(&path, &lock.render())
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    println!(
        "amended version {version} in {}: sha256:{} → sha256:{checksum}. Commit the lock with the file; each database records the amendment at its next start",
        path.display(),
        entry.checksum
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_everywhere_in_a_url() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/tasks"),
            "postgres://app:***@db:5432/tasks"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://h/db?user=a&password=s3cret&sslmode=off"),
            "postgres://h/db?user=a&password=***&sslmode=off"
        );
    }

    /// Every `db …` command a message of this crate suggests, as the user would copy it,
    /// goes through the real parser. Placeholders become values: `{…}` and `V` a
    /// version, `…` (quoted or not) a reason.
    #[test]
    fn every_suggested_command_parses() {
        let sources = [
            include_str!("../error.rs"),
            include_str!("../migrator.rs"),
            include_str!("../policy.rs"),
            include_str!("../drift.rs"),
            include_str!("../backup.rs"),
            include_str!("../devlock.rs"),
            include_str!("../sqlite.rs"),
            include_str!("../sqlx_backend.rs"),
            include_str!("mod.rs"),
            include_str!("adopt.rs"),
            include_str!("drift.rs"),
            include_str!("inspect.rs"),
            include_str!("write.rs"),
            include_str!("console.rs"),
        ];
        let mut suggestions: Vec<String> = Vec::new();
        for source in sources {
            for line in source.lines() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                let mut rest = code;
                while let Some(start) = rest.find("`db ") {
                    let after = &rest[start + 1..];
                    let Some(end) = after.find('`') else { break };
                    suggestions.push(after[..end].to_owned());
                    rest = &after[end + 1..];
                }
            }
        }
        let version = crate::Version::new(7);
        suggestions.extend([suggest::resolve(version), suggest::resolve_seed(version)]);
        let edited = suggest::edited(version);
        suggestions.extend(edited.split('`').skip(1).step_by(2).map(str::to_owned));
        assert!(suggestions.len() > 20, "{suggestions:?}");
        let mut brackets = 0;
        for suggestion in &suggestions {
            if suggestion.contains('[') {
                // A usage line (`db drift [--json] …`), not a command to copy.
                brackets += 1;
                continue;
            }
            let mut words = vec!["db".to_owned()];
            let text = suggestion
                .replace("\\\"…\\\"", "checked")
                .replace("\\\"...\\\"", "checked")
                .replace("\"…\"", "checked")
                .replace('…', "checked");
            for word in text.split_whitespace().skip(1) {
                let word = if word.starts_with('{') && word.ends_with('}') || word == "V" {
                    "7"
                } else {
                    word
                };
                words.push(word.to_owned());
            }
            if let Err(error) = DbCommand::try_parse_from(&words) {
                panic!("`{suggestion}` does not parse as {words:?}: {error}");
            }
        }
        assert!(brackets <= 1, "{suggestions:?}");
    }

    #[test]
    fn database_names_are_what_an_operator_types() {
        assert_eq!(database_name("sqlite:/var/lib/app/tasks.db"), "tasks.db");
        assert_eq!(database_name("postgres://u:p@h:5432/app?x=1"), "app");
        assert_eq!(database_name("mysql://root@h/shop"), "shop");
    }

    #[test]
    fn tables_align_every_column_but_the_last() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["b".into(), "y".into()],
            ],
        );
        assert_eq!(out, "A          LONGER\nwide cell  x\nb          y\n");
    }
}
