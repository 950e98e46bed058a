//! What `embed_migrations!` says when a migrations folder breaks a rule: one
//! compile-fail case per rule, each with its exact message, and pass cases that run.
//!
//! The folders are generated here rather than committed, because a lock must carry the
//! real checksums of the files beside it: a committed lock would go stale silently
//! whenever a fixture or the lock format changes.

use std::fs;
use std::path::{Path, PathBuf};

use schema_runtime::rules::lock::LOCK_FILE_NAME;
use schema_runtime::rules::{Amendment, Checksum, FileName, Lock, LockEntry, Side, Version};

#[test]
fn ui() {
    write_fixtures();
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

/// trybuild compiles the test files as a crate of its own, and the macro resolves
/// folders against that crate's manifest dir, so the fixtures must live there.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("tests/trybuild/schema-runtime/fixtures")
}

const CREATE_USERS: &[u8] = b"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n";
const ADD_EMAIL: &[u8] = b"ALTER TABLE users ADD COLUMN email TEXT;\n";
const ADD_PHONE: &[u8] = b"ALTER TABLE users ADD COLUMN phone TEXT;\n";
const INDEX_EMAIL: &[u8] = b"CREATE INDEX users_email ON users (email);\n";
const DEMO_USERS: &[u8] = b"INSERT INTO users (name) VALUES ('Ada'), ('Grace');\n";
const USERS_AND_EMAIL: &[(&str, &[u8])] = &[
    ("0001_create_users.sql", CREATE_USERS),
    ("0002_add_email.sql", ADD_EMAIL),
];

/// One migrations folder.
struct Case(PathBuf);

fn case(name: &str, files: &[(&str, &[u8])]) -> Case {
    let case = Case(fixtures_dir().join(name));
    fs::create_dir_all(&case.0).unwrap();
    for (file, bytes) in files {
        case.write(file, bytes);
    }
    case
}

impl Case {
    fn write(&self, file: &str, bytes: impl AsRef<[u8]>) -> &Case {
        let path = self.0.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
        self
    }

    fn remove(&self, file: &str) -> &Case {
        fs::remove_file(self.0.join(file)).unwrap();
        self
    }

    fn rename(&self, from: &str, to: &str) -> &Case {
        fs::rename(self.0.join(from), self.0.join(to)).unwrap();
        self
    }

    /// What the runtime writes after applying every migration of the folder as it is
    /// now (seeds and down files are never locked).
    fn lock(&self) -> &Case {
        let mut entries = Vec::new();
        for entry in fs::read_dir(&self.0).unwrap() {
            let path = entry.unwrap().path();
            let file_name = path.file_name().unwrap().to_str().unwrap();
            if path.is_dir() || !file_name.ends_with(".sql") {
                continue;
            }
            let name = FileName::parse(file_name).unwrap();
            if name.side == Side::Up {
                let checksum = Checksum::of_file(&fs::read(&path).unwrap());
                entries.push(LockEntry::new(name.version, name.name, checksum));
            }
        }
        self.write_lock(&Lock::new(entries))
    }

    fn write_lock(&self, lock: &Lock) -> &Case {
        self.write(LOCK_FILE_NAME, lock.render())
    }

    /// Rewrites the lock as a person or a merge might.
    fn edit_lock(&self, edit: impl FnOnce(String) -> String) -> &Case {
        let text = fs::read_to_string(self.0.join(LOCK_FILE_NAME)).unwrap();
        self.write(LOCK_FILE_NAME, edit(text))
    }
}

fn write_fixtures() {
    let dir = fixtures_dir();
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    file_names();
    folder_layout();
    directives();
    file_contents();
    damaged_locks();
    locked_migrations();
    destructive_lint();
    dialect_rules();
    locking_rules();
    several_errors();
    passing_folders();
}

