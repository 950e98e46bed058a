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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::Version;
use crate::sql_text::{Dialect, FINGERPRINT_KEY};

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

/// A normalised description of a schema: each object with its definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    objects: BTreeMap<Object, String>,
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

    /// The fingerprint of catalog rows read with [`query`]. The migrators' own tables
    /// are part of it: their shape never changes after they are made.
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

/// The catalog query of `dialect`: one row per column, index, constraint and foreign key
/// of every table of the current schema, as `(kind, table, name, definition)` text.
pub(crate) fn query(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
        Dialect::Mysql => MYSQL,
    }
}

const SQLITE: &str = "\
SELECT 'column', m.name, p.name, COALESCE(p.type, '') \
  || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END \
  || COALESCE(' DEFAULT ' || p.dflt_value, '') \
  || CASE WHEN p.pk > 0 THEN ' PRIMARY KEY ' || p.pk ELSE '' END \
FROM sqlite_master m, pragma_table_info(m.name) p \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
UNION ALL \
SELECT 'index', s.tbl_name, s.name, s.sql FROM sqlite_master s \
WHERE s.type = 'index' AND s.sql IS NOT NULL AND s.tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
UNION ALL \
SELECT 'index', m.name, \
  '(' || (SELECT group_concat(COALESCE(c.name, '?'), ', ') FROM (SELECT name FROM pragma_index_info(i.name) ORDER BY seqno) c) || ')', \
  CASE WHEN i.origin = 'pk' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END \
FROM sqlite_master m, pragma_index_list(m.name) i \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND i.origin <> 'c' \
UNION ALL \
SELECT 'foreign key', m.name, '(' || group_concat(f.\"from\", ', ') || ')', \
  'REFERENCES ' || f.\"table\" || '(' || group_concat(COALESCE(f.\"to\", '?'), ', ') || ') ON UPDATE ' || f.on_update || ' ON DELETE ' || f.on_delete \
FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
GROUP BY m.name, f.id";

const POSTGRES: &str = "\
SELECT CAST('column' AS TEXT), CAST(c.relname AS TEXT), CAST(a.attname AS TEXT), \
  format_type(a.atttypid, a.atttypmod) \
  || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
  || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') \
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
JOIN pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped \
UNION ALL \
SELECT 'index', CAST(t.relname AS TEXT), CAST(i.relname AS TEXT), \
  CASE WHEN x.indisunique THEN 'UNIQUE ' ELSE '' END || am.amname || ' (' \
  || (SELECT string_agg(COALESCE(CAST(a.attname AS TEXT), '?'), ', ' ORDER BY c.ord) \
      FROM unnest(x.indkey) WITH ORDINALITY c(attnum, ord) \
      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = c.attnum) || ')' \
  || CASE WHEN CAST(x.indoption AS TEXT) ~ '[1-9]' THEN ' options ' || CAST(x.indoption AS TEXT) ELSE '' END \
  || COALESCE(' ' || pg_get_expr(x.indexprs, x.indrelid), '') \
  || COALESCE(' WHERE ' || pg_get_expr(x.indpred, x.indrelid), '') \
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam \
LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x') \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') AND k.oid IS NULL \
UNION ALL \
SELECT CASE k.contype WHEN 'f' THEN 'foreign key' ELSE 'constraint' END, CAST(t.relname AS TEXT), CAST(k.conname AS TEXT), pg_get_constraintdef(k.oid) \
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p')";

