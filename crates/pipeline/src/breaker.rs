//! Retries with exponential backoff and a circuit breaker in front of the store.
//!
//! A batch whose write fails with a retryable error ([`StoreError::Unavailable`]) is tried again
//! up to `max_retries` times, waiting 50 ms, 100 ms, 200 ms … (at most 2 s) with ±50 % jitter.
//! After `threshold` consecutive failed batches the breaker **opens**: batches fail at once,
//! without touching the store, and clients get retryable codes. After a cool-down (1 s, doubling
//! while probes keep failing, at most 30 s) the breaker is **half open**: one batch probes the
//! store; success closes the breaker, failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use semtrace_store::StoreError;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const FIRST_COOL_DOWN: Duration = Duration::from_secs(1);
const MAX_COOL_DOWN: Duration = Duration::from_secs(30);

/// What the breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Writes go to the store.
    Closed,
    /// Writes fail at once until the cool-down ends.
    Open,
    /// One probe write is allowed; the rest fail at once.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    /// Set while open: when the next probe may go.
    open_until: Option<Instant>,
    cool_down: Duration,
    probing: bool,
    /// The store's last error, kept until a write succeeds (shown in health while not closed).
    last_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    inner: Mutex<Inner>,
}

/// Whether a batch may go to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Write,
    /// The half-open probe: its outcome decides the breaker's state.
    Probe,
    Refuse,
}

impl Breaker {
    pub fn new(threshold: u32) -> Self {
        Breaker {
            threshold: threshold.max(1),
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                open_until: None,
                cool_down: FIRST_COOL_DOWN,
                probing: false,
                last_error: None,
            }),
        }
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.inner.lock().expect("breaker lock");
        match inner.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until && !inner.probing => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// How long until the breaker lets a write try the store again: the rest of the cool-down
    /// while open, else its next cool-down (1 s to 30 s).
    pub fn retry_after(&self) -> Duration {
        let inner = self.inner.lock().expect("breaker lock");
        let wait = match inner.open_until {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => inner.cool_down,
        };
        crate::pace::clamp(wait)
    }

    pub fn admit(&self) -> Admission {
        let mut inner = self.inner.lock().expect("breaker lock");
        match inner.open_until {
            None => Admission::Write,
            Some(until) if Instant::now() >= until && !inner.probing => {
                inner.probing = true;
                Admission::Probe
            }
            Some(_) => Admission::Refuse,
        }
    }

    pub fn succeeded(&self) {
        let mut inner = self.inner.lock().expect("breaker lock");
        if inner.open_until.is_some() {
            tracing::info!("circuit breaker closed: the store answers again");
        }
        *inner = Inner {
            consecutive_failures: 0,
            open_until: None,
            cool_down: FIRST_COOL_DOWN,
            probing: false,
            last_error: None,
        };
        drop(inner);
        metrics::gauge!("semtrace_pipeline_breaker_state").set(BreakerState::Closed.gauge());
    }

    /// The store was not asked after all (or answered with a non-retryable error, which says
    /// nothing of its health): a probe admission goes back, so the next batch probes.
    pub fn release(&self, admission: Admission) {
        if admission == Admission::Probe {
            self.inner.lock().expect("breaker lock").probing = false;
        }
    }

    /// Gives a probe admission back if the code holding it unwinds (a panicking store) before it
    /// reports an outcome; otherwise the breaker would stay half open, refusing every batch.
    /// Dropping it after the outcome is reported changes nothing.
    pub(crate) fn probe_guard(&self, admission: Admission) -> Option<ProbeGuard<'_>> {
        (admission == Admission::Probe).then_some(ProbeGuard { breaker: self })
    }

    /// Why writes are failing, while they are (cleared by a success).
    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().expect("breaker lock").last_error.clone()
    }

    /// A batch failed after its retries (or a probe failed), with `error`.
    pub fn failed(&self, probe: bool, error: &dyn std::fmt::Display) {
        let mut inner = self.inner.lock().expect("breaker lock");
        inner.consecutive_failures += 1;
        inner.last_error = Some(error.to_string());
        if probe {
            inner.probing = false;
            inner.cool_down = (inner.cool_down * 2).min(MAX_COOL_DOWN);
            inner.open_until = Some(Instant::now() + inner.cool_down);
        } else if inner.open_until.is_none() && inner.consecutive_failures >= self.threshold {
            inner.open_until = Some(Instant::now() + inner.cool_down);
            tracing::warn!(
                failures = inner.consecutive_failures,
                cool_down_ms = inner.cool_down.as_millis() as u64,
                "circuit breaker opened: the store keeps failing"
            );
        }
        let open = inner.open_until.is_some();
        drop(inner);
        if open {
            metrics::gauge!("semtrace_pipeline_breaker_state").set(BreakerState::Open.gauge());
        }
    }
}

/// See [`Breaker::probe_guard`].
pub(crate) struct ProbeGuard<'a> {
    breaker: &'a Breaker,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        // Idempotent: after `succeeded` or `failed` the probe is no longer held.
        self.breaker.release(Admission::Probe);
    }
}

/// The wait before retry `attempt` (1-based): exponential with ±50 % jitter.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10)).min(MAX_BACKOFF);
    let jitter = 0.5 + rand::random::<f64>();
    base.mul_f64(jitter)
}

/// The error a refused batch is answered with.
pub(crate) fn refused() -> StoreError {
    StoreError::Unavailable("the store keeps failing (circuit breaker open); retry later".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_after_the_cool_down_and_closes_on_success() {
        let breaker = Breaker::new(3);
        for _ in 0..2 {
            assert_eq!(breaker.admit(), Admission::Write);
            breaker.failed(false, &"down");
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.failed(false, &"down");
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.admit(), Admission::Refuse);
        // Past the cool-down: one probe, the rest refused while it runs.
        breaker.inner.lock().unwrap().open_until = Some(Instant::now());
        assert_eq!(breaker.admit(), Admission::Probe);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.admit(), Admission::Refuse);
        // The probe fails: open again, for twice as long.
        breaker.failed(true, &"down");
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.inner.lock().unwrap().cool_down, FIRST_COOL_DOWN * 2);
        // Clients are told to come back when the cool-down ends, not after a constant.
        let wait = breaker.retry_after();
        assert!(wait > FIRST_COOL_DOWN && wait <= FIRST_COOL_DOWN * 2, "{wait:?}");
        breaker.inner.lock().unwrap().open_until = Some(Instant::now() + Duration::from_secs(600));
        assert_eq!(breaker.retry_after(), crate::pace::MAX_WAIT, "at most 30 s");
        breaker.inner.lock().unwrap().open_until = Some(Instant::now());
        assert_eq!(breaker.admit(), Admission::Probe);
        breaker.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.admit(), Admission::Write);
        assert_eq!(breaker.inner.lock().unwrap().cool_down, FIRST_COOL_DOWN);
    }

    #[test]
    fn a_probe_that_panics_gives_its_admission_back() {
        let breaker = Breaker::new(1);
        breaker.failed(false, &"down");
        breaker.inner.lock().unwrap().open_until = Some(Instant::now());
        let admission = breaker.admit();
        assert_eq!(admission, Admission::Probe);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _probe = breaker.probe_guard(admission);
            panic!("the store panicked mid-write");
        }));
        assert!(panicked.is_err());
        assert_eq!(breaker.admit(), Admission::Probe, "the next batch probes again");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            let base = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1).min(10)).min(MAX_BACKOFF);
            assert!(wait >= base / 2 && wait <= base.mul_f64(1.5), "{attempt}: {wait:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF.mul_f64(1.5));
    }
}
