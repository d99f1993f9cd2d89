//! A span acknowledged is a span kept: `kill -9` during ingest loses nothing acknowledged,
//! and SIGTERM drains and exits 0.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{assert_stored_whole, get_json, load, postgres_env, spawn_binary_with, SPANS_PER_TRACE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_nothing_acknowledged() {
    // Trace ids merged into the index every 50 new traces, so the kill lands among merges.
    kill_9_during_ingest(&[("SEMTRACE_SQLITE__TRACE_KEYS_MERGE_AT".into(), "50".into())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_on_postgres_loses_nothing_acknowledged() {
    kill_9_during_ingest(&postgres_env().await).await;
}

/// Clients load a server, which is killed with SIGKILL; after a restart every acknowledged trace
/// is stored whole, once.
async fn kill_9_during_ingest(env: &[(String, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_binary_with(dir.path(), env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> =
        (0..4).map(|seed| tokio::spawn(load(server.otlp_http.clone(), 100 + seed, 20, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap().acknowledged);
    }
    assert!(acknowledged.len() > 100, "the load ran ({} traces acknowledged)", acknowledged.len());

    let restarted = spawn_binary_with(dir.path(), env).await;
    assert_stored_whole(&restarted.api, &acknowledged).await;
    let (_, health) = get_json(&format!("{}/api/v1/health", restarted.api)).await;
    let stored = health["total_spans"].as_u64().unwrap();
    assert!(stored >= acknowledged.len() as u64 * SPANS_PER_TRACE, "{stored} spans stored");
    assert_eq!(stored % SPANS_PER_TRACE, 0, "requests are stored whole or not at all");
    let mut restarted = restarted;
    restarted.child.kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_binary_with(dir.path(), &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn(load(server.otlp_http.clone(), 7, 20, stop.clone()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "semtrace did not exit within 20 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.store(true, Ordering::SeqCst);
    let acknowledged = client.await.unwrap().acknowledged;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!acknowledged.is_empty());
    let mut restarted = spawn_binary_with(dir.path(), &[]).await;
    assert_stored_whole(&restarted.api, &acknowledged).await;
    restarted.child.kill().unwrap();
}

/// Tail sampling holds spans for `decision_wait` before they reach the store: `kill -9` in that
/// window loses none of them. The restarted server decides the held traces and keeps them whole,
/// with their sample rate recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_decision_wait_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let sampling = |wait: &str| -> Vec<(String, String)> {
        [
            ("SEMTRACE_SAMPLING__ENABLED", "true"),
            ("SEMTRACE_SAMPLING__NORMAL_SPANS", "1.0"),
            ("SEMTRACE_SAMPLING__SLOW_SPANS", "1.0"),
            ("SEMTRACE_SAMPLING__DECISION_WAIT_SECONDS", wait),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    };
    let mut server = spawn_binary_with(dir.path(), &sampling("600")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> =
        (0..2).map(|seed| tokio::spawn(load(server.otlp_http.clone(), 300 + seed, 20, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["total_spans"], 0, "nothing is stored before its decision");
    assert!(health["sampling"]["buffered_spans"].as_u64().unwrap() > 0, "{health}");
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap().acknowledged);
    }
    assert!(acknowledged.len() > 50, "the load ran ({} traces acknowledged)", acknowledged.len());

    let mut restarted = spawn_binary_with(dir.path(), &sampling("0.2")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get_json(&format!("{}/api/v1/health", restarted.api)).await;
        if health["sampling"]["buffered_spans"] == 0 && health["sampling"]["hold_records"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "held traces not decided: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_stored_whole(&restarted.api, &acknowledged).await;
    let (_, trace) = get_json(&format!("{}/api/v1/traces/{}", restarted.api, common::hex(&acknowledged[0]))).await;
    let attributes = &trace["spans"][0]["attributes"];
    assert_eq!(attributes["semtrace.sampling.rate"], 1.0, "{attributes}");
    restarted.child.kill().unwrap();
}
