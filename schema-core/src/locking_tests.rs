use super::*;

const USERS: &str = "CREATE TABLE public.users (id bigint PRIMARY KEY, name text, email varchar(50));\nCREATE INDEX users_name ON users (name);\n";

/// The rules each statement of `new` breaks, after `USERS` was migrated.
fn rules(new: &str) -> Vec<(&'static str, usize, String)> {
    let found = judge_folder([(USERS, false), (new, true)]);
    found
        .into_iter()
        .flat_map(|(_, f)| f)
        .map(|l| (l.rule.name, l.line, l.table))
        .collect()
}

fn names(new: &str) -> Vec<&'static str> {
    rules(new).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn every_rule_has_a_flagging_statement_and_a_safe_one() {
    for (rule, bad, good) in [
        (
            "create-index",
            "CREATE INDEX i ON users (email);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);",
        ),
        (
            "create-index",
            "CREATE UNIQUE INDEX ON ONLY \"users\" (email);",
            "CREATE INDEX i ON other (x);",
        ),
        (
            "drop-index",
            "DROP INDEX users_name;",
            "DROP INDEX CONCURRENTLY IF EXISTS users_name;",
        ),
        (
            "add-column-not-null",
            "ALTER TABLE users ADD COLUMN age int NOT NULL;",
            "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;",
        ),
        (
            "add-column-volatile-default",
            "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE users ADD COLUMN at timestamptz DEFAULT now();",
        ),
        (
            "add-column-volatile-default",
            "ALTER TABLE users ADD COLUMN n bigserial;",
            "ALTER TABLE users ADD COLUMN n bigint;",
        ),
        (
            "add-constraint-not-valid",
            "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES other (id);",
            "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES other (id) NOT VALID;",
        ),
        (
            "add-constraint-not-valid",
            "ALTER TABLE users ADD CHECK (id > 0);",
            "ALTER TABLE users VALIDATE CONSTRAINT c;",
        ),
        (
            "alter-column-type",
            "ALTER TABLE users ALTER COLUMN id TYPE int;",
            "ALTER TABLE users ALTER COLUMN email TYPE text;",
        ),
        (
            "alter-column-type",
            "ALTER TABLE users ALTER email SET DATA TYPE varchar(100);",
            "ALTER TABLE users ALTER email TYPE character varying;",
        ),
        (
            "set-not-null",
            "ALTER TABLE users ALTER COLUMN name SET NOT NULL;",
            "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;",
        ),
        (
            "add-unique-without-index",
            "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);",
            "ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX users_email;",
        ),
        (
            "add-unique-without-index",
            "ALTER TABLE users ADD PRIMARY KEY (id);",
            "ALTER TABLE users ADD CONSTRAINT p PRIMARY KEY USING INDEX i;",
        ),
        (
            "rename-table",
            "ALTER TABLE users RENAME TO people;",
            "ALTER TABLE users RENAME CONSTRAINT a TO b;",
        ),
        (
            "rename-column",
            "ALTER TABLE users RENAME COLUMN name TO full_name;",
            "ALTER TABLE users ADD COLUMN full_name text;",
        ),
        (
            "rename-column",
            "ALTER TABLE IF EXISTS ONLY users RENAME name TO full_name;",
            "ALTER TABLE users DROP COLUMN name;",
        ),
    ] {
        assert_eq!(names(bad), [rule], "{bad}");
        assert_eq!(names(good), [] as [&str; 0], "{good}");
    }
}

#[test]
fn a_table_created_in_the_same_file_is_exempt() {
    let sql = "CREATE TABLE orders (id int);\nCREATE INDEX o ON orders (id);\nALTER TABLE orders RENAME TO purchases;\nCREATE INDEX p ON purchases (id);\nALTER TABLE orders ADD COLUMN x int NOT NULL;";
    assert!(rules(sql).is_empty());
}

#[test]
fn names_compare_by_last_part_folded() {
    assert_eq!(
        names("CREATE INDEX i ON public.USERS (x);"),
        ["create-index"]
    );
    assert_eq!(names("CREATE INDEX i ON \"Users\" (x);"), [] as [&str; 0]);
}

#[test]
fn renames_and_drops_are_tracked_across_files() {
    let found = judge_folder([
        (USERS, false),
        ("ALTER TABLE users RENAME TO people;", false),
        (
            "CREATE INDEX a ON users (x);\nCREATE INDEX b ON people (x);",
            true,
        ),
        ("DROP TABLE people;", false),
        ("CREATE INDEX c ON people (x);", true),
    ]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 2);
    assert_eq!(found[0].1[0].line, 2);
    assert_eq!(found[0].1[0].table, "people");
}

#[test]
fn set_not_null_after_a_validated_check() {
    let found = judge_folder([
        (USERS, false),
        (
            "ALTER TABLE users ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID;",
            true,
        ),
        ("ALTER TABLE users ALTER COLUMN name SET NOT NULL;", true),
        ("ALTER TABLE users VALIDATE CONSTRAINT nn;", true),
        (
            "ALTER TABLE users ALTER COLUMN name SET NOT NULL, ALTER COLUMN id SET NOT NULL;",
            true,
        ),
    ]);
    let flagged: Vec<(usize, &str)> = found
        .iter()
        .flat_map(|(i, f)| f.iter().map(move |l| (*i, l.rule.name)))
        .collect();
    assert_eq!(flagged, [(2, "set-not-null"), (4, "set-not-null")]);
}

#[test]
fn each_action_of_an_alter_table_is_judged_on_its_line() {
    let sql = "ALTER TABLE users\n  ADD COLUMN a int,\n  ADD COLUMN b int NOT NULL,\n  ALTER COLUMN id TYPE int;";
    assert_eq!(
        rules(sql),
        [
            ("add-column-not-null", 3, "users".to_owned()),
            ("alter-column-type", 4, "users".to_owned())
        ]
    );
}

#[test]
fn the_message_names_the_line_rule_and_recipe() {
    let found = judge_folder([(USERS, false), ("\nCREATE INDEX i ON users (x);", true)]);
    assert_eq!(
        found[0].1[0].message(),
        "line 2: CREATE INDEX on users without CONCURRENTLY blocks writes to users while it builds; create it with CREATE INDEX CONCURRENTLY in a file of its own starting with -- schema: no-transaction, or acknowledge with -- schema: locks-tables"
    );
}

#[test]
fn every_rule_name_is_unique() {
    for (i, r) in RULES.iter().enumerate() {
        assert!(
            RULES[i + 1..].iter().all(|o| o.name != r.name),
            "{}",
            r.name
        );
    }
}
