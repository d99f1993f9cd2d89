//! Tail sampling through the pipeline and a real store: every error trace kept whole, the
//! normal share kept at its rate with the rate recorded, late spans following their trace's
//! decision, held spans surviving a restart during `decision_wait`, dry runs keeping all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use semtrace_model::{AnyValue, Span, StatusCode, TraceId};
use semtrace_pipeline::sampling::{policy, AdaptiveConfig, PolicyConfig, RATE_ATTRIBUTE, REASON_ATTRIBUTE};
use semtrace_pipeline::{Pipeline, PipelineConfig, PipelineTask, SamplingConfig};
use semtrace_store::conformance::{log_about, rich_trace, trace_id};
use semtrace_store::Store;
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

/// A three-span trace with nothing failed in it.
fn healthy(n: u64) -> Vec<Span> {
    let mut spans = rich_trace(n);
    for span in &mut spans {
        span.status = Default::default();
        span.events.clear();
    }
    spans
}

/// A healthy trace whose only sign of failure is an ERROR log line on a child span (the
/// status unset, as services that log a failure and answer normally leave it).
fn logged_failure(n: u64) -> Vec<Span> {
    let mut spans = healthy(n);
    let mut attributes = semtrace_model::Attributes::default();
    attributes.push("log.severity", AnyValue::String("ERROR".into()));
    attributes.push("log.message", AnyValue::String("[getThing][Get Thing Failed][thingListResult is null]".into()));
    let time_unix_nano = spans[1].start_time_unix_nano + 10;
    spans[1].events.push(semtrace_model::Event {
        time_unix_nano,
        name: "log".into(),
        attributes,
        dropped_attributes_count: 0,
    });
    spans
}

fn config(dir: &std::path::Path, wait: Duration, policy: PolicyConfig) -> PipelineConfig {
    let mut sampling = SamplingConfig::new(dir.join("sampling"));
    sampling.decision_wait = wait;
    sampling.policy = policy;
    PipelineConfig { sampling: Some(sampling), ..PipelineConfig::default() }
}

fn policy(normal_rate: f64) -> PolicyConfig {
    PolicyConfig { normal_rate, slow_percentile: None, ..PolicyConfig::default() }
}

fn open_store(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(SqliteOptions::new(dir)).unwrap())
}

/// Waits until nothing is buffered and the hold log is empty.
async fn settled(pipeline: &Pipeline) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = pipeline.sampling_status().expect("sampling is on");
        if status.buffered_spans == 0 && status.hold_records == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not settled: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop(pipeline: Pipeline, task: PipelineTask) {
    drop(pipeline);
    task.shutdown().await;
}

