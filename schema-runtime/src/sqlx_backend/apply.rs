//! Running files with their history rows on one connection: one transaction per file,
//! a started row around a file that cannot be in one, and PostgreSQL's one-message steps
//! and batches.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;

use super::Backend;
use super::operations::Operations;
use super::session::Session;
use crate::engine::{self, BatchFailure, Failure};
use crate::migrator::{HistoryValues, Statements, Value};
use crate::sql_text::{Dialect, STEP_CHECK, STEP_ENDED, STEP_MARK};

/// Whether the connection itself went away (rather than the server refusing a statement).
pub(super) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::PoolClosed => true,
        // The server's last words before it closes the connection: PostgreSQL's
        // connection exceptions (class 08) and its shutdowns (terminated by an
        // administrator, a crash, starting up); MySQL's "server has gone away" and
        // "lost connection" (2006, 2013).
        sqlx::Error::Database(error) => {
            matches!(
                error.code().as_deref(),
                Some("57P01" | "57P02" | "57P03" | "2006" | "2013")
            ) || error.code().is_some_and(|code| code.starts_with("08"))
        }
        _ => false,
    }
}

/// Whether the file just run ended the SQLite transaction it ran in. SQLite has no SQL
/// that tells whether a transaction is open, and sqlx no call for it, so this asks the
/// way the server answers: `BEGIN` fails inside a transaction. If it succeeds, the file
/// had ended ours, and the one `BEGIN` opened is rolled back at once.
async fn transaction_ended<DB>(session: &mut Session<'_, DB>) -> bool
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if session.conn.statement("BEGIN").await.is_err() {
        return false;
    }
    let _ = session.conn.statement("ROLLBACK").await;
    session.in_transaction = false;
    true
}

/// Whether a statement failed only because it waited for a lock longer than the DDL
/// lock timeout: PostgreSQL's SQLSTATE 55P03 (`lock_not_available`), MySQL's and
/// MariaDB's error 1205 (`ER_LOCK_WAIT_TIMEOUT`, whose SQLSTATE HY000 says nothing, so
/// the error number is read).
pub(super) fn lock_timed_out(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    #[cfg(feature = "sqlx-mysql")]
    if let Some(error) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return error.number() == 1205;
    }
    error.code().as_deref() == Some("55P03")
}

/// The transaction-local setting of the policy's DDL lock timeout (PostgreSQL), put
/// after `BEGIN`; empty when the policy sets none.
fn local_lock_timeout<DB: Backend>(session: &Session<'_, DB>) -> String {
    match session.policy.ddl_lock_wait() {
        Some(timeout) if DB::DIALECT == Dialect::Postgres => {
            format!(
                "SET LOCAL lock_timeout = '{}ms';\n",
                timeout.as_millis().max(1)
            )
        }
        _ => String::new(),
    }
}

/// The session-level setting of the policy's DDL lock timeout around a file that runs
/// outside a transaction, and the statement that puts the previous value back; `None`
/// when the policy sets none or the backend has no such setting (SQLite).
fn session_lock_timeout<DB: Backend>(session: &Session<'_, DB>) -> Option<(String, &'static str)> {
    let timeout = session.policy.ddl_lock_wait()?;
    match DB::DIALECT {
        Dialect::Postgres => Some((
            format!(
                "SELECT set_config('schema_runtime.saved_lock_timeout', current_setting('lock_timeout'), false), \
                 set_config('lock_timeout', '{}ms', false)",
                timeout.as_millis().max(1)
            ),
            "SELECT set_config('lock_timeout', current_setting('schema_runtime.saved_lock_timeout'), false)",
        )),
        // Whole seconds, at least one.
        Dialect::Mysql => Some((
            format!(
                "SET @schema_runtime_lock_wait_timeout = @@SESSION.lock_wait_timeout, \
                 SESSION lock_wait_timeout = {}",
                timeout.as_millis().div_ceil(1000).max(1)
            ),
            "SET SESSION lock_wait_timeout = @schema_runtime_lock_wait_timeout",
        )),
        Dialect::Sqlite => None,
    }
}

