static MIGRATIONS: schema_runtime::Migrations =
    schema_runtime::embed_migrations!("fixtures/directive_behind_bom_and_blank_lines");

fn main() {}
