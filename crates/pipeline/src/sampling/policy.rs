//! Which traces a tail-sampling policy keeps, and at what rate.
//!
//! A trace is read whole (every span and log record buffered for it) and gets one rate, the
//! first rule that applies:
//! 1. **error**: a span with status error, an exception event, a log line of WARN or above
//!    attached to a span, or a log record of WARN or above about the trace: `error_events`;
//! 2. **attribute**: a span or resource attribute named by an attribute rule (and equal to its
//!    value, when the rule gives one): the rule's rate;
//! 3. **slow**: the root span took at least `slow_threshold`, or at least the `slow_percentile`
//!    of its operation's recent durations: `slow_spans`;
//! 4. **operation** / **service**: the root span's name matches an operation pattern, or its
//!    service has a rate: that rate (health checks get 0.01);
//! 5. **normal**: `normal_spans`.
//!
//! The rates of 4 and 5 are multiplied by the adaptive factor while the pipeline is under
//! pressure; error, attribute and slow rates never are. A trace's importance from its configured
//! attribute weights (`importance.attributes`, the weights the store's importance reads too) is
//! a floor under its rate: a trace weighing 0.8 is kept at least 80 % of the time. The draw is consistent: a trace is kept
//! when a hash of its id falls below the rate, so every span of it, whenever it arrives, and a
//! restarted semtrace deciding it again, get the same answer. `max_traces_per_sec`, when set,
//! caps the traces kept per second by every rule but the error rule (a token bucket).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use semtrace_model::{LogRecord, Span, TraceId};

/// What a policy says of traces.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    pub error_rate: f64,
    pub slow_rate: f64,
    pub normal_rate: f64,
    /// A root span at least this long (nanoseconds) makes the trace slow; 0: no threshold.
    pub slow_threshold_nanos: u64,
    /// A root span at least this quantile of its operation's recent durations makes the trace
    /// slow (once the operation has [`MIN_SAMPLES`]); `None`: only the threshold.
    pub slow_percentile: Option<f64>,
    /// Service name → rate (for the root span's service).
    pub services: Vec<(String, f64)>,
    /// Operation pattern (`*` matches any text) → rate (for the root span's name).
    pub operations: Vec<(String, f64)>,
    pub attributes: Vec<AttributeRule>,
    /// Traces kept per second at most, errors aside; `None`: no limit.
    pub max_traces_per_sec: Option<f64>,
    /// Attribute weights of a trace's importance: a floor under its rate.
    pub importance: Vec<semtrace_store::importance::AttributeWeight>,
}

impl Default for PolicyConfig {
    /// The seeds' rates: every error trace, 80 % of slow ones, 5 % of the rest.
    fn default() -> Self {
        PolicyConfig {
            error_rate: 1.0,
            slow_rate: 0.8,
            normal_rate: 0.05,
            slow_threshold_nanos: 1_000_000_000,
            slow_percentile: Some(0.99),
            services: Vec::new(),
            operations: Vec::new(),
            attributes: Vec::new(),
            max_traces_per_sec: None,
            importance: Vec::new(),
        }
    }
}

/// Traces with a span (or resource) attribute `key`, equal to `value` when given, get `rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRule {
    pub key: String,
    pub value: Option<String>,
    pub rate: f64,
}

/// Why a trace got its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Error,
    Attribute,
    Slow,
    Operation,
    Service,
    Normal,
    /// Kept at its importance, above what its rule gave.
    Importance,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Error => "error",
            Reason::Attribute => "attribute",
            Reason::Slow => "slow",
            Reason::Operation => "operation",
            Reason::Service => "service",
            Reason::Normal => "normal",
            Reason::Importance => "importance",
        }
    }
}

/// A trace's decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub keep: bool,
    /// The probability the trace had of being kept; a kept trace stands for `1 / rate` traces.
    pub rate: f64,
    pub reason: Reason,
    /// Kept by its rate but refused by `max_traces_per_sec`.
    pub rate_limited: bool,
}

/// Operations with fewer recent durations than this are judged by the threshold alone.
pub const MIN_SAMPLES: usize = 100;
/// Recent durations kept per operation.
const WINDOW: usize = 512;
/// Operations tracked at most (beyond, new ones are judged by the threshold alone).
const MAX_OPERATIONS: usize = 10_000;
/// The quantile is recomputed after this many new durations.
const RECOMPUTE_EVERY: u32 = 32;

/// A policy and what it remembers: recent durations per operation, the rate limit's tokens.
/// Owned by the decider (one task), so it needs no lock.
pub struct Policy {
    config: PolicyConfig,
    operations: Vec<(regex::Regex, f64)>,
    durations: HashMap<(String, String), Durations>,
    bucket: Option<TokenBucket>,
}

