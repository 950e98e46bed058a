//! Real applications built by the real cargo: one scratch binary crate per tool, each
//! embedding the generated migrations with its own macro, in a scratch workspace whose
//! target directory stays inside the bench's, so dependencies compile once per machine.
//!
//! Every binary takes `count` (prints how many migrations it embeds), `sqlite PATH` or
//! `postgres URL` (opens the database, runs its startup migration, prints what it did,
//! exits): what every application start pays. The floors are two crates that only
//! `include_str!` the same files: one with no dependencies at all (the least a build can
//! cost), and one linking the same drivers whose binary opens the database and runs the
//! single `SELECT` of the history (the least a start can cost).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use schema_benches::{Naming, lock_text, write_migrations};
use serde_json::Value;

use crate::measure::Tool;

/// The crates, in the order they are first built.
pub const CRATES: [Tool; 5] = [
    Tool::Floor,
    Tool::FloorDrivers,
    Tool::Ours,
    Tool::Sqlx,
    Tool::Refinery,
];

fn package(tool: Tool) -> &'static str {
    match tool {
        Tool::Ours => "cmp-ours",
        Tool::Sqlx => "cmp-sqlx",
        Tool::Refinery => "cmp-refinery",
        Tool::Floor => "cmp-floor",
        Tool::FloorDrivers => "cmp-floor-drivers",
        Tool::OursGrouped => unreachable!("no crate of its own"),
    }
}

fn naming(tool: Tool) -> Naming {
    match tool {
        Tool::Sqlx => Naming::Sqlx,
        Tool::Refinery => Naming::Refinery,
        _ => Naming::Ours,
    }
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits inside the workspace")
        .to_path_buf()
}

fn toml_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Tells cargo to re-run the build script, and so rebuild, when a file is added to the
/// folder: what sqlx documents (`sqlx migrate build-script`); refinery needs the same.
const RERUN_IF_FOLDER_CHANGES: &str =
    "fn main() {\n    println!(\"cargo:rerun-if-changed=migrations\");\n}\n";

const OURS_MAIN: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["count"] => println!("{}", std::hint::black_box(&MIGRATIONS).migrations().len()),
        ["sqlite", path] => {
            let mut conn = schema_runtime::rusqlite::Connection::open(path).expect("open the database");
            let migrator = schema_runtime::Migrator::new(&MIGRATIONS).expect("a valid APP_ENV");
            let report = migrator.run(&mut conn).expect("migrate");
            println!("applied {}", report.applied.len());
        }
        ["postgres", url] => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let pool = schema_runtime::sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .expect("connect");
                let migrator = schema_runtime::Migrator::new(&MIGRATIONS).expect("a valid APP_ENV");
                let report = migrator.run_async(&pool).await.expect("migrate");
                println!("applied {}", report.applied.len());
                pool.close().await;
            });
        }
        _ => {
            eprintln!("usage: count | sqlite PATH | postgres URL");
            std::process::exit(2);
        }
    }
}
"#;

const SQLX_MAIN: &str = r#"static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["count"] => println!("{}", std::hint::black_box(&MIGRATOR).iter().count()),
        ["sqlite", path] => runtime().block_on(async {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("open the database");
            MIGRATOR.run(&pool).await.expect("migrate");
            println!("ok");
            pool.close().await;
        }),
        ["postgres", url] => runtime().block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .expect("connect");
            MIGRATOR.run(&pool).await.expect("migrate");
            println!("ok");
            pool.close().await;
        }),
        _ => {
            eprintln!("usage: count | sqlite PATH | postgres URL");
            std::process::exit(2);
        }
    }
}
"#;

const REFINERY_MAIN: &str = r#"refinery::embed_migrations!("migrations");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["count"] => println!("{}", migrations::runner().get_migrations().len()),
        ["sqlite", path] => {
            let mut conn = rusqlite::Connection::open(path).expect("open the database");
            let report = migrations::runner().run(&mut conn).expect("migrate");
            println!("applied {}", report.applied_migrations().len());
        }
        ["postgres", url] => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                let connection = tokio::spawn(connection);
                let report = migrations::runner().run_async(&mut client).await.expect("migrate");
                println!("applied {}", report.applied_migrations().len());
                drop(client);
                let _ = connection.await;
            });
        }
        _ => {
            eprintln!("usage: count | sqlite PATH | postgres URL");
            std::process::exit(2);
        }
    }
}
"#;

const FLOOR_MAIN: &str = r#"
fn main() {
    let migrations = std::hint::black_box(MIGRATIONS);
    let bytes: usize = migrations.iter().map(|m| m.len()).sum();
    println!("{} {bytes}", migrations.len());
}
"#;

