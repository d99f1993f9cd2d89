//! Listeners against misbehaving clients: slowloris headers and bodies, a connection flood, an
//! HTTP/2 rapid-reset client, oversized query parameters, and injection strings in every filter.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::start_server;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Reads until the server closes the connection (or `within` passes); returns what it sent and
/// how long it took.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Duration)> {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some((answer, started.elapsed())),
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_slow_bodies_and_a_connection_flood_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.limits.header_read_timeout_seconds = 1;
        config.limits.body_read_timeout_seconds = 1;
        config.limits.max_connections = 4;
    })
    .await;

    // Slowloris: headers trickled a few bytes at a time never complete; the connection is closed.
    for listener in [&server.api, &server.otlp_http] {
        let mut slow = TcpStream::connect(addr(listener)).await.unwrap();
        slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let trickle = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break;
                }
            }
        };
        trickle.await;
        let closed = until_closed(&mut slow, Duration::from_secs(3)).await;
        assert!(closed.is_some(), "{listener}: a slowloris connection stays open past the header deadline");
    }

    // A body announced but not sent: 408 once the body deadline passes.
    let mut slow_body = TcpStream::connect(addr(&server.otlp_http)).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), slow_body.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // Four connections held open: a fifth is closed at once, and served again once one closes.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr(&server.api)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(addr(&server.api)).await.unwrap();
    let _ = fifth.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (answer, _) = until_closed(&mut fifth, Duration::from_secs(2)).await.expect("the fifth connection is closed");
    assert!(answer.is_empty(), "the fifth connection was served: {}", String::from_utf8_lossy(&answer));
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match reqwest::get(format!("{}/api/v1/health", server.api)).await {
            Ok(response) if response.status().is_success() => break,
            _ => {
                assert!(Instant::now() < deadline, "connections closed but the listener still refuses");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_rapid_reset_client_does_not_stop_others_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    let tcp = TcpStream::connect(addr(&server.otlp_grpc)).await.unwrap();
    let (h2_client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    // Open streams and reset each at once, as fast as the connection takes them (CVE-2023-44487).
    let mut h2_client = h2_client;
    let mut sent = 0;
    for _ in 0..10_000 {
        let Ok(ready) = h2_client.ready().await else { break };
        h2_client = ready;
        let call = http::Request::post(format!(
            "{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            server.otlp_grpc
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
        let Ok((_response, mut body)) = h2_client.send_request(call, false) else { break };
        body.send_reset(h2::Reason::CANCEL);
        sent += 1;
    }
    // The abusive connection is closed by the server (GOAWAY), well before 10,000 resets.
    let closed = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(closed.is_ok() && sent < 10_000, "the rapid-reset connection stayed open after {sent} resets");

    // Meanwhile and after, another client is served.
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let mut client = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    let started = Instant::now();
    client.export(generator.request(2).0).await.expect("a well-behaved client is served");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_past_a_kibibyte_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    let long = "a".repeat(2000);
    for path in [format!("/api/v1/errors?q={long}"), format!("/api/services?service={long}")] {
        let response = reqwest::get(format!("{}{path}", server.api)).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{}", &path[..30]);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("1024"), "{body}");
    }
    let ok = reqwest::get(format!("{}/api/v1/errors?q={}", server.api, "a".repeat(1000))).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

/// Classic SQL injection strings, as every filter of every query endpoint.
const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE spans; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5)--",
    "x' UNION SELECT name, NULL FROM sqlite_master --",
    "%' OR 1=1 --",
    "\\'; DELETE FROM traces; --",
    "') OR ('a'='a",
];

/// Sends every injection string through every filter; nothing fails with a server error, nothing
/// is found that the filter does not name, and the data is intact afterwards.
async fn injection_strings_change_nothing(server: &common::TestServer) {
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let (request, ids) = generator.request(5);
    let mut client = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    client.export(request).await.unwrap();
    let (_, before) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
    let http = reqwest::Client::new();
    let filters = ["service", "operation", "status", "outcome", "category", "entity", "start", "end", "min_duration"];
    for injection in INJECTIONS {
        let encoded: String = form_urlencoded::byte_serialize(injection.as_bytes()).collect();
        let mut paths = vec![
            format!("/api/v1/errors?q={encoded}"),
            format!("/api/v1/entities?prefix={encoded}"),
            format!("/api/v1/entities?kind=user&prefix={encoded}"),
            format!("/api/v1/services/{encoded}/operations"),
            format!("/api/v1/traces/{encoded}"),
            format!("/api/services/{encoded}/operations"),
            format!("/api/traces?service={encoded}"),
            format!("/api/traces?service=checkout&operation={encoded}"),
            format!("/api/traces?service=checkout&tags={encoded}"),
            format!("/api/v3/traces?query.service_name={encoded}"),
        ];
        for filter in filters {
            paths.push(format!("/api/v1/errors?q=timeout&{filter}={encoded}"));
            paths.push(format!("/api/v1/errors/overview?{filter}={encoded}"));
        }
        for path in paths {
            let response = http.get(format!("{}{path}", server.api)).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(status < 500, "{path}: {status} {text}");
            for id in &ids {
                let id = common::hex(id);
                assert!(!text.contains(&id), "{path} found trace {id}, which the filter does not name: {text}");
            }
        }
    }
    let (_, after) = common::get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(
        (after["total_spans"].clone(), after["total_traces"].clone()),
        (before["total_spans"].clone(), before["total_traces"].clone())
    );
    for id in &ids {
        let (status, _) = common::get_json(&format!("{}/api/v1/traces/{}", server.api, common::hex(id))).await;
        assert_eq!(status, 200, "trace {} is still there", common::hex(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_strings_in_every_filter_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    injection_strings_change_nothing(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_strings_in_every_filter_change_nothing_on_postgres() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.storage = semtrace_server::config::StorageKind::Postgres;
        config.otel_storage.connection_string = url;
    })
    .await;
    injection_strings_change_nothing(&server).await;
}

/// A tenant's OTLP/HTTP client: sends `traces_per_request` traces (11 spans each) per request,
/// waiting `pause` between requests, until `stop`; returns (spans acknowledged, refusals with a
/// Retry-After).
async fn tenant_client(
    otlp_http: String,
    tenant: &'static str,
    seed: u64,
    pause: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, usize) {
    use prost::Message;
    let client = reqwest::Client::new();
    let mut generator =
        semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig { seed, ..Default::default() });
    let (mut acknowledged, mut refused) = (0, 0);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let (request, ids) = generator.request(10);
        let response = client
            .post(format!("{otlp_http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("x-scope-orgid", tenant)
            .body(request.encode_to_vec())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => acknowledged += ids.len() * common::SPANS_PER_TRACE as usize,
            429 => {
                assert!(response.headers().contains_key("retry-after"), "a 429 says when to retry");
                refused += 1;
            }
            other => panic!("{tenant}: unexpected {other}: {}", response.text().await.unwrap()),
        }
        tokio::time::sleep(pause).await;
    }
    (acknowledged, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_tenant_is_held_to_its_rate_while_another_keeps_ingesting() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.limits.tenant_spans_per_second = 2000;
    })
    .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noisy: Vec<_> = (0..4)
        .map(|seed| tokio::spawn(tenant_client(server.otlp_http.clone(), "noisy", seed, Duration::ZERO, stop.clone())))
        .collect();
    let quiet =
        tokio::spawn(tenant_client(server.otlp_http.clone(), "quiet", 99, Duration::from_millis(200), stop.clone()));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seconds = started.elapsed().as_secs_f64();
    let (mut noisy_spans, mut noisy_refused) = (0, 0);
    for client in noisy {
        let (spans, refused) = client.await.unwrap();
        noisy_spans += spans;
        noisy_refused += refused;
    }
    let (quiet_spans, quiet_refused) = quiet.await.unwrap();
    assert!(noisy_refused > 0, "the noisy tenant was never refused");
    // Its rate, a second's burst, and one request in flight per client over it.
    let allowed = 2000.0 * (seconds + 1.0) + 4.0 * 110.0;
    assert!((noisy_spans as f64) <= allowed, "noisy tenant stored {noisy_spans} spans in {seconds:.1} s");
    assert_eq!(quiet_refused, 0, "the quiet tenant was refused while under its rate");
    assert!(quiet_spans >= 110 * 10, "the quiet tenant kept ingesting: {quiet_spans} spans");

    // gRPC: RESOURCE_EXHAUSTED with RetryInfo, which SDKs retry after.
    let mut grpc = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let mut exhausted = None;
    for _ in 0..50 {
        let mut request = tonic::Request::new(generator.request(20).0);
        request.metadata_mut().insert("x-scope-orgid", "grpc-noisy".parse().unwrap());
        if let Err(status) = grpc.export(request).await {
            exhausted = Some(status);
            break;
        }
    }
    let status = exhausted.expect("a gRPC tenant over its rate is refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    use tonic_types::StatusExt;
    assert!(status.get_details_retry_info().and_then(|info| info.retry_delay).is_some(), "{status:?}");
    let metrics = reqwest::get(format!("{}/metrics", server.api)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with("semtrace_tenant_refused_total")
            && line.contains("tenant=\"noisy\"")
            && line.contains("reason=\"spans\"")),
        "per-tenant refusals in /metrics"
    );
}
