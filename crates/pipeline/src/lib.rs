//! The write pipeline: a bounded queue of export requests in front of the store, and the
//! batcher that commits many requests in one transaction (group commit).
//!
//! Life of an export request: a receiver decodes and validates it, then calls
//! [`Pipeline::submit`]. If the queue is full the call fails at once with
//! [`SubmitError::QueueFull`] and the receiver answers with a retryable code; nothing is
//! buffered beyond the queue. Otherwise the batcher takes the request together with every other
//! request already waiting (up to `batch_size` requests), writes them in one store transaction,
//! and only after the commit answers each request. So a span acknowledged is a span committed
//! — or, while the store is unavailable, a span `fsync`ed into the spool ([`spool`]), which the
//! replayer writes to the store, in order, once it answers again.

mod batcher;
mod breaker;
pub mod join;
mod pace;
pub mod redact;
mod replay;
pub mod sampling;
pub mod spool;

use std::sync::Arc;
use std::time::Duration;

use semtrace_model::{LogRecord, Span};
use semtrace_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use breaker::Breaker;
pub use breaker::BreakerState;
pub use sampling::{SamplingConfig, SamplingStatus};
use spool::Spool;
pub use spool::{SpoolConfig, SpoolError};

/// How the pipeline queues and batches writes.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Export requests that may wait for the writer; more are refused with a retryable error.
    pub queue_size: usize,
    /// The most export requests one transaction takes.
    pub batch_size: usize,
    /// Batches written at once; above 1, the next batch is encoded while the previous commits.
    pub concurrency: usize,
    /// Retries of a batch whose write failed with a retryable error, with exponential backoff.
    pub max_retries: u32,
    /// Consecutive failed batches that open the circuit breaker.
    pub breaker_threshold: u32,
    /// Where batches wait while the store is unavailable; without one, clients are told to retry.
    pub spool: Option<SpoolConfig>,
    /// Request bytes (decompressed) being decoded, queued or written at once; past it, requests
    /// are refused with a retryable error before their bodies are read. Bounds memory.
    pub max_inflight_bytes: usize,
    /// PII redaction applied to every accepted batch before it is queued; `None`: off.
    pub redactor: Option<Arc<redact::Redactor>>,
    /// Tail sampling ([`sampling`]); `None`: every span is stored.
    pub sampling: Option<SamplingConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_size: 1024,
            batch_size: 100,
            concurrency: 2,
            max_retries: 3,
            breaker_threshold: 5,
            spool: None,
            max_inflight_bytes: 128 << 20,
            redactor: None,
            sampling: None,
        }
    }
}

/// The spool's size, for health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolStatus {
    pub records: usize,
    pub bytes: u64,
    pub max_bytes: u64,
}

/// Why a submission was not stored. Retryable ones say how long to wait, from the pipeline's
/// state: how fast the writer drains the queue, or when the circuit breaker tries the store again.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the client should retry after a short wait.
    #[error("the write queue is full ({capacity} requests waiting); retry later")]
    QueueFull { capacity: usize, retry_after: Duration },
    /// Requests in flight already hold the memory budget (`max_inflight_bytes`).
    #[error("semtrace is at its memory budget for requests in flight ({budget} bytes); retry later")]
    Overloaded { budget: usize, retry_after: Duration },
    /// One request needs more than the whole budget; it can never be taken.
    #[error(
        "the request needs {needed} bytes in memory, more than max_inflight_bytes ({budget}); send smaller batches"
    )]
    TooLarge { needed: usize, budget: usize },
    /// The pipeline is shutting down.
    #[error("semtrace is shutting down; retry against another instance or later")]
    ShuttingDown,
    /// The store refused or failed the write.
    #[error("{error}")]
    Store {
        #[source]
        error: StoreError,
        retry_after: Duration,
    },
}

/// What a client is told to wait while semtrace shuts down (a restart takes a few seconds).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

impl SubmitError {
    /// Whether the client may send the same data again and expect success.
    pub fn is_retryable(&self) -> bool {
        match self {
            SubmitError::QueueFull { .. } | SubmitError::Overloaded { .. } | SubmitError::ShuttingDown => true,
            SubmitError::TooLarge { .. } => false,
            SubmitError::Store { error, .. } => error.is_retryable(),
        }
    }

    /// A suggested wait before retrying (1 s to 30 s; zero for errors not worth retrying).
    pub fn retry_after(&self) -> Duration {
        match self {
            SubmitError::QueueFull { retry_after, .. }
            | SubmitError::Overloaded { retry_after, .. }
            | SubmitError::Store { retry_after, .. } => *retry_after,
            SubmitError::ShuttingDown => SHUTDOWN_WAIT,
            SubmitError::TooLarge { .. } => Duration::ZERO,
        }
    }
}

