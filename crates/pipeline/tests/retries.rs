//! Storage errors are retried with backoff; a store that keeps failing opens the circuit
//! breaker, which refuses at once (retryably) and closes again once a probe succeeds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use semtrace_model::{Span, Trace, TraceId};
use semtrace_pipeline::{BreakerState, Pipeline, PipelineConfig};
use semtrace_store::conformance::rich_trace;
use semtrace_store::{
    Operation, PendingTemplate, SpanFilter, SpanHit, Store, StoreError, StoreStats, TemplateVector, WriteOutcome,
};
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

/// A real store whose writes fail (retryably) while told to, or for the next `fail_next` calls.
struct FlakyStore {
    inner: SqliteStore,
    down: AtomicBool,
    fail_next: AtomicUsize,
    writes: AtomicUsize,
}

#[async_trait]
impl Store for FlakyStore {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn write(&self, spans: &[Span]) -> Result<WriteOutcome, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let failing = self.down.load(Ordering::SeqCst)
            || self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if failing {
            return Err(StoreError::Unavailable("database is down".into()));
        }
        self.inner.write(spans).await
    }
    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError> {
        self.inner.get_trace(trace_id).await
    }
    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.inner.services().await
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
        per_trace: bool,
    ) -> Result<Vec<SpanHit>, StoreError> {
        self.inner.spans_of_templates(template_ids, filter, max_traces, per_trace).await
    }
    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError> {
        self.inner.search_errors(query, filter, limit).await
    }
    async fn trace_templates(&self, trace_id: TraceId) -> Result<Vec<(i64, u64)>, StoreError> {
        self.inner.trace_templates(trace_id).await
    }
}

fn flaky(dir: &std::path::Path) -> Arc<FlakyStore> {
    Arc::new(FlakyStore {
        inner: SqliteStore::open(SqliteOptions::new(dir)).unwrap(),
        down: AtomicBool::new(false),
        fail_next: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
    })
}

fn config(max_retries: u32, breaker_threshold: u32) -> PipelineConfig {
    PipelineConfig { queue_size: 16, batch_size: 10, concurrency: 1, max_retries, breaker_threshold }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_the_spans_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = flaky(dir.path());
    store.fail_next.store(2, Ordering::SeqCst);
    let (pipeline, task) = Pipeline::start(store.clone(), config(3, 5));
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
    let (pipeline, task) = Pipeline::start(store.clone(), config(1, 3));
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
