//! What `embed_migrations!()` adds to `cargo build` for 1,000 migrations, beside the
//! floor: the same files embedded with plain `include_str!` in a crate with no
//! dependencies and no build script.
//!
//! Both are scratch crates built by the real cargo, dependencies warm. For the dev and
//! release profiles it times a build after touching one migration, after adding one, and
//! with nothing changed, and reads from cargo's JSON messages whether the no-change build
//! ran rustc (and so the macro) at all. Runs alternate between the two crates, so a
//! change in the machine's load weighs on both alike.
//!
//! `cargo bench -p schema-benches --bench build_cost` prints a table and writes
//! `target/bench-results/build_cost.json`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use schema_runtime::rules::{Checksum, Lock, LockEntry, Version};
use serde_json::{Value, json};

const MIGRATIONS: u64 = 1_000;
const REPETITIONS: usize = 5;
/// The design's budget for expanding 1,000 migrations.
const BUDGET_SECONDS: f64 = 1.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Macro,
    Baseline,
}

impl Kind {
    fn package(self) -> &'static str {
        match self {
            Kind::Macro => "build-cost-macro",
            Kind::Baseline => "build-cost-baseline",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Profile {
    Dev,
    Release,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }

    fn output_dir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Touch,
    Add,
    NoChange,
}

impl Step {
    const ALL: [Step; 3] = [Step::Touch, Step::Add, Step::NoChange];

    fn key(self) -> &'static str {
        match self {
            Step::Touch => "touch_one",
            Step::Add => "add_one",
            Step::NoChange => "no_change",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Step::Touch => "touch one file",
            Step::Add => "add one file",
            Step::NoChange => "no change",
        }
    }
}

/// A table, an index and three rows: about 200 bytes, valid SQL on SQLite and PostgreSQL.
fn migration_sql(version: u64) -> String {
    format!(
        "CREATE TABLE t{version:04} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER);\n\
         CREATE INDEX t{version:04}_name ON t{version:04} (name);\n\
         INSERT INTO t{version:04} (name, score) VALUES ('a', 1), ('b', 2), ('c', 3);\n"
    )
}

fn migration_name(version: u64) -> String {
    format!("create_t{version:04}")
}

fn file_name(version: u64) -> String {
    format!("{version:04}_{}.sql", migration_name(version))
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits inside the workspace")
        .to_path_buf()
}

fn scratch_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("build_cost")
}

/// Shared by both crates and kept between runs of the bench, so dependencies stay compiled.
fn target_dir() -> PathBuf {
    scratch_root().join("target")
}

fn toml_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

struct Build {
    seconds: f64,
    /// Cargo reused the crate's binary: rustc, and so the macro, did not run.
    fresh: bool,
    /// What else was compiled (schema-runtime edited meanwhile): not the cost being
    /// measured.
    dependencies_rebuilt: Vec<String>,
}

struct Scratch {
    kind: Kind,
    dir: PathBuf,
    versions: u64,
    last_build_end: SystemTime,
}

impl Scratch {
    fn create(kind: Kind) -> Scratch {
        let dir = scratch_root().join(kind.package());
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::create_dir_all(dir.join("migrations")).unwrap();
        let mut manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n",
            kind.package()
        );
        if kind == Kind::Macro {
            let runtime = toml_string(&workspace_dir().join("schema-runtime"));
            manifest.push_str(&format!(
                "[dependencies]\nschema-runtime = {{ path = {runtime}, default-features = false }}\n\n\
                 [build-dependencies]\nschema-runtime = {{ path = {runtime}, default-features = false }}\n\n"
            ));
            fs::write(
                dir.join("build.rs"),
                "fn main() {\n    schema_runtime::build::track(\"migrations\");\n}\n",
            )
            .unwrap();
            // The versions the workspace is tested with, and no resolve on the way.
            if let Ok(lock) = fs::read(workspace_dir().join("Cargo.lock")) {
                fs::write(dir.join("Cargo.lock"), lock).unwrap();
            }
        }
        manifest.push_str("# Not a member of the workspace that runs the bench.\n[workspace]\n");
        fs::write(dir.join("Cargo.toml"), manifest).unwrap();

