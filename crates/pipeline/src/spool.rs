//! The durable spool: acknowledged batches wait here while the store is unavailable.
//!
//! When a batch cannot be written (the store keeps failing after the retries, or the circuit
//! breaker is open), the batcher appends it to the spool, which `fsync`s before the clients are
//! acknowledged. The replayer writes spooled batches to the store, oldest first, and removes a
//! record only after the store committed it; a crash in between replays the record again, which
//! the store's idempotent writes absorb. While anything is spooled, new batches queue behind it
//! in the spool, so the store receives batches in the order they were acknowledged.
//!
//! The log is a [`queue_file::QueueFile`] (1.4): a single-file FIFO, a port of Square's Tape2
//! `QueueFile`, used for years to persist queued uploads on phones. Append and remove are atomic:
//! data is written and synced first, the small header last. It fits this job exactly (append at
//! the tail, read and drop at the head, nothing in between); the alternatives were a database
//! (what is down) or hand-written segment files. (Its 2.0 rewrite, with per-record CRCs, failed
//! to remove records from a wrapped-around file in our tests, so it is not used.)
//!
//! A record is one batch: JSON with the batch's resources and scopes once and every span and log
//! record pointing at them (the same sharing OTLP has); records written before logs existed
//! read back with no log records. JSON because attribute values already have a
//! lossless JSON form (`semtrace_model::attributes`); the spool is the slow path, not the hot one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use queue_file::QueueFile;

use crate::Batch;
use semtrace_model::{LogRecord, Resource, Scope, Span};
use semtrace_store::encoding::{Json, LogRecordIn, ResourceIn, ScopeIn, SpanIn};
use serde::{Deserialize, Serialize};

const FILE_NAME: &str = "spool.qf";
/// The file's header in queue-file's versioned format, not counted as spooled bytes.
const HEADER_BYTES: u64 = 32;
/// The record format; a future change bumps it and keeps reading the old one.
const RECORD_VERSION: u32 = 1;

/// Where the spool lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Bytes of spooled records past which batches are refused (clients get retryable codes).
    pub max_bytes: u64,
}

/// Why the spool could not take or give a batch.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({used} of {max} bytes) until the store catches up; retry later")]
    Full { used: u64, max: u64 },
    #[error("cannot open the spool {path}: {source}; remove the file only if losing its spans is acceptable")]
    Open { path: PathBuf, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: queue_file::Error },
}

/// The on-disk FIFO of batches and a lock-free view of its size.
pub(crate) struct Spool {
    file: Mutex<QueueFile>,
    path: PathBuf,
    max_bytes: u64,
    used_bytes: AtomicU64,
    records: AtomicUsize,
    /// The sequence number of the next record appended: records read at open are 0, 1, …
    next_seq: AtomicU64,
    /// The gauges of its bytes and records.
    gauges: (&'static str, &'static str),
    /// Woken when a record is appended, so the replayer need not poll.
    pub(crate) appended: tokio::sync::Notify,
}

/// A record read back: its spans and log records, or why they could not be decoded.
pub type SpooledBatch = Result<Batch, String>;

impl Spool {
    /// Opens (or creates) the spool in `config.dir`; records left by an earlier run stay queued.
    pub fn open(config: &SpoolConfig) -> Result<Spool, SpoolError> {
        let spool = Spool::open_file(config, FILE_NAME, ("semtrace_spool_bytes", "semtrace_spool_records"))?;
        if !spool.is_empty() {
            tracing::info!(records = spool.records(), bytes = spool.bytes(), path = %spool.path.display(),
                "spooled batches from an earlier run will be replayed into the store");
        }
        Ok(spool)
    }

