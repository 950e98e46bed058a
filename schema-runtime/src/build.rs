//! Helpers for a crate's `build.rs`.
//!
//! `embed_migrations!` makes cargo rebuild when an embedded file or the lock changes, but
//! a proc-macro cannot ask cargo to watch a folder, so a migration that is *added* or
//! *removed* needs this one line in the `main` of `build.rs`:
//!
//! ```
//! schema_runtime::build::track("migrations");
//! ```
//!
//! with, in `Cargo.toml`, a build dependency that compiles no database driver:
//!
//! ```toml
//! [build-dependencies]
//! schema-runtime = { version = "0.1", default-features = false }
//! ```

use std::path::Path;

/// Tells cargo to rebuild the crate when anything in `folder` (relative to the crate's
/// `Cargo.toml`) is added, removed or changed, seeds and lock included.
pub fn track(folder: impl AsRef<Path>) {
    println!("cargo:rerun-if-changed={}", folder.as_ref().display());
}
