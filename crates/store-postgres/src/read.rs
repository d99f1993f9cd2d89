//! Reads: spans back into the model, templates, and the searches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::ClientWrapper as Client;
use semtrace_model::{Event, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId};
use semtrace_store::encoding;
use semtrace_store::policy::{self, PerTrace, Words, STATUS_ERROR};
use semtrace_store::text::{bm25, query_words, Collection};
use semtrace_store::{PendingTemplate, SpanFilter, SpanHit, StoreError, TemplateVector};
use semtrace_summary::Outcome;
use tokio_postgres::{Row, Statement};

use crate::internal;
use crate::sql::{self, JsonText};

/// Columns of a whole span, over `spans s` joined to its resource `r` and scope `c`.
const SPAN_COLUMNS: &str = "s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status,
    s.status_message, s.trace_state, s.flags, s.attributes, s.events, s.links, s.dropped_attributes,
    s.dropped_events, s.dropped_links, s.resource_id, r.body, s.scope_id, c.body, s.template_id";

const SPAN_JOINS: &str = "JOIN resources r ON r.id = s.resource_id JOIN scopes c ON c.id = s.scope_id";

/// A statement prepared once per connection (deadpool keeps the cache). Connections plan every
/// execution for its parameters (`plan_cache_mode = force_custom_plan`, set when a connection is
/// made), so a filter left open (`$2 IS NULL OR …`) never gets a generic plan.
async fn prepared(client: &Client, sql: &str) -> Result<Statement, StoreError> {
    client.prepare_cached(sql).await.map_err(internal)
}

