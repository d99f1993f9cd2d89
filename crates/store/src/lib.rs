//! The storage interface: what every backend (embedded SQLite, PostgreSQL) provides,
//! the query types it answers, and the conformance suite every backend must pass.
//!
//! API boundary: nothing above this crate knows SQL. Backends live in `store-*` crates.

pub mod compact;
pub mod conformance;
pub mod encoding;
pub mod entity;
mod error;
pub mod find;
pub mod importance;
pub mod policy;
pub mod row;
pub mod text;

use async_trait::async_trait;
use semtrace_model::{LogRecord, Span, SpanId, Trace, TraceId};

pub use error::StoreError;
pub use find::{FailureCount, FailureWindow, ServiceCall, TaggedSpan, TraceQuery};

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

/// What one retention run removed (`/api/v1/health`'s `retention.last_run`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionRun {
    /// When the run finished, ns since the epoch.
    pub finished_ns: u64,
    /// Traces starting before this were dropped (the older of `retention_days` and what the
    /// size cap asked for); `None`: nothing was due.
    pub cutoff_ns: Option<u64>,
    pub traces: u64,
    pub spans: u64,
    pub logs: u64,
    /// Templates no stored span used any more, dropped with their vectors.
    pub templates: u64,
    /// The database file's size before and after (space given back to the file system).
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Time the run held the writer (deleting and giving space back), in seconds.
    pub writer_seconds: f64,
}

/// A semtrace process sharing the store, as its last heartbeat told (`/api/v1/cluster`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    /// `cluster.node_name`: unique among the nodes.
    pub name: String,
    pub version: String,
    pub started_ns: i64,
    pub heartbeat_ns: i64,
    /// Seconds since its last heartbeat, by the database's clock.
    pub silent_seconds: f64,
    /// What the node reported of itself (its queue, spool, breaker, spans written).
    pub state: serde_json::Value,
}

/// Retention as configured, when the next run is due and what the last one did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionStatus {
    pub days: u32,
    pub max_bytes: u64,
    pub next_run_ns: Option<u64>,
    pub last_run: Option<RetentionRun>,
}

/// Where a store's bytes are, and the time its spans cover: `/api/v1/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageDetail {
    /// Every table and index, largest first: (name, `table` or `index`, bytes).
    pub relations: Vec<(String, &'static str, u64)>,
    /// The earliest start of a stored span, in ns since the epoch.
    pub oldest_span_ns: Option<u64>,
    /// The latest end of a stored span, in ns since the epoch.
    pub newest_span_ns: Option<u64>,
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
    /// The vector of its failure alone (`semtrace_summary::SpanSummary::failure`), for failed
    /// templates stored with one.
    pub failure_vector: Option<Vec<f32>>,
}

/// A span template waiting for its embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTemplate {
    pub id: i64,
    pub text: String,
    /// Whether its spans failed, and said why.
    pub outcome: semtrace_summary::Outcome,
    /// The failure alone, for failed templates (`semtrace_summary::SpanSummary::failure`):
    /// embedded beside the text, so the same failure is found in other services.
    pub failure: Option<String>,
}

/// A failed template whose error category is not decided yet: no signature named one when it
/// was stored (or it was stored before categories were), so the model is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct UncategorizedTemplate {
    pub id: i64,
    pub text: String,
    pub failure: Option<String>,
}

/// The error category a template is stored with: for a failed one, the category its text
/// names (`semtrace_summary::category_of_template`); `None` for a healthy one, and for a failed
/// one no signature knows (the indexer then classifies it zero-shot, or files it `unknown`).
pub fn template_category(text: &str, outcome: semtrace_summary::Outcome) -> Option<&'static str> {
    outcome.is_failure().then(|| semtrace_summary::category_of_template(text)).flatten()
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
    /// Spans that failed (`Some(true)`) or did not (`Some(false)`), by their derived outcome:
    /// an error status, an exception, or log lines WARN or above, as their template records it.
    pub failed: Option<bool>,
    /// Spans that took at least this long (ns). Log records found on their own have no
    /// duration: a duration filter leaves them out.
    pub min_duration_ns: Option<u64>,
    /// Spans that took at most this long (ns); leaves out log records found on their own too.
    pub max_duration_ns: Option<u64>,
    /// Spans of this operation (span name), of any service unless `service` says; leaves out
    /// log records found on their own.
    pub operation: Option<String>,
    /// Spans whose template is filed under this error category (its short name, or `unknown`,
    /// which also takes failed templates not filed yet: without the model, those no signature
    /// knows are never filed).
    pub category: Option<String>,
    /// Spans of traces that touched this entity (`entity`); leaves out log records found on
    /// their own.
    pub entity: Option<(entity::EntityKind, String)>,
}

