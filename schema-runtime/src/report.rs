//! What a run did, returned to the application and printed at startup.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Environment, EnvironmentSource, Version};

/// A migration or seed this run applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: &'static str,
    /// The file.
    pub path: &'static str,
    /// How long its SQL took.
    pub duration: Duration,
}

impl Applied {
    fn new(version: Version, name: &'static str, path: &'static str, duration: Duration) -> Self {
        Applied {
            version,
            name,
            path,
            duration,
        }
    }

    fn log(&self, what: &str) {
        tracing::info!(
            "schema: applied {what} {} ({})",
            self.path,
            milliseconds(self.duration)
        );
    }
}

/// What a run did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// The environment of the run.
    pub environment: Environment,
    /// Where the environment came from.
    pub environment_source: EnvironmentSource,
    /// The newest applied version before the run.
    pub version_before: Option<Version>,
    /// Migrations applied, in order.
    pub applied: Vec<Applied>,
    /// Seeds applied, in order.
    pub seeded: Vec<Applied>,
    /// Versions whose amended checksum (from the lock) was recorded.
    pub amended: Vec<Version>,
    /// Things worth knowing that did not stop the run.
    pub warnings: Vec<String>,
    /// The backup made before the first migration of this run, if any: a file path
    /// (SQLite) or the name given to the policy's backup command (servers).
    pub backup: Option<String>,
    /// How the live schema differed from the recorded fingerprint when this run compared
    /// them (also one of the warnings); `None` when it matched or was not compared.
    pub drift: Option<crate::drift::Drift>,
    /// The lock file this development run wrote, if any.
    pub lock_written: Option<PathBuf>,
    /// How many times a migration was tried again after it hit the policy's DDL lock
    /// timeout ([`Policy::ddl_lock_timeout`](crate::Policy::ddl_lock_timeout)).
    pub ddl_lock_retries: usize,
    /// The whole run's duration.
    pub duration: Duration,
}

impl Report {
    /// The newest applied version after the run.
    pub fn version_after(&self) -> Option<Version> {
        self.applied
            .last()
            .map(|a| a.version)
            .or(self.version_before)
    }

    /// Records (and logs) a migration this run applied.
    pub(crate) fn record_migration(&mut self, migration: &crate::Migration, duration: Duration) {
        let applied = Applied::new(
            migration.version(),
            migration.name(),
            migration.path(),
            duration,
        );
        applied.log("migration");
        self.applied.push(applied);
    }

    /// Records (and logs) a seed this run applied.
    pub(crate) fn record_seed(&mut self, seed: &crate::Seed, duration: Duration) {
        let applied = Applied::new(seed.version(), seed.name(), seed.path(), duration);
        applied.log("seed");
        self.seeded.push(applied);
    }

    /// Logs each warning through `tracing`.
    pub(crate) fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("schema: {warning}");
        }
    }

    /// Whether the run changed nothing.
    pub fn is_up_to_date(&self) -> bool {
        self.applied.is_empty() && self.seeded.is_empty() && self.amended.is_empty()
    }
}

/// A duration for people: `0.42 ms`, `12 ms`, `3.1 s`.
pub(crate) fn milliseconds(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn version(version: Option<Version>) -> String {
    version.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

/// A report without its line per migration and seed, for a reader who saw each line as
/// it was applied.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) struct Summary<'a>(pub &'a Report);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, false)
    }
}

impl Report {
    fn write(&self, f: &mut fmt::Formatter<'_>, steps: bool) -> fmt::Result {
        writeln!(
            f,
            "environment: {} ({})",
            self.environment, self.environment_source
        )?;
        if self.is_up_to_date() {
            writeln!(
                f,
                "schema: up to date at version {}",
                version(self.version_before)
            )?;
        } else {
            if let Some(backup) = &self.backup {
                writeln!(f, "schema: backed up to {backup}")?;
            }
            writeln!(
                f,
                "schema: applied {} migration{} (version {} -> {}) in {}",
                self.applied.len(),
                if self.applied.len() == 1 { "" } else { "s" },
                version(self.version_before),
                version(self.version_after()),
                milliseconds(self.duration)
            )?;
            for applied in self.applied.iter().filter(|_| steps) {
                writeln!(
                    f,
                    "  + {:>14}  {}  ({})",
                    applied.version,
                    applied.path,
                    milliseconds(applied.duration)
                )?;
            }
        }
        for seed in self.seeded.iter().filter(|_| steps) {
            writeln!(f, "  seed {:>12}  {}", seed.version, seed.path)?;
        }
        for version in &self.amended {
            writeln!(
                f,
                "  amended checksum of version {version} recorded (from migrations.lock)"
            )?;
        }
        if self.ddl_lock_retries > 0 {
            writeln!(
                f,
                "  {} retr{} after the DDL lock timeout",
                self.ddl_lock_retries,
                if self.ddl_lock_retries == 1 {
                    "y"
                } else {
                    "ies"
                }
            )?;
        }
        if let Some(path) = &self.lock_written {
            writeln!(f, "  lock updated: {}", path.display())?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(milliseconds(Duration::from_micros(420)), "0.42 ms");
        assert_eq!(milliseconds(Duration::from_millis(12)), "12 ms");
        assert_eq!(milliseconds(Duration::from_millis(3_100)), "3100 ms");
        assert_eq!(milliseconds(Duration::from_secs(12)), "12.0 s");
    }

    #[test]
    fn report_lists_what_was_applied() {
        let report = Report {
            environment: Environment::Development,
            environment_source: EnvironmentSource::DebugBuildDefault,
            version_before: Some(Version::new(1)),
            applied: vec![Applied {
                version: Version::new(2),
                name: "add_email",
                path: "migrations/0002_add_email.sql",
                duration: Duration::from_micros(1500),
            }],
            seeded: Vec::new(),
            amended: Vec::new(),
            warnings: vec!["something to know".into()],
            backup: None,
            drift: None,
            lock_written: None,
            ddl_lock_retries: 0,
            duration: Duration::from_millis(3),
        };
        let text = report.to_string();
        assert!(
            text.starts_with("environment: development (APP_ENV unset, debug build)\n"),
            "{text}"
        );
        assert!(
            text.contains("schema: applied 1 migration (version 1 -> 2) in 3.00 ms"),
            "{text}"
        );
        assert!(
            text.contains("migrations/0002_add_email.sql  (1.50 ms)"),
            "{text}"
        );
        assert!(text.contains("warning: something to know"), "{text}");
    }
}
