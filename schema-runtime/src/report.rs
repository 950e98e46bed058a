//! What a run did, returned to the application and printed at startup.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Environment, EnvironmentSource, Version};

/// A migration or seed this run applied.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// What a run did.
#[derive(Clone, Debug)]
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
    /// The lock file this development run wrote, if any.
    pub lock_written: Option<PathBuf>,
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
            writeln!(
                f,
                "schema: applied {} migration{} (version {} -> {}) in {}",
                self.applied.len(),
                if self.applied.len() == 1 { "" } else { "s" },
                version(self.version_before),
                version(self.version_after()),
                self.duration.as_millis()
            )?;
            for applied in &self.applied {
                writeln!(
                    f,
                    "  + {:>14}  {}  ({} ms)",
                    applied.version,
                    applied.path,
                    applied.duration.as_millis()
                )?;
            }
        }
        for seed in &self.seeded {
            writeln!(f, "  seed {:>12}  {}", seed.version, seed.path)?;
        }
        for version in &self.amended {
            writeln!(
                f,
                "  amended checksum of version {version} recorded (from migrations.lock)"
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