fn file_names() {
    case(
        "bad_name_version_not_digits",
        &[("v1_create_users.sql", CREATE_USERS)],
    );
    case(
        "bad_name_without_underscore",
        &[("0001-create-users.sql", CREATE_USERS)],
    );
    case(
        "bad_name_character",
        &[("0001_create-users.sql", CREATE_USERS)],
    );
    case("bad_name_without_name", &[("0001_.sql", CREATE_USERS)]);
    case(
        "bad_name_version_zero",
        &[("0000_create_users.sql", CREATE_USERS)],
    );
    // A timestamp with microseconds: 20 digits, above u64::MAX.
    case(
        "bad_name_version_overflows_u64",
        &[("20251017203807000000_create_users.sql", CREATE_USERS)],
    );
    case(
        "upper_case_sql_extension",
        &[("0001_create_users.SQL", CREATE_USERS)],
    );
}

fn folder_layout() {
    // Two branches that each added migration 5.
    case(
        "duplicate_version",
        &[
            ("0004_create_users.sql", CREATE_USERS),
            ("0005_add_email.sql", ADD_EMAIL),
            ("0005_add_phone.sql", ADD_PHONE),
        ],
    );
    case(
        "duplicate_version_sql_and_up_sql",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_add_email.sql", ADD_EMAIL),
            ("0002_add_email.up.sql", ADD_EMAIL),
        ],
    );
    case(
        "duplicate_down_file",
        &[
            ("0002_add_email.sql", ADD_EMAIL),
            (
                "0002_add_email.down.sql",
                b"ALTER TABLE users DROP COLUMN email;\n",
            ),
            (
                "2_add_email.down.sql",
                b"ALTER TABLE users DROP COLUMN email;\n",
            ),
        ],
    );
    case(
        "subfolder_other_than_seeds",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("archive/0000_old_schema.sql", CREATE_USERS),
        ],
    );
    case(
        "subfolder_inside_seeds",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("seeds/staging/0001_demo_users.sql", DEMO_USERS),
        ],
    );
    case(
        "down_without_up",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            (
                "0002_add_email.down.sql",
                b"ALTER TABLE users DROP COLUMN email;\n",
            ),
        ],
    );
    case(
        "down_name_differs_from_up",
        &[
            ("0002_add_email.up.sql", ADD_EMAIL),
            (
                "0002_add_mail.down.sql",
                b"ALTER TABLE users DROP COLUMN email;\n",
            ),
        ],
    );
    case(
        "down_file_in_seeds",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("seeds/0001_demo_users.sql", DEMO_USERS),
            ("seeds/0001_demo_users.down.sql", b"DELETE FROM users;\n"),
        ],
    );
    case(
        "duplicate_seed_version",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("seeds/0001_demo_users.sql", DEMO_USERS),
            (
                "seeds/0001_more_users.sql",
                b"INSERT INTO users (name) VALUES ('Edsger');\n",
            ),
        ],
    );
}