const FLOOR_DRIVERS_MAIN: &str = r#"
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["count"] => println!("{}", std::hint::black_box(MIGRATIONS).len()),
        ["sqlite", path] => {
            let conn = rusqlite::Connection::open(path).expect("open the database");
            let mut statement = conn.prepare("SELECT version, checksum FROM schema_history").expect("prepare");
            let mut rows = statement.query([]).expect("query");
            let mut seen = 0usize;
            while let Some(row) = rows.next().expect("a row") {
                let _version: i64 = row.get(0).expect("version");
                let _checksum: String = row.get(1).expect("checksum");
                seen += 1;
            }
            println!("rows {seen}");
        }
        ["postgres", url] => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::postgres::PgConnection::connect(url).await.expect("connect");
                let rows: Vec<(i64, String)> = sqlx::query_as("SELECT version, checksum FROM schema_history")
                    .fetch_all(&mut conn)
                    .await
                    .expect("query");
                println!("rows {}", rows.len());
                conn.close().await.expect("close");
            });
        }
        _ => {
            eprintln!("usage: count | sqlite PATH | postgres URL");
            std::process::exit(2);
        }
    }
}
"#;

/// One timed `cargo build`.
pub struct Build {
    pub seconds: f64,
    /// Cargo reused the crate's binary: rustc, and so the macro, did not run.
    pub fresh: bool,
    /// Other packages compiled on the way (a dependency edited meanwhile): not the cost
    /// being measured.
    pub dependencies_rebuilt: Vec<String>,
}

/// A cargo profile the build scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Dev,
    Release,
}

impl Profile {
    pub fn name(self) -> &'static str {
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

/// The scratch workspace and its crates.
pub struct Workspace {
    root: PathBuf,
    target: PathBuf,
    crates: Vec<Crate>,
}

struct Crate {
    tool: Tool,
    dir: PathBuf,
    versions: u64,
    last_build_end: SystemTime,
}

impl Workspace {
    /// Writes the workspace afresh (each crate with migrations `1..=count`), keeping the
    /// target directory of earlier runs.
    pub fn create(base: &Path, count: u64) -> Workspace {
        let root = base.join("scratch");
        if root.exists() {
            fs::remove_dir_all(&root).unwrap();
        }
        fs::create_dir_all(&root).unwrap();
        let members: Vec<String> = CRATES
            .iter()
            .map(|&t| format!("\"{}\"", package(t)))
            .collect();
        fs::write(
            root.join("Cargo.toml"),
            format!(
                "# Scratch crates of the comparison benchmark; not part of the project's workspace.\n\
                 [workspace]\nresolver = \"3\"\nmembers = [{}]\n",
                members.join(", ")
            ),
        )
        .unwrap();
        // The versions the project is tested with (sqlx, refinery, rusqlite, tokio), and
        // no resolve on the way.
        if let Ok(lock) = fs::read(workspace_dir().join("Cargo.lock")) {
            fs::write(root.join("Cargo.lock"), lock).unwrap();
        }
        let crates = CRATES
            .iter()
            .map(|&tool| {
                let mut scratch = Crate {
                    tool,
                    dir: root.join(package(tool)),
                    versions: count,
                    last_build_end: SystemTime::UNIX_EPOCH,
                };
                scratch.write(count);
                scratch
            })
            .collect();
        Workspace {
            root,
            target: base.join("target"),
            crates,
        }
    }

    fn find(&mut self, tool: Tool) -> &mut Crate {
        self.crates
            .iter_mut()
            .find(|c| c.tool == tool)
            .expect("a scratch crate for every tool")
    }

    /// The binary of `tool`'s crate, as last built for `profile`.
    pub fn binary(&self, tool: Tool, profile: Profile) -> PathBuf {
        self.target.join(profile.output_dir()).join(format!(
            "{}{}",
            package(tool),
            std::env::consts::EXE_SUFFIX
        ))
    }

