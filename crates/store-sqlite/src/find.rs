//! Traces found by their fields (`semtrace_store::TraceQuery`), calls between services, failures
//! counted for the errors overview.

use crate::codec::{OF_TRACE, SPAN_NAME};
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};
use semtrace_model::{SpanKind, StatusCode, TraceId};
use semtrace_store::{encoding, FailureCount, FailureWindow, ServiceCall, StoreError, TaggedSpan, TraceQuery};

use crate::internal;

/// Spans are read newest first through `spans_service_start` (with a service) and checked in
/// turn, so a search stops as soon as it has `limit` traces.
pub(crate) fn find_traces(connection: &Connection, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let service_id: Option<i64> = match &query.service {
        Some(name) => match connection.query_row("SELECT id FROM services WHERE name = ?1", [name], |row| row.get(0)) {
            Ok(id) => Some(id),
            Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(Vec::new()),
            Err(err) => return Err(internal(err)),
        },
        None => None,
    };
    let Some(service_id) = service_id else { return find_traces_by_trace(connection, query) };
    // The service is bound as such: `(?1 IS NULL OR …)` would keep SQLite off the (service,
    // start) index and sort every span.
    let mut statement = connection
        .prepare_cached(
            "SELECT s.trace_id, s.attributes, r.body, o.kind, s.status_code,
                    CASE WHEN ?7 THEN (SELECT t.category FROM templates t WHERE t.id = s.template_id) END
             FROM spans s JOIN operations o ON o.id = s.operation_id JOIN resources r ON r.id = s.resource_id
             WHERE s.service_id = ?1 AND s.start_ns >= ?2 AND s.start_ns < ?3
               AND (?4 IS NULL OR o.name = ?4 OR s.name = ?4) AND s.end_ns - s.start_ns >= ?5 AND s.end_ns - s.start_ns <= ?6
             ORDER BY s.start_ns DESC",
        )
        .map_err(internal)?;
    let mut rows = statement
        .query(params![
            service_id,
            query.start_ns.unwrap_or(0).min(i64::MAX as u64) as i64,
            query.end_ns.unwrap_or(i64::MAX as u64).min(i64::MAX as u64) as i64,
            query.operation,
            query.min_duration_ns.unwrap_or(0).min(i64::MAX as u64) as i64,
            query.max_duration_ns.unwrap_or(i64::MAX as u64).min(i64::MAX as u64) as i64,
            query.wants_category(),
        ])
        .map_err(internal)?;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    // Resources repeat: each is decoded once.
    let mut resources: HashMap<String, semtrace_model::Attributes> = HashMap::new();
    while let Some(row) = rows.next().map_err(internal)? {
        let trace_id: Vec<u8> = row.get(0).map_err(internal)?;
        let trace_id =
            TraceId::from_slice(&trace_id).map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?;
        if seen.contains(&trace_id) {
            continue;
        }
        if !has_tags(query, row, 1, &mut resources)? {
            continue;
        }
        seen.insert(trace_id);
        found.push(trace_id);
        if found.len() == query.limit {
            break;
        }
    }
    Ok(found)
}

/// Whether the span in `row` has the query's tags: its attributes, resource body, kind, status
/// and template category in five columns from `first`. Resources repeat: each is decoded once.
fn has_tags(
    query: &TraceQuery,
    row: &rusqlite::Row<'_>,
    first: usize,
    resources: &mut HashMap<String, semtrace_model::Attributes>,
) -> Result<bool, StoreError> {
    if query.tags.is_empty() {
        return Ok(true);
    }
    let attributes = crate::codec::attributes_from_column(row.get_ref(first).map_err(internal)?, first)
        .map_err(|err| StoreError::Internal(format!("stored attributes: {err}")))?;
    let body: String = row.get(first + 1).map_err(internal)?;
    if !resources.contains_key(&body) {
        let resource = encoding::resource_from_json(&body)
            .map_err(|err| StoreError::Internal(format!("stored resource: {err}")))?;
        resources.insert(body.clone(), resource.attributes);
    }
    let kind = SpanKind::from_otlp(row.get(first + 2).map_err(internal)?);
    let status = StatusCode::from_otlp(row.get(first + 3).map_err(internal)?);
    let category: Option<String> = row.get(first + 4).map_err(internal)?;
    Ok(query.tags_match(TaggedSpan {
        kind,
        status,
        category: category.as_deref(),
        attributes: &attributes,
        resource: &resources[&body],
    }))
}

