//! The lint's rules, and every way around them that a reader could try.

use super::*;

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::Mysql;
const LITE: Dialect = Dialect::Sqlite;

fn kinds(sql: &str, dialect: Dialect) -> Vec<&'static str> {
    find_destructive(sql, dialect)
        .into_iter()
        .map(|d| d.kind)
        .collect()
}

#[test]
fn finds_each_kind() {
    for dialect in Dialect::ALL {
        assert_eq!(kinds("DROP TABLE users;", dialect), ["DROP TABLE"]);
        assert_eq!(kinds("drop table if exists users", dialect), ["DROP TABLE"]);
        assert_eq!(
            kinds("ALTER TABLE users DROP COLUMN email;", dialect),
            ["DROP COLUMN"]
        );
        assert_eq!(
            kinds("ALTER TABLE users DROP email;", dialect),
            ["DROP COLUMN"]
        );
        assert_eq!(
            kinds(
                "ALTER TABLE users ADD x int, DROP COLUMN IF EXISTS y;",
                dialect
            ),
            ["DROP COLUMN"]
        );
        assert_eq!(
            kinds("DELETE FROM sessions;", dialect),
            ["DELETE without WHERE"]
        );
    }
    assert_eq!(kinds("DROP SCHEMA app CASCADE;", PG), ["DROP SCHEMA"]);
    assert_eq!(kinds("DROP DATABASE app;", MY), ["DROP DATABASE"]);
    assert_eq!(
        kinds("ALTER TABLE t DROP PARTITION p1;", MY),
        ["ALTER TABLE … DROP PARTITION"]
    );
    assert_eq!(
        kinds("ALTER TABLE t TRUNCATE PARTITION p1;", MY),
        ["ALTER TABLE … TRUNCATE PARTITION"]
    );
    assert_eq!(kinds("TRUNCATE sessions;", PG), ["TRUNCATE"]);
}

#[test]
fn closes_the_bypasses_of_one_lexer_for_every_dialect() {
    // Comments do not nest on SQLite and MySQL.
    let nested = "/* note /* */ DROP TABLE users; /* */";
    assert_eq!(kinds(nested, LITE), ["DROP TABLE"]);
    assert_eq!(kinds(nested, MY), ["DROP TABLE"]);
    assert!(kinds(nested, PG).is_empty(), "PostgreSQL does nest them");
    // MySQL: `#` comments, backslash escapes, executable comments.
    assert_eq!(kinds("# '\nDROP TABLE users; -- '", MY), ["DROP TABLE"]);
    assert_eq!(
        kinds("SELECT 'it\\''; DROP TABLE users; -- '", MY),
        ["DROP TABLE"]
    );
    assert_eq!(kinds("/*!50000 DROP TABLE users */;", MY), ["DROP TABLE"]);
    // `END CASE` closes one block: the next statement is not swallowed by the body.
    let procedure =
        "CREATE PROCEDURE p() BEGIN CASE 1 WHEN 1 THEN SELECT 1; END CASE; END;\nDROP TABLE users;";
    assert_eq!(kinds(procedure, MY), ["DROP TABLE"]);
}

#[test]
fn finds_what_runs_inside_other_statements() {
    assert_eq!(
        kinds(
            "WITH d AS (DELETE FROM users RETURNING 1) SELECT count(*) FROM d;",
            PG
        ),
        ["DELETE without WHERE"]
    );
    assert_eq!(
        kinds("WITH old AS (SELECT 1) DELETE FROM users;", PG),
        ["DELETE without WHERE"]
    );
    // A WHERE inside a subquery filters the subquery, not the DELETE.
    assert_eq!(
        kinds("DELETE FROM users USING (SELECT id FROM a WHERE x) s;", PG),
        ["DELETE without WHERE"]
    );
    assert!(kinds("DELETE FROM users WHERE id IN (SELECT id FROM a);", PG).is_empty());
    assert_eq!(kinds("DROP TYPE mood CASCADE;", PG), ["DROP … CASCADE"]);
    assert!(kinds("DROP TYPE mood;", PG).is_empty());
    assert_eq!(kinds("DROP OWNED BY app;", PG), ["DROP OWNED"]);
    assert_eq!(
        kinds("REPLACE INTO users VALUES (1);", MY),
        ["REPLACE INTO"]
    );
    assert_eq!(
        kinds("PREPARE p AS DELETE FROM users;", PG),
        ["DELETE without WHERE"]
    );
}

#[test]
fn reads_do_blocks_and_dynamic_sql() {
    let found = find_destructive(
        "SELECT 1;\nDO $$\nBEGIN\n  EXECUTE 'DROP TABLE users';\nEND $$;",
        PG,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, "DROP TABLE");
    assert_eq!(found[0].within, Some("dynamic SQL"));
    assert_eq!(found[0].line, 4);
    // A DO block's own statements run now.
    let found = find_destructive("DO $$ BEGIN\n DELETE FROM users; END $$;", PG);
    assert_eq!(found[0].kind, "DELETE without WHERE");
    assert_eq!(found[0].within, Some("a DO block"));
    assert_eq!(found[0].line, 2);
    // SQL assembled by format() or concatenation.
    assert_eq!(
        kinds(
            "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'users'); END $$;",
            PG
        ),
        ["DROP TABLE"]
    );
    assert_eq!(
        kinds("DO $$ BEGIN EXECUTE 'DROP ' || 'TABLE users'; END $$;", PG),
        ["DROP TABLE"]
    );
    // In a routine, what EXECUTE runs counts; its own statements run later.
    let routine = "CREATE FUNCTION purge() RETURNS void AS $$ BEGIN EXECUTE 'TRUNCATE sessions'; END $$ LANGUAGE plpgsql;";
    assert_eq!(kinds(routine, PG), ["TRUNCATE"]);
    // MySQL prepares from literals or variables.
    assert_eq!(
        kinds(
            "SET @s = 'DROP TABLE users';\nPREPARE s FROM @s;\nEXECUTE s;",
            MY
        ),
        ["DROP TABLE"]
    );
    assert_eq!(
        kinds(
            "CREATE PROCEDURE p() BEGIN PREPARE s FROM 'DROP TABLE users'; EXECUTE s; END;",
            MY
        ),
        ["DROP TABLE"]
    );
}