    /// A queue of batches in `config.dir/file_name` whose size is reported by `gauges` (bytes,
    /// records): the spool, or tail sampling's hold log.
    pub(crate) fn open_file(
        config: &SpoolConfig,
        file_name: &str,
        gauges: (&'static str, &'static str),
    ) -> Result<Spool, SpoolError> {
        let path = config.dir.join(file_name);
        let open_error =
            |source: Box<dyn std::error::Error + Send + Sync>| SpoolError::Open { path: path.clone(), source };
        std::fs::create_dir_all(&config.dir).map_err(|err| open_error(Box::new(err)))?;
        let mut file = QueueFile::open(&path).map_err(|err| open_error(Box::new(err)))?;
        file.set_sync_writes(true);
        // Removed records need not be zeroed: the header already says they are gone.
        file.set_overwrite_on_remove(false);
        let spool = Spool {
            used_bytes: AtomicU64::new(0),
            records: AtomicUsize::new(0),
            next_seq: AtomicU64::new(0),
            gauges,
            file: Mutex::new(file),
            path,
            max_bytes: config.max_bytes,
            appended: tokio::sync::Notify::new(),
        };
        spool.refresh(&spool.file.lock().expect("spool lock"));
        spool.next_seq.store(spool.records() as u64, Ordering::Release);
        Ok(spool)
    }

    pub fn is_empty(&self) -> bool {
        self.records() == 0
    }

    /// Batches waiting.
    pub fn records(&self) -> usize {
        self.records.load(Ordering::Acquire)
    }

    /// Bytes the waiting batches occupy.
    pub fn bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Acquire)
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch and `fsync`s it; returns the record's sequence number (the records
    /// found at open are numbered from 0, and removing records renumbers nothing). Blocking:
    /// file IO and encoding.
    pub fn append(&self, batch: &Batch) -> Result<u64, SpoolError> {
        let record = encode(batch);
        let mut file = self.file.lock().expect("spool lock");
        let used = file.used_bytes().saturating_sub(HEADER_BYTES);
        if used.saturating_add(record.len() as u64) > self.max_bytes {
            return Err(SpoolError::Full { used, max: self.max_bytes });
        }
        let result = file.add(&record).map_err(|source| self.io_error(source));
        self.refresh(&file);
        let seq = self.next_seq.fetch_add(u64::from(result.is_ok()), Ordering::AcqRel);
        drop(file);
        result?;
        self.appended.notify_one();
        Ok(seq)
    }

    /// Reads the oldest records after the first `skip`, as many as hold about `max_items` spans
    /// and log records (at least one record). Blocking.
    pub fn peek(&self, skip: usize, max_items: usize) -> Result<Vec<SpooledBatch>, SpoolError> {
        let mut file = self.file.lock().expect("spool lock");
        let mut batches = Vec::new();
        let mut items = 0;
        for record in file.iter().skip(skip) {
            let batch = decode(&record);
            items += batch.as_ref().map_or(1, Batch::len);
            batches.push(batch);
            if items >= max_items {
                break;
            }
        }
        if batches.is_empty() && skip == 0 && !file.is_empty() {
            // The iterator stops silently at a record it cannot read; `peek` says why.
            let reason = match file.peek() {
                Err(err) => err.to_string(),
                Ok(_) => "unreadable record".to_string(),
            };
            batches.push(Err(reason));
        }
        Ok(batches)
    }

    /// Drops the `n` oldest records (after the store committed them). Blocking.
    pub fn remove(&self, n: usize) -> Result<(), SpoolError> {
        let mut file = self.file.lock().expect("spool lock");
        let result = file.remove_n(n).map_err(|source| self.io_error(source));
        self.refresh(&file);
        result
    }

    /// Moves the oldest record out of the queue because it cannot be replayed (undecodable, or
    /// refused by the store for good). Its bytes, when readable, are kept in `rejected/` beside
    /// the spool for the operator; returns that file. Blocking.
    pub fn set_aside(&self) -> Result<Option<PathBuf>, SpoolError> {
        let mut file = self.file.lock().expect("spool lock");
        let kept = match file.peek() {
            Ok(Some(record)) => {
                let dir = self.path.with_file_name("rejected");
                let millis = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_millis());
                let write = || -> std::io::Result<PathBuf> {
                    use std::io::Write;
                    std::fs::create_dir_all(&dir)?;
                    // A new name each time: never overwrite a record set aside earlier.
                    for n in 0.. {
                        let path = dir.join(format!("{millis}-{n}.json"));
                        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                            Ok(mut file) => {
                                file.write_all(&record)?;
                                file.sync_all()?;
                                return Ok(path);
                            }
                            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                            Err(err) => return Err(err),
                        }
                    }
                    unreachable!("some name is free")
                };
                Some(write().map_err(|err| self.io_error(err.into()))?)
            }
            _ => None,
        };
        let result = file.remove_n(1).map_err(|source| self.io_error(source));
        self.refresh(&file);
        result.map(|()| kept)
    }

    fn refresh(&self, file: &QueueFile) {
        let (records, used) = (file.size(), file.used_bytes().saturating_sub(HEADER_BYTES));
        self.records.store(records, Ordering::Release);
        self.used_bytes.store(used, Ordering::Release);
        metrics::gauge!(self.gauges.0).set(used as f64);
        metrics::gauge!(self.gauges.1).set(records as f64);
    }

    fn io_error(&self, source: queue_file::Error) -> SpoolError {
        SpoolError::Io { path: self.path.clone(), source }
    }
}

