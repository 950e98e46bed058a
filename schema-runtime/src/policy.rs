//! What a run may do, decided by its environment (and overrides made in code).

use std::time::Duration;

use crate::drift::DriftCheck;
use crate::environment::{self, Environment, EnvironmentSource};
use crate::sql_text::Identifier;
use crate::{Error, Migrations};

/// A database URL kept for a command: `Debug` shows it with its password replaced.
#[derive(Clone)]
struct SecretUrl(String);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::redact_url(&self.0))
    }
}

/// What startup may do. Built from the environment with [`Policy::from_env`], or in code
/// with [`Policy::new`].
///
/// | Environment | Migrations | Seeds               | Destructive commands |
/// |-------------|------------|---------------------|----------------------|
/// | development | always     | when `SEED_DB=true` | allowed              |
/// | test        | always     | never               | allowed              |
/// | production  | always     | never               | refused              |
///
/// Schema "sync" (altering tables from model definitions) is never offered: the schema
/// changes only through migrations.
///
/// ```
/// use schema_runtime::{Environment, Policy};
///
/// let policy = Policy::new(Environment::Development).with_seeds(true);
/// assert!(policy.runs_seeds());
/// // Seeds never run outside development, whatever the code asks.
/// assert!(!Policy::new(Environment::Production).with_seeds(true).runs_seeds());
/// ```
#[derive(Clone, Debug)]
pub struct Policy {
    environment: Environment,
    source: EnvironmentSource,
    seeds_requested: bool,
    warnings: Vec<String>,
    allow_missing: bool,
    allow_out_of_order: bool,
    allow_environment_mismatch: bool,
    write_dev_lock: bool,
    group_transactions: bool,
    lock_timeout: Duration,
    connect_retry: Duration,
    connect_attempt: Duration,
    ddl_lock_timeout: Option<Duration>,
    ddl_lock_deadline: Duration,
    backup: Option<bool>,
    keep_backups: usize,
    backup_failure_stops: bool,
    backup_command: Option<(String, SecretUrl)>,
    session_sql: Option<String>,
    direct_url: Option<SecretUrl>,
    drift: DriftCheck,
    drift_every_start: Option<bool>,
    pub(crate) history_table: Identifier,
    pub(crate) meta_table: Identifier,
}

impl Policy {
    /// The policy of `environment`, set in code.
    pub fn new(environment: Environment) -> Self {
        Policy {
            environment,
            source: EnvironmentSource::Code,
            seeds_requested: false,
            warnings: Vec::new(),
            allow_missing: false,
            allow_out_of_order: false,
            allow_environment_mismatch: false,
            write_dev_lock: true,
            group_transactions: false,
            lock_timeout: Duration::from_secs(60),
            connect_retry: Duration::from_secs(30),
            connect_attempt: Duration::from_secs(5),
            ddl_lock_timeout: None,
            ddl_lock_deadline: Duration::from_secs(300),
            backup: None,
            keep_backups: 10,
            backup_failure_stops: true,
            backup_command: None,
            session_sql: None,
            direct_url: None,
            drift: DriftCheck::Warn,
            drift_every_start: None,
            history_table: Identifier::new_unchecked("schema_history"),
            meta_table: Identifier::new_unchecked("schema_meta"),
        }
    }