/// The ids in the first column of a query's rows.
async fn id_set(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<HashSet<i64>, StoreError> {
    let statement = prepared(client, sql).await?;
    Ok(client.query(&statement, params).await.map_err(internal)?.iter().map(|row| row.get(0)).collect())
}

fn corrupt(column: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored span has a bad {column}: {err}"))
}

/// Decodes rows of [`SPAN_COLUMNS`], sharing resources and scopes between spans.
fn decode(rows: &[Row]) -> Result<Vec<(Span, Option<i64>)>, StoreError> {
    let mut resources: HashMap<i64, Arc<Resource>> = HashMap::new();
    let mut scopes: HashMap<i64, Arc<Scope>> = HashMap::new();
    let json = |row: &Row, index: usize| -> Result<Option<String>, StoreError> {
        let text: Option<JsonText<'_>> = row.try_get(index).map_err(internal)?;
        Ok(text.map(|text| text.0.to_owned()))
    };
    let mut spans = Vec::with_capacity(rows.len());
    for row in rows {
        let resource_id: i64 = row.get(17);
        let resource = match resources.get(&resource_id) {
            Some(resource) => resource.clone(),
            None => {
                let body = json(row, 18)?.unwrap_or_default();
                let resource: Arc<Resource> =
                    Arc::new(encoding::resource_from_json(&body).map_err(|e| corrupt("resource", e))?);
                resources.insert(resource_id, resource.clone());
                resource
            }
        };
        let scope_id: i64 = row.get(19);
        let scope = match scopes.get(&scope_id) {
            Some(scope) => scope.clone(),
            None => {
                let body = json(row, 20)?.unwrap_or_default();
                let scope: Arc<Scope> = Arc::new(encoding::scope_from_json(&body).map_err(|e| corrupt("scope", e))?);
                scopes.insert(scope_id, scope.clone());
                scope
            }
        };
        let attributes = json(row, 11)?.unwrap_or_default();
        let events: Vec<Event> = match json(row, 12)? {
            Some(text) => encoding::events_from_json(&text).map_err(|e| corrupt("events", e))?,
            None => Vec::new(),
        };
        let links: Vec<Link> = match json(row, 13)? {
            Some(text) => encoding::links_from_json(&text).map_err(|e| corrupt("links", e))?,
            None => Vec::new(),
        };
        let parent: Option<&[u8]> = row.get(2);
        spans.push((
            Span {
                trace_id: TraceId::from_slice(row.get(0)).map_err(|e| corrupt("trace id", e))?,
                span_id: SpanId::from_slice(row.get(1)).map_err(|e| corrupt("span id", e))?,
                parent_span_id: parent.map(SpanId::from_slice).transpose().map_err(|e| corrupt("parent id", e))?,
                name: row.get(3),
                kind: SpanKind::from_otlp(i32::from(row.get::<_, i16>(4))),
                start_time_unix_nano: row.get::<_, i64>(5) as u64,
                end_time_unix_nano: row.get::<_, i64>(6) as u64,
                status: Status { code: StatusCode::from_otlp(i32::from(row.get::<_, i16>(7))), message: row.get(8) },
                trace_state: row.get(9),
                flags: row.get::<_, i64>(10) as u32,
                attributes: encoding::attributes_from_json(&attributes).map_err(|e| corrupt("attributes", e))?,
                events,
                links,
                dropped_attributes_count: row.get::<_, i32>(14) as u32,
                dropped_events_count: row.get::<_, i32>(15) as u32,
                dropped_links_count: row.get::<_, i32>(16) as u32,
                resource,
                scope,
            },
            row.get(21),
        ));
    }
    Ok(spans)
}

pub(crate) async fn trace_spans(client: &Client, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
    let statement = prepared(
        client,
        &format!("SELECT {SPAN_COLUMNS} FROM spans s {SPAN_JOINS} WHERE s.trace_id = $1 ORDER BY s.start_ns"),
    )
    .await?;
    let rows = client.query(&statement, &[&trace_id.as_bytes().as_slice()]).await.map_err(internal)?;
    Ok(decode(&rows)?.into_iter().map(|(span, _)| span).collect())
}

/// A span's key: (trace id, span id, start time): the primary key, partition included.
type Key = (Vec<u8>, Vec<u8>, SystemTime);

/// Reads the spans of `keys`, in the order given, each with its score.
async fn hits(client: &Client, keys: Vec<(Key, f64)>) -> Result<Vec<SpanHit>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let traces: Vec<&[u8]> = keys.iter().map(|((trace, _, _), _)| trace.as_slice()).collect();
    let spans: Vec<&[u8]> = keys.iter().map(|((_, span, _), _)| span.as_slice()).collect();
    let starts: Vec<SystemTime> = keys.iter().map(|((_, _, start), _)| *start).collect();
    let statement = prepared(
        client,
        &format!(
            "SELECT {SPAN_COLUMNS} FROM unnest($1::bytea[], $2::bytea[], $3::timestamptz[]) AS k(t, p, st)
             JOIN spans s ON s.trace_id = k.t AND s.span_id = k.p AND s.start_time = k.st {SPAN_JOINS}"
        ),
    )
    .await?;
    let rows = client.query(&statement, &[&traces, &spans, &starts]).await.map_err(internal)?;
    let mut found: HashMap<(TraceId, SpanId), (Span, Option<i64>)> =
        decode(&rows)?.into_iter().map(|(span, template)| ((span.trace_id, span.span_id), (span, template))).collect();
    let mut hits = Vec::with_capacity(keys.len());
    for ((trace, span, _), score) in keys {
        let (Ok(trace), Ok(span)) = (TraceId::from_slice(&trace), SpanId::from_slice(&span)) else { continue };
        if let Some((span, template_id)) = found.remove(&(trace, span)) {
            hits.push(SpanHit { span, template_id, score });
        }
    }
    Ok(hits)
}

/// How long a node's claim on pending templates lasts: past it (the node died, or its write
/// failed) another node takes them.
const CLAIM_SECONDS: f64 = 60.0;

