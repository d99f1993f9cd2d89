//! Group commit: each transaction takes every request waiting at that moment.

use std::sync::Arc;
use std::time::Instant;

use semtrace_store::Store;
use tokio::sync::{mpsc, Semaphore};

use crate::{PipelineConfig, WriteRequest};

pub(crate) async fn run(store: Arc<dyn Store>, config: PipelineConfig, mut receiver: mpsc::Receiver<WriteRequest>) {
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
        let store = store.clone();
        tokio::spawn(async move {
            write_batch(&*store, batch).await;
            drop(permit);
        });
    }
    // The queue is closed and drained: wait for the batches still being written.
    let _all = in_flight.acquire_many(config.concurrency as u32).await;
}

async fn write_batch(store: &dyn Store, batch: Vec<WriteRequest>) {
    let n_spans: usize = batch.iter().map(|request| request.spans.len()).sum();
    let mut spans = Vec::with_capacity(n_spans);
    let mut acks = Vec::with_capacity(batch.len());
    for request in batch {
        spans.extend(request.spans);
        acks.push(request.ack);
    }
    let started = Instant::now();
    let result = store.write(&spans).await;
    metrics::histogram!("semtrace_pipeline_batch_write_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("semtrace_pipeline_batch_spans").record(n_spans as f64);
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
