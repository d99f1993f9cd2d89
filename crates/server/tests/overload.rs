//! Overload, as an operator would stage it: many clients offer several times what semtrace can
//! store, retrying every refusal at once. semtrace must refuse the excess with retryable codes
//! (HTTP 429/503 with `Retry-After`, gRPC UNAVAILABLE with `RetryInfo`), keep its memory bounded
//! (peak RSS reported), and store every span it acknowledged.
//!
//! Runs for a few seconds in CI; `OVERLOAD_SECONDS=60` (as `scripts/soak.sh` sets) for the full
//! minute.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic_types::StatusExt;

const TRACES_PER_REQUEST: usize = 40;

fn overload_length() -> Duration {
    Duration::from_secs(std::env::var("OVERLOAD_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(8))
}

/// What one flooding client saw.
#[derive(Default)]
struct Flood {
    acknowledged: Vec<[u8; 16]>,
    /// Spans sent, counting every retry.
    offered_spans: u64,
    acknowledged_spans: u64,
    /// Status of each refusal (HTTP status; 14 for gRPC UNAVAILABLE).
    refusals: Vec<u16>,
    /// Refusals without a retry hint (`Retry-After`, `RetryInfo`).
    without_retry_hint: usize,
    unanswered: usize,
}

/// An OTLP/HTTP client that resends a refused request at once until it is acknowledged.
async fn flood_http(otlp_http: String, seed: u64, stop: Arc<AtomicBool>) -> Flood {
    let client = reqwest::Client::new();
    let mut generator =
        semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig { seed, ..Default::default() });
    let mut flood = Flood::default();
    let (mut request, mut ids) = generator.request(TRACES_PER_REQUEST);
    let mut body = request.encode_to_vec();
    let mut n_spans = spans_of(&request);
    while !stop.load(Ordering::SeqCst) {
        flood.offered_spans += n_spans;
        let sent = client
            .post(format!("{otlp_http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                flood.acknowledged.extend(&ids);
                flood.acknowledged_spans += n_spans;
                (request, ids) = generator.request(TRACES_PER_REQUEST);
                body = request.encode_to_vec();
                n_spans = spans_of(&request);
            }
            Ok(response) => {
                flood.refusals.push(response.status().as_u16());
                if !response.headers().contains_key("retry-after") {
                    flood.without_retry_hint += 1;
                }
                tokio::task::yield_now().await;
            }
            Err(_) => {
                flood.unanswered += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    flood
}

/// The same over OTLP/gRPC.
async fn flood_grpc(otlp_grpc: String, seed: u64, stop: Arc<AtomicBool>) -> Flood {
    let mut client = TraceServiceClient::connect(otlp_grpc).await.expect("gRPC connects");
    let mut generator =
        semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig { seed, ..Default::default() });
    let mut flood = Flood::default();
    let (mut request, mut ids) = generator.request(TRACES_PER_REQUEST);
    while !stop.load(Ordering::SeqCst) {
        let n_spans = spans_of(&request);
        flood.offered_spans += n_spans;
        match client.export(request.clone()).await {
            Ok(_) => {
                flood.acknowledged.extend(&ids);
                flood.acknowledged_spans += n_spans;
                (request, ids) = generator.request(TRACES_PER_REQUEST);
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                flood.refusals.push(14);
                if status.get_details_retry_info().and_then(|info| info.retry_delay).is_none() {
                    flood.without_retry_hint += 1;
                }
                tokio::task::yield_now().await;
            }
            Err(status) => panic!("gRPC refusal that is not retryable: {status:?}"),
        }
    }
    flood
}

fn spans_of(request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest) -> u64 {
    request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum()
}

/// A process's memory from /proc: (current RSS, peak RSS) in KiB.
/// The server's resident and peak resident memory, from `/proc`: a memory check that cannot
/// read it fails rather than pass on zeroes.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("cannot read /proc/{pid}/status to measure the server's memory: {err}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .filter(|kib| *kib > 0)
            .unwrap_or_else(|| panic!("/proc/{pid}/status has no {name} in kB"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_retryably_with_bounded_memory_and_nothing_accepted_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    // A short queue, so 40 clients overflow it (as thousands of SDKs would the default 1024).
    let env = [
        ("SEMTRACE_SEMANTIC__ENABLED".to_string(), "false".to_string()),
        ("SEMTRACE_PIPELINE__QUEUE_SIZE".to_string(), "4".to_string()),
    ];
    let server = common::spawn_binary_with(dir.path(), &env).await;
    let pid = server.child.id();
    let (_, idle_peak) = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients: Vec<_> =
        (0..36).map(|seed| tokio::spawn(flood_http(server.otlp_http.clone(), 900 + seed, stop.clone()))).collect();
    clients.extend((0..4).map(|seed| tokio::spawn(flood_grpc(server.otlp_grpc.clone(), 950 + seed, stop.clone()))));
    let started = Instant::now();
    let mut max_rss = 0;
    while started.elapsed() < overload_length() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        max_rss = max_rss.max(rss_kib(pid).0);
    }
    stop.store(true, Ordering::SeqCst);
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = Flood::default();
    for client in clients {
        let flood = client.await.unwrap();
        total.acknowledged.extend(flood.acknowledged);
        total.offered_spans += flood.offered_spans;
        total.acknowledged_spans += flood.acknowledged_spans;
        total.refusals.extend(flood.refusals);
        total.without_retry_hint += flood.without_retry_hint;
        total.unanswered += flood.unanswered;
    }
    let (_, peak) = rss_kib(pid);
    let mut by_status = std::collections::BTreeMap::new();
    for status in &total.refusals {
        *by_status.entry(*status).or_insert(0) += 1;
    }
    let overload = total.offered_spans as f64 / total.acknowledged_spans.max(1) as f64;
    eprintln!(
        "{elapsed:.1} s: offered {:.0} spans/s, acknowledged {:.0} spans/s ({overload:.1}x), refusals {by_status:?}, \
         peak RSS {} MiB (idle {} MiB, max sampled {} MiB)",
        total.offered_spans as f64 / elapsed,
        total.acknowledged_spans as f64 / elapsed,
        peak / 1024,
        idle_peak / 1024,
        max_rss / 1024
    );
    assert!(overload >= 3.0, "the clients offered only {overload:.1}x what was stored");
    assert!(total.refusals.iter().all(|status| matches!(status, 429 | 503 | 14)), "{by_status:?}");
    assert!(by_status.contains_key(&429) && by_status.contains_key(&14), "both protocols refused: {by_status:?}");
    assert_eq!(total.without_retry_hint, 0, "refusals without Retry-After / RetryInfo");
    assert_eq!(total.unanswered, 0, "requests left without an answer");
    assert!(peak < 1024 * 1024, "peak RSS {} MiB: memory is not bounded", peak / 1024);
    common::assert_stored_whole(&server.api, &total.acknowledged).await;
}

/// A gzip bomb (1 MiB on the wire, 1 GiB inflated) is refused with 413, fast, and leaves the
/// server's memory where it was: inflation stops at `limits.max_decompressed_bytes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_are_refused_fast_without_memory_growth() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let env = [("SEMTRACE_SEMANTIC__ENABLED".to_string(), "false".to_string())];
    let server = common::spawn_binary_with(dir.path(), &env).await;
    let pid = server.child.id();
    // 1,024 gzip members of 1 MiB of zeros each: about 1 MiB that inflates to 1 GiB.
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = member.finish().unwrap();
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 1024).collect();
    let client = reqwest::Client::new();
    let (rss_before, _) = rss_kib(pid);
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let sent = Instant::now();
        let response = client
            .post(format!("{}/v1/traces", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "gzip")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        latencies.push(sent.elapsed());
        assert_eq!(response.status().as_u16(), 413);
        assert!(response.text().await.unwrap().contains("inflates past the limit"));
    }
    let (rss_after, peak) = rss_kib(pid);
    latencies.sort();
    eprintln!(
        "bomb of {} KiB: p50 {:?}, max {:?}; RSS {} -> {} MiB (peak {} MiB)",
        bomb.len() / 1024,
        latencies[latencies.len() / 2],
        latencies.last().unwrap(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    assert!(latencies[latencies.len() / 2] < Duration::from_millis(500), "{latencies:?}");
    assert!(rss_after < rss_before + 50 * 1024, "RSS grew from {rss_before} KiB to {rss_after} KiB");
}

/// tonic decodes a gRPC message before semtrace can reserve its memory, so the number of messages
/// being decoded at once is capped (`limits.max_concurrent_grpc_decodes`): a call past the cap is
/// refused at once with UNAVAILABLE and `RetryInfo`, and the permit comes back when a call is
/// decoded (or abandoned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_messages_decoded_at_once_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.limits.max_concurrent_grpc_decodes = 1;
    })
    .await;
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let mut client = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    // Permits come back after each call: sequential calls are all taken.
    for _ in 0..3 {
        client.export(generator.request(2).0).await.expect("a call alone is taken");
    }

    // A slow client: a gRPC call whose message announces 100 KB but sends only 10 bytes.
    let tcp = tokio::net::TcpStream::connect(server.otlp_grpc.trim_start_matches("http://")).await.unwrap();
    let (h2_client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut h2_client = h2_client.ready().await.unwrap();
    let call =
        http::Request::post(format!("{}/opentelemetry.proto.collector.trace.v1.TraceService/Export", server.otlp_grpc))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
    let (_response, mut body) = h2_client.send_request(call, false).unwrap();
    let mut frame = vec![0u8];
    frame.extend(100_000u32.to_be_bytes());
    frame.extend([0u8; 10]);
    body.send_data(bytes::Bytes::from(frame), false).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused = client.export(generator.request(2).0).await.expect_err("the only permit is held");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("max_concurrent_grpc_decodes"), "{refused:?}");
    assert!(refused.get_details_retry_info().and_then(|info| info.retry_delay).is_some(), "{refused:?}");

    // The slow client gives up: its permit comes back.
    body.send_reset(h2::Reason::CANCEL);
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.export(generator.request(2).0).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                assert!(Instant::now() < deadline, "the abandoned call kept its permit");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
