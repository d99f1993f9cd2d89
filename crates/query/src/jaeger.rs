//! Jaeger-compatible query API, so Jaeger UI and Grafana's Jaeger data source read semtrace
//! unchanged: the classic HTTP API (`/api/services`, `/api/traces`, … in Jaeger's UI model,
//! served under `/jaeger/api/` and at `/api/`) and the API v3 HTTP JSON (`/api/v3/…`, OTLP JSON).
//! Shapes follow jaeger v2.20.0's query service and the OTLP → Jaeger translator of the
//! Collector contrib (`pkg/translator/jaeger`): see `../shared/fixtures/JAEGER_API.md`.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use semtrace_model::{AnyValue, Attributes, Span, Trace, TraceId};
use semtrace_store::find::{kind_name, status_name, value_text};
use semtrace_store::TraceQuery;
use serde_json::{json, Map, Value};

use crate::QueryState;

/// Traces a search returns unless `limit` says otherwise (Jaeger's default).
const DEFAULT_LIMIT: usize = 100;
/// Traces a search returns at most.
const MAX_LIMIT: usize = 1500;
/// How far back a search looks without `start` (Jaeger's `traceQueryLookbackDuration`).
const DEFAULT_LOOKBACK_NS: u64 = 2 * 24 * 3600 * 1_000_000_000;
/// JSON numbers beyond this are written as decimal strings (JavaScript's safe integers).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The classic API's routes, to be nested under `/jaeger` and served at the root.
pub(crate) fn classic() -> Router<QueryState> {
    Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{service}/operations", get(service_operations))
        .route("/api/operations", get(operations))
        .route("/api/traces", get(find_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/dependencies", get(dependencies))
}

/// The API v3 HTTP JSON routes.
pub(crate) fn v3() -> Router<QueryState> {
    Router::new()
        .route("/api/v3/services", get(v3_services))
        .route("/api/v3/operations", get(v3_operations))
        .route("/api/v3/traces", get(v3_find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3_get_trace))
        .route("/api/v3/trace-summaries", get(v3_trace_summaries))
}

// ---------------------------------------------------------------- the classic API's envelope

/// `{"data", "total", "limit": 0, "offset": 0, "errors"}`, as Jaeger's `structuredResponse`.
fn envelope(data: Value, total: usize, errors: Option<Vec<Value>>) -> Response {
    let body = json!({ "data": data, "total": total, "limit": 0, "offset": 0, "errors": errors });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// An error as Jaeger writes it: the envelope with one error, sent with `http.Error` (plain text).
fn classic_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "data": null, "total": 0, "limit": 0, "offset": 0,
                       "errors": [{ "code": status.as_u16(), "msg": message.into() }] });
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{body}\n")).into_response()
}

fn store_error(err: semtrace_store::StoreError) -> Response {
    let status = if err.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
    classic_error(status, err.to_string())
}

/// The query string's pairs, repeated keys kept.
fn pairs(query: Option<String>) -> Result<Vec<(String, String)>, String> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).map_err(|err| format!("bad query string: {err}"))
}

fn first<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()))
}

pub(crate) fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

// ---------------------------------------------------------------- classic handlers

async fn services(State(state): State<QueryState>) -> Response {
    match state.store.services().await {
        Ok(services) => {
            let total = services.len();
            envelope(json!(services), total, None)
        }
        Err(err) => store_error(err),
    }
}

async fn service_operations(State(state): State<QueryState>, Path(service): Path<String>) -> Response {
    match state.store.operations(&service).await {
        Ok(operations) => {
            let mut names: Vec<String> = operations.into_iter().map(|operation| operation.name).collect();
            names.dedup();
            let total = names.len();
            envelope(if names.is_empty() { Value::Null } else { json!(names) }, total, None)
        }
        Err(err) => store_error(err),
    }
}

