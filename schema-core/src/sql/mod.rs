//! A small SQL scanner per dialect: enough to find statements and keywords outside
//! comments, string literals, quoted identifiers and dollar-quoted bodies, as the server
//! of that dialect reads them. It is not a parser; it serves the build's rules (the
//! destructive-statement lint, the transaction rules) and the statement splitter that
//! PostgreSQL needs for `no-transaction` files (an implicit transaction would defeat
//! `CONCURRENTLY`).

mod lexer;
mod split;

pub use lexer::{literal_text, tokenize};
pub use split::{has_sql, split_statements};

/// A significant piece of SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or unquoted identifier, upper-cased.
    Word(String),
    /// A string literal or a dollar-quoted body ([`literal_text`] reads it).
    Literal,
    /// A quoted identifier (`"…"`, `` `…` ``, `[…]`).
    QuotedName,
    /// `;`
    Semicolon,
    /// Any other character that is not white space.
    Symbol(char),
}

/// A token with where it stands in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// 1-based line of its first character.
    pub line: usize,
}

/// One statement of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text without its terminating `;`, trimmed.
    pub text: &'a str,
    /// 1-based line on which it starts.
    pub line: usize,
    /// Its tokens (without the terminating `;`).
    pub tokens: Vec<Token>,
}

impl Statement<'_> {
    /// The upper-cased words of the statement, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match &t.kind {
            TokenKind::Word(word) => Some(word.as_str()),
            _ => None,
        })
    }

    /// Whether this statement defines a routine or trigger whose `BEGIN … END` body
    /// holds statements that run later, not now.
    pub fn is_routine_definition(&self) -> bool {
        is_routine_definition(&self.tokens)
    }
}

pub(crate) fn is_routine_definition(tokens: &[Token]) -> bool {
    let mut words = tokens.iter().filter_map(|t| match &t.kind {
        TokenKind::Word(word) => Some(word.as_str()),
        _ => None,
    });
    if words.next() != Some("CREATE") {
        return false;
    }
    words
        .take(8)
        .any(|w| matches!(w, "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT"))
}
