//! A small task list that migrates its own database when it starts.
//!
//! ```text
//! example-app                 migrate, then list the open tasks
//! example-app add USER TITLE  add a task for a user (by email)
//! example-app done ID         mark a task done
//! ```
//!
//! `DATABASE_URL` picks the database (`sqlite:path/to/file.db`); unset, it is a SQLite
//! file in the app's data folder (`EXAMPLE_APP_DATA_DIR`, or the platform's data folder).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use schema_runtime::rusqlite::{Connection, OptionalExtension, params};
use schema_runtime::{Migrations, Migrator};

static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let path = database_path()?;
    let mut conn =
        Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(|e| e.to_string())?;

    let migrator = Migrator::new(&MIGRATIONS).map_err(|e| e.to_string())?;
    let report = migrator.run(&mut conn).map_err(|e| e.to_string())?;
    println!("database: {}", path.display());
    print!("{report}");

    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => list_open_tasks(&conn),
        ["add", email, title @ ..] if !title.is_empty() => {
            add_task(&mut conn, email, &title.join(" "))
        }
        ["done", id] => finish_task(&conn, id),
        _ => Err("usage: example-app [add USER_EMAIL TITLE | done TASK_ID]".to_owned()),
    }
}

/// `DATABASE_URL` (`sqlite:` only in this build), or a file in the data folder.
fn database_path() -> Result<PathBuf, String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "DATABASE_URL must start with sqlite: (for example sqlite:tasks.db)".to_owned()
            })?;
        return Ok(PathBuf::from(path));
    }
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

fn list_open_tasks(conn: &Connection) -> Result<(), String> {
    let mut statement = conn
        .prepare(
            "SELECT t.id, u.display_name, t.title, t.due_on FROM tasks t JOIN users u ON u.id = t.user_id \
             WHERE NOT t.done ORDER BY t.due_on IS NULL, t.due_on, t.id",
        )
        .map_err(|e| e.to_string())?;
    let tasks = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    if tasks.is_empty() {
        println!("no open tasks (add one: example-app add you@example.com Buy milk)");
    }
    for (id, owner, title, due) in tasks {
        let due = due.map(|d| format!("  due {d}")).unwrap_or_default();
        println!("#{id:<4} {owner:<12} {title}{due}");
    }
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
