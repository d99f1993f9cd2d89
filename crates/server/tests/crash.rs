//! A span acknowledged is a span kept: `kill -9` during ingest loses nothing acknowledged,
//! and SIGTERM drains and exits 0.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{get_json, hex, postgres_env, spawn_binary_with};
use prost::Message;
use semtrace_testkit::{GeneratorConfig, TraceGenerator};

const SPANS_PER_TRACE: u64 = 11;

/// Clients send generated requests until told to stop; returns the trace ids that were acknowledged.
async fn load(otlp_http: String, seed: u64, stop: Arc<Mutex<bool>>) -> Vec<[u8; 16]> {
    let client = reqwest::Client::new();
    let mut generator = TraceGenerator::new(GeneratorConfig { seed, ..Default::default() });
    let mut acknowledged = Vec::new();
    while !*stop.lock().unwrap() {
        let (request, ids) = generator.request(20);
        let sent = client
            .post(format!("{otlp_http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => acknowledged.extend(ids),
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    acknowledged
}

async fn check_all_stored(api: &str, acknowledged: &[[u8; 16]]) {
    for trace_id in acknowledged {
        let (status, trace) = get_json(&format!("{api}/api/v1/traces/{}", hex(trace_id))).await;
        assert_eq!(status, 200, "acknowledged trace {} is missing", hex(trace_id));
        assert_eq!(
            trace["span_count"].as_u64(),
            Some(SPANS_PER_TRACE),
            "trace {} lost or duplicated spans",
            hex(trace_id)
        );
    }
}

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
    let stop = Arc::new(Mutex::new(false));
    let clients: Vec<_> =
        (0..4).map(|seed| tokio::spawn(load(server.otlp_http.clone(), 100 + seed, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    server.child.wait().unwrap();
    *stop.lock().unwrap() = true;
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(acknowledged.len() > 100, "the load ran ({} traces acknowledged)", acknowledged.len());

    let restarted = spawn_binary_with(dir.path(), env).await;
    check_all_stored(&restarted.api, &acknowledged).await;
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
    let stop = Arc::new(Mutex::new(false));
    let client = tokio::spawn(load(server.otlp_http.clone(), 7, stop.clone()));
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
    *stop.lock().unwrap() = true;
    let acknowledged = client.await.unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!acknowledged.is_empty());
    let mut restarted = spawn_binary_with(dir.path(), &[]).await;
    check_all_stored(&restarted.api, &acknowledged).await;
    restarted.child.kill().unwrap();
}
