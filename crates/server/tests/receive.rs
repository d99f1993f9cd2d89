//! OTLP in, API out: every protocol and encoding, every kind of bad input.

use crate::common;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{get_json, hex, start_server};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::json;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn string(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

const TRACE_ID: [u8; 16] =
    [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];

fn span(n: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0x10, n],
        parent_span_id: parent.map(|p| vec![0, 0, 0, 0, 0, 0, 0x10, p]).unwrap_or_default(),
        name: format!("operation {n}"),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(n) * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(n) * 1_000_000 + 123_456_789,
        ..Default::default()
    }
}

/// A request with every field type: typed attributes, arrays, maps, bytes, events, links, status.
fn rich_request() -> ExportTraceServiceRequest {
    let root = Span {
        trace_state: "rojo=00f067aa0ba902b7".into(),
        flags: 0x301,
        attributes: vec![
            kv("http.request.method", string("POST")),
            kv("http.response.status_code", any_value::Value::IntValue(503)),
            kv("big.int", any_value::Value::IntValue(9_007_199_254_740_993)),
            kv("ratio", any_value::Value::DoubleValue(0.25)),
            kv("retried", any_value::Value::BoolValue(true)),
            kv("raw", any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
            kv(
                "tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue { value: Some(string("a")) },
                        AnyValue { value: Some(any_value::Value::IntValue(2)) },
                    ],
                }),
            ),
            kv(
                "nested",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("inner", any_value::Value::DoubleValue(1.0))],
                }),
            ),
        ],
        dropped_attributes_count: 2,
        events: vec![span::Event {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", string("java.sql.SQLTransientConnectionException")),
                kv(
                    "exception.message",
                    string("HikariPool-1 - Connection is not available, request timed out after 30000ms."),
                ),
            ],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 3,
        links: vec![span::Link {
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            trace_state: "congo=t61rcWkgMzE".into(),
            attributes: vec![kv("link.reason", string("batch"))],
            dropped_attributes_count: 0,
            flags: 1,
        }],
        dropped_links_count: 4,
        status: Some(Status { code: 2, message: "upstream failed".into() }),
        ..span(1, None)
    };
    let child = Span {
        kind: span::SpanKind::Client as i32,
        status: Some(Status { code: 1, message: String::new() }),
        ..span(2, Some(1))
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", string("checkout")), kv("service.version", string("1.2.3"))],
                dropped_attributes_count: 1,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.spring".into(),
                    version: "2.1.0".into(),
                    ..Default::default()
                }),
                spans: vec![root, child],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
        }],
    }
}

async fn post(
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    post_to(&format!("{url}/v1/traces"), content_type, encoding, body).await
}