fn directives() {
    case(
        "unknown_directive",
        &[(
            "0003_index_email.sql",
            b"-- schema: no-tx\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        )],
    );
    case(
        "malformed_directive",
        &[
            (
                "0003_index_email.sql",
                b"--no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            ),
            (
                "0004_drop_legacy.sql",
                b"-- Schema: destructive\nDROP TABLE legacy_users;\n",
            ),
        ],
    );
    case(
        "directive_behind_bom_and_blank_lines",
        &[(
            "0003_index_email.sql",
            "\u{feff}\n\n--no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
                .as_bytes(),
        )],
    );
    case(
        "directive_after_sql",
        &[(
            "0003_index_email.sql",
            b"CREATE INDEX CONCURRENTLY users_email ON users (email);\n-- schema: no-transaction\n",
        )],
    );
}

fn file_contents() {
    // Saved as Latin-1 by an old editor.
    case(
        "invalid_utf8",
        &[(
            "0001_create_cities.sql",
            b"INSERT INTO cities (name) VALUES ('Z\xfcrich');\n",
        )],
    );
    case(
        "empty_file",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_add_email.sql", b""),
        ],
    );
    // The BOM and CRLF of a Windows editor must not pass for SQL.
    case(
        "only_comments_file",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            (
                "0002_add_email.sql",
                "\u{feff}-- TODO: add the email column\r\n/* and backfill it */\r\n".as_bytes(),
            ),
        ],
    );
    // `missing_folder` is deliberately not created.
}

fn damaged_locks() {
    // Someone edited an applied migration, then pasted its new checksum into the lock
    // to silence the build.
    let edited = [ADD_EMAIL, INDEX_EMAIL].concat();
    case("lock_total_edited_by_hand", USERS_AND_EMAIL)
        .lock()
        .write("0002_add_email.sql", &edited)
        .edit_lock(|text| {
            text.replace(
                &Checksum::of_file(ADD_EMAIL).to_string(),
                &Checksum::of_file(&edited).to_string(),
            )
        });

    case("lock_without_total_line", USERS_AND_EMAIL)
        .lock()
        .edit_lock(|text| text.split_once('\n').unwrap().1.to_owned());

    // An entry typed by hand, without its checksum.
    case("lock_with_unparsable_line", USERS_AND_EMAIL)
        .lock()
        .edit_lock(|text| text + "3 add_phone\n");

    // The two entries swapped under a total that matches them, so that the order is
    // the only thing wrong.
    case("lock_out_of_order", USERS_AND_EMAIL)
        .lock()
        .edit_lock(|text| {
            let mut lines: Vec<&str> = text.lines().collect();
            let last = lines.len() - 1;
            lines.swap(last - 1, last);
            let entries = format!("{}\n{}\n", lines[last - 1], lines[last]);
            let total = format!(
                "total sha256:{}",
                Checksum::of_normalized(entries.as_bytes())
            );
            lines[0] = &total;
            lines.join("\n") + "\n"
        });

    // Two branches each applied and locked a migration; git left both sides.
    let entry = |version, name: &str, sql| {
        LockEntry::new(Version::new(version), name, Checksum::of_file(sql))
    };
    let ours = Lock::new([
        entry(1, "create_users", CREATE_USERS),
        entry(2, "add_email", ADD_EMAIL),
    ]);
    let theirs = Lock::new([
        entry(1, "create_users", CREATE_USERS),
        entry(3, "add_phone", ADD_PHONE),
    ]);
    case(
        "lock_with_merge_conflict",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_add_email.sql", ADD_EMAIL),
            ("0003_add_phone.sql", ADD_PHONE),
        ],
    )
    .write(
        LOCK_FILE_NAME,
        merge_conflict(&ours.render(), &theirs.render()),
    );
}

/// What `git merge` leaves when two texts differ in some lines, each conflicting run
/// between `<<<<<<<` and `>>>>>>>` markers. Enough for locks, whose lines line up.
fn merge_conflict(ours: &str, theirs: &str) -> String {
    let mut text = String::new();
    for (ours, theirs) in ours.lines().zip(theirs.lines()) {
        if ours == theirs {
            text.push_str(&format!("{ours}\n"));
        } else {
            text.push_str(&format!(
                "<<<<<<< HEAD\n{ours}\n=======\n{theirs}\n>>>>>>> add-phone\n"
            ));
        }
    }
    text
}

fn locked_migrations() {
    case("locked_migration_edited", USERS_AND_EMAIL)
        .lock()
        .write("0002_add_email.sql", [ADD_EMAIL, INDEX_EMAIL].concat());

    case("locked_migration_deleted", USERS_AND_EMAIL)
        .lock()
        .remove("0002_add_email.sql");

    case("locked_migration_renamed", USERS_AND_EMAIL)
        .lock()
        .rename("0002_add_email.sql", "0002_add_email_column.sql");

    // `db amend` replaced the text; a bad merge brought the old text back.
    let amended =
        b"-- Adds the address users sign in with.\nALTER TABLE users ADD COLUMN email TEXT;\n";
    case("amended_migration_reverted", USERS_AND_EMAIL).write_lock(&Lock::new([
        LockEntry::new(
            Version::new(1),
            "create_users",
            Checksum::of_file(CREATE_USERS),
        ),
        amended_entry(2, "add_email", ADD_EMAIL, amended, "document the column"),
    ]));
}

