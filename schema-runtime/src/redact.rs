//! One redaction of database URLs for every message, log line, `Debug` output and JSON
//! document: the password goes, wherever sqlx would read it from.

use url::Url;

/// A URL with its password replaced by `***`: what every message and log prints.
///
/// The URL is read as sqlx reads it (the `url` crate): a password in the user part,
/// percent-encoded or not, and `password` (or `sslpassword`, any case, any percent
/// spelling) as a query parameter. A URL that does not parse, such as one whose password
/// holds an unencoded `/`, `?` or `@`, loses everything between the user name and the
/// last `@`.
///
/// ```
/// use schema_runtime::redact_url as redact;
///
/// assert_eq!(redact("postgres://app:s3cret@db/app"), "postgres://app:***@db/app");
/// assert_eq!(redact("postgres://app:s3/cr?et@db/app"), "postgres://app:***@db/app");
/// assert_eq!(redact("postgres://db/app?%70assword=s3cret"), "postgres://db/app?password=***");
/// assert_eq!(redact("sqlite:data/app.db"), "sqlite:data/app.db");
/// ```
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => redact_parsed(url, parsed),
        Err(_) => redact_by_hand(url),
    }
}

fn is_password_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

fn redact_parsed(original: &str, mut url: Url) -> String {
    let secret_query = url.query_pairs().any(|(key, _)| is_password_key(&key));
    if url.password().is_none() && !secret_query {
        return original.to_owned();
    }
    if url.password().is_some() {
        // Only a URL that cannot have a password refuses one.
        let _ = url.set_password(Some("***"));
    }
    if secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password_key(&key) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // The serializer may percent-encode the mask; it reads better as written.
    url.to_string().replace("%2A%2A%2A", "***")
}

/// A URL the `url` crate rejects: everything between the user name and the last `@`
/// goes, and so does every value after a key that names a password.
fn redact_by_hand(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let mut out = url.to_owned();
    if let Some(at) = out.rfind('@').filter(|&at| at > scheme_end)
        && let Some(colon) = out[scheme_end..at].find(':').map(|i| scheme_end + i)
    {
        out.replace_range(colon + 1..at, "***");
    }
    if let Some(query_at) = out.find('?') {
        let (base, query) = out.split_at(query_at + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_password_key(&percent_decoded(key)) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("{text}=").as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_password_is_redacted() {
        for (url, redacted) in [
            (
                "postgres://app:s3cret@db:5432/tasks",
                "postgres://app:***@db:5432/tasks",
            ),
            ("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test"),
            (
                "mysql://root:s3cret@127.0.0.1/test",
                "mysql://root:***@127.0.0.1/test",
            ),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3%2Fcret@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3/cret@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3?cret@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3#cret@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?user=a&password=s3cret&sslmode=off",
                "postgres://h/db?user=a&password=***&sslmode=off",
            ),
            (
                "postgres://h/db?%70assword=s3cret",
                "postgres://h/db?password=***",
            ),
            (
                "postgres://h/db?PassWord=s3cret",
                "postgres://h/db?PassWord=***",
            ),
            (
                "postgres://h/db?sslpassword=s3cret",
                "postgres://h/db?sslpassword=***",
            ),
            ("sqlite:data/app.db", "sqlite:data/app.db"),
            (
                "sqlite://data/app.db?mode=rwc",
                "sqlite://data/app.db?mode=rwc",
            ),
        ] {
            let got = redact_url(url);
            assert_eq!(got, redacted, "{url}");
            assert!(!got.contains("s3"), "{url} -> {got}");
        }
    }
}
