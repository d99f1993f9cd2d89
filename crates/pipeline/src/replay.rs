//! The replayer: writes spooled batches to the store, oldest first, once it answers again.
//!
//! It goes through the same circuit breaker as the batcher, so a store still down is probed
//! once per cool-down, not hammered. Records are read in chunks of about [`REPLAY_SPANS`] spans
//! (a record is never split), each chunk written in one store transaction. Like the batcher, up
//! to `concurrency` chunks are written at once (a single writer left PostgreSQL's second core
//! idle and replayed at half the live ingest rate, so a spool could outgrow a busy store);
//! chunks are removed from the spool strictly in order, each only after its commit and after
//! every older chunk's. A crash or a failure in between writes the later chunks again, which the
//! store's idempotent writes absorb.
//!
//! A chunk the store refuses for good (not a retryable error) is retried record by record; a
//! record refused alone is set aside in `rejected/` beside the spool rather than block everything
//! behind it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semtrace_store::{StoreError, WriteOutcome};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batcher::{count_stored, write_with_retries};
use crate::breaker::{self, Admission};
use crate::spool::{Spool, SpoolError};
use crate::Shared;

/// Spans written per replay transaction, at most (a record is never split).
const REPLAY_SPANS: usize = 8192;
/// Wait while the breaker refuses.
const REFUSED_WAIT: Duration = Duration::from_millis(100);
/// After shutdown is asked, how long the replayer keeps emptying the spool.
const DRAIN_TIME: Duration = Duration::from_secs(20);

/// A chunk being written: how many records (from the head, after the older chunks) it holds.
struct Write {
    records: usize,
    spans: usize,
    admission: Admission,
    task: JoinHandle<Result<WriteOutcome, StoreError>>,
}

