//! Tail sampling: a trace is kept or dropped once it is complete, and nothing acknowledged is
//! lost before that.
//!
//! With sampling on, the batcher does not write a batch to the store: it hands it to
//! [`Sampler::hold`], which appends it to the **hold log** (a queue file like the spool,
//! `fsync`ed, in `sampling/` under the data directory), adds its spans and log records to an
//! in-memory buffer keyed by trace, and only then lets the batch be acknowledged. So an
//! acknowledged span is on disk before any decision, and a crash during `decision_wait` replays
//! the hold log into the buffer at the next start, where its trace is decided again (the draw is
//! a hash of the trace id, so the answer is the same).
//!
//! The decider (one task, a tick every quarter of `decision_wait`, at most 500 ms) takes the
//! traces that have been quiet for `decision_wait` (or buffered for `max_trace_wait`, or the
//! oldest while more than `max_buffered_spans` are buffered), decides each with the
//! [`policy`], writes the kept ones to the store (through the breaker and the spool, like any
//! batch) with their rate recorded on every span, and forgets the dropped ones. A hold-log
//! record is removed once every trace with spans in it is settled; records are removed in
//! order, so one slow trace holds the records behind it (bounded by `max_trace_wait`). Spans
//! arriving after their trace was decided follow the decision (a bounded cache of decisions).
//!
//! Adaptive mode multiplies the operation, service and normal rates by a factor that halves
//! while the pipeline is under pressure (write queue or hold log over 80 % full, or the store
//! taking longer than the target to write a round's kept traces, or the batcher its batches)
//! and grows back while it is not; error, attribute and slow rates never change. Dry-run mode
//! decides and counts but keeps everything.
//!
//! Undecided traces are not readable (they are not in the store yet): reads see a trace
//! `decision_wait` after its last span.

pub mod policy;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use semtrace_model::{AnyValue, LogRecord, Span, TraceId};
use semtrace_store::StoreError;
use tokio::sync::{watch, Notify};

use crate::spool::{Spool, SpoolConfig, SpoolError};
use crate::{batcher, Batch, Shared};
use policy::Policy;
pub use policy::{AttributeRule, Decision, PolicyConfig, Reason};

const HOLD_FILE: &str = "hold.qf";
/// Attributes every span of a kept trace carries.
pub const RATE_ATTRIBUTE: &str = "semtrace.sampling.rate";
pub const REASON_ATTRIBUTE: &str = "semtrace.sampling.reason";
/// Decisions remembered for late spans, at most, and for how long.
const DECISIONS_KEPT: usize = 200_000;
const DECISION_MEMORY: Duration = Duration::from_secs(600);
/// After a failed write of kept traces, the wait before the next try.
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// Tail sampling's settings.
#[derive(Debug, Clone)]
pub struct SamplingConfig {
    /// Off: batches go straight to the store (a hold log left by an earlier run is still
    /// written out, everything kept).
    pub enabled: bool,
    /// Where the hold log lives.
    pub dir: PathBuf,
    /// Bytes of held batches past which new batches are refused (clients retry).
    pub max_hold_bytes: u64,
    /// A trace is decided once no span of it arrived for this long.
    pub decision_wait: Duration,
    /// A trace still receiving spans is decided after this long anyway.
    pub max_trace_wait: Duration,
    /// Past this many buffered spans, the oldest traces are decided early.
    pub max_buffered_spans: usize,
    pub policy: PolicyConfig,
    pub adaptive: Option<AdaptiveConfig>,
    /// Decide and count, keep everything.
    pub dry_run: bool,
}

impl SamplingConfig {
    pub fn new(dir: PathBuf) -> Self {
        SamplingConfig {
            enabled: true,
            dir,
            max_hold_bytes: 1 << 30,
            decision_wait: Duration::from_secs(10),
            max_trace_wait: Duration::from_secs(120),
            max_buffered_spans: 200_000,
            policy: PolicyConfig::default(),
            adaptive: None,
            dry_run: false,
        }
    }
}

/// How adaptive mode reads pressure and how far it may lower the rates.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    /// The lowest factor applied to the normal rates.
    pub min_factor: f64,
    /// Batch writes slower than this (smoothed) count as pressure.
    pub target_write_seconds: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig { min_factor: 0.01, target_write_seconds: 0.5 }
    }
}

