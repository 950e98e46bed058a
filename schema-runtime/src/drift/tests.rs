use super::*;

fn fp(objects: &[(&str, &str, &str, &str)]) -> Fingerprint {
    Fingerprint::from_objects(objects.iter().copied())
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
    let text: Vec<String> = recorded
        .compare(&live)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
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
fn whitespace_does_not_count_and_the_stored_form_round_trips() {
    let a = fp(&[("index", "t", "i", "CREATE  INDEX i\n ON t (a)")]);
    let b = fp(&[("index", "t", "i", "CREATE INDEX i ON t (a)")]);
    assert!(a.compare(&b).is_empty());
    let odd = fp(&[("column", "t", "a\tb", "TEXT DEFAULT 'x\\y\nz'")]);
    let text = odd.render(Some(Version::new(42)), "2026-01-01T00:00:00Z");
    let (back, after, at) = Fingerprint::parse(&text).unwrap();
    assert_eq!(back, odd);
    assert_eq!(after, Some(Version::new(42)));
    assert_eq!(at, "2026-01-01T00:00:00Z");
    assert!(Fingerprint::parse("something else").is_none());
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
    let still: Vec<String> = next
        .compare(&after)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        still,
        ["table scratch exists in the database but no migration created it"]
    );
}