fn amended_entry(version: u64, name: &str, old: &[u8], new: &[u8], reason: &str) -> LockEntry {
    let mut entry = LockEntry::new(Version::new(version), name, Checksum::of_file(new));
    entry.amendments.push(Amendment {
        from: Checksum::of_file(old),
        reason: reason.to_owned(),
    });
    entry
}

fn destructive_lint() {
    // The lint guards new work, so each case has a lock and a migration that is not in it.
    case(
        "destructive_statements_without_directive",
        &[("0001_create_users.sql", CREATE_USERS)],
    )
    .lock()
    .write(
        "0002_clean_up.sql",
        "DROP TABLE legacy_users;\n\
         ALTER TABLE users DROP COLUMN nickname;\n\
         ALTER TABLE users DROP avatar;\n\
         TRUNCATE sessions;\n\
         DELETE FROM audit_log;\n\
         DELETE FROM users WHERE name = '';\n",
    );

    case(
        "destructive_statement_behind_bom",
        &[("0001_create_users.sql", CREATE_USERS)],
    )
    .lock()
    .write(
        "0002_drop_legacy.sql",
        "\u{feff}DROP TABLE legacy_users;\r\n",
    );
}

fn several_errors() {
    // A broken file that the lock lists is reported for what is wrong with it, not
    // also as missing; an empty up file does not orphan its down file.
    case("several_errors_in_one_build", USERS_AND_EMAIL)
        .lock()
        .write(
            "0002_add_email.sql",
            [b"--no-transaction\n".as_slice(), ADD_EMAIL].concat(),
        )
        .write("0003_add_phone.sql", b"")
        .write(
            "0003_add_phone.down.sql",
            b"ALTER TABLE users DROP COLUMN phone;\n",
        )
        .write("0004_add-index.sql", INDEX_EMAIL)
        .write("0005_a.sql", ADD_PHONE)
        .write("0005_b.sql", ADD_PHONE)
        .write("archive/0000_old.sql", CREATE_USERS);
}

