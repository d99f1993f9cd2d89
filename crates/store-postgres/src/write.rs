//! Writes: lookup rows (created idempotently and cached), day partitions, the spans' COPY, template
//! embeddings and retention.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use deadpool_postgres::{Object, Pool};
use futures_util::pin_mut;
use semtrace_store::row::SpanRow;
use semtrace_store::{StoreError, WriteOutcome};
use semtrace_summary::template_hash;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::sql::{self, Jsonb};
use crate::{describe, internal};

/// Advisory lock key serialising partition creation and retention.
const PARTITION_LOCK: i64 = 0x7365_6d74_7061_7274;

/// Rows known to be committed in the lookup tables, so a batch creates only what is new.
/// Concurrent writers (several pipeline workers, or several semtrace instances) may race to
/// create the same row: every creation is `ON CONFLICT DO NOTHING` followed by a read.
#[derive(Default)]
pub(crate) struct Caches {
    operations: Mutex<HashSet<(String, String, i16)>>,
    pub(crate) resources: Mutex<HashMap<i64, i64>>,
    pub(crate) scopes: Mutex<HashMap<i64, i64>>,
    templates: Mutex<HashMap<i64, i64>>,
    template_services: Mutex<HashSet<(i64, String)>>,
    /// Days (since the epoch) whose partition exists.
    partitions: Mutex<HashSet<i64>>,
}

impl Caches {
    pub async fn load(client: &Client) -> Result<Self, StoreError> {
        let caches = Caches::default();
        for row in client.query("SELECT service, name, kind FROM operations", &[]).await.map_err(internal)? {
            caches.operations.lock().expect("cache lock").insert((row.get(0), row.get(1), row.get(2)));
        }
        // Failed templates without their failure (stored before migration 6) are left out, so
        // the first span of each fills it in (`template_ids`).
        let templates = "SELECT hash, id FROM templates WHERE failed = 0 OR failure IS NOT NULL";
        for row in client.query(templates, &[]).await.map_err(internal)? {
            caches.templates.lock().expect("cache lock").insert(row.get(0), row.get(1));
        }
        for row in client.query("SELECT template_id, service FROM template_services", &[]).await.map_err(internal)? {
            caches.template_services.lock().expect("cache lock").insert((row.get(0), row.get(1)));
        }
        *caches.partitions.lock().expect("cache lock") =
            partitions(client).await?.into_iter().map(|(day, _)| day).collect();
        Ok(caches)
    }
}

/// Ids of a batch's lookup rows, by the row's position.
struct Ids {
    resource: Vec<i64>,
    scope: Vec<i64>,
    template: Vec<i64>,
    /// Each trace's importance from this batch's spans ([`semtrace_store::importance`]).
    importance: HashMap<[u8; 16], f64>,
}

/// Writes a batch of span rows; `node` is the writing node's name, under which its spans and
/// traces are counted (`semtrace_counts`).
pub(crate) async fn write(
    client: &mut Object,
    caches: &Caches,
    rows: &[SpanRow],
    node: &str,
) -> Result<WriteOutcome, StoreError> {
    let days: HashSet<i64> = rows.iter().map(|row| sql::day_of(row.start_ns)).collect();
    ensure_partitions(client, caches, days).await?;
    ensure_operations(client, caches, rows).await?;
    // Judged against the operations' durations before this batch's are added.
    let typical = typical_durations(client, rows).await?;
    let typical_of = |row: &SpanRow| typical.get(&(row.service.clone(), row.operation().to_owned())).copied();
    let slow: Vec<Option<(String, i64)>> = rows.iter().map(|row| row.slow_template(typical_of(row))).collect();
    let templates: Vec<TemplateOf<'_>> = rows
        .iter()
        .zip(&slow)
        .map(|(row, slow)| TemplateOf {
            hash: slow.as_ref().map_or(row.template_hash, |(_, hash)| *hash),
            text: slow.as_ref().map_or(row.template.as_str(), |(text, _)| text.as_str()),
            outcome: row.template_outcome,
            failure: row.template_failure.as_deref(),
            service: &row.service,
        })
        .collect();
    let (template, novel) = template_ids_new(client, caches, &templates).await?;
    // The first span of each new template stands for its novelty.
    let mut fresh = novel.clone();
    let importance = semtrace_store::importance::by_trace(rows.iter().zip(&templates).map(|(row, template)| {
        (row, semtrace_store::importance::of_span(row, typical_of(row), fresh.remove(&template.hash)))
    }));
    let ids = Ids {
        resource: body_ids(client, &caches.resources, "resources", rows.iter().map(|row| &row.resource)).await?,
        scope: body_ids(client, &caches.scopes, "scopes", rows.iter().map(|row| &row.scope)).await?,
        template,
        importance,
    };
    ensure_template_services(client, caches, &templates, &ids.template).await?;
    ensure_resource_entities(client, rows, &ids.resource).await?;

    // Most batches hold only new spans: they are copied straight into `spans`. A batch holding a
    // span already stored (a client's retry) fails that copy on the primary key and goes through
    // the staging table instead, which skips what is stored. Two writers updating the same traces
    // can deadlock; PostgreSQL then aborts one, which is retried here at once (the write is
    // idempotent) rather than failed back to the pipeline's slower backoff.
    let mut attempt = 0;
    let mut direct = true;
    let inserted = loop {
        let result = if direct {
            copy_direct(client, rows, &ids, node).await
        } else {
            copy_and_move(client, rows, &ids, node).await
        };
        match result {
            Ok(inserted) => break inserted,
            Err(err) if direct && err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                direct = false;
            }
            Err(err) if attempt < MAX_CONFLICT_RETRIES && is_conflict(&err) => {
                attempt += 1;
                tracing::debug!(attempt, error = %describe(&err), "write conflicted; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt as u64)).await;
            }
            Err(err) => return Err(internal(err)),
        }
    };
    Ok(WriteOutcome { inserted, duplicates: rows.len() - inserted })
}

