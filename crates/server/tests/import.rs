//! `semtrace import` end to end: files of every kind (Jaeger JSON gzip-compressed, OTLP JSON
//! lines zstd-compressed, the Collector's length-prefixed OTLP protobuf) imported into a server
//! by the binary, read back through the Jaeger API field by field; a span that cannot be stored
//! reported and the exit status non-zero; importing again adds nothing.

use crate::common;

use std::io::Write;

use crate::common::{get_json, start_server};
use prost::Message;
use serde_json::{json, Value};

fn tag(key: &str, kind: &str, value: Value) -> Value {
    json!({"key": key, "type": kind, "value": value})
}

/// A Jaeger trace as Jaeger's query API answers it, with the shapes real exports have: short
/// ids, an int64 past 2^53 as a string, a bool as a string, binary, nulls, logs with an `event`
/// field, a FOLLOWS_FROM, and one span without an id (refused).
fn jaeger_file() -> Value {
    json!({"data": [{
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spans": [
            {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "a3ce929d0e0e4736", "operationName": "GET /orders/{id}",
             "references": [], "flags": 1, "startTime": 1_706_678_909_209_712u64, "duration": 48_000,
             "tags": [tag("span.kind", "string", json!("server")), tag("http.method", "string", json!("GET")),
                      tag("http.status_code", "int64", json!(500)), tag("otel.status_code", "string", json!("ERROR")),
                      tag("otel.status_description", "string", json!("order lookup failed"))],
             "logs": [{"timestamp": 1_706_678_909_250_000u64, "fields": [
                 tag("event", "string", json!("exception")),
                 tag("exception.type", "string", json!("java.sql.SQLTransientConnectionException")),
                 tag("exception.message", "string", json!("HikariPool-1 - Connection is not available, request timed out after 30000ms."))]}],
             "processID": "p1", "warnings": null},
            {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "b7ad6b7169203331", "operationName": "SELECT orders",
             "references": [{"refType": "CHILD_OF", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "a3ce929d0e0e4736"}],
             "startTime": 1_706_678_909_210_000u64, "duration": 30_100,
             "tags": [tag("span.kind", "string", json!("client")), tag("db.system", "string", json!("postgresql")),
                      tag("big", "int64", json!("9223372036854775222")), tag("cached", "bool", json!("false")),
                      tag("blob", "binary", json!("AAAwOQ==")), tag("ratio", "float64", json!(0.25))],
             "logs": null, "processID": "p2"},
            {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "c1", "operationName": "audit",
             "references": [{"refType": "FOLLOWS_FROM", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "a3ce929d0e0e4736"}],
             "startTime": 1_706_678_909_260_000u64, "duration": 1_000, "tags": null, "processID": "p1"},
            {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "", "operationName": "no id",
             "startTime": 1_706_678_909_260_000u64, "duration": 1, "processID": "p1"}
        ],
        "processes": {
            "p1": {"serviceName": "orders", "tags": [tag("hostname", "string", json!("orders-7d9f"))]},
            "p2": {"serviceName": "orders-db-client", "tags": []}
        }
    }], "total": 0, "limit": 0, "offset": 0, "errors": null})
}

fn otlp_line(trace: &str, span: &str, name: &str) -> String {
    json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
        "scopeSpans": [{"scope": {"name": "billing.tracer"}, "spans": [{"traceId": trace, "spanId": span, "name": name, "kind": 2,
            "startTimeUnixNano": "1706678909000000000", "endTimeUnixNano": "1706678909005000000",
            "attributes": [{"key": "invoice.id", "value": {"intValue": "42"}}], "status": {}}]}]}]})
    .to_string()
}

