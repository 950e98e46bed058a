fn main() {
    schema_runtime::build::track("fixtures");
}
