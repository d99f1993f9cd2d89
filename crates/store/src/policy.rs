//! How the stores answer searches, decided once for every backend. A backend answers only
//! narrow questions (which templates have spans of a service, which failed, the newest spans of
//! one template under a filter, the rows whose text holds all or any of some words); what to ask,
//! in which order, and when to stop lives here.

use std::collections::HashSet;
use std::hash::Hash;

use crate::SpanFilter;

/// The OTLP status code of an error (`STATUS_CODE_ERROR`), as the stores keep it in a column.
pub const STATUS_ERROR: i32 = 2;

/// How many spans of each trace a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerTrace {
    /// The first span found of each trace (results grouped by trace): `max` counts traces.
    OneSpan,
    /// Every span found: `max` counts spans.
    EverySpan,
}

/// Whether the spans' outcome matters to `filter`, so that templates of the wrong outcome can
/// be skipped: the caller then passes the failed templates to [`prune_templates`].
pub fn needs_failed_templates(filter: &SpanFilter) -> bool {
    filter.status.is_some() || filter.failed.is_some()
}

/// The templates, in the order given, that can hold spans `filter` accepts: of its service
/// (`of_service`: templates with spans of it, when the filter names one) and of the outcome it
/// wants (`failed`: the failed templates, when [`needs_failed_templates`]). The rest are
/// skipped rather than scanned.
pub fn prune_templates(
    template_ids: &[i64],
    filter: &SpanFilter,
    of_service: Option<&HashSet<i64>>,
    failed: Option<&HashSet<i64>>,
) -> Vec<i64> {
    let wanted_failed = filter.failed.unwrap_or(filter.status == Some(semtrace_model::StatusCode::Error));
    template_ids
        .iter()
        .copied()
        .filter(|id| {
            of_service.is_none_or(|set| set.contains(id)) && failed.is_none_or(|set| set.contains(id) == wanted_failed)
        })
        .collect()
}

/// Spans read per template while collecting `max` traces: a template's spans may crowd into
/// few traces, so a few per wanted trace.
pub fn spans_per_template(max: usize) -> usize {
    (max * 4).max(16)
}

/// Collects spans, template by template and newest first within each, until `max` traces (or
/// spans, per [`PerTrace`]) are found.
#[derive(Debug)]
pub struct Collector<Trace, Key> {
    per_trace: PerTrace,
    max: usize,
    traces: HashSet<Trace>,
    chosen: Vec<Key>,
}

impl<Trace: Eq + Hash, Key> Collector<Trace, Key> {
    pub fn new(per_trace: PerTrace, max: usize) -> Self {
        Collector { per_trace, max, traces: HashSet::new(), chosen: Vec::new() }
    }

    /// Offers the next span found; true once enough are collected (stop offering).
    pub fn offer(&mut self, trace: Trace, key: Key) -> bool {
        let new_trace = self.traces.insert(trace);
        if new_trace || self.per_trace == PerTrace::EverySpan {
            self.chosen.push(key);
        }
        self.is_full()
    }

    pub fn is_full(&self) -> bool {
        let found = match self.per_trace {
            PerTrace::OneSpan => self.traces.len(),
            PerTrace::EverySpan => self.chosen.len(),
        };
        found >= self.max
    }

    /// The spans chosen, in the order offered.
    pub fn into_chosen(self) -> Vec<Key> {
        self.chosen
    }
}

/// Which words a full-text round asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    All,
    Any,
}

/// The rounds of a full-text search over `words`, in order: every word first; when nothing has
/// them all, any word (ranked, so rows with more of them come first). Stop at the first round
/// that finds something. One word needs one round.
pub fn word_rounds(words: &[String]) -> &'static [Words] {
    if words.len() < 2 {
        &[Words::All]
    } else {
        &[Words::All, Words::Any]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_of_another_service_or_outcome_are_skipped_in_order() {
        let of_service: HashSet<i64> = [1, 2, 3].into();
        let failed: HashSet<i64> = [2, 4].into();
        let open = SpanFilter::default();
        assert_eq!(prune_templates(&[4, 3, 2, 1], &open, None, None), vec![4, 3, 2, 1]);
        assert_eq!(prune_templates(&[4, 3, 2, 1], &open, Some(&of_service), None), vec![3, 2, 1]);
        let failures = SpanFilter { failed: Some(true), ..Default::default() };
        assert!(needs_failed_templates(&failures) && !needs_failed_templates(&open));
        assert_eq!(prune_templates(&[4, 3, 2, 1], &failures, Some(&of_service), Some(&failed)), vec![2]);
        let healthy = SpanFilter { failed: Some(false), ..Default::default() };
        assert_eq!(prune_templates(&[4, 3, 2, 1], &healthy, None, Some(&failed)), vec![3, 1]);
        let errors = SpanFilter { status: Some(semtrace_model::StatusCode::Error), ..Default::default() };
        assert_eq!(prune_templates(&[4, 3, 2, 1], &errors, None, Some(&failed)), vec![4, 2]);
        let ok = SpanFilter { status: Some(semtrace_model::StatusCode::Ok), ..Default::default() };
        assert_eq!(prune_templates(&[4, 3, 2, 1], &ok, None, Some(&failed)), vec![3, 1]);
    }

    #[test]
    fn the_collector_counts_traces_or_spans() {
        let mut one = Collector::new(PerTrace::OneSpan, 2);
        assert!(!one.offer("a", 1));
        assert!(!one.offer("a", 2), "a second span of a trace is not taken");
        assert!(one.offer("b", 3));
        assert_eq!(one.into_chosen(), vec![1, 3]);
        let mut every = Collector::new(PerTrace::EverySpan, 2);
        assert!(!every.offer("a", 1));
        assert!(every.offer("a", 2));
        assert_eq!(every.into_chosen(), vec![1, 2]);
        assert_eq!(spans_per_template(2), 16);
        assert_eq!(spans_per_template(10), 40);
    }

    #[test]
    fn all_words_first_then_any_word() {
        let words = |list: &[&str]| list.iter().map(|word| word.to_string()).collect::<Vec<_>>();
        assert_eq!(word_rounds(&words(&["timeout"])), &[Words::All]);
        assert_eq!(word_rounds(&words(&["database", "timeout"])), &[Words::All, Words::Any]);
        assert_eq!(word_rounds(&[]), &[Words::All]);
    }

    #[test]
    fn the_error_status_is_otlps() {
        assert_eq!(STATUS_ERROR, semtrace_model::StatusCode::Error.to_otlp());
    }
}