/// Tail sampling's state, for health and metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingStatus {
    pub dry_run: bool,
    pub buffered_traces: usize,
    pub buffered_spans: usize,
    pub hold_records: usize,
    pub hold_bytes: u64,
    pub hold_max_bytes: u64,
    /// What adaptive mode multiplies the normal rates by now (1 without it).
    pub adaptive_factor: f64,
    pub kept_traces: u64,
    pub dropped_traces: u64,
    pub kept_spans: u64,
    pub dropped_spans: u64,
}

/// A hold-log record's state, from the head of the log.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Appended; its traces are not registered yet.
    Open,
    /// Registered: traces with items in it that are not settled yet.
    Pending(usize),
    /// Read back undecodable at start: set aside when it reaches the head.
    Bad,
}

struct Buffered {
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    first_seen: Instant,
    last_seen: Instant,
    /// Hold-log records holding its items (ascending, no repeats).
    records: Vec<u64>,
}

#[derive(Default)]
struct State {
    traces: HashMap<TraceId, Buffered>,
    spans: usize,
    slots: VecDeque<Slot>,
    /// The sequence number of the hold log's head record (`slots[0]`).
    head: u64,
}

#[derive(Default)]
struct Counts {
    kept_traces: AtomicU64,
    dropped_traces: AtomicU64,
    kept_spans: AtomicU64,
    dropped_spans: AtomicU64,
}

pub(crate) struct Sampler {
    config: SamplingConfig,
    log: Arc<Spool>,
    state: Mutex<State>,
    /// Taking new batches; off while only draining a hold log an earlier run left.
    active: bool,
    wake: Notify,
    factor: AtomicU64,
    /// Seconds the store took for a round's kept traces, smoothed (`f64` bits): the write
    /// latency adaptive mode reads (the batcher's own writes are only hold-log appends).
    store_seconds: AtomicU64,
    counts: Counts,
}

impl Sampler {
    /// Opens the hold log and reads what an earlier run left into the buffer. `None` when
    /// sampling is off and nothing was left.
    pub(crate) fn open(config: &SamplingConfig) -> Result<Option<Sampler>, SpoolError> {
        let hold_file = config.dir.join(HOLD_FILE);
        if !config.enabled && !hold_file.exists() {
            return Ok(None);
        }
        let log = Spool::open_file(
            &SpoolConfig { dir: config.dir.clone(), max_bytes: config.max_hold_bytes },
            HOLD_FILE,
            ("semtrace_sampling_hold_bytes", "semtrace_sampling_hold_records"),
        )?;
        if !config.enabled && log.is_empty() {
            return Ok(None);
        }
        let mut config = config.clone();
        config.max_trace_wait = config.max_trace_wait.max(config.decision_wait);
        if !config.enabled {
            // Sampling was turned off: what the last run held is written out, all of it.
            tracing::warn!(records = log.records(), path = %log.path().display(),
                "sampling is off; the traces an earlier run held for a decision are all kept");
            config.dry_run = true;
            config.decision_wait = Duration::ZERO;
        }
        let sampler = Sampler {
            active: config.enabled,
            config,
            log: Arc::new(log),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            factor: AtomicU64::new(1f64.to_bits()),
            store_seconds: AtomicU64::new(0f64.to_bits()),
            counts: Counts::default(),
        };
        sampler.reload()?;
        Ok(Some(sampler))
    }

