//! `check-postgres`: every statement of a folder parsed by PostgreSQL's own parser
//! (libpg_query, through the `pg_query` crate), so that SQL PostgreSQL cannot read fails
//! the build with its file, line and column instead of the first start or `db down`.
//!
//! Only the grammar is checked: there is no catalog, so a table or column that does not
//! exist is not an error, and the bodies of functions and `DO` blocks are string
//! constants to the parser (their PL/pgSQL is read when they are created or run).

use schema_core::source::{SourceError, SourceFile, SourceFolder};
use schema_core::{Dialect, sql};

/// Parses every up and down file of every migration, and every seed: all of them reach
/// the server (`db down` runs the down files). Every file is checked, and every statement
/// that does not parse is an error, so one build shows them all.
pub fn postgres(folder: &SourceFolder) -> Result<(), Vec<SourceError>> {
    let files = folder
        .migrations
        .iter()
        .flat_map(|migration| std::iter::once(&migration.up).chain(migration.down.as_ref()))
        .chain(folder.seeds.iter().map(|seed| &seed.file));
    let mut errors = Vec::new();
    for file in files {
        check_file(file, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Parses a file as the runtime sends it: a transactional file whole, in one query, a
/// `no-transaction` file statement by statement. A file that fails is parsed statement
/// by statement, so that each statement that does not parse is named (the parser stops at
/// its first error).
fn check_file(file: &SourceFile, errors: &mut Vec<SourceError>) {
    // The runtime sends the text without its BOM; positions are counted without it.
    let text = file.text.strip_prefix('\u{feff}').unwrap_or(&file.text);
    let whole = !file.directives.no_transaction;
    if whole && parse(text).is_ok() {
        return;
    }
    let before = errors.len();
    for statement in sql::split_statements(text, Dialect::Postgres) {
        if let Err(message) = parse(statement.text) {
            let start = statement.text.as_ptr() as usize - text.as_ptr() as usize;
            let at = start + locate(statement.text, &message);
            errors.push(error(file, text, at, &message));
        }
    }
    if whole && errors.len() == before {
        // Each statement parses alone but the whole text does not (a statement the build's
        // splitter ends elsewhere than PostgreSQL does): the whole text's error.
        if let Err(message) = parse(text) {
            errors.push(error(file, text, locate(text, &message), &message));
        }
    }
}

/// The parser's verdict on `text`: its message when it does not parse. The raw parse
/// only, as the server's first step (no parse tree is serialised).
fn parse(text: &str) -> Result<(), String> {
    match pg_query::split_with_parser(text) {
        Ok(_) => Ok(()),
        Err(pg_query::Error::Split(message)) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

/// The byte offset in `text` at which the parser stopped. `pg_query`'s error carries the
/// message only (libpg_query's cursor position is not passed on), so it is found from the
/// message: `… at end of input` is the end of the text, `… at or near "X"` the token `X`;
/// any other message (an error the grammar raises, such as two `ORDER BY` clauses) the
/// start of the text.
fn locate(text: &str, message: &str) -> usize {
    if message.ends_with(" at end of input") {
        return text.len();
    }
    let Some(near) = near(message) else {
        return 0;
    };
    // The tokens of the text that are `X` (where the text does not scan, such as an
    // unterminated string, wherever `X` occurs).
    let mut candidates: Vec<usize> = match pg_query::scan(text) {
        Ok(scanned) => scanned
            .tokens
            .iter()
            .filter_map(|token| {
                let start = usize::try_from(token.start).ok()?;
                let end = usize::try_from(token.end).ok()?;
                (text.get(start..end)? == near).then_some(start)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if candidates.is_empty() {
        candidates = text.match_indices(near).map(|(at, _)| at).collect();
    }
    match candidates[..] {
        [] => 0,
        [only] => only,
        // `X` occurs more than once. The parser reads left to right and stops at the first
        // token that cannot follow what came before: the text cut just after that
        // occurrence fails there with the same message, and one cut earlier does not.
        ref several => several
            .iter()
            .copied()
            .find(|&at| {
                text.get(..at + near.len())
                    .is_some_and(|prefix| parse(prefix).err().as_deref() == Some(message))
            })
            .unwrap_or(several[0]),
    }
}

/// `X` in `… at or near "X"` (X is the text of the token, quotes and all).
fn near(message: &str) -> Option<&str> {
    let start = message.find(" at or near \"")? + " at or near \"".len();
    message.get(start..)?.strip_suffix('"')
}

fn error(file: &SourceFile, text: &str, at: usize, message: &str) -> SourceError {
    let (line, column) = line_column(text, at);
    SourceError {
        file: file.display.clone(),
        message: format!(
            "does not parse as PostgreSQL (check-postgres): {message} at line {line}, column {column}"
        ),
    }
}

/// 1-based line and column (in characters, as an editor counts) of the byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `check-postgres` puts the first error of `text`, as (message, line, column).
    fn first_error(text: &str) -> Option<(String, usize, usize)> {
        let message = parse(text).err()?;
        let (line, column) = line_column(text, locate(text, &message));
        Some((message, line, column))
    }

    #[test]
    fn a_misspelt_keyword_is_found_at_its_token() {
        let text = "CREATE TABLE a (id int);\n\nSELECT id\n  FROM a\n  WHERE id = 1 FORM b;\n";
        assert_eq!(
            first_error(text),
            Some((r#"syntax error at or near "FORM""#.to_owned(), 5, 16))
        );
    }

    #[test]
    fn of_several_occurrences_the_one_the_parser_stopped_at_is_named() {
        // The first `FROM` is fine; the second is the error.
        let text = "SELECT a FROM t\nFROM u";
        assert_eq!(
            first_error(text),
            Some((r#"syntax error at or near "FROM""#.to_owned(), 2, 1))
        );
        // `x` also starts the word `xy` and sits in a string before the error.
        let text = "SELECT xy, 'x' x x";
        assert_eq!(
            first_error(text),
            Some((r#"syntax error at or near "x""#.to_owned(), 1, 18))
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "SELECT 'é€' é FORM t";
        assert_eq!(
            first_error(text),
            Some((r#"syntax error at or near "FORM""#.to_owned(), 1, 15))
        );
    }

    #[test]
    fn an_unfinished_statement_is_found_at_its_end() {
        let text = "CREATE TABLE t (\n  id int";
        assert_eq!(
            first_error(text),
            Some(("syntax error at end of input".to_owned(), 2, 9))
        );
    }

    #[test]
    fn an_unterminated_string_is_found_where_it_opens() {
        let text = "SELECT 1;\nSELECT 'abc";
        let (message, line, column) = first_error(text).unwrap();
        assert!(
            message.starts_with("unterminated quoted string"),
            "{message}"
        );
        assert_eq!((line, column), (2, 8));
    }

    fn file_errors(text: &str, no_transaction: bool) -> Vec<String> {
        let file = SourceFile {
            path: "migrations/0002_x.sql".into(),
            display: "migrations/0002_x.sql".to_owned(),
            text: text.to_owned(),
            checksum: schema_core::Checksum::of_file(text.as_bytes()),
            directives: schema_core::Directives {
                no_transaction,
                destructive: false,
            },
        };
        let mut errors = Vec::new();
        check_file(&file, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_statement_that_does_not_parse_is_named_with_its_file() {
        let text = "\u{feff}CREATE TABLE a (id int);\nSELECT * FORM a;\nSELECT 2;\nINSERT INTO a VALUES (1;\n";
        for no_transaction in [false, true] {
            assert_eq!(
                file_errors(text, no_transaction),
                [
                    r#"migrations/0002_x.sql: does not parse as PostgreSQL (check-postgres): syntax error at or near "FORM" at line 2, column 10"#,
                    r#"migrations/0002_x.sql: does not parse as PostgreSQL (check-postgres): syntax error at end of input at line 4, column 24"#,
                ]
            );
        }
        assert!(file_errors("SELECT 1;\n-- only a comment\n", false).is_empty());
    }

    #[test]
    fn postgresql_only_syntax_parses() {
        for text in [
            "CREATE INDEX CONCURRENTLY users_email ON users (email)",
            "DO $$ BEGIN IF 1 = 1 THEN RAISE NOTICE 'x;'; END IF; END $$",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
            "SELECT E'it\\'s', $tag$ $$ $tag$, ARRAY[1, 2]::int[], '{}'::jsonb ->> 'a'",
            "CREATE TABLE missing_references_are_fine (id int REFERENCES nowhere (id))",
        ] {
            assert_eq!(parse(text), Ok(()), "{text}");
        }
    }
}