fn import(otlp_http: &str, files: &[&std::path::Path], extra: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
        .arg("import")
        .args(["--otlp-endpoint", otlp_http])
        .args(extra)
        .args(files)
        .output()
        .expect("semtrace import runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_kind_import_and_read_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), |_| {}).await;

    // Jaeger JSON, gzip-compressed.
    let jaeger = dir.path().join("orders.json.gz");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(jaeger_file().to_string().as_bytes()).unwrap();
    std::fs::write(&jaeger, gzip.finish().unwrap()).unwrap();
    // OTLP JSON lines (the Collector's file exporter), zstd-compressed.
    let lines = format!(
        "{}\n{}\n",
        otlp_line("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "charge"),
        otlp_line("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b175", "refund")
    );
    let otlp_lines = dir.path().join("billing.jsonl.zst");
    std::fs::write(
        &otlp_lines,
        ruzstd::encoding::compress_to_vec(lines.as_bytes(), ruzstd::encoding::CompressionLevel::Fastest),
    )
    .unwrap();
    // OTLP protobuf as the file exporter writes it: each request after its 4-byte length.
    let request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_str(&otlp_line("6c9f0000000000000000000000000001", "0000000000000001", "ship")).unwrap();
    let bytes = request.encode_to_vec();
    let mut stream = (bytes.len() as u32).to_be_bytes().to_vec();
    stream.extend_from_slice(&bytes);
    let protobuf = dir.path().join("shipping.pb");
    std::fs::write(&protobuf, stream).unwrap();

    let files = [jaeger.as_path(), otlp_lines.as_path(), protobuf.as_path()];
    let (ok, output) = import(&server.otlp_http, &files, &["--batch-spans", "2"]);
    assert!(!ok, "a refused span fails the import unless allowed:\n{output}");
    assert!(output.contains("imported 6 spans from 3 file(s)"), "{output}");
    assert!(output.contains("invalid spanID"), "the reason is told:\n{output}");
    assert!(output.contains("Jaeger JSON, gzip") && output.contains("OTLP JSON, zstd"), "{output}");
    let health = common::wait_searchable(&server.api, 6).await;
    assert_eq!(health["total_traces"], 3, "{health}");

    // Read back through the Jaeger API: what the file said, field by field.
    let (status, body) = get_json(&format!("{}/jaeger/api/traces/4bf92f3577b34da6a3ce929d0e0e4736", server.api)).await;
    assert_eq!(status, 200, "{body}");
    let trace = &body["data"][0];
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    let by_id = |id: &str| spans.iter().find(|span| span["spanID"] == id).unwrap_or_else(|| panic!("{id} in {trace}"));
    let tags = |span: &Value| -> Vec<(String, Value)> {
        span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].clone()))
            .collect()
    };
    let root = by_id("a3ce929d0e0e4736");
    assert_eq!(root["operationName"], "GET /orders/{id}");
    assert_eq!(root["startTime"], 1_706_678_909_209_712u64);
    assert_eq!(root["duration"], 48_000);
    let root_tags = tags(root);
    for expected in [
        ("span.kind", json!("server")),
        ("http.method", json!("GET")),
        ("http.status_code", json!(500)),
        ("otel.status_code", json!("ERROR")),
        ("error", json!(true)),
    ] {
        assert!(root_tags.contains(&(expected.0.to_owned(), expected.1.clone())), "{expected:?} in {root_tags:?}");
    }
    let log = &root["logs"][0];
    assert_eq!(log["timestamp"], 1_706_678_909_250_000u64);
    let fields: Vec<(String, Value)> = log["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap().to_owned(), f["value"].clone()))
        .collect();
    assert!(fields.contains(&("event".into(), json!("exception"))), "{fields:?}");
    assert!(fields
        .iter()
        .any(|(key, value)| key == "exception.message" && value.as_str().unwrap().contains("HikariPool-1")));
    let process = &trace["processes"][root["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], "orders");
    assert!(process["tags"].as_array().unwrap().iter().any(|t| t["key"] == "hostname" && t["value"] == "orders-7d9f"));

    let db = by_id("b7ad6b7169203331");
    assert_eq!(db["references"][0]["refType"], "CHILD_OF");
    assert_eq!(db["references"][0]["spanID"], "a3ce929d0e0e4736");
    let db_tags = tags(db);
    // An int64 past 2^53 goes out as a string, as Jaeger writes it.
    for expected in [
        ("big", json!("9223372036854775222")),
        ("cached", json!(false)),
        ("blob", json!("AAAwOQ==")),
        ("ratio", json!(0.25)),
        ("db.system", json!("postgresql")),
    ] {
        assert!(db_tags.contains(&(expected.0.to_owned(), expected.1.clone())), "{expected:?} in {db_tags:?}");
    }
    // A short id is padded; a span's only reference within its trace, a FOLLOWS_FROM, is its
    // parent, as Jaeger's model reads it (so the Jaeger API shows it back as CHILD_OF).
    let audit = by_id("00000000000000c1");
    assert_eq!(audit["references"][0]["spanID"], "a3ce929d0e0e4736", "{audit}");

    // The failure reads as the search's summary, whatever format it came in.
    let (_, found) =
        get_json(&format!("{}/api/v1/search?q=database+connection+pool+timeout&limit=1", server.api)).await;
    assert_eq!(found["results"][0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{found}");

    let (_, billing) = get_json(&format!("{}/api/v1/traces/5b8efff798038103d269b633813fc60c", server.api)).await;
    assert_eq!(billing["span_count"], 2, "{billing}");
    let (_, shipping) = get_json(&format!("{}/api/v1/traces/6c9f0000000000000000000000000001", server.api)).await;
    assert_eq!(shipping["spans"][0]["name"], "ship", "{shipping}");

    // Again: nothing is stored twice, and --allow-rejected exits 0.
    let (ok, output) = import(&server.otlp_http, &files, &["--allow-rejected", "--quiet"]);
    assert!(ok, "{output}");
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["total_spans"], 6, "a second import adds nothing: {health}");

    // A file that is not trace data says why, and where.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"data\": [{\"traceID\": \"ab\", \"spans\": [\n{\"spanID\": ").unwrap();
    let (ok, output) = import(&server.otlp_http, &[broken.as_path()], &[]);
    assert!(!ok && output.contains("not read to its end") && output.contains("line 2"), "{output}");
}

/// Jaeger's query API (semtrace serves the same one) and Tempo's (a stand-in serving its
/// documented answers): a time range read in windows, every trace once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_jaeger_and_tempo_are_read_over_a_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let source = start_server(&dir.path().join("source"), |_| {}).await;
    let target = start_server(&dir.path().join("target"), |_| {}).await;
    // 60 traces of two services, a second apart, around 2026-01-01T00:00:00Z.
    let base_ns: u64 = 1_767_225_600_000_000_000;
    let mut resource_spans = Vec::new();
    for trace in 0..60u64 {
        for (service, span) in [("front", 1u64), ("back", 2u64)] {
            let start = base_ns + trace * 1_000_000_000 + span * 1_000;
            resource_spans.push(json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": [{"traceId": format!("{:032x}", 0xabc000 + trace), "spanId": format!("{span:016x}"),
                    "parentSpanId": if span == 2 { "0000000000000001" } else { "" }, "name": format!("{service} op"), "kind": 2,
                    "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 5_000_000).to_string()}]}]}));
        }
    }
    common::send_json_spans(&source.otlp_http, resource_spans).await;
    common::wait_searchable(&source.api, 120).await;

    // Jaeger: every service, 7 traces a request (windows must shrink), a day back from 00:01.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
        .args(["import", "--otlp-endpoint", &target.otlp_http, "--jaeger-url", &source.api])
        .args(["--until", "2026-01-01T00:01:30Z", "--since", "1d", "--page-traces", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("imported 120 spans"), "every trace once, though both services list it:\n{text}");
    let health = common::wait_searchable(&target.api, 120).await;
    assert_eq!(health["total_traces"], 60);
    let (_, trace) = get_json(&format!("{}/api/v1/traces/{:032x}", target.api, 0xabc000 + 7)).await;
    assert_eq!(trace["span_count"], 2, "{trace}");

    // Tempo: search by time range in seconds, then each trace as protobuf.
    let stored: Vec<(u64, Vec<u8>)> = (0..60u64)
        .map(|trace| {
            let request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
                serde_json::from_value(json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "tempo-svc"}}]},
                    "scopeSpans": [{"spans": [{"traceId": format!("{:032x}", 0xdef000 + trace), "spanId": "0000000000000001", "name": "t",
                        "startTimeUnixNano": (base_ns + trace * 1_000_000_000).to_string(),
                        "endTimeUnixNano": (base_ns + trace * 1_000_000_000 + 1_000).to_string()}]}]}]}))
                .unwrap();
            (base_ns / 1_000_000_000 + trace, request.encode_to_vec())
        })
        .collect();
    let stored = std::sync::Arc::new(stored);
    let search = {
        let stored = stored.clone();
        move |axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>| {
            let stored = stored.clone();
            async move {
                let number = |key: &str| params.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap();
                let (start, end, limit) = (number("start"), number("end"), number("limit") as usize);
                let traces: Vec<Value> = stored
                    .iter()
                    .enumerate()
                    .filter(|(_, (second, _))| (start..=end).contains(second))
                    .take(limit)
                    .map(|(index, (second, _))| json!({"traceID": format!("{:x}", 0xdef000 + index as u64), "startTimeUnixNano": (second * 1_000_000_000).to_string()}))
                    .collect();
                axum::Json(json!({"traces": traces, "metrics": {}}))
            }
        }
    };
    let by_id = {
        let stored = stored.clone();
        move |axum::extract::Path(id): axum::extract::Path<String>| {
            let stored = stored.clone();
            async move {
                let index = u64::from_str_radix(&id, 16).unwrap() - 0xdef000;
                stored[index as usize].1.clone()
            }
        }
    };
    let app = axum::Router::new()
        .route("/api/search", axum::routing::get(search))
        .route("/api/traces/{id}", axum::routing::get(by_id));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tempo = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let otlp = target.otlp_http.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
            .args(["import", "--otlp-endpoint", &otlp, "--tempo-url", &tempo])
            .args(["--until", "2026-01-01T00:01:30Z", "--since", "2h", "--page-traces", "9"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("imported 60 spans"), "{text}");
    common::wait_searchable(&target.api, 180).await;
}