    /// The policy from the process environment: `APP_ENV` (unset means development in a
    /// debug build of the application and production in a release build) and `SEED_DB`.
    /// `SCHEMA_BACKUP_COMMAND`, when set, is the servers' backup command
    /// ([`backup_command`](Self::backup_command)) with `DATABASE_URL` as its URL.
    /// `SCHEMA_DRIFT` (`warn`, `error` or `off`) sets [`on_drift`](Self::on_drift).
    /// `SCHEMA_CONNECT_RETRY` and `SCHEMA_CONNECT_TIMEOUT` (seconds, such as `30` or
    /// `2.5`) set [`retry_connect_for`](Self::retry_connect_for) and
    /// [`connect_attempt_timeout`](Self::connect_attempt_timeout).
    /// `SCHEMA_DIRECT_URL`, or when it is unset `DATABASE_URL_UNPOOLED` (Neon's and
    /// Vercel's name), is the [`direct_url`](Self::direct_url) migrations run over.
    /// `SCHEMA_DDL_LOCK_TIMEOUT` and `SCHEMA_DDL_LOCK_DEADLINE` (`1s`, `500ms`, `5m`, or
    /// seconds alone) set [`ddl_lock_timeout`](Self::ddl_lock_timeout) and
    /// [`ddl_lock_deadline`](Self::ddl_lock_deadline).
    pub fn from_env(migrations: &Migrations) -> Result<Self, Error> {
        let mut policy = Policy::from_vars(
            std::env::var("APP_ENV").ok().as_deref(),
            std::env::var("SEED_DB").ok().as_deref(),
            migrations.debug_build(),
        )?;
        if let Ok(value) = std::env::var("SCHEMA_DRIFT") {
            policy.drift = match value.trim().to_ascii_lowercase().as_str() {
                "warn" | "" => DriftCheck::Warn,
                "error" => DriftCheck::Error,
                "off" => DriftCheck::Off,
                _ => {
                    return Err(Error::InvalidSetting {
                        name: "SCHEMA_DRIFT",
                        value,
                        expected: "warn, error or off",
                    });
                }
            };
        }
        if let Ok(value) = std::env::var("SCHEMA_CONNECT_RETRY") {
            policy.connect_retry = seconds("SCHEMA_CONNECT_RETRY", value, true)?;
        }
        if let Ok(value) = std::env::var("SCHEMA_CONNECT_TIMEOUT") {
            policy =
                policy.connect_attempt_timeout(seconds("SCHEMA_CONNECT_TIMEOUT", value, false)?);
        }
        if let Ok(value) = std::env::var("SCHEMA_DDL_LOCK_TIMEOUT") {
            policy.ddl_lock_timeout = match value.trim() {
                "" | "off" | "0" => None,
                _ => Some(duration("SCHEMA_DDL_LOCK_TIMEOUT", value)?),
            };
        }
        if let Ok(value) = std::env::var("SCHEMA_DDL_LOCK_DEADLINE") {
            policy.ddl_lock_deadline = match value.trim() {
                "0" => Duration::ZERO,
                _ => duration("SCHEMA_DDL_LOCK_DEADLINE", value)?,
            };
        }
        if let Ok(sql) = std::env::var("SCHEMA_SESSION_SQL") {
            policy = policy.session_settings(sql);
        }
        if let Some(url) = direct_url_from(|name| std::env::var(name).ok()) {
            policy = policy.direct_url(url);
        }
        Ok(match std::env::var("SCHEMA_BACKUP_COMMAND") {
            Ok(command) if !command.trim().is_empty() => {
                policy.backup_command(command, std::env::var("DATABASE_URL").unwrap_or_default())
            }
            _ => policy,
        })
    }