async fn operations(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match pairs(query) {
        Ok(pairs) => pairs,
        Err(message) => return classic_error(StatusCode::BAD_REQUEST, message),
    };
    let Some(service) = first(&pairs, &["service"]).filter(|service| !service.is_empty()) else {
        return classic_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let kind = first(&pairs, &["spanKind"]).unwrap_or_default().to_ascii_lowercase();
    match state.store.operations(service).await {
        Ok(operations) => {
            let operations: Vec<Value> = operations
                .iter()
                .map(|operation| (operation, kind_name(operation.span_kind).unwrap_or_default()))
                .filter(|(_, name)| kind.is_empty() || *name == kind)
                .map(|(operation, name)| json!({ "name": operation.name, "spanKind": name }))
                .collect();
            let total = operations.len();
            envelope(json!(operations), total, None)
        }
        Err(err) => store_error(err),
    }
}

async fn get_trace(State(state): State<QueryState>, Path(trace_id): Path<String>) -> Response {
    let Some(trace_id) = parse_any_trace_id(&trace_id) else {
        return classic_error(StatusCode::BAD_REQUEST, format!("malformed trace id {trace_id:?}"));
    };
    match state.store.get_trace(trace_id).await {
        Ok(Some(trace)) => envelope(json!([jaeger_trace(&trace)]), 0, None),
        Ok(None) => classic_error(StatusCode::NOT_FOUND, "trace not found"),
        Err(err) => store_error(err),
    }
}

async fn find_traces(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match pairs(query) {
        Ok(pairs) => pairs,
        Err(message) => return classic_error(StatusCode::BAD_REQUEST, message),
    };
    // Trace ids given: every other field is ignored, each id not found is reported.
    let ids: Vec<&str> = pairs.iter().filter(|(key, _)| key == "traceID").map(|(_, value)| value.as_str()).collect();
    if !ids.is_empty() {
        let mut traces = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            let Some(trace_id) = parse_any_trace_id(id) else {
                return classic_error(StatusCode::BAD_REQUEST, format!("malformed trace id {id:?}"));
            };
            match state.store.get_trace(trace_id).await {
                Ok(Some(trace)) => traces.push(jaeger_trace(&trace)),
                Ok(None) => errors.push(json!({ "msg": "trace not found", "traceID": id })),
                Err(err) => return store_error(err),
            }
        }
        return envelope(json!(traces), 0, (!errors.is_empty()).then_some(errors));
    }
    let query = match classic_query(&pairs) {
        Ok(query) => query,
        Err(message) => return classic_error(StatusCode::BAD_REQUEST, message),
    };
    match traces_of(&state, &query).await {
        Ok(traces) => envelope(json!(traces.iter().map(jaeger_trace).collect::<Vec<_>>()), 0, None),
        Err(err) => store_error(err),
    }
}

/// The classic search's parameters as a [`TraceQuery`].
fn classic_query(pairs: &[(String, String)]) -> Result<TraceQuery, String> {
    let service = first(pairs, &["service"]).filter(|service| !service.is_empty());
    let Some(service) = service else { return Err("parameter 'service' is required".into()) };
    let micros = |name: &str| -> Result<Option<u64>, String> {
        first(pairs, &[name])
            .filter(|text| !text.is_empty())
            .map(|text| {
                text.parse::<u64>()
                    .map(|micros| micros.saturating_mul(1000))
                    .map_err(|err| format!("unable to parse param '{name}': {err}"))
            })
            .transpose()
    };
    let end_ns = micros("end")?.unwrap_or_else(now_ns);
    let start_ns = micros("start")?.unwrap_or_else(|| end_ns.saturating_sub(DEFAULT_LOOKBACK_NS));
    let duration = |name: &str| -> Result<Option<u64>, String> {
        first(pairs, &[name])
            .filter(|text| !text.is_empty())
            .map(|text| {
                go_duration(text).ok_or_else(|| format!("unable to parse param '{name}': {text:?} is not a duration"))
            })
            .transpose()
    };
    let (min_duration_ns, max_duration_ns) = (duration("minDuration")?, duration("maxDuration")?);
    if let (Some(min), Some(max)) = (min_duration_ns, max_duration_ns) {
        if max < min {
            return Err("'maxDuration' should be greater than 'minDuration'".into());
        }
    }
    let limit = match first(pairs, &["limit"]).filter(|text| !text.is_empty()) {
        Some(text) => text.parse::<usize>().map_err(|err| format!("unable to parse param 'limit': {err}"))?,
        None => DEFAULT_LIMIT,
    };
    let mut tags = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "tag" => {
                let (tag, value) = value
                    .split_once(':')
                    .ok_or_else(|| format!("malformed 'tag' parameter, expecting key:value, received: {value}"))?;
                tags.push((tag.to_owned(), value.to_owned()));
            }
            "tags" => {
                let object: HashMap<String, String> = serde_json::from_str(value)
                    .map_err(|err| format!("malformed 'tags' parameter, cannot unmarshal JSON: {err}"))?;
                let mut object: Vec<_> = object.into_iter().collect();
                object.sort();
                tags.extend(object);
            }
            _ => {}
        }
    }
    Ok(TraceQuery {
        service: Some(service.to_owned()),
        operation: first(pairs, &["operation"]).filter(|name| !name.is_empty()).map(str::to_owned),
        tags,
        start_ns: Some(start_ns),
        end_ns: Some(end_ns.saturating_add(1)),
        min_duration_ns,
        max_duration_ns,
        limit: if limit == 0 { DEFAULT_LIMIT } else { limit.min(MAX_LIMIT) },
    })
}

