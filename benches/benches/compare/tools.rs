//! Each compared tool's migrations for one size, loaded the way its macro would embed
//! them, from a folder written in its own naming.

use std::path::{Path, PathBuf};

use schema_benches::{Naming, write_migrations};
use schema_runtime::{Environment, Migrations, Policy};

/// The generated migrations of one size, ready for every tool.
pub struct Sets {
    pub count: u64,
    /// Ours, as `embed_migrations!()` expands: checksums computed once.
    pub ours: &'static Migrations,
    /// sqlx's `Migrator`, resolved from the folder once, as `migrate!()` does at compile
    /// time (checksums included).
    pub sqlx: sqlx::migrate::Migrator,
    /// refinery's embedded text: (file stem, SQL) as its macro stores them. Its
    /// `runner()` parses the names and hashes the text on every call, at every start.
    pub refinery: Vec<(String, String)>,
    /// Every migration's SQL in order, for the floor's single batch.
    pub batch: String,
}

impl Sets {
    pub fn load(root: &Path, count: u64, runtime: &tokio::runtime::Runtime) -> Sets {
        let dir = |naming: Naming| -> PathBuf {
            let dir = root.join(format!("migrations-{count}-{naming:?}").to_lowercase());
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            write_migrations(&dir, naming, 1..=count).unwrap();
            dir
        };
        let sqlx_dir = dir(Naming::Sqlx);
        let sqlx = runtime
            .block_on(sqlx::migrate::Migrator::new(sqlx_dir.as_path()))
            .expect("sqlx reads the generated folder");
        assert_eq!(sqlx.iter().count() as u64, count);

        let refinery_dir = dir(Naming::Refinery);
        let mut refinery: Vec<(String, String)> = std::fs::read_dir(&refinery_dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        refinery.sort();
        assert_eq!(refinery.len() as u64, count);

        let ours = schema_benches::generated(count);
        let batch = ours.migrations().iter().map(|m| m.sql()).collect();
        Sets {
            count,
            ours,
            sqlx,
            refinery,
            batch,
        }
    }

    /// What refinery's generated `migrations::runner()` does on each call.
    pub fn refinery_runner(&self) -> refinery::Runner {
        let embedded: Vec<(&str, String)> = self
            .refinery
            .iter()
            .map(|(name, sql)| (name.as_str(), sql.clone()))
            .collect();
        let migrations: Vec<refinery::Migration> = embedded
            .iter()
            .map(|(name, sql)| refinery::Migration::unapplied(name, sql).unwrap())
            .collect();
        refinery::Runner::new(&migrations)
    }
}

/// Ours runs with the test environment's policy in every scenario: the no-op path is the
/// same in every environment, and this one neither backs up nor writes a dev lock.
pub fn policy() -> Policy {
    Policy::new(Environment::Test).write_dev_lock(false)
}
