//! The no-op startup as a fresh process: each sample spawns the tool's release
//! application binary ([`Kind::App`]),
//! which opens the database, runs its startup check and exits. The clock covers all of
//! it (loading the binary, connecting, the check, exiting): what every application
//! start pays.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::measure::{Contestant, Samples, Tool, interleave, set_round_trips};
use crate::postgres::Server;
use crate::scratch::{Kind, Profile, Workspace};
use crate::sqlite::remove_database;

/// The tools with a database of their own among `tools`: ours always, since the floor
/// reads its history (timed only when `tools` has it).
fn with_database(tools: &[Tool]) -> Vec<Tool> {
    [Tool::Ours, Tool::Sqlx, Tool::Refinery]
        .into_iter()
        .filter(|tool| *tool == Tool::Ours || tools.contains(tool))
        .collect()
}

/// Runs `binary` with `args`; returns how long it took and what it printed.
fn spawn(binary: &Path, args: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let output = Command::new(binary)
        .args(args)
        // Ours reads its environment from APP_ENV; the others ignore it.
        .env("APP_ENV", "test")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        elapsed,
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

/// What each binary prints on a database that is up to date.
fn expected_noop(tool: Tool, count: u64) -> String {
    match tool {
        Tool::Sqlx => "ok".to_owned(),
        Tool::Floor => format!("rows {count}"),
        _ => "applied 0".to_owned(),
    }
}

fn measure(
    workspace: &Workspace,
    label: &str,
    database: &str,
    targets: &[(Tool, String)],
    tools: &[Tool],
    count: u64,
    repetitions: usize,
) -> Vec<Samples> {
    // Each tool's binary brings its own database up to date first; the floor reads ours.
    for (tool, target) in targets {
        let binary = workspace.binary(*tool, Kind::App, Profile::Release);
        let (_, printed) = spawn(&binary, &[database, target]);
        if *tool != Tool::Sqlx {
            assert_eq!(printed, format!("applied {count}"), "{}", tool.label());
        }
    }
    let ours_target = targets[0].1.clone();
    let mut all = vec![(Tool::Floor, ours_target)];
    all.extend(targets.iter().cloned());
    all.retain(|(tool, _)| tools.contains(tool));
    let mut contestants: Vec<Contestant> = all
        .into_iter()
        .map(|(tool, target)| {
            let binary = workspace.binary(tool, Kind::App, Profile::Release);
            let expected = expected_noop(tool, count);
            Contestant::new(tool, move || {
                let (elapsed, printed) = spawn(&binary, &[database, &target]);
                assert_eq!(printed, expected, "{}", tool.label());
                elapsed
            })
        })
        .collect();
    interleave(label, 1, repetitions, &mut contestants)
}

/// Fresh processes of `tools` on SQLite files in `dir`.
pub fn sqlite(
    workspace: &Workspace,
    dir: &Path,
    count: u64,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let targets: Vec<(Tool, String)> = with_database(tools)
        .into_iter()
        .map(|tool| {
            let path = dir.join(format!("process-{}.db", tool.key()));
            remove_database(&path);
            (tool, path.display().to_string())
        })
        .collect();
    let samples = measure(
        workspace,
        "sqlite fresh process",
        "sqlite",
        &targets,
        tools,
        count,
        repetitions,
    );
    for (_, path) in &targets {
        remove_database(Path::new(path));
    }
    samples
}

/// Fresh processes of `tools` connecting to PostgreSQL on loopback.
pub fn postgres(
    workspace: &Workspace,
    runtime: &Runtime,
    server: &Server,
    count: u64,
    tools: &[Tool],
    repetitions: usize,
) -> Vec<Samples> {
    let databases = with_database(tools);
    let names: Vec<String> = runtime.block_on(async {
        let mut names = Vec::new();
        for &tool in &databases {
            names.push(server.create(&format!("process_{}", tool.key())).await);
        }
        names
    });
    let targets: Vec<(Tool, String)> = databases
        .iter()
        .zip(&names)
        .map(|(&tool, name)| (tool, server.database_url(name)))
        .collect();
    let mut samples = measure(
        workspace,
        "postgres fresh process",
        "postgres",
        &targets,
        tools,
        count,
        repetitions,
    );
    // One more start of each, on the wire, for its connections' round trips.
    let counts: Vec<(Tool, usize)> = samples
        .iter()
        .map(|samples| {
            let tool = samples.tool;
            let database = if tool == Tool::Floor {
                Tool::Ours
            } else {
                tool
            };
            let name = &names[databases.iter().position(|&t| t == database).unwrap()];
            let (url, traffic) = server.counted_url(name);
            let binary = workspace.binary(tool, Kind::App, Profile::Release);
            let (_, printed) = spawn(&binary, &["postgres", &url]);
            assert_eq!(printed, expected_noop(tool, count), "{}", tool.label());
            (tool, traffic.round_trips())
        })
        .collect();
    set_round_trips(&mut samples, &counts);
    runtime.block_on(async {
        for name in &names {
            server.drop_database(name).await;
        }
    });
    samples
}
