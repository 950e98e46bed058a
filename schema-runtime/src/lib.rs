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
//! assert_eq!(first.version(), Version::new(1));
//! assert!(first.path().starts_with("../migrations/"));
//! assert_eq!(first.checksum().to_string().len(), 64);
//! ```
//!
//! `cargo build` fails when a migration listed in `migrations.lock` (that is, one a
//! database already ran) has been edited, with the file, both checksums and the fix in
//! the message.

#![warn(missing_docs)]

pub mod build;
mod model;

pub use model::{Amendment, Checksum, Down, Migration, Migrations, Seed, Version};

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
/// lock is damaged, a locked migration was edited, removed or renamed, or a new migration
/// destroys data without `-- schema: destructive`.
pub use schema_macros::embed_migrations;

/// The rules shared by the build and the runtime: lock format, checksums, naming, lint.
pub use schema_core as rules;
