//! The behaviour every [`Store`] backend must show. Each backend's tests call [`run`] on a new,
//! empty store; a backend passes when every check here holds.

use std::sync::Arc;

use semtrace_model::{
    AnyValue, Attributes, Event, KeyValue, Link, LogRecord, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, TraceId,
};

use semtrace_summary::Outcome;

use crate::policy::PerTrace;
use crate::{JoinDecisions, Operation, Retemplate, SpanFilter, SpanHit, Store, WriteOutcome};

/// Runs every conformance check, in order, on an empty store.
pub async fn run(store: &dyn Store) {
    unknown_trace_is_none(store).await;
    every_field_round_trips(store).await;
    writes_are_idempotent(store).await;
    services_and_operations_are_listed(store).await;
    stats_count_traces_and_spans(store).await;
    templates_are_kept_and_embedded(store).await;
    spans_are_found_by_template_and_error_text(store).await;
    log_records_are_stored_joined_and_searched(store).await;
    operations_have_baselines(store).await;
    spans_slow_for_their_operation_are_stored_under_a_slow_template(store).await;
    traces_are_found_by_fields(store).await;
    traces_are_found_by_the_entities_they_touch(store).await;
    traces_have_an_importance(store).await;
    spans_named_by_their_ids_count_under_a_masked_operation(store).await;
}

/// Spans named by an id (traces 980 and 981) share one operation, its id masked, and keep
/// their own names; an operation filter and baselines find them by either name.
async fn spans_named_by_their_ids_count_under_a_masked_operation(store: &dyn Store) {
    let spans: Vec<Span> = [(980, "GET /api/items/1001"), (981, "GET /api/items/1002")]
        .into_iter()
        .map(|(n, name)| Span { name: name.into(), ..quiet_span(n) })
        .collect();
    store.write(&spans).await.unwrap();
    let service = spans[0].service_name().to_owned();
    let operations: Vec<String> =
        store.operations(&service).await.unwrap().into_iter().map(|operation| operation.name).collect();
    assert!(operations.contains(&"GET /api/items/<num>".to_owned()), "{operations:?}");
    assert!(!operations.iter().any(|name| name.contains("1001")), "an operation per id: {operations:?}");
    let stored = store.get_trace(spans[0].trace_id).await.unwrap().unwrap();
    assert_eq!(stored.spans[0].name, "GET /api/items/1001", "the span keeps its own name");
    let find = |operation: &str| crate::TraceQuery {
        service: Some(service.clone()),
        operation: Some(operation.to_owned()),
        limit: 10,
        ..Default::default()
    };
    let mut both = store.find_traces(&find("GET /api/items/<num>")).await.unwrap();
    both.sort();
    let mut expected = vec![spans[0].trace_id, spans[1].trace_id];
    expected.sort();
    assert_eq!(both, expected, "the operation finds both");
    assert_eq!(store.find_traces(&find("GET /api/items/1002")).await.unwrap(), vec![spans[1].trace_id]);
    let asked = [(service.clone(), "GET /api/items/7".to_owned())];
    let baselines = store.operation_baselines(&asked).await.unwrap();
    assert_eq!(baselines.get(&asked[0]).map(|baseline| baseline.spans), Some(2), "{baselines:?}");
}

/// Traces 990 to 992 of an operation of their own: the first brings new templates, the second
/// repeats it, the third fails.
async fn traces_have_an_importance(store: &dyn Store) {
    let quiet = |n: u64| {
        let mut span = quiet_span(n);
        span.name = "GET /api/importance".into();
        span
    };
    let first = quiet(990);
    store.write(std::slice::from_ref(&first)).await.unwrap();
    let second = quiet(991);
    store.write(std::slice::from_ref(&second)).await.unwrap();
    let mut third = quiet(992);
    third.status = semtrace_model::Status { code: StatusCode::Error, message: "importance check failed".into() };
    store.write(std::slice::from_ref(&third)).await.unwrap();
    let ids = [first.trace_id, second.trace_id, third.trace_id, trace_id(123_456_789)];
    let importance = store.trace_importance(&ids).await.expect("trace importance");
    assert_eq!(importance.len(), 3, "only stored traces: {importance:?}");
    let of = |span: &Span| importance[&span.trace_id];
    assert!((of(&first) - crate::importance::NOVEL).abs() < 1e-9, "a new template: {importance:?}");
    assert_eq!(of(&second), 0.0, "nothing new, nothing failed, not slow");
    assert!(of(&third) >= crate::importance::FAILED, "failed (and a new template): {importance:?}");
    // A retry changes nothing; a later batch of the trace can only raise it.
    store.write(std::slice::from_ref(&second)).await.unwrap();
    assert_eq!(store.trace_importance(&ids[1..2]).await.unwrap()[&second.trace_id], 0.0);
}

