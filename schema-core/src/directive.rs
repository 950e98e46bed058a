//! Directives: `-- schema: <directive>` comment lines at the very top of a file.

use std::fmt;

/// The directives a file carries.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Directives {
    /// `-- schema: no-transaction`: run outside a transaction (for example
    /// `CREATE INDEX CONCURRENTLY`).
    pub no_transaction: bool,
    /// `-- schema: destructive`: the file's destructive statements are intended.
    pub destructive: bool,
}

/// The directives this version knows, as written after `-- schema: `.
///
/// `-- schema: locks-tables` acknowledges that the file's statements lock tables that
/// the replicas of the running version use (see [`crate::locking`]); it is read by
/// [`locks_tables`] rather than kept in [`Directives`].
pub const KNOWN_DIRECTIVES: [&str; 3] = ["no-transaction", "destructive", "locks-tables"];

/// Whether the file starts with `-- schema: locks-tables`: its statements that lock a
/// table which the running version uses are intended (a rolling deploy is not needed,
/// or the table is small).
///
/// ```
/// use schema_core::directive::locks_tables;
///
/// assert!(locks_tables("-- schema: locks-tables\nCREATE INDEX i ON t (x);"));
/// assert!(!locks_tables("CREATE INDEX i ON t (x);\n-- schema: locks-tables\n"));
/// ```
pub fn locks_tables(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut in_block_comment = false;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if in_block_comment {
            in_block_comment = !trimmed.contains("*/");
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("/*") {
            in_block_comment = !trimmed.contains("*/");
            continue;
        }
        match trimmed.strip_prefix("--").map(read_directive_comment) {
            Some(Comment::Directive("locks-tables")) => return true,
            Some(_) => continue,
            None => return false,
        }
    }
    false
}

/// A directive line that cannot be honoured. Each names the 1-based line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DirectiveError {
    /// `-- schema: <word>` where `<word>` is not a known directive.
    Unknown {
        /// Line number.
        line: usize,
        /// What was written.
        directive: String,
    },
    /// A comment that is meant as a directive but is not written `-- schema: <directive>`
    /// (`--no-transaction`, `-- schema no-transaction`, `-- Schema: destructive`).
    Malformed {
        /// Line number.
        line: usize,
        /// The whole line.
        text: String,
        /// The directive it most likely means.
        meant: Option<&'static str>,
    },
    /// A directive below the first SQL statement, where it would be ignored.
    AfterSql {
        /// Line number.
        line: usize,
        /// The whole line.
        text: String,
    },
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = KNOWN_DIRECTIVES.join(", ");
        match self {
            DirectiveError::Unknown { line, directive } => {
                write!(
                    f,
                    "line {line}: unknown directive `{directive}` (known directives: {known})"
                )?;
                if let Some(meant) = closest_directive(directive) {
                    write!(f, "; did you mean `-- schema: {meant}`?")?;
                }
                Ok(())
            }
            DirectiveError::Malformed { line, text, meant } => {
                write!(
                    f,
                    "line {line}: `{text}` looks like a directive but is not written `-- schema: <directive>`"
                )?;
                match meant {
                    Some(meant) => write!(f, "; write `-- schema: {meant}`"),
                    None => write!(f, " (known directives: {known})"),
                }
            }
            DirectiveError::AfterSql { line, text } => write!(
                f,
                "line {line}: the directive `{text}` comes after SQL and would be ignored; directives go at the very top of the file"
            ),
        }
    }
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The known directive a misspelling most likely means.
fn closest_directive(text: &str) -> Option<&'static str> {
    match squash(text).as_str() {
        "notransaction" | "notx" | "notxn" | "notrans" | "nontransactional"
        | "withouttransaction" => Some("no-transaction"),
        "destructive" | "destroy" | "destructiv" | "allowdestructive" => Some("destructive"),
        "lockstables" | "lockstable" | "locktables" | "locktable" | "locking" => {
            Some("locks-tables")
        }
        _ => None,
    }
}

