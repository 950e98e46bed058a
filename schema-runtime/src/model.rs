//! The typed migration list that `embed_migrations!` produces: plain constant data.

use std::path::{Path, PathBuf};

pub use schema_core::{Checksum, Version};

/// A change of an applied migration's checksum made on purpose (`db amend`), as the lock
/// records it. A database that recorded `from` accepts the migration's current checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amendment {
    from: Checksum,
    reason: &'static str,
}

impl Amendment {
    /// An amendment from `from`, for `reason`.
    pub const fn new(from: Checksum, reason: &'static str) -> Self {
        Amendment { from, reason }
    }

    /// The checksum the migration had before the amendment.
    pub const fn from(&self) -> Checksum {
        self.from
    }

    /// Why the migration was changed.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

/// The down side of a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    sql: &'static str,
    path: &'static str,
    transaction: bool,
}

impl Down {
    /// The SQL that undoes the migration, as written (a leading BOM removed).
    pub fn sql(&self) -> &'static str {
        strip_bom(self.sql)
    }

    /// The down file, relative to the crate: `migrations/0002_add_email.down.sql`.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// Whether it runs inside a transaction (no `-- schema: no-transaction`).
    pub const fn transaction(&self) -> bool {
        self.transaction
    }
}

/// One migration, as embedded at compile time.
///
/// Built by [`embed_migrations!`](crate::embed_migrations), which has already checked
/// the file and computed its checksum. A migration built by hand is trusted as given.
///
/// ```
/// use schema_runtime::{Checksum, Migration, Version};
///
/// const SQL: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY);";
/// static M: Migration = Migration::new(
///     Version::new(1),
///     "create_users",
///     SQL,
///     Checksum::from_bytes([0; 32]),
///     "migrations/0001_create_users.sql",
/// );
/// assert_eq!(M.version(), Version::new(1));
/// assert!(M.transaction());
/// assert!(M.down().is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    version: Version,
    name: &'static str,
    up_sql: &'static str,
    checksum: Checksum,
    path: &'static str,
    transaction: bool,
    destructive: bool,
    down: Option<Down>,
    amendments: &'static [Amendment],
}

impl Migration {
    /// A migration that runs in a transaction, is not marked destructive and has no down side.
    pub const fn new(
        version: Version,
        name: &'static str,
        up_sql: &'static str,
        checksum: Checksum,
        path: &'static str,
    ) -> Self {
        Migration {
            version,
            name,
            up_sql,
            checksum,
            path,
            transaction: true,
            destructive: false,
            down: None,
            amendments: &[],
        }
    }

    /// What `embed_migrations!` writes for each file: [`Migration::new`] with the
    /// version and checksum as plain literals and the flags as arguments, one call where
    /// chained calls would cost the compiler's constant evaluation one each, for every
    /// migration of every build.
    #[doc(hidden)]
    pub const fn embedded(
        version: u64,
        name: &'static str,
        up_sql: &'static str,
        checksum: [u8; 32],
        path: &'static str,
        transaction: bool,
        destructive: bool,
    ) -> Self {
        Migration {
            version: Version::new(version),
            name,
            up_sql,
            checksum: Checksum::from_bytes(checksum),
            path,
            transaction,
            destructive,
            down: None,
            amendments: &[],
        }
    }

    /// Marks it `-- schema: no-transaction`.
    pub const fn without_transaction(mut self) -> Self {
        self.transaction = false;
        self
    }

    /// Marks it `-- schema: destructive`.
    pub const fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// Gives it a down side.
    pub const fn with_down(
        mut self,
        sql: &'static str,
        path: &'static str,
        transaction: bool,
    ) -> Self {
        self.down = Some(Down {
            sql,
            path,
            transaction,
        });
        self
    }

    /// Records the lock's amendments of its checksum, newest first.
    pub const fn with_amendments(mut self, amendments: &'static [Amendment]) -> Self {
        self.amendments = amendments;
        self
    }

    /// The version.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The name: `create_users` in `0001_create_users.sql`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The SQL as written (a leading BOM removed). It is sent to the database whole.
    pub fn sql(&self) -> &'static str {
        strip_bom(self.up_sql)
    }

    /// The checksum computed at compile time.
    pub const fn checksum(&self) -> Checksum {
        self.checksum
    }

    /// The file, relative to the crate: `migrations/0001_create_users.sql`.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// Whether it runs inside a transaction.
    pub const fn transaction(&self) -> bool {
        self.transaction
    }

    /// Whether it is marked `-- schema: destructive`.
    pub const fn is_destructive(&self) -> bool {
        self.destructive
    }

    /// The down side, if there is a `.down.sql` file.
    pub const fn down(&self) -> Option<&Down> {
        self.down.as_ref()
    }

    /// The amendments the lock records for this migration, newest first.
    pub const fn amendments(&self) -> &'static [Amendment] {
        self.amendments
    }
}

