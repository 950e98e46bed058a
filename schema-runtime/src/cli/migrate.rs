//! `db plan` and `db migrate`: the pending migrations (and seeds) as the planner sees
//! them from the recorded history, shown as SQL or applied.

use std::io::{BufRead, IsTerminal, Write as _};

use super::inspect::Recorded;
use super::json;
use super::output::print_json;
use super::{Failure, Outcome, Session, redact};
use crate::plan::{History, RowKind};
use crate::sql_text::{kind, state};
use crate::{Environment, Version};

impl Session {
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

    pub(super) fn plan(mut self, target: Option<Version>, as_json: bool) -> Outcome {
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
            print_json(&json::Plan {
                environment: self.policy().environment().as_str().to_owned(),
                steps: steps
                    .iter()
                    .map(
                        |&(kind, version, name, path, transaction, sql)| json::Step {
                            kind: kind.to_owned(),
                            name: name.to_owned(),
                            path: path.to_owned(),
                            sql: sql.to_owned(),
                            transaction,
                            version: version.get(),
                        },
                    )
                    .collect(),
            })?;
            return Ok(0);
        }
        if steps.is_empty() {
            say!("-- nothing to run: the database is up to date");
        }
        for (kind, version, _, path, transaction, sql) in &steps {
            say!(
                "-- {kind} {version}: {path}{}",
                if *transaction {
                    ""
                } else {
                    " (outside a transaction)"
                }
            );
            say!("{}\n", sql.trim_end());
        }
        Ok(0)
    }

    pub(super) fn migrate(mut self, target: Option<Version>, yes: bool) -> Outcome {
        if self.policy().environment() == Environment::Production
            && !yes
            && std::io::stdin().is_terminal()
        {
            let recorded = self.recorded()?;
            let plan = self.migrator.plan(&Self::history(&recorded), target)?;
            if plan.pending.is_empty() {
                say!("nothing to apply: the database is up to date");
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
        self.run_startup(target)
    }

    /// Runs the startup runner up to `target` (it takes the migration lock itself),
    /// printing each step as it is applied and then the summary.
    pub(super) fn run_startup(&mut self, target: Option<Version>) -> Outcome {
        eprintln!(
            "migrating {} ({} migrations in this binary)…",
            redact(&self.url),
            self.migrations().migrations().len()
        );
        let migrator = self
            .migrator
            .clone()
            .on_progress(super::progress::observer());
        let report = self.console.migrate(&migrator, target)?;
        say_part!("{}", crate::report::Summary(&report));
        Ok(0)
    }
}
