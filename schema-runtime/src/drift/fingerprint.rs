//! The fingerprint itself: objects with their definitions, compared, carried over a run,
//! and stored as text in the metadata table.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{CHECKS_IN, sqlite_checks};
use super::{Difference, Object};
use crate::Version;
use crate::sql_text::{Dialect, FINGERPRINT_KEY};

/// A normalised description of a schema: each object with its definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    objects: BTreeMap<Object, String>,
    /// The kinds of object it describes: `None` for every kind this version reads (a live
    /// schema, or a fingerprint recorded in the current format); for one recorded in an
    /// older format, the kinds that format read (see [`Fingerprint::parse`]).
    kinds: Option<BTreeSet<String>>,
}

/// The header of the stored form this version writes.
const HEADER: &str = "schema-fingerprint 2";
/// The header of the first stored form: tables only (columns, indexes, constraints and
/// foreign keys), no views, triggers, routines, types, sequences, nor CHECKs outside
/// PostgreSQL.
const HEADER_1: &str = "schema-fingerprint 1";
/// The kinds the first stored form read on every backend.
const KINDS_1: [&str; 4] = ["column", "index", "constraint", "foreign key"];

impl Fingerprint {
    /// A fingerprint of `(kind, table, name, definition)` objects (`table` empty for an
    /// object of the schema rather than of a table: a view, a type, a function).
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
            kinds: None,
        }
    }

    /// The fingerprint of catalog rows read with [`query`](super::query). The migrators'
    /// own tables are part of it: their shape never changes after they are made. A
    /// SQLite table's `CREATE TABLE` text (a [`CHECKS_IN`] row) becomes one `check`
    /// object per CHECK in it.
    pub(crate) fn from_rows(rows: Vec<Vec<Option<String>>>) -> Self {
        let mut objects = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = row.into_iter().map(Option::unwrap_or_default);
            let (Some(kind), Some(table), Some(name), Some(definition)) =
                (values.next(), values.next(), values.next(), values.next())
            else {
                continue;
            };
            if kind == CHECKS_IN {
                objects.extend(
                    sqlite_checks(&definition)
                        .into_iter()
                        .map(|(name, check)| ("check".to_owned(), table.clone(), name, check)),
                );
            } else {
                objects.push((kind, table, name, definition));
            }
        }
        Fingerprint::from_objects(objects)
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
            kinds: self.kinds.clone(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Whether it describes objects of `kind` (a fingerprint recorded in an older format
    /// does not describe the kinds added since).
    fn knows(&self, kind: &str) -> bool {
        self.kinds.as_ref().is_none_or(|kinds| kinds.contains(kind))
    }

    /// The tables: whatever has columns. (A trigger's table may be a view.)
    fn tables(&self) -> BTreeSet<&str> {
        self.objects
            .keys()
            .filter(|o| o.kind == "column")
            .map(|o| o.table.as_str())
            .collect()
    }

    /// What differs between this fingerprint (what the migrations left) and `live`. A
    /// table that only one side has is one difference, not one per column, index or
    /// trigger. Only the kinds of object both describe are compared: a fingerprint
    /// recorded before views were read says nothing about views, so none is drift.
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
        let compared = |o: &Object| {
            let table = o.table.as_str();
            self.knows(&o.kind)
                && live.knows(&o.kind)
                && before.contains(table) == now.contains(table)
        };
        for (object, was) in self.objects.iter().filter(|(o, _)| compared(o)) {
            match live.objects.get(object) {
                None => differences.push(Difference::Removed(object.clone(), was.clone())),
                Some(is) if is != was => {
                    differences.push(Difference::Changed(object.clone(), was.clone(), is.clone()))
                }
                Some(_) => {}
            }
        }
        for (object, is) in live.objects.iter().filter(|(o, _)| compared(o)) {
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
    /// Objects of the kinds `self` does not describe (recorded in an older format) are
    /// taken from `after` as they are: nothing says which of them a person made.
    pub fn carry_over(&self, before: &Fingerprint, after: &Fingerprint) -> Fingerprint {
        let mut next = after.objects.clone();
        let keys: BTreeSet<&Object> = self.objects.keys().chain(before.objects.keys()).collect();
        for key in keys.into_iter().filter(|key| self.knows(&key.kind)) {
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
        Fingerprint {
            objects: next,
            kinds: after.kinds.clone(),
        }
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
    ///
    /// A fingerprint in the first form (`schema-fingerprint 1`, before views, triggers,
    /// routines, types, sequences and SQLite's and MySQL's CHECKs were read) still reads
    /// and compares: it knows only the kinds that form read, so [`compare`](Self::compare)
    /// leaves every other kind out (neither added nor removed) and
    /// [`carry_over`](Self::carry_over) takes them from the live schema, until the next
    /// migrating run (or `db drift --accept`) records the current form. Its CHECKs, which
    /// that form read on PostgreSQL only, as `constraint` objects, are renamed `check`; it
    /// knows `check` when it holds any `constraint` (only PostgreSQL's catalog gave those:
    /// the primary keys of the migrator's own tables at least), so that a CHECK made by
    /// hand on PostgreSQL stays drift across the upgrade, and the CHECKs that MySQL's and
    /// SQLite's first form never read do not become drift.
    pub(crate) fn parse(text: &str) -> Option<(Fingerprint, Option<Version>, String)> {
        let mut lines = text.lines();
        let first_form = match lines.next()? {
            HEADER => false,
            HEADER_1 => true,
            _ => return None,
        };
        let after = lines.next()?.strip_prefix("after ")?;
        let after = match after {
            "none" => None,
            v => Some(Version::new(v.parse().ok()?)),
        };
        let at = lines.next()?.strip_prefix("at ")?.to_owned();
        let mut objects = BTreeMap::new();
        for line in lines {
            let mut fields = line.split('\t').map(unescape);
            let (mut kind, table, name, definition) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            if first_form && kind == "constraint" && definition.starts_with("CHECK ") {
                kind = "check".to_owned();
            }
            objects.insert(Object { kind, table, name }, definition);
        }
        let kinds = first_form.then(|| {
            let mut kinds: BTreeSet<String> = KINDS_1.iter().map(|k| (*k).to_owned()).collect();
            if objects
                .keys()
                .any(|o| matches!(o.kind.as_str(), "constraint" | "check"))
            {
                kinds.insert("check".to_owned());
            }
            kinds
        });
        Some((Fingerprint { objects, kinds }, after, at))
    }
}

/// Whitespace collapsed, so that catalogs that keep the text as typed compare equal.
pub(super) fn normalise(definition: &str) -> String {
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
