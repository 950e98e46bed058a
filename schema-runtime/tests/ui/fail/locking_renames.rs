static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locking_renames", dialects = "postgres");

fn main() {}
