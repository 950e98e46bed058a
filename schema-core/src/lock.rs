//! `migrations.lock`: the migrations a database has run, with their checksums.
//!
//! ```text
//! total sha256:<hex of the entry lines>
//! # comments
//! 1 create_users sha256:<hex>
//! 2 add_email sha256:<new> amends sha256:<old> reason "comment typo"
//! ```
//!
//! The total is the SHA-256 of every entry line with its `\n`, in file order, so two
//! branches that each lock a new migration conflict in git, and a hand edit or a bad
//! merge is caught by the build.

use std::fmt;

use crate::{Checksum, Version, checksum::normalize, name::is_valid_name};

/// The lock's file name inside the migrations folder.
pub const LOCK_FILE_NAME: &str = "migrations.lock";

/// A change of a locked checksum made on purpose with `db amend`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Amendment {
    /// The checksum the migration had before.
    pub from: Checksum,
    /// Why it was changed.
    pub reason: String,
}

/// One line of the lock: a migration that has been applied somewhere.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LockEntry {
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: String,
    /// The checksum of the file as applied (or as amended).
    pub checksum: Checksum,
    /// Earlier checksums this one replaced, newest first.
    pub amendments: Vec<Amendment>,
}

impl LockEntry {
    /// An entry with no amendments.
    pub fn new(version: Version, name: impl Into<String>, checksum: Checksum) -> Self {
        LockEntry {
            version,
            name: name.into(),
            checksum,
            amendments: Vec::new(),
        }
    }

    /// The entry's line, without its `\n`.
    pub fn render(&self) -> String {
        let mut line = format!("{} {} sha256:{}", self.version, self.name, self.checksum);
        for amendment in &self.amendments {
            line.push_str(&format!(
                " amends sha256:{} reason {}",
                amendment.from,
                quote(&amendment.reason)
            ));
        }
        line
    }
}

/// The parsed lock: entries sorted by version.
///
/// ```
/// use schema_core::{Checksum, Lock, LockEntry, Version};
///
/// let mut lock = Lock::default();
/// lock.upsert(LockEntry::new(Version::new(2), "add_email", Checksum::of_file(b"alter table users add email text;")));
/// lock.upsert(LockEntry::new(Version::new(1), "create_users", Checksum::of_file(b"create table users (id int);")));
/// let text = lock.render();
/// assert!(text.starts_with("total sha256:"));
/// assert_eq!(Lock::parse(&text).unwrap(), lock);
/// assert_eq!(lock.entries()[0].version, Version::new(1));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Lock {
    entries: Vec<LockEntry>,
}

/// What is wrong with a lock file. Each names its line where it has one.
///
/// A damaged lock fails every build of the crate, so no `db` command compiled from it
/// can repair it: each message says how to get back to a lock that builds with version
/// control alone, after which the runtime brings it up to date.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LockError {
    /// The first line is not `total sha256:<hex>`.
    MissingTotal,
    /// The total line does not match the entry lines.
    TotalMismatch {
        /// What the total line says.
        recorded: Checksum,
        /// What the entry lines hash to.
        computed: Checksum,
    },
    /// A line that is not a comment and not an entry.
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A version that is not greater than the one before it.
    OutOfOrder {
        /// 1-based line number.
        line: usize,
        /// The version on that line.
        version: Version,
        /// The version on the entry line before it.
        previous: Version,
    },
    /// A merge conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`): two branches each
    /// locked migrations, and the merge left both sides.
    MergeConflict {
        /// 1-based line number of the first marker.
        line: usize,
    },
}

