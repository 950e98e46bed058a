//! How results are written: aligned tables, pretty JSON, and the database's name as an
//! operator types it.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::Failure;

/// The database's own name, as an operator types it to confirm: the SQLite file's name,
/// or the server database's.
pub(super) fn database_name(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    if let Some(path) = without_query
        .strip_prefix("sqlite://")
        .or_else(|| without_query.strip_prefix("sqlite:"))
    {
        return Path::new(path)
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
    }
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, r)| r);
    after_scheme
        .split_once('/')
        .map(|(_, db)| db.to_owned())
        .unwrap_or_default()
}

/// How wide a cell shows: its characters without colour codes.
fn shown_width(cell: &str) -> usize {
    anstream::adapter::strip_str(cell)
        .map(|part| part.chars().count())
        .sum()
}

/// `text` in `style` (which the output drops where colour is off).
pub(super) fn styled(text: &str, style: anstyle::Style) -> String {
    format!("{style}{text}{style:#}")
}

/// Columns padded to their widest cell; the last column is not padded. Cells may carry
/// colour: widths count what shows.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(shown_width(cell));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(shown_width(cell));
                let _ = write!(line, "{cell}{:pad$}  ", "");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Prints one of the [`json`](super::json) shapes, pretty.
pub(super) fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    say!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
    Ok(())
}

/// Writes what a command prints to standard output, in colour on a terminal (plain when
/// it is not one, or `NO_COLOR` is set: anstream decides). A reader that closed it (`db
/// status | head`) ends the command quietly instead of a panic on the broken pipe; Rust
/// ignores SIGPIPE, so the write reports it, and restoring the signal would also kill the
/// process on a database socket that breaks.
pub(super) fn write_out(text: std::fmt::Arguments<'_>, newline: bool) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = anstream::stdout().lock();
    let written = out
        .write_fmt(text)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(Failure::output_closed())
        }
        Err(error) => Err(Failure::check(format!("cannot write the output: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_what_an_operator_types() {
        assert_eq!(database_name("sqlite:/var/lib/app/tasks.db"), "tasks.db");
        assert_eq!(database_name("postgres://u:p@h:5432/app?x=1"), "app");
        assert_eq!(database_name("mysql://root@h/shop"), "shop");
    }

    #[test]
    fn tables_align_every_column_but_the_last() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["b".into(), "y".into()],
            ],
        );
        assert_eq!(out, "A          LONGER\nwide cell  x\nb          y\n");
    }
}