/// `semtrace export` of a search's traces and of a time range, in both formats, imported into
/// another server: the same traces come back, span for span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_import_back_the_same_traces() {
    let dir = tempfile::tempdir().unwrap();
    let source = start_server(&dir.path().join("source"), |_| {}).await;
    let jaeger = dir.path().join("orders.json");
    std::fs::write(&jaeger, jaeger_file().to_string()).unwrap();
    let (_, output) = import(&source.otlp_http, &[jaeger.as_path()], &["--allow-rejected"]);
    assert!(output.contains("imported 3 spans"), "{output}");
    common::wait_searchable(&source.api, 3).await;

    let export = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_semtrace"))
            .args(["export", "--server", &source.api])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let lines = dir.path().join("found.jsonl");
    let said = export(&["--query", "database connection pool timeout", "--limit", "5", "-o", lines.to_str().unwrap()]);
    assert!(said.contains("exported 1 traces (3 spans)"), "{said}");
    let jaeger_out = dir.path().join("range.json.gz");
    let said = export(&[
        "--format",
        "jaeger",
        "--since",
        "1h",
        "--until",
        "2024-01-31T05:30:00Z",
        "-o",
        jaeger_out.to_str().unwrap(),
    ]);
    assert!(said.contains("exported 1 traces (3 spans)"), "{said}");

    for file in [&lines, &jaeger_out] {
        let target = start_server(&dir.path().join(format!("{}.data", file.display()).replace('/', "_")), |_| {}).await;
        let (ok, output) = import(&target.otlp_http, &[file.as_path()], &[]);
        assert!(ok && output.contains("imported 3 spans"), "{output}");
        common::wait_searchable(&target.api, 3).await;
        let path = "/api/v3/traces/4bf92f3577b34da6a3ce929d0e0e4736";
        let (_, before) = get_json(&format!("{}{path}", source.api)).await;
        let (_, after) = get_json(&format!("{}{path}", target.api)).await;
        let spans = |body: &Value| {
            let mut spans: Vec<Value> = body["result"]["resourceSpans"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|resource| {
                    let resource_attributes = resource["resource"]["attributes"].clone();
                    resource["scopeSpans"].as_array().unwrap().iter().flat_map(move |scope| {
                        let (scope_name, resource_attributes) =
                            (scope["scope"]["name"].clone(), resource_attributes.clone());
                        scope["spans"].as_array().unwrap().iter().map(
                            move |span| json!({"span": span, "scope": scope_name, "resource": resource_attributes}),
                        )
                    })
                })
                .collect();
            spans.sort_by_key(|span| span["span"]["spanId"].as_str().unwrap().to_owned());
            spans
        };
        assert_eq!(spans(&after), spans(&before), "{} round trip", file.display());
    }
}