/// Claims up to `limit` pending templates for `node`, oldest first: those unclaimed, claimed by
/// it before (it restarted) or whose claim ran out. Rows another node is claiming at the same
/// moment are skipped, not waited for, so nodes share the pending templates out between them.
pub(crate) async fn claim_pending_templates(
    client: &Client,
    limit: usize,
    node: &str,
) -> Result<Vec<PendingTemplate>, StoreError> {
    let rows = client
        .query(
            "UPDATE templates t SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3)
             FROM (SELECT id FROM templates
                   WHERE embedding IS NULL
                     AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2)
                   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) c
             WHERE t.id = c.id
             RETURNING t.id, t.text, t.failed, t.failure",
            &[&(limit as i64), &node, &CLAIM_SECONDS],
        )
        .await
        .map_err(internal)?;
    let mut pending: Vec<PendingTemplate> = rows
        .iter()
        .map(|row| PendingTemplate {
            id: row.get(0),
            text: row.get(1),
            outcome: Outcome::from_i64(i64::from(row.get::<_, i16>(2))),
            failure: row.get(3),
        })
        .collect();
    pending.sort_by_key(|template| template.id);
    Ok(pending)
}

pub(crate) async fn uncategorized_templates(
    client: &Client,
    limit: usize,
) -> Result<Vec<semtrace_store::UncategorizedTemplate>, StoreError> {
    let rows = client
        .query(
            "SELECT id, text, failure FROM templates WHERE failed <> 0 AND category IS NULL ORDER BY id LIMIT $1",
            &[&(limit as i64)],
        )
        .await
        .map_err(internal)?;
    Ok(rows
        .iter()
        .map(|row| semtrace_store::UncategorizedTemplate { id: row.get(0), text: row.get(1), failure: row.get(2) })
        .collect())
}

pub(crate) async fn template_embeddings(client: &Client) -> Result<Vec<TemplateVector>, StoreError> {
    let rows = client
        .query(&format!("SELECT {TEMPLATE_VECTOR} FROM templates WHERE embedding IS NOT NULL"), &[])
        .await
        .map_err(internal)?;
    Ok(rows.iter().map(template_vector).collect())
}

/// The columns [`template_vector`] reads.
const TEMPLATE_VECTOR: &str = "id, embedding, failed, text, failure_embedding";

/// A row of [`TEMPLATE_VECTOR`] as the vector index takes it.
fn template_vector(row: &tokio_postgres::Row) -> TemplateVector {
    TemplateVector {
        id: row.get(0),
        vector: row.get::<_, pgvector::Vector>(1).to_vec(),
        outcome: Outcome::from_i64(i64::from(row.get::<_, i16>(2))),
        slow: semtrace_summary::is_slow(row.get(3)),
        failure_vector: row.get::<_, Option<pgvector::Vector>>(4).map(|vector| vector.to_vec()),
    }
}

/// These templates' vectors, those embedded.
pub(crate) async fn template_vectors(client: &Client, ids: &[i64]) -> Result<Vec<TemplateVector>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {TEMPLATE_VECTOR} FROM templates WHERE id = ANY($1) AND embedding IS NOT NULL ORDER BY id"
            ),
            &[&ids],
        )
        .await
        .map_err(internal)?;
    Ok(rows.iter().map(template_vector).collect())
}

