use schema_runtime::rules::Checksum;

static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/amended_lock_accepted");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 2);
    assert!(migrations[0].amendments().is_empty());
    let amendments = migrations[1].amendments();
    assert_eq!(amendments.len(), 1);
    assert_eq!(amendments[0].reason(), "document the column");
    assert_eq!(
        amendments[0].from(),
        Checksum::of_file(b"ALTER TABLE users ADD COLUMN email TEXT;\n")
    );
    assert_ne!(amendments[0].from(), migrations[1].checksum());
}
