//! The log joiner: makes severe log records evidence of the span they name.
//!
//! A log record that carries a trace id and a span id and says something failed (WARN or above,
//! or an exception; `semtrace_summary::log_is_severe`) is stored waiting. The joiner reads waiting
//! records in passes; for each whose span is stored it summarises the span again with every
//! record joined to it (`semtrace_summary::summarize_with_logs`), so the span's template, and so
//! what search finds it by, says what the logs said. Spans and records arrive in either order
//! (batch exporters flush each signal on its own): a record waits until its span arrives, up to
//! the join window; past it the record is marked missed (it stays stored and searchable by
//! error search, but it is not span evidence). All state is in the store: a restart resumes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use semtrace_model::{SpanId, TraceId};
use semtrace_store::{JoinDecisions, PendingLog, Retemplate, Store, StoreError};

/// Waiting records read per store round trip.
const PAGE: usize = 1000;

/// How long a node leads the joining after its last pass began (at least four intervals).
const JOIN_LEASE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// How long a record waits for its span, counted from when it was stored.
    pub window: Duration,
    /// Pause between passes.
    pub interval: Duration,
}

impl Default for JoinConfig {
    fn default() -> Self {
        JoinConfig { window: Duration::from_secs(300), interval: Duration::from_millis(500) }
    }
}

/// What the joiner has done, for health.
#[derive(Debug, Default)]
pub struct JoinStatus {
    /// Records still waiting for their span after the last pass.
    pub waiting: AtomicU64,
    /// Records joined to their span since start.
    pub joined: AtomicU64,
    /// Records whose span did not arrive within the window, since start.
    pub missed: AtomicU64,
}