/// How to repair a lock that was edited by hand or merged badly. Taking one side of a
/// merge whole loses nothing: the other side's migrations are merely unlocked until the
/// runtime locks them again.
const REPAIR: &str = "restore it from version control (after a merge, take one side's lock whole, never a mix: the next development run or `db lock` adds the other side's migrations)";

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::MissingTotal => write!(
                f,
                "the first line must be `total sha256:<hex>`; the lock is damaged: {REPAIR}"
            ),
            LockError::TotalMismatch { recorded, computed } => write!(
                f,
                "the total line says sha256:{recorded} but the entry lines hash to sha256:{computed}; the lock was edited by hand or merged badly: {REPAIR}"
            ),
            LockError::BadLine { line, problem } => write!(
                f,
                "line {line}: {problem}; the lock is written by schema-runtime, never by hand: {REPAIR}"
            ),
            LockError::OutOfOrder {
                line,
                version,
                previous,
            } => {
                if version == previous {
                    write!(f, "line {line}: version {version} is listed twice")?;
                } else {
                    write!(
                        f,
                        "line {line}: version {version} comes after version {previous}"
                    )?;
                }
                write!(
                    f,
                    "; the runtime writes one line per version, in version order, so the lock was edited by hand or merged badly: {REPAIR}"
                )
            }
            LockError::MergeConflict { line } => write!(
                f,
                "line {line}: a merge left conflict markers, because two branches each locked migrations; take one side's lock whole, never a mix (`git checkout --ours` or `--theirs` on this file): the next development run or `db lock` adds the other side's migrations"
            ),
        }
    }
}

impl std::error::Error for LockError {}

const HEADER: &str = "\
# migrations.lock: every migration that has been applied to a database, with its checksum.
# Written by schema-runtime (development runs and `db lock`); checked by `cargo build`,
# which fails when a listed migration's file changes. Commit this file.
# Never edit an applied migration: add a new one. For a draft only your development
# database has, run `db down` first. To change a listed migration on purpose, run
# `db amend VERSION --reason \"...\"`.
";

impl Lock {
    /// A lock holding `entries` (sorted here; a later duplicate version replaces an earlier one).
    pub fn new(entries: impl IntoIterator<Item = LockEntry>) -> Self {
        let mut lock = Lock::default();
        for entry in entries {
            lock.upsert(entry);
        }
        lock
    }

    /// The entries, sorted by version.
    pub fn entries(&self) -> &[LockEntry] {
        &self.entries
    }

