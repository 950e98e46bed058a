//! What a database holds, read for people: every history row, each migration's state
//! against the binary, and a summary of the live schema from each backend's catalog.

use std::collections::BTreeMap;

use super::console::{Console, TextRow};
use crate::plan::{RecordedChecksum, Standing, standing};
use crate::sql_text::{Dialect, ENVIRONMENT_KEY, kind, state};
use crate::{Checksum, Error, Migrations, Policy, Version};

/// `expr` as text in `dialect`, so every backend's rows read the same way.
pub(crate) fn text(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
        Dialect::Sqlite | Dialect::Postgres => format!("CAST({expr} AS TEXT)"),
    }
}

/// A string literal for an identifier read from the catalog or validated before.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One row of the history table, as recorded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub kind: String,
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub state: String,
    pub applied_at: String,
    pub execution_ms: i64,
    pub app_version: String,
    pub environment: String,
    pub applied_by: String,
    pub note: Option<String>,
}

/// The history and the stamp of a database.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Every row, oldest first.
    pub rows: Vec<Row>,
    /// The environment stamp.
    pub stamp: Option<String>,
}

impl Row {
    /// The recorded checksum (`None` when it is not one).
    fn recorded(&self) -> Option<Checksum> {
        RecordedChecksum::from_text(self.checksum.as_bytes())
            .parse()
            .ok()
    }

    /// Whether the row was marked finished.
    fn finished(&self) -> bool {
        self.state != state::STARTED
    }
}

impl Recorded {
    /// The migration (or seed) row of `version`.
    pub fn get(&self, kind: &str, version: Version) -> Option<&Row> {
        let version = version.get() as i64;
        self.rows
            .iter()
            .rev()
            .find(|r| r.kind == kind && r.version == version)
    }

    /// The newest applied migration's row.
    pub fn newest_migration(&self) -> Option<&Row> {
        self.rows
            .iter()
            .filter(|r| r.kind == kind::MIGRATION)
            .max_by_key(|r| r.version as u64)
    }
}

/// The tables of the current schema (or SQLite file), sorted.
pub(crate) fn tables(console: &mut dyn Console) -> Result<Vec<String>, Error> {
    let dialect = console.dialect();
    let sql = match dialect {
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name".to_owned(),
        Dialect::Postgres => "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1".to_owned(),
        Dialect::Mysql => format!("SELECT {} FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1", text(dialect, "table_name")),
    };
    Ok(console
        .rows(&sql)?
        .into_iter()
        .filter_map(|mut row| row.swap_remove(0))
        .collect())
}

/// Every history row and the stamp; an empty record when the tables do not exist yet.
pub(crate) fn recorded(console: &mut dyn Console, policy: &Policy) -> Result<Recorded, Error> {
    let dialect = console.dialect();
    let (history, meta) = (&policy.history_table, &policy.meta_table);
    if history.schema().is_none() && !tables(console)?.iter().any(|t| t == history.table()) {
        return Ok(Recorded::default());
    }
    let columns = [
        "kind",
        &text(dialect, "version"),
        "name",
        "checksum",
        "state",
        "applied_at",
        &text(dialect, "execution_ms"),
        "app_version",
        "environment",
        "applied_by",
        "note",
    ]
    .join(", ");
    let sql = format!(
        "SELECT {columns} FROM {} ORDER BY id",
        history.quoted(dialect)
    );
    let rows = console
        .rows(&sql)?
        .into_iter()
        .map(|row| {
            let mut values = row.into_iter();
            let mut next = || values.next().flatten().unwrap_or_default();
            Row {
                kind: next(),
                version: next().parse().unwrap_or_default(),
                name: next(),
                checksum: next(),
                state: next(),
                applied_at: next(),
                execution_ms: next().parse().unwrap_or_default(),
                app_version: next(),
                environment: next(),
                applied_by: next(),
                note: Some(next()).filter(|n| !n.is_empty()),
            }
        })
        .collect();
    let stamp = console
        .rows(&format!(
            "SELECT value FROM {} WHERE key_name = {}",
            meta.quoted(dialect),
            literal(ENVIRONMENT_KEY)
        ))
        .ok()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|mut row: TextRow| row.swap_remove(0));
    Ok(Recorded { rows, stamp })
}

/// Where a migration or seed stands against the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Applied with the checksum the binary has.
    Applied,
    /// Applied with an older checksum that the lock's `amends` accepts; the next start
    /// records the amendment.
    Amended,
    /// Not applied yet.
    Pending,
    /// Applied with a checksum the binary does not have.
    Edited,
    /// Applied here, not in the binary.
    Missing,
    /// Started outside a transaction and never marked finished.
    HalfApplied,
}

impl State {
    /// The state of a recorded migration, as the planner judges it.
    fn of(standing: Standing) -> State {
        match standing {
            Standing::Applied => State::Applied,
            Standing::Amended(_) => State::Amended,
            Standing::Edited => State::Edited,
            Standing::HalfApplied => State::HalfApplied,
            Standing::Missing => State::Missing,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Amended => "applied (amended)",
            State::Pending => "pending",
            State::Edited => "edited",
            State::Missing => "missing",
            State::HalfApplied => "half-applied",
        }
    }

