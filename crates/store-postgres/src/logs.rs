//! Log records: writes, the joiner's reads and decisions, reads by span and trace, error search.

use deadpool_postgres::Object;
use semtrace_model::{LogRecord, SpanId, TraceId};
use semtrace_store::policy;
use semtrace_store::row::LogRow;
use semtrace_store::text::query_words;
use semtrace_store::{JoinDecisions, LogHit, PendingLog, SpanFilter, StoreError, WriteOutcome};
use tokio_postgres::Row;

use crate::internal;
use crate::sql;
use crate::write::{body_ids, ensure_template_services, template_ids, Caches, TemplateOf};

pub(crate) async fn write(
    client: &mut Object,
    caches: &Caches,
    rows: &[LogRow],
    received_ns: i64,
) -> Result<WriteOutcome, StoreError> {
    let resources = body_ids(client, &caches.resources, "resources", rows.iter().map(|row| &row.resource)).await?;
    let scopes = body_ids(client, &caches.scopes, "scopes", rows.iter().map(|row| &row.scope)).await?;
    let keys: Vec<&[u8]> = rows.iter().map(|row| row.key.as_slice()).collect();
    let trace_ids: Vec<Option<&[u8]>> = rows.iter().map(|row| row.trace_id.as_ref().map(|id| id.as_slice())).collect();
    let span_ids: Vec<Option<&[u8]>> = rows.iter().map(|row| row.span_id.as_ref().map(|id| id.as_slice())).collect();
    let times: Vec<i64> = rows.iter().map(|row| row.time_ns).collect();
    let severities: Vec<i16> = rows.iter().map(|row| row.severity_number as i16).collect();
    let severe: Vec<bool> = rows.iter().map(|row| row.severe).collect();
    let services: Vec<String> = rows.iter().map(|row| sql::text(&row.service).into_owned()).collect();
    let records: Vec<String> = rows.iter().map(|row| sql::text(&row.record).into_owned()).collect();
    let join_states: Vec<i16> = rows.iter().map(|row| i16::from(row.joins)).collect();
    let error_types: Vec<Option<String>> =
        rows.iter().map(|row| row.error_type.as_deref().map(|text| sql::text(text).into_owned())).collect();
    let error_texts: Vec<Option<String>> =
        rows.iter().map(|row| row.error_text.as_deref().map(|text| sql::text(text).into_owned())).collect();
    let inserted = client
        .execute(
            "INSERT INTO logs (key, trace_id, span_id, time_ns, received_ns, severity_number, severe, service,
                record, resource_id, scope_id, join_state, error_type, error_text)
             SELECT k, t, s, tm, $14, sev, sv, svc, rec, res, sc, js, et, ex
             FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::int2[], $6::bool[], $7::text[],
                         $8::text[], $9::int8[], $10::int8[], $11::int2[], $12::text[], $13::text[])
                  AS r(k, t, s, tm, sev, sv, svc, rec, res, sc, js, et, ex)
             ON CONFLICT (key) DO NOTHING",
            &[
                &keys,
                &trace_ids,
                &span_ids,
                &times,
                &severities,
                &severe,
                &services,
                &records,
                &resources,
                &scopes,
                &join_states,
                &error_types,
                &error_texts,
                &received_ns,
            ],
        )
        .await
        .map_err(internal)? as usize;
    Ok(WriteOutcome { inserted, duplicates: rows.len() - inserted })
}

const COLUMNS: &str = "l.record, r.body::text, c.body::text, l.id, l.received_ns";
const FROM: &str = "FROM logs l JOIN resources r ON r.id = l.resource_id JOIN scopes c ON c.id = l.scope_id";
const SELECT: &str = "SELECT l.record, r.body::text, c.body::text, l.id, l.received_ns
     FROM logs l JOIN resources r ON r.id = l.resource_id JOIN scopes c ON c.id = l.scope_id";

fn decode(row: &Row) -> Result<LogRecord, StoreError> {
    let (record, resource, scope): (&str, &str, &str) = (row.get(0), row.get(1), row.get(2));
    semtrace_store::row::decode_log(record, resource, scope)
        .map_err(|err| StoreError::Internal(format!("stored log record is not readable: {err}")))
}

