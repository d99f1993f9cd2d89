//! OTLP messages to model spans and log records, validating each on its own.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue as OtlpValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::logs::v1 as otlp_logs;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use semtrace_model::{
    AnyValue, Attributes, Event, KeyValue, Link, LogRecord, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, TraceId,
};

use crate::ReceiverLimits;

/// How many rejection reasons are spelled out in a partial-success message.
const MAX_REASONS: usize = 5;

/// The valid items (spans, log records) of a request, and what was wrong with the others.
#[derive(Debug)]
pub struct Converted<T = Span> {
    pub accepted: Vec<T>,
    pub rejected: usize,
    reasons: Vec<String>,
    /// What an item is called in messages: `span`, `log record`.
    noun: &'static str,
}

impl<T> Converted<T> {
    fn new(noun: &'static str) -> Self {
        Converted { accepted: Vec::new(), rejected: 0, reasons: Vec::new(), noun }
    }

    /// The partial-success message for the client: the first few reasons.
    pub fn rejection_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let mut message = format!("{} {}(s) rejected: {}", self.rejected, self.noun, self.reasons.join("; "));
        if self.rejected > self.reasons.len() {
            message.push_str(&format!("; and {} more", self.rejected - self.reasons.len()));
        }
        message
    }

    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason);
        }
    }
}

/// Converts every span of the request; invalid spans are counted and explained, not fatal.
pub fn convert_request(request: ExportTraceServiceRequest, limits: &ReceiverLimits) -> Converted {
    let mut converted = Converted::new("span");
    for (resource_idx, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = convert_resource(resource_spans.resource, resource_spans.schema_url, limits);
        for (scope_idx, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let scope = convert_scope(scope_spans.scope, scope_spans.schema_url, limits);
            for (span_idx, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource, &scope, limits) {
                    Ok(span) => converted.accepted.push(span),
                    Err(reason) => converted.reject(format!(
                        "resourceSpans[{resource_idx}].scopeSpans[{scope_idx}].spans[{span_idx}]: {reason}"
                    )),
                }
            }
        }
    }
    converted
}

/// Converts every log record of the request; invalid records are counted and explained.
pub fn convert_logs_request(request: ExportLogsServiceRequest, limits: &ReceiverLimits) -> Converted<LogRecord> {
    let mut converted = Converted::new("log record");
    for (resource_idx, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let resource = convert_resource(resource_logs.resource, resource_logs.schema_url, limits);
        for (scope_idx, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let scope = convert_scope(scope_logs.scope, scope_logs.schema_url, limits);
            for (record_idx, record) in scope_logs.log_records.into_iter().enumerate() {
                match convert_log(record, &resource, &scope, limits) {
                    Ok(record) => converted.accepted.push(record),
                    Err(reason) => converted.reject(format!(
                        "resourceLogs[{resource_idx}].scopeLogs[{scope_idx}].logRecords[{record_idx}]: {reason}"
                    )),
                }
            }
        }
    }
    converted
}

fn convert_resource(
    resource: Option<opentelemetry_proto::tonic::resource::v1::Resource>,
    schema_url: String,
    limits: &ReceiverLimits,
) -> Arc<Resource> {
    Arc::new(match resource {
        Some(resource) => {
            let (attributes, dropped) = convert_attributes(resource.attributes, limits);
            Resource {
                attributes,
                dropped_attributes_count: resource.dropped_attributes_count.saturating_add(dropped),
                schema_url,
            }
        }
        None => Resource { schema_url, ..Resource::default() },
    })
}

fn convert_scope(
    scope: Option<opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    schema_url: String,
    limits: &ReceiverLimits,
) -> Arc<Scope> {
    Arc::new(match scope {
        Some(scope) => {
            let (attributes, dropped) = convert_attributes(scope.attributes, limits);
            Scope {
                name: scope.name,
                version: scope.version,
                attributes,
                dropped_attributes_count: scope.dropped_attributes_count.saturating_add(dropped),
                schema_url,
            }
        }
        None => Scope { schema_url, ..Scope::default() },
    })
}

