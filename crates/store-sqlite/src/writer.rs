//! The single writer connection and the ids it interns between transactions.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use semtrace_store::row::LogRow;
use semtrace_store::{JoinDecisions, StoreError, WriteOutcome};

use crate::codec::SpanRow;
use crate::internal;
use crate::trace_keys::{Merger, TraceKeys};

/// Ids and numbers (`traces.id`) of new traces.
pub(crate) type NewTraces = Vec<([u8; 16], i64)>;

pub(crate) struct Committed {
    /// Of the span rows.
    pub outcome: WriteOutcome,
    /// Ids and numbers of the traces the transaction brought first (by spans or log records).
    pub new_traces: NewTraces,
    /// Traces that got their first span: new ones, and those log records had brought before.
    pub first_spans: u64,
    /// Of the log records.
    pub logs: WriteOutcome,
}

/// Ids of rows in a lookup table (resources, scopes, services, operations). `pending` holds ids
/// inserted by the open transaction; they become `committed` only once it commits, so a rolled
/// back transaction leaves no id behind that the database does not hold.
struct Interned<K> {
    committed: HashMap<K, i64>,
    pending: HashMap<K, i64>,
}

impl<K: Hash + Eq> Interned<K> {
    fn new(committed: HashMap<K, i64>) -> Self {
        Interned { committed, pending: HashMap::new() }
    }

    fn get<Q>(&self, key: &Q) -> Option<i64>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.committed.get(key).or_else(|| self.pending.get(key)).copied()
    }

    fn commit(&mut self) {
        self.committed.extend(self.pending.drain());
    }

    fn roll_back(&mut self) {
        self.pending.clear();
    }

    /// Commits when the transaction committed, else rolls back.
    fn settle(&mut self, committed: bool) {
        if committed {
            self.commit()
        } else {
            self.roll_back()
        }
    }
}

/// What a retention step removed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Dropped {
    pub traces: u64,
    pub spans: u64,
    pub logs: u64,
}

/// Operations are looked up by (service id, kind), then by name, so a lookup borrows the name.
type OperationKey = (i64, i32);

pub(crate) struct Writer {
    connection: Connection,
    resources: Interned<Arc<str>>,
    scopes: Interned<Arc<str>>,
    services: Interned<String>,
    operations: HashMap<OperationKey, Interned<String>>,
    /// Template ids by template hash.
    templates: Interned<i64>,
    /// (template id, service id) pairs known to be in `template_services`.
    template_services: Interned<(i64, i64)>,
    /// The number the next new trace takes (`traces.id`).
    next_trace: i64,
    /// Trace numbers by trace id.
    trace_keys: Merger,
}

