//! `db backup` (SQLite into `backups/`, a server with `SCHEMA_BACKUP_COMMAND`) and
//! `db restore`: a SQLite database replaced by a backup, under the migration lock, also
//! when the database it replaces no longer opens (the case it exists for).
// Servers are restored with their own tools; without SQLite most of this is unused.
#![cfg_attr(
    not(feature = "rusqlite"),
    allow(unused_imports, unused_variables, unused_mut, unused_assignments)
)]

use std::path::{Path, PathBuf};

use super::{Failure, Outcome, Session, inspect, redact};
use crate::Version;

impl Session {
    pub(super) fn backup(mut self) -> Outcome {
        let recorded = self.recorded()?;
        let version = recorded
            .newest_migration()
            .map(|row| Version::new(row.version as u64));
        let keep = self.policy().backups_kept();
        #[cfg(feature = "rusqlite")]
        if let Some(conn) = self.console.sqlite() {
            let path = crate::backup::sqlite(conn, keep, version, "").map_err(Failure::check)?;
            say!("backed up {} to {}", redact(&self.url), path.display());
            return Ok(0);
        }
        let _ = keep;
        match self.policy().server_backup() {
            Some((command, url)) => {
                let name = crate::backup::command(command, url, version).map_err(Failure::check)?;
                say!(
                    "backed up {} with SCHEMA_BACKUP_COMMAND ({name})",
                    redact(&self.url)
                );
                Ok(0)
            }
            None => Err(Failure::usage(
                "a server is backed up by a command of yours: set SCHEMA_BACKUP_COMMAND (for example pg_dump --format=custom --file=\"backups/$SCHEMA_BACKUP_NAME\" \"$DATABASE_URL\"); it receives the URL in DATABASE_URL",
            )),
        }
    }

    pub(super) fn restore(mut self, file: &Path, confirm: Option<&str>) -> Outcome {
        let held = self.console.lock(self.migrator.policy())?;
        let outcome = self.restore_locked(file, confirm);
        self.console.unlock(held);
        outcome
    }

    /// `restore` under the migration lock. The database it replaces may be the reason for
    /// the restore (damaged, unreadable): its history is read when it can be, and a
    /// database that cannot be read is replaced all the same, after the production guard.
    fn restore_locked(&mut self, file: &Path, confirm: Option<&str>) -> Outcome {
        let mut damaged = false;
        let recorded = match self.recorded() {
            Ok(recorded) => {
                self.migrator.check_stamp_value(recorded.stamp.as_deref())?;
                recorded
            }
            Err(failure) => {
                damaged = true;
                eprintln!(
                    "warning: the database being replaced cannot be read ({}); restoring over it",
                    failure.message
                );
                inspect::Recorded::default()
            }
        };
        self.guard_production(recorded.stamp.as_deref(), "restore a backup", confirm)?;
        #[cfg(feature = "rusqlite")]
        if let Some(conn) = self.console.sqlite() {
            let check = rusqlite::Connection::open_with_flags(
                file,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|backup| {
                backup.query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
            });
            match check {
                Ok(result) if result == "ok" => {}
                Ok(result) => {
                    return Err(Failure::check(format!(
                        "{} failed its integrity check ({result}); nothing was changed",
                        file.display()
                    )));
                }
                Err(error) => {
                    return Err(Failure::check(format!(
                        "{} is not a readable SQLite database ({error}); nothing was changed",
                        file.display()
                    )));
                }
            }
            let version = recorded
                .newest_migration()
                .map(|row| Version::new(row.version as u64));
            let kept = match crate::backup::sqlite(
                conn,
                self.migrator.policy().backups_kept(),
                version,
                "-replaced",
            ) {
                Ok(kept) => kept,
                Err(error) if damaged => {
                    eprintln!("warning: the damaged database cannot be backed up ({error})");
                    let kept = replace_damaged(conn, file)?;
                    say!(
                        "restored {} from {}; the damaged file it replaced is kept at {}",
                        redact(&self.url),
                        file.display(),
                        kept.display()
                    );
                    return Ok(0);
                }
                Err(error) => {
                    return Err(Failure::check(format!("{error}; nothing was changed")));
                }
            };
            conn.restore(
                rusqlite::MAIN_DB,
                file,
                None::<fn(rusqlite::backup::Progress)>,
            )
            .map_err(|e| {
                Failure::check(format!(
                    "restoring {} failed: {e}. The database as it was is kept at {}",
                    file.display(),
                    kept.display()
                ))
            })?;
            say!(
                "restored {} from {}; the database it replaced is kept at {}",
                redact(&self.url),
                file.display(),
                kept.display()
            );
            return Ok(0);
        }
        let _ = (recorded, file);
        Err(Failure::usage(
            "restore works on SQLite; restore a server with its own tool (pg_restore, mysql) from the file your backup command wrote",
        ))
    }
}

/// Replaces a database SQLite cannot read by `backup`, file for file: the online backup
/// cannot write over pages it cannot read. The damaged file (and its WAL and shared
/// memory files, whose pages belong to it) are moved aside first, so nothing is lost.
#[cfg(feature = "rusqlite")]
fn replace_damaged(conn: &rusqlite::Connection, backup: &Path) -> Result<PathBuf, Failure> {
    let Some(path) = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from) else {
        return Err(Failure::check(
            "an in-memory database has nothing to restore over",
        ));
    };
    let stamp = crate::audit::now_utc().replace([':', '.'], "");
    let aside = |suffix: &str| PathBuf::from(format!("{}{suffix}.damaged-{stamp}", path.display()));
    let kept = aside("");
    let staged = PathBuf::from(format!("{}.restoring", path.display()));
    std::fs::copy(backup, &staged)
        .and_then(|_| std::fs::rename(&path, &kept))
        .map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            Failure::check(format!(
                "cannot set the damaged database aside ({e}); nothing was changed"
            ))
        })?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let _ = std::fs::rename(&side, aside(suffix));
        }
    }
    std::fs::rename(&staged, &path).map_err(|e| {
        Failure::check(format!(
            "restoring {} failed ({e}); the damaged database is kept at {}",
            backup.display(),
            kept.display()
        ))
    })?;
    Ok(kept)
}
