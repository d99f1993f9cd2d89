//! A store that fails: errors are retried with backoff; a store that keeps failing opens the
//! circuit breaker, which refuses at once (retryably) and closes again once a probe succeeds.
//! With a spool, batches the store cannot take are acknowledged from the spool and replayed in
//! order once it answers; a full spool refuses retryably.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use semtrace_model::{LogRecord, Span, SpanId, Trace, TraceId};
use semtrace_pipeline::{BreakerState, Pipeline, PipelineConfig, SpoolConfig};
use semtrace_store::conformance::{logs_about, rich_trace};
use semtrace_store::{
    JoinDecisions, LogHit, Operation, PendingLog, PendingTemplate, SpanFilter, SpanHit, Store, StoreError, StoreStats,
    TemplateVector, WriteOutcome,
};
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

/// A real store whose writes fail (retryably) while told to, or for the next `fail_next` calls.
struct FlakyStore {
    inner: SqliteStore,
    down: AtomicBool,
    /// Writes holding spans of this trace fail for good (a batch the store cannot take).
    poison: std::sync::Mutex<Option<TraceId>>,
    /// Trace ids in the order their spans were committed.
    committed: std::sync::Mutex<Vec<TraceId>>,
    fail_next: AtomicUsize,
    writes: AtomicUsize,
    /// The write call (counted from 0) that fails retryably, once.
    fail_write: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FlakyStore {
    async fn write_now(&self, spans: &[Span]) -> Result<WriteOutcome, StoreError> {
        let poison = *self.poison.lock().unwrap();
        if spans.iter().any(|span| Some(span.trace_id) == poison) {
            return Err(StoreError::Internal("this batch can never be stored".into()));
        }
        // Long enough for concurrent writes to overlap.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let outcome = self.inner.write(spans).await?;
        let mut committed = self.committed.lock().unwrap();
        for span in spans {
            if !committed.contains(&span.trace_id) {
                committed.push(span.trace_id);
            }
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Store for FlakyStore {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn write(&self, spans: &[Span]) -> Result<WriteOutcome, StoreError> {
        let call = self.writes.fetch_add(1, Ordering::SeqCst);
        let failing = self.down.load(Ordering::SeqCst)
            || self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
            || self.fail_write.load(Ordering::SeqCst) == call;
        if failing {
            return Err(StoreError::Unavailable("database is down".into()));
        }
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        let result = self.write_now(spans).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError> {
        self.inner.get_trace(trace_id).await
    }
    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.inner.services().await
    }
    async fn find_traces(&self, query: &semtrace_store::TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        self.inner.find_traces(query).await
    }
    async fn service_calls(&self, start_ns: u64, end_ns: u64) -> Result<Vec<semtrace_store::ServiceCall>, StoreError> {
        self.inner.service_calls(start_ns, end_ns).await
    }

    async fn uncategorized_templates(
        &self,
        limit: usize,
    ) -> Result<Vec<semtrace_store::UncategorizedTemplate>, StoreError> {
        self.inner.uncategorized_templates(limit).await
    }

    async fn set_template_categories(&self, categories: &[(i64, String)]) -> Result<(), StoreError> {
        self.inner.set_template_categories(categories).await
    }

    async fn template_categories(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        self.inner.template_categories(ids).await
    }

    async fn failure_counts(
        &self,
        window: &semtrace_store::FailureWindow,
    ) -> Result<Vec<semtrace_store::FailureCount>, StoreError> {
        self.inner.failure_counts(window).await
    }
    async fn trace_importance(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, f64>, StoreError> {
        self.inner.trace_importance(trace_ids).await
    }
    async fn entities(
        &self,
        kind: Option<semtrace_store::entity::EntityKind>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<semtrace_store::entity::EntityCount>, StoreError> {
        self.inner.entities(kind, prefix, limit).await
    }
    async fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations(service).await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn pending_templates(&self, limit: usize) -> Result<Vec<PendingTemplate>, StoreError> {
        self.inner.pending_templates(limit).await
    }
    async fn set_template_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        self.inner.set_template_embeddings(embeddings).await
    }
    async fn set_failure_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        self.inner.set_failure_embeddings(embeddings).await
    }
    async fn template_embeddings(&self) -> Result<Vec<TemplateVector>, StoreError> {
        self.inner.template_embeddings().await
    }
    async fn match_templates(&self, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError> {
        self.inner.match_templates(query, limit).await
    }
    async fn spans_of_templates(
        &self,
        template_ids: &[i64],
        filter: &SpanFilter,
        max_traces: usize,
        per_trace: semtrace_store::policy::PerTrace,
    ) -> Result<Vec<SpanHit>, StoreError> {
        self.inner.spans_of_templates(template_ids, filter, max_traces, per_trace).await
    }
    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError> {
        self.inner.search_errors(query, filter, limit).await
    }
    async fn trace_profiles(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, Vec<semtrace_store::SpanProfile>>, StoreError> {
        self.inner.trace_profiles(trace_ids).await
    }
    async fn operation_baselines(
        &self,
        operations: &[(String, String)],
    ) -> Result<std::collections::HashMap<(String, String), semtrace_store::OperationBaseline>, StoreError> {
        self.inner.operation_baselines(operations).await
    }
    async fn write_logs(&self, logs: &[LogRecord]) -> Result<WriteOutcome, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("database is down".into()));
        }
        self.inner.write_logs(logs).await
    }
    async fn pending_log_joins(&self, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError> {
        self.inner.pending_log_joins(after_id, limit).await
    }
    async fn finish_log_joins(&self, decisions: &JoinDecisions) -> Result<(), StoreError> {
        self.inner.finish_log_joins(decisions).await
    }
    async fn span_evidence(&self, spans: &[(TraceId, SpanId)]) -> Result<Vec<LogRecord>, StoreError> {
        self.inner.span_evidence(spans).await
    }
    async fn trace_logs(&self, trace_id: TraceId) -> Result<Vec<LogRecord>, StoreError> {
        self.inner.trace_logs(trace_id).await
    }
    async fn search_logs(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<LogHit>, StoreError> {
        self.inner.search_logs(query, filter, limit).await
    }
}

fn flaky(dir: &std::path::Path) -> Arc<FlakyStore> {
    Arc::new(FlakyStore {
        inner: SqliteStore::open(SqliteOptions::new(dir)).unwrap(),
        down: AtomicBool::new(false),
        poison: std::sync::Mutex::new(None),
        committed: std::sync::Mutex::new(Vec::new()),
        fail_next: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
        fail_write: AtomicUsize::new(usize::MAX),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    })
}

fn config(max_retries: u32, breaker_threshold: u32) -> PipelineConfig {
    PipelineConfig {
        queue_size: 16,
        batch_size: 10,
        concurrency: 1,
        max_retries,
        breaker_threshold,
        ..PipelineConfig::default()
    }
}

fn spooled(max_retries: u32, breaker_threshold: u32, dir: &std::path::Path, max_bytes: u64) -> PipelineConfig {
    PipelineConfig {
        spool: Some(SpoolConfig { dir: dir.join("spool"), max_bytes }),
        ..config(max_retries, breaker_threshold)
    }
}

async fn stored_spans(store: &FlakyStore) -> u64 {
    store.inner.stats().await.unwrap().total_spans
}

/// Waits until the spool is empty (the replayer caught up), failing after `limit`.
async fn until_replayed(pipeline: &Pipeline, limit: Duration) {
    let started = Instant::now();
    while pipeline.spool_status().unwrap().records > 0 {
        assert!(started.elapsed() < limit, "the spool was not replayed: {:?}", pipeline.spool_status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_the_spans_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.fail_next.store(2, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), config(3, 5)).unwrap();
    pipeline.submit(rich_trace(1)).await.expect("stored after two retries");
    assert_eq!(store.writes.load(Ordering::SeqCst), 3);
    assert_eq!(store.inner.get_trace(rich_trace(1)[0].trace_id).await.unwrap().unwrap().spans.len(), 3);
    assert_eq!(pipeline.breaker_state(), BreakerState::Closed);
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_opens_the_breaker_and_a_successful_probe_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), config(1, 3)).unwrap();
    for n in 0..3 {
        let err = pipeline.submit(rich_trace(10 + n)).await.expect_err("the store is down");
        assert!(err.is_retryable(), "{err}");
    }
    assert_eq!(store.writes.load(Ordering::SeqCst), 6, "each batch tried twice");
    assert_eq!(pipeline.breaker_state(), BreakerState::Open);
    // Open: refused at once, retryably, without touching the store.
    let started = Instant::now();
    let err = pipeline.submit(rich_trace(20)).await.expect_err("breaker open");
    assert!(err.is_retryable() && err.to_string().contains("circuit breaker open"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(store.writes.load(Ordering::SeqCst), 6);
    // The store recovers; after the cool-down one probe goes through and closes the breaker.
    store.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pipeline.submit(rich_trace(21)).await.expect("the probe succeeds");
    assert_eq!(pipeline.breaker_state(), BreakerState::Closed);
    pipeline.submit(rich_trace(22)).await.expect("closed again");
    assert_eq!(store.inner.stats().await.unwrap().total_spans, 6);
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_store_is_down_batches_are_acknowledged_from_the_spool_and_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(1, 2, dir.path(), 64 << 20)).unwrap();
    for n in 0..20 {
        pipeline.submit(rich_trace(100 + n)).await.expect("acknowledged from the spool");
    }
    let status = pipeline.spool_status().unwrap();
    assert!(status.records >= 19 && status.bytes > 0, "{status:?}");
    assert_eq!(stored_spans(&store).await, 0);
    assert_eq!(pipeline.breaker_state(), BreakerState::Open);
    let why = pipeline.last_store_error().expect("health can say why writes fail");
    assert!(why.contains("database is down"), "{why}");
    // The store comes back: the replayer's probe closes the breaker and empties the spool.
    store.down.store(false, Ordering::SeqCst);
    until_replayed(&pipeline, Duration::from_secs(10)).await;
    assert_eq!(stored_spans(&store).await, 60);
    assert_eq!(pipeline.breaker_state(), BreakerState::Closed);
    assert_eq!(pipeline.last_store_error(), None);
    // Replayed oldest first.
    let expected: Vec<TraceId> = (0..20).map(|n| rich_trace(100 + n)[0].trace_id).collect();
    assert_eq!(*store.committed.lock().unwrap(), expected, "stored out of order");
    // New batches go straight to the store again.
    pipeline.submit(rich_trace(200)).await.unwrap();
    assert_eq!(pipeline.spool_status().unwrap().records, 0);
    assert_eq!(stored_spans(&store).await, 63);
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_acknowledged_while_the_store_is_down_are_spooled_replayed_and_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(1, 2, dir.path(), 64 << 20)).unwrap();
    // The records arrive before their spans, as batch exporters often send them.
    let spans = rich_trace(300);
    let logs = logs_about(&spans[..1]);
    pipeline.submit_logs_reserved(logs.clone(), None).await.expect("acknowledged from the spool");
    pipeline.submit(spans.clone()).await.expect("acknowledged from the spool");
    assert!(pipeline.spool_status().unwrap().records >= 1);
    store.down.store(false, Ordering::SeqCst);
    until_replayed(&pipeline, Duration::from_secs(10)).await;
    let stored = store.trace_logs(spans[0].trace_id).await.unwrap();
    assert_eq!(stored.len(), 2, "both records replayed: {stored:?}");
    // The joiner makes the ERROR record evidence of its span.
    let status = semtrace_pipeline::join::JoinStatus::default();
    let config = semtrace_pipeline::join::JoinConfig::default();
    let joined =
        semtrace_pipeline::join::pass(&*store, &config, &status, std::time::Duration::from_secs(10)).await.unwrap();
    assert_eq!(joined, 1);
    assert_eq!(store.span_evidence(&[(spans[0].trace_id, spans[0].span_id)]).await.unwrap().len(), 1);
    assert_eq!(status.waiting.load(Ordering::SeqCst), 0);
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_retryably_and_loses_nothing_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(0, 1, dir.path(), 8 << 10)).unwrap();
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for n in 0..100 {
        match pipeline.submit(rich_trace(300 + n)).await {
            Ok(()) => acknowledged.push(300 + n),
            Err(err) => {
                refusal = Some(err);
                break;
            }
        }
    }
    let err = refusal.expect("an 8 KiB spool fills up");
    assert!(err.is_retryable() && err.to_string().contains("spool is full"), "{err}");
    assert!(!acknowledged.is_empty());
    assert!(pipeline.spool_status().unwrap().bytes <= 8 << 10);
    store.down.store(false, Ordering::SeqCst);
    until_replayed(&pipeline, Duration::from_secs(10)).await;
    for n in &acknowledged {
        assert!(store.inner.get_trace(rich_trace(*n)[0].trace_id).await.unwrap().is_some(), "trace {n} lost");
    }
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_left_by_a_stopped_server_is_replayed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(0, 1, dir.path(), 64 << 20)).unwrap();
    for n in 0..5 {
        pipeline.submit(rich_trace(400 + n)).await.unwrap();
    }
    drop(pipeline);
    // Shutting down with the store still down keeps the spool on disk.
    tokio::time::timeout(Duration::from_secs(5), task.shutdown()).await.expect("shutdown does not wait for the store");
    assert_eq!(stored_spans(&store).await, 0);
    store.down.store(false, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(0, 1, dir.path(), 64 << 20)).unwrap();
    until_replayed(&pipeline, Duration::from_secs(10)).await;
    assert_eq!(stored_spans(&store).await, 15);
    drop(pipeline);
    task.shutdown().await;
}

/// A large spool is replayed in chunks written `concurrency` at a time; a chunk that fails while
/// another is in flight costs only a rewrite: every span arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_spool_is_replayed_by_concurrent_writers_through_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let config = PipelineConfig { concurrency: 2, ..spooled(0, 5, dir.path(), 256 << 20) };
    let (pipeline, task) = Pipeline::start(store.clone(), config).unwrap();
    // 30 requests of 300 traces (900 spans): about 27,000 spans, several replay chunks.
    let mut traces = Vec::new();
    for request in 0..30u64 {
        let spans: Vec<Span> = (0..300).flat_map(|n| rich_trace(10_000 + request * 300 + n)).collect();
        traces.extend((0..300).map(|n| rich_trace(10_000 + request * 300 + n)[0].trace_id));
        pipeline.submit(spans).await.unwrap();
    }
    let spooled_records = pipeline.spool_status().unwrap().records;
    assert!(spooled_records >= 29, "{spooled_records}");
    // The store comes back. The first chunk is the breaker's probe, then two are written at once;
    // the fourth write from now fails once, retryably.
    store.fail_write.store(store.writes.load(Ordering::SeqCst) + 3, Ordering::SeqCst);
    store.down.store(false, Ordering::SeqCst);
    until_replayed(&pipeline, Duration::from_secs(60)).await;
    assert_eq!(stored_spans(&store).await, 27_000);
    assert_eq!(store.inner.stats().await.unwrap().total_traces, 9_000);
    assert_eq!(store.max_in_flight.load(Ordering::SeqCst), 2, "chunks are written two at a time");
    let committed = store.committed.lock().unwrap().clone();
    assert_eq!(committed.len(), traces.len());
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_store_refuses_for_good_is_set_aside_and_the_rest_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), spooled(0, 1, dir.path(), 64 << 20)).unwrap();
    for n in 0..4 {
        pipeline.submit(rich_trace(500 + n)).await.unwrap();
    }
    // The store comes back but refuses (non-retryably) any write holding trace 502.
    *store.poison.lock().unwrap() = Some(rich_trace(502)[0].trace_id);
    store.down.store(false, Ordering::SeqCst);
    until_replayed(&pipeline, Duration::from_secs(10)).await;
    assert_eq!(stored_spans(&store).await, 9);
    assert!(store.inner.get_trace(rich_trace(502)[0].trace_id).await.unwrap().is_none());
    let rejected: Vec<_> = std::fs::read_dir(dir.path().join("spool/rejected")).unwrap().collect();
    assert_eq!(rejected.len(), 1, "the refused batch is kept for the operator");
    drop(pipeline);
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_store_refuses_for_good_fails_alone_not_its_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    // The first request keeps the writer busy (retrying) while two more queue up behind it, so
    // they share the next batch: one the store can never take, one it can.
    store.down.store(true, Ordering::SeqCst);
    *store.poison.lock().unwrap() = Some(rich_trace(601)[0].trace_id);
    let (pipeline, task) = Pipeline::start(store.clone(), config(6, 20)).unwrap();
    let first = tokio::spawn({
        let pipeline = pipeline.clone();
        async move { pipeline.submit(rich_trace(600)).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (poisoned, good) = (pipeline.clone(), pipeline.clone());
    let poisoned = tokio::spawn(async move { poisoned.submit(rich_trace(601)).await });
    let good = tokio::spawn(async move { good.submit(rich_trace(602)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.down.store(false, Ordering::SeqCst);
    first.await.unwrap().expect("stored once the store is back");
    let err = poisoned.await.unwrap().expect_err("never storable");
    assert!(!err.is_retryable(), "{err}");
    good.await.unwrap().expect("not failed by its batch neighbour");
    assert_eq!(stored_spans(&store).await, 6);
    drop(pipeline);
    task.shutdown().await;
}

/// With tail sampling, a batch is acknowledged once held, whatever the store's state; a kept
/// trace the store cannot take stays held (spans of it arriving meanwhile join it) and is
/// written once the store answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_traces_wait_in_the_hold_log_while_the_store_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.down.store(true, Ordering::SeqCst);
    let mut sampling = semtrace_pipeline::SamplingConfig::new(dir.path().join("sampling"));
    sampling.decision_wait = Duration::from_millis(50);
    let (pipeline, task) =
        Pipeline::start(store.clone(), PipelineConfig { sampling: Some(sampling), ..config(0, 3) }).unwrap();
    let mut spans = rich_trace(60);
    let late = spans.pop().unwrap();
    pipeline.submit(spans).await.expect("held, though the store is down");
    // Decided (an error trace: kept), tried, refused: still held.
    let started = Instant::now();
    while store.writes.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never tried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pipeline.submit(vec![late]).await.expect("a late span is held too");
    let status = pipeline.sampling_status().unwrap();
    assert_eq!((status.buffered_spans, status.hold_records), (3, 2), "{status:?}");
    store.down.store(false, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let status = pipeline.sampling_status().unwrap();
        if status.buffered_spans == 0 && status.hold_records == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not written after the store came back: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let trace = store.inner.get_trace(rich_trace(60)[0].trace_id).await.unwrap().expect("kept");
    assert_eq!(trace.spans.len(), 3, "the late span joined its trace");
    drop(pipeline);
    task.shutdown().await;
}