#[derive(Serialize)]
struct RecordOut<'a> {
    version: u32,
    resources: Vec<Json<'a, Resource>>,
    scopes: Vec<Json<'a, Scope>>,
    spans: Vec<EntryOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logs: Vec<LogEntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    resource: u32,
    scope: u32,
    span: Json<'a, Span>,
}

#[derive(Serialize)]
struct LogEntryOut<'a> {
    resource: u32,
    scope: u32,
    log: Json<'a, LogRecord>,
}

#[derive(Deserialize)]
struct RecordIn {
    version: u32,
    resources: Vec<ResourceIn>,
    scopes: Vec<ScopeIn>,
    spans: Vec<EntryIn>,
    #[serde(default)]
    logs: Vec<LogEntryIn>,
}

#[derive(Deserialize)]
struct EntryIn {
    resource: u32,
    scope: u32,
    span: SpanIn,
}

#[derive(Deserialize)]
struct LogEntryIn {
    resource: u32,
    scope: u32,
    log: LogRecordIn,
}

/// One batch as a record; resources and scopes shared by spans and records are written once.
pub fn encode(batch: &Batch) -> Vec<u8> {
    fn index_of<'a, T>(item: &'a Arc<T>, seen: &mut HashMap<*const T, u32>, items: &mut Vec<Json<'a, T>>) -> u32 {
        *seen.entry(Arc::as_ptr(item)).or_insert_with(|| {
            items.push(Json(item));
            items.len() as u32 - 1
        })
    }
    let (mut resource_ids, mut scope_ids) = (HashMap::new(), HashMap::new());
    let mut record = RecordOut {
        version: RECORD_VERSION,
        resources: Vec::new(),
        scopes: Vec::new(),
        spans: Vec::new(),
        logs: Vec::new(),
    };
    for span in &batch.spans {
        let resource = index_of(&span.resource, &mut resource_ids, &mut record.resources);
        let scope = index_of(&span.scope, &mut scope_ids, &mut record.scopes);
        record.spans.push(EntryOut { resource, scope, span: Json(span) });
    }
    for log in &batch.logs {
        let resource = index_of(&log.resource, &mut resource_ids, &mut record.resources);
        let scope = index_of(&log.scope, &mut scope_ids, &mut record.scopes);
        record.logs.push(LogEntryOut { resource, scope, log: Json(log) });
    }
    serde_json::to_vec(&record).expect("spans and log records always serialise")
}

