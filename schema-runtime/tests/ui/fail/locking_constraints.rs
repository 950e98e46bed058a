static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locking_constraints", dialects = "postgres");

fn main() {}
