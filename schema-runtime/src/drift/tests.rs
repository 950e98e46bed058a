use super::catalog::{CHECKS_IN, sqlite_checks};
use super::*;

fn fp(objects: &[(&str, &str, &str, &str)]) -> Fingerprint {
    Fingerprint::from_objects(objects.iter().copied())
}

fn texts(differences: &[Difference]) -> Vec<String> {
    differences.iter().map(ToString::to_string).collect()
}

#[test]
fn differences_name_the_object_and_what_changed() {
    let recorded = fp(&[
        ("column", "users", "id", "INTEGER PRIMARY KEY 1"),
        ("column", "users", "name", "TEXT NOT NULL"),
        (
            "index",
            "users",
            "users_name",
            "CREATE INDEX users_name ON users (name)",
        ),
        ("column", "posts", "id", "INTEGER"),
    ]);
    let live = fp(&[
        ("column", "users", "id", "INTEGER PRIMARY KEY 1"),
        ("column", "users", "name", "TEXT"),
        ("column", "users", "nickname", "TEXT"),
        ("column", "audit", "id", "INTEGER"),
        ("column", "audit", "at", "TEXT"),
    ]);
    assert_eq!(
        texts(&recorded.compare(&live)),
        [
            "table audit exists in the database but no migration created it",
            "table posts was created by the migrations but is not in the database",
            "column users.name differs: the migrations left `TEXT NOT NULL`, the database has `TEXT`",
            "index users.users_name was created by the migrations but is not in the database",
            "column users.nickname exists in the database but no migration created it",
        ]
    );
    assert!(live.compare(&live).is_empty());
}

#[test]
fn objects_of_the_schema_are_named_by_kind_and_name() {
    let recorded = fp(&[
        ("column", "users", "id", "integer"),
        ("view", "", "active_users", "SELECT id FROM users"),
        ("enum type", "", "mood", "'happy', 'sad'"),
        ("function", "", "refresh_totals(integer)", "md5 aaaa"),
        ("sequence", "", "invoice_numbers", "bigint INCREMENT 1"),
        ("check", "users", "id_positive", "CHECK ((id > 0))"),
    ]);
    let live = fp(&[
        ("column", "users", "id", "integer"),
        ("enum type", "", "mood", "'happy', 'sad', 'meh'"),
        ("function", "", "refresh_totals(integer)", "md5 bbbb"),
        ("sequence", "", "invoice_numbers", "bigint INCREMENT 10"),
        ("trigger", "users", "touch", "CREATE TRIGGER touch …"),
        ("check", "users", "id_positive", "CHECK ((id > 0))"),
        // A hand-made table brings its triggers and CHECKs: one difference.
        ("column", "scratch", "x", "text"),
        ("check", "scratch", "x_set", "CHECK ((x <> ''))"),
        ("trigger", "scratch", "t", "CREATE TRIGGER t …"),
    ]);
    assert_eq!(
        texts(&recorded.compare(&live)),
        [
            "table scratch exists in the database but no migration created it",
            "enum type mood has value 'meh' in the database that no migration added",
            "function refresh_totals(integer) differs from what the migrations left (the hash of its definition changed)",
            "sequence invoice_numbers differs: the migrations left `bigint INCREMENT 1`, the database has `bigint INCREMENT 10`",
            "view active_users was created by the migrations but is not in the database",
            "trigger users.touch exists in the database but no migration created it",
        ]
    );
}

#[test]
fn an_enum_type_says_which_values_came_went_or_moved() {
    let change = |was: &str, now: &str| {
        Difference::Changed(
            Object {
                kind: "enum type".into(),
                table: String::new(),
                name: "mood".into(),
            },
            was.into(),
            now.into(),
        )
        .to_string()
    };
    assert_eq!(
        change("'a', 'b'", "'a', 'x', 'b', 'it''s'"),
        "enum type mood has values 'x', 'it''s' in the database that no migration added"
    );
    assert_eq!(
        change("'a', 'b'", "'a', 'c'"),
        "enum type mood has value 'c' in the database that no migration added and lacks value 'b' that the migrations made"
    );
    assert_eq!(
        change("'a', 'b'", "'b', 'a'"),
        "enum type mood has its values in another order: the migrations left 'a', 'b', the database has 'b', 'a'"
    );
}