/// The traces a query finds, read whole, newest first.
async fn traces_of(state: &QueryState, query: &TraceQuery) -> Result<Vec<Trace>, semtrace_store::StoreError> {
    let ids = state.store.find_traces(query).await?;
    let mut traces = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(trace) = state.store.get_trace(id).await? {
            traces.push(trace);
        }
    }
    Ok(traces)
}

async fn dependencies(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match pairs(query) {
        Ok(pairs) => pairs,
        Err(message) => return classic_error(StatusCode::BAD_REQUEST, message),
    };
    let millis = |name: &str, default: u64| -> Result<u64, String> {
        first(&pairs, &[name]).filter(|text| !text.is_empty()).map_or(Ok(default), |text| {
            text.parse::<u64>().map_err(|err| format!("unable to parse param '{name}': {err}"))
        })
    };
    let (end_ms, lookback_ms) = match (millis("endTs", now_ns() / 1_000_000), millis("lookback", 24 * 3600 * 1000)) {
        (Ok(end), Ok(lookback)) => (end, lookback),
        (Err(message), _) | (_, Err(message)) => return classic_error(StatusCode::BAD_REQUEST, message),
    };
    let end_ns = end_ms.saturating_mul(1_000_000);
    let start_ns = end_ns.saturating_sub(lookback_ms.saturating_mul(1_000_000));
    let service = first(&pairs, &["service"]).filter(|service| !service.is_empty());
    match state.store.service_calls(start_ns, end_ns).await {
        Ok(calls) => {
            let links: Vec<Value> = calls
                .into_iter()
                .filter(|call| service.is_none_or(|service| call.parent == service || call.child == service))
                .map(|call| json!({ "parent": call.parent, "child": call.child, "callCount": call.call_count }))
                .collect();
            envelope(json!(links), 0, None)
        }
        Err(err) => store_error(err),
    }
}

// ---------------------------------------------------------------- the UI model

/// A trace id as Jaeger writes it: 16 hex digits when its high 64 bits are zero, else 32.
fn jaeger_trace_id(trace_id: TraceId) -> String {
    let hex = trace_id.to_hex();
    hex.strip_prefix("0000000000000000").map_or_else(|| hex.clone(), str::to_owned)
}

/// A trace id as Jaeger accepts it: hex in either case (16 or 32 digits), or base64.
fn parse_any_trace_id(text: &str) -> Option<TraceId> {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 32 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return format!("{:0>32}", text.to_ascii_lowercase()).parse().ok();
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|bytes| bytes.len() == 16)
        .and_then(|bytes| TraceId::from_slice(&bytes).ok())
}

/// A key-value as Jaeger's UI model types it.
fn jaeger_kv(key: &str, value: &AnyValue) -> Value {
    let (kind, value) = match value {
        AnyValue::String(text) => ("string", json!(text)),
        AnyValue::Bool(flag) => ("bool", json!(flag)),
        AnyValue::Int(number) if number.abs() <= MAX_SAFE_INTEGER => ("int64", json!(number)),
        AnyValue::Int(number) => ("int64", json!(number.to_string())),
        AnyValue::Double(number) if number.is_finite() => ("float64", json!(number)),
        AnyValue::Double(number) => ("float64", json!(number.to_string())),
        AnyValue::Bytes(bytes) => ("binary", json!(base64::engine::general_purpose::STANDARD.encode(bytes))),
        other => ("string", json!(value_text(other))),
    };
    json!({ "key": key, "type": kind, "value": value })
}

fn string_kv(key: &str, value: &str) -> Value {
    json!({ "key": key, "type": "string", "value": value })
}

