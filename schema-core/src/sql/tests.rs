//! The lexer and the splitter, dialect by dialect.

use super::*;
use crate::sql::literal_text;

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::Mysql;
const LITE: Dialect = Dialect::Sqlite;

fn words(sql: &str, dialect: Dialect) -> Vec<String> {
    tokenize(sql, dialect)
        .into_iter()
        .filter_map(|t| match t.kind {
            TokenKind::Word(w) => Some(w),
            _ => None,
        })
        .collect()
}

fn texts(sql: &str, dialect: Dialect) -> Vec<&str> {
    split_statements(sql, dialect)
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[test]
fn comments_and_quotes_hide_words_in_every_dialect() {
    for dialect in Dialect::ALL {
        assert_eq!(
            words(
                "select 'drop table' -- drop table\n /* drop table */ x",
                dialect
            ),
            ["SELECT", "X"],
            "{dialect}"
        );
        assert_eq!(words("select 'it''s' as x", dialect), ["SELECT", "AS", "X"]);
    }
    assert_eq!(
        words("select E'it\\'s drop', \"drop\" from t", PG),
        ["SELECT", "FROM", "T"]
    );
    assert_eq!(
        words("select $$ drop table x; $$, $body$ drop $$ x $body$ y", PG),
        ["SELECT", "Y"]
    );
    assert_eq!(words("select $1, a$b", PG), ["SELECT", "1", "A$B"]);
    assert_eq!(words("select `drop` from [drop]", LITE), ["SELECT", "FROM"]);
}

#[test]
fn block_comments_nest_only_on_postgres() {
    let sql = "/* note /* */ DROP TABLE users; /* */";
    assert!(words(sql, PG).is_empty());
    assert_eq!(words(sql, MY), ["DROP", "TABLE", "USERS"]);
    assert_eq!(words(sql, LITE), ["DROP", "TABLE", "USERS"]);
}

#[test]
fn mysql_reads_hash_comments_backslashes_and_executable_comments() {
    // `#` comments out the quote that would otherwise swallow the statement.
    assert_eq!(
        words("# it's\nDROP TABLE users; -- '", MY),
        ["DROP", "TABLE", "USERS"]
    );
    assert_eq!(words("# x\nSELECT 1", PG), ["X", "SELECT", "1"]);
    // A backslash escapes the quote, so the string ends one quote later.
    assert_eq!(
        words("SELECT 'it\\''; DROP TABLE users; -- '", MY),
        ["SELECT", "DROP", "TABLE", "USERS"]
    );
    assert_eq!(words("SELECT \"a\\\"b\" x", MY), ["SELECT", "X"]);
    // What the server runs from an executable comment is code.
    assert_eq!(
        words("/*!50000 DROP TABLE users */ SELECT 1", MY),
        ["DROP", "TABLE", "USERS", "SELECT", "1"]
    );
    assert_eq!(
        words("/*M!100100 DROP TABLE t */", MY),
        ["DROP", "TABLE", "T"]
    );
    assert_eq!(words("/*+ hint DROP */ SELECT 1", MY), ["SELECT", "1"]);
    // `--` needs a space after it on MySQL.
    assert_eq!(
        words("SELECT 1--1 AS x", MY),
        ["SELECT", "1", "1", "AS", "X"]
    );
}

#[test]
fn sqlite_has_no_backslash_escapes() {
    assert_eq!(
        words("SELECT 'a\\'; DROP TABLE users; -- '", LITE),
        ["SELECT", "DROP", "TABLE", "USERS"]
    );
}

#[test]
fn lines_are_counted_through_comments_and_strings() {
    for dialect in Dialect::ALL {
        let tokens = tokenize("/* a\nb */ 'x\ny'\nselect", dialect);
        assert_eq!(tokens.last().unwrap().line, 4, "{dialect}");
    }
    let tokens = tokenize("/*! a\nb */\nselect", MY);
    assert_eq!(tokens.last().unwrap().line, 3);
}

#[test]
fn literals_read_as_their_server_reads_them() {
    let read = |sql: &str, dialect| {
        let token = tokenize(sql, dialect)
            .into_iter()
            .find(|t| t.kind == TokenKind::Literal)
            .unwrap();
        literal_text(sql, &token, dialect)
    };
    assert_eq!(read("x 'a''b'", PG), "a'b");
    assert_eq!(read("x E'a\\'b'", PG), "a'b");
    assert_eq!(read("x $f$ body $f$", PG), " body ");
    // Unterminated, the body runs to the end (no closing tag to cut, whatever the text).
    assert_eq!(read("x $$\u{e9}'", PG), "\u{e9}'");
    assert_eq!(read("x $f$ a $", PG), " a $");
    assert_eq!(read("x $$$$", PG), "");
    assert_eq!(read("x 'a\\'b'", MY), "a'b");
    assert_eq!(read("x 'a\\'", LITE), "a\\");
}

#[test]
fn splits_on_top_level_semicolons_only() {
    let sql = "create table a (x int);\n\ninsert into a values (';');\n;\n-- end";
    for dialect in Dialect::ALL {
        let statements = split_statements(sql, dialect);
        let texts: Vec<_> = statements.iter().map(|s| s.text).collect();
        assert_eq!(
            texts,
            ["create table a (x int)", "insert into a values (';')"]
        );
        assert_eq!(statements[1].line, 3);
    }
}

#[test]
fn trigger_bodies_stay_whole() {
    let sql = "CREATE TRIGGER t AFTER DELETE ON a BEGIN DELETE FROM b; UPDATE c SET x = CASE WHEN 1 THEN 2 END; END;\nSELECT 1;";
    let statements = split_statements(sql, LITE);
    assert_eq!(statements.len(), 2);
    assert!(statements[0].is_routine_definition());
    assert_eq!(statements[1].text, "SELECT 1");
}

#[test]
fn mysql_compound_statements_close_one_block_each() {
    let sql = "CREATE PROCEDURE p() BEGIN\n  CASE 1 WHEN 1 THEN SELECT 1; END CASE;\n  IF (x > 1) THEN SET y = IF(x, 1, 2); END IF;\n  l: LOOP LEAVE l; END LOOP;\n  WHILE x DO SET x = 0; END WHILE;\n  REPEAT SET x = 1; UNTIL x END REPEAT;\n  CREATE TABLE IF NOT EXISTS t (a int);\nEND;\nDROP TABLE users;";
    let texts = texts(sql, MY);
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert_eq!(texts[1], "DROP TABLE users");
}

#[test]
fn begin_transaction_is_not_a_body() {
    for dialect in Dialect::ALL {
        assert_eq!(
            split_statements("BEGIN; SELECT 1; COMMIT;", dialect).len(),
            3
        );
    }
}

#[test]
fn only_comments_has_no_sql() {
    for dialect in Dialect::ALL {
        assert!(!has_sql("-- nothing\n/* here */\n;\n", dialect));
        assert!(!has_sql("\u{feff}-- nothing\r\n", dialect));
        assert!(has_sql("-- one\nselect 1", dialect));
    }
    assert!(!has_sql("# nothing", MY));
}

#[test]
fn a_leading_bom_is_not_part_of_the_first_word() {
    assert_eq!(words("\u{feff}DROP TABLE x", PG), ["DROP", "TABLE", "X"]);
    let statements = split_statements("\u{feff}DROP TABLE x;", LITE);
    assert_eq!(statements[0].text, "DROP TABLE x");
}

#[test]
fn unterminated_text_runs_to_the_end_without_panicking() {
    for dialect in Dialect::ALL {
        for sql in [
            "'",
            "\"",
            "`",
            "[",
            "/*",
            "/*!",
            "$a$",
            "E'",
            "'\\",
            "--",
            "#",
            "x'\u{e9}",
            "/*! */ */",
            "$",
            "$$",
            "\u{feff}",
        ] {
            let tokens = tokenize(sql, dialect);
            for token in &tokens {
                assert!(
                    token.start <= token.end && token.end <= sql.len(),
                    "{sql:?}"
                );
                assert!(sql.is_char_boundary(token.start) && sql.is_char_boundary(token.end));
            }
            let _ = split_statements(sql, dialect);
        }
    }
}
