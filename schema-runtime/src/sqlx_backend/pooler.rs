//! Connection poolers: the direct URL a run migrates over, and a PostgreSQL connection
//! that goes through a pooler in transaction mode, refused before anything changes.
//!
//! Behind a transaction pooler (PgBouncer's `pool_mode = transaction`, Neon's `-pooler`
//! host, Supabase's port 6543) each transaction may run on another server session, and
//! the server session a client just left serves the next client. The migration lock is a
//! session's lock, so it stays on a server session the pooler hands to the other
//! replicas (who then "take" it again, re-entrantly, and migrate at once), and the
//! statements sqlx prepares on one session are sent to another ("prepared statement
//! sqlx_s_2 already exists"). Measured against PgBouncer 1.18:
//!
//! - one client alone cannot tell transaction from session mode: its backend, a session
//!   `SET` and its advisory lock all stay put, because the pooler hands it the same
//!   server session again when no one else asked for it;
//! - a second connection can: right after this connection's statement, the pooler hands
//!   the server session it just freed to the second connection (PgBouncer reuses the
//!   most recently freed one), which then sees this connection's backend, settings and
//!   lock. Under a session pooler or on a direct connection two client connections never
//!   share a backend. Alone that showed transaction mode every time; with 8 processes
//!   probing in a tight loop a single round missed up to a quarter of the time (another
//!   client took the freed session first), and then this connection's own backend
//!   usually changed instead. So the probe repeats a few rounds and stops at the first
//!   sign.
//!
//! The probe runs only on the path that takes the lock (an up-to-date start reads the
//! history and nothing else), costs one extra connection and a few round trips there, and
//! the take itself checks deterministically that the server session does not already
//! hold the lock for another client.

use std::str::FromStr;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Pool};

use super::Backend;
use crate::error::Error;
use crate::sql_text::Dialect;
use crate::{Policy, redact_url};

/// Host and port of a pool's server, for messages: never a password.
pub(super) fn target<DB: Backend>(pool: &Pool<DB>) -> String {
    let url = sqlx::ConnectOptions::to_url_lossy(&*pool.connect_options());
    let host = url.host_str().unwrap_or("localhost").to_owned();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// A pool of one connection to the policy's direct URL, when it names one and the
/// backend is a server: the run's whole connection, closed when the run ends, so the
/// application's pool (whose URL may go through a pooler) is never used for it.
pub(super) fn direct_pool<DB: Backend>(
    policy: &Policy,
    app: &Pool<DB>,
) -> Result<Option<Pool<DB>>, Error> {
    let Some(url) = policy.direct_database_url() else {
        return Ok(None);
    };
    // sqlx reads any scheme as its own database's: a URL of another one would fail only
    // when connecting, and confusingly.
    let (name, schemes, url): (&str, &[&str], String) = match DB::DIALECT {
        Dialect::Sqlite => return Ok(None),
        Dialect::Postgres => (
            "PostgreSQL",
            &["postgres://", "postgresql://"],
            url.to_owned(),
        ),
        Dialect::Mysql => (
            "MySQL",
            &["mysql://", "mariadb://"],
            match url.strip_prefix("mariadb://") {
                Some(rest) => format!("mysql://{rest}"),
                None => url.to_owned(),
            },
        ),
    };
    let unusable = |why: String| {
        Error::database_message(
            "reading the direct URL (SCHEMA_DIRECT_URL, DATABASE_URL_UNPOOLED or Policy::direct_url)",
            format!(
                "{} is not a URL of this {name} database{why}",
                redact_url(&url)
            ),
        )
    };
    if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(unusable(format!(
            " (one starts with {})",
            schemes.join(" or ")
        )));
    }
    let options = <DB::Connection as Connection>::Options::from_str(&url)
        .map_err(|error| unusable(format!(": {error}")))?;
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .acquire_timeout(app.options().get_acquire_timeout())
        .connect_lazy_with(options);
    tracing::info!(
        "schema: migrating over the direct URL ({}), not the application's pool ({})",
        target(&pool),
        target(app)
    );
    Ok(Some(pool))
}

