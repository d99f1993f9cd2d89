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