/// Traces 970 to 972: each names its own user; 971's failure names an order and an address.
async fn traces_are_found_by_the_entities_they_touch(store: &dyn Store) {
    use crate::entity::EntityKind;
    let mut spans = Vec::new();
    for n in 970..973u64 {
        let mut trace = rich_trace(n);
        trace[0].attributes.push("enduser.id", AnyValue::String(format!("u-{n}")));
        if n == 971 {
            trace[1].status.message = "charging order ORD-4711 failed: 10.9.8.7 refused".into();
        }
        if n == 972 {
            // A service instance of its own: its resource names the pod it ran in.
            let mut resource = (*trace[0].resource).clone();
            resource.attributes.push("k8s.pod.name", AnyValue::String("checkout-5d9f".into()));
            trace[0].resource = Arc::new(resource);
        }
        spans.extend(trace);
    }
    store.write(&spans).await.unwrap();
    store.write(&spans).await.unwrap();
    let open = SpanFilter::default();
    let ids: Vec<TraceId> = (970..973).map(trace_id).collect();
    let profiles = store.trace_profiles(&ids).await.unwrap();
    let mut templates: Vec<i64> = profiles.values().flatten().filter_map(|brief| brief.template_id).collect();
    templates.sort_unstable();
    templates.dedup();
    let traces_touching = |kind: EntityKind, value: &str| {
        let filter = SpanFilter { entity: Some((kind, value.to_owned())), ..open.clone() };
        let templates = templates.clone();
        async move {
            let hits = store.spans_of_templates(&templates, &filter, 1000, PerTrace::EverySpan).await.unwrap();
            let mut traces: Vec<u64> =
                hits.iter().filter_map(|hit| (970..973).find(|n| trace_id(*n) == hit.span.trace_id)).collect();
            traces.sort_unstable();
            traces.dedup();
            (traces, hits.len())
        }
    };
    // Every span of the trace, though only its root names the user.
    assert_eq!(traces_touching(EntityKind::User, "u-971").await, (vec![971], 3));
    assert_eq!(traces_touching(EntityKind::Order, "ORD-4711").await.0, vec![971], "from the failure's words");
    assert_eq!(traces_touching(EntityKind::Ip, "10.9.8.7").await.0, vec![971]);
    assert!(traces_touching(EntityKind::User, "u-999").await.0.is_empty());
    let errors = store
        .search_errors("refused", &SpanFilter { entity: Some((EntityKind::User, "u-971".into())), ..open.clone() }, 10)
        .await
        .unwrap();
    assert!(!errors.is_empty() && errors.iter().all(|hit| hit.span.trace_id == trace_id(971)), "{errors:?}");
    let users = store.entities(Some(EntityKind::User), "u-97", 10).await.unwrap();
    let listed: Vec<(&str, u64)> = users.iter().map(|entity| (entity.value.as_str(), entity.traces)).collect();
    assert_eq!(listed, vec![("u-970", 1), ("u-971", 1), ("u-972", 1)], "each trace once, retries aside");
    assert!(store.entities(Some(EntityKind::User), "u-98", 10).await.unwrap().is_empty());
    let routes = store.entities(Some(EntityKind::Route), "", 10).await.unwrap();
    assert!(routes.iter().any(|entity| entity.value == "/api/orders" && entity.traces >= 3), "{routes:?}");
    let any = store.entities(None, "u-970", 10).await.unwrap();
    assert_eq!(any.len(), 1);
    assert_eq!(any[0].kind, EntityKind::User);
    // A resource's entity: the spans that ran there, not their whole trace.
    let (traces, spans) = traces_touching(EntityKind::Pod, "checkout-5d9f").await;
    assert_eq!((traces, spans), (vec![972], 1));
    let pods = store.entities(Some(EntityKind::Pod), "checkout", 10).await.unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!((pods[0].value.as_str(), pods[0].traces, pods[0].resources), ("checkout-5d9f", 0, 1));
}

