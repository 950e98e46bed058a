//! `db baseline`: take over a database that sqlx, refinery or diesel managed (or that
//! was built by hand) without running again anything it already has.
//!
//! Each tool's history is mapped onto this binary's migrations by version. Where the tool
//! kept a checksum (sqlx: SHA-384 of the file; refinery: SipHash-1-3 of name, version and
//! text) it is checked against the embedded text, so a file edited after the tool ran it
//! is caught before it is adopted. Everything is checked before anything is written; the
//! adoption is then one transaction, and each adopted row says where it came from.

use std::fmt::Write as _;
use std::hash::Hasher as _;

use sha2::{Digest, Sha384};

use super::console::AsSql;
use super::diesel;
use super::inspect::{self, Recorded, text};
use super::{Failure, Outcome, Session, redact};
use crate::engine::{self, Adoption};
use crate::sql_text::{Dialect, kind};
use crate::{Migration, Version};

/// A migration tool whose history `db baseline` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tool {
    Sqlx,
    Refinery,
    Diesel,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Sqlx, Tool::Refinery, Tool::Diesel];

    fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Refinery => "refinery",
            Tool::Diesel => "diesel",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Refinery => "refinery_schema_history",
            Tool::Diesel => "__diesel_schema_migrations",
        }
    }

    /// Its history as text columns: version, name, when, success, checksum.
    fn query(self, dialect: Dialect) -> String {
        let t = |expr: &str| text(dialect, expr);
        match self {
            Tool::Sqlx => {
                let hex = match dialect {
                    Dialect::Postgres => "encode(checksum, 'hex')",
                    Dialect::Sqlite | Dialect::Mysql => "LOWER(HEX(checksum))",
                };
                format!(
                    "SELECT {}, description, {}, {}, {hex} FROM _sqlx_migrations ORDER BY version",
                    t("version"),
                    t("installed_on"),
                    t("success")
                )
            }
            Tool::Refinery => format!(
                "SELECT {}, name, applied_on, 'true', checksum FROM refinery_schema_history ORDER BY version",
                t("version")
            ),
            Tool::Diesel => format!(
                "SELECT version, '', {}, 'true', NULL FROM __diesel_schema_migrations ORDER BY version",
                t("run_on")
            ),
        }
    }
}

/// One row of another tool's history.
struct Foreign {
    version: String,
    name: String,
    applied_at: String,
    success: bool,
    checksum: Option<String>,
}

/// sqlx's checksum of `sql`, and of the variants of the same file it may have seen: the
/// other line ending, and with the characters a `migrate.ignored-chars` setting usually
/// names (whitespace, CR, BOM) left out.
fn sqlx_checksums(sql: &str) -> Vec<(String, &'static str)> {
    let hex = |text: &str| {
        Sha384::digest(text.as_bytes())
            .iter()
            .fold(String::new(), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            })
    };
    let lf = sql.replace("\r\n", "\n");
    let stripped: String = sql
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{FEFF}'))
        .collect();
    vec![
        (hex(sql), "the same text"),
        (hex(&lf), "the text with LF line endings"),
        (
            hex(&lf.replace('\n', "\r\n")),
            "the text with CRLF line endings",
        ),
        (
            hex(&stripped),
            "the text without whitespace (ignored-chars)",
        ),
    ]
}

/// refinery's checksum: SipHash-1-3 (zero keys) of the name, the version (`i32`, or
/// `i64` with its `int8-versions` feature) and the text, as Rust's `Hash` feeds them.
fn refinery_checksum(name: &str, version: i64, wide: bool, sql: &str) -> u64 {
    let mut hasher = siphasher::sip::SipHasher13::new();
    hasher.write(name.as_bytes());
    hasher.write_u8(0xff);
    if wide {
        hasher.write(&version.to_ne_bytes());
    } else {
        hasher.write(&(version as i32).to_ne_bytes());
    }
    hasher.write(sql.as_bytes());
    hasher.write_u8(0xff);
    hasher.finish()
}

impl Session {
    /// `db baseline [--version V]`.
    pub(super) fn baseline(mut self, by_hand: Option<Version>) -> Outcome {
        self.locked(|session, recorded| session.baseline_locked(&recorded, by_hand))
    }

