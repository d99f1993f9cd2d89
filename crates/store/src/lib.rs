//! The storage interface: what every backend (embedded SQLite, PostgreSQL) provides,
//! the query types it answers, and the conformance suite every backend must pass.
//!
//! API boundary: nothing above this crate knows SQL. Backends live in `store-*` crates.

pub mod conformance;
mod error;

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
}
