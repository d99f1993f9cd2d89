//! OTLP messages to model spans, validating each span on its own.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue as OtlpValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::trace::v1 as otlp;
use semtrace_model::{
    AnyValue, Attributes, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId,
};

use crate::ReceiverLimits;

/// How many rejection reasons are spelled out in a partial-success message.
const MAX_REASONS: usize = 5;

/// The valid spans of a request, and what was wrong with the others.
#[derive(Debug, Default)]
pub struct Converted {
    pub spans: Vec<Span>,
    pub rejected: usize,
    reasons: Vec<String>,
}

impl Converted {
    /// The partial-success message for the client: the first few reasons.
    pub fn rejection_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let mut message = format!("{} span(s) rejected: {}", self.rejected, self.reasons.join("; "));
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
    let mut converted = Converted::default();
    for (resource_idx, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(match resource_spans.resource {
            Some(resource) => {
                let (attributes, dropped) = convert_attributes(resource.attributes, limits);
                Resource {
                    attributes,
                    dropped_attributes_count: resource.dropped_attributes_count.saturating_add(dropped),
                    schema_url: resource_spans.schema_url,
                }
            }
            None => Resource { schema_url: resource_spans.schema_url, ..Resource::default() },
        });
        for (scope_idx, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let scope = Arc::new(match scope_spans.scope {
                Some(scope) => {
                    let (attributes, dropped) = convert_attributes(scope.attributes, limits);
                    Scope {
                        name: scope.name,
                        version: scope.version,
                        attributes,
                        dropped_attributes_count: scope.dropped_attributes_count.saturating_add(dropped),
                        schema_url: scope_spans.schema_url,
                    }
                }
                None => Scope { schema_url: scope_spans.schema_url, ..Scope::default() },
            });
            for (span_idx, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource, &scope, limits) {
                    Ok(span) => converted.spans.push(span),
                    Err(reason) => converted.reject(format!(
                        "resourceSpans[{resource_idx}].scopeSpans[{scope_idx}].spans[{span_idx}]: {reason}"
                    )),
                }
            }
        }
    }
    converted
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
        assert_eq!(converted.spans.len(), 2, "the valid spans are kept");
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
        let span = &converted.spans[0];
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
        let span = &converted.spans[0];
        assert_eq!(span.attributes.len(), 2);
        assert_eq!(span.attributes.get_str("a"), Some("héll"), "cut on a character boundary");
        assert_eq!(span.dropped_attributes_count, 2, "one dropped by the client, one here");
    }
}
