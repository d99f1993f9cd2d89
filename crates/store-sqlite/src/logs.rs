//! Reads of log records: those waiting for the joiner, those of spans and traces, error search.

use rusqlite::{params, Connection};
use semtrace_model::{LogRecord, SpanId, TraceId};
use semtrace_store::{LogHit, PendingLog, SpanFilter, StoreError};

use crate::internal;
use crate::trace_keys::TraceKeys;
use semtrace_store::policy;

use crate::search::{bind, fts_terms};

const SELECT: &str = "SELECT l.record, r.body, c.body, l.id, l.received_ns FROM logs l
     JOIN resources r ON r.id = l.resource_id JOIN scopes c ON c.id = l.scope_id";

fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<LogRecord> {
    let (record, resource, scope) = (row.get_ref(0)?.as_str()?, row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
    semtrace_store::row::decode_log(record, resource, scope)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err)))
}

pub(crate) fn pending(connection: &Connection, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!("{SELECT} WHERE l.join_state = 1 AND l.id > ?1 ORDER BY l.id LIMIT ?2"))
        .map_err(internal)?;
    let rows = statement
        .query_map(params![after_id, limit as i64], |row| {
            Ok(PendingLog { id: row.get(3)?, received_ns: row.get(4)?, record: decode(row)? })
        })
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// Records are found by their trace's number (`logs_trace`).
pub(crate) fn evidence(
    connection: &Connection,
    keys: &TraceKeys,
    spans: &[(TraceId, SpanId)],
) -> Result<Vec<LogRecord>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!("{SELECT} WHERE l.trace_no = ?1 AND l.span_id = ?2 AND l.severe = 1"))
        .map_err(internal)?;
    let mut logs = Vec::new();
    for (trace_id, span_id) in spans {
        let Some(number) = keys.number(connection, trace_id.as_bytes()).map_err(internal)? else { continue };
        let rows = statement.query_map(params![number, span_id.as_bytes().as_slice()], decode).map_err(internal)?;
        for log in rows {
            logs.push(log.map_err(internal)?);
        }
    }
    logs.sort_by_key(LogRecord::time);
    Ok(logs)
}

pub(crate) fn of_trace(
    connection: &Connection,
    keys: &TraceKeys,
    trace_id: TraceId,
) -> Result<Vec<LogRecord>, StoreError> {
    let Some(number) = keys.number(connection, trace_id.as_bytes()).map_err(internal)? else { return Ok(Vec::new()) };
    let mut statement = connection
        .prepare_cached(&format!("{SELECT} WHERE l.trace_no = ?1 ORDER BY l.time_ns, l.id"))
        .map_err(internal)?;
    let rows = statement.query_map([number], decode).map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// The filter over `logs l`: service, time range, trace excluded; a status filter other than
/// ERROR, an outcome other than failed, or a duration (records have none) finds no severe record;
/// nor does an operation, an error category or an entity (records found on their own have none).
const FILTER_SQL: &str = "(?2 IS NULL OR l.service_id = ?2) AND (?3 IS NULL OR ?3 = 2)
     AND l.time_ns >= ?4 AND l.time_ns < ?5 AND (?6 IS NULL OR l.trace_id IS NULL OR l.trace_id != ?6)
     AND (?8 IS NULL OR ?8 = 1) AND ?9 IS NULL AND ?10 IS NULL AND ?11 IS NULL AND ?12 IS NULL
     AND ?13 IS NULL AND ?14 IS NULL AND ?15 IS NULL";

/// Severe records no stored span holds, matching the words of `query`.
pub(crate) fn search(
    connection: &Connection,
    query: &str,
    filter: &SpanFilter,
    limit: usize,
) -> Result<Vec<LogHit>, StoreError> {
    let Some(bound) = bind(connection, filter)? else { return Ok(Vec::new()) };
    let unheld = "NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_no = l.trace_no AND s.span_id = l.span_id)";
    let words = semtrace_store::text::query_words(query);
    if words.is_empty() {
        // No words: the newest severe records.
        let mut statement = connection
            .prepare_cached(&format!(
                "{SELECT} WHERE l.severe = 1 AND ?1 IS NULL AND {FILTER_SQL} AND {unheld}
                 ORDER BY l.time_ns DESC LIMIT ?7"
            ))
            .map_err(internal)?;
        let rows = statement
            .query_map(bound.params(&None::<i64>, &(limit as i64)), |row| {
                Ok(LogHit { record: decode(row)?, score: 0.0 })
            })
            .map_err(internal)?;
        return rows.collect::<Result<_, _>>().map_err(internal);
    }
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT l.record, r.body, c.body, bm25(logs_fts, 2.0, 1.0) AS rank FROM logs_fts
             JOIN logs l ON l.id = logs_fts.rowid
             JOIN resources r ON r.id = l.resource_id JOIN scopes c ON c.id = l.scope_id
             WHERE logs_fts MATCH ?1 AND {FILTER_SQL} AND {unheld}
             ORDER BY rank, l.time_ns DESC LIMIT ?7"
        ))
        .map_err(internal)?;
    let mut run = |terms: &str| -> Result<Vec<LogHit>, StoreError> {
        let rows = statement
            .query_map(bound.params(&terms, &(limit as i64)), |row| {
                Ok(LogHit { record: decode(row)?, score: -row.get::<_, f64>(3)? })
            })
            .map_err(internal)?;
        rows.collect::<Result<_, _>>().map_err(internal)
    };
    let mut hits = Vec::new();
    for round in policy::word_rounds(&words) {
        hits = run(&fts_terms(&words, *round))?;
        if !hits.is_empty() {
            break;
        }
    }
    Ok(hits)
}
