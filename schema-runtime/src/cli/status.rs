//! `db status`: the environment, the app's and the database's versions, every migration
//! and seed with its state, the live schema and its drift. Changes nothing.

use super::inspect::{self, State};
use super::json;
use super::output::{print_json, table};
use super::{Outcome, Session, drift, redact};
use crate::sql_text::kind;

impl Session {
    pub(super) fn status(mut self, as_json: bool) -> Outcome {
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
            let of_kind = |which: &str| {
                entries
                    .iter()
                    .filter(|e| e.kind == which)
                    .map(json::Entry::of)
                    .collect()
            };
            print_json(&json::Status {
                app: json::App {
                    name: migrations.app_name().to_owned(),
                    version: migrations.app_version().to_owned(),
                },
                database: json::Database {
                    backend: self.backend().to_owned(),
                    stamp: recorded.stamp.clone(),
                    url: redact(&self.url),
                },
                database_version: newest.map(|row| json::DatabaseVersion {
                    app_version: row.app_version.clone(),
                    version: row.version as u64,
                }),
                drift: match &found {
                    drift::Found::Nothing => None,
                    drift::Found::Same { .. } => Some(Vec::new()),
                    drift::Found::Drift(d) => Some(
                        d.differences
                            .iter()
                            .map(json::DriftDifference::of)
                            .collect(),
                    ),
                },
                environment: json::RunEnvironment {
                    name: policy.environment().as_str().to_owned(),
                    source: policy.environment_source().to_string(),
                },
                migrations: of_kind(kind::MIGRATION),
                schema: schema.iter().map(json::Table::of).collect(),
                seeds: of_kind(kind::SEED),
            })?;
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
        say_part!(
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
                        e.state.styled(),
                        row.map(|r| r.applied_at.clone()).unwrap_or_default(),
                        row.map(|r| r.applied_by.clone()).unwrap_or_default(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            say!("\n{title}:");
            say_part!(
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
        say!(
            "\n{} applied, {} pending, {} edited, {} missing, {} half-applied",
            count(State::Applied) + count(State::Amended),
            count(State::Pending),
            count(State::Edited),
            count(State::Missing),
            count(State::HalfApplied)
        );
        say!("\nschema:");
        if schema.is_empty() {
            say!("no tables");
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
            say_part!(
                "{}",
                table(&["TABLE", "ROWS", "FOREIGN KEYS", "INDEXES"], &rows)
            );
        }
        match found {
            drift::Found::Nothing => {
                say!("\ndrift: not compared (no fingerprint recorded yet)")
            }
            drift::Found::Same { .. } => say!("\ndrift: none"),
            drift::Found::Drift(d) => {
                say!(
                    "\ndrift: {} difference(s) from what the migrations left (`db drift`):",
                    d.differences.len()
                );
                for difference in &d.differences {
                    say!("  {difference}");
                }
            }
        }
        Ok(0)
    }
}