impl Writer {
    pub fn new(connection: Connection, trace_keys: Merger) -> rusqlite::Result<Self> {
        let services = {
            let mut statement = connection.prepare("SELECT name, id FROM services")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<HashMap<String, i64>>>()?
        };
        let mut operations: HashMap<OperationKey, Interned<String>> = HashMap::new();
        {
            let mut statement = connection.prepare("SELECT service_id, kind, name, id FROM operations")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let key: OperationKey = (row.get(0)?, row.get(1)?);
                operations
                    .entry(key)
                    .or_insert_with(|| Interned::new(HashMap::new()))
                    .committed
                    .insert(row.get(2)?, row.get(3)?);
            }
        }
        let templates = {
            // Failed templates without their failure (stored before migration 8) are left out,
            // so the first span of each fills it in (`template_id`).
            let mut statement =
                connection.prepare("SELECT hash, id FROM templates WHERE failed = 0 OR failure IS NOT NULL")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<HashMap<i64, i64>>>()?
        };
        let template_services = {
            let mut statement = connection.prepare("SELECT template_id, service_id FROM template_services")?;
            let rows = statement.query_map([], |row| Ok(((row.get(0)?, row.get(1)?), 0)))?;
            rows.collect::<rusqlite::Result<HashMap<(i64, i64), i64>>>()?
        };
        let next_trace = next_trace(&connection)?;
        Ok(Writer {
            next_trace,
            trace_keys,
            templates: Interned::new(templates),
            template_services: Interned::new(template_services),
            connection,
            resources: Interned::new(HashMap::new()),
            scopes: Interned::new(HashMap::new()),
            services: Interned::new(services),
            operations,
        })
    }

    /// Inserts span rows and log records in one transaction and commits (log records already
    /// stored are left): an export batch that brings both costs one commit.
    pub fn write(&mut self, rows: &[SpanRow], logs: &[LogRow], received_ns: i64) -> Result<Committed, StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        let mut tables = Tables {
            resources: &mut self.resources,
            scopes: &mut self.scopes,
            services: &mut self.services,
            operations: &mut self.operations,
            templates: &mut self.templates,
            template_services: &mut self.template_services,
        };
        let log_traces = logs.iter().filter_map(|log| log.trace_id.as_ref());
        let result = number_traces(
            &transaction,
            rows.iter().map(|row| &row.trace_id).chain(log_traces),
            &mut self.next_trace,
            self.trace_keys.keys(),
        )
        .and_then(|numbers| {
            let mut committed = insert_all(&transaction, &mut tables, rows, &numbers)?;
            committed.logs = insert_logs(&transaction, &mut tables, logs, received_ns, &numbers)?;
            add_log_only_traces(&transaction, logs, &numbers, &mut committed.new_traces)?;
            Ok(committed)
        })
        .and_then(|committed| {
            transaction.commit().map_err(internal)?;
            Ok(committed)
        });
        let ok = result.is_ok();
        // Numbers handed to traces a rollback took back are skipped: numbers need only be unique.
        self.templates.settle(ok);
        self.template_services.settle(ok);
        for interned in [&mut self.resources, &mut self.scopes] {
            interned.settle(ok);
        }
        for interned in std::iter::once(&mut self.services).chain(self.operations.values_mut()) {
            interned.settle(ok);
        }
        if let Ok(committed) = &result {
            self.trace_keys.add(&committed.new_traces);
            // A merge that fails is tried again after the next write; lookups do not need it.
            if let Err(err) = self.trace_keys.step(&mut self.connection) {
                tracing::warn!(error = %err, "merging trace keys failed; will retry");
            }
        }
        result
    }

    pub fn trace_keys(&self) -> &Arc<TraceKeys> {
        self.trace_keys.keys()
    }

    /// Retention: drops up to `limit` traces that started before `cutoff_ns`, oldest first,
    /// with their spans, log records and keys, in one transaction. The newest row of `traces`,
    /// `spans` and `logs` is kept whatever its age, so SQLite never hands an id out again: the
    /// contentless full-text rows of dropped spans and records, which cannot be deleted without
    /// their text, then never match a new row (searches join them to rows that are gone).
    pub fn drop_traces_before(&mut self, cutoff_ns: i64, limit: usize) -> Result<Dropped, StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        let victims: Vec<(i64, Vec<u8>, i64)> = {
            let mut statement = transaction
                .prepare_cached(
                    "SELECT id, trace_id, span_count FROM traces
                     WHERE start_ns < ?1
                       AND id <> (SELECT max(id) FROM traces)
                       AND id <> coalesce((SELECT trace_no FROM spans WHERE id = (SELECT max(id) FROM spans)), -1)
                       AND id <> coalesce((SELECT trace_no FROM logs WHERE id = (SELECT max(id) FROM logs)), -1)
                     ORDER BY start_ns LIMIT ?2",
                )
                .map_err(internal)?;
            let rows = statement
                .query_map(params![cutoff_ns, limit as i64], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .map_err(internal)?;
            rows.collect::<rusqlite::Result<_>>().map_err(internal)?
        };
        if victims.is_empty() {
            return Ok(Dropped::default());
        }
        transaction
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS retention_traces (id INTEGER PRIMARY KEY, trace_id BLOB NOT NULL);
                 DELETE FROM temp.retention_traces;",
            )
            .map_err(internal)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO temp.retention_traces (id, trace_id) VALUES (?1, ?2)")
                .map_err(internal)?;
            for (id, trace_id, _) in &victims {
                insert.execute(params![id, trace_id]).map_err(internal)?;
            }
        }
        let delete = |sql: &str| transaction.execute(sql, []).map_err(internal);
        let spans = delete("DELETE FROM spans WHERE trace_no IN (SELECT id FROM temp.retention_traces)")?;
        let logs = delete("DELETE FROM logs WHERE trace_no IN (SELECT id FROM temp.retention_traces)")?;
        delete("DELETE FROM trace_keys WHERE trace_id IN (SELECT trace_id FROM temp.retention_traces)")?;
        delete("DELETE FROM traces WHERE id IN (SELECT id FROM temp.retention_traces)")?;
        delete("DELETE FROM temp.retention_traces")?;
        transaction.commit().map_err(internal)?;
        let forgotten: std::collections::HashSet<[u8; 16]> =
            victims.iter().filter_map(|(_, trace_id, _)| <[u8; 16]>::try_from(trace_id.as_slice()).ok()).collect();
        self.trace_keys.forget(&forgotten);
        Ok(Dropped {
            // Traces that only log records named were not counted as traces.
            traces: victims.iter().filter(|(_, _, span_count)| *span_count > 0).count() as u64,
            spans: spans as u64,
            logs: logs as u64,
        })
    }

    /// Retention by size: when the live data (pages in use) is past `max_bytes`, the start time
    /// before which traces must go to bring it under `target` of it, counting bytes as shared
    /// evenly by traces (the oldest go first). `None` when it is under the cap.
    pub fn cutoff_for_size(&mut self, max_bytes: u64, target: f64) -> Result<Option<i64>, StoreError> {
        let pragma = |name: &str| -> Result<i64, StoreError> {
            self.connection.pragma_query_value(None, name, |row| row.get(0)).map_err(internal)
        };
        let live = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
        if live <= 0 || live as u64 <= max_bytes {
            return Ok(None);
        }
        let traces: i64 =
            self.connection.query_row("SELECT count(*) FROM traces", [], |row| row.get(0)).map_err(internal)?;
        if traces == 0 {
            return Ok(None);
        }
        let excess = live as f64 - max_bytes as f64 * target;
        let drop = ((excess / live as f64) * traces as f64).ceil() as i64;
        let cutoff: Option<i64> = self
            .connection
            .query_row(
                "SELECT start_ns FROM traces ORDER BY start_ns LIMIT 1 OFFSET ?1",
                [drop.min(traces - 1)],
                |row| row.get(0),
            )
            .optional()
            .map_err(internal)?;
        Ok(cutoff.map(|start| if drop >= traces { start + 1 } else { start }))
    }

    /// Retention: drops up to `limit` log records without trace context older than `cutoff_ns`
    /// (the newest record kept, as above).
    pub fn drop_loose_logs_before(&mut self, cutoff_ns: i64, limit: usize) -> Result<u64, StoreError> {
        let dropped = self
            .connection
            .execute(
                "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE trace_no IS NULL AND time_ns < ?1
                                               AND id <> (SELECT max(id) FROM logs) LIMIT ?2)",
                params![cutoff_ns, limit as i64],
            )
            .map_err(internal)?;
        Ok(dropped as u64)
    }

    /// Retention: drops the templates no stored span uses any more, with their vectors and
    /// full-text rows (the newest template kept, as above), and forgets them.
    pub fn drop_unused_templates(&mut self) -> Result<Vec<i64>, StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        let unused: Vec<(i64, String)> = {
            let mut statement = transaction
                .prepare(
                    "SELECT id, text FROM templates t WHERE id <> (SELECT max(id) FROM templates)
                     AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.template_id = t.id)",
                )
                .map_err(internal)?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(internal)?;
            rows.collect::<rusqlite::Result<_>>().map_err(internal)?
        };
        for (id, text) in &unused {
            transaction
                .prepare_cached("INSERT INTO templates_fts (templates_fts, rowid, text) VALUES ('delete', ?1, ?2)")
                .and_then(|mut statement| statement.execute(params![id, text]))
                .map_err(internal)?;
            for sql in ["DELETE FROM template_services WHERE template_id = ?1", "DELETE FROM templates WHERE id = ?1"] {
                transaction.prepare_cached(sql).and_then(|mut statement| statement.execute([id])).map_err(internal)?;
            }
        }
        transaction.commit().map_err(internal)?;
        let ids: std::collections::HashSet<i64> = unused.iter().map(|(id, _)| *id).collect();
        self.templates.committed.retain(|_, id| !ids.contains(id));
        self.template_services.committed.retain(|(template, _), _| !ids.contains(template));
        Ok(unused.into_iter().map(|(id, _)| id).collect())
    }

    /// Gives up to `pages` free pages back to the file system (a database created with
    /// `auto_vacuum = INCREMENTAL`; others reuse them for new data). Returns the pages still free.
    pub fn give_back(&mut self, pages: u32) -> Result<i64, StoreError> {
        let incremental: i64 =
            self.connection.pragma_query_value(None, "auto_vacuum", |row| row.get(0)).map_err(internal)?;
        if incremental == 2 {
            // One page per step of the statement: stepped to its end, not once.
            let mut statement =
                self.connection.prepare(&format!("PRAGMA incremental_vacuum({pages})")).map_err(internal)?;
            let mut rows = statement.query([]).map_err(internal)?;
            while rows.next().map_err(internal)?.is_some() {}
        }
        self.connection.pragma_query_value(None, "freelist_count", |row| row.get(0)).map_err(internal)
    }

    /// Copies the WAL into the database so that a file retention shrank shows its size (in WAL
    /// mode the file is cut at checkpoint); what it cannot copy now the checkpointer copies later.
    /// Returns whether the whole log was copied: not when the checkpointer thread was copying at
    /// the same moment (only one checkpoint runs at a time) or a reader still needs old frames.
    pub fn checkpoint(&mut self) -> Result<bool, StoreError> {
        let (busy, logged, copied) = self
            .connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
            })
            .map_err(internal)?;
        Ok(busy == 0 && logged == copied)
    }

    /// Applies the joiner's decisions in one transaction: joined spans get their new template,
    /// records are marked joined or missed.
    pub fn finish_joins(&mut self, decisions: &JoinDecisions) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        let result = (|| {
            for span in &decisions.spans {
                let summary = &span.summary;
                let template_id = template_id(
                    &transaction,
                    summary.template_hash(),
                    (&summary.template, summary.failure.as_deref()),
                    summary.outcome.to_i64(),
                    &mut self.templates,
                )?;
                let service_id = service_id(&transaction, &span.service, &mut self.services)?;
                if self.template_services.get(&(template_id, service_id)).is_none() {
                    transaction
                        .prepare_cached(
                            "INSERT OR IGNORE INTO template_services (template_id, service_id) VALUES (?1, ?2)",
                        )
                        .and_then(|mut statement| statement.execute(params![template_id, service_id]))
                        .map_err(internal)?;
                    self.template_services.pending.insert((template_id, service_id), 0);
                }
                let Some(trace_no) =
                    self.trace_keys.keys().number(&transaction, span.trace_id.as_bytes()).map_err(internal)?
                else {
                    continue;
                };
                transaction
                    .prepare_cached("UPDATE spans SET template_id = ?3 WHERE trace_no = ?1 AND span_id = ?2")
                    .and_then(|mut statement| {
                        statement.execute(params![trace_no, span.span_id.as_bytes().as_slice(), template_id])
                    })
                    .map_err(internal)?;
            }
            let mut mark = transaction
                .prepare_cached("UPDATE logs SET join_state = ?2 WHERE id = ?1 AND join_state = 1")
                .map_err(internal)?;
            for id in &decisions.joined {
                mark.execute(params![id, 2]).map_err(internal)?;
            }
            for id in &decisions.missed {
                mark.execute(params![id, 3]).map_err(internal)?;
            }
            Ok(())
        })();
        let result = result.and_then(|()| transaction.commit().map_err(internal));
        if result.is_ok() {
            self.templates.commit();
            self.template_services.commit();
            self.services.commit();
        } else {
            self.templates.roll_back();
            self.template_services.roll_back();
            self.services.roll_back();
        }
        result
    }

    /// Stores template embeddings (`failure`: of their failures) in one transaction.
    pub fn set_embeddings(&mut self, embeddings: &[(i64, Vec<f32>)], failure: bool) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        {
            let column = if failure { "failure_embedding" } else { "embedding" };
            let mut update = transaction
                .prepare_cached(&format!("UPDATE templates SET {column} = ?2 WHERE id = ?1"))
                .map_err(internal)?;
            for (id, vector) in embeddings {
                let bytes: Vec<u8> = vector.iter().flat_map(|value| value.to_le_bytes()).collect();
                update.execute(params![id, bytes]).map_err(internal)?;
            }
        }
        transaction.commit().map_err(internal)
    }

    pub fn set_categories(&mut self, categories: &[(i64, String)]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(internal)?;
        {
            let mut update =
                transaction.prepare_cached("UPDATE templates SET category = ?2 WHERE id = ?1").map_err(internal)?;
            for (id, category) in categories {
                update.execute(params![id, category]).map_err(internal)?;
            }
        }
        transaction.commit().map_err(internal)
    }
}

