//! Test databases in milliseconds for an application's own tests: a database with every
//! migration applied, cloned from a migrated template per test instead of migrated again,
//! and a check that every down file undoes its migration.

//!
//! # Test databases
//!
//! [`TestDatabase::new`] returns a fresh database with every migration applied and
//! recorded (stamped `test`), isolated from every other test, and removed after it is
//! dropped. The migrations run once per migration set, into a template keyed by their
//! versions and checksums (an edited or added migration makes a new template); each test
//! gets a copy:
//!
//! | Server | Template | Per test |
//! |--------|----------|----------|
//! | PostgreSQL | database `schema_tpl_<key>`, `IS_TEMPLATE` | a spare made by `CREATE DATABASE … TEMPLATE`, renamed |
//! | MySQL/MariaDB | database `schema_tpl_<key>` | tables from `SHOW CREATE TABLE`, rows by `INSERT … SELECT` |
//! | SQLite (rusqlite) | file `<temp>/schema-runtime-templates-<uid>/<key>.db` | a spare file copy, renamed |
//!
//! On PostgreSQL and SQLite the copy is made ahead, in the background, after each test
//! database (two spares unless `SCHEMA_TEST_SPARES` says otherwise), so a test waits for a
//! rename only; dropped databases are removed in the background and waited for at the
//! process's exit ([`settle`] waits for all of it).
//!
//! Many test processes may start at once (cargo nextest runs one per test): the template
//! is made under a lock (PostgreSQL's advisory lock, MySQL's `GET_LOCK`, a rename into
//! place on SQLite). What a crashed run left behind is removed by a later run on the same
//! machine. Seeds run only when asked ([`TestDatabase::builder`] `.with_seeds()`).
//!
//! ```no_run
//! # #[cfg(feature = "rusqlite")] {
//! use schema_runtime::testing::TestDatabase;
//!
//! static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("../migrations");
//!
//! let db = TestDatabase::new_blocking(&MIGRATIONS, "sqlite:").unwrap();
//! let conn = db.connect().unwrap();
//! # drop(conn);
//! # }
//! ```

mod database;
mod reversible;

/// A migrated database per test ([`TestDatabase`]).
pub use database::{TestDatabase, TestDatabaseBuilder, settle};

/// Every down file checked against its migration ([`check_reversible`]).
pub use reversible::*;
