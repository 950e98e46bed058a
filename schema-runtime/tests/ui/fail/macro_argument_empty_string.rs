static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!("");

fn main() {}