/// Adds a committed batch's spans to their operations' baselines, in one statement after the
/// span transaction (so hot operation rows are locked for a moment, not for a batch's commit).
/// Baselines are statistics: a failure here is logged, not failed back to the client.
pub(crate) async fn add_to_baselines(client: &Client, rows: &[SpanRow]) {
    let mut sums: HashMap<(&str, &str, i16), (i64, f64)> = HashMap::new();
    for row in rows {
        let sum = sums.entry((&row.service, row.operation(), row.kind as i16)).or_insert((0, 0.0));
        sum.0 += 1;
        sum.1 += semtrace_store::log_duration(row.start_ns, row.end_ns);
    }
    // One order for every writer, so two batches never wait on each other's rows in a cycle.
    let mut sums: Vec<_> = sums.into_iter().collect();
    sums.sort_by(|a, b| a.0.cmp(&b.0));
    let services: Vec<String> = sums.iter().map(|((service, _, _), _)| sql::text(service).into_owned()).collect();
    let names: Vec<String> = sums.iter().map(|((_, name, _), _)| sql::text(name).into_owned()).collect();
    let kinds: Vec<i16> = sums.iter().map(|((_, _, kind), _)| *kind).collect();
    let counts: Vec<i64> = sums.iter().map(|(_, (count, _))| *count).collect();
    let logs: Vec<f64> = sums.iter().map(|(_, (_, log))| *log).collect();
    let result = client
        .execute(
            "UPDATE operations o SET span_count = o.span_count + u.c, log_duration_sum = o.log_duration_sum + u.l
             FROM unnest($1::text[], $2::text[], $3::int2[], $4::int8[], $5::float8[]) AS u(s, n, k, c, l)
             WHERE o.service = u.s AND o.name = u.n AND o.kind = u.k",
            &[&services, &names, &kinds, &counts, &logs],
        )
        .await;
    if let Err(err) = result {
        tracing::warn!(error = %describe(&err), "operation baselines not updated for a batch");
    }
}

/// Deadlocks and serialization failures retried before the write fails.
const MAX_CONFLICT_RETRIES: u32 = 5;

