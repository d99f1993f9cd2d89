//! Reads for search: templates, their embeddings, spans by template, full-text error search.

use crate::codec::{OF_TRACE, SPAN_NAME};
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};
use semtrace_model::{SpanId, TraceId};
use semtrace_store::policy::{self, PerTrace, Words, STATUS_ERROR};
use semtrace_store::{PendingTemplate, SpanFilter, SpanHit, SpanProfile, StoreError, TemplateVector};
use semtrace_summary::Outcome;

use crate::{codec, internal};

pub(crate) fn pending_templates(connection: &Connection, limit: usize) -> Result<Vec<PendingTemplate>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT id, text, failed, failure FROM templates WHERE embedding IS NULL ORDER BY id LIMIT ?1")
        .map_err(internal)?;
    let rows = statement
        .query_map([limit as i64], |row| {
            Ok(PendingTemplate {
                id: row.get(0)?,
                text: row.get(1)?,
                outcome: Outcome::from_i64(row.get(2)?),
                failure: row.get(3)?,
            })
        })
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

pub(crate) fn uncategorized_templates(
    connection: &Connection,
    limit: usize,
) -> Result<Vec<semtrace_store::UncategorizedTemplate>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id, text, failure FROM templates WHERE failed != 0 AND category IS NULL ORDER BY id LIMIT ?1",
        )
        .map_err(internal)?;
    let rows = statement
        .query_map([limit as i64], |row| {
            Ok(semtrace_store::UncategorizedTemplate { id: row.get(0)?, text: row.get(1)?, failure: row.get(2)? })
        })
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

pub(crate) fn template_categories(
    connection: &Connection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT category FROM templates WHERE id = ?1 AND category IS NOT NULL")
        .map_err(internal)?;
    let mut categories = std::collections::HashMap::new();
    for id in ids {
        if let Some(category) = statement.query_row([id], |row| row.get::<_, String>(0)).optional().map_err(internal)? {
            categories.insert(*id, category);
        }
    }
    Ok(categories)
}

pub(crate) fn template_embeddings(connection: &Connection) -> Result<Vec<TemplateVector>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id, embedding, failed, text, failure_embedding FROM templates WHERE embedding IS NOT NULL",
        )
        .map_err(internal)?;
    let floats = |bytes: &[u8]| {
        bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes(chunk.try_into().expect("4 bytes"))).collect()
    };
    let rows = statement
        .query_map([], |row| {
            Ok(TemplateVector {
                id: row.get(0)?,
                vector: floats(row.get_ref(1)?.as_blob()?),
                outcome: Outcome::from_i64(row.get(2)?),
                slow: semtrace_summary::is_slow(row.get_ref(3)?.as_str()?),
                failure_vector: row.get_ref(4)?.as_blob_or_null()?.map(floats),
            })
        })
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// (templates, templates without an embedding).
pub(crate) fn template_counts(connection: &Connection) -> Result<(u64, u64), StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        connection.query_row(sql, [], |row| row.get::<_, i64>(0)).map(|n| n as u64).map_err(internal)
    };
    Ok((count("SELECT count(*) FROM templates")?, count("SELECT count(*) FROM templates WHERE embedding IS NULL")?))
}

/// Query words as an FTS5 query: each quoted, so no word is read as an operator; all of them,
/// or any of them.
pub(crate) fn fts_terms(words: &[String], round: Words) -> String {
    let joiner = match round {
        Words::All => " ",
        Words::Any => " OR ",
    };
    words.iter().map(|word| format!("\"{word}\"")).collect::<Vec<_>>().join(joiner)
}

