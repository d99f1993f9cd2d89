//! `/api/v1/stats`: what the store holds and where its bytes are, on both backends: counts, bytes
//! per table and index, and the oldest and newest span.

mod common;

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
