//! The command line `db` accepts: its options and subcommands, as clap parses them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The `db` command of an application.
#[derive(Debug, Parser)]
#[command(
    name = "db",
    about = "Inspect, migrate, verify and repair the application's database",
    disable_version_flag = true
)]
pub struct DbCommand {
    /// The database (`sqlite:path`, `postgres://…`, `mysql://…`); default `DATABASE_URL`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The environment, app and database versions, each migration and seed, the schema.
    Status {
        /// Print JSON (see the module documentation for its shape).
        #[arg(long)]
        json: bool,
    },
    /// The SQL that `migrate` would run, in order. Changes nothing.
    Plan {
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations.
    Migrate {
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// Do not ask for confirmation (production on a terminal asks).
        #[arg(long)]
        yes: bool,
    },
    /// Apply pending migrations and seeds (development only).
    Seed,
    /// Revert the newest migration, or every migration above `--to`, with its down file.
    Down {
        /// Revert every applied migration above this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<u64>,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Revert the newest migration and apply it again.
    Redo {
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Create the URL's database if it is missing; one that exists is left as it is.
    ///
    /// A server's database is created through the server's maintenance database
    /// (PostgreSQL's `postgres`, else `template1`; MySQL without a database), a SQLite
    /// database as an empty file. Exit 0 whether it was created or already there.
    Create,
    /// Drop everything in the database, migrate again, and seed in development with
    /// `SEED_DB=true`.
    ///
    /// Refused in production and on a database stamped production, with no override, and
    /// on a database of another environment. PostgreSQL: the current schema is dropped
    /// and created again with its owner, grants and comment. MySQL: the database is
    /// dropped and created again with its character set and collation. SQLite: every
    /// table and view of the file is dropped.
    Reset,
    /// Create a timestamped migration file in the source folder.
    New {
        /// The migration's name: letters, digits and `_`.
        name: String,
        /// Create a down file beside it.
        #[arg(long)]
        down: bool,
    },
    /// Write `migrations.lock` for every migration of this binary.
    Lock,
    /// Accept the edited file of a locked migration, recording why in the lock.
    Amend {
        /// The migration's version.
        version: u64,
        /// Why the change is safe for every database that ran the old text.
        #[arg(long)]
        reason: String,
    },
    /// Back the database up now: SQLite into `backups/` beside it, a server with
    /// `SCHEMA_BACKUP_COMMAND`.
    Backup,
    /// Replace the SQLite database with a backup, after checking the backup's integrity;
    /// the database it replaces is kept in `backups/`.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
    /// Compare the database with this binary and the lock; exit 1 on any difference.
    Verify {
        /// Do not count pending migrations (the check before `migrate` in a pipeline).
        #[arg(long)]
        pending_ok: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take over a database that sqlx, refinery or diesel managed (or one built by hand,
    /// with `--version`) without running again what it already has.
    Baseline {
        /// The database was built by hand: the newest migration of this binary it has.
        #[arg(long, value_name = "VERSION")]
        version: Option<u64>,
    },
    /// Convert a diesel migrations folder (`<version>_<name>/up.sql`, `down.sql`,
    /// `metadata.toml`) into migration files, with the versions `baseline` matches to
    /// diesel's history. Needs no database.
    ImportDiesel {
        /// diesel's migrations folder.
        folder: PathBuf,
        /// Where to write the files (created if missing; it must hold no `.sql` file);
        /// default: the folder this binary was built from.
        #[arg(long, value_name = "FOLDER")]
        into: Option<PathBuf>,
        /// How to read the SQL: postgres, mysql or sqlite (repeatable); default: the
        /// backends this binary was built with.
        #[arg(long, value_name = "DIALECT")]
        dialect: Vec<String>,
    },
    /// Compare the live schema with what the migrations left; exit 1 if it differs.
    Drift {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Record the live schema as what the migrations left (after checking it).
        #[arg(long, requires = "reason")]
        accept: bool,
        /// With `--accept`: who checked what, for the history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark a half-applied migration resolved, or accept an edited one's checksum.
    Repair {
        /// The migration's (or with `--seed`, the seed's) version.
        version: u64,
        /// Repair a seed's row rather than a migration's.
        #[arg(long)]
        seed: bool,
        /// The half-applied migration was checked and completed (or undone) by hand.
        #[arg(
            long,
            conflicts_with = "accept_checksum",
            required_unless_present = "accept_checksum"
        )]
        resolved: bool,
        /// The edited migration was checked: record the binary's checksum.
        #[arg(long)]
        accept_checksum: bool,
        /// Who checked what, for the history.
        #[arg(long)]
        reason: String,
        /// In production: the database's name, typed to confirm.
        #[arg(long, value_name = "DATABASE")]
        confirm_production: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::suggest;

    /// Every `db …` command a message of this crate suggests, as the user would copy it,
    /// goes through the real parser. Placeholders become values: `{…}` and `V` a
    /// version, `…` (quoted or not) a reason.
    #[test]
    fn every_suggested_command_parses() {
        let sources = [
            ("../error.rs", include_str!("../error.rs")),
            ("../migrator.rs", include_str!("../migrator.rs")),
            ("../policy.rs", include_str!("../policy.rs")),
            ("../drift.rs", include_str!("../drift.rs")),
            ("../backup.rs", include_str!("../backup.rs")),
            ("../devlock.rs", include_str!("../devlock.rs")),
            ("../sqlite/mod.rs", include_str!("../sqlite/mod.rs")),
            ("../sqlite/group.rs", include_str!("../sqlite/group.rs")),
            ("../engine.rs", include_str!("../engine.rs")),
            ("../engine/revert.rs", include_str!("../engine/revert.rs")),
            (
                "../sqlx_backend/mod.rs",
                include_str!("../sqlx_backend/mod.rs"),
            ),
            (
                "../sqlx_backend/apply.rs",
                include_str!("../sqlx_backend/apply.rs"),
            ),
            (
                "../sqlx_backend/locks.rs",
                include_str!("../sqlx_backend/locks.rs"),
            ),
            (
                "../sqlx_backend/session.rs",
                include_str!("../sqlx_backend/session.rs"),
            ),
            ("adopt.rs", include_str!("adopt.rs")),
            ("args.rs", include_str!("args.rs")),
            ("console.rs", include_str!("console.rs")),
            ("create.rs", include_str!("create.rs")),
            ("diesel.rs", include_str!("diesel.rs")),
            ("down.rs", include_str!("down.rs")),
            ("drift.rs", include_str!("drift.rs")),
            ("files.rs", include_str!("files.rs")),
            ("inspect.rs", include_str!("inspect.rs")),
            ("json.rs", include_str!("json.rs")),
            ("migrate.rs", include_str!("migrate.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("output.rs", include_str!("output.rs")),
            ("progress.rs", include_str!("progress.rs")),
            ("repair.rs", include_str!("repair.rs")),
            ("reset.rs", include_str!("reset.rs")),
            ("restore.rs", include_str!("restore.rs")),
            ("session.rs", include_str!("session.rs")),
            ("status.rs", include_str!("status.rs")),
            ("verify.rs", include_str!("verify.rs")),
            ("write.rs", include_str!("write.rs")),
        ];
        // Every file of this module is scanned: a new one must be added above.
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
        for file in std::fs::read_dir(&folder).expect("the cli sources are here") {
            let name = file.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                !name.ends_with(".rs") || sources.iter().any(|(path, _)| *path == name),
                "{name} is not scanned for suggested commands"
            );
        }
        let mut suggestions: Vec<String> = Vec::new();
        for (_, source) in sources {
            for line in source.lines() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                let mut rest = code;
                while let Some(start) = rest.find("`db ") {
                    let after = &rest[start + 1..];
                    let Some(end) = after.find('`') else { break };
                    suggestions.push(after[..end].to_owned());
                    rest = &after[end + 1..];
                }
            }
        }
        let version = crate::Version::new(7);
        suggestions.extend([suggest::resolve(version), suggest::resolve_seed(version)]);
        let edited = suggest::edited(version);
        suggestions.extend(edited.split('`').skip(1).step_by(2).map(str::to_owned));
        assert!(suggestions.len() > 20, "{suggestions:?}");
        let mut brackets = 0;
        for suggestion in &suggestions {
            if suggestion.contains('[') {
                // A usage line (`db drift [--json] …`), not a command to copy.
                brackets += 1;
                continue;
            }
            let mut words = vec!["db".to_owned()];
            let text = suggestion
                .replace("\\\"…\\\"", "checked")
                .replace("\\\"...\\\"", "checked")
                .replace("\"…\"", "checked")
                .replace('…', "checked");
            for word in text.split_whitespace().skip(1) {
                let word = if word.starts_with('{') && word.ends_with('}') || word == "V" {
                    "7"
                } else {
                    word
                };
                words.push(word.to_owned());
            }
            if let Err(error) = DbCommand::try_parse_from(&words) {
                panic!("`{suggestion}` does not parse as {words:?}: {error}");
            }
        }
        assert!(brackets <= 1, "{suggestions:?}");
    }
}