    /// The entry for `version`.
    pub fn get(&self, version: Version) -> Option<&LockEntry> {
        self.entries
            .binary_search_by_key(&version, |e| e.version)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Adds an entry, or replaces the one with the same version.
    pub fn upsert(&mut self, entry: LockEntry) {
        match self
            .entries
            .binary_search_by_key(&entry.version, |e| e.version)
        {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    /// Removes the entry for `version`, returning it.
    pub fn remove(&mut self, version: Version) -> Option<LockEntry> {
        let i = self
            .entries
            .binary_search_by_key(&version, |e| e.version)
            .ok()?;
        Some(self.entries.remove(i))
    }

    /// The total: SHA-256 of every entry line with its `\n`.
    pub fn total(&self) -> Checksum {
        let mut lines = String::new();
        for entry in &self.entries {
            lines.push_str(&entry.render());
            lines.push('\n');
        }
        Checksum::of_normalized(lines.as_bytes())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = format!("total sha256:{}\n{HEADER}", self.total());
        for entry in &self.entries {
            text.push_str(&entry.render());
            text.push('\n');
        }
        text
    }

    /// Parses a lock file's text (CRLF and a BOM are accepted) and checks its total.
    /// Every problem found is returned, except after a merge conflict marker: then the
    /// marker is the one problem worth reading.
    pub fn parse(text: &str) -> Result<Lock, Vec<LockError>> {
        let normalized = normalize(text.as_bytes());
        let text = String::from_utf8_lossy(&normalized);
        if let Some(index) = text.lines().position(is_conflict_marker) {
            return Err(vec![LockError::MergeConflict { line: index + 1 }]);
        }
        let mut lines = text.lines().enumerate().peekable();
        let mut errors = Vec::new();
        // Only a line that claims to be the total is taken as it: a lock whose total
        // line was deleted keeps its first entry.
        let recorded = match lines.next_if(|(_, line)| line.starts_with("total")) {
            Some((_, first)) => first
                .strip_prefix("total sha256:")
                .and_then(|hex| hex.trim_end().parse::<Checksum>().ok()),
            None => None,
        };
        let mut entries: Vec<LockEntry> = Vec::new();
        let mut entry_lines = String::new();
        for (index, line) in lines {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            entry_lines.push_str(line);
            entry_lines.push('\n');
            match parse_entry(trimmed) {
                Ok(entry) => {
                    if let Some(last) = entries.last().filter(|last| last.version >= entry.version)
                    {
                        errors.push(LockError::OutOfOrder {
                            line: index + 1,
                            version: entry.version,
                            previous: last.version,
                        });
                    }
                    entries.push(entry);
                }
                Err(problem) => errors.push(LockError::BadLine {
                    line: index + 1,
                    problem,
                }),
            }
        }
        let computed = Checksum::of_normalized(entry_lines.as_bytes());
        match recorded {
            None => errors.insert(0, LockError::MissingTotal),
            Some(recorded) if recorded != computed => {
                errors.push(LockError::TotalMismatch { recorded, computed });
            }
            Some(_) => {}
        }
        if errors.is_empty() {
            Ok(Lock { entries })
        } else {
            Err(errors)
        }
    }
}

fn is_conflict_marker(line: &str) -> bool {
    ["<<<<<<<", "|||||||", "=======", ">>>>>>>"]
        .iter()
        .any(|marker| line.starts_with(marker))
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn word(&mut self) -> Option<&'a str> {
        let trimmed = self.rest.trim_start();
        let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let (word, after) = trimmed.split_at(end);
        self.rest = after;
        (!word.is_empty()).then_some(word)
    }
}

fn parse_entry(line: &str) -> Result<LockEntry, String> {
    let mut cursor = Cursor { rest: line };
    let expected = "expected `<version> <name> sha256:<hex>`";
    let version = cursor.word().ok_or(expected)?;
    let number: u64 = version
        .parse()
        .ok()
        .filter(|v| *v > 0 && version.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            format!("`{version}` is not a version (a decimal number above 0); {expected}")
        })?;
    let name = cursor
        .word()
        .ok_or_else(|| format!("`{line}` has no name after the version; {expected}"))?;
    if !is_valid_name(name) {
        return Err(format!(
            "`{name}` is not a migration name (letters, digits and `_`); {expected}"
        ));
    }
    let checksum = parse_checksum(
        cursor
            .word()
            .ok_or_else(|| format!("`{line}` has no checksum after the name; {expected}"))?,
    )?;
    let mut entry = LockEntry::new(Version::new(number), name, checksum);
    while let Some(word) = cursor.word() {
        if word != "amends" {
            return Err(format!(
                "unexpected `{word}` after the checksum (only `amends sha256:<hex> reason \"…\"` may follow)"
            ));
        }
        let from = parse_checksum(
            cursor
                .word()
                .ok_or("`amends` needs `sha256:<hex> reason \"…\"` after it")?,
        )?;
        if cursor.word() != Some("reason") {
            return Err("`amends sha256:<hex>` needs `reason \"…\"` after it".to_owned());
        }
        let (reason, after) = unquote(cursor.rest.trim_start())?;
        cursor.rest = after;
        entry.amendments.push(Amendment { from, reason });
    }
    Ok(entry)
}

fn parse_checksum(text: &str) -> Result<Checksum, String> {
    let hex = text
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("`{text}` is not written `sha256:<hex>`"))?;
    hex.parse::<Checksum>().map_err(|e| e.to_string())
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a `"…"` string at the start of `text`; returns it and what follows.
fn unquote(text: &str) -> Result<(String, &str), String> {
    let body = text
        .strip_prefix('"')
        .ok_or("`reason` must be followed by a quoted text")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err("the reason's quoted text is not closed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum(text: &str) -> Checksum {
        Checksum::of_file(text.as_bytes())
    }

    #[test]
    fn render_parse_round_trip_with_amendments() {
        let mut entry = LockEntry::new(Version::new(3), "add_index", checksum("new"));
        entry.amendments.push(Amendment {
            from: checksum("old"),
            reason: "fix \"typo\" \\ in\ncomment".into(),
        });
        let lock = Lock::new([entry, LockEntry::new(Version::new(1), "a", checksum("a"))]);
        let text = lock.render();
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        assert_eq!(Lock::parse(&text.replace('\n', "\r\n")).unwrap(), lock);
    }

    #[test]
    fn total_is_sha256_of_entry_lines() {
        let lock = Lock::new([LockEntry::new(Version::new(1), "a", checksum("a"))]);
        let line = format!("1 a sha256:{}\n", checksum("a"));
        assert_eq!(lock.total(), Checksum::of_normalized(line.as_bytes()));
        assert!(lock.render().ends_with(&line));
    }

    #[test]
    fn hand_edit_breaks_the_total() {
        let lock = Lock::new([LockEntry::new(Version::new(1), "a", checksum("a"))]);
        let edited = lock
            .render()
            .replace(&checksum("a").to_string(), &checksum("b").to_string());
        let errors = Lock::parse(&edited).unwrap_err();
        assert!(
            matches!(errors[..], [LockError::TotalMismatch { .. }]),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let text = format!(
            "total sha256:{}\n# c\n1 a sha256:zz\n2 b-c sha256:{}\n",
            checksum(""),
            checksum("")
        );
        let errors = Lock::parse(&text).unwrap_err();
        assert!(
            matches!(&errors[0], LockError::BadLine { line: 3, .. }),
            "{errors:?}"
        );
        assert!(
            matches!(&errors[1], LockError::BadLine { line: 4, problem } if problem.contains("b-c"))
        );
        assert!(matches!(
            errors.last(),
            Some(LockError::TotalMismatch { .. })
        ));
        let errors = Lock::parse(&format!("1 a sha256:{}\n", checksum("a"))).unwrap_err();
        assert!(
            matches!(errors[..], [LockError::MissingTotal]),
            "the first entry is still an entry: {errors:?}"
        );
    }

    #[test]
    fn out_of_order_is_reported() {
        let a = LockEntry::new(Version::new(2), "a", checksum("a")).render();
        let b = LockEntry::new(Version::new(1), "b", checksum("b")).render();
        let lines = format!("{a}\n{b}\n");
        let text = format!(
            "total sha256:{}\n{lines}",
            Checksum::of_normalized(lines.as_bytes())
        );
        assert_eq!(
            Lock::parse(&text).unwrap_err(),
            [LockError::OutOfOrder {
                line: 3,
                version: Version::new(1),
                previous: Version::new(2),
            }]
        );
    }

    #[test]
    fn a_merge_conflict_is_one_error_at_its_first_marker() {
        let ours = Lock::new([LockEntry::new(Version::new(2), "a", checksum("a"))]).render();
        let theirs = Lock::new([LockEntry::new(Version::new(3), "b", checksum("b"))]).render();
        let (our_total, rest) = ours.split_once('\n').unwrap();
        let their_total = theirs.lines().next().unwrap();
        let text = format!("<<<<<<< HEAD\n{our_total}\n=======\n{their_total}\n>>>>>>> b\n{rest}");
        assert_eq!(
            Lock::parse(&text).unwrap_err(),
            [LockError::MergeConflict { line: 1 }]
        );
    }

    #[test]
    fn a_duplicate_version_is_named_as_such() {
        let error = LockError::OutOfOrder {
            line: 4,
            version: Version::new(2),
            previous: Version::new(2),
        };
        assert!(
            error.to_string().contains("version 2 is listed twice"),
            "{error}"
        );
    }

    #[test]
    fn upsert_and_remove_keep_order() {
        let mut lock = Lock::default();
        for v in [5, 1, 3] {
            lock.upsert(LockEntry::new(Version::new(v), "m", checksum("x")));
        }
        assert_eq!(
            lock.entries()
                .iter()
                .map(|e| e.version.get())
                .collect::<Vec<_>>(),
            [1, 3, 5]
        );
        assert!(lock.remove(Version::new(3)).is_some());
        assert!(lock.get(Version::new(3)).is_none());
    }
}
