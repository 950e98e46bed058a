//! The engine's steps on one pooled connection.

use std::time::Duration;

use sqlx::Pool;
use sqlx::pool::PoolConnection;

use super::Backend;
use super::apply::{commit_group, connection_lost, execute, flush_commits, run_batch};
use super::locks::MigrationLock;
use super::operations::Operations;
use super::prepared;
use crate::engine::{self, BatchFailure, Failure};
use crate::error::Error;
use crate::migrator::{HistoryValues, Statements, Value};
use crate::plan::History;
use crate::sql_text::Dialect;
use crate::{Migrator, Policy, Version};

/// One connection for the whole run; closed rather than pooled if the run is abandoned
/// while it holds the lock or a transaction. The engine's steps on sqlx.
pub(crate) struct Session<'r, DB: Backend> {
    pool: &'r Pool<DB>,
    pub(super) policy: &'r Policy,
    pub(super) conn: PoolConnection<DB>,
    lock: Option<MigrationLock>,
    pub(super) in_transaction: bool,
    /// Commits were made without waiting for the disk (PostgreSQL); see `flush_commits`.
    pub(super) unflushed: bool,
    /// The connection was idle in the pool and taken without sqlx's test: if it turns out
    /// dead on the first read, the run starts again on a tested one (`dead_idle`).
    pub(super) untested: bool,
    /// The untested connection was dead.
    pub(super) dead_idle: bool,
    /// The run has read the history before (the start's read is done).
    read_before: bool,
    /// The rows an up-to-date history read returns: the binary's migrations and seeds.
    rows: usize,
}

impl<DB: Backend> Drop for Session<'_, DB> {
    fn drop(&mut self) {
        if self.in_transaction || matches!(self.lock, Some(MigrationLock::Session(_))) {
            self.conn.close_on_drop();
        }
    }
}

impl<'r, DB: Backend> Session<'r, DB> {
    pub(crate) fn new(
        pool: &'r Pool<DB>,
        migrator: &'r Migrator,
        conn: PoolConnection<DB>,
    ) -> Self {
        let migrations = migrator.migrations();
        Session {
            pool,
            policy: migrator.policy(),
            conn,
            lock: None,
            in_transaction: false,
            unflushed: false,
            untested: false,
            dead_idle: false,
            read_before: false,
            rows: migrations.migrations().len() + migrations.seeds().len(),
        }
    }
}

impl<'r, DB: Backend> Session<'r, DB> {
    /// The pool the session's connection came from (the runs that migrate take theirs
    /// from it).
    #[cfg_attr(
        not(all(
            feature = "testing",
            any(feature = "sqlx-postgres", feature = "sqlx-mysql")
        )),
        allow(dead_code)
    )]
    pub(crate) fn pool(&self) -> &'r Pool<DB> {
        self.pool
    }
}

impl<DB> engine::Sql for Session<'_, DB>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    type Error = sqlx::Error;

    fn dialect(&self) -> Dialect {
        DB::DIALECT
    }

    async fn script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.conn.statement(sql).await
    }

    async fn bind(&mut self, sql: &str, values: Vec<Value>) -> Result<(), sqlx::Error> {
        self.conn.bind_execute(sql, values).await
    }

    async fn rows(&mut self, sql: &str) -> Result<Vec<engine::TextRow>, sqlx::Error> {
        self.conn.text_rows(sql).await
    }
}

impl<DB> engine::Driver for Session<'_, DB>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    fn groups(&self) -> bool {
        true
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    async fn pause(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn history(&mut self, sql: &str) -> Result<Option<History>, sqlx::Error> {
        // An error in a transaction would end it: the fallback of the prepared read is for
        // reads outside one, which is where the engine reads the history. A connection
        // with session settings is closed after the run: nothing prepared on it lasts.
        let first = !std::mem::replace(&mut self.read_before, true);
        let read = if DB::DIALECT == Dialect::Postgres
            && !self.in_transaction
            && self.policy.session_sql().is_none()
        {
            let route = prepared::route(self.pool, first, self.rows);
            prepared::history(self.pool, &mut self.conn, sql, route).await
        } else {
            self.conn.history(sql).await
        };
        if std::mem::take(&mut self.untested)
            && let Err(error) = &read
            && connection_lost(error)
        {
            // The idle connection had died (the server restarted, a firewall dropped
            // it): the run starts again on a connection the pool tests or makes.
            tracing::debug!("schema: an idle pooled connection was dead ({error})");
            self.dead_idle = true;
            self.conn.close_on_drop();
        }
        read
    }

    async fn probe(&mut self, sql: &str) -> Result<Option<History>, sqlx::Error> {
        self.conn.history(sql).await
    }

    async fn lock(&mut self) -> Result<(), Error> {
        let lock = DB::lock(
            self.pool,
            &mut self.conn,
            &self.policy.history_table,
            self.policy.lock_wait(),
        )
        .await?;
        self.lock = Some(lock);
        Ok(())
    }

    async fn unlock(&mut self) {
        let Some(lock) = self.lock.take() else {
            return;
        };
        let released = match lock {
            MigrationLock::Session(sql) => self.conn.statement(&sql).await,
            #[cfg(feature = "sqlx-sqlite")]
            MigrationLock::File(file) => {
                drop(file);
                Ok(())
            }
        };
        if let Err(error) = released {
            // Closing the connection ends the session and with it the lock.
            self.conn.close_on_drop();
            tracing::warn!(
                "schema: releasing the migration lock failed ({error}); the connection is closed instead"
            );
        }
    }

    async fn backup(&mut self, newest_applied: Option<Version>) -> Option<Result<String, String>> {
        // A server is backed up only by a command the policy names (or asked for by
        // SCHEMA_BACKUP=true, where a missing command is an error worth telling).
        let policy = self.policy;
        if policy.server_backup().is_none() && policy.backup_asked() != Some(true) {
            return None;
        }
        Some(match policy.server_backup() {
            Some((command, url)) => crate::backup::command(command, url, newest_applied),
            None if DB::DIALECT == Dialect::Sqlite => Err(
                "backups of SQLite through sqlx are not supported; use the rusqlite executor or Policy::backup_command"
                    .to_owned(),
            ),
            None => Err(
                "the policy backs up before migrating but names no backup command (Policy::backup_command)"
                    .to_owned(),
            ),
        })
    }

    async fn apply(
        &mut self,
        statements: &Statements,
        file: engine::File<'_>,
    ) -> Result<Duration, Failure<sqlx::Error>> {
        execute(self, statements, file).await
    }

    async fn apply_batch(
        &mut self,
        statements: &Statements,
        batch: &[&'static crate::Migration],
        rows: Vec<HistoryValues<'_>>,
    ) -> Result<Vec<Duration>, BatchFailure<sqlx::Error>> {
        run_batch(self, statements, batch, rows).await
    }

    async fn end_run(&mut self, statements: &Statements) -> Result<(), Failure<sqlx::Error>> {
        if let Err(error) = commit_group(self).await {
            if connection_lost(&error) {
                // COMMIT was sent: whether the server ran it is not known here.
                self.conn.close_on_drop();
                return Err(Failure::Lost(error.to_string()));
            }
            return Err(Failure::Bookkeeping(error));
        }
        Ok(flush_commits(self, statements).await?)
    }
}
