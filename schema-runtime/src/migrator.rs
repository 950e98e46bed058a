//! The migrator: the embedded list and a policy, shared by every backend's executor.

use crate::drift::{self, DriftCheck, Fingerprint};
use crate::error::Error;
use crate::plan::{self, History, Plan};
use crate::report::Report;
use crate::sql_text::{Dialect, state};
use crate::{Checksum, Migrations, Policy, Progress, Version, audit};

/// Applies embedded migrations at startup, with the policy of the environment.
///
/// ```
/// use schema_runtime::{Environment, Migrator, Migrations, Policy};
///
/// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
///
/// # #[cfg(feature = "rusqlite")] {
/// let mut conn = schema_runtime::rusqlite::Connection::open_in_memory().unwrap();
/// let migrator = Migrator::with_policy(&MIGRATIONS, Policy::new(Environment::Test));
/// let report = migrator.run(&mut conn).unwrap();
/// assert_eq!(report.applied.len(), MIGRATIONS.migrations().len());
/// // A second start applies nothing.
/// assert!(migrator.run(&mut conn).unwrap().is_up_to_date());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Migrator {
    migrations: &'static Migrations,
    policy: Policy,
    progress: crate::progress::Observer,
}

impl Migrator {
    /// A migrator with the policy of the process environment (`APP_ENV`, `SEED_DB`; see
    /// [`Policy::from_env`]). Fails when those variables hold values it does not know.
    pub fn new(migrations: &'static Migrations) -> Result<Self, Error> {
        Ok(Migrator {
            migrations,
            policy: Policy::from_env(migrations)?,
            progress: Default::default(),
        })
    }

    /// A migrator with a policy built in code.
    pub fn with_policy(migrations: &'static Migrations, policy: Policy) -> Self {
        Migrator {
            migrations,
            policy,
            progress: Default::default(),
        }
    }

    /// Calls `observe` as the run goes: once before the first change, with how many
    /// migrations and seeds it will apply, and once as each one commits. Each is also
    /// logged through `tracing` the moment it is applied, observer or not.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use schema_runtime::{Environment, Migrator, Migrations, Policy, Progress};
    ///
    /// static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
    ///
    /// # #[cfg(feature = "rusqlite")] {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let migrator = Migrator::with_policy(&MIGRATIONS, Policy::new(Environment::Test))
    ///     .on_progress(move |progress| {
    ///         if let Progress::Applied { applied, done, total, .. } = progress {
    ///             log.lock().unwrap().push(format!("{done}/{total} {}", applied.version));
    ///         }
    ///     });
    /// let mut conn = schema_runtime::rusqlite::Connection::open_in_memory().unwrap();
    /// migrator.run(&mut conn).unwrap();
    /// let seen = seen.lock().unwrap();
    /// assert_eq!(seen.len(), MIGRATIONS.migrations().len());
    /// assert!(seen[0].starts_with("1/"));
    /// # }
    /// ```
    pub fn on_progress(mut self, observe: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = crate::progress::Observer::new(observe);
        self
    }

    /// Tells the observer, if any.
    pub(crate) fn progressed(&self, progress: Progress<'_>) {
        self.progress.tell(progress);
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The embedded migrations.
    pub fn migrations(&self) -> &'static Migrations {
        self.migrations
    }

    /// Refuses a database stamped with another environment (unless the policy allows it).
    pub(crate) fn check_stamp(&self, history: &History) -> Result<(), Error> {
        self.check_stamp_value(history.stamp.as_deref())
    }