/// Traces 950 to 953 of services of their own: the third took 2 s, the fourth answered 404.
async fn traces_are_found_by_fields(store: &dyn Store) {
    let resource = |name: &str| {
        Arc::new(Resource {
            attributes: attrs(&[
                ("service.name", AnyValue::String(name.into())),
                ("service.version", AnyValue::String("1.4.2".into())),
            ]),
            dropped_attributes_count: 0,
            schema_url: String::new(),
        })
    };
    let (frontend, db) = (resource("finder-frontend"), resource("finder-db"));
    let mut spans = Vec::new();
    for n in 950..954u64 {
        for mut span in rich_trace(n) {
            span.resource = if span.kind == SpanKind::Client { db.clone() } else { frontend.clone() };
            if span.parent_span_id.is_none() && n == 952 {
                span.end_time_unix_nano = span.start_time_unix_nano + 2_000_000_000;
            }
            if span.parent_span_id.is_none() && n == 953 {
                span.attributes.0.retain(|kv| kv.key != "http.response.status_code");
                span.attributes.push("http.response.status_code", AnyValue::Int(404));
            }
            spans.push(span);
        }
    }
    store.write(&spans).await.unwrap();
    let find = |query: crate::TraceQuery| async move {
        let found = store.find_traces(&crate::TraceQuery { limit: query.limit.max(1), ..query }).await.unwrap();
        found.into_iter().map(|id| (950..954).find(|n| trace_id(*n) == id).unwrap_or(0)).collect::<Vec<u64>>()
    };
    let service = |name: &str| crate::TraceQuery { service: Some(name.into()), limit: 10, ..Default::default() };
    let tags = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    assert_eq!(find(service("finder-frontend")).await, vec![953, 952, 951, 950], "newest first");
    assert_eq!(find(crate::TraceQuery { limit: 2, ..service("finder-frontend") }).await, vec![953, 952]);
    assert!(find(service("no such service")).await.is_empty());
    let status_500 = crate::TraceQuery {
        operation: Some("POST /api/orders".into()),
        tags: tags(&[("http.response.status_code", "500")]),
        ..service("finder-frontend")
    };
    assert_eq!(find(status_500).await, vec![952, 951, 950]);
    let slow = crate::TraceQuery { min_duration_ns: Some(1_000_000_000), ..service("finder-frontend") };
    assert_eq!(find(slow).await, vec![952]);
    let quick_roots = crate::TraceQuery {
        operation: Some("POST /api/orders".into()),
        max_duration_ns: Some(300_000_000),
        ..service("finder-frontend")
    };
    assert_eq!(find(quick_roots).await, vec![953, 951, 950]);
    let derived = crate::TraceQuery {
        tags: tags(&[("error", "true"), ("service.version", "1.4.2"), ("span.kind", "server")]),
        ..service("finder-frontend")
    };
    assert_eq!(find(derived).await, vec![953, 952, 951, 950], "derived and resource tags");
    let elsewhere = crate::TraceQuery { tags: tags(&[("db.system", "postgresql")]), ..service("finder-frontend") };
    assert!(find(elsewhere).await.is_empty(), "the tag is on another service's span");
    let any_service = crate::TraceQuery { tags: tags(&[("db.system", "postgresql")]), ..service("finder-db") };
    assert_eq!(find(any_service).await, vec![953, 952, 951, 950]);
    let start = |n: u64| rich_trace(n)[0].start_time_unix_nano;
    let window =
        crate::TraceQuery { start_ns: Some(start(951)), end_ns: Some(start(953)), ..service("finder-frontend") };
    assert_eq!(find(window).await, vec![952, 951]);
    // Without a service: any service's span, in the window.
    let anywhere = |tags: &[(&str, &str)]| crate::TraceQuery {
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        start_ns: Some(start(950)),
        end_ns: Some(start(953) + 1_000_000_000),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(find(anywhere(&[("db.system", "postgresql")])).await, vec![953, 952, 951, 950]);
    assert_eq!(find(anywhere(&[("http.response.status_code", "404")])).await, vec![953]);
    let slow_anywhere = crate::TraceQuery { min_duration_ns: Some(1_000_000_000), ..anywhere(&[]) };
    assert_eq!(find(slow_anywhere).await, vec![952]);
    let render = crate::TraceQuery { operation: Some("render".into()), limit: 2, ..anywhere(&[]) };
    assert_eq!(find(render).await, vec![953, 952]);

    let calls = store.service_calls(start(950), start(953) + 1_000_000_000).await.unwrap();
    let call = calls.iter().find(|call| call.parent == "finder-frontend" && call.child == "finder-db");
    assert_eq!(call.map(|call| call.call_count), Some(4), "{calls:?}");
    assert!(!calls.iter().any(|call| call.parent == call.child), "calls within a service are not dependencies");
    let before = store.service_calls(start(950) - 10_000_000_000, start(950)).await.unwrap();
    assert!(!before.iter().any(|call| call.parent == "finder-frontend"), "{before:?}");
}

async fn operations_have_baselines(store: &dyn Store) {
    // Nine spans of one operation taking 1 ms and one taking 1 s: the typical one is the
    // geometric mean, near 2 ms, not the arithmetic mean's 100 ms.
    let mut spans = Vec::new();
    for n in 0..10u64 {
        let mut span = quiet_span(800 + n);
        span.name = "GET /api/baseline".into();
        span.end_time_unix_nano = span.start_time_unix_nano + if n == 9 { 1_000_000_000 } else { 1_000_000 };
        spans.push(span);
    }
    store.write(&spans).await.unwrap();
    let service = spans[0].service_name().to_owned();
    let asked = [(service.clone(), "GET /api/baseline".to_owned()), (service.clone(), "no such operation".to_owned())];
    let baselines = store.operation_baselines(&asked).await.expect("operation baselines");
    assert_eq!(baselines.len(), 1, "{baselines:?}");
    let baseline = baselines[&asked[0]];
    assert_eq!(baseline.spans, 10);
    assert!((1.5e6..2.5e6).contains(&baseline.typical_ns), "{baseline:?}");
    store.write(&spans).await.unwrap();
    assert_eq!(store.operation_baselines(&asked).await.unwrap()[&asked[0]].spans, 10, "retries are not counted");
}

/// An operation that takes 2 ms: a span of it that took 600 ms is stored under the template its
/// 2.5 s spans get from their summary (the slowness cue), one of 50 ms (25 times, but not what
/// people call slow) and the usual ones under the plain one.
async fn spans_slow_for_their_operation_are_stored_under_a_slow_template(store: &dyn Store) {
    let quick = |n: u64, millis: u64| {
        let mut span = quiet_span(n);
        span.name = "GET /api/quick".into();
        span.attributes = attrs(&[("http.route", AnyValue::String("/api/quick".into()))]);
        span.end_time_unix_nano = span.start_time_unix_nano + millis * 1_000_000;
        span
    };
    let usual: Vec<Span> = (850..875).map(|n| quick(n, 2)).collect();
    store.write(&usual).await.unwrap();
    store.write(&[quick(875, 600), quick(876, 50), quick(877, 2_500)]).await.unwrap();
    let templates: Vec<crate::PendingTemplate> = store
        .pending_templates(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|template| template.text.contains("/api/quick"))
        .collect();
    assert_eq!(templates.len(), 2, "{templates:?}");
    let traces_of = |slow: bool| {
        let template = templates.iter().find(|template| semtrace_summary::is_slow(&template.text) == slow).unwrap();
        async move {
            let hits = store
                .spans_of_templates(&[template.id], &SpanFilter::default(), 100, PerTrace::EverySpan)
                .await
                .unwrap();
            let mut traces: Vec<TraceId> = hits.iter().map(|hit| hit.span.trace_id).collect();
            traces.sort();
            traces
        }
    };
    assert_eq!(traces_of(true).await, vec![trace_id(875), trace_id(877)]);
    let plain = traces_of(false).await;
    assert_eq!(plain.len(), 26);
    assert!(plain.contains(&trace_id(876)));
}

/// A log record about `span` (trace context set), with the span's resource, after its start.
pub fn log_about(span: &Span, severity_number: i32, severity_text: &str, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: span.start_time_unix_nano + 1_000 * severity_number as u64,
        observed_time_unix_nano: span.start_time_unix_nano + 5_000_000,
        severity_number,
        severity_text: severity_text.into(),
        body: AnyValue::String(body.into()),
        attributes: attrs(&[("code.function", AnyValue::String("getThing".into()))]),
        dropped_attributes_count: 0,
        flags: 1,
        trace_id: Some(span.trace_id),
        span_id: Some(span.span_id),
        event_name: String::new(),
        resource: span.resource.clone(),
        scope: span.scope.clone(),
    }
}

/// For each span, an ERROR record in an application's dialect and an INFO record about it.
pub fn logs_about(spans: &[Span]) -> Vec<LogRecord> {
    spans
        .iter()
        .flat_map(|span| {
            [
                log_about(span, 17, "ERROR", "[getThing][Get Thing Failed][thingListResult is null]"),
                log_about(span, 9, "INFO", "[getThing][Get Thing][request received]"),
            ]
        })
        .collect()
}