impl Directives {
    /// Reads the directives of a file's text (BOM already stripped or not).
    ///
    /// The header is the run of blank lines, `--` comments and `/* … */` comments before
    /// the first SQL. Every error in the file is returned, not just the first.
    ///
    /// ```
    /// use schema_core::Directives;
    ///
    /// let d = Directives::parse("\u{feff}\n-- schema: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);").unwrap();
    /// assert!(d.no_transaction);
    /// assert!(Directives::parse("--no-transaction\nselect 1;").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Directives, Vec<DirectiveError>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut directives = Directives::default();
        let mut errors = Vec::new();
        let mut in_header = true;
        let mut in_block_comment = false;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if in_header {
                if in_block_comment {
                    in_block_comment = !trimmed.contains("*/");
                    continue;
                }
                if trimmed.is_empty() {
                    continue;
                }
                if trimmed.starts_with("/*") {
                    in_block_comment = !trimmed.contains("*/");
                    continue;
                }
                if let Some(comment) = trimmed.strip_prefix("--") {
                    match read_directive_comment(comment) {
                        Comment::Plain => {}
                        Comment::Directive("no-transaction") => directives.no_transaction = true,
                        Comment::Directive("destructive") => directives.destructive = true,
                        Comment::Directive("locks-tables") => {}
                        Comment::Directive(other) => errors.push(DirectiveError::Unknown {
                            line,
                            directive: other.to_owned(),
                        }),
                        Comment::Malformed(meant) => errors.push(DirectiveError::Malformed {
                            line,
                            text: trimmed.to_owned(),
                            meant,
                        }),
                    }
                    continue;
                }
                in_header = false;
            }
            let is_directive = trimmed
                .strip_prefix("--")
                .is_some_and(|comment| !matches!(read_directive_comment(comment), Comment::Plain));
            if is_directive {
                errors.push(DirectiveError::AfterSql {
                    line,
                    text: trimmed.to_owned(),
                });
            }
        }
        if errors.is_empty() {
            Ok(directives)
        } else {
            Err(errors)
        }
    }
}

enum Comment<'a> {
    Plain,
    Directive(&'a str),
    Malformed(Option<&'static str>),
}

/// Judges the text after `--` on a comment line.
fn read_directive_comment(comment: &str) -> Comment<'_> {
    if let Some(value) = comment.strip_prefix(" schema:") {
        let value = value.trim();
        return if value.is_empty() {
            Comment::Malformed(None)
        } else {
            Comment::Directive(value)
        };
    }
    let trimmed = comment.trim_start_matches(['-', ' ', '\t']);
    let lower = trimmed.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("schema") {
        // `--schema:x`, `-- Schema: x`, `-- schema no-transaction`, `-- schema = x`
        let rest = rest.trim_start_matches([':', '=', ' ', '\t']);
        let first_word = rest.split_whitespace().next().unwrap_or("");
        if rest.is_empty()
            || closest_directive(first_word).is_some()
            || rest.split_whitespace().count() == 1
        {
            return Comment::Malformed(closest_directive(first_word));
        }
        return Comment::Plain;
    }
    match closest_directive(trimmed) {
        Some(meant) if trimmed.split_whitespace().count() <= 2 => Comment::Malformed(Some(meant)),
        _ => Comment::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_directives_past_bom_blank_lines_and_comments() {
        let text = "\u{feff}\n\n/* licence\n   text */\n-- a note\n-- schema: no-transaction\n-- schema: destructive\nDROP TABLE x;";
        let d = Directives::parse(text).unwrap();
        assert!(d.no_transaction && d.destructive);
    }

    #[test]
    fn plain_comments_are_not_directives() {
        let d = Directives::parse(
            "-- create the users table\n-- schema changes are reviewed\nselect 1;",
        )
        .unwrap();
        assert_eq!(d, Directives::default());
    }

    #[test]
    fn misspellings_are_errors() {
        for (text, meant) in [
            ("--no-transaction", Some("no-transaction")),
            ("-- no_transaction", Some("no-transaction")),
            ("-- Schema: destructive", Some("destructive")),
            ("-- schema no-transaction", Some("no-transaction")),
            ("--schema: destructive", Some("destructive")),
            ("-- schema:", None),
        ] {
            let errors = Directives::parse(&format!("{text}\nselect 1;")).unwrap_err();
            assert_eq!(
                errors,
                [DirectiveError::Malformed {
                    line: 1,
                    text: text.to_owned(),
                    meant
                }],
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_directive_suggests_the_known_one() {
        let errors = Directives::parse("-- schema: no_transaction\nselect 1;").unwrap_err();
        assert_eq!(
            errors,
            [DirectiveError::Unknown {
                line: 1,
                directive: "no_transaction".into()
            }]
        );
        assert!(
            errors[0]
                .to_string()
                .contains("did you mean `-- schema: no-transaction`")
        );
        let errors = Directives::parse("-- schema:no-tx\nselect 1;").unwrap_err();
        assert_eq!(
            errors,
            [DirectiveError::Unknown {
                line: 1,
                directive: "no-tx".into()
            }]
        );
    }

    #[test]
    fn directive_after_sql_is_an_error() {
        let errors = Directives::parse("select 1;\n-- schema: no-transaction\n").unwrap_err();
        assert_eq!(
            errors,
            [DirectiveError::AfterSql {
                line: 2,
                text: "-- schema: no-transaction".into()
            }]
        );
    }
}
