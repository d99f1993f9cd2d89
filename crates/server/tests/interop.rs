//! The real OpenTelemetry Python SDK with its OTLP/gRPC and OTLP/HTTP exporters (gzip) sends
//! spans; every field it describes is read back through the API.
//!
//! Needs Python with `tests/interop/requirements.txt` installed: the README's test command
//! installs them into `.venv`. `INTEROP_PYTHON` names another interpreter.

use crate::common;

use crate::common::{get_json, python, start_server, workspace_root};
use serde_json::Value;

/// Runs a script of `tests/interop` against the server's OTLP endpoints; returns what it printed.
async fn run_script(name: &str, server: &common::TestServer) -> Value {
    let output = run_script_with(name, server, &[]).await;
    assert!(
        output.status.success(),
        "{name}: the Python SDK exporter failed (install tests/interop/requirements.txt; see README):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// Runs a script of `tests/interop` against `server` with extra environment.
async fn run_script_with(name: &str, server: &common::TestServer, env: &[(&str, String)]) -> std::process::Output {
    let script = workspace_root().join("tests/interop").join(name);
    let python = python();
    let (grpc, http) = (server.otlp_grpc.clone(), server.otlp_http.clone());
    let env: Vec<(String, String)> = env.iter().map(|(key, value)| (key.to_string(), value.clone())).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python).arg(&script).arg(&grpc).arg(&http).envs(env).output()
    })
    .await
    .unwrap()
    .expect("python runs")
}

