use schema_runtime::Version;

static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/good_folder");

fn main() {
    let migrations = MIGRATIONS.migrations();
    let versions: Vec<u64> = migrations.iter().map(|m| m.version().get()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(MIGRATIONS.display(), "fixtures/good_folder");

    let create = &migrations[0];
    assert_eq!(create.name(), "create_users");
    assert_eq!(create.path(), "fixtures/good_folder/0001_create_users.sql");
    assert!(create.sql().starts_with("CREATE TABLE users"));
    assert_eq!(create.down().unwrap().sql(), "DROP TABLE users;\n");
    assert!(create.transaction() && !create.is_destructive());

    let add_email = MIGRATIONS.get(Version::new(2)).unwrap();
    assert_eq!(
        add_email.path(),
        "fixtures/good_folder/0002_add_email.up.sql"
    );
    assert_eq!(
        add_email.down().unwrap().path(),
        "fixtures/good_folder/0002_add_email.down.sql"
    );

    let index = &migrations[2];
    assert!(!index.transaction() && !index.is_destructive());
    assert!(index.down().is_none());

    let drop = &migrations[3];
    assert!(!drop.transaction() && drop.is_destructive());

    let seeds = MIGRATIONS.seeds();
    assert_eq!(seeds.len(), 1);
    assert_eq!(seeds[0].name(), "demo_users");
    assert_eq!(
        seeds[0].path(),
        "fixtures/good_folder/seeds/0001_demo_users.sql"
    );
}