impl SpanFilter {
    /// Whether the filter asks for something a log record found on its own cannot have (a
    /// duration, an operation, a template's category): such searches find no record.
    pub fn excludes_records(&self) -> bool {
        self.min_duration_ns.is_some()
            || self.max_duration_ns.is_some()
            || self.operation.is_some()
            || self.category.is_some()
            || self.entity.is_some()
    }
}

/// A span found by a search, with the template it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanHit {
    pub span: Span,
    pub template_id: Option<i64>,
    /// The backend's relevance score where it ranks (full-text search); higher is better.
    pub score: f64,
}

/// A log record waiting to join its span (a severe record with trace context whose span was
/// not seen yet), as the joiner reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLog {
    pub id: i64,
    /// When semtrace stored it (Unix ns, the server's clock): the join window counts from here.
    pub received_ns: i64,
    pub record: LogRecord,
}

/// A span's new template once log records about it joined: the span keeps its fields, only its
/// template (and so what search finds it by) changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Retemplate {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub start_ns: u64,
    pub service: String,
    pub summary: semtrace_summary::SpanSummary,
}

/// What the joiner decided about waiting log records, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinDecisions {
    /// Spans whose template changes with their joined records.
    pub spans: Vec<Retemplate>,
    /// Records that joined their span.
    pub joined: Vec<i64>,
    /// Records whose span did not arrive within the join window: kept, not span evidence.
    pub missed: Vec<i64>,
}

/// A log record found by error search.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    pub record: LogRecord,
    /// Full-text relevance (higher is better).
    pub score: f64,
}

/// How long an operation's spans usually take, from the spans stored so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationBaseline {
    pub spans: u64,
    /// The geometric mean of their durations (robust to the few slow ones), in nanoseconds.
    pub typical_ns: f64,
}

impl OperationBaseline {
    /// Its typical duration once it has enough spans to trust ([`importance::MIN_SPANS`], as
    /// the stores judge a span's importance and slowness cue by).
    pub fn trusted_typical_ns(&self) -> Option<f64> {
        (self.spans >= importance::MIN_SPANS as u64).then_some(self.typical_ns)
    }

    /// From a count and a sum of [`log_duration`]s; `None` without spans.
    pub fn from_sums(spans: i64, log_duration_sum: f64) -> Option<Self> {
        (spans > 0).then(|| OperationBaseline {
            spans: spans as u64,
            typical_ns: (log_duration_sum / spans as f64).exp() - LOG_DURATION_OFFSET_NS,
        })
    }
}

/// Added to a duration before its logarithm, so a zero-length span counts.
const LOG_DURATION_OFFSET_NS: f64 = 1000.0;

/// What operation baselines sum per span: ln(duration + 1 µs).
pub fn log_duration(start_ns: i64, end_ns: i64) -> f64 {
    (end_ns.saturating_sub(start_ns).max(0) as f64 + LOG_DURATION_OFFSET_NS).ln()
}

/// Now as Unix nanoseconds (the server's clock).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
}

/// Merges ranked matches of one search from several sources (`(id, score, start_ns)`): each id
/// once with its best score, best first, then newest, at most `limit`. Both backends merge a
/// span's own error text and its log records' this way.
pub fn merge_ranked<Id: Eq + std::hash::Hash>(found: Vec<(Id, f64, i64)>, limit: usize) -> Vec<(Id, f64)> {
    let mut best: std::collections::HashMap<Id, (f64, i64)> = std::collections::HashMap::new();
    for (id, score, start) in found {
        let entry = best.entry(id).or_insert((score, start));
        if score > entry.0 {
            entry.0 = score;
        }
    }
    let mut ranked: Vec<(Id, f64, i64)> = best.into_iter().map(|(id, (score, start))| (id, score, start)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)));
    ranked.truncate(limit);
    ranked.into_iter().map(|(id, score, _)| (id, score)).collect()
}

