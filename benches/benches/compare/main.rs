//! This project beside sqlx's `migrate!` + `Migrator` and refinery's
//! `embed_migrations!`, on the same generated migrations (a table, an index and three
//! rows each), in one run, each against a floor: the raw driver doing the least possible.
//!
//! Scenarios, each interleaving the tools round by round:
//!
//! - `sqlite`: apply everything to an empty file in `/dev/shm`, and the no-op startup
//!   on an up-to-date file (a fresh connection per sample), at every size.
//! - `postgres`: the same on PostgreSQL over loopback (connections opened before the
//!   clock), ours also in grouped mode; skipped, saying why, without a server URL.
//! - `process`: the no-op startup as a fresh process of each tool's release startup
//!   binary, on SQLite and PostgreSQL.
//! - `build`: `cargo build --release` of a crate holding only each tool's macro, after
//!   touching one migration, after adding one, and with nothing changed (does the macro
//!   run again?), ours also with `schema-runtime`'s `check-sqlite` (the macro replays the
//!   folder into an in-memory SQLite); and of the startup binaries after touching one
//!   migration.
//!
//! The process and build scenarios use scratch crates with `BENCH_BUILD_SIZE`
//! migrations, built under `target/tmp/compare` (the first run on a machine compiles
//! their dependencies, a few minutes; later runs reuse them).
//!
//! `cargo bench -p schema-benches --bench compare` runs it all with `TEST_POSTGRES_URL`
//! set; it prints a table per scenario, then the README's table, and writes
//! `target/bench-results/compare.json` and `compare.md`. Environment variables:
//!
//! - `BENCH_SIZES` (default `100,1000,10000`): sizes of the in-process scenarios.
//! - `BENCH_SCENARIOS` (default `sqlite,postgres,process,build`).
//! - `BENCH_TOOLS` (default `floor,ours,ours-checked,sqlx,refinery`): the tools measured
//!   in every scenario; `floor,ours,sqlx` skips refinery's 80-second builds. The floor
//!   must be among them: every ratio is to it. Without ours, the no-op and fresh-process
//!   scenarios still bring ours' database up to date, untimed: the floor reads its
//!   history. `ours-checked` is ours' macro-only crate with `check-sqlite`, measured in
//!   the build scenario's macro builds alone (the check costs nothing at run time); its
//!   targets compare it with ours, so list ours too.
//! - `BENCH_REPS`: rounds of every timed scenario but builds (defaults scale with size).
//! - `BENCH_BUILD_SIZE` (default 1000): migrations in the scratch binaries.
//! - `BENCH_BUILD_REPS` (default 3) and `BENCH_BUILD_PROFILES` (default `release`; `dev`
//!   too with `dev,release`).
//! - `BENCH_POSTGRES_URL` or `TEST_POSTGRES_URL`: a server where this run may create
//!   (and drops) databases of its own.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it does one quick round of the
//! in-process scenarios at 20 migrations and writes nothing.

/// Progress on stderr, with the minutes since the run started.
macro_rules! stage {
    ($($arg:tt)*) => {
        eprintln!(
            "[{:>5.1} min] {}",
            crate::START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() / 60.0,
            format!($($arg)*)
        )
    };
}

mod builds;
mod measure;
mod postgres;
mod process;
mod report;
mod scratch;
mod sqlite;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::builds::Step;
use crate::measure::Tool;
use crate::report::{Check, Outcome, Target, thousands};
use crate::scratch::{Kind, Profile, TOOLS, Workspace};
use crate::tools::Sets;

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

const COMMAND: &str =
    "TEST_POSTGRES_URL=postgres://… cargo bench -p schema-benches --bench compare";

struct Config {
    quick: bool,
    sizes: Vec<u64>,
    scenarios: Vec<String>,
    /// The measured tools, in [`TOOLS`]' order; the floor always among them.
    /// [`Tool::OursChecked`] only in the macro builds: [`Config::runtime_tools`] are the
    /// others.
    tools: Vec<Tool>,
    repetitions: Option<usize>,
    build_size: u64,
    build_repetitions: usize,
    build_profiles: Vec<Profile>,
}

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(var: &str) -> Option<usize> {
    let value = std::env::var(var).ok()?;
    Some(
        value
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{var}={value} is not a number")),
    )
}