/// One trace in Jaeger's UI model: spans, processes `p1`, `p2` … in first-seen order.
pub(crate) fn jaeger_trace(trace: &Trace) -> Value {
    let trace_id = jaeger_trace_id(trace.trace_id);
    let mut processes = Map::new();
    // Resources seen, with their process id: equal attributes make the same process. Spans of
    // one resource share it (`Arc`), so the pointer settles most lookups.
    let mut seen: Vec<(&semtrace_model::Resource, String)> = Vec::new();
    let spans: Vec<Value> = trace
        .spans
        .iter()
        .map(|span| {
            let resource = &*span.resource;
            let known = seen
                .iter()
                .find(|(known, _)| std::ptr::eq(*known, resource) || known.attributes == resource.attributes);
            let process_id = match known {
                Some((_, id)) => id.clone(),
                None => {
                    let id = format!("p{}", seen.len() + 1);
                    let tags: Vec<Value> = resource
                        .attributes
                        .iter()
                        .filter(|kv| kv.key != "service.name")
                        .map(|kv| jaeger_kv(&kv.key, &kv.value))
                        .collect();
                    processes.insert(id.clone(), json!({ "serviceName": span.service_name(), "tags": tags }));
                    seen.push((resource, id.clone()));
                    id
                }
            };
            jaeger_span(span, &trace_id, &process_id)
        })
        .collect();
    json!({ "traceID": trace_id, "spans": spans, "processes": processes, "warnings": null })
}

fn jaeger_span(span: &Span, trace_id: &str, process_id: &str) -> Value {
    let mut references = Vec::new();
    if let Some(parent) = span.parent_span_id {
        references.push(json!({ "refType": "CHILD_OF", "traceID": trace_id, "spanID": parent.to_hex() }));
    }
    for link in &span.links {
        // A Jaeger reference sent through OTLP keeps its type in `opentracing.ref_type`.
        let child_of = link.attributes.get_str("opentracing.ref_type") == Some("child_of");
        references.push(json!({
            "refType": if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
            "traceID": jaeger_trace_id(link.trace_id),
            "spanID": link.span_id.to_hex(),
        }));
    }
    let mut tags = Vec::new();
    if !span.scope.name.is_empty() {
        tags.push(string_kv("otel.scope.name", &span.scope.name));
    }
    if !span.scope.version.is_empty() {
        tags.push(string_kv("otel.scope.version", &span.scope.version));
    }
    tags.extend(span.attributes.iter().filter(|kv| kv.key != WARNINGS).map(|kv| jaeger_kv(&kv.key, &kv.value)));
    if let Some(kind) = kind_name(span.kind) {
        tags.push(string_kv("span.kind", kind));
    }
    if let Some(status) = status_name(span.status.code) {
        tags.push(string_kv("otel.status_code", status));
    }
    if span.status.code == semtrace_model::StatusCode::Error {
        tags.push(json!({ "key": "error", "type": "bool", "value": true }));
    }
    if !span.status.message.is_empty() {
        tags.push(string_kv("otel.status_description", &span.status.message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_kv("w3c.tracestate", &span.trace_state));
    }
    let logs: Vec<Value> = span
        .events
        .iter()
        .map(|event| {
            let mut fields = Vec::with_capacity(event.attributes.len() + 1);
            if !event.name.is_empty() {
                fields.push(string_kv("event", &event.name));
            }
            fields.extend(event.attributes.iter().map(|kv| jaeger_kv(&kv.key, &kv.value)));
            json!({ "timestamp": event.time_unix_nano / 1000, "fields": fields })
        })
        .collect();
    let mut out = json!({
        "traceID": trace_id,
        "spanID": span.span_id.to_hex(),
        "operationName": span.name,
        "references": references,
        "startTime": span.start_time_unix_nano / 1000,
        "duration": span.duration_nanos() / 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": warnings(span),
    });
    // W3C trace flags (bit 0: sampled) are Jaeger's low byte; OTLP's higher bits stay out. As
    // Jaeger's own answer, only when set.
    if span.flags & 0xff != 0 {
        out["flags"] = json!(span.flags & 0xff);
    }
    out
}

/// Where a Jaeger span's warnings travel through OTLP.
const WARNINGS: &str = "@jaeger@warnings";

/// The span's warnings (`@jaeger@warnings`, a list of strings or one), else `null`.
fn warnings(span: &Span) -> Value {
    match span.attributes.get(WARNINGS) {
        Some(AnyValue::Array(items)) => json!(items.iter().map(value_text).collect::<Vec<_>>()),
        Some(AnyValue::String(text)) => json!([text]),
        _ => Value::Null,
    }
}

/// A Go duration (`time.ParseDuration`): `300ms`, `1.5s`, `1h30m`, `250us`, `2µs`, `10ns`.
pub(crate) fn go_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Some(total.round() as u64)
}

// ---------------------------------------------------------------- API v3 (OTLP JSON)

/// `{"error": {"httpCode", "message"}}`, sent as plain text like Jaeger's gateway.
fn v3_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "httpCode": status.as_u16(), "message": message.into() } });
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{body}\n")).into_response()
}

fn v3_store_error(err: semtrace_store::StoreError) -> Response {
    let status = if err.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
    v3_error(status, err.to_string())
}