    /// Reads every record of the hold log into the buffer (at start).
    fn reload(&self) -> Result<(), SpoolError> {
        let total = self.log.records();
        let mut seq = 0usize;
        while seq < total {
            let records = self.log.peek(seq, 50_000)?;
            if records.is_empty() {
                break;
            }
            for record in records {
                match record {
                    Ok(batch) => self.register(seq as u64, batch),
                    Err(reason) => {
                        tracing::error!(seq, %reason, "an unreadable hold-log record will be set aside");
                        let mut state = self.state.lock().expect("sampler lock");
                        let at = seq - state.head as usize;
                        fill(&mut state.slots, at);
                        state.slots[at] = Slot::Bad;
                    }
                }
                seq += 1;
            }
        }
        if total > 0 {
            let state = self.state.lock().expect("sampler lock");
            tracing::info!(
                records = total,
                traces = state.traces.len(),
                spans = state.spans,
                "spans held for a sampling decision by an earlier run are buffered again"
            );
        }
        Ok(())
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// Makes a batch durable in the hold log and buffers it for a decision. Log records
    /// without a trace id are not sampled: they go to the store at once.
    pub(crate) async fn hold(&self, shared: &Shared, batch: &mut Batch) -> Result<(), StoreError> {
        let (traced, untraced): (Vec<LogRecord>, Vec<LogRecord>) =
            std::mem::take(&mut batch.logs).into_iter().partition(|log| log.trace_id.is_some());
        batch.logs = traced;
        if !untraced.is_empty() {
            let mut direct = Batch { spans: Vec::new(), logs: untraced };
            batcher::deliver_to_store(shared, &mut direct).await?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let (n_spans, n_logs) = (batch.spans.len(), batch.logs.len());
        let held = std::mem::take(batch);
        let log = self.log.clone();
        let appended = tokio::task::spawn_blocking(move || log.append(&held).map(|seq| (seq, held)))
            .await
            .map_err(|err| StoreError::Unavailable(format!("holding a batch for sampling failed: {err}")))?;
        match appended {
            Ok((seq, held)) => {
                self.register(seq, held);
                metrics::counter!("semtrace_sampling_spans_held_total").increment(n_spans as u64);
                if self.state.lock().expect("sampler lock").spans > self.config.max_buffered_spans {
                    self.wake.notify_one();
                }
                Ok(())
            }
            Err(err) => {
                let reason =
                    if matches!(err, SpoolError::Full { .. }) { "sampling_hold_full" } else { "sampling_hold_error" };
                batcher::refused(n_spans, n_logs, reason);
                if !matches!(err, SpoolError::Full { .. }) {
                    tracing::error!(%err, "cannot hold a batch for sampling; clients are told to retry");
                }
                Err(StoreError::Unavailable(err.to_string()))
            }
        }
    }

    /// Adds a hold-log record's items to the buffer.
    fn register(&self, seq: u64, batch: Batch) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("sampler lock");
        let state = &mut *state;
        let mut traces = 0;
        let entry = |id: TraceId, traces_map: &mut HashMap<TraceId, Buffered>| -> bool {
            let buffered = traces_map.entry(id).or_insert_with(|| Buffered {
                spans: Vec::new(),
                logs: Vec::new(),
                first_seen: now,
                last_seen: now,
                records: Vec::new(),
            });
            buffered.last_seen = now;
            if buffered.records.last() != Some(&seq) {
                buffered.records.push(seq);
                true
            } else {
                false
            }
        };
        state.spans += batch.spans.len();
        for span in batch.spans {
            if entry(span.trace_id, &mut state.traces) {
                traces += 1;
            }
            state.traces.get_mut(&span.trace_id).expect("just added").spans.push(span);
        }
        for log in batch.logs {
            let id = log.trace_id.expect("only traced records are held");
            if entry(id, &mut state.traces) {
                traces += 1;
            }
            state.traces.get_mut(&id).expect("just added").logs.push(log);
        }
        let at = (seq - state.head) as usize;
        fill(&mut state.slots, at);
        state.slots[at] = Slot::Pending(traces);
    }

    /// The state for health.
    pub(crate) fn status(&self) -> SamplingStatus {
        let state = self.state.lock().expect("sampler lock");
        SamplingStatus {
            dry_run: self.config.dry_run,
            buffered_traces: state.traces.len(),
            buffered_spans: state.spans,
            hold_records: self.log.records(),
            hold_bytes: self.log.bytes(),
            hold_max_bytes: self.log.max_bytes(),
            adaptive_factor: f64::from_bits(self.factor.load(Ordering::Relaxed)),
            kept_traces: self.counts.kept_traces.load(Ordering::Relaxed),
            dropped_traces: self.counts.dropped_traces.load(Ordering::Relaxed),
            kept_spans: self.counts.kept_spans.load(Ordering::Relaxed),
            dropped_spans: self.counts.dropped_spans.load(Ordering::Relaxed),
        }
    }

    /// Takes the traces due for a decision out of the buffer.
    fn take_due(&self, now: Instant, decided: &Decisions) -> Vec<(TraceId, Buffered)> {
        let mut state = self.state.lock().expect("sampler lock");
        let (wait, max_wait) = (self.config.decision_wait, self.config.max_trace_wait);
        let mut due: Vec<TraceId> = state
            .traces
            .iter()
            .filter(|(id, trace)| {
                now.saturating_duration_since(trace.last_seen) >= wait
                    || now.saturating_duration_since(trace.first_seen) >= max_wait
                    || decided.get(id).is_some()
            })
            .map(|(id, _)| *id)
            .collect();
        let mut taken: Vec<(TraceId, Buffered)> =
            due.drain(..).filter_map(|id| state.traces.remove(&id).map(|trace| (id, trace))).collect();
        let mut spans = state.spans - taken.iter().map(|(_, trace)| trace.spans.len()).sum::<usize>();
        if spans > self.config.max_buffered_spans {
            // Over the memory bound: the oldest traces are decided early.
            let mut oldest: Vec<(Instant, TraceId)> =
                state.traces.iter().map(|(id, trace)| (trace.first_seen, *id)).collect();
            oldest.sort_unstable_by_key(|(first_seen, _)| *first_seen);
            for (_, id) in oldest {
                if spans <= self.config.max_buffered_spans * 9 / 10 {
                    break;
                }
                let trace = state.traces.remove(&id).expect("listed");
                spans -= trace.spans.len();
                metrics::counter!("semtrace_sampling_early_decisions_total").increment(1);
                taken.push((id, trace));
            }
        }
        state.spans = spans;
        taken
    }

    /// Puts traces whose kept spans could not be written back into the buffer.
    fn put_back(&self, traces: Vec<(TraceId, Buffered)>) {
        let mut state = self.state.lock().expect("sampler lock");
        for (id, trace) in traces {
            state.spans += trace.spans.len();
            match state.traces.get_mut(&id) {
                // More spans arrived meanwhile: one entry holds both.
                Some(newer) => {
                    newer.spans.extend(trace.spans);
                    newer.logs.extend(trace.logs);
                    let mut records = trace.records;
                    records.extend(newer.records.iter().copied());
                    records.sort_unstable();
                    // A record counted once per trace: the two entries each counted it.
                    let mut deduped: Vec<u64> = Vec::with_capacity(records.len());
                    for seq in records {
                        if deduped.last() == Some(&seq) {
                            let head = state.head;
                            if let Slot::Pending(n) = &mut state.slots[(seq - head) as usize] {
                                *n -= 1;
                            }
                        } else {
                            deduped.push(seq);
                        }
                    }
                    let newer = state.traces.get_mut(&id).expect("present");
                    newer.records = deduped;
                    newer.first_seen = newer.first_seen.min(trace.first_seen);
                }
                None => {
                    state.traces.insert(id, trace);
                }
            }
        }
    }

    /// Marks traces settled; returns how many records at the head of the hold log are done
    /// with (and whether the first of them is an unreadable one to set aside).
    fn settle(&self, records: impl IntoIterator<Item = u64>) -> (usize, bool) {
        let mut state = self.state.lock().expect("sampler lock");
        let head = state.head;
        for seq in records {
            if let Some(Slot::Pending(n)) = state.slots.get_mut((seq - head) as usize) {
                *n = n.saturating_sub(1);
            }
        }
        match state.slots.front() {
            Some(Slot::Bad) => (1, true),
            _ => (state.slots.iter().take_while(|slot| **slot == Slot::Pending(0)).count(), false),
        }
    }

    /// Removes settled records from the head of the hold log.
    async fn trim(&self, mut done: (usize, bool)) {
        while done.0 > 0 {
            let (n, bad) = done;
            let log = self.log.clone();
            let removed =
                tokio::task::spawn_blocking(move || if bad { log.set_aside().map(|_| ()) } else { log.remove(n) })
                    .await
                    .unwrap_or_else(|err| Err(SpoolError::Open { path: PathBuf::new(), source: Box::new(err) }));
            if let Err(err) = removed {
                // They will be decided again after a restart, at worst: writes are idempotent.
                tracing::error!(%err, "cannot remove decided records from the hold log");
                return;
            }
            let mut state = self.state.lock().expect("sampler lock");
            state.slots.drain(..n);
            state.head += n as u64;
            drop(state);
            done = self.settle(std::iter::empty());
        }
    }

    /// Adaptive mode: the factor after reading the pipeline's pressure (at most once a tick).
    fn adapt(&self, shared: &Shared) -> f64 {
        let factor = f64::from_bits(self.factor.load(Ordering::Relaxed));
        let Some(adaptive) = &self.config.adaptive else { return factor };
        let pressure = Pressure {
            queue: shared.pace.queued() as f64 / shared.queue_capacity.max(1) as f64,
            hold: self.log.bytes() as f64 / self.log.max_bytes().max(1) as f64,
            write_seconds: shared.pace.batch_seconds().max(f64::from_bits(self.store_seconds.load(Ordering::Relaxed))),
        };
        let factor = adaptive.next_factor(factor, &pressure);
        self.factor.store(factor.to_bits(), Ordering::Relaxed);
        metrics::gauge!("semtrace_sampling_adaptive_factor").set(factor);
        factor
    }
}

/// What adaptive mode reads: the write queue's and the hold log's use (0–1), and the smoothed
/// seconds a batch write takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    pub queue: f64,
    pub hold: f64,
    pub write_seconds: f64,
}

