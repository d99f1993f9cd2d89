//! The embedded store: SQLite (bundled) in WAL mode, one file under the data directory.
//!
//! Life of a write: the pipeline's batcher calls [`SqliteStore::write`] with the spans of many
//! export requests; they are inserted in one transaction on the single writer connection, which
//! commits (`synchronous = NORMAL`: the WAL frames are written, not yet fsynced) and lets the next
//! batch in; the call then fsyncs the WAL itself ([`durable::WalSync`]) and returns. Only then are
//! the requests acknowledged. Reads use a small pool of read-only connections, which WAL lets run
//! beside the writer.

mod checkpoint;
mod codec;
mod durable;
mod find;
mod logs;
pub mod retention;
mod schema;
mod search;
mod trace_keys;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use semtrace_model::{LogRecord, SpanId, Trace, TraceId};
use semtrace_store::{
    JoinDecisions, LogHit, Operation, PendingLog, PendingTemplate, SpanFilter, SpanHit, Store, StoreError, StoreStats,
    WriteOutcome,
};

use crate::codec::SpanRow;
use crate::trace_keys::TraceKeys;
use crate::writer::Writer;

pub use crate::trace_keys::DEFAULT_MERGE_AT as DEFAULT_TRACE_KEYS_MERGE_AT;

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "semtrace.db";

/// Read connections at most, each with its own page cache (`reader_cache_kib`): reads past
/// this many wait their turn instead of opening more.
const MAX_READERS: usize = 8;

/// Default page cache of the writer connection, in MiB ([`SqliteOptions::writer_cache_kib`]).
pub const DEFAULT_WRITER_CACHE_MIB: u32 = 64;
/// Default page cache of each read connection, in MiB.
pub const DEFAULT_READER_CACHE_MIB: u32 = 64;

/// Options of the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Directory holding the database; created if missing.
    pub data_dir: PathBuf,
    /// SQLite page cache of the writer connection, in KiB. 64 MiB ingests as fast as 256 MiB
    /// (`bench ingest`, 0.6M–3M spans, two traffic shapes: README, "Memory"); a larger cache
    /// also costs every commit a scan of it while the database is under 1 GiB.
    pub writer_cache_kib: u32,
    /// Page cache of each read connection (at most eight are open), in KiB.
    pub reader_cache_kib: u32,
    /// Extract and store the entities each trace touches (`features.entity_extraction`).
    pub entities: bool,
    /// Attribute weights of traces' importance (`importance.attributes`).
    pub importance: std::sync::Arc<[semtrace_store::importance::AttributeWeight]>,
    /// New traces held in memory (about 25 bytes each) before their ids are merged into the
    /// trace id index in one sorted pass (`trace_keys`).
    pub trace_keys_merge_at: usize,
    /// What to keep ([`retention`]): off by default.
    pub retention: retention::RetentionOptions,
}

impl SqliteOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            data_dir: data_dir.into(),
            writer_cache_kib: DEFAULT_WRITER_CACHE_MIB * 1024,
            reader_cache_kib: DEFAULT_READER_CACHE_MIB * 1024,
            entities: true,
            importance: Vec::new().into(),
            trace_keys_merge_at: DEFAULT_TRACE_KEYS_MERGE_AT,
            retention: retention::RetentionOptions {
                days: 0,
                max_bytes: 0,
                interval: std::time::Duration::from_secs(300),
            },
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    writer: Arc<Mutex<Writer>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per read connection: held while a read runs.
    read_slots: Arc<tokio::sync::Semaphore>,
    total_spans: Arc<AtomicU64>,
    total_traces: Arc<AtomicU64>,
    /// Trace numbers by trace id, with the writer.
    trace_keys: Arc<TraceKeys>,
    wal: Arc<durable::WalSync>,
    _checkpointer: checkpoint::Checkpointer,
    retention: Option<retention::Retention>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store, applying schema migrations.
    pub fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&options.data_dir).map_err(|err| {
            StoreError::Unavailable(format!("cannot create data directory {}: {err}", options.data_dir.display()))
        })?;
        let path = options.data_dir.join(DB_FILE_NAME);
        let connection = Connection::open(&path)
            .map_err(|err| StoreError::Unavailable(format!("cannot open {}: {err}", path.display())))?;
        // A new store gives the pages retention frees back to the file system; the setting can
        // only be chosen before its first table (an older store reuses them instead).
        let fresh: i64 =
            connection.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0)).map_err(internal)?;
        if fresh == 0 {
            connection.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(internal)?;
        }
        configure(&connection, &options, Access::ReadWrite).map_err(internal)?;
        schema::migrate(&connection)?;
        let total_spans: i64 =
            connection.query_row("SELECT count(*) FROM spans", [], |row| row.get(0)).map_err(internal)?;
        // Traces that only log records name so far have a row without spans: not counted.
        let total_traces: i64 = connection
            .query_row(
                "SELECT (SELECT count(*) FROM traces) - (SELECT count(*) FROM traces WHERE span_count = 0)",
                [],
                |row| row.get(0),
            )
            .map_err(internal)?;
        let merger = trace_keys::Merger::open(&connection, options.trace_keys_merge_at).map_err(internal)?;
        let writer = Writer::new(connection, merger).map_err(internal)?;
        let trace_keys = writer.trace_keys().clone();
        let checkpointer = checkpoint::Checkpointer::start(&path)
            .map_err(|err| StoreError::Internal(format!("cannot start the WAL checkpointer: {err}")))?;
        let writer = Arc::new(Mutex::new(writer));
        let total_spans = Arc::new(AtomicU64::new(total_spans as u64));
        let total_traces = Arc::new(AtomicU64::new(total_traces as u64));
        let retention = match options.retention.enabled() {
            true => Some(
                retention::Retention::start(
                    options.retention,
                    writer.clone(),
                    path.clone(),
                    retention::Counters { spans: total_spans.clone(), traces: total_traces.clone() },
                )
                .map_err(|err| StoreError::Internal(format!("cannot start retention: {err}")))?,
            ),
            false => None,
        };
        Ok(SqliteStore {
            wal: Arc::new(durable::WalSync::new(&path)),
            path,
            options,
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            read_slots: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            total_spans,
            total_traces,
            trace_keys,
            _checkpointer: checkpointer,
            retention,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs retention once, now, as its thread does every interval (blocking: call it off the
    /// async runtime). For tests and benchmarks.
    pub fn run_retention(
        &self,
        options: &retention::RetentionOptions,
    ) -> Result<semtrace_store::RetentionRun, StoreError> {
        let counters = retention::Counters { spans: self.total_spans.clone(), traces: self.total_traces.clone() };
        retention::run(options, &self.writer, &self.path, &counters)
    }

    /// Stores template embeddings (`failure`: of their failures) on the writer's connection.
    async fn set_embeddings(&self, embeddings: &[(i64, Vec<f32>)], failure: bool) -> Result<(), StoreError> {
        let embeddings = embeddings.to_vec();
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || writer.lock().expect("writer lock").set_embeddings(&embeddings, failure))
            .await
            .map_err(|err| StoreError::Internal(format!("write task failed: {err}")))?
    }

    /// Runs `work` on a pooled read connection on the blocking pool, once one of the
    /// `MAX_READERS` is free (reads queue, in order, rather than open more connections).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let options = self.options.clone();
        let slot = self.read_slots.clone().acquire_owned().await.expect("the read semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = readers.lock().expect("reader pool lock").pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_reader(&path, &options)?,
            };
            let result = work(&connection);
            let mut pool = readers.lock().expect("reader pool lock");
            if pool.len() < MAX_READERS {
                pool.push(connection);
            }
            result
        })
        .await
        .map_err(|err| StoreError::Internal(format!("read task failed: {err}")))?
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

