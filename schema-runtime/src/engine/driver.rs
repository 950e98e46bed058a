//! What the engine asks of a database: its SQL connection, the run's steps, and how a
//! step can fail.

use std::time::Duration;

use crate::error::Error;
use crate::migrator::{HistoryValues, Statements, Value};
use crate::plan::History;
use crate::sql_text::Dialect;
use crate::{Migration, Version};

/// A row read as text (`None` for SQL NULL).
pub(crate) type TextRow = Vec<Option<String>>;

/// How running one file failed.
#[derive(Debug)]
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) enum Failure<E> {
    /// The file's own SQL failed, with the database's words; the engine names the file.
    Sql(String),
    /// The file waited longer than the policy's DDL lock timeout for a lock, and nothing
    /// of it stayed (rolled back, or a `no-transaction` file's first statement): running
    /// it again is safe. With the database's words.
    LockTimeout(String),
    /// The connection went away after the server may have had the whole step, its
    /// `COMMIT` included: whether it committed is not known here.
    Lost(String),
    /// The file ended the transaction it runs in (`COMMIT`, `ROLLBACK`): its history
    /// row was not written.
    EndedTransaction,
    /// Our own statements (the history row, `BEGIN`, `COMMIT`) failed.
    Bookkeeping(E),
}

impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Failure::Bookkeeping(error)
    }
}

/// How a run of migrations sent as one message failed.
#[derive(Debug)]
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) enum BatchFailure<E> {
    /// The file at this index of the batch fails on its own, with the database's words.
    File(usize, String),
    /// The batch waited longer than the policy's DDL lock timeout for a lock and was
    /// rolled back whole: running it again is safe. With the database's words.
    LockTimeout(String),
    /// The file at this index ended the run's transaction itself.
    EndedTransaction(usize),
    /// Every file runs on its own: the history rows failed.
    Bookkeeping(E),
}

/// One file to run with its history row.
#[cfg_attr(not(feature = "async-runner"), allow(dead_code))]
pub(crate) struct File<'a> {
    /// The SQL as written.
    pub sql: &'static str,
    /// Its history row; `state` says whether the file runs in a transaction with it
    /// (`applied`) or after it (`started`, marked finished after).
    pub row: HistoryValues<'a>,
    /// Run statement by statement (a PostgreSQL `no-transaction` file, which the server
    /// would otherwise run as one implicit transaction).
    pub split: bool,
    /// Leave the transaction open for the next file: the run commits as one.
    pub whole_run: bool,
}

/// The SQL every database connection of this crate runs: the startup drivers and the
/// `db` command's console alike.
#[allow(async_fn_in_trait)] // crate-private: every implementation is known here
pub(crate) trait Sql {
    /// The connection's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The SQL flavour.
    fn dialect(&self) -> Dialect;
    /// SQL as written, possibly several statements.
    async fn script(&mut self, sql: &str) -> Result<(), Self::Error>;
    /// One statement with binds.
    async fn bind(&mut self, sql: &str, values: Vec<Value>) -> Result<(), Self::Error>;
    /// Every row of `sql`, each column as text.
    async fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, Self::Error>;
}

/// What a database must do for the engine's run. Implemented by the rusqlite and sqlx
/// drivers, and by a scripted fake in the tests.
#[allow(async_fn_in_trait)] // crate-private: every driver is known here
pub(crate) trait Driver: Sql {
    /// Whether a database busy with another writer refused a read (SQLite): the run then
    /// waits for the lock instead of failing.
    fn is_busy(&self, _error: &Self::Error) -> bool {
        false
    }
    /// Whether this driver can keep one transaction open across files
    /// ([`Policy::group_transactions`](crate::Policy::group_transactions)), and on
    /// PostgreSQL send a run of them as one message.
    fn groups(&self) -> bool {
        false
    }
    /// Whether a transaction is still open after a failure (nothing more can be read
    /// on this connection until it ends).
    fn in_transaction(&self) -> bool {
        false
    }

    /// Waits `duration` before a migration that hit the DDL lock timeout is tried again
    /// (a blocking driver sleeps; an async one must not block its runtime).
    async fn pause(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// The history (`None` when its tables do not exist yet).
    async fn history(&mut self, sql: &str) -> Result<Option<History>, Self::Error>;
    /// A query of the history's shape read once in a run (the check that a table of the
    /// history's name is this crate's): what [`history`](Driver::history) does, without
    /// anything a driver keeps to make the start's own read cheaper next time.
    async fn probe(&mut self, sql: &str) -> Result<Option<History>, Self::Error> {
        self.history(sql).await
    }
    /// Takes the migration lock, waiting as long as the policy allows.
    async fn lock(&mut self) -> Result<(), Error>;
    /// Releases the lock (on every path, after [`lock`](Driver::lock) succeeded).
    async fn unlock(&mut self);
    /// Backs the database up before the first change: `None` when this backend has
    /// nothing configured to back up with.
    async fn backup(&mut self, newest_applied: Option<Version>) -> Option<Result<String, String>>;
    /// Runs one file with its history row, and how long the file took.
    async fn apply(
        &mut self,
        statements: &Statements,
        file: File<'_>,
    ) -> Result<Duration, Failure<Self::Error>>;
    /// Runs a batch of transactional files and their rows as one message inside the
    /// run's transaction (only asked of a driver that [`groups`](Driver::groups), on
    /// PostgreSQL); each row's `execution_ms` is filled in by the driver.
    async fn apply_batch(
        &mut self,
        _statements: &Statements,
        _batch: &[&'static Migration],
        _rows: Vec<HistoryValues<'_>>,
    ) -> Result<Vec<Duration>, BatchFailure<Self::Error>> {
        unreachable!("only a grouping PostgreSQL driver is asked for batches")
    }
    /// Ends the run's changes: commits a transaction left open by grouping and makes
    /// commits that did not wait for the disk durable.
    async fn end_run(&mut self, _statements: &Statements) -> Result<(), Failure<Self::Error>> {
        Ok(())
    }
}

/// The output of a future that never waits: the steps of a blocking driver.
///
/// # Panics
///
/// If the future is not ready at once, which would mean a blocking driver awaited
/// something real.
#[cfg(any(feature = "rusqlite", feature = "cli", test))]
pub(crate) fn finish_now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("a blocking driver's step never waits"),
    }
}