/// What one export request brings, or one transaction writes: spans and log records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
}

impl Batch {
    pub fn of_spans(spans: Vec<Span>) -> Self {
        Batch { spans, logs: Vec::new() }
    }

    /// Spans and log records.
    pub fn len(&self) -> usize {
        self.spans.len() + self.logs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty()
    }

    fn append(&mut self, other: &mut Batch) {
        self.spans.append(&mut other.spans);
        self.logs.append(&mut other.logs);
    }

    /// Splits off the first `spans` spans and `logs` records.
    fn take_front(&mut self, spans: usize, logs: usize) -> Batch {
        let rest = Batch { spans: self.spans.split_off(spans), logs: self.logs.split_off(logs) };
        std::mem::replace(self, rest)
    }
}

pub(crate) struct WriteRequest {
    batch: Batch,
    /// How many spans and log records the request brought (its batch is moved into the
    /// transaction's).
    n_spans: usize,
    n_logs: usize,
    /// Taken when the request is answered.
    ack: Option<oneshot::Sender<Result<(), Arc<StoreError>>>>,
    /// The request's memory, held until the batch holding it is answered, even if the client
    /// has gone away meanwhile.
    _reservation: Option<Reservation>,
}

/// The sending side, cloned into every receiver.
#[derive(Clone)]
pub struct Pipeline {
    sender: mpsc::Sender<WriteRequest>,
    breaker: Arc<Breaker>,
    spool: Option<Arc<Spool>>,
    inflight: Arc<Semaphore>,
    inflight_budget: usize,
    pace: Arc<pace::Pace>,
    redactor: Option<Arc<redact::Redactor>>,
    sampler: Option<Arc<sampling::Sampler>>,
}

/// Whether the write pipeline is saturated: see [`Pipeline::saturation`].
#[derive(Clone)]
pub struct Saturation(Arc<pace::Pace>);

impl Saturation {
    /// Whether export requests waited for the writer (one was already queued as a writer slot
    /// freed, or one was refused for a full queue) within the last `window`.
    pub fn within(&self, window: std::time::Duration) -> bool {
        self.0.saturated_within(window)
    }
}

/// Memory a request holds from before its body is read until it is answered; see
/// [`Pipeline::reserve`].
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    inflight: Arc<Semaphore>,
    budget: usize,
    bytes: usize,
    pace: Arc<pace::Pace>,
}

impl Reservation {
    /// Grows the reservation to `bytes` (e.g. once a gzip body is inflated), or refuses.
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), SubmitError> {
        if bytes <= self.bytes {
            return Ok(());
        }
        if kib(bytes) > kib(self.budget) {
            return Err(SubmitError::TooLarge { needed: bytes, budget: self.budget });
        }
        // Whole KiB permits: take what the new size needs beyond what is held.
        let more = (kib(bytes) - kib(self.bytes)) as usize * 1024;
        let more = try_reserve(&self.inflight, self.budget, more, &self.pace)?;
        self.permit.merge(more);
        self.bytes = bytes;
        Ok(())
    }
}

/// Permits count KiB, so a `u32` of them covers any budget.
fn kib(bytes: usize) -> u32 {
    bytes.div_ceil(1024).min(u32::MAX as usize) as u32
}

fn try_reserve(
    inflight: &Arc<Semaphore>,
    budget: usize,
    bytes: usize,
    pace: &pace::Pace,
) -> Result<OwnedSemaphorePermit, SubmitError> {
    if kib(bytes) > kib(budget) {
        return Err(SubmitError::TooLarge { needed: bytes, budget });
    }
    inflight.clone().try_acquire_many_owned(kib(bytes)).map_err(|_| {
        metrics::counter!("semtrace_pipeline_requests_refused_total", "reason" => "memory_budget").increment(1);
        // Memory is released as the batches holding it commit.
        SubmitError::Overloaded { budget, retry_after: pace.wait() }
    })
}

/// Owns the batcher and replayer tasks; [`PipelineTask::shutdown`] waits until every queued
/// request is written (to the store, or to the spool) and replays what it can.
pub struct PipelineTask {
    batcher: JoinHandle<()>,
    replayer: Option<(JoinHandle<()>, tokio::sync::watch::Sender<bool>)>,
    decider: Option<(JoinHandle<()>, tokio::sync::watch::Sender<bool>)>,
}

