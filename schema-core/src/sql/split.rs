//! Statements at top-level semicolons, with routine and trigger bodies kept whole.

use super::{Statement, Token, TokenKind, is_routine_definition, tokenize};
use crate::Dialect;

/// Splits `sql` into statements at top-level semicolons, as `dialect` reads it.
/// Semicolons inside quotes, comments, dollar-quoted bodies and the body of a
/// `CREATE TRIGGER`, `PROCEDURE`, `FUNCTION` or `EVENT` do not split. In such a body,
/// `BEGIN`, `CASE` and the compound statements `IF`, `LOOP`, `WHILE` and `REPEAT` open a
/// block that `END` closes (`END IF`, `END CASE` … close one block, not two). Statements
/// with no tokens (a stray `;`, trailing comments) are dropped.
///
/// ```
/// use schema_core::Dialect;
/// use schema_core::sql::split_statements;
///
/// let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\n-- why\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;";
/// let statements = split_statements(sql, Dialect::Postgres);
/// assert_eq!(statements.len(), 2);
/// assert_eq!(statements[1].line, 3);
/// assert!(statements[1].text.ends_with("LANGUAGE sql"));
///
/// let sql = "CREATE PROCEDURE p() BEGIN CASE 1 WHEN 1 THEN SELECT 1; END CASE; END; DROP TABLE t;";
/// assert_eq!(split_statements(sql, Dialect::Mysql)[1].text, "DROP TABLE t");
/// ```
pub fn split_statements<'a>(sql: &'a str, dialect: Dialect) -> Vec<Statement<'a>> {
    let mut statements = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    let mut routine = false;
    // The word after `END` that names the block it closes (`END IF`) opens nothing.
    let mut after_end = false;
    let flush = |current: &mut Vec<Token>, statements: &mut Vec<Statement<'a>>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            statements.push(Statement {
                text: &sql[first.start..last.end],
                line: first.line,
                tokens: std::mem::take(current),
            });
        }
    };
    for token in tokenize(sql, dialect) {
        if token.kind == TokenKind::Semicolon && depth == 0 {
            flush(&mut current, &mut statements);
            routine = false;
            after_end = false;
            continue;
        }
        // The answer can only turn true when the word that names a routine arrives, so
        // the statement's first words are read then, not for every token (the build
        // splits every file, and runs unoptimised).
        if !routine
            && current.len() < 12
            && current.last().is_some_and(|t| {
                matches!(&t.kind, TokenKind::Word(w) if matches!(w.as_str(), "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT"))
            })
        {
            routine = is_routine_definition(&current);
        }
        if routine && let TokenKind::Word(word) = &token.kind {
            let closes_named =
                after_end && matches!(word.as_str(), "IF" | "CASE" | "LOOP" | "WHILE" | "REPEAT");
            after_end = false;
            match word.as_str() {
                _ if closes_named => {}
                "END" => {
                    depth = depth.saturating_sub(1);
                    after_end = true;
                }
                "BEGIN" | "CASE" => depth += 1,
                "IF" | "LOOP" | "WHILE" | "REPEAT" if starts_compound(&current) => depth += 1,
                _ => {}
            }
        } else {
            after_end = false;
        }
        current.push(token);
    }
    flush(&mut current, &mut statements);
    statements
}

/// Whether a word after these tokens stands where a statement of a routine body starts
/// (so `IF` is the compound statement, not `IF(…)` or `IF NOT EXISTS`).
fn starts_compound(before: &[Token]) -> bool {
    match before.last().map(|t| &t.kind) {
        Some(TokenKind::Semicolon | TokenKind::Symbol(':')) => true,
        Some(TokenKind::Word(word)) => {
            matches!(
                word.as_str(),
                "BEGIN" | "THEN" | "ELSE" | "DO" | "LOOP" | "REPEAT"
            )
        }
        _ => false,
    }
}

/// Whether the text has any SQL at all for `dialect` (not only white space and comments).
pub fn has_sql(sql: &str, dialect: Dialect) -> bool {
    super::lexer::has_token(sql, dialect)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
