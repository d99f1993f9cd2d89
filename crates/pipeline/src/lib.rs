//! The write pipeline: a bounded queue of export requests in front of the store, and the
//! batcher that commits many requests in one transaction (group commit).
//!
//! Life of an export request: a receiver decodes and validates it, then calls
//! [`Pipeline::submit`]. If the queue is full the call fails at once with
//! [`SubmitError::QueueFull`] and the receiver answers with a retryable code; nothing is
//! buffered beyond the queue. Otherwise the batcher takes the request together with every other
//! request already waiting (up to `batch_size` requests), writes them in one store transaction,
//! and only after the commit answers each request. So a span acknowledged is a span committed.

mod batcher;
mod breaker;

use std::sync::Arc;
use std::time::Duration;

use semtrace_model::Span;
use semtrace_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use breaker::Breaker;
pub use breaker::BreakerState;

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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { queue_size: 1024, batch_size: 100, concurrency: 2, max_retries: 3, breaker_threshold: 5 }
    }
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the client should retry after a short wait.
    #[error("the write queue is full ({capacity} requests waiting); retry later")]
    QueueFull { capacity: usize },
    /// The pipeline is shutting down.
    #[error("semtrace is shutting down; retry against another instance or later")]
    ShuttingDown,
    /// The store refused or failed the write.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubmitError {
    /// Whether the client may send the same data again and expect success.
    pub fn is_retryable(&self) -> bool {
        match self {
            SubmitError::QueueFull { .. } | SubmitError::ShuttingDown => true,
            SubmitError::Store(err) => err.is_retryable(),
        }
    }

    /// A suggested wait before retrying.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(1)
    }
}

pub(crate) struct WriteRequest {
    spans: Vec<Span>,
    ack: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

/// The sending side, cloned into every receiver.
#[derive(Clone)]
pub struct Pipeline {
    sender: mpsc::Sender<WriteRequest>,
    breaker: Arc<Breaker>,
}

/// Owns the batcher task; [`PipelineTask::shutdown`] waits until every queued request is written.
pub struct PipelineTask {
    join: JoinHandle<()>,
}

impl Pipeline {
    /// Starts the batcher on the current runtime.
    pub fn start(store: Arc<dyn Store>, config: PipelineConfig) -> (Pipeline, PipelineTask) {
        debug_assert!(config.queue_size > 0 && config.batch_size > 0 && config.concurrency > 0);
        let (sender, receiver) = mpsc::channel(config.queue_size);
        let breaker = Arc::new(Breaker::new(config.breaker_threshold));
        let join = tokio::spawn(batcher::run(store, config, breaker.clone(), receiver));
        (Pipeline { sender, breaker }, PipelineTask { join })
    }

    /// Queues spans and waits until they are committed (or found already stored).
    pub async fn submit(&self, spans: Vec<Span>) -> Result<(), SubmitError> {
        if spans.is_empty() {
            return Ok(());
        }
        let n_spans = spans.len() as u64;
        let permit = self.sender.try_reserve().map_err(|err| match err {
            mpsc::error::TrySendError::Full(()) => {
                metrics::counter!("semtrace_pipeline_spans_refused_total", "reason" => "queue_full").increment(n_spans);
                SubmitError::QueueFull { capacity: self.sender.max_capacity() }
            }
            mpsc::error::TrySendError::Closed(()) => SubmitError::ShuttingDown,
        })?;
        let (ack, acked) = oneshot::channel();
        permit.send(WriteRequest { spans, ack });
        match acked.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(SubmitError::Store(clone_store_error(&err))),
            Err(_) => Err(SubmitError::ShuttingDown),
        }
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
}

impl PipelineTask {
    /// Waits for the batcher to write everything queued; call after every [`Pipeline`] clone is dropped.
    pub async fn shutdown(self) {
        if let Err(err) = self.join.await {
            tracing::error!(%err, "the batcher task failed");
        }
    }
}

fn clone_store_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Internal(message) => StoreError::Internal(message.clone()),
    }
}