/// What the batcher and the replayer share.
pub(crate) struct Shared {
    store: Arc<dyn Store>,
    breaker: Arc<Breaker>,
    spool: Option<Arc<Spool>>,
    max_retries: u32,
    /// Store writes at once (the batcher's workers; the replayer's chunks).
    concurrency: usize,
    pace: Arc<pace::Pace>,
    queue_capacity: usize,
    /// Tail sampling, when on (or draining what an earlier run held).
    sampler: Option<Arc<sampling::Sampler>>,
}

impl Pipeline {
    /// Opens the spool (if configured; records left by an earlier run are replayed) and starts
    /// the batcher and the replayer on the current runtime.
    pub fn start(store: Arc<dyn Store>, config: PipelineConfig) -> Result<(Pipeline, PipelineTask), SpoolError> {
        debug_assert!(config.queue_size > 0 && config.batch_size > 0 && config.concurrency > 0);
        let spool = config.spool.as_ref().map(Spool::open).transpose()?.map(Arc::new);
        let sampler = match &config.sampling {
            Some(sampling) => sampling::Sampler::open(sampling)?.map(Arc::new),
            None => None,
        };
        let (sender, receiver) = mpsc::channel(config.queue_size);
        let breaker = Arc::new(Breaker::new(config.breaker_threshold));
        let pace = Arc::new(pace::Pace::new(config.batch_size, config.concurrency));
        let shared = Arc::new(Shared {
            pace: pace.clone(),
            store,
            breaker: breaker.clone(),
            spool: spool.clone(),
            max_retries: config.max_retries,
            concurrency: config.concurrency,
            queue_capacity: config.queue_size,
            sampler: sampler.clone(),
        });
        let replayer = spool.clone().map(|spool| {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            (tokio::spawn(replay::run(shared.clone(), spool, stopped)), stop)
        });
        let inflight_budget = config.max_inflight_bytes.max(1024);
        let inflight = Arc::new(Semaphore::new(kib(inflight_budget) as usize));
        let redactor = config.redactor.clone();
        let decider = sampler.clone().map(|sampler| {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            (tokio::spawn(sampling::run(shared.clone(), sampler, stopped)), stop)
        });
        let batcher = tokio::spawn(batcher::run(shared, config, receiver));
        let pipeline = Pipeline { sender, breaker, spool, inflight, inflight_budget, pace, redactor, sampler };
        Ok((pipeline, PipelineTask { batcher, replayer, decider }))
    }

