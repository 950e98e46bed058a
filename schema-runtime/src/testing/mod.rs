//! Test databases in milliseconds for an application's own tests: a database with every
//! migration applied, cloned from a migrated template per test instead of migrated again,
//! and a check that every down file undoes its migration.

mod database;
mod reversible;

/// Every down file checked against its migration ([`check_reversible`]).
pub use reversible::*;
