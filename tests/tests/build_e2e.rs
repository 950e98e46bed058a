//! `embed_migrations!()` as a user meets it: a scratch crate with a `migrations/` folder,
//! a lock and a `build.rs`, built by the real `cargo`, its binary run to see what was
//! embedded.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use schema_runtime::rules::{Checksum, Lock, LockEntry, Version};

const CREATE_USERS: &str = "\
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
";

const ADD_EMAIL: &str = "\
ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_email ON users (email);
";

// Obtained outside Rust, so the macro's hashing is checked against an independent
// implementation:
// printf 'ALTER TABLE users ADD COLUMN email TEXT;\nCREATE UNIQUE INDEX users_email ON users (email);\n' | sha256sum
const ADD_EMAIL_SHA256: &str = "6f2dd03fed546582149898dfec09c4ac1f8ffee621a1c3569c8ea724672ddcb1";

const CREATE_POSTS: &str = "\
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT ''
);
CREATE INDEX posts_user_id ON posts (user_id);
";

const CREATE_POSTS_DOWN: &str = "DROP TABLE posts;\n";

const CREATE_COMMENTS: &str = "\
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts (id),
    body TEXT NOT NULL
);
";

const MAIN_RS: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

fn main() {
    for migration in MIGRATIONS.migrations() {
        println!("{} {} {}", migration.version(), migration.name(), migration.checksum());
    }
}
"#;

const BUILD_RS: &str = r#"fn main() {
    schema_runtime::build::track("migrations");
}
"#;

/// One line the scratch binary prints for each embedded migration.
#[derive(Debug, PartialEq, Eq)]
struct Embedded {
    version: u64,
    name: String,
    checksum: String,
}

impl Embedded {
    fn expected(version: u64, name: &str, text: &[u8]) -> Embedded {
        Embedded {
            version,
            name: name.to_owned(),
            checksum: Checksum::of_file(text).to_hex(),
        }
    }
}

/// A throwaway crate that depends on this workspace's `schema-runtime`.
struct Scratch {
    dir: tempfile::TempDir,
    package: String,
    last_build_end: SystemTime,
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// All scratch crates share one target dir, so schema-runtime and its dependencies are
/// compiled once per machine rather than once per test.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("build_e2e")
}

fn toml_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Scratch {
    /// `package` must differ between tests: binaries of one target dir are named after it.
    fn new(package: &str) -> Scratch {
        Scratch::with_main(package, "default-features = false", MAIN_RS)
    }

    /// A scratch crate whose `main` is `main_rs`, depending on schema-runtime with `features`.
    fn with_main(package: &str, features: &str, main_rs: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("schema-e2e-")
            .tempdir()
            .unwrap();
        let runtime = toml_string(&workspace_dir().join("schema-runtime"));
        let manifest = format!(
            "[package]\n\
             name = \"{package}\"\n\
             version = \"0.1.0\"\n\
             edition = \"2024\"\n\
             publish = false\n\
             \n\
             [dependencies]\n\
             schema-runtime = {{ path = {runtime}, {features} }}\n\
             \n\
             [build-dependencies]\n\
             schema-runtime = {{ path = {runtime}, default-features = false }}\n\
             \n\
             # Not a member of the workspace this test runs in.\n\
             [workspace]\n"
        );
        fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        // The workspace's lock pins the versions already tested and spares a resolve.
        if let Ok(lock) = fs::read(workspace_dir().join("Cargo.lock")) {
            fs::write(dir.path().join("Cargo.lock"), lock).unwrap();
        }
        fs::write(dir.path().join("build.rs"), BUILD_RS).unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/main.rs"), main_rs).unwrap();
        fs::create_dir_all(dir.path().join("migrations")).unwrap();
        Scratch {
            dir,
            package: package.to_owned(),
            last_build_end: SystemTime::UNIX_EPOCH,
        }
    }

    fn migration_path(&self, file: &str) -> PathBuf {
        self.dir.path().join("migrations").join(file)
    }

    /// Writes a file of `migrations/`, with an mtime cargo cannot mistake for one it
    /// already saw: on a file system with whole-second mtimes, a write in the same second
    /// as the end of the last build would look unchanged.
    fn write(&self, file: &str, text: impl AsRef<[u8]>) {
        let ready = self.last_build_end + Duration::from_millis(1100);
        if let Ok(wait) = ready.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
        fs::write(self.migration_path(file), text).unwrap();
    }

    /// The lock as the runtime writes it after applying `migrations` (version, name, text).
    fn write_lock(&self, migrations: &[(u64, &str, &[u8])]) {
        let lock = Lock::new(migrations.iter().map(|(version, name, text)| {
            LockEntry::new(Version::new(*version), *name, Checksum::of_file(text))
        }));
        self.write("migrations.lock", lock.render());
    }

    fn build(&mut self) -> Output {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .arg("build")
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .unwrap();
        self.last_build_end = SystemTime::now();
        output
    }

    fn build_ok(&mut self) {
        let output = self.build();
        assert!(
            output.status.success(),
            "the scratch crate should build:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Builds, expecting a failure; returns cargo's stderr.
    fn build_err(&mut self) -> String {
        let output = self.build();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "the scratch crate should not build:\n{stderr}"
        );
        stderr
    }

    fn binary(&self) -> PathBuf {
        target_dir()
            .join("debug")
            .join(format!("{}{}", self.package, std::env::consts::EXE_SUFFIX))
    }

    /// Runs the binary of the last build and reads what it embedded.
    fn embedded(&self) -> Vec<Embedded> {
        let binary = self.binary();
        let output = Command::new(&binary).output().unwrap();
        assert!(output.status.success(), "{} failed", binary.display());
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let [version, name, checksum] = fields[..] else {
                    panic!("unexpected line from the scratch binary: {line:?}");
                };
                Embedded {
                    version: version.parse().unwrap(),
                    name: name.to_owned(),
                    checksum: checksum.to_owned(),
                }
            })
            .collect()
    }
}

