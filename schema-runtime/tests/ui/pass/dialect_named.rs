static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/dialect_named", dialects = "postgres");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 3);
    assert!(!migrations[2].transaction());
}