impl AdaptiveConfig {
    /// Halved (to `min_factor` at least) while the queue or the hold log is 80 % full or writes
    /// take longer than the target; grown by half (to 1 at most) once all are under 40 % of it.
    pub fn next_factor(&self, factor: f64, pressure: &Pressure) -> f64 {
        let writes = pressure.write_seconds / self.target_write_seconds.max(1e-9) * 0.8;
        let level = pressure.queue.max(pressure.hold).max(writes);
        if level >= 0.8 {
            (factor / 2.0).max(self.min_factor)
        } else if level < 0.4 {
            (factor * 1.5).min(1.0)
        } else {
            factor
        }
    }
}

/// Grows `slots` so that `at` is an index, with open slots.
fn fill(slots: &mut VecDeque<Slot>, at: usize) {
    while slots.len() <= at {
        slots.push_back(Slot::Open);
    }
}

/// Decisions remembered for spans that arrive after their trace was decided.
#[derive(Default)]
struct Decisions {
    map: HashMap<TraceId, Decision>,
    order: VecDeque<(Instant, TraceId)>,
}

impl Decisions {
    fn get(&self, id: &TraceId) -> Option<&Decision> {
        self.map.get(id)
    }

    fn insert(&mut self, id: TraceId, decision: Decision, now: Instant) {
        if self.map.insert(id, decision).is_none() {
            self.order.push_back((now, id));
        }
        while let Some((at, oldest)) = self.order.front().copied() {
            if self.order.len() <= DECISIONS_KEPT && now.saturating_duration_since(at) < DECISION_MEMORY {
                break;
            }
            self.order.pop_front();
            self.map.remove(&oldest);
        }
    }
}

