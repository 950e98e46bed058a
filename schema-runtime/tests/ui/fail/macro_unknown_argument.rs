static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/unknown_dialect", chek = false);

fn main() {}
