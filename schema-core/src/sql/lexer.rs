//! The lexer: significant tokens of SQL text as one dialect's server reads it.
//!
//! What hides text from the server differs between dialects, and a lint that reads the
//! text otherwise than the server does can be walked around: a `/*` inside a SQLite
//! comment does not open a nested one, a `#` starts a comment on MySQL only, MySQL runs
//! what is inside `/*! … */`, and only PostgreSQL has dollar quoting. Hand-written (not a
//! parser generator): the rules are few, per dialect, and must never fail on any input.

use super::{Token, TokenKind};
use crate::Dialect;

/// Splits `sql` into significant tokens as `dialect` reads it, skipping white space and
/// comments. Quoted text becomes one [`TokenKind::Literal`] (strings, dollar-quoted
/// bodies) or [`TokenKind::QuotedName`] (quoted identifiers) token. An unterminated quote
/// or comment runs to the end of the text. A leading UTF-8 BOM is skipped.
///
/// | | PostgreSQL | MySQL/MariaDB | SQLite |
/// |---|---|---|---|
/// | `-- …` | comment | comment when a space or control character follows | comment |
/// | `# …` | operator | comment | operator |
/// | `/* … */` | nests | does not nest; `/*! … */` and `/*M! … */` are code | does not nest |
/// | `'…'` | `''` escapes; `E'…'` also `\` | `''` and `\` escape | `''` escapes |
/// | `"…"` | name | string | name |
/// | `` `…` `` | operator | name | name |
/// | `[…]` | operator | operator | name |
/// | `$tag$…$tag$` | string | word characters | parameter |
///
/// ```
/// use schema_core::Dialect;
/// use schema_core::sql::{TokenKind, tokenize};
///
/// let words = |sql, dialect| -> Vec<String> {
///     tokenize(sql, dialect)
///         .into_iter()
///         .filter_map(|t| match t.kind {
///             TokenKind::Word(w) => Some(w),
///             _ => None,
///         })
///         .collect()
/// };
/// let sql = "/* a /* b */ DROP TABLE users; /* */";
/// assert_eq!(words(sql, Dialect::Postgres), Vec::<String>::new());
/// assert_eq!(words(sql, Dialect::Sqlite), ["DROP", "TABLE", "USERS"]);
/// assert_eq!(words("/*!50000 DROP TABLE t */", Dialect::Mysql), ["DROP", "TABLE", "T"]);
/// ```
pub fn tokenize(sql: &str, dialect: Dialect) -> Vec<Token> {
    lex(sql, dialect, false)
}

/// Whether `sql` holds any token but `;` as `dialect` reads it: the lexer stops at the
/// first one, so a file's check costs its leading comments, not the whole file (the
/// macro runs unoptimised, as cargo builds proc macros, and checks every file for every
/// dialect).
pub(crate) fn has_token(sql: &str, dialect: Dialect) -> bool {
    lex(sql, dialect, true)
        .iter()
        .any(|t| t.kind != TokenKind::Semicolon)
}

fn lex(sql: &str, dialect: Dialect, first_only: bool) -> Vec<Token> {
    let mut lexer = Lexer {
        sql,
        bytes: sql.as_bytes(),
        dialect,
        // The BOM's bytes would otherwise glue onto the first word (`\u{feff}DROP`) and
        // hide it from the lint, and a file of only comments would count as SQL.
        i: if sql.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        },
        line: 1,
        executable_comment: false,
        tokens: Vec::new(),
        first_only,
    };
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    sql: &'a str,
    bytes: &'a [u8],
    dialect: Dialect,
    i: usize,
    line: usize,
    /// Inside MySQL's `/*! … */`, whose `*/` only closes it.
    executable_comment: bool,
    tokens: Vec<Token>,
    /// Stop at the first token that is not `;`.
    first_only: bool,
}