    /// Reserves memory for a request of `bytes` before it is read or decoded: refused at once,
    /// retryably, when the queue is full or requests in flight hold the budget (and for good
    /// when it exceeds the budget).
    /// Keep the reservation until the request is answered.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, SubmitError> {
        // A full queue would refuse the request after decoding it: refuse before, for free.
        if self.sender.capacity() == 0 {
            metrics::counter!("semtrace_pipeline_requests_refused_total", "reason" => "queue_full").increment(1);
            return Err(self.queue_full());
        }
        let permit = try_reserve(&self.inflight, self.inflight_budget, bytes, &self.pace)?;
        let (inflight, pace) = (self.inflight.clone(), self.pace.clone());
        Ok(Reservation { permit, inflight, budget: self.inflight_budget, bytes, pace })
    }

    /// Bytes held by requests in flight (rounded to KiB).
    pub fn inflight_bytes(&self) -> usize {
        (kib(self.inflight_budget) as usize - self.inflight.available_permits()) * 1024
    }

    pub fn inflight_budget(&self) -> usize {
        self.inflight_budget
    }

    /// Queues spans and waits until they are committed (or found already stored).
    pub async fn submit(&self, spans: Vec<Span>) -> Result<(), SubmitError> {
        self.submit_reserved(spans, None).await
    }

    /// [`Pipeline::submit`] for a request admitted by [`Pipeline::reserve`]: the reservation
    /// travels with the spans and is released once they are written (or refused).
    pub async fn submit_reserved(&self, spans: Vec<Span>, reservation: Option<Reservation>) -> Result<(), SubmitError> {
        self.submit_batch(Batch::of_spans(spans), reservation).await
    }

    /// Queues log records and waits until they are committed, as spans are.
    pub async fn submit_logs_reserved(
        &self,
        logs: Vec<LogRecord>,
        reservation: Option<Reservation>,
    ) -> Result<(), SubmitError> {
        self.submit_batch(Batch { spans: Vec::new(), logs }, reservation).await
    }

    async fn submit_batch(&self, mut batch: Batch, reservation: Option<Reservation>) -> Result<(), SubmitError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(redactor) = &self.redactor {
            // Before the queue: the spool and the store only ever see redacted text. Regex work
            // over every string, so the runtime is told this worker blocks.
            let mut redact = || redactor.batch(&mut batch.spans, &mut batch.logs);
            match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(redact),
                _ => redact(),
            }
        }
        let (n_spans, n_logs) = (batch.spans.len(), batch.logs.len());
        let permit = self.sender.try_reserve().map_err(|err| match err {
            mpsc::error::TrySendError::Full(()) => {
                batcher::refused(n_spans, n_logs, "queue_full");
                self.queue_full()
            }
            mpsc::error::TrySendError::Closed(()) => SubmitError::ShuttingDown,
        })?;
        let (ack, acked) = oneshot::channel();
        permit.send(WriteRequest { n_spans, n_logs, batch, ack: Some(ack), _reservation: reservation });
        match acked.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                // Unavailable: try again when the breaker next lets a write through.
                Err(SubmitError::Store { error: clone_store_error(&err), retry_after: self.breaker.retry_after() })
            }
            Err(_) => Err(SubmitError::ShuttingDown),
        }
    }

    fn queue_full(&self) -> SubmitError {
        self.pace.set_queued(self.queue_depth());
        self.pace.writer_saturated();
        SubmitError::QueueFull { capacity: self.sender.max_capacity(), retry_after: self.pace.wait() }
    }

    /// A handle that tells whether the writer is the bottleneck, without keeping the queue
    /// open (the batcher stops once every [`Pipeline`] is dropped).
    pub fn saturation(&self) -> Saturation {
        Saturation(self.pace.clone())
    }

    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    pub fn queue_capacity(&self) -> usize {
        self.sender.max_capacity()
    }

    /// The circuit breaker in front of the store.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// The store's last write error while writes are failing (`None` once one succeeds).
    pub fn last_store_error(&self) -> Option<String> {
        self.breaker.last_error()
    }

    /// Tail sampling's state; `None` while it is off.
    pub fn sampling_status(&self) -> Option<SamplingStatus> {
        self.sampler.as_ref().map(|sampler| sampler.status())
    }

    /// The spool's size; `None` when there is no spool.
    pub fn spool_status(&self) -> Option<SpoolStatus> {
        self.spool.as_ref().map(|spool| SpoolStatus {
            records: spool.records(),
            bytes: spool.bytes(),
            max_bytes: spool.max_bytes(),
        })
    }
}

impl PipelineTask {
    /// Waits for the batcher to write everything queued, then lets the replayer empty the spool
    /// while the store accepts writes (what is left stays spooled for the next start). Call after
    /// every [`Pipeline`] clone is dropped.
    pub async fn shutdown(self) {
        if let Err(err) = self.batcher.await {
            tracing::error!(%err, "the batcher task failed");
        }
        // Undecided traces stay in the hold log: the next start decides them.
        if let Some((decider, stop)) = self.decider {
            let _ = stop.send(true);
            if let Err(err) = decider.await {
                tracing::error!(%err, "the sampling decider task failed");
            }
        }
        if let Some((replayer, stop)) = self.replayer {
            let _ = stop.send(true);
            if let Err(err) = replayer.await {
                tracing::error!(%err, "the spool replayer task failed");
            }
        }
    }
}

fn clone_store_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Internal(message) => StoreError::Internal(message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_in_flight_hold_the_memory_budget_until_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path());
        let config = PipelineConfig { max_inflight_bytes: 10 << 10, ..PipelineConfig::default() };
        let (pipeline, task) = Pipeline::start(store, config).unwrap();
        let first = pipeline.reserve(6 << 10).unwrap();
        assert_eq!(pipeline.inflight_bytes(), 6 << 10);
        let err = pipeline.reserve(6 << 10).err().expect("over the budget");
        assert!(matches!(err, SubmitError::Overloaded { .. }) && err.is_retryable(), "{err}");
        let mut second = pipeline.reserve(3 << 10).unwrap();
        assert!(second.grow_to(5 << 10).is_err(), "growing past the budget is refused");
        drop(first);
        second.grow_to(9 << 10).unwrap();
        assert_eq!(pipeline.inflight_bytes(), 9 << 10);
        let err = pipeline.reserve(11 << 10).err().expect("never fits");
        assert!(matches!(err, SubmitError::TooLarge { .. }) && !err.is_retryable(), "{err}");
        drop(second);
        assert_eq!(pipeline.inflight_bytes(), 0);
        drop(pipeline);
        task.shutdown().await;
    }

    fn sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
        Arc::new(semtrace_store_sqlite::SqliteStore::open(semtrace_store_sqlite::SqliteOptions::new(dir)).unwrap())
    }
}