#[test]
fn whitespace_does_not_count_and_the_stored_form_round_trips() {
    let a = fp(&[("index", "t", "i", "CREATE  INDEX i\n ON t (a)")]);
    let b = fp(&[("index", "t", "i", "CREATE INDEX i ON t (a)")]);
    assert!(a.compare(&b).is_empty());
    let odd = fp(&[
        ("column", "t", "a\tb", "TEXT DEFAULT 'x\\y\nz'"),
        ("view", "", "v", "SELECT 1"),
    ]);
    let text = odd.render(Some(Version::new(42)), "2026-01-01T00:00:00Z");
    assert!(text.starts_with("schema-fingerprint 2\n"), "{text}");
    let (back, after, at) = Fingerprint::parse(&text).unwrap();
    assert_eq!(back, odd);
    assert_eq!(after, Some(Version::new(42)));
    assert_eq!(at, "2026-01-01T00:00:00Z");
    assert!(Fingerprint::parse("something else").is_none());
    assert!(Fingerprint::parse("schema-fingerprint 3\nafter none\nat x\n").is_none());
}

/// A fingerprint recorded by the first format (tables only) as PostgreSQL's catalog
/// query of that version wrote it.
const POSTGRES_1: &str = "schema-fingerprint 1\nafter 3\nat 2026-01-01T00:00:00Z\n\
column\tschema_meta\tkey_name\ttext NOT NULL\n\
constraint\tschema_meta\tschema_meta_pkey\tPRIMARY KEY (key_name)\n\
column\tusers\tid\tinteger NOT NULL\n\
constraint\tusers\tid_positive\tCHECK ((id > 0))\n";

/// The same from MySQL's, which read no CHECKs (nor constraints at all).
const MYSQL_1: &str = "schema-fingerprint 1\nafter 3\nat 2026-01-01T00:00:00Z\n\
column\tschema_meta\tkey_name\tvarchar(64) NOT NULL\n\
column\tusers\tid\tint(11) NOT NULL\n";

#[test]
fn a_fingerprint_of_the_first_format_compares_only_what_it_read() {
    let live = fp(&[
        ("column", "schema_meta", "key_name", "text NOT NULL"),
        (
            "constraint",
            "schema_meta",
            "schema_meta_pkey",
            "PRIMARY KEY (key_name)",
        ),
        ("column", "users", "id", "integer NOT NULL"),
        ("check", "users", "id_positive", "CHECK ((id > 0))"),
        ("view", "", "active_users", "SELECT id FROM users"),
        ("trigger", "users", "touch", "CREATE TRIGGER touch …"),
        ("enum type", "", "mood", "'happy'"),
    ]);
    assert_eq!(compare_recorded(POSTGRES_1, &live, &[]), None);
    // PostgreSQL's CHECKs were read then, under another kind: one made since is drift.
    let mut with_check: Vec<(Object, String)> = live
        .objects()
        .map(|(o, d)| (o.clone(), d.to_owned()))
        .collect();
    with_check.push((
        Object {
            kind: "check".into(),
            table: "users".into(),
            name: "by_hand".into(),
        },
        "CHECK ((id < 10))".into(),
    ));
    let with_check = Fingerprint::from_objects(
        with_check
            .iter()
            .map(|(o, d)| (o.kind.as_str(), o.table.as_str(), o.name.as_str(), d)),
    );
    let drift = compare_recorded(POSTGRES_1, &with_check, &[]).unwrap();
    assert_eq!(
        texts(&drift.differences),
        ["check users.by_hand exists in the database but no migration created it"]
    );

    // MySQL's first format never read CHECKs: none is drift, a new column still is.
    let live = fp(&[
        ("column", "schema_meta", "key_name", "varchar(64) NOT NULL"),
        ("column", "users", "id", "int(11) NOT NULL"),
        ("column", "users", "nickname", "text"),
        ("check", "users", "id_positive", "CHECK (`id` > 0)"),
        ("function", "", "total()", "md5 aaaa"),
    ]);
    let drift = compare_recorded(MYSQL_1, &live, &[]).unwrap();
    assert_eq!(
        texts(&drift.differences),
        ["column users.nickname exists in the database but no migration created it"]
    );
}

