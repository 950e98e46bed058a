static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!(
        "fixtures/destructive_statements_without_directive",
        dialects = "postgres, sqlite"
    );

fn main() {}
