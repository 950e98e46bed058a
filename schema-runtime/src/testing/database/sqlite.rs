use super::*;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, e)
}

fn folder(name: &str) -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
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
    remove_leftovers(&instances, &templates);
    let path = instances.join(format!("{}.db", instance_name(&key)));
    std::fs::copy(&template, &path).map_err(io(format!(
        "copying {} to {}",
        template.display(),
        path.display()
    )))?;
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

/// Removes, once per process, the files of this machine's processes that are gone.
fn remove_leftovers(instances: &Path, templates: &Path) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    // Test databases, and templates a crashed process was building.
    for dir in [instances, templates] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let stem = file.split('.').next().unwrap_or_default();
            if left_by_dead_process(stem) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