fn is_conflict(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    err.code()
        .is_some_and(|code| *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Copies the rows into the staging table and moves those not stored yet into `spans`, folding
/// them into `traces`, in one transaction; answers the spans inserted.
async fn copy_and_move(
    client: &mut Object,
    rows: &[SpanRow],
    ids: &Ids,
    node: &str,
) -> Result<usize, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction.batch_execute(STAGING).await?;
    copy_rows(&transaction, COPY, rows, ids).await?;
    let mut inserted: HashSet<(Vec<u8>, Vec<u8>)> =
        transaction.query(MOVE, &[]).await?.iter().map(|row| (row.get(0), row.get(1))).collect();
    // Each inserted key once: a span twice in the batch was inserted once.
    let new_rows: Vec<&SpanRow> =
        rows.iter().filter(|row| inserted.remove(&(row.trace_id.to_vec(), row.span_id.to_vec()))).collect();
    let new_traces = upsert_traces(&transaction, new_rows.iter().copied(), &ids.importance).await?;
    count(&transaction, node, new_rows.len() as i64, new_traces as i64).await?;
    transaction.commit().await?;
    Ok(new_rows.len())
}

/// Adds a batch's inserted spans and new traces to the writing node's totals, in the batch's
/// transaction (so the totals are exact). Each node updates its own row: nodes never wait on
/// one another here (retention takes what it drops off the row '', [`drop_expired`]).
async fn count(
    transaction: &tokio_postgres::Transaction<'_>,
    node: &str,
    spans: i64,
    traces: i64,
) -> Result<(), tokio_postgres::Error> {
    if spans == 0 && traces == 0 {
        return Ok(());
    }
    transaction
        .execute(
            "INSERT INTO semtrace_counts (node, spans, traces) VALUES ($1, $2, $3)
             ON CONFLICT (node) DO UPDATE SET spans = semtrace_counts.spans + excluded.spans,
                                              traces = semtrace_counts.traces + excluded.traces",
            &[&node, &spans, &traces],
        )
        .await?;
    Ok(())
}

/// Folds spans just inserted into the per-trace aggregates; answers how many traces are new.
async fn upsert_traces<'a>(
    transaction: &tokio_postgres::Transaction<'_>,
    rows: impl Iterator<Item = &'a SpanRow>,
    importance: &HashMap<[u8; 16], f64>,
) -> Result<u64, tokio_postgres::Error> {
    let rows: Vec<&SpanRow> = rows.collect();
    let entities = semtrace_store::row::trace_entities(rows.iter().copied());
    if !entities.is_empty() {
        // One row per trace: its earliest start and its entities' words.
        let mut per_trace: HashMap<[u8; 16], (i64, Vec<i64>)> = HashMap::new();
        for (trace_id, start_ns, kind, value) in &entities {
            let (start, terms) = per_trace.entry(*trace_id).or_insert((*start_ns, Vec::new()));
            *start = (*start).min(*start_ns);
            terms.push(semtrace_store::entity::term_id(*kind, value));
        }
        let mut trace_ids = Vec::with_capacity(per_trace.len());
        let mut starts = Vec::with_capacity(per_trace.len());
        let mut terms = Vec::with_capacity(per_trace.len());
        for (trace_id, (start, words)) in &per_trace {
            trace_ids.push(trace_id.as_slice());
            starts.push(*start);
            // An array per trace, as text (`{1,2,3}`): unnest cannot take an array of arrays
            // of different lengths.
            terms.push(format!("{{{}}}", words.iter().map(i64::to_string).collect::<Vec<_>>().join(",")));
        }
        transaction.execute(INSERT_ENTITY_TERMS, &[&trace_ids, &starts, &terms]).await?;
    }
    let traces = TraceColumns::of(rows.into_iter(), importance);
    let new = transaction
        .query_one(
            UPSERT_TRACES,
            &[
                &traces.trace_ids,
                &traces.start_ns,
                &traces.end_ns,
                &traces.spans,
                &traces.errors,
                &traces.root_services,
                &traces.root_names,
                &traces.importance,
            ],
        )
        .await?;
    Ok(new.get::<_, i64>(0) as u64)
}

/// Copies the rows straight into `spans` and folds them into `traces`, in one transaction; fails
/// with a unique violation when a span is stored already.
async fn copy_direct(
    client: &mut Object,
    rows: &[SpanRow],
    ids: &Ids,
    node: &str,
) -> Result<usize, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    copy_rows(&transaction, COPY_DIRECT, rows, ids).await?;
    let new_traces = upsert_traces(&transaction, rows.iter(), &ids.importance).await?;
    count(&transaction, node, rows.len() as i64, new_traces as i64).await?;
    transaction.commit().await?;
    Ok(rows.len())
}

/// Per-trace aggregates of a batch, as column arrays.
#[derive(Default)]
struct TraceColumns<'a> {
    trace_ids: Vec<&'a [u8]>,
    start_ns: Vec<i64>,
    end_ns: Vec<i64>,
    spans: Vec<i64>,
    errors: Vec<i64>,
    root_services: Vec<Option<std::borrow::Cow<'a, str>>>,
    root_names: Vec<Option<std::borrow::Cow<'a, str>>>,
    importance: Vec<f64>,
}

impl<'a> TraceColumns<'a> {
    fn of(rows: impl Iterator<Item = &'a SpanRow>, importance: &HashMap<[u8; 16], f64>) -> Self {
        let mut columns = TraceColumns::default();
        for delta in semtrace_store::row::trace_deltas(rows) {
            columns.importance.push(importance.get(delta.trace_id).copied().unwrap_or(0.0));
            columns.trace_ids.push(delta.trace_id.as_slice());
            columns.start_ns.push(delta.start_ns);
            columns.end_ns.push(delta.end_ns);
            columns.spans.push(delta.span_count);
            columns.errors.push(delta.error_count);
            let (service, name) = delta.root.unzip();
            columns.root_services.push(service.map(sql::text));
            columns.root_names.push(name.map(sql::text));
        }
        columns
    }
}

