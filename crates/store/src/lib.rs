//! The storage interface: what every backend (embedded SQLite, PostgreSQL) provides,
//! the query types it answers, and the conformance suite every backend must pass.
//!
//! API boundary: nothing above this crate knows SQL. Backends live in `store-*` crates.

pub mod conformance;
mod error;
pub mod row;
pub mod text;

use async_trait::async_trait;
use semtrace_model::{Span, Trace, TraceId};

pub use error::StoreError;

/// What one `write` did. Spans already stored (same trace id and span id) are not written again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Spans newly stored.
    pub inserted: usize,
    /// Spans that were already stored (a client's retry), left as they were.
    pub duplicates: usize,
}

/// Counts and facts for health reporting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub total_traces: u64,
    pub total_spans: u64,
    /// Bytes the store occupies on disk, where the backend can tell.
    pub disk_bytes: Option<u64>,
    /// Distinct span templates (see `semtrace_summary`).
    pub templates: u64,
    /// Templates not embedded yet: their spans are not semantically searchable yet.
    pub templates_pending: u64,
}

/// An embedded template, as the vector index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateVector {
    pub id: i64,
    pub vector: Vec<f32>,
    /// Whether its spans failed, and said why.
    pub outcome: semtrace_summary::Outcome,
    /// Whether its text carries the slowness cue (`semtrace_summary::is_slow`).
    pub slow: bool,
}

/// A span template waiting for its embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTemplate {
    pub id: i64,
    pub text: String,
    /// Whether its spans failed, and said why.
    pub outcome: semtrace_summary::Outcome,
}

/// Which spans a search may return. Every field narrows; `None` leaves it open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanFilter {
    pub service: Option<String>,
    pub status: Option<semtrace_model::StatusCode>,
    /// Spans starting at or after this time (Unix ns).
    pub start_ns: Option<u64>,
    /// Spans starting before this time (Unix ns).
    pub end_ns: Option<u64>,
    /// Spans of other traces only.
    pub exclude_trace: Option<TraceId>,
}

/// A span found by a search, with the template it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanHit {
    pub span: Span,
    pub template_id: Option<i64>,
    /// The backend's relevance score where it ranks (full-text search); higher is better.
    pub score: f64,
}

/// One operation (span name) of a service, with its span kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    pub span_kind: semtrace_model::SpanKind,
}

/// A trace store. Implementations are cheap to share (`Arc<dyn Store>`).
///
/// Invariants every backend keeps (checked by [`conformance`]):
/// - `write` returns only once its spans are durable (committed);
/// - writes are idempotent on (trace id, span id);
/// - a trace read back holds every field that was written.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for health and logs: `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;

    /// Stores spans durably in one transaction.
    async fn write(&self, spans: &[Span]) -> Result<WriteOutcome, StoreError>;

    /// All stored spans of a trace, or `None` when no span of it is stored.
    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError>;

    /// Service names seen, sorted.
    async fn services(&self) -> Result<Vec<String>, StoreError>;

    /// Operations of one service, sorted.
    async fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError>;

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Checks that the store answers (for health). Cheap.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Templates not embedded yet, oldest first.
    async fn pending_templates(&self, limit: usize) -> Result<Vec<PendingTemplate>, StoreError>;

    /// Stores template embeddings (durably, in one transaction).
    async fn set_template_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError>;

    /// Every embedded template with its vector, to rebuild the vector index at start.
    async fn template_embeddings(&self) -> Result<Vec<TemplateVector>, StoreError>;

    /// Templates whose text matches the words of `query` (full-text, ranked), best first,
    /// with a relevance score (higher is better).
    async fn match_templates(&self, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError>;

    /// Spans of the given templates, taken in the order given, newest first within a template,
    /// until spans of `max_traces` distinct traces are found (`max_traces` spans in all when
    /// `per_trace` is false).
    async fn spans_of_templates(
        &self,
        template_ids: &[i64],
        filter: &SpanFilter,
        max_traces: usize,
        per_trace: bool,
    ) -> Result<Vec<SpanHit>, StoreError>;

    /// Spans whose error text (exception types and messages, status messages, error logs)
    /// matches the words of `query`, best match first (full-text ranking), then newest.
    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError>;

    /// The template ids of a trace's spans, with how many spans use each.
    async fn trace_templates(&self, trace_id: TraceId) -> Result<Vec<(i64, u64)>, StoreError>;
}
