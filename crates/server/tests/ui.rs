//! The web UI in a real browser: a server loaded with the labelled fault corpus (and one trace of
//! 10,000 spans), then the Playwright scenarios of `ui/tests` driving Debian's Chromium against it:
//! find a fault by describing it, open its trace, follow similar traces, filter by service and
//! time, open the errors overview. Screenshots land in `target/ui-artifacts`.
//!
//! Needs `ui/node_modules` (npm ci in ui/) and Chromium (`/usr/bin/chromium`, or `CHROMIUM`);
//! `scripts/setup.sh --test` installs both. Without them the test says so and passes, unless
//! `REQUIRE_BROWSER_TESTS=1` (set by scripts/test.sh) makes their absence a failure.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{hex, start_server, wait_searchable};
use prost::Message;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether the browser tests can run here; if not, why.
fn missing() -> Option<String> {
    let playwright = repo().join("ui/node_modules/@playwright/test");
    if !playwright.exists() {
        return Some(format!("{} is missing: run npm ci in ui/ (scripts/setup.sh --test does)", playwright.display()));
    }
    if !chromium().exists() {
        return Some(format!(
            "{} is missing: apt-get install chromium (scripts/setup.sh --test does)",
            chromium().display()
        ));
    }
    None
}

const BIG_TRACE_SPANS: usize = 10_000;