struct Tables<'a> {
    resources: &'a mut Interned<Arc<str>>,
    scopes: &'a mut Interned<Arc<str>>,
    services: &'a mut Interned<String>,
    operations: &'a mut HashMap<OperationKey, Interned<String>>,
    templates: &'a mut Interned<i64>,
    template_services: &'a mut Interned<(i64, i64)>,
}

/// Inserts a batch's span rows (those stored already are left), then adds them to their
/// operations' baselines and to their traces' aggregate rows.
fn insert_all(
    transaction: &Transaction<'_>,
    tables: &mut Tables<'_>,
    rows: &[SpanRow],
    numbers: &TraceNumbers,
) -> Result<Committed, StoreError> {
    // Judged against the operations' durations before this batch's are added.
    let mut typical = Typical::default();
    let (inserted, outcome) = insert_spans(transaction, tables, rows, numbers, &mut typical)?;
    let importance = importance(transaction, &inserted, &mut typical)?;
    add_to_baselines(transaction, &inserted)?;
    add_entities(transaction, &inserted)?;
    let (new_traces, first_spans) = add_to_traces(transaction, inserted, &importance, numbers)?;
    Ok(Committed { outcome, new_traces, first_spans, logs: WriteOutcome::default() })
}

/// Gives the new traces that only log records brought a row without spans (so their number is
/// kept when their spans come; the time is their records'), and adds them to `new_traces`.
fn add_log_only_traces(
    transaction: &Transaction<'_>,
    logs: &[LogRow],
    numbers: &TraceNumbers,
    new_traces: &mut NewTraces,
) -> Result<(), StoreError> {
    let with_spans: std::collections::HashSet<i64> = new_traces.iter().map(|(_, number)| *number).collect();
    let mut times: HashMap<&[u8; 16], (i64, i64)> = HashMap::new();
    for log in logs {
        let Some(trace_id) = &log.trace_id else { continue };
        let (number, new) = numbers[trace_id];
        if new && !with_spans.contains(&number) {
            let (first, last) = times.entry(trace_id).or_insert((log.time_ns, log.time_ns));
            (*first, *last) = ((*first).min(log.time_ns), (*last).max(log.time_ns));
        }
    }
    let mut insert = transaction
        .prepare_cached(
            "INSERT INTO traces (id, trace_id, start_ns, end_ns, span_count, error_count) VALUES (?1, ?2, ?3, ?4, 0, 0)",
        )
        .map_err(internal)?;
    for (trace_id, (first, last)) in times {
        let (number, _) = numbers[trace_id];
        insert.execute(params![number, trace_id.as_slice(), first, last]).map_err(internal)?;
        new_traces.push((*trace_id, number));
    }
    Ok(())
}

