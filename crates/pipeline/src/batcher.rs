//! Group commit: each transaction takes every request waiting at that moment.

use std::sync::Arc;
use std::time::Instant;

use semtrace_store::{Store, StoreError, WriteOutcome};
use tokio::sync::{mpsc, Semaphore};

use crate::breaker::{self, Admission};
use crate::spool::{Spool, SpoolError};
use crate::{Batch, PipelineConfig, Shared, WriteRequest};

pub(crate) async fn run(shared: Arc<Shared>, config: PipelineConfig, mut receiver: mpsc::Receiver<WriteRequest>) {
    let in_flight = Arc::new(Semaphore::new(config.concurrency));
    let queue_capacity = config.queue_size;
    loop {
        // Wait for a free writer slot first, so requests keep gathering in the queue meanwhile.
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore never closed");
        // A request already waiting when a writer slot frees: the writer is the bottleneck.
        let first = match receiver.try_recv() {
            Ok(first) => {
                shared.pace.writer_saturated();
                first
            }
            Err(_) => match receiver.recv().await {
                Some(first) => first,
                None => break,
            },
        };
        let mut batch = vec![first];
        while batch.len() < config.batch_size {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let queued = queue_capacity - receiver.capacity().min(queue_capacity);
        metrics::gauge!("semtrace_pipeline_queue_depth").set(queued as f64);
        shared.pace.set_queued(queued);
        let shared = shared.clone();
        tokio::spawn(async move {
            write_batch(&shared, batch).await;
            drop(permit);
        });
    }
    // The queue is closed and drained: wait for the batches still being written.
    let _all = in_flight.acquire_many(config.concurrency as u32).await;
}

async fn write_batch(shared: &Shared, batch: Vec<WriteRequest>) {
    let n_spans: usize = batch.iter().map(|request| request.n_spans).sum();
    metrics::histogram!("semtrace_pipeline_batch_spans").record(n_spans as f64);
    let mut items = Batch::default();
    let mut batch: Vec<_> = batch
        .into_iter()
        .map(|mut request| {
            items.append(&mut request.batch);
            request
        })
        .collect();
    let lengths: Vec<(usize, usize)> = batch.iter().map(|request| (request.n_spans, request.n_logs)).collect();
    let started = Instant::now();
    let delivered = deliver(shared, &mut items).await;
    shared.pace.batch_written(started.elapsed().as_secs_f64());
    match delivered {
        // A batch the store refuses for good: each request alone, so one bad request does
        // not fail the others' (the store answered, so it is up; writes are idempotent).
        Err(err) if !err.is_retryable() && batch.len() > 1 => {
            tracing::warn!(%err, requests = batch.len(), "batch refused; writing its requests one by one");
            for (request, (spans, logs)) in batch.iter_mut().zip(lengths) {
                let mut mine = items.take_front(spans, logs);
                let result = deliver(shared, &mut mine).await.map_err(Arc::new);
                if let Some(ack) = request.ack.take() {
                    let _ = ack.send(result);
                }
            }
        }
        result => {
            let result = result.map_err(Arc::new);
            for request in &mut batch {
                if let Some(ack) = request.ack.take() {
                    let _ = ack.send(result.clone());
                }
            }
        }
    }
    // Only now is the batch's memory released (its reservations drop with it).
    drop(batch);
}

/// Holds a batch for tail sampling when it is on; else [`deliver_to_store`].
async fn deliver(shared: &Shared, batch: &mut Batch) -> Result<(), StoreError> {
    match shared.sampler.as_ref().filter(|sampler| sampler.is_active()) {
        Some(sampler) => sampler.hold(shared, batch).await,
        None => deliver_to_store(shared, batch).await,
    }
}

/// Writes a batch to the store, or to the spool when the store cannot take it.
/// The batch is left in place unless it went to the spool.
pub(crate) async fn deliver_to_store(shared: &Shared, batch: &mut Batch) -> Result<(), StoreError> {
    if let Some(spool) = shared.spool.as_ref().filter(|spool| !spool.is_empty()) {
        // Older batches wait in the spool: this one goes behind them, so the store gets
        // batches in the order they were acknowledged.
        return to_spool(spool, std::mem::take(batch)).await;
    }
    let admission = shared.breaker.admit();
    if admission == Admission::Refuse {
        return match &shared.spool {
            Some(spool) => to_spool(spool, std::mem::take(batch)).await,
            None => {
                refused(batch.spans.len(), batch.logs.len(), "circuit_open");
                Err(breaker::refused())
            }
        };
    }
    // A probe is tried once: its answer is what the breaker waits for.
    let retries = if admission == Admission::Probe { 0 } else { shared.max_retries };
    let probe = shared.breaker.probe_guard(admission);
    let result = write_with_retries(&*shared.store, batch, retries).await;
    match &result {
        Ok(_) => shared.breaker.succeeded(),
        // Only the store's unavailability counts: a bad batch says nothing of the store.
        Err(err) if err.is_retryable() => shared.breaker.failed(admission == Admission::Probe, err),
        Err(_) => shared.breaker.release(admission),
    }
    drop(probe);
    match result {
        Ok(outcome) => {
            count_stored(&outcome);
            Ok(())
        }
        Err(err) => {
            metrics::counter!("semtrace_pipeline_batch_failures_total").increment(1);
            match &shared.spool {
                Some(spool) if err.is_retryable() => {
                    tracing::warn!(%err, n_spans = batch.spans.len(), n_logs = batch.logs.len(), "the store is unavailable; spooling the batch");
                    to_spool(spool, std::mem::take(batch)).await
                }
                _ => {
                    tracing::warn!(%err, n_spans = batch.spans.len(), n_logs = batch.logs.len(), "batch write failed; clients are told to retry");
                    if err.is_retryable() {
                        refused(batch.spans.len(), batch.logs.len(), "store_unavailable");
                    }
                    Err(err)
                }
            }
        }
    }
}

/// One store write of a batch's spans, then of its log records (each idempotent, so a retry
/// after the first succeeded rewrites nothing), retried with backoff while it fails retryably
/// and retries are left.
pub(crate) async fn write_with_retries(
    store: &dyn Store,
    batch: &Batch,
    retries: u32,
) -> Result<WriteOutcome, StoreError> {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let result = write_once(store, batch).await;
        metrics::histogram!("semtrace_pipeline_batch_write_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Err(err) if err.is_retryable() && attempt < retries => {
                attempt += 1;
                metrics::counter!("semtrace_pipeline_batch_retries_total").increment(1);
                let wait = breaker::backoff(attempt);
                tracing::debug!(%err, attempt, wait_ms = wait.as_millis() as u64, "batch write failed; retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

async fn write_once(store: &dyn Store, batch: &Batch) -> Result<WriteOutcome, StoreError> {
    let (outcome, logs) = store.write_batch(&batch.spans, &batch.logs).await?;
    if !batch.logs.is_empty() {
        metrics::counter!("semtrace_pipeline_log_records_stored_total").increment(logs.inserted as u64);
        metrics::counter!("semtrace_pipeline_log_records_duplicate_total").increment(logs.duplicates as u64);
    }
    Ok(outcome)
}

pub(crate) fn count_stored(outcome: &WriteOutcome) {
    metrics::counter!("semtrace_pipeline_spans_stored_total").increment(outcome.inserted as u64);
    // Spans found already stored (a client's retry, a replayed record) are a success too.
    metrics::counter!("semtrace_pipeline_spans_duplicate_total").increment(outcome.duplicates as u64);
}

pub(crate) fn refused(n_spans: usize, n_logs: usize, reason: &'static str) {
    metrics::counter!("semtrace_pipeline_spans_refused_total", "reason" => reason).increment(n_spans as u64);
    if n_logs > 0 {
        metrics::counter!("semtrace_pipeline_log_records_refused_total", "reason" => reason).increment(n_logs as u64);
    }
}

/// Appends the batch to the spool (fsynced) on the blocking pool.
async fn to_spool(spool: &Arc<Spool>, batch: Batch) -> Result<(), StoreError> {
    let (n_spans, n_logs) = (batch.spans.len(), batch.logs.len());
    let started = Instant::now();
    let spool_ = spool.clone();
    let result = match tokio::task::spawn_blocking(move || spool_.append(&batch)).await {
        Ok(result) => result,
        Err(err) => return Err(StoreError::Unavailable(format!("spooling a batch failed: {err}"))),
    };
    metrics::histogram!("semtrace_spool_append_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(_) => {
            metrics::counter!("semtrace_pipeline_spans_spooled_total").increment(n_spans as u64);
            metrics::counter!("semtrace_pipeline_log_records_spooled_total").increment(n_logs as u64);
            Ok(())
        }
        Err(err) => {
            refused(n_spans, n_logs, if matches!(err, SpoolError::Full { .. }) { "spool_full" } else { "spool_error" });
            if !matches!(err, SpoolError::Full { .. }) {
                tracing::error!(%err, "cannot spool a batch; clients are told to retry");
            }
            Err(StoreError::Unavailable(err.to_string()))
        }
    }
}
