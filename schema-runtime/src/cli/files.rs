//! The commands that work on the migrations folder and its lock, with no database:
//! `db new`, `db lock` and `db amend`.

use std::path::PathBuf;

use super::{Failure, Outcome};
use crate::{Migrations, Version};

/// The folder the binary was compiled from, or why it cannot be used.
fn source_folder(migrations: &Migrations) -> Result<PathBuf, Failure> {
    let dir = migrations.source_dir();
    if dir.as_os_str().is_empty() || !dir.is_dir() {
        return Err(Failure::usage(format!(
            "the migrations folder this binary was built from ({}) is not here: run this command in the project's checkout",
            dir.display()
        )));
    }
    Ok(dir.to_owned())
}

pub(super) fn new_migration(migrations: &Migrations, name: &str, down: bool) -> Outcome {
    if !schema_core::name::is_valid_name(name) {
        return Err(Failure::usage(format!(
            "`{name}` is not a migration name: use letters, digits and `_` (for example add_user_email)"
        )));
    }
    let dir = source_folder(migrations)?;
    let now: String = crate::audit::now_utc()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let mut version: u64 = now.parse().unwrap_or(1);
    let newest = std::fs::read_dir(&dir)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .filter_map(|e| schema_core::FileName::parse(&e.file_name().to_string_lossy()).ok())
        .map(|n| n.version.get())
        .max()
        .unwrap_or(0);
    if version <= newest {
        version = newest + 1;
    }
    let up = dir.join(format!("{version}_{name}.sql"));
    let mut created = vec![up.clone()];
    let header = format!(
        "-- {version}_{name}: write the migration's SQL below. A file of comments alone does not build.\n"
    );
    std::fs::write(&up, header)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", up.display())))?;
    if down {
        let path = dir.join(format!("{version}_{name}.down.sql"));
        std::fs::write(
            &path,
            format!("-- Reverts {version}_{name}: write the SQL that undoes it below.\n"),
        )
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        created.push(path);
    }
    for path in created {
        say!("created {}", path.display());
    }
    Ok(0)
}

pub(super) fn write_lock(migrations: &'static Migrations) -> Outcome {
    source_folder(migrations)?;
    let all: Vec<&crate::Migration> = migrations.migrations().iter().collect();
    match crate::devlock::append(migrations, &all) {
        Ok(Some(path)) => say!(
            "{} now locks all {} migrations of this binary: commit it",
            path.display(),
            all.len()
        ),
        Ok(None) => say!(
            "{} already locks all {} migrations of this binary",
            migrations.lock_path().display(),
            all.len()
        ),
        Err(message) => return Err(Failure::check(message)),
    }
    Ok(0)
}

pub(super) fn amend(migrations: &Migrations, version: Version, reason: &str) -> Outcome {
    let dir = source_folder(migrations)?;
    match schema_core::amend::amend(&dir, version, reason).map_err(Failure::check)? {
        schema_core::amend::Amended::Unchanged { file, checksum } => say!(
            "{} is unchanged (sha256:{checksum}): nothing to amend",
            file.display()
        ),
        schema_core::amend::Amended::Amended { lock, from, to, .. } => say!(
            "amended version {version} in {}: sha256:{from} → sha256:{to}. Commit the lock with the file; each database records the amendment at its next start",
            lock.display()
        ),
    }
    Ok(0)
}