fn configure(connection: &Connection, options: &SqliteOptions, access: Access) -> rusqlite::Result<()> {
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    let cache_kib = match access {
        Access::ReadWrite => options.writer_cache_kib,
        Access::ReadOnly => options.reader_cache_kib,
    };
    connection.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
    if access == Access::ReadWrite {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL: a COMMIT writes the WAL but does not fsync it; `SqliteStore::write` fsyncs it
        // after releasing the writer (see `durable`), before acknowledging, so an acknowledged
        // span survives power loss while the next batch is already being inserted.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // A background thread checkpoints (see `checkpoint`); the writer does so itself once
        // the WAL passes 16 MiB (4096 pages), which restarts the log under continuous writes
        // (the thread has copied most of it by then, so the writer's stall is short). On the
        // shaped traffic (README, "Benchmarks") 16 MiB ingested faster than 4, 32, 64 or 256.
        connection.pragma_update(None, "wal_autocheckpoint", 4_096)?;
        // After the log restarts, a file past 16 MiB is cut back; below that it is reused as it is.
        connection.pragma_update(None, "journal_size_limit", 16i64 << 20)?;
    }
    Ok(())
}

fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|err| StoreError::Unavailable(format!("cannot open {}: {err}", path.display())))?;
    configure(&connection, options, Access::ReadOnly).map_err(internal)?;
    Ok(connection)
}