/// A history read that failed because the statements sqlx prepared on one server session
/// reached another: what a transaction pooler without prepared-statement support does
/// (PgBouncer before 1.21, or with `max_prepared_statements = 0`). Said as such, with the
/// way out, instead of as the driver's error.
pub(super) fn explain_prepared_statements(error: Error, target: &str) -> Error {
    match &error {
        Error::Database {
            context,
            message,
            code: Some(code),
            ..
        } if context == "reading the migration history"
            && is_prepared_statement_clash(code, message) =>
        {
            Error::TransactionPooler {
                target: target.to_owned(),
                evidence: format!(
                    "reading the migration history, the server answered `{message}`: a statement prepared on one server session was sent to another"
                ),
            }
        }
        _ => error,
    }
}

/// PostgreSQL's answer to a prepared statement that is not on this server session
/// (26000), is there already (42P05), or takes other parameters than the one prepared
/// (08P01, "bind message supplies …").
fn is_prepared_statement_clash(code: &str, message: &str) -> bool {
    matches!(code, "26000" | "42P05" | "08P01") && message.contains("prepared statement")
}

/// What the host name and port say of a pooler in transaction mode: Neon's pooled
/// endpoints end in `-pooler`, and Supabase's poolers (Supavisor on
/// `*.pooler.supabase.com`, PgBouncer on the project's own host) run transaction mode on
/// port 6543 (session mode on 5432).
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
pub(super) fn pooler_host(host: &str, port: Option<u16>) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let first = host.split('.').next().unwrap_or_default();
    if host.ends_with(".neon.tech") && first.ends_with("-pooler") {
        return Some(format!(
            "Neon's pooled endpoint: its host {first} ends in -pooler; the direct one does not"
        ));
    }
    if (host.ends_with(".supabase.com") || host.ends_with(".supabase.co")) && port == Some(6543) {
        return Some(
            "Supabase's pooler on port 6543 runs in transaction mode; port 5432 is session mode"
                .to_owned(),
        );
    }
    None
}