impl Policy {
    pub fn new(config: PolicyConfig) -> Result<Policy, String> {
        for (what, rate) in [
            ("error_events", config.error_rate),
            ("slow_spans", config.slow_rate),
            ("normal_spans", config.normal_rate),
        ]
        .into_iter()
        .chain(config.services.iter().map(|(name, rate)| (name.as_str(), *rate)))
        .chain(config.operations.iter().map(|(name, rate)| (name.as_str(), *rate)))
        .chain(config.attributes.iter().map(|rule| (rule.key.as_str(), rule.rate)))
        .chain(config.importance.iter().map(|rule| (rule.key.as_str(), rule.weight)))
        {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("the sampling rate of {what} is {rate}; rates are between 0 and 1"));
            }
        }
        if let Some(quantile) = config.slow_percentile {
            if !(0.5..1.0).contains(&quantile) {
                return Err(format!("slow_percentile is {quantile}; write a quantile from 0.5 to 0.999"));
            }
        }
        let operations = config
            .operations
            .iter()
            .map(|(pattern, rate)| {
                let regex = format!("(?i)^{}$", regex::escape(pattern).replace(r"\*", ".*"));
                regex::Regex::new(&regex).map(|regex| (regex, *rate)).map_err(|err| format!("{pattern}: {err}"))
            })
            .collect::<Result<_, _>>()?;
        let bucket = match config.max_traces_per_sec {
            Some(rate) if rate > 0.0 => Some(TokenBucket::new(rate)),
            Some(rate) => return Err(format!("max_traces_per_sec is {rate}; write a positive number")),
            None => None,
        };
        Ok(Policy { config, operations, durations: HashMap::new(), bucket })
    }

    /// Decides a whole trace: `factor` (0–1] scales the operation, service and normal rates.
    pub fn decide(&mut self, trace_id: &TraceId, spans: &[Span], logs: &[LogRecord], factor: f64) -> Decision {
        let (mut rate, mut reason) = self.rate(spans, logs, factor);
        if !self.config.importance.is_empty() {
            let weights =
                spans.iter().map(|span| semtrace_store::importance::attribute_weight(span, &self.config.importance));
            let importance = semtrace_store::importance::combine(weights);
            if importance > rate {
                (rate, reason) = (importance, Reason::Importance);
            }
        }
        let keep = draw(trace_id) < rate;
        let mut decision = Decision { keep, rate, reason, rate_limited: false };
        if keep && reason != Reason::Error {
            if let Some(bucket) = &mut self.bucket {
                if !bucket.take(Instant::now()) {
                    decision.keep = false;
                    decision.rate_limited = true;
                }
            }
        }
        decision
    }

    fn rate(&mut self, spans: &[Span], logs: &[LogRecord], factor: f64) -> (f64, Reason) {
        let config = &self.config;
        if spans.iter().any(span_failed) || logs.iter().any(semtrace_summary::log_is_severe) {
            return (config.error_rate, Reason::Error);
        }
        for rule in &config.attributes {
            if spans
                .iter()
                .any(|span| semtrace_store::importance::has_attribute(span, &rule.key, rule.value.as_deref()))
            {
                return (rule.rate, Reason::Attribute);
            }
        }
        let Some(root) = root(spans) else {
            // Only log records: nothing to judge their latency or operation by.
            return (config.normal_rate * factor, Reason::Normal);
        };
        let duration = root.duration_nanos();
        let key = (root.service_name().to_owned(), root.name.clone());
        let slow_by_threshold = config.slow_threshold_nanos > 0 && duration >= config.slow_threshold_nanos;
        let slow_by_quantile = match config.slow_percentile {
            Some(quantile) => self.record_duration(key, duration, quantile),
            None => false,
        };
        if slow_by_threshold || slow_by_quantile {
            return (self.config.slow_rate, Reason::Slow);
        }
        if let Some((_, rate)) = self.operations.iter().find(|(pattern, _)| pattern.is_match(&root.name)) {
            return (rate * factor, Reason::Operation);
        }
        let service = root.service_name();
        if let Some((_, rate)) = self.config.services.iter().find(|(name, _)| name == service) {
            return (rate * factor, Reason::Service);
        }
        (self.config.normal_rate * factor, Reason::Normal)
    }

    /// Whether `duration` reaches the operation's recent `quantile` (judged before it is added).
    fn record_duration(&mut self, key: (String, String), duration: u64, quantile: f64) -> bool {
        if !self.durations.contains_key(&key) && self.durations.len() >= MAX_OPERATIONS {
            return false;
        }
        let durations = self.durations.entry(key).or_default();
        let slow = durations.threshold(quantile).is_some_and(|threshold| duration >= threshold);
        durations.push(duration);
        slow
    }
}