fn rate_of(span: &Span) -> Option<f64> {
    match span.attribute(RATE_ATTRIBUTE) {
        Some(AnyValue::Double(rate)) => Some(*rate),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_traces_are_all_kept_and_normal_ones_at_their_rate_with_the_rate_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (pipeline, task) =
        Pipeline::start(store.clone(), config(dir.path(), Duration::from_millis(1000), policy(0.1))).unwrap();
    let kind = |n: u64| match n % 10 {
        0 => "status",
        1 => "logged",
        _ => "normal",
    };
    for chunk in (0..1000u64).collect::<Vec<_>>().chunks(50) {
        let mut spans = Vec::new();
        for &n in chunk {
            spans.extend(match kind(n) {
                "status" => rich_trace(n),
                "logged" => logged_failure(n),
                _ => healthy(n),
            });
        }
        pipeline.submit(spans).await.unwrap();
        // Nothing is readable before the decision (asked at once: on a loaded machine sending
        // every chunk can take longer than the decision wait).
        if chunk[0] == 0 {
            assert!(store.get_trace(trace_id(0)).await.unwrap().is_none(), "undecided traces are not stored yet");
        }
    }
    settled(&pipeline).await;
    let mut normal_kept = 0;
    for n in 0..1000u64 {
        let trace = store.get_trace(trace_id(n)).await.unwrap();
        match (kind(n), trace) {
            ("normal", None) => assert!(policy::draw(&trace_id(n)) >= 0.1, "{n} was drawn to be kept"),
            ("normal", Some(trace)) => {
                normal_kept += 1;
                assert_eq!(trace.spans.len(), 3, "kept whole");
                assert!(trace.spans.iter().all(|span| rate_of(span) == Some(0.1)));
            }
            (failure, Some(trace)) => {
                assert_eq!(trace.spans.len(), 3, "{failure} trace {n} kept whole");
                for span in &trace.spans {
                    assert_eq!(rate_of(span), Some(1.0));
                    assert_eq!(span.attribute(REASON_ATTRIBUTE), Some(&AnyValue::String("error".into())));
                }
            }
            (failure, None) => panic!("the {failure} error trace {n} was dropped"),
        }
    }
    // 800 normal traces at 0.1: 80 expected, a binomial's standard deviation ~8.5.
    assert!((50..=110).contains(&normal_kept), "{normal_kept} normal traces kept");
    let status = pipeline.sampling_status().unwrap();
    assert_eq!(status.kept_traces, 200 + normal_kept);
    assert_eq!(status.dropped_traces, 800 - normal_kept);
    assert_eq!(status.dropped_spans, 3 * (800 - normal_kept));
    // Re-weighted by the recorded rate, the kept traces stand for about all 1000.
    let estimate: f64 = 200.0 + normal_kept as f64 / 0.1;
    assert!((700.0..=1300.0).contains(&estimate), "{estimate}");
    stop(pipeline, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arriving_after_the_decision_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (pipeline, task) =
        Pipeline::start(store.clone(), config(dir.path(), Duration::from_millis(100), policy(0.5))).unwrap();
    let kept = (0..).find(|n| policy::draw(&trace_id(*n)) < 0.5).unwrap();
    let dropped = (0..).find(|n| policy::draw(&trace_id(*n)) >= 0.5).unwrap();
    let (mut kept_spans, mut dropped_spans) = (healthy(kept), healthy(dropped));
    pipeline.submit(vec![kept_spans.remove(0), dropped_spans.remove(0)]).await.unwrap();
    settled(&pipeline).await;
    assert_eq!(store.get_trace(trace_id(kept)).await.unwrap().unwrap().spans.len(), 1);
    // The rest of each trace comes late; the dropped one now even carries an error, but its
    // trace was decided: it follows the decision.
    dropped_spans[0].status.code = StatusCode::Error;
    pipeline.submit(kept_spans.into_iter().chain(dropped_spans).collect()).await.unwrap();
    settled(&pipeline).await;
    let trace = store.get_trace(trace_id(kept)).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 3, "late spans of a kept trace are kept");
    assert!(trace.spans.iter().all(|span| rate_of(span) == Some(0.5)));
    assert!(store.get_trace(trace_id(dropped)).await.unwrap().is_none(), "late spans of a dropped trace are dropped");
    stop(pipeline, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_held_when_semtrace_stops_are_decided_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    // A decision wait longer than the test: everything acknowledged is still held at the stop.
    let (pipeline, task) =
        Pipeline::start(store.clone(), config(dir.path(), Duration::from_secs(600), policy(0.0))).unwrap();
    let mut logs = Vec::new();
    for n in 0..20u64 {
        let spans = if n % 2 == 0 { rich_trace(n) } else { healthy(n) };
        if n == 1 {
            // A failure told only by an OTLP log record about the trace.
            logs.push(log_about(&spans[2], 17, "ERROR", "No instances available for payments"));
        }
        pipeline.submit(spans).await.unwrap();
    }
    pipeline.submit_logs_reserved(logs, None).await.unwrap();
    let status = pipeline.sampling_status().unwrap();
    assert_eq!((status.buffered_traces, status.buffered_spans), (20, 60));
    stop(pipeline, task).await;
    assert_eq!(store.stats().await.unwrap().total_spans, 0, "nothing decided yet");

    let (pipeline, task) =
        Pipeline::start(store.clone(), config(dir.path(), Duration::from_millis(50), policy(0.0))).unwrap();
    settled(&pipeline).await;
    for n in 0..20u64 {
        let trace = store.get_trace(trace_id(n)).await.unwrap();
        if n % 2 == 0 || n == 1 {
            assert_eq!(trace.map(|trace| trace.spans.len()), Some(3), "error trace {n} kept after the restart");
        } else {
            assert!(trace.is_none(), "normal trace {n} dropped at rate 0");
        }
    }
    assert_eq!(store.trace_logs(trace_id(1)).await.unwrap().len(), 1, "the log record went with its trace");
    stop(pipeline, task).await;

    // Sampling turned off: nothing is held, and a hold log left behind is written out whole.
    let (pipeline, task) =
        Pipeline::start(store.clone(), config(dir.path(), Duration::from_secs(600), policy(0.0))).unwrap();
    pipeline.submit(healthy(100)).await.unwrap();
    stop(pipeline, task).await;
    let mut off = config(dir.path(), Duration::from_secs(600), policy(0.0));
    off.sampling.as_mut().unwrap().enabled = false;
    let (pipeline, task) = Pipeline::start(store.clone(), off).unwrap();
    pipeline.submit(healthy(101)).await.unwrap();
    assert!(store.get_trace(trace_id(101)).await.unwrap().is_some(), "written at once, sampling off");
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.get_trace(trace_id(100)).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the held trace was not written out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(pipeline, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_it_would_drop_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut config = config(dir.path(), Duration::from_millis(50), policy(0.0));
    config.sampling.as_mut().unwrap().dry_run = true;
    let (pipeline, task) = Pipeline::start(store.clone(), config).unwrap();
    pipeline.submit((0..10).flat_map(healthy).chain(rich_trace(10)).collect()).await.unwrap();
    settled(&pipeline).await;
    let status = pipeline.sampling_status().unwrap();
    assert!(status.dry_run);
    assert_eq!((status.kept_traces, status.dropped_traces), (1, 10));
    for n in 0..=10 {
        let trace = store.get_trace(trace_id(n)).await.unwrap().expect("a dry run keeps every trace");
        assert!(trace.spans.iter().all(|span| rate_of(span).is_none()), "nothing was sampled");
    }
    stop(pipeline, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_write_pressure_adaptive_mode_keeps_fewer_normal_traces_and_every_error_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut config = config(dir.path(), Duration::from_millis(200), policy(1.0));
    // Every write is slower than this target: the pipeline reads as under pressure throughout.
    config.sampling.as_mut().unwrap().adaptive = Some(AdaptiveConfig { min_factor: 0.1, target_write_seconds: 1e-7 });
    let (pipeline, task) = Pipeline::start(store.clone(), config).unwrap();
    for chunk in (0..500u64).collect::<Vec<_>>().chunks(25) {
        pipeline
            .submit(chunk.iter().flat_map(|&n| if n % 5 == 0 { rich_trace(n) } else { healthy(n) }).collect())
            .await
            .unwrap();
    }
    settled(&pipeline).await;
    let status = pipeline.sampling_status().unwrap();
    assert!(status.adaptive_factor <= 0.2, "{status:?}");
    let (mut errors, mut normal) = (0, 0);
    for n in 0..500u64 {
        if let Some(trace) = store.get_trace(trace_id(n)).await.unwrap() {
            if n % 5 == 0 {
                errors += 1;
            } else {
                normal += 1;
                // The rate recorded is the one applied: the normal rate times the factor.
                let rate = rate_of(&trace.spans[0]).unwrap();
                assert!(rate < 1.0 && policy::draw(&trace_id(n)) < rate, "{rate}");
            }
        }
    }
    assert_eq!(errors, 100, "every error trace is kept under pressure");
    assert!(normal < 200, "{normal} of 400 normal traces kept at rate 1.0 under pressure");
    stop(pipeline, task).await;
}

#[test]
fn the_draw_does_not_depend_on_how_ids_are_numbered() {
    // Sequential ids (imports, some tracers) still spread evenly.
    let low = (0..10_000u64).filter(|n| policy::draw(&trace_id(*n)) < 0.25).count();
    assert!((2300..2700).contains(&low), "{low}");
    let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    assert_eq!(policy::draw(&id), policy::draw(&id));
}
