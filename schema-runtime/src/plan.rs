//! The planner: embedded migrations + history rows + policy in, a plan or every problem
//! out. It does no I/O, so every case is tested without a database.

use crate::error::{HistoryProblem, HistoryProblems};
use crate::{Amendment, Checksum, Migration, Migrations, Policy, Seed, Version};

/// Whether a history row is a migration or a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// A migration row.
    Migration,
    /// A seed row.
    Seed,
}

impl RowKind {
    /// The kind a history row's `kind` column names, or `None` for an audit row
    /// (amendment, revert, repair, baseline), which is not the planner's.
    pub fn from_column(kind: &[u8]) -> Option<Self> {
        match kind {
            k if k == crate::sql_text::kind::MIGRATION.as_bytes() => Some(RowKind::Migration),
            k if k == crate::sql_text::kind::SEED.as_bytes() => Some(RowKind::Seed),
            _ => None,
        }
    }
}

/// One migration or seed row of the history, as startup reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// Migration or seed.
    pub kind: RowKind,
    /// The version.
    pub version: Version,
    /// The recorded checksum, as the row holds it.
    pub checksum: RecordedChecksum,
    /// Whether it finished (`false`: started outside a transaction and never marked finished).
    pub finished: bool,
}

/// A history row's checksum as its text column holds it. It is parsed only when it does
/// not spell the binary's checksum: on an up-to-date start with many migrations, parsing
/// every row's hex was a tenth of the client's work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedChecksum {
    /// Text of 64 bytes: normally the lowercase hex this crate writes.
    Hex([u8; 64]),
    /// Text of any other length, which is never a checksum.
    Other(String),
}

impl RecordedChecksum {
    /// Keeps the column's text.
    pub fn from_text(text: &[u8]) -> Self {
        match <[u8; 64]>::try_from(text) {
            Ok(hex) => RecordedChecksum::Hex(hex),
            Err(_) => RecordedChecksum::Other(String::from_utf8_lossy(text).into_owned()),
        }
    }

    /// Whether the text spells `checksum` (in either case).
    pub fn is(&self, checksum: &Checksum) -> bool {
        match self {
            RecordedChecksum::Hex(hex) => checksum.matches_hex(hex),
            RecordedChecksum::Other(_) => false,
        }
    }

    /// The checksum, or the text when it is not 64 hex digits.
    pub fn parse(&self) -> Result<Checksum, String> {
        match self {
            RecordedChecksum::Hex(hex) => {
                Checksum::from_hex(hex).ok_or_else(|| String::from_utf8_lossy(hex).into_owned())
            }
            RecordedChecksum::Other(text) => Err(text.clone()),
        }
    }
}

impl From<Checksum> for RecordedChecksum {
    fn from(checksum: Checksum) -> Self {
        RecordedChecksum::Hex(checksum.hex_bytes())
    }
}

/// What a database holds: its migration and seed rows and its environment stamp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The rows, in any order.
    pub rows: Vec<HistoryRow>,
    /// The environment the database was stamped with, if any.
    pub stamp: Option<String>,
    /// SQLite's schema counter when the drift fingerprint was recorded.
    pub fingerprint_cookie: Option<i64>,
    /// SQLite's schema counter now.
    pub schema_cookie: Option<i64>,
}

/// An amendment from the lock that this database must record: it ran `from`, the
/// binary has `to`, and the lock says why that is fine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedAmendment {
    /// The migration.
    pub migration: &'static Migration,
    /// The checksum the database recorded.
    pub from: Checksum,
    /// The lock's amendment that accepts it.
    pub amendment: Amendment,
}

/// What a run will do, in order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Migrations to apply, in version order.
    pub pending: Vec<&'static Migration>,
    /// Seeds to run after them, in version order.
    pub seeds: Vec<&'static Seed>,
    /// Amended checksums to record.
    pub amendments: Vec<PlannedAmendment>,
    /// The newest applied version before this run.
    pub newest_applied: Option<Version>,
    /// Things worth telling that do not stop the run.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.seeds.is_empty() && self.amendments.is_empty()
    }
}

