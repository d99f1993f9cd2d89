//! Spans encoded for storage, the same for every backend: ids as bytes, attributes, events and
//! links as JSON, resource and scope as shared JSON bodies, and the span's summary template.

use std::collections::HashMap;
use std::sync::Arc;

use semtrace_model::{Resource, Scope, Span};

use crate::encoding;

/// A span ready for insertion: columns encoded, resource and scope as their JSON bodies
/// (shared between the spans of a batch that share them).
pub struct SpanRow {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub service: String,
    pub name: String,
    /// The operation the span counts under when its name holds volatile values (ids, numbers,
    /// literals) that [`operation_name`] masks; `None` when that is its name.
    pub operation: Option<String>,
    pub kind: i32,
    pub start_ns: i64,
    pub end_ns: i64,
    pub status_code: i32,
    pub status_message: String,
    pub trace_state: String,
    pub flags: u32,
    pub attributes: StoredAttributes,
    pub events: Option<String>,
    pub links: Option<String>,
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
    pub resource: Arc<str>,
    pub scope: Arc<str>,
    /// The readable one-line summary (`semtrace_summary::SpanSummary::text`).
    pub summary: String,
    pub template_hash: i64,
    pub template: String,
    pub template_outcome: semtrace_summary::Outcome,
    /// The failure alone (`semtrace_summary::SpanSummary::failure`), stored with a new template.
    pub template_failure: Option<String>,
    pub error_type: Option<String>,
    pub error_text: Option<String>,
    /// What the span names ([`crate::entity::extract`]); empty when extraction is off.
    pub entities: Vec<(crate::entity::EntityKind, String)>,
    /// What its resource names ([`crate::entity::extract_resource`]), shared by the batch's
    /// spans of that resource; empty when extraction is off.
    pub resource_entities: Named,
    /// The weight of the configured attributes it has ([`crate::importance::attribute_weight`]).
    pub attribute_importance: f64,
}

/// The operation a span of this name counts under: the name with volatile values masked
/// (`GET /api/v1/orders/12345` → `GET /api/v1/orders/<num>`, a statement's literals → `?`), so
/// that instrumentation naming spans by their ids or statements does not make an operation per
/// span: operation lists stay readable, and per-operation baselines mean something. Names
/// without a digit or a quote are their own operation.
pub fn operation_name(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.bytes().any(|byte| byte.is_ascii_digit() || byte == b'\'') {
        return std::borrow::Cow::Borrowed(name);
    }
    let masked = semtrace_summary::mask_statement(name);
    if masked == name {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(masked)
    }
}

impl SpanRow {
    /// The operation the span counts under ([`operation_name`]).
    pub fn operation(&self) -> &str {
        self.operation.as_deref().unwrap_or(&self.name)
    }

    /// The template (text and hash) of a span slow for its operation ([`slow_for_operation`])
    /// whose summary has no slowness cue: its template with the cue, so that it embeds apart
    /// from the operation's usual spans and "price conversions taking hundreds of milliseconds"
    /// reads "slow" in it. `None`: the span is stored under its own template.
    pub fn slow_template(&self, typical_ns: Option<f64>) -> Option<(String, i64)> {
        let duration = self.end_ns.saturating_sub(self.start_ns) as f64;
        let text = slow_cued(&self.template, duration, typical_ns)?;
        let hash = semtrace_summary::template_hash(&text);
        Some((text, hash))
    }
}

/// `template` with the slowness cue, for a span that took `duration_ns` of an operation that
/// typically takes `typical_ns` ([`slow_for_operation`]); `None` when it is not slow for it or
/// the template says so already. The stores cue a span's template with it as they write it, and
/// the log joiner keeps the cue when joined records change the template.
pub fn slow_cued(template: &str, duration_ns: f64, typical_ns: Option<f64>) -> Option<String> {
    if !slow_for_operation(duration_ns, typical_ns?) {
        return None;
    }
    semtrace_summary::with_slow_cue(template)
}

/// Times its operation's typical duration from which a span's template says it was slow
/// ([`SpanRow::slow_template`]): well past the operation's usual spread, where the search's
/// latency prior starts at 3 times (`semtrace_semantic::SLOW_RATIO`), so that an operation's
/// jitter does not split its template.
pub const SLOW_TEMPLATE_FACTOR: f64 = 10.0;
/// Below this a span's template never says slow, however fast its operation usually is: a
/// 5 ms cache read that usually takes 0.3 ms is not what people call slow.
pub const SLOW_TEMPLATE_MIN_NS: f64 = 100e6;

/// Whether a span that took `duration_ns` is slow in its template's words, for an operation
/// that typically takes `typical_ns` (with enough spans to tell, [`crate::importance::typical_ns`]).
pub fn slow_for_operation(duration_ns: f64, typical_ns: f64) -> bool {
    typical_ns > 0.0 && duration_ns >= SLOW_TEMPLATE_MIN_NS && duration_ns >= SLOW_TEMPLATE_FACTOR * typical_ns
}

