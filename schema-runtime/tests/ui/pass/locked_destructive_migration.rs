static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/locked_destructive_migration");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 3);
    assert_eq!(migrations[1].name(), "drop_legacy");
    assert!(!migrations[1].is_destructive());
}
