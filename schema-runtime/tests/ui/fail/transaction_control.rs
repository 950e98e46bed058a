static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/transaction_control", dialects = "postgres, sqlite");

fn main() {}
