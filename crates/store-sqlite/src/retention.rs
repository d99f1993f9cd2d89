//! Retention for the embedded store: traces that started more than `retention_days` ago, and
//! the oldest ones while the live data is past `max_bytes`, are dropped whole, with their spans,
//! log records and keys; then the templates no span uses any more, with their vectors; then the
//! free pages go back to the file system (`auto_vacuum = INCREMENTAL`, set when a store is
//! created; an older store reuses them for new data instead).
//!
//! A thread of its own runs it every `interval`. It takes the writer for one chunk of traces at
//! a time ([`CHUNK_TRACES`]) and lets it go between chunks, so ingest goes on meanwhile with at
//! most one chunk's wait. What the last run removed, and when the next is due, is in health.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use semtrace_store::{RetentionRun, RetentionStatus, StoreError};

use crate::writer::Writer;

/// Traces dropped per transaction: about 20K spans of typical traffic, ~70 ms of the writer.
const CHUNK_TRACES: usize = 2_000;
/// Log records without trace context dropped per transaction.
const CHUNK_LOGS: usize = 20_000;
/// Free pages given back per step (32 MiB of 4 KiB pages).
const GIVE_BACK_PAGES: u32 = 8_192;
/// The live data is brought back under this share of `max_bytes`, so a run is not due again at once.
const SIZE_TARGET: f64 = 0.9;
/// How often the files' size is compared with the cap between runs.
const CHECK: Duration = Duration::from_secs(5);
/// Time between chunks, for ingest.
const PAUSE: Duration = Duration::from_millis(2);
/// Tries at the final checkpoint that shows the file's new size, and the pause between them.
const CHECKPOINT_TRIES: u32 = 20;
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOptions {
    /// Traces that started longer ago than this are dropped; 0: kept whatever their age.
    pub days: u32,
    /// The live data is kept under this many bytes, the oldest traces dropped first; 0: no cap.
    pub max_bytes: u64,
    /// Time between runs (the first runs one `interval` after the store opens, at most a minute;
    /// past `max_bytes`, a run starts within seconds whatever the interval).
    pub interval: Duration,
}

impl RetentionOptions {
    pub fn enabled(&self) -> bool {
        self.days > 0 || self.max_bytes > 0
    }
}

/// The store's counters, kept true as retention drops spans and traces.
pub(crate) struct Counters {
    pub spans: Arc<AtomicU64>,
    pub traces: Arc<AtomicU64>,
}