    /// The policy from given values of `APP_ENV` and `SEED_DB` (`None` when unset).
    pub fn from_vars(
        app_env: Option<&str>,
        seed_db: Option<&str>,
        debug_build: bool,
    ) -> Result<Self, Error> {
        let (environment, source) = environment::resolve(app_env, debug_build)?;
        let mut policy = Policy::new(environment);
        policy.source = source;
        let seed = match seed_db.map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "") => false,
            Some(_) => {
                return Err(Error::InvalidSeedDb {
                    value: seed_db.unwrap_or_default().to_owned(),
                });
            }
        };
        if seed && environment != Environment::Development {
            policy.warnings.push(format!(
                "SEED_DB=true is ignored in {environment}: seeds run only in development"
            ));
        }
        policy.seeds_requested = seed;
        Ok(policy)
    }

    /// Asks for seeds to run. They run only in development.
    pub fn with_seeds(mut self, seeds: bool) -> Self {
        self.seeds_requested = seeds;
        self
    }

    /// Lets a binary start on a database that has applied migrations the binary does not
    /// have (an older binary on a newer database). Off by default: that is a downgrade.
    pub fn allow_missing(mut self, allow: bool) -> Self {
        self.allow_missing = allow;
        self
    }

    /// Lets a pending migration older than the newest applied one run. Off by default:
    /// it usually means a branch merged late, and its migration never ran where the newer ones did.
    pub fn allow_out_of_order(mut self, allow: bool) -> Self {
        self.allow_out_of_order = allow;
        self
    }

    /// Lets this run change a database stamped with another environment. Off by default:
    /// a development binary pointed at the production database must not touch it.
    pub fn allow_environment_mismatch(mut self, allow: bool) -> Self {
        self.allow_environment_mismatch = allow;
        self
    }

    /// Whether development runs append what they applied to `migrations.lock` (default on).
    pub fn write_dev_lock(mut self, write: bool) -> Self {
        self.write_dev_lock = write;
        self
    }

    /// Runs all pending migrations of a run in one transaction, on servers whose DDL is
    /// transactional (PostgreSQL, and SQLite through sqlx); ignored on MySQL. All or
    /// nothing, and faster on a long backlog. A `no-transaction` migration ends the group
    /// before it runs. Off by default: one transaction per migration keeps the work of
    /// the migrations before a failing one. On PostgreSQL a group goes to the server as
    /// one message, so the history records the group's average time for each file (and
    /// says so in the row's note).
    pub fn group_transactions(mut self, group: bool) -> Self {
        self.group_transactions = group;
        self
    }

    /// Whether pending migrations share one transaction where the server allows it.
    pub fn groups_transactions(&self) -> bool {
        self.group_transactions
    }

    /// How long to wait for another process that is migrating the same database (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Whether to back up before the first pending migration runs (default: in
    /// production only). SQLite (through rusqlite) is copied with its online backup into
    /// `backups/` beside the database. A server is backed up by
    /// [`backup_command`](Self::backup_command): by default only when one is named, and
    /// asking for a backup without one is an error. Nothing pending: no backup.
    pub fn backup_before_migrating(mut self, backup: bool) -> Self {
        self.backup = Some(backup);
        self
    }

    /// How many backups of a database to keep (default 10; the oldest go first).
    pub fn keep_backups(mut self, count: usize) -> Self {
        self.keep_backups = count.max(1);
        self
    }

    /// Whether a failed backup stops the migration (default `true`). With `false` it is
    /// a warning and the migration goes on without a backup.
    pub fn backup_failure_stops(mut self, stops: bool) -> Self {
        self.backup_failure_stops = stops;
        self
    }

    /// The backup of a server: `command` runs with `sh -c` before the first pending
    /// migration, with `database_url` in its environment as `DATABASE_URL` (never on its
    /// command line, where `ps` would show the password) and a suggested file name in
    /// `SCHEMA_BACKUP_NAME`; for example `pg_dump --format=custom --file="backups/$SCHEMA_BACKUP_NAME" "$DATABASE_URL"`.
    /// A non-zero exit is a failed backup. `Debug` output of the policy shows the URL
    /// without its password.
    pub fn backup_command(
        mut self,
        command: impl Into<String>,
        database_url: impl Into<String>,
    ) -> Self {
        self.backup_command = Some((command.into(), SecretUrl(database_url.into())));
        self
    }

    /// Whether this run backs up before migrating.
    pub fn backs_up(&self) -> bool {
        self.backup
            .unwrap_or(self.environment == Environment::Production)
    }

    /// Whether backups were asked for in code (`None`: the environment's default).
    #[cfg(feature = "async-runner")]
    pub(crate) fn backup_asked(&self) -> Option<bool> {
        self.backup
    }

    #[cfg(any(feature = "rusqlite", feature = "cli"))]
    pub(crate) fn backups_kept(&self) -> usize {
        self.keep_backups
    }

    pub(crate) fn backup_stops_on_failure(&self) -> bool {
        self.backup_failure_stops
    }

    #[cfg(any(feature = "async-runner", feature = "cli"))]
    pub(crate) fn server_backup(&self) -> Option<(&str, &str)> {
        self.backup_command
            .as_ref()
            .map(|(command, url)| (command.as_str(), url.0.as_str()))
    }

    /// SQL run on every connection the runtime opens, before it reads or changes
    /// anything, at startup and in every `db` command: settings a history needs, such as
    /// MySQL's `SET FOREIGN_KEY_CHECKS = 0` or PostgreSQL's `SET search_path TO app`.
    /// From the environment: `SCHEMA_SESSION_SQL`.
    ///
    /// A sqlx connection that ran them is closed after the run instead of going back to
    /// the application's pool, so the settings never reach the application's queries. A
    /// rusqlite connection is the application's own: the settings stay on it.
    ///
    /// ```
    /// use schema_runtime::{Environment, Policy};
    ///
    /// let policy = Policy::new(Environment::Test).session_settings("SET FOREIGN_KEY_CHECKS = 0");
    /// assert_eq!(policy.session_sql(), Some("SET FOREIGN_KEY_CHECKS = 0"));
    /// ```
    pub fn session_settings(mut self, sql: impl Into<String>) -> Self {
        let sql = sql.into();
        self.session_sql = Some(sql).filter(|sql| !sql.trim().is_empty());
        self
    }

    /// The session settings ([`session_settings`](Self::session_settings)), if any.
    pub fn session_sql(&self) -> Option<&str> {
        self.session_sql.as_deref()
    }

    /// The server's own URL, for migrating when the application's URL goes through a
    /// connection pooler in transaction mode (PgBouncer's `pool_mode = transaction`,
    /// Neon's `-pooler` host, Supabase's port 6543), where a migration lock cannot hold.
    /// Startup connects to it for the whole run (the migration lock, the history and every
    /// change) with a connection of its own, closed when the run ends, while the
    /// application keeps its pooled URL for its own queries; the `db` command uses it
    /// instead of `DATABASE_URL`. It is read as the URL alone: put TLS settings in it
    /// (`?sslmode=require`). From the environment: `SCHEMA_DIRECT_URL`, else
    /// `DATABASE_URL_UNPOOLED`. Ignored for SQLite. `Debug` output of the policy shows it
    /// without its password.
    ///
    /// ```
    /// use schema_runtime::{Environment, Policy};
    ///
    /// // Neon: the pooled host ends in -pooler, the direct one does not.
    /// let policy = Policy::new(Environment::Production).direct_url(
    ///     "postgres://app:secret@ep-cool-name-123456.eu-central-1.aws.neon.tech/app?sslmode=require",
    /// );
    /// assert!(policy.direct_database_url().is_some());
    /// assert!(!format!("{policy:?}").contains("secret"));
    /// ```
    pub fn direct_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.direct_url = Some(SecretUrl(url)).filter(|url| !url.0.trim().is_empty());
        self
    }

    /// The direct URL migrations run over ([`direct_url`](Self::direct_url)), if any.
    pub fn direct_database_url(&self) -> Option<&str> {
        self.direct_url.as_ref().map(|url| url.0.as_str())
    }

    /// What a start does when the live schema differs from the fingerprint the last
    /// migration recorded (see [`drift`](crate::drift)): warn (the default, in every
    /// environment), stop before changing anything ([`DriftCheck::Error`]), or neither
    /// compare nor record ([`DriftCheck::Off`]).
    pub fn on_drift(mut self, check: DriftCheck) -> Self {
        self.drift = check;
        self
    }

    /// What a start does about drift.
    pub fn drift_check(&self) -> DriftCheck {
        self.drift
    }

    /// Whether starts that have nothing to migrate compare the schema too. Every start
    /// that migrates compares before it changes anything. On SQLite the default is yes,
    /// at no cost: SQLite counts schema changes, and the full comparison runs only when
    /// the count moved. A server has no such count, and reading its catalog costs far more
    /// than the up-to-date check itself (about 60 ms for 1,000 tables on PostgreSQL), so
    /// there the default is no: `db drift` and `db verify` in the deploy pipeline do it.
    pub fn check_drift_on_every_start(mut self, every: bool) -> Self {
        self.drift_every_start = Some(every);
        self
    }

    /// Whether an up-to-date start on a backend of `dialect` compares the schema.
    pub(crate) fn drift_on_every_start(&self, dialect: crate::sql_text::Dialect) -> bool {
        self.drift != DriftCheck::Off
            && self
                .drift_every_start
                .unwrap_or(dialect == crate::sql_text::Dialect::Sqlite)
    }

    /// How long startup (and every `db` command) keeps retrying, with backoff, a server
    /// that cannot be reached yet (the application container came up before the
    /// database): refused, reset, a name that does not resolve yet, no answer within
    /// [`connect_attempt_timeout`](Self::connect_attempt_timeout), or a server still
    /// starting up. Each failed attempt is logged with its cause. Wrong settings (a
    /// password, a database that does not exist, TLS) stop at once, and a migration's own
    /// SQL error is never retried. The attempt under way when the deadline passes is
    /// the last. Default 30 seconds; zero tries once. From the environment:
    /// `SCHEMA_CONNECT_RETRY` (seconds).
    pub fn retry_connect_for(mut self, deadline: Duration) -> Self {
        self.connect_retry = deadline;
        self
    }

    /// How long one connection attempt may take before it counts as failed ("no answer")
    /// and the next is tried: the TCP connection, TLS and the log-in together. Default
    /// 5 seconds (at least 1 ms). From the environment: `SCHEMA_CONNECT_TIMEOUT` (seconds).
    ///
    /// Each attempt opens a connection of its own with the pool's connect options, so
    /// that its failure is seen as it is (a sqlx pool retries a refused connection
    /// silently until its whole acquire timeout has passed, then says only that it timed
    /// out); once that works the run takes its connection from the pool. A pool with an
    /// idle connection is used at once, without such a check.
    ///
    /// ```
    /// use std::time::Duration;
    /// use schema_runtime::{Environment, Policy};
    ///
    /// let policy = Policy::new(Environment::Production)
    ///     .retry_connect_for(Duration::from_secs(60))
    ///     .connect_attempt_timeout(Duration::from_secs(2));
    /// assert_eq!(policy.connect_attempt_limit(), Duration::from_secs(2));
    /// ```
    pub fn connect_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.connect_attempt = timeout.max(Duration::from_millis(1));
        self
    }

    /// Bounds every wait of a migration for a table lock: PostgreSQL's `lock_timeout`
    /// (MySQL and MariaDB: `lock_wait_timeout`, in whole seconds, at least 1) is set to
    /// `timeout` while each migration runs. An `ALTER TABLE` queued behind a long
    /// transaction otherwise blocks every query on that table behind itself for as long
    /// as that transaction lasts; with the timeout it gives up after `timeout`, the queue
    /// moves again, and the migration is rolled back and retried with backoff (0.5 s
    /// doubling up to 10 s, each retry logged) until
    /// [`ddl_lock_deadline`](Self::ddl_lock_deadline). Only that timeout is retried:
    /// any other failure stops the run as before. A `no-transaction` migration is
    /// retried only when the timeout hit its first statement, before anything of it
    /// committed, and that statement leaves nothing behind when it fails (not
    /// `CONCURRENTLY`, whose failure leaves an invalid index, nor `DO` or `CALL`, which
    /// may commit as they go); on MySQL, where every file runs this way, only a file of
    /// one such statement is retried. Otherwise the run stops with the file
    /// half-applied, as it always did, and the error says why it was not retried. Off by default (the server's own setting applies).
    /// Ignored on SQLite, which has no lock timeout of this kind (its writers wait for
    /// the database's write lock instead). From the environment:
    /// `SCHEMA_DDL_LOCK_TIMEOUT` (`1s`, `500ms`; `off` or `0` for none).
    ///
    /// ```
    /// use std::time::Duration;
    /// use schema_runtime::{Environment, Policy};
    ///
    /// let policy = Policy::new(Environment::Production)
    ///     .ddl_lock_timeout(Duration::from_secs(1))
    ///     .ddl_lock_deadline(Duration::from_secs(120));
    /// assert_eq!(policy.ddl_lock_wait(), Some(Duration::from_secs(1)));
    /// ```
    pub fn ddl_lock_timeout(mut self, timeout: Duration) -> Self {
        self.ddl_lock_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }

    /// How long a migration that keeps failing on the
    /// [`ddl_lock_timeout`](Self::ddl_lock_timeout) is retried (default 5 minutes); the
    /// attempt under way when it passes is the last, and its error stops the run. Zero
    /// tries once. From the environment: `SCHEMA_DDL_LOCK_DEADLINE` (`5m`, `90s`).
    pub fn ddl_lock_deadline(mut self, deadline: Duration) -> Self {
        self.ddl_lock_deadline = deadline;
        self
    }

    /// The DDL lock timeout ([`ddl_lock_timeout`](Self::ddl_lock_timeout)), if any.
    pub fn ddl_lock_wait(&self) -> Option<Duration> {
        self.ddl_lock_timeout
    }

    /// How long a migration failing on the DDL lock timeout is retried.
    pub fn ddl_lock_retry_deadline(&self) -> Duration {
        self.ddl_lock_deadline
    }

    /// The history table's name (default `schema_history`). Give each independent set of
    /// migrations sharing a database its own. Letters, digits and `_`, optionally
    /// qualified by a schema (`app.schema_history`).
    pub fn history_table(mut self, name: &str) -> Result<Self, Error> {
        self.history_table = Identifier::new(name)?;
        Ok(self)
    }

    /// The metadata table's name (default `schema_meta`); same rules as the history table.
    pub fn meta_table(mut self, name: &str) -> Result<Self, Error> {
        self.meta_table = Identifier::new(name)?;
        Ok(self)
    }

    /// The environment.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Where the environment came from.
    pub fn environment_source(&self) -> &EnvironmentSource {
        &self.source
    }

    /// Whether seeds run: only in development, and only when asked for.
    pub fn runs_seeds(&self) -> bool {
        self.seeds_requested && self.environment == Environment::Development
    }

    /// Whether destructive commands (`down`, `redo`, reset) are allowed.
    pub fn allows_destructive_commands(&self) -> bool {
        self.environment != Environment::Production
    }

    /// Whether applied migrations missing from the binary are tolerated.
    pub fn allows_missing(&self) -> bool {
        self.allow_missing
    }

    /// Whether out-of-order pending migrations are tolerated.
    pub fn allows_out_of_order(&self) -> bool {
        self.allow_out_of_order
    }

    /// Whether a database stamped with another environment may be changed.
    pub fn allows_environment_mismatch(&self) -> bool {
        self.allow_environment_mismatch
    }

    /// Whether development runs write the lock.
    pub fn writes_dev_lock(&self) -> bool {
        self.write_dev_lock && self.environment == Environment::Development
    }

    /// How long to wait for the migration lock.
    pub fn lock_wait(&self) -> Duration {
        self.lock_timeout
    }

    /// How long a server that cannot be reached yet is retried at startup.
    pub fn connect_deadline(&self) -> Duration {
        self.connect_retry
    }

    /// How long one connection attempt may take.
    pub fn connect_attempt_limit(&self) -> Duration {
        self.connect_attempt
    }

    /// Warnings found while reading the environment (for example `SEED_DB` in production).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Logs the environment, where it came from, and any warning.
    pub(crate) fn log_start(&self) {
        tracing::info!("schema: environment {} ({})", self.environment, self.source);
        for warning in &self.warnings {
            tracing::warn!("schema: {warning}");
        }
    }
}

