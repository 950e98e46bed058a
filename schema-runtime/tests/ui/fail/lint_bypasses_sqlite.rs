static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/lint_bypasses_sqlite", dialects = "sqlite");

fn main() {}
