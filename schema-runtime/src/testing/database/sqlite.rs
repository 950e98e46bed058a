use super::*;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, e)
}

/// A folder of this user's under the system's temporary folder, `<name>-<user>`: on
/// Unix made readable by its owner alone, and refused if another user owns it (someone
/// else's folder could hold a template, a spare or a link planted for this user's tests).
fn folder(name: &str) -> Result<PathBuf, Error> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[cfg(unix)]
    let user = unsafe { libc::geteuid() }.to_string();
    #[cfg(not(unix))]
    let user: String = whoami::username()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = std::env::temp_dir().join(format!("{name}-{user}"));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata =
            std::fs::symlink_metadata(&dir).map_err(io(format!("reading {}", dir.display())))?;
        if !metadata.is_dir() || metadata.uid().to_string() != user {
            return Err(Error::database_message(
                "making a test database",
                format!(
                    "{} is not a folder of this user's; remove it or set TMPDIR elsewhere",
                    dir.display()
                ),
            ));
        }
    }
    Ok(dir)
}

/// Whether `path` is a plain file (not a link, not a folder).
fn plain_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_file())
}

/// How long a half-copied spare (`.building`) counts as being copied: a copy takes
/// seconds at most, so an older one was left by a process that stopped mid-copy.
const COPYING_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether a half-copied spare is recent enough to be a copy still under way.
fn copying(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|metadata| metadata.modified())
        .is_ok_and(|modified| modified.elapsed().unwrap_or_default() < COPYING_FOR)
}

pub(super) fn create(
    migrations: &'static Migrations,
    options: Options,
) -> Result<TestDatabase, Error> {
    let key = key(migrations);
    let templates = folder("schema-runtime-templates")?;
    let template = templates.join(format!("{key}.db"));
    if !template.exists() {
        // One process migrates it, under a file lock that the others wait on (the
        // kernel releases it if the process dies), into a name of its own renamed
        // into place: a reader never sees half of it.
        let lock_path = templates.join(format!("{key}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        lock.lock()
            .map_err(io(format!("locking {}", lock_path.display())))?;
        if !template.exists() {
            make_template(migrations, &templates, &key, &template)?;
        }
        drop(lock);
    }
    let instances = folder("schema-runtime-tests")?;
    remove_leftovers(&instances, &templates, &key);
    let path = instances.join(format!("{}.db", instance_name(&key)));
    if !claim_spare(&templates, &key, &path) {
        std::fs::copy(&template, &path).map_err(io(format!(
            "copying {} to {}",
            template.display(),
            path.display()
        )))?;
    }
    make_spares(&templates, &key, &template);
    let database = TestDatabase {
        url: format!("sqlite:{}", path.display()),
        kind: Kind::Sqlite { path },
        template: template.display().to_string(),
        removed: false,
    };
    if options.seeds {
        let mut conn = database.connect()?;
        crate::Migrator::with_policy(migrations, seed_policy()).run(&mut conn)?;
    }
    Ok(database)
}

fn make_template(
    migrations: &'static Migrations,
    templates: &Path,
    key: &str,
    template: &Path,
) -> Result<(), Error> {
    let building = templates.join(format!("{}.building", instance_name(key)));
    let migrated = (|| {
        let mut conn = rusqlite::Connection::open(&building)
            .map_err(|e| Error::database("creating the template database", e))?;
        crate::Migrator::with_policy(migrations, template_policy()).run(&mut conn)?;
        conn.close()
            .map_err(|(_, e)| Error::database("closing the template database", e))?;
        std::fs::rename(&building, template).map_err(io(format!(
            "renaming the template into {}",
            template.display()
        )))
    })();
    if migrated.is_err() {
        let _ = std::fs::remove_file(&building);
    }
    let _ = std::fs::remove_file(format!("{}.schema-lock", building.display()));
    migrated
}

/// The spares of `key` in the templates folder, ready (`.db`) and being copied
/// (`.building`).
fn spares(templates: &Path, key: &str) -> (Vec<PathBuf>, usize) {
    let prefix = format!("{SPARE_PREFIX}{key}_");
    let (mut ready, mut building) = (Vec::new(), 0);
    for entry in std::fs::read_dir(templates).into_iter().flatten().flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if !file.starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let stem = file.split('.').next().unwrap_or_default();
        if !is_ours(stem) || !plain_file(&path) {
            continue;
        }
        if file.ends_with(".db") {
            ready.push(path);
        } else if file.ends_with(".building") && copying(&path) {
            building += 1;
        }
    }
    (ready, building)
}

/// Takes a spare copy by renaming it to `path`: a rename is atomic, so of many processes
/// reaching for one spare one gets it and the others try the next.
fn claim_spare(templates: &Path, key: &str, path: &Path) -> bool {
    let (mut ready, _) = spares(templates, key);
    // Processes starting together reach for different spares first.
    let turn = std::process::id() as usize % ready.len().max(1);
    ready.rotate_left(turn);
    ready
        .iter()
        .any(|spare| std::fs::rename(spare, path).is_ok())
}

/// Copies the template into spares on a background thread until the folder holds
/// [`spares_wanted`](background::spares_wanted) of them (counting copies other processes
/// are making), each copied under a `.building` name and renamed when whole.
fn make_spares(templates: &Path, key: &str, template: &Path) {
    let wanted = background::spares_wanted();
    if wanted == 0 {
        return;
    }
    let Some(guard) = background::sole_maker(&format!("sqlite {key}")) else {
        return;
    };
    let (templates, key, template) = (templates.to_owned(), key.to_owned(), template.to_owned());
    background::spawn(background::Work::Spare, move || {
        loop {
            let (ready, building) = spares(&templates, &key);
            if ready.len() + building >= wanted {
                // Enough, unless a test asked since the count (it may have taken one).
                if guard.done() {
                    return;
                }
                continue;
            }
            let spare = templates.join(spare_name(&key));
            let partial = spare.with_extension("building");
            let copied = std::fs::copy(&template, &partial)
                .and_then(|_| std::fs::rename(&partial, spare.with_extension("db")));
            if copied.is_err() {
                // The template was removed, or the disk is full: the next test copies.
                let _ = std::fs::remove_file(&partial);
                return;
            }
        }
    });
}

/// Removes, once per process, the files of this machine's processes that are gone, half
/// copied spares among them, and the spares of other migration sets unused for
/// [`SPARES_KEPT`].
fn remove_leftovers(instances: &Path, templates: &Path, key: &str) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    // Test databases, templates a crashed process was building, and spares.
    for dir in [instances, templates] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let stem = file.split('.').next().unwrap_or_default();
            let leftover = if stem.starts_with(SPARE_PREFIX) {
                // A whole spare is good whoever made it; a half copy only while its
                // maker lives and copies (where no /proc tells, while it is recent).
                stale_spare(stem, key)
                    || (file.ends_with(".building")
                        && (left_by_dead_process(stem) || !copying(&entry.path())))
            } else {
                left_by_dead_process(stem)
            };
            if leftover {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