    /// [`as_str`](Self::as_str) in the colour of its state: what needs a person stands out.
    pub(crate) fn styled(self) -> String {
        use anstyle::{AnsiColor, Style};
        let style = match self {
            State::Applied | State::Amended => Style::new().fg_color(Some(AnsiColor::Green.into())),
            State::Pending => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            State::Edited | State::Missing | State::HalfApplied => {
                Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
            }
        };
        super::output::styled(self.as_str(), style)
    }

    /// The word for `--json`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            State::Amended => "amended",
            other => other.as_str(),
        }
    }

    /// Whether `db verify` counts it as a difference.
    pub(crate) fn differs(self) -> bool {
        !matches!(self, State::Applied | State::Amended)
    }
}

/// One migration or seed with its state.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub kind: &'static str,
    pub version: Version,
    pub name: String,
    pub path: Option<&'static str>,
    pub state: State,
    pub checksum: Option<Checksum>,
    pub row: Option<Row>,
}

/// Every migration and seed of the binary and every migration row of the database,
/// by version.
pub(crate) fn entries(migrations: &Migrations, recorded: &Recorded) -> Vec<Entry> {
    let mut out: BTreeMap<(u8, Version), Entry> = BTreeMap::new();
    for migration in migrations.migrations() {
        let row = recorded.get(kind::MIGRATION, migration.version()).cloned();
        let state = row.as_ref().map_or(State::Pending, |row| {
            State::of(standing(Some(migration), row.recorded(), row.finished()))
        });
        out.insert(
            (0, migration.version()),
            Entry {
                kind: kind::MIGRATION,
                version: migration.version(),
                name: migration.name().to_owned(),
                path: Some(migration.path()),
                state,
                checksum: Some(migration.checksum()),
                row,
            },
        );
    }
    for row in recorded.rows.iter().filter(|r| r.kind == kind::MIGRATION) {
        let version = Version::new(row.version as u64);
        out.entry((0, version)).or_insert_with(|| Entry {
            kind: kind::MIGRATION,
            version,
            name: row.name.clone(),
            path: None,
            state: State::of(standing(None, row.recorded(), row.finished())),
            checksum: None,
            row: Some(row.clone()),
        });
    }
    for seed in migrations.seeds() {
        let row = recorded.get(kind::SEED, seed.version()).cloned();
        let state = match &row {
            None => State::Pending,
            Some(row) if row.state == state::STARTED => State::HalfApplied,
            // A seed that changed after it ran is a warning at startup, not a difference.
            Some(_) => State::Applied,
        };
        out.insert(
            (1, seed.version()),
            Entry {
                kind: kind::SEED,
                version: seed.version(),
                name: seed.name().to_owned(),
                path: Some(seed.path()),
                state,
                checksum: Some(seed.checksum()),
                row,
            },
        );
    }
    out.into_values().collect()
}

/// One table of the live schema.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub name: String,
    pub rows: u64,
    pub foreign_keys: u64,
    pub indexes: u64,
}

/// The tables of the live schema with their rows, foreign keys and indexes.
pub(crate) fn schema(console: &mut dyn Console) -> Result<Vec<Table>, Error> {
    let dialect = console.dialect();
    let sql = match dialect {
        Dialect::Sqlite => "SELECT m.name, \
            (SELECT COUNT(DISTINCT id) FROM pragma_foreign_key_list(m.name)), \
            (SELECT COUNT(*) FROM pragma_index_list(m.name)) \
            FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name"
            .to_owned(),
        Dialect::Postgres => "SELECT CAST(c.relname AS TEXT), \
            CAST((SELECT COUNT(*) FROM pg_constraint f WHERE f.conrelid = c.oid AND f.contype = 'f') AS TEXT), \
            CAST((SELECT COUNT(*) FROM pg_index i WHERE i.indrelid = c.oid) AS TEXT) \
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() ORDER BY 1"
            .to_owned(),
        Dialect::Mysql => format!(
            "SELECT {}, \
            {}, \
            {} \
            FROM information_schema.tables t WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' ORDER BY 1",
            text(dialect, "t.table_name"),
            text(dialect, "(SELECT COUNT(*) FROM information_schema.referential_constraints r WHERE r.constraint_schema = t.table_schema AND r.table_name = t.table_name)"),
            text(dialect, "(SELECT COUNT(DISTINCT s.index_name) FROM information_schema.statistics s WHERE s.table_schema = t.table_schema AND s.table_name = t.table_name)"),
        ),
    };
    let mut tables = Vec::new();
    for row in console.rows(&sql)? {
        let mut values = row.into_iter();
        let mut next = || values.next().flatten().unwrap_or_default();
        let name = next();
        let (foreign_keys, indexes) = (next(), next());
        let quoted = dialect.quote_name(&name);
        let rows = console
            .rows(&format!(
                "SELECT {} FROM {quoted}",
                text(dialect, "COUNT(*)")
            ))?
            .into_iter()
            .next()
            .and_then(|mut row| row.swap_remove(0))
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        tables.push(Table {
            name,
            rows,
            foreign_keys: foreign_keys.parse().unwrap_or_default(),
            indexes: indexes.parse().unwrap_or_default(),
        });
    }
    Ok(tables)
}
