static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/lock_with_unparsable_line");

fn main() {}
