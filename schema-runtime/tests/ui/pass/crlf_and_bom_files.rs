use schema_runtime::rules::Checksum;

static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/crlf_and_bom_files");

fn main() {
    let migrations = MIGRATIONS.migrations();
    assert_eq!(migrations.len(), 2);
    // The BOM never reaches the database, and the checksum is the LF text's.
    let create = &migrations[0];
    assert!(create.sql().starts_with("CREATE TABLE"));
    assert_eq!(
        create.checksum(),
        Checksum::of_file(b"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n")
    );
    // A directive behind a BOM, on a CRLF line, still counts.
    assert!(!migrations[1].transaction());
}
