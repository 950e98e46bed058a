static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/lint_bypasses_mysql", dialects = "mysql");

fn main() {}
