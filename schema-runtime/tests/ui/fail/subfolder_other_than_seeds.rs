static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/subfolder_other_than_seeds");

fn main() {}
