//! The SQL dialects a migrations folder can serve, and how a build chooses them.

use std::fmt;

/// A family of SQL servers whose text is read the same way: comments, strings, escapes,
/// quoting and routine bodies differ between them, and so do the statements that lose
/// data or end a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// PostgreSQL: nested block comments, `E''` escapes, dollar quoting.
    Postgres,
    /// MySQL and MariaDB: `#` comments, backslash escapes in both quotes, executable
    /// `/*! … */` comments, inline routine bodies.
    Mysql,
    /// SQLite: comments that do not nest, no backslash escapes, `[…]` identifiers.
    Sqlite,
}

impl Dialect {
    /// Every dialect, in a fixed order.
    pub const ALL: [Dialect; 3] = [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];

    /// The name used in `embed_migrations!(…, dialects = "…")` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The dialect of a name (`postgres`/`postgresql`, `mysql`/`mariadb`, `sqlite`).
    ///
    /// ```
    /// use schema_core::Dialect;
    ///
    /// assert_eq!(Dialect::parse("MariaDB"), Some(Dialect::Mysql));
    /// assert_eq!(Dialect::parse("oracle"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Dialect> {
        match name.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            "sqlite" | "sqlite3" => Some(Dialect::Sqlite),
            _ => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
        })
    }
}
