//! A span acknowledged is a span kept: `kill -9` during ingest loses nothing acknowledged,
//! and SIGTERM drains and exits 0.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_stored_whole, get_json, load, postgres_env, spawn_binary_with, SPANS_PER_TRACE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_nothing_acknowledged() {
    kill_9_during_ingest(&[]).await;
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