/// What encoding computes beyond the columns.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions {
    /// Extract entities ([`crate::entity`]).
    pub entities: bool,
    /// Attribute weights of traces' importance ([`crate::importance`]).
    pub importance: Arc<[crate::importance::AttributeWeight]>,
    /// Attributes in the compact binary form ([`crate::compact`]) rather than JSON.
    pub compact_attributes: bool,
}

/// A span's attributes as its store keeps them.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredAttributes {
    /// The JSON object of [`encoding`].
    Json(String),
    /// The binary form of [`crate::compact`].
    Compact(Vec<u8>),
}

impl StoredAttributes {
    fn encode(attributes: &semtrace_model::Attributes, compact: bool) -> StoredAttributes {
        if compact {
            StoredAttributes::Compact(crate::compact::attributes_to_compact(attributes))
        } else {
            StoredAttributes::Json(encoding::attributes_to_json(attributes))
        }
    }

    /// The JSON object, converted from the compact form if need be.
    pub fn json(&self) -> std::borrow::Cow<'_, str> {
        match self {
            StoredAttributes::Json(text) => std::borrow::Cow::Borrowed(text),
            StoredAttributes::Compact(bytes) => std::borrow::Cow::Owned(encoding::attributes_to_json(
                &crate::compact::attributes_from_compact(bytes).expect("written by this process"),
            )),
        }
    }
}

/// Entities a resource names, shared by its spans' rows.
pub type Named = Arc<[(crate::entity::EntityKind, String)]>;

/// [`encode_batch`] from an async store's `write`: it is CPU work (JSON, summaries), so on a
/// multi-threaded runtime the worker is marked as blocking while it runs.
pub fn encode_batch_in_place(spans: &[Span], options: &EncodeOptions) -> Vec<SpanRow> {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| encode_batch(spans, options)),
        _ => encode_batch(spans, options),
    }
}

/// Encodes spans, serialising each distinct resource and scope once; with `entities`, what
/// each names is extracted too.
pub fn encode_batch(spans: &[Span], options: &EncodeOptions) -> Vec<SpanRow> {
    let entities = options.entities;
    let mut resources: HashMap<*const Resource, (Arc<str>, Named)> = HashMap::new();
    let mut scopes: HashMap<*const Scope, Arc<str>> = HashMap::new();
    spans
        .iter()
        .map(|span| {
            let (resource, resource_entities) = resources
                .entry(Arc::as_ptr(&span.resource))
                .or_insert_with(|| {
                    let named = if entities { crate::entity::extract_resource(&span.resource) } else { Vec::new() };
                    (encoding::to_json(&*span.resource).into(), named.into())
                })
                .clone();
            let scope = scopes
                .entry(Arc::as_ptr(&span.scope))
                .or_insert_with(|| encoding::to_json(&*span.scope).into())
                .clone();
            let summary = semtrace_summary::summarize(span);
            SpanRow {
                trace_id: *span.trace_id.as_bytes(),
                span_id: *span.span_id.as_bytes(),
                parent_span_id: span.parent_span_id.map(|id| *id.as_bytes()),
                service: span.service_name().to_owned(),
                name: span.name.clone(),
                operation: match operation_name(&span.name) {
                    std::borrow::Cow::Owned(operation) => Some(operation),
                    std::borrow::Cow::Borrowed(_) => None,
                },
                kind: span.kind.to_otlp(),
                start_ns: to_i64(span.start_time_unix_nano),
                end_ns: to_i64(span.end_time_unix_nano),
                status_code: span.status.code.to_otlp(),
                status_message: span.status.message.clone(),
                trace_state: span.trace_state.clone(),
                flags: span.flags,
                attributes: StoredAttributes::encode(&span.attributes, options.compact_attributes),
                events: (!span.events.is_empty()).then(|| encoding::to_json(&span.events)),
                links: (!span.links.is_empty()).then(|| encoding::to_json(&span.links)),
                dropped_attributes: span.dropped_attributes_count,
                dropped_events: span.dropped_events_count,
                dropped_links: span.dropped_links_count,
                resource,
                scope,
                template_hash: summary.template_hash(),
                summary: summary.text,
                template: summary.template,
                template_outcome: summary.outcome,
                template_failure: summary.failure,
                error_type: summary.error_type,
                error_text: summary.error_text,
                entities: if entities { crate::entity::extract(span).into_iter().collect() } else { Vec::new() },
                resource_entities,
                attribute_importance: crate::importance::attribute_weight(span, &options.importance),
            }
        })
        .collect()
}

