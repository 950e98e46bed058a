//! A small SQL scanner: enough to find statements and keywords outside comments, string
//! literals, quoted identifiers and dollar-quoted bodies. It is not a parser; it serves
//! the destructive-statement lint and the statement splitter that PostgreSQL needs for
//! `no-transaction` files (an implicit transaction would defeat `CONCURRENTLY`).

/// A significant piece of SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or unquoted identifier, upper-cased.
    Word(String),
    /// A string literal, quoted identifier or dollar-quoted body.
    Quoted,
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

/// Splits `sql` into significant tokens, skipping white space and comments (`-- …`,
/// nested `/* … */`). Quoted text (`'…'` with `''`, `E'…'` with backslash escapes,
/// `"…"`, `` `…` ``, `$tag$…$tag$`) becomes one [`TokenKind::Quoted`] token. An
/// unterminated quote or comment runs to the end of the text. A leading UTF-8 BOM is
/// skipped.
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    // The BOM's bytes would otherwise glue onto the first word (`\u{feff}DROP`) and
    // hide it from the lint, and a file of only comments would count as SQL.
    let mut i = if sql.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut line = 1;
    let count_lines =
        |from: usize, to: usize| bytes[from..to].iter().filter(|&&b| b == b'\n').count();
    while i < bytes.len() {
        let byte = bytes[i];
        let start = i;
        let start_line = line;
        match byte {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            _ if byte.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                line += count_lines(start, i.min(bytes.len()));
                continue;
            }
            b'\'' => {
                i = skip_quoted(bytes, i, b'\'', false);
            }
            b'E' | b'e' if bytes.get(i + 1) == Some(&b'\'') && !continues_word(bytes, i) => {
                i = skip_quoted(bytes, i + 1, b'\'', true);
            }
            b'"' | b'`' => {
                i = skip_quoted(bytes, i, byte, false);
            }
            b'$' => match dollar_tag(bytes, i) {
                Some(tag_end) => {
                    let tag = &bytes[i..tag_end];
                    i = find(bytes, tag_end, tag).map_or(bytes.len(), |at| at + tag.len());
                }
                None => {
                    i += 1;
                    tokens.push(Token {
                        kind: TokenKind::Symbol('$'),
                        start,
                        end: i,
                        line,
                    });
                    continue;
                }
            },
            b';' => {
                i += 1;
                tokens.push(Token {
                    kind: TokenKind::Semicolon,
                    start,
                    end: i,
                    line,
                });
                continue;
            }
            _ if is_word_byte(byte) => {
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'$') {
                    i += 1;
                }
                let word = sql[start..i].to_ascii_uppercase();
                tokens.push(Token {
                    kind: TokenKind::Word(word),
                    start,
                    end: i,
                    line,
                });
                continue;
            }
            _ => {
                let character = sql[i..].chars().next().unwrap_or('\u{fffd}');
                i += character.len_utf8();
                tokens.push(Token {
                    kind: TokenKind::Symbol(character),
                    start,
                    end: i,
                    line,
                });
                continue;
            }
        }
        // Quoted text: one token, and count the lines it spans.
        let end = i.min(bytes.len());
        line += count_lines(start, end);
        tokens.push(Token {
            kind: TokenKind::Quoted,
            start,
            end,
            line: start_line,
        });
    }
    tokens
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

fn continues_word(bytes: &[u8], i: usize) -> bool {
    i > 0 && is_word_byte(bytes[i - 1])
}

/// Returns the index just past a quoted run that opens at `open`.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// If a dollar-quote tag (`$$` or `$name$`) opens at `i`, the index just past it.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    if continues_word(bytes, i) {
        return None;
    }
    let mut j = i + 1;
    if bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
        return None; // `$1`: a parameter, not a tag
    }
    while j < bytes.len()
        && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80)
    {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1)
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
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

