//! How much a trace deserves a look, from 0 to 1, decided by the store as its spans are written
//! and kept with the trace: a failed span (0.5), a span slow for its operation (0.3: at least
//! [`SLOW_FACTOR`] times the operation's typical duration, once it has [`MIN_SPANS`]; with
//! latencies log-normal and spread as services' usually are, that is about their p95), a span
//! whose template the store had never seen (0.3), and the weights of configured attributes
//! ([`AttributeWeight`], `importance.attributes`). Signals combine as independent chances
//! (1 − Π(1 − s)); a trace written in several batches keeps its highest. Search ranks results of
//! equal score by it.

use std::collections::HashMap;

use crate::row::SpanRow;

pub const FAILED: f64 = 0.5;
pub const SLOW: f64 = 0.3;
pub const NOVEL: f64 = 0.3;
/// A span this many times its operation's typical duration is slow for it.
pub const SLOW_FACTOR: f64 = 3.0;
/// Spans an operation needs before its typical duration is trusted.
pub const MIN_SPANS: i64 = 20;

/// One span's signals (its attributes' weight was read when it was encoded).
pub fn of_span(row: &SpanRow, typical_ns: Option<f64>, novel: bool) -> f64 {
    let duration = row.end_ns.saturating_sub(row.start_ns).max(0) as f64;
    let slow = typical_ns.is_some_and(|typical| typical > 0.0 && duration >= SLOW_FACTOR * typical);
    combine([
        if row.template_outcome.is_failure() { FAILED } else { 0.0 },
        if slow { SLOW } else { 0.0 },
        if novel { NOVEL } else { 0.0 },
        row.attribute_importance,
    ])
}

/// Spans with attribute `key` (a span's or its resource's), equal to `value` when given, weigh
/// `weight` (0–1): `{key: tenant.tier, value: gold, weight: 0.8}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeWeight {
    pub key: String,
    pub value: Option<String>,
    pub weight: f64,
}

/// The combined weight of the rules a span matches.
pub fn attribute_weight(span: &semtrace_model::Span, rules: &[AttributeWeight]) -> f64 {
    combine(rules.iter().filter(|rule| has_attribute(span, &rule.key, rule.value.as_deref())).map(|rule| rule.weight))
}

/// Whether the span (or its resource) has attribute `key`, equal to `value` when given (a
/// value that is not a string compared by its text form). Tail sampling's attribute rules
/// match the same way.
pub fn has_attribute(span: &semtrace_model::Span, key: &str, value: Option<&str>) -> bool {
    let found = span.attribute(key).or_else(|| span.resource.attributes.get(key));
    match (found, value) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(semtrace_model::AnyValue::String(text)), Some(wanted)) => text == wanted,
        (Some(other), Some(wanted)) => other.to_text() == wanted,
    }
}

/// Independent chances combined: 1 − Π(1 − s).
pub fn combine(signals: impl IntoIterator<Item = f64>) -> f64 {
    1.0 - signals.into_iter().fold(1.0, |rest, signal| rest * (1.0 - signal.clamp(0.0, 1.0)))
}

/// Each trace's importance from its spans' (`span(row)`), combined.
pub fn by_trace<'r>(rows: impl IntoIterator<Item = (&'r SpanRow, f64)>) -> HashMap<[u8; 16], f64> {
    let mut rest: HashMap<[u8; 16], f64> = HashMap::new();
    for (row, importance) in rows {
        *rest.entry(row.trace_id).or_insert(1.0) *= 1.0 - importance.clamp(0.0, 1.0);
    }
    rest.into_iter().map(|(trace, rest)| (trace, 1.0 - rest)).collect()
}

/// The typical duration (ns) of an operation from its stored count and sum of log durations,
/// once it has enough spans ([`crate::OperationBaseline::trusted_typical_ns`]).
pub fn typical_ns(spans: i64, log_duration_sum: f64) -> Option<f64> {
    crate::OperationBaseline::from_sums(spans, log_duration_sum)?.trusted_typical_ns()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_combine_as_independent_chances() {
        assert_eq!(combine([]), 0.0);
        assert!((combine([FAILED, NOVEL]) - 0.65).abs() < 1e-9);
        assert!(combine([FAILED, SLOW, NOVEL]) < 1.0);
        let spans = crate::conformance::rich_trace(1);
        let rows = crate::row::encode_batch(&spans, &crate::row::EncodeOptions::default());
        let failed = rows.iter().find(|row| row.template_outcome.is_failure()).unwrap();
        assert_eq!(of_span(failed, None, false), FAILED);
        let duration = (failed.end_ns - failed.start_ns) as f64;
        assert!(of_span(failed, Some(duration / 4.0), false) > FAILED, "slow too");
        assert_eq!(of_span(failed, Some(duration), false), FAILED, "not slow at its typical duration");
        assert_eq!(typical_ns(MIN_SPANS - 1, 100.0), None, "too few spans to trust");
        let gold = AttributeWeight { key: "http.route".into(), value: Some("/api/orders".into()), weight: 0.8 };
        let other = AttributeWeight { key: "http.route".into(), value: Some("/other".into()), weight: 0.8 };
        assert_eq!(attribute_weight(&spans[0], &[gold.clone(), other]), 0.8);
        let options = crate::row::EncodeOptions { importance: vec![gold].into(), ..Default::default() };
        let root = &crate::row::encode_batch(&spans, &options)[0];
        assert!((of_span(root, None, false) - combine([FAILED, 0.8])).abs() < 1e-9);
    }
}
