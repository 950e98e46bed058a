//! Compile-time checked SQL migrations with an environment-aware startup runner.
//!
//! `embed_migrations!()` reads the `migrations/` folder of the calling crate at compile
//! time, checks every rule (naming, directives, encoding, the destructive-statement lint
//! and the lock), checksums each file, and expands to a typed, sorted list:
//!
//! ```
//! use schema_runtime::{Migrations, Version};
//!
//! // The folder is relative to the calling crate's Cargo.toml; `embed_migrations!()`
//! // with no argument means "migrations".
//! static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");
//!
//! let first = &MIGRATIONS.migrations()[0];
//! assert_eq!(first.version(), Version::new(20251017203807));
//! assert_eq!(first.path(), "../migrations/20251017203807_create_users.sql");
//! assert_eq!(first.checksum().to_string().len(), 64);
//! assert!(MIGRATIONS.migrations().windows(2).all(|w| w[0].version() < w[1].version()));
//! ```
//!
//! `cargo build` fails when a migration listed in `migrations.lock` (that is, one a
//! database already ran) has been edited, with the file, both checksums and the fix in
//! the message.
//!
//! # Cargo features
//!
//! | Feature | What it adds |
//! |---------|--------------|
//! | `rusqlite` (default) | SQLite through rusqlite, bundled: `Migrator::run`, the `rusqlite` re-export |
//! | `sqlx-postgres` | PostgreSQL through sqlx: `Migrator::run_async`, `sqlx_backend`, the `sqlx` re-export |
//! | `sqlx-mysql` | MySQL and MariaDB through sqlx, as above |
//! | `sqlx-sqlite` | SQLite through sqlx, bundled, as above |
//! | `cli` | the `db` command, `cli`; needs `rusqlite`, `sqlx-postgres` or `sqlx-mysql` beside it |
//! | `check-sqlite` | `embed_migrations!` replays the folder into an in-memory SQLite at compile time |
//! | `check-postgres` | `embed_migrations!` parses every statement with PostgreSQL's own parser at compile time (building it needs libclang) |
//!
//! With no backend (`default-features = false`, as a build script uses it) the migration
//! types, `embed_migrations!` and [`build`] remain. On docs.rs, every item that needs a
//! feature is marked with it.

#![warn(missing_docs)]
// docs.rs (`--cfg docsrs`, nightly) marks each item with the features it needs, in
// terms of the features an application names: the internal `runner` and `async-runner`
// are never shown (the items they gate say which backends they come with).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    docsrs,
    doc(auto_cfg(hide(feature = "runner", feature = "async-runner")))
)]
// A build with the runner's features but no backend to run on (`testing` alone) has
// nothing to call most of it from.
#![cfg_attr(
    not(any(
        feature = "rusqlite",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )),
    allow(dead_code)
)]

#[cfg(all(
    feature = "cli",
    not(any(
        feature = "rusqlite",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql"
    ))
))]
compile_error!(
    "the `cli` feature needs a database to talk to: enable `rusqlite`, `sqlx-postgres` or `sqlx-mysql` beside it"
);

/// Public items of every backend: compiled with the internal `runner` feature that each
/// backend feature turns on, and marked on docs.rs as needing one of the backends.
macro_rules! with_any_backend {
    ($($item:item)*) => {$(
        #[cfg(feature = "runner")]
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "rusqlite",
                feature = "sqlx-postgres",
                feature = "sqlx-mysql",
                feature = "sqlx-sqlite"
            )))
        )]
        $item
    )*};
}

/// Public items of the sqlx backends: compiled with the internal `async-runner` feature
/// they turn on, and marked on docs.rs as needing one of them.
macro_rules! with_sqlx_backend {
    ($($item:item)*) => {$(
        #[cfg(feature = "async-runner")]
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "sqlx-postgres",
                feature = "sqlx-mysql",
                feature = "sqlx-sqlite"
            )))
        )]
        $item
    )*};
}

pub mod build;
mod model;

#[cfg(feature = "runner")]
mod audit;
#[cfg(feature = "runner")]
mod backup;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
#[cfg(feature = "runner")]
mod devlock;
#[cfg(feature = "runner")]
mod engine;
#[cfg(feature = "runner")]
mod environment;
#[cfg(feature = "runner")]
mod error;
#[cfg(any(feature = "rusqlite", feature = "sqlx-sqlite"))]
mod filelock;
#[cfg(feature = "runner")]
mod migrator;
#[cfg(feature = "runner")]
pub(crate) mod plan;
#[cfg(feature = "runner")]
mod policy;
#[cfg(feature = "runner")]
mod progress;
#[cfg(feature = "runner")]
mod redact;
#[cfg(feature = "runner")]
mod report;
#[cfg(feature = "runner")]
pub(crate) mod sql_text;
#[cfg(feature = "rusqlite")]
mod sqlite;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use model::{Amendment, Checksum, Down, Migration, Migrations, Seed, Version};

// The public modules are declared outside the macros below, so that rustfmt (which does
// not look into macro calls) formats their files.
#[cfg(feature = "runner")]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "rusqlite",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )))
)]
pub mod drift;

#[cfg(feature = "async-runner")]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )))
)]
pub mod sqlx_backend;

with_any_backend! {
    pub use environment::{Environment, EnvironmentSource};
    pub use error::{Error, HistoryProblem, HistoryProblems};
    pub use migrator::Migrator;
    pub use policy::Policy;
    pub use progress::Progress;
    pub use report::{Applied, Report};
    pub use sql_text::Dialect;

    pub use redact::redact_url;
}

with_sqlx_backend! {
    /// The sqlx this crate was built against; use it for your pools so the versions agree.
    pub use sqlx;
}

/// The rusqlite this crate was built against; use it instead of your own dependency so
/// the two never disagree on the version (only one `libsqlite3-sys` may be linked).
#[cfg(feature = "rusqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
pub use rusqlite;

/// Embeds a migrations folder, checked and checksummed at compile time.
///
/// `embed_migrations!()` reads `migrations/` beside the calling crate's `Cargo.toml`;
/// `embed_migrations!("../db/migrations")` reads another folder, relative to the same
/// place. The result is constant data usable in a `static`:
///
/// ```
/// static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("../migrations");
/// assert!(!MIGRATIONS.migrations().is_empty());
/// ```
///
/// The build fails, naming the file and the rule, when a `.sql` file is misnamed, two
/// migrations share a version, a down file has no up file, a directive is unknown or
/// misplaced, a file is empty or not UTF-8, a folder other than `seeds/` is present, the
/// lock is damaged, a locked migration was edited, removed or renamed, a new migration
/// destroys data without `-- schema: destructive`, or a file that runs in a transaction
/// ends it (or, on SQLite, sets `foreign_keys`).
///
/// Two more arguments may follow the folder:
///
/// - `dialects = "postgres, sqlite"`: the servers the folder's SQL is written for
///   (`postgres`, `mysql` for MySQL and MariaDB, `sqlite`). Every rule reads the files as
///   each of them does. Without it, the backends this crate was built with.
/// - `check = false`: no compile-time check that a feature turns on (`check-sqlite`
///   replays the folder into an in-memory SQLite, `check-postgres` parses it with
///   PostgreSQL's parser) runs for this folder.
///
/// ```
/// static POSTGRES: schema_runtime::Migrations =
///     schema_runtime::embed_migrations!("../migrations", dialects = "postgres");
/// assert!(!POSTGRES.migrations().is_empty());
/// ```
pub use schema_macros::embed_migrations;

/// The rules shared by the build and the runtime: lock format, checksums, naming, lint.
pub use schema_core as rules;