/// A healthy span (status unset, no events) of its own trace.
fn quiet_span(n: u64) -> Span {
    let mut span = rich_trace(n).remove(1);
    span.status = Status::default();
    span.events.clear();
    span.parent_span_id = None;
    span.name = "GET /api/things".into();
    span.attributes = attrs(&[("http.route", AnyValue::String("/api/things".into()))]);
    span
}

async fn log_records_are_stored_joined_and_searched(store: &dyn Store) {
    let held = quiet_span(700);
    let unheld = quiet_span(701);
    store.write(std::slice::from_ref(&held)).await.expect("write span");
    let mut logs = logs_about(std::slice::from_ref(&held));
    let mut not_yet = log_about(&unheld, 13, "WARN", "[check][Wrong State][order 77 is already shipped]");
    not_yet.time_unix_nano = held.start_time_unix_nano + 1;
    logs.push(not_yet);
    let mut no_context = log_about(&held, 18, "ERROR", "disk quota exceeded on /var/lib/things");
    (no_context.trace_id, no_context.span_id) = (None, None);
    logs.push(no_context);
    assert_eq!(store.write_logs(&logs).await.expect("write logs"), WriteOutcome { inserted: 4, duplicates: 0 });
    assert_eq!(store.write_logs(&logs).await.unwrap(), WriteOutcome { inserted: 0, duplicates: 4 }, "idempotent");

    // Severe records with trace context wait for the joiner; INFO and context-free ones do not.
    let waiting = store.pending_log_joins(0, 100).await.expect("pending joins");
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    let back = &waiting[0].record;
    let mut expected = logs[0].clone();
    (expected.resource, expected.scope) = (back.resource.clone(), back.scope.clone());
    assert_eq!(back, &expected, "a record reads back whole");
    assert_eq!(back.service_name(), held.service_name(), "with its resource");
    assert_eq!(back.scope.name, held.scope.name, "and its scope");
    assert!(waiting[0].id < waiting[1].id && waiting[0].received_ns > 0);
    assert_eq!(store.pending_log_joins(waiting[0].id, 100).await.unwrap().len(), 1, "after an id");

    let summary = semtrace_summary::summarize_with_logs(&held, &logs[..1]);
    assert_eq!(summary.outcome, Outcome::FailedWithReason, "{summary:?}");
    let decisions = JoinDecisions {
        spans: vec![Retemplate {
            trace_id: held.trace_id,
            span_id: held.span_id,
            start_ns: held.start_time_unix_nano,
            service: held.service_name().to_owned(),
            summary: summary.clone(),
        }],
        joined: vec![waiting[0].id],
        missed: vec![],
    };
    store.finish_log_joins(&decisions).await.expect("finish joins");
    let still = store.pending_log_joins(0, 100).await.unwrap();
    assert!(still.len() == 1 && still[0].record.span_id == Some(unheld.span_id), "{still:?}");
    let joined = store.span_evidence(&[(held.trace_id, held.span_id)]).await.unwrap();
    assert!(joined.len() == 1 && joined[0].body == logs[0].body, "only the severe record: {joined:?}");
    let waiting_evidence = store.span_evidence(&[(unheld.trace_id, unheld.span_id)]).await.unwrap();
    assert_eq!(waiting_evidence.len(), 1, "a waiting record is evidence too, once its span is read");

    // The span is found by its new template, which the indexer will embed.
    let template = store
        .pending_templates(1000)
        .await
        .unwrap()
        .into_iter()
        .find(|template| template.text == summary.template)
        .expect("the joined span's template is stored, waiting for its embedding");
    assert_eq!(template.outcome, Outcome::FailedWithReason);
    let open = SpanFilter::default();
    let by_template = store.spans_of_templates(&[template.id], &open, 10, PerTrace::EverySpan).await.unwrap();
    assert!(by_template.len() == 1 && by_template[0].span.span_id == held.span_id, "{by_template:?}");

    let trace_logs = store.trace_logs(held.trace_id).await.unwrap();
    assert_eq!(trace_logs.len(), 2, "the ERROR and INFO records of the trace");
    assert!(trace_logs[0].time() <= trace_logs[1].time());

    // Error search finds the span through its record; records no span holds are found alone.
    let found = store.search_errors("thingListResult null", &open, 10).await.unwrap();
    assert!(found.len() == 1 && found[0].span.span_id == held.span_id && found[0].score > 0.0, "{found:?}");
    assert!(store.search_logs("thingListResult", &open, 10).await.unwrap().is_empty(), "held by its span");
    let quota = store.search_logs("disk quota", &open, 10).await.unwrap();
    assert!(quota.len() == 1 && quota[0].record.trace_id.is_none() && quota[0].score > 0.0, "{quota:?}");
    let shipped = store.search_logs("already shipped zebra", &open, 10).await.unwrap();
    assert_eq!(shipped.len(), 1, "any word when not all match; its span is not stored");
    let newest = store.search_logs("", &open, 10).await.unwrap();
    assert_eq!(newest.len(), 2, "the severe records no span holds, newest first");
    assert!(newest[0].record.time() >= newest[1].record.time());
    let other = if held.service_name() == "frontend" { "orders-db-client" } else { "frontend" };
    let other_service = SpanFilter { service: Some(other.into()), ..Default::default() };
    assert!(store.search_logs("quota", &other_service, 10).await.unwrap().is_empty());
    let healthy = SpanFilter { status: Some(StatusCode::Ok), ..Default::default() };
    assert!(store.search_logs("quota", &healthy, 10).await.unwrap().is_empty(), "severe records are errors");
    let ok = SpanFilter { failed: Some(false), ..Default::default() };
    assert!(store.search_logs("quota", &ok, 10).await.unwrap().is_empty(), "severe records failed");

    // The derived outcome filters: the span's status is unset, its record says it failed.
    let failed = SpanFilter { failed: Some(true), ..Default::default() };
    let by_outcome = store.spans_of_templates(&[template.id], &failed, 10, PerTrace::EverySpan).await.unwrap();
    assert_eq!(by_outcome.len(), 1, "failed by its logs, whatever its status");
    assert!(store.spans_of_templates(&[template.id], &ok, 10, PerTrace::EverySpan).await.unwrap().is_empty());
    let found = store.search_errors("thingListResult", &failed, 10).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(store.search_errors("thingListResult", &ok, 10).await.unwrap().is_empty());
    let unset = SpanFilter { status: Some(StatusCode::Error), ..Default::default() };
    assert!(store.search_errors("thingListResult", &unset, 10).await.unwrap().is_empty(), "its status is unset");

    let missed = JoinDecisions { missed: vec![still[0].id], ..Default::default() };
    store.finish_log_joins(&missed).await.unwrap();
    assert!(store.pending_log_joins(0, 100).await.unwrap().is_empty());
}