/// A log record: trace context is optional (empty or all-zero ids mean none), but ids that are
/// present must be well formed, and a span id needs a trace id.
fn convert_log(
    record: otlp_logs::LogRecord,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    limits: &ReceiverLimits,
) -> Result<LogRecord, String> {
    let unset = |bytes: &[u8]| bytes.iter().all(|byte| *byte == 0);
    let trace_id = match record.trace_id.as_slice() {
        bytes if unset(bytes) && (bytes.is_empty() || bytes.len() == TraceId::LEN) => None,
        bytes => Some(TraceId::from_slice(bytes).map_err(|err| err.to_string())?),
    };
    let span_id = match record.span_id.as_slice() {
        bytes if unset(bytes) && (bytes.is_empty() || bytes.len() == SpanId::LEN) => None,
        bytes => Some(SpanId::from_slice(bytes).map_err(|err| err.to_string())?),
    };
    if span_id.is_some() && trace_id.is_none() {
        return Err("a span id without a trace id".to_owned());
    }
    if record.time_unix_nano == 0 && record.observed_time_unix_nano == 0 {
        return Err("time_unix_nano or observed_time_unix_nano is required".to_owned());
    }
    if !(0..=24).contains(&record.severity_number) {
        return Err(format!("severity_number {} is not between 0 and 24", record.severity_number));
    }
    let (attributes, dropped) = convert_attributes(record.attributes, limits);
    Ok(LogRecord {
        time_unix_nano: record.time_unix_nano,
        observed_time_unix_nano: record.observed_time_unix_nano,
        severity_number: record.severity_number,
        severity_text: record.severity_text,
        body: convert_value(record.body, limits),
        attributes,
        dropped_attributes_count: record.dropped_attributes_count.saturating_add(dropped),
        flags: record.flags,
        trace_id,
        span_id,
        event_name: record.event_name,
        resource: resource.clone(),
        scope: scope.clone(),
    })
}

fn convert_span(
    span: otlp::Span,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    limits: &ReceiverLimits,
) -> Result<Span, String> {
    let trace_id = TraceId::from_slice(&span.trace_id).map_err(|err| err.to_string())?;
    let span_id = SpanId::from_slice(&span.span_id).map_err(|err| format!("trace {trace_id}: {err}"))?;
    let parent_span_id = match span.parent_span_id.as_slice() {
        [] => None,
        // Some exporters write an all-zero parent for a root span; it means "no parent".
        bytes if bytes.iter().all(|byte| *byte == 0) && bytes.len() == SpanId::LEN => None,
        bytes => Some(SpanId::from_slice(bytes).map_err(|err| format!("span {span_id}: parent {err}"))?),
    };
    if span.name.is_empty() {
        return Err(format!("span {span_id}: name must not be empty"));
    }
    if span.start_time_unix_nano == 0 {
        return Err(format!("span {span_id}: start_time_unix_nano is required"));
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(format!(
            "span {span_id}: end time {} is before start time {}",
            span.end_time_unix_nano, span.start_time_unix_nano
        ));
    }
    let (attributes, dropped_attributes) = convert_attributes(span.attributes, limits);
    let mut events = Vec::with_capacity(span.events.len());
    for event in span.events {
        let (attributes, dropped) = convert_attributes(event.attributes, limits);
        events.push(Event {
            time_unix_nano: event.time_unix_nano,
            name: event.name,
            attributes,
            dropped_attributes_count: event.dropped_attributes_count.saturating_add(dropped),
        });
    }
    let mut links = Vec::with_capacity(span.links.len());
    for link in span.links {
        let trace_id = TraceId::from_slice(&link.trace_id).map_err(|err| format!("span {span_id}: link {err}"))?;
        let linked_span_id = SpanId::from_slice(&link.span_id).map_err(|err| format!("span {span_id}: link {err}"))?;
        let (attributes, dropped) = convert_attributes(link.attributes, limits);
        links.push(Link {
            trace_id,
            span_id: linked_span_id,
            trace_state: link.trace_state,
            attributes,
            dropped_attributes_count: link.dropped_attributes_count.saturating_add(dropped),
            flags: link.flags,
        });
    }
    let status = span
        .status
        .map(|status| Status { code: StatusCode::from_otlp(status.code), message: status.message })
        .unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        flags: span.flags,
        name: span.name,
        kind: SpanKind::from_otlp(span.kind),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes,
        dropped_attributes_count: span.dropped_attributes_count.saturating_add(dropped_attributes),
        events,
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        status,
        resource: resource.clone(),
        scope: scope.clone(),
    })
}