/// The SDK's own way of sending a token (`OTEL_EXPORTER_OTLP_HEADERS`), over gRPC and HTTP; without
/// it, both exporters are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_sends_with_the_bearer_token_of_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (token, sha256) = semtrace_auth::new_token();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.auth.tokens = vec![semtrace_auth::TokenEntry {
            name: "python-sdk".into(),
            sha256,
            role: semtrace_auth::Role::Ingest,
            tenant: "default".into(),
        }];
    })
    .await;
    let refused = run_script_with("otel_sdk_export.py", &server, &[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "no token, no export: {stderr}");
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    let header = ("OTEL_EXPORTER_OTLP_HEADERS", format!("authorization=Bearer%20{token}"));
    let sent = run_script_with("otel_sdk_export.py", &server, &[header]).await;
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    for protocol in ["grpc", "http"] {
        let trace_id = sent[protocol][0]["trace_id"].as_str().unwrap();
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/traces/{trace_id}", server.api))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "an ingest token does not read");
        let (status, _) = get_json(&format!("{}/api/v1/health", server.api)).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_spans_come_back_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let sent = run_script("otel_sdk_export.py", &server).await;

    for (protocol, service) in [("grpc", "py-grpc"), ("http", "py-http")] {
        let spans = sent[protocol].as_array().unwrap();
        assert_eq!(spans.len(), 2);
        let trace_id = spans[0]["trace_id"].as_str().unwrap();
        let (status, trace) = get_json(&format!("{}/api/v1/traces/{trace_id}", server.api)).await;
        assert_eq!(status, 200, "{protocol}: trace {trace_id} is stored");
        assert_eq!(trace["services"], serde_json::json!([service]));
        assert_eq!(trace["root_name"], "GET /orders/{id}");
        for expected in spans {
            let stored = trace["spans"]
                .as_array()
                .unwrap()
                .iter()
                .find(|span| span["span_id"] == expected["span_id"])
                .unwrap_or_else(|| panic!("{protocol}: span {} is stored", expected["span_id"]));
            for field in [
                "name",
                "kind",
                "parent_span_id",
                "start_time_unix_nano",
                "end_time_unix_nano",
                "status",
                "status_message",
                "attributes",
                "resource",
            ] {
                assert_eq!(stored[field], expected[field], "{protocol}: span {}: field {field}", expected["name"]);
            }
            assert_eq!(stored["service"], service);
            assert_eq!(stored["scope"]["name"], expected["scope"]["name"]);
            assert_eq!(stored["scope"]["version"], expected["scope"]["version"]);
            let stored_events = stored["events"].as_array().unwrap();
            let expected_events = expected["events"].as_array().unwrap();
            assert_eq!(stored_events.len(), expected_events.len());
            for (stored_event, expected_event) in stored_events.iter().zip(expected_events) {
                for field in ["name", "time_unix_nano", "attributes"] {
                    assert_eq!(stored_event[field], expected_event[field], "{protocol}: event field {field}");
                }
            }
            let stored_links = stored["links"].as_array().unwrap();
            let expected_links = expected["links"].as_array().unwrap();
            assert_eq!(stored_links.len(), expected_links.len());
            for (stored_link, expected_link) in stored_links.iter().zip(expected_links) {
                for field in ["trace_id", "span_id", "attributes"] {
                    assert_eq!(stored_link[field], expected_link[field], "{protocol}: link field {field}");
                }
            }
        }
        let client = trace["spans"].as_array().unwrap().iter().find(|span| span["name"] == "SELECT orders").unwrap();
        assert_eq!(client["events"][0]["name"], "exception");
        assert_eq!(client["events"][0]["attributes"]["exception.type"], "TimeoutError");
    }
    server.server.shutdown().await.unwrap();
}

/// Log records sent by Python's `logging` through the SDK's LoggingHandler (gRPC and HTTP, gzip),
/// before their span: stored, listed under their span, joined as its evidence (the span, status
/// unset, reads as failed), found by error search; a record without trace context is stored
/// and found by error search on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_log_records_join_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let sent = run_script("otel_sdk_logs.py", &server).await;
    for protocol in ["grpc", "http"] {
        let expected = &sent[protocol];
        let (trace_id, span_id) = (expected["trace_id"].as_str().unwrap(), expected["span_id"].as_str().unwrap());
        // The joiner runs in the background: wait for the span to read as failed.
        let mut span = Value::Null;
        for _ in 0..100 {
            let (status, trace) = get_json(&format!("{}/api/v1/traces/{trace_id}", server.api)).await;
            assert_eq!(status, 200, "{protocol}: trace {trace_id} is stored");
            span = trace["spans"].as_array().unwrap().iter().find(|span| span["span_id"] == span_id).unwrap().clone();
            if span["failed"] == true {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(span["status"], "UNSET", "{protocol}: the status stays as the SDK sent it");
        assert_eq!(span["failed"], true, "{protocol}: an ERROR record about the span makes it failed: {span}");
        assert_eq!(span["error_log"], expected["error_line"], "{protocol}");
        let logs = span["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 2, "{protocol}: both records are listed under their span: {logs:?}");
        assert_eq!(logs[0]["severity_text"], "INFO");
        assert_eq!(logs[1]["severity_text"], "ERROR");
        assert_eq!(logs[1]["severity_number"], 17);
        assert_eq!(logs[1]["body"], expected["error_line"]);
        assert_eq!(logs[1]["trace_id"], trace_id);
        assert!(
            logs[1]["attributes"]["code.function"].is_string()
                || logs[1]["attributes"]["code.function.name"].is_string(),
            "{protocol}: the handler's attributes are kept: {}",
            logs[1]
        );

        let (status, errors) = get_json(&format!("{}/api/v1/errors?q=thingListResult", server.api)).await;
        assert_eq!(status, 200);
        let found = errors["results"].as_array().unwrap();
        assert!(
            found.iter().any(|hit| hit["span_id"] == span_id && hit["error_log"] == expected["error_line"]),
            "{protocol}: error search finds the span through its record: {errors}"
        );
        let quota = expected["quota_line"].as_str().unwrap();
        let service = if protocol == "grpc" { "py-logs-grpc" } else { "py-logs-http" };
        let (_, errors) = get_json(&format!("{}/api/v1/errors?q=disk+quota&service={service}", server.api)).await;
        let logs = errors["logs"].as_array().unwrap();
        assert!(
            logs.len() == 1 && logs[0]["body"] == quota && logs[0]["trace_id"].is_null(),
            "{protocol}: the record without trace context is found alone: {errors}"
        );
    }
    // The joiner runs every 500 ms: both ERROR records join within a few passes.
    let mut health = Value::Null;
    for _ in 0..100 {
        health = get_json(&format!("{}/api/v1/health", server.api)).await.1;
        if health["logs_joined"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(health["logs_joined"], 2, "{health}");
    assert_eq!(health["logs_join_waiting"], 0, "{health}");
    server.server.shutdown().await.unwrap();
}