/// Stops the retention thread when dropped.
pub(crate) struct Retention {
    pub status: Arc<Mutex<RetentionStatus>>,
    _stop: mpsc::Sender<()>,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

impl Retention {
    pub fn start(
        options: RetentionOptions,
        writer: Arc<Mutex<Writer>>,
        path: PathBuf,
        counters: Counters,
    ) -> std::io::Result<Retention> {
        let first = options.interval.min(Duration::from_secs(60));
        let status = Arc::new(Mutex::new(RetentionStatus {
            days: options.days,
            max_bytes: options.max_bytes,
            next_run_ns: Some(now_ns() + first.as_nanos() as u64),
            last_run: None,
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = status.clone();
        std::thread::Builder::new().name("semtrace-retention".into()).spawn(move || {
            // Runs every `interval`; past the size cap it does not wait that long: the files'
            // size is looked at every CHECK.
            let mut due = Instant::now() + first;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECK.min(options.interval)) {
                let over_cap = options.max_bytes > 0 && store_bytes(&path) > options.max_bytes;
                if Instant::now() < due && !over_cap {
                    continue;
                }
                match run(&options, &writer, &path, &counters) {
                    Ok(run) => {
                        if run.spans + run.logs + run.templates > 0 {
                            tracing::info!(
                                spans = run.spans,
                                traces = run.traces,
                                logs = run.logs,
                                templates = run.templates,
                                freed_bytes = run.bytes_before.saturating_sub(run.bytes_after),
                                writer_seconds = run.writer_seconds,
                                "retention dropped old data"
                            );
                        }
                        shared.lock().expect("retention status lock").last_run = Some(run);
                    }
                    Err(err) => tracing::warn!(error = %err, "retention failed; will try again"),
                }
                due = Instant::now() + options.interval;
                let next = now_ns() + options.interval.as_nanos() as u64;
                shared.lock().expect("retention status lock").next_run_ns = Some(next);
                metrics::gauge!("semtrace_retention_next_run_timestamp_seconds").set(next as f64 / 1e9);
            }
        })?;
        Ok(Retention { status, _stop: stop })
    }
}

fn file_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

/// The database file and its write-ahead log.
fn store_bytes(path: &std::path::Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    file_bytes(path) + file_bytes(std::path::Path::new(&wal))
}

/// Runs `work` with the writer, adding the time it held it to `held`.
fn with_writer<T>(
    writer: &Mutex<Writer>,
    held: &mut Duration,
    work: impl FnOnce(&mut Writer) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut writer = writer.lock().expect("writer lock");
    let started = Instant::now();
    let result = work(&mut writer);
    *held += started.elapsed();
    result
}

/// One retention run.
pub(crate) fn run(
    options: &RetentionOptions,
    writer: &Mutex<Writer>,
    path: &std::path::Path,
    counters: &Counters,
) -> Result<RetentionRun, StoreError> {
    let mut held = Duration::ZERO;
    let bytes_before = file_bytes(path);
    let now = now_ns() as i64;
    let by_age = (options.days > 0).then(|| now - i64::from(options.days) * 86_400 * 1_000_000_000);
    let by_size = match options.max_bytes {
        0 => None,
        max_bytes => with_writer(writer, &mut held, |writer| writer.cutoff_for_size(max_bytes, SIZE_TARGET))?,
    };
    let cutoff = by_age.into_iter().chain(by_size).max();
    let mut run =
        RetentionRun { cutoff_ns: cutoff.map(|ns| ns.max(0) as u64), bytes_before, ..RetentionRun::default() };
    if let Some(cutoff) = cutoff {
        loop {
            let dropped = with_writer(writer, &mut held, |writer| writer.drop_traces_before(cutoff, CHUNK_TRACES))?;
            run.traces += dropped.traces;
            run.spans += dropped.spans;
            run.logs += dropped.logs;
            counters.spans.fetch_sub(dropped.spans.min(counters.spans.load(Ordering::Relaxed)), Ordering::Relaxed);
            counters.traces.fetch_sub(dropped.traces.min(counters.traces.load(Ordering::Relaxed)), Ordering::Relaxed);
            metrics::counter!("semtrace_retention_spans_dropped_total").increment(dropped.spans);
            metrics::counter!("semtrace_retention_traces_dropped_total").increment(dropped.traces);
            if dropped.traces + dropped.spans + dropped.logs == 0 {
                break;
            }
            std::thread::sleep(PAUSE);
        }
        loop {
            let logs = with_writer(writer, &mut held, |writer| writer.drop_loose_logs_before(cutoff, CHUNK_LOGS))?;
            run.logs += logs;
            if logs == 0 {
                break;
            }
            std::thread::sleep(PAUSE);
        }
        if run.spans > 0 {
            let templates = with_writer(writer, &mut held, |writer| writer.drop_unused_templates())?;
            run.templates = templates.len() as u64;
            metrics::counter!("semtrace_retention_templates_dropped_total").increment(run.templates);
        }
    }
    // Free pages back to the file system, a slice at a time (also those an earlier run left).
    let mut free = i64::MAX;
    while free > 0 {
        let left = with_writer(writer, &mut held, |writer| writer.give_back(GIVE_BACK_PAGES))?;
        if left >= free {
            break; // not an incremental-vacuum database: the pages are reused instead
        }
        free = left;
        std::thread::sleep(PAUSE);
    }
    if run.spans + run.logs > 0 {
        // The checkpointer thread may be copying at this moment, and then this one copies
        // nothing: a few tries, the writer free between them, before leaving it to that thread.
        for _ in 0..CHECKPOINT_TRIES {
            if with_writer(writer, &mut held, |writer| writer.checkpoint())? {
                break;
            }
            std::thread::sleep(CHECKPOINT_PAUSE);
        }
    }
    run.bytes_after = file_bytes(path);
    run.writer_seconds = held.as_secs_f64();
    run.finished_ns = now_ns();
    metrics::counter!("semtrace_retention_runs_total").increment(1);
    metrics::counter!("semtrace_retention_bytes_freed_total")
        .increment(run.bytes_before.saturating_sub(run.bytes_after));
    metrics::histogram!("semtrace_retention_writer_seconds").record(run.writer_seconds);
    Ok(run)
}
