//! `db drift`: the live schema against the fingerprint the migrations left, and the
//! fingerprint kept in step when the command itself changes the schema.

use super::console::AsSql;
use super::json;
use super::output::print_json;
use super::{Failure, Outcome, Session, redact};
use crate::drift::{self, DriftCheck, Fingerprint};
use crate::engine;
use crate::sql_text::kind;
use crate::{Checksum, Version};

/// What `db drift` found.
pub(super) enum Found {
    /// No fingerprint was ever recorded here.
    Nothing,
    /// The live schema matches it.
    Same { after: Option<Version>, at: String },
    /// It differs.
    Drift(drift::Drift),
}

impl Session {
    /// The newest fingerprint recorded in this database (by any migration set sharing
    /// it) and the live schema.
    pub(super) fn fingerprints(&mut self) -> Result<(Option<String>, Fingerprint), Failure> {
        let statements = self.migrator.statements(self.console.dialect());
        let mut sql = AsSql(self.console.as_mut());
        Ok(engine::finish_now(engine::fingerprints(
            &mut sql,
            &statements,
        ))?)
    }

    /// Compares the live schema with the recorded fingerprint.
    pub(super) fn drift(&mut self) -> Result<Found, Failure> {
        let (Some(text), live) = self.fingerprints()? else {
            return Ok(Found::Nothing);
        };
        if let Some(drift) = drift::compare_recorded(&text, &live, &self.migrator.own_tables()) {
            return Ok(Found::Drift(drift));
        }
        Ok(match Fingerprint::parse(&text) {
            Some((_, after, at)) => Found::Same { after, at },
            None => Found::Nothing,
        })
    }

    /// Records `text` as the fingerprint, as a migrating run does.
    pub(super) fn record_fingerprint(&mut self, text: &str) -> Result<(), Failure> {
        let statements = self.migrator.statements(self.console.dialect());
        let mut sql = AsSql(self.console.as_mut());
        Ok(engine::finish_now(engine::record_fingerprint(
            &mut sql,
            &statements,
            text,
        ))?)
    }

    /// Runs `change` (which alters the schema: a revert, a baseline) and keeps the
    /// fingerprint in step: what `change` did is recorded, drift found before it stays
    /// drift. Nothing is recorded when the policy turns drift off, or when no fingerprint
    /// exists and `always` is false.
    pub(super) fn keeping_fingerprint<T>(
        &mut self,
        always: bool,
        change: impl FnOnce(&mut Session) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        if self.policy().drift_check() == DriftCheck::Off {
            return change(self);
        }
        let (recorded, before) = self.fingerprints()?;
        // A change that fails part-way (the third of five reverts) has committed what came
        // before the failure: the fingerprint follows what committed, failure or not.
        let outcome = change(self);
        if !(recorded.is_some() || always) {
            return outcome;
        }
        let kept = (|| {
            let after = self.fingerprints()?.1;
            if outcome.is_err() && after == before {
                return Ok(());
            }
            let newest = self
                .recorded()?
                .newest_migration()
                .map(|row| Version::new(row.version as u64));
            let text = self.migrator.fingerprint_to_record(
                recorded.as_deref(),
                Some(&before),
                &after,
                newest,
            );
            self.record_fingerprint(&text)
        })();
        match (outcome, kept) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(failure)) => Err(failure),
            (Err(failure), Ok(())) => Err(failure),
            (Err(failure), Err(also)) => Err(Failure {
                code: failure.code,
                message: format!(
                    "{}\n(recording the schema fingerprint after it failed too: {}; `db drift` may report what the command changed until `db drift --accept --reason …`)",
                    failure.message, also.message
                ),
            }),
        }
    }

    /// `db drift [--json] [--accept --reason TEXT]`.
    pub(super) fn drift_command(
        mut self,
        as_json: bool,
        accept: bool,
        reason: Option<&str>,
    ) -> Outcome {
        if accept {
            return self.locked(|session, recorded| {
                let found = session.drift()?;
                session.accept_drift(&recorded, found, reason.unwrap_or_default())
            });
        }
        let found = self.drift()?;
        if as_json {
            print_json(&json::Drift::of(&found))?;
        } else {
            match &found {
                Found::Nothing => say!(
                    "no schema fingerprint is recorded in {} yet: the next migration records one, or `db drift --accept --reason …` records the live schema now",
                    redact(&self.url)
                ),
                Found::Same { after, at } => say!(
                    "ok: the live schema of {} matches what the migrations left (recorded after version {} at {at})",
                    redact(&self.url),
                    after.map_or_else(|| "none".to_owned(), |v| v.to_string())
                ),
                Found::Drift(drift) => {
                    say!(
                        "{} difference(s) between the live schema of {} and what the migrations left (recorded after version {} at {}):",
                        drift.differences.len(),
                        redact(&self.url),
                        drift
                            .recorded_after
                            .map_or_else(|| "none".to_owned(), |v| v.to_string()),
                        drift.recorded_at
                    );
                    for difference in &drift.differences {
                        say!("  {difference}");
                    }
                    say!(
                        "write a migration that makes (or undoes) each change, or after checking them run `db drift --accept --reason …`"
                    );
                }
            }
        }
        Ok(if matches!(found, Found::Drift(_)) {
            1
        } else {
            0
        })
    }

    /// Records the live schema as the fingerprint, with an audited history row.
    fn accept_drift(
        &mut self,
        recorded: &super::inspect::Recorded,
        found: Found,
        reason: &str,
    ) -> Outcome {
        if reason.trim().is_empty() {
            return Err(Failure::usage(
                "--accept needs --reason saying who checked the differences: it is kept in the history",
            ));
        }
        let accepted = match &found {
            Found::Drift(drift) => drift
                .differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            Found::Nothing => "no fingerprint was recorded before".to_owned(),
            Found::Same { .. } => {
                say!("nothing to accept: the live schema matches the fingerprint");
                return Ok(0);
            }
        };
        if recorded.rows.is_empty() && recorded.stamp.is_none() {
            return Err(Failure::check(
                "this database has no migration history: run `db migrate` or `db baseline` first",
            ));
        }
        let newest = recorded
            .newest_migration()
            .map(|row| Version::new(row.version as u64));
        let live = self.fingerprints()?.1;
        let text = self
            .migrator
            .fingerprint_to_record(None, None, &live, newest);
        let statements = self.migrator.statements(self.console.dialect());
        let audit = self.migrator.audit();
        let mut row = audit.row(
            kind::REPAIR,
            newest.unwrap_or(Version::new(0)),
            "schema drift",
            Checksum::of_file(text.as_bytes()),
            true,
        );
        row.note = Some(format!("accepted schema drift ({accepted}): {reason}"));
        self.record_fingerprint(&text)?;
        self.console.execute(&statements.insert, &row.binds())?;
        say!(
            "recorded the live schema of {} as what the migrations left; what was accepted and why are in the history",
            redact(&self.url)
        );
        Ok(0)
    }
}
