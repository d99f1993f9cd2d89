//! Several semtrace nodes on one PostgreSQL: each template embedded once across them, what one
//! node embeds found by search on another within seconds, totals and membership from the
//! database.

use std::time::{Duration, Instant};

use crate::common::{get_json, send_json_spans, start_server, TestServer};
use semtrace_server::config::{Config, StorageKind};
use serde_json::{json, Value};

fn trace_id(n: u32) -> String {
    format!("{:032x}", 0xc1a0_0000u128 + u128::from(n))
}

/// A single-span trace of `service` failing with `message` (status ERROR).
fn failure(n: u32, service: &str, name: &str, message: &str) -> Value {
    let start = 1_763_900_000_000_000_000u64 + u64::from(n) * 1_000_000_000;
    json!({
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
        "scopeSpans": [{ "spans": [{
            "traceId": trace_id(n),
            "spanId": format!("{:016x}", 0x2000 + u64::from(n)),
            "name": name,
            "kind": 3,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 40_000_000).to_string(),
            "status": { "code": 2, "message": message },
        }]}]
    })
}

/// The same kinds of failure, numbered from `first`.
fn outages(first: u32) -> Vec<Value> {
    vec![
        failure(first, "payments", "SELECT accounts", "dial tcp 10.2.3.4:5432: i/o timeout"),
        failure(first + 1, "media", "write thumbnail", "ENOSPC: no space left on device, write"),
        failure(first + 2, "search", "GET /api/search", "upstream connect error or disconnect/reset before headers"),
        failure(first + 3, "auth", "verify token", "JWT expired at 2025-11-23T12:00:00Z"),
    ]
}

async fn health(server: &TestServer) -> Value {
    get_json(&format!("{}/api/v1/health", server.api)).await.1
}

