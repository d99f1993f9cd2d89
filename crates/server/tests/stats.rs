//! `/api/v1/stats`: what the store holds and where its bytes are, on both backends: counts, bytes
//! per table and index, and the oldest and newest span.

use crate::common;

use serde_json::{json, Value};

const START: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

fn spans() -> Vec<Value> {
    (0..4u64)
        .map(|n| {
            json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "stats"}}]},
                "scopeSpans": [{"spans": [{"traceId": format!("{:032x}", 0x5a7000 + n), "spanId": "0000000000000001", "name": "op",
                    "startTimeUnixNano": (START + n * 3_600_000_000_000).to_string(),
                    "endTimeUnixNano": (START + n * 3_600_000_000_000 + 2_000_000).to_string()}]}]})
        })
        .collect()
}

async fn check(api: &str, backend: &str) {
    let (status, stats) = common::get_json(&format!("{api}/api/v1/stats")).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["storage"], backend);
    assert_eq!(stats["spans"], 4, "{stats}");
    assert_eq!(stats["traces"], 4);
    assert_eq!(stats["oldest_span"], "2026-01-01T00:00:00Z", "{stats}");
    assert_eq!(stats["newest_span"], "2026-01-01T03:00:00.002Z", "{stats}");
    let relations = stats["relations"].as_array().unwrap();
    let named = |name: &str| relations.iter().find(|relation| relation["name"] == name);
    // SQLite's one spans table, or PostgreSQL's day partition of it.
    let spans = named("spans").or_else(|| named("spans_p20260101"));
    assert!(spans.is_some_and(|spans| spans["kind"] == "table" && spans["bytes"].as_u64() > Some(0)), "{stats}");
    assert!(relations.iter().any(|relation| relation["kind"] == "index"), "{stats}");
    let sum: u64 = relations.iter().map(|relation| relation["bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, stats["tables_bytes"].as_u64().unwrap() + stats["indexes_bytes"].as_u64().unwrap());
    assert!(stats["disk_bytes"].as_u64().unwrap() >= sum, "{stats}");
    // Largest first.
    let bytes: Vec<u64> = relations.iter().map(|relation| relation["bytes"].as_u64().unwrap()).collect();
    assert!(bytes.windows(2).all(|pair| pair[0] >= pair[1]), "{bytes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_says_where_its_bytes_are() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_server(dir.path(), |_| {}).await;
    common::send_json_spans(&server.otlp_http, spans()).await;
    common::wait_searchable(&server.api, 4).await;
    check(&server.api, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_says_where_its_bytes_are() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_binary_with(dir.path(), &common::postgres_env().await).await;
    common::send_json_spans(&server.otlp_http, spans()).await;
    common::wait_searchable(&server.api, 4).await;
    check(&server.api, "postgres").await;
}

/// Retention on the embedded store, configured: a run drops the traces past `retention_days`
/// and health says when the next is due and what the last removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_what_is_past_its_days_and_health_tells() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_server(dir.path(), |config| {
        config.sqlite.retention_days = 30;
        config.sqlite.retention_interval_seconds = 10;
    })
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let day = 86_400_000_000_000u64;
    let span = |n: u64, at: u64| {
        // Half the old spans are a service's whole history; the other half an old operation
        // of a service that goes on.
        let service = if n < 10 { "gone" } else { "kept" };
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [{"traceId": format!("{:032x}", 0x7e7000 + n), "spanId": "0000000000000001",
                "name": if at + 31 * day < now { "ancient op" } else { "recent op" },
                "startTimeUnixNano": at.to_string(), "endTimeUnixNano": (at + 1_000_000).to_string()}]}]})
    };
    let mut spans: Vec<Value> = (0..20).map(|n| span(n, now - 40 * day + n * 1_000_000_000)).collect();
    spans.extend((20..25).map(|n| span(n, now - day)));
    common::send_json_spans(&server.otlp_http, spans).await;
    common::wait_searchable(&server.api, 25).await;
    let (_, health) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["retention"]["days"], 30, "{health}");
    assert!(health["retention"]["next_run"].is_string(), "{health}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run = loop {
        let (_, health) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
        if !health["retention"]["last_run"].is_null() {
            break health["retention"]["last_run"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no retention run within 60 s: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    // The newest row of a table is kept whatever its age (ids are never reused), and the
    // newest here is recent: every old trace goes.
    assert_eq!(run["traces"], 20, "{run}");
    assert_eq!(run["spans"], 20);
    let (_, stats) = common::get_json(&format!("{}/api/v1/stats", server.api)).await;
    assert_eq!(stats["spans"], 5, "{stats}");
    let (status, _) = common::get_json(&format!("{}/api/v1/traces/{:032x}", server.api, 0x7e7000 + 3)).await;
    assert_eq!(status, 404, "a dropped trace is gone");
    let (status, _) = common::get_json(&format!("{}/api/v1/traces/{:032x}", server.api, 0x7e7000 + 22)).await;
    assert_eq!(status, 200, "a recent trace stays");
    // A service, and an operation, whose spans all went are no longer listed.
    let (_, services) = common::get_json(&format!("{}/api/v1/services", server.api)).await;
    assert_eq!(services["services"], json!(["kept"]), "{services}");
    let (_, operations) = common::get_json(&format!("{}/api/v1/services/kept/operations", server.api)).await;
    let names: Vec<&str> =
        operations["operations"].as_array().unwrap().iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["recent op"], "{operations}");
}
