//! What the benchmarks share: the generated migrations.

use schema_runtime::{Checksum, Migration, Migrations, Version};

/// The SQL of generated migration `i`: a table, an index and three rows, valid on
/// SQLite, PostgreSQL and MySQL.
pub fn migration_sql(i: usize) -> String {
    format!(
        "CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, created_at VARCHAR(20));\n\
         CREATE INDEX bench_{i}_name ON bench_{i} (name);\n\
         INSERT INTO bench_{i} (id, name, created_at) VALUES (1, 'a', '2025-01-01'), (2, 'b', '2025-01-02'), (3, 'c', '2025-01-03');\n"
    )
}

/// `count` generated migrations, as `embed_migrations!` would hand them over.
pub fn generated(count: usize) -> &'static Migrations {
    let migrations: Vec<Migration> = (1..=count)
        .map(|i| {
            let sql: &'static str = Box::leak(migration_sql(i).into_boxed_str());
            let name: &'static str = Box::leak(format!("create_bench_{i}").into_boxed_str());
            let path: &'static str =
                Box::leak(format!("migrations/{i:04}_{name}.sql").into_boxed_str());
            Migration::new(
                Version::new(i as u64),
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