/// A trace id made from a number, for fixtures.
pub fn trace_id(n: u64) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[0] = 0xab;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    TraceId::from_bytes(bytes).expect("non-zero")
}

pub fn span_id(n: u64) -> SpanId {
    let mut bytes = [0u8; 8];
    bytes[0] = 0xcd;
    bytes[1..].copy_from_slice(&n.to_be_bytes()[1..]);
    SpanId::from_bytes(bytes).expect("non-zero")
}

/// A three-span trace using every field of the model: typed attributes, nested maps, arrays,
/// bytes, events (an exception), links, trace state, flags, dropped counts, two services.
pub fn rich_trace(n: u64) -> Vec<Span> {
    let frontend = Arc::new(Resource {
        attributes: attrs(&[
            ("service.name", AnyValue::String("frontend".into())),
            ("service.version", AnyValue::String("1.4.2".into())),
            ("host.cpu.count", AnyValue::Int(8)),
        ]),
        dropped_attributes_count: 1,
        schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
    });
    let db_service = Arc::new(Resource {
        attributes: attrs(&[("service.name", AnyValue::String("orders-db-client".into()))]),
        dropped_attributes_count: 0,
        schema_url: String::new(),
    });
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.http".into(),
        version: "2.1.0".into(),
        attributes: attrs(&[("scope.flag", AnyValue::Bool(true))]),
        dropped_attributes_count: 0,
        schema_url: String::new(),
    });
    let trace = trace_id(n);
    let start = 1_700_000_000_000_000_000 + n * 1_000_000_000;
    let root = Span {
        trace_id: trace,
        span_id: span_id(n * 10 + 1),
        parent_span_id: None,
        trace_state: "rojo=00f067aa0ba902b7".into(),
        flags: 0x301,
        name: "POST /api/orders".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 250_000_123,
        attributes: attrs(&[
            ("http.request.method", AnyValue::String("POST".into())),
            ("http.response.status_code", AnyValue::Int(500)),
            ("http.route", AnyValue::String("/api/orders".into())),
            ("sampling.ratio", AnyValue::Double(0.5)),
            // A double whose shortest decimal form only an exact parser reads back (fuzzing found it).
            ("precise.ratio", AnyValue::Double(9.62964972193618e-35)),
            ("tags", AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(2)])),
            ("payload", AnyValue::Bytes(vec![0, 1, 254, 255])),
            ("nested", AnyValue::Map(attrs(&[("inner", AnyValue::Double(1.0))]))),
        ]),
        dropped_attributes_count: 2,
        events: vec![Event {
            time_unix_nano: start + 200_000_000,
            name: "exception".into(),
            attributes: attrs(&[
                ("exception.type", AnyValue::String("java.sql.SQLTransientConnectionException".into())),
                (
                    "exception.message",
                    AnyValue::String(
                        "HikariPool-1 - Connection is not available, request timed out after 30000ms".into(),
                    ),
                ),
            ]),
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: trace_id(n + 1_000_000),
            span_id: span_id(77),
            trace_state: "congo=t61rcWkgMzE".into(),
            attributes: attrs(&[("link.reason", AnyValue::String("batch".into()))]),
            dropped_attributes_count: 0,
            flags: 1,
        }],
        dropped_links_count: 4,
        status: Status { code: StatusCode::Error, message: "upstream failed".into() },
        resource: frontend.clone(),
        scope: scope.clone(),
    };
    let child = Span {
        span_id: span_id(n * 10 + 2),
        parent_span_id: Some(root.span_id),
        trace_state: String::new(),
        flags: 1,
        name: "SELECT orders".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: start + 10_000_000,
        end_time_unix_nano: start + 210_000_000,
        attributes: attrs(&[
            ("db.system", AnyValue::String("postgresql".into())),
            ("db.statement", AnyValue::String("SELECT * FROM orders WHERE id = $1".into())),
        ]),
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Status { code: StatusCode::Error, message: "i/o timeout".into() },
        resource: db_service,
        ..root.clone()
    };
    let internal = Span {
        span_id: span_id(n * 10 + 3),
        parent_span_id: Some(root.span_id),
        name: "render".into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: start + 220_000_000,
        end_time_unix_nano: start + 230_000_000,
        attributes: Attributes::default(),
        events: vec![],
        links: vec![],
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        dropped_links_count: 0,
        status: Status { code: StatusCode::Ok, message: String::new() },
        ..root.clone()
    };
    vec![root, child, internal]
}

fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
    pairs.iter().map(|(key, value)| KeyValue::new(*key, value.clone())).collect()
}

async fn unknown_trace_is_none(store: &dyn Store) {
    let found = store.get_trace(trace_id(999_999)).await.expect("get_trace");
    assert!(found.is_none(), "an unknown trace id must read as None");
}

async fn every_field_round_trips(store: &dyn Store) {
    let spans = rich_trace(1);
    let outcome = store.write(&spans).await.expect("write");
    assert_eq!(outcome, WriteOutcome { inserted: 3, duplicates: 0 });
    let trace = store.get_trace(trace_id(1)).await.expect("get_trace").expect("trace is stored");
    assert_eq!(trace.trace_id, trace_id(1));
    assert_eq!(trace.spans.len(), spans.len());
    for written in &spans {
        let read = trace.spans.iter().find(|span| span.span_id == written.span_id).expect("span read back");
        assert_eq!(
            canonical(read),
            canonical(written),
            "span {} must read back as written (attribute order aside)",
            written.span_id
        );
    }
    let starts: Vec<u64> = trace.spans.iter().map(|span| span.start_time_unix_nano).collect();
    assert!(starts.windows(2).all(|pair| pair[0] <= pair[1]), "spans come back ordered by start time");
}