const MYSQL: &str = "\
SELECT CAST('column' AS CHAR), CAST(c.table_name AS CHAR), CAST(c.column_name AS CHAR), \
  CAST(CONCAT(c.column_type, IF(c.is_nullable = 'NO', ' NOT NULL', ''), \
    IF(c.column_default IS NULL, '', CONCAT(' DEFAULT ', c.column_default)), \
    IF(c.extra = '', '', CONCAT(' ', c.extra))) AS CHAR) \
FROM information_schema.columns c \
WHERE c.table_schema = DATABASE() \
  AND c.table_name NOT IN (SELECT v.table_name FROM information_schema.views v WHERE v.table_schema = DATABASE()) \
UNION ALL \
SELECT CAST('index' AS CHAR), CAST(s.table_name AS CHAR), CAST(s.index_name AS CHAR), \
  CAST(CONCAT(IF(MAX(s.non_unique) = 0, 'UNIQUE ', ''), '(', \
    GROUP_CONCAT(COALESCE(s.column_name, '?') ORDER BY s.seq_in_index SEPARATOR ', '), ')') AS CHAR) \
FROM information_schema.statistics s WHERE s.table_schema = DATABASE() \
GROUP BY s.table_name, s.index_name \
UNION ALL \
SELECT CAST('foreign key' AS CHAR), CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), \
  CAST(CONCAT('(', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') REFERENCES ', \
    MAX(k.referenced_table_name), '(', \
    GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ', '), ')') AS CHAR) \
FROM information_schema.key_column_usage k \
WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL \
GROUP BY k.table_name, k.constraint_name";

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(objects: &[(&str, &str, &str, &str)]) -> Fingerprint {
        Fingerprint::from_objects(objects.iter().copied())
    }

    #[test]
    fn differences_name_the_object_and_what_changed() {
        let recorded = fp(&[
            ("column", "users", "id", "INTEGER PRIMARY KEY 1"),
            ("column", "users", "name", "TEXT NOT NULL"),
            (
                "index",
                "users",
                "users_name",
                "CREATE INDEX users_name ON users (name)",
            ),
            ("column", "posts", "id", "INTEGER"),
        ]);
        let live = fp(&[
            ("column", "users", "id", "INTEGER PRIMARY KEY 1"),
            ("column", "users", "name", "TEXT"),
            ("column", "users", "nickname", "TEXT"),
            ("column", "audit", "id", "INTEGER"),
            ("column", "audit", "at", "TEXT"),
        ]);
        let text: Vec<String> = recorded
            .compare(&live)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "table audit exists in the database but no migration created it",
                "table posts was created by the migrations but is not in the database",
                "column users.name differs: the migrations left `TEXT NOT NULL`, the database has `TEXT`",
                "index users.users_name was created by the migrations but is not in the database",
                "column users.nickname exists in the database but no migration created it",
            ]
        );
        assert!(live.compare(&live).is_empty());
    }

    #[test]
    fn whitespace_does_not_count_and_the_stored_form_round_trips() {
        let a = fp(&[("index", "t", "i", "CREATE  INDEX i\n ON t (a)")]);
        let b = fp(&[("index", "t", "i", "CREATE INDEX i ON t (a)")]);
        assert!(a.compare(&b).is_empty());
        let odd = fp(&[("column", "t", "a\tb", "TEXT DEFAULT 'x\\y\nz'")]);
        let text = odd.render(Some(Version::new(42)), "2026-01-01T00:00:00Z");
        let (back, after, at) = Fingerprint::parse(&text).unwrap();
        assert_eq!(back, odd);
        assert_eq!(after, Some(Version::new(42)));
        assert_eq!(at, "2026-01-01T00:00:00Z");
        assert!(Fingerprint::parse("something else").is_none());
    }

    #[test]
    fn a_run_over_drift_keeps_the_drift_and_takes_its_own_changes() {
        let recorded = fp(&[("column", "users", "id", "INTEGER")]);
        // By hand: a column added, and a table.
        let before = fp(&[
            ("column", "users", "id", "INTEGER"),
            ("column", "users", "nickname", "TEXT"),
            ("column", "scratch", "x", "TEXT"),
        ]);
        // The run's migration adds users.email and changes the hand-made column.
        let after = fp(&[
            ("column", "users", "id", "INTEGER"),
            ("column", "users", "nickname", "TEXT NOT NULL"),
            ("column", "users", "email", "TEXT"),
            ("column", "scratch", "x", "TEXT"),
        ]);
        let next = recorded.carry_over(&before, &after);
        assert_eq!(
            next,
            fp(&[
                ("column", "users", "id", "INTEGER"),
                ("column", "users", "nickname", "TEXT NOT NULL"),
                ("column", "users", "email", "TEXT"),
            ])
        );
        let still: Vec<String> = next
            .compare(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            still,
            ["table scratch exists in the database but no migration created it"]
        );
    }
}