/// Writes the rows into an open `COPY … FROM STDIN (FORMAT binary)` of the staged columns.
async fn copy_rows(
    transaction: &tokio_postgres::Transaction<'_>,
    copy: &str,
    rows: &[SpanRow],
    ids: &Ids,
) -> Result<(), tokio_postgres::Error> {
    let sink = transaction.copy_in(copy).await?;
    let writer = BinaryCopyInWriter::new(sink, COPY_TYPES);
    pin_mut!(writer);
    for (index, row) in rows.iter().enumerate() {
        let (trace_id, span_id) = (row.trace_id.as_slice(), row.span_id.as_slice());
        let parent = row.parent_span_id.as_ref().map(|id| id.as_slice());
        let (name, service) = (sql::text(&row.name), sql::text(&row.service));
        let (trace_state, status_message) = (sql::text(&row.trace_state), sql::text(&row.status_message));
        let (start, end) = (sql::timestamp(row.start_ns), sql::timestamp(row.end_ns));
        let kind = row.kind as i16;
        let status = row.status_code as i16;
        let flags = i64::from(row.flags);
        let attributes = row.attributes.json();
        let attributes = sql::json(&attributes);
        let events = row.events.as_deref().map(sql::json);
        let links = row.links.as_deref().map(sql::json);
        let dropped = [row.dropped_attributes as i32, row.dropped_events as i32, row.dropped_links as i32];
        let summary = sql::text(&row.summary);
        let error_type = row.error_type.as_deref().map(sql::text);
        let error_text = row.error_text.as_deref().map(sql::text);
        let operation = row.operation.as_deref().map(sql::text);
        let values: [&(dyn ToSql + Sync); 27] = [
            &trace_id,
            &span_id,
            &parent,
            &trace_state.as_ref(),
            &name.as_ref(),
            &kind,
            &service.as_ref(),
            &start,
            &end,
            &row.start_ns,
            &row.end_ns,
            &status,
            &status_message.as_ref(),
            &flags,
            &Jsonb(&attributes),
            &events.as_deref().map(Jsonb),
            &links.as_deref().map(Jsonb),
            &dropped[0],
            &dropped[1],
            &dropped[2],
            &ids.resource[index],
            &ids.scope[index],
            &ids.template[index],
            &summary.as_ref(),
            &error_type.as_deref(),
            &error_text.as_deref(),
            &operation.as_deref(),
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Types of the staged columns, in order (see [`STAGING`]).
const COPY_TYPES: &[Type] = &[
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::INT8,
    Type::INT2,
    Type::TEXT,
    Type::INT8,
    Type::JSONB,
    Type::JSONB,
    Type::JSONB,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// The staging table a batch is copied into; per connection, emptied at every commit. (The notice
/// that it exists already is not sent.)
const STAGING: &str = "SET LOCAL client_min_messages = warning; CREATE TEMP TABLE IF NOT EXISTS semtrace_staging (
    trace_id bytea, span_id bytea, parent_span_id bytea, trace_state text, name text, kind smallint, service text,
    start_time timestamptz, end_time timestamptz, start_ns bigint, end_ns bigint, status smallint,
    status_message text, flags bigint, attributes jsonb, events jsonb, links jsonb, dropped_attributes integer,
    dropped_events integer, dropped_links integer, resource_id bigint, scope_id bigint, template_id bigint,
    summary text, error_type text, error_text text, operation text
) ON COMMIT DELETE ROWS";

const COPY: &str = "COPY semtrace_staging FROM STDIN (FORMAT binary)";

const COPY_DIRECT: &str = "COPY spans (trace_id, span_id, parent_span_id, trace_state, name, kind, service, start_time,
    end_time, start_ns, end_ns, status, status_message, flags, attributes, events, links, dropped_attributes,
    dropped_events, dropped_links, resource_id, scope_id, template_id, summary, error_type, error_text, operation)
    FROM STDIN (FORMAT binary)";

/// Folds per-trace aggregates into `traces`; answers how many traces are new.
const UPSERT_TRACES: &str = "WITH upserted AS (
        INSERT INTO traces (trace_id, start_time, start_ns, end_ns, span_count, error_count, root_service, root_name,
                            importance)
        SELECT trace_id, to_timestamp(start_ns / 1e9), start_ns, end_ns, spans, errors, root_service, root_name,
               importance
        FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::float8[])
             AS t(trace_id, start_ns, end_ns, spans, errors, root_service, root_name, importance)
        ORDER BY trace_id
        ON CONFLICT (trace_id) DO UPDATE SET
            start_time = least(traces.start_time, excluded.start_time),
            start_ns = least(traces.start_ns, excluded.start_ns),
            end_ns = greatest(traces.end_ns, excluded.end_ns),
            span_count = traces.span_count + excluded.span_count,
            error_count = traces.error_count + excluded.error_count,
            root_service = coalesce(excluded.root_service, traces.root_service),
            root_name = coalesce(excluded.root_name, traces.root_name),
            importance = greatest(traces.importance, excluded.importance)
        RETURNING xmax = 0 AS new
    )
    SELECT count(*) FROM upserted WHERE new";

