//! Bearer tokens on every listener, as a caller without one, with a wrong one or with one of the
//! wrong role meets them; and no unauthenticated listener beyond loopback.

use crate::common::{free_port, start_server};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use semtrace_auth::{digest, Role, TokenEntry};

const INGEST: &str = "semtrace_test_ingest_token";
const READ: &str = "semtrace_test_read_token";
const ADMIN: &str = "semtrace_test_admin_token";

fn tokens() -> Vec<TokenEntry> {
    [("collector", INGEST, Role::Ingest), ("grafana", READ, Role::Read), ("ops", ADMIN, Role::Admin)]
        .into_iter()
        .map(|(name, token, role)| TokenEntry { name: name.into(), sha256: digest(token), role, tenant: "acme".into() })
        .collect()
}

fn one_trace() -> ExportTraceServiceRequest {
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    generator.request(1).0
}

/// A request with `token` (none when empty).
fn with_token(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    if token.is_empty() {
        request
    } else {
        request.bearer_auth(token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_asks_for_a_token_of_the_right_role() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.auth.tokens = tokens();
    })
    .await;
    let http = reqwest::Client::new();
    let body = prost::Message::encode_to_vec(&one_trace());

    // OTLP/HTTP: refused before the body is read, with the OTLP status body and a challenge.
    for (token, status) in [("", 401), ("wrong", 401), (READ, 403), (INGEST, 200), (ADMIN, 200)] {
        let response = with_token(http.post(format!("{}/v1/traces", server.otlp_http)), token)
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "OTLP/HTTP with token {token:?}");
        if status == 401 {
            assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"semtrace\"");
        }
    }
    let logs = with_token(http.post(format!("{}/v1/logs", server.otlp_http)), READ)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status().as_u16(), 403, "logs need ingest too");

    // OTLP/gRPC: the `authorization` metadata.
    let mut grpc = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    for (token, code) in [
        ("", tonic::Code::Unauthenticated),
        ("wrong", tonic::Code::Unauthenticated),
        (READ, tonic::Code::PermissionDenied),
        (INGEST, tonic::Code::Ok),
    ] {
        let mut request = tonic::Request::new(one_trace());
        if !token.is_empty() {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let answered = grpc.export(request).await.map(|_| tonic::Code::Ok).unwrap_or_else(|status| status.code());
        assert_eq!(answered, code, "OTLP/gRPC with token {token:?}");
    }

    // The query API, the Jaeger API and /metrics; the UI's files and a bare health are open.
    let cases: &[(&str, &str, u16)] = &[
        ("/api/v1/errors?q=timeout", "", 401),
        ("/api/v1/errors?q=timeout", "wrong", 401),
        ("/api/v1/errors?q=timeout", INGEST, 403),
        ("/api/v1/errors?q=timeout", READ, 200),
        ("/api/v1/services", "", 401),
        ("/api/v1/services", READ, 200),
        ("/api/services", "", 401),
        ("/jaeger/api/services", "", 401),
        ("/api/v3/services", "", 401),
        ("/api/services", READ, 200),
        ("/metrics", "", 401),
        ("/metrics", READ, 403),
        ("/metrics", ADMIN, 200),
        ("/", "", 200),
        ("/ui/app.js", "", 200),
        ("/api/v1/health", "", 200),
    ];
    for (path, token, status) in cases {
        let response = with_token(http.get(format!("{}{path}", server.api)), token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "GET {path} with token {token:?}");
    }
    let bare: serde_json::Value =
        http.get(format!("{}/api/v1/health", server.api)).send().await.unwrap().json().await.unwrap();
    assert!(bare["healthy"].as_bool().unwrap() && bare.get("total_spans").is_none(), "health without a token: {bare}");
    let full: serde_json::Value =
        http.get(format!("{}/api/v1/health", server.api)).bearer_auth(READ).send().await.unwrap().json().await.unwrap();
    assert!(full["total_spans"].as_u64().unwrap() > 0, "health with a token: {full}");
    // A token acts for its own tenant only.
    let other = http
        .get(format!("{}/api/v1/services", server.api))
        .bearer_auth(READ)
        .header("x-scope-orgid", "globex")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 403);
}

#[test]
fn a_non_loopback_address_without_auth_is_refused_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--otlp-grpc-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--otlp-http-addr", &format!("0.0.0.0:{}", free_port())])
            .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
            .args(extra)
            .env("SEMTRACE_SEMANTIC__ENABLED", "false")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let refused = run(&[]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("server.otlp_http_addr = 0.0.0.0") && stderr.contains("--insecure"), "{stderr}");

    let mut insecure = run(&["--insecure"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(insecure.try_wait().unwrap().is_none(), "--insecure serves anyway");
    insecure.kill().unwrap();
    let stderr = String::from_utf8_lossy(&insecure.wait_with_output().unwrap().stderr).to_string();
    assert!(stderr.contains("WITHOUT authentication"), "{stderr}");
}
