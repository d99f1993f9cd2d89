//! Test harness: in-process servers on free ports with their own data directory, and the
//! `semtrace` binary as a child process for crash tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use semtrace_server::config::{Config, Overrides};
use semtrace_server::RunningServer;

pub struct TestServer {
    pub server: RunningServer,
    pub otlp_http: String,
    pub otlp_grpc: String,
    pub api: String,
}

/// Starts a server on free ports, storing in `data_dir`; `tweak` adjusts the configuration.
pub async fn start_server(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let overrides = Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        otlp_grpc_addr: Some("127.0.0.1:0".into()),
        otlp_http_addr: Some("127.0.0.1:0".into()),
        http_addr: Some("127.0.0.1:0".into()),
        insecure: false,
    };
    let mut config = Config::load(None, Vec::new(), &overrides).expect("test config loads");
    // The model scripts/setup.sh unpacked into the repository's ./models.
    config.semantic.models_dir = models_dir();
    tweak(&mut config);
    let server = semtrace_server::start(&config).await.expect("server starts");
    TestServer {
        otlp_http: format!("http://{}", server.otlp_http_addr),
        otlp_grpc: format!("http://{}", server.otlp_grpc_addr),
        api: format!("http://{}", server.http_addr),
        server,
    }
}

pub fn models_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The repository's root.
pub fn workspace_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Python that runs `tests/interop` (the OpenTelemetry SDK): `INTEROP_PYTHON`, else the
/// repository's `.venv`, else `python3`.
pub fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("INTEROP_PYTHON") {
        return python.into();
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        std::path::PathBuf::from("python3")
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `semtrace serve` child process.
pub struct ChildServer {
    pub child: std::process::Child,
    pub otlp_http: String,
    pub otlp_grpc: String,
    pub api: String,
}

/// A test that fails must not leave its server running.
impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn spawn_binary(data_dir: &Path) -> ChildServer {
    spawn_binary_with(data_dir, &[]).await
}

/// `semtrace serve` with extra environment, e.g. `SEMTRACE_STORAGE=postgres`.
pub async fn spawn_binary_with(data_dir: &Path, env: &[(String, String)]) -> ChildServer {
    spawn_binary_at(data_dir, env, (free_port(), free_port(), free_port())).await
}

/// [`spawn_binary_with`] on given ports: (OTLP/gRPC, OTLP/HTTP, API), as a node restarted on its
/// addresses.
pub async fn spawn_binary_at(data_dir: &Path, env: &[(String, String)], ports: (u16, u16, u16)) -> ChildServer {
    let (grpc, http, api) = ports;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
        .envs(env.iter().map(|(key, value)| (key, value)))
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--otlp-grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--otlp-http-addr", &format!("127.0.0.1:{http}")])
        .args(["--http-addr", &format!("127.0.0.1:{api}")])
        // TEST_SERVER_LOG=warn,semtrace_pipeline=debug shows more of a failing run.
        .env("RUST_LOG", std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
        .spawn()
        .expect("semtrace binary starts");
    let server = ChildServer {
        child,
        otlp_http: format!("http://127.0.0.1:{http}"),
        otlp_grpc: format!("http://127.0.0.1:{grpc}"),
        api: format!("http://127.0.0.1:{api}"),
    };
    wait_healthy(&server.api).await;
    server
}

pub async fn wait_healthy(api: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        let healthy = client
            .get(format!("{api}/api/v1/health"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success());
        if healthy {
            return;
        }
        assert!(Instant::now() < deadline, "server at {api} did not become healthy in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {url} answered non-JSON ({err}): {text}"));
    (status, body)
}

/// Sends OTLP/JSON `resourceSpans` to a server's `/v1/traces`; panics unless accepted.
pub async fn send_json_spans(otlp_http: &str, resource_spans: Vec<serde_json::Value>) {
    let body = serde_json::json!({ "resourceSpans": resource_spans });
    let response = reqwest::Client::new()
        .post(format!("{otlp_http}/v1/traces"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

/// Waits until the server holds `spans` spans and has embedded every template; its health then.
pub async fn wait_searchable(api: &str, spans: u64) -> serde_json::Value {
    wait_searchable_as(api, spans, None).await
}

/// [`wait_searchable`] with a bearer token (a tenant's, with auth on).
pub async fn wait_searchable_as(api: &str, spans: u64, token: Option<&str>) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let client = reqwest::Client::new();
    loop {
        let mut request = client.get(format!("{api}/api/v1/health"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let health: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        if health["total_spans"] == spans && health["embedding_backlog"] == 0 {
            return health;
        }
        assert!(Instant::now() < deadline, "not searchable in time: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Environment selecting the PostgreSQL store on a fresh test database.
pub async fn postgres_env() -> Vec<(String, String)> {
    let url = semtrace_testkit::postgres::fresh_database().await;
    vec![("SEMTRACE_STORAGE".into(), "postgres".into()), ("SEMTRACE_OTEL_STORAGE__CONNECTION_STRING".into(), url)]
}

/// What a load client saw.
#[derive(Default)]
pub struct Load {
    /// Trace ids of acknowledged requests.
    pub acknowledged: Vec<[u8; 16]>,
    /// HTTP status of every refused request.
    pub refusals: Vec<u16>,
    /// Requests that got no answer (connection refused or reset).
    pub unanswered: usize,
}

/// A client sending generated OTLP/HTTP protobuf requests (`traces_per_request` traces of 11
/// spans each) until `stop` is set.
pub async fn load(
    otlp_http: String,
    seed: u64,
    traces_per_request: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Load {
    use prost::Message;
    let client = reqwest::Client::new();
    let mut generator =
        semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig { seed, ..Default::default() });
    let mut load = Load::default();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let (request, ids) = generator.request(traces_per_request);
        let sent = client
            .post(format!("{otlp_http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => load.acknowledged.extend(ids),
            Ok(response) => {
                load.refusals.push(response.status().as_u16());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => {
                load.unanswered += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    load
}

/// Spans per generated trace.
pub const SPANS_PER_TRACE: u64 = 11;

/// Every trace is stored, whole and once (checked by 8 concurrent readers over kept-alive
/// connections).
pub async fn assert_stored_whole(api: &str, acknowledged: &[[u8; 16]]) {
    let client = reqwest::Client::new();
    let mut readers = tokio::task::JoinSet::new();
    for chunk in acknowledged.chunks(acknowledged.len().div_ceil(8).max(1)) {
        let (client, api, chunk) = (client.clone(), api.to_owned(), chunk.to_vec());
        readers.spawn(async move {
            for trace_id in chunk {
                let url = format!("{api}/api/v1/traces/{}", hex(&trace_id));
                let response = client.get(&url).send().await.unwrap_or_else(|err| panic!("GET {url}: {err}"));
                assert_eq!(response.status().as_u16(), 200, "acknowledged trace {} is missing", hex(&trace_id));
                let trace: serde_json::Value = response.json().await.unwrap();
                assert_eq!(
                    trace["span_count"].as_u64(),
                    Some(SPANS_PER_TRACE),
                    "trace {} lost or duplicated spans",
                    hex(&trace_id)
                );
            }
        });
    }
    while let Some(joined) = readers.join_next().await {
        joined.unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
    }
}