    /// Builds `tool`'s crate with the real cargo and times it.
    pub fn build(&mut self, tool: Tool, profile: Profile) -> Build {
        let root = self.root.clone();
        let target = self.target.clone();
        let scratch = self.find(tool);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--message-format=json", "-p", package(tool)])
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_TERM_COLOR", "never");
        if profile == Profile::Release {
            command.arg("--release");
        }
        let started = Instant::now();
        let output = command.output().unwrap();
        let seconds = started.elapsed().as_secs_f64();
        scratch.last_build_end = SystemTime::now();

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
                package(tool),
                rendered.join("\n"),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let manifest = scratch.dir.join("Cargo.toml");
        let artifacts: Vec<&Value> = messages
            .iter()
            .filter(|m| m["reason"] == "compiler-artifact")
            .collect();
        let fresh = artifacts
            .iter()
            .find(|m| {
                m["target"]["name"] == package(tool)
                    && m["target"]["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            })
            .and_then(|m| m["fresh"].as_bool())
            .unwrap_or_else(|| panic!("no compiler-artifact message for {}", package(tool)));
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

    /// Marks migration `version` of `tool`'s crate as modified, content unchanged.
    pub fn touch(&mut self, tool: Tool, version: u64) {
        let scratch = self.find(tool);
        scratch.settle();
        let file = fs::File::options()
            .write(true)
            .open(
                scratch
                    .dir
                    .join("migrations")
                    .join(naming(tool).file_name(version)),
            )
            .unwrap();
        file.set_modified(SystemTime::now()).unwrap();
    }

    /// Adds the next migration to `tool`'s crate; the floors also list it in their
    /// source, as their author would by hand.
    pub fn add(&mut self, tool: Tool) {
        let scratch = self.find(tool);
        scratch.settle();
        scratch.versions += 1;
        let version = scratch.versions;
        write_migrations(&scratch.dir.join("migrations"), naming(tool), [version]).unwrap();
        if matches!(tool, Tool::Floor | Tool::FloorDrivers) {
            scratch.write_main();
        }
    }

    /// How many migrations `tool`'s crate holds now.
    pub fn versions(&mut self, tool: Tool) -> u64 {
        self.find(tool).versions
    }

    /// How many migrations the binary last built for `profile` embeds.
    pub fn embedded(&self, tool: Tool, profile: Profile) -> u64 {
        let binary = self.binary(tool, profile);
        let output = Command::new(&binary).arg("count").output().unwrap();
        assert!(output.status.success(), "{} failed", binary.display());
        String::from_utf8(output.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("{} printed no count", binary.display()))
    }
}

impl Crate {
    fn write(&mut self, count: u64) {
        let dir = &self.dir;
        fs::create_dir_all(dir.join("src")).unwrap();
        write_migrations(&dir.join("migrations"), naming(self.tool), 1..=count).unwrap();
        let runtime = toml_string(&workspace_dir().join("schema-runtime"));
        let (dependencies, build_dependencies, build_script) = match self.tool {
            Tool::Ours => {
                // A project with this many migrations has applied them: the macro checks
                // each against its lock line too.
                fs::write(dir.join("migrations/migrations.lock"), lock_text(count)).unwrap();
                (
                    format!(
                        "schema-runtime = {{ path = {runtime}, default-features = false, features = [\"rusqlite\", \"sqlx-postgres\"] }}\n\
                         tokio = {{ version = \"1\", features = [\"rt\"] }}\n"
                    ),
                    format!("schema-runtime = {{ path = {runtime}, default-features = false }}\n"),
                    Some("fn main() {\n    schema_runtime::build::track(\"migrations\");\n}\n"),
                )
            }
            Tool::Sqlx => (
                "sqlx = { version = \"0.9\", default-features = false, features = [\"runtime-tokio\", \"macros\", \"migrate\", \"postgres\", \"sqlite-bundled\"] }\n\
                 tokio = { version = \"1\", features = [\"rt\"] }\n"
                    .to_owned(),
                String::new(),
                Some(RERUN_IF_FOLDER_CHANGES),
            ),
            Tool::Refinery => (
                "refinery = { version = \"0.9\", default-features = false, features = [\"rusqlite\", \"tokio-postgres\"] }\n\
                 rusqlite = { version = \"0.37\", features = [\"bundled\"] }\n\
                 tokio = { version = \"1\", features = [\"rt\"] }\n\
                 tokio-postgres = \"0.7\"\n"
                    .to_owned(),
                String::new(),
                Some(RERUN_IF_FOLDER_CHANGES),
            ),
            Tool::Floor => (String::new(), String::new(), None),
            Tool::FloorDrivers => (
                "rusqlite = { version = \"0.37\", features = [\"bundled\"] }\n\
                 sqlx = { version = \"0.9\", default-features = false, features = [\"runtime-tokio\", \"postgres\"] }\n\
                 tokio = { version = \"1\", features = [\"rt\"] }\n"
                    .to_owned(),
                String::new(),
                None,
            ),
            Tool::OursGrouped => unreachable!("no crate of its own"),
        };
        let mut manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.89\"\npublish = false\n\n",
            package(self.tool)
        );
        if !dependencies.is_empty() {
            writeln!(manifest, "[dependencies]\n{dependencies}").unwrap();
        }
        if !build_dependencies.is_empty() {
            writeln!(manifest, "[build-dependencies]\n{build_dependencies}").unwrap();
        }
        fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        if let Some(script) = build_script {
            fs::write(dir.join("build.rs"), script).unwrap();
        }
        self.write_main();
    }

    fn write_main(&mut self) {
        let main = match self.tool {
            Tool::Ours => OURS_MAIN.to_owned(),
            Tool::Sqlx => SQLX_MAIN.to_owned(),
            Tool::Refinery => REFINERY_MAIN.to_owned(),
            Tool::Floor | Tool::FloorDrivers => {
                let mut main = String::from("static MIGRATIONS: &[&str] = &[\n");
                for version in 1..=self.versions {
                    writeln!(
                        main,
                        "    include_str!(\"../migrations/{}\"),",
                        Naming::Ours.file_name(version)
                    )
                    .unwrap();
                }
                main.push_str("];\n");
                main.push_str(if self.tool == Tool::Floor {
                    FLOOR_MAIN
                } else {
                    FLOOR_DRIVERS_MAIN
                });
                main
            }
            Tool::OursGrouped => unreachable!("no crate of its own"),
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
}
