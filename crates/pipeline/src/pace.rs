//! How fast the writer drains the queue, so that a refused client is told how long to wait
//! (`Retry-After`, gRPC `RetryInfo`) from the pipeline's state instead of a constant.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The shortest and longest wait suggested.
pub(crate) const MIN_WAIT: Duration = Duration::from_secs(1);
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);
/// Weight of the newest batch in the smoothed batch time.
const SMOOTHING: f64 = 0.2;

#[derive(Debug)]
pub(crate) struct Pace {
    /// Seconds a batch write takes, smoothed (the bits of an `f64`; 0 before the first).
    batch_seconds: AtomicU64,
    /// Requests waiting, as the batcher last saw them.
    queued: AtomicUsize,
    /// Requests a batch takes at most, and batches written at once.
    batch_size: usize,
    concurrency: usize,
    /// When the batcher last found a request already waiting as a writer slot freed, or a
    /// request was refused for a full queue (milliseconds since `epoch`, plus 1; 0: never): the
    /// writer was the bottleneck then.
    saturated_ms: AtomicU64,
    epoch: Instant,
}

impl Pace {
    pub(crate) fn new(batch_size: usize, concurrency: usize) -> Pace {
        Pace {
            batch_seconds: AtomicU64::new(0f64.to_bits()),
            queued: AtomicUsize::new(0),
            batch_size: batch_size.max(1),
            concurrency: concurrency.max(1),
            saturated_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Work was waiting for the writer.
    pub(crate) fn writer_saturated(&self) {
        self.saturated_ms.store(self.epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    }

    /// Whether work waited for the writer within the last `window`.
    pub(crate) fn saturated_within(&self, window: Duration) -> bool {
        match self.saturated_ms.load(Ordering::Relaxed) {
            0 => false,
            at => (self.epoch.elapsed().as_millis() as u64) < at + window.as_millis() as u64,
        }
    }

    /// A batch was written in `seconds` (single writer: updates race harmlessly).
    pub(crate) fn batch_written(&self, seconds: f64) {
        smooth(&self.batch_seconds, seconds, SMOOTHING);
    }

    /// The smoothed seconds a batch write takes (0 before the first).
    pub(crate) fn batch_seconds(&self) -> f64 {
        f64::from_bits(self.batch_seconds.load(Ordering::Relaxed))
    }

    /// Requests waiting, as the batcher last saw them.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn set_queued(&self, requests: usize) {
        self.queued.store(requests, Ordering::Relaxed);
    }

    /// How long until the requests now waiting are written, and a refused one would find room:
    /// the rounds of batches ahead times the smoothed batch time, 1 s to 30 s.
    pub(crate) fn wait(&self) -> Duration {
        let queued = self.queued.load(Ordering::Relaxed);
        let rounds = queued.div_ceil(self.batch_size * self.concurrency).max(1);
        let seconds = f64::from_bits(self.batch_seconds.load(Ordering::Relaxed)) * rounds as f64;
        clamp(Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64())))
    }
}

/// Folds `seconds` into the smoothed value held as `f64` bits in `held` (0: none yet), the
/// newest weighing `weight`.
pub(crate) fn smooth(held: &AtomicU64, seconds: f64, weight: f64) {
    let previous = f64::from_bits(held.load(Ordering::Relaxed));
    let smoothed = if previous == 0.0 { seconds } else { previous + weight * (seconds - previous) };
    held.store(smoothed.to_bits(), Ordering::Relaxed);
}

pub(crate) fn clamp(wait: Duration) -> Duration {
    wait.clamp(MIN_WAIT, MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_is_work_waiting_for_the_writer_recently() {
        let pace = Pace::new(10, 2);
        assert!(!pace.saturated_within(Duration::from_secs(60)), "never saturated yet");
        pace.set_queued(3);
        assert!(!pace.saturated_within(Duration::from_secs(60)), "requests queued are not yet a writer behind");
        pace.writer_saturated();
        assert!(pace.saturated_within(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!pace.saturated_within(Duration::from_millis(10)), "the saturation is past the window");
    }

    #[test]
    fn the_wait_grows_with_the_queue_and_the_batch_time_within_bounds() {
        let pace = Pace::new(100, 2);
        assert_eq!(pace.wait(), MIN_WAIT, "nothing measured yet");
        pace.batch_written(0.5);
        pace.set_queued(1000);
        // 1000 requests, 200 a round: 5 rounds of 0.5 s.
        assert_eq!(pace.wait(), Duration::from_millis(2500));
        pace.set_queued(10);
        assert_eq!(pace.wait(), MIN_WAIT);
        pace.set_queued(1_000_000);
        assert_eq!(pace.wait(), MAX_WAIT);
        // Smoothed: one slow batch moves it a fifth of the way.
        pace.batch_written(1.5);
        pace.set_queued(1000);
        assert_eq!(pace.wait(), Duration::from_millis(3500));
    }
}