async fn post_to(
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().post(url).header("content-type", content_type).body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn check_rich_trace(trace: &serde_json::Value) {
    assert_eq!(trace["trace_id"], hex(&TRACE_ID));
    assert_eq!(trace["root_name"], "operation 1");
    assert_eq!(trace["services"], json!(["checkout"]));
    let root = &trace["spans"][0];
    assert_eq!(root["span_id"], "0000000000001001");
    assert_eq!(root["parent_span_id"], serde_json::Value::Null);
    assert_eq!(root["kind"], "SERVER");
    assert_eq!(root["status"], "ERROR");
    assert_eq!(root["status_message"], "upstream failed");
    assert_eq!(root["start_time"], "2023-11-14T22:13:20.001Z");
    assert_eq!(root["start_time_unix_nano"], "1700000000001000000");
    assert_eq!(root["duration_ms"], 123.456789);
    assert_eq!(root["trace_state"], "rojo=00f067aa0ba902b7");
    assert_eq!(root["flags"], 0x301);
    assert_eq!(
        root["attributes"],
        json!({"http.request.method": "POST", "http.response.status_code": 503, "big.int": 9_007_199_254_740_993i64,
               "ratio": 0.25, "retried": true, "raw": {"$bytes": "3q2+7w=="}, "tags": ["a", 2], "nested": {"inner": 1.0}})
    );
    assert_eq!(root["dropped_attributes_count"], 2);
    assert_eq!(root["resource"], json!({"service.name": "checkout", "service.version": "1.2.3"}));
    assert_eq!(root["resource_dropped_attributes_count"], 1);
    assert_eq!(root["resource_schema_url"], "https://opentelemetry.io/schemas/1.24.0");
    assert_eq!(root["scope"]["name"], "io.opentelemetry.spring");
    assert_eq!(root["scope"]["version"], "2.1.0");
    assert_eq!(root["scope"]["schema_url"], "https://opentelemetry.io/schemas/1.26.0");
    assert_eq!(root["events"][0]["name"], "exception");
    assert_eq!(root["events"][0]["time_unix_nano"], "1700000000100000000");
    assert_eq!(root["events"][0]["attributes"]["exception.type"], "java.sql.SQLTransientConnectionException");
    assert_eq!(root["events"][0]["dropped_attributes_count"], 1);
    assert_eq!(root["dropped_events_count"], 3);
    assert_eq!(root["links"][0]["trace_id"], "07070707070707070707070707070707");
    assert_eq!(root["links"][0]["span_id"], "0808080808080808");
    assert_eq!(root["links"][0]["trace_state"], "congo=t61rcWkgMzE");
    assert_eq!(root["links"][0]["flags"], 1);
    assert_eq!(root["links"][0]["attributes"], json!({"link.reason": "batch"}));
    assert_eq!(root["dropped_links_count"], 4);
    let child = &trace["spans"][1];
    assert_eq!(child["parent_span_id"], "0000000000001001");
    assert_eq!(child["kind"], "CLIENT");
    assert_eq!(child["status"], "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_gzip_json_and_grpc_all_store_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let trace_url = format!("{}/api/v1/traces/{}", server.api, hex(&TRACE_ID));
    let request = rich_request();

    // HTTP protobuf.
    let (status, headers, body) =
        post(&server.otlp_http, "application/x-protobuf", None, request.encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None);
    let (status, trace) = get_json(&trace_url).await;
    assert_eq!(status, 200);
    check_rich_trace(&trace);

    // The same spans again, gzip-compressed, then over gRPC with gzip: retries store nothing twice.
    let (status, _, _) =
        post(&server.otlp_http, "application/x-protobuf", Some("gzip"), gzip(&request.encode_to_vec())).await;
    assert_eq!(status, 200);
    let mut grpc = TraceServiceClient::connect(server.otlp_grpc.clone())
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let response = grpc.export(request.clone()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    let (_, trace) = get_json(&trace_url).await;
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2, "retries are idempotent");
    check_rich_trace(&trace);

    // OTLP/JSON: hex ids, int64 as strings and as numbers, enums as integers.
    let json_body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "parentSpanId": "",
            "name": "GET /json", "kind": 2, "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000u64,
            "attributes": [{"key": "http.response.status_code", "value": {"intValue": "404"}},
                           {"key": "n", "value": {"intValue": 7}},
                           {"key": "d", "value": {"doubleValue": 2.5}}],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "log", "attributes": [{"key": "message", "value": {"stringValue": "not found"}}]}],
            "status": {"code": 2, "message": "Not Found"}
        }]}]
    }]});
    let (status, headers, body) =
        post(&server.otlp_http, "application/json", None, serde_json::to_vec(&json_body).unwrap()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/json");
    let (_, trace) = get_json(&format!("{}/api/v1/traces/5b8efff798038103d269b633813fc60c", server.api)).await;
    let span = &trace["spans"][0];
    assert_eq!(span["name"], "GET /json");
    assert_eq!(span["kind"], "SERVER");
    assert_eq!(span["service"], "json-svc");
    assert_eq!(span["attributes"], json!({"http.response.status_code": 404, "n": 7, "d": 2.5}));
    assert_eq!(span["duration_ms"], 1000.0);
    assert_eq!(span["status"], "ERROR");
    assert_eq!(span["events"][0]["attributes"]["message"], "not found");

    let (status, services) = get_json(&format!("{}/api/v1/services", server.api)).await;
    assert_eq!(status, 200);
    assert_eq!(services["services"], json!(["checkout", "json-svc"]));
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["healthy"], true);
    assert_eq!(health["total_spans"], 3);
    assert_eq!(health["total_traces"], 2);
    assert_eq!(health["storage"], "sqlite");
    let metrics = reqwest::get(format!("{}/metrics", server.api)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("semtrace_pipeline_spans_stored_total"), "{metrics}");
    assert!(metrics.contains("semtrace_receiver_spans_accepted_total"), "{metrics}");
    server.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.limits.max_body_bytes = 1024 * 1024;
        config.limits.max_decompressed_bytes = 4 * 1024 * 1024;
        config.limits.max_spans_per_request = 100;
    })
    .await;
    let http = &server.otlp_http;

    // Undecodable bodies.
    let (status, _, body) = post(http, "application/x-protobuf", None, b"\xff\xff\xff garbage".to_vec()).await;
    assert_eq!(status, 400);
    let rpc_status = String::from_utf8_lossy(&body);
    assert!(rpc_status.contains("not a valid OTLP ExportTraceServiceRequest protobuf"), "{rpc_status}");
    let (status, _, body) = post(http, "application/json", None, b"{\"resourceSpans\": 12}".to_vec()).await;
    assert_eq!(status, 400);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], 3);
    assert!(error["message"].as_str().unwrap().contains("not a valid OTLP/JSON"), "{error}");
    let (status, _, _) = post(http, "application/x-protobuf", Some("gzip"), b"not gzip at all".to_vec()).await;
    assert_eq!(status, 400);

    // Unsupported content type and encoding.
    let (status, _, body) = post(http, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("application/x-protobuf"));
    let (status, _, _) = post(http, "application/x-protobuf", Some("br"), rich_request().encode_to_vec()).await;
    assert_eq!(status, 415);

    // Invalid spans are rejected one by one; the rest of the request is stored.
    let mut request = rich_request();
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans.push(Span { trace_id: vec![1; 3], ..span(3, None) });
    spans.push(Span { end_time_unix_nano: 5, ..span(4, None) });
    spans.push(Span { name: String::new(), ..span(5, None) });
    let (status, _, body) = post(http, "application/x-protobuf", None, request.encode_to_vec()).await;
    assert_eq!(status, 200);
    let partial =
        ExportTraceServiceResponse::decode(body.as_slice()).unwrap().partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 3);
    assert!(partial.error_message.contains("trace id must be 16 bytes, got 3"), "{}", partial.error_message);
    assert!(partial.error_message.contains("before start time"), "{}", partial.error_message);
    assert!(partial.error_message.contains("name must not be empty"), "{}", partial.error_message);
    let (_, trace) = get_json(&format!("{}/api/v1/traces/{}", server.api, hex(&TRACE_ID))).await;
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2, "the two valid spans are stored");
    let mut grpc = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    let partial =
        grpc.export(request.clone()).await.unwrap().into_inner().partial_success.expect("gRPC partial success");
    assert_eq!(partial.rejected_spans, 3);

    // Too large: as sent, and after inflation (a gzip bomb is refused without inflating it all).
    let big = vec![b'x'; 2 * 1024 * 1024];
    let (status, _, body) = post(http, "application/x-protobuf", None, big).await;
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&body).contains("larger than the limit"));
    let bomb = gzip(&vec![0u8; 512 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024, "the bomb is small: {} bytes", bomb.len());
    let sent = Instant::now();
    let (status, _, body) = post(http, "application/x-protobuf", Some("gzip"), bomb).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("inflates past the limit"));
    assert!(sent.elapsed() < Duration::from_secs(5), "refused without inflating 512 MiB");
    let mut many = rich_request();
    many.resource_spans[0].scope_spans[0].spans = (0..101).map(|n| span(n as u8, None)).collect();
    let (status, _, _) = post(http, "application/x-protobuf", None, many.encode_to_vec()).await;
    assert_eq!(status, 413);
    let err = grpc.export(many).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    // gRPC with gzip: a small compressed message that inflates past the limit is refused.
    let mut inflating = rich_request();
    inflating.resource_spans[0].scope_spans[0].spans[0].attributes.push(kv("padding", string(&"a".repeat(8 << 20))));
    let mut gzip_client = grpc.clone().send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let sent = Instant::now();
    let err = gzip_client.export(inflating).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(sent.elapsed() < Duration::from_secs(5));

    // The API refuses malformed ids and reports unknown ones.
    let (status, body) = get_json(&format!("{}/api/v1/traces/not-hex", server.api)).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("32 hex digits"), "{body}");
    let (status, _) = get_json(&format!("{}/api/v1/traces/{}", server.api, "1".repeat(32))).await;
    assert_eq!(status, 404);

    // The server is still up and healthy after all that.
    let (status, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(status, 200);
    assert_eq!(health["total_spans"], 2);
    server.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let (status, _, _) = post(&server.otlp_http, "application/x-protobuf", None, rich_request().encode_to_vec()).await;
    assert_eq!(status, 200);
    server.server.shutdown().await.unwrap();

    // Restarted with smaller page caches: health shows what they may hold.
    let server = start_server(dir.path(), |config| {
        config.sqlite.writer_cache_mb = 32;
        config.sqlite.reader_cache_mb = 8;
    })
    .await;
    let (status, trace) = get_json(&format!("{}/api/v1/traces/{}", server.api, hex(&TRACE_ID))).await;
    assert_eq!(status, 200);
    check_rich_trace(&trace);
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!((health["total_spans"].as_u64(), health["total_traces"].as_u64()), (Some(2), Some(1)));
    let caches = &health["caches"];
    assert_eq!(caches["sqlite_writer_page_cache"], 32 << 20, "{health}");
    assert_eq!(caches["sqlite_reader_page_caches"], 8 * (8 << 20), "at most eight readers: {health}");
    server.server.shutdown().await.unwrap();
}

