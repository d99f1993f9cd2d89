//! JSON shapes of the query API.

use semtrace_model::{format_rfc3339_nanos, AnyValue, Attributes, Event, Link, LogRecord, Span, Trace};
use serde::Serialize;

use std::sync::atomic::Ordering;

use crate::QueryState;

fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1_000_000.0
}

#[derive(Debug, Serialize)]
pub struct TraceDto {
    pub trace_id: String,
    pub root_name: String,
    pub root_service: String,
    pub start_time: String,
    pub duration_ms: f64,
    pub services: Vec<String>,
    pub span_count: usize,
    /// Spans with an error status.
    pub error_count: usize,
    /// Spans that failed: an error status, an exception, or a log line WARN or above.
    pub failed_count: usize,
    pub spans: Vec<SpanDto>,
    /// Log records of the trace whose span is not stored (each other record is listed under
    /// its span).
    pub logs: Vec<LogDto>,
}

impl TraceDto {
    /// The trace with its log records, each under its span.
    pub fn from_trace(trace: &Trace, logs: &[LogRecord]) -> Self {
        let root = trace.root();
        let start = trace.start_time_unix_nano();
        let mut by_span: std::collections::HashMap<semtrace_model::SpanId, Vec<&LogRecord>> =
            std::collections::HashMap::new();
        let mut orphans = Vec::new();
        for record in logs {
            match record.span_id.filter(|id| trace.spans.iter().any(|span| span.span_id == *id)) {
                Some(span_id) => by_span.entry(span_id).or_default().push(record),
                None => orphans.push(LogDto::from_record(record)),
            }
        }
        let spans: Vec<SpanDto> = trace
            .spans
            .iter()
            .map(|span| SpanDto::with_logs(span, by_span.remove(&span.span_id).unwrap_or_default()))
            .collect();
        TraceDto {
            trace_id: trace.trace_id.to_hex(),
            root_name: root.map(|span| span.name.clone()).unwrap_or_default(),
            root_service: root.map(|span| span.service_name().to_owned()).unwrap_or_default(),
            start_time: format_rfc3339_nanos(start),
            duration_ms: millis(trace.end_time_unix_nano().saturating_sub(start)),
            services: trace.services().into_iter().map(str::to_owned).collect(),
            span_count: trace.spans.len(),
            error_count: trace.spans.iter().filter(|span| span.is_error()).count(),
            failed_count: spans.iter().filter(|span| span.failed).count(),
            spans,
            logs: orphans,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SpanDto {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: String,
    pub kind: &'static str,
    pub start_time: String,
    pub end_time: String,
    /// Exact nanosecond timestamps, as strings (JSON numbers lose precision past 2^53).
    pub start_time_unix_nano: String,
    pub end_time_unix_nano: String,
    pub duration_ms: f64,
    pub status: &'static str,
    pub status_message: String,
    pub trace_state: String,
    pub flags: u32,
    #[serde(serialize_with = "api_json::attributes")]
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    #[serde(serialize_with = "api_json::attributes")]
    pub resource: Attributes,
    pub resource_dropped_attributes_count: u32,
    pub resource_schema_url: String,
    pub scope: ScopeDto,
    pub events: Vec<EventDto>,
    pub dropped_events_count: u32,
    pub links: Vec<LinkDto>,
    pub dropped_links_count: u32,
    /// Whether the span failed: an error status, an exception, or a log line WARN or above (an
    /// event, or a log record about it), whatever its status.
    pub failed: bool,
    /// The most severe log line told about the span, if one is WARN or above.
    pub error_log: Option<String>,
    /// Log records about this span (OTLP logs with its trace and span id), in time order.
    pub logs: Vec<LogDto>,
}

/// A log record, as OTLP has it.
#[derive(Debug, Serialize)]
pub struct LogDto {
    pub time: String,
    pub time_unix_nano: String,
    pub observed_time_unix_nano: String,
    pub severity_number: i32,
    pub severity_text: String,
    #[serde(serialize_with = "api_json::value")]
    pub body: AnyValue,
    #[serde(serialize_with = "api_json::attributes")]
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub flags: u32,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event_name: String,
    pub service: String,
    #[serde(serialize_with = "api_json::attributes")]
    pub resource: Attributes,
    pub scope: ScopeDto,
}

impl LogDto {
    pub fn from_record(record: &LogRecord) -> Self {
        LogDto {
            time: format_rfc3339_nanos(record.time()),
            time_unix_nano: record.time_unix_nano.to_string(),
            observed_time_unix_nano: record.observed_time_unix_nano.to_string(),
            severity_number: record.severity_number,
            severity_text: record.severity_text.clone(),
            body: record.body.clone(),
            attributes: record.attributes.clone(),
            dropped_attributes_count: record.dropped_attributes_count,
            flags: record.flags,
            trace_id: record.trace_id.map(|id| id.to_hex()),
            span_id: record.span_id.map(|id| id.to_hex()),
            event_name: record.event_name.clone(),
            service: record.service_name().to_owned(),
            resource: record.resource.attributes.clone(),
            scope: ScopeDto::from_scope(&record.scope),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ScopeDto {
    pub name: String,
    pub version: String,
    #[serde(serialize_with = "api_json::attributes")]
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

#[derive(Debug, Serialize)]
pub struct EventDto {
    pub time: String,
    pub time_unix_nano: String,
    pub name: String,
    #[serde(serialize_with = "api_json::attributes")]
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Serialize)]
pub struct LinkDto {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub flags: u32,
    #[serde(serialize_with = "api_json::attributes")]
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
}

impl ScopeDto {
    fn from_scope(scope: &semtrace_model::Scope) -> Self {
        ScopeDto {
            name: scope.name.clone(),
            version: scope.version.clone(),
            attributes: scope.attributes.clone(),
            dropped_attributes_count: scope.dropped_attributes_count,
            schema_url: scope.schema_url.clone(),
        }
    }
}

impl SpanDto {
    /// A span and the log records about it. Its outcome reads the records as its template does.
    pub fn with_logs(span: &Span, logs: Vec<&LogRecord>) -> Self {
        let severe: Vec<LogRecord> = logs
            .iter()
            .filter(|record| semtrace_summary::log_is_severe(record))
            .map(|record| (*record).clone())
            .collect();
        let mut dto = SpanDto::from_span(span);
        dto.failed = semtrace_summary::summarize_with_logs(span, &severe).outcome.is_failure();
        dto.error_log = semtrace_summary::error_log(span, &severe);
        dto.logs = logs.into_iter().map(LogDto::from_record).collect();
        dto
    }

    fn from_span(span: &Span) -> Self {
        SpanDto {
            span_id: span.span_id.to_hex(),
            parent_span_id: span.parent_span_id.map(|id| id.to_hex()),
            name: span.name.clone(),
            service: span.service_name().to_owned(),
            kind: span.kind.as_str(),
            start_time: format_rfc3339_nanos(span.start_time_unix_nano),
            end_time: format_rfc3339_nanos(span.end_time_unix_nano),
            start_time_unix_nano: span.start_time_unix_nano.to_string(),
            end_time_unix_nano: span.end_time_unix_nano.to_string(),
            duration_ms: millis(span.duration_nanos()),
            status: span.status.code.as_str(),
            status_message: span.status.message.clone(),
            trace_state: span.trace_state.clone(),
            flags: span.flags,
            attributes: span.attributes.clone(),
            dropped_attributes_count: span.dropped_attributes_count,
            resource: span.resource.attributes.clone(),
            resource_dropped_attributes_count: span.resource.dropped_attributes_count,
            resource_schema_url: span.resource.schema_url.clone(),
            scope: ScopeDto::from_scope(&span.scope),
            events: span.events.iter().map(EventDto::from_event).collect(),
            dropped_events_count: span.dropped_events_count,
            links: span.links.iter().map(LinkDto::from_link).collect(),
            dropped_links_count: span.dropped_links_count,
            // Set by `with_logs`, which reads the span together with its log records.
            failed: false,
            error_log: None,
            logs: Vec::new(),
        }
    }
}

impl EventDto {
    fn from_event(event: &Event) -> Self {
        EventDto {
            time: format_rfc3339_nanos(event.time_unix_nano),
            time_unix_nano: event.time_unix_nano.to_string(),
            name: event.name.clone(),
            attributes: event.attributes.clone(),
            dropped_attributes_count: event.dropped_attributes_count,
        }
    }
}

impl LinkDto {
    fn from_link(link: &Link) -> Self {
        LinkDto {
            trace_id: link.trace_id.to_hex(),
            span_id: link.span_id.to_hex(),
            trace_state: link.trace_state.clone(),
            flags: link.flags,
            attributes: link.attributes.clone(),
            dropped_attributes_count: link.dropped_attributes_count,
        }
    }
}

/// `GET /api/v1/health`: the seeds' health_check fields plus the pipeline's state.
#[derive(Debug, Serialize)]
pub struct HealthDto {
    pub healthy: bool,
    /// The store's error when it does not answer; null when healthy.
    pub error: Option<String>,
    pub storage: &'static str,
    pub total_traces: u64,
    pub total_spans: u64,
    pub disk_bytes: Option<u64>,
    /// Query embeddings held in the LRU cache (the seeds' field).
    pub cache_size: u64,
    /// Span templates: each distinct shape of span summary, embedded once.
    pub templates: u64,
    /// Templates not yet embedded, so their spans not yet semantically searchable; reaches 0
    /// soon after ingest stops.
    pub embedding_backlog: u64,
    /// The embedding model, when semantic search is on.
    pub embedding_model: Option<String>,
    pub embedding_dimension: Option<usize>,
    pub queue_depth: Option<usize>,
    pub queue_capacity: Option<usize>,
    /// Request bytes in flight (decoding, queued, being written) and their budget.
    pub inflight_bytes: Option<usize>,
    pub inflight_budget: Option<usize>,
    /// Caches and buffers that hold memory beyond a request, with their ceilings in bytes: the
    /// store's (SQLite page caches) and the query embeddings' LRU; each is sized in config.
    pub caches: std::collections::BTreeMap<&'static str, u64>,
    /// The circuit breaker in front of the store: `closed`, `open` (writes refused, retryably)
    /// or `half_open` (one probe write in flight).
    pub circuit_breaker: Option<&'static str>,
    /// Whether the store answered a ping just now.
    pub store_reachable: bool,
    /// Batches acknowledged while the store was unavailable, waiting on disk to be replayed.
    pub spool_records: Option<usize>,
    pub spool_bytes: Option<u64>,
    /// Past this many spooled bytes clients are told to retry.
    pub spool_max_bytes: Option<u64>,
    /// Severe log records waiting for their span (the join window), joined since start, and
    /// given up on since start (their span did not arrive within the window).
    pub logs_join_waiting: Option<u64>,
    pub logs_joined: Option<u64>,
    pub logs_join_missed: Option<u64>,
    /// Tail sampling, while on: traces and spans buffered for a decision, the hold log, the
    /// adaptive factor, and traces and spans kept and dropped since start.
    pub sampling: Option<semtrace_pipeline::SamplingStatus>,
    /// Retention, when the store drops old data itself (the embedded store's
    /// `sqlite.retention_days`/`max_bytes`): its settings, the next run and what the last removed.
    pub retention: Option<RetentionDto>,
    /// This node's name among those sharing the store (PostgreSQL); null on the embedded store.
    pub node: Option<String>,
    pub uptime_seconds: u64,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RetentionDto {
    pub days: u32,
    pub max_bytes: u64,
    pub next_run: Option<String>,
    pub last_run: Option<RetentionRunDto>,
}

#[derive(Debug, Serialize)]
pub struct RetentionRunDto {
    pub finished: String,
    /// Traces that started before this were dropped; null when nothing was due.
    pub cutoff: Option<String>,
    pub traces: u64,
    pub spans: u64,
    pub logs: u64,
    pub templates: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub writer_seconds: f64,
}

impl From<semtrace_store::RetentionStatus> for RetentionDto {
    fn from(status: semtrace_store::RetentionStatus) -> Self {
        let time = semtrace_model::format_rfc3339_nanos;
        RetentionDto {
            days: status.days,
            max_bytes: status.max_bytes,
            next_run: status.next_run_ns.map(time),
            last_run: status.last_run.map(|run| RetentionRunDto {
                finished: time(run.finished_ns),
                cutoff: run.cutoff_ns.map(time),
                traces: run.traces,
                spans: run.spans,
                logs: run.logs,
                templates: run.templates,
                bytes_before: run.bytes_before,
                bytes_after: run.bytes_after,
                writer_seconds: run.writer_seconds,
            }),
        }
    }
}

impl HealthDto {
    pub(crate) async fn collect(state: &QueryState) -> Self {
        let ping = state.store.ping().await;
        let store_reachable = ping.is_ok();
        let spool = state.pipeline.as_ref().and_then(|pipeline| pipeline.spool_status());
        let stats = state.store.stats().await;
        let error =
            ping.err().or(stats.as_ref().err().map(|err| semtrace_store::StoreError::Internal(err.to_string())));
        // A store that answers pings may still refuse writes (its disk is full): while the
        // breaker is not closed, batches go to the spool (or are refused), and health says why.
        let write_error = state.pipeline.as_ref().and_then(|pipeline| {
            (pipeline.breaker_state() != semtrace_pipeline::BreakerState::Closed)
                .then(|| pipeline.last_store_error())
                .flatten()
                .map(|err| format!("writes to the store are failing (batches go to the spool, if any): {err}"))
        });
        let error = error.map(|err| err.to_string()).or(write_error);
        let stats = stats.unwrap_or_default();
        HealthDto {
            healthy: error.is_none(),
            error,
            storage: state.store.backend(),
            total_traces: stats.total_traces,
            total_spans: stats.total_spans,
            disk_bytes: stats.disk_bytes,
            cache_size: state.semantic.as_ref().map_or(0, |semantic| semantic.cache_usage().0 as u64),
            templates: stats.templates,
            embedding_backlog: stats.templates_pending,
            embedding_model: state.semantic.as_ref().map(|semantic| semantic.model_name().to_owned()),
            embedding_dimension: state.semantic.as_ref().map(|semantic| semantic.dimension()),
            queue_depth: state.pipeline.as_ref().map(|pipeline| pipeline.queue_depth()),
            queue_capacity: state.pipeline.as_ref().map(|pipeline| pipeline.queue_capacity()),
            inflight_bytes: state.pipeline.as_ref().map(|pipeline| pipeline.inflight_bytes()),
            inflight_budget: state.pipeline.as_ref().map(|pipeline| pipeline.inflight_budget()),
            caches: {
                let mut caches: std::collections::BTreeMap<&'static str, u64> =
                    state.store.caches().into_iter().collect();
                if let Some(semantic) = &state.semantic {
                    let entry = semantic.dimension() as u64 * 4;
                    caches.insert("query_embeddings", semantic.cache_usage().1 as u64 * entry);
                }
                caches
            },
            circuit_breaker: state.pipeline.as_ref().map(|pipeline| pipeline.breaker_state().as_str()),
            store_reachable,
            spool_records: spool.map(|spool| spool.records),
            spool_bytes: spool.map(|spool| spool.bytes),
            spool_max_bytes: spool.map(|spool| spool.max_bytes),
            logs_join_waiting: state.joins.as_ref().map(|joins| joins.waiting.load(Ordering::Relaxed)),
            logs_joined: state.joins.as_ref().map(|joins| joins.joined.load(Ordering::Relaxed)),
            logs_join_missed: state.joins.as_ref().map(|joins| joins.missed.load(Ordering::Relaxed)),
            sampling: state.pipeline.as_ref().and_then(|pipeline| pipeline.sampling_status()),
            retention: state.store.retention().map(RetentionDto::from),
            node: state.store.node_name().map(str::to_owned),
            uptime_seconds: state.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The API's JSON form of attribute values: the natural one (`"GET"`, `200`, `0.5`, `true`,
/// `[..]`, `{..}` in the attributes' order); bytes as `{"$bytes": "<base64>"}` and non-finite
/// doubles as `{"$double": "NaN" | "inf" | "-inf"}`, which JSON cannot write otherwise. The
/// API's own: what the stores keep is `semtrace_store::encoding`'s.
mod api_json {
    use base64::Engine as _;
    use semtrace_model::{AnyValue, Attributes};
    use serde::ser::{SerializeMap, Serializer};
    use serde::Serialize;

    struct Value<'a>(&'a AnyValue);

    impl Serialize for Value<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            value(self.0, serializer)
        }
    }

    pub(super) fn value<S: Serializer>(value: &AnyValue, serializer: S) -> Result<S::Ok, S::Error> {
        let one_key = |serializer: S, key: &str, text: &str| {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(key, text)?;
            map.end()
        };
        match value {
            AnyValue::String(text) => serializer.serialize_str(text),
            AnyValue::Bool(value) => serializer.serialize_bool(*value),
            AnyValue::Int(value) => serializer.serialize_i64(*value),
            AnyValue::Double(value) if value.is_finite() => serializer.serialize_f64(*value),
            AnyValue::Double(value) if value.is_nan() => one_key(serializer, "$double", "NaN"),
            AnyValue::Double(value) => one_key(serializer, "$double", if *value > 0.0 { "inf" } else { "-inf" }),
            AnyValue::Bytes(bytes) => {
                one_key(serializer, "$bytes", &base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            AnyValue::Array(items) => serializer.collect_seq(items.iter().map(Value)),
            AnyValue::Map(map) => attributes(map, serializer),
            AnyValue::Empty => serializer.serialize_unit(),
        }
    }

    pub(super) fn attributes<S: Serializer>(attributes: &Attributes, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(attributes.iter().map(|kv| (&kv.key, Value(&kv.value))))
    }
}
