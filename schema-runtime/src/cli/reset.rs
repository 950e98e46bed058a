//! `db reset`: everything in the application's database dropped under the migration
//! lock, then the migrations run again through startup's own runner, so that seeds
//! follow the policy (in development with `SEED_DB=true`, and nowhere else).
//!
//! Never in production and never on a database stamped production, with no override:
//! nothing of what it drops survives it. A database stamped with another environment is
//! refused as every command that changes a database refuses it. Each refusal comes
//! before anything is changed. The stamp is read on its own, not through the history,
//! so a development database whose history is damaged (or another tool's) can still be
//! reset.
//!
//! What "everything" is on each backend:
//!
//! - SQLite: every table and view of the file (their indexes and triggers with them),
//!   dropped in one transaction; the file itself, its permissions and its journal mode
//!   stay, and `user_version` goes back to 0.
//! - PostgreSQL: the current schema (the first of the search path that exists, `public`
//!   unless the session settings say otherwise), dropped with `CASCADE` and created
//!   again with the same owner, grants and comment, in one transaction. The database
//!   itself is not dropped: no connection can drop the database it is connected to,
//!   and this one holds the migration lock, an advisory lock inside that database.
//!   Objects that migrations put in other schemas, and the schema's default privileges
//!   (`ALTER DEFAULT PRIVILEGES … IN SCHEMA`), are not kept.
//! - MySQL/MariaDB: the database dropped and created again with its character set and
//!   collation. Its grants survive (the server keeps them by the database's name), and
//!   the migration lock (`GET_LOCK`) belongs to the connection, not to the database.
//!
//! A history or metadata table qualified with another schema (or MySQL database) is
//! dropped too, so that the migrations run again.

use super::output::database_name;
use super::{Failure, Outcome, Session, inspect, redact};
use crate::sql_text::{Dialect, ENVIRONMENT_KEY};
use crate::{Environment, Policy};

/// Why reset refused, with what to do instead.
fn refusal(why: &str) -> Failure {
    Failure::usage(format!(
        "refusing to reset: {why}. Reset drops every table and all its data, so it never runs on production and has no override. Nothing was changed. To bring a database back to a known state, restore a backup instead; to start over, point DATABASE_URL at a development database"
    ))
}

/// Refuses a production run before the database is even opened.
pub(super) fn refuse_production_run(policy: &Policy) -> Result<(), Failure> {
    if policy.allows_destructive_commands() {
        return Ok(());
    }
    Err(refusal(&format!(
        "this run is {} ({})",
        policy.environment(),
        policy.environment_source()
    )))
}

impl Session {
    pub(super) fn reset(mut self) -> Outcome {
        refuse_production_run(self.policy())?;
        let held = self.console.lock(self.migrator.policy())?;
        let dropped = self.reset_locked();
        self.console.unlock(held);
        let dropped = dropped?;
        say!("reset {}: dropped {dropped}", redact(&self.url));
        // The runner takes the lock again itself: it is never taken twice at once.
        self.run_startup(None)
    }

    /// The checks and the drop, under the migration lock.
    fn reset_locked(&mut self) -> Result<String, Failure> {
        let stamp = self.stamp()?;
        if stamp.as_deref() == Some(Environment::Production.as_str()) {
            return Err(refusal(&format!(
                "the database {} is stamped production",
                database_name(&self.url)
            )));
        }
        self.migrator.check_stamp_value(stamp.as_deref())?;
        match self.console.dialect() {
            Dialect::Sqlite => self.drop_sqlite(),
            Dialect::Postgres => self.drop_postgres_schema(),
            Dialect::Mysql => self.drop_mysql_database(),
        }
    }

