//! A PostgreSQL + pgvector server for tests: the one `PG_TEST_URL` names, else the shared test
//! cluster `scripts/pg.sh ensure` starts (PostgreSQL 16 + pgvector from the PyPI package
//! `pgserver`, unpacked by `scripts/setup.sh --test`). Each test gets a database of its own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Names a PostgreSQL server to test against (a URL whose database exists, e.g. `postgres`).
pub const URL_VARIABLE: &str = "PG_TEST_URL";

/// The URL of the test server, starting the shared test cluster when no `PG_TEST_URL` is set.
/// Panics with what to do when there is none: PostgreSQL tests never pass silently without one.
pub fn server_url() -> String {
    if let Ok(url) = std::env::var(URL_VARIABLE) {
        return url;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg(root.join("scripts/pg.sh"))
        .arg("ensure")
        .output()
        .unwrap_or_else(|err| panic!("cannot run scripts/pg.sh: {err}"));
    assert!(
        output.status.success(),
        "scripts/pg.sh ensure failed (run scripts/setup.sh --test, or set {URL_VARIABLE} to a PostgreSQL \
         with pgvector): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 url").trim().to_owned()
}

/// A new, empty database on the test server; returns its URL.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = server_url();
    let name = format!(
        "semtrace_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the test PostgreSQL at {url}: {err}"));
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    drop(client);
    let _ = driver.await;
    database_url(&url, &name)
}

/// `url` with its database replaced by `name`.
pub fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_url_replaces_the_database() {
        use super::database_url;
        assert_eq!(database_url("postgresql://u@h:5/postgres", "x"), "postgresql://u@h:5/x");
        assert_eq!(database_url("postgresql://u@h:5", "x"), "postgresql://u@h:5/x");
        assert_eq!(database_url("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    }
}