async fn writes_are_idempotent(store: &dyn Store) {
    let spans = rich_trace(2);
    store.write(&spans).await.expect("first write");
    let before = store.stats().await.expect("stats");
    let again = store.write(&spans).await.expect("retried write");
    assert_eq!(again, WriteOutcome { inserted: 0, duplicates: 3 }, "a retried write stores nothing twice");
    // A batch that mixes new and already stored spans stores only the new ones.
    let mut mixed = rich_trace(3);
    mixed.push(spans[0].clone());
    let outcome = store.write(&mixed).await.expect("mixed write");
    assert_eq!(outcome, WriteOutcome { inserted: 3, duplicates: 1 });
    let after = store.stats().await.expect("stats");
    assert_eq!(after.total_spans, before.total_spans + 3);
    assert_eq!(after.total_traces, before.total_traces + 1);
    let trace = store.get_trace(trace_id(2)).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 3);
}

async fn services_and_operations_are_listed(store: &dyn Store) {
    let services = store.services().await.expect("services");
    assert_eq!(services, vec!["frontend".to_string(), "orders-db-client".to_string()]);
    let operations = store.operations("frontend").await.expect("operations");
    assert_eq!(
        operations,
        vec![
            Operation { name: "POST /api/orders".into(), span_kind: SpanKind::Server },
            Operation { name: "render".into(), span_kind: SpanKind::Internal },
        ]
    );
    assert!(store.operations("no-such-service").await.unwrap().is_empty());
}

async fn stats_count_traces_and_spans(store: &dyn Store) {
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.total_traces, 3);
    assert_eq!(stats.total_spans, 9);
    store.ping().await.expect("ping");
}

/// Traces 1, 2 and 3 are stored: three spans each, one template per span position.
async fn templates_are_kept_and_embedded(store: &dyn Store) {
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.templates, stats.templates_pending), (3, 3), "one template per distinct span shape");
    let pending = store.pending_templates(10).await.expect("pending templates");
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().any(|template| template.text.starts_with("frontend server span POST /api/orders failed")));
    let first = store.pending_templates(1).await.expect("pending templates");
    assert_eq!(first, pending[..1].to_vec(), "oldest first");

    // Failed templates carry their failure alone, healthy ones none.
    for template in &pending {
        let failure = template.failure.as_deref();
        assert_eq!(failure.is_some(), template.outcome.is_failure(), "{template:?}");
        assert!(
            failure.is_none_or(|failure| failure.starts_with("failed") && !failure.contains("frontend")),
            "{failure:?}"
        );
    }
    let failed: Vec<(i64, Vec<f32>)> = pending
        .iter()
        .filter(|template| template.failure.is_some())
        .map(|template| (template.id, vec![0.25, template.id as f32, 1.0]))
        .collect();
    assert!(!failed.is_empty());
    store.set_failure_embeddings(&failed).await.expect("set failure embeddings");
    assert_eq!(store.stats().await.unwrap().templates_pending, 3, "still pending until embedded");

    let vectors: Vec<(i64, Vec<f32>)> =
        pending.iter().enumerate().map(|(i, template)| (template.id, vec![i as f32, 0.5, -1.25])).collect();
    store.set_template_embeddings(&vectors[..2]).await.expect("set embeddings");
    assert_eq!(store.stats().await.unwrap().templates_pending, 1);
    store.set_template_embeddings(&vectors[2..]).await.expect("set embeddings");
    assert!(store.pending_templates(10).await.unwrap().is_empty());
    let mut stored = store.template_embeddings().await.expect("template embeddings");
    stored.sort_by_key(|template| template.id);
    let read: Vec<(i64, Vec<f32>)> = stored.iter().map(|template| (template.id, template.vector.clone())).collect();
    let read_failures: Vec<(i64, Vec<f32>)> =
        stored.iter().filter_map(|template| Some((template.id, template.failure_vector.clone()?))).collect();
    let mut failed = failed;
    failed.sort_by_key(|(id, _)| *id);
    assert_eq!(read_failures, failed, "failure vectors read back exactly");
    assert_eq!(read, vectors, "vectors read back exactly");
    let outcomes: Vec<Outcome> = stored.iter().map(|template| template.outcome).collect();
    let pending_outcomes: Vec<Outcome> = pending.iter().map(|template| template.outcome).collect();
    assert_eq!(outcomes, pending_outcomes);
    let mut sorted = outcomes.clone();
    sorted.sort_by_key(|outcome| outcome.to_i64());
    // The root failed with an exception, the database call with a message; render did not fail.
    assert_eq!(sorted, vec![Outcome::Healthy, Outcome::FailedWithReason, Outcome::FailedWithReason]);

    let matched = store.match_templates("HikariPool connection", 10).await.expect("match templates");
    let root = pending.iter().find(|template| template.text.contains("HikariPool")).unwrap().id;
    assert_eq!(matched.first().map(|(id, _)| *id), Some(root), "{matched:?}");
    assert!(store.match_templates("   ", 10).await.unwrap().is_empty());
}

