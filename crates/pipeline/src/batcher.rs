//! Group commit: each transaction takes every request waiting at that moment.

use std::sync::Arc;
use std::time::Instant;

use semtrace_store::Store;
use tokio::sync::{mpsc, Semaphore};

use crate::breaker::{self, Admission, Breaker};
use crate::{PipelineConfig, WriteRequest};

pub(crate) async fn run(
    store: Arc<dyn Store>,
    config: PipelineConfig,
    breaker: Arc<Breaker>,
    mut receiver: mpsc::Receiver<WriteRequest>,
) {
    let in_flight = Arc::new(Semaphore::new(config.concurrency));
    let queue_capacity = config.queue_size;
    loop {
        // Wait for a free writer slot first, so requests keep gathering in the queue meanwhile.
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore never closed");
        let Some(first) = receiver.recv().await else { break };
        let mut batch = vec![first];
        while batch.len() < config.batch_size {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        metrics::gauge!("semtrace_pipeline_queue_depth")
            .set((queue_capacity - receiver.capacity().min(queue_capacity)) as f64);
        let (store, breaker) = (store.clone(), breaker.clone());
        let max_retries = config.max_retries;
        tokio::spawn(async move {
            write_batch(&*store, &breaker, max_retries, batch).await;
            drop(permit);
        });
    }
    // The queue is closed and drained: wait for the batches still being written.
    let _all = in_flight.acquire_many(config.concurrency as u32).await;
}

async fn write_batch(store: &dyn Store, breaker: &Breaker, max_retries: u32, batch: Vec<WriteRequest>) {
    let n_spans: usize = batch.iter().map(|request| request.spans.len()).sum();
    let mut spans = Vec::with_capacity(n_spans);
    let mut acks = Vec::with_capacity(batch.len());
    for request in batch {
        spans.extend(request.spans);
        acks.push(request.ack);
    }
    let admission = breaker.admit();
    if admission == Admission::Refuse {
        metrics::counter!("semtrace_pipeline_spans_refused_total", "reason" => "circuit_open")
            .increment(n_spans as u64);
        let err = Arc::new(breaker::refused());
        for ack in acks {
            let _ = ack.send(Err(err.clone()));
        }
        return;
    }
    metrics::histogram!("semtrace_pipeline_batch_spans").record(n_spans as f64);
    // A probe is tried once: its answer is what the breaker waits for.
    let retries = if admission == Admission::Probe { 0 } else { max_retries };
    let mut attempt = 0;
    let result = loop {
        let started = Instant::now();
        let result = store.write(&spans).await;
        metrics::histogram!("semtrace_pipeline_batch_write_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Err(err) if err.is_retryable() && attempt < retries => {
                attempt += 1;
                metrics::counter!("semtrace_pipeline_batch_retries_total").increment(1);
                let wait = breaker::backoff(attempt);
                tracing::debug!(%err, attempt, wait_ms = wait.as_millis() as u64, "batch write failed; retrying");
                tokio::time::sleep(wait).await;
            }
            other => break other,
        }
    };
    match &result {
        Ok(_) => breaker.succeeded(),
        // Only the store's unavailability counts: a bad batch says nothing of the store.
        Err(err) if err.is_retryable() => breaker.failed(admission == Admission::Probe),
        Err(_) => {}
    }
    match result {
        Ok(outcome) => {
            metrics::counter!("semtrace_pipeline_spans_stored_total").increment(outcome.inserted as u64);
            metrics::counter!("semtrace_pipeline_spans_duplicate_total").increment(outcome.duplicates as u64);
            // Spans found already stored (a client's retry) are a success too.
            for ack in acks {
                let _ = ack.send(Ok(()));
            }
        }
        Err(err) => {
            tracing::warn!(%err, n_spans, "batch write failed; clients are told to retry");
            metrics::counter!("semtrace_pipeline_batch_failures_total").increment(1);
            let err = Arc::new(err);
            for ack in acks {
                let _ = ack.send(Err(err.clone()));
            }
        }
    }
}
