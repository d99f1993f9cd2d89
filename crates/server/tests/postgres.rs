//! The PostgreSQL backend as an operator meets it: `semtrace db init` creates the schema (checked
//! with SQL, as one would with psql) and explains what is wrong when it cannot.

use crate::common;

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
    assert_eq!(version, 12, "every migration applied");
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

/// How long the database stays down: a few seconds in CI; `SOAK_OUTAGE_SECONDS=60` (as
/// `scripts/soak.sh` sets) for the full-length outage.
fn outage_length() -> std::time::Duration {
    let seconds = std::env::var("SOAK_OUTAGE_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(4);
    std::time::Duration::from_secs(seconds)
}

/// What clients and the server showed through one outage.
struct Outage {
    acknowledged: Vec<[u8; 16]>,
    refusals: Vec<u16>,
    /// Largest `spool_bytes` health reported while the database was down.
    max_spool_bytes: u64,
    /// Spans refused, by reason, from `/metrics`.
    refused_by_reason: std::collections::BTreeMap<String, u64>,
}

/// Ingest from two clients; the database stops for `outage_length()` and comes back; once the
/// spool is replayed, every acknowledged trace must be stored whole. With `kill_while_down`,
/// semtrace is killed (`kill -9`) at the end of the outage and restarted on the same data
/// directory after the database is back: the spool survives and is replayed at start.
async fn database_outage(extra_env: &[(&str, &str)], kill_while_down: bool) -> Outage {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    // A cluster of its own: the shared test cluster must not stop under other tests.
    let cluster = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    let data = cluster.path().join("pg");
    let data = data.to_str().unwrap();
    pg_script(&["start", data, &port]);
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let mut env = vec![
        ("SEMTRACE_STORAGE".to_string(), "postgres".to_string()),
        ("SEMTRACE_OTEL_STORAGE__CONNECTION_STRING".to_string(), url),
        ("SEMTRACE_SEMANTIC__ENABLED".to_string(), "false".to_string()),
    ];
    env.extend(extra_env.iter().map(|(key, value)| (key.to_string(), value.to_string())));
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::spawn_binary_with(dir.path(), &env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> =
        (0..2).map(|seed| tokio::spawn(common::load(server.otlp_http.clone(), 500 + seed, 10, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg_script(&["stop", data]);
    let down_until = Instant::now() + outage_length();
    let mut max_spool_bytes = 0;
    let mut noticed = false;
    while Instant::now() < down_until {
        let (_, health) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
        noticed |= health["store_reachable"] == false && health["healthy"] == false;
        max_spool_bytes = max_spool_bytes.max(health["spool_bytes"].as_u64().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(noticed, "health never reported the database down");
    if kill_while_down {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
    }
    pg_script(&["start", data, &port]);
    if kill_while_down {
        server = common::spawn_binary_with(dir.path(), &env).await;
    } else {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        stop.store(true, Ordering::SeqCst);
    }
    let (mut acknowledged, mut refusals) = (Vec::new(), Vec::new());
    for client in clients {
        let load = client.await.unwrap();
        if !kill_while_down {
            assert_eq!(load.unanswered, 0, "semtrace answers while the database is down");
        }
        acknowledged.extend(load.acknowledged);
        refusals.extend(load.refusals);
    }
    // The replayer empties the spool into the database. How fast depends on the build and the
    // machine (a dev build replays ~10k spans/s here), so the test asks for steady progress, not
    // a deadline: it fails when the spool stops shrinking for a minute.
    let replay_started = Instant::now();
    let (mut fewest_records, mut progressed) = (u64::MAX, Instant::now());
    let mut last_report = replay_started;
    loop {
        let (_, health) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
        let records = health["spool_records"].as_u64().unwrap();
        if records == 0 && health["healthy"] == true {
            eprintln!("spool replayed in {:.1?}", replay_started.elapsed());
            break;
        }
        if records < fewest_records {
            (fewest_records, progressed) = (records, Instant::now());
        }
        assert!(progressed.elapsed() < Duration::from_secs(60), "the spool replay is stuck: {health}");
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "{:.0?} after the database came back: {records} spool records, {} bytes",
                replay_started.elapsed(),
                health["spool_bytes"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = reqwest::get(format!("{}/metrics", server.api)).await.unwrap().text().await.unwrap();
    let refused_by_reason = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("semtrace_pipeline_spans_refused_total{reason=\""))
        .filter_map(|rest| rest.split_once("\"} "))
        .map(|(reason, value)| (reason.to_string(), value.trim().parse::<f64>().unwrap() as u64))
        .collect();
    eprintln!(
        "{} traces acknowledged, {} refusals {:?}, max spool {} bytes, refused spans by reason {:?}",
        acknowledged.len(),
        refusals.len(),
        {
            let mut counts = std::collections::BTreeMap::new();
            for status in &refusals {
                *counts.entry(*status).or_insert(0) += 1;
            }
            counts
        },
        max_spool_bytes,
        refused_by_reason
    );
    assert!(acknowledged.len() > 50, "{} traces acknowledged", acknowledged.len());
    common::assert_stored_whole(&server.api, &acknowledged).await;
    server.child.kill().unwrap();
    pg_script(&["stop", data]);
    Outage { acknowledged, refusals, max_spool_bytes, refused_by_reason }
}

/// The database stops during ingest and comes back: the spool takes every batch meanwhile, so
/// clients see no refusal at all, and every span acknowledged is stored once it is replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_absorbed_by_the_spool_and_loses_nothing() {
    let outage = database_outage(&[], false).await;
    assert!(outage.max_spool_bytes > 0, "the spool was used");
    assert!(outage.refusals.is_empty(), "refused although the spool had room: {:?}", outage.refusals);
    assert!(outage.acknowledged.len() > 100);
}

/// With a spool too small for the outage, clients are refused — only once it is full, and only
/// with retryable codes — and everything acknowledged is still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_retryably_and_loses_nothing() {
    let max_bytes: u64 = 1 << 20;
    let outage = database_outage(&[("SEMTRACE_PIPELINE__SPOOL_MAX_BYTES", "1048576")], false).await;
    assert!(!outage.refusals.is_empty(), "a 1 MiB spool fills during the outage");
    assert!(outage.refusals.iter().all(|status| *status == 503), "{:?}", outage.refusals);
    assert!(
        outage.max_spool_bytes > max_bytes / 2 && outage.max_spool_bytes <= max_bytes,
        "{}",
        outage.max_spool_bytes
    );
    let reasons: Vec<_> = outage.refused_by_reason.keys().map(String::as_str).collect();
    assert_eq!(reasons, ["spool_full"], "refused for another reason than a full spool");
}

/// `kill -9` while the database is down and batches wait in the spool: after a restart (with the
/// database back) the spool is replayed and nothing acknowledged is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_an_outage_keeps_the_spool() {
    let outage = database_outage(&[], true).await;
    assert!(outage.max_spool_bytes > 0, "the spool was used");
    assert!(outage.refusals.is_empty(), "{:?}", outage.refusals);
}

/// The real OpenTelemetry Python SDK exporters (OTLP/HTTP and OTLP/gRPC) meet a semtrace whose
/// database is down and whose spool is off: refused with 503 / UNAVAILABLE, they retry on their
/// own, and once the database is back their spans arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exporters_retry_through_an_outage() {
    use std::time::Duration;

    let cluster = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    let data = cluster.path().join("pg");
    let data = data.to_str().unwrap().to_owned();
    pg_script(&["start", &data, &port]);
    let env = vec![
        ("SEMTRACE_STORAGE".to_string(), "postgres".to_string()),
        (
            "SEMTRACE_OTEL_STORAGE__CONNECTION_STRING".to_string(),
            format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
        ),
        ("SEMTRACE_SEMANTIC__ENABLED".to_string(), "false".to_string()),
        ("SEMTRACE_PIPELINE__SPOOL_ENABLED".to_string(), "false".to_string()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_binary_with(dir.path(), &env).await;
    pg_script(&["stop", &data]);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("INTEROP_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let venv = root.join(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            "python3".into()
        }
    });
    let script = root.join("tests/interop/otel_sdk_retry.py");
    let (grpc, http) = (server.otlp_grpc.clone(), server.otlp_http.clone());
    let exporters = tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(grpc).arg(http).output());
    // The exporters meet refusals for a while, then the database comes back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refused_before_restart =
        [refused_requests(&server.api, "http").await, refused_requests(&server.api, "grpc").await];
    pg_script(&["start", &data, &port]);
    let output = exporters.await.unwrap().expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    eprintln!("{report}; requests refused while the database was down (http, grpc): {refused_before_restart:?}");
    assert!(refused_before_restart.iter().all(|n| *n > 0), "both exporters were refused while the database was down");
    for protocol in ["http", "grpc"] {
        assert_eq!(report[protocol]["result"], "SUCCESS", "{protocol}: {report}");
        let trace_id = report[protocol]["trace_id"].as_str().unwrap();
        let (status, trace) = common::get_json(&format!("{}/api/v1/traces/{trace_id}", server.api)).await;
        assert_eq!(status, 200, "{protocol}: trace {trace_id} arrived");
        assert_eq!(trace["span_count"], 5, "{protocol}: {trace}");
    }
    drop(server);
    pg_script(&["stop", &data]);
}

/// Requests of `protocol` refused so far, from `/metrics`.
async fn refused_requests(api: &str, protocol: &str) -> u64 {
    let metrics = reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.unwrap();
    let label = format!("protocol=\"{protocol}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("semtrace_receiver_requests_refused_total") && line.contains(&label))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}