pub(crate) fn match_templates(
    connection: &Connection,
    query: &str,
    limit: usize,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let words = semtrace_store::text::query_words(query);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let terms = fts_terms(&words, Words::Any);
    let mut statement = connection
        .prepare_cached(
            "SELECT rowid, bm25(templates_fts) AS rank FROM templates_fts WHERE templates_fts MATCH ?1
             ORDER BY rank LIMIT ?2",
        )
        .map_err(internal)?;
    let rows = statement
        .query_map(params![terms, limit as i64], |row| Ok((row.get(0)?, -row.get::<_, f64>(1)?)))
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// The filter as SQL parameters: service id (None: any; Some(None): an unknown service, so nothing).
pub(crate) struct Bound {
    service_id: Option<i64>,
    status: Option<i32>,
    start_ns: i64,
    end_ns: i64,
    exclude_trace: Option<Vec<u8>>,
    failed: Option<bool>,
    min_duration_ns: Option<i64>,
    max_duration_ns: Option<i64>,
    operation: Option<String>,
    category: Option<String>,
    entity_kind: Option<i16>,
    entity_value: Option<String>,
    entity_term: Option<String>,
}

pub(crate) fn bind(connection: &Connection, filter: &SpanFilter) -> Result<Option<Bound>, StoreError> {
    let service_id = match &filter.service {
        None => None,
        Some(name) => {
            let id: Option<i64> = connection
                .prepare_cached("SELECT id FROM services WHERE name = ?1")
                .and_then(|mut statement| statement.query_row([name], |row| row.get(0)).optional())
                .map_err(internal)?;
            match id {
                Some(id) => Some(id),
                None => return Ok(None),
            }
        }
    };
    let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
    Ok(Some(Bound {
        service_id,
        status: filter.status.map(|status| status.to_otlp()),
        start_ns: filter.start_ns.map_or(i64::MIN, to_i64),
        end_ns: filter.end_ns.map_or(i64::MAX, to_i64),
        exclude_trace: filter.exclude_trace.map(|id| id.as_bytes().to_vec()),
        failed: filter.failed,
        min_duration_ns: filter.min_duration_ns.map(to_i64),
        max_duration_ns: filter.max_duration_ns.map(to_i64),
        operation: filter.operation.clone(),
        category: filter.category.clone(),
        entity_kind: filter.entity.as_ref().map(|(kind, _)| kind.code()),
        entity_value: filter.entity.as_ref().map(|(_, value)| value.clone()),
        entity_term: filter.entity.as_ref().map(|(kind, value)| semtrace_store::entity::term(*kind, value)),
    }))
}

impl Bound {
    /// Parameters ?1 to ?14 of a query using [`FILTER_SQL`]: `first`, the filter, `limit` (?7),
    /// then the outcome wanted (?8), the minimum duration (?9), the maximum duration (?10), the
    /// operation (?11), the error category (?12) and the entity's kind, value and word (?13 to ?15).
    pub(crate) fn params<'a>(
        &'a self,
        first: &'a dyn rusqlite::ToSql,
        limit: &'a i64,
    ) -> [&'a dyn rusqlite::ToSql; 15] {
        [
            first,
            &self.service_id,
            &self.status,
            &self.start_ns,
            &self.end_ns,
            &self.exclude_trace,
            limit,
            &self.failed,
            &self.min_duration_ns,
            &self.max_duration_ns,
            &self.operation,
            &self.category,
            &self.entity_kind,
            &self.entity_value,
            &self.entity_term,
        ]
    }
}

const FILTER_SQL: &str = "(?2 IS NULL OR s.service_id = ?2) AND (?3 IS NULL OR s.status_code = ?3)
     AND s.start_ns >= ?4 AND s.start_ns < ?5 AND (?6 IS NULL OR s.trace_id != ?6)
     AND (?8 IS NULL OR coalesce((SELECT t.failed != 0 FROM templates t WHERE t.id = s.template_id), 0) = ?8)
     AND (?9 IS NULL OR s.end_ns - s.start_ns >= ?9) AND (?10 IS NULL OR s.end_ns - s.start_ns <= ?10)
     AND (?11 IS NULL OR s.operation_id IN (SELECT o.id FROM operations o WHERE o.name = ?11) OR s.name = ?11)
     AND (?12 IS NULL OR s.template_id IN (SELECT c.id FROM templates c WHERE c.category = ?12
          OR (?12 = 'unknown' AND c.category IS NULL AND c.failed != 0)))
     AND (?13 IS NULL OR s.trace_id IN (SELECT e.trace_id FROM entities_fts JOIN spans e ON e.id = entities_fts.rowid
                                        WHERE entities_fts MATCH ?15)
          OR s.resource_id IN (SELECT r.resource_id FROM resource_entities r WHERE r.kind = ?13 AND r.value = ?14))";

/// Reads the spans of the chosen rows, in the order given.
fn hits(connection: &Connection, rows: Vec<(i64, f64)>) -> Result<Vec<SpanHit>, StoreError> {
    let mut hits = Vec::with_capacity(rows.len());
    for (id, score) in rows {
        for (span, template_id) in codec::read_spans(connection, "s.id = ?1", [id]).map_err(internal)? {
            hits.push(SpanHit { span, template_id, score });
        }
    }
    Ok(hits)
}

pub(crate) fn spans_of_templates(
    connection: &Connection,
    template_ids: &[i64],
    filter: &SpanFilter,
    max: usize,
    per_trace: PerTrace,
) -> Result<Vec<SpanHit>, StoreError> {
    let Some(bound) = bind(connection, filter)? else { return Ok(Vec::new()) };
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT s.id, s.trace_id FROM spans s WHERE s.template_id = ?1 AND {FILTER_SQL}
             ORDER BY s.start_ns DESC LIMIT ?7"
        ))
        .map_err(internal)?;
    let id_set = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<HashSet<i64>, StoreError> {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_map(params, |row| row.get(0))?.collect())
            .map_err(internal)
    };
    let of_service = match bound.service_id {
        Some(service_id) => {
            Some(id_set("SELECT template_id FROM template_services WHERE service_id = ?1", &[&service_id])?)
        }
        None => None,
    };
    let failed = match policy::needs_failed_templates(filter) {
        true => Some(id_set("SELECT id FROM templates WHERE failed != 0", &[])?),
        false => None,
    };
    let template_ids = policy::prune_templates(template_ids, filter, of_service.as_ref(), failed.as_ref());
    let per_template = policy::spans_per_template(max) as i64;
    let mut collector = policy::Collector::new(per_trace, max);
    'templates: for template_id in &template_ids {
        let mut rows = statement.query(bound.params(template_id, &per_template)).map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            let trace: Vec<u8> = row.get(1).map_err(internal)?;
            if collector.offer(trace, (row.get(0).map_err(internal)?, 0.0)) {
                break 'templates;
            }
        }
    }
    hits(connection, collector.into_chosen())
}

