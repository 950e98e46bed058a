static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locking_safe", dialects = "postgres");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 6);
    assert!(!migrations[2].transaction());
}