/// The number `traces.id` of the next new trace.
fn next_trace(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("SELECT coalesce(max(id), 0) + 1 FROM traces", [], |row| row.get(0))
}

/// A trace's number, and whether this batch brings it first (its `traces` row is inserted
/// after its spans, with the batch's aggregates, or without spans when only log records name it).
type TraceNumbers = HashMap<[u8; 16], (i64, bool)>;

/// Numbers the batch's traces: those stored already keep theirs (one lookup per trace, in
/// trace id order: `trace_keys`), new ones take the next.
fn number_traces<'a>(
    transaction: &Transaction<'_>,
    trace_ids: impl Iterator<Item = &'a [u8; 16]>,
    next_trace: &mut i64,
    keys: &TraceKeys,
) -> Result<TraceNumbers, StoreError> {
    let mut trace_ids: Vec<&[u8; 16]> = trace_ids.collect();
    trace_ids.sort_unstable();
    trace_ids.dedup();
    let mut numbers = TraceNumbers::with_capacity(trace_ids.len());
    for trace_id in trace_ids {
        let number = keys.number(transaction, trace_id).map_err(internal)?;
        let number = number.map(|number| (number, false)).unwrap_or_else(|| {
            *next_trace += 1;
            (*next_trace - 1, true)
        });
        numbers.insert(*trace_id, number);
    }
    Ok(numbers)
}