/// Waits until `server` counts `spans` spans and nothing waits to be embedded.
async fn wait_embedded(server: &TestServer, spans: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let health = health(server).await;
        if health["total_spans"] == spans && health["embedding_backlog"] == 0 {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "not embedded in time: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_database_embed_once_and_search_what_any_node_received() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    let node = |name: &'static str, embeds: bool| {
        let url = url.clone();
        move |config: &mut Config| {
            config.storage = StorageKind::Postgres;
            config.otel_storage.connection_string = url.clone();
            config.postgres.node_name = name.into();
            config.semantic.embed_templates = embeds;
        }
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start_server(dirs[0].path(), node("node-a", true)).await;
    let b = start_server(dirs[1].path(), node("node-b", true)).await;
    // A node that leaves the model's work to the others and serves searches.
    let c = start_server(dirs[2].path(), node("node-c", false)).await;

    // The same kinds of failure reach two nodes at once: both indexers want the same templates.
    tokio::join!(send_json_spans(&a.otlp_http, outages(0)), send_json_spans(&b.otlp_http, outages(100)));
    wait_embedded(&a, 8).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM templates), (SELECT last_value FROM template_embed_seq),
                    (SELECT count(*) FROM templates WHERE embedded_by = 'node-c')",
            &[],
        )
        .await
        .unwrap();
    let (templates, embeddings, by_c): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(embeddings, templates, "each of the {templates} templates embedded once across the nodes");
    assert_eq!(by_c, 0, "node-c embeds nothing");

    // New failures reach node A only; node C, which embeds nothing, finds them by meaning soon after.
    send_json_spans(
        &a.otlp_http,
        vec![failure(200, "checkout", "POST /api/charge", "card declined: insufficient funds (issuer response 51)")],
    )
    .await;
    let embedded = wait_embedded(&a, 9).await;
    let query = format!("{}/api/v1/search?q=customer+card+payment+refused+by+the+bank&limit=1", c.api);
    let waited = loop {
        let (status, found) = get_json(&query).await;
        assert_eq!(status, 200, "{found}");
        if found["results"][0]["trace_id"] == trace_id(200) {
            break embedded.elapsed();
        }
        assert!(embedded.elapsed() < Duration::from_secs(5), "node C did not find node A's template in 5 s: {found:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("found on node C {} ms after it was embedded", waited.as_millis());
    // And the first failures too, received by A and B.
    let (_, found) = get_json(&format!("{}/api/v1/search?q=database+connection+timeout&limit=2", c.api)).await;
    let traces: Vec<&str> =
        found["results"].as_array().unwrap().iter().map(|r| r["trace_id"].as_str().unwrap()).collect();
    assert!(traces.contains(&trace_id(0).as_str()) || traces.contains(&trace_id(100).as_str()), "{found:#}");

    // Totals are the cluster's on every node; each lists the three nodes, alive.
    for (server, name) in [(&a, "node-a"), (&b, "node-b"), (&c, "node-c")] {
        let health = health(server).await;
        assert_eq!((health["total_spans"].as_u64(), health["total_traces"].as_u64()), (Some(9), Some(9)), "{health}");
        assert_eq!(health["node"], name);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let cluster = loop {
        let (status, cluster) = get_json(&format!("{}/api/v1/cluster", c.api)).await;
        assert_eq!(status, 200, "{cluster}");
        if cluster["alive"] == 3 {
            break cluster;
        }
        assert!(Instant::now() < deadline, "{cluster:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((cluster["shared"].as_bool(), cluster["node"].as_str()), (Some(true), Some("node-c")));
    let names: Vec<&str> = cluster["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    let a_state = &cluster["nodes"][0]["state"];
    assert!(a_state["queue_capacity"].as_u64().is_some() && a_state["circuit_breaker"] == "closed", "{cluster:#}");

    // The embedded store has no cluster.
    let dir = tempfile::tempdir().unwrap();
    let alone = start_server(dir.path(), |_| {}).await;
    let (_, cluster) = get_json(&format!("{}/api/v1/cluster", alone.api)).await;
    assert_eq!(cluster, json!({"shared": false, "node": null, "alive": 0, "nodes": []}));
}

/// Two nodes loaded at once, one killed with `kill -9`: every span either acknowledged is stored
/// whole, read through the node that lives, without restarting the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_node_loses_nothing_either_acknowledged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::common::{assert_stored_whole, load, postgres_env, spawn_binary_with, SPANS_PER_TRACE};

    let env = postgres_env().await;
    let named = |name: &str| {
        let mut env = env.clone();
        env.push(("SEMTRACE_POSTGRES__NODE_NAME".into(), name.into()));
        env
    };
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut doomed = spawn_binary_with(dirs[0].path(), &named("doomed")).await;
    let survivor = spawn_binary_with(dirs[1].path(), &named("survivor")).await;
    let (stop_doomed, stop_survivor) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut clients = Vec::new();
    for seed in 0..2 {
        clients.push(tokio::spawn(load(doomed.otlp_http.clone(), 500 + seed, 20, stop_doomed.clone())));
        clients.push(tokio::spawn(load(survivor.otlp_http.clone(), 600 + seed, 20, stop_survivor.clone())));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    doomed.child.kill().expect("SIGKILL");
    doomed.child.wait().unwrap();
    stop_doomed.store(true, Ordering::SeqCst);
    // The other node goes on taking spans.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_survivor.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap().acknowledged);
    }
    assert!(acknowledged.len() > 100, "the load ran ({} traces acknowledged)", acknowledged.len());
    assert_stored_whole(&survivor.api, &acknowledged).await;
    let (_, health) = get_json(&format!("{}/api/v1/health", survivor.api)).await;
    let stored = health["total_spans"].as_u64().unwrap();
    assert!(stored >= acknowledged.len() as u64 * SPANS_PER_TRACE, "{stored} spans stored: {health}");
    assert_eq!(stored % SPANS_PER_TRACE, 0, "requests are stored whole or not at all");
    // The dead node falls silent in the cluster's list.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, cluster) = get_json(&format!("{}/api/v1/cluster", survivor.api)).await;
        let doomed = cluster["nodes"].as_array().unwrap().iter().find(|node| node["name"] == "doomed").cloned();
        if doomed.is_some_and(|node| node["alive"] == false) && cluster["alive"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the killed node is still listed alive: {cluster:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A rolling restart as the SDKs see it: a node stopped gracefully (SIGTERM) and started again on
/// its addresses while the real OpenTelemetry Python exporters (OTLP/HTTP and OTLP/gRPC) export
/// to it. Their own retries get every span in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporters_retry_through_a_node_restarting() {
    use crate::common::{free_port, postgres_env, python, spawn_binary_at, workspace_root};

    let mut env = postgres_env().await;
    env.push(("SEMTRACE_POSTGRES__NODE_NAME".into(), "restarting".into()));
    let dir = tempfile::tempdir().unwrap();
    let ports = (free_port(), free_port(), free_port());
    let mut node = spawn_binary_at(dir.path(), &env, ports).await;
    let (grpc, http) = (node.otlp_grpc.clone(), node.otlp_http.clone());
    let pid = node.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = node.child.wait().unwrap();
    assert!(status.success(), "a graceful stop: {status}");

    // The exporters start while the node is down, and meet refused connections.
    let script = workspace_root().join("tests/interop/otel_sdk_retry.py");
    let exporters = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python()).arg(script).arg(grpc).arg(http).output()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let node = spawn_binary_at(dir.path(), &env, ports).await;
    let output = exporters.await.unwrap().expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    eprintln!("{report}");
    for protocol in ["http", "grpc"] {
        assert_eq!(report[protocol]["result"], "SUCCESS", "{protocol}: {report}");
        assert!(report[protocol]["seconds"].as_f64().unwrap() > 2.0, "{protocol} waited out the restart: {report}");
        let trace_id = report[protocol]["trace_id"].as_str().unwrap();
        let (status, trace) = get_json(&format!("{}/api/v1/traces/{trace_id}", node.api)).await;
        assert_eq!((status, trace["span_count"].as_u64()), (200, Some(5)), "{protocol}: {trace}");
    }
}
