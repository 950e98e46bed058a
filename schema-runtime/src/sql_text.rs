//! The SQL the executors send for their own tables, written once for every backend.
//! The differences between databases are data here: type names, quoting, placeholders.

use std::fmt;

use crate::Error;

/// A validated table name: one or two parts (`table` or `schema.table`), each of letters,
/// digits and `_`, not starting with a digit, at most 63 characters. It is quoted when
/// spliced into SQL, and never taken raw from input that was not validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier {
    parts: Vec<String>,
}

impl Identifier {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = name.split('.').collect();
        let valid_part = |part: &&str| {
            !part.is_empty()
                && part.len() <= 63
                && !part.as_bytes()[0].is_ascii_digit()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if parts.len() > 2 || !parts.iter().all(valid_part) {
            return Err(Error::InvalidIdentifier {
                name: name.to_owned(),
            });
        }
        Ok(Identifier {
            parts: parts.into_iter().map(str::to_owned).collect(),
        })
    }

    pub(crate) fn new_unchecked(name: &str) -> Self {
        Identifier {
            parts: vec![name.to_owned()],
        }
    }

    /// The unqualified table name.
    pub fn table(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or_default()
    }

    /// The schema, when the name is qualified.
    pub fn schema(&self) -> Option<&str> {
        (self.parts.len() == 2).then(|| self.parts[0].as_str())
    }

    /// The name quoted for `dialect`.
    pub fn quoted(&self, dialect: Dialect) -> String {
        let quote = dialect.identifier_quote();
        self.parts
            .iter()
            .map(|part| format!("{quote}{part}{quote}"))
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts.join("."))
    }
}

/// The SQL flavour of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (rusqlite or sqlx).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// What a history row records.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub mod kind {
    /// An applied (or started) migration.
    pub const MIGRATION: &str = "migration";
    /// An applied seed.
    pub const SEED: &str = "seed";
    /// An audited change of a recorded checksum, accepted from the lock's `amends`.
    pub const AMENDMENT: &str = "amendment";
    /// A migration reverted with its down file by `db down` (its migration row is gone).
    pub const REVERT: &str = "revert";
    /// An audited fix made with `db repair`: who, when and why are in the row.
    pub const REPAIR: &str = "repair";
    /// `db baseline` adopted the migrations recorded before it (the `migration` rows it
    /// wrote say where each came from).
    pub const BASELINE: &str = "baseline";
}

/// The state of a migration or seed row.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub mod state {
    /// Finished: its changes and its row were committed.
    pub const APPLIED: &str = "applied";
    /// Started outside a transaction and not (yet) marked finished.
    pub const STARTED: &str = "started";
}

/// The key of the environment stamp in the metadata table.
pub const ENVIRONMENT_KEY: &str = "environment";
/// The key of the recorded drift fingerprint in the metadata table.
pub(crate) const FINGERPRINT_KEY: &str = "fingerprint";
/// The key of SQLite's schema cookie when the fingerprint was recorded.
pub(crate) const COOKIE_KEY: &str = "fingerprint_cookie";

/// The migration tools whose databases `db baseline` adopts, and their history tables:
/// a start on a database that has one of these and no history of ours refuses.
pub(crate) const OTHER_TOOLS: [(&str, &str); 3] = [
    ("sqlx", "_sqlx_migrations"),
    ("refinery", "refinery_schema_history"),
    ("diesel", "__diesel_schema_migrations"),
];

/// Opens a PostgreSQL migration step's transaction-local mark: a file that ends the
/// transaction (`COMMIT`, `ROLLBACK`) loses it, and [`STEP_CHECK`] then fails before the
/// history row is written.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
pub(crate) const STEP_MARK: &str = "SET LOCAL schema_runtime.step = 'open';\n";

/// The error text [`STEP_CHECK`] raises.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
pub(crate) const STEP_ENDED: &str = "schema_runtime: the migration ended its own transaction";

/// Fails, naming [`STEP_ENDED`], when the step's transaction is no longer the one
/// [`STEP_MARK`] marked. No extra round trip: it travels in the step's message.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
pub(crate) const STEP_CHECK: &str = "SELECT CAST(CASE WHEN current_setting('schema_runtime.step', true) = 'open' THEN '1' ELSE 'schema_runtime: the migration ended its own transaction' END AS integer)";

/// The history row columns an insert fills, in order.
pub const HISTORY_COLUMNS: &str = "version, name, kind, checksum, state, applied_at, execution_ms, app_version, environment, applied_by, note";

impl Dialect {
    fn identifier_quote(self) -> char {
        match self {
            Dialect::Mysql => '`',
            Dialect::Sqlite | Dialect::Postgres => '"',
        }
    }

    /// Any name read from a catalog, quoted for this dialect (quotes inside doubled).
    pub fn quote_name(self, name: &str) -> String {
        let quote = self.identifier_quote();
        let doubled = format!("{quote}{quote}");
        format!("{quote}{}{quote}", name.replace(quote, &doubled))
    }

