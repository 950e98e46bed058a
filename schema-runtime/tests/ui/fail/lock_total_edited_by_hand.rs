static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/lock_total_edited_by_hand");

fn main() {}
