//! The real OpenTelemetry Python SDK with its OTLP/gRPC and OTLP/HTTP exporters (gzip) sends
//! spans; every field it describes is read back through the API.
//!
//! Needs Python with `tests/interop/requirements.txt` installed: the README's test command
//! installs them into `.venv`. `INTEROP_PYTHON` names another interpreter.

mod common;

use std::path::PathBuf;

use common::{get_json, start_server};
use serde_json::Value;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("INTEROP_PYTHON") {
        return python.into();
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_spans_come_back_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let script = workspace_root().join("tests/interop/otel_sdk_export.py");
    let python = python();
    let (grpc, http) = (server.otlp_grpc.clone(), server.otlp_http.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python).arg(&script).arg(&grpc).arg(&http).output()
    })
    .await
    .unwrap()
    .expect("python runs");
    assert!(
        output.status.success(),
        "the Python SDK exporter failed (install tests/interop/requirements.txt; see README):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");

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
