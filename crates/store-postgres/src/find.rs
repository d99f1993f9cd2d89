//! Traces found by their fields (`semtrace_store::TraceQuery`), calls between services, failures
//! counted for the errors overview.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use deadpool_postgres::ClientWrapper as Client;
use semtrace_model::{Attributes, SpanKind, StatusCode, TraceId};
use semtrace_store::{encoding, FailureCount, FailureWindow, ServiceCall, StoreError, TaggedSpan, TraceQuery};

use crate::{internal, sql};

/// Spans read per round trip, newest first, until the query has its traces.
const PAGE: i64 = 1000;

/// Spans are read newest first through `spans_service_start` (with a service) a page at a time
/// and checked in turn, so a search stops as soon as it has `limit` traces.
pub(crate) async fn find_traces(client: &Client, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
    let start_ns = query.start_ns.map_or(0, to_i64);
    let end_ns = query.end_ns.map_or(i64::MAX, to_i64);
    let start_time = sql::timestamp(start_ns / 1000 * 1000);
    let end_time = sql::timestamp(end_ns.saturating_add(999) / 1000 * 1000);
    let min_duration = query.min_duration_ns.map_or(0, to_i64);
    let max_duration = query.max_duration_ns.map_or(i64::MAX, to_i64);
    // The service is bound only when given: a generic plan for `($1 IS NULL OR …)` would not
    // use the (service, start_time) index.
    let service_clause = if query.service.is_some() { "s.service = $1" } else { "$1::text IS NULL" };
    let sql = format!(
        "SELECT s.trace_id, s.span_id, s.start_time, s.attributes::text, r.body::text, s.kind, s.status,
                    CASE WHEN $13 THEN (SELECT t.category FROM templates t WHERE t.id = s.template_id) END
             FROM spans s JOIN resources r ON r.id = s.resource_id
             WHERE {service_clause} AND ($2::text IS NULL OR s.name = $2 OR s.operation = $2)
               AND s.start_time >= $3 AND s.start_time <= $4 AND s.start_ns >= $5 AND s.start_ns < $6
               AND s.end_ns - s.start_ns >= $7 AND s.end_ns - s.start_ns <= $8
               AND ($9::timestamptz IS NULL OR (s.start_time, s.trace_id, s.span_id) < ($9, $10, $11))
             ORDER BY s.start_time DESC, s.trace_id DESC, s.span_id DESC LIMIT $12"
    );
    let statement = client.prepare_cached(&sql).await.map_err(internal)?;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut resources: HashMap<String, Attributes> = HashMap::new();
    let mut after: (Option<SystemTime>, Vec<u8>, Vec<u8>) = (None, Vec::new(), Vec::new());
    loop {
        let rows = client
            .query(
                &statement,
                &[
                    &query.service,
                    &query.operation,
                    &start_time,
                    &end_time,
                    &start_ns,
                    &end_ns,
                    &min_duration,
                    &max_duration,
                    &after.0,
                    &after.1,
                    &after.2,
                    &PAGE,
                    &query.wants_category(),
                ],
            )
            .await
            .map_err(internal)?;
        let last_page = (rows.len() as i64) < PAGE;
        for row in &rows {
            let trace_id = TraceId::from_slice(row.get(0))
                .map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?;
            after = (Some(row.get(2)), row.get::<_, &[u8]>(0).to_vec(), row.get::<_, &[u8]>(1).to_vec());
            if seen.contains(&trace_id) {
                continue;
            }
            if !query.tags.is_empty() {
                let attributes = encoding::attributes_from_json(row.get(3))
                    .map_err(|err| StoreError::Internal(format!("stored attributes: {err}")))?;
                let body: String = row.get(4);
                if !resources.contains_key(&body) {
                    let resource = encoding::resource_from_json(&body)
                        .map_err(|err| StoreError::Internal(format!("stored resource: {err}")))?;
                    resources.insert(body.clone(), resource.attributes);
                }
                let kind = SpanKind::from_otlp(i32::from(row.get::<_, i16>(5)));
                let status = StatusCode::from_otlp(i32::from(row.get::<_, i16>(6)));
                let category: Option<String> = row.get(7);
                let span = TaggedSpan {
                    kind,
                    status,
                    category: category.as_deref(),
                    attributes: &attributes,
                    resource: &resources[&body],
                };
                if !query.tags_match(span) {
                    continue;
                }
            }
            seen.insert(trace_id);
            found.push(trace_id);
            if found.len() == query.limit {
                return Ok(found);
            }
        }
        if last_page {
            return Ok(found);
        }
    }
}

