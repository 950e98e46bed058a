//! Amending a locked migration: accepting its new text in `migrations.lock` with a
//! reason, from the files alone. `db amend` does this; so does the `schema-lock` binary,
//! which needs no build of the application (on a fresh clone with an edited migration,
//! the application is the thing that does not build).

use std::fs;
use std::path::{Path, PathBuf};

use crate::lock::{Amendment, LOCK_FILE_NAME};
use crate::{Checksum, FileName, Lock, LockEntry, Side, Version};

/// What [`amend`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Amended {
    /// The lock now records the file's new checksum, with the old one and the reason.
    Amended {
        /// The up file.
        file: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The checksum the lock had.
        from: Checksum,
        /// The file's checksum, now the lock's.
        to: Checksum,
    },
    /// The file still has the locked checksum: nothing to amend.
    Unchanged {
        /// The up file.
        file: PathBuf,
        /// Its checksum.
        checksum: Checksum,
    },
}

/// Records in `dir`'s lock that the locked migration `version` now has its file's text,
/// because of `reason`. Every database that ran the old text records the amendment at
/// its next start; the build accepts the new text from then on.
///
/// ```
/// use schema_core::amend::{Amended, amend};
/// use schema_core::{Checksum, Lock, LockEntry, Version};
///
/// let dir = std::env::temp_dir().join(format!("schema-amend-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("1_create.sql"), "CREATE TABLE a (x INT);\n").unwrap();
/// let old = Checksum::of_file(b"CREATE TABLE a (x INT);\n");
/// let lock = Lock::new([LockEntry::new(Version::new(1), "create", old)]);
/// std::fs::write(dir.join("migrations.lock"), lock.render()).unwrap();
/// std::fs::write(dir.join("1_create.sql"), "CREATE TABLE a (x INT); -- why\n").unwrap();
///
/// let done = amend(&dir, Version::new(1), "a comment only").unwrap();
/// assert!(matches!(done, Amended::Amended { from, .. } if from == old));
/// let text = std::fs::read_to_string(dir.join("migrations.lock")).unwrap();
/// assert!(text.contains("a comment only"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn amend(dir: &Path, version: Version, reason: &str) -> Result<Amended, String> {
    if reason.trim().is_empty() {
        return Err(
            "the reason must say why the change is safe for every database that ran the old text"
                .to_owned(),
        );
    }
    let lock_path = dir.join(LOCK_FILE_NAME);
    let text = fs::read_to_string(&lock_path)
        .map_err(|e| format!("cannot read {}: {e}", lock_path.display()))?;
    let mut lock = Lock::parse(&text).map_err(|errors| {
        format!(
            "{} does not parse: {}",
            lock_path.display(),
            errors.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let Some(entry) = lock.get(version).cloned() else {
        return Err(format!(
            "version {version} is not in {}: it was never applied, so edit it freely",
            lock_path.display()
        ));
    };
    let Some((name, file)) = up_file(dir, version)? else {
        return Err(format!(
            "there is no migration file for version {version} in {}",
            dir.display()
        ));
    };
    let bytes = fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let checksum = Checksum::of_file(&bytes);
    if checksum == entry.checksum {
        return Ok(Amended::Unchanged { file, checksum });
    }
    let mut amended = LockEntry::new(version, name, checksum);
    amended.amendments.push(Amendment {
        from: entry.checksum,
        reason: reason.to_owned(),
    });
    amended.amendments.extend(entry.amendments);
    lock.upsert(amended);
    write_atomically(&lock_path, &lock.render())
        .map_err(|e| format!("cannot write {}: {e}", lock_path.display()))?;
    Ok(Amended::Amended {
        file,
        lock: lock_path,
        from: entry.checksum,
        to: checksum,
    })
}

/// The up file of `version` in `dir`: its name part and path.
pub fn up_file(dir: &Path, version: Version) -> Result<Option<(String, PathBuf)>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(name) = FileName::parse(&file_name)
            && name.version == version
            && name.side == Side::Up
        {
            return Ok(Some((name.name, entry.path())));
        }
    }
    Ok(None)
}

/// Replaces `path` with `text` in one step: a reader (or a crash) sees the old file or
/// the new one, never half of one.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("lock.tmp{}", std::process::id()));
    fs::write(&temporary, text)?;
    fs::rename(&temporary, path).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })
}