/// Converts attributes, keeping at most the limit (the number dropped is returned).
fn convert_attributes(attributes: Vec<OtlpKeyValue>, limits: &ReceiverLimits) -> (Attributes, u32) {
    let n_total = attributes.len();
    let kept: Attributes = attributes
        .into_iter()
        .take(limits.max_attributes_per_span)
        .map(|kv| KeyValue { key: kv.key, value: convert_value(kv.value, limits) })
        .collect();
    let dropped = u32::try_from(n_total - kept.len()).unwrap_or(u32::MAX);
    (kept, dropped)
}

fn convert_value(value: Option<OtlpValue>, limits: &ReceiverLimits) -> AnyValue {
    let Some(value) = value.and_then(|value| value.value) else { return AnyValue::Empty };
    match value {
        any_value::Value::StringValue(mut text) => {
            truncate_utf8(&mut text, limits.max_attribute_value_bytes);
            AnyValue::String(text)
        }
        any_value::Value::BoolValue(value) => AnyValue::Bool(value),
        any_value::Value::IntValue(value) => AnyValue::Int(value),
        any_value::Value::DoubleValue(value) => AnyValue::Double(value),
        any_value::Value::BytesValue(mut bytes) => {
            bytes.truncate(limits.max_attribute_value_bytes);
            AnyValue::Bytes(bytes)
        }
        any_value::Value::ArrayValue(array) => {
            AnyValue::Array(array.values.into_iter().map(|item| convert_value(Some(item), limits)).collect())
        }
        any_value::Value::KvlistValue(list) => AnyValue::Map(convert_attributes(list.values, limits).0),
        // An index into a profiles string table; traces have no such table, so it carries no value.
        any_value::Value::StringValueStrindex(_) => AnyValue::Empty,
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
fn truncate_utf8(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

    use super::*;

    fn string_kv(key: &str, value: &str) -> OtlpKeyValue {
        OtlpKeyValue {
            key: key.into(),
            value: Some(OtlpValue { value: Some(any_value::Value::StringValue(value.into())) }),
            ..Default::default()
        }
    }

    fn valid_span(n: u8) -> otlp::Span {
        otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![n; 8],
            name: format!("span {n}"),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            ..Default::default()
        }
    }

    fn request(spans: Vec<otlp::Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: vec![string_kv("service.name", "checkout")],
                    ..Default::default()
                }),
                scope_spans: vec![otlp::ScopeSpans { spans, ..Default::default() }],
                schema_url: String::new(),
            }],
        }
    }

    /// Converts a request with one bad span among good ones; returns the rejection message.
    fn check_rejected(bad: otlp::Span, expected_reason: &str) {
        let converted = convert_request(request(vec![valid_span(1), bad, valid_span(3)]), &ReceiverLimits::default());
        assert_eq!(converted.accepted.len(), 2, "the valid spans are kept");
        assert_eq!(converted.rejected, 1);
        let message = converted.rejection_message();
        assert!(message.contains(expected_reason), "{message:?} should contain {expected_reason:?}");
        assert!(message.contains("spans[1]"), "{message:?} should locate the span");
    }

    #[test]
    fn invalid_spans_are_rejected_one_by_one() {
        check_rejected(otlp::Span { trace_id: vec![1; 15], ..valid_span(2) }, "trace id must be 16 bytes, got 15");
        check_rejected(otlp::Span { trace_id: vec![0; 16], ..valid_span(2) }, "trace id must not be all zeroes");
        check_rejected(otlp::Span { span_id: vec![], ..valid_span(2) }, "span id must be 8 bytes, got 0");
        check_rejected(otlp::Span { parent_span_id: vec![9; 4], ..valid_span(2) }, "parent span id must be 8 bytes");
        check_rejected(otlp::Span { name: String::new(), ..valid_span(2) }, "name must not be empty");
        check_rejected(otlp::Span { end_time_unix_nano: 10, ..valid_span(2) }, "end time 10 is before start time 1000");
        check_rejected(otlp::Span { start_time_unix_nano: 0, ..valid_span(2) }, "start_time_unix_nano is required");
    }

    #[test]
    fn spans_keep_resource_and_zero_parent_means_root() {
        let converted = convert_request(
            request(vec![otlp::Span { parent_span_id: vec![0; 8], ..valid_span(1) }]),
            &ReceiverLimits::default(),
        );
        let span = &converted.accepted[0];
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.service_name(), "checkout");
        assert_eq!(converted.rejection_message(), "");
    }

    #[test]
    fn attribute_limits_drop_and_truncate_and_count() {
        let limits = ReceiverLimits { max_attributes_per_span: 2, max_attribute_value_bytes: 5, ..Default::default() };
        let span = otlp::Span {
            attributes: vec![string_kv("a", "héllo wörld"), string_kv("b", "x"), string_kv("c", "y")],
            dropped_attributes_count: 1,
            ..valid_span(1)
        };
        let converted = convert_request(request(vec![span]), &limits);
        let span = &converted.accepted[0];
        assert_eq!(span.attributes.len(), 2);
        assert_eq!(span.attributes.get_str("a"), Some("héll"), "cut on a character boundary");
        assert_eq!(span.dropped_attributes_count, 2, "one dropped by the client, one here");
    }

    fn log_request(records: Vec<otlp_logs::LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![otlp_logs::ResourceLogs {
                resource: Some(OtlpResource {
                    attributes: vec![string_kv("service.name", "ts-order")],
                    ..Default::default()
                }),
                scope_logs: vec![otlp_logs::ScopeLogs { log_records: records, ..Default::default() }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn log_records_keep_trace_context_when_present_and_are_rejected_one_by_one() {
        let record = |trace_id: Vec<u8>, span_id: Vec<u8>| otlp_logs::LogRecord {
            time_unix_nano: 5,
            severity_number: 17,
            trace_id,
            span_id,
            ..Default::default()
        };
        let converted = convert_logs_request(
            log_request(vec![
                record(vec![1; 16], vec![2; 8]),
                record(vec![0; 16], vec![0; 8]),
                record(vec![], vec![2; 8]),
                record(vec![1; 5], vec![]),
                otlp_logs::LogRecord { severity_number: 30, ..record(vec![], vec![]) },
                otlp_logs::LogRecord { time_unix_nano: 0, ..record(vec![], vec![]) },
            ]),
            &ReceiverLimits::default(),
        );
        assert_eq!(converted.accepted.len(), 2);
        assert!(converted.accepted[0].span_key().is_some());
        assert_eq!(converted.accepted[1].span_key(), None, "all-zero ids mean no trace context");
        assert_eq!(converted.accepted[0].service_name(), "ts-order");
        assert_eq!(converted.rejected, 4);
        let message = converted.rejection_message();
        for reason in [
            "logRecords[2]: a span id without a trace id",
            "logRecords[3]: trace id must be 16 bytes",
            "severity_number 30",
            "logRecords[5]: time_unix_nano or observed_time_unix_nano is required",
        ] {
            assert!(message.contains(reason), "{message:?} should contain {reason:?}");
        }
        assert!(message.starts_with("4 log record(s) rejected"), "{message}");
    }
}