/// The direct URL from the environment (`var` reads a variable): `SCHEMA_DIRECT_URL`,
/// else the `DATABASE_URL_UNPOOLED` that Neon's integrations set beside a pooled
/// `DATABASE_URL`. Empty counts as unset.
fn direct_url_from(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["SCHEMA_DIRECT_URL", "DATABASE_URL_UNPOOLED"]
        .into_iter()
        .find_map(|name| var(name).filter(|url| !url.trim().is_empty()))
}

/// A number of seconds read from the environment variable `name` (`allow_zero`: whether
/// `0` is a value).
fn seconds(name: &'static str, value: String, allow_zero: bool) -> Result<Duration, Error> {
    let expected = if allow_zero {
        "a number of seconds, such as 30 or 2.5"
    } else {
        "a number of seconds above zero, such as 5 or 0.5"
    };
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 || (allow_zero && seconds == 0.0) => {
            Duration::try_from_secs_f64(seconds).map_err(|_| Error::InvalidSetting {
                name,
                value,
                expected,
            })
        }
        _ => Err(Error::InvalidSetting {
            name,
            value,
            expected,
        }),
    }
}

/// A duration read from the environment variable `name`: a number with `ms`, `s`, `m`
/// or `h`, or a number of seconds alone (`1s`, `500ms`, `2.5`, `5m`), above zero.
fn duration(name: &'static str, value: String) -> Result<Duration, Error> {
    let text = value.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match number.trim().parse::<f64>().map(|n| n * scale) {
        Ok(seconds) if seconds > 0.0 => Duration::try_from_secs_f64(seconds).ok(),
        _ => None,
    }
    .ok_or(Error::InvalidSetting {
        name,
        value,
        expected: "a duration above zero, such as 1s, 500ms or 5m",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_lock_durations_take_units() {
        let read = |text: &str| duration("SCHEMA_DDL_LOCK_TIMEOUT", text.into());
        assert_eq!(read("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(read(" 500ms ").unwrap(), Duration::from_millis(500));
        assert_eq!(read("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(read("5m").unwrap(), Duration::from_secs(300));
        for bad in ["0s", "-1s", "1 fortnight", "", "s", "NaN"] {
            let error = read(bad).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!(
                    "SCHEMA_DDL_LOCK_TIMEOUT=`{bad}` is not understood"
                )),
                "{error}"
            );
        }
        assert_eq!(Policy::new(Environment::Production).ddl_lock_wait(), None);
        assert_eq!(
            Policy::new(Environment::Production).ddl_lock_retry_deadline(),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn connect_durations_are_read_as_seconds() {
        assert_eq!(
            seconds("SCHEMA_CONNECT_RETRY", "2.5".into(), true).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            seconds("SCHEMA_CONNECT_RETRY", " 0 ".into(), true).unwrap(),
            Duration::ZERO
        );
        for bad in ["0", "-1", "5s", "", "NaN", "inf"] {
            let error = seconds("SCHEMA_CONNECT_TIMEOUT", bad.into(), false)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("SCHEMA_CONNECT_TIMEOUT=`{bad}` is not understood")),
                "{error}"
            );
        }
    }

    #[test]
    fn the_direct_url_comes_from_schema_direct_url_else_database_url_unpooled() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            direct_url_from(vars(&[
                ("SCHEMA_DIRECT_URL", "postgres://a"),
                ("DATABASE_URL_UNPOOLED", "postgres://b"),
            ])),
            Some("postgres://a".to_owned())
        );
        assert_eq!(
            direct_url_from(vars(&[
                ("SCHEMA_DIRECT_URL", " "),
                ("DATABASE_URL_UNPOOLED", "postgres://b"),
            ])),
            Some("postgres://b".to_owned())
        );
        assert_eq!(
            direct_url_from(vars(&[("DATABASE_URL", "postgres://c")])),
            None
        );
        let policy = Policy::new(Environment::Production).direct_url("postgres://u:hunter2@h/db");
        assert_eq!(
            policy.direct_database_url(),
            Some("postgres://u:hunter2@h/db")
        );
        assert!(!format!("{policy:?}").contains("hunter2"));
        assert_eq!(
            Policy::new(Environment::Test)
                .direct_url("")
                .direct_database_url(),
            None
        );
    }

    #[test]
    fn debug_never_shows_the_backup_url_password() {
        let policy = Policy::new(Environment::Production)
            .backup_command("pg_dump", "postgres://app:s3cret@db/app");
        let shown = format!("{policy:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/app"), "{shown}");
    }

    #[test]
    fn seed_matrix() {
        let runs = |env: &str, seed: Option<&str>| {
            Policy::from_vars(Some(env), seed, true)
                .unwrap()
                .runs_seeds()
        };
        assert!(runs("development", Some("true")));
        assert!(!runs("development", None));
        assert!(!runs("development", Some("false")));
        assert!(!runs("test", Some("true")));
        assert!(!runs("production", Some("true")));
    }

    #[test]
    fn seed_db_in_production_is_ignored_with_a_warning() {
        let policy = Policy::from_vars(Some("production"), Some("true"), false).unwrap();
        assert_eq!(
            policy.warnings(),
            ["SEED_DB=true is ignored in production: seeds run only in development"]
        );
    }

    #[test]
    fn bad_seed_db_is_an_error() {
        let error = Policy::from_vars(Some("dev"), Some("maybe"), true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SEED_DB=`maybe`"), "{error}");
    }

    #[test]
    fn destructive_commands_are_refused_only_in_production() {
        assert!(Policy::new(Environment::Development).allows_destructive_commands());
        assert!(Policy::new(Environment::Test).allows_destructive_commands());
        assert!(!Policy::new(Environment::Production).allows_destructive_commands());
    }

    #[test]
    fn table_names_are_validated() {
        assert!(
            Policy::new(Environment::Test)
                .history_table("app.history_v2")
                .is_ok()
        );
        let error = Policy::new(Environment::Test)
            .history_table("x; DROP TABLE users")
            .unwrap_err();
        assert!(error.to_string().contains("x; DROP TABLE users"));
    }
}