/// Runs passes until `stop` turns true. Store errors are logged and the pass retried later.
pub async fn run(
    store: Arc<dyn Store>,
    config: JoinConfig,
    status: Arc<JoinStatus>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Nodes sharing a store take turns: one leads the joining (its lease renewed every pass,
    // taken over by another node within `JOIN_LEASE` of its last pass).
    let lease = JOIN_LEASE.max(config.interval * 4);
    loop {
        match pass(&*store, &config, &status, lease).await {
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "joining log records to spans failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass over every waiting record, while this node leads the joining (asked before every
/// page, renewing its `lease`: a node that loses it stops, and says nothing waits here). Returns
/// how many joined.
pub async fn pass(
    store: &dyn Store,
    config: &JoinConfig,
    status: &JoinStatus,
    lease: Duration,
) -> Result<usize, StoreError> {
    let now = semtrace_store::now_ns();
    let window = i64::try_from(config.window.as_nanos()).unwrap_or(i64::MAX);
    let (mut after, mut waiting, mut joined_total) = (0i64, 0u64, 0usize);
    loop {
        if !store.lead("log_joiner", lease).await? {
            status.waiting.store(0, Ordering::Relaxed);
            return Ok(joined_total);
        }
        let page = store.pending_log_joins(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() == PAGE;
        let decisions = decide(store, page, now, window).await?;
        waiting += decisions.1;
        let decisions = decisions.0;
        if !(decisions.joined.is_empty() && decisions.missed.is_empty()) {
            store.finish_log_joins(&decisions).await?;
        }
        joined_total += decisions.joined.len();
        status.joined.fetch_add(decisions.joined.len() as u64, Ordering::Relaxed);
        status.missed.fetch_add(decisions.missed.len() as u64, Ordering::Relaxed);
        metrics::counter!("semtrace_logs_joined_total").increment(decisions.joined.len() as u64);
        metrics::counter!("semtrace_logs_join_missed_total").increment(decisions.missed.len() as u64);
        if !full {
            break;
        }
    }
    status.waiting.store(waiting, Ordering::Relaxed);
    metrics::gauge!("semtrace_logs_join_waiting").set(waiting as f64);
    Ok(joined_total)
}

/// The decisions about one page of waiting records, and how many still wait.
async fn decide(
    store: &dyn Store,
    page: Vec<PendingLog>,
    now: i64,
    window: i64,
) -> Result<(JoinDecisions, u64), StoreError> {
    // Records by trace, then by span; ordered so that decisions are deterministic.
    let mut by_trace: BTreeMap<TraceId, BTreeMap<SpanId, Vec<PendingLog>>> = BTreeMap::new();
    for pending in page {
        let Some((trace_id, span_id)) = pending.record.span_key() else { continue };
        by_trace.entry(trace_id).or_default().entry(span_id).or_default().push(pending);
    }
    let mut decisions = JoinDecisions::default();
    let mut waiting = 0;
    // Operations' trusted typical durations, read once a page.
    let mut typicals: std::collections::HashMap<(String, String), Option<f64>> = std::collections::HashMap::new();
    for (trace_id, spans) in by_trace {
        let trace = store.get_trace(trace_id).await?;
        for (span_id, records) in spans {
            let span = trace.as_ref().and_then(|trace| trace.spans.iter().find(|span| span.span_id == span_id));
            let Some(span) = span else {
                for record in records {
                    if now.saturating_sub(record.received_ns) > window {
                        decisions.missed.push(record.id);
                    } else {
                        waiting += 1;
                    }
                }
                continue;
            };
            // Every severe record about the span: those joined earlier and these.
            let logs = store.span_evidence(&[(trace_id, span_id)]).await?;
            let mut summary = semtrace_summary::summarize_with_logs(span, &logs);
            // A span slow for its operation keeps the slowness cue the store gave its template
            // (`SpanRow::slow_template`).
            let operation = (span.service_name().to_owned(), span.name.clone());
            let typical = match typicals.get(&operation) {
                Some(typical) => *typical,
                None => {
                    let baselines = store.operation_baselines(std::slice::from_ref(&operation)).await?;
                    let typical = baselines.get(&operation).and_then(|baseline| baseline.trusted_typical_ns());
                    typicals.insert(operation, typical);
                    typical
                }
            };
            if let Some(cued) = semtrace_store::row::slow_cued(&summary.template, span.duration_nanos() as f64, typical)
            {
                summary.template = cued;
            }
            decisions.spans.push(Retemplate {
                trace_id,
                span_id,
                start_ns: span.start_time_unix_nano,
                service: span.service_name().to_owned(),
                summary,
            });
            decisions.joined.extend(records.iter().map(|pending| pending.id));
        }
    }
    Ok((decisions, waiting))
}

#[cfg(test)]
mod tests {
    use semtrace_store::conformance::{log_about, logs_about, rich_trace};
    use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_joins_its_span_whichever_arrives_first_and_waits_no_longer_than_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let (status, config) = (JoinStatus::default(), JoinConfig::default());
        let spans = rich_trace(1);
        // The span's quiet sibling: status unset, so only its log record says it failed.
        let mut quiet = spans[2].clone();
        quiet.status = semtrace_model::Status::default();
        quiet.events.clear();
        let before = semtrace_summary::summarize(&quiet);
        store.write_logs(&logs_about(std::slice::from_ref(&quiet))).await.unwrap();
        assert_eq!(pass(&store, &config, &status, JOIN_LEASE).await.unwrap(), 0, "its span has not arrived");
        assert_eq!(status.waiting.load(Ordering::Relaxed), 1);

        store.write(std::slice::from_ref(&quiet)).await.unwrap();
        assert_eq!(pass(&store, &config, &status, JOIN_LEASE).await.unwrap(), 1);
        assert_eq!((status.waiting.load(Ordering::Relaxed), status.joined.load(Ordering::Relaxed)), (0, 1));
        let logs = store.span_evidence(&[(quiet.trace_id, quiet.span_id)]).await.unwrap();
        let after = semtrace_summary::summarize_with_logs(&quiet, &logs);
        assert!(!before.outcome.is_failure() && after.outcome.is_failure(), "{before:?} {after:?}");
        assert!(after.text.contains("Get Thing Failed"), "{}", after.text);
        let template = store.pending_templates(100).await.unwrap();
        assert!(template.iter().any(|template| template.text == after.template), "the span's new template is stored");

        // A record whose span never comes is given up on once the window has passed.
        let mut orphan = log_about(&spans[0], 17, "ERROR", "payment provider said no");
        orphan.span_id = Some(semtrace_store::conformance::span_id(999));
        store.write_logs(&[orphan]).await.unwrap();
        let short = JoinConfig { window: Duration::ZERO, ..JoinConfig::default() };
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(pass(&store, &short, &status, JOIN_LEASE).await.unwrap(), 0);
        assert_eq!((status.waiting.load(Ordering::Relaxed), status.missed.load(Ordering::Relaxed)), (0, 1));
        assert!(store.pending_log_joins(0, 10).await.unwrap().is_empty());
    }

    /// A span slow for its operation, stored under the template with the slowness cue, keeps
    /// the cue when a log record joins it and changes its template.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_span_keeps_its_slowness_cue_when_a_record_joins_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let (status, config) = (JoinStatus::default(), JoinConfig::default());
        let quick = |n: u64, millis: u64| {
            let mut span = rich_trace(n).remove(2);
            span.status = semtrace_model::Status::default();
            span.events.clear();
            span.end_time_unix_nano = span.start_time_unix_nano + millis * 1_000_000;
            span
        };
        let usual: Vec<_> = (1..=25).map(|n| quick(n, 2)).collect();
        store.write(&usual).await.unwrap();
        let slow = quick(30, 600);
        store.write(std::slice::from_ref(&slow)).await.unwrap();
        store.write_logs(&logs_about(std::slice::from_ref(&slow))).await.unwrap();
        assert_eq!(pass(&store, &config, &status, JOIN_LEASE).await.unwrap(), 1);
        let logs = store.span_evidence(&[(slow.trace_id, slow.span_id)]).await.unwrap();
        let joined = semtrace_summary::summarize_with_logs(&slow, &logs);
        assert!(joined.outcome.is_failure() && !semtrace_summary::is_slow(&joined.template), "{joined:?}");
        let cued = semtrace_summary::with_slow_cue(&joined.template).unwrap();
        let templates = store.pending_templates(1000).await.unwrap();
        let template = templates.iter().find(|template| template.text == cued).expect("the joined template, cued");
        let hits = store
            .spans_of_templates(
                &[template.id],
                &semtrace_store::SpanFilter::default(),
                10,
                semtrace_store::policy::PerTrace::EverySpan,
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].span.span_id, slow.span_id);
    }
}
