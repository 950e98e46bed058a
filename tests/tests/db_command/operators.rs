//! What an operator meets around the commands: output into a pipe that closes early.

use std::process::Stdio;

use super::Db;

on_every_database!(
    output_into_a_closed_pipe_ends_quietly,
    applied_by_comes_from_the_operating_system,
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