pub(crate) async fn pending(client: &Object, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError> {
    let statement = client
        .prepare_cached(&format!("{SELECT} WHERE l.join_state = 1 AND l.id > $1 ORDER BY l.id LIMIT $2"))
        .await
        .map_err(internal)?;
    let rows = client.query(&statement, &[&after_id, &(limit as i64)]).await.map_err(internal)?;
    rows.iter().map(|row| Ok(PendingLog { id: row.get(3), received_ns: row.get(4), record: decode(row)? })).collect()
}

pub(crate) async fn finish(client: &mut Object, caches: &Caches, decisions: &JoinDecisions) -> Result<(), StoreError> {
    let templates: Vec<TemplateOf<'_>> = decisions
        .spans
        .iter()
        .map(|span| TemplateOf {
            hash: span.summary.template_hash(),
            text: &span.summary.template,
            outcome: span.summary.outcome,
            failure: span.summary.failure.as_deref(),
            service: &span.service,
        })
        .collect();
    let ids = template_ids(client, caches, &templates).await?;
    ensure_template_services(client, caches, &templates, &ids).await?;
    let transaction = client.transaction().await.map_err(internal)?;
    if !decisions.spans.is_empty() {
        let traces: Vec<&[u8]> = decisions.spans.iter().map(|span| span.trace_id.as_bytes().as_slice()).collect();
        let spans: Vec<&[u8]> = decisions.spans.iter().map(|span| span.span_id.as_bytes().as_slice()).collect();
        let starts: Vec<std::time::SystemTime> = decisions
            .spans
            .iter()
            .map(|span| sql::timestamp(i64::try_from(span.start_ns).unwrap_or(i64::MAX) / 1000 * 1000))
            .collect();
        let summaries: Vec<String> =
            decisions.spans.iter().map(|span| sql::text(&span.summary.text).into_owned()).collect();
        transaction
            .execute(
                "UPDATE spans s SET template_id = u.template, summary = u.summary, updated_at = now()
                 FROM unnest($1::bytea[], $2::bytea[], $3::timestamptz[], $4::int8[], $5::text[])
                      AS u(t, p, st, template, summary)
                 WHERE s.trace_id = u.t AND s.span_id = u.p AND s.start_time = u.st",
                &[&traces, &spans, &starts, &ids, &summaries],
            )
            .await
            .map_err(internal)?;
    }
    for (ids, state) in [(&decisions.joined, 2i16), (&decisions.missed, 3i16)] {
        if !ids.is_empty() {
            transaction
                .execute("UPDATE logs SET join_state = $2 WHERE id = ANY($1) AND join_state = 1", &[ids, &state])
                .await
                .map_err(internal)?;
        }
    }
    transaction.commit().await.map_err(internal)
}

pub(crate) async fn evidence(client: &Object, spans: &[(TraceId, SpanId)]) -> Result<Vec<LogRecord>, StoreError> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    let traces: Vec<&[u8]> = spans.iter().map(|(trace, _)| trace.as_bytes().as_slice()).collect();
    let span_ids: Vec<&[u8]> = spans.iter().map(|(_, span)| span.as_bytes().as_slice()).collect();
    let statement = client
        .prepare_cached(&format!(
            "{SELECT} JOIN unnest($1::bytea[], $2::bytea[]) AS k(t, p) ON l.trace_id = k.t AND l.span_id = k.p
             WHERE l.severe ORDER BY l.time_ns, l.id"
        ))
        .await
        .map_err(internal)?;
    let rows = client.query(&statement, &[&traces, &span_ids]).await.map_err(internal)?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn of_trace(client: &Object, trace_id: TraceId) -> Result<Vec<LogRecord>, StoreError> {
    let statement = client
        .prepare_cached(&format!("{SELECT} WHERE l.trace_id = $1 ORDER BY l.time_ns, l.id"))
        .await
        .map_err(internal)?;
    let rows = client.query(&statement, &[&trace_id.as_bytes().as_slice()]).await.map_err(internal)?;
    rows.iter().map(decode).collect()
}

/// The filter over `logs l`: service, time range, trace excluded; a status filter other than
/// ERROR, an outcome other than failed, or a duration (records have none) finds no severe record;
/// nor does an operation (`SpanFilter::excludes_records`, checked before the query).
const FILTER_SQL: &str = "($2::text IS NULL OR l.service = $2) AND ($3::int2 IS NULL OR $3 = 2)
     AND l.time_ns >= $4 AND l.time_ns < $5 AND ($6::bytea IS NULL OR l.trace_id IS NULL OR l.trace_id <> $6)
     AND ($8::bool IS NULL OR $8) AND $9::int8 IS NULL";

const UNHELD: &str = "NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = l.trace_id AND s.span_id = l.span_id)";

pub(crate) async fn search(
    client: &Object,
    query: &str,
    filter: &SpanFilter,
    limit: usize,
) -> Result<Vec<LogHit>, StoreError> {
    if filter.excludes_records() {
        return Ok(Vec::new());
    }
    let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
    let service = filter.service.clone();
    let status = filter.status.map(|status| status.to_otlp() as i16);
    let start_ns = filter.start_ns.map_or(i64::MIN, to_i64);
    let end_ns = filter.end_ns.map_or(i64::MAX, to_i64);
    let exclude = filter.exclude_trace.map(|id| id.as_bytes().to_vec());
    let failed = filter.failed;
    let min_duration = filter.min_duration_ns.map(to_i64);
    let limit = limit as i64;
    let words = query_words(query);
    if words.is_empty() {
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} {FROM} WHERE l.severe AND $1::text IS NULL AND {FILTER_SQL} AND {UNHELD}
                     ORDER BY l.time_ns DESC LIMIT $7"
                ),
                &[&None::<String>, &service, &status, &start_ns, &end_ns, &exclude, &limit, &failed, &min_duration],
            )
            .await
            .map_err(internal)?;
        return rows.iter().map(|row| Ok(LogHit { record: decode(row)?, score: 0.0 })).collect();
    }
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, ts_rank(l.error_tsv, q)::float8 AS rank {FROM} CROSS JOIN to_tsquery('simple', $1) q
             WHERE l.error_text IS NOT NULL AND l.error_tsv @@ q AND {FILTER_SQL} AND {UNHELD}
             ORDER BY rank DESC, l.time_ns DESC LIMIT $7"
        ))
        .await
        .map_err(internal)?;
    let mut hits: Vec<LogHit> = Vec::new();
    for round in policy::word_rounds(&words) {
        if !hits.is_empty() {
            break;
        }
        let terms = crate::read::tsquery(&words, *round);
        let rows = client
            .query(
                &statement,
                &[&terms, &service, &status, &start_ns, &end_ns, &exclude, &limit, &failed, &min_duration],
            )
            .await
            .map_err(internal)?;
        hits =
            rows.iter().map(|row| Ok(LogHit { record: decode(row)?, score: row.get(5) })).collect::<Result<_, _>>()?;
    }
    Ok(hits)
}