/// The decider: decides due traces until told to stop (what is still held stays in the hold
/// log for the next start).
pub(crate) async fn run(shared: Arc<Shared>, sampler: Arc<Sampler>, mut stop: watch::Receiver<bool>) {
    let mut policy = match Policy::new(sampler.config.policy.clone()) {
        Ok(policy) => policy,
        Err(err) => {
            // Checked when the configuration loads; here only a caller's own config can fail.
            tracing::error!(%err, "the sampling policy is invalid; every trace is kept");
            Policy::new(PolicyConfig { normal_rate: 1.0, ..PolicyConfig::default() }).expect("valid")
        }
    };
    let mut decisions = Decisions::default();
    let tick = (sampler.config.decision_wait / 4).clamp(Duration::from_millis(20), Duration::from_millis(500));
    let mut retry_at: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = sampler.wake.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        let now = Instant::now();
        if retry_at.is_some_and(|at| now < at) {
            continue;
        }
        let factor = sampler.adapt(&shared);
        retry_at = decide_due(&shared, &sampler, &mut policy, &mut decisions, factor).await.then(|| now + RETRY_WAIT);
        if !sampler.active && sampler.log.is_empty() {
            tracing::info!("the traces an earlier run held for sampling are all written");
            break;
        }
    }
}

/// One round: decides what is due, writes what is kept. Returns whether a write failed.
async fn decide_due(
    shared: &Shared,
    sampler: &Sampler,
    policy: &mut Policy,
    decisions: &mut Decisions,
    factor: f64,
) -> bool {
    let now = Instant::now();
    let due = sampler.take_due(now, decisions);
    let mut kept = Vec::new();
    let mut batch = Batch::default();
    let mut dropped_records = Vec::new();
    for (id, trace) in due {
        let decision = match decisions.get(&id) {
            Some(decision) => {
                metrics::counter!("semtrace_sampling_late_spans_total").increment(trace.spans.len() as u64);
                *decision
            }
            None => {
                let decision = policy.decide(&id, &trace.spans, &trace.logs, factor);
                decisions.insert(id, decision, now);
                count(sampler, &decision);
                decision
            }
        };
        if decision.keep || sampler.config.dry_run {
            // Copies are written, so a failed write puts the trace back as it came.
            batch.spans.extend(trace.spans.iter().map(|span| {
                let mut span = span.clone();
                if !sampler.config.dry_run {
                    span.attributes.push(RATE_ATTRIBUTE, AnyValue::Double(decision.rate));
                    span.attributes.push(REASON_ATTRIBUTE, AnyValue::String(decision.reason.as_str().into()));
                }
                span
            }));
            batch.logs.extend(trace.logs.iter().cloned());
            kept.push((id, trace));
        } else {
            sampler.counts.dropped_spans.fetch_add(trace.spans.len() as u64, Ordering::Relaxed);
            metrics::counter!("semtrace_sampling_spans_total", "decision" => "dropped")
                .increment(trace.spans.len() as u64);
            dropped_records.extend(trace.records);
        }
    }
    let mut failed = false;
    let mut settled = dropped_records;
    if !batch.is_empty() {
        let n_spans = batch.spans.len();
        let started = Instant::now();
        let delivered = batcher::deliver_to_store(shared, &mut batch).await;
        crate::pace::smooth(&sampler.store_seconds, started.elapsed().as_secs_f64(), 0.3);
        match delivered {
            Ok(()) => {
                sampler.counts.kept_spans.fetch_add(n_spans as u64, Ordering::Relaxed);
                metrics::counter!("semtrace_sampling_spans_total", "decision" => "kept").increment(n_spans as u64);
                settled.extend(kept.into_iter().flat_map(|(_, trace)| trace.records));
            }
            Err(err) => {
                // Still held: written on a later round (the decisions are remembered).
                tracing::warn!(%err, spans = n_spans, "kept traces could not be written; they stay held");
                sampler.put_back(kept);
                failed = true;
            }
        }
    }
    let done = sampler.settle(settled);
    sampler.trim(done).await;
    let status = sampler.status();
    metrics::gauge!("semtrace_sampling_buffered_traces").set(status.buffered_traces as f64);
    metrics::gauge!("semtrace_sampling_buffered_spans").set(status.buffered_spans as f64);
    failed
}