/// A span row the transaction inserted, with its operation's id, its own row id, and whether
/// its template was first stored by this batch.
type Inserted<'r> = (&'r SpanRow, i64, i64, bool);

/// Inserts the span rows not stored yet, with their lookup rows and full-text entries; returns
/// those inserted.
fn insert_spans<'r>(
    transaction: &Transaction<'_>,
    tables: &mut Tables<'_>,
    rows: &'r [SpanRow],
    numbers: &TraceNumbers,
    typical: &mut Typical,
) -> Result<(Vec<Inserted<'r>>, WriteOutcome), StoreError> {
    let mut inserted = Vec::with_capacity(rows.len());
    let mut outcome = WriteOutcome::default();
    let mut insert_span = transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO spans (trace_id, span_id, parent_span_id, service_id, operation_id, start_ns,
                end_ns, status_code, status_message, trace_state, flags, attributes, events, links,
                dropped_attributes, dropped_events, dropped_links, resource_id, scope_id, template_id, trace_no, name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        )
        .map_err(internal)?;
    // The spans of a batch share a few resource and scope bodies (one `Arc` each, see
    // `encode_batch`): look each up once by pointer, not by hashing the whole body per span.
    let mut batch_resources: HashMap<*const u8, i64> = HashMap::new();
    let mut batch_scopes: HashMap<*const u8, i64> = HashMap::new();
    for row in rows {
        let known = batch_resources.len();
        let resource_id =
            shared_body_id(transaction, "resources", &row.resource, tables.resources, &mut batch_resources)?;
        if batch_resources.len() > known && !row.resource_entities.is_empty() {
            // Once per distinct resource of the batch (a handful): what it names.
            let mut insert = transaction
                .prepare_cached(
                    "INSERT OR IGNORE INTO resource_entities (kind, value, resource_id) VALUES (?1, ?2, ?3)",
                )
                .map_err(internal)?;
            for (kind, value) in row.resource_entities.iter() {
                insert.execute(params![kind.code(), value, resource_id]).map_err(internal)?;
            }
        }
        let scope_id = shared_body_id(transaction, "scopes", &row.scope, tables.scopes, &mut batch_scopes)?;
        let service_id = service_id(transaction, &row.service, tables.services)?;
        let operation_id = operation_id(transaction, service_id, row.operation(), row.kind, tables.operations)?;
        let slow = row.slow_template(typical.of(transaction, operation_id)?);
        let (template_hash, template) = match &slow {
            Some((text, hash)) => (*hash, text.as_str()),
            None => (row.template_hash, row.template.as_str()),
        };
        let (template_id, novel) = template_id_new(
            transaction,
            template_hash,
            (template, row.template_failure.as_deref()),
            row.template_outcome.to_i64(),
            tables.templates,
        )?;
        if tables.template_services.get(&(template_id, service_id)).is_none() {
            transaction
                .prepare_cached("INSERT OR IGNORE INTO template_services (template_id, service_id) VALUES (?1, ?2)")
                .and_then(|mut statement| statement.execute(params![template_id, service_id]))
                .map_err(internal)?;
            tables.template_services.pending.insert((template_id, service_id), 0);
        }
        let changed = insert_span
            .execute(params![
                row.trace_id.as_slice(),
                row.span_id.as_slice(),
                row.parent_span_id.as_ref().map(|id| id.as_slice()),
                service_id,
                operation_id,
                row.start_ns,
                row.end_ns,
                row.status_code,
                row.status_message,
                row.trace_state,
                row.flags,
                crate::codec::attributes_column(&row.attributes),
                row.events,
                row.links,
                row.dropped_attributes,
                row.dropped_events,
                row.dropped_links,
                resource_id,
                scope_id,
                template_id,
                numbers[&row.trace_id].0,
                row.operation.as_ref().map(|_| row.name.as_str()),
            ])
            .map_err(internal)?;
        if changed == 0 {
            outcome.duplicates += 1;
            continue;
        }
        let span_rowid = transaction.last_insert_rowid();
        if let Some(error_text) = &row.error_text {
            transaction
                .prepare_cached(
                    "INSERT INTO errors_fts (rowid, error_type, message) VALUES (last_insert_rowid(), ?1, ?2)",
                )
                .and_then(|mut statement| statement.execute(params![row.error_type, error_text]))
                .map_err(internal)?;
        }
        outcome.inserted += 1;
        inserted.push((row, operation_id, span_rowid, novel));
    }
    Ok((inserted, outcome))
}