async fn spans_are_found_by_template_and_error_text(store: &dyn Store) {
    let profiles = store.trace_profiles(&[trace_id(1), trace_id(99)]).await.expect("trace profiles");
    assert_eq!(profiles.keys().collect::<Vec<_>>(), vec![&trace_id(1)], "a trace not stored is left out");
    let profile = &profiles[&trace_id(1)];
    let spans = rich_trace(1);
    assert_eq!(profile.len(), spans.len());
    for span in &spans {
        let brief = profile.iter().find(|brief| brief.span_id == span.span_id).expect("every span in brief");
        assert_eq!(
            (brief.parent_span_id, brief.service.as_str(), brief.name.as_str(), brief.start_ns, brief.end_ns),
            (
                span.parent_span_id,
                span.service_name(),
                span.name.as_str(),
                span.start_time_unix_nano,
                span.end_time_unix_nano
            ),
        );
        assert_eq!(brief.outcome, semtrace_summary::summarize(span).outcome, "{}", span.name);
    }
    let templates: Vec<i64> = profile.iter().filter_map(|brief| brief.template_id).collect();
    assert_eq!(templates.len(), 3);
    assert_eq!(templates.iter().collect::<std::collections::HashSet<_>>().len(), 3, "one template per span");
    let root_template = store.match_templates("HikariPool", 1).await.unwrap()[0].0;

    let open = SpanFilter::default();
    let hits =
        store.spans_of_templates(&[root_template], &open, 10, PerTrace::OneSpan).await.expect("spans of templates");
    let traces: Vec<_> = hits.iter().map(|hit| hit.span.trace_id).collect();
    assert_eq!(traces, vec![trace_id(3), trace_id(2), trace_id(1)], "newest first");
    assert!(hits.iter().all(|hit| hit.template_id == Some(root_template) && hit.span.name == "POST /api/orders"));
    assert_eq!(canonical(&hits[2].span), canonical(&rich_trace(1)[0]), "the whole span is read");

    let all: Vec<i64> = templates.clone();
    let one_per_trace = store.spans_of_templates(&all, &open, 10, PerTrace::OneSpan).await.unwrap();
    assert_eq!(one_per_trace.len(), 3, "best span per trace");
    let every_span = store.spans_of_templates(&all, &open, 100, PerTrace::EverySpan).await.unwrap();
    assert_eq!(every_span.len(), 9);
    assert_eq!(store.spans_of_templates(&all, &open, 2, PerTrace::OneSpan).await.unwrap().len(), 2);

    let all = &all;
    let filtered = |filter: SpanFilter| async move {
        store.spans_of_templates(all, &filter, 100, PerTrace::EverySpan).await.unwrap()
    };
    let db = filtered(SpanFilter { service: Some("orders-db-client".into()), ..Default::default() }).await;
    assert_eq!(db.len(), 3);
    assert!(db.iter().all(|hit| hit.span.service_name() == "orders-db-client"));
    assert!(filtered(SpanFilter { service: Some("nope".into()), ..Default::default() }).await.is_empty());
    let duration = |hit: &SpanHit| hit.span.end_time_unix_nano - hit.span.start_time_unix_nano;
    let longest = every_span.iter().map(duration).max().expect("spans");
    assert!(every_span.iter().any(|hit| duration(hit) < longest), "durations differ");
    let long = filtered(SpanFilter { min_duration_ns: Some(longest), ..Default::default() }).await;
    assert!(!long.is_empty() && long.iter().all(|hit| duration(hit) >= longest), "minimum duration");
    let short = filtered(SpanFilter { max_duration_ns: Some(longest - 1), ..Default::default() }).await;
    assert_eq!(short.len() + long.len(), every_span.len(), "maximum duration: the rest");
    assert!(short.iter().all(|hit| duration(hit) < longest));
    let select = filtered(SpanFilter { operation: Some("SELECT orders".into()), ..Default::default() }).await;
    assert!(select.len() == 3 && select.iter().all(|hit| hit.span.name == "SELECT orders"), "operation");
    let elsewhere =
        SpanFilter { operation: Some("SELECT orders".into()), service: Some("nope".into()), ..Default::default() };
    assert!(filtered(elsewhere).await.is_empty(), "operation and service together");
    let select_errors = SpanFilter { operation: Some("SELECT orders".into()), ..Default::default() };
    let found = store.search_errors("HikariPool timeout", &select_errors, 10).await.unwrap();
    assert!(found.len() == 3 && found.iter().all(|hit| hit.span.name == "SELECT orders"), "{found:?}");
    assert!(store.search_logs("timeout", &select_errors, 10).await.unwrap().is_empty(), "records have no operation");
    let errors = filtered(SpanFilter { status: Some(semtrace_model::StatusCode::Error), ..Default::default() }).await;
    assert_eq!(errors.len(), 6);
    let later = rich_trace(2)[0].start_time_unix_nano;
    let window =
        filtered(SpanFilter { start_ns: Some(later), end_ns: Some(later + 500_000_000), ..Default::default() });
    assert_eq!(window.await.len(), 3, "spans of trace 2 only");
    let others = filtered(SpanFilter { exclude_trace: Some(trace_id(1)), ..Default::default() }).await;
    assert!(others.len() == 6 && others.iter().all(|hit| hit.span.trace_id != trace_id(1)));

    // Error categories as data: a failed template is stored with the category its text names;
    // those with none wait for the indexer, which files them; the filter finds spans by it.
    let failed_spans = filtered(SpanFilter { failed: Some(true), ..Default::default() }).await;
    let waiting = store.uncategorized_templates(100).await.expect("uncategorized templates");
    let failed_templates: std::collections::HashSet<i64> =
        failed_spans.iter().filter_map(|hit| hit.template_id).collect();
    assert!(waiting.iter().all(|template| failed_templates.contains(&template.id)), "only failed ones wait");
    for hit in &failed_spans {
        let summary = semtrace_summary::summarize(&hit.span);
        let named = crate::template_category(&summary.template, summary.outcome);
        let waits = waiting.iter().any(|template| Some(template.id) == hit.template_id);
        assert_eq!(waits, named.is_none(), "{:?} waits only without a named category", summary.template);
        if let Some(category) = named {
            let found = filtered(SpanFilter { category: Some(category.into()), ..Default::default() }).await;
            assert!(found.iter().any(|found| found.span.span_id == hit.span.span_id), "found by {category}");
            assert!(found.iter().all(|found| found.span.is_error() || found.template_id.is_some()));
            // Jaeger's trace search by semtrace's derived tag, with a service and without.
            let tags = vec![("error.category".to_owned(), category.to_owned())];
            let anywhere = crate::TraceQuery { tags, limit: 10, ..Default::default() };
            let of_service = crate::TraceQuery { service: Some(hit.span.service_name().into()), ..anywhere.clone() };
            for query in [anywhere, of_service] {
                let traces = store.find_traces(&query).await.expect("find traces");
                assert!(traces.contains(&hit.span.trace_id), "{query:?} finds {:?}", hit.span.trace_id);
            }
        }
    }
    // Not filed yet counts as unknown.
    let unknown = filtered(SpanFilter { category: Some("unknown".into()), ..Default::default() }).await;
    let unfiled = failed_spans.iter().filter(|hit| waiting.iter().any(|t| Some(t.id) == hit.template_id)).count();
    assert_eq!(unknown.len(), unfiled);
    let filed: Vec<(i64, String)> = waiting.iter().map(|template| (template.id, "unknown".to_owned())).collect();
    store.set_template_categories(&filed).await.expect("set template categories");
    assert!(store.uncategorized_templates(100).await.unwrap().is_empty(), "every failed template filed");
    let unknown = filtered(SpanFilter { category: Some("unknown".into()), ..Default::default() }).await;
    assert_eq!(
        unknown.len(),
        failed_spans.iter().filter(|hit| waiting.iter().any(|t| Some(t.id) == hit.template_id)).count()
    );
    assert!(filtered(SpanFilter { category: Some("disk full".into()), ..Default::default() }).await.is_empty());
    let frontend = SpanFilter { category: Some("unknown".into()), ..Default::default() };
    assert!(store.search_logs("timeout", &frontend, 10).await.unwrap().is_empty(), "records have no category");

    // Failures counted for the errors overview: as many as the outcome filter finds, by bucket.
    let first = rich_trace(1)[0].start_time_unix_nano;
    let window = crate::FailureWindow {
        service: None,
        start_ns: first,
        end_ns: later + 3_600_000_000_000,
        bucket_ns: later - first,
    };
    let counts = store.failure_counts(&window).await.expect("failure counts");
    assert_eq!(counts.iter().map(|count| count.spans).sum::<u64>(), failed_spans.len() as u64, "{counts:?}");
    assert!(counts.iter().any(|count| count.bucket == 0) && counts.iter().any(|count| count.bucket == 1), "{counts:?}");
    assert!(counts.iter().all(|count| !count.template.is_empty() && count.newest_ns >= first));
    assert!(counts.iter().all(|count| count.category.is_some()), "every failed template is filed: {counts:?}");
    let newest = failed_spans.iter().map(|hit| hit.span.start_time_unix_nano).max().unwrap();
    let newest_group = counts.iter().max_by_key(|count| count.newest_ns).unwrap();
    assert_eq!(newest_group.newest_ns, newest);
    assert!(failed_spans
        .iter()
        .any(|hit| hit.span.trace_id == newest_group.newest_trace && hit.span.start_time_unix_nano == newest));
    let db_window = crate::FailureWindow { service: Some("orders-db-client".into()), ..window.clone() };
    let db_counts = store.failure_counts(&db_window).await.unwrap();
    assert!(!db_counts.is_empty() && db_counts.iter().all(|count| count.service == "orders-db-client"));
    let unknown = crate::FailureWindow { service: Some("nope".into()), ..window };
    assert!(store.failure_counts(&unknown).await.unwrap().is_empty());

    let found = store.search_errors("connection not available", &open, 10).await.expect("search errors");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().all(|hit| hit.span.name == "POST /api/orders" && hit.score > 0.0));
    let timeout = store.search_errors("i/o timeout", &open, 10).await.unwrap();
    assert!(timeout.len() == 3 && timeout.iter().all(|hit| hit.span.name == "SELECT orders"), "{timeout:?}");
    let by_type = store.search_errors("SQLTransientConnectionException", &open, 10).await.unwrap();
    assert_eq!(by_type.len(), 3);
    // No span has every word: any word, ranked.
    let partial = store.search_errors("timeout zebra", &open, 10).await.unwrap();
    assert_eq!(partial.len(), 3);
    assert!(store.search_errors("zebra", &open, 10).await.unwrap().is_empty());
    let frontend = SpanFilter { service: Some("orders-db-client".into()), ..Default::default() };
    assert!(store.search_errors("HikariPool", &frontend, 10).await.unwrap().is_empty());
    let newest = store.search_errors("", &open, 4).await.unwrap();
    assert_eq!(newest.len(), 4);
    assert!(newest.iter().all(|hit| hit.span.is_error()));
    assert!(newest.windows(2).all(|pair| pair[0].span.start_time_unix_nano >= pair[1].span.start_time_unix_nano));
}