/// Whether a span says it failed: status error, an exception event, or a log line of WARN or
/// above attached to it (services often log a failure and answer normally).
pub fn span_failed(span: &Span) -> bool {
    span.is_error()
        || span.events.iter().any(|event| event.name == "exception")
        || semtrace_summary::failure_logged(span)
}

/// The trace's root: the span without a parent, else (a partial trace) the longest.
fn root(spans: &[Span]) -> Option<&Span> {
    spans
        .iter()
        .find(|span| span.parent_span_id.is_none())
        .or_else(|| spans.iter().max_by_key(|span| span.duration_nanos()))
}

/// A number in [0, 1) from the trace id, the same for every span of the trace and every run.
/// Mixed (not the id's raw bits) because not every id is random: imports and some tracers
/// number traces.
pub fn draw(trace_id: &TraceId) -> f64 {
    let bytes = trace_id.as_bytes();
    let high = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let low = u64::from_be_bytes(bytes[8..].try_into().expect("8 bytes"));
    let mixed = splitmix(splitmix(high) ^ low);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An operation's recent durations and the quantile last computed from them.
#[derive(Default)]
struct Durations {
    recent: VecDeque<u64>,
    since_computed: u32,
    computed: Option<(f64, u64)>,
}

impl Durations {
    fn push(&mut self, duration: u64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(duration);
        self.since_computed += 1;
    }

    fn threshold(&mut self, quantile: f64) -> Option<u64> {
        if self.recent.len() < MIN_SAMPLES {
            return None;
        }
        let stale = self.since_computed >= RECOMPUTE_EVERY;
        match self.computed {
            Some((q, threshold)) if q == quantile && !stale => Some(threshold),
            _ => {
                let mut sorted: Vec<u64> = self.recent.iter().copied().collect();
                sorted.sort_unstable();
                let at = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1;
                // Strictly above the durations most calls take: an operation whose calls all
                // take the same time has no slow ones.
                let threshold = sorted[at].saturating_add(1).max(sorted[at]);
                self.computed = Some((quantile, threshold));
                self.since_computed = 0;
                Some(threshold)
            }
        }
    }
}

/// At most `rate` takes per second, with a second's burst.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        TokenBucket { rate, tokens: rate.max(1.0), at: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use semtrace_model::{AnyValue, Event, Resource, Status, StatusCode};
    use semtrace_store::conformance::{rich_trace, trace_id};

    use super::*;

    /// A healthy root span of `service` named `name`, lasting `millis`.
    fn span(trace: u64, name: &str, service: &str, millis: u64) -> Span {
        let mut span = rich_trace(trace).swap_remove(0);
        let mut resource = Resource::default();
        resource.attributes.push("service.name", AnyValue::String(service.into()));
        span.resource = Arc::new(resource);
        span.name = name.into();
        span.status = Status::default();
        span.events.clear();
        span.end_time_unix_nano = span.start_time_unix_nano + millis * 1_000_000;
        span
    }

    fn no_quantile() -> PolicyConfig {
        PolicyConfig { slow_percentile: None, ..PolicyConfig::default() }
    }

    #[test]
    fn the_draw_is_uniform_and_the_normal_share_follows_the_rate() {
        let mut policy = Policy::new(no_quantile()).unwrap();
        let kept = (0..20_000u64)
            .filter(|n| policy.decide(&trace_id(*n), &[span(*n, "GET /x", "a", 5)], &[], 1.0).keep)
            .count();
        // 5 % of 20,000 = 1,000; a binomial's standard deviation is ~31.
        assert!((880..1120).contains(&kept), "{kept}");
        let halved = (0..20_000u64)
            .filter(|n| policy.decide(&trace_id(*n), &[span(*n, "GET /x", "a", 5)], &[], 0.5).keep)
            .count();
        assert!((420..580).contains(&halved), "{halved}");
    }

    #[test]
    fn every_failure_shape_is_kept_whatever_the_factor() {
        let mut policy = Policy::new(PolicyConfig { normal_rate: 0.0, ..no_quantile() }).unwrap();
        let mut status = span(1, "GET /x", "a", 5);
        status.status = Status { code: StatusCode::Error, message: "boom".into() };
        let mut exception = span(2, "GET /x", "a", 5);
        exception.events.push(Event {
            time_unix_nano: 1,
            name: "exception".into(),
            attributes: Default::default(),
            dropped_attributes_count: 0,
        });
        let mut logged = span(3, "GET /x", "a", 5);
        let mut attributes = semtrace_model::Attributes::default();
        attributes.push("level", AnyValue::String("ERROR".into()));
        attributes.push("message", AnyValue::String("[getThing][Get Thing Failed]".into()));
        logged.events.push(Event { time_unix_nano: 1, name: "log".into(), attributes, dropped_attributes_count: 0 });
        for (n, span) in [status, exception, logged].into_iter().enumerate() {
            let decision = policy.decide(&span.trace_id.clone(), &[span], &[], 0.001);
            assert!(decision.keep && decision.reason == Reason::Error, "{n}: {decision:?}");
        }
    }

    #[test]
    fn rules_apply_in_order_slow_by_threshold_and_by_the_operations_own_quantile() {
        let config = PolicyConfig {
            normal_rate: 0.0,
            slow_rate: 1.0,
            slow_threshold_nanos: 2_000_000_000,
            slow_percentile: Some(0.99),
            operations: vec![("GET /health*".into(), 0.0)],
            services: vec![("billing".into(), 1.0)],
            attributes: vec![AttributeRule { key: "tenant".into(), value: Some("gold".into()), rate: 1.0 }],
            ..PolicyConfig::default()
        };
        let mut policy = Policy::new(config).unwrap();
        let decide = |policy: &mut Policy, span: Span| policy.decide(&span.trace_id.clone(), &[span], &[], 1.0);
        assert_eq!(decide(&mut policy, span(1, "GET /healthz", "billing", 5)).reason, Reason::Operation);
        assert_eq!(decide(&mut policy, span(2, "GET /pay", "billing", 5)).reason, Reason::Service);
        let slow = decide(&mut policy, span(3, "GET /healthz", "a", 2500));
        assert!(slow.keep && slow.reason == Reason::Slow, "{slow:?}");
        let mut gold = span(4, "GET /x", "a", 5);
        gold.attributes.push("tenant", AnyValue::String("gold".into()));
        assert_eq!(decide(&mut policy, gold).reason, Reason::Attribute);
        // The operation's own latency: 100 ms calls, then one of 400 ms (far under 2 s).
        for n in 0..200 {
            assert_eq!(decide(&mut policy, span(100 + n, "GET /list", "a", 100)).reason, Reason::Normal);
        }
        assert_eq!(decide(&mut policy, span(400, "GET /list", "a", 400)).reason, Reason::Slow);
    }

    #[test]
    fn the_rate_limit_caps_kept_traces_but_never_errors() {
        let config = PolicyConfig { normal_rate: 1.0, max_traces_per_sec: Some(10.0), ..no_quantile() };
        let mut policy = Policy::new(config).unwrap();
        let kept =
            (0..100u64).filter(|n| policy.decide(&trace_id(*n), &[span(*n, "a", "a", 1)], &[], 1.0).keep).count();
        assert!((10..=12).contains(&kept), "{kept}");
        let mut failed = span(1000, "a", "a", 1);
        failed.status.code = StatusCode::Error;
        assert!(policy.decide(&trace_id(1000), &[failed], &[], 1.0).keep);
    }

    #[test]
    fn importance_weights_are_a_floor_under_the_rate() {
        let gold = semtrace_store::importance::AttributeWeight {
            key: "tenant.tier".into(),
            value: Some("gold".into()),
            weight: 0.8,
        };
        let mut policy = Policy::new(PolicyConfig { importance: vec![gold], ..no_quantile() }).unwrap();
        let (mut gold_kept, mut plain_kept) = (0, 0);
        for n in 0..2000u64 {
            let mut span = span(n, "GET /x", "a", 5);
            if n % 2 == 0 {
                span.attributes.push("tenant.tier", AnyValue::String("gold".into()));
                let decision = policy.decide(&trace_id(n), &[span], &[], 1.0);
                assert_eq!((decision.rate, decision.reason), (0.8, Reason::Importance));
                gold_kept += usize::from(decision.keep);
            } else {
                plain_kept += usize::from(policy.decide(&trace_id(n), &[span], &[], 1.0).keep);
            }
        }
        assert!((720..880).contains(&gold_kept), "{gold_kept} of 1000 at 0.8");
        assert!(plain_kept < 90, "{plain_kept} of 1000 at 0.05");
    }

    #[test]
    fn bad_rates_are_refused() {
        assert!(Policy::new(PolicyConfig { normal_rate: 1.5, ..PolicyConfig::default() }).is_err());
        assert!(Policy::new(PolicyConfig { slow_percentile: Some(1.0), ..PolicyConfig::default() }).is_err());
    }
}