/// Without a service no span index leads by time: traces are read newest first through
/// `traces_start` (those starting in the window), and each trace's spans are checked in turn.
fn find_traces_by_trace(connection: &Connection, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
    let clamp = |ns: u64| ns.min(i64::MAX as u64) as i64;
    let mut traces = connection
        .prepare_cached("SELECT id, trace_id FROM traces WHERE start_ns >= ?1 AND start_ns < ?2 ORDER BY start_ns DESC")
        .map_err(internal)?;
    let mut spans = connection
        .prepare_cached(&format!(
            "SELECT s.attributes, r.body, o.kind, s.status_code,
                    CASE WHEN ?2 THEN (SELECT t.category FROM templates t WHERE t.id = s.template_id) END,
                    {SPAN_NAME}, o.name, s.start_ns, s.end_ns
             FROM spans s JOIN operations o ON o.id = s.operation_id JOIN resources r ON r.id = s.resource_id
             WHERE {OF_TRACE}",
        ))
        .map_err(internal)?;
    let (start_ns, end_ns) = (query.start_ns.unwrap_or(0), query.end_ns.unwrap_or(u64::MAX));
    let mut rows = traces.query(params![clamp(start_ns), clamp(end_ns)]).map_err(internal)?;
    let mut resources: HashMap<String, semtrace_model::Attributes> = HashMap::new();
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(internal)? {
        let number: i64 = row.get(0).map_err(internal)?;
        let bytes: Vec<u8> = row.get(1).map_err(internal)?;
        let trace_id =
            TraceId::from_slice(&bytes).map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?;
        let mut candidates = spans.query(params![number, query.wants_category()]).map_err(internal)?;
        while let Some(span) = candidates.next().map_err(internal)? {
            // The span's own name, and the operation it counts under (the same unless masked).
            let (name, counted_as): (String, String) = (span.get(5).map_err(internal)?, span.get(6).map_err(internal)?);
            let (start, end): (i64, i64) = (span.get(7).map_err(internal)?, span.get(8).map_err(internal)?);
            let duration = end.saturating_sub(start).max(0) as u64;
            if query.operation.as_ref().is_some_and(|operation| *operation != name && *operation != counted_as)
                || !(start_ns..end_ns).contains(&(start.max(0) as u64))
                || query.min_duration_ns.is_some_and(|min| duration < min)
                || query.max_duration_ns.is_some_and(|max| duration > max)
            {
                continue;
            }
            if !has_tags(query, span, 0, &mut resources)? {
                continue;
            }
            found.push(trace_id);
            break;
        }
        if found.len() == query.limit {
            break;
        }
    }
    Ok(found)
}

/// Parent and child spans of different services, joined through the (trace id, span id) key.
pub(crate) fn service_calls(
    connection: &Connection,
    start_ns: u64,
    end_ns: u64,
) -> Result<Vec<ServiceCall>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT ps.name, cs.name, count(*)
             FROM traces t JOIN spans c ON c.trace_no = t.id
             JOIN spans p ON p.trace_no = c.trace_no AND p.span_id = c.parent_span_id
             JOIN services cs ON cs.id = c.service_id JOIN services ps ON ps.id = p.service_id
             WHERE t.start_ns >= ?1 AND t.start_ns < ?2 AND c.start_ns >= ?3 AND c.start_ns < ?2
               AND c.service_id != p.service_id
             GROUP BY ps.name, cs.name ORDER BY ps.name, cs.name",
        )
        .map_err(internal)?;
    let clamp = |ns: u64| ns.min(i64::MAX as u64) as i64;
    // A trace may start before the window and call within it: its start is looked for a day earlier.
    let lookback = 24 * 3600 * 1_000_000_000u64;
    let rows = statement
        .query_map(params![clamp(start_ns.saturating_sub(lookback)), clamp(end_ns), clamp(start_ns)], |row| {
            Ok(ServiceCall { parent: row.get(0)?, child: row.get(1)?, call_count: row.get::<_, i64>(2)? as u64 })
        })
        .map_err(internal)?;
    let calls: Vec<ServiceCall> = rows.collect::<Result<_, _>>().map_err(internal)?;
    Ok(calls)
}

