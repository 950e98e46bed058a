//! Development runs append what they applied to `migrations.lock`, so the next
//! `cargo build` fails if someone edits a migration this machine already ran.

use std::fs;
use std::path::PathBuf;

use schema_core::{Lock, LockEntry};

use crate::{Migration, Migrations};

/// Appends `applied` to the lock in the source folder the binary was compiled from.
///
/// Returns the lock's path when it was written, `Ok(None)` when the source folder is not
/// here (a binary run away from its source), and `Err` with a message for a warning when
/// the lock exists but cannot be read or written. Never fails a startup.
pub fn append(migrations: &Migrations, applied: &[&Migration]) -> Result<Option<PathBuf>, String> {
    if applied.is_empty() || !migrations.source_dir().is_dir() {
        return Ok(None);
    }
    let path = migrations.lock_path();
    let mut lock = match fs::read_to_string(&path) {
        Ok(text) => Lock::parse(&text).map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            format!(
                "{} was not updated: it does not parse ({first})",
                path.display()
            )
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Lock::default(),
        Err(error) => return Err(format!("{} was not updated: {error}", path.display())),
    };
    let before = lock.entries().len();
    for migration in applied {
        if lock.get(migration.version()).is_none() {
            lock.upsert(LockEntry::new(
                migration.version(),
                migration.name(),
                migration.checksum(),
            ));
        }
    }
    if lock.entries().len() == before {
        return Ok(None); // already locked: leave the file (and cargo's view of it) alone
    }
    write_atomically(&path, &lock.render())
        .map_err(|error| format!("{} was not updated: {error}", path.display()))?;
    Ok(Some(path))
}

pub use schema_core::amend::write_atomically;
