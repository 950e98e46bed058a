static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/subfolder_inside_seeds");

fn main() {}