    /// Refuses a database stamped `stamp` when that is another environment (unless the
    /// policy allows it): startup and every `db` command that changes a database.
    pub(crate) fn check_stamp_value(&self, stamp: Option<&str>) -> Result<(), Error> {
        match stamp {
            Some(stamp)
                if stamp != self.policy.environment().as_str()
                    && !self.policy.allows_environment_mismatch() =>
            {
                Err(Error::EnvironmentMismatch {
                    database: stamp.to_owned(),
                    run: self.policy.environment(),
                    run_source: self.policy.environment_source().to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a database that holds another tool's history and none of ours, given the
    /// tables [`Dialect::histories_present`] found.
    pub(crate) fn refuse_other_tools(
        &self,
        present: impl IntoIterator<Item = String>,
    ) -> Result<(), Error> {
        let present: Vec<String> = present.into_iter().collect();
        let ours = &self.policy.history_table;
        if present.iter().any(|t| t == ours.table()) {
            return Ok(());
        }
        match crate::sql_text::OTHER_TOOLS
            .iter()
            .find(|(_, table)| present.iter().any(|t| t == table))
        {
            Some((tool, table)) => Err(Error::OtherToolsHistory {
                tool,
                table,
                ours: ours.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// A failed read of the history: named as a foreign table when its columns are not
    /// the ones this crate creates.
    pub(crate) fn history_error(&self, error: Error) -> Error {
        if crate::error::is_unknown_column(&error) {
            let message = match &error {
                Error::Database { message, .. } => message.clone(),
                other => other.to_string(),
            };
            return Error::UnknownHistoryTable {
                table: self.policy.history_table.to_string(),
                message,
            };
        }
        error
    }

    /// Plans the run against a history.
    pub(crate) fn plan(&self, history: &History, target: Option<Version>) -> Result<Plan, Error> {
        plan::plan(self.migrations, history, &self.policy, target).map_err(Error::History)
    }

    /// The fast path of every executor, judged on a history read without the lock: the
    /// report of a database that is already up to date, or `None` when the run must take
    /// the lock and look again. A history problem is judged again under the lock rather
    /// than reported here: without it, a `started` row may belong to a migration that
    /// another process is running right now, not to a crash.
    pub(crate) fn up_to_date(
        &self,
        history: &History,
        target: Option<Version>,
        started: std::time::Instant,
    ) -> Result<Option<Report>, Error> {
        self.check_stamp(history)?;
        match self.plan(history, target) {
            Ok(plan) if plan.is_empty() && history.stamp.is_some() => {
                let report = self.report(&plan, started);
                report.log_warnings();
                tracing::info!(
                    "schema: up to date at version {}",
                    plan.newest_applied
                        .map_or_else(|| "none".to_owned(), |v| v.to_string())
                );
                Ok(Some(report))
            }
            Ok(_) | Err(_) => Ok(None),
        }
    }

    /// The SQL for this migrator's tables in `dialect`.
    pub(crate) fn statements(&self, dialect: Dialect) -> Statements {
        let history = &self.policy.history_table;
        let meta = &self.policy.meta_table;
        Statements {
            dialect,
            history_table: history.quoted(dialect),
            touch_stamp: format!(
                "UPDATE {} SET value = value WHERE key_name = '{}'",
                meta.quoted(dialect),
                crate::sql_text::ENVIRONMENT_KEY
            ),
            create: [dialect.create_history(history), dialect.create_meta(meta)],
            histories_present: dialect.histories_present(history),
            probe: dialect.probe_history(history),
            read: dialect.read_history(history, meta),
            insert: dialect.insert_history(history),
            finish: dialect.finish_history(history),
            update_checksum: dialect.update_checksum(history),
            insert_stamp: dialect.insert_stamp(meta),
            delete_meta: dialect.delete_meta(meta),
            insert_meta: dialect.insert_meta(meta),
            fingerprint: drift::query(dialect),
        }
    }

    /// The history and metadata tables of this migrator.
    pub(crate) fn own_tables(&self) -> [&str; 2] {
        [
            self.policy.history_table.table(),
            self.policy.meta_table.table(),
        ]
    }

    /// Whether an up-to-date start compares the live schema with the fingerprint: on
    /// SQLite only when its schema counter moved since the fingerprint was recorded.
    pub(crate) fn drift_due(&self, history: &History, dialect: Dialect) -> bool {
        self.policy.drift_on_every_start(dialect)
            && match dialect {
                Dialect::Sqlite => history
                    .fingerprint_cookie
                    .is_some_and(|recorded| Some(recorded) != history.schema_cookie),
                Dialect::Postgres | Dialect::Mysql => true,
            }
    }

    /// Whether a run with `plan` compares the schema before it migrates and records it after.
    pub(crate) fn watches_drift(&self, plan: &Plan) -> bool {
        self.policy.drift_check() != DriftCheck::Off && !plan.pending.is_empty()
    }

    /// Compares the live schema with the recorded fingerprint (if any): a warning in the
    /// report, or the run's error when the policy stops on drift. Whether it differed.
    pub(crate) fn judge_drift(
        &self,
        recorded: Option<&str>,
        live: &Fingerprint,
        report: &mut Report,
    ) -> Result<bool, Error> {
        let own = self.own_tables();
        let Some(drift) = recorded.and_then(|text| drift::compare_recorded(text, live, &own))
        else {
            return Ok(false);
        };
        match self.policy.drift_check() {
            DriftCheck::Error => Err(Error::Drift(drift)),
            DriftCheck::Off => Ok(false),
            DriftCheck::Warn => {
                let warning = format!(
                    "{drift}. Write a migration that makes (or undoes) the change, or accept it with `db drift --accept --reason \"…\"`"
                );
                tracing::warn!("schema: {warning}");
                report.warnings.push(warning);
                report.drift = Some(drift);
                Ok(true)
            }
        }
    }

    /// What a migrating run records after it left `after`: `None` when it applied nothing
    /// and the schema is as it found it (a failed run leaves the database as it was).
    pub(crate) fn fingerprint_after_run(
        &self,
        recorded: Option<&str>,
        before: Option<&Fingerprint>,
        after: &Fingerprint,
        report: &Report,
    ) -> Option<String> {
        if report.applied.is_empty() && before == Some(after) {
            return None;
        }
        Some(self.fingerprint_to_record(recorded, before, after, report.version_after()))
    }

    /// The fingerprint text to record after a run that found `before` (when it compared)
    /// and left `after`. Drift found before the run stays drift.
    pub(crate) fn fingerprint_to_record(
        &self,
        recorded: Option<&str>,
        before: Option<&Fingerprint>,
        after: &Fingerprint,
        newest: Option<Version>,
    ) -> String {
        let base = match (recorded.and_then(Fingerprint::parse), before) {
            (Some((recorded, _, _)), Some(before)) => {
                // This run's own tables are its own doing, whenever they were made.
                let own = self.own_tables();
                recorded
                    .without(&own)
                    .carry_over(&before.without(&own), after)
            }
            _ => after.clone(),
        };
        base.render(newest, &audit::now_utc())
    }

    /// Tells that the fingerprint could not be read or recorded; never stops a run.
    pub(crate) fn fingerprint_failed(
        &self,
        doing: &str,
        error: impl std::fmt::Display,
        report: &mut Report,
    ) {
        let warning = format!(
            "{doing} the schema fingerprint failed ({error}); drift is not checked until the next migration records one"
        );
        tracing::warn!("schema: {warning}");
        report.warnings.push(warning);
    }

    /// The audit values of this run.
    pub(crate) fn audit(&self) -> Audit {
        Audit {
            applied_by: audit::applied_by(),
            app_version: self.migrations.app_version(),
            environment: self.policy.environment().as_str(),
        }
    }

    /// A report of a run that started at `started` with `plan`.
    pub(crate) fn report(&self, plan: &Plan, started: std::time::Instant) -> Report {
        Report {
            environment: self.policy.environment(),
            environment_source: self.policy.environment_source().clone(),
            version_before: plan.newest_applied,
            applied: Vec::new(),
            seeded: Vec::new(),
            amended: Vec::new(),
            warnings: self
                .policy
                .warnings()
                .iter()
                .chain(&plan.warnings)
                .cloned()
                .collect(),
            backup: None,
            drift: None,
            lock_written: None,
            ddl_lock_retries: 0,
            duration: started.elapsed(),
        }
    }

    /// Whether the run of `plan` backs up before its first change: something is pending
    /// and the policy asks for it.
    pub(crate) fn backs_up_before(&self, plan: &Plan) -> bool {
        !plan.pending.is_empty() && self.policy.backs_up()
    }

    /// Takes in what the backend's backup did: the report names the backup, and a failure
    /// stops the run unless the policy lets it go on.
    pub(crate) fn backed_up(
        &self,
        made: Result<String, String>,
        report: &mut Report,
    ) -> Result<(), Error> {
        match made {
            Ok(backup) => {
                tracing::info!("schema: backed up the database to {backup}");
                report.backup = Some(backup);
                Ok(())
            }
            Err(message) if self.policy.backup_stops_on_failure() => Err(Error::Backup { message }),
            Err(message) => {
                let warning = format!("migrating without a backup: {message}");
                tracing::warn!("schema: {warning}");
                report.warnings.push(warning);
                Ok(())
            }
        }
    }

    /// Appends this development run's migrations to the lock, reporting a warning if it cannot.
    pub(crate) fn write_dev_lock(&self, report: &mut Report) {
        if !self.policy.writes_dev_lock() || report.applied.is_empty() {
            return;
        }
        let applied: Vec<_> = report
            .applied
            .iter()
            .filter_map(|a| self.migrations.get(a.version))
            .collect();
        match crate::devlock::append(self.migrations, &applied) {
            Ok(path) => report.lock_written = path,
            Err(warning) => {
                tracing::warn!("schema: {warning}");
                report.warnings.push(warning);
            }
        }
    }
}

/// The SQL text of one migrator's tables, prepared once per run.
pub(crate) struct Statements {
    #[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
    pub dialect: Dialect,
    #[cfg_attr(not(any(feature = "async-runner", feature = "cli")), allow(dead_code))]
    pub history_table: String,
    #[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
    pub touch_stamp: String,
    pub create: [String; 2],
    pub histories_present: String,
    pub probe: String,
    pub read: String,
    pub insert: String,
    pub finish: String,
    pub update_checksum: String,

    pub insert_stamp: String,
    pub delete_meta: String,
    pub insert_meta: String,
    pub fingerprint: &'static str,
}

impl Statements {
    /// One insert of all `rows` with their values written as literals (PostgreSQL's
    /// `E''` strings, so quotes and backslashes in any value are escaped whatever the
    /// server's `standard_conforming_strings`). `execution_ms`, when given, is an SQL
    /// expression that replaces each row's own figure.
    #[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
    pub(crate) fn insert_literal(
        &self,
        rows: &[HistoryValues<'_>],
        execution_ms: Option<&str>,
    ) -> String {
        use std::fmt::Write;
        fn text(out: &mut String, value: &str) {
            out.push_str("E'");
            for c in value.chars() {
                if c == '\\' || c == '\'' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('\'');
        }
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.history_table,
            crate::sql_text::HISTORY_COLUMNS
        );
        for (n, row) in rows.iter().enumerate() {
            sql.push_str(if n == 0 { "(" } else { ", (" });
            let _ = write!(sql, "{}, ", row.version);
            for value in [
                row.name,
                row.kind,
                &row.checksum,
                row.state,
                &row.applied_at,
            ] {
                text(&mut sql, value);
                sql.push_str(", ");
            }
            match execution_ms {
                Some(expression) => sql.push_str(expression),
                None => {
                    let _ = write!(sql, "{}", row.execution_ms);
                }
            }
            sql.push_str(", ");
            for value in [row.app_version, row.environment, row.applied_by] {
                text(&mut sql, value);
                sql.push_str(", ");
            }
            match &row.note {
                Some(note) => text(&mut sql, note),
                None => sql.push_str("NULL"),
            }
            sql.push(')');
        }
        sql
    }
}

/// A bind value, for the executors that bind through one generic call.
#[derive(Clone, Debug)]
#[cfg_attr(not(any(feature = "async-runner", feature = "cli")), allow(dead_code))]
pub enum Value {
    /// An integer.
    Integer(i64),
    /// A text.
    Text(String),
    /// A text or SQL NULL.
    OptionalText(Option<String>),
}

/// The audit columns every history row of a run shares.
pub(crate) struct Audit {
    pub applied_by: String,
    pub app_version: &'static str,
    pub environment: &'static str,
}

/// The values of one history row, in [`crate::sql_text::HISTORY_COLUMNS`] order.
pub(crate) struct HistoryValues<'a> {
    pub version: i64,
    pub name: &'a str,
    pub kind: &'static str,
    pub checksum: String,
    pub state: &'static str,
    pub applied_at: String,
    pub execution_ms: i64,
    pub app_version: &'a str,
    pub environment: &'a str,
    pub applied_by: &'a str,
    pub note: Option<String>,
}

impl HistoryValues<'_> {
    /// The binds of an insert, in [`crate::sql_text::HISTORY_COLUMNS`] order.
    #[cfg_attr(not(any(feature = "async-runner", feature = "cli")), allow(dead_code))]
    pub(crate) fn binds(&self) -> Vec<Value> {
        vec![
            Value::Integer(self.version),
            Value::Text(self.name.to_owned()),
            Value::Text(self.kind.to_owned()),
            Value::Text(self.checksum.clone()),
            Value::Text(self.state.to_owned()),
            Value::Text(self.applied_at.clone()),
            Value::Integer(self.execution_ms),
            Value::Text(self.app_version.to_owned()),
            Value::Text(self.environment.to_owned()),
            Value::Text(self.applied_by.to_owned()),
            Value::OptionalText(self.note.clone()),
        ]
    }
}

impl Audit {
    pub(crate) fn row<'a>(
        &'a self,
        kind: &'static str,
        version: Version,
        name: &'a str,
        checksum: Checksum,
        finished: bool,
    ) -> HistoryValues<'a> {
        HistoryValues {
            version: version_to_sql(version),
            name,
            kind,
            checksum: checksum.to_string(),
            state: if finished {
                state::APPLIED
            } else {
                state::STARTED
            },
            applied_at: audit::now_utc(),
            execution_ms: 0,
            app_version: self.app_version,
            environment: self.environment,
            applied_by: &self.applied_by,
            note: None,
        }
    }
}

/// Versions are u64; databases store i64. The bits are kept, so every u64 round-trips.
pub(crate) fn version_to_sql(version: Version) -> i64 {
    version.get() as i64
}

/// The inverse of [`version_to_sql`].
pub(crate) fn version_from_sql(value: i64) -> Version {
    Version::new(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, Migrations};

    static NONE: Migrations = Migrations::empty();

    #[test]
    fn history_literals_escape_quotes_and_backslashes() {
        let migrator = Migrator::with_policy(&NONE, Policy::new(Environment::Test));
        let statements = migrator.statements(Dialect::Postgres);
        let audit = Audit {
            applied_by: "DOMAIN\\o'brien@host".into(),
            app_version: "1.0.0",
            environment: "test",
        };
        let mut row = audit.row(
            crate::sql_text::kind::MIGRATION,
            Version::new(7),
            "m",
            Checksum::from_bytes([0; 32]),
            true,
        );
        row.note = Some("it's".into());
        let sql = statements.insert_literal(&[row], None);
        assert!(sql.contains(r"E'DOMAIN\\o\'brien@host'"), "{sql}");
        assert!(sql.contains(r"E'it\'s'"), "{sql}");
        assert!(
            sql.starts_with("INSERT INTO \"schema_history\" (version, name"),
            "{sql}"
        );
        assert!(sql.contains("VALUES (7, E'm', E'migration'"), "{sql}");
        assert!(sql.ends_with(", E'it\\'s')"), "{sql}");
    }
}