/// Parent and child spans of different services, joined through the (trace id, span id) key.
pub(crate) async fn service_calls(client: &Client, start_ns: u64, end_ns: u64) -> Result<Vec<ServiceCall>, StoreError> {
    let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
    let (start_ns, end_ns) = (to_i64(start_ns), to_i64(end_ns));
    let rows = client
        .query(
            "SELECT p.service, c.service, count(*)
             FROM spans c JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
             WHERE c.start_time >= $1 AND c.start_time <= $2 AND c.start_ns >= $3 AND c.start_ns < $4
               AND c.service <> p.service
             GROUP BY p.service, c.service ORDER BY p.service, c.service",
            &[
                &sql::timestamp(start_ns / 1000 * 1000),
                &sql::timestamp(end_ns.saturating_add(999) / 1000 * 1000),
                &start_ns,
                &end_ns,
            ],
        )
        .await
        .map_err(internal)?;
    Ok(rows
        .iter()
        .map(|row| ServiceCall { parent: row.get(0), child: row.get(1), call_count: row.get::<_, i64>(2) as u64 })
        .collect())
}

pub(crate) async fn failure_counts(client: &Client, window: &FailureWindow) -> Result<Vec<FailureCount>, StoreError> {
    let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
    let (start_ns, end_ns) = (to_i64(window.start_ns), to_i64(window.end_ns));
    let rows = client
        .query(
            "SELECT ((s.start_ns - $3) / $5)::int8, s.service, t.id, t.text, count(*)::int8, max(s.start_ns),
                    (array_agg(s.trace_id ORDER BY s.start_ns DESC))[1], t.category
             FROM templates t JOIN spans s ON s.template_id = t.id
             WHERE t.failed <> 0 AND s.start_time >= $1 AND s.start_time <= $2 AND s.start_ns >= $3 AND s.start_ns < $4
               AND ($6::text IS NULL OR s.service = $6)
             GROUP BY 1, s.service, t.id, t.text, t.category",
            &[
                &sql::timestamp(start_ns / 1000 * 1000),
                &sql::timestamp(end_ns.saturating_add(999) / 1000 * 1000),
                &start_ns,
                &end_ns,
                &to_i64(window.bucket_ns.max(1)),
                &window.service,
            ],
        )
        .await
        .map_err(internal)?;
    rows.iter()
        .map(|row| {
            let trace: Vec<u8> = row.get(6);
            Ok(FailureCount {
                bucket: row.get::<_, i64>(0) as u32,
                service: row.get(1),
                template_id: row.get(2),
                template: row.get(3),
                category: row.get(7),
                spans: row.get::<_, i64>(4) as u64,
                newest_ns: row.get::<_, i64>(5) as u64,
                newest_trace: TraceId::from_slice(&trace)
                    .map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?,
            })
        })
        .collect()
}

/// Entities of `kind` (any) whose value starts with `prefix`, with their trace counts.
pub(crate) async fn entities(
    client: &Client,
    kind: Option<semtrace_store::entity::EntityKind>,
    prefix: &str,
    limit: usize,
) -> Result<Vec<semtrace_store::entity::EntityCount>, StoreError> {
    let rows = client
        .query(
            "SELECT kind, value, sum(traces)::int8, sum(resources)::int8 FROM (
                 SELECT kind, value, traces, 0 AS resources FROM entity_values
                 WHERE ($1::int2 IS NULL OR kind = $1) AND starts_with(value, $2)
                 UNION ALL
                 SELECT kind, value, 0, count(*) FROM resource_entities
                 WHERE ($1::int2 IS NULL OR kind = $1) AND starts_with(value, $2) GROUP BY kind, value) AS e
             GROUP BY kind, value ORDER BY 3 DESC, 4 DESC, kind, value LIMIT $3",
            &[&kind.map(|kind| kind.code()), &prefix, &(limit as i64)],
        )
        .await
        .map_err(internal)?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let kind = semtrace_store::entity::EntityKind::from_code(row.get::<_, i16>(0).into())?;
            Some(semtrace_store::entity::EntityCount {
                kind,
                value: row.get(1),
                traces: row.get::<_, i64>(2) as u64,
                resources: row.get::<_, i64>(3) as u64,
            })
        })
        .collect())
}