impl Config {
    fn from_env() -> Config {
        let quick = !std::env::args().any(|a| a == "--bench");
        if quick {
            return Config {
                quick,
                sizes: vec![20],
                scenarios: vec!["sqlite".into(), "postgres".into()],
                tools: TOOLS.to_vec(),
                repetitions: Some(1),
                build_size: 20,
                build_repetitions: 1,
                build_profiles: vec![Profile::Release],
            };
        }
        let sizes = list("BENCH_SIZES", "100,1000,10000")
            .iter()
            .map(|s| {
                s.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("BENCH_SIZES: {s} is not a number"))
            })
            .collect();
        let scenarios = list("BENCH_SCENARIOS", "sqlite,postgres,process,build");
        for scenario in &scenarios {
            assert!(
                ["sqlite", "postgres", "process", "build"].contains(&scenario.as_str()),
                "BENCH_SCENARIOS: unknown scenario {scenario} (sqlite, postgres, process, build)"
            );
        }
        let chosen: Vec<Tool> = list("BENCH_TOOLS", "floor,ours,ours-checked,sqlx,refinery")
            .iter()
            .map(|t| match t.as_str() {
                "floor" => Tool::Floor,
                "ours" => Tool::Ours,
                "ours-checked" | "ours_checked" => Tool::OursChecked,
                "sqlx" => Tool::Sqlx,
                "refinery" => Tool::Refinery,
                other => panic!(
                    "BENCH_TOOLS: unknown tool {other} (floor, ours, ours-checked, sqlx, refinery)"
                ),
            })
            .collect();
        assert!(
            chosen.contains(&Tool::Floor),
            "BENCH_TOOLS: floor is missing; it must be included, every ratio is to its median"
        );
        let tools = TOOLS.into_iter().filter(|t| chosen.contains(t)).collect();
        let build_profiles = list("BENCH_BUILD_PROFILES", "release")
            .iter()
            .map(|p| match p.as_str() {
                "dev" => Profile::Dev,
                "release" => Profile::Release,
                other => panic!("BENCH_BUILD_PROFILES: unknown profile {other} (dev, release)"),
            })
            .collect();
        Config {
            quick,
            sizes,
            scenarios,
            tools,
            repetitions: number("BENCH_REPS"),
            build_size: number("BENCH_BUILD_SIZE").unwrap_or(1000) as u64,
            build_repetitions: number("BENCH_BUILD_REPS").unwrap_or(3),
            build_profiles,
        }
    }

    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    /// The tools of every scenario but the macro builds: ours with `check-sqlite` differs
    /// from ours only at compile time.
    fn runtime_tools(&self) -> Vec<Tool> {
        self.tools
            .iter()
            .copied()
            .filter(|&tool| tool != Tool::OursChecked)
            .collect()
    }

    /// Rounds of an apply-all scenario: fewer where one round takes long (on
    /// PostgreSQL at 10,000 migrations, a round is minutes).
    fn apply_repetitions(&self, size: u64) -> usize {
        self.repetitions.unwrap_or(match size {
            0..=100 => 15,
            101..=1000 => 7,
            _ => 3,
        })
    }

    fn noop_repetitions(&self, size: u64) -> usize {
        self.repetitions
            .unwrap_or(if size <= 1000 { 101 } else { 31 })
    }

    fn process_repetitions(&self) -> usize {
        self.repetitions.unwrap_or(51)
    }
}

/// The targets for ours, set at 1,000 migrations.
fn target(key: &str, size: u64) -> Option<Target> {
    if size != 1000 {
        return None;
    }
    let (ours_within, measured_then) = match key {
        "sqlite.noop" => (1.1, "sqlx 1.36x, refinery 1.50x"),
        "sqlite.process" => (1.2, "sqlx 2.53x, refinery 1.95x"),
        "postgres.noop" => (1.3, "sqlx 2.36x, refinery 2.87x"),
        "sqlite.apply" => (1.3, "sqlx 4.28x, refinery 1.89x"),
        "postgres.apply" => (1.3, "sqlx 1.57x, refinery 1.43x"),
        "embed.release.touch_one" => (1.5, "sqlx 2.87x, refinery 234x (54 s)"),
        _ => return None,
    };
    Some(Target {
        ours_within,
        measured_then,
    })
}

/// What ours with `check-sqlite` may add to ours' build after touching one of 1,000
/// migrations (the target).
const CHECK_TOUCH_BUDGET_S: f64 = 1.0;

