//! Drift: does the live schema still match what the migrations made?
//!
//! After a run changes the schema, the runtime records a *fingerprint* of it in the
//! metadata table: every column (with its type, nullability and default), index and
//! constraint or foreign key of every table, read from the backend's own catalog,
//! normalised and sorted. Later, startup and `db drift` read the live schema the same way
//! and compare: anything a person changed by hand (an `ALTER TABLE` in a console, a
//! forgotten index) shows up as a [`Difference`] that names the object.
//!
//! ```
//! use schema_runtime::drift::Fingerprint;
//!
//! let recorded = Fingerprint::from_objects([("column", "users", "id", "INTEGER PRIMARY KEY")]);
//! let live = Fingerprint::from_objects([
//!     ("column", "users", "id", "INTEGER PRIMARY KEY"),
//!     ("column", "users", "nickname", "TEXT"),
//! ]);
//! let differences = recorded.compare(&live);
//! assert_eq!(
//!     differences[0].to_string(),
//!     "column users.nickname exists in the database but no migration created it"
//! );
//! ```

use std::fmt;

use crate::Version;

mod catalog;
mod fingerprint;
#[cfg(test)]
mod tests;

pub(crate) use catalog::query;
pub use fingerprint::Fingerprint;

/// What the runtime does when the live schema differs from its fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftCheck {
    /// Log a warning and add it to the report; the run goes on (the default).
    Warn,
    /// Stop the run with [`Error::Drift`](crate::Error::Drift) before it changes anything.
    Error,
    /// Neither compare nor record.
    Off,
}

/// One object of a fingerprint: what it is, its table, its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Object {
    /// `column`, `index`, `constraint` or `foreign key`.
    pub kind: String,
    /// The table it belongs to.
    pub table: String,
    /// Its name (for a foreign key without a name, its columns in parentheses).
    pub name: String,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.starts_with('(') {
            write!(f, "{} {}{}", self.kind, self.table, self.name)
        } else {
            write!(f, "{} {}.{}", self.kind, self.table, self.name)
        }
    }
}

/// How the live schema differs from the fingerprint the migrations left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A whole table no migration created.
    TableAdded(String),
    /// A table the migrations created that is gone.
    TableRemoved(String),
    /// An object no migration created.
    Added(Object, String),
    /// An object the migrations created that is gone.
    Removed(Object, String),
    /// An object whose definition changed: what the migrations left, what is there now.
    Changed(Object, String, String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::TableAdded(table) => write!(
                f,
                "table {table} exists in the database but no migration created it"
            ),
            Difference::TableRemoved(table) => write!(
                f,
                "table {table} was created by the migrations but is not in the database"
            ),
            Difference::Added(object, _) => write!(
                f,
                "{object} exists in the database but no migration created it"
            ),
            Difference::Removed(object, _) => write!(
                f,
                "{object} was created by the migrations but is not in the database"
            ),
            Difference::Changed(object, was, now) => write!(
                f,
                "{object} differs: the migrations left `{was}`, the database has `{now}`"
            ),
        }
    }
}

/// The outcome of a comparison: what differs, and which fingerprint it was compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// The newest migration applied when the fingerprint was recorded.
    pub recorded_after: Option<Version>,
    /// When the fingerprint was recorded (UTC).
    pub recorded_at: String,
    /// What differs, tables first, then objects in name order.
    pub differences: Vec<Difference>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the live schema differs from what the migrations left (recorded after version {} at {}): {}",
            self.recorded_after
                .map_or_else(|| "none".to_owned(), |v| v.to_string()),
            self.recorded_at,
            self.differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

/// The newest of the fingerprints recorded by the migration sets of a database: what the
/// last change made through migrations left.
pub(crate) fn newest(recorded: impl IntoIterator<Item = String>) -> Option<String> {
    recorded
        .into_iter()
        .filter_map(|text| {
            let at = Fingerprint::parse(&text)?.2;
            Some((at, text))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, text)| text)
}

/// How the live schema differs from the recorded fingerprint text; `None` when it does
/// not, or when the text is not a fingerprint this version reads.
/// The migrator's own tables (`own`) are left out: a set's first run makes them.
pub(crate) fn compare_recorded(recorded: &str, live: &Fingerprint, own: &[&str]) -> Option<Drift> {
    let (fingerprint, recorded_after, recorded_at) = Fingerprint::parse(recorded)?;
    let differences = fingerprint.without(own).compare(&live.without(own));
    (!differences.is_empty()).then_some(Drift {
        recorded_after,
        recorded_at,
        differences,
    })
}
