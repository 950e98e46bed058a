//! `db create`: the database the URL names, made when it is missing and left alone when
//! it is there. A server's database cannot be connected to before it exists, so the
//! command reaches the server through a maintenance database (PostgreSQL's `postgres`,
//! else `template1`; MySQL without a database). A SQLite database is an empty file: it
//! is a valid database, and `db migrate` (which would also have created it) fills it.
//!
//! Nothing else runs: no migration, no stamp, so `create` is the same in every
//! environment and changes no data. The server is reached as the application reaches it
//! (its connection retries and session settings).

use super::console::{Console, Missing};
use super::{Failure, Outcome, Session, redact};
use crate::sql_text::Dialect;
use crate::{Migrations, Policy};

/// The longest database name `create` makes: PostgreSQL's limit (MySQL's is 64).
const LONGEST_NAME: usize = 63;

/// Creates the database `url` names unless it exists.
pub(super) fn create(migrations: &'static Migrations, policy: Policy, url: &str) -> Outcome {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return create_sqlite(url, path.split('?').next().unwrap_or(path));
    }
    let target = Target::parse(url)?;
    let mut server = target.connect(migrations, &policy)?;
    if target.exists(server.as_mut())? {
        say!(
            "the database {} already exists ({}); nothing was changed",
            target.name,
            redact(url)
        );
        return Ok(0);
    }
    let quoted = match server.dialect() {
        Dialect::Mysql => format!("`{}`", target.name),
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", target.name),
    };
    if let Err(error) = server.script(&format!("CREATE DATABASE {quoted}")) {
        // Another `create` (or a person) may have made it in the meantime.
        if target.exists(server.as_mut())? {
            say!(
                "the database {} already exists ({}); nothing was changed",
                target.name,
                redact(url)
            );
            return Ok(0);
        }
        return Err(Failure::check(format!(
            "creating the database {} failed: {error}. Nothing was created",
            target.name
        )));
    }
    say!("created the database {} ({})", target.name, redact(url));
    Ok(0)
}

/// A server database to create: its name and the maintenance databases to reach the
/// server through, in the order they are tried.
struct Target {
    name: String,
    maintenance: Vec<String>,
}

impl Target {
    /// The database `url` names, read as sqlx reads it: the URL's path, or on PostgreSQL
    /// a `dbname` in its query, which wins.
    fn parse(url: &str) -> Result<Target, Failure> {
        let unknown = || {
            Failure::usage(format!(
                "{} is not a database URL this command knows: use sqlite:path, postgres://… or mysql://…",
                redact(url)
            ))
        };
        let mut parsed = url::Url::parse(url).map_err(|_| unknown())?;
        let postgres = match parsed.scheme() {
            "postgres" | "postgresql" => true,
            "mysql" | "mariadb" => false,
            _ => return Err(unknown()),
        };
        let in_query = postgres
            .then(|| {
                parsed
                    .query_pairs()
                    .filter(|(key, _)| key == "dbname")
                    .last()
                    .map(|(_, value)| value.into_owned())
            })
            .flatten();
        let name = match &in_query {
            Some(name) => name.clone(),
            None => parsed.path().trim_start_matches('/').to_owned(),
        };
        if name.is_empty() {
            return Err(Failure::usage(format!(
                "{} names no database: put its name in the URL's path (…/app). Nothing was created",
                redact(url)
            )));
        }
        if name.len() > LONGEST_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'))
        {
            return Err(Failure::usage(format!(
                "`{name}` is not a database name this command creates: use at most {LONGEST_NAME} letters, digits, `_`, `-` or `$` (create other names with the server's own tools). Nothing was created"
            )));
        }
        let maintenance = if postgres {
            if in_query.is_some() {
                let kept: Vec<(String, String)> = parsed
                    .query_pairs()
                    .filter(|(key, _)| key != "dbname")
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect();
                parsed.set_query(None);
                if !kept.is_empty() {
                    parsed.query_pairs_mut().extend_pairs(kept);
                }
            }
            ["postgres", "template1"]
                .into_iter()
                .map(|database| {
                    let mut maintenance = parsed.clone();
                    maintenance.set_path(&format!("/{database}"));
                    maintenance.to_string()
                })
                .collect()
        } else {
            parsed.set_path("");
            vec![parsed.to_string()]
        };
        Ok(Target { name, maintenance })
    }