/// A record back into spans and log records, sharing resources and scopes again.
pub fn decode(record: &[u8]) -> SpooledBatch {
    let record: RecordIn = serde_json::from_slice(record).map_err(|err| format!("undecodable record: {err}"))?;
    if record.version != RECORD_VERSION {
        return Err(format!("record version {} is not {RECORD_VERSION}", record.version));
    }
    let resources: Vec<Arc<Resource>> = record.resources.into_iter().map(|r| Arc::new(r.into_model())).collect();
    let scopes: Vec<Arc<Scope>> = record.scopes.into_iter().map(|s| Arc::new(s.into_model())).collect();
    let shared = |resource: u32, scope: u32| -> Result<(Arc<Resource>, Arc<Scope>), String> {
        Ok((
            resources.get(resource as usize).ok_or("resource index out of range")?.clone(),
            scopes.get(scope as usize).ok_or("scope index out of range")?.clone(),
        ))
    };
    let spans = record
        .spans
        .into_iter()
        .map(|entry| {
            let (resource, scope) = shared(entry.resource, entry.scope)?;
            Ok(entry.span.into_model(resource, scope))
        })
        .collect::<Result<_, String>>()?;
    let logs = record
        .logs
        .into_iter()
        .map(|entry| {
            let (resource, scope) = shared(entry.resource, entry.scope)?;
            Ok(entry.log.into_model(resource, scope))
        })
        .collect::<Result<_, String>>()?;
    Ok(Batch { spans, logs })
}

#[cfg(test)]
mod tests {
    use semtrace_store::conformance::rich_trace;

    use super::*;

    #[test]
    fn a_record_gives_back_the_same_spans_sharing_resources() {
        let mut spans = rich_trace(1);
        spans.extend(rich_trace(2));
        let logs = semtrace_store::conformance::logs_about(&spans[..2]);
        let batch = Batch { spans, logs };
        let decoded = decode(&encode(&batch)).unwrap();
        assert_eq!(decoded, batch);
        let (spans, decoded) = (&batch.spans, &decoded.spans);
        assert!(
            Arc::ptr_eq(&decoded[0].resource, &decoded[1].resource)
                == Arc::ptr_eq(&spans[0].resource, &spans[1].resource)
        );
        assert!(decode(b"{\"version\":1").is_err());
        let before_logs = br#"{"version":1,"resources":[],"scopes":[],"spans":[]}"#;
        assert_eq!(decode(before_logs).unwrap(), Batch::default(), "records from before logs still read");
    }

    #[test]
    fn records_survive_reopening_and_leave_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = SpoolConfig { dir: dir.path().join("spool"), max_bytes: 1 << 20 };
        let spool = Spool::open(&config).unwrap();
        assert_eq!((spool.records(), spool.bytes()), (0, 0));
        for n in 0..3 {
            spool.append(&Batch::of_spans(rich_trace(n))).unwrap();
        }
        assert_eq!(spool.records(), 3);
        drop(spool);
        let spool = Spool::open(&config).unwrap();
        assert_eq!(spool.records(), 3);
        let batches = spool.peek(0, 4).unwrap();
        assert_eq!(batches.len(), 2, "two records of 3 spans reach the 4-span budget");
        assert_eq!(batches[0].as_ref().unwrap().spans, rich_trace(0));
        assert_eq!(batches[1].as_ref().unwrap().spans, rich_trace(1));
        let skipped = spool.peek(2, 100).unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].as_ref().unwrap().spans, rich_trace(2));
        assert!(spool.peek(3, 100).unwrap().is_empty(), "nothing past the last record");
        spool.remove(2).unwrap();
        assert_eq!(spool.peek(0, 100).unwrap()[0].as_ref().unwrap().spans, rich_trace(2));
        spool.remove(1).unwrap();
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
    }

    #[test]
    fn a_full_spool_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let record_len = encode(&Batch::of_spans(rich_trace(0))).len() as u64;
        let spool =
            Spool::open(&SpoolConfig { dir: dir.path().to_path_buf(), max_bytes: record_len * 2 + 200 }).unwrap();
        spool.append(&Batch::of_spans(rich_trace(0))).unwrap();
        let mut refused = false;
        for n in 1..4 {
            if let Err(err) = spool.append(&Batch::of_spans(rich_trace(n))) {
                assert!(matches!(err, SpoolError::Full { .. }), "{err}");
                refused = true;
                break;
            }
        }
        assert!(refused, "the spool never filled");
        assert!(spool.bytes() <= record_len * 2 + 200);
    }
}