/// The targets for ours with `check-sqlite`, on the macro builds: touching one
/// of 1,000 migrations takes at most [`CHECK_TOUCH_BUDGET_S`] longer than ours (medians),
/// and a build with nothing changed runs nothing (cargo finds the binary fresh every
/// time). None where the row is another step, or ours is not measured beside it.
fn check_targets(result: &Outcome, step: Step, fresh: &[(Tool, Vec<bool>)]) -> Vec<Check> {
    let mut checks = Vec::new();
    let sample = |tool| result.samples.iter().find(|s| s.tool == tool);
    match step {
        Step::Touch if result.size == 1000 => {
            if let (Some(checked), Some(ours)) = (sample(Tool::OursChecked), sample(Tool::Ours)) {
                let above = checked.median() - ours.median();
                checks.push(Check {
                    target: format!(
                        "touch one: {} at most {CHECK_TOUCH_BUDGET_S} s above ours",
                        Tool::OursChecked.label()
                    ),
                    met: above <= CHECK_TOUCH_BUDGET_S,
                    measured: format!(
                        "{above:+.2} s: {:.2} s against {:.2} s",
                        checked.median(),
                        ours.median()
                    ),
                });
            }
        }
        Step::NoChange => {
            if let Some((_, flags)) = fresh.iter().find(|(tool, _)| *tool == Tool::OursChecked) {
                let reran = flags.iter().filter(|fresh| !**fresh).count();
                checks.push(Check {
                    target: format!(
                        "nothing changed: {} re-runs nothing",
                        Tool::OursChecked.label()
                    ),
                    met: reran == 0,
                    measured: format!("rustc ran again in {reran} of {} builds", flags.len()),
                });
            }
        }
        _ => {}
    }
    checks
}

fn outcome(
    key: &str,
    title: &str,
    floor: &'static str,
    size: u64,
    repetitions: usize,
    samples: Vec<measure::Samples>,
) -> Outcome {
    Outcome {
        key: key.to_owned(),
        title: title.to_owned(),
        size,
        repetitions,
        floor,
        samples,
        target: target(key, size),
        checks: Vec::new(),
        variants: Vec::new(),
        extra: Value::Null,
        notes: Vec::new(),
    }
}

/// Prints an outcome's table as soon as it is measured (a long run that stops early
/// still shows what it got) and keeps it for the summary and the JSON.
fn record(outcomes: &mut Vec<Outcome>, outcome: Outcome) {
    print!("{}", outcome.render());
    outcomes.push(outcome);
}

/// A build step's runs as an outcome; no-change builds also tell whether the macro ran.
fn build_outcome(
    kind: Kind,
    profile: Profile,
    runs: builds::StepRuns,
    size: u64,
    repetitions: usize,
    reran: &mut Vec<(Tool, bool)>,
) -> Outcome {
    let key = format!("{}.{}.{}", kind.name(), profile.name(), runs.step.key());
    let command = match profile {
        Profile::Release => "`cargo build --release`",
        Profile::Dev => "`cargo build`",
    };
    let (title, floor) = match kind {
        Kind::Embed => (
            format!("{command}, the macro alone, {}", runs.step.label()),
            "a crate with no dependencies that `include_str!`s the same files",
        ),
        Kind::App => (
            format!("{command} of the startup binary {}", runs.step.label()),
            "a binary with the same drivers that `include_str!`s the same files and runs one `SELECT`",
        ),
    };
    let mut result = outcome(&key, &title, floor, size, repetitions, runs.samples);
    if kind == Kind::Embed {
        result.checks = check_targets(&result, runs.step, &runs.fresh);
        result.variants.push((
            Tool::OursChecked,
            format!(
                "{command}, the macro with `check-sqlite`, {}",
                runs.step.label()
            ),
        ));
    }
    let fresh: serde_json::Map<String, Value> = runs
        .fresh
        .iter()
        .map(|(tool, flags)| (tool.key().to_owned(), json!(flags)))
        .collect();
    result.extra = json!({ "fresh": fresh });
    if runs.step == Step::NoChange {
        for (tool, flags) in &runs.fresh {
            let count = flags.iter().filter(|fresh| !**fresh).count();
            result.notes.push(format!(
                "{}: rustc (and so the macro) ran again in {count} of {} no-change builds",
                tool.label(),
                flags.len()
            ));
            if *tool != Tool::Floor && profile == Profile::Release {
                reran.push((*tool, count == 0));
            }
        }
    }
    result
}

fn tool_version(program: &str) -> String {
    Command::new(program)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `<target>/bench-results`, whatever `CARGO_TARGET_DIR` says.
fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("bench-results")
}