/// The lint and the transaction rules read the SQL as each dialect's server does.
fn dialect_rules() {
    case(
        "lint_bypasses_sqlite",
        &[("0001_create_users.sql", CREATE_USERS)],
    )
    .lock()
    .write(
        "0002_nested_comment.sql",
        "/* note /* */ DROP TABLE users; /* */\n",
    );
    case("lint_bypasses_mysql", &[("0001_create_users.sql", CREATE_USERS)])
        .lock()
        .write("0002_hash_comment.sql", "# it's\nDROP TABLE users; -- '\n")
        .write(
            "0003_backslash_escape.sql",
            "SELECT 'it\\''; DROP TABLE users; -- '\n",
        )
        .write(
            "0004_executable_comment.sql",
            "/*!50000 DROP TABLE users */;\n",
        )
        .write(
            "0005_end_case.sql",
            "CREATE PROCEDURE p() BEGIN CASE 1 WHEN 1 THEN SELECT 1; END CASE; END;\nDROP TABLE users;\n",
        )
        .write(
            "0006_replace_into.sql",
            "REPLACE INTO users (id, name) VALUES (1, 'Ada');\n",
        )
        .write(
            "0007_prepare.sql",
            "SET @s = 'DROP TABLE users';\nPREPARE s FROM @s;\nEXECUTE s;\n",
        );
    case(
        "lint_bypasses_postgres",
        &[("0001_create_users.sql", CREATE_USERS)],
    )
    .lock()
    .write(
        "0002_cte.sql",
        "WITH d AS (DELETE FROM users RETURNING 1) SELECT count(*) FROM d;\n",
    )
    .write(
        "0003_do_execute.sql",
        "DO $$\nBEGIN\n  EXECUTE 'DROP TABLE users';\nEND $$;\n",
    )
    .write("0004_drop_type_cascade.sql", "DROP TYPE mood CASCADE;\n")
    .write("0005_drop_owned.sql", "DROP OWNED BY app;\n")
    .write(
        "0006_where_in_subquery.sql",
        "DELETE FROM users USING (SELECT id FROM banned WHERE active) b;\n",
    );
    case(
        "transaction_control",
        &[
            (
                "0001_create_a.sql",
                b"CREATE TABLE a (id INTEGER);\nROLLBACK;\n",
            ),
            (
                "0002_create_b.sql",
                b"BEGIN;\nCREATE TABLE b (id INTEGER);\nCOMMIT;\n",
            ),
            (
                "0002_create_b.down.sql",
                b"-- COMMIT; in a comment does not count\nDROP TABLE b;\nEND;\n",
            ),
        ],
    );
    case(
        "sqlite_foreign_keys_pragma",
        &[
            ("0001_create_parent.sql", b"CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n"),
            (
                "0002_rebuild_parent.sql",
                b"PRAGMA foreign_keys = OFF;\nCREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\nPRAGMA foreign_keys = ON;\n",
            ),
        ],
    );
    case(
        "unknown_dialect",
        &[("0001_create_users.sql", CREATE_USERS)],
    );
    // Passes: PostgreSQL nests comments, and a no-transaction file has its own BEGIN.
    case("dialect_named", &[("0001_create_users.sql", CREATE_USERS)])
        .lock()
        .write(
            "0002_comment.sql",
            "/* a /* b */ DROP TABLE users; */ SELECT 1;\n",
        )
        .write(
            "0003_own_transaction.sql",
            "-- schema: no-transaction\nBEGIN;\nCREATE TABLE t (id INTEGER);\nCOMMIT;\n",
        );
}

fn passing_folders() {
    case(
        "good_folder",
        &[
            ("README.md", b"Migrations of the users service.\n"),
            ("0001_create_users.sql", CREATE_USERS),
            ("0001_create_users.down.sql", b"DROP TABLE users;\n"),
            ("0002_add_email.up.sql", ADD_EMAIL),
            ("0002_add_email.down.sql", b"ALTER TABLE users DROP COLUMN email;\n"),
            (
                "0003_index_email.sql",
                b"-- Builds without blocking writes.\n-- schema: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            ),
            (
                "0004_drop_nickname.sql",
                b"-- schema: destructive\n-- schema: no-transaction\nALTER TABLE users DROP COLUMN nickname;\n",
            ),
            ("seeds/0001_demo_users.sql", DEMO_USERS),
        ],
    );

    // Locked from a Unix checkout, then built from a Windows one.
    case(
        "crlf_and_bom_files",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            (
                "0002_add_email.sql",
                b"-- schema: no-transaction\nALTER TABLE users ADD COLUMN email TEXT;\n",
            ),
        ],
    )
    .lock()
    .write(
        "0001_create_users.sql",
        "\u{feff}CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\r\n",
    )
    .write(
        "0002_add_email.sql",
        "\u{feff}-- schema: no-transaction\r\nALTER TABLE users ADD COLUMN email TEXT;\r\n",
    );

    case(
        "destructive_acknowledged",
        &[("0001_create_users.sql", CREATE_USERS)],
    )
    .lock()
    .write(
        "0002_drop_legacy.sql",
        "-- schema: destructive\nDROP TABLE legacy_users;\n",
    );

    // Adopting an existing folder: nothing is locked yet, so nothing is linted.
    case(
        "destructive_before_any_lock",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_drop_legacy.sql", b"DROP TABLE legacy_users;\n"),
        ],
    );

    case(
        "locked_destructive_migration",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_drop_legacy.sql", b"DROP TABLE legacy_users;\n"),
        ],
    )
    .lock()
    .write("0003_add_email.sql", ADD_EMAIL);

    let amended =
        b"-- Adds the address users sign in with.\nALTER TABLE users ADD COLUMN email TEXT;\n";
    case(
        "amended_lock_accepted",
        &[
            ("0001_create_users.sql", CREATE_USERS),
            ("0002_add_email.sql", amended),
        ],
    )
    .write_lock(&Lock::new([
        LockEntry::new(
            Version::new(1),
            "create_users",
            Checksum::of_file(CREATE_USERS),
        ),
        amended_entry(2, "add_email", ADD_EMAIL, amended, "document the column"),
    ]));
}

