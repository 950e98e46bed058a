static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!(42);

fn main() {}