/// Indexes the entities of a batch's traces: a row per trace, its words in an array.
const INSERT_ENTITY_TERMS: &str = "INSERT INTO trace_entity_terms (trace_id, start_ns, terms)
    SELECT trace_id, start_ns, terms::int8[] FROM unnest($1::bytea[], $2::int8[], $3::text[]) AS t(trace_id, start_ns, terms)";

/// Adds a committed batch's entity values to their trace counts, after the span transaction
/// (hot rows, a route every trace names, are locked for a moment, not for a batch's commit),
/// in key order (no deadlock between writers). Counts are statistics: a failure is logged.
pub(crate) async fn count_entity_values(client: &Client, rows: &[SpanRow]) {
    let entities = semtrace_store::row::trace_entities(rows.iter());
    let counts = semtrace_store::row::entity_value_counts(&entities);
    if counts.is_empty() {
        return;
    }
    let (mut kinds, mut values, mut traces) = (Vec::new(), Vec::new(), Vec::new());
    for ((kind, value), count) in counts {
        kinds.push(kind.code());
        values.push(value);
        traces.push(count);
    }
    let counted = client
        .execute(
            "INSERT INTO entity_values (kind, value, traces)
             SELECT * FROM unnest($1::int2[], $2::text[], $3::int8[])
             ON CONFLICT (kind, value) DO UPDATE SET traces = entity_values.traces + excluded.traces",
            &[&kinds, &values, &traces],
        )
        .await;
    if let Err(err) = counted {
        tracing::warn!(error = %describe(&err), "cannot count entity values");
    }
}

/// Moves staged spans into `spans`, skipping those already stored; answers the keys inserted.
const MOVE: &str = "INSERT INTO spans (trace_id, span_id, parent_span_id, trace_state, name, kind, service, start_time,
        end_time, start_ns, end_ns, status, status_message, flags, attributes, events, links, dropped_attributes,
        dropped_events, dropped_links, resource_id, scope_id, template_id, summary, error_type, error_text, operation)
    SELECT * FROM semtrace_staging
    ON CONFLICT DO NOTHING
    RETURNING trace_id, span_id";

async fn ensure_operations(client: &Client, caches: &Caches, rows: &[SpanRow]) -> Result<(), StoreError> {
    let new: Vec<(String, String, i16)> = {
        let known = caches.operations.lock().expect("cache lock");
        let mut new = HashSet::new();
        for row in rows {
            let key = (sql::text(&row.service).into_owned(), sql::text(row.operation()).into_owned(), row.kind as i16);
            if !known.contains(&key) {
                new.insert(key);
            }
        }
        new.into_iter().collect()
    };
    if new.is_empty() {
        return Ok(());
    }
    let services: Vec<&str> = new.iter().map(|(service, _, _)| service.as_str()).collect();
    let names: Vec<&str> = new.iter().map(|(_, name, _)| name.as_str()).collect();
    let kinds: Vec<i16> = new.iter().map(|(_, _, kind)| *kind).collect();
    client
        .execute(
            "INSERT INTO operations (service, name, kind) SELECT * FROM unnest($1::text[], $2::text[], $3::int2[])
             ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING",
            &[&services, &names, &kinds],
        )
        .await
        .map_err(internal)?;
    caches.operations.lock().expect("cache lock").extend(new);
    Ok(())
}

/// Records what each distinct resource of the batch names (a handful of rows a batch).
async fn ensure_resource_entities(client: &Client, rows: &[SpanRow], resource_ids: &[i64]) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let (mut kinds, mut values, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for (row, id) in rows.iter().zip(resource_ids) {
        if !row.resource_entities.is_empty() && seen.insert(*id) {
            for (kind, value) in row.resource_entities.iter() {
                kinds.push(kind.code());
                values.push(value.as_str());
                ids.push(*id);
            }
        }
    }
    if kinds.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO resource_entities (kind, value, resource_id)
             SELECT * FROM unnest($1::int2[], $2::text[], $3::int8[]) ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING",
            &[&kinds, &values, &ids],
        )
        .await
        .map_err(internal)?;
    Ok(())
}