/// Adds the inserted spans to their operations' span counts and sums of log durations (the
/// operation baselines latency questions compare a span with).
fn add_to_baselines(transaction: &Transaction<'_>, inserted: &[Inserted<'_>]) -> Result<(), StoreError> {
    let mut durations: HashMap<i64, (i64, f64)> = HashMap::new();
    for (row, operation_id, _, _) in inserted {
        let duration = durations.entry(*operation_id).or_insert((0, 0.0));
        duration.0 += 1;
        duration.1 += semtrace_store::log_duration(row.start_ns, row.end_ns);
    }
    let mut update_operation = transaction
        .prepare_cached(
            "UPDATE operations SET span_count = span_count + ?2, log_duration_sum = log_duration_sum + ?3 WHERE id = ?1",
        )
        .map_err(internal)?;
    for (operation_id, (count, log_sum)) in &durations {
        update_operation.execute(params![operation_id, count, log_sum]).map_err(internal)?;
    }
    Ok(())
}

/// Indexes the entities the inserted spans name: one `entities_fts` document per trace of the
/// batch, and each value's trace count in `entity_values`.
fn add_entities(transaction: &Transaction<'_>, inserted: &[Inserted<'_>]) -> Result<(), StoreError> {
    // Each trace's first inserted span stands for it in the index.
    let mut first_rowid: HashMap<[u8; 16], i64> = HashMap::new();
    for (row, _, rowid, _) in inserted {
        if !row.entities.is_empty() {
            first_rowid.entry(row.trace_id).or_insert(*rowid);
        }
    }
    if first_rowid.is_empty() {
        return Ok(());
    }
    let entities = semtrace_store::row::trace_entities(inserted.iter().map(|(row, _, _, _)| *row));
    let mut documents: HashMap<[u8; 16], String> = HashMap::new();
    for (trace_id, _, kind, value) in &entities {
        let document = documents.entry(*trace_id).or_default();
        if !document.is_empty() {
            document.push(' ');
        }
        document.push_str(&semtrace_store::entity::term(*kind, value));
    }
    let mut index =
        transaction.prepare_cached("INSERT INTO entities_fts (rowid, terms) VALUES (?1, ?2)").map_err(internal)?;
    for (trace_id, document) in &documents {
        index.execute(params![first_rowid[trace_id], document]).map_err(internal)?;
    }
    let mut count = transaction
        .prepare_cached(
            "INSERT INTO entity_values (kind, value, traces) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, value) DO UPDATE SET traces = traces + excluded.traces",
        )
        .map_err(internal)?;
    for ((kind, value), traces) in semtrace_store::row::entity_value_counts(&entities) {
        count.execute(params![kind.code(), value, traces]).map_err(internal)?;
    }
    Ok(())
}

/// Operations' typical durations as a batch found them (before its own spans are added), read
/// once an operation: of its service and name, all kinds together, as `operation_baselines`
/// and the PostgreSQL store read them.
#[derive(Default)]
struct Typical(HashMap<i64, Option<f64>>);

impl Typical {
    fn of(&mut self, transaction: &Transaction<'_>, operation_id: i64) -> Result<Option<f64>, StoreError> {
        if let Some(typical) = self.0.get(&operation_id) {
            return Ok(*typical);
        }
        let (spans, sum): (Option<i64>, Option<f64>) = transaction
            .prepare_cached(
                "SELECT sum(o.span_count), sum(o.log_duration_sum) FROM operations o
                 JOIN operations k ON k.service_id = o.service_id AND k.name = o.name WHERE k.id = ?1",
            )
            .and_then(|mut read| read.query_row([operation_id], |row| Ok((row.get(0)?, row.get(1)?))))
            .map_err(internal)?;
        let typical = semtrace_store::importance::typical_ns(spans.unwrap_or(0), sum.unwrap_or(0.0));
        self.0.insert(operation_id, typical);
        Ok(typical)
    }
}