        for version in 1..=MIGRATIONS {
            fs::write(
                dir.join("migrations").join(file_name(version)),
                migration_sql(version),
            )
            .unwrap();
        }
        if kind == Kind::Macro {
            // A project with 1,000 migrations has applied them: the macro checks each
            // against its lock line too.
            let lock = Lock::new((1..=MIGRATIONS).map(|version| {
                LockEntry::new(
                    Version::new(version),
                    migration_name(version),
                    Checksum::of_file(migration_sql(version).as_bytes()),
                )
            }));
            fs::write(dir.join("migrations/migrations.lock"), lock.render()).unwrap();
        }
        let mut scratch = Scratch {
            kind,
            dir,
            versions: MIGRATIONS,
            last_build_end: SystemTime::UNIX_EPOCH,
        };
        scratch.write_main();
        scratch
    }

    /// Both binaries go through `black_box`, so a release build keeps every migration's
    /// text, as a real application that runs them does.
    fn write_main(&mut self) {
        let main = match self.kind {
            Kind::Macro => "static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();\n\n\
                 fn main() {\n\
                 \x20   let migrations = std::hint::black_box(&MIGRATIONS).migrations();\n\
                 \x20   let bytes: usize = migrations.iter().map(|m| m.sql().len()).sum();\n\
                 \x20   println!(\"{} {bytes}\", migrations.len());\n\
                 }\n"
                .to_owned(),
            Kind::Baseline => {
                let mut main = String::from("static MIGRATIONS: &[&str] = &[\n");
                for version in 1..=self.versions {
                    writeln!(
                        main,
                        "    include_str!(\"../migrations/{}\"),",
                        file_name(version)
                    )
                    .unwrap();
                }
                main.push_str(
                    "];\n\n\
                     fn main() {\n\
                     \x20   let migrations = std::hint::black_box(MIGRATIONS);\n\
                     \x20   let bytes: usize = migrations.iter().map(|m| m.len()).sum();\n\
                     \x20   println!(\"{} {bytes}\", migrations.len());\n\
                     }\n",
                );
                main
            }
        };
        fs::write(self.dir.join("src/main.rs"), main).unwrap();
    }

    /// Waits until a write is sure to get an mtime after the last build's: some file
    /// systems keep whole seconds.
    fn settle(&self) {
        let ready = self.last_build_end + Duration::from_millis(1100);
        if let Ok(wait) = ready.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
    }

    fn touch(&self, version: u64) {
        self.settle();
        let file = fs::File::options()
            .write(true)
            .open(self.dir.join("migrations").join(file_name(version)))
            .unwrap();
        file.set_modified(SystemTime::now()).unwrap();
    }

    /// Adds the next migration; the baseline also lists it, as its author would by hand.
    fn add(&mut self) {
        self.settle();
        self.versions += 1;
        fs::write(
            self.dir.join("migrations").join(file_name(self.versions)),
            migration_sql(self.versions),
        )
        .unwrap();
        if self.kind == Kind::Baseline {
            self.write_main();
        }
    }

    fn build(&mut self, profile: Profile) -> Build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--message-format=json"])
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never");
        if profile == Profile::Release {
            command.arg("--release");
        }
        let start = Instant::now();
        let output = command.output().unwrap();
        let seconds = start.elapsed().as_secs_f64();
        self.last_build_end = SystemTime::now();

        let stdout = String::from_utf8_lossy(&output.stdout);
        let messages: Vec<Value> = stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if !output.status.success() {
            let rendered: Vec<&str> = messages
                .iter()
                .filter_map(|m| m["message"]["rendered"].as_str())
                .collect();
            panic!(
                "{} did not build:\n{}\n{}",
                self.kind.package(),
                rendered.join("\n"),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let manifest = self.dir.join("Cargo.toml");
        let artifacts: Vec<&Value> = messages
            .iter()
            .filter(|m| m["reason"] == "compiler-artifact")
            .collect();
        let fresh = artifacts
            .iter()
            .find(|m| {
                m["target"]["name"] == self.kind.package()
                    && m["target"]["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            })
            .and_then(|m| m["fresh"].as_bool())
            .unwrap_or_else(|| panic!("no compiler-artifact message for {}", self.kind.package()));
        let dependencies_rebuilt = artifacts
            .iter()
            .filter(|m| {
                m["fresh"] == false && m["manifest_path"].as_str().map(Path::new) != Some(&manifest)
            })
            .map(|m| m["package_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        Build {
            seconds,
            fresh,
            dependencies_rebuilt,
        }
    }

    /// How many migrations the last build's binary embeds.
    fn embedded(&self, profile: Profile) -> u64 {
        let binary = target_dir().join(profile.output_dir()).join(format!(
            "{}{}",
            self.kind.package(),
            std::env::consts::EXE_SUFFIX
        ));
        let output = Command::new(&binary).output().unwrap();
        assert!(output.status.success(), "{} failed", binary.display());
        String::from_utf8(output.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("{} printed no count", binary.display()))
    }
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(runs: &[Build]) -> Stats {
    let mut seconds: Vec<f64> = runs.iter().map(|b| b.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    let middle = seconds.len() / 2;
    let median = if seconds.len() % 2 == 1 {
        seconds[middle]
    } else {
        (seconds[middle - 1] + seconds[middle]) / 2.0
    };
    Stats {
        median,
        min: seconds[0],
        max: seconds[seconds.len() - 1],
    }
}

fn stats_json(runs: &[Build]) -> Value {
    let s = stats(runs);
    json!({
        "median": s.median,
        "min": s.min,
        "max": s.max,
        "runs": runs.iter().map(|b| b.seconds).collect::<Vec<_>>(),
        "fresh": runs.iter().map(|b| b.fresh).collect::<Vec<_>>(),
    })
}

/// Runs of one (profile, step), for each crate.
struct Row {
    profile: Profile,
    step: Step,
    macro_runs: Vec<Build>,
    baseline_runs: Vec<Build>,
}

fn measure(profile: Profile, crates: &mut [Scratch; 2]) -> Vec<Row> {
    eprintln!("{}: warming up", profile.name());
    for scratch in crates.iter_mut() {
        scratch.build(profile);
    }
    let mut rows: Vec<Row> = Step::ALL
        .iter()
        .map(|&step| Row {
            profile,
            step,
            macro_runs: Vec::new(),
            baseline_runs: Vec::new(),
        })
        .collect();
    for repetition in 0..REPETITIONS {
        eprintln!("{}: run {}/{REPETITIONS}", profile.name(), repetition + 1);
        // Alternate who goes first, so neither always builds right after the other.
        let order = if repetition % 2 == 0 { [0, 1] } else { [1, 0] };
        for (row, &step) in rows.iter_mut().zip(Step::ALL.iter()) {
            for &index in &order {
                let scratch = &mut crates[index];
                let mut attempts = 0;
                let build = loop {
                    attempts += 1;
                    match step {
                        // A different file each time, in the middle of the folder.
                        Step::Touch => scratch.touch(MIGRATIONS / 2 + repetition as u64),
                        Step::Add => scratch.add(),
                        Step::NoChange => {}
                    }
                    let build = scratch.build(profile);
                    // Bounded: edits that never stop would otherwise hang the bench.
                    if build.dependencies_rebuilt.is_empty() || attempts == 3 {
                        break build;
                    }
                    eprintln!(
                        "{}: {} recompiled during `{}` (edited meanwhile?); run again",
                        scratch.kind.package(),
                        build.dependencies_rebuilt.join(", "),
                        step.label()
                    );
                };
                if step != Step::NoChange {
                    assert!(
                        !build.fresh,
                        "{}: cargo did not rebuild after `{}`; the timing would mean nothing",
                        scratch.kind.package(),
                        step.label()
                    );
                }
                if step == Step::Add {
                    assert_eq!(
                        scratch.embedded(profile),
                        scratch.versions,
                        "{}: the added migration was not embedded",
                        scratch.kind.package()
                    );
                }
                match scratch.kind {
                    Kind::Macro => row.macro_runs.push(build),
                    Kind::Baseline => row.baseline_runs.push(build),
                }
            }
        }
    }
    rows
}

fn cargo_version() -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that names no benchmark here means skip.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "build_cost".contains(f.as_str())) {
        return;
    }

    let mut crates = [
        Scratch::create(Kind::Macro),
        Scratch::create(Kind::Baseline),
    ];
    let mut rows = Vec::new();
    for profile in [Profile::Dev, Profile::Release] {
        rows.extend(measure(profile, &mut crates));
    }

    let bytes: usize = (1..=MIGRATIONS).map(|v| migration_sql(v).len()).sum();
    let average = bytes as f64 / MIGRATIONS as f64;
    let mut table = String::new();
    writeln!(
        table,
        "build cost: {MIGRATIONS} migrations of {average:.0} bytes on average; {REPETITIONS} interleaved runs each; seconds"
    )
    .unwrap();
    writeln!(
        table,
        "{:<8} {:<15} {:>28} {:>28} {:>7} {:>8}",
        "profile",
        "build",
        "embed_migrations! med [min-max]",
        "include_str! med [min-max]",
        "ratio",
        "added"
    )
    .unwrap();
    let mut results = Vec::new();
    let mut worst_added: f64 = f64::MIN;
    for row in &rows {
        let m = stats(&row.macro_runs);
        let b = stats(&row.baseline_runs);
        let ratio = m.median / b.median;
        let added = m.median - b.median;
        if row.step != Step::NoChange {
            worst_added = worst_added.max(added);
        }
        writeln!(
            table,
            "{:<8} {:<15} {:>28} {:>28} {:>6.2}x {:>+8.3}",
            row.profile.name(),
            row.step.label(),
            format!("{:.3} [{:.3}-{:.3}]", m.median, m.min, m.max),
            format!("{:.3} [{:.3}-{:.3}]", b.median, b.min, b.max),
            ratio,
            added
        )
        .unwrap();
        results.push(json!({
            "profile": row.profile.name(),
            "build": row.step.key(),
            "macro": stats_json(&row.macro_runs),
            "baseline": stats_json(&row.baseline_runs),
            "ratio": ratio,
            "added_seconds": added,
        }));
    }

    let mut reran = serde_json::Map::new();
    let mut never_reran = true;
    for row in rows.iter().filter(|r| r.step == Step::NoChange) {
        let count = row.macro_runs.iter().filter(|b| !b.fresh).count();
        never_reran &= count == 0;
        writeln!(
            table,
            "{}: the no-change rebuild re-ran the macro in {count} of {} runs",
            row.profile.name(),
            row.macro_runs.len()
        )
        .unwrap();
        reran.insert(row.profile.name().to_owned(), json!(count));
    }
    let within_budget = worst_added < BUDGET_SECONDS;
    writeln!(
        table,
        "target: 1,000 migrations add under {BUDGET_SECONDS} s to a build: {} (worst median added {worst_added:+.3} s)",
        if within_budget { "met" } else { "MISSED" }
    )
    .unwrap();
    writeln!(
        table,
        "target: a no-change rebuild does not re-run the macro: {}",
        if never_reran { "met" } else { "MISSED" }
    )
    .unwrap();
    print!("{table}");

    let report = json!({
        "benchmark": "build_cost",
        "migrations": MIGRATIONS,
        "average_migration_bytes": average,
        "repetitions": REPETITIONS,
        "cargo": cargo_version(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "results": results,
        "no_change_reran_macro": reran,
        "targets": {
            "added_seconds_budget": BUDGET_SECONDS,
            "worst_added_seconds": worst_added,
            "added_within_budget": within_budget,
            "no_change_never_reran_macro": never_reran,
        },
    });
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("bench-results");
    fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("build_cost.json");
    fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", out.display());
}
