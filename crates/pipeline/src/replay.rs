//! The replayer: writes spooled batches to the store, oldest first, once it answers again.
//!
//! It goes through the same circuit breaker as the batcher, so a store still down is probed
//! once per cool-down, not hammered. Several records are written in one store transaction
//! (about [`REPLAY_SPANS`] spans), and removed from the spool only after the commit. A record
//! the store refuses for good (not a retryable error) is retried alone; refused alone, it is
//! set aside in `rejected/` beside the spool rather than block everything behind it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

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

pub(crate) async fn run(shared: Arc<Shared>, spool: Arc<Spool>, mut stop: watch::Receiver<bool>) {
    let mut one_at_a_time = false;
    let mut failures = 0u32;
    let mut drain_until: Option<Instant> = None;
    loop {
        let stopping = *stop.borrow() || stop.has_changed().is_err();
        if stopping && drain_until.is_none() {
            drain_until = Some(Instant::now() + DRAIN_TIME);
        }
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
        let admission = shared.breaker.admit();
        if admission == Admission::Refuse {
            pause(&mut stop, REFUSED_WAIT).await;
            continue;
        }
        let limit = if one_at_a_time { 1 } else { REPLAY_SPANS };
        let batches = match blocking(&spool, move |spool| spool.peek(limit)).await {
            Ok(batches) => batches,
            Err(err) => {
                tracing::error!(%err, "cannot read the spool; trying again");
                shared.breaker.release(admission);
                pause(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(Err(reason)) = batches.first() {
            shared.breaker.release(admission);
            if !set_aside(&spool, reason).await {
                pause(&mut stop, Duration::from_secs(1)).await;
            }
            continue;
        }
        let batches: Vec<_> = batches.into_iter().map_while(Result::ok).collect();
        let n_records = batches.len();
        let spans: Vec<_> = batches.into_iter().flatten().collect();
        match write_with_retries(&*shared.store, &spans, 0).await {
            Ok(outcome) => {
                shared.breaker.succeeded();
                count_stored(&outcome);
                metrics::counter!("semtrace_spool_spans_replayed_total").increment(spans.len() as u64);
                failures = 0;
                one_at_a_time = false;
                if let Err(err) = blocking(&spool, move |spool| spool.remove(n_records)).await {
                    // The records stay and are written again: the store ignores what it has.
                    tracing::error!(%err, "cannot remove replayed records from the spool");
                    pause(&mut stop, Duration::from_secs(1)).await;
                }
            }
            Err(err) if err.is_retryable() => {
                shared.breaker.failed(admission == Admission::Probe);
                failures += 1;
                tracing::debug!(%err, failures, "replaying the spool failed; the store is still unavailable");
                pause(&mut stop, breaker::backoff(failures)).await;
            }
            Err(err) => {
                shared.breaker.release(admission);
                if n_records > 1 {
                    one_at_a_time = true;
                } else if !set_aside(&spool, &err.to_string()).await {
                    pause(&mut stop, Duration::from_secs(1)).await;
                }
            }
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
