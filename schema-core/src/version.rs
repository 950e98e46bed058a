//! Migration versions.

use std::fmt;

/// A migration's version: the decimal number its file name starts with.
///
/// Leading zeros in the file name are allowed (`0002_add_email.sql` is version 2), and
/// timestamps fit (`20251017203807_create_users.sql`). Versions are greater than zero.
///
/// ```
/// use schema_core::Version;
///
/// assert_eq!(Version::new(2).to_string(), "2");
/// assert!(Version::new(2) < Version::new(10));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Version(u64);

impl Version {
    /// Wraps a version number.
    pub const fn new(number: u64) -> Self {
        Version(number)
    }

    /// The version as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for Version {
    fn from(number: u64) -> Self {
        Version(number)
    }
}
