//! Scratch binary crates built by the real cargo, in a scratch workspace whose target
//! directory stays inside the bench's, so dependencies compile once per machine. Two
//! kinds, one crate of each per tool, each embedding the generated migrations with its
//! own macro:
//!
//! - [`Kind::Embed`]: the macro and nothing else (the binary prints how many migrations
//!   it holds). What the macro costs a build, told apart from everything an application
//!   links anyway. Its floor has no dependencies and `include_str!`s the same files.
//!   Ours has a second crate of this kind, [`Tool::OursChecked`]: the same crate with
//!   `schema-runtime`'s `check-sqlite` on, so the macro also replays the folder into an
//!   in-memory SQLite.
//! - [`Kind::App`]: an application's startup. The binary takes `count`, `sqlite PATH` or
//!   `postgres URL` (opens the database, runs its startup migration, prints what it did,
//!   exits). Its floor links the same drivers, `include_str!`s the same files, and runs
//!   one `SELECT` of the history.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use schema_benches::{Naming, lock_text, write_migrations};
use serde_json::Value;

use crate::measure::Tool;

/// The tools with scratch crates, in the order they are first built ([`Kind::has_crate`]
/// says of which kinds).
pub const TOOLS: [Tool; 5] = [
    Tool::Floor,
    Tool::Ours,
    Tool::OursChecked,
    Tool::Sqlx,
    Tool::Refinery,
];

/// What a scratch crate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only the macro: its build cost.
    Embed,
    /// A startup: the drivers, a runtime, the migrator.
    App,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Embed, Kind::App];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Embed => "embed",
            Kind::App => "app",
        }
    }

    /// Whether `tool` has a crate of this kind: ours with `check-sqlite` only has a
    /// macro-only one (what the check adds is a build cost; it changes nothing at run
    /// time).
    pub fn has_crate(self, tool: Tool) -> bool {
        match tool {
            Tool::OursGrouped => false,
            Tool::OursChecked => self == Kind::Embed,
            _ => true,
        }
    }
}