/// Ids of resource or scope bodies (JSON), creating the missing ones; by position. The spans of a
/// batch share each distinct body (`encode_batch`), so each is hashed once.
pub(crate) async fn body_ids<'a>(
    client: &Client,
    cache: &Mutex<HashMap<i64, i64>>,
    table: &str,
    bodies: impl Iterator<Item = &'a std::sync::Arc<str>>,
) -> Result<Vec<i64>, StoreError> {
    let hashes: Vec<(i64, &str)> = {
        let mut hashed: HashMap<usize, i64> = HashMap::new();
        bodies
            .map(|body| (*hashed.entry(body.as_ptr() as usize).or_insert_with(|| template_hash(body)), &**body))
            .collect()
    };
    let missing: HashMap<i64, &str> = {
        let known = cache.lock().expect("cache lock");
        hashes.iter().filter(|(hash, _)| !known.contains_key(hash)).copied().collect()
    };
    if !missing.is_empty() {
        let keys: Vec<i64> = missing.keys().copied().collect();
        let texts: Vec<String> = missing.values().map(|body| sql::json(body).into_owned()).collect();
        client
            .execute(
                &format!(
                    "INSERT INTO {table} (hash, body) SELECT hash, body::jsonb FROM unnest($1::int8[], $2::text[])
                     AS t(hash, body) ORDER BY hash ON CONFLICT (hash) DO NOTHING"
                ),
                &[&keys, &texts],
            )
            .await
            .map_err(internal)?;
        let rows = client
            .query(&format!("SELECT hash, id FROM {table} WHERE hash = ANY($1)"), &[&keys])
            .await
            .map_err(internal)?;
        let mut known = cache.lock().expect("cache lock");
        for row in rows {
            known.insert(row.get(0), row.get(1));
        }
    }
    let known = cache.lock().expect("cache lock");
    hashes
        .iter()
        .map(|(hash, _)| known.get(hash).copied().ok_or_else(|| StoreError::Internal(format!("{table} row vanished"))))
        .collect()
}

/// A span's template and service, as the template tables need them.
pub(crate) struct TemplateOf<'a> {
    pub hash: i64,
    pub text: &'a str,
    pub outcome: semtrace_summary::Outcome,
    pub failure: Option<&'a str>,
    pub service: &'a str,
}