impl Lexer<'_> {
    fn run(&mut self) {
        while self.i < self.bytes.len() {
            if self.first_only
                && self
                    .tokens
                    .last()
                    .is_some_and(|t| t.kind != TokenKind::Semicolon)
            {
                return;
            }
            let byte = self.bytes[self.i];
            let next = self.bytes.get(self.i + 1).copied();
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                _ if byte.is_ascii_whitespace() => self.i += 1,
                b'-' if next == Some(b'-') && self.dash_comment() => self.skip_line(),
                b'#' if self.dialect == Dialect::Mysql => self.skip_line(),
                b'*' if next == Some(b'/') && self.executable_comment => {
                    self.executable_comment = false;
                    self.i += 2;
                }
                b'/' if next == Some(b'*') => self.block_comment(),
                b'\'' => self.quoted(self.i, b'\'', self.dialect == Dialect::Mysql, true),
                b'E' | b'e'
                    if self.dialect == Dialect::Postgres
                        && next == Some(b'\'')
                        && !self.continues_word() =>
                {
                    self.quoted(self.i + 1, b'\'', true, true)
                }
                b'"' => {
                    let string = self.dialect == Dialect::Mysql;
                    self.quoted(self.i, b'"', string, string)
                }
                b'`' if self.dialect != Dialect::Postgres => {
                    self.quoted(self.i, b'`', false, false)
                }
                b'[' if self.dialect == Dialect::Sqlite => self.bracketed(),
                b'$' if self.dialect == Dialect::Postgres => match self.dollar_tag() {
                    Some(tag_end) => self.dollar_quoted(tag_end),
                    None => self.symbol(),
                },
                b';' => self.push(TokenKind::Semicolon, self.i, self.i + 1),
                _ if self.is_word_byte(byte) => self.word(),
                _ => self.symbol(),
            }
        }
    }

    /// Whether `--` here starts a comment: always, except on MySQL, where a space or a
    /// control character (or the end) must follow (`1--1` is arithmetic there).
    fn dash_comment(&self) -> bool {
        self.dialect != Dialect::Mysql
            || self
                .bytes
                .get(self.i + 2)
                .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    }

    fn skip_line(&mut self) {
        while self.i < self.bytes.len() && self.bytes[self.i] != b'\n' {
            self.i += 1;
        }
    }

    fn block_comment(&mut self) {
        let start = self.i;
        if self.dialect == Dialect::Mysql {
            // `/*!`, `/*!50700` and MariaDB's `/*M!100100`: the server runs what follows.
            let rest = &self.bytes[self.i + 2..];
            let bang = match rest {
                [b'!', ..] => Some(1),
                [b'M', b'!', ..] => Some(2),
                _ => None,
            };
            if let Some(bang) = bang
                && !self.executable_comment
            {
                self.i += 2 + bang;
                while self.i < self.bytes.len() && self.bytes[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                self.executable_comment = true;
                return;
            }
        }
        let nests = self.dialect == Dialect::Postgres;
        let mut depth = 0usize;
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == b'/' && self.bytes.get(self.i + 1) == Some(&b'*') {
                if depth == 0 || nests {
                    depth += 1;
                }
                self.i += 2;
            } else if self.bytes[self.i] == b'*' && self.bytes.get(self.i + 1) == Some(&b'/') {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    break;
                }
            } else {
                self.i += 1;
            }
        }
        self.count_lines(start);
    }

    /// Quoted text opening at `open` (the quote; a prefix such as `E` may stand before
    /// it, from `self.i`). A doubled quote stands for itself; with `backslash`, `\`
    /// escapes the next character.
    fn quoted(&mut self, open: usize, quote: u8, backslash: bool, string: bool) {
        let start = self.i;
        let mut i = open + 1;
        let end = loop {
            match self.bytes.get(i) {
                None => break self.bytes.len(),
                Some(b'\\') if backslash => i += 2,
                Some(&b) if b == quote => {
                    if self.bytes.get(i + 1) == Some(&quote) {
                        i += 2;
                    } else {
                        break i + 1;
                    }
                }
                Some(_) => i += 1,
            }
        };
        let end = end.min(self.bytes.len());
        let kind = if string {
            TokenKind::Literal
        } else {
            TokenKind::QuotedName
        };
        self.push_spanning(kind, start, end);
    }

    /// SQLite's `[name]`, which has no escape.
    fn bracketed(&mut self) {
        let start = self.i;
        let end = self.bytes[start..]
            .iter()
            .position(|&b| b == b']')
            .map_or(self.bytes.len(), |at| start + at + 1);
        self.push_spanning(TokenKind::QuotedName, start, end);
    }

    /// If a dollar-quote tag (`$$` or `$name$`) opens here, the index just past it.
    fn dollar_tag(&self) -> Option<usize> {
        if self.continues_word() {
            return None;
        }
        let mut j = self.i + 1;
        if self.bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
            return None; // `$1`: a parameter, not a tag
        }
        while j < self.bytes.len()
            && (self.bytes[j].is_ascii_alphanumeric()
                || self.bytes[j] == b'_'
                || self.bytes[j] >= 0x80)
        {
            j += 1;
        }
        (self.bytes.get(j) == Some(&b'$')).then_some(j + 1)
    }

    fn dollar_quoted(&mut self, tag_end: usize) {
        let start = self.i;
        let tag = &self.bytes[start..tag_end];
        let end = self.bytes[tag_end..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or(self.bytes.len(), |at| tag_end + at + tag.len());
        self.push_spanning(TokenKind::Literal, start, end);
    }

    fn word(&mut self) {
        let start = self.i;
        while self.i < self.bytes.len()
            && (self.is_word_byte(self.bytes[self.i])
                || (self.bytes[self.i] == b'$' && self.dialect != Dialect::Sqlite))
        {
            self.i += 1;
        }
        let word = self.sql[start..self.i].to_ascii_uppercase();
        let end = self.i;
        self.i = start;
        self.push(TokenKind::Word(word), start, end);
    }

    fn symbol(&mut self) {
        let character = self.sql[self.i..].chars().next().unwrap_or('\u{fffd}');
        self.push(
            TokenKind::Symbol(character),
            self.i,
            self.i + character.len_utf8(),
        );
    }

    fn is_word_byte(&self, byte: u8) -> bool {
        byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
    }

    fn continues_word(&self) -> bool {
        self.i > 0 && self.is_word_byte(self.bytes[self.i - 1])
    }

    fn count_lines(&mut self, from: usize) {
        let to = self.i.min(self.bytes.len());
        self.line += self.bytes[from..to].iter().filter(|&&b| b == b'\n').count();
    }

    /// A token on one line, and the lexer past it.
    fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.tokens.push(Token {
            kind,
            start,
            end,
            line: self.line,
        });
        self.i = end;
    }

    /// A token that may span lines, and the lexer past it.
    fn push_spanning(&mut self, kind: TokenKind, start: usize, end: usize) {
        let line = self.line;
        self.i = end;
        self.count_lines(start);
        self.tokens.push(Token {
            kind,
            start,
            end,
            line,
        });
    }
}