#[test]
fn a_bom_does_not_hide_the_first_statement() {
    assert_eq!(kinds("\u{feff}DROP TABLE users;\r\n", LITE), ["DROP TABLE"]);
}

#[test]
fn leaves_what_loses_no_data() {
    for dialect in Dialect::ALL {
        for sql in [
            "DROP INDEX users_email;",
            "DROP VIEW active_users;",
            "DROP TRIGGER t;",
            "DROP TEMPORARY TABLE scratch;",
            "ALTER TABLE users DROP CONSTRAINT users_email_key;",
            "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
            "ALTER TABLE users ALTER email DROP DEFAULT;",
            "ALTER TABLE users DROP PRIMARY KEY;",
            "DELETE FROM sessions WHERE expires_at < now();",
            "UPDATE users SET active = true;",
            "-- DROP TABLE users;\nSELECT 'DROP TABLE users';",
            "CREATE TRIGGER cascade AFTER DELETE ON users BEGIN DELETE FROM posts; END;",
            "INSERT INTO notes (body) VALUES ('DELETE FROM users');",
        ] {
            assert_eq!(kinds(sql, dialect), Vec::<&str>::new(), "{dialect}: {sql}");
        }
    }
    for sql in [
        "CREATE FUNCTION purge() RETURNS void AS $$ DELETE FROM sessions; $$ LANGUAGE sql;",
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN EXECUTE 'SELECT 1'; RETURN NEW; END $$ LANGUAGE plpgsql;",
        "DO $$ BEGIN DELETE FROM sessions WHERE expired; END $$;",
        "CREATE INDEX CONCURRENTLY a ON t (x);",
        "EXECUTE my_plan(1);",
    ] {
        assert_eq!(kinds(sql, PG), Vec::<&str>::new(), "{sql}");
    }
    assert!(kinds("REPLACE INTO t VALUES (1);", LITE).is_empty());
    assert!(kinds("SELECT REPLACE(name, 'a', 'b') FROM t;", MY).is_empty());
}

#[test]
fn reports_line_why_and_excerpt() {
    let found = find_destructive(
        "CREATE TABLE a (x int);\n\nDROP TABLE legacy_accounts_with_a_rather_long_name_that_goes_on_and_on_and_on;",
        PG,
    );
    assert_eq!(found[0].line, 3);
    assert!(found[0].excerpt.ends_with('…'));
    let text = found[0].to_string();
    assert!(
        text.starts_with("DROP TABLE at line 3: `DROP TABLE legacy"),
        "{text}"
    );
    assert!(
        text.ends_with("(removes the table and every row in it)"),
        "{text}"
    );
}

#[test]
fn several_dialects_name_the_one_that_reads_it_so() {
    let found = find_destructive_in("/* a /* b */ DROP TABLE users; /* */", &[PG, LITE]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, [LITE]);
}

#[test]
fn a_temporary_table_the_file_created_is_scratch() {
    // Found in real histories (Lemmy, OpenMeter): a temporary table built and dropped
    // by the migration holds no data from before it, as `DROP TEMPORARY TABLE` does not.
    for dialect in Dialect::ALL {
        let scratch =
            "CREATE TEMPORARY TABLE scratch AS SELECT id FROM users;\nDROP TABLE scratch;";
        assert!(kinds(scratch, dialect).is_empty(), "{dialect}");
    }
    assert!(
        kinds(
            "CREATE TEMP TABLE m (a int); DROP TABLE IF EXISTS m CASCADE;",
            PG
        )
        .is_empty()
    );
    assert!(kinds("CREATE TEMP TABLE \"M\" (a int); DROP TABLE \"M\";", PG).is_empty());
    assert!(
        kinds(
            "CREATE LOCAL TEMP TABLE a (x int); CREATE TEMP TABLE b (x int); DROP TABLE b, a;",
            PG
        )
        .is_empty()
    );
    for (sql, why) in [
        (
            "DROP TABLE IF EXISTS s; CREATE TEMP TABLE s (a int);",
            "dropped before it is created",
        ),
        (
            "CREATE TEMP TABLE s (a int); DROP TABLE s; DROP TABLE s;",
            "the second drop reaches the permanent table",
        ),
        (
            "CREATE TEMP TABLE s (a int); DROP TABLE s, users;",
            "one of the tables is not scratch",
        ),
        (
            "CREATE TEMP TABLE s (a int); DROP TABLE public.s;",
            "another table",
        ),
        (
            "CREATE TEMP TABLE \"S\" (a int); DROP TABLE s;",
            "another name, to PostgreSQL",
        ),
        (
            "CREATE TABLE s (a int); DROP TABLE s;",
            "a permanent table: the lint does not follow renames",
        ),
        (
            "CREATE TEMP TABLE s (a int); ALTER TABLE s RENAME TO t; ALTER TABLE users RENAME TO s; DROP TABLE s;",
            "renamed away: the name is the permanent table's again",
        ),
        (
            "CREATE FUNCTION f() RETURNS void AS $$ CREATE TEMP TABLE s (a int); $$ LANGUAGE sql; DROP TABLE s;",
            "created when called, not now",
        ),
    ] {
        assert_eq!(kinds(sql, PG), ["DROP TABLE"], "{why}: {sql}");
    }
}