    fn baseline_locked(&mut self, recorded: &Recorded, by_hand: Option<Version>) -> Outcome {
        if recorded.rows.iter().any(|r| r.kind == kind::MIGRATION) {
            return Err(Failure::check(format!(
                "{} already has a migration history in {}: there is nothing to adopt. `db status` shows where it stands",
                redact(&self.url),
                self.policy().history_table
            )));
        }
        let dialect = self.console.dialect();
        let tables = inspect::tables(self.console.as_mut())?;
        let found: Vec<Tool> = Tool::ALL
            .into_iter()
            .filter(|tool| tables.iter().any(|t| t == tool.table()))
            .collect();
        let (source, adopted) = match (by_hand, found.as_slice()) {
            (Some(version), _) => (
                format!("a database built by hand (db baseline --version {version})"),
                self.by_hand(version)?,
            ),
            (None, [tool]) => (
                format!("{}'s {}", tool.name(), tool.table()),
                self.adopt_from(*tool, dialect)?,
            ),
            (None, []) => {
                return Err(Failure::usage(
                    "there is no sqlx (_sqlx_migrations), refinery (refinery_schema_history) or diesel (__diesel_schema_migrations) history here. For a database built by hand, say which migration it is at: `db baseline --version V`",
                ));
            }
            (None, many) => {
                return Err(Failure::usage(format!(
                    "this database has the histories of {}: adopt one of them by hand with `db baseline --version V`, after checking which migrations it really has",
                    many.iter()
                        .map(|t| format!("{} ({})", t.name(), t.table()))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )));
            }
        };
        let newest = adopted.last().map(|a| a.migration.version());
        self.keeping_fingerprint(true, |session| session.record_adoption(&adopted, &source))?;

        say!(
            "adopted {} migration(s) from {source}; none of them ran again",
            adopted.len()
        );
        for adoption in &adopted {
            say!(
                "  = {}  {}  ({})",
                adoption.migration.version(),
                adoption.migration.path(),
                adoption.note
            );
        }
        let migrations = self.migrations().migrations();
        let adopted_versions: Vec<Version> =
            adopted.iter().map(|a| a.migration.version()).collect();
        let (older, pending): (Vec<&Migration>, Vec<&Migration>) = migrations
            .iter()
            .filter(|m| !adopted_versions.contains(&m.version()))
            .partition(|m| newest.is_some_and(|n| m.version() < n));
        for migration in &older {
            eprintln!(
                "warning: {} (version {}) is older than the newest adopted migration but {source} never ran it; the next start refuses it as out of order until it is applied by hand and adopted, or allowed (Policy::allow_out_of_order)",
                migration.path(),
                migration.version()
            );
        }
        say!(
            "{} pending: the next start applies only these. The live schema is recorded as what the migrations left (`db drift`).",
            pending.len()
        );
        if self.policy().environment() == crate::Environment::Development {
            say!("next: `db lock` and commit migrations.lock");
        }
        Ok(0)
    }

    /// Every migration of the binary up to `version`, which must be one of them.
    fn by_hand(&self, version: Version) -> Result<Vec<Adoption>, Failure> {
        if self.migrations().get(version).is_none() {
            return Err(Failure::usage(format!(
                "version {version} is not a migration of this binary; give the version of the newest migration the database already has (`db status` lists them)"
            )));
        }
        Ok(self
            .migrations()
            .migrations()
            .iter()
            .filter(|m| m.version() <= version)
            .map(|migration| Adoption {
                migration,
                applied_at: None,
                note: format!("adopted by hand at version {version}; not run"),
            })
            .collect())
    }