/// Template ids, by position, creating the missing templates.
pub(crate) async fn template_ids(
    client: &Client,
    caches: &Caches,
    rows: &[TemplateOf<'_>],
) -> Result<Vec<i64>, StoreError> {
    template_ids_new(client, caches, rows).await.map(|(ids, _)| ids)
}

/// The typical durations of the batch's operations so far (for importance and slow templates),
/// by (service, operation); operations without enough spans are absent.
async fn typical_durations(client: &Client, rows: &[SpanRow]) -> Result<HashMap<(String, String), f64>, StoreError> {
    let pairs: HashSet<(&str, &str)> = rows.iter().map(|row| (row.service.as_str(), row.operation())).collect();
    let (services, names): (Vec<&str>, Vec<&str>) = pairs.into_iter().unzip();
    Ok(operation_sums(client, &services, &names)
        .await?
        .into_iter()
        .filter_map(|(key, spans, sum)| Some((key, semtrace_store::importance::typical_ns(spans, sum)?)))
        .collect())
}

/// Each (service, name) operation's stored span count and sum of log durations, all kinds
/// together; operations not stored are absent.
pub(crate) async fn operation_sums(
    client: &Client,
    services: &[&str],
    names: &[&str],
) -> Result<Vec<((String, String), i64, f64)>, StoreError> {
    let rows = client
        .query(
            "SELECT o.service, o.name, sum(o.span_count)::int8, sum(o.log_duration_sum)::float8
             FROM operations o JOIN unnest($1::text[], $2::text[]) AS k(s, n) ON o.service = k.s AND o.name = k.n
             GROUP BY o.service, o.name",
            &[&services, &names],
        )
        .await
        .map_err(internal)?;
    Ok(rows.iter().map(|row| ((row.get(0), row.get(1)), row.get(2), row.get(3))).collect())
}

/// [`template_ids`], and the hashes of the templates this call stored.
async fn template_ids_new(
    client: &Client,
    caches: &Caches,
    rows: &[TemplateOf<'_>],
) -> Result<(Vec<i64>, HashSet<i64>), StoreError> {
    let mut novel = HashSet::new();
    let missing: HashMap<i64, &TemplateOf<'_>> = {
        let known = caches.templates.lock().expect("cache lock");
        rows.iter().filter(|row| !known.contains_key(&row.hash)).map(|row| (row.hash, row)).collect()
    };
    if !missing.is_empty() {
        let hashes: Vec<i64> = missing.keys().copied().collect();
        let texts: Vec<String> = missing.values().map(|row| sql::text(row.text).into_owned()).collect();
        let failed: Vec<i16> = missing.values().map(|row| row.outcome.to_i64() as i16).collect();
        let words: Vec<i32> =
            missing.values().map(|row| semtrace_store::text::words(row.text).count() as i32).collect();
        // A failed template stored before failures were kept gets its failure now, and is
        // embedded again to get its failure vector.
        let failures: Vec<Option<String>> =
            missing.values().map(|row| row.failure.map(|failure| sql::text(failure).into_owned())).collect();
        let categories: Vec<Option<&str>> =
            missing.values().map(|row| semtrace_store::template_category(row.text, row.outcome)).collect();
        let stored = client
            .query(
                "INSERT INTO templates (hash, text, failed, words, failure, category)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int2[], $4::int4[], $5::text[], $6::text[])
                 ORDER BY 1
                 ON CONFLICT (hash) DO UPDATE SET failure = excluded.failure, embedding = NULL
                 WHERE templates.failure IS NULL AND excluded.failure IS NOT NULL
                 RETURNING hash, xmax = 0",
                &[&hashes, &texts, &failed, &words, &failures, &categories],
            )
            .await
            .map_err(internal)?;
        novel.extend(stored.iter().filter(|row| row.get::<_, bool>(1)).map(|row| row.get::<_, i64>(0)));
        let found =
            client.query("SELECT hash, id FROM templates WHERE hash = ANY($1)", &[&hashes]).await.map_err(internal)?;
        let mut known = caches.templates.lock().expect("cache lock");
        for row in found {
            known.insert(row.get(0), row.get(1));
        }
    }
    let known = caches.templates.lock().expect("cache lock");
    let ids = rows
        .iter()
        .map(|row| known.get(&row.hash).copied().ok_or_else(|| StoreError::Internal("template row vanished".into())))
        .collect::<Result<_, _>>()?;
    Ok((ids, novel))
}

/// Records which services have spans of which templates.
pub(crate) async fn ensure_template_services(
    client: &Client,
    caches: &Caches,
    rows: &[TemplateOf<'_>],
    template_ids: &[i64],
) -> Result<(), StoreError> {
    let new: Vec<(i64, String)> = {
        let known = caches.template_services.lock().expect("cache lock");
        let mut new = HashSet::new();
        for (row, &template) in rows.iter().zip(template_ids) {
            let key = (template, sql::text(row.service).into_owned());
            if !known.contains(&key) {
                new.insert(key);
            }
        }
        new.into_iter().collect()
    };
    if new.is_empty() {
        return Ok(());
    }
    let templates: Vec<i64> = new.iter().map(|(template, _)| *template).collect();
    let services: Vec<&str> = new.iter().map(|(_, service)| service.as_str()).collect();
    client
        .execute(
            "INSERT INTO template_services (template_id, service) SELECT * FROM unnest($1::int8[], $2::text[])
             ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            &[&templates, &services],
        )
        .await
        .map_err(internal)?;
    caches.template_services.lock().expect("cache lock").extend(new);
    Ok(())
}

/// The partition name and bounds of a day: `spans_p20261123`, `[2026-11-23, 2026-11-24)` UTC.
fn partition(day: i64) -> (String, String, String) {
    let date = |day: i64| {
        time::OffsetDateTime::from_unix_timestamp(day * 86_400).map(|moment| moment.date()).unwrap_or(time::Date::MIN)
    };
    let (from, to) = (date(day), date(day + 1));
    let name = format!("spans_p{:04}{:02}{:02}", from.year(), u8::from(from.month()), from.day());
    (name, format!("{from} 00:00:00+00"), format!("{to} 00:00:00+00"))
}

async fn ensure_partitions(client: &mut Object, caches: &Caches, days: HashSet<i64>) -> Result<(), StoreError> {
    let missing: Vec<i64> = {
        let known = caches.partitions.lock().expect("cache lock");
        days.into_iter().filter(|day| !known.contains(day)).collect()
    };
    if missing.is_empty() {
        return Ok(());
    }
    let transaction = client.transaction().await.map_err(internal)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await.map_err(internal)?;
    for &day in &missing {
        let (name, from, to) = partition(day);
        transaction
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF spans FOR VALUES FROM ('{from}') TO ('{to}')"
            ))
            .await
            .map_err(|err| StoreError::Internal(format!("cannot create partition {name}: {}", describe(&err))))?;
    }
    transaction.commit().await.map_err(internal)?;
    caches.partitions.lock().expect("cache lock").extend(missing);
    Ok(())
}

/// The day partitions of `spans`: (day since the epoch, name).
async fn partitions(client: &Client) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT c.relname, (extract(epoch FROM lower_bound) / 86400)::int8
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
                  LATERAL (SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz
                           AS lower_bound) b
             WHERE i.inhparent = 'spans'::regclass",
            &[],
        )
        .await
        .map_err(internal)?;
    Ok(rows.iter().map(|row| (row.get(1), row.get(0))).collect())
}

