static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locking_indexes", dialects = "postgres");

fn main() {}
