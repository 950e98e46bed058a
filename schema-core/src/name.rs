//! The file naming rule: `<version>_<name>.sql`, `.up.sql` or `.down.sql`.

use std::fmt;

use crate::Version;

/// Which side of a migration a file holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// `<version>_<name>.sql` or `<version>_<name>.up.sql`.
    Up,
    /// `<version>_<name>.down.sql`.
    Down,
}

/// A file name that follows the rule.
///
/// ```
/// use schema_core::{FileName, Side, Version};
///
/// let name = FileName::parse("0002_add_email.down.sql").unwrap();
/// assert_eq!(name.version, Version::new(2));
/// assert_eq!(name.name, "add_email");
/// assert_eq!(name.side, Side::Down);
/// assert!(FileName::parse("2_add-email.sql").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileName {
    /// The number before the first `_`.
    pub version: Version,
    /// What follows the first `_`, without the extension.
    pub name: String,
    /// Up or down.
    pub side: Side,
}

/// Why a `.sql` file name breaks the rule. The text completes the sentence
/// "the file name …".
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NameError {
    /// No `_` separates version and name.
    NoSeparator,
    /// The part before `_` is empty or has a non-digit.
    VersionNotDigits(String),
    /// The version is zero.
    VersionZero,
    /// The version does not fit in 64 bits.
    VersionTooLarge(String),
    /// The name is empty.
    EmptyName,
    /// The name has a character outside `[A-Za-z0-9_]`.
    BadNameCharacter {
        /// The whole name part.
        name: String,
        /// The first character that is not allowed.
        character: char,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NoSeparator => {
                write!(f, "has no `_` between the version and the name")
            }
            NameError::VersionNotDigits(version) => {
                write!(
                    f,
                    "starts with `{version}`, which is not a version of decimal digits"
                )
            }
            NameError::VersionZero => write!(f, "has version 0; versions start at 1"),
            NameError::VersionTooLarge(version) => write!(
                f,
                "has version {version}, above the largest version ({}, a 64-bit number)",
                u64::MAX
            ),
            NameError::EmptyName => write!(f, "has no name after the version"),
            NameError::BadNameCharacter { name, character } => write!(
                f,
                "has `{character}` in its name `{name}`; names use only ASCII letters, digits and `_`"
            ),
        }
    }
}

impl FileName {
    /// Parses a file name (no folder) that ends in `.sql`.
    pub fn parse(file_name: &str) -> Result<FileName, NameError> {
        let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
        let (stem, side) = if let Some(stem) = stem.strip_suffix(".down") {
            (stem, Side::Down)
        } else if let Some(stem) = stem.strip_suffix(".up") {
            (stem, Side::Up)
        } else {
            (stem, Side::Up)
        };
        let (version, name) = stem.split_once('_').ok_or(NameError::NoSeparator)?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::VersionNotDigits(version.to_owned()));
        }
        let number: u64 = version
            .parse()
            .map_err(|_| NameError::VersionTooLarge(version.to_owned()))?;
        if number == 0 {
            return Err(NameError::VersionZero);
        }
        if name.is_empty() {
            return Err(NameError::EmptyName);
        }
        if let Some(character) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(NameError::BadNameCharacter {
                name: name.to_owned(),
                character,
            });
        }
        Ok(FileName {
            version: Version::new(number),
            name: name.to_owned(),
            side,
        })
    }
}

/// Whether `name` may be a migration name (`[A-Za-z0-9_]+`).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_forms_and_timestamps() {
        let up = FileName::parse("20251017203807_create_users.sql").unwrap();
        assert_eq!(up.version.get(), 20251017203807);
        assert_eq!(up.side, Side::Up);
        assert_eq!(
            FileName::parse("0002_add_email.up.sql").unwrap().side,
            Side::Up
        );
        assert_eq!(
            FileName::parse("0002_add_email.down.sql").unwrap().side,
            Side::Down
        );
        assert_eq!(FileName::parse("7_a_b_c.sql").unwrap().name, "a_b_c");
    }

    #[test]
    fn names_each_broken_rule() {
        assert_eq!(
            FileName::parse("create_users.sql"),
            Err(NameError::VersionNotDigits("create".into()))
        );
        assert_eq!(FileName::parse("0001.sql"), Err(NameError::NoSeparator));
        assert_eq!(FileName::parse("0000_x.sql"), Err(NameError::VersionZero));
        assert_eq!(FileName::parse("0001_.sql"), Err(NameError::EmptyName));
        assert_eq!(
            FileName::parse("99999999999999999999_x.sql"),
            Err(NameError::VersionTooLarge("99999999999999999999".into()))
        );
        assert_eq!(
            FileName::parse("1_add-email.sql"),
            Err(NameError::BadNameCharacter {
                name: "add-email".into(),
                character: '-'
            })
        );
        assert!(matches!(
            FileName::parse("1_a.b.sql"),
            Err(NameError::BadNameCharacter { character: '.', .. })
        ));
    }
}