#[test]
fn an_edited_locked_migration_fails_the_build_and_a_new_one_is_picked_up() {
    let mut scratch = Scratch::new("schema-e2e-lock");
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write("0002_add_email.sql", ADD_EMAIL);
    scratch.write("0003_create_posts.sql", CREATE_POSTS);
    scratch.write("0003_create_posts.down.sql", CREATE_POSTS_DOWN);
    scratch.write_lock(&[
        (1, "create_users", CREATE_USERS.as_bytes()),
        (2, "add_email", ADD_EMAIL.as_bytes()),
        (3, "create_posts", CREATE_POSTS.as_bytes()),
    ]);
    let locked = vec![
        Embedded::expected(1, "create_users", CREATE_USERS.as_bytes()),
        Embedded::expected(2, "add_email", ADD_EMAIL.as_bytes()),
        Embedded::expected(3, "create_posts", CREATE_POSTS.as_bytes()),
    ];

    scratch.build_ok();
    assert_eq!(scratch.embedded(), locked);

    let edited = format!("{ADD_EMAIL}CREATE INDEX users_name ON users (name);\n");
    scratch.write("0002_add_email.sql", &edited);
    let stderr = scratch.build_err();
    let old = Checksum::of_file(ADD_EMAIL.as_bytes()).to_hex();
    let new = Checksum::of_file(edited.as_bytes()).to_hex();
    assert_ne!(old, new);
    for needle in ["migrations/0002_add_email.sql", &old, &new] {
        assert!(
            stderr.contains(needle),
            "stderr should name `{needle}`:\n{stderr}"
        );
    }

    scratch.write("0002_add_email.sql", ADD_EMAIL);
    scratch.build_ok();
    assert_eq!(scratch.embedded(), locked);

    // Nothing the compiler read changes here: only build.rs's tracking of the folder
    // makes cargo run the macro again.
    scratch.write("0004_create_comments.sql", CREATE_COMMENTS);
    scratch.build_ok();
    let mut with_new = locked;
    with_new.push(Embedded::expected(
        4,
        "create_comments",
        CREATE_COMMENTS.as_bytes(),
    ));
    assert_eq!(scratch.embedded(), with_new);
}

#[test]
fn a_crlf_checkout_has_the_checksum_of_the_lf_file() {
    let mut scratch = Scratch::new("schema-e2e-crlf");
    let crlf = ADD_EMAIL.replace('\n', "\r\n");
    assert_eq!(crlf.matches("\r\n").count(), 2);
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write("0002_add_email.sql", &crlf);
    // Locked from an LF checkout: a Windows checkout of the same commit must still build.
    scratch.write_lock(&[
        (1, "create_users", CREATE_USERS.as_bytes()),
        (2, "add_email", ADD_EMAIL.as_bytes()),
    ]);

    scratch.build_ok();
    let embedded = scratch.embedded();
    assert_eq!(
        embedded,
        [
            Embedded::expected(1, "create_users", CREATE_USERS.as_bytes()),
            Embedded::expected(2, "add_email", crlf.as_bytes()),
        ]
    );
    assert_eq!(embedded[1].checksum, ADD_EMAIL_SHA256);
    assert_eq!(
        Checksum::of_file(ADD_EMAIL.as_bytes()).to_hex(),
        ADD_EMAIL_SHA256
    );
}