/// Drops the partitions of days wholly older than `days` days, and the traces that started
/// before; returns how many partitions were dropped.
pub(crate) async fn drop_expired(pool: &Pool, caches: &Caches, days: u32) -> Result<usize, StoreError> {
    let mut client = pool.get().await.map_err(crate::pool_error)?;
    let now_day = sql::day_of(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0),
    );
    let first_kept = now_day - i64::from(days);
    let expired: Vec<(i64, String)> =
        partitions(&client).await?.into_iter().filter(|(day, _)| *day < first_kept).collect();
    let transaction = client.transaction().await.map_err(internal)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await.map_err(internal)?;
    // Each partition counted before it goes (writers held off meanwhile), so the totals lose
    // exactly what it held, without counting the rest of the table.
    let mut spans = 0i64;
    for (_, name) in &expired {
        transaction.batch_execute(&format!("LOCK TABLE {name} IN SHARE MODE")).await.map_err(internal)?;
        let held: i64 =
            transaction.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await.map_err(internal)?.get(0);
        spans += held;
        transaction.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await.map_err(internal)?;
    }
    let cutoff = sql::timestamp(first_kept * 86_400_000_000_000);
    let traces =
        transaction.execute("DELETE FROM traces WHERE start_time < $1", &[&cutoff]).await.map_err(internal)? as i64;
    let cutoff_ns = first_kept * 86_400_000_000_000;
    transaction.execute("DELETE FROM trace_entity_terms WHERE start_ns < $1", &[&cutoff_ns]).await.map_err(internal)?;
    // Taken off the totals in the row '' (the nodes' rows only ever grow).
    count(&transaction, "", -spans, -traces).await.map_err(internal)?;
    transaction.commit().await.map_err(internal)?;
    let mut known = caches.partitions.lock().expect("cache lock");
    for (day, _) in &expired {
        known.remove(day);
    }
    Ok(expired.len())
}

/// Stores template embeddings (`failure`: of their failures) in one transaction.
/// A template's own embedding takes the next number of `template_embed_seq`, by which other
/// nodes find it, and ends the node's claim on it.
pub(crate) async fn set_embeddings(
    client: &mut Object,
    embeddings: &[(i64, Vec<f32>)],
    failure: bool,
    node: &str,
) -> Result<(), StoreError> {
    let transaction = client.transaction().await.map_err(internal)?;
    let update = if failure {
        "UPDATE templates SET failure_embedding = $2 WHERE id = $1"
    } else {
        "UPDATE templates SET embedding = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $1"
    };
    let update = transaction.prepare(update).await.map_err(internal)?;
    for (id, vector) in embeddings {
        let vector = pgvector::Vector::from(vector.clone());
        transaction.execute(&update, &[id, &vector]).await.map_err(internal)?;
    }
    if !failure {
        // Numbered in id order, in one statement just before the commit, so other nodes, which read by
        // number, rarely see a number become visible after a higher one (and read back far
        // enough to catch those that do: `crates/semantic`'s `Elsewhere`).
        let ids: Vec<i64> = embeddings.iter().map(|(id, _)| *id).collect();
        transaction
            .execute(
                "WITH numbered AS (SELECT id, nextval('template_embed_seq') AS seq
                                   FROM (SELECT unnest($1::int8[]) AS id ORDER BY 1) ids)
                 UPDATE templates t SET embed_seq = numbered.seq, embedded_by = $2
                 FROM numbered WHERE t.id = numbered.id",
                &[&ids, &node],
            )
            .await
            .map_err(internal)?;
    }
    transaction.commit().await.map_err(internal)
}

pub(crate) async fn set_categories(client: &Client, categories: &[(i64, String)]) -> Result<(), StoreError> {
    let ids: Vec<i64> = categories.iter().map(|(id, _)| *id).collect();
    let names: Vec<&str> = categories.iter().map(|(_, name)| name.as_str()).collect();
    client
        .execute(
            "UPDATE templates t SET category = c.category FROM unnest($1::int8[], $2::text[]) AS c(id, category)
             WHERE t.id = c.id",
            &[&ids, &names],
        )
        .await
        .map_err(internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_by_utc_day() {
        let day = sql::day_of(1_700_000_000_000_000_000); // 2023-11-14T22:13:20Z
        let (name, from, to) = partition(day);
        assert_eq!(name, "spans_p20231114");
        assert_eq!((from.as_str(), to.as_str()), ("2023-11-14 00:00:00+00", "2023-11-15 00:00:00+00"));
        assert_eq!(partition(0).0, "spans_p19700101");
    }
}
