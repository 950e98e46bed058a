static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locking_columns", dialects = "postgres");

fn main() {}
