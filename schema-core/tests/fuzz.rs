//! A bounded fuzz run of the lexer, the splitter and the rules over them: text made of
//! the pieces that change how SQL is read (quotes, comments, dollar tags, escapes, block
//! words) in any order, for every dialect. Nothing may panic or hang, every token is a
//! slice of the input in order, and the statements with what lies between them give
//! back the input, with no SQL in what lies between.

use proptest::prelude::*;
use schema_core::Dialect;
use schema_core::lint::find_destructive;
use schema_core::sql::{TokenKind, has_sql, split_statements, tokenize};
use schema_core::transaction::find_transaction_control;

const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "[",
    "]",
    "$",
    "$$",
    "$a$",
    "--",
    "-- ",
    "#",
    "/*",
    "*/",
    "/*!",
    "/*!50000",
    "/*M!",
    "\\",
    "\\'",
    "''",
    ";",
    "\n",
    "\r\n",
    " ",
    "\t",
    "E'",
    "e'",
    "BEGIN",
    "END",
    "CASE",
    "IF",
    "LOOP",
    "WHILE",
    "REPEAT",
    "THEN",
    ":",
    "CREATE PROCEDURE p() ",
    "CREATE TRIGGER t ",
    "CREATE FUNCTION f() ",
    "DO ",
    "DROP TABLE t",
    "DELETE FROM t",
    "WHERE",
    "WITH d AS (",
    "(",
    ")",
    "EXECUTE",
    "PREPARE s FROM ",
    "COMMIT",
    "ROLLBACK",
    "PRAGMA foreign_keys",
    "é",
    "\u{feff}",
    "x",
    "1",
    "=",
];

fn sql() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

fn check(sql: &str, dialect: Dialect) {
    let tokens = tokenize(sql, dialect);
    let mut previous_end = 0;
    for token in &tokens {
        assert!(
            token.start >= previous_end,
            "{dialect}: tokens overlap in {sql:?}"
        );
        assert!(
            token.start < token.end && token.end <= sql.len(),
            "{dialect}: {sql:?}"
        );
        assert!(sql.is_char_boundary(token.start) && sql.is_char_boundary(token.end));
        let line = 1 + sql[..token.start].matches('\n').count();
        assert_eq!(token.line, line, "{dialect}: line of {token:?} in {sql:?}");
        previous_end = token.end;
    }
    // Split, then join with what lies between: the input, and nothing between is SQL.
    let statements = split_statements(sql, dialect);
    let mut at = 0;
    let mut joined = String::new();
    for statement in &statements {
        let start = statement.text.as_ptr() as usize - sql.as_ptr() as usize;
        assert!(start >= at, "{dialect}: statements overlap in {sql:?}");
        let between = &sql[at..start];
        joined.push_str(between);
        joined.push_str(statement.text);
        at = start + statement.text.len();
    }
    joined.push_str(&sql[at..]);
    assert_eq!(joined, sql);
    // Nothing but the semicolons that end statements lies between them.
    let spans: Vec<(usize, usize)> = statements
        .iter()
        .map(|s| {
            let start = s.text.as_ptr() as usize - sql.as_ptr() as usize;
            (start, start + s.text.len())
        })
        .collect();
    for token in tokens.iter().filter(|t| t.kind != TokenKind::Semicolon) {
        assert!(
            spans
                .iter()
                .any(|&(start, end)| start <= token.start && token.end <= end),
            "{dialect}: {token:?} is in no statement of {sql:?}"
        );
    }
    // The early exit of `has_sql` agrees with the whole token list.
    assert_eq!(
        has_sql(sql, dialect),
        tokens.iter().any(|t| t.kind != TokenKind::Semicolon),
        "{dialect}: {sql:?}"
    );
    // What the transaction search's shortcut rests on: a word token is a run of letters
    // in the raw text too, so a text without the run has no such token.
    let runs: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphabetic())
        .map(str::to_ascii_uppercase)
        .collect();
    for token in &tokens {
        if let TokenKind::Word(word) = &token.kind
            && word.bytes().all(|b| b.is_ascii_alphabetic())
        {
            assert!(runs.contains(word), "{dialect}: {word} in {sql:?}");
        }
    }
    let _ = find_destructive(sql, dialect);
    let _ = find_transaction_control(sql, dialect);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn lexer_splitter_and_rules_hold_on_any_text(sql in sql()) {
        for dialect in Dialect::ALL {
            check(&sql, dialect);
        }
    }
}
