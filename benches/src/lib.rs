//! What the benchmarks share: the generated migrations, in each compared tool's naming.
//!
//! Migration `i` (counting from 1) has version `i`, the name `create_bench_<i>`, and SQL
//! that creates a table, an index and inserts three rows (valid on SQLite, PostgreSQL
//! and MySQL). The same text is handed to every tool, so only the tools differ.
//!
//! ```
//! use schema_benches::{Naming, migration_sql};
//!
//! assert_eq!(Naming::Ours.file_name(7), "00007_create_bench_7.sql");
//! assert_eq!(Naming::Sqlx.file_name(7), "7_create_bench_7.sql");
//! assert_eq!(Naming::Refinery.file_name(7), "V7__create_bench_7.sql");
//! assert!(migration_sql(7).starts_with("CREATE TABLE bench_7 "));
//! ```

use std::io;
use std::path::Path;

use schema_runtime::rules::{Lock, LockEntry};
use schema_runtime::{Checksum, Migration, Migrations, Version};

/// The SQL of generated migration `i`: a table, an index and three rows, valid on
/// SQLite, PostgreSQL and MySQL.
pub fn migration_sql(i: u64) -> String {
    format!(
        "CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, created_at VARCHAR(20));\n\
         CREATE INDEX bench_{i}_name ON bench_{i} (name);\n\
         INSERT INTO bench_{i} (id, name, created_at) VALUES (1, 'a', '2025-01-01'), (2, 'b', '2025-01-02'), (3, 'c', '2025-01-03');\n"
    )
}

/// The name part of generated migration `i`, the same for every tool.
pub fn migration_name(i: u64) -> String {
    format!("create_bench_{i}")
}

/// A migration tool's file naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// This project: `<version>_<name>.sql`, the version zero-padded so a listing sorts.
    Ours,
    /// sqlx: `<version>_<description>.sql`.
    Sqlx,
    /// refinery: `V<version>__<name>.sql`.
    Refinery,
}

impl Naming {
    /// The file name of generated migration `i` in this naming.
    pub fn file_name(self, i: u64) -> String {
        let name = migration_name(i);
        match self {
            Naming::Ours => format!("{i:05}_{name}.sql"),
            Naming::Sqlx => format!("{i}_{name}.sql"),
            Naming::Refinery => format!("V{i}__{name}.sql"),
        }
    }
}

/// Writes generated migrations `versions` into `dir` (created if missing) in `naming`.
pub fn write_migrations(
    dir: &Path,
    naming: Naming,
    versions: impl IntoIterator<Item = u64>,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for i in versions {
        std::fs::write(dir.join(naming.file_name(i)), migration_sql(i))?;
    }
    Ok(())
}

/// The `migrations.lock` of a project that has applied generated migrations
/// `1..=count`: what a real project with that many migrations carries, and what
/// `embed_migrations!()` checks every file against.
pub fn lock_text(count: u64) -> String {
    Lock::new((1..=count).map(|i| {
        LockEntry::new(
            Version::new(i),
            migration_name(i),
            Checksum::of_file(migration_sql(i).as_bytes()),
        )
    }))
    .render()
}

/// `count` generated migrations, as `embed_migrations!` would hand them over: checksums
/// computed here once, as the macro computes them once at compile time.
pub fn generated(count: u64) -> &'static Migrations {
    generated_with(count, None)
}

/// [`generated`], every file starting with the comment `-- <salt>`: checksums of their
/// own, so that what is keyed by them (a test database's template) is not found from
/// another run.
pub fn generated_salted(count: u64, salt: &str) -> &'static Migrations {
    generated_with(count, Some(salt))
}

fn generated_with(count: u64, salt: Option<&str>) -> &'static Migrations {
    let migrations: Vec<Migration> = (1..=count)
        .map(|i| {
            let sql = match salt {
                Some(salt) => format!("-- {salt}\n{}", migration_sql(i)),
                None => migration_sql(i),
            };
            let sql: &'static str = Box::leak(sql.into_boxed_str());
            let name: &'static str = Box::leak(migration_name(i).into_boxed_str());
            let path: &'static str =
                Box::leak(format!("migrations/{}", Naming::Ours.file_name(i)).into_boxed_str());
            Migration::new(
                Version::new(i),
                name,
                sql,
                Checksum::of_file(sql.as_bytes()),
                path,
            )
        })
        .collect();
    Box::leak(Box::new(Migrations::new(
        Box::leak(migrations.into_boxed_slice()),
        &[],
        "",
        "migrations",
    )))
}

/// A server URL with its database replaced by `name`, keeping any query string.
///
/// ```
/// assert_eq!(
///     schema_benches::with_database("postgres://u@h/db?sslmode=off", "x"),
///     "postgres://u@h/x?sslmode=off"
/// );
/// ```
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