fn v3_json(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn v3_services(State(state): State<QueryState>) -> Response {
    match state.store.services().await {
        Ok(services) if services.is_empty() => v3_json(json!({})),
        Ok(services) => v3_json(json!({ "services": services })),
        Err(err) => v3_store_error(err),
    }
}

async fn v3_operations(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match pairs(query) {
        Ok(pairs) => pairs,
        Err(message) => return v3_error(StatusCode::BAD_REQUEST, message),
    };
    let kind = first(&pairs, &["spanKind", "span_kind"]).unwrap_or_default().to_ascii_lowercase();
    let services = match first(&pairs, &["service"]).filter(|service| !service.is_empty()) {
        Some(service) => vec![service.to_owned()],
        None => match state.store.services().await {
            Ok(services) => services,
            Err(err) => return v3_store_error(err),
        },
    };
    let mut operations = Vec::new();
    let mut seen = HashSet::new();
    for service in services {
        let listed = match state.store.operations(&service).await {
            Ok(listed) => listed,
            Err(err) => return v3_store_error(err),
        };
        for operation in listed {
            let name = kind_name(operation.span_kind).unwrap_or("internal");
            if (kind.is_empty() || name == kind) && seen.insert((operation.name.clone(), name)) {
                operations.push(json!({ "name": operation.name, "spanKind": name }));
            }
        }
    }
    v3_json(if operations.is_empty() { json!({}) } else { json!({ "operations": operations }) })
}

async fn v3_get_trace(State(state): State<QueryState>, Path(trace_id): Path<String>) -> Response {
    let Some(trace_id) = parse_any_trace_id(&trace_id) else {
        return v3_error(StatusCode::BAD_REQUEST, format!("malformed parameter trace_id: {trace_id:?}"));
    };
    match state.store.get_trace(trace_id).await {
        Ok(Some(trace)) => v3_json(json!({ "result": otlp_traces(std::slice::from_ref(&trace)) })),
        Ok(None) => v3_error(StatusCode::NOT_FOUND, "No traces found"),
        Err(err) => v3_store_error(err),
    }
}

async fn v3_find_traces(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    v3_search(&state, query, |traces| json!({ "result": otlp_traces(traces) })).await
}

async fn v3_trace_summaries(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    v3_search(&state, query, |traces| json!({ "summaries": traces.iter().map(trace_summary).collect::<Vec<_>>() }))
        .await
}

/// A v3 search (`query.*` parameters) answered by `answer` of the traces found; 404 for none.
async fn v3_search(state: &QueryState, query: Option<String>, answer: impl FnOnce(&[Trace]) -> Value) -> Response {
    let query = match pairs(query).and_then(|pairs| v3_query(&pairs)) {
        Ok(query) => query,
        Err(message) => return v3_error(StatusCode::BAD_REQUEST, message),
    };
    match traces_of(state, &query).await {
        Ok(traces) if traces.is_empty() => v3_error(StatusCode::NOT_FOUND, "No traces found"),
        Ok(traces) => v3_json(answer(&traces)),
        Err(err) => v3_store_error(err),
    }
}

/// A trace in brief, as Jaeger's `FindTraceSummaries` answers (zero counts left out).
fn trace_summary(trace: &Trace) -> Value {
    let ids: HashSet<_> = trace.spans.iter().map(|span| span.span_id).collect();
    let orphan = |span: &&Span| span.parent_span_id.is_some_and(|parent| !ids.contains(&parent));
    let root = trace
        .spans
        .iter()
        .filter(|span| span.parent_span_id.is_none())
        .min_by_key(|span| span.start_time_unix_nano)
        .or_else(|| trace.spans.iter().min_by_key(|span| span.start_time_unix_nano));
    let failed = |span: &Span| span.status.code == semtrace_model::StatusCode::Error;
    let mut services: Vec<(&str, u64, u64)> = Vec::new();
    for span in &trace.spans {
        let errors = u64::from(failed(span));
        match services.iter_mut().find(|(name, _, _)| *name == span.service_name()) {
            Some(service) => {
                service.1 += 1;
                service.2 += errors;
            }
            None => services.push((span.service_name(), 1, errors)),
        }
    }
    let mut out = Map::new();
    out.insert("traceId".into(), json!(trace.trace_id.to_hex()));
    if let Some(root) = root {
        out.insert("rootServiceName".into(), json!(root.service_name()));
        out.insert("rootOperationName".into(), json!(root.name));
    }
    let start = trace.spans.iter().map(|span| span.start_time_unix_nano).min().unwrap_or(0);
    let end = trace.spans.iter().map(|span| span.end_time_unix_nano).max().unwrap_or(0);
    out.insert("minStartTimeUnixNano".into(), json!(start.to_string()));
    out.insert("maxEndTimeUnixNano".into(), json!(end.to_string()));
    let mut count = |name: &str, value: usize| {
        if value > 0 {
            out.insert(name.into(), json!(value));
        }
    };
    count("spanCount", trace.spans.len());
    count("errorSpanCount", trace.spans.iter().filter(|span| failed(span)).count());
    count("orphanSpanCount", trace.spans.iter().filter(orphan).count());
    let services: Vec<Value> = services
        .into_iter()
        .map(|(name, spans, errors)| {
            let mut service = Map::new();
            service.insert("name".into(), json!(name));
            service.insert("spanCount".into(), json!(spans));
            if errors > 0 {
                service.insert("errorSpanCount".into(), json!(errors));
            }
            Value::Object(service)
        })
        .collect();
    out.insert("services".into(), json!(services));
    Value::Object(out)
}

/// The v3 search's `query.*` parameters (camelCase, or snake_case as before v2.19).
fn v3_query(pairs: &[(String, String)]) -> Result<TraceQuery, String> {
    let field = |names: &[&str]| first(pairs, names).filter(|text| !text.is_empty());
    let time = |names: &[&str]| -> Result<u64, String> {
        let text = field(names).ok_or_else(|| format!("malformed parameter {}: it is required", names[0]))?;
        let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|err| format!("malformed parameter {}: {err}", names[0]))?;
        u64::try_from(parsed.unix_timestamp_nanos())
            .map_err(|_| format!("malformed parameter {}: before 1970", names[0]))
    };
    let start_ns = time(&["query.startTimeMin", "query.start_time_min"])?;
    let end_ns = time(&["query.startTimeMax", "query.start_time_max"])?;
    if end_ns <= start_ns {
        return Err("malformed parameter query.startTimeMax: it must be after query.startTimeMin".into());
    }
    let duration = |names: &[&str]| -> Result<Option<u64>, String> {
        field(names)
            .map(|text| go_duration(text).ok_or_else(|| format!("malformed parameter {}: {text:?}", names[0])))
            .transpose()
    };
    let limit = match field(&["query.searchDepth", "query.search_depth", "query.num_traces"]) {
        Some(text) => text.parse::<usize>().map_err(|err| format!("malformed parameter query.searchDepth: {err}"))?,
        None => DEFAULT_LIMIT,
    };
    let mut tags = Vec::new();
    if let Some(text) = field(&["query.attributes"]) {
        let object: HashMap<String, String> =
            serde_json::from_str(text).map_err(|err| format!("malformed parameter query.attributes: {err}"))?;
        tags.extend(object);
        tags.sort();
    }
    Ok(TraceQuery {
        service: field(&["query.serviceName", "query.service_name"]).map(str::to_owned),
        operation: field(&["query.operationName", "query.operation_name"]).map(str::to_owned),
        tags,
        start_ns: Some(start_ns),
        end_ns: Some(end_ns),
        min_duration_ns: duration(&["query.durationMin", "query.duration_min"])?,
        max_duration_ns: duration(&["query.durationMax", "query.duration_max"])?,
        limit: if limit == 0 { DEFAULT_LIMIT } else { limit.min(MAX_LIMIT) },
    })
}