pub(crate) fn failure_counts(connection: &Connection, window: &FailureWindow) -> Result<Vec<FailureCount>, StoreError> {
    let service_id: Option<i64> = match &window.service {
        None => None,
        Some(name) => {
            let id = connection
                .prepare_cached("SELECT id FROM services WHERE name = ?1")
                .and_then(|mut statement| statement.query_row([name], |row| row.get(0)).optional())
                .map_err(internal)?;
            match id {
                Some(id) => Some(id),
                None => return Ok(Vec::new()),
            }
        }
    };
    // Failed templates are few: each one's spans in the window are read through
    // spans_template_start. The bare trace_id column comes from the row holding max(start_ns).
    let mut statement = connection
        .prepare_cached(
            "SELECT (s.start_ns - ?1) / ?3, sv.name, t.id, t.text, count(*), max(s.start_ns), s.trace_id, t.category
             FROM templates t JOIN spans s ON s.template_id = t.id JOIN services sv ON sv.id = s.service_id
             WHERE t.failed != 0 AND s.start_ns >= ?1 AND s.start_ns < ?2 AND (?4 IS NULL OR s.service_id = ?4)
             GROUP BY 1, s.service_id, t.id",
        )
        .map_err(internal)?;
    let clamp = |ns: u64| ns.min(i64::MAX as u64) as i64;
    let rows = statement
        .query_map(
            params![clamp(window.start_ns), clamp(window.end_ns), clamp(window.bucket_ns.max(1)), service_id],
            |row| {
                let trace: Vec<u8> = row.get(6)?;
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    (row.get::<_, i64>(4)?, row.get::<_, i64>(5)?),
                    trace,
                    row.get(7)?,
                ))
            },
        )
        .map_err(internal)?;
    let mut counts = Vec::new();
    for row in rows {
        let (bucket, service, template_id, template, (spans, newest_ns), trace, category) = row.map_err(internal)?;
        let newest_trace =
            TraceId::from_slice(&trace).map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?;
        counts.push(FailureCount {
            bucket: bucket as u32,
            service,
            template_id,
            template,
            category,
            spans: spans as u64,
            newest_ns: newest_ns as u64,
            newest_trace,
        });
    }
    Ok(counts)
}

/// Entities of `kind` (any) whose value starts with `prefix`, with their trace counts.
pub(crate) fn entities(
    connection: &Connection,
    kind: Option<semtrace_store::entity::EntityKind>,
    prefix: &str,
    limit: usize,
) -> Result<Vec<semtrace_store::entity::EntityCount>, StoreError> {
    // The prefix as a key range, so the primary keys (kind, value, …) serve it.
    let upper = format!("{prefix}\u{10FFFF}");
    let mut statement = connection
        .prepare_cached(
            "SELECT kind, value, sum(traces), sum(resources) FROM (
                 SELECT kind, value, traces, 0 AS resources FROM entity_values
                 WHERE (?1 IS NULL OR kind = ?1) AND value >= ?2 AND value < ?3
                 UNION ALL
                 SELECT kind, value, 0, count(*) FROM resource_entities
                 WHERE (?1 IS NULL OR kind = ?1) AND value >= ?2 AND value < ?3 GROUP BY kind, value)
             GROUP BY kind, value ORDER BY 3 DESC, 4 DESC, kind, value LIMIT ?4",
        )
        .map_err(internal)?;
    let rows = statement
        .query_map(rusqlite::params![kind.map(|kind| kind.code()), prefix, upper, limit as i64], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, i64>(3)?))
        })
        .map_err(internal)?;
    let mut found = Vec::new();
    for row in rows {
        let (code, value, traces, resources) = row.map_err(internal)?;
        if let Some(kind) = semtrace_store::entity::EntityKind::from_code(code) {
            found.push(semtrace_store::entity::EntityCount {
                kind,
                value,
                traces: traces as u64,
                resources: resources as u64,
            });
        }
    }
    Ok(found)
}