/// `embed-ours`, `embed-ours-checked`, `app-sqlx`, ...
pub fn package(tool: Tool, kind: Kind) -> String {
    format!("{}-{}", kind.name(), tool.key().replace('_', "-"))
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

const OURS_APP_MAIN: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

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

const SQLX_APP_MAIN: &str = r#"static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

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

const REFINERY_APP_MAIN: &str = r#"refinery::embed_migrations!("migrations");

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

const FLOOR_EMBED_MAIN: &str = r#"
fn main() {
    let migrations = std::hint::black_box(MIGRATIONS);
    let bytes: usize = migrations.iter().map(|m| m.len()).sum();
    println!("{} {bytes}", migrations.len());
}
"#;

const FLOOR_APP_MAIN: &str = r#"
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

const OURS_EMBED_MAIN: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

fn main() {
    let migrations = std::hint::black_box(&MIGRATIONS).migrations();
    let bytes: usize = migrations.iter().map(|m| m.sql().len()).sum();
    println!("{} {bytes}", migrations.len());
}
"#;

const SQLX_EMBED_MAIN: &str = r#"static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

fn main() {
    let migrator = std::hint::black_box(&MIGRATOR);
    let bytes: usize = migrator.iter().map(|m| m.sql.as_str().len()).sum();
    println!("{} {bytes}", migrator.iter().count());
}
"#;

const REFINERY_EMBED_MAIN: &str = r#"refinery::embed_migrations!("migrations");

fn main() {
    let runner = migrations::runner();
    let migrations = runner.get_migrations();
    let bytes: usize = migrations.iter().map(|m| m.sql().map_or(0, str::len)).sum();
    println!("{} {bytes}", migrations.len());
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
    kind: Kind,
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
        let mut crates = Vec::new();
        for kind in Kind::ALL {
            for tool in TOOLS.into_iter().filter(|&tool| kind.has_crate(tool)) {
                let mut scratch = Crate {
                    tool,
                    kind,
                    dir: root.join(package(tool, kind)),
                    versions: count,
                    last_build_end: SystemTime::UNIX_EPOCH,
                };
                scratch.write(count);
                crates.push(scratch);
            }
        }
        let members: Vec<String> = crates
            .iter()
            .map(|c| format!("\"{}\"", package(c.tool, c.kind)))
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
        Workspace {
            root,
            target: base.join("target"),
            crates,
        }
    }

    fn find(&mut self, tool: Tool, kind: Kind) -> &mut Crate {
        self.crates
            .iter_mut()
            .find(|c| c.tool == tool && c.kind == kind)
            .expect("a scratch crate for every tool and kind")
    }

    /// The binary of a crate, as last built for `profile`.
    pub fn binary(&self, tool: Tool, kind: Kind, profile: Profile) -> PathBuf {
        self.target.join(profile.output_dir()).join(format!(
            "{}{}",
            package(tool, kind),
            std::env::consts::EXE_SUFFIX
        ))
    }

    /// Builds a crate with the real cargo and times it.
    pub fn build(&mut self, tool: Tool, kind: Kind, profile: Profile) -> Build {
        let root = self.root.clone();
        let target = self.target.clone();
        let package = package(tool, kind);
        let scratch = self.find(tool, kind);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--message-format=json", "-p", &package])
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
                "{package} did not build:\n{}\n{}",
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
                m["target"]["name"] == package.as_str()
                    && m["target"]["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            })
            .and_then(|m| m["fresh"].as_bool())
            .unwrap_or_else(|| panic!("no compiler-artifact message for {package}"));
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

    /// Marks migration `version` of a crate as modified, content unchanged.
    pub fn touch(&mut self, tool: Tool, kind: Kind, version: u64) {
        let scratch = self.find(tool, kind);
        scratch.settle();
        let path = scratch
            .dir
            .join("migrations")
            .join(naming(tool).file_name(version));
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now()).unwrap();
    }

    /// Adds the next migration to a crate; the floors also list it in their source, as
    /// their author would by hand.
    pub fn add(&mut self, tool: Tool, kind: Kind) {
        let scratch = self.find(tool, kind);
        scratch.settle();
        scratch.versions += 1;
        let version = scratch.versions;
        write_migrations(&scratch.dir.join("migrations"), naming(tool), [version]).unwrap();
        if tool == Tool::Floor {
            scratch.write_main();
        }
    }

    /// How many migrations a crate holds now.
    pub fn versions(&mut self, tool: Tool, kind: Kind) -> u64 {
        self.find(tool, kind).versions
    }

    /// How many migrations the binary last built for `profile` embeds.
    pub fn embedded(&self, tool: Tool, kind: Kind, profile: Profile) -> u64 {
        let binary = self.binary(tool, kind, profile);
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
        let dir = self.dir.clone();
        fs::create_dir_all(dir.join("src")).unwrap();
        write_migrations(&dir.join("migrations"), naming(self.tool), 1..=count).unwrap();
        let runtime = toml_string(&workspace_dir().join("schema-runtime"));
        let mut dependencies = String::new();
        let mut build_script = None;
        match (self.tool, self.kind) {
            (Tool::Floor, Kind::Embed) => {}
            (Tool::Floor, Kind::App) => dependencies.push_str(
                "rusqlite = { version = \"0.37\", features = [\"bundled\"] }\n\
                 sqlx = { version = \"0.9\", default-features = false, features = [\"runtime-tokio\", \"postgres\"] }\n\
                 tokio = { version = \"1\", features = [\"rt\"] }\n",
            ),
            (Tool::Ours | Tool::OursChecked, kind) => {
                // A project with this many migrations has applied them: the macro checks
                // each against its lock line too.
                fs::write(dir.join("migrations/migrations.lock"), lock_text(count)).unwrap();
                let features = match (self.tool, kind) {
                    (Tool::Ours, Kind::Embed) => "",
                    // Only the check differs from ours' crate. With no backend on, the
                    // folder serves all three dialects, SQLite among them, so the check
                    // runs; a backend feature (`rusqlite`) would also link its driver and
                    // narrow the rules to one dialect: not the check's cost.
                    (Tool::OursChecked, Kind::Embed) => ", features = [\"check-sqlite\"]",
                    (Tool::Ours, Kind::App) => ", features = [\"rusqlite\", \"sqlx-postgres\"]",
                    _ => unreachable!("no startup binary of ours with check-sqlite"),
                };
                dependencies.push_str(&format!(
                    "schema-runtime = {{ path = {runtime}, default-features = false{features} }}\n"
                ));
                if kind == Kind::App {
                    dependencies.push_str("tokio = { version = \"1\", features = [\"rt\"] }\n");
                }
                dependencies.push_str(&format!(
                    "\n[build-dependencies]\nschema-runtime = {{ path = {runtime}, default-features = false }}\n"
                ));
                build_script =
                    Some("fn main() {\n    schema_runtime::build::track(\"migrations\");\n}\n");
            }
            (Tool::Sqlx, kind) => {
                let drivers = match kind {
                    Kind::Embed => "",
                    Kind::App => ", \"postgres\", \"sqlite-bundled\"",
                };
                dependencies.push_str(&format!(
                    "sqlx = {{ version = \"0.9\", default-features = false, features = [\"runtime-tokio\", \"macros\", \"migrate\"{drivers}] }}\n"
                ));
                if kind == Kind::App {
                    dependencies.push_str("tokio = { version = \"1\", features = [\"rt\"] }\n");
                }
                build_script = Some(RERUN_IF_FOLDER_CHANGES);
            }
            (Tool::Refinery, kind) => {
                match kind {
                    Kind::Embed => dependencies
                        .push_str("refinery = { version = \"0.9\", default-features = false }\n"),
                    Kind::App => dependencies.push_str(
                        "refinery = { version = \"0.9\", default-features = false, features = [\"rusqlite\", \"tokio-postgres\"] }\n\
                         rusqlite = { version = \"0.37\", features = [\"bundled\"] }\n\
                         tokio = { version = \"1\", features = [\"rt\"] }\n\
                         tokio-postgres = \"0.7\"\n",
                    ),
                }
                build_script = Some(RERUN_IF_FOLDER_CHANGES);
            }
            (Tool::OursGrouped, _) => unreachable!("no crate of its own"),
        }
        let mut manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.89\"\npublish = false\n\n",
            package(self.tool, self.kind)
        );
        if !dependencies.is_empty() {
            writeln!(manifest, "[dependencies]\n{dependencies}").unwrap();
        }
        fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        if let Some(script) = build_script {
            fs::write(dir.join("build.rs"), script).unwrap();
        }
        self.write_main();
    }

    fn write_main(&mut self) {
        let main = match (self.tool, self.kind) {
            (Tool::Ours | Tool::OursChecked, Kind::Embed) => OURS_EMBED_MAIN.to_owned(),
            (Tool::Ours, Kind::App) => OURS_APP_MAIN.to_owned(),
            (Tool::Sqlx, Kind::Embed) => SQLX_EMBED_MAIN.to_owned(),
            (Tool::Sqlx, Kind::App) => SQLX_APP_MAIN.to_owned(),
            (Tool::Refinery, Kind::Embed) => REFINERY_EMBED_MAIN.to_owned(),
            (Tool::Refinery, Kind::App) => REFINERY_APP_MAIN.to_owned(),
            (Tool::Floor, kind) => {
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
                main.push_str(match kind {
                    Kind::Embed => FLOOR_EMBED_MAIN,
                    Kind::App => FLOOR_APP_MAIN,
                });
                main
            }
            (Tool::OursGrouped, _) | (Tool::OursChecked, Kind::App) => {
                unreachable!("no crate of its own")
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
}