#[cfg(feature = "sqlx-postgres")]
pub(super) use self::postgres::{HELD_BY_ANOTHER_CLIENT, refuse_transaction_pooler};

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use std::time::Duration;

    use sqlx::pool::PoolConnection;
    use sqlx::{ConnectOptions, Connection, PgConnection, Pool, Postgres, Row};

    use super::*;

    /// Rounds of the probe: each asks the second connection's backend, then this one's.
    const ROUNDS: usize = 4;

    /// How long a statement of the second connection may take before the probe gives up
    /// on it (a pooler with no free server session makes it wait).
    const PATIENCE: Duration = Duration::from_secs(5);

    /// The evidence [`Error::TransactionPooler`] gives when taking the lock found it
    /// held by the very server session this connection runs on.
    pub(crate) const HELD_BY_ANOTHER_CLIENT: &str = "the server session this connection runs on already holds the migration lock, which this connection never took: server sessions are shared between client connections";

    /// Refuses, before the migration lock is taken, a connection that goes through a
    /// pooler in transaction mode: by the host's name, or by what a second connection
    /// with the pool's options sees (see the module's documentation).
    pub(crate) async fn refuse_transaction_pooler(
        pool: &Pool<Postgres>,
        conn: &mut PoolConnection<Postgres>,
    ) -> Result<(), Error> {
        let options = pool.connect_options();
        let url = options.to_url_lossy();
        let evidence = match url
            .host_str()
            .and_then(|host| pooler_host(host, url.port()))
        {
            Some(evidence) => Some(evidence),
            None => probe(&options, conn)
                .await
                .map_err(|e| Error::database("looking for a connection pooler", e))?,
        };
        match evidence {
            Some(evidence) => Err(Error::TransactionPooler {
                target: target(pool),
                evidence,
            }),
            None => Ok(()),
        }
    }

    /// The backend (server process) a statement of `conn` runs on: a simple query, so no
    /// statement is prepared on a server session it may not come back to.
    async fn backend(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
        sqlx::raw_sql("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await?
            .try_get(0)
    }

    /// Evidence of a transaction pooler, or `None`: whether a second connection runs on
    /// the server session this one just used, or this one's session changes between two
    /// statements. Neither ever happens on a direct connection or under a session pooler.
    async fn probe(
        options: &sqlx::postgres::PgConnectOptions,
        conn: &mut PgConnection,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut ours = backend(conn).await?;
        let mut other = match tokio::time::timeout(PATIENCE, options.connect()).await {
            Ok(Ok(other)) => other,
            Ok(Err(error)) => {
                tracing::debug!(
                    "schema: no second connection to look for a connection pooler ({error})"
                );
                return compare_own(conn, ours).await;
            }
            Err(_) => {
                tracing::debug!("schema: no second connection to look for a connection pooler");
                return compare_own(conn, ours).await;
            }
        };
        let mut evidence = None;
        for _ in 0..ROUNDS {
            let theirs = match tokio::time::timeout(PATIENCE, backend(&mut other)).await {
                Ok(Ok(theirs)) => theirs,
                _ => break,
            };
            if theirs == ours {
                evidence = Some(format!(
                    "a second connection to it ran on the server session this one had just used, backend {ours}"
                ));
                break;
            }
            let now = backend(conn).await?;
            if now != ours {
                evidence = Some(changed(ours, now));
                break;
            }
            ours = now;
        }
        drop(tokio::time::timeout(PATIENCE, other.close()).await);
        Ok(evidence)
    }

    /// The probe without a second connection: only a change of this one's backend shows.
    async fn compare_own(
        conn: &mut PgConnection,
        ours: i32,
    ) -> Result<Option<String>, sqlx::Error> {
        let now = backend(conn).await?;
        Ok((now != ours).then(|| changed(ours, now)))
    }

    fn changed(before: i32, after: i32) -> String {
        format!(
            "this connection's server session changed between two statements, backend {before} then {after}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neon_and_supabase_poolers_are_known_by_their_urls() {
        assert!(
            pooler_host(
                "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech",
                None
            )
            .is_some()
        );
        assert!(pooler_host("EP-X-POOLER.eu-central-1.aws.neon.tech", Some(5432)).is_some());
        assert!(pooler_host("ep-cool-darkness-123456.us-east-2.aws.neon.tech", None).is_none());
        assert!(pooler_host("aws-0-eu-central-1.pooler.supabase.com", Some(6543)).is_some());
        assert!(pooler_host("db.abcdefghijkl.supabase.co", Some(6543)).is_some());
        assert!(pooler_host("aws-0-eu-central-1.pooler.supabase.com", Some(5432)).is_none());
        assert!(pooler_host("db.abcdefghijkl.supabase.co", Some(5432)).is_none());
        assert!(pooler_host("my-pooler.example.com", Some(6543)).is_none());
    }

    #[cfg(feature = "sqlx-postgres")]
    #[tokio::test]
    async fn the_direct_url_is_a_pool_of_its_own_and_must_be_this_databases() {
        use crate::Environment;

        let app = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://app@pooler.internal:6432/app")
            .unwrap();
        let none = Policy::new(Environment::Test);
        assert!(direct_pool(&none, &app).unwrap().is_none());
        let direct =
            Policy::new(Environment::Test).direct_url("postgres://app:hunter2@db:5432/app");
        let pool = direct_pool(&direct, &app).unwrap().unwrap();
        assert_eq!(target(&pool), "db:5432");
        assert_eq!(pool.options().get_max_connections(), 1);
        let mysql = Policy::new(Environment::Test).direct_url("mysql://root:hunter2@db/app");
        let error = direct_pool(&mysql, &app).unwrap_err().to_string();
        assert!(
            error.contains(
                "is not a URL of this PostgreSQL database (one starts with postgres:// or postgresql://)"
            ),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn prepared_statement_clashes_reading_the_history_name_the_pooler() {
        let clash = |code: &str, message: &str| Error::Database {
            context: "reading the migration history".to_owned(),
            message: message.to_owned(),
            code: Some(code.to_owned()),
            source: None,
        };
        for (code, message) in [
            ("42P05", "prepared statement \"sqlx_s_2\" already exists"),
            ("26000", "prepared statement \"sqlx_s_3\" does not exist"),
            (
                "08P01",
                "bind message supplies 0 parameters, but prepared statement \"sqlx_s_1\" requires 1",
            ),
        ] {
            let error = explain_prepared_statements(clash(code, message), "pooler:6432");
            assert!(
                matches!(&error, Error::TransactionPooler { target, .. } if target == "pooler:6432"),
                "{error}"
            );
            let text = error.to_string();
            assert!(text.contains(message), "{text}");
            assert!(text.contains("SCHEMA_DIRECT_URL"), "{text}");
        }
        // Another error, or the same code elsewhere, stays as it was.
        let other = explain_prepared_statements(
            clash("42P01", "relation \"x\" does not exist"),
            "pooler:6432",
        );
        assert!(matches!(other, Error::Database { .. }));
    }
}