    /// The `n`th (1-based) bind placeholder.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::Mysql => "?".to_owned(),
        }
    }

    fn placeholders(self, count: usize) -> String {
        (1..=count)
            .map(|n| self.placeholder(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether DDL statements take part in transactions (they commit implicitly on MySQL).
    pub fn transactional_ddl(self) -> bool {
        !matches!(self, Dialect::Mysql)
    }

    /// `CREATE TABLE IF NOT EXISTS` for the history table.
    pub(crate) fn create_history(self, table: &Identifier) -> String {
        let id = match self {
            Dialect::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "id BIGSERIAL PRIMARY KEY",
            Dialect::Mysql => "id BIGINT AUTO_INCREMENT PRIMARY KEY",
        };
        // MySQL cannot compare or index unbounded TEXT cheaply; short columns get a length.
        let short = |length: u32| match self {
            Dialect::Mysql => format!("VARCHAR({length})"),
            Dialect::Sqlite | Dialect::Postgres => "TEXT".to_owned(),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {table} ({id}, version BIGINT NOT NULL, name TEXT NOT NULL, \
             kind {kind} NOT NULL, checksum {checksum} NOT NULL, state {state} NOT NULL, \
             applied_at {at} NOT NULL, execution_ms BIGINT NOT NULL, app_version TEXT NOT NULL, \
             environment {environment} NOT NULL, applied_by TEXT NOT NULL, note TEXT)",
            table = table.quoted(self),
            kind = short(16),
            checksum = short(64),
            state = short(16),
            at = short(40),
            environment = short(16),
        )
    }

    /// `CREATE TABLE IF NOT EXISTS` for the metadata table.
    pub(crate) fn create_meta(self, table: &Identifier) -> String {
        // MySQL's TEXT holds 64 KiB; a schema's fingerprint can be larger.
        let (key, value) = if self == Dialect::Mysql {
            ("VARCHAR(64)", "LONGTEXT")
        } else {
            ("TEXT", "TEXT")
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (key_name {key} NOT NULL PRIMARY KEY, value {value} NOT NULL)",
            table.quoted(self)
        )
    }

    /// One query for everything startup needs, in three columns: `version, checksum, tag`.
    ///
    /// The tag is NULL for a finished migration, which is almost every row, and
    /// `"<kind> <state>"` for any other history row (seeds, half-applied migrations, and
    /// the audit rows, which the reader skips: filtering them out on the server costs
    /// more than the few it would save sending). The environment stamp is a
    /// row tagged `stamp` with the value as its checksum; on SQLite, the schema counter
    /// when the drift fingerprint was recorded and now are rows tagged `fingerprint` and
    /// `cookie` with the counter as their version, so that an up-to-date start sees drift
    /// without reading the catalog.
    ///
    /// Every column sent per row costs the server (PostgreSQL converts each text value for
    /// the wire): sending `kind` and `state` for every row made the up-to-date check cost
    /// half again what reading `version, checksum` does at 1,000 migrations.
    pub(crate) fn read_history(self, history: &Identifier, meta: &Identifier) -> String {
        let cookies = if self == Dialect::Sqlite {
            format!(
                " UNION ALL SELECT CAST(value AS INTEGER), '', 'fingerprint' FROM {meta} WHERE key_name = '{cookie}' \
                 UNION ALL SELECT schema_version, '', 'cookie' FROM pragma_schema_version",
                meta = meta.quoted(self),
                cookie = COOKIE_KEY,
            )
        } else {
            String::new()
        };
        let tag = if self == Dialect::Mysql {
            "CONCAT(kind, ' ', state)"
        } else {
            "kind || ' ' || state"
        };
        format!(
            "SELECT version, checksum, CASE WHEN kind = '{migration}' AND state <> '{started}' THEN NULL ELSE {tag} END \
             FROM {history} \
             UNION ALL SELECT 0, value, 'stamp' FROM {meta} WHERE key_name = '{key}'{cookies}",
            history = history.quoted(self),
            meta = meta.quoted(self),
            migration = kind::MIGRATION,
            started = state::STARTED,
            key = ENVIRONMENT_KEY,
        )
    }

    /// Which of this migrator's history table and the other tools' history tables
    /// ([`OTHER_TOOLS`]) exist: one name a row. Names are validated identifiers, so they
    /// are written as literals.
    pub(crate) fn histories_present(self, history: &Identifier) -> String {
        let others = OTHER_TOOLS
            .iter()
            .map(|(_, table)| format!("'{table}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let ours = history.table();
        match self {
            Dialect::Sqlite => format!(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('{ours}', {others})"
            ),
            Dialect::Postgres | Dialect::Mysql => {
                let (current, as_text) = if self == Dialect::Postgres {
                    ("current_schema()", "TEXT")
                } else {
                    ("DATABASE()", "CHAR")
                };
                let schema = history
                    .schema()
                    .map_or_else(|| current.to_owned(), |s| format!("'{s}'"));
                format!(
                    "SELECT CAST(table_name AS {as_text}) FROM information_schema.tables WHERE (table_schema = {current} AND table_name IN ({others})) OR (table_schema = {schema} AND table_name = '{ours}')"
                )
            }
        }
    }

    /// Removes a value of the metadata table; binds: the key.
    pub(crate) fn delete_meta(self, table: &Identifier) -> String {
        format!(
            "DELETE FROM {} WHERE key_name = {}",
            table.quoted(self),
            self.placeholder(1)
        )
    }

    /// Writes a value of the metadata table; binds: the key, the value.
    pub(crate) fn insert_meta(self, table: &Identifier) -> String {
        format!(
            "INSERT INTO {} (key_name, value) VALUES ({}, {})",
            table.quoted(self),
            self.placeholder(1),
            self.placeholder(2)
        )
    }

    /// Inserts a history row; binds follow [`HISTORY_COLUMNS`].
    pub(crate) fn insert_history(self, table: &Identifier) -> String {
        format!(
            "INSERT INTO {} ({HISTORY_COLUMNS}) VALUES ({})",
            table.quoted(self),
            self.placeholders(11)
        )
    }

    /// Marks a started row finished; binds: execution_ms, kind, version.
    pub(crate) fn finish_history(self, table: &Identifier) -> String {
        format!(
            "UPDATE {} SET state = '{applied}', execution_ms = {} WHERE kind = {} AND version = {} AND state = '{started}'",
            table.quoted(self),
            self.placeholder(1),
            self.placeholder(2),
            self.placeholder(3),
            applied = state::APPLIED,
            started = state::STARTED,
        )
    }

    /// A read of no rows that fails, before anything is created, when a table of the
    /// history's name lacks a column of ours (another tool made it); the same shape as
    /// [`read_history`](Self::read_history), so the executors read it the same way.
    pub(crate) fn probe_history(self, table: &Identifier) -> String {
        format!(
            "SELECT version, checksum, checksum FROM (SELECT {HISTORY_COLUMNS} FROM {} WHERE 1 = 0) probe",
            table.quoted(self)
        )
    }

    /// Removes a migration's row (a revert); binds: version.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn delete_migration(self, table: &Identifier) -> String {
        format!(
            "DELETE FROM {} WHERE kind = '{}' AND version = {}",
            table.quoted(self),
            kind::MIGRATION,
            self.placeholder(1)
        )
    }

    /// Marks a finished migration row started again, before a revert that runs outside a
    /// transaction; binds: version.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn mark_started(self, table: &Identifier) -> String {
        format!(
            "UPDATE {} SET state = '{}' WHERE kind = '{}' AND version = {}",
            table.quoted(self),
            state::STARTED,
            kind::MIGRATION,
            self.placeholder(1)
        )
    }

    /// Marks a half-applied row finished by hand (`db repair --resolved`); binds: kind,
    /// version.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn mark_resolved(self, table: &Identifier) -> String {
        format!(
            "UPDATE {} SET state = '{}' WHERE kind = {} AND version = {} AND state = '{}'",
            table.quoted(self),
            state::APPLIED,
            self.placeholder(1),
            self.placeholder(2),
            state::STARTED
        )
    }

    /// Replaces a migration row's checksum; binds: new checksum, version.
    pub(crate) fn update_checksum(self, table: &Identifier) -> String {
        format!(
            "UPDATE {} SET checksum = {} WHERE kind = '{}' AND version = {}",
            table.quoted(self),
            self.placeholder(1),
            kind::MIGRATION,
            self.placeholder(2),
        )
    }

    /// Writes the environment stamp; binds: the environment.
    pub(crate) fn insert_stamp(self, table: &Identifier) -> String {
        format!(
            "INSERT INTO {} (key_name, value) VALUES ('{ENVIRONMENT_KEY}', {})",
            table.quoted(self),
            self.placeholder(1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated_and_quoted() {
        assert_eq!(
            Identifier::new("schema_history")
                .unwrap()
                .quoted(Dialect::Sqlite),
            "\"schema_history\""
        );
        assert_eq!(
            Identifier::new("app.history")
                .unwrap()
                .quoted(Dialect::Mysql),
            "`app`.`history`"
        );
        for bad in [
            "",
            "a.b.c",
            "1abc",
            "a-b",
            "a\"b",
            "x; drop table y",
            &"a".repeat(64),
        ] {
            assert!(Identifier::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        assert!(
            Dialect::Postgres
                .insert_history(&Identifier::new_unchecked("h"))
                .ends_with("$10, $11)")
        );
        assert!(
            Dialect::Sqlite
                .insert_history(&Identifier::new_unchecked("h"))
                .ends_with("?, ?)")
        );
    }
}
