static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/destructive_statement_behind_bom");

fn main() {}
