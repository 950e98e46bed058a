//! The app on PostgreSQL or MariaDB/MySQL, through sqlx: the same migrations and the same
//! job as on SQLite. The task queries are written once for both servers; only the bind
//! placeholders differ (`$1` against `?`).

use schema_runtime::sqlx::{self, Database, Executor, Pool};
use schema_runtime::{Migrator, sqlx_backend::Backend};

use crate::MIGRATIONS;

/// Migrates the database at `url`, then does what `args` ask.
pub async fn run<DB>(url: &str, args: &[&str]) -> Result<(), String>
where
    DB: Backend,
    Pool<DB>: Tasks,
{
    // Lazy: the migrator makes the first connection, and retries it while the server is
    // still coming up (`Policy::retry_connect_for`, 30 s by default).
    let pool = sqlx::pool::PoolOptions::<DB>::new()
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(url)
        .map_err(|e| format!("cannot use {}: {e}", crate::redact(url)))?;
    let report = Migrator::new(&MIGRATIONS)
        .map_err(|e| e.to_string())?
        .run_async(&pool)
        .await
        .map_err(|e| e.to_string())?;
    println!("database: {}", crate::redact(url));
    print!("{report}");
    let placeholder = |n: usize| match DB::DIALECT {
        schema_runtime::Dialect::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    match args {
        [] => {
            let tasks = pool.open_tasks().await.map_err(|e| e.to_string())?;
            crate::print_tasks(&tasks);
            Ok(())
        }
        ["add", email, title @ ..] if !title.is_empty() => {
            let id = pool
                .add_task(email, &title.join(" "), &placeholder)
                .await
                .map_err(|e| e.to_string())?;
            println!("added task #{id}");
            Ok(())
        }
        ["done", id] => {
            let id: i64 = id
                .parse()
                .map_err(|_| format!("`{id}` is not a task number"))?;
            match pool
                .finish_task(id, &placeholder)
                .await
                .map_err(|e| e.to_string())?
            {
                0 => Err(format!("there is no task #{id}")),
                _ => {
                    println!("task #{id} done");
                    Ok(())
                }
            }
        }
        _ => Err(crate::USAGE.to_owned()),
    }
}

/// The app's queries. Every value is read back as text (`CONCAT(x, '')`), which both
/// servers agree on whatever the column's type.
pub trait Tasks {
    /// Open tasks: id, owner, title, due date.
    async fn open_tasks(&self) -> Result<Vec<crate::Task>, sqlx::Error>;
    /// Adds a task for the user with `email` (created if new); returns its id.
    async fn add_task(
        &self,
        email: &str,
        title: &str,
        placeholder: &dyn Fn(usize) -> String,
    ) -> Result<i64, sqlx::Error>;
    /// Marks a task done; returns how many rows changed.
    async fn finish_task(
        &self,
        id: i64,
        placeholder: &dyn Fn(usize) -> String,
    ) -> Result<u64, sqlx::Error>;
}

impl<DB> Tasks for Pool<DB>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    async fn open_tasks(&self) -> Result<Vec<crate::Task>, sqlx::Error> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT CONCAT(t.id, ''), u.display_name, t.title, COALESCE(CONCAT(t.due_on, ''), '') \
             FROM tasks t JOIN users u ON u.id = t.user_id \
             WHERE NOT t.done ORDER BY t.due_on IS NULL, t.due_on, t.id",
        )
        .fetch_all(self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, owner, title, due)| crate::Task {
                id: id.parse().unwrap_or_default(),
                owner,
                title,
                due: (!due.is_empty()).then_some(due),
            })
            .collect())
    }

    async fn add_task(
        &self,
        email: &str,
        title: &str,
        p: &dyn Fn(usize) -> String,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.begin().await?;
        let find_user = format!("SELECT CONCAT(id, '') FROM users WHERE email = {}", p(1));
        let user: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(find_user.clone()))
            .bind(email.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        let user = match user {
            Some((id,)) => id,
            None => {
                let name = email.split('@').next().unwrap_or(email).to_owned();
                let insert = format!(
                    "INSERT INTO users (id, email, display_name) SELECT COALESCE(MAX(id), 0) + 1, {}, {} FROM users",
                    p(1),
                    p(2)
                );
                sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(email.to_owned())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                let (id,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(find_user))
                    .bind(email.to_owned())
                    .fetch_one(&mut *tx)
                    .await?;
                id
            }
        };
        let user: i64 = user.parse().unwrap_or_default();
        let insert = format!(
            "INSERT INTO tasks (id, user_id, title) SELECT COALESCE(MAX(id), 0) + 1, {}, {} FROM tasks",
            p(1),
            p(2)
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(user)
            .bind(title.to_owned())
            .execute(&mut *tx)
            .await?;
        let (id,): (String,) = sqlx::query_as("SELECT CONCAT(MAX(id), '') FROM tasks")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id.parse().unwrap_or_default())
    }

    async fn finish_task(&self, id: i64, p: &dyn Fn(usize) -> String) -> Result<u64, sqlx::Error> {
        let update = format!("UPDATE tasks SET done = TRUE WHERE id = {}", p(1));
        let result = sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(id)
            .execute(self)
            .await?;
        Ok(result.rows_affected())
    }
}

/// How many rows a statement changed, for every server's result type.
pub trait RowsAffected {
    /// The count.
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}