/// Each trace's entities among the rows, once per trace, with the trace's earliest start.
pub fn trace_entities<'r>(
    rows: impl IntoIterator<Item = &'r SpanRow>,
) -> Vec<([u8; 16], i64, crate::entity::EntityKind, &'r str)> {
    let mut seen: HashMap<([u8; 16], crate::entity::EntityKind, &'r str), i64> = HashMap::new();
    for row in rows {
        for (kind, value) in &row.entities {
            let start = seen.entry((row.trace_id, *kind, value.as_str())).or_insert(row.start_ns);
            *start = (*start).min(row.start_ns);
        }
    }
    let mut entities: Vec<_> =
        seen.into_iter().map(|((trace, kind, value), start)| (trace, start, kind, value)).collect();
    entities.sort_unstable();
    entities
}

/// How many traces of `entities` ([`trace_entities`]) name each (kind, value), in key order.
pub fn entity_value_counts<'r>(
    entities: &[([u8; 16], i64, crate::entity::EntityKind, &'r str)],
) -> Vec<((crate::entity::EntityKind, &'r str), i64)> {
    let mut counts: std::collections::BTreeMap<(crate::entity::EntityKind, &'r str), i64> = Default::default();
    for (_, _, kind, value) in entities {
        *counts.entry((*kind, *value)).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// Timestamps are stored as SQLite's signed 64-bit integers (good until the year 2262).
fn to_i64(nanos: u64) -> i64 {
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// A log record ready for insertion.
pub struct LogRow {
    /// Identifies the record for idempotent writes: a stable hash of all it holds.
    pub key: [u8; 16],
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub time_ns: i64,
    pub severity_number: i32,
    pub service: String,
    /// The record without resource and scope, as JSON (`LogRecord`'s serde form).
    pub record: String,
    pub resource: Arc<str>,
    pub scope: Arc<str>,
    /// WARN or above, or an exception (`semtrace_summary::log_is_severe`): error search finds it.
    pub severe: bool,
    /// Severe, with trace context: it waits for the joiner.
    pub joins: bool,
    /// What error search indexes for a severe record: exception type, and body plus message.
    pub error_type: Option<String>,
    pub error_text: Option<String>,
}

/// Encodes log records, serialising each distinct resource and scope once.
pub fn encode_logs(logs: &[semtrace_model::LogRecord]) -> Vec<LogRow> {
    let mut resources: HashMap<*const Resource, Arc<str>> = HashMap::new();
    let mut scopes: HashMap<*const Scope, Arc<str>> = HashMap::new();
    logs.iter()
        .map(|log| {
            let resource = resources
                .entry(Arc::as_ptr(&log.resource))
                .or_insert_with(|| encoding::to_json(&*log.resource).into())
                .clone();
            let scope =
                scopes.entry(Arc::as_ptr(&log.scope)).or_insert_with(|| encoding::to_json(&*log.scope).into()).clone();
            let record = encoding::to_json(log);
            let time_ns = to_i64(log.time());
            let key = log_key(time_ns, &[&record, &resource, &scope]);
            let severe = semtrace_summary::log_is_severe(log);
            let (error_type, error_text) = if severe {
                let attribute = |key: &str| log.attributes.get_str(key).filter(|text| !text.is_empty());
                let mut text = log.body_text();
                if let Some(message) = attribute("exception.message").filter(|message| !text.contains(message)) {
                    text = if text.is_empty() { message.to_owned() } else { format!("{text} {message}") };
                }
                (attribute("exception.type").map(str::to_owned), Some(text))
            } else {
                (None, None)
            };
            LogRow {
                key,
                trace_id: log.trace_id.map(|id| *id.as_bytes()),
                span_id: log.span_id.map(|id| *id.as_bytes()),
                time_ns,
                severity_number: log.severity_number,
                service: log.service_name().to_owned(),
                record,
                resource,
                scope,
                joins: severe && log.span_key().is_some(),
                severe,
                error_type,
                error_text,
            }
        })
        .collect()
}

/// A log record back from its stored parts.
pub fn decode_log(record: &str, resource: &str, scope: &str) -> Result<semtrace_model::LogRecord, serde_json::Error> {
    let (resource, scope) = (encoding::resource_from_json(resource)?, encoding::scope_from_json(scope)?);
    encoding::log_from_json(record, Arc::new(resource), Arc::new(scope))
}

/// A record's idempotency key: when it happened (8 bytes, big-endian), then two FNV-1a hashes
/// (different offsets) over the parts, folded into 8 bytes. The time leads so that records
/// arriving in time order insert at the right edge of the unique index instead of at random
/// leaves: measured on `bench ingest --logs-per-span 1.0`, random keys made the log writer's
/// commits the largest part of the write-ahead log.
fn log_key(time_ns: i64, parts: &[&str]) -> [u8; 16] {
    let mut halves = [0xcbf2_9ce4_8422_2325u64, 0x6c62_272e_07bb_0142u64];
    for half in &mut halves {
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                *half ^= u64::from(byte);
                *half = half.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&time_ns.to_be_bytes());
    key[8..].copy_from_slice(&(halves[0] ^ halves[1].rotate_left(32)).to_le_bytes());
    key
}

/// What some newly stored spans add to their trace's aggregate row (the `traces` table of both
/// backends): the time span they cover, how many there are and failed, and the root's service
/// and name when one of them is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceDelta<'a> {
    pub trace_id: &'a [u8; 16],
    pub start_ns: i64,
    pub end_ns: i64,
    pub span_count: i64,
    pub error_count: i64,
    /// (service, name) of the root span, when among these rows.
    pub root: Option<(&'a str, &'a str)>,
}

/// Folds span rows into one delta per trace, in the order traces first appear.
pub fn trace_deltas<'a>(rows: impl IntoIterator<Item = &'a SpanRow>) -> Vec<TraceDelta<'a>> {
    let mut at: HashMap<&[u8; 16], usize> = HashMap::new();
    let mut deltas: Vec<TraceDelta<'a>> = Vec::new();
    for row in rows {
        let index = *at.entry(&row.trace_id).or_insert_with(|| {
            deltas.push(TraceDelta {
                trace_id: &row.trace_id,
                start_ns: row.start_ns,
                end_ns: row.end_ns,
                span_count: 0,
                error_count: 0,
                root: None,
            });
            deltas.len() - 1
        });
        let delta = &mut deltas[index];
        delta.start_ns = delta.start_ns.min(row.start_ns);
        delta.end_ns = delta.end_ns.max(row.end_ns);
        delta.span_count += 1;
        delta.error_count += i64::from(row.status_code == crate::policy::STATUS_ERROR);
        if row.parent_span_id.is_none() {
            delta.root = Some((&row.service, &row.name));
        }
    }
    deltas
}

#[cfg(test)]
mod trace_delta_tests {
    use super::*;

    #[test]
    fn spans_fold_into_one_delta_per_trace_in_order() {
        let spans: Vec<semtrace_model::Span> =
            [crate::conformance::rich_trace(1), crate::conformance::rich_trace(2)].concat();
        let rows = encode_batch_in_place(&spans, &EncodeOptions { entities: true, ..Default::default() });
        let deltas = trace_deltas(&rows);
        assert_eq!(deltas.len(), 2);
        for (delta, trace) in deltas.iter().zip([1, 2]) {
            let mine: Vec<&SpanRow> = rows.iter().filter(|row| &row.trace_id == delta.trace_id).collect();
            assert_eq!(delta.trace_id, &rows.iter().find(|row| row.trace_id == *delta.trace_id).unwrap().trace_id);
            assert_eq!(delta.span_count, mine.len() as i64, "trace {trace}");
            assert_eq!(delta.start_ns, mine.iter().map(|row| row.start_ns).min().unwrap());
            assert_eq!(delta.end_ns, mine.iter().map(|row| row.end_ns).max().unwrap());
            let errors = mine.iter().filter(|row| row.status_code == 2).count() as i64;
            assert_eq!(delta.error_count, errors);
            let root = mine.iter().find(|row| row.parent_span_id.is_none()).unwrap();
            assert_eq!(delta.root, Some((root.service.as_str(), root.name.as_str())));
        }
        assert_eq!(deltas[0].trace_id, &rows[0].trace_id, "in the order traces first appear");
        // Only some of a trace's spans: no root among them.
        let children: Vec<&SpanRow> = rows.iter().filter(|row| row.parent_span_id.is_some()).collect();
        assert!(trace_deltas(children).iter().all(|delta| delta.root.is_none()));
    }
}

#[cfg(test)]
mod stored_attributes_tests {
    use super::*;

    #[test]
    fn both_forms_give_the_same_json_and_names_mask_to_their_operation() {
        let spans = crate::conformance::rich_trace(1);
        let json = encode_batch(&spans, &EncodeOptions::default());
        let compact = encode_batch(&spans, &EncodeOptions { compact_attributes: true, ..Default::default() });
        for (json, compact) in json.iter().zip(&compact) {
            assert!(matches!(compact.attributes, StoredAttributes::Compact(_)));
            assert_eq!(json.attributes.json(), compact.attributes.json());
        }
        assert_eq!(operation_name("GET /api/v1/orders/12345"), "GET /api/v1/orders/<num>");
        assert_eq!(operation_name("SELECT * FROM t WHERE id = 'x7'"), "SELECT * FROM t WHERE id = ?");
        assert!(matches!(operation_name("GET /api/things"), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(operation_name("HikariPool-1 connect"), std::borrow::Cow::Borrowed(_)));
    }
}
