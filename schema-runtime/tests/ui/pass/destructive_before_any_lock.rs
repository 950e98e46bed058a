static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/destructive_before_any_lock");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 2);
    assert_eq!(migrations[1].sql(), "DROP TABLE legacy_users;\n");
    assert!(!migrations[1].is_destructive());
}