pub(crate) fn internal(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match err.sqlite_error_code() {
        Some(
            ErrorCode::DiskFull
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure,
        ) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Internal(err.to_string()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn caches(&self) -> Vec<(&'static str, u64)> {
        let kib = |kib: u32| u64::from(kib) * 1024;
        vec![
            ("sqlite_writer_page_cache", kib(self.options.writer_cache_kib)),
            ("sqlite_reader_page_caches", kib(self.options.reader_cache_kib) * MAX_READERS as u64),
            // A hash map entry (16 + 8 bytes and a control byte), at most twice the entries.
            ("sqlite_recent_trace_keys", 2 * 25 * self.options.trace_keys_merge_at as u64),
        ]
    }

    async fn write(&self, spans: &[semtrace_model::Span]) -> Result<WriteOutcome, StoreError> {
        Ok(self.write_batch(spans, &[]).await?.0)
    }

    async fn write_batch(
        &self,
        spans: &[semtrace_model::Span],
        logs: &[LogRecord],
    ) -> Result<(WriteOutcome, WriteOutcome), StoreError> {
        if spans.is_empty() && logs.is_empty() {
            return Ok(Default::default());
        }
        // Encoding (JSON of attributes, events, summaries...) happens here, outside the writer
        // lock, so it overlaps with the previous batch's commit.
        let rows: Vec<SpanRow> = semtrace_store::row::encode_batch_in_place(
            spans,
            &semtrace_store::row::EncodeOptions {
                entities: self.options.entities,
                importance: self.options.importance.clone(),
                compact_attributes: true,
            },
        );
        let log_rows = semtrace_store::row::encode_logs(logs);
        let received_ns = semtrace_store::now_ns();
        let writer = self.writer.clone();
        let total_spans = self.total_spans.clone();
        let total_traces = self.total_traces.clone();
        let wal = self.wal.clone();
        let trace_keys = self.trace_keys.clone();
        tokio::task::spawn_blocking(move || {
            let committed = {
                let mut writer = writer.lock().expect("writer lock");
                let started = std::time::Instant::now();
                let committed = writer.write(&rows, &log_rows, received_ns);
                // A `_sum` growing by nearly 1 s per second: the single writer limits ingest.
                metrics::histogram!("semtrace_sqlite_writer_seconds").record(started.elapsed().as_secs_f64());
                committed?
            };
            total_spans.fetch_add(committed.outcome.inserted as u64, Ordering::Relaxed);
            total_traces.fetch_add(committed.first_spans, Ordering::Relaxed);
            // New traces waiting for their ids' merge into the trace id index (`trace_keys`).
            metrics::gauge!("semtrace_sqlite_trace_keys_waiting").set(trace_keys.waiting() as f64);
            // Durable before acknowledged; the writer is free meanwhile. A failed sync fails every
            // later write too (see `durable`), so the pipeline spools or refuses them.
            let started = std::time::Instant::now();
            wal.sync()?;
            metrics::histogram!("semtrace_sqlite_wal_sync_seconds").record(started.elapsed().as_secs_f64());
            Ok((committed.outcome, committed.logs))
        })
        .await
        .map_err(|err| StoreError::Internal(format!("write task failed: {err}")))?
    }

    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError> {
        let keys = self.trace_keys.clone();
        self.read(move |connection| {
            let Some(number) = keys.number(connection, trace_id.as_bytes()).map_err(internal)? else {
                return Ok(None);
            };
            let spans = codec::read_trace(connection, number).map_err(internal)?;
            Ok((!spans.is_empty()).then(|| Trace::new(trace_id, spans)))
        })
        .await
    }

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.read(|connection| {
            let mut statement =
                // Services with spans (or severe records) stored: retention leaves the rows of
                // those it emptied, whose ids the writer keeps.
                connection
                    .prepare_cached(
                        "SELECT name FROM services s
                         WHERE EXISTS (SELECT 1 FROM spans WHERE service_id = s.id)
                            OR EXISTS (SELECT 1 FROM logs WHERE service_id = s.id AND severe = 1)
                         ORDER BY name",
                    )
                    .map_err(internal)?;
            let names = statement.query_map([], |row| row.get(0)).map_err(internal)?;
            names.collect::<Result<Vec<String>, _>>().map_err(internal)
        })
        .await
    }

    async fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        let service = service.to_owned();
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT o.name, o.kind FROM operations o JOIN services s ON s.id = o.service_id
                     WHERE s.name = ?1 AND EXISTS (SELECT 1 FROM spans WHERE operation_id = o.id)
                     ORDER BY o.name, o.kind",
                )
                .map_err(internal)?;
            let operations = statement
                .query_map([&service], |row| {
                    Ok(Operation { name: row.get(0)?, span_kind: semtrace_model::SpanKind::from_otlp(row.get(1)?) })
                })
                .map_err(internal)?;
            operations.collect::<Result<Vec<_>, _>>().map_err(internal)
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let disk_bytes = ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut name = self.path.clone().into_os_string();
                name.push(suffix);
                std::fs::metadata(name).ok().map(|meta| meta.len())
            })
            .sum();
        let (templates, templates_pending) = self.read(search::template_counts).await?;
        Ok(StoreStats {
            total_traces: self.total_traces.load(Ordering::Relaxed),
            total_spans: self.total_spans.load(Ordering::Relaxed),
            disk_bytes: Some(disk_bytes),
            templates,
            templates_pending,
        })
    }

    fn retention(&self) -> Option<semtrace_store::RetentionStatus> {
        self.retention.as_ref().map(|retention| retention.status.lock().expect("retention status lock").clone())
    }

    async fn storage(&self) -> Result<semtrace_store::StorageDetail, StoreError> {
        self.read(|connection| {
            // dbstat's aggregate rows: one per table or index, from its pages' counts.
            let mut statement = connection
                .prepare(
                    "SELECT d.name, coalesce(m.type, 'table'), d.pgsize FROM dbstat AS d
                     LEFT JOIN sqlite_schema AS m ON m.name = d.name
                     WHERE d.aggregate = TRUE ORDER BY d.pgsize DESC, d.name",
                )
                .map_err(internal)?;
            let relations = statement
                .query_map([], |row| {
                    let kind: String = row.get(1)?;
                    let kind = if kind == "index" || row.get::<_, String>(0)?.starts_with("sqlite_autoindex") {
                        "index"
                    } else {
                        "table"
                    };
                    Ok((row.get::<_, String>(0)?, kind, row.get::<_, i64>(2)?.max(0) as u64))
                })
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            // A trace starts with its earliest span (traces_start); its end is its latest.
            let (oldest, newest): (Option<i64>, Option<i64>) = connection
                .query_row(
                    "SELECT (SELECT min(start_ns) FROM traces WHERE span_count > 0),
                            (SELECT max(end_ns) FROM traces WHERE span_count > 0)",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(internal)?;
            Ok(semtrace_store::StorageDetail {
                relations,
                oldest_span_ns: oldest.map(|ns| ns.max(0) as u64),
                newest_span_ns: newest.map(|ns| ns.max(0) as u64),
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|connection| {
            connection.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).optional().map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn pending_templates(&self, limit: usize) -> Result<Vec<PendingTemplate>, StoreError> {
        self.read(move |connection| search::pending_templates(connection, limit)).await
    }

    async fn set_template_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        self.set_embeddings(embeddings, false).await
    }

    async fn set_failure_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        self.set_embeddings(embeddings, true).await
    }

    async fn uncategorized_templates(
        &self,
        limit: usize,
    ) -> Result<Vec<semtrace_store::UncategorizedTemplate>, StoreError> {
        self.read(move |connection| search::uncategorized_templates(connection, limit)).await
    }

    async fn set_template_categories(&self, categories: &[(i64, String)]) -> Result<(), StoreError> {
        let categories = categories.to_vec();
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || writer.lock().expect("writer lock").set_categories(&categories))
            .await
            .map_err(|err| StoreError::Internal(format!("write task failed: {err}")))?
    }

    async fn template_categories(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |connection| search::template_categories(connection, &ids)).await
    }

    async fn template_embeddings(&self) -> Result<Vec<semtrace_store::TemplateVector>, StoreError> {
        self.read(search::template_embeddings).await
    }

    async fn match_templates(&self, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError> {
        let query = query.to_owned();
        self.read(move |connection| search::match_templates(connection, &query, limit)).await
    }

    async fn spans_of_templates(
        &self,
        template_ids: &[i64],
        filter: &SpanFilter,
        max_traces: usize,
        per_trace: semtrace_store::policy::PerTrace,
    ) -> Result<Vec<SpanHit>, StoreError> {
        let (template_ids, filter) = (template_ids.to_vec(), filter.clone());
        self.read(move |connection| {
            search::spans_of_templates(connection, &template_ids, &filter, max_traces, per_trace)
        })
        .await
    }

    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError> {
        let (query, filter) = (query.to_owned(), filter.clone());
        self.read(move |connection| search::search_errors(connection, &query, &filter, limit)).await
    }

    async fn trace_profiles(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, Vec<semtrace_store::SpanProfile>>, StoreError> {
        let trace_ids = trace_ids.to_vec();
        let keys = self.trace_keys.clone();
        self.read(move |connection| search::trace_profiles(connection, &keys, &trace_ids)).await
    }

    async fn find_traces(&self, query: &semtrace_store::TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let query = query.clone();
        self.read(move |connection| find::find_traces(connection, &query)).await
    }

    async fn service_calls(&self, start_ns: u64, end_ns: u64) -> Result<Vec<semtrace_store::ServiceCall>, StoreError> {
        self.read(move |connection| find::service_calls(connection, start_ns, end_ns)).await
    }

    async fn trace_importance(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, f64>, StoreError> {
        let trace_ids = trace_ids.to_vec();
        let keys = self.trace_keys.clone();
        self.read(move |connection| {
            let mut statement =
                connection.prepare_cached("SELECT importance FROM traces WHERE id = ?1").map_err(internal)?;
            let mut found = std::collections::HashMap::new();
            for id in trace_ids {
                let Some(number) = keys.number(connection, id.as_bytes()).map_err(internal)? else { continue };
                let importance: Option<f64> =
                    statement.query_row([number], |row| row.get(0)).optional().map_err(internal)?;
                if let Some(importance) = importance {
                    found.insert(id, importance);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn entities(
        &self,
        kind: Option<semtrace_store::entity::EntityKind>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<semtrace_store::entity::EntityCount>, StoreError> {
        let prefix = prefix.to_owned();
        self.read(move |connection| find::entities(connection, kind, &prefix, limit)).await
    }

    async fn failure_counts(
        &self,
        window: &semtrace_store::FailureWindow,
    ) -> Result<Vec<semtrace_store::FailureCount>, StoreError> {
        let window = window.clone();
        self.read(move |connection| find::failure_counts(connection, &window)).await
    }

    async fn operation_baselines(
        &self,
        operations: &[(String, String)],
    ) -> Result<std::collections::HashMap<(String, String), semtrace_store::OperationBaseline>, StoreError> {
        let operations = operations.to_vec();
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT sum(o.span_count), sum(o.log_duration_sum) FROM operations o
                     JOIN services s ON s.id = o.service_id WHERE s.name = ?1 AND o.name = ?2",
                )
                .map_err(internal)?;
            let mut baselines = std::collections::HashMap::new();
            for (service, name) in operations {
                // Spans count under their masked operation (`operation_name`).
                let operation = semtrace_store::row::operation_name(&name);
                let (spans, sum): (Option<i64>, Option<f64>) = statement
                    .query_row(rusqlite::params![service, operation.as_ref()], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(internal)?;
                if let Some(baseline) =
                    semtrace_store::OperationBaseline::from_sums(spans.unwrap_or(0), sum.unwrap_or(0.0))
                {
                    baselines.insert((service, name), baseline);
                }
            }
            Ok(baselines)
        })
        .await
    }

    async fn write_logs(&self, logs: &[LogRecord]) -> Result<WriteOutcome, StoreError> {
        Ok(self.write_batch(&[], logs).await?.1)
    }

    async fn pending_log_joins(&self, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError> {
        self.read(move |connection| logs::pending(connection, after_id, limit)).await
    }

    async fn finish_log_joins(&self, decisions: &JoinDecisions) -> Result<(), StoreError> {
        let decisions = decisions.clone();
        let (writer, wal) = (self.writer.clone(), self.wal.clone());
        tokio::task::spawn_blocking(move || {
            {
                let mut writer = writer.lock().expect("writer lock");
                let started = std::time::Instant::now();
                let finished = writer.finish_joins(&decisions);
                metrics::histogram!("semtrace_sqlite_join_writer_seconds").record(started.elapsed().as_secs_f64());
                finished?
            };
            wal.sync()
        })
        .await
        .map_err(|err| StoreError::Internal(format!("write task failed: {err}")))?
    }

    async fn span_evidence(&self, spans: &[(TraceId, SpanId)]) -> Result<Vec<LogRecord>, StoreError> {
        let spans = spans.to_vec();
        let keys = self.trace_keys.clone();
        self.read(move |connection| logs::evidence(connection, &keys, &spans)).await
    }

    async fn trace_logs(&self, trace_id: TraceId) -> Result<Vec<LogRecord>, StoreError> {
        let keys = self.trace_keys.clone();
        self.read(move |connection| logs::of_trace(connection, &keys, trace_id)).await
    }

    async fn search_logs(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<LogHit>, StoreError> {
        let (query, filter) = (query.to_owned(), filter.clone());
        self.read(move |connection| logs::search(connection, &query, &filter, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        semtrace_store::conformance::run(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_past_the_pool_wait_for_a_connection_instead_of_opening_more() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads: Vec<_> = (0..40)
            .map(|_| {
                let (store, running, most) = (store.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    store
                        .read(move |connection| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            let one: i64 = connection.query_row("SELECT 1", [], |row| row.get(0)).map_err(internal)?;
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(one)
                        })
                        .await
                })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap(), 1);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most > 1 && most <= MAX_READERS, "{most} reads ran at once");
        assert!(store.readers.lock().unwrap().len() <= MAX_READERS);
    }

    /// A failed flush of the WAL (injected: a descriptor whose `fdatasync` the kernel refuses)
    /// fails that write and every later one, retryably, so the pipeline spools or refuses them.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_flush_every_write_fails_until_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let spans = semtrace_store::conformance::rich_trace;
        store.write(&spans(1)).await.unwrap();
        store.wal.flush_through(Path::new("/dev/null"));
        let err = store.write(&spans(2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)) && err.is_retryable(), "{err}");
        assert!(err.to_string().contains("fdatasync"), "{err}");
        store.wal.flush_through(&store.path.with_extension("db-wal"));
        let err = store.write(&spans(3)).await.unwrap_err();
        assert!(err.to_string().contains("until semtrace restarts"), "{err}");
        assert!(store.write_logs(&[]).await.is_ok(), "nothing to write, nothing refused");
        drop(store);
        // A restart takes writes again.
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        store.write(&spans(4)).await.unwrap();
    }

    /// Retention drops the traces older than its cutoff whole (spans, keys, both before and after
    /// their keys' merge), the templates only they used, and gives the pages back; what is newer
    /// stays, and writes go on as before (a dropped template's text comes back as a new one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_drops_old_traces_and_their_templates_and_gives_space_back() {
        use semtrace_model::{AnyValue, StatusCode};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions { trace_keys_merge_at: 500, ..SqliteOptions::new(dir.path()) };
        let store = Arc::new(SqliteStore::open(options).unwrap());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let day = 86_400_000_000_000u64;
        // A trace `n` at `at`, its database span failing in words of its own (`old` or `new`), with
        // a payload that makes old data weigh.
        let trace = |n: u64, at: u64, words: &str| {
            let mut spans = semtrace_store::conformance::rich_trace(n);
            let shift = at as i64 - spans[0].start_time_unix_nano as i64;
            for span in &mut spans {
                span.start_time_unix_nano = (span.start_time_unix_nano as i64 + shift) as u64;
                span.end_time_unix_nano = (span.end_time_unix_nano as i64 + shift) as u64;
                span.attributes.push("payload", AnyValue::String(format!("{n:0>2000}")));
                if span.status.code == StatusCode::Error {
                    span.status.message = format!("{words} failure");
                }
            }
            spans
        };
        for chunk in 0..15u64 {
            let spans: Vec<_> = (chunk * 100..chunk * 100 + 100)
                .flat_map(|n| trace(n + 1, now - 10 * day + n * 1_000_000, "vanished quark"))
                .collect();
            store.write(&spans).await.unwrap();
        }
        let new: Vec<_> = (2000..2010).flat_map(|n| trace(n, now - 3_600_000_000_000, "present photon")).collect();
        store.write(&new).await.unwrap();
        let spans_per_trace = trace(1, now, "x").len() as u64;
        let before = store.stats().await.unwrap();
        assert_eq!(before.total_spans, 1510 * spans_per_trace);
        let template_with = |words: &str| -> i64 {
            let connection = Connection::open(store.path()).unwrap();
            connection
                .query_row("SELECT count(*) FROM templates WHERE text LIKE ?1", [format!("%{words}%")], |row| {
                    row.get(0)
                })
                .unwrap()
        };
        let old_templates = template_with("vanished quark");
        assert!(old_templates > 0);

        let retention =
            retention::RetentionOptions { days: 7, max_bytes: 0, interval: std::time::Duration::from_secs(60) };
        let worker = store.clone();
        let run = tokio::task::spawn_blocking(move || worker.run_retention(&retention)).await.unwrap().unwrap();
        assert_eq!(run.traces, 1500, "{run:?}");
        assert_eq!(run.spans, 1500 * spans_per_trace);
        assert!(run.templates > 0 && template_with("vanished quark") == 0, "{run:?}");
        assert!(template_with("present photon") > 0);
        assert!(run.bytes_after * 4 < run.bytes_before, "space given back: {run:?}");
        let after = store.stats().await.unwrap();
        assert_eq!((after.total_spans, after.total_traces), (10 * spans_per_trace, 10));
        for n in [1u64, 600, 1500] {
            let old = semtrace_store::conformance::rich_trace(n)[0].trace_id;
            assert!(store.get_trace(old).await.unwrap().is_none(), "trace {n} is gone");
        }
        let kept = semtrace_store::conformance::rich_trace(2005)[0].trace_id;
        assert_eq!(store.get_trace(kept).await.unwrap().unwrap().spans.len() as u64, spans_per_trace);

        // Writes go on, a dropped template's text comes back as a new template, and a run with
        // nothing due drops nothing.
        store.write(&trace(3000, now, "vanished quark")).await.unwrap();
        assert_eq!(template_with("vanished quark"), old_templates);
        let again = semtrace_store::conformance::rich_trace(3000)[0].trace_id;
        assert!(store.get_trace(again).await.unwrap().is_some());
        let worker = store.clone();
        let idle = tokio::task::spawn_blocking(move || worker.run_retention(&retention)).await.unwrap().unwrap();
        assert_eq!((idle.traces, idle.spans, idle.templates), (0, 0, 0));

        // By size: past a cap, the oldest go first until the live data is under 90 % of it.
        let worker = store.clone();
        let capped = retention::RetentionOptions { days: 0, max_bytes: 1, ..retention };
        let run = tokio::task::spawn_blocking(move || worker.run_retention(&capped)).await.unwrap().unwrap();
        assert!(run.traces >= 9, "all but the newest trace: {run:?}");
        assert!(store.get_trace(again).await.unwrap().is_some(), "the newest trace is kept");
    }

    /// Trace ids merged into `trace_keys` every 3 new traces; the merge's watermark as a crash
    /// between a merge's slices would leave it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn traces_are_found_by_id_before_and_after_their_keys_merge_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions { trace_keys_merge_at: 3, ..SqliteOptions::new(dir.path()) };
        let trace = semtrace_store::conformance::rich_trace;
        let keyed = |store: &SqliteStore| -> (i64, i64) {
            let connection = Connection::open(store.path()).unwrap();
            let merged = connection.query_row("SELECT count(*) FROM trace_keys", [], |row| row.get(0)).unwrap();
            let through = connection
                .query_row("SELECT value FROM store_state WHERE name = 'trace_keys_through'", [], |row| row.get(0))
                .unwrap();
            (merged, through)
        };
        {
            let store = SqliteStore::open(options.clone()).unwrap();
            for n in 1..=7 {
                store.write(&trace(n)).await.unwrap();
                let found = store.get_trace(trace(n)[0].trace_id).await.unwrap();
                assert_eq!(found.map(|trace| trace.spans.len()), Some(3), "trace {n} right after its write");
            }
            assert_eq!(keyed(&store), (6, 6), "two merges of three; the seventh waits in memory");
            assert_eq!(store.trace_keys.waiting(), 1);
            // A merged trace's late span joins it, under its number: still 7 traces.
            let mut late = trace(2)[0].clone();
            late.span_id = semtrace_store::conformance::span_id(99);
            assert_eq!(store.write(std::slice::from_ref(&late)).await.unwrap().inserted, 1);
            assert_eq!(store.get_trace(late.trace_id).await.unwrap().unwrap().spans.len(), 4);
            assert_eq!(store.stats().await.unwrap().total_traces, 7);
            let profiles = store.trace_profiles(&[trace(1)[0].trace_id, trace(7)[0].trace_id]).await.unwrap();
            assert_eq!(profiles.len(), 2, "a merged and a waiting trace");
            Connection::open(store.path())
                .unwrap()
                .execute("UPDATE store_state SET value = 3 WHERE name = 'trace_keys_through'", [])
                .unwrap();
        }
        let store = SqliteStore::open(options).unwrap();
        assert_eq!(store.trace_keys.waiting(), 4, "traces past the watermark are read back, merged or not");
        for n in 1..=7 {
            assert!(store.get_trace(trace(n)[0].trace_id).await.unwrap().is_some(), "trace {n} after restart");
        }
        // Retries after the restart are duplicates, whichever side of the watermark.
        for n in [1, 5, 7] {
            assert_eq!(store.write(&trace(n)).await.unwrap().inserted, 0, "trace {n} again");
        }
        assert_eq!(keyed(&store), (7, 7), "merged again from the watermark, those merged before ignored");
        store.write(&trace(8)).await.unwrap();
        assert_eq!(store.trace_keys.waiting(), 1);
        assert_eq!(store.stats().await.unwrap().total_traces, 8);
        let connection = Connection::open(store.path()).unwrap();
        let rows: i64 = connection.query_row("SELECT count(*) FROM traces", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 8, "one row per trace");
    }

    /// Log records that come before their trace's spans number the trace; it is counted, and
    /// takes its spans' times, once they come.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_before_their_spans_number_the_trace_which_is_counted_once_spans_come() {
        use semtrace_store::conformance::{logs_about, rich_trace};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions { trace_keys_merge_at: 2, ..SqliteOptions::new(dir.path()) };
        let spans = rich_trace(1);
        let logs = logs_about(&spans[..1]);
        {
            let store = SqliteStore::open(options.clone()).unwrap();
            assert_eq!(store.write_logs(&logs).await.unwrap().inserted, 2);
            assert_eq!(store.stats().await.unwrap().total_traces, 0, "records alone make no trace");
            assert!(store.get_trace(spans[0].trace_id).await.unwrap().is_none());
            assert_eq!(store.trace_logs(spans[0].trace_id).await.unwrap().len(), 2);
        }
        let store = SqliteStore::open(options.clone()).unwrap();
        assert_eq!(store.stats().await.unwrap().total_traces, 0, "nor after a restart");
        store.write(&spans).await.unwrap();
        // Another trace, so the first's key is merged (every two traces).
        store.write(&rich_trace(2)).await.unwrap();
        assert_eq!(store.stats().await.unwrap().total_traces, 2);
        assert_eq!(store.trace_logs(spans[0].trace_id).await.unwrap().len(), 2);
        let evidence = store.span_evidence(&[(spans[0].trace_id, spans[0].span_id)]).await.unwrap();
        assert_eq!(evidence.len(), 1, "the ERROR record is evidence of its span");
        let connection = Connection::open(store.path()).unwrap();
        let (rows, start): (i64, i64) = connection
            .query_row(
                "SELECT count(*), min(start_ns) FROM traces WHERE trace_id = ?1",
                [spans[0].trace_id.as_bytes()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let first = spans.iter().map(|span| span.start_time_unix_nano).min().unwrap();
        assert_eq!((rows, start), (1, first as i64), "one row, with its spans' start, not its records'");
        drop(store);
        let store = SqliteStore::open(options).unwrap();
        assert_eq!(store.stats().await.unwrap().total_traces, 2);
    }

    /// As semtrace before migration 16 left them: records found through a trace id index, one
    /// of a trace that has spans, one of a trace only records name.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_stored_before_they_had_trace_numbers_get_theirs_at_upgrade() {
        use semtrace_store::conformance::{logs_about, rich_trace};
        let dir = tempfile::tempdir().unwrap();
        let (spans, lonely) = (rich_trace(1), rich_trace(2));
        {
            let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
            store.write(&spans).await.unwrap();
            store.write_logs(&logs_about(&[spans[0].clone(), lonely[0].clone()])).await.unwrap();
        }
        Connection::open(dir.path().join(DB_FILE_NAME))
            .unwrap()
            .execute_batch(
                "DELETE FROM trace_keys WHERE id IN (SELECT id FROM traces WHERE span_count = 0); \
                 DELETE FROM traces WHERE span_count = 0; DROP INDEX traces_awaiting_spans; \
                 DELETE FROM trace_keys; UPDATE store_state SET value = 0; \
                 DROP INDEX logs_trace; ALTER TABLE logs DROP COLUMN trace_no; \
                 CREATE INDEX logs_span ON logs (trace_id, span_id) WHERE trace_id IS NOT NULL; \
                 PRAGMA user_version = 15;",
            )
            .unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        assert_eq!(store.stats().await.unwrap().total_traces, 1);
        assert_eq!(store.trace_logs(spans[0].trace_id).await.unwrap().len(), 2);
        assert_eq!(store.trace_logs(lonely[0].trace_id).await.unwrap().len(), 2, "a trace only records name");
        assert_eq!(store.trace_keys.waiting(), 0, "the upgrade merged every key");
        store.write(&lonely).await.unwrap();
        assert_eq!(store.stats().await.unwrap().total_traces, 2);
        assert_eq!(store.get_trace(lonely[0].trace_id).await.unwrap().unwrap().spans.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_keeps_data_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let spans = semtrace_store::conformance::rich_trace(5);
        {
            let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
            store.write(&spans).await.unwrap();
        }
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.total_traces, stats.total_spans), (1, 3));
        let trace = store.get_trace(spans[0].trace_id).await.unwrap().unwrap();
        assert_eq!(trace.spans.len(), 3);
        // The writer's caches of known services are rebuilt: a retry after restart is still a duplicate.
        let again = store.write(&spans).await.unwrap();
        assert_eq!(again, WriteOutcome { inserted: 0, duplicates: 3 });
        assert_eq!(store.services().await.unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_templates_stored_before_failures_were_kept_get_theirs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
            store.write(&semtrace_store::conformance::rich_trace(1)).await.unwrap();
            let pending = store.pending_templates(10).await.unwrap();
            let all: Vec<(i64, Vec<f32>)> = pending.iter().map(|template| (template.id, vec![1.0])).collect();
            store.set_template_embeddings(&all).await.unwrap();
        }
        // As an older semtrace left them: embedded, without their failure.
        let connection = rusqlite::Connection::open(dir.path().join("semtrace.db")).unwrap();
        assert_eq!(connection.execute("UPDATE templates SET failure = NULL WHERE failed != 0", []).unwrap(), 2);
        drop(connection);
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        assert!(store.pending_templates(10).await.unwrap().is_empty());
        store.write(&semtrace_store::conformance::rich_trace(2)).await.unwrap();
        let pending = store.pending_templates(10).await.unwrap();
        assert_eq!(pending.len(), 2, "both failed templates are embedded again: {pending:?}");
        assert!(pending.iter().all(|template| template.failure.is_some()), "{pending:?}");
        assert_eq!(store.stats().await.unwrap().templates, 3, "no template is stored twice");
        assert_eq!(store.match_templates("HikariPool", 10).await.unwrap().len(), 1, "nor indexed twice");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_templates_stored_before_categories_are_filed_by_their_text_at_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let named = {
            let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
            store.write(&semtrace_store::conformance::rich_trace(1)).await.unwrap();
            let connection = rusqlite::Connection::open(dir.path().join("semtrace.db")).unwrap();
            let named: Vec<(i64, String)> = connection
                .prepare("SELECT id, category FROM templates WHERE category IS NOT NULL ORDER BY id")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!named.is_empty(), "the rich trace's failures name categories");
            // As the semtrace before migration 10 left them: no category column, schema version 9.
            connection
                .execute_batch(
                    "DROP TABLE entities_fts; DROP TABLE entity_values; DROP TABLE resource_entities; \
                     ALTER TABLE traces DROP COLUMN importance; ALTER TABLE templates DROP COLUMN category; \
                     DROP TABLE trace_keys; DROP TABLE store_state; DROP INDEX logs_trace; \
                     ALTER TABLE logs DROP COLUMN trace_no; \
                     CREATE INDEX logs_span ON logs (trace_id, span_id) WHERE trace_id IS NOT NULL; \
                     PRAGMA user_version = 9;",
                )
                .unwrap();
            named
        };
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let categories = store.template_categories(&named.iter().map(|(id, _)| *id).collect::<Vec<_>>()).await.unwrap();
        for (id, category) in &named {
            assert_eq!(categories.get(id), Some(category), "template {id} filed again at the upgrade");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_stored_under_trace_ids_are_numbered_at_upgrade_and_stay_idempotent() {
        use semtrace_model::{SpanId, TraceId};
        let dir = tempfile::tempdir().unwrap();
        let trace = semtrace_store::conformance::rich_trace(1);
        let first = &trace[0];
        {
            // As semtrace before migration 13 left it: spans unique by (trace_id, span_id),
            // attributes as JSON, traces keyed by trace id.
            let connection = rusqlite::Connection::open(dir.path().join("semtrace.db")).unwrap();
            schema::migrate_to(&connection, 12);
            connection
                .execute_batch(
                    "INSERT INTO resources (id, body) VALUES (1, '{\"attributes\":{\"service.name\":\"old\"}}');
                     INSERT INTO scopes (id, body) VALUES (1, '{\"name\":\"lib\"}');
                     INSERT INTO services (id, name) VALUES (1, 'old');
                     INSERT INTO operations (id, service_id, name, kind) VALUES (1, 1, 'GET /old', 2);",
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO spans (trace_id, span_id, service_id, operation_id, start_ns, end_ns, status_code,
                        status_message, trace_state, flags, attributes, dropped_attributes, dropped_events,
                        dropped_links, resource_id, scope_id)
                     VALUES (?1, ?2, 1, 1, 1000, 2000, 0, '', '', 0, '{\"http.route\":\"/old\",\"n\":7}', 0, 0, 0, 1, 1)",
                    rusqlite::params![first.trace_id.as_bytes().as_slice(), [9u8; 8].as_slice()],
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count) VALUES (?1, 1000, 2000, 1, 0)",
                    [first.trace_id.as_bytes().as_slice()],
                )
                .unwrap();
        }
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let old = store.get_trace(first.trace_id).await.unwrap().expect("the old span is found by its trace id");
        assert_eq!(old.spans.len(), 1);
        assert_eq!(old.spans[0].span_id, SpanId::from_bytes([9; 8]).unwrap());
        assert_eq!(old.spans[0].attributes.get_str("http.route"), Some("/old"), "JSON attributes still read");
        // New spans of the old trace join it; sent twice, they are stored once.
        for _ in 0..2 {
            store.write(&trace).await.unwrap();
        }
        let joined = store.get_trace(first.trace_id).await.unwrap().unwrap();
        assert_eq!(joined.spans.len(), 1 + trace.iter().filter(|span| span.trace_id == first.trace_id).count());
        let stats = store.stats().await.unwrap();
        let others = trace.iter().filter(|span| span.trace_id != first.trace_id).count() as u64;
        assert_eq!(stats.total_spans, joined.spans.len() as u64 + others);
        assert_eq!(
            store.get_trace(TraceId::from_bytes([1; 16]).unwrap()).await.unwrap().map(|trace| trace.spans.len()),
            None
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_named_by_their_ids_share_one_masked_operation_and_keep_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let mut trace = semtrace_store::conformance::rich_trace(1);
        let root = trace.iter().position(|span| span.parent_span_id.is_none()).unwrap();
        let service = trace[root].service_name().to_owned();
        let mut other = trace[root].clone();
        trace[root].name = "GET /orders/12345".into();
        other.name = "GET /orders/67890".into();
        other.trace_id = semtrace_model::TraceId::from_bytes([7; 16]).unwrap();
        store.write(&trace).await.unwrap();
        store.write(&[other.clone()]).await.unwrap();
        let names: Vec<String> =
            store.operations(&service).await.unwrap().into_iter().map(|operation| operation.name).collect();
        assert!(names.contains(&"GET /orders/<num>".to_owned()), "{names:?}");
        assert!(!names.iter().any(|name| name.contains("12345") || name.contains("67890")), "{names:?}");
        let stored = store.get_trace(trace[root].trace_id).await.unwrap().unwrap();
        assert!(stored.spans.iter().any(|span| span.name == "GET /orders/12345"), "the span keeps its own name");
        let find = |operation: &str| {
            let query = semtrace_store::TraceQuery {
                service: Some(service.clone()),
                operation: Some(operation.to_owned()),
                limit: 10,
                ..Default::default()
            };
            let store = &store;
            async move { store.find_traces(&query).await.unwrap() }
        };
        assert_eq!(find("GET /orders/<num>").await.len(), 2, "the operation finds both");
        assert_eq!(find("GET /orders/67890").await, vec![other.trace_id], "the own name finds its span");
    }
}