pub(crate) fn search_errors(
    connection: &Connection,
    query: &str,
    filter: &SpanFilter,
    limit: usize,
) -> Result<Vec<SpanHit>, StoreError> {
    let Some(bound) = bind(connection, filter)? else { return Ok(Vec::new()) };
    let words = semtrace_store::text::query_words(query);
    if words.is_empty() {
        // No words: the newest errors.
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT s.id FROM spans s WHERE s.status_code = {STATUS_ERROR} AND ?1 IS NULL AND {FILTER_SQL}
                 ORDER BY s.start_ns DESC LIMIT ?7"
            ))
            .map_err(internal)?;
        let rows = statement
            .query_map(bound.params(&None::<i64>, &(limit as i64)), |row| Ok((row.get(0)?, 0.0)))
            .map_err(internal)?;
        let rows = rows.collect::<Result<Vec<_>, _>>().map_err(internal)?;
        return hits(connection, rows);
    }
    // Spans matched by their own error text, and spans matched by the severe log records about
    // them; each list ranked by BM25, then merged.
    let mut by_span = connection
        .prepare_cached(&format!(
            "SELECT s.id, bm25(errors_fts, 2.0, 1.0) AS rank, s.start_ns FROM errors_fts
             JOIN spans s ON s.id = errors_fts.rowid
             WHERE errors_fts MATCH ?1 AND {FILTER_SQL}
             ORDER BY rank, s.start_ns DESC LIMIT ?7"
        ))
        .map_err(internal)?;
    let mut by_log = connection
        .prepare_cached(&format!(
            "SELECT s.id, bm25(logs_fts, 2.0, 1.0) AS rank, s.start_ns FROM logs_fts
             JOIN logs l ON l.id = logs_fts.rowid
             JOIN traces lt ON lt.trace_id = l.trace_id
             JOIN spans s ON s.trace_no = lt.id AND s.span_id = l.span_id
             WHERE logs_fts MATCH ?1 AND {FILTER_SQL}
             ORDER BY rank, s.start_ns DESC LIMIT ?7"
        ))
        .map_err(internal)?;
    let mut run = |terms: &str| -> Result<Vec<(i64, f64)>, StoreError> {
        let mut found = Vec::new();
        for statement in [&mut by_span, &mut by_log] {
            let rows = statement
                .query_map(bound.params(&terms, &(limit as i64)), |row| {
                    Ok((row.get(0)?, -row.get::<_, f64>(1)?, row.get(2)?))
                })
                .map_err(internal)?;
            for row in rows {
                found.push(row.map_err(internal)?);
            }
        }
        Ok(semtrace_store::merge_ranked(found, limit))
    };
    let mut rows = Vec::new();
    for round in policy::word_rounds(&words) {
        rows = run(&fts_terms(&words, *round))?;
        if !rows.is_empty() {
            break;
        }
    }
    hits(connection, rows)
}

pub(crate) fn trace_profiles(
    connection: &Connection,
    keys: &crate::trace_keys::TraceKeys,
    trace_ids: &[TraceId],
) -> Result<HashMap<TraceId, Vec<SpanProfile>>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT s.span_id, s.parent_span_id, sv.name, {SPAN_NAME}, s.start_ns, s.end_ns, s.template_id, t.failed
             FROM spans s JOIN services sv ON sv.id = s.service_id JOIN operations o ON o.id = s.operation_id
             LEFT JOIN templates t ON t.id = s.template_id
             WHERE {OF_TRACE}",
        ))
        .map_err(internal)?;
    let mut profiles = HashMap::new();
    for trace_id in trace_ids {
        let Some(number) = keys.number(connection, trace_id.as_bytes()).map_err(internal)? else { continue };
        let rows = statement
            .query_map([number], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, Option<Vec<u8>>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                    row.get::<_, Option<i64>>(7)?,
                ))
            })
            .map_err(internal)?;
        let mut spans = Vec::new();
        for row in rows {
            let (span_id, parent, service, name, start_ns, end_ns, template_id, failed) = row.map_err(internal)?;
            spans.push(SpanProfile {
                span_id: SpanId::from_slice(&span_id)
                    .map_err(|err| StoreError::Internal(format!("stored span id: {err}")))?,
                parent_span_id: parent.as_deref().and_then(|parent| SpanId::from_slice(parent).ok()),
                service,
                name,
                start_ns: start_ns as u64,
                end_ns: end_ns as u64,
                template_id,
                outcome: Outcome::from_i64(failed.unwrap_or(0)),
            });
        }
        if !spans.is_empty() {
            profiles.insert(*trace_id, spans);
        }
    }
    Ok(profiles)
}