/// The span with every attribute map sorted by key, recursively. Attributes are a map in OTLP:
/// their order carries no meaning, and a backend may keep them in another (PostgreSQL's JSONB
/// sorts keys).
pub fn canonical(span: &Span) -> Span {
    fn sort(attributes: &Attributes) -> Attributes {
        let mut pairs: Vec<KeyValue> =
            attributes.0.iter().map(|kv| KeyValue { key: kv.key.clone(), value: sort_value(&kv.value) }).collect();
        pairs.sort_by(|a, b| a.key.cmp(&b.key));
        Attributes(pairs)
    }
    fn sort_value(value: &AnyValue) -> AnyValue {
        match value {
            AnyValue::Map(map) => AnyValue::Map(sort(map)),
            AnyValue::Array(items) => AnyValue::Array(items.iter().map(sort_value).collect()),
            other => other.clone(),
        }
    }
    let mut span = span.clone();
    span.attributes = sort(&span.attributes);
    for event in &mut span.events {
        event.attributes = sort(&event.attributes);
    }
    for link in &mut span.links {
        link.attributes = sort(&link.attributes);
    }
    let mut resource = (*span.resource).clone();
    resource.attributes = sort(&resource.attributes);
    span.resource = Arc::new(resource);
    let mut scope = (*span.scope).clone();
    scope.attributes = sort(&scope.attributes);
    span.scope = Arc::new(scope);
    span
}