/// Where one recorded migration stands against the binary: the one judgement of a
/// migration row that startup, `db status`, `db verify`, `db plan` and `db down` share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Finished, with the binary's checksum.
    Applied,
    /// Finished, with an older checksum that the lock's `amends` accepts.
    Amended(Amendment),
    /// Finished, with a checksum the binary does not have.
    Edited,
    /// Started outside a transaction and never marked finished.
    HalfApplied,
    /// Finished here, and not in the binary.
    Missing,
}

/// The [`Standing`] of a migration row that recorded `recorded` (`None`: unreadable) and
/// is `finished` or not, against `embedded`, the binary's migration of that version.
pub fn standing(
    embedded: Option<&Migration>,
    recorded: Option<Checksum>,
    finished: bool,
) -> Standing {
    if !finished {
        return Standing::HalfApplied;
    }
    let Some(migration) = embedded else {
        return Standing::Missing;
    };
    let Some(recorded) = recorded else {
        return Standing::Edited;
    };
    if migration.checksum() == recorded {
        return Standing::Applied;
    }
    match migration.amendments().iter().find(|a| a.from() == recorded) {
        Some(amendment) => Standing::Amended(*amendment),
        None => Standing::Edited,
    }
}

/// Compares the whole history with the embedded migrations and decides what to run.
/// Migrations above `target` are left pending. Every problem is reported at once.
pub fn plan(
    migrations: &Migrations,
    history: &History,
    policy: &Policy,
    target: Option<Version>,
) -> Result<Plan, HistoryProblems> {
    let mut problems = Vec::new();
    let mut plan = Plan::default();
    let mut applied_migrations: Vec<Version> = Vec::new();
    let mut applied_seeds: Vec<Version> = Vec::new();

    for row in &history.rows {
        match row.kind {
            RowKind::Migration => applied_migrations.push(row.version),
            RowKind::Seed => applied_seeds.push(row.version),
        }
        // The common case, decided without parsing the row's checksum: a finished
        // migration whose text is the binary's.
        if row.kind == RowKind::Migration
            && row.finished
            && migrations
                .get(row.version)
                .is_some_and(|migration| row.checksum.is(&migration.checksum()))
        {
            plan.newest_applied = plan.newest_applied.max(Some(row.version));
            continue;
        }
        let recorded = match row.checksum.parse() {
            Ok(checksum) => checksum,
            Err(text) => {
                problems.push(HistoryProblem::Unreadable {
                    version: row.version,
                    checksum: text,
                });
                continue;
            }
        };
        match row.kind {
            RowKind::Seed => {
                let seed = migrations
                    .seeds()
                    .iter()
                    .find(|s| s.version() == row.version);
                if !row.finished {
                    // A `no-transaction` seed that never finished: the same state as a
                    // half-applied migration, for startup as for `db status`.
                    problems.push(HistoryProblem::HalfAppliedSeed {
                        version: row.version,
                        path: seed.map_or_else(
                            || format!("seed version {}", row.version),
                            |s| s.path().to_owned(),
                        ),
                    });
                    continue;
                }
                if let Some(seed) = seed.filter(|s| s.checksum() != recorded) {
                    plan.warnings.push(format!(
                        "seed {} changed after it ran here (sha256:{recorded} then, sha256:{} now); seeds run once, so the change will not run",
                        seed.path(),
                        seed.checksum()
                    ));
                }
            }
            RowKind::Migration => {
                plan.newest_applied = plan.newest_applied.max(Some(row.version));
                let embedded = migrations.get(row.version);
                match standing(embedded, Some(recorded), row.finished) {
                    Standing::Applied => {}
                    Standing::HalfApplied => problems.push(HistoryProblem::HalfApplied {
                        version: row.version,
                        path: embedded.map_or_else(
                            || format!("version {}", row.version),
                            |m| m.path().to_owned(),
                        ),
                    }),
                    Standing::Missing if policy.allows_missing() => {
                        plan.warnings.push(format!(
                            "version {} is applied in this database but is not in this binary (allowed by the policy)",
                            row.version
                        ));
                    }
                    Standing::Missing => problems.push(HistoryProblem::Missing {
                        version: row.version,
                        recorded,
                    }),
                    Standing::Amended(amendment) => plan.amendments.push(PlannedAmendment {
                        migration: embedded.expect("an amended migration is in the binary"),
                        from: recorded,
                        amendment,
                    }),
                    Standing::Edited => {
                        let migration = embedded.expect("an edited migration is in the binary");
                        problems.push(HistoryProblem::Edited {
                            version: row.version,
                            path: migration.path(),
                            recorded,
                            embedded: migration.checksum(),
                        });
                    }
                }
            }
        }
    }

    applied_migrations.sort_unstable();
    for migration in migrations.migrations() {
        if applied_migrations
            .binary_search(&migration.version())
            .is_ok()
        {
            continue;
        }
        if target.is_some_and(|target| migration.version() > target) {
            break;
        }
        if let Some(newest) = plan.newest_applied
            && migration.version() < newest
            && !policy.allows_out_of_order()
        {
            problems.push(HistoryProblem::OutOfOrder {
                version: migration.version(),
                path: migration.path(),
                newest_applied: newest,
            });
            continue;
        }
        plan.pending.push(migration);
    }

    if policy.runs_seeds() {
        applied_seeds.sort_unstable();
        plan.seeds = migrations
            .seeds()
            .iter()
            .filter(|seed| applied_seeds.binary_search(&seed.version()).is_err())
            .collect();
    }

    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(HistoryProblems(problems))
    }
}

