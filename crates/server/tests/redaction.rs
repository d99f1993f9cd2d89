//! PII redaction end to end: spans and log records carrying an email, a card number, a bearer
//! token, an API key and IP addresses are stored redacted, and no file under the data directory
//! (database, WAL, spool) holds the originals.

use crate::common::{get_json, send_json_spans, start_server};
use serde_json::json;

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig";
const KEY: &str = "sk_live_51HxYzAbCdEfGhIjKl";
const IP: &str = "10.20.30.40";

fn attr(key: &str, value: &str) -> serde_json::Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pii_is_redacted_before_it_reaches_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.redaction.patterns = ["email", "card", "bearer", "api_key", "ip"].map(String::from).to_vec();
        config.redaction.custom.insert("order".into(), r"\bORD-\d{6}\b".into());
    })
    .await;
    let api = server.api.clone();
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let span_id = "eee19b7ec3c1b174";
    let start = 1_763_900_000_000_000_000u64;
    send_json_spans(
        &server.otlp_http,
        vec![json!({
            "resource": { "attributes": [attr("service.name", "checkout"), attr("host.ip", IP)] },
            "scopeSpans": [{ "spans": [{
                "traceId": trace_id, "spanId": span_id, "name": "POST /api/charge", "kind": 2,
                "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 25_000_000).to_string(),
                "status": { "code": 2, "message": format!("card {CARD} declined for {EMAIL}") },
                "attributes": [
                    attr("user.email", EMAIL),
                    attr("http.request.header.authorization", &format!("Bearer {TOKEN}")),
                    attr("url.full", &format!("https://pay.example.com/v1/charges?api_key={KEY}&order=ORD-123456")),
                ],
                "events": [{ "name": "log", "timeUnixNano": start.to_string(),
                    "attributes": [attr("message", &format!("retrying with key {KEY} from {IP}"))] }],
            }]}]
        })],
    )
    .await;
    let logs = json!({ "resourceLogs": [{
        "resource": { "attributes": [attr("service.name", "checkout")] },
        "scopeLogs": [{ "logRecords": [{
            "timeUnixNano": start.to_string(), "severityNumber": 17, "severityText": "ERROR",
            "body": { "stringValue": format!("receipt to {EMAIL} bounced") },
            "traceId": trace_id, "spanId": span_id,
        }]}]
    }]});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/logs", server.otlp_http))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&logs).unwrap())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let (status, trace) = get_json(&format!("{api}/api/v1/traces/{trace_id}")).await;
    assert_eq!(status, 200, "{trace}");
    let span = &trace["spans"][0];
    assert_eq!(span["status_message"], "card <redacted:card> declined for <redacted:email>");
    assert_eq!(span["attributes"]["user.email"], "<redacted:email>");
    assert_eq!(span["attributes"]["http.request.header.authorization"], "Bearer <redacted:bearer>");
    assert_eq!(
        span["attributes"]["url.full"],
        "https://pay.example.com/v1/charges?api_key=<redacted:api_key>&order=<redacted:order>"
    );
    assert_eq!(span["resource"]["host.ip"], "<redacted:ip>");
    assert_eq!(span["events"][0]["attributes"]["message"], "retrying with key <redacted:api_key> from <redacted:ip>");
    assert_eq!(span["logs"][0]["body"], "receipt to <redacted:email> bounced", "{span}");

    let metrics = reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.unwrap();
    for pattern in ["email", "card", "bearer", "api_key", "ip", "order"] {
        assert!(metrics.contains(&format!("semtrace_redactions_total{{pattern=\"{pattern}\"}}")), "{pattern}");
    }
    server.server.shutdown().await.unwrap();
    for path in files(dir.path()) {
        // A file removed since it was listed (SQLite's -wal and -shm as the last connection
        // closes) holds nothing.
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for secret in [EMAIL, CARD, TOKEN, KEY, IP, "ORD-123456"] {
            assert!(!text.contains(secret), "{} holds {secret}", path.display());
        }
    }
}
