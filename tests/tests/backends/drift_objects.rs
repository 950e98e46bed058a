//! Drift of the objects that are not columns, indexes or foreign keys: views, triggers,
//! CHECKs, routines, types and sequences, on each backend that has them. Each behaviour
//! migrates the backend's `drift_objects` fixture up to its first migration, changes
//! objects of one kind by hand, and expects `Migrator::drift` to name each one; the
//! fixture's second migration makes the same changes, which is not drift.

use schema_runtime::Dialect;

use super::{Target, test_policy};

/// Asserts that `found` is `expected`, one difference each, in order. In an expected
/// text `…` stands for any text: a definition as the server spells it.
fn assert_drift(found: &[String], expected: &[&str]) {
    fn matches(text: &str, pattern: &str) -> bool {
        let mut parts = pattern.split('…');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = text.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        for (n, part) in parts.iter().enumerate() {
            if n + 1 == parts.len() {
                return rest.ends_with(part);
            }
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.is_empty()
    }
    assert!(
        found.len() == expected.len() && found.iter().zip(expected).all(|(f, e)| matches(f, e)),
        "the drift found:\n{found:#?}\nis not the drift expected:\n{expected:#?}"
    );
}

/// Migrates the fixture up to its first migration: nothing differs yet.
async fn first_migration(target: &Target) {
    let objects = target.drift_objects();
    target.run_to(objects, test_policy(), 1).await.unwrap();
    assert_drift(&target.drift(objects).await, &[]);
}

/// Runs `sql` by hand and expects the drift it makes.
async fn by_hand(target: &Target, sql: &str, expected: &[&str]) {
    target.execute(sql).await;
    assert_drift(&target.drift(target.drift_objects()).await, expected);
}

/// Views changed, dropped and made by hand. On SQLite a start with nothing to migrate
/// sees them too: making a view moves SQLite's schema counter, the start's shortcut.
pub(super) async fn drift_names_views_changed_by_hand(target: &Target) {
    first_migration(target).await;
    let expected: &[&str] = match target.dialect() {
        Dialect::Sqlite => &[
            "view open_orders differs: the migrations left `CREATE VIEW open_orders AS SELECT id, amount FROM orders WHERE status = 'new'`, the database has `CREATE VIEW open_orders AS SELECT id FROM orders`",
            "view paid_orders was created by the migrations but is not in the database",
            "view big_orders exists in the database but no migration created it",
        ],
        Dialect::Postgres => &[
            "materialized view order_totals was created by the migrations but is not in the database",
            "view happy_orders differs: the migrations left `SELECT orders.id, orders.amount FROM orders WHERE (orders.feeling = 'happy'::mood);`, the database has `SELECT orders.id, orders.amount, orders.total FROM orders WHERE (orders.feeling = 'happy'::mood);`",
            "view sad_orders exists in the database but no migration created it",
        ],
        // The database's name is not part of a definition: a copy under another name
        // compares equal.
        Dialect::Mysql => &[
            "view open_orders differs: the migrations left `select `orders`.`id` AS `id`,`orders`.`amount` AS `amount` from `orders` where `orders`.`status` = 'new'`, the database has `select `orders`.`id` AS `id` from `orders``",
            "view paid_orders was created by the migrations but is not in the database",
            "view big_orders exists in the database but no migration created it",
        ],
    };
    let sql = match target.dialect() {
        Dialect::Sqlite => {
            "DROP VIEW open_orders; CREATE VIEW open_orders AS SELECT id FROM orders; \
             DROP VIEW paid_orders; CREATE VIEW big_orders AS SELECT id FROM orders WHERE amount > 100;"
        }
        Dialect::Postgres => {
            "CREATE OR REPLACE VIEW happy_orders AS SELECT id, amount, total FROM orders WHERE feeling = 'happy'; \
             CREATE VIEW sad_orders AS SELECT id FROM orders WHERE feeling = 'sad'; \
             DROP MATERIALIZED VIEW order_totals;"
        }
        Dialect::Mysql => {
            "CREATE OR REPLACE VIEW open_orders AS SELECT id FROM orders; DROP VIEW paid_orders; \
             CREATE VIEW big_orders AS SELECT id FROM orders WHERE amount > 100;"
        }
    };
    by_hand(target, sql, expected).await;
    let started = target
        .run_to(target.drift_objects(), test_policy(), 1)
        .await
        .unwrap();
    assert_eq!(started.drift.is_some(), target.is_sqlite());
    if let Some(drift) = started.drift {
        assert_eq!(drift.differences.len(), expected.len());
    }
}

/// Triggers dropped, made or disabled by hand; a hand-made table's triggers and CHECKs
/// are part of the one difference the table is.
pub(super) async fn drift_names_triggers_changed_by_hand(target: &Target) {
    first_migration(target).await;
    let (sql, expected): (&str, &[&str]) = match target.dialect() {
        Dialect::Sqlite => (
            "DROP TRIGGER orders_not_huge; \
             CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN SELECT 1; END; \
             CREATE TABLE scratch (id INTEGER CHECK (id > 0)); \
             CREATE TRIGGER scratch_audit AFTER INSERT ON scratch BEGIN SELECT 1; END;",
            &[
                "table scratch exists in the database but no migration created it",
                "trigger orders.orders_not_huge was created by the migrations but is not in the database",
                "trigger orders.orders_audit exists in the database but no migration created it",
            ],
        ),
        Dialect::Postgres => (
            "ALTER TABLE orders DISABLE TRIGGER orders_touch; \
             CREATE TRIGGER orders_touch_update BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_touch(); \
             CREATE TABLE scratch (id INTEGER CHECK (id > 0)); \
             CREATE TRIGGER scratch_touch BEFORE INSERT ON scratch FOR EACH ROW EXECUTE FUNCTION orders_touch();",
            &[
                "table scratch exists in the database but no migration created it",
                "trigger orders.orders_touch differs: the migrations left `CREATE TRIGGER orders_touch BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_touch()`, the database has `CREATE TRIGGER orders_touch BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_touch() (disabled)`",
                "trigger orders.orders_touch_update exists in the database but no migration created it",
            ],
        ),
        Dialect::Mysql => (
            "DROP TRIGGER orders_not_zero; \
             CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW SET @last_order = NEW.id; \
             CREATE TABLE scratch (id INTEGER CHECK (id > 0)); \
             CREATE TRIGGER scratch_audit AFTER INSERT ON scratch FOR EACH ROW SET @last_scratch = NEW.id;",
            &[
                "table scratch exists in the database but no migration created it",
                "trigger orders.orders_not_zero was created by the migrations but is not in the database",
                "trigger orders.orders_audit exists in the database but no migration created it",
            ],
        ),
    };
    by_hand(target, sql, expected).await;
}

/// CHECK constraints added, dropped or changed by hand.
pub(super) async fn drift_names_checks_changed_by_hand(target: &Target) {
    first_migration(target).await;
    let (sql, expected): (&str, &[&str]) = match target.dialect() {
        // SQLite keeps a table's CHECKs in its CREATE TABLE text: changing one means
        // rebuilding the table.
        Dialect::Sqlite => (
            "CREATE TABLE payments_new (id INTEGER NOT NULL PRIMARY KEY, \
               amount INTEGER NOT NULL CONSTRAINT amount_positive CHECK (amount >= 1) CHECK (amount < 1000000)); \
             INSERT INTO payments_new (id, amount) SELECT id, amount FROM payments; \
             DROP TABLE payments; ALTER TABLE payments_new RENAME TO payments;",
            &[
                "check payments.amount_positive differs: the migrations left `CHECK (amount > 0)`, the database has `CHECK (amount >= 1)`",
                "check payments(amount < 1000000) exists in the database but no migration created it",
            ],
        ),
        Dialect::Postgres => (
            "ALTER TABLE orders ADD CONSTRAINT amount_small CHECK (amount < 500000); \
             ALTER TABLE orders DROP CONSTRAINT total_not_negative;",
            &[
                "check orders.total_not_negative was created by the migrations but is not in the database",
                "check orders.amount_small exists in the database but no migration created it",
            ],
        ),
        Dialect::Mysql => (
            "ALTER TABLE orders ADD CONSTRAINT amount_small CHECK (amount < 1000000); \
             ALTER TABLE orders DROP CONSTRAINT amount_positive;",
            &[
                "check orders.amount_positive was created by the migrations but is not in the database",
                "check orders.amount_small exists in the database but no migration created it",
            ],
        ),
    };
    by_hand(target, sql, expected).await;
}

/// Functions and procedures whose body changed, dropped or made by hand (PostgreSQL,
/// MySQL); on PostgreSQL an extension made by hand is one difference, not one per
/// function and type it brings.
pub(super) async fn drift_names_routines_changed_by_hand(target: &Target) {
    let (sql, expected): (&str, &[&str]) = match target.dialect() {
        Dialect::Sqlite => return,
        Dialect::Postgres => (
            "CREATE OR REPLACE FUNCTION order_total(order_id BIGINT) RETURNS INTEGER LANGUAGE sql STABLE \
               AS $$ SELECT coalesce(total, 0) FROM orders WHERE id = order_id $$; \
             CREATE FUNCTION order_count() RETURNS BIGINT LANGUAGE sql AS $$ SELECT count(*) FROM orders $$; \
             DROP PROCEDURE refresh_totals(INTEGER); \
             CREATE EXTENSION citext;",
            &[
                "function order_total(bigint) differs from what the migrations left (the hash of its definition changed)",
                "procedure refresh_totals(integer) was created by the migrations but is not in the database",
                "extension citext exists in the database but no migration created it",
                "function order_count() exists in the database but no migration created it",
            ],
        ),
        Dialect::Mysql => (
            "DROP FUNCTION order_count; \
             CREATE FUNCTION order_count() RETURNS INTEGER READS SQL DATA \
               RETURN (SELECT COUNT(*) FROM orders WHERE status = 'paid'); \
             CREATE FUNCTION order_sum() RETURNS INTEGER READS SQL DATA RETURN (SELECT SUM(amount) FROM orders); \
             DROP PROCEDURE mark_paid;",
            &[
                "function order_count() differs from what the migrations left (the hash of its definition changed)",
                "procedure mark_paid(IN int…) was created by the migrations but is not in the database",
                "function order_sum() exists in the database but no migration created it",
            ],
        ),
    };
    first_migration(target).await;
    by_hand(target, sql, expected).await;
}

/// Types changed by hand: an enum's new value (`ALTER TYPE … ADD VALUE`), a composite
/// type's attribute, a domain's CHECK, a new type (PostgreSQL); an ENUM column's values
/// (MySQL, where they are part of the column's type).
pub(super) async fn drift_names_types_changed_by_hand(target: &Target) {
    let (sql, expected): (&str, &[&str]) = match target.dialect() {
        Dialect::Sqlite => return,
        Dialect::Postgres => (
            "ALTER TYPE mood ADD VALUE 'meh'; \
             CREATE TYPE size AS ENUM ('small', 'large'); \
             ALTER TYPE address ADD ATTRIBUTE zip TEXT; \
             ALTER DOMAIN positive_amount ADD CONSTRAINT below_a_million CHECK (VALUE < 1000000);",
            &[
                "composite type address differs: the migrations left `street text, city text`, the database has `street text, city text, zip text`",
                "domain positive_amount differs: the migrations left `integer CONSTRAINT positive_amount_check CHECK ((VALUE > 0))`, the database has `integer CONSTRAINT below_a_million CHECK ((VALUE < 1000000)) CONSTRAINT positive_amount_check CHECK ((VALUE > 0))`",
                "enum type mood has value 'meh' in the database that no migration added",
                "enum type size exists in the database but no migration created it",
            ],
        ),
        Dialect::Mysql => (
            "ALTER TABLE orders MODIFY status ENUM('new', 'paid', 'refunded') NOT NULL DEFAULT 'new';",
            &[
                "column orders.status differs: the migrations left `enum('new','paid') NOT NULL DEFAULT …`, the database has `enum('new','paid','refunded') NOT NULL DEFAULT …`",
            ],
        ),
    };
    first_migration(target).await;
    by_hand(target, sql, expected).await;
}

/// Sequences altered or made by hand (PostgreSQL); drawing numbers from one is not a
/// change of the schema.
pub(super) async fn drift_names_sequences_changed_by_hand(target: &Target) {
    if target.dialect() != Dialect::Postgres {
        return;
    }
    first_migration(target).await;
    by_hand(
        target,
        "SELECT nextval('invoice_numbers'); INSERT INTO orders (amount) VALUES (5);",
        &[],
    )
    .await;
    by_hand(
        target,
        "ALTER SEQUENCE invoice_numbers INCREMENT BY 10; CREATE SEQUENCE scratch_numbers; \
         ALTER SEQUENCE orders_id_seq CYCLE;",
        &[
            "sequence invoice_numbers differs: the migrations left `bigint INCREMENT 1 MINVALUE 1 …`, the database has `bigint INCREMENT 10 MINVALUE 1 …`",
            // A column's own sequence belongs to its table.
            "sequence orders.orders_id_seq differs: the migrations left `bigint INCREMENT 1 … CACHE 1`, the database has `bigint INCREMENT 1 … CACHE 1 CYCLE`",
            "sequence scratch_numbers exists in the database but no migration created it",
        ],
    )
    .await;
}

/// The fixture's second migration makes the changes the behaviours above make by hand:
/// made by a migration, none of them is drift, at the run or after it.
pub(super) async fn a_migration_that_changes_those_objects_is_not_drift(target: &Target) {
    first_migration(target).await;
    let objects = target.drift_objects();
    let policy = || test_policy().check_drift_on_every_start(true);
    let report = target.run(objects, policy()).await.unwrap();
    assert_eq!(report.applied.len(), 1);
    assert_eq!(report.drift, None, "{:?}", report.warnings);
    assert_drift(&target.drift(objects).await, &[]);
    let again = target.run(objects, policy()).await.unwrap();
    assert!(again.is_up_to_date());
    assert_eq!(again.drift, None, "{:?}", again.warnings);
}

/// A fingerprint recorded by the previous version (the first format: no views, triggers,
/// routines, types or sequences, and CHECKs only on PostgreSQL, as `constraint`) still
/// compares: the kinds it did not read are not drift, a hand-made column still is.
pub(super) async fn a_fingerprint_of_the_previous_format_still_compares(target: &Target) {
    first_migration(target).await;
    let key = "WHERE key_name = 'fingerprint'";
    let recorded = target
        .strings(&format!("SELECT value FROM schema_meta {key}"))
        .await
        .remove(0);
    let mut lines = recorded.lines();
    let mut old = String::from("schema-fingerprint 1\n");
    lines.next();
    for line in lines {
        let kind = line.split('\t').next().unwrap_or_default();
        match kind {
            "column" | "index" | "constraint" | "foreign key" => old.push_str(line),
            "check" if target.dialect() == Dialect::Postgres => {
                old.push_str(&line.replacen("check", "constraint", 1))
            }
            "check" | "view" | "materialized view" | "trigger" | "sequence" | "enum type"
            | "composite type" | "domain" | "function" | "procedure" => continue,
            _ if line.starts_with("after ") || line.starts_with("at ") => old.push_str(line),
            other => panic!("a kind this test does not know: {other}"),
        }
        old.push('\n');
    }
    let mut literal = old.replace('\'', "''");
    if target.dialect() == Dialect::Mysql {
        literal = literal.replace('\\', "\\\\");
    }
    target
        .execute(&format!("UPDATE schema_meta SET value = '{literal}' {key}"))
        .await;
    assert_eq!(
        target
            .strings(&format!("SELECT value FROM schema_meta {key}"))
            .await,
        [old]
    );
    assert_drift(&target.drift(target.drift_objects()).await, &[]);
    target
        .execute("ALTER TABLE orders ADD COLUMN nickname VARCHAR(40)")
        .await;
    assert_drift(
        &target.drift(target.drift_objects()).await,
        &["column orders.nickname exists in the database but no migration created it"],
    );
}
