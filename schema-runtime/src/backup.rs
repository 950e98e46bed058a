//! Backups before a production database changes: SQLite's online backup into a
//! `backups/` folder beside the database, or a command the policy names for a server.

#[cfg(feature = "rusqlite")]
use std::fs;
#[cfg(feature = "rusqlite")]
use std::path::{Path, PathBuf};

use crate::Version;

/// `<stem>-<UTC time>-v<version>.db`: sorts by time, says which schema it holds. The
/// stem is the database's whole file name (`tasks.db`).
fn file_name(stem: &str, version: Option<Version>) -> String {
    let time: String = crate::audit::now_utc()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{stem}-{time}-v{}.db", version.map_or(0, |v| v.get()))
}

/// The `backups/` folder beside `database`, created readable by the owner only.
#[cfg(feature = "rusqlite")]
pub(crate) fn folder(database: &Path) -> Result<PathBuf, String> {
    let folder = database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("backups");
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    Ok(folder)
}

/// An empty file at `path` that only its owner can read, for a backup to fill.
#[cfg(feature = "rusqlite")]
fn private_file(path: &Path) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// Copies the database of `conn` with SQLite's online backup (consistent while other
/// connections are open), keeping the newest `keep` backups of that database.
#[cfg(feature = "rusqlite")]
pub(crate) fn sqlite(
    conn: &rusqlite::Connection,
    keep: usize,
    version: Option<Version>,
    label: &str,
) -> Result<PathBuf, String> {
    let database = conn
        .path()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or("an in-memory database has no file to back up")?;
    // The whole file name: `app.db` and `app.sqlite` in one folder never share backups.
    let stem = database.file_name().map_or_else(
        || "database".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let folder = folder(&database)?;
    let stem = format!("{stem}{label}");
    let mut path = folder.join(file_name(&stem, version));
    // Two backups in one millisecond (a restore right after a backup) get a suffix.
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = folder.join(file_name(&stem, version).replace(".db", &format!("-{n}.db")));
    }
    private_file(&path)?;
    if let Err(error) = conn.backup(rusqlite::MAIN_DB, &path, None) {
        let _ = fs::remove_file(&path);
        return Err(format!(
            "the online backup to {} failed: {error}",
            path.display()
        ));
    }
    prune(&folder, &stem, keep);
    Ok(path)
}

/// Removes all but the newest `keep` backups of the database named `stem`: only names
/// of exactly [`file_name`]'s format for that stem count, so the backups of `data-2.db`
/// are never taken for those of `data.db`.
#[cfg(feature = "rusqlite")]
fn prune(folder: &Path, stem: &str, keep: usize) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let mut backups: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| is_backup_of(&n.to_string_lossy(), stem))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep.max(1));
    for old in &backups[..excess] {
        if let Err(error) = fs::remove_file(old) {
            tracing::warn!(
                "schema: could not remove the old backup {}: {error}",
                old.display()
            );
        }
    }
}

/// Whether `name` is `<stem>-YYYYMMDDTHHMMSSmmmZ-v<version>[-<n>].db`.
#[cfg_attr(not(feature = "rusqlite"), allow(dead_code))]
fn is_backup_of(name: &str, stem: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some(rest) = name
        .strip_prefix(stem)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".db"))
    else {
        return false;
    };
    let Some((time, version)) = rest.split_once("-v") else {
        return false;
    };
    let time_ok = time.len() == 19
        && digits(&time[..8])
        && &time[8..9] == "T"
        && digits(&time[9..18])
        && &time[18..] == "Z";
    let version_ok = match version.split_once('-') {
        Some((version, n)) => digits(version) && digits(n),
        None => digits(version),
    };
    time_ok && version_ok
}

/// Runs the policy's backup command for a server: `sh -c COMMAND` with the connection
/// URL in `DATABASE_URL` (never on the command line) and a suggested file name in
/// `SCHEMA_BACKUP_NAME`.
#[cfg(any(feature = "async-runner", feature = "cli"))]
pub(crate) fn command(
    command: &str,
    url: &str,
    version: Option<Version>,
) -> Result<String, String> {
    let name = file_name("backup", version);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("DATABASE_URL", url)
        .env("SCHEMA_BACKUP_NAME", &name)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot start the backup command: {e}"))?;
    if output.status.success() {
        Ok(name)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.replace(url, &crate::redact_url(url));
        Err(format!(
            "the backup command failed ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_databases_backups_of_the_exact_format_count() {
        let name = file_name("data.db", Some(Version::new(3)));
        assert!(is_backup_of(&name, "data.db"), "{name}");
        assert!(is_backup_of(&name.replace("-v3.db", "-v3-2.db"), "data.db"));
        assert!(!is_backup_of(
            &file_name("data-2.db", Some(Version::new(3))),
            "data.db"
        ));
        assert!(!is_backup_of(
            &file_name("data.db-replaced", None),
            "data.db"
        ));
        assert!(!is_backup_of("data.db-notes.db", "data.db"));
        assert!(!is_backup_of(
            "data.db-20261202T013838123Z-v3.db.tmp",
            "data.db"
        ));
        assert!(!is_backup_of(&file_name("app.sqlite", None), "app.db"));
    }
}