/// `POST /v1/logs` (OTLP/JSON, gzip) and `LogsService/Export` (gRPC): valid records stored,
/// invalid ones reported in partial success, the rest kept; found by error search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_over_http_json_and_grpc_are_stored_and_bad_ones_reported() {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-logs"}}]},
        "scopeLogs": [{"scope": {"name": "app.logger"}, "logRecords": [
            {"timeUnixNano": "1700000000000000000", "severityNumber": 17, "severityText": "ERROR",
             "body": {"stringValue": "[getThing][Get Thing Failed][thingListResult is null]"},
             "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
             "attributes": [{"key": "code.function", "value": {"stringValue": "getThing"}}]},
            {"timeUnixNano": "1700000000000000001", "severityNumber": 13, "body": {"stringValue": "bad ids"},
             "traceId": "0af765"},
            {"observedTimeUnixNano": "1700000000000000002", "severityText": "WARN",
             "body": {"stringValue": "disk quota exceeded on /var/lib/things"}}
        ]}]
    }]});
    let url = format!("{}/v1/logs", server.otlp_http);
    let (status, _, answer) = post_to(&url, "application/json", Some("gzip"), gzip(body.to_string().as_bytes())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], 1, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("1 log record(s) rejected") && message.contains("logRecords[1]"), "{message}");
    let (status, _, answer) = post_to(&url, "application/json", None, b"{\"resourceLogs\": 3}".to_vec()).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&answer).contains("ExportLogsServiceRequest"));

    let mut client = LogsServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", string("grpc-logs"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_005,
                    severity_number: 18,
                    body: Some(AnyValue { value: Some(string("payment provider refused the card")) }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    };
    let answer = client.export(request).await.unwrap().into_inner();
    assert!(answer.partial_success.is_none());

    // Records whose span is not stored are found by error search on their own.
    for (query, service, context) in [
        ("thingListResult", "json-logs", true),
        ("disk quota", "json-logs", false),
        ("payment refused", "grpc-logs", false),
    ] {
        let (status, found) =
            get_json(&format!("{}/api/v1/errors?q={}&service={service}", server.api, query.replace(' ', "+"))).await;
        assert_eq!(status, 200);
        let logs = found["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "{query}: {found}");
        assert_eq!(logs[0]["service"], service);
        assert_eq!(logs[0]["trace_id"].is_string(), context, "{query}: {found}");
    }
    server.server.shutdown().await.unwrap();
}

/// A gRPC message large enough to be converted on the blocking pool (as large HTTP bodies are
/// decoded there) is stored whole; an invalid span in it is reported, the rest kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_grpc_message_is_stored_whole_and_its_invalid_span_reported() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let mut generator =
        semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig { seed: 77, ..Default::default() });
    let (mut request, ids) = generator.request(200);
    assert!(request.encoded_len() > 256 * 1024, "{} bytes: not a large message", request.encoded_len());
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[0].span_id = vec![0; 8];
    let mut grpc = TraceServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
    let response = grpc.export(request).await.unwrap().into_inner();
    let partial = response.partial_success.expect("the invalid span is reported");
    assert_eq!(partial.rejected_spans, 1, "{}", partial.error_message);
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["total_spans"].as_u64(), Some(200 * common::SPANS_PER_TRACE - 1), "{health}");
    let (status, _) = get_json(&format!("{}/api/v1/traces/{}", server.api, hex(&ids[199]))).await;
    assert_eq!(status, 200);
}