/// An application that migrates a SQLite file at startup, with the policy of `APP_ENV`.
const MAIN_RS_RUNNER: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

fn main() {
    let path = std::env::args().nth(1).expect("a database path");
    let mut conn = schema_runtime::rusqlite::Connection::open(path).unwrap();
    let report = schema_runtime::Migrator::new(&MIGRATIONS).unwrap().run(&mut conn).unwrap();
    print!("{report}");
}
"#;

#[test]
fn a_development_run_locks_what_it_applied_so_editing_it_fails_the_next_build() {
    let mut scratch = Scratch::with_main(
        "schema-e2e-devlock",
        "default-features = true",
        MAIN_RS_RUNNER,
    );
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write("0002_add_email.sql", ADD_EMAIL);
    scratch.build_ok();
    assert!(
        !scratch.migration_path("migrations.lock").exists(),
        "no lock before any run"
    );

    let database = scratch.dir.path().join("app.db");
    let run = |env: &str| {
        let output = Command::new(scratch.binary())
            .arg(&database)
            .env("APP_ENV", env)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let report = run("development");
    assert!(report.contains("applied 2 migrations"), "{report}");
    let lock = Lock::parse(&fs::read_to_string(scratch.migration_path("migrations.lock")).unwrap())
        .unwrap();
    let locked: Vec<(u64, &str)> = lock
        .entries()
        .iter()
        .map(|e| (e.version.get(), e.name.as_str()))
        .collect();
    assert_eq!(locked, [(1, "create_users"), (2, "add_email")]);
    assert_eq!(
        lock.entries()[1].checksum,
        Checksum::of_file(ADD_EMAIL.as_bytes())
    );

    // The lock changed the folder: the next build picks it up and still passes.
    scratch.build_ok();

    let edited = format!("{ADD_EMAIL}CREATE INDEX users_name ON users (name);\n");
    scratch.write("0002_add_email.sql", &edited);
    let stderr = scratch.build_err();
    for needle in [
        "migrations/0002_add_email.sql".to_owned(),
        Checksum::of_file(ADD_EMAIL.as_bytes()).to_hex(),
        Checksum::of_file(edited.as_bytes()).to_hex(),
    ] {
        assert!(
            stderr.contains(&needle),
            "stderr should name `{needle}`:\n{stderr}"
        );
    }
}

const DB_MAIN_RS: &str = r#"static MIGRATIONS: schema_runtime::Migrations = schema_runtime::embed_migrations!();

fn main() -> std::process::ExitCode {
    schema_runtime::cli::Cli::new(&MIGRATIONS).run_from(std::env::args())
}
"#;

impl Scratch {
    /// `db ARGS` with the scratch binary in `environment`, on that environment's SQLite
    /// file beside it.
    fn db(&self, environment: &str, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(self.binary())
            .args(args)
            .env(
                "DATABASE_URL",
                format!(
                    "sqlite:{}",
                    self.dir.path().join(format!("{environment}.db")).display()
                ),
            )
            .env("APP_ENV", environment)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn lock(&self) -> Lock {
        Lock::parse(&fs::read_to_string(self.migration_path("migrations.lock")).unwrap()).unwrap()
    }

    fn locked_versions(&self) -> Vec<u64> {
        self.lock()
            .entries()
            .iter()
            .map(|e| e.version.get())
            .collect()
    }
}

#[test]
fn the_db_command_keeps_the_lock_in_step_with_the_databases() {
    let mut scratch = Scratch::with_main(
        "schema-e2e-db",
        "default-features = false, features = [\"rusqlite\", \"cli\"]",
        DB_MAIN_RS,
    );
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write("0003_create_posts.sql", CREATE_POSTS);
    scratch.write("0003_create_posts.down.sql", CREATE_POSTS_DOWN);
    scratch.build_ok();

    // A development run locks what it applied; `db down` unlocks the draft it reverts.
    let (code, _, stderr) = scratch.db("development", &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scratch.locked_versions(), [1, 3]);
    let (code, stdout, stderr) = scratch.db("development", &["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("removed version 3 from") && stdout.contains("fix the draft"),
        "{stdout}"
    );
    assert_eq!(scratch.locked_versions(), [1]);
    let (code, stdout, _) = scratch.db("development", &["verify"]);
    assert_eq!(code, 1, "the reverted draft is pending: {stdout}");
    assert!(
        stdout.contains("0003_create_posts.sql is not applied"),
        "{stdout}"
    );

    // A migration applied where no lock was written is a difference until `db lock`.
    let (code, _, stderr) = scratch.db("test", &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        scratch.locked_versions(),
        [1],
        "only development writes the lock"
    );
    let (code, stdout, _) = scratch.db("test", &["verify"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("unlocked"), "{stdout}");
    assert!(stdout.contains("run `db lock`"), "{stdout}");
    let (code, stdout, stderr) = scratch.db("test", &["lock"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("now locks all 2 migrations"), "{stdout}");
    assert_eq!(scratch.locked_versions(), [1, 3]);
    assert_eq!(scratch.db("test", &["verify"]).0, 0);

    // Editing a locked migration fails the build; `db amend` (from the binary built
    // before the edit) accepts it with a reason, and databases record the amendment.
    let edited = format!("-- users own posts\n{CREATE_USERS}");
    scratch.write("0001_create_users.sql", &edited);
    assert!(scratch.build_err().contains("0001_create_users.sql"));
    let (code, stdout, stderr) = scratch.db(
        "test",
        &["amend", "1", "--reason", "a comment, no statement changed"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("amended version 1"), "{stdout}");
    let entry = scratch.lock().get(Version::new(1)).unwrap().clone();
    assert_eq!(entry.checksum, Checksum::of_file(edited.as_bytes()));
    assert_eq!(
        entry.amendments[0].from,
        Checksum::of_file(CREATE_USERS.as_bytes())
    );
    assert_eq!(
        entry.amendments[0].reason,
        "a comment, no statement changed"
    );
    std::thread::sleep(Duration::from_millis(1100));
    scratch.build_ok();
    let (code, stdout, stderr) = scratch.db("test", &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("amend"), "{stdout}");
    let (code, stdout, _) = scratch.db("test", &["verify"]);
    assert_eq!(code, 0, "{stdout}");

    // `db new` writes a timestamped draft (and its down file) into the source folder.
    let (code, stdout, stderr) = scratch.db("test", &["new", "add_tags", "--down"]);
    assert_eq!(code, 0, "{stderr}");
    let created: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("created "))
        .map(PathBuf::from)
        .collect();
    assert_eq!(created.len(), 2, "{stdout}");
    let name = created[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (version, rest) = name.split_once('_').unwrap();
    assert_eq!(version.len(), 14, "a UTC timestamp: {name}");
    assert!(version.parse::<u64>().unwrap() > 3);
    assert_eq!(rest, "add_tags.sql");
    assert!(created[1].ends_with(format!("{version}_add_tags.down.sql")));
    assert!(created.iter().all(|p| p.starts_with(scratch.dir.path())));
    let (code, _, stderr) = scratch.db("test", &["new", "bad-name"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a migration name"), "{stderr}");
}

#[test]
fn check_sqlite_replays_the_folder_and_names_the_statement_that_does_not_run() {
    let mut scratch = Scratch::with_main(
        "schema-e2e-check-sqlite",
        "default-features = false, features = [\"rusqlite\", \"check-sqlite\"]",
        MAIN_RS,
    );
    scratch.write("0001_create_users.sql", CREATE_USERS);
    // The column was never created by an earlier migration.
    scratch.write(
        "0002_index_phone.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;\nCREATE INDEX users_phone ON users (phone);\n",
    );
    let stderr = scratch.build_err();
    assert!(
        stderr.contains("migrations/0002_index_phone.sql: does not run on SQLite (check-sqlite): no such column: phone"),
        "{stderr}"
    );
    assert!(
        stderr.contains("in the statement at line 2 (`CREATE INDEX users_phone ON users (phone)`)"),
        "{stderr}"
    );
    scratch.write(
        "0002_index_phone.sql",
        "ALTER TABLE users ADD COLUMN phone TEXT;\nCREATE INDEX users_phone ON users (phone);\n",
    );
    scratch.build_ok();
    assert_eq!(scratch.embedded().len(), 2);
}

#[test]
fn check_postgres_parses_every_file_and_names_the_line_and_column_that_does_not_parse() {
    // No backend is built: the call names the dialect, and only PostgreSQL's parser runs.
    let main_rs = MAIN_RS.replace(
        "embed_migrations!()",
        "embed_migrations!(\"migrations\", dialects = \"postgres\")",
    );
    let mut scratch = Scratch::with_main(
        "schema-e2e-check-postgres",
        "default-features = false, features = [\"check-postgres\"]",
        &main_rs,
    );
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write(
        "0002_posts.sql",
        "CREATE TABLE posts (id int);\nINSERT INTO posts (id)\nSELECT * FORM users;\n",
    );
    scratch.write("0002_posts.down.sql", "DROP TABEL posts;\n");
    // Valid PostgreSQL that SQLite would not read: CONCURRENTLY outside a transaction,
    // a DO block in dollar quotes with semicolons inside.
    scratch.write(
        "0003_users_name.sql",
        "-- schema: no-transaction\n\
         CREATE INDEX CONCURRENTLY users_name ON users (name);\n\
         DO $body$\n\
         BEGIN\n    \
             IF NOT EXISTS (SELECT 1 FROM users) THEN\n        \
                 RAISE NOTICE 'no users yet; nothing to do';\n    \
             END IF;\n\
         END\n\
         $body$;\n",
    );
    let stderr = scratch.build_err();
    // Every file that does not parse, down files included, in one build.
    for expected in [
        r#"migrations/0002_posts.sql: does not parse as PostgreSQL (check-postgres): syntax error at or near "FORM" at line 3, column 10"#,
        r#"migrations/0002_posts.down.sql: does not parse as PostgreSQL (check-postgres): syntax error at or near "TABEL" at line 1, column 6"#,
    ] {
        assert!(stderr.contains(expected), "{stderr}");
    }
    assert!(!stderr.contains("0003_users_name.sql"), "{stderr}");

    // Only the grammar is checked: a table no migration made is not an error.
    scratch.write(
        "0002_posts.sql",
        "CREATE TABLE posts (id int);\nINSERT INTO posts (id)\nSELECT * FROM no_such_table;\n",
    );
    scratch.write("0002_posts.down.sql", "DROP TABLE posts;\n");
    scratch.build_ok();
    assert_eq!(scratch.embedded().len(), 3);
}

/// A fresh clone with a harmlessly edited locked migration: the application does not
/// build, so its `db amend` cannot run. The build's own suggestion, run as printed,
/// amends the lock from the files, and the build passes.
#[test]
fn the_suggested_amend_works_on_a_clone_that_does_not_build() {
    let mut scratch = Scratch::new("schema-e2e-amend");
    scratch.write("0001_create_users.sql", CREATE_USERS);
    scratch.write("0002_add_email.sql", ADD_EMAIL);
    scratch.write_lock(&[
        (1, "create_users", CREATE_USERS.as_bytes()),
        (2, "add_email", ADD_EMAIL.as_bytes()),
    ]);
    let edited = format!("-- Adds the users' email.\n{ADD_EMAIL}");
    scratch.write("0002_add_email.sql", &edited);
    let stderr = scratch.build_err();
    let start = stderr
        .find("`schema-lock amend ")
        .unwrap_or_else(|| panic!("no schema-lock suggestion:\n{stderr}"));
    let suggestion = &stderr[start + 1..];
    let suggestion = &suggestion[..suggestion.find('`').unwrap()];
    let args: Vec<String> = suggestion
        .replace("\"…\"", "\"a comment only\"")
        .split(' ')
        .skip(1)
        .map(|a| a.to_owned())
        .collect();
    // The reason was quoted for a shell: put its words back together.
    let text = args.join(" ");
    let (before, after) = text.split_once('"').unwrap();
    let (reason, after) = after.split_once('"').unwrap();
    let mut argv: Vec<String> = before.split_whitespace().map(str::to_owned).collect();
    argv.push(reason.to_owned());
    argv.extend(after.split_whitespace().map(str::to_owned));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["run", "-q", "--manifest-path"])
        .arg(workspace_dir().join("Cargo.toml"))
        .args(["-p", "schema-core", "--bin", "schema-lock", "--"])
        .args(&argv)
        .current_dir(scratch.dir.path())
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{suggestion}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("amended version 2"));
    scratch.build_ok();
    let embedded = scratch.embedded();
    assert_eq!(
        embedded[1],
        Embedded::expected(2, "add_email", edited.as_bytes())
    );
    let lock = fs::read_to_string(scratch.migration_path("migrations.lock")).unwrap();
    assert!(lock.contains("a comment only"), "{lock}");
}
