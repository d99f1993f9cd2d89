//! The Jaeger-compatible API end to end: spans in over OTLP/HTTP JSON, read back through
//! `/jaeger/api/…` (Jaeger's UI model, as Grafana's Jaeger data source asks for it), the same
//! routes at `/api/…` (where Jaeger UI calls them) and `/api/v3/…` (OTLP JSON).

use crate::common::{send_json_spans, start_server};
use serde_json::{json, Value};

const START: u64 = 1_706_678_909_209_712_000;

fn attr(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

fn span(
    trace: &str,
    id: &str,
    parent: &str,
    name: &str,
    kind: u8,
    (offset_us, took_us): (u64, u64),
    attributes: Value,
) -> Value {
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
        "startTimeUnixNano": (START + offset_us * 1000).to_string(),
        "endTimeUnixNano": (START + (offset_us + took_us) * 1000).to_string(),
        "attributes": attributes, "status": {}
    })
}

/// Two traces: a checkout (frontend server span calling payments, which fails with a 500 and
/// a logged exception) and a health check.
fn traces() -> Vec<Value> {
    let checkout = "83a9efd15c1c98a977e0711cc93ee28b";
    let health = "0000000000000000000000000000abcd";
    // A span that came from Jaeger through OTLP: its warnings and reference types travel in
    // attributes, as Jaeger's translator writes them.
    let mut check = span(health, "00000000000000c1", "", "GET /health", 2, (3_000_000, 200), json!([]));
    check["attributes"] = json!([attr(
        "@jaeger@warnings",
        json!({ "arrayValue": { "values": [{ "stringValue": "clock skew adjusted" }] } })
    )]);
    check["links"] = json!([
        { "traceId": "000000000000000000000000000000ff", "spanId": "00000000000000ff",
          "attributes": [attr("opentracing.ref_type", json!({ "stringValue": "child_of" }))] },
        { "traceId": checkout, "spanId": "00000000000000a1" },
    ]);
    let mut charge = span(
        checkout,
        "00000000000000b2",
        "00000000000000a2",
        "POST /charge",
        2,
        (1_000, 1_500_000),
        json!([
            attr("http.response.status_code", json!({ "intValue": "500" })),
            attr("retry", json!({ "boolValue": true }))
        ]),
    );
    charge["status"] = json!({ "code": 2, "message": "card processor down" });
    charge["events"] = json!([{ "timeUnixNano": (START + 2_000_000).to_string(), "name": "exception",
        "attributes": [attr("exception.type", json!({ "stringValue": "ProcessorError" }))] }]);
    vec![
        json!({
            "resource": { "attributes": [attr("service.name", json!({ "stringValue": "frontend" })),
                                          attr("host.name", json!({ "stringValue": "web-1" }))] },
            "scopeSpans": [{ "scope": { "name": "shop", "version": "1.0" }, "spans": [
                span(checkout, "00000000000000a1", "", "GET /checkout", 2, (0, 2_000_000),
                     json!([attr("http.route", json!({ "stringValue": "/checkout" }))])),
                span(checkout, "00000000000000a2", "00000000000000a1", "POST", 3, (500, 1_600_000),
                     json!([attr("peer.service", json!({ "stringValue": "payments" }))])),
                check,
            ]}]
        }),
        json!({
            "resource": { "attributes": [attr("service.name", json!({ "stringValue": "payments" }))] },
            "scopeSpans": [{ "scope": { "name": "pay" }, "spans": [
                charge
            ]}]
        }),
    ]
}