fn is_routine_definition(tokens: &[Token]) -> bool {
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

/// Splits `sql` into statements at top-level semicolons. Semicolons inside quotes,
/// comments, dollar-quoted bodies and the `BEGIN … END` body of a `CREATE TRIGGER`,
/// `PROCEDURE`, `FUNCTION` or `EVENT` do not split. Statements with no tokens (a stray
/// `;`, trailing comments) are dropped.
///
/// ```
/// use schema_core::sql::split_statements;
///
/// let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\n-- why\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;";
/// let statements = split_statements(sql);
/// assert_eq!(statements.len(), 2);
/// assert_eq!(statements[1].line, 3);
/// assert!(statements[1].text.ends_with("LANGUAGE sql"));
/// ```
pub fn split_statements<'a>(sql: &'a str) -> Vec<Statement<'a>> {
    let mut statements = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    let flush = |current: &mut Vec<Token>, statements: &mut Vec<Statement<'a>>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            statements.push(Statement {
                text: &sql[first.start..last.end],
                line: first.line,
                tokens: std::mem::take(current),
            });
        }
    };
    for token in tokenize(sql) {
        match &token.kind {
            TokenKind::Semicolon if depth == 0 => {
                flush(&mut current, &mut statements);
                continue;
            }
            TokenKind::Word(word) if is_routine_definition(&current) => match word.as_str() {
                "BEGIN" | "CASE" => depth += 1,
                "END" => depth = depth.saturating_sub(1),
                _ => {}
            },
            _ => {}
        }
        current.push(token);
    }
    flush(&mut current, &mut statements);
    statements
}

/// Whether the text has any SQL at all (not only white space and comments).
pub fn has_sql(sql: &str) -> bool {
    tokenize(sql).iter().any(|t| t.kind != TokenKind::Semicolon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str) -> Vec<String> {
        tokenize(sql)
            .into_iter()
            .filter_map(|t| match t.kind {
                TokenKind::Word(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_and_quotes_hide_words() {
        assert_eq!(
            words("select 'drop table' -- drop table\n /* drop /* nested */ table */ x"),
            ["SELECT", "X"]
        );
        assert_eq!(
            words("select E'it\\'s drop', \"drop\", `drop` from t"),
            ["SELECT", "FROM", "T"]
        );
        assert_eq!(
            words("select $$ drop table x; $$, $body$ drop $$ x $body$ y"),
            ["SELECT", "Y"]
        );
        assert_eq!(words("select $1, a$b"), ["SELECT", "1", "A$B"]);
        assert_eq!(words("select 'it''s' as x"), ["SELECT", "AS", "X"]);
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let tokens = tokenize("/* a\nb */ 'x\ny'\nselect");
        assert_eq!(tokens.last().unwrap().line, 4);
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "create table a (x int);\n\ninsert into a values (';');\n;\n-- end";
        let statements = split_statements(sql);
        let texts: Vec<_> = statements.iter().map(|s| s.text).collect();
        assert_eq!(
            texts,
            ["create table a (x int)", "insert into a values (';')"]
        );
        assert_eq!(statements[1].line, 3);
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER DELETE ON a BEGIN DELETE FROM b; UPDATE c SET x = CASE WHEN 1 THEN 2 END; END;\nSELECT 1;";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 2);
        assert!(statements[0].is_routine_definition());
        assert_eq!(statements[1].text, "SELECT 1");
    }

    #[test]
    fn begin_transaction_is_not_a_body() {
        let statements = split_statements("BEGIN; SELECT 1; COMMIT;");
        assert_eq!(statements.len(), 3);
    }

    #[test]
    fn only_comments_has_no_sql() {
        assert!(!has_sql("-- nothing\n/* here */\n;\n"));
        assert!(!has_sql("\u{feff}-- nothing\r\n"));
        assert!(has_sql("-- one\nselect 1"));
    }

    #[test]
    fn a_leading_bom_is_not_part_of_the_first_word() {
        assert_eq!(words("\u{feff}DROP TABLE x"), ["DROP", "TABLE", "X"]);
        let statements = split_statements("\u{feff}DROP TABLE x;");
        assert_eq!(statements[0].text, "DROP TABLE x");
    }
}
