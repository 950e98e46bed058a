//! The app pointed at PostgreSQL or MariaDB with one environment variable.

use std::process::{Command, Output};

use schema_runtime::sqlx::{self, MySqlPool, PgPool};
use schema_tests::{Server, unique_database_name, with_database};

fn app(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_example-app"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("APP_ENV", "development")
        .env("SEED_DB", "true")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn admin(server: Server, url: &str, sql: String) {
    let sql = sqlx::AssertSqlSafe(sql);
    let result = match server {
        Server::Postgres => sqlx::raw_sql(sql)
            .execute(&PgPool::connect(url).await.unwrap())
            .await
            .map(drop),
        Server::Mysql => sqlx::raw_sql(sql)
            .execute(&MySqlPool::connect(url).await.unwrap())
            .await
            .map(drop),
    };
    result.unwrap();
}

async fn migrates_and_does_its_job(server: Server, with_password: bool) {
    let Some(admin_url) = server.url() else {
        return;
    };
    let name = unique_database_name();
    admin(server, &admin_url, format!("CREATE DATABASE {name}")).await;
    let mut url = with_database(&admin_url, &name);
    if with_password {
        // Trust authentication accepts any password; the app must never print it.
        url = url.replacen("://postgres@", "://postgres:hunter2-secret@", 1);
    }

    let first = app(&url, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("schema: applied 6 migrations"),
        "{}",
        text(&first)
    );
    assert!(
        text(&first).contains("Write the release notes"),
        "seeds ran in development: {}",
        text(&first)
    );
    let added = app(&url, &["add", "bob@example.com", "Ship", "it"]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("added task #4"), "{}", text(&added));
    assert!(app(&url, &["done", "1"]).status.success());
    let listed = app(&url, &[]);
    let listed = text(&listed);
    assert!(
        listed.contains("schema: up to date at version 20251112143000"),
        "{listed}"
    );
    assert!(
        listed.contains("Ship it") && !listed.contains("Write the release notes"),
        "{listed}"
    );
    assert!(
        !listed.contains("hunter2-secret") && !text(&first).contains("hunter2-secret"),
        "a password was printed"
    );

    let drop = match server {
        Server::Postgres => format!("DROP DATABASE {name} WITH (FORCE)"),
        Server::Mysql => format!("DROP DATABASE {name}"),
    };
    admin(server, &admin_url, drop).await;
}

#[tokio::test]
async fn postgres_with_one_environment_variable() {
    migrates_and_does_its_job(Server::Postgres, true).await;
}

#[tokio::test]
async fn mariadb_with_one_environment_variable() {
    migrates_and_does_its_job(Server::Mysql, false).await;
}
