//! `testing::check_reversible` on every backend: a set whose down files undo their
//! migrations passes, and a set with a missing down file and a down file that drops the
//! wrong table is reported, naming the migrations and the objects.

use schema_runtime::Version;
use schema_runtime::testing::{
    Reversibility, ReversibilityProblem, check_reversible, check_reversible_blocking,
};
use schema_tests::{BROKEN_DOWN, IRREVERSIBLE, REVERSIBLE, Server};

/// What every backend reports for `IRREVERSIBLE`.
fn assert_irreversible_reported(report: &Reversibility) {
    assert!(!report.is_reversible(), "{report}");
    assert_eq!(report.checked, 3, "{report}");
    assert_eq!(report.unchecked, 0, "{report}");
    let [no_down, differs, up_again] = &report.problems[..] else {
        panic!("three problems expected: {report}");
    };
    assert_eq!(
        *no_down,
        ReversibilityProblem::NoDown {
            version: Version::new(2),
            path: "fixtures/irreversible/0002_create_tags.sql",
        },
        "{report}"
    );
    let ReversibilityProblem::DownDiffers {
        version,
        path,
        differences,
    } = differs
    else {
        panic!("the down of 3 should differ: {report}");
    };
    assert_eq!(*version, Version::new(3));
    assert_eq!(*path, "fixtures/irreversible/0003_create_posts.down.sql");
    assert_eq!(
        differences,
        &[
            "table posts is there after the down but was not before the up".to_owned(),
            "table authors was there before the up but is gone after the down".to_owned(),
        ],
        "{report}"
    );
    // The table the down left makes the migration fail when applied again.
    let ReversibilityProblem::UpAgainFailed { version, path, .. } = up_again else {
        panic!("applying 3 again should fail: {report}");
    };
    assert_eq!(
        (*version, *path),
        (
            Version::new(3),
            "fixtures/irreversible/0003_create_posts.sql"
        )
    );
    let text = report.to_string();
    // One line per problem, whatever the database's message holds.
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("fixtures/irreversible/0002_create_tags.sql (version 2) has no down file"),
        "{text}"
    );
    assert!(
        text.contains("after the down of fixtures/irreversible/0003_create_posts.down.sql (version 3): table posts is there after the down"),
        "{text}"
    );
}

/// What a backend reports for `BROKEN_DOWN`, whose first down file fails after dropping
/// a table: where DDL is transactional the down is rolled back and the check goes on to
/// the next migration; on MySQL/MariaDB the drop stayed, and the check stops there.
fn assert_broken_down_reported(report: &Reversibility, transactional: bool) {
    let [ReversibilityProblem::DownFailed { version, path, .. }] = &report.problems[..] else {
        panic!("one failed down expected: {report}");
    };
    assert_eq!(
        (*version, *path),
        (
            Version::new(1),
            "fixtures/broken_down/0001_create_parts.down.sql"
        )
    );
    assert!(
        report.to_string().contains("no_such_table_here"),
        "{report}"
    );
    if transactional {
        assert_eq!((report.checked, report.unchecked), (2, 0), "{report}");
    } else {
        assert_eq!((report.checked, report.unchecked), (1, 1), "{report}");
        assert!(
            report
                .to_string()
                .ends_with("the check stopped there: 1 later migration was not checked"),
            "{report}"
        );
    }
}

fn assert_reversible(report: &Reversibility) {
    assert!(report.is_reversible(), "{report}");
    assert_eq!(report.checked, REVERSIBLE.migrations().len());
    assert!(
        report
            .to_string()
            .starts_with("every down file restores the schema"),
        "{report}"
    );
}

#[test]
fn sqlite_reversible_set_passes() {
    assert_reversible(&check_reversible_blocking(&REVERSIBLE).unwrap());
}

#[test]
fn sqlite_irreversible_set_is_reported() {
    assert_irreversible_reported(&check_reversible_blocking(&IRREVERSIBLE).unwrap());
}

#[test]
fn sqlite_failing_down_is_reported_and_rolled_back() {
    assert_broken_down_reported(&check_reversible_blocking(&BROKEN_DOWN).unwrap(), true);
}

#[tokio::test]
async fn sqlite_url_runs_the_same_check() {
    let report = check_reversible(&IRREVERSIBLE, "sqlite::memory:")
        .await
        .unwrap();
    assert_irreversible_reported(&report);
}

#[tokio::test]
async fn unknown_scheme_is_an_error() {
    let error = check_reversible(&REVERSIBLE, "oracle://db/x")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("`oracle:`"), "{error}");
}

#[tokio::test]
async fn postgres_reversible_set_passes() {
    let Some(url) = Server::Postgres.url() else {
        return;
    };
    assert_reversible(&check_reversible(&REVERSIBLE, &url).await.unwrap());
}

#[tokio::test]
async fn postgres_irreversible_set_is_reported() {
    let Some(url) = Server::Postgres.url() else {
        return;
    };
    assert_irreversible_reported(&check_reversible(&IRREVERSIBLE, &url).await.unwrap());
}

#[tokio::test]
async fn postgres_failing_down_is_reported_and_rolled_back() {
    let Some(url) = Server::Postgres.url() else {
        return;
    };
    assert_broken_down_reported(&check_reversible(&BROKEN_DOWN, &url).await.unwrap(), true);
}

#[tokio::test]
async fn mysql_reversible_set_passes() {
    let Some(url) = Server::Mysql.url() else {
        return;
    };
    assert_reversible(&check_reversible(&REVERSIBLE, &url).await.unwrap());
}

#[tokio::test]
async fn mysql_irreversible_set_is_reported() {
    let Some(url) = Server::Mysql.url() else {
        return;
    };
    assert_irreversible_reported(&check_reversible(&IRREVERSIBLE, &url).await.unwrap());
}

#[tokio::test]
async fn mysql_failing_down_stops_the_check() {
    let Some(url) = Server::Mysql.url() else {
        return;
    };
    assert_broken_down_reported(&check_reversible(&BROKEN_DOWN, &url).await.unwrap(), false);
}