pub(crate) async fn run(shared: Arc<Shared>, spool: Arc<Spool>, mut stop: watch::Receiver<bool>) {
    let mut one_at_a_time = false;
    let mut failures = 0u32;
    let mut drain_until: Option<Instant> = None;
    let mut writing: VecDeque<Write> = VecDeque::new();
    loop {
        // Records handed to the writes in flight, counted from the head of the spool.
        let handed_out: usize = writing.iter().map(|write| write.records).sum();
        let stopping = *stop.borrow() || stop.has_changed().is_err();
        if stopping && drain_until.is_none() {
            drain_until = Some(Instant::now() + DRAIN_TIME);
        }
        if writing.is_empty() {
            if spool.is_empty() {
                if stopping {
                    break;
                }
                tokio::select! {
                    () = spool.appended.notified() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            if stopping && (failures > 0 || drain_until.is_some_and(|until| Instant::now() >= until)) {
                tracing::warn!(
                    records = spool.records(),
                    bytes = spool.bytes(),
                    path = %spool.path().display(),
                    "stopping with spooled batches; they are replayed at the next start"
                );
                break;
            }
        }
        let width = if one_at_a_time { 1 } else { shared.concurrency };
        let more = spool.records() > handed_out && writing.len() < width && !stopping_now(stopping, drain_until);
        let admission = if more { shared.breaker.admit() } else { Admission::Refuse };
        if admission != Admission::Refuse {
            let limit = if one_at_a_time { 1 } else { REPLAY_SPANS };
            let skip = handed_out;
            let reading = Instant::now();
            let read = blocking(&spool, move |spool| spool.peek(skip, limit)).await;
            tracing::trace!(read_ms = reading.elapsed().as_millis() as u64, skip, "read spooled records");
            match read {
                Err(err) => {
                    tracing::error!(%err, "cannot read the spool; trying again");
                    shared.breaker.release(admission);
                    if writing.is_empty() {
                        pause(&mut stop, Duration::from_secs(1)).await;
                    }
                }
                Ok(batches) if batches.first().is_some_and(Result::is_err) || batches.is_empty() => {
                    // An unreadable record: set aside once it is the oldest, after the writes
                    // before it are done.
                    shared.breaker.release(admission);
                    if writing.is_empty() {
                        let reason = match batches.into_iter().next() {
                            Some(Err(reason)) => reason,
                            _ => "the spool holds fewer records than it says".to_string(),
                        };
                        if !set_aside(&spool, &reason).await {
                            pause(&mut stop, Duration::from_secs(1)).await;
                        }
                        continue;
                    }
                }
                Ok(batches) => {
                    let batches: Vec<_> = batches.into_iter().map_while(Result::ok).collect();
                    let records = batches.len();
                    let mut items = crate::Batch::default();
                    for mut batch in batches {
                        items.append(&mut batch);
                    }
                    let store = shared.store.clone();
                    let n_spans = items.spans.len();
                    // Its latency is in `semtrace_pipeline_batch_write_seconds`, as every write's.
                    let task = tokio::spawn(async move { write_with_retries(&*store, &items, 0).await });
                    writing.push_back(Write { records, spans: n_spans, admission, task });
                    continue;
                }
            }
        }
        let Some(oldest) = writing.pop_front() else {
            // Nothing to write and nothing admitted: the breaker refuses.
            pause(&mut stop, REFUSED_WAIT).await;
            continue;
        };
        let result = oldest.task.await.unwrap_or_else(|panic| Err(StoreError::Internal(panic.to_string())));
        match result {
            Ok(outcome) => {
                shared.breaker.succeeded();
                count_stored(&outcome);
                metrics::counter!("semtrace_spool_spans_replayed_total").increment(oldest.spans as u64);
                failures = 0;
                one_at_a_time = false;
                let records = oldest.records;
                let removing = Instant::now();
                let removed = blocking(&spool, move |spool| spool.remove(records)).await;
                tracing::trace!(remove_ms = removing.elapsed().as_millis() as u64, records, "removed replayed records");
                if let Err(err) = removed {
                    // The records stay and are written again: the store ignores what it has.
                    tracing::error!(%err, "cannot remove replayed records from the spool");
                    abandon(&mut writing).await;
                    pause(&mut stop, Duration::from_secs(1)).await;
                }
            }
            Err(err) if err.is_retryable() => {
                shared.breaker.failed(oldest.admission == Admission::Probe, &err);
                failures += 1;
                tracing::debug!(%err, failures, "replaying the spool failed; the store is still unavailable");
                abandon(&mut writing).await;
                pause(&mut stop, breaker::backoff(failures)).await;
            }
            Err(err) => {
                shared.breaker.release(oldest.admission);
                abandon(&mut writing).await;
                if oldest.records > 1 {
                    one_at_a_time = true;
                } else if !set_aside(&spool, &err.to_string()).await {
                    pause(&mut stop, Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Past the drain time of a shutdown, no new chunk is started.
fn stopping_now(stopping: bool, drain_until: Option<Instant>) -> bool {
    stopping && drain_until.is_some_and(|until| Instant::now() >= until)
}

/// Waits for the writes behind a failed one and forgets them: their records stay at the head of
/// the spool and are written again (the store ignores what it already has).
async fn abandon(writing: &mut VecDeque<Write>) {
    for write in writing.drain(..) {
        let result = write.task.await;
        if matches!(result, Ok(Ok(_))) {
            // Committed, but not removed: it is written again, harmlessly, later.
            tracing::debug!(records = write.records, "a replayed chunk behind a failed one is written again later");
        }
    }
}

/// Whether the record is out of the way (if not, the caller waits before trying again).
async fn set_aside(spool: &Arc<Spool>, reason: &str) -> bool {
    match blocking(spool, Spool::set_aside).await {
        Ok(kept) => {
            metrics::counter!("semtrace_spool_records_rejected_total").increment(1);
            match kept {
                Some(path) => {
                    tracing::error!(reason, kept = %path.display(), "a spooled batch cannot be stored; set aside")
                }
                None => tracing::error!(reason, "an unreadable spooled batch was dropped"),
            }
            true
        }
        Err(err) => {
            tracing::error!(reason, %err, "cannot set a spooled batch aside; trying again");
            false
        }
    }
}

async fn blocking<T: Send + 'static>(
    spool: &Arc<Spool>,
    work: impl FnOnce(&Spool) -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || work(&spool)).await.expect("spool work does not panic")
}

/// Sleeps, waking early when shutdown is asked.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) {
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = stop.changed() => {}
    }
}
