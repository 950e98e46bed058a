//! What an operator meets around the commands: output into a pipe that closes early.

use std::process::Stdio;

use super::Db;

on_every_database!(
    output_into_a_closed_pipe_ends_quietly,
    applied_by_comes_from_the_operating_system,
    no_spelling_of_a_password_is_printed,
    progress_is_printed_as_each_migration_is_applied,
    states_are_coloured_only_where_colour_is_on,
);

/// `db status | head -0`: the reader is gone before the first line is written.
fn output_into_a_closed_pipe_ends_quietly(db: &Db) {
    db.migrate();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["verify"],
        &["plan"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = db
            .command("reversible", "test", &[], args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
}

/// A container or a service often has no `USER`: the history still names who it was.
fn applied_by_comes_from_the_operating_system(db: &Db) {
    let run: super::Run = db
        .command("reversible", "test", &[], &["migrate"])
        .env_remove("USER")
        .env_remove("USERNAME")
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{}", run.all());
    let status = db.status();
    let by = status["migrations"][0]["applied_by"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!by.starts_with("unknown@"), "{by}");
    assert!(by.contains('@'), "{by}");
}

/// Generated passwords hold `/`, `?` and `@`, and sqlx also reads one from the query:
/// none of them is ever printed, whether the URL parses or not.
fn no_spelling_of_a_password_is_printed(db: &Db) {
    if db.backend != "postgres" {
        // Trust authentication on the test server ignores the password; MariaDB checks it.
        return;
    }
    let (base, database) = db.url.rsplit_once('/').unwrap();
    let host = base.rsplit_once('@').unwrap().1;
    for url in [
        format!("postgres://postgres:pa/ss-cret@{host}/{database}"),
        format!("postgres://postgres:pa?ss-cret@{host}/{database}"),
        format!("postgres://postgres:pa%2Fss-cret@{host}/{database}"),
        format!("postgres://postgres@{host}/{database}?%70assword=pass-cret"),
        format!("postgres://postgres@{host}/{database}?sslmode=disable&password=pass-cret"),
    ] {
        for args in [&["status"][..], &["migrate"], &["verify"]] {
            let output = db
                .command(
                    "reversible",
                    "test",
                    &[("DATABASE_URL", url.as_str())],
                    args,
                )
                .output()
                .unwrap();
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!printed.contains("cret"), "{url} {args:?}:\n{printed}");
        }
    }
}

/// `db migrate` prints each migration the moment it is applied, not all at the end.
fn progress_is_printed_as_each_migration_is_applied(db: &Db) {
    use std::io::{BufRead, BufReader};
    let fixture = match db.backend {
        "postgres" => "slow_postgres",
        "mysql" => "slow_mysql",
        _ => "reversible",
    };
    let mut child = db
        .command(fixture, "test", &[], &["migrate"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.trim_start().starts_with('+'))
        .expect("a line for the first migration");
    assert!(first.contains(" 1  "), "{first}");
    if db.backend != "sqlite" {
        // Version 2 sleeps for 4 s: its line has not come, and the run goes on.
        assert!(
            child.try_wait().unwrap().is_none(),
            "printed only at the end"
        );
    }
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    let steps: Vec<&String> = rest
        .iter()
        .filter(|l| l.trim_start().starts_with('+'))
        .collect();
    assert!(steps[0].contains(" 2  "), "{rest:#?}");
    // The summary follows, without repeating the lines.
    let summary = rest
        .iter()
        .position(|l| l.starts_with("schema: applied"))
        .unwrap();
    assert!(
        rest[summary + 1..]
            .iter()
            .all(|l| !l.trim_start().starts_with('+')),
        "{rest:#?}"
    );
}

/// Colour where a terminal (or CLICOLOR_FORCE) asks for it; never with NO_COLOR or into a
/// pipe.
fn states_are_coloured_only_where_colour_is_on(db: &Db) {
    db.migrate();
    let plain = db.db("test", &["status"]);
    assert!(!plain.stdout.contains('\u{1b}'), "{}", plain.stdout);
    let forced: super::Run = db
        .command(
            "reversible",
            "test",
            &[("CLICOLOR_FORCE", "1")],
            &["status"],
        )
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
        .into();
    assert!(
        forced.stdout.contains("\u{1b}[32mapplied"),
        "{}",
        forced.stdout
    );
}