    /// A connection to the first maintenance database that exists. Only a database the
    /// server says does not exist (SQLSTATE 3D000) moves on to the next: an unreachable
    /// server or a refused login is reported as it is.
    fn connect(
        &self,
        migrations: &'static Migrations,
        policy: &Policy,
    ) -> Result<Box<dyn Console>, Failure> {
        let mut missing = Vec::new();
        for url in &self.maintenance {
            let mut server =
                Session::open(migrations, policy.clone(), url.clone(), Missing::Refuse)?.console;
            match server.script("SELECT 1") {
                Ok(_) => return Ok(server),
                Err(error) if error.code() == Some("3D000") => missing.push(redact(url)),
                Err(error) => {
                    return Err(Failure::check(format!(
                        "cannot reach the server through {}: {error}. Nothing was created",
                        redact(url)
                    )));
                }
            }
        }
        Err(Failure::check(format!(
            "the server has none of the maintenance databases {} to create {} from; create it with the server's own tools",
            missing.join(", "),
            self.name
        )))
    }

    /// Whether the server has the database (the name was validated: no quote in it).
    fn exists(&self, server: &mut dyn Console) -> Result<bool, Failure> {
        let sql = match server.dialect() {
            Dialect::Mysql => format!(
                "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
                self.name
            ),
            Dialect::Postgres | Dialect::Sqlite => format!(
                "SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname = '{}'",
                self.name
            ),
        };
        Ok(!server.rows(&sql)?.is_empty())
    }
}

/// An empty SQLite file at `path`, made only when nothing is there. The directory must
/// exist: a mistyped path is an error rather than a new tree of folders.
fn create_sqlite(url: &str, path: &str) -> Outcome {
    if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
        return Err(Failure::usage(format!(
            "{} is an in-memory database: there is no file to create",
            redact(url)
        )));
    }
    #[cfg(not(feature = "rusqlite"))]
    return Err(Failure::usage(format!(
        "this build has no SQLite support for {path} (enable schema-runtime's `rusqlite` feature)"
    )));
    #[cfg(feature = "rusqlite")]
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {
            say!("created {path}: an empty SQLite database (`db migrate` applies the migrations)");
            Ok(0)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let readable = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|conn| conn.query_row("PRAGMA schema_version", [], |_| Ok(())));
            if let Err(error) = readable {
                return Err(Failure::check(format!(
                    "{path} exists but is not a SQLite database this command can read ({error}); nothing was changed"
                )));
            }
            say!("the SQLite database {path} already exists; nothing was changed");
            Ok(0)
        }
        Err(error) => Err(Failure::check(format!(
            "cannot create the SQLite file {path}: {error}. Nothing was created"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target, String> {
        Target::parse(url).map_err(|failure| failure.message)
    }

    #[test]
    fn the_name_comes_from_the_path_or_postgres_dbname() {
        let postgres = target("postgres://u:p%2Fw@db:5432/app_dev?sslmode=disable").unwrap();
        assert_eq!(postgres.name, "app_dev");
        assert_eq!(
            postgres.maintenance,
            [
                "postgres://u:p%2Fw@db:5432/postgres?sslmode=disable",
                "postgres://u:p%2Fw@db:5432/template1?sslmode=disable"
            ]
        );
        let query = target("postgresql://u@db/ignored?dbname=shop&sslmode=require").unwrap();
        assert_eq!(query.name, "shop");
        assert_eq!(
            query.maintenance[0],
            "postgresql://u@db/postgres?sslmode=require"
        );
        let mysql = target("mysql://root:pw@db:3306/app-test").unwrap();
        assert_eq!(mysql.name, "app-test");
        assert_eq!(mysql.maintenance, ["mysql://root:pw@db:3306"]);
        assert_eq!(
            target("mariadb://root@db/app").unwrap().maintenance,
            ["mariadb://root@db"]
        );
    }

    #[test]
    fn names_that_need_more_than_quotes_are_refused() {
        for url in [
            "postgres://u@db/app;drop",
            "postgres://u@db/a%22b",
            "mysql://root@db/a`b",
            &format!("postgres://u@db/{}", "a".repeat(64)),
        ] {
            let error = target(url).err().unwrap();
            assert!(
                error.contains("is not a database name this command creates"),
                "{url}: {error}"
            );
        }
        let none = target("mysql://root:secret@db").err().unwrap();
        assert!(none.contains("names no database"), "{none}");
        assert!(!none.contains("secret"), "{none}");
        let other = target("oracle://scott:tiger@db/orcl").err().unwrap();
        assert!(other.contains("not a database URL"), "{other}");
    }
}