/// The text a string literal token stands for: quotes removed, doubled quotes and (where
/// the dialect or an `E` prefix says so) backslash escapes undone, a dollar-quoted body
/// without its tags. Used to read the SQL that a migration runs dynamically.
///
/// ```
/// use schema_core::Dialect;
/// use schema_core::sql::{literal_text, tokenize};
///
/// let sql = "EXECUTE 'DROP TABLE it''s'";
/// let literal = &tokenize(sql, Dialect::Postgres)[1];
/// assert_eq!(literal_text(sql, literal, Dialect::Postgres), "DROP TABLE it's");
/// ```
pub fn literal_text(sql: &str, token: &Token, dialect: Dialect) -> String {
    let text = &sql[token.start..token.end];
    if let Some(rest) = text.strip_prefix('$') {
        let tag_len = rest.find('$').map_or(text.len(), |at| at + 2);
        let (tag, body) = text.split_at(tag_len);
        // An unterminated body runs to the end of the text, with no closing tag to cut.
        let body = match body.strip_suffix(tag) {
            Some(closed) => closed,
            None => body,
        };
        return body.to_owned();
    }
    let (backslash, text) = match text.strip_prefix(['E', 'e']) {
        Some(rest) if dialect == Dialect::Postgres => (true, rest),
        _ => (dialect == Dialect::Mysql, text),
    };
    let mut chars = text.chars();
    let Some(quote) = chars.next() else {
        return String::new();
    };
    let inner: Vec<char> = chars.collect();
    let inner = match inner.last() {
        Some(&last) if last == quote => &inner[..inner.len() - 1],
        _ => &inner[..],
    };
    let mut out = String::with_capacity(inner.len());
    let mut k = 0;
    while k < inner.len() {
        let c = inner[k];
        if backslash && c == '\\' && k + 1 < inner.len() {
            out.push(match inner[k + 1] {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
            k += 2;
        } else if c == quote && inner.get(k + 1) == Some(&quote) {
            out.push(quote);
            k += 2;
        } else {
            out.push(c);
            k += 1;
        }
    }
    out
}
