static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/sqlite_foreign_keys_pragma", dialects = "sqlite");

fn main() {}