/// Whether `statement`, run on its own outside a transaction, leaves nothing behind
/// when it fails, so that running it again after a lock timeout is safe. Not so for
/// `CONCURRENTLY` (a failed `CREATE INDEX CONCURRENTLY` leaves an invalid index), nor
/// for `DO` and `CALL`, whose bodies may commit as they go. Read cautiously: the word
/// `CONCURRENTLY` anywhere counts, and so does a statement that starts with a block
/// comment.
fn atomic_alone(statement: &str) -> bool {
    let mut rest = statement.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment
            .split_once('\n')
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    let first = rest
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    !first.is_empty()
        && !matches!(first.as_str(), "DO" | "CALL")
        && !statement.to_ascii_uppercase().contains("CONCURRENTLY")
}

/// [`sql_message`] of an error that is still needed afterwards.
fn sql_message_of(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(error) => error.message().to_owned(),
        other => other.to_string(),
    }
}

/// The database's own words for a failed statement.
fn sql_message(error: sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(error) => match error.code() {
            Some(code) => format!("{} (code {code})", error.message()),
            None => error.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// The statements of a `no-transaction` file, for PostgreSQL, which would otherwise run a
/// multi-statement string in one implicit transaction (and refuse `CONCURRENTLY` in it).
fn split_for_no_transaction(sql: &'static str) -> Vec<&'static str> {
    schema_core::sql::split_statements(sql, schema_core::Dialect::Postgres)
        .into_iter()
        .map(|statement| statement.text)
        .collect()
}

async fn rollback<DB>(session: &mut Session<'_, DB>)
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if session.conn.statement("ROLLBACK").await.is_ok() {
        session.in_transaction = false;
    }
}

/// Runs one file with its history row: inside a transaction with the row, or (outside
/// one) after a `started` row that is marked finished when it is done. With `grouped`,
/// the transaction stays open for the next migration ([`commit_group`] ends it).
pub(super) async fn execute<DB>(
    session: &mut Session<'_, DB>,
    statements: &Statements,
    file: engine::File<'_>,
) -> Result<Duration, Failure<sqlx::Error>>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let engine::File {
        sql,
        mut row,
        split,
        whole_run: grouped,
    } = file;
    if row.state == crate::sql_text::state::APPLIED && DB::DIALECT == Dialect::Postgres {
        // One round trip for the whole step: BEGIN, the file as written, its history row
        // and COMMIT travel as one simple query. They are one transaction, so any error
        // (in the file, or in a file that leaves a comment or a quote open) aborts all of
        // it, and the ROLLBACK below ends the aborted block. The history row's values are
        // written as escaped literals: the simple protocol has no parameters.
        // Commits inside the run need not wait for the disk: a migration and its row are
        // one transaction, so a crash loses both or neither (and the next start applies it
        // again), and the run ends with one durable commit that flushes them all
        // (`flush_commits`) before startup goes on.
        let begin = if session.in_transaction {
            String::new()
        } else {
            format!("BEGIN;\nSET LOCAL synchronous_commit = off;\n{STEP_MARK}")
        };
        let begin = begin + &local_lock_timeout(session);
        session.unflushed = true;
        let commit = if grouped { "" } else { ";\nCOMMIT" };
        // statement_timestamp() is when this message arrived: the time the file took.
        let execution_ms =
            "CAST(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000 AS BIGINT)";
        // The check fails before the row is written if the file ended the transaction.
        let step = format!(
            "{begin}{sql}\n;\n{STEP_CHECK};\n{}{commit}",
            statements.insert_literal(std::slice::from_ref(&row), Some(execution_ms))
        );
        session.in_transaction = true;
        let started = Instant::now();
        if let Err(error) = session.conn.statement(&step).await {
            if connection_lost(&error) {
                // The server may have received the whole message, COMMIT included.
                session.conn.close_on_drop();
                return Err(Failure::Lost(error.to_string()));
            }
            rollback(session).await;
            let timed_out = lock_timed_out(&error);
            let message = sql_message(error);
            if message.contains(STEP_ENDED) {
                return Err(Failure::EndedTransaction);
            }
            if timed_out {
                return Err(Failure::LockTimeout(message));
            }
            return Err(Failure::Sql(message));
        }
        if !grouped {
            session.in_transaction = false;
        }
        Ok(started.elapsed())
    } else if row.state == crate::sql_text::state::APPLIED {
        if !session.in_transaction {
            session.conn.statement(engine::begin(DB::DIALECT)).await?;
            session.in_transaction = true;
        }
        let started = Instant::now();
        if let Err(error) = session.conn.script(sql).await {
            rollback(session).await;
            return Err(Failure::Sql(sql_message(error)));
        }
        let duration = started.elapsed();
        if DB::DIALECT == Dialect::Sqlite && transaction_ended(session).await {
            return Err(Failure::EndedTransaction);
        }
        row.execution_ms = duration.as_millis() as i64;
        if let Err(error) = session
            .conn
            .bind_execute(&statements.insert, row.binds())
            .await
        {
            rollback(session).await;
            return Err(Failure::Bookkeeping(error));
        }
        if !grouped && let Err(error) = commit_group(session).await {
            if connection_lost(&error) {
                // COMMIT was sent: whether the server ran it is not known here.
                session.conn.close_on_drop();
                return Err(Failure::Lost(error.to_string()));
            }
            return Err(Failure::Bookkeeping(error));
        }
        Ok(duration)
    } else {
        commit_group(session).await?;
        let lock_timeout = session_lock_timeout(session);
        if let Some((set, _)) = &lock_timeout {
            session.conn.statement(set).await?;
        }
        let (version, kind) = (row.version, row.kind);
        session
            .conn
            .bind_execute(&statements.insert, row.binds())
            .await?;
        let started = Instant::now();
        let parts = if split {
            split_for_no_transaction(sql)
        } else {
            vec![sql]
        };
        // Whether the file is one statement (MySQL sends a file as written): then a
        // lock timeout in it means none of it ran.
        let single = split
            || schema_core::sql::split_statements(sql, schema_core::Dialect::Mysql).len() <= 1;
        let mut failed = None;
        for (at, part) in parts.into_iter().enumerate() {
            if let Err(error) = session.conn.script(part).await {
                failed = Some((at, atomic_alone(part), error));
                break;
            }
        }
        if let Some((_, reset)) = &lock_timeout {
            session.conn.statement(reset).await?;
        }
        if let Some((at, atomic, error)) = failed {
            let timed_out = lock_timed_out(&error);
            let message = sql_message(error);
            if !timed_out {
                return Err(Failure::Sql(message));
            }
            if at == 0 && single && atomic {
                // Nothing of the file ran: its started row goes, and it can run again.
                session
                    .conn
                    .statement(&format!(
                        "DELETE FROM {} WHERE version = {version} AND kind = '{kind}' AND state = '{}'",
                        statements.history_table,
                        crate::sql_text::state::STARTED
                    ))
                    .await?;
                return Err(Failure::LockTimeout(message));
            }
            if !atomic {
                return Err(Failure::Sql(format!(
                    "{message} (the DDL lock timeout stopped a statement that can leave work behind when it fails, such as CONCURRENTLY, DO or CALL, outside a transaction: not retried)"
                )));
            }
            let which = if split {
                format!("statement {} of the file", at + 1)
            } else {
                "a statement of a file of several".to_owned()
            };
            return Err(Failure::Sql(format!(
                "{message} (the DDL lock timeout stopped {which}, after what came before it may have committed outside a transaction: not retried)"
            )));
        }
        let duration = started.elapsed();
        session
            .conn
            .bind_execute(
                &statements.finish,
                vec![
                    Value::Integer(duration.as_millis() as i64),
                    Value::Text(row.kind.to_owned()),
                    Value::Integer(row.version),
                ],
            )
            .await?;
        Ok(duration)
    }
}

/// Grouped mode on PostgreSQL: a run of migrations and their history rows sent as one
/// message inside the run's transaction, so a backlog costs one round trip rather than
/// one per file. Each row's execution time is measured by the server between marks. If
/// the message fails, the transaction is rolled back and the files are replayed one by
/// one in a transaction that is rolled back too, to name the file that fails.
pub(super) async fn run_batch<DB>(
    session: &mut Session<'_, DB>,
    statements: &Statements,
    batch: &[&'static crate::Migration],
    mut rows: Vec<HistoryValues<'_>>,
) -> Result<Vec<Duration>, BatchFailure<sqlx::Error>>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    let mut message = String::new();
    if !session.in_transaction {
        message.push_str("BEGIN;\n");
        message.push_str(STEP_MARK);
    }
    message.push_str(&local_lock_timeout(session));
    for migration in batch {
        message.push_str(migration.sql());
        message.push_str("\n;\n");
    }
    message.push_str(STEP_CHECK);
    session.in_transaction = true;
    let started = Instant::now();
    if let Err(error) = session.conn.statement(&message).await {
        rollback(session).await;
        if lock_timed_out(&error) {
            // The whole batch was rolled back: it can run again as it is.
            return Err(BatchFailure::LockTimeout(sql_message(error)));
        }
        if sql_message_of(&error).contains(STEP_ENDED) {
            // Replaying the files to find it would run its COMMIT again: name the file
            // that ends a transaction by reading them instead.
            let at = batch
                .iter()
                .position(|m| {
                    !schema_core::transaction::find_transaction_control(
                        m.sql(),
                        schema_core::Dialect::Postgres,
                    )
                    .is_empty()
                })
                .unwrap_or(0);
            return Err(BatchFailure::EndedTransaction(at));
        }
        return Err(locate_failure(session, batch, error).await);
    }
    // The files ran as one message, so the server cannot time them one by one: each
    // row gets the batch's average (and its note says so).
    let share = started.elapsed() / batch.len() as u32;
    for row in &mut rows {
        row.execution_ms = share.as_millis() as i64;
    }
    if let Err(error) = session
        .conn
        .statement(&statements.insert_literal(&rows, None))
        .await
    {
        rollback(session).await;
        return Err(BatchFailure::Bookkeeping(error));
    }
    Ok(vec![share; batch.len()])
}

/// Names the file of a batch that fails, by replaying the files one by one in a
/// transaction that is always rolled back.
async fn locate_failure<DB>(
    session: &mut Session<'_, DB>,
    batch: &[&'static crate::Migration],
    batch_error: sqlx::Error,
) -> BatchFailure<sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if session.conn.statement("BEGIN").await.is_ok() {
        session.in_transaction = true;
        for (at, migration) in batch.iter().enumerate() {
            if let Err(error) = session.conn.script(migration.sql()).await {
                rollback(session).await;
                return BatchFailure::File(at, sql_message(error));
            }
        }
        rollback(session).await;
    }
    // Every file ran on its own: the failure was in the bookkeeping.
    BatchFailure::Bookkeeping(batch_error)
}

/// Ends a run whose commits did not wait for the disk with one that does: a durable
/// commit flushes the write-ahead log up to it, and so every commit before it.
pub(super) async fn flush_commits<DB>(
    session: &mut Session<'_, DB>,
    statements: &Statements,
) -> Result<(), sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if session.unflushed {
        session.conn.statement(&statements.touch_stamp).await?;
        session.unflushed = false;
    }
    Ok(())
}

/// Commits the open transaction, if there is one.
pub(super) async fn commit_group<DB>(session: &mut Session<'_, DB>) -> Result<(), sqlx::Error>
where
    DB: Backend,
    PoolConnection<DB>: Operations,
{
    if session.in_transaction {
        session.conn.statement("COMMIT").await?;
        session.in_transaction = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::atomic_alone;

    #[test]
    fn only_statements_that_leave_nothing_behind_are_retried_alone() {
        assert!(atomic_alone(
            "-- schema: no-transaction\n-- why\nALTER TABLE a ADD COLUMN b int"
        ));
        assert!(atomic_alone("  create table a (id int)"));
        assert!(!atomic_alone(
            "-- schema: no-transaction\nCREATE INDEX CONCURRENTLY i ON a (b)"
        ));
        assert!(!atomic_alone("drop index concurrently i"));
        assert!(!atomic_alone("DO $$ BEGIN COMMIT; END $$"));
        assert!(!atomic_alone("CALL backfill()"));
        assert!(!atomic_alone(
            "/* comment */ ALTER TABLE a ADD COLUMN b int"
        ));
        assert!(!atomic_alone("-- only a comment"));
    }
}
