//! A small task list that migrates its own database when it starts.
//!
//! ```text
//! example-app                 migrate, then list the open tasks
//! example-app add USER TITLE  add a task for a user (by email)
//! example-app done ID         mark a task done
//! example-app db …            the database command (`example-app db --help`)
//! ```
//!
//! `DATABASE_URL` picks the database: `sqlite:path/to/file.db`, `postgres://…` or
//! `mysql://…`; unset, it is a SQLite file in the app's data folder
//! (`EXAMPLE_APP_DATA_DIR`, or the platform's data folder).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

mod server;

use schema_runtime::redact_url as redact;
use schema_runtime::rusqlite::{Connection, OptionalExtension, params};
use schema_runtime::{Migrations, Migrator};

const USAGE: &str = "usage: example-app [add USER_EMAIL TITLE | done TASK_ID | db --help]";

static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("db") {
        // The command sees the database as startup does: the same migrator and policy.
        let cli = match Migrator::new(&MIGRATIONS) {
            Ok(migrator) => schema_runtime::cli::Cli::from_migrator(migrator),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        return match default_sqlite() {
            Ok(path) => cli.default_database_url(format!("sqlite:{}", path.display())),
            Err(_) => cli,
        }
        .run_from(args);
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Where the app keeps its data.
enum Database {
    Sqlite(PathBuf),
    Postgres(String),
    Mysql(String),
}

fn run(args: Vec<String>) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let path = match database()? {
        Database::Sqlite(path) => path,
        Database::Postgres(url) => {
            return block_on(server::run::<schema_runtime::sqlx::Postgres>(&url, &args));
        }
        Database::Mysql(url) => {
            return block_on(server::run::<schema_runtime::sqlx::MySql>(&url, &args));
        }
    };
    let mut conn =
        Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(|e| e.to_string())?;

    let migrator = Migrator::new(&MIGRATIONS).map_err(|e| e.to_string())?;
    let report = migrator.run(&mut conn).map_err(|e| e.to_string())?;
    println!("database: {}", path.display());
    print!("{report}");

    match args.as_slice() {
        [] => list_open_tasks(&conn),
        ["add", email, title @ ..] if !title.is_empty() => {
            add_task(&mut conn, email, &title.join(" "))
        }
        ["done", id] => finish_task(&conn, id),
        _ => Err(USAGE.to_owned()),
    }
}

fn block_on(future: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(future)
}

/// `DATABASE_URL`, or a SQLite file in the data folder.
fn database() -> Result<Database, String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            return Ok(Database::Mysql(url.replacen("mariadb://", "mysql://", 1)));
        }
        return Err(format!(
            "DATABASE_URL={} is not a database this app knows: use sqlite:path, postgres://… or mysql://…",
            redact(&url)
        ));
    }
    default_sqlite().map(Database::Sqlite)
}

/// The SQLite file in the app's data folder (created if needed).
fn default_sqlite() -> Result<PathBuf, String> {
    let folder = std::env::var_os("EXAMPLE_APP_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("example-app")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/example-app"))
        })
        .unwrap_or_else(|| PathBuf::from("data"));
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    Ok(folder.join("tasks.db"))
}

/// An open task, as the list shows it.
pub struct Task {
    id: i64,
    owner: String,
    title: String,
    due: Option<String>,
}

fn print_tasks(tasks: &[Task]) {
    if tasks.is_empty() {
        println!("no open tasks (add one: example-app add you@example.com Buy milk)");
    }
    for task in tasks {
        let due = task
            .due
            .as_ref()
            .map(|d| format!("  due {d}"))
            .unwrap_or_default();
        println!("#{:<4} {:<12} {}{due}", task.id, task.owner, task.title);
    }
}

fn list_open_tasks(conn: &Connection) -> Result<(), String> {
    let mut statement = conn
        .prepare(
            "SELECT t.id, u.display_name, t.title, t.due_on FROM tasks t JOIN users u ON u.id = t.user_id \
             WHERE NOT t.done ORDER BY t.due_on IS NULL, t.due_on, t.id",
        )
        .map_err(|e| e.to_string())?;
    let tasks = statement
        .query_map([], |row| {
            Ok(Task {
                id: row.get(0)?,
                owner: row.get(1)?,
                title: row.get(2)?,
                due: row.get(3)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    print_tasks(&tasks);
    Ok(())
}

fn add_task(conn: &mut Connection, email: &str, title: &str) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let user: Option<i64> = tx
        .query_row("SELECT id FROM users WHERE email = ?1", [email], |row| {
            row.get(0)
        })
        .optional()
        .map_err(|e| e.to_string())?;
    let user = match user {
        Some(id) => id,
        None => {
            let name = email.split('@').next().unwrap_or(email);
            tx.execute(
                "INSERT INTO users (id, email, display_name) SELECT COALESCE(MAX(id), 0) + 1, ?1, ?2 FROM users",
                params![email, name],
            )
            .map_err(|e| e.to_string())?;
            tx.last_insert_rowid()
        }
    };
    tx.execute(
        "INSERT INTO tasks (id, user_id, title) SELECT COALESCE(MAX(id), 0) + 1, ?1, ?2 FROM tasks",
        params![user, title],
    )
    .map_err(|e| e.to_string())?;
    let id = tx.last_insert_rowid();
    tx.commit().map_err(|e| e.to_string())?;
    println!("added task #{id}");
    Ok(())
}

fn finish_task(conn: &Connection, id: &str) -> Result<(), String> {
    let id: i64 = id
        .parse()
        .map_err(|_| format!("`{id}` is not a task number"))?;
    match conn
        .execute("UPDATE tasks SET done = TRUE WHERE id = ?1", [id])
        .map_err(|e| e.to_string())?
    {
        0 => Err(format!("there is no task #{id}")),
        _ => {
            println!("task #{id} done");
            Ok(())
        }
    }
}
