static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/destructive_acknowledged");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 2);
    assert!(migrations[1].is_destructive());
    assert!(migrations[1].transaction());
}
