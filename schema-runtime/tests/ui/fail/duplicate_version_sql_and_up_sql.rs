static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/duplicate_version_sql_and_up_sql");

fn main() {}