/// Each trace's importance from the inserted spans ([`semtrace_store::importance`]).
fn importance(
    transaction: &Transaction<'_>,
    inserted: &[Inserted<'_>],
    typical: &mut Typical,
) -> Result<HashMap<[u8; 16], f64>, StoreError> {
    let mut of_span = Vec::with_capacity(inserted.len());
    for (row, operation_id, _, novel) in inserted {
        of_span.push((*row, semtrace_store::importance::of_span(row, typical.of(transaction, *operation_id)?, *novel)));
    }
    Ok(semtrace_store::importance::by_trace(of_span))
}

/// Adds the inserted spans to their traces' aggregate rows; returns the new traces' ids and
/// numbers, and how many traces got their first span.
fn add_to_traces(
    transaction: &Transaction<'_>,
    inserted: Vec<Inserted<'_>>,
    importance: &HashMap<[u8; 16], f64>,
    numbers: &TraceNumbers,
) -> Result<(NewTraces, u64), StoreError> {
    // Most traces arrive in one batch: a plain insert under the number they were given, and an
    // update only when the trace was stored before.
    let mut insert_trace = transaction
        .prepare_cached(
            "INSERT INTO traces (id, trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name,
                importance)
             VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(internal)?;
    // A row without spans (log records brought the trace first) takes its spans' times; the
    // RETURNING says whether it was such a row.
    let mut update_trace = transaction
        .prepare_cached(
            "UPDATE traces SET
                start_ns = CASE WHEN span_count = 0 THEN ?2 ELSE min(start_ns, ?2) END,
                end_ns = CASE WHEN span_count = 0 THEN ?3 ELSE max(end_ns, ?3) END,
                span_count = span_count + ?4,
                error_count = error_count + ?5,
                root_service = coalesce(?6, root_service),
                root_name = coalesce(?7, root_name),
                importance = max(importance, ?8)
             WHERE id = ?9
             RETURNING span_count = ?4",
        )
        .map_err(internal)?;
    let mut new_traces = Vec::new();
    let mut first_spans = 0u64;
    for delta in semtrace_store::row::trace_deltas(inserted.into_iter().map(|(row, _, _, _)| row)) {
        let (root_service, root_name) = delta.root.unzip();
        let (number, new) = numbers[delta.trace_id];
        let values = params![
            delta.trace_id.as_slice(),
            delta.start_ns,
            delta.end_ns,
            delta.span_count,
            delta.error_count,
            root_service,
            root_name,
            importance.get(delta.trace_id).copied().unwrap_or(0.0),
            number
        ];
        if new {
            insert_trace.execute(values).map_err(internal)?;
            new_traces.push((*delta.trace_id, number));
            first_spans += 1;
        } else {
            let first: Option<bool> = update_trace.query_row(values, |row| row.get(0)).optional().map_err(internal)?;
            first_spans += u64::from(first == Some(true));
        }
    }
    Ok((new_traces, first_spans))
}

/// Inserts log records, each with the number of its trace (`numbers`), so that a trace's records
/// are found through an index that appends (`logs_trace`), not one keyed by random trace ids.
fn insert_logs(
    transaction: &Transaction<'_>,
    tables: &mut Tables<'_>,
    rows: &[LogRow],
    received_ns: i64,
    numbers: &TraceNumbers,
) -> Result<WriteOutcome, StoreError> {
    let mut outcome = WriteOutcome::default();
    let mut insert = transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO logs (key, trace_id, span_id, time_ns, received_ns, severity_number, severe,
                service_id, record, resource_id, scope_id, join_state, trace_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .map_err(internal)?;
    let (mut batch_resources, mut batch_scopes) = (HashMap::new(), HashMap::new());
    for row in rows {
        let resource_id =
            shared_body_id(transaction, "resources", &row.resource, tables.resources, &mut batch_resources)?;
        let scope_id = shared_body_id(transaction, "scopes", &row.scope, tables.scopes, &mut batch_scopes)?;
        let service_id = service_id(transaction, &row.service, tables.services)?;
        let changed = insert
            .execute(params![
                row.key.as_slice(),
                row.trace_id.as_ref().map(|id| id.as_slice()),
                row.span_id.as_ref().map(|id| id.as_slice()),
                row.time_ns,
                received_ns,
                row.severity_number,
                row.severe,
                service_id,
                row.record,
                resource_id,
                scope_id,
                i64::from(row.joins),
                row.trace_id.as_ref().map(|trace_id| numbers[trace_id].0),
            ])
            .map_err(internal)?;
        if changed == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.inserted += 1;
        if let Some(error_text) = &row.error_text {
            transaction
                .prepare_cached(
                    "INSERT INTO logs_fts (rowid, error_type, message) VALUES (last_insert_rowid(), ?1, ?2)",
                )
                .and_then(|mut statement| statement.execute(params![row.error_type, error_text]))
                .map_err(internal)?;
        }
    }
    Ok(outcome)
}

/// [`body_id`] through a cache of the bodies already seen in this batch, by address.
fn shared_body_id(
    transaction: &Transaction<'_>,
    table: &'static str,
    body: &Arc<str>,
    interned: &mut Interned<Arc<str>>,
    seen: &mut HashMap<*const u8, i64>,
) -> Result<i64, StoreError> {
    let address = Arc::as_ptr(body) as *const u8;
    if let Some(id) = seen.get(&address) {
        return Ok(*id);
    }
    let id = body_id(transaction, table, body, interned)?;
    seen.insert(address, id);
    Ok(id)
}

/// The id of a resource or scope body, inserting it when new.
fn body_id(
    transaction: &Transaction<'_>,
    table: &'static str,
    body: &Arc<str>,
    interned: &mut Interned<Arc<str>>,
) -> Result<i64, StoreError> {
    if let Some(id) = interned.get(body) {
        return Ok(id);
    }
    let id = insert_or_select(
        transaction,
        &format!("INSERT INTO {table} (body) VALUES (?1) ON CONFLICT DO NOTHING"),
        &format!("SELECT id FROM {table} WHERE body = ?1"),
        [&**body],
    )?;
    interned.pending.insert(body.clone(), id);
    Ok(id)
}

fn service_id(transaction: &Transaction<'_>, name: &str, interned: &mut Interned<String>) -> Result<i64, StoreError> {
    if let Some(id) = interned.get(name) {
        return Ok(id);
    }
    let id = insert_or_select(
        transaction,
        "INSERT INTO services (name) VALUES (?1) ON CONFLICT DO NOTHING",
        "SELECT id FROM services WHERE name = ?1",
        [name],
    )?;
    interned.pending.insert(name.to_owned(), id);
    Ok(id)
}

fn operation_id(
    transaction: &Transaction<'_>,
    service_id: i64,
    name: &str,
    kind: i32,
    operations: &mut HashMap<OperationKey, Interned<String>>,
) -> Result<i64, StoreError> {
    let interned = operations.entry((service_id, kind)).or_insert_with(|| Interned::new(HashMap::new()));
    if let Some(id) = interned.get(name) {
        return Ok(id);
    }
    let id = insert_or_select(
        transaction,
        "INSERT INTO operations (service_id, name, kind) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        "SELECT id FROM operations WHERE service_id = ?1 AND name = ?2 AND kind = ?3",
        params![service_id, name, kind],
    )?;
    interned.pending.insert(name.to_owned(), id);
    Ok(id)
}

/// A template's id, inserting it (its text and failure) when new.
fn template_id(
    transaction: &Transaction<'_>,
    hash: i64,
    text_and_failure: (&str, Option<&str>),
    failed: i64,
    interned: &mut Interned<i64>,
) -> Result<i64, StoreError> {
    template_id_new(transaction, hash, text_and_failure, failed, interned).map(|(id, _)| id)
}

/// [`template_id`], and whether this call stored the template.
fn template_id_new(
    transaction: &Transaction<'_>,
    hash: i64,
    (text, failure): (&str, Option<&str>),
    failed: i64,
    interned: &mut Interned<i64>,
) -> Result<(i64, bool), StoreError> {
    if let Some(id) = interned.get(&hash) {
        return Ok((id, false));
    }
    let stored: Option<(i64, bool)> = transaction
        .prepare_cached("SELECT id, failure IS NULL FROM templates WHERE hash = ?1")
        .and_then(|mut statement| statement.query_row([hash], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(internal)?;
    let id = match stored {
        Some((id, lacks_failure)) => {
            // A failed template stored before failures were kept (migration 8; `Writer::open`
            // leaves those out of the cache) gets its failure now, and is embedded again to get
            // its failure vector.
            if lacks_failure && failure.is_some() {
                transaction
                    .prepare_cached("UPDATE templates SET failure = ?2, embedding = NULL WHERE id = ?1")
                    .and_then(|mut statement| statement.execute(params![id, failure]))
                    .map_err(internal)?;
            }
            id
        }
        None => {
            transaction
                .prepare_cached(
                    "INSERT INTO templates (hash, text, failed, failure, category) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut statement| {
                    let category = semtrace_store::template_category(text, semtrace_summary::Outcome::from_i64(failed));
                    statement.execute(params![hash, text, failed, failure, category])
                })
                .map_err(internal)?;
            let id = transaction.last_insert_rowid();
            transaction
                .prepare_cached("INSERT INTO templates_fts (rowid, text) VALUES (?1, ?2)")
                .and_then(|mut statement| statement.execute(params![id, text]))
                .map_err(internal)?;
            interned.pending.insert(hash, id);
            return Ok((id, true));
        }
    };
    interned.pending.insert(hash, id);
    Ok((id, false))
}

/// Inserts a lookup row unless present, and returns its id either way.
fn insert_or_select<P: rusqlite::Params + Copy>(
    transaction: &Transaction<'_>,
    insert: &str,
    select: &str,
    params: P,
) -> Result<i64, StoreError> {
    transaction.prepare_cached(insert).and_then(|mut statement| statement.execute(params)).map_err(internal)?;
    transaction
        .prepare_cached(select)
        .and_then(|mut statement| statement.query_row(params, |row| row.get(0)).optional())
        .map_err(internal)?
        .ok_or_else(|| StoreError::Internal(format!("row vanished after insert: {select}")))
}