fn count(sampler: &Sampler, decision: &Decision) {
    let label = match (decision.keep, sampler.config.dry_run) {
        (true, _) => "kept",
        (false, false) => "dropped",
        (false, true) => "would_drop",
    };
    let reason = if decision.rate_limited { "rate_limited" } else { decision.reason.as_str() };
    metrics::counter!("semtrace_sampling_traces_total", "decision" => label, "reason" => reason).increment(1);
    let counter = if decision.keep { &sampler.counts.kept_traces } else { &sampler.counts.dropped_traces };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_mode_halves_under_pressure_to_its_floor_and_recovers_after() {
        let adaptive = AdaptiveConfig { min_factor: 0.05, target_write_seconds: 0.5 };
        let calm = Pressure { queue: 0.1, hold: 0.0, write_seconds: 0.05 };
        let mut factor = 1.0;
        for (pressure, expected) in [
            (Pressure { queue: 0.9, ..calm }, 0.5),
            (Pressure { hold: 0.85, ..calm }, 0.25),
            (Pressure { write_seconds: 0.6, ..calm }, 0.125),
            (Pressure { queue: 0.95, ..calm }, 0.0625),
            (Pressure { queue: 0.95, ..calm }, 0.05),
            // Between the marks: held where it is.
            (Pressure { queue: 0.6, ..calm }, 0.05),
            (calm, 0.075),
        ] {
            factor = adaptive.next_factor(factor, &pressure);
            assert!((factor - expected).abs() < 1e-9, "{pressure:?}: {factor} != {expected}");
        }
        for _ in 0..20 {
            factor = adaptive.next_factor(factor, &calm);
        }
        assert_eq!(factor, 1.0, "restored once the pressure is gone");
    }
}