/// Traces as one OTLP/JSON `TracesData`, the pdata way: spans grouped by resource, then scope;
/// ids in hex, kind and status code as numbers, times and 64-bit integers as strings, zero and
/// empty fields left out.
pub(crate) fn otlp_traces(traces: &[Trace]) -> Value {
    /// A scope's JSON and its spans'.
    type ScopeSpans = (Value, Vec<Value>);
    let mut resource_spans: Vec<(Value, Vec<ScopeSpans>)> = Vec::new();
    for span in traces.iter().flat_map(|trace| &trace.spans) {
        let resource = otlp_resource(span);
        let at = match resource_spans.iter().position(|(known, _)| *known == resource) {
            Some(at) => at,
            None => {
                resource_spans.push((resource, Vec::new()));
                resource_spans.len() - 1
            }
        };
        let scope = otlp_scope(span);
        let scopes = &mut resource_spans[at].1;
        match scopes.iter_mut().find(|(known, _)| *known == scope) {
            Some((_, spans)) => spans.push(otlp_span(span)),
            None => scopes.push((scope, vec![otlp_span(span)])),
        }
    }
    let resource_spans: Vec<Value> = resource_spans
        .into_iter()
        .map(|(resource, scopes)| {
            let schema_url = resource.get("schemaUrl").cloned();
            let mut resource = resource;
            if let Some(object) = resource.as_object_mut() {
                object.remove("schemaUrl");
            }
            // The schema URLs go beside the resource and the scope, where OTLP keeps them.
            let scope_spans: Vec<Value> = scopes
                .into_iter()
                .map(|(mut scope, spans)| {
                    let schema_url = scope.as_object_mut().and_then(|object| object.remove("schemaUrl"));
                    let mut entry = json!({ "scope": scope, "spans": spans });
                    if let Some(url) = schema_url {
                        entry["schemaUrl"] = url;
                    }
                    entry
                })
                .collect();
            let mut entry = json!({ "resource": resource, "scopeSpans": scope_spans });
            if let Some(url) = schema_url {
                entry["schemaUrl"] = url;
            }
            entry
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn otlp_resource(span: &Span) -> Value {
    let mut resource = Map::new();
    put_attributes(&mut resource, &span.resource.attributes, span.resource.dropped_attributes_count);
    if !span.resource.schema_url.is_empty() {
        resource.insert("schemaUrl".into(), json!(span.resource.schema_url));
    }
    Value::Object(resource)
}

fn otlp_scope(span: &Span) -> Value {
    let mut scope = Map::new();
    if !span.scope.name.is_empty() {
        scope.insert("name".into(), json!(span.scope.name));
    }
    if !span.scope.version.is_empty() {
        scope.insert("version".into(), json!(span.scope.version));
    }
    put_attributes(&mut scope, &span.scope.attributes, span.scope.dropped_attributes_count);
    if !span.scope.schema_url.is_empty() {
        scope.insert("schemaUrl".into(), json!(span.scope.schema_url));
    }
    Value::Object(scope)
}

fn otlp_span(span: &Span) -> Value {
    let mut out = Map::new();
    out.insert("traceId".into(), json!(span.trace_id.to_hex()));
    out.insert("spanId".into(), json!(span.span_id.to_hex()));
    if !span.trace_state.is_empty() {
        out.insert("traceState".into(), json!(span.trace_state));
    }
    if let Some(parent) = span.parent_span_id {
        out.insert("parentSpanId".into(), json!(parent.to_hex()));
    }
    if span.flags != 0 {
        out.insert("flags".into(), json!(span.flags));
    }
    out.insert("name".into(), json!(span.name));
    if span.kind.to_otlp() != 0 {
        out.insert("kind".into(), json!(span.kind.to_otlp()));
    }
    if span.start_time_unix_nano != 0 {
        out.insert("startTimeUnixNano".into(), json!(span.start_time_unix_nano.to_string()));
    }
    if span.end_time_unix_nano != 0 {
        out.insert("endTimeUnixNano".into(), json!(span.end_time_unix_nano.to_string()));
    }
    put_attributes(&mut out, &span.attributes, span.dropped_attributes_count);
    if !span.events.is_empty() {
        let events: Vec<Value> = span
            .events
            .iter()
            .map(|event| {
                let mut out = Map::new();
                out.insert("timeUnixNano".into(), json!(event.time_unix_nano.to_string()));
                out.insert("name".into(), json!(event.name));
                put_attributes(&mut out, &event.attributes, event.dropped_attributes_count);
                Value::Object(out)
            })
            .collect();
        out.insert("events".into(), json!(events));
    }
    if span.dropped_events_count > 0 {
        out.insert("droppedEventsCount".into(), json!(span.dropped_events_count));
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .map(|link| {
                let mut out = Map::new();
                out.insert("traceId".into(), json!(link.trace_id.to_hex()));
                out.insert("spanId".into(), json!(link.span_id.to_hex()));
                if !link.trace_state.is_empty() {
                    out.insert("traceState".into(), json!(link.trace_state));
                }
                put_attributes(&mut out, &link.attributes, link.dropped_attributes_count);
                if link.flags != 0 {
                    out.insert("flags".into(), json!(link.flags));
                }
                Value::Object(out)
            })
            .collect();
        out.insert("links".into(), json!(links));
    }
    if span.dropped_links_count > 0 {
        out.insert("droppedLinksCount".into(), json!(span.dropped_links_count));
    }
    let mut status = Map::new();
    if !span.status.message.is_empty() {
        status.insert("message".into(), json!(span.status.message));
    }
    if span.status.code.to_otlp() != 0 {
        status.insert("code".into(), json!(span.status.code.to_otlp()));
    }
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

/// `attributes` and `droppedAttributesCount`, each left out when empty or zero.
fn put_attributes(out: &mut Map<String, Value>, attributes: &Attributes, dropped: u32) {
    if !attributes.is_empty() {
        out.insert("attributes".into(), otlp_attributes(attributes));
    }
    if dropped > 0 {
        out.insert("droppedAttributesCount".into(), json!(dropped));
    }
}

fn otlp_attributes(attributes: &Attributes) -> Value {
    json!(attributes.iter().map(|kv| json!({ "key": kv.key, "value": otlp_value(&kv.value) })).collect::<Vec<_>>())
}

fn otlp_value(value: &AnyValue) -> Value {
    match value {
        AnyValue::String(text) => json!({ "stringValue": text }),
        AnyValue::Bool(flag) => json!({ "boolValue": flag }),
        AnyValue::Int(number) => json!({ "intValue": number.to_string() }),
        AnyValue::Double(number) if number.is_finite() => json!({ "doubleValue": number }),
        AnyValue::Double(number) => json!({ "doubleValue": number.to_string() }),
        AnyValue::Bytes(bytes) => json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(bytes) }),
        AnyValue::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(otlp_value).collect::<Vec<_>>() } })
        }
        AnyValue::Map(map) => json!({ "kvlistValue": { "values": otlp_attributes(map) } }),
        AnyValue::Empty => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_json_keeps_the_schema_urls_beside_resource_and_scope() {
        let mut spans = semtrace_store::conformance::rich_trace(1);
        let scope = std::sync::Arc::new(semtrace_model::Scope {
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            ..(*spans[0].scope).clone()
        });
        for span in &mut spans {
            span.scope = scope.clone();
        }
        let trace = Trace::new(spans[0].trace_id, spans);
        let json = otlp_traces(&[trace]);
        let resources = json["resourceSpans"].as_array().unwrap();
        let with_schema = resources.iter().find(|resource| resource.get("schemaUrl").is_some()).unwrap();
        assert_eq!(with_schema["schemaUrl"], "https://opentelemetry.io/schemas/1.24.0");
        assert!(with_schema["resource"].get("schemaUrl").is_none());
        for resource in resources {
            let scope_spans = &resource["scopeSpans"][0];
            assert_eq!(scope_spans["schemaUrl"], "https://opentelemetry.io/schemas/1.21.0", "{scope_spans}");
            assert!(scope_spans["scope"].get("schemaUrl").is_none(), "{scope_spans}");
        }
    }

    #[test]
    fn go_durations_parse_as_go_does() {
        assert_eq!(go_duration("300ms"), Some(300_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration("250us"), Some(250_000));
        assert_eq!(go_duration("2µs"), Some(2_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("10"), None, "a unit is needed");
        assert_eq!(go_duration("5 minutes"), None);
    }

    #[test]
    fn trace_ids_are_read_in_hex_and_base64_and_written_short_when_they_can() {
        let id: TraceId = "00000000000000000000000000000001".parse().unwrap();
        assert_eq!(parse_any_trace_id("1"), Some(id));
        assert_eq!(parse_any_trace_id("0000000000000001"), Some(id));
        assert_eq!(parse_any_trace_id("AAAAAAAAAAAAAAAAAAAAAQ=="), Some(id));
        assert_eq!(parse_any_trace_id("AAAAAAAAAAAAAAAAAAAAAQ"), Some(id));
        assert_eq!(jaeger_trace_id(id), "0000000000000001");
        let long: TraceId = "83A9EFD15C1C98A977E0711CC93EE28B".to_ascii_lowercase().parse().unwrap();
        assert_eq!(parse_any_trace_id("83A9EFD15C1C98A977E0711CC93EE28B"), Some(long));
        assert_eq!(jaeger_trace_id(long), "83a9efd15c1c98a977e0711cc93ee28b");
        assert_eq!(parse_any_trace_id("not an id"), None);
    }

    #[test]
    fn values_are_typed_as_jaeger_types_them() {
        assert_eq!(jaeger_kv("a", &AnyValue::Int(7))["type"], "int64");
        assert_eq!(jaeger_kv("a", &AnyValue::Int(1 << 60))["value"], json!((1i64 << 60).to_string()));
        assert_eq!(jaeger_kv("a", &AnyValue::Bytes(vec![1, 2]))["value"], "AQI=");
        assert_eq!(jaeger_kv("a", &AnyValue::Array(vec![AnyValue::Int(1)]))["value"], "[1]");
        assert_eq!(otlp_value(&AnyValue::Int(5)), json!({ "intValue": "5" }));
    }
}