/// One span of a trace in brief: where it sits, what it did, how long, how it ended. Trace
/// similarity and comparison read traces this way, without their attributes and events.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanProfile {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub service: String,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Its template, once the writer gave it one.
    pub template_id: Option<i64>,
    /// Its derived outcome, as its template records it (healthy without a template).
    pub outcome: semtrace_summary::Outcome,
}

impl SpanProfile {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
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

    /// The store's in-process caches and their ceilings in bytes, for health: what it may hold
    /// in memory beyond what a request needs. None by default.
    fn caches(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// Stores spans durably in one transaction.
    async fn write(&self, spans: &[Span]) -> Result<WriteOutcome, StoreError>;

    /// All stored spans of a trace, or `None` when no span of it is stored.
    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError>;

    /// Service names seen, sorted.
    async fn services(&self) -> Result<Vec<String>, StoreError>;

    /// Operations of one service, sorted.
    async fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError>;

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Retention's settings and last run, when the store drops old data itself.
    fn retention(&self) -> Option<RetentionStatus> {
        None
    }

    /// Bytes per table and index, and the oldest and newest span (slower than [`Store::stats`]:
    /// asked for by `/api/v1/stats`, not by health).
    async fn storage(&self) -> Result<StorageDetail, StoreError> {
        Ok(StorageDetail::default())
    }

    /// Checks that the store answers (for health). Cheap.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Templates not embedded yet, oldest first.
    async fn pending_templates(&self, limit: usize) -> Result<Vec<PendingTemplate>, StoreError>;

    /// Stores template embeddings (durably, in one transaction); a template with one is no
    /// longer pending.
    async fn set_template_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError>;
    /// Stores the embeddings of templates' failures (durably, in one transaction). Call before
    /// [`Store::set_template_embeddings`] of the same templates, so a crash between the two
    /// leaves them pending.
    async fn set_failure_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError>;

    /// Failed templates stored without an error category, oldest first.
    async fn uncategorized_templates(&self, limit: usize) -> Result<Vec<UncategorizedTemplate>, StoreError>;

    /// Files templates under error categories (short names, or `unknown`).
    async fn set_template_categories(&self, categories: &[(i64, String)]) -> Result<(), StoreError>;

    /// The error categories these templates are filed under (those filed), by id.
    async fn template_categories(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError>;

    /// Every embedded template with its vector, to rebuild the vector index at start.
    async fn template_embeddings(&self) -> Result<Vec<TemplateVector>, StoreError>;

    /// Where the embeddings other nodes store are numbered up to now (a store shared by several
    /// semtrace processes numbers each embedding it stores from one sequence); 0 for a store
    /// only this process writes. Read before [`Store::template_embeddings`] at start.
    async fn embedding_watermark(&self) -> Result<i64, StoreError> {
        Ok(0)
    }

    /// Templates other nodes embedded with a number above `after`: (template id, number), by
    /// number, at most `limit`. Empty for a store only this process writes.
    async fn embedded_elsewhere(&self, after: i64, limit: usize) -> Result<Vec<(i64, i64)>, StoreError> {
        let _ = (after, limit);
        Ok(Vec::new())
    }

    /// These templates' vectors (those embedded), to add to the vector index what another node
    /// embedded.
    async fn template_vectors(&self, ids: &[i64]) -> Result<Vec<TemplateVector>, StoreError> {
        let _ = ids;
        Ok(Vec::new())
    }

    /// The `k` embedded templates nearest `query` (cosine similarity, best first) through the
    /// store's own approximate index, when the store searches that way (PostgreSQL once it holds
    /// more templates than `postgres.ann_above_templates`); `None`: rank them in memory.
    async fn nearest_templates(&self, query: &[f32], k: usize) -> Result<Option<Vec<(i64, f32)>>, StoreError> {
        let _ = (query, k);
        Ok(None)
    }

    /// Whether this node leads `task` (work one node does for all, such as joining log records)
    /// for the next `lease`: taken when free or run out, kept by renewing it. Always true for a
    /// store only this process writes.
    async fn lead(&self, task: &str, lease: std::time::Duration) -> Result<bool, StoreError> {
        let _ = (task, lease);
        Ok(true)
    }

    /// Records that this node is alive, with its own state (a store shared by several nodes);
    /// a no-op for a store only this process writes.
    async fn heartbeat(&self, state: &serde_json::Value) -> Result<(), StoreError> {
        let _ = state;
        Ok(())
    }

    /// This node's name among those sharing the store; `None` when the store is this process's
    /// alone.
    fn node_name(&self) -> Option<&str> {
        None
    }

    /// The nodes sharing this store, with their last heartbeat; `None` when the store is this
    /// process's alone.
    async fn cluster_nodes(&self) -> Result<Option<Vec<ClusterNode>>, StoreError> {
        Ok(None)
    }

    /// Templates whose text matches the words of `query` (full-text, ranked), best first,
    /// with a relevance score (higher is better).
    async fn match_templates(&self, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError>;

    /// Spans of the given templates, taken in the order given, newest first within a template,
    /// until `max` traces are found ([`policy::PerTrace::OneSpan`]: the first span of each) or
    /// `max` spans ([`policy::PerTrace::EverySpan`]). Backends follow [`policy`].
    async fn spans_of_templates(
        &self,
        template_ids: &[i64],
        filter: &SpanFilter,
        max: usize,
        per_trace: policy::PerTrace,
    ) -> Result<Vec<SpanHit>, StoreError>;

    /// Spans whose error text (exception types and messages, status messages, error logs, and
    /// the severe log records about them) matches the words of `query`, best match first
    /// (full-text ranking), then newest.
    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError>;

    /// How long the spans of these operations (service, span name; every kind) usually take.
    /// Operations without a stored span are left out.
    async fn operation_baselines(
        &self,
        operations: &[(String, String)],
    ) -> Result<std::collections::HashMap<(String, String), OperationBaseline>, StoreError>;

    /// The stored spans of each of these traces, in brief (what trace similarity compares).
    /// Traces with no stored span are left out.
    async fn trace_profiles(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, Vec<SpanProfile>>, StoreError>;

    /// Stores log records durably in one transaction; idempotent (the same record sent twice
    /// is stored once). Severe records with trace context wait for the joiner.
    async fn write_logs(&self, logs: &[LogRecord]) -> Result<WriteOutcome, StoreError>;

    /// Stores an export batch's spans and log records durably, in one transaction where the
    /// backend can; returns the outcomes of each.
    async fn write_batch(
        &self,
        spans: &[Span],
        logs: &[LogRecord],
    ) -> Result<(WriteOutcome, WriteOutcome), StoreError> {
        let spans = if spans.is_empty() { WriteOutcome::default() } else { self.write(spans).await? };
        let logs = if logs.is_empty() { WriteOutcome::default() } else { self.write_logs(logs).await? };
        Ok((spans, logs))
    }

    /// Records waiting to join their span, with ids above `after_id`, oldest first.
    async fn pending_log_joins(&self, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError>;

    /// Applies the joiner's decisions in one transaction.
    async fn finish_log_joins(&self, decisions: &JoinDecisions) -> Result<(), StoreError>;

    /// The severe records about these spans (their trace and span id), joined or still waiting
    /// for the joiner: what the spans' summaries read. In time order.
    async fn span_evidence(&self, spans: &[(TraceId, SpanId)]) -> Result<Vec<LogRecord>, StoreError>;

    /// Traces with a span that passes every field of the query, newest span first, at most
    /// `query.limit`.
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError>;

    /// Calls between services (a span whose parent span is of another service) among spans
    /// starting in [start_ns, end_ns), counted per (parent service, child service).
    async fn service_calls(&self, start_ns: u64, end_ns: u64) -> Result<Vec<ServiceCall>, StoreError>;

    /// Failed spans (by their derived outcome, as their template records it) starting in the
    /// window, counted per bucket, service and template.
    async fn failure_counts(&self, window: &FailureWindow) -> Result<Vec<FailureCount>, StoreError>;

    /// Every stored record of a trace, in time order.
    async fn trace_logs(&self, trace_id: TraceId) -> Result<Vec<LogRecord>, StoreError>;

    /// Severe records whose text matches the words of `query` and that no stored span holds
    /// (no trace context, or their span never arrived), best match first, then newest.
    /// Records about stored spans are found through their span by [`Store::search_errors`].
    async fn search_logs(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<LogHit>, StoreError>;

    /// The stored importance of these traces ([`importance`]); traces not stored are absent.
    async fn trace_importance(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, f64>, StoreError>;

    /// Entities stored spans named, of `kind` (any when `None`) and whose value starts with
    /// `prefix`, with about how many traces name each and how many resources carry it; most
    /// traces first, then most resources, then by kind and value.
    async fn entities(
        &self,
        kind: Option<entity::EntityKind>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<entity::EntityCount>, StoreError>;
}