/// A seed file from `migrations/seeds/`: development data, run once, never in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed {
    version: Version,
    name: &'static str,
    sql: &'static str,
    checksum: Checksum,
    path: &'static str,
    transaction: bool,
}

impl Seed {
    /// A seed that runs in a transaction.
    pub const fn new(
        version: Version,
        name: &'static str,
        sql: &'static str,
        checksum: Checksum,
        path: &'static str,
    ) -> Self {
        Seed {
            version,
            name,
            sql,
            checksum,
            path,
            transaction: true,
        }
    }

    /// Marks it `-- schema: no-transaction`.
    pub const fn without_transaction(mut self) -> Self {
        self.transaction = false;
        self
    }

    /// The version (seeds number separately from migrations).
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The SQL as written (a leading BOM removed).
    pub fn sql(&self) -> &'static str {
        strip_bom(self.sql)
    }

    /// The checksum computed at compile time.
    pub const fn checksum(&self) -> Checksum {
        self.checksum
    }

    /// The file, relative to the crate: `migrations/seeds/0001_demo_users.sql`.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// Whether it runs inside a transaction.
    pub const fn transaction(&self) -> bool {
        self.transaction
    }
}

/// Every migration and seed of a folder, sorted by version, with where they came from.
///
/// ```
/// use schema_runtime::Migrations;
///
/// static NONE: Migrations = Migrations::empty();
/// assert!(NONE.migrations().is_empty());
/// assert_eq!(NONE.latest_version(), None);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Migrations {
    migrations: &'static [Migration],
    seeds: &'static [Seed],
    source_dir: &'static str,
    display: &'static str,
    app_name: &'static str,
    app_version: &'static str,
    debug_build: bool,
}

impl Migrations {
    /// A list from its parts. `migrations` and `seeds` must be sorted by version with no
    /// duplicates (the macro guarantees it); `source_dir` is the folder's absolute path at
    /// build time and `display` the folder as written in the macro call.
    pub const fn new(
        migrations: &'static [Migration],
        seeds: &'static [Seed],
        source_dir: &'static str,
        display: &'static str,
    ) -> Self {
        Migrations {
            migrations,
            seeds,
            source_dir,
            display,
            app_name: "",
            app_version: "",
            debug_build: cfg!(debug_assertions),
        }
    }

    /// Records the application the list was compiled into: its package name and version
    /// (written to the history with every migration) and whether it is a debug build (which
    /// makes the environment default to development when `APP_ENV` is unset).
    /// `embed_migrations!` calls this with the calling crate's values.
    pub const fn built_by(
        mut self,
        app_name: &'static str,
        app_version: &'static str,
        debug_build: bool,
    ) -> Self {
        self.app_name = app_name;
        self.app_version = app_version;
        self.debug_build = debug_build;
        self
    }

    /// The package name of the application, as compiled.
    pub const fn app_name(&self) -> &'static str {
        self.app_name
    }

    /// The package version of the application, as compiled.
    pub const fn app_version(&self) -> &'static str {
        self.app_version
    }

    /// Whether the application was compiled with debug assertions (a debug build).
    pub const fn debug_build(&self) -> bool {
        self.debug_build
    }

    /// No migrations and no seeds.
    pub const fn empty() -> Self {
        Migrations::new(&[], &[], "", "")
    }

    /// The migrations, sorted by version.
    pub const fn migrations(&self) -> &'static [Migration] {
        self.migrations
    }

    /// The seeds, sorted by version.
    pub const fn seeds(&self) -> &'static [Seed] {
        self.seeds
    }

    /// The migration with `version`.
    pub fn get(&self, version: Version) -> Option<&'static Migration> {
        let migrations = self.migrations;
        migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &migrations[i])
    }

    /// The highest version, if there is any migration.
    pub fn latest_version(&self) -> Option<Version> {
        self.migrations.last().map(|m| m.version)
    }

    /// The folder the migrations were compiled from, as it was at build time. It may not
    /// exist where the binary runs.
    pub fn source_dir(&self) -> &'static Path {
        Path::new(self.source_dir)
    }

    /// The folder as written in the macro call: `migrations`.
    pub const fn display(&self) -> &'static str {
        self.display
    }

    /// Where `migrations.lock` lives in the source folder.
    pub fn lock_path(&self) -> PathBuf {
        self.source_dir().join(schema_core::lock::LOCK_FILE_NAME)
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}