/// Rolling deploys on PostgreSQL: one folder per family of rules, one error per file,
/// all on `accounts`, which the locked first migration created.
fn locking_rules() {
    const ACCOUNTS: &[u8] = b"CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(50), name text);\nCREATE INDEX accounts_name ON accounts (name);\nCREATE TABLE owners (id bigint PRIMARY KEY);\n";
    let first = &[("0001_create_accounts.sql", ACCOUNTS)];
    case("locking_indexes", first)
        .lock()
        .write(
            "0002_index_email.sql",
            "CREATE INDEX accounts_email ON accounts (email);\n",
        )
        .write(
            "0003_drop_index.sql",
            "SELECT 1;\nDROP INDEX accounts_name;\n",
        )
        .write(
            "0004_unique_email.sql",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);\n",
        );
    case("locking_columns", first)
        .lock()
        .write(
            "0002_add_not_null.sql",
            "ALTER TABLE accounts ADD COLUMN plan text NOT NULL;\n",
        )
        .write(
            "0003_volatile_default.sql",
            "ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid();\n",
        )
        .write(
            "0004_change_type.sql",
            "ALTER TABLE accounts ALTER COLUMN id TYPE numeric;\n",
        )
        .write(
            "0005_set_not_null.sql",
            "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n",
        );
    case("locking_constraints", first)
        .lock()
        .write(
            "0002_foreign_key.sql",
            "ALTER TABLE accounts ADD COLUMN owner_id bigint;\nALTER TABLE accounts ADD CONSTRAINT accounts_owner FOREIGN KEY (owner_id) REFERENCES owners (id);\n",
        )
        .write(
            "0003_check.sql",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_name_short CHECK (length(name) < 200);\n",
        );
    case("locking_renames", first)
        .lock()
        .write(
            "0002_rename_table.sql",
            "ALTER TABLE accounts RENAME TO customers;\n",
        )
        .write(
            "0003_rename_column.sql",
            "ALTER TABLE customers RENAME COLUMN name TO full_name;\n",
        );
    // Passes: acknowledged, CONCURRENTLY outside a transaction, the NOT VALID recipe,
    // and a table created in the same file.
    case("locking_safe", first)
        .lock()
        .write(
            "0002_acknowledged.sql",
            "-- schema: locks-tables\nALTER TABLE accounts RENAME COLUMN name TO full_name;\n",
        )
        .write(
            "0003_index_concurrently.sql",
            "-- schema: no-transaction\nCREATE INDEX CONCURRENTLY accounts_email ON accounts (email);\n",
        )
        .write(
            "0004_check_not_valid.sql",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_email_nn CHECK (email IS NOT NULL) NOT VALID;\n",
        )
        .write(
            "0005_validate.sql",
            "ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_nn;\nALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n",
        )
        .write(
            "0006_create_and_index.sql",
            "CREATE TABLE invoices (id bigint, account_id bigint);\nCREATE INDEX invoices_account ON invoices (account_id);\nALTER TABLE invoices ADD CONSTRAINT invoices_account FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n",
        );
}