async fn get(url: &str) -> (u16, String, Value) {
    let response = reqwest::get(url).await.unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {url} answered non-JSON ({err}): {text}"));
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_clients_read_traces_as_from_jaeger() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    send_json_spans(&server.otlp_http, traces()).await;
    let api = &server.api;
    let checkout = "83a9efd15c1c98a977e0711cc93ee28b";

    // Trace by id, in Jaeger's UI model, exactly.
    let (status, content_type, body) = get(&format!("{api}/jaeger/api/traces/{checkout}")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{body}");
    let trace = &body["data"][0];
    assert_eq!((body["total"].clone(), body["limit"].clone(), body["offset"].clone()), (json!(0), json!(0), json!(0)));
    assert_eq!(body["errors"], Value::Null);
    assert_eq!(trace["traceID"], checkout);
    assert_eq!(
        trace["processes"],
        json!({ "p1": { "serviceName": "frontend", "tags": [{ "key": "host.name", "type": "string", "value": "web-1" }] },
                "p2": { "serviceName": "payments", "tags": [] } })
    );
    let charge = trace["spans"].as_array().unwrap().iter().find(|span| span["spanID"] == "00000000000000b2").unwrap();
    assert_eq!(
        *charge,
        json!({
            "traceID": checkout, "spanID": "00000000000000b2", "operationName": "POST /charge",
            "references": [{ "refType": "CHILD_OF", "traceID": checkout, "spanID": "00000000000000a2" }],
            "startTime": 1_706_678_909_210_712u64, "duration": 1_500_000,
            "tags": [
                { "key": "otel.scope.name", "type": "string", "value": "pay" },
                { "key": "http.response.status_code", "type": "int64", "value": 500 },
                { "key": "retry", "type": "bool", "value": true },
                { "key": "span.kind", "type": "string", "value": "server" },
                { "key": "otel.status_code", "type": "string", "value": "ERROR" },
                { "key": "error", "type": "bool", "value": true },
                { "key": "otel.status_description", "type": "string", "value": "card processor down" },
            ],
            "logs": [{ "timestamp": 1_706_678_909_211_712u64, "fields": [
                { "key": "event", "type": "string", "value": "exception" },
                { "key": "exception.type", "type": "string", "value": "ProcessorError" },
            ]}],
            "processID": "p2", "warnings": null,
        })
    );
    // The same at the root (Jaeger UI), a 64-bit id written short, base64 accepted.
    let (status, _, short) = get(&format!("{api}/api/traces/000000000000abcd")).await;
    assert_eq!((status, short["data"][0]["traceID"].clone()), (200, json!("000000000000abcd")), "{short}");
    let check = &short["data"][0]["spans"][0];
    assert_eq!(check["warnings"], json!(["clock skew adjusted"]));
    let tags: Vec<&str> = check["tags"].as_array().unwrap().iter().map(|tag| tag["key"].as_str().unwrap()).collect();
    assert_eq!(tags, ["otel.scope.name", "otel.scope.version", "span.kind"], "warnings are not a tag");
    assert_eq!(
        check["references"],
        json!([{ "refType": "CHILD_OF", "traceID": "00000000000000ff", "spanID": "00000000000000ff" },
               { "refType": "FOLLOWS_FROM", "traceID": checkout, "spanID": "00000000000000a1" }])
    );
    let (status, _, _) = get(&format!("{api}/api/traces/g6nv0VwcmKl34HEcyT7iiw")).await;
    assert_eq!(status, 200, "base64 trace id");
    let (status, content_type, missing) = get(&format!("{api}/jaeger/api/traces/0123456789abcdef")).await;
    assert_eq!((status, content_type.as_str()), (404, "text/plain; charset=utf-8"));
    assert_eq!(
        missing,
        json!({ "data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{ "code": 404, "msg": "trace not found" }] })
    );

    // Services and operations.
    let (_, _, services) = get(&format!("{api}/jaeger/api/services")).await;
    assert_eq!((services["data"].clone(), services["total"].clone()), (json!(["frontend", "payments"]), json!(2)));
    let (_, _, operations) = get(&format!("{api}/jaeger/api/services/frontend/operations")).await;
    let mut names: Vec<String> = serde_json::from_value(operations["data"].clone()).unwrap();
    names.sort();
    assert_eq!(names, ["GET /checkout", "GET /health", "POST"]);
    let (_, _, none) = get(&format!("{api}/jaeger/api/services/nobody/operations")).await;
    assert_eq!((none["data"].clone(), none["total"].clone()), (Value::Null, json!(0)));
    let (_, _, servers) = get(&format!("{api}/jaeger/api/operations?service=frontend&spanKind=client")).await;
    assert_eq!(servers["data"], json!([{ "name": "POST", "spanKind": "client" }]));
    let (status, _, error) = get(&format!("{api}/jaeger/api/operations")).await;
    assert_eq!((status, error["errors"][0]["msg"].clone()), (400, json!("parameter 'service' is required")));

    // Search as Grafana's Jaeger data source sends it: tags as JSON, Go durations, µs times.
    let window = format!("start={}&end={}", START / 1000 - 1_000_000, START / 1000 + 60_000_000);
    let search = |params: &str| format!("{api}/jaeger/api/traces?{window}&lookback=custom&limit=20&{params}");
    let ids = |body: &Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|trace| trace["traceID"].as_str().unwrap().to_owned()).collect()
    };
    let (status, _, found) =
        get(&search("service=payments&tags=%7B%22http.response.status_code%22%3A%22500%22%7D")).await;
    assert_eq!((status, ids(&found)), (200, vec![checkout.to_owned()]), "{found}");
    let (_, _, found) = get(&search("service=frontend&minDuration=1.5s")).await;
    assert_eq!(ids(&found), [checkout]);
    let (_, _, found) = get(&search("service=frontend&maxDuration=1ms")).await;
    assert_eq!(ids(&found), ["000000000000abcd"]);
    let (_, _, found) = get(&search("service=frontend&operation=GET%20%2Fhealth")).await;
    assert_eq!(ids(&found), ["000000000000abcd"]);
    let (_, _, found) = get(&search("service=payments&tag=error:true&tag=otel.status_code:ERROR")).await;
    assert_eq!(ids(&found), [checkout]);
    let (_, _, found) = get(&search("service=frontend&tag=host.name:web-2")).await;
    assert!(ids(&found).is_empty(), "{found}");
    let (_, _, found) = get(&search("service=frontend")).await;
    assert_eq!(ids(&found), ["000000000000abcd", checkout], "newest first");
    let (status, _, error) = get(&search("")).await;
    assert_eq!((status, error["errors"][0]["msg"].clone()), (400, json!("parameter 'service' is required")));
    let (status, _, error) = get(&search("service=frontend&minDuration=2s&maxDuration=1s")).await;
    assert_eq!(status, 400, "{error}");
    let (status, _, error) = get(&search("service=frontend&tag=nocolon")).await;
    assert_eq!(status, 400, "{error}");
    // Trace ids given: the rest is ignored, each unknown id reported.
    let (status, _, by_id) =
        get(&format!("{api}/jaeger/api/traces?traceID={checkout}&traceID=00000000000000ff&service=nobody")).await;
    assert_eq!((status, ids(&by_id)), (200, vec![checkout.to_owned()]));
    assert_eq!(by_id["errors"], json!([{ "msg": "trace not found", "traceID": "00000000000000ff" }]));

    // Dependencies: frontend calls payments once.
    let end_ms = START / 1_000_000 + 60_000;
    let (_, _, dependencies) = get(&format!("{api}/jaeger/api/dependencies?endTs={end_ms}&lookback=3600000")).await;
    assert_eq!(dependencies["data"], json!([{ "parent": "frontend", "child": "payments", "callCount": 1 }]));
    let (_, _, earlier) =
        get(&format!("{api}/jaeger/api/dependencies?endTs={}&lookback=60000", end_ms - 3_600_000)).await;
    assert_eq!(earlier["data"], json!([]));

    // API v3: OTLP JSON.
    let (status, _, v3) = get(&format!("{api}/api/v3/traces/{checkout}")).await;
    assert_eq!(status, 200, "{v3}");
    let resource_spans = v3["result"]["resourceSpans"].as_array().unwrap();
    assert_eq!(resource_spans.len(), 2, "one per resource: {v3}");
    let charge = &resource_spans[1]["scopeSpans"][0]["spans"][0];
    assert_eq!(resource_spans[1]["scopeSpans"][0]["scope"], json!({ "name": "pay" }));
    assert_eq!(charge["kind"], 2);
    assert_eq!(charge["status"], json!({ "code": 2, "message": "card processor down" }));
    assert_eq!(charge["attributes"][0], json!({ "key": "http.response.status_code", "value": { "intValue": "500" } }));
    assert_eq!(charge["startTimeUnixNano"], json!((START + 1_000_000).to_string()));
    let (_, _, services) = get(&format!("{api}/api/v3/services")).await;
    assert_eq!(services, json!({ "services": ["frontend", "payments"] }));
    let (_, _, operations) = get(&format!("{api}/api/v3/operations?service=payments")).await;
    assert_eq!(operations, json!({ "operations": [{ "name": "POST /charge", "spanKind": "server" }] }));
    let range = "query.startTimeMin=2024-01-31T05:00:00Z&query.startTimeMax=2024-01-31T06:00:00.5Z";
    let (status, _, found) = get(&format!("{api}/api/v3/traces?query.serviceName=payments&{range}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"], checkout);
    let (status, _, found) = get(&format!(
        "{api}/api/v3/traces?query.service_name=payments&{}",
        range.replace("startTimeM", "start_time_m")
    ))
    .await;
    assert_eq!(status, 200, "snake_case parameters: {found}");
    let (status, _, summaries) = get(&format!("{api}/api/v3/trace-summaries?query.serviceName=payments&{range}")).await;
    assert_eq!(status, 200, "{summaries}");
    assert_eq!(
        summaries,
        json!({ "summaries": [{
            "traceId": checkout, "rootServiceName": "frontend", "rootOperationName": "GET /checkout",
            "minStartTimeUnixNano": START.to_string(), "maxEndTimeUnixNano": (START + 2_000_000_000).to_string(),
            "spanCount": 3, "errorSpanCount": 1,
            "services": [{ "name": "frontend", "spanCount": 2 }, { "name": "payments", "spanCount": 1, "errorSpanCount": 1 }],
        }]})
    );
    let (status, _, none) = get(&format!("{api}/api/v3/traces?query.serviceName=nobody&{range}")).await;
    assert_eq!((status, none), (404, json!({ "error": { "httpCode": 404, "message": "No traces found" } })));
    let (status, _, _) = get(&format!("{api}/api/v3/traces?query.serviceName=payments")).await;
    assert_eq!(status, 400, "the time range is required");
    server.server.shutdown().await.unwrap();
}

/// Jaeger's own answer for the Collector's OTLP → Jaeger fixture, when the shared fixtures are
/// beside the project (`../shared/fixtures`, or `SEMTRACE_JAEGER_FIXTURES`): every field of
/// every span read back matches Jaeger's (Jaeger keeps a span sent twice twice; semtrace once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otlp_to_jaeger_fixture_reads_back_as_jaeger_answers_it() {
    let root = std::env::var("SEMTRACE_JAEGER_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    let (input, expected) =
        (root.join("otlp/otlp2jaeger-in.json"), root.join("jaeger/jaeger-query__otlp2jaeger-out.json"));
    if !input.exists() || !expected.exists() {
        eprintln!("skipped: the Jaeger fixtures are not at {}", root.display());
        return;
    }
    let input: Value = serde_json::from_slice(&std::fs::read(input).unwrap()).unwrap();
    let expected: Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    send_json_spans(&server.otlp_http, input["resourceSpans"].as_array().unwrap().clone()).await;
    let trace_id = expected["data"][0]["traceID"].as_str().unwrap();
    let (status, _, body) = get(&format!("{}/jaeger/api/traces/{trace_id}", server.api)).await;
    assert_eq!(status, 200, "{body}");
    for key in ["total", "limit", "offset", "errors"] {
        assert_eq!(body[key], expected[key], "{key}");
    }
    let (ours, theirs) = (&body["data"][0], &expected["data"][0]);
    assert_eq!(ours["processes"], theirs["processes"]);
    assert_eq!(ours["warnings"], theirs["warnings"]);
    for span in theirs["spans"].as_array().unwrap() {
        let read = ours["spans"].as_array().unwrap().iter().find(|ours| ours["spanID"] == span["spanID"]);
        assert_eq!(read, Some(span), "span {}", span["spanID"]);
    }
    server.server.shutdown().await.unwrap();
}