    /// The tool's history mapped onto the binary, every row checked; all problems at once.
    fn adopt_from(&mut self, tool: Tool, dialect: Dialect) -> Result<Vec<Adoption>, Failure> {
        let rows: Vec<Foreign> = self
            .console
            .rows(&tool.query(dialect))?
            .into_iter()
            .map(|row| {
                let mut values = row.into_iter();
                let mut next = || values.next().flatten();
                Foreign {
                    version: next().unwrap_or_default(),
                    name: next().unwrap_or_default(),
                    applied_at: next().unwrap_or_default(),
                    success: next().is_some_and(|s| matches!(s.as_str(), "true" | "t" | "1")),
                    checksum: next(),
                }
            })
            .collect();
        if rows.is_empty() {
            return Err(Failure::check(format!(
                "{}'s {} is empty: there is nothing to adopt. If the database was built another way, use `db baseline --version V`",
                tool.name(),
                tool.table()
            )));
        }
        let mut problems = Vec::new();
        let mut adopted = Vec::new();
        for row in &rows {
            let version = if tool == Tool::Diesel {
                // diesel's text versions, read as `db import-diesel` converted them.
                match diesel::match_recorded(&row.version, |v| self.migrations().get(v).is_some()) {
                    diesel::Recorded::Found(version) => Some(version),
                    diesel::Recorded::NotDigits => None,
                    diesel::Recorded::Missing(version) => {
                        problems.push(format!(
                            "diesel ran version {}, which is not a migration of this binary: convert diesel's folder with `db import-diesel DIESEL_FOLDER` (it names this one `{version}_<name>.sql`), or add its file, and build again",
                            row.version
                        ));
                        continue;
                    }
                    diesel::Recorded::Ambiguous(versions) => {
                        problems.push(format!(
                            "diesel ran version {}, which could be any of this binary's versions {}: keep one of them",
                            row.version,
                            versions
                                .iter()
                                .map(Version::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        continue;
                    }
                }
            } else {
                let digits: String = row.version.chars().filter(|c| *c != '-').collect();
                digits.parse::<u64>().ok().map(Version::new)
            };
            let Some(version) = version else {
                problems.push(format!(
                    "{} recorded version `{}`, which is not a number",
                    tool.name(),
                    row.version
                ));
                continue;
            };
            if !row.success {
                problems.push(format!(
                    "{} recorded version {version} ({}) as failed: fix it with {} first, or adopt by hand with `db baseline --version V`",
                    tool.name(),
                    row.name,
                    tool.name()
                ));
                continue;
            }
            let Some(migration) = self.migrations().get(version) else {
                problems.push(format!(
                    "{} ran version {version} ({}), which is not a migration of this binary: add its file to the folder (named `{version}_<name>.sql`) and build again",
                    tool.name(),
                    if row.name.is_empty() { "no name" } else { &row.name }
                ));
                continue;
            };
            let note = match (tool, &row.checksum) {
                (Tool::Sqlx, Some(theirs)) => {
                    match sqlx_checksums(migration.sql())
                        .into_iter()
                        .find(|(ours, _)| ours == theirs)
                    {
                        Some((_, how)) => format!("from sqlx; its sha384 matches {how}"),
                        None => {
                            problems.push(format!(
                                "{} (version {version}) is not the file sqlx ran: sqlx recorded sha384:{theirs}, this binary's text gives sha384:{}. Restore the file as it was, then adopt",
                                migration.path(),
                                sqlx_checksums(migration.sql())[0].0
                            ));
                            continue;
                        }
                    }
                }
                (Tool::Refinery, Some(theirs)) => {
                    let number = migration.version().get() as i64;
                    let ours: Vec<u64> = [false, true]
                        .into_iter()
                        .map(|wide| refinery_checksum(&row.name, number, wide, migration.sql()))
                        .collect();
                    if ours.iter().any(|c| c.to_string() == *theirs) {
                        "from refinery; its checksum matches".to_owned()
                    } else {
                        problems.push(format!(
                            "{} (version {version}) is not the file refinery ran as `{}`: refinery recorded checksum {theirs}, this binary's text gives {}. Restore the file as it was, then adopt",
                            migration.path(),
                            row.name,
                            ours[0]
                        ));
                        continue;
                    }
                }
                (Tool::Diesel, _) if row.version.parse::<u64>().ok() != Some(version.get()) => {
                    format!(
                        "from diesel, which recorded it as version {}; it keeps no checksum to compare",
                        row.version
                    )
                }
                _ => format!("from {}; it keeps no checksum to compare", tool.name()),
            };
            adopted.push(Adoption {
                migration,
                applied_at: Some(row.applied_at.clone()).filter(|a| !a.is_empty()),
                note: format!("{note}; ran {}", row.applied_at),
            });
        }
        // In version order, as the history lists them (diesel orders its versions as text).
        adopted.sort_by_key(|a| a.migration.version());
        if !problems.is_empty() {
            return Err(Failure::check(format!(
                "nothing was adopted; {} problem(s) with {}'s history:\n  {}",
                problems.len(),
                tool.name(),
                problems.join("\n  ")
            )));
        }
        Ok(adopted)
    }

    /// Creates the history tables, stamps the database and records each adoption, as the
    /// engine does it ([`crate::engine::baseline`]).
    fn record_adoption(&mut self, adopted: &[Adoption], source: &str) -> Result<(), Failure> {
        let stamped = self.recorded()?.stamp.is_some();
        let mut sql = AsSql(self.console.as_mut());
        engine::finish_now(engine::baseline(
            &self.migrator,
            &mut sql,
            adopted,
            source,
            stamped,
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlx_checksums_cover_line_endings_and_ignored_characters() {
        let sums = sqlx_checksums("CREATE TABLE a (id INT);\r\n");
        // SHA-384 of the text as it is: 96 hex digits.
        assert_eq!(sums[0].0.len(), 96);
        assert_eq!(sums[1].0, sqlx_checksums("CREATE TABLE a (id INT);\n")[0].0);
        assert_eq!(sums[3].0, sqlx_checksums("CREATETABLEa(idINT);")[0].0);
    }

    #[test]
    fn refinery_checksums_depend_on_name_version_and_text() {
        let base = refinery_checksum("create", 1, false, "CREATE TABLE a (id INT);");
        assert_ne!(
            base,
            refinery_checksum("create", 2, false, "CREATE TABLE a (id INT);")
        );
        assert_ne!(
            base,
            refinery_checksum("other", 1, false, "CREATE TABLE a (id INT);")
        );
        assert_ne!(
            base,
            refinery_checksum("create", 1, false, "CREATE TABLE b (id INT);")
        );
        assert_ne!(
            base,
            refinery_checksum("create", 1, true, "CREATE TABLE a (id INT);")
        );
    }
}
