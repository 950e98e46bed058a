//! Drift: does the live schema still match what the migrations made?
//!
//! After a run changes the schema, the runtime records a *fingerprint* of it in the
//! metadata table, read from the backend's own catalog, normalised and sorted: every
//! column (with its type, nullability and default), index, CHECK and other constraint,
//! foreign key and trigger of every table, and the objects that belong to no table:
//! views, and on PostgreSQL materialized views, sequences, enum, composite, domain and
//! range types, functions, procedures, aggregates and extensions, on MySQL/MariaDB
//! functions and procedures (the README lists what each backend has). Later, startup and
//! `db drift` read the live schema the same way and compare: anything a person changed
//! by hand (an `ALTER TABLE` in a console, a forgotten index, `ALTER TYPE … ADD VALUE`, a
//! function replaced) shows up as a [`Difference`] that names the object.
//!
//! ```
//! use schema_runtime::drift::Fingerprint;
//!
//! let recorded = Fingerprint::from_objects([("column", "users", "id", "INTEGER PRIMARY KEY")]);
//! let live = Fingerprint::from_objects([
//!     ("column", "users", "id", "INTEGER PRIMARY KEY"),
//!     ("column", "users", "nickname", "TEXT"),
//!     ("view", "", "active_users", "SELECT id FROM users"),
//! ]);
//! let differences = recorded.compare(&live);
//! assert_eq!(
//!     differences[0].to_string(),
//!     "column users.nickname exists in the database but no migration created it"
//! );
//! assert_eq!(
//!     differences[1].to_string(),
//!     "view active_users exists in the database but no migration created it"
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
    /// What kind of object it is: of a table, `column`, `index`, `constraint`, `check`,
    /// `foreign key`, `trigger` or (owned by a column) `sequence`; of the schema, `view`,
    /// `materialized view`, `sequence`, `enum type`, `composite type`, `domain`,
    /// `range type`, `function`, `procedure`, `aggregate` or `extension`.
    pub kind: String,
    /// The table it belongs to; empty for an object of the schema (a view, a type, a
    /// function).
    pub table: String,
    /// Its name (for a foreign key or a CHECK without a name, its columns or expression
    /// in parentheses; for a function or procedure, with its argument types).
    pub name: String,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.table.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else if self.name.starts_with('(') {
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

/// How a definition that is only a hash starts (a function's body, a MySQL routine's):
/// comparing two hashes tells that it changed, not how.
pub(crate) const HASHED: &str = "md5 ";

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
            Difference::Changed(object, was, now) if object.kind == "enum type" => {
                write!(f, "{object} {}", enum_change(was, now))
            }
            Difference::Changed(object, was, now)
                if was.starts_with(HASHED) && now.starts_with(HASHED) =>
            {
                write!(
                    f,
                    "{object} differs from what the migrations left (the hash of its definition changed)"
                )
            }
            Difference::Changed(object, was, now) => write!(
                f,
                "{object} differs: the migrations left `{was}`, the database has `{now}`"
            ),
        }
    }
}

/// What happened to an enum type's values (recorded as `'a', 'b'` in their order):
/// values added by hand (`ALTER TYPE … ADD VALUE`), values gone (renamed), or the same
/// values in another order.
fn enum_change(was: &str, now: &str) -> String {
    let (was, now) = (enum_values(was), enum_values(now));
    let added: Vec<&str> = now.iter().filter(|v| !was.contains(v)).copied().collect();
    let gone: Vec<&str> = was.iter().filter(|v| !now.contains(v)).copied().collect();
    // The values both have, in each one's order.
    let common = |values: &[&str], other: &[&str]| -> Vec<String> {
        values
            .iter()
            .filter(|v| other.contains(v))
            .map(|v| (*v).to_owned())
            .collect()
    };
    let plural = |values: &[&str]| {
        let s = if values.len() == 1 { "" } else { "s" };
        format!("value{s} {}", values.join(", "))
    };
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!(
            "has {} in the database that no migration added",
            plural(&added)
        ));
    }
    if !gone.is_empty() {
        parts.push(format!("lacks {} that the migrations made", plural(&gone)));
    }
    if common(&was, &now) != common(&now, &was) {
        parts.push(format!(
            "has its values in another order: the migrations left {}, the database has {}",
            was.join(", "),
            now.join(", ")
        ));
    }
    parts.join(" and ")
}

/// The quoted values of an enum type's definition, quotes kept.
fn enum_values(definition: &str) -> Vec<&str> {
    let mut values = Vec::new();
    let bytes = definition.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\'' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() {
            if bytes[i] == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
            } else if bytes[i] == b'\'' {
                break;
            } else {
                i += 1;
            }
        }
        i = (i + 1).min(bytes.len());
        values.push(&definition[start..i]);
    }
    values
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
