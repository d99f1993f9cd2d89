//! The PostgreSQL backend as an operator meets it: `semtrace db init` creates the schema (checked
//! with SQL, as one would with psql) and explains what is wrong when it cannot.

mod common;

use std::process::Command;

fn db_init(env: &[(String, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_semtrace"))
        .args(["db", "init"])
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("RUST_LOG", "warn")
        .output()
        .expect("semtrace runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_init_creates_the_schema_and_explains_failures() {
    let env = common::postgres_env().await;
    let output = db_init(&env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("postgres store ready"), "{stdout}");
    // Again: nothing to migrate, same answer.
    assert!(db_init(&env).status.success());

    let url = &env[1].1;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let version: i32 = client.query_one("SELECT max(version) FROM semtrace_migrations", &[]).await.unwrap().get(0);
    assert_eq!(version, 1);
    let kind: i8 =
        client.query_one("SELECT relkind::\"char\" FROM pg_class WHERE relname = 'spans'", &[]).await.unwrap().get(0);
    assert_eq!(kind as u8, b'p', "spans is partitioned");
    let indexes: Vec<String> = client
        .query("SELECT indexdef FROM pg_indexes WHERE tablename IN ('spans', 'templates')", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for wanted in [
        "USING hnsw (embedding vector_cosine_ops)",
        "USING gin (attributes jsonb_path_ops)",
        "USING gin (error_tsv)",
        "(start_time, status)",
    ] {
        assert!(indexes.iter().any(|index| index.contains(wanted)), "no index with {wanted}: {indexes:#?}");
    }
    let dimension: i32 = client
        .query_one(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'templates'::regclass AND attname = 'embedding'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dimension, 384);

    let refused = db_init(&[
        ("SEMTRACE_STORAGE".into(), "postgres".into()),
        ("SEMTRACE_OTEL_STORAGE__CONNECTION_STRING".into(), "postgresql://postgres@127.0.0.1:1/x".into()),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("127.0.0.1:1") && stderr.contains("connection refused"), "{stderr}");
}

fn pg_script(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
    let output = Command::new("bash").arg(script).args(args).output().expect("scripts/pg.sh runs");
    assert!(output.status.success(), "pg.sh {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The database stops during ingest and comes back: clients are refused only with retryable
/// codes meanwhile, and every span acknowledged before, during and after is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing_acknowledged_and_refuses_retryably() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    // A cluster of its own: the shared test cluster must not stop under other tests.
    let cluster = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    let data = cluster.path().join("pg");
    let data = data.to_str().unwrap();
    pg_script(&["start", data, &port]);
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let env = vec![
        ("SEMTRACE_STORAGE".to_string(), "postgres".to_string()),
        ("SEMTRACE_OTEL_STORAGE__CONNECTION_STRING".to_string(), url),
        ("SEMTRACE_SEMANTIC__ENABLED".to_string(), "false".to_string()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::spawn_binary_with(dir.path(), &env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> =
        (0..2).map(|seed| tokio::spawn(common::load(server.otlp_http.clone(), 500 + seed, 10, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg_script(&["stop", data]);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (_, health) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["healthy"], false, "{health}");
    pg_script(&["start", data, &port]);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut acknowledged, mut refusals) = (Vec::new(), Vec::new());
    for client in clients {
        let load = client.await.unwrap();
        assert_eq!(load.unanswered, 0, "semtrace answers while the database is down");
        acknowledged.extend(load.acknowledged);
        refusals.extend(load.refusals);
    }
    eprintln!("{} traces acknowledged, {} refusals: {:?}", acknowledged.len(), refusals.len(), {
        let mut counts = std::collections::BTreeMap::new();
        for status in &refusals {
            *counts.entry(*status).or_insert(0) += 1;
        }
        counts
    });
    assert!(!refusals.is_empty(), "the outage was noticed");
    assert!(refusals.iter().all(|status| *status == 429 || *status == 503), "{refusals:?}");
    assert!(acknowledged.len() > 50, "{} traces acknowledged", acknowledged.len());
    common::assert_stored_whole(&server.api, &acknowledged).await;
    server.child.kill().unwrap();
    pg_script(&["stop", data]);
}