    /// The environment stamp, read from the metadata table alone (`None`: no stamp).
    fn stamp(&mut self) -> Result<Option<String>, Failure> {
        let meta = self.policy().meta_table.clone();
        let dialect = self.console.dialect();
        // A qualified table cannot be looked for in the table list; a read that fails
        // there means its schema or table is not there.
        let qualified = meta.schema().is_some();
        if !qualified
            && !inspect::tables(self.console.as_mut())?
                .iter()
                .any(|t| t == meta.table())
        {
            return Ok(None);
        }
        let sql = format!(
            "SELECT value FROM {} WHERE key_name = '{ENVIRONMENT_KEY}'",
            meta.quoted(dialect)
        );
        match self.console.rows(&sql) {
            Ok(rows) => Ok(rows
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().next().flatten())),
            Err(_) if qualified => Ok(None),
            Err(error) => Err(Failure::check(format!(
                "cannot read the environment stamp in {meta} ({error}), so reset cannot tell whether this is a production database. Nothing was changed"
            ))),
        }
    }

    /// `DROP TABLE IF EXISTS` for the history and metadata tables the policy puts in
    /// another schema (an unqualified one goes with everything else).
    fn qualified_tables(&self, dialect: Dialect) -> Vec<String> {
        let policy = self.policy();
        [&policy.history_table, &policy.meta_table]
            .into_iter()
            .filter(|table| table.schema().is_some())
            .map(|table| format!("DROP TABLE IF EXISTS {}", table.quoted(dialect)))
            .collect()
    }

    fn drop_sqlite(&mut self) -> Result<String, Failure> {
        let objects = self.console.rows(
            "SELECT type, name, CASE WHEN sql LIKE 'CREATE VIRTUAL TABLE%' THEN 'virtual' ELSE '' END \
             FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )?;
        let mut drops: Vec<(u8, String)> = Vec::new();
        let (mut tables, mut views) = (0, 0);
        for row in objects {
            let [Some(kind), Some(name), virtual_table] =
                <[Option<String>; 3]>::try_from(row).unwrap_or_default()
            else {
                continue;
            };
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            // Views first, then virtual tables (which take their shadow tables with
            // them), then the rest; `IF EXISTS` for the shadow tables already gone.
            if kind == "view" {
                views += 1;
                drops.push((0, format!("DROP VIEW IF EXISTS {quoted}")));
            } else {
                tables += 1;
                let order = if virtual_table.as_deref() == Some("virtual") {
                    1
                } else {
                    2
                };
                drops.push((order, format!("DROP TABLE IF EXISTS {quoted}")));
            }
        }
        drops.sort();
        let mut script = String::from("BEGIN IMMEDIATE;\n");
        for (_, drop) in &drops {
            script.push_str(drop);
            script.push_str(";\n");
        }
        script.push_str("PRAGMA user_version = 0;\nCOMMIT;");
        // Foreign keys are switched off for the drop (a parent dropped before its
        // children would fail their check), as the pragma allows only outside a
        // transaction, and switched back to what they were.
        let keys_on = self
            .console
            .rows("PRAGMA foreign_keys")?
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .is_some_and(|on| on == "1");
        self.console.script("PRAGMA foreign_keys = OFF")?;
        let dropped = self.console.script(&script);
        if dropped.is_err() {
            let _ = self.console.script("ROLLBACK");
        }
        if keys_on {
            self.console.script("PRAGMA foreign_keys = ON")?;
        }
        dropped.map_err(|e| Failure::check(format!("{e}; nothing was changed")))?;
        Ok(format!(
            "{tables} table(s) and {views} view(s), with their indexes and triggers"
        ))
    }

    fn drop_postgres_schema(&mut self) -> Result<String, Failure> {
        let schema = self.console.rows(
            "SELECT quote_ident(n.nspname), CAST(n.nspname AS TEXT), CAST(CAST(n.nspowner AS regrole) AS TEXT), \
             quote_literal(obj_description(n.oid, 'pg_namespace')) \
             FROM pg_namespace n WHERE n.nspname = current_schema()",
        )?;
        let Some([Some(quoted), Some(name), Some(owner), comment]) = schema
            .into_iter()
            .next()
            .and_then(|row| <[Option<String>; 4]>::try_from(row).ok())
        else {
            return Err(Failure::check(
                "the search path names no schema that exists, so there is nothing to reset (see SHOW search_path); nothing was changed",
            ));
        };
        if name.starts_with("pg_") || name == "information_schema" {
            return Err(Failure::usage(format!(
                "the current schema is {name}, a system schema: reset drops only an application's schema. Nothing was changed"
            )));
        }
        let tables = inspect::tables(self.console.as_mut())?.len();
        // Each privilege granted on the schema to someone other than its owner (whose
        // own are the default of a new schema), PUBLIC included.
        let grants = self.console.rows(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE CAST(CAST(a.grantee AS regrole) AS TEXT) END, \
             a.privilege_type, CASE WHEN a.is_grantable THEN 'yes' ELSE 'no' END \
             FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a \
             WHERE n.nspname = current_schema() AND a.grantee <> n.nspowner ORDER BY 1, 2",
        )?;
        let mut script = vec![
            "BEGIN".to_owned(),
            format!("DROP SCHEMA {quoted} CASCADE"),
            format!("CREATE SCHEMA {quoted} AUTHORIZATION {owner}"),
        ];
        for grant in grants {
            let [Some(grantee), Some(privilege), grantable] =
                <[Option<String>; 3]>::try_from(grant).unwrap_or_default()
            else {
                continue;
            };
            if !privilege
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ')
            {
                continue;
            }
            script.push(format!(
                "GRANT {privilege} ON SCHEMA {quoted} TO {grantee}{}",
                if grantable.as_deref() == Some("yes") {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ));
        }
        if let Some(comment) = comment {
            script.push(format!("COMMENT ON SCHEMA {quoted} IS {comment}"));
        }
        script.extend(self.qualified_tables(Dialect::Postgres));
        script.push("COMMIT".to_owned());
        if let Err(error) = self.console.script(&script.join(";\n")) {
            let _ = self.console.script("ROLLBACK");
            return Err(Failure::check(format!(
                "dropping schema {name} failed: {error}. Nothing was changed"
            )));
        }
        Ok(format!(
            "schema {name} ({tables} table(s) and everything else in it) and created it again with its owner {owner}, grants and comment"
        ))
    }

    fn drop_mysql_database(&mut self) -> Result<String, Failure> {
        let database = self.console.rows(
            "SELECT CAST(SCHEMA_NAME AS CHAR), CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR), CAST(DEFAULT_COLLATION_NAME AS CHAR) \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
        )?;
        let Some([Some(name), Some(charset), Some(collation)]) = database
            .into_iter()
            .next()
            .and_then(|row| <[Option<String>; 3]>::try_from(row).ok())
        else {
            return Err(Failure::usage(format!(
                "{} names no database, so there is nothing to reset; nothing was changed",
                redact(&self.url)
            )));
        };
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain(&charset) || !plain(&collation) {
            return Err(Failure::check(format!(
                "the database {name} has a character set ({charset}) or collation ({collation}) this command cannot repeat; nothing was changed"
            )));
        }
        let tables = inspect::tables(self.console.as_mut())?.len();
        for drop in self.qualified_tables(Dialect::Mysql) {
            self.console.script(&drop)?;
        }
        let quoted = format!("`{}`", name.replace('`', "``"));
        self.console
            .script(&format!("DROP DATABASE {quoted}"))
            .map_err(|e| Failure::check(format!("dropping the database {name} failed: {e}")))?;
        self.console
            .script(&format!(
                "CREATE DATABASE {quoted} CHARACTER SET {charset} COLLATE {collation}"
            ))
            .map_err(|e| {
                Failure::check(format!(
                    "the database {name} was dropped but creating it again failed: {e}. Create it with `db create`, then run `db migrate`"
                ))
            })?;
        self.console.script(&format!("USE {quoted}"))?;
        Ok(format!(
            "the database {name} ({tables} table(s) and everything else in it) and created it again with its character set {charset} and collation {collation}"
        ))
    }
}