/// The `k` templates nearest `query` by cosine through the HNSW index, searched with
/// `hnsw.ef_search = ef_search` (set for this transaction only): (id, similarity), best first.
pub(crate) async fn nearest_templates(
    client: &mut deadpool_postgres::Object,
    query: &[f32],
    k: usize,
    ef_search: u32,
) -> Result<Vec<(i64, f32)>, StoreError> {
    let transaction = client.transaction().await.map_err(internal)?;
    transaction.batch_execute(&format!("SET LOCAL hnsw.ef_search = {ef_search}")).await.map_err(internal)?;
    let vector = pgvector::Vector::from(query.to_vec());
    let rows = transaction
        .query(
            "SELECT id, (1 - (embedding <=> $1))::float4 FROM templates WHERE embedding IS NOT NULL
             ORDER BY embedding <=> $1 LIMIT $2",
            &[&vector, &(k as i64)],
        )
        .await
        .map_err(internal)?;
    transaction.commit().await.map_err(internal)?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// About how many templates are stored: the planner's estimate (`reltuples`, kept by
/// autovacuum), counted exactly while the table is small or not yet analysed.
pub(crate) async fn templates_estimate(client: &Client) -> Result<u64, StoreError> {
    let estimate: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE relname = 'templates' AND relnamespace = current_schema()::regnamespace",
            &[],
        )
        .await
        .map_err(internal)?
        .get(0);
    if estimate >= 10_000.0 {
        return Ok(estimate as u64);
    }
    let row = client.query_one("SELECT count(*) FROM templates", &[]).await.map_err(internal)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// The highest number an embedding has taken (0 before any).
pub(crate) async fn embedding_watermark(client: &Client) -> Result<i64, StoreError> {
    let row = client.query_one("SELECT coalesce(max(embed_seq), 0) FROM templates", &[]).await.map_err(internal)?;
    Ok(row.get(0))
}

/// Templates embedded by nodes other than `node` with a number past `after`: (id, number).
pub(crate) async fn embedded_elsewhere(
    client: &Client,
    node: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows = client
        .query(
            "SELECT id, embed_seq FROM templates
             WHERE embed_seq > $1 AND embedded_by IS DISTINCT FROM $2 AND embedding IS NOT NULL
             ORDER BY embed_seq LIMIT $3",
            &[&after, &node, &(limit as i64)],
        )
        .await
        .map_err(internal)?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Most templates ranked for one query. Past this, matching templates beyond the first found are
/// not ranked and document frequencies count only those fetched (at ~100k templates and more).
const MAX_CANDIDATES: i64 = 20_000;

/// Templates holding any query word (the GIN index finds them), ranked by BM25 computed here
/// exactly as SQLite's FTS5 does, so both backends rank alike.
pub(crate) async fn match_templates(client: &Client, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError> {
    let words = query_words(query);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let any_word = tsquery(&words, Words::Any);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&any_word, &MAX_CANDIDATES];
    let (matching, collection) = tokio::try_join!(
        prepared(client, "SELECT id, text FROM templates WHERE tsv @@ to_tsquery('simple', $1) LIMIT $2"),
        prepared(client, "SELECT count(*), coalesce(avg(words), 0)::float8 FROM templates"),
    )?;
    let (candidates, stats) =
        tokio::try_join!(client.query(&matching, &params), client.query_one(&collection, &[])).map_err(internal)?;
    let collection = Collection { documents: stats.get::<_, i64>(0) as u64, mean_length: stats.get(1) };
    let texts: Vec<(i64, String)> = candidates.iter().map(|row| (row.get(0), row.get(1))).collect();
    let document_words: Vec<HashSet<String>> =
        texts.iter().map(|(_, text)| semtrace_store::text::words(text).collect()).collect();
    let frequency: Vec<u64> =
        words.iter().map(|word| document_words.iter().filter(|set| set.contains(word)).count() as u64).collect();
    let mut ranked: Vec<(i64, f64)> = texts
        .iter()
        .map(|(id, text)| (*id, bm25(&words, text, &frequency, collection)))
        .filter(|(_, score)| *score > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    Ok(ranked)
}

/// Query words as a `to_tsquery('simple', …)` argument: all of them, or any of them.
pub(crate) fn tsquery(words: &[String], round: Words) -> String {
    words.join(match round {
        Words::All => " & ",
        Words::Any => " | ",
    })
}

/// The filter as SQL parameters $2..$7 of [`FILTER_SQL`].
struct Bound {
    service: Option<String>,
    status: Option<i16>,
    start_ns: i64,
    end_ns: i64,
    /// Microsecond bounds for partition pruning and the time indexes.
    start_time: SystemTime,
    end_time: SystemTime,
    exclude_trace: Option<Vec<u8>>,
    failed: Option<bool>,
    min_duration_ns: Option<i64>,
    max_duration_ns: Option<i64>,
    operation: Option<String>,
    category: Option<String>,
    entity_kind: Option<i16>,
    entity_value: Option<String>,
    entity_term: Option<i64>,
}

const FILTER_SQL: &str = "($2::text IS NULL OR s.service = $2) AND ($3::int2 IS NULL OR s.status = $3)
     AND s.start_time >= $4 AND s.start_time <= $5 AND s.start_ns >= $6 AND s.start_ns < $7
     AND ($8::bytea IS NULL OR s.trace_id <> $8)
     AND ($10::bool IS NULL OR coalesce((SELECT t.failed <> 0 FROM templates t WHERE t.id = s.template_id), false) = $10)
     AND ($11::int8 IS NULL OR s.end_ns - s.start_ns >= $11) AND ($12::int8 IS NULL OR s.end_ns - s.start_ns <= $12)
     AND ($13::text IS NULL OR s.name = $13 OR s.operation = $13)
     AND ($14::text IS NULL OR s.template_id IN (SELECT c.id FROM templates c WHERE c.category = $14
          OR ($14 = 'unknown' AND c.category IS NULL AND c.failed <> 0)))
     AND ($15::int2 IS NULL OR s.trace_id IN (SELECT e.trace_id FROM trace_entity_terms e
          WHERE e.terms @> ARRAY[$17::int8])
          OR s.resource_id IN (SELECT r.resource_id FROM resource_entities r WHERE r.kind = $15 AND r.value = $16::text))";

impl Bound {
    fn new(filter: &SpanFilter) -> Self {
        let to_i64 = |nanos: u64| i64::try_from(nanos).unwrap_or(i64::MAX);
        let start_ns = filter.start_ns.map_or(0, to_i64);
        let end_ns = filter.end_ns.map_or(i64::MAX, to_i64);
        Bound {
            service: filter.service.clone(),
            status: filter.status.map(|status| status.to_otlp() as i16),
            start_ns,
            end_ns,
            // Round outwards to whole microseconds; the exact bounds are applied on `*_ns`.
            start_time: sql::timestamp(start_ns / 1000 * 1000),
            end_time: sql::timestamp(end_ns.saturating_add(999) / 1000 * 1000),
            exclude_trace: filter.exclude_trace.map(|id| id.as_bytes().to_vec()),
            failed: filter.failed,
            min_duration_ns: filter.min_duration_ns.map(to_i64),
            max_duration_ns: filter.max_duration_ns.map(to_i64),
            operation: filter.operation.clone(),
            category: filter.category.clone(),
            entity_kind: filter.entity.as_ref().map(|(kind, _)| kind.code()),
            entity_value: filter.entity.as_ref().map(|(_, value)| value.clone()),
            entity_term: filter.entity.as_ref().map(|(kind, value)| semtrace_store::entity::term_id(*kind, value)),
        }
    }

    /// Parameters $1 to $17: `first`, the filter, `limit` ($9), then the outcome wanted ($10),
    /// the minimum and maximum durations ($11, $12), the operation ($13), the error category
    /// ($14) and the entity's kind, value and word ($15 to $17).
    fn params<'a>(
        &'a self,
        first: &'a (dyn tokio_postgres::types::ToSql + Sync),
        limit: &'a i64,
    ) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 17] {
        [
            first,
            &self.service,
            &self.status,
            &self.start_time,
            &self.end_time,
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

/// Templates looked up per round trip while collecting spans of templates.
const TEMPLATES_PER_QUERY: usize = 32;

pub(crate) async fn spans_of_templates(
    client: &Client,
    template_ids: &[i64],
    filter: &SpanFilter,
    max: usize,
    per_trace: PerTrace,
) -> Result<Vec<SpanHit>, StoreError> {
    let bound = Bound::new(filter);
    let of_service = match &bound.service {
        Some(service) => {
            Some(id_set(client, "SELECT template_id FROM template_services WHERE service = $1", &[service]).await?)
        }
        None => None,
    };
    let failed = match policy::needs_failed_templates(filter) {
        true => Some(id_set(client, "SELECT id FROM templates WHERE failed <> 0", &[]).await?),
        false => None,
    };
    let template_ids = policy::prune_templates(template_ids, filter, of_service.as_ref(), failed.as_ref());
    let per_template = policy::spans_per_template(max) as i64;
    let statement = client
        .prepare_cached(&format!(
            "SELECT s.trace_id, s.span_id, s.start_time
             FROM unnest($1::int8[]) WITH ORDINALITY AS t(id, ord)
             CROSS JOIN LATERAL (
                 SELECT s.trace_id, s.span_id, s.start_time, s.start_ns FROM spans s
                 WHERE s.template_id = t.id AND {FILTER_SQL}
                 ORDER BY s.start_time DESC, s.start_ns DESC LIMIT $9) s
             ORDER BY t.ord, s.start_time DESC, s.start_ns DESC"
        ))
        .await
        .map_err(internal)?;
    let mut collector = policy::Collector::new(per_trace, max);
    'chunks: for chunk in template_ids.chunks(TEMPLATES_PER_QUERY) {
        let chunk = chunk.to_vec();
        let rows = client.query(&statement, &bound.params(&chunk, &per_template)).await.map_err(internal)?;
        for row in rows {
            let trace: Vec<u8> = row.get(0);
            if collector.offer(trace.clone(), ((trace, row.get(1), row.get(2)), 0.0)) {
                break 'chunks;
            }
        }
    }
    hits(client, collector.into_chosen()).await
}

pub(crate) async fn search_errors(
    client: &Client,
    query: &str,
    filter: &SpanFilter,
    limit: usize,
) -> Result<Vec<SpanHit>, StoreError> {
    let bound = Bound::new(filter);
    let limit = limit as i64;
    let words = query_words(query);
    let key = |row: &Row, score: f64| ((row.get(0), row.get(1), row.get(2)), score);
    if words.is_empty() {
        // No words: the newest errors.
        let rows = client
            .query(
                &format!(
                    "SELECT s.trace_id, s.span_id, s.start_time FROM spans s
                     WHERE s.status = {STATUS_ERROR} AND $1::text IS NULL AND {FILTER_SQL}
                     ORDER BY s.start_time DESC, s.start_ns DESC LIMIT $9"
                ),
                &bound.params(&None::<String>, &limit),
            )
            .await
            .map_err(internal)?;
        return hits(client, rows.iter().map(|row| key(row, 0.0)).collect()).await;
    }
    // Spans matched by their own error text, and spans matched by the severe log records about
    // them; each list ranked, then merged.
    let by_span = client
        .prepare_cached(&format!(
            "SELECT s.trace_id, s.span_id, s.start_time, ts_rank(s.error_tsv, q)::float8 AS rank, s.start_ns
             FROM spans s, to_tsquery('simple', $1) q
             WHERE s.error_text IS NOT NULL AND s.error_tsv @@ q AND {FILTER_SQL}
             ORDER BY rank DESC, s.start_time DESC LIMIT $9"
        ))
        .await
        .map_err(internal)?;
    let by_log = client
        .prepare_cached(&format!(
            "SELECT s.trace_id, s.span_id, s.start_time, ts_rank(l.error_tsv, q)::float8 AS rank, s.start_ns
             FROM logs l JOIN spans s ON s.trace_id = l.trace_id AND s.span_id = l.span_id,
                  to_tsquery('simple', $1) q
             WHERE l.error_text IS NOT NULL AND l.error_tsv @@ q AND {FILTER_SQL}
             ORDER BY rank DESC, s.start_time DESC LIMIT $9"
        ))
        .await
        .map_err(internal)?;
    let mut ranked = Vec::new();
    for round in policy::word_rounds(&words) {
        if !ranked.is_empty() {
            break;
        }
        let terms = tsquery(&words, *round);
        let mut found = Vec::new();
        for statement in [&by_span, &by_log] {
            for row in client.query(statement, &bound.params(&terms, &limit)).await.map_err(internal)? {
                let key: Key = (row.get(0), row.get(1), row.get(2));
                found.push((key, row.get::<_, f64>(3), row.get::<_, i64>(4)));
            }
        }
        ranked = semtrace_store::merge_ranked(found, limit as usize);
    }
    hits(client, ranked).await
}
