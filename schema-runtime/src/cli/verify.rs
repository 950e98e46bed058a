//! `db verify`: every difference between the database, this binary, its lock and the
//! recorded schema fingerprint; exit 1 on any. Changes nothing.

use schema_core::Lock;

use super::inspect::{self, State};
use super::json;
use super::output::print_json;
use super::{Failure, Outcome, Session, drift, redact};
use crate::Version;
use crate::error::suggest;
use crate::sql_text::kind;

/// A difference `db verify` reports.
struct Difference {
    kind: &'static str,
    version: Option<Version>,
    name: String,
    message: String,
}

impl Session {
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

    pub(super) fn verify(mut self, pending_ok: bool, as_json: bool) -> Outcome {
        let differences = self.differences(pending_ok)?;
        if as_json {
            print_json(&json::Verify {
                differences: differences
                    .iter()
                    .map(|d| json::VerifyDifference {
                        kind: d.kind.to_owned(),
                        message: d.message.clone(),
                        name: d.name.clone(),
                        version: d.version.map(Version::get),
                    })
                    .collect(),
                ok: differences.is_empty(),
            })?;
        } else if differences.is_empty() {
            say!(
                "ok: {} matches this binary ({} migrations) and its lock",
                redact(&self.url),
                self.migrations().migrations().len()
            );
        } else {
            say!(
                "{} difference(s) between {} and this binary:",
                differences.len(),
                redact(&self.url)
            );
            for difference in &differences {
                say!("  {:<13} {}", difference.kind, difference.message);
            }
        }
        Ok(if differences.is_empty() { 0 } else { 1 })
    }
}