fn main() {
    // `cargo bench` hands every bench target the same filters: none naming this one
    // means another target was asked for.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "compare".contains(f.as_str())) {
        return;
    }
    let config = Config::from_env();
    // All but the macro builds, which take `config.tools`.
    let tools = config.runtime_tools();
    START.get_or_init(std::time::Instant::now);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare");
    std::fs::create_dir_all(&work).unwrap();
    let shm = sqlite::scratch_dir("db");
    let load_before = load_average();

    let mut skipped: Vec<String> = Vec::new();
    let server = if config.runs("postgres") || config.runs("process") {
        match postgres::Server::from_env(&runtime) {
            Ok(server) => Some(server),
            Err(why) => {
                let message = format!("PostgreSQL scenarios skipped: {why}");
                eprintln!("{message}");
                skipped.push(message);
                None
            }
        }
    } else {
        None
    };
    let server_version: Option<String> = server
        .as_ref()
        .map(|server| runtime.block_on(server.version()));

    let mut outcomes: Vec<Outcome> = Vec::new();
    let in_process = config.runs("sqlite") || (config.runs("postgres") && server.is_some());
    for &size in config.sizes.iter().filter(|_| in_process) {
        stage!(
            "{} migrations: writing them in each tool's naming",
            thousands(size)
        );
        let sets = Sets::load(&work, size, &runtime);
        if config.runs("sqlite") {
            let reps = config.apply_repetitions(size);
            stage!("SQLite, apply all: {reps} rounds");
            let samples = sqlite::apply_all(&sets, &runtime, &shm, &tools, reps);
            record(
                &mut outcomes,
                outcome(
                    "sqlite.apply",
                    "SQLite: apply all to an empty file",
                    "the same SQL in one `execute_batch`, one transaction (rusqlite)",
                    size,
                    reps,
                    samples,
                ),
            );
            let reps = config.noop_repetitions(size);
            stage!("SQLite, no-op startup: {reps} rounds");
            let samples = sqlite::noop(&sets, &runtime, &shm, &tools, reps);
            record(
                &mut outcomes,
                outcome(
                    "sqlite.noop",
                    "SQLite: no-op startup, fresh connection",
                    "open a connection, one `SELECT version, checksum` of the history (rusqlite)",
                    size,
                    reps,
                    samples,
                ),
            );
        }
        if let Some(server) = server.as_ref().filter(|_| config.runs("postgres")) {
            let reps = config.apply_repetitions(size);
            stage!("PostgreSQL, apply all: {reps} rounds");
            let samples = postgres::apply_all(&sets, &runtime, server, &tools, reps);
            let mut result = outcome(
                "postgres.apply",
                "PostgreSQL: apply all to an empty database",
                "the same SQL as one batch in one transaction (sqlx `raw_sql`)",
                size,
                reps,
                samples,
            );
            if size > postgres::FLOOR_TRANSACTION {
                result.notes.push(format!(
                    "the floor commits every {} migrations and ours (grouped) is not run: one transaction \
                     creating {} tables and indexes needs more locks than a server with the default \
                     max_locks_per_transaction has room for (\"out of shared memory\")",
                    thousands(postgres::FLOOR_TRANSACTION),
                    thousands(size)
                ));
            }
            record(&mut outcomes, result);
            let reps = config.noop_repetitions(size);
            stage!("PostgreSQL, no-op startup: {reps} rounds");
            let samples = postgres::noop(&sets, &runtime, server, &tools, reps);
            record(
                &mut outcomes,
                outcome(
                    "postgres.noop",
                    "PostgreSQL: no-op startup, open connection",
                    "one prepared `SELECT version, checksum` of the history (sqlx)",
                    size,
                    reps,
                    samples,
                ),
            );
        }
    }

    let mut never_reran: Option<Vec<(Tool, bool)>> = None;
    if !config.quick && (config.runs("process") || config.runs("build")) {
        let size = config.build_size;
        stage!(
            "scratch binaries with {} migrations each, built under {}",
            thousands(size),
            work.display()
        );
        let mut workspace = Workspace::create(&work, size);
        // The fresh-process floor reads the history ours' binary writes.
        let mut app_tools = tools.clone();
        if config.runs("process") && !app_tools.contains(&Tool::Ours) {
            app_tools.insert(1, Tool::Ours);
        }
        builds::warm_up(&mut workspace, Kind::App, Profile::Release, &app_tools);
        if config.runs("build") {
            for &profile in &config.build_profiles {
                builds::warm_up(&mut workspace, Kind::Embed, profile, &config.tools);
            }
        }
        // Before the build scenario adds migrations to the binaries.
        if config.runs("process") {
            let reps = config.process_repetitions();
            stage!("SQLite, fresh process: {reps} rounds");
            let samples = process::sqlite(&workspace, &shm, size, &tools, reps);
            record(
                &mut outcomes,
                outcome(
                    "sqlite.process",
                    "SQLite: no-op startup as a fresh process",
                    "a release binary that opens the file and runs one `SELECT` of the history (rusqlite)",
                    size,
                    reps,
                    samples,
                ),
            );
            if let Some(server) = &server {
                stage!("PostgreSQL, fresh process: {reps} rounds");
                let samples = process::postgres(&workspace, &runtime, server, size, &tools, reps);
                record(
                    &mut outcomes,
                    outcome(
                        "postgres.process",
                        "PostgreSQL: no-op startup as a fresh process",
                        "a release binary that connects and runs one `SELECT` of the history (sqlx)",
                        size,
                        reps,
                        samples,
                    ),
                );
            }
        }
        if config.runs("build") {
            let reps = config.build_repetitions;
            let mut reran = Vec::new();
            for &profile in &config.build_profiles {
                stage!(
                    "cargo build ({}), the macros alone: {reps} rounds",
                    profile.name()
                );
                let runs = builds::measure(
                    &mut workspace,
                    Kind::Embed,
                    profile,
                    &config.tools,
                    &Step::ALL,
                    size,
                    reps,
                );
                for runs in runs {
                    let result = build_outcome(Kind::Embed, profile, runs, size, reps, &mut reran);
                    record(&mut outcomes, result);
                }
            }
            stage!("cargo build --release, the applications: {reps} rounds");
            let runs = builds::measure(
                &mut workspace,
                Kind::App,
                Profile::Release,
                &tools,
                &[Step::Touch],
                size,
                reps,
            );
            for runs in runs {
                let result =
                    build_outcome(Kind::App, Profile::Release, runs, size, reps, &mut reran);
                record(&mut outcomes, result);
            }
            never_reran = Some(reran);
        }
    }

    let load_after = load_average();
    for message in &skipped {
        println!("\n{message}");
    }
    println!(
        "\nload average before {load_before}, after {load_after} ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if config.quick {
        let _ = std::fs::remove_dir_all(&shm);
        return;
    }

    let mut sizes = config.sizes.clone();
    sizes.push(config.build_size);
    sizes.sort_unstable();
    sizes.dedup();
    let mut markdown = String::new();
    for size in sizes {
        let table = report::markdown(&outcomes, size);
        if !table.is_empty() {
            markdown.push_str(&table);
            markdown.push('\n');
        }
    }
    if let Some(reran) = &never_reran {
        let said: Vec<String> = reran
            .iter()
            .map(|(tool, never)| {
                let answer = if *never { "no" } else { "yes" };
                format!("{} {answer}", tool.label())
            })
            .collect();
        markdown.push_str(&format!(
            "Does a release rebuild with nothing changed run the macro again? {}.\n\n",
            said.join(", ")
        ));
    }
    markdown.push_str(&format!("Reproduce with `{COMMAND}`.\n"));
    println!("\nREADME table:\n\n{markdown}");

    let report = json!({
        "benchmark": "compare",
        "command": COMMAND,
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cargo": tool_version(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())),
            "sqlite": schema_runtime::rusqlite::version(),
            "postgres": server_version,
            "sqlite_files_in": shm.parent().map(|p| p.display().to_string()),
        },
        "config": {
            "sizes": config.sizes,
            "scenarios": config.scenarios,
            "tools": config.tools.iter().map(|t| t.key()).collect::<Vec<_>>(),
            "repetitions_override": config.repetitions,
            "build_size": config.build_size,
            "build_repetitions": config.build_repetitions,
            "build_profiles": config.build_profiles.iter().map(|p| p.name()).collect::<Vec<_>>(),
        },
        "skipped": skipped,
        "no_change_build_never_reran_macro": never_reran.map(|list| list
            .into_iter()
            .map(|(tool, never)| (tool.key().to_owned(), json!(never)))
            .collect::<serde_json::Map<_, _>>()),
        "outcomes": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
    });
    let out = results_dir();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("compare.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    std::fs::write(out.join("compare.md"), &markdown).unwrap();
    println!(
        "wrote {} and compare.md",
        out.join("compare.json").display()
    );
    if let Some(server) = &server {
        runtime.block_on(server.close());
    }
    let _ = std::fs::remove_dir_all(&shm);
}