impl History {
    /// Adds one row of the startup query ([`crate::sql_text::Dialect::read_history`]):
    /// its version, its checksum column's text and its tag, which is `None` for a finished
    /// migration, `"<kind> <state>"` for another history row, or names a metadata row.
    pub fn push_row(&mut self, version: Version, checksum: &[u8], tag: Option<&[u8]>) {
        let Some(tag) = tag else {
            self.push(RowKind::Migration, version, checksum, true);
            return;
        };
        match tag {
            b"stamp" => self.stamp = Some(String::from_utf8_lossy(checksum).into_owned()),
            b"fingerprint" => self.fingerprint_cookie = Some(version.get() as i64),
            b"cookie" => self.schema_cookie = Some(version.get() as i64),
            _ => {
                let (kind, state) = tag
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or((tag, &b""[..]), |space| (&tag[..space], &tag[space + 1..]));
                let Some(kind) = RowKind::from_column(kind) else {
                    return;
                };
                let finished = state != crate::sql_text::state::STARTED.as_bytes();
                self.push(kind, version, checksum, finished);
            }
        }
    }

    /// Adds one migration or seed row, its checksum as the history's text.
    pub fn push(&mut self, kind: RowKind, version: Version, checksum: &[u8], finished: bool) {
        self.rows.push(HistoryRow {
            kind,
            version,
            checksum: RecordedChecksum::from_text(checksum),
            finished,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, Migration};

    fn sum(text: &str) -> Checksum {
        Checksum::of_file(text.as_bytes())
    }

    fn migration(version: u64, sql: &'static str) -> Migration {
        let path: &'static str =
            Box::leak(format!("migrations/{version:04}_m.sql").into_boxed_str());
        Migration::new(Version::new(version), "m", sql, sum(sql), path)
    }

    fn list(migrations: Vec<Migration>, seeds: Vec<Seed>) -> Migrations {
        Migrations::new(
            Box::leak(migrations.into_boxed_slice()),
            Box::leak(seeds.into_boxed_slice()),
            "",
            "migrations",
        )
    }

    fn standard() -> Migrations {
        let amended = migration(3, "select 3; -- fixed").with_amendments(Box::leak(Box::new([
            Amendment::new(sum("select 3;"), "comment only"),
        ])));
        list(
            vec![
                migration(1, "select 1;"),
                migration(2, "select 2;"),
                amended,
                migration(4, "select 4;"),
            ],
            vec![Seed::new(
                Version::new(1),
                "demo",
                "insert 1;",
                sum("insert 1;"),
                "migrations/seeds/0001_demo.sql",
            )],
        )
    }

    fn row(version: u64, sql: &str) -> HistoryRow {
        HistoryRow {
            kind: RowKind::Migration,
            version: Version::new(version),
            checksum: sum(sql).into(),
            finished: true,
        }
    }

    fn history(rows: Vec<HistoryRow>) -> History {
        History {
            rows,
            stamp: Some("development".into()),
            ..History::default()
        }
    }

    fn dev() -> Policy {
        Policy::new(Environment::Development)
    }

    fn versions(plan: &Plan) -> Vec<u64> {
        plan.pending.iter().map(|m| m.version().get()).collect()
    }

    #[test]
    fn cases() {
        struct Case {
            name: &'static str,
            rows: Vec<HistoryRow>,
            policy: Policy,
            target: Option<u64>,
            expect: Result<Vec<u64>, Vec<HistoryProblem>>,
        }
        let edited = HistoryProblem::Edited {
            version: Version::new(2),
            path: "migrations/0002_m.sql",
            recorded: sum("select 2 -- old;"),
            embedded: sum("select 2;"),
        };
        let cases = vec![
            Case {
                name: "empty database: everything pending",
                rows: vec![],
                policy: dev(),
                target: None,
                expect: Ok(vec![1, 2, 3, 4]),
            },
            Case {
                name: "clean: nothing pending",
                rows: vec![
                    row(1, "select 1;"),
                    row(2, "select 2;"),
                    row(3, "select 3; -- fixed"),
                    row(4, "select 4;"),
                ],
                policy: dev(),
                target: None,
                expect: Ok(vec![]),
            },
            Case {
                name: "pending after applied",
                rows: vec![row(1, "select 1;")],
                policy: dev(),
                target: None,
                expect: Ok(vec![2, 3, 4]),
            },
            Case {
                name: "target stops early",
                rows: vec![row(1, "select 1;")],
                policy: dev(),
                target: Some(2),
                expect: Ok(vec![2]),
            },
            Case {
                name: "edited applied migration",
                rows: vec![row(1, "select 1;"), row(2, "select 2 -- old;")],
                policy: dev(),
                target: None,
                expect: Err(vec![edited.clone()]),
            },
            Case {
                name: "amended in the lock: accepted",
                rows: vec![
                    row(1, "select 1;"),
                    row(2, "select 2;"),
                    row(3, "select 3;"),
                ],
                policy: dev(),
                target: None,
                expect: Ok(vec![4]),
            },
            Case {
                name: "missing from the binary",
                rows: vec![row(1, "select 1;"), row(9, "select 9;")],
                policy: dev(),
                target: None,
                expect: Err(vec![
                    HistoryProblem::Missing {
                        version: Version::new(9),
                        recorded: sum("select 9;"),
                    },
                    HistoryProblem::OutOfOrder {
                        version: Version::new(2),
                        path: "migrations/0002_m.sql",
                        newest_applied: Version::new(9),
                    },
                    HistoryProblem::OutOfOrder {
                        version: Version::new(3),
                        path: "migrations/0003_m.sql",
                        newest_applied: Version::new(9),
                    },
                    HistoryProblem::OutOfOrder {
                        version: Version::new(4),
                        path: "migrations/0004_m.sql",
                        newest_applied: Version::new(9),
                    },
                ]),
            },
            Case {
                name: "missing allowed, out of order allowed",
                rows: vec![row(1, "select 1;"), row(9, "select 9;")],
                policy: dev().allow_missing(true).allow_out_of_order(true),
                target: None,
                expect: Ok(vec![2, 3, 4]),
            },
            Case {
                name: "half-applied",
                rows: vec![
                    row(1, "select 1;"),
                    HistoryRow {
                        finished: false,
                        ..row(2, "select 2;")
                    },
                ],
                policy: dev(),
                target: None,
                expect: Err(vec![HistoryProblem::HalfApplied {
                    version: Version::new(2),
                    path: "migrations/0002_m.sql".into(),
                }]),
            },
            Case {
                name: "out of order",
                rows: vec![row(1, "select 1;"), row(3, "select 3; -- fixed")],
                policy: dev(),
                target: None,
                expect: Err(vec![HistoryProblem::OutOfOrder {
                    version: Version::new(2),
                    path: "migrations/0002_m.sql",
                    newest_applied: Version::new(3),
                }]),
            },
            Case {
                name: "out of order allowed",
                rows: vec![row(1, "select 1;"), row(3, "select 3; -- fixed")],
                policy: dev().allow_out_of_order(true),
                target: None,
                expect: Ok(vec![2, 4]),
            },
            Case {
                name: "every problem at once, before anything is applied",
                rows: vec![
                    row(2, "select 2 -- old;"),
                    HistoryRow {
                        finished: false,
                        ..row(3, "select 3;")
                    },
                    HistoryRow {
                        checksum: RecordedChecksum::from_text(b"nonsense"),
                        ..row(4, "")
                    },
                ],
                policy: dev(),
                target: None,
                expect: Err(vec![
                    edited,
                    HistoryProblem::HalfApplied {
                        version: Version::new(3),
                        path: "migrations/0003_m.sql".into(),
                    },
                    HistoryProblem::Unreadable {
                        version: Version::new(4),
                        checksum: "nonsense".into(),
                    },
                    HistoryProblem::OutOfOrder {
                        version: Version::new(1),
                        path: "migrations/0001_m.sql",
                        newest_applied: Version::new(3),
                    },
                ]),
            },
        ];
        let migrations = standard();
        for case in cases {
            let result = plan(
                &migrations,
                &history(case.rows),
                &case.policy,
                case.target.map(Version::new),
            );
            match (result, case.expect) {
                (Ok(plan), Ok(expected)) => assert_eq!(versions(&plan), expected, "{}", case.name),
                (Err(problems), Err(expected)) => assert_eq!(problems.0, expected, "{}", case.name),
                (result, expected) => {
                    panic!("{}: got {result:?}, expected {expected:?}", case.name)
                }
            }
        }
    }

    #[test]
    fn one_standing_of_a_row_for_every_reader() {
        let list = standard();
        let first = list.get(Version::new(1)).unwrap();
        let stand = |m, recorded, finished| standing(m, recorded, finished);
        assert_eq!(
            stand(Some(first), Some(first.checksum()), true),
            Standing::Applied
        );
        assert_eq!(
            stand(Some(first), Some(first.checksum()), false),
            Standing::HalfApplied
        );
        assert_eq!(
            stand(Some(first), Some(sum("other")), true),
            Standing::Edited
        );
        assert_eq!(stand(Some(first), None, true), Standing::Edited);
        assert_eq!(stand(None, Some(sum("gone")), true), Standing::Missing);
        assert_eq!(stand(None, None, false), Standing::HalfApplied);
        let amended = list.get(Version::new(3)).unwrap();
        assert!(matches!(
            stand(Some(amended), Some(sum("select 3;")), true),
            Standing::Amended(a) if a.reason() == "comment only"
        ));
    }

    #[test]
    fn amendment_is_planned_for_recording() {
        let migrations = standard();
        let rows = vec![
            row(1, "select 1;"),
            row(2, "select 2;"),
            row(3, "select 3;"),
            row(4, "select 4;"),
        ];
        let plan = plan(&migrations, &history(rows), &dev(), None).unwrap();
        assert!(plan.pending.is_empty());
        assert_eq!(plan.amendments.len(), 1);
        assert_eq!(plan.amendments[0].from, sum("select 3;"));
        assert_eq!(plan.amendments[0].amendment.reason(), "comment only");
        assert!(!plan.is_empty());
    }

    #[test]
    fn seeds_follow_the_policy_and_run_once() {
        let migrations = standard();
        let seeded = dev().with_seeds(true);
        assert_eq!(
            plan(&migrations, &History::default(), &seeded, None)
                .unwrap()
                .seeds
                .len(),
            1
        );
        assert!(
            plan(&migrations, &History::default(), &dev(), None)
                .unwrap()
                .seeds
                .is_empty()
        );
        let production = Policy::new(Environment::Production).with_seeds(true);
        assert!(
            plan(&migrations, &History::default(), &production, None)
                .unwrap()
                .seeds
                .is_empty()
        );
        let ran = History {
            rows: vec![HistoryRow {
                kind: RowKind::Seed,
                version: Version::new(1),
                checksum: sum("insert 1; -- edited").into(),
                finished: true,
            }],
            stamp: None,
            ..History::default()
        };
        let plan = plan(&migrations, &ran, &seeded, None).unwrap();
        assert!(plan.seeds.is_empty());
        assert!(
            plan.warnings[0].contains("changed after it ran"),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn a_seed_that_never_finished_is_half_applied_in_every_environment() {
        let migrations = standard();
        let killed = History {
            rows: vec![HistoryRow {
                kind: RowKind::Seed,
                version: Version::new(1),
                checksum: migrations.seeds()[0].checksum().into(),
                finished: false,
            }],
            ..History::default()
        };
        for policy in [
            dev().with_seeds(true),
            dev(),
            Policy::new(Environment::Test),
        ] {
            let problems = plan(&migrations, &killed, &policy, None).unwrap_err();
            assert!(
                matches!(
                    problems.0.as_slice(),
                    [HistoryProblem::HalfAppliedSeed { version, .. }] if version.get() == 1
                ),
                "{problems}"
            );
            assert!(
                problems.to_string().contains("--seed --resolved"),
                "{problems}"
            );
        }
    }

    #[test]
    fn problem_messages_name_file_version_and_both_checksums() {
        let problems = plan(
            &standard(),
            &history(vec![row(1, "select 1;"), row(2, "select 2 -- old;")]),
            &dev(),
            None,
        )
        .unwrap_err();
        let text = problems.to_string();
        assert!(text.contains("migrations/0002_m.sql (version 2)"), "{text}");
        assert!(
            text.contains(&sum("select 2 -- old;").to_string())
                && text.contains(&sum("select 2;").to_string())
        );
        assert!(text.contains("nothing was applied"));
    }

    #[test]
    fn startup_rows_are_read_by_their_tag() {
        let applied = sum("select 1;");
        let hex = applied.to_hex();
        let mut history = History::default();
        history.push_row(Version::new(1), hex.as_bytes(), None);
        history.push_row(Version::new(2), hex.as_bytes(), Some(b"migration started"));
        history.push_row(
            Version::new(3),
            hex.to_uppercase().as_bytes(),
            Some(b"seed applied"),
        );
        history.push_row(Version::new(0), b"production", Some(b"stamp"));
        history.push_row(Version::new(7), b"", Some(b"fingerprint"));
        history.push_row(Version::new(9), b"", Some(b"cookie"));
        history.push_row(Version::new(4), b"nonsense", None);
        history.push_row(Version::new(1), hex.as_bytes(), Some(b"repair applied"));
        let kinds: Vec<_> = history
            .rows
            .iter()
            .map(|row| (row.version.get(), row.kind, row.finished))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, RowKind::Migration, true),
                (2, RowKind::Migration, false),
                (3, RowKind::Seed, true),
                (4, RowKind::Migration, true),
            ]
        );
        assert!(history.rows[0].checksum.is(&applied));
        assert!(
            history.rows[2].checksum.is(&applied),
            "either case spells it"
        );
        assert_eq!(history.rows[3].checksum.parse(), Err("nonsense".to_owned()));
        assert_eq!(history.stamp.as_deref(), Some("production"));
        assert_eq!(history.fingerprint_cookie, Some(7));
        assert_eq!(history.schema_cookie, Some(9));
    }
}