/// One trace of 10,000 spans: a root fanning out to 100 workers of 99 steps each, one step failed.
fn big_trace(trace_id: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let start = now - 120_000_000_000;
    let mut spans = Vec::with_capacity(BIG_TRACE_SPANS);
    let span_id = |n: usize| format!("{:016x}", 0x5000_0000_0000u64 + n as u64);
    spans.push(json!({
        "traceId": trace_id, "spanId": span_id(0), "name": "POST /api/reports/render", "kind": 2,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 9_000_000_000u64).to_string(),
        "attributes": [{ "key": "http.route", "value": { "stringValue": "/api/reports/render" } }],
    }));
    for worker in 0..100usize {
        let id = 1 + worker * 100;
        let worker_start = start + worker as u64 * 50_000_000;
        spans.push(json!({
            "traceId": trace_id, "spanId": span_id(id), "parentSpanId": span_id(0), "name": "render report section",
            "kind": 1, "startTimeUnixNano": worker_start.to_string(),
            "endTimeUnixNano": (worker_start + 4_000_000_000u64).to_string(),
        }));
        for step in 1..100usize {
            if spans.len() == BIG_TRACE_SPANS {
                break;
            }
            let step_start = worker_start + step as u64 * 40_000_000;
            let failed = worker == 42 && step == 7;
            let mut span = json!({
                "traceId": trace_id, "spanId": span_id(id + step), "parentSpanId": span_id(id),
                "name": "render chart fragment", "kind": 1,
                "startTimeUnixNano": step_start.to_string(), "endTimeUnixNano": (step_start + 35_000_000).to_string(),
                "attributes": [{ "key": "fragment.index", "value": { "intValue": step.to_string() } }],
            });
            if failed {
                span["status"] = json!({ "code": 2, "message": "chart template not found: quarterly-revenue.vm" });
            }
            spans.push(span);
        }
    }
    assert_eq!(spans.len(), BIG_TRACE_SPANS);
    json!({
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "report-renderer" } }] },
        "scopeSpans": [{ "scope": { "name": "ui-test" }, "spans": spans }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_finds_a_fault_opens_its_trace_and_similar_ones_filters_and_shows_errors() {
    if let Some(reason) = missing() {
        assert!(std::env::var("REQUIRE_BROWSER_TESTS").as_deref() != Ok("1"), "browser tests required: {reason}");
        eprintln!("SKIPPED: the browser tests cannot run here: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let corpus = semtrace_testkit::corpus::build(7, 300);
    let client = reqwest::Client::new();
    let mut spans = 0u64;
    for request in &corpus.requests {
        spans += request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len() as u64)
            .sum::<u64>();
        let response = client
            .post(format!("{}/v1/traces", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }
    let big_id = format!("{:032x}", 0xb16_0000_0000u128);
    common::send_json_spans(&server.otlp_http, vec![big_trace(&big_id)]).await;
    wait_searchable(&server.api, spans + BIG_TRACE_SPANS as u64).await;

    // What the scenarios look for: a fault described in other words than its messages, the
    // traces that carry it, and a service to filter by.
    let query = corpus.queries.iter().find(|query| query.fault == "out_of_memory").expect("a query about memory");
    let fault_traces: Vec<String> =
        corpus.labels.iter().filter(|(_, fault)| **fault == Some("out_of_memory")).map(|(id, _)| hex(id)).collect();
    let artifacts = repo().join("target/ui-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let scenario = json!({
        "query": query.text,
        "fault_traces": fault_traces,
        "big_trace": big_id,
        "big_trace_spans": BIG_TRACE_SPANS,
    });
    let scenario_path = artifacts.join("scenario.json");
    std::fs::write(&scenario_path, serde_json::to_vec_pretty(&scenario).unwrap()).unwrap();

    let (ok, stdout, stderr) = playwright(&[], &server.api, &[("SEMTRACE_SCENARIO", scenario_path.into())]).await;
    println!("{stdout}\n{stderr}");
    assert!(ok, "the browser scenarios failed:\n{stdout}\n{stderr}");
}

/// Runs `npx playwright test` in `ui/` with `specs` (all when empty) against the query API at
/// `api`, in Chromium, screenshots under `target/ui-artifacts`; whether it passed, what it printed.
async fn playwright(specs: &[&str], api: &str, env: &[(&str, std::ffi::OsString)]) -> (bool, String, String) {
    let artifacts = repo().join("target/ui-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut command = Command::new("npx");
    command
        .args(["--no-install", "playwright", "test"])
        .args(specs)
        .current_dir(repo().join("ui"))
        .env("SEMTRACE_URL", api)
        .env("SEMTRACE_ARTIFACTS", &artifacts)
        .env("CHROMIUM", chromium())
        .envs(env.iter().map(|(key, value)| (*key, value)));
    let output = tokio::task::spawn_blocking(move || command.output().expect("npx runs")).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.success(), stdout, stderr)
}

/// With auth on, the UI asks for a token when the API refuses it, retries with it and keeps it
/// (`ui/tests/auth.spec.ts`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_asks_for_a_token_when_auth_is_on() {
    if let Some(reason) = missing() {
        assert!(std::env::var("REQUIRE_BROWSER_TESTS").as_deref() != Ok("1"), "browser tests required: {reason}");
        eprintln!("SKIPPED: the browser tests cannot run here: {reason}");
        return;
    }
    let (read, read_digest) = semtrace_auth::new_token();
    let (ingest, ingest_digest) = semtrace_auth::new_token();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.auth.tokens =
            [("ui", read_digest, semtrace_auth::Role::Read), ("sender", ingest_digest, semtrace_auth::Role::Ingest)]
                .into_iter()
                .map(|(name, sha256, role)| semtrace_auth::TokenEntry {
                    name: name.into(),
                    sha256,
                    role,
                    tenant: semtrace_auth::DEFAULT_TENANT.into(),
                })
                .collect();
    })
    .await;
    let trace_id = format!("{:032x}", 0xa7_0000_0000u128);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("content-type", "application/json")
        .bearer_auth(&ingest)
        .body(serde_json::to_vec(&json!({ "resourceSpans": [big_trace(&trace_id)] })).unwrap())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let env = [("SEMTRACE_TOKEN", read.into()), ("SEMTRACE_TRACE", trace_id.into())];
    let (ok, stdout, stderr) = playwright(&["tests/auth.spec.ts"], &server.api, &env).await;
    assert!(ok, "the auth scenarios failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("2 passed"), "both auth scenarios ran:\n{stdout}");
}

/// The UI is served from the binary: every page address gets the one page, assets come with an
/// ETag and are revalidated, nothing points outside the server (it works offline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_from_the_binary_and_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.api)).send();
    for page in ["/", "/search?q=timeouts", "/errors?range=1h", "/trace/4bf92f3577b34da6a3ce929d0e0e4736"] {
        let response = get(page).await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8", "{page}");
        let body = response.text().await.unwrap();
        assert!(body.contains(r#"src="/ui/app.js""#) && body.contains(r#"href="/ui/app.css""#), "{body}");
    }
    for (asset, kind) in [("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")] {
        let response = get(asset).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(kind));
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let etag = response.headers()["etag"].clone();
        let body = response.text().await.unwrap();
        // No address outside the server, but XML namespaces (names, never fetched).
        let outside: Vec<&str> = body
            .match_indices("http")
            .map(|(at, _)| &body[at..(at + 40).min(body.len())])
            .filter(|text| text.contains("://") && !text.contains("://www.w3.org/"))
            .collect();
        assert!(outside.is_empty(), "{asset} refers outside the server: {outside:?}");
        let again = client.get(format!("{}{asset}", server.api)).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{asset} unchanged is not sent again");
    }
    assert_eq!(get("/ui/secrets.txt").await.unwrap().status(), 404);
    // The API keeps its own addresses.
    assert_eq!(get("/api/v1/health").await.unwrap().status(), 200);
    server.server.shutdown().await.unwrap();
}