#[test]
fn a_run_over_a_first_format_fingerprint_records_the_new_kinds_as_they_are() {
    let (recorded, _, _) = Fingerprint::parse(MYSQL_1).unwrap();
    let live = fp(&[
        ("column", "schema_meta", "key_name", "varchar(64) NOT NULL"),
        ("column", "users", "id", "int(11) NOT NULL"),
        ("column", "users", "nickname", "text"),
        ("view", "", "v", "select 1"),
    ]);
    let next = recorded.carry_over(&live, &live);
    // The view is taken as it is; the hand-made column stays drift.
    assert_eq!(
        texts(&next.compare(&live)),
        ["column users.nickname exists in the database but no migration created it"]
    );
    let text = next.render(None, "2026-01-02T00:00:00Z");
    let (again, _, _) = Fingerprint::parse(&text).unwrap();
    let gone = fp(&[
        ("column", "schema_meta", "key_name", "varchar(64) NOT NULL"),
        ("column", "users", "id", "int(11) NOT NULL"),
    ]);
    assert_eq!(
        texts(&again.compare(&gone)),
        ["view v was created by the migrations but is not in the database"]
    );
}

#[test]
fn a_run_over_drift_keeps_the_drift_and_takes_its_own_changes() {
    let recorded = fp(&[("column", "users", "id", "INTEGER")]);
    // By hand: a column added, and a table.
    let before = fp(&[
        ("column", "users", "id", "INTEGER"),
        ("column", "users", "nickname", "TEXT"),
        ("column", "scratch", "x", "TEXT"),
    ]);
    // The run's migration adds users.email and changes the hand-made column.
    let after = fp(&[
        ("column", "users", "id", "INTEGER"),
        ("column", "users", "nickname", "TEXT NOT NULL"),
        ("column", "users", "email", "TEXT"),
        ("column", "scratch", "x", "TEXT"),
    ]);
    let next = recorded.carry_over(&before, &after);
    assert_eq!(
        next,
        fp(&[
            ("column", "users", "id", "INTEGER"),
            ("column", "users", "nickname", "TEXT NOT NULL"),
            ("column", "users", "email", "TEXT"),
        ])
    );
    assert_eq!(
        texts(&next.compare(&after)),
        ["table scratch exists in the database but no migration created it"]
    );
}

#[test]
fn sqlite_checks_are_read_from_the_table_text() {
    let sql = "CREATE TABLE t (\n\
        id INTEGER PRIMARY KEY,\n\
        amount INTEGER CHECK (amount > 0), -- CHECK (in a comment)\n\
        note TEXT DEFAULT 'CHECK (in a string)' /* CHECK (x) */,\n\
        \"check me\" TEXT,\n\
        CONSTRAINT \"small \"\"enough\"\"\" CHECK ( (amount <  10) AND note <> ')' ),\n\
        constraint [tidy] check(length(note) < 5)\n\
    )";
    assert_eq!(
        sqlite_checks(sql),
        [
            ("(amount > 0)".to_owned(), "CHECK (amount > 0)".to_owned()),
            (
                "small \"enough\"".to_owned(),
                "CHECK ((amount < 10) AND note <> ')')".to_owned()
            ),
            ("tidy".to_owned(), "CHECK (length(note) < 5)".to_owned()),
        ]
    );
    assert!(sqlite_checks("CREATE TABLE t (a CHECK").is_empty());
    let fingerprint = Fingerprint::from_rows(vec![vec![
        Some(CHECKS_IN.to_owned()),
        Some("t".to_owned()),
        Some(String::new()),
        Some(sql.to_owned()),
    ]]);
    assert_eq!(
        fingerprint
            .objects()
            .map(|(o, _)| o.to_string())
            .collect::<Vec<_>>(),
        [
            "check t(amount > 0)",
            "check t.small \"enough\"",
            "check t.tidy"
        ]
    );
}
