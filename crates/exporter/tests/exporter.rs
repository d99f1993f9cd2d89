//! A small program instrumented with the exporter, its spans read back from semtrace: sent over
//! OTLP to a server, and written into an embedded store that a server then opens; a refusal that
//! asks for a retry (429 with `google.rpc.RetryInfo`) is retried after the delay it names.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use semtrace_exporter::SemtraceExporter;
use semtrace_server::config::{Config, Overrides};

async fn server(data_dir: &Path) -> semtrace_server::RunningServer {
    let overrides = Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        otlp_grpc_addr: Some("127.0.0.1:0".into()),
        otlp_http_addr: Some("127.0.0.1:0".into()),
        http_addr: Some("127.0.0.1:0".into()),
        insecure: false,
    };
    let mut config = Config::load(None, Vec::new(), &overrides).unwrap();
    config.semantic.models_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    semtrace_server::start(&config).await.unwrap()
}

/// The program: an order handler whose inventory call fails. Returns its trace id.
fn place_order(provider: &SdkTracerProvider) -> String {
    let tracer = provider.tracer("shop");
    tracer.in_span("POST /orders", |cx| {
        let trace_id = cx.span().span_context().trace_id().to_string();
        cx.span().set_attribute(KeyValue::new("http.request.method", "POST"));
        let mut call = tracer.start("reserve inventory");
        call.set_attribute(KeyValue::new("peer.service", "inventory"));
        call.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", "InventoryError"),
                KeyValue::new("exception.message", "no stock left for sku-42"),
            ],
        );
        call.set_status(Status::error("no stock left for sku-42"));
        call.end();
        trace_id
    })
}

fn provider(exporter: SemtraceExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("shop-rs").build())
        .with_batch_exporter(exporter)
        .build()
}

async fn trace_of(api: &str, trace_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = reqwest::get(format!("{api}/api/v1/traces/{trace_id}")).await.unwrap();
        if response.status().is_success() {
            return response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "trace {trace_id} not found");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check(trace: &serde_json::Value) {
    assert_eq!(trace["span_count"], 2, "{trace}");
    let spans = trace["spans"].as_array().unwrap();
    let call = spans.iter().find(|span| span["name"] == "reserve inventory").unwrap();
    assert_eq!(call["service"], "shop-rs");
    assert_eq!(call["status"], "ERROR");
    assert_eq!(call["attributes"]["peer.service"], "inventory", "{call}");
    assert_eq!(call["events"][0]["attributes"]["exception.message"], "no stock left for sku-42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_sent_over_otlp_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let exporter = SemtraceExporter::otlp(format!("http://{}", server.otlp_http_addr)).build().unwrap();
    let provider = provider(exporter);
    let trace_id = place_order(&provider);
    provider.shutdown().unwrap();
    check(&trace_of(&format!("http://{}", server.http_addr), &trace_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_written_in_process_are_served_later() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = SemtraceExporter::embedded(dir.path()).unwrap();
    let provider = provider(exporter);
    let trace_id = place_order(&provider);
    // Shutting down drains the pipeline: the spans are committed when it returns.
    provider.shutdown().unwrap();
    drop(provider);
    let server = server(dir.path()).await;
    check(&trace_of(&format!("http://{}", server.http_addr), &trace_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_retried_after_the_delay_it_names() {
    use prost::Message;
    // A receiver that refuses the first request with 429 and RetryInfo (1.2 s), then accepts.
    let calls = Arc::new(AtomicUsize::new(0));
    let first_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let retried_after = Arc::new(std::sync::Mutex::new(None::<Duration>));
    let app = {
        let (calls, first_at, retried_after) = (calls.clone(), first_at.clone(), retried_after.clone());
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move || {
                let (calls, first_at, retried_after) = (calls.clone(), first_at.clone(), retried_after.clone());
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        *first_at.lock().unwrap() = Some(Instant::now());
                        let info = tonic_types::pb::RetryInfo {
                            retry_delay: Some(prost_types::Duration { seconds: 1, nanos: 200_000_000 }),
                        };
                        let status = tonic_types::pb::Status {
                            code: 8,
                            message: "over the tenant's rate".into(),
                            details: vec![prost_types::Any {
                                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                                value: info.encode_to_vec(),
                            }],
                        };
                        return (axum::http::StatusCode::TOO_MANY_REQUESTS, status.encode_to_vec());
                    }
                    *retried_after.lock().unwrap() = first_at.lock().unwrap().map(|at| at.elapsed());
                    (axum::http::StatusCode::OK, Vec::new())
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let exporter = SemtraceExporter::otlp(endpoint).with_timeout(Duration::from_secs(5)).build().unwrap();
    let provider = provider(exporter);
    place_order(&provider);
    provider.shutdown().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refused once, then accepted");
    let waited = retried_after.lock().unwrap().expect("retried");
    assert!(waited >= Duration::from_millis(1200), "waited {waited:?}, RetryInfo said 1.2 s");
}
