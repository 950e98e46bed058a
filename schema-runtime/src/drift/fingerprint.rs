//! The fingerprint itself: objects with their definitions, compared, carried over a run,
//! and stored as text in the metadata table.

use std::collections::{BTreeMap, BTreeSet};

use super::{Difference, Object};
use crate::Version;
use crate::sql_text::{Dialect, FINGERPRINT_KEY};

/// A normalised description of a schema: each object with its definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    objects: BTreeMap<Object, String>,
}

const HEADER: &str = "schema-fingerprint 1";

impl Fingerprint {
    /// A fingerprint of `(kind, table, name, definition)` objects.
    pub fn from_objects<K, T, N, D>(objects: impl IntoIterator<Item = (K, T, N, D)>) -> Self
    where
        K: Into<String>,
        T: Into<String>,
        N: Into<String>,
        D: AsRef<str>,
    {
        Fingerprint {
            objects: objects
                .into_iter()
                .map(|(kind, table, name, definition)| {
                    (
                        Object {
                            kind: kind.into(),
                            table: table.into(),
                            name: name.into(),
                        },
                        normalise(definition.as_ref()),
                    )
                })
                .collect(),
        }
    }

    /// The fingerprint of catalog rows read with [`query`](super::query). The migrators'
    /// own tables are part of it: their shape never changes after they are made.
    pub(crate) fn from_rows(rows: Vec<Vec<Option<String>>>) -> Self {
        Fingerprint::from_objects(rows.into_iter().filter_map(|row| {
            let mut values = row.into_iter().map(Option::unwrap_or_default);
            Some((
                values.next()?,
                values.next()?,
                values.next()?,
                values.next()?,
            ))
        }))
    }

    /// The query that reads every fingerprint recorded in this database: each migration
    /// set sharing it keeps its own in its own metadata table, found here by its shape
    /// (exactly the columns `key_name` and `value`). `None` when there is no such table.
    pub(crate) fn recorded_query(&self, dialect: Dialect) -> Option<String> {
        let mut columns: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for object in self.objects.keys().filter(|o| o.kind == "column") {
            columns
                .entry(object.table.as_str())
                .or_default()
                .push(object.name.as_str());
        }
        let selects: Vec<String> = columns
            .into_iter()
            .filter(|(_, names)| names[..] == ["key_name", "value"])
            .map(|(table, _)| {
                format!(
                    "SELECT value FROM {} WHERE key_name = '{FINGERPRINT_KEY}'",
                    dialect.quote_name(table)
                )
            })
            .collect();
        (!selects.is_empty()).then(|| selects.join(" UNION ALL "))
    }

    /// Each object with its definition, in order.
    pub fn objects(&self) -> impl Iterator<Item = (&Object, &str)> {
        self.objects.iter().map(|(o, d)| (o, d.as_str()))
    }

    /// The same without the objects of `tables`.
    pub(crate) fn without(&self, tables: &[&str]) -> Fingerprint {
        Fingerprint {
            objects: self
                .objects
                .iter()
                .filter(|(o, _)| !tables.contains(&o.table.as_str()))
                .map(|(o, d)| (o.clone(), d.clone()))
                .collect(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn tables(&self) -> BTreeSet<&str> {
        self.objects.keys().map(|o| o.table.as_str()).collect()
    }

    /// What differs between this fingerprint (what the migrations left) and `live`. A
    /// table that only one side has is one difference, not one per column.
    pub fn compare(&self, live: &Fingerprint) -> Vec<Difference> {
        let (before, now) = (self.tables(), live.tables());
        let mut differences: Vec<Difference> = now
            .difference(&before)
            .map(|t| Difference::TableAdded((*t).to_owned()))
            .chain(
                before
                    .difference(&now)
                    .map(|t| Difference::TableRemoved((*t).to_owned())),
            )
            .collect();
        let both = |o: &Object| before.contains(o.table.as_str()) && now.contains(o.table.as_str());
        for (object, was) in self.objects.iter().filter(|(o, _)| both(o)) {
            match live.objects.get(object) {
                None => differences.push(Difference::Removed(object.clone(), was.clone())),
                Some(is) if is != was => {
                    differences.push(Difference::Changed(object.clone(), was.clone(), is.clone()))
                }
                Some(_) => {}
            }
        }
        for (object, is) in live.objects.iter().filter(|(o, _)| both(o)) {
            if !self.objects.contains_key(object) {
                differences.push(Difference::Added(object.clone(), is.clone()));
            }
        }
        differences
    }

    /// The fingerprint to record after a run that started on `before` (which differed
    /// from `self`, the recorded one) and left `after`: what the run's migrations changed
    /// is taken from `after`, and every hand-made difference that the run did not touch
    /// stays a difference, so drift is never absorbed silently by the next migration.
    pub fn carry_over(&self, before: &Fingerprint, after: &Fingerprint) -> Fingerprint {
        let mut next = after.objects.clone();
        let keys: BTreeSet<&Object> = self.objects.keys().chain(before.objects.keys()).collect();
        for key in keys {
            let (recorded, was, now) = (
                self.objects.get(key),
                before.objects.get(key),
                after.objects.get(key),
            );
            if recorded != was && was == now {
                match recorded {
                    Some(definition) => next.insert(key.clone(), definition.clone()),
                    None => next.remove(key),
                };
            }
        }
        Fingerprint { objects: next }
    }

    /// The stored form: a header, then one tab-separated object per line.
    pub(crate) fn render(&self, after: Option<Version>, at: &str) -> String {
        let mut out = format!(
            "{HEADER}\nafter {}\nat {at}\n",
            after.map_or_else(|| "none".to_owned(), |v| v.to_string())
        );
        for (object, definition) in &self.objects {
            for (n, field) in [&object.kind, &object.table, &object.name, definition]
                .into_iter()
                .enumerate()
            {
                if n > 0 {
                    out.push('\t');
                }
                out.push_str(&escape(field));
            }
            out.push('\n');
        }
        out
    }

    /// Reads the stored form: the fingerprint, the version and the time it was recorded
    /// after. `None` when the text is not a fingerprint this version understands.
    pub(crate) fn parse(text: &str) -> Option<(Fingerprint, Option<Version>, String)> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let after = lines.next()?.strip_prefix("after ")?;
        let after = match after {
            "none" => None,
            v => Some(Version::new(v.parse().ok()?)),
        };
        let at = lines.next()?.strip_prefix("at ")?.to_owned();
        let mut objects = BTreeMap::new();
        for line in lines {
            let mut fields = line.split('\t').map(unescape);
            let (kind, table, name, definition) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            objects.insert(Object { kind, table, name }, definition);
        }
        Some((Fingerprint { objects }, after, at))
    }
}

/// Whitespace collapsed, so that catalogs that keep the text as typed compare equal.
fn normalise(definition: &str) -> String {
    definition.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape(field: &str) -> String {
    field
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}
