use schema_runtime::Migrations;

static MIGRATIONS: Migrations = schema_runtime::embed_migrations!("../migrations");

fn main() {
    for migration in MIGRATIONS.migrations() {
        println!(
            "{} {} {}",
            migration.version(),
            migration.name(),
            migration.checksum()
        );
    }
}
