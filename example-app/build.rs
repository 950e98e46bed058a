fn main() {
    // Rebuild when a migration or seed is added or removed (edits are tracked by the macro).
    schema_runtime::build::track("../migrations");
}
