//! Similar traces and trace comparison end to end: multi-span traces sent over OTLP/HTTP JSON,
//! embedded by the real model, compared by failure, by latency and by shape, on both stores.

use std::collections::HashSet;

use crate::common::{get_json, send_json_spans, start_server, wait_searchable};
use semtrace_server::config::{Config, StorageKind};
use serde_json::{json, Value};

const BASE_NS: u64 = 1_763_900_000_000_000_000;

fn trace_id(n: u8) -> String {
    format!("{:032x}", 0xdef0_0000u128 + u128::from(n))
}

fn span_id(trace: u8, k: u8) -> String {
    format!("{:016x}", u64::from(trace) * 0x100 + u64::from(k))
}

fn attr(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// What one span of a test trace says.
struct S<'a> {
    k: u8,
    parent: Option<u8>,
    service: &'a str,
    name: &'a str,
    kind: u8,
    offset_ms: u64,
    duration_ms: u64,
    status: (u8, &'a str),
    attributes: Value,
    events: Value,
}

fn spans(trace: u8, spans: Vec<S<'_>>) -> Vec<Value> {
    let start = BASE_NS + u64::from(trace) * 10_000_000_000;
    spans
        .into_iter()
        .map(|s| {
            let begin = start + s.offset_ms * 1_000_000;
            json!({
                "resource": { "attributes": [attr("service.name", s.service)] },
                "scopeSpans": [{ "spans": [{
                    "traceId": trace_id(trace),
                    "spanId": span_id(trace, s.k),
                    "parentSpanId": s.parent.map(|p| span_id(trace, p)).unwrap_or_default(),
                    "name": s.name,
                    "kind": s.kind,
                    "startTimeUnixNano": begin.to_string(),
                    "endTimeUnixNano": (begin + s.duration_ms * 1_000_000).to_string(),
                    "status": { "code": s.status.0, "message": s.status.1 },
                    "attributes": s.attributes,
                    "events": s.events,
                }]}]
            })
        })
        .collect()
}

fn exception(kind: &str, message: &str) -> Value {
    json!([{ "name": "exception", "timeUnixNano": BASE_NS.to_string(),
             "attributes": [attr("exception.type", kind), attr("exception.message", message)] }])
}

/// How a checkout's database call and payment call end.
struct Checkout<'a> {
    db_ms: u64,
    db_status: (u8, &'a str),
    db_events: Value,
    pay_status: (u8, &'a str),
    pay_events: Value,
}

impl Default for Checkout<'_> {
    fn default() -> Self {
        Checkout { db_ms: 5, db_status: (0, ""), db_events: json!([]), pay_status: (0, ""), pay_events: json!([]) }
    }
}

/// POST /checkout at the gateway, an orders SELECT, a payments charge.
fn checkout(trace: u8, how: Checkout<'_>) -> Vec<Value> {
    let failed = how.db_status.0 == 2 || how.pay_status.0 == 2;
    spans(
        trace,
        vec![
            S {
                k: 1,
                parent: None,
                service: "web-gateway",
                name: "POST /checkout",
                kind: 2,
                offset_ms: 0,
                duration_ms: how.db_ms + 40,
                status: if failed { (2, "") } else { (0, "") },
                attributes: json!([attr("http.request.method", "POST"), attr("http.route", "/checkout")]),
                events: json!([]),
            },
            S {
                k: 2,
                parent: Some(1),
                service: "orders",
                name: "SELECT orders",
                kind: 3,
                offset_ms: 1,
                duration_ms: how.db_ms,
                status: how.db_status,
                attributes: json!([
                    attr("db.system", "postgresql"),
                    attr("db.statement", "SELECT * FROM orders WHERE id = $1")
                ]),
                events: how.db_events,
            },
            S {
                k: 3,
                parent: Some(1),
                service: "payments",
                name: "charge",
                kind: 3,
                offset_ms: how.db_ms + 2,
                duration_ms: 30,
                status: how.pay_status,
                attributes: json!([attr("rpc.system", "grpc"), attr("rpc.service", "Payments")]),
                events: how.pay_events,
            },
        ],
    )
}

/// GET /orders/{id} at the gateway, then the same orders SELECT.
fn order_page(trace: u8, db_ms: u64, db_status: (u8, &str)) -> Vec<Value> {
    page(trace, ("GET", "/orders/{id}"), ("orders", "SELECT orders"), db_ms, db_status)
}

/// A route at the gateway, then one database call of a service.
fn page(
    trace: u8,
    (method, route): (&str, &str),
    (service, name): (&str, &str),
    db_ms: u64,
    db_status: (u8, &str),
) -> Vec<Value> {
    let root = format!("{method} {route}");
    spans(
        trace,
        vec![
            S {
                k: 1,
                parent: None,
                service: "web-gateway",
                name: &root,
                kind: 2,
                offset_ms: 0,
                duration_ms: db_ms + 10,
                status: if db_status.0 == 2 { (2, "") } else { (0, "") },
                attributes: json!([attr("http.request.method", method), attr("http.route", route)]),
                events: json!([]),
            },
            S {
                k: 2,
                parent: Some(1),
                service,
                name,
                kind: 3,
                offset_ms: 1,
                duration_ms: db_ms,
                status: db_status,
                attributes: json!([
                    attr("db.system", "postgresql"),
                    attr("db.statement", &format!("{name} WHERE id = $1"))
                ]),
                events: json!([]),
            },
        ],
    )
}

// Traces by number: what each is.
const DB_TIMEOUT_GO: u8 = 1;
const DB_TIMEOUT_JAVA: u8 = 2;
const DB_TIMEOUT_PY: u8 = 3;
const DB_TIMEOUT_OTHER_ROUTE: u8 = 4;
const DECLINED_1: u8 = 5;
const DECLINED_2: u8 = 6;
const SLOW_DB_1: u8 = 7;
const SLOW_DB_2: u8 = 8;
const DB_TIMEOUT_ELSEWHERE: u8 = 9;
const DB_TIMEOUT_GO_2: u8 = 16;
const DEADLOCK: u8 = 30;
const HEALTHY: u8 = 10; // 10..=15
const HEALTHY_PAGE: u8 = 20; // 20..=22

fn corpus() -> Vec<Value> {
    let declined = || Checkout {
        pay_status: (2, "card declined"),
        pay_events: exception("CardDeclinedError", "Your card was declined: insufficient funds."),
        ..Default::default()
    };
    let mut all = Vec::new();
    all.extend(checkout(
        DB_TIMEOUT_GO,
        Checkout { db_ms: 30, db_status: (2, "dial tcp 10.2.3.4:5432: i/o timeout"), ..Default::default() },
    ));
    all.extend(checkout(
        DB_TIMEOUT_JAVA,
        Checkout {
            db_ms: 30,
            db_status: (2, ""),
            db_events: exception(
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            ),
            ..Default::default()
        },
    ));
    all.extend(checkout(
        DB_TIMEOUT_PY,
        Checkout {
            db_ms: 30,
            db_status: (2, ""),
            db_events: exception(
                "psycopg2.OperationalError",
                "could not connect to server: Connection timed out. Is the server running on host \"orders-db\" and accepting TCP/IP connections on port 5432?",
            ),
            ..Default::default()
        },
    ));
    all.extend(order_page(DB_TIMEOUT_OTHER_ROUTE, 30, (2, "dial tcp 10.2.3.9:5432: i/o timeout")));
    all.extend(checkout(
        DB_TIMEOUT_GO_2,
        Checkout { db_ms: 30, db_status: (2, "dial tcp 10.2.3.5:5432: i/o timeout"), ..Default::default() },
    ));
    // The same Go timeout in another service and operation, on another route; a deadlock on the
    // checkout's own database call.
    all.extend(page(
        DB_TIMEOUT_ELSEWHERE,
        ("POST", "/restock"),
        ("inventory", "UPDATE stock"),
        30,
        (2, "dial tcp 10.7.0.12:5432: i/o timeout"),
    ));
    all.extend(checkout(
        DEADLOCK,
        Checkout {
            db_ms: 30,
            db_status: (2, ""),
            db_events: exception("org.postgresql.util.PSQLException", "ERROR: deadlock detected"),
            ..Default::default()
        },
    ));
    all.extend(checkout(DECLINED_1, declined()));
    all.extend(checkout(DECLINED_2, declined()));
    all.extend(checkout(SLOW_DB_1, Checkout { db_ms: 2400, ..Default::default() }));
    all.extend(checkout(SLOW_DB_2, Checkout { db_ms: 2100, ..Default::default() }));
    for n in HEALTHY..=HEALTHY + 5 {
        all.extend(checkout(n, Checkout::default()));
    }
    for n in HEALTHY_PAGE..=HEALTHY_PAGE + 2 {
        all.extend(order_page(n, 4, (0, "")));
    }
    all
}

fn traces_of(body: &Value) -> Vec<String> {
    body["results"].as_array().unwrap().iter().map(|result| result["trace_id"].as_str().unwrap().to_owned()).collect()
}

fn ids(numbers: impl IntoIterator<Item = u8>) -> HashSet<String> {
    numbers.into_iter().map(trace_id).collect()
}

async fn similar_traces(configure: impl Fn(&mut Config)) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &configure).await;
    let api = server.api.clone();
    let corpus = corpus();
    let spans = corpus.len();
    send_json_spans(&server.otlp_http, corpus).await;
    wait_searchable(&api, spans as u64).await;
    let similar = |n: u8, extra: &str| {
        let url = format!("{api}/api/v1/traces/{}/similar?limit=8{extra}", trace_id(n));
        async move {
            let (status, body) = get_json(&url).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };

    // By failure: the same database timeout, told by Go, Java and Python, on this route and
    // another, before the same route failing otherwise.
    let found = similar(DB_TIMEOUT_GO, "").await;
    assert_eq!(found["by"], "failure", "{found:#}");
    assert_eq!(found["telling"][0]["name"], "SELECT orders", "{found:#}");
    let ranked = traces_of(&found);
    let top: HashSet<String> = ranked.iter().take(5).cloned().collect();
    let timeouts = [DB_TIMEOUT_GO_2, DB_TIMEOUT_JAVA, DB_TIMEOUT_PY, DB_TIMEOUT_OTHER_ROUTE, DB_TIMEOUT_ELSEWHERE];
    assert_eq!(top, ids(timeouts), "{found:#}");
    // The failure, not who failed: the same timeout elsewhere before another failure here; the
    // same route only breaks ties.
    let at = |n: u8| ranked.iter().position(|trace| *trace == trace_id(n)).unwrap_or(usize::MAX);
    assert!(at(DB_TIMEOUT_ELSEWHERE) < at(DEADLOCK), "{found:#}");
    assert_eq!(at(DB_TIMEOUT_GO_2), 0, "{found:#}");
    assert!(at(DB_TIMEOUT_OTHER_ROUTE) < at(DB_TIMEOUT_JAVA), "the same words first: {found:#}");
    assert!(traces_of(&found).iter().all(|trace| !ids(HEALTHY..=HEALTHY + 5).contains(trace)), "{found:#}");
    let results = found["results"].as_array().unwrap();
    let java = results.iter().find(|result| result["trace_id"] == trace_id(DB_TIMEOUT_JAVA)).unwrap();
    assert_eq!(java["reason"]["shared"]["kind"], "failure");
    assert_eq!(java["reason"]["shared"]["given"], "orders: SELECT orders");
    assert_eq!(java["reason"]["same_route"], "web-gateway: POST /checkout");
    assert_eq!(java["failed"], true);
    let other_route = results.iter().find(|result| result["trace_id"] == trace_id(DB_TIMEOUT_OTHER_ROUTE)).unwrap();
    assert!(other_route["reason"]["same_route"].is_null(), "{other_route:#}");
    assert_eq!(other_route["reason"]["only_in_given"], json!(["payments: charge", "web-gateway: POST /checkout"]));
    assert_eq!(other_route["reason"]["only_in_this"], json!(["web-gateway: GET /orders/{id}"]));

    // The card declined finds the other, not the database timeouts on its route.
    let found = similar(DECLINED_1, "").await;
    assert_eq!(traces_of(&found).first(), Some(&trace_id(DECLINED_2)), "{found:#}");

    // By latency: the other checkout whose database call was slow for that operation.
    let found = similar(SLOW_DB_1, "").await;
    assert_eq!(found["by"], "latency", "{found:#}");
    assert_eq!(traces_of(&found).first(), Some(&trace_id(SLOW_DB_2)), "{found:#}");
    let shared = &found["results"][0]["reason"]["shared"];
    assert_eq!(shared["kind"], "slow");
    assert!(shared["given_times_typical"].as_f64().unwrap() >= 3.0, "{shared}");
    assert!(shared["this_times_typical"].as_f64().unwrap() >= 3.0, "{shared}");

    // By shape: a healthy checkout finds healthy checkouts; asked by failure, it says why not.
    let found = similar(HEALTHY, "").await;
    assert_eq!(found["by"], "shape", "{found:#}");
    let first: HashSet<String> = traces_of(&found).into_iter().take(4).collect();
    assert!(first.is_subset(&ids(HEALTHY..=HEALTHY + 5)), "{found:#}");
    let found = similar(HEALTHY, "&by=failure").await;
    assert!(found["results"].as_array().unwrap().is_empty() && found["note"].is_string(), "{found:#}");

    // Filters narrow the span a trace is found through.
    let found = similar(DB_TIMEOUT_GO, "&service=nope").await;
    assert!(traces_of(&found).is_empty(), "{found:#}");

    // Two traces compared: matched by place and template, the failed call told apart.
    let url = format!("{api}/api/v1/traces/{}/compare/{}", trace_id(HEALTHY), trace_id(DB_TIMEOUT_JAVA));
    let (status, compared) = get_json(&url).await;
    assert_eq!(status, 200, "{compared}");
    let matched = compared["matched"].as_array().unwrap();
    assert_eq!(matched.len(), 3, "{compared:#}");
    let db = matched.iter().find(|pair| pair["a"]["name"] == "SELECT orders").unwrap();
    assert_eq!((db["same_template"].as_bool(), db["b"]["failed"].as_bool()), (Some(false), Some(true)), "{db}");
    assert!((db["duration_diff_ms"].as_f64().unwrap() - 25.0).abs() < 0.01, "{db}");
    let pay = matched.iter().find(|pair| pair["a"]["name"] == "charge").unwrap();
    assert_eq!(pay["same_template"], true, "{pay}");
    let url = format!("{api}/api/v1/traces/{}/compare/{}", trace_id(HEALTHY), trace_id(HEALTHY_PAGE));
    let (_, compared) = get_json(&url).await;
    assert_eq!(compared["matched"].as_array().unwrap().len(), 0, "different roots, different paths: {compared:#}");
    assert_eq!(compared["only_in_a"].as_array().unwrap().len(), 3);
    assert_eq!(compared["only_in_b"].as_array().unwrap().len(), 2);

    for (path, status) in [
        (format!("/api/v1/traces/{}/similar?by=vibes", trace_id(1)), 400),
        (format!("/api/v1/traces/{}/similar?limit=0", trace_id(1)), 400),
        ("/api/v1/traces/00000000000000000000000000000bad/similar".to_owned(), 404),
        (format!("/api/v1/traces/{}/compare/00000000000000000000000000000bad", trace_id(1)), 404),
        (format!("/api/v1/traces/{}/compare/nothex", trace_id(1)), 400),
    ] {
        let (got, body) = get_json(&format!("{api}{path}")).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    server.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_traces_share_the_failure_the_slowness_or_the_shape() {
    similar_traces(|_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_traces_answer_alike_on_postgres() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    similar_traces(move |config| {
        config.storage = StorageKind::Postgres;
        config.otel_storage.connection_string = url.clone();
    })
    .await;
}
