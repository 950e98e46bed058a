//! What the runner needs from a pooled connection, written once over sqlx's generic API
//! for every backend.

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Executor, Row};

use super::Backend;
use super::sealed::Sealed;
use crate::migrator::{Value, version_from_sql};
use crate::plan::History;

/// The operations every backend shares, written once over sqlx's generic API.
pub(crate) trait Operations {
    fn script(&mut self, sql: &'static str)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn statement(&mut self, sql: &str) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The history read with `sql`: PostgreSQL's simple-query protocol, a prepared
    /// statement elsewhere.
    fn history(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Option<History>, sqlx::Error>> + Send;
    /// The history read with `sql` as a statement sqlx prepares and keeps on the
    /// connection, on every backend.
    fn history_prepared(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Option<History>, sqlx::Error>> + Send;
    fn bind_execute(
        &mut self,
        sql: &str,
        values: Vec<Value>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn text_rows(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Vec<Vec<Option<String>>>, sqlx::Error>> + Send;
}

impl<DB> Operations for PoolConnection<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Decode<'q, DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    async fn script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&mut **self).await.map(drop)
    }

    async fn statement(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut **self)
            .await
            .map(drop)
    }

    async fn history(&mut self, sql: &str) -> Result<Option<History>, sqlx::Error> {
        // PostgreSQL: the simple-query protocol, one round trip on any connection. The
        // others: a prepared statement, cached on the connection (one round trip on every
        // start after the connection's first).
        read_history(self, sql, !<DB as Sealed>::SIMPLE_HISTORY).await
    }

    async fn history_prepared(&mut self, sql: &str) -> Result<Option<History>, sqlx::Error> {
        read_history(self, sql, true).await
    }

    async fn bind_execute(&mut self, sql: &str, values: Vec<Value>) -> Result<(), sqlx::Error> {
        let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
        for value in values {
            query = match value {
                Value::Integer(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::OptionalText(v) => query.bind(v),
            };
        }
        query.execute(&mut **self).await.map(drop)
    }

    async fn text_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut **self)
            .await?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }
}

/// Reads the history, prepared or with the simple-query protocol. Rows are read without
/// copying, each as it arrives, and dropped: collecting them all first kept the whole
/// result alive, and at 10,000 migrations that cost more than the reading.
async fn read_history<DB>(
    conn: &mut PoolConnection<DB>,
    sql: &str,
    prepared: bool,
) -> Result<Option<History>, sqlx::Error>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let sql = AssertSqlSafe(sql.to_owned());
    let mut rows = if prepared {
        sqlx::query(sql).fetch(&mut **conn)
    } else {
        sqlx::raw_sql(sql).fetch(&mut **conn)
    };

    let mut history = History::default();
    let mut checked = false;
    while let Some(row) = std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
        let row = match row {
            Ok(row) => row,
            Err(sqlx::Error::Database(error)) if is_missing_table(&*error) => return Ok(None),
            Err(error) => return Err(error),
        };
        if checked {
            history.push_row(
                version_from_sql(row.try_get_unchecked(0)?),
                DB::history_bytes(&row, 1)?.unwrap_or_default(),
                DB::history_bytes(&row, 2)?,
            );
            continue;
        }
        // The first row is decoded with sqlx's type checks, which fail clearly on a
        // history table whose columns are not what this crate created. A result's
        // column types are the same in every row (and SQLite converts any value to the
        // type asked for), so the other rows skip the checks and the UTF-8
        // validation, which were a third of the client's work on an up-to-date start
        // at 1,000 migrations.
        let version: i64 = row.try_get(0)?;
        let checksum: &str = row.try_get(1)?;
        let tag: Option<&str> = row.try_get(2)?;
        history.push_row(
            version_from_sql(version),
            checksum.as_bytes(),
            tag.map(str::as_bytes),
        );
        checked = true;
    }
    Ok(Some(history))
}

/// A history row's binds, in [`crate::sql_text::HISTORY_COLUMNS`] order.
fn is_missing_table(error: &dyn sqlx::error::DatabaseError) -> bool {
    // PostgreSQL 42P01, MySQL 1146 (42S02), SQLite "no such table".
    matches!(error.code().as_deref(), Some("42P01" | "42S02" | "1146"))
        || error.message().contains("no such table")
}
