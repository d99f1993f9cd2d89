//! Jaeger JSON, as Jaeger's query API answers and its UI downloads it, read into OTLP.
//!
//! The mapping (the reverse of the OpenTelemetry Collector's OTLP → Jaeger translation):
//!
//! | Jaeger | OTLP |
//! |---|---|
//! | `traceID`, `spanID` (hex; shorter ids padded with zeros on the left) | `trace_id`, `span_id`; ids that are not hex are hashed (FNV-1a) and counted |
//! | the first `CHILD_OF` reference within the same trace | `parent_span_id` |
//! | every other reference | a link, with `opentracing.ref_type` `child_of` / `follows_from` |
//! | `operationName`, `startTime` + `duration` (µs) | `name`, start and end (ns) |
//! | `flags` | `flags` |
//! | tags `span.kind`, `otel.status_code`, `otel.status_description`, `error=true`, `w3c.tracestate`, `otel.scope.name`/`otel.library.name` and `…version` | kind, status, trace state, instrumentation scope |
//! | other tags (`string`, `bool`, `int64`, `float64`, `binary` as base64; numbers and booleans sent as strings read by their type) | attributes |
//! | logs: `timestamp`, fields; the `event` field | events: time, attributes; the event's name (`log` when there is none) |
//! | the process (`processes[processID]`, or inline `process`): `serviceName`, tags | the resource: `service.name`, attributes |
//!
//! `internal.span.format` and UI-only fields (`depth`, `hasChildren`, `warnings` …) are dropped.

use std::collections::HashMap;

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde::{Deserialize, Deserializer};

/// A trace: `{traceID, spans, processes}`.
#[derive(Debug, Deserialize)]
pub struct Trace {
    #[serde(rename = "traceID", default)]
    pub trace_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub spans: Vec<JaegerSpan>,
    #[serde(default, deserialize_with = "nullable")]
    pub processes: HashMap<String, Process>,
}

#[derive(Debug, Deserialize)]
pub struct JaegerSpan {
    #[serde(rename = "traceID", default)]
    trace_id: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
    #[serde(rename = "operationName", default)]
    operation_name: String,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<Reference>,
    #[serde(default, deserialize_with = "number")]
    flags: u64,
    #[serde(rename = "startTime", default, deserialize_with = "number")]
    start_time: u64,
    #[serde(default, deserialize_with = "number")]
    duration: u64,
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<Tag>,
    #[serde(default, deserialize_with = "nullable")]
    logs: Vec<Log>,
    #[serde(rename = "processID", default)]
    process_id: Option<String>,
    #[serde(default)]
    process: Option<Process>,
}

impl JaegerSpan {
    /// The trace id as written.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(rename = "refType", default)]
    ref_type: String,
    #[serde(rename = "traceID", default)]
    trace_id: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Tag {
    #[serde(default)]
    key: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Log {
    #[serde(default, deserialize_with = "number")]
    timestamp: u64,
    #[serde(default, deserialize_with = "nullable")]
    fields: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Process {
    #[serde(rename = "serviceName", default)]
    service_name: String,
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<Tag>,
}

/// `null` read as the type's default (Jaeger writes `"tags": null`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A non-negative integer written as a number (integer or not) or a string.
fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => {
            Ok(n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)).unwrap_or_default())
        }
        serde_json::Value::String(text) => {
            text.trim().parse().map_err(|_| D::Error::custom(format!("not a number: {text:?}")))
        }
        serde_json::Value::Null => Ok(0),
        other => Err(D::Error::custom(format!("not a number: {other}"))),
    }
}

/// What reading a trace gave: its spans grouped by process and scope, and the spans refused.
#[derive(Debug, Default)]
pub struct Converted {
    pub resource_spans: Vec<ResourceSpans>,
    pub spans: usize,
    /// (span id as written, why it was refused).
    pub rejected: Vec<(String, String)>,
    /// Ids that were not hex, hashed into ids.
    pub hashed_ids: usize,
}

/// Reads a Jaeger trace's spans into OTLP, grouped by their process.
pub fn convert_trace(trace: Trace) -> Converted {
    let mut out = Converted::default();
    let processes = trace.processes;
    // Resource spans by process id (or by the inline process's identity), then by scope.
    let mut groups: Vec<(String, Resource, Vec<ScopeSpans>)> = Vec::new();
    for jaeger in trace.spans {
        let process =
            jaeger.process.clone().or_else(|| jaeger.process_id.as_ref().and_then(|id| processes.get(id).cloned()));
        let group_key = match (&jaeger.process_id, &jaeger.process) {
            (Some(id), None) => format!("id:{id}"),
            (_, Some(process)) => format!("inline:{}:{:?}", process.service_name, process.tags),
            (None, None) => "none".to_owned(),
        };
        let span_label = jaeger.span_id.clone();
        let (span, scope) = match convert_span(jaeger, &mut out.hashed_ids) {
            Ok(converted) => converted,
            Err(reason) => {
                out.rejected.push((span_label, reason));
                continue;
            }
        };
        let at = match groups.iter().position(|(key, ..)| *key == group_key) {
            Some(at) => at,
            None => {
                groups.push((group_key, resource(process.as_ref()), Vec::new()));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[at].2;
        match scopes.iter_mut().find(|scope_spans| scope_spans.scope.as_ref() == Some(&scope)) {
            Some(scope_spans) => scope_spans.spans.push(span),
            None => scopes.push(ScopeSpans { scope: Some(scope), spans: vec![span], ..Default::default() }),
        }
        out.spans += 1;
    }
    out.resource_spans = groups
        .into_iter()
        .map(|(_, resource, scope_spans)| ResourceSpans { resource: Some(resource), scope_spans, ..Default::default() })
        .collect();
    out
}

fn resource(process: Option<&Process>) -> Resource {
    let mut attributes = Vec::new();
    if let Some(process) = process {
        if !process.service_name.is_empty() {
            attributes.push(key_value("service.name", any_value::Value::StringValue(process.service_name.clone())));
        }
        for tag in &process.tags {
            if let Some(value) = tag_value(tag) {
                attributes.push(key_value(&tag.key, value));
            }
        }
    }
    Resource { attributes, ..Default::default() }
}

fn key_value(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// An id of `N` bytes: hex (shorter ids padded on the left), or any other text hashed. `None`
/// when empty or all zeros, which OTLP does not allow.
fn parse_id<const N: usize>(text: &str, hashed: &mut usize) -> Option<[u8; N]> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut id = [0u8; N];
    if text.len() <= N * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let padded = format!("{text:0>width$}", width = N * 2);
        for (at, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&padded[at * 2..at * 2 + 2], 16).ok()?;
        }
    } else {
        *hashed += 1;
        for (chunk_no, chunk) in id.chunks_mut(8).enumerate() {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ (chunk_no as u64);
            for byte in text.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            chunk.copy_from_slice(&hash.to_be_bytes()[..chunk.len()]);
        }
    }
    id.iter().any(|byte| *byte != 0).then_some(id)
}

/// A tag's value by its declared type, read leniently (numbers and booleans sent as strings).
fn tag_value(tag: &Tag) -> Option<any_value::Value> {
    use any_value::Value as V;
    use serde_json::Value as J;
    let kind = tag.kind.as_deref().unwrap_or_default().to_ascii_lowercase();
    Some(match (kind.as_str(), &tag.value) {
        (_, J::Null) => return None,
        ("bool", J::Bool(b)) => V::BoolValue(*b),
        ("bool", J::String(text)) => V::BoolValue(text.trim().eq_ignore_ascii_case("true")),
        ("int64", J::Number(n)) => {
            n.as_i64().map_or_else(|| V::DoubleValue(n.as_f64().unwrap_or_default()), V::IntValue)
        }
        ("int64", J::String(text)) => text.trim().parse().map_or_else(|_| V::StringValue(text.clone()), V::IntValue),
        ("float64", J::Number(n)) => V::DoubleValue(n.as_f64().unwrap_or_default()),
        ("float64", J::String(text)) => {
            text.trim().parse().map_or_else(|_| V::StringValue(text.clone()), V::DoubleValue)
        }
        ("binary", J::String(text)) => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_or_else(|_| V::StringValue(text.clone()), V::BytesValue),
        (_, J::String(text)) => V::StringValue(text.clone()),
        (_, J::Bool(b)) => V::BoolValue(*b),
        (_, J::Number(n)) => n.as_i64().map_or_else(|| V::DoubleValue(n.as_f64().unwrap_or_default()), V::IntValue),
        (_, other) => V::StringValue(other.to_string()),
    })
}

fn as_text(value: &any_value::Value) -> String {
    match value {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        _ => String::new(),
    }
}

/// One span, and the scope it names; `Err` says why it cannot be stored.
fn convert_span(jaeger: JaegerSpan, hashed: &mut usize) -> Result<(Span, InstrumentationScope), String> {
    let trace_id: [u8; 16] = parse_id(&jaeger.trace_id, hashed)
        .ok_or_else(|| format!("invalid traceID {:?}: empty or all zeros", jaeger.trace_id))?;
    let span_id: [u8; 8] = parse_id(&jaeger.span_id, hashed)
        .ok_or_else(|| format!("invalid spanID {:?}: empty or all zeros", jaeger.span_id))?;
    // The parent as Jaeger reads it (`model.Span.ParentSpanID`): the first CHILD_OF within the
    // trace, else the first FOLLOWS_FROM within it.
    let references: Vec<([u8; 16], [u8; 8], bool)> = jaeger
        .references
        .iter()
        .filter_map(|reference| {
            let ref_trace = parse_id::<16>(&reference.trace_id, hashed)?;
            let ref_span = parse_id::<8>(&reference.span_id, hashed)?;
            Some((ref_trace, ref_span, reference.ref_type.eq_ignore_ascii_case("CHILD_OF")))
        })
        .collect();
    let parent_at = references
        .iter()
        .position(|(ref_trace, _, child_of)| *child_of && *ref_trace == trace_id)
        .or_else(|| references.iter().position(|(ref_trace, _, _)| *ref_trace == trace_id));
    let parent = parent_at.map(|at| references[at].1);
    let mut links = Vec::new();
    for (at, (ref_trace, ref_span, child_of)) in references.into_iter().enumerate() {
        if Some(at) == parent_at {
            continue;
        }
        let ref_type = if child_of { "child_of" } else { "follows_from" };
        links.push(span::Link {
            trace_id: ref_trace.to_vec(),
            span_id: ref_span.to_vec(),
            attributes: vec![key_value("opentracing.ref_type", any_value::Value::StringValue(ref_type.to_owned()))],
            ..Default::default()
        });
    }
    let mut kind = span::SpanKind::Unspecified;
    let mut status_code = None;
    let mut status_message = String::new();
    let mut error_tag = false;
    let mut trace_state = String::new();
    let mut scope = InstrumentationScope::default();
    let mut attributes = Vec::with_capacity(jaeger.tags.len());
    for tag in &jaeger.tags {
        let Some(value) = tag_value(tag) else { continue };
        match tag.key.as_str() {
            "span.kind" => {
                kind = match as_text(&value).to_ascii_lowercase().as_str() {
                    "client" => span::SpanKind::Client,
                    "server" => span::SpanKind::Server,
                    "producer" => span::SpanKind::Producer,
                    "consumer" => span::SpanKind::Consumer,
                    "internal" => span::SpanKind::Internal,
                    _ => span::SpanKind::Unspecified,
                }
            }
            "otel.status_code" => {
                status_code = match as_text(&value).to_ascii_uppercase().as_str() {
                    "OK" => Some(opentelemetry_proto::tonic::trace::v1::status::StatusCode::Ok),
                    "ERROR" => Some(opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error),
                    _ => None,
                }
            }
            "otel.status_description" => status_message = as_text(&value),
            "error" => error_tag = matches!(value, any_value::Value::BoolValue(true)) || as_text(&value) == "true",
            "w3c.tracestate" => trace_state = as_text(&value),
            "otel.scope.name" | "otel.library.name" => scope.name = as_text(&value),
            "otel.scope.version" | "otel.library.version" => scope.version = as_text(&value),
            "internal.span.format" => {}
            key => attributes.push(key_value(key, value)),
        }
    }
    let code = match (status_code, error_tag) {
        (Some(code), _) => code,
        (None, true) => opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error,
        (None, false) => opentelemetry_proto::tonic::trace::v1::status::StatusCode::Unset,
    };
    let events = jaeger
        .logs
        .iter()
        .map(|log| {
            let mut name = String::new();
            let mut attributes = Vec::with_capacity(log.fields.len());
            for field in &log.fields {
                let Some(value) = tag_value(field) else { continue };
                if field.key == "event" && name.is_empty() {
                    name = as_text(&value);
                } else {
                    attributes.push(key_value(&field.key, value));
                }
            }
            span::Event {
                time_unix_nano: log.timestamp.saturating_mul(1000),
                name: if name.is_empty() { "log".to_owned() } else { name },
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let start = jaeger.start_time.saturating_mul(1000);
    let span = Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        trace_state,
        parent_span_id: parent.map(|id| id.to_vec()).unwrap_or_default(),
        flags: u32::try_from(jaeger.flags).unwrap_or_default(),
        name: jaeger.operation_name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(jaeger.duration.saturating_mul(1000)),
        attributes,
        events,
        links,
        status: Some(Status { message: status_message, code: code as i32 }),
        ..Default::default()
    };
    Ok((span, scope))
}

/// OTLP spans written as Jaeger JSON traces (`{traceID, spans, processes}`), the inverse of
/// [`convert_trace`]: for exports that Jaeger's tools read, and for benchmarks of the import.
pub fn from_otlp(resource_spans: &[ResourceSpans]) -> Vec<serde_json::Value> {
    use serde_json::json;
    let hex = |bytes: &[u8]| bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>();
    // Traces in the order first seen; processes numbered per trace.
    let mut traces: Vec<(String, Vec<serde_json::Value>, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    for (resource_no, resource_spans) in resource_spans.iter().enumerate() {
        let resource = resource_spans.resource.clone().unwrap_or_default();
        let service = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref().map(as_text))
            .unwrap_or_default();
        let process_tags: Vec<_> =
            resource.attributes.iter().filter(|kv| kv.key != "service.name").filter_map(to_tag).collect();
        let process_id = format!("p{}", resource_no + 1);
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.clone().unwrap_or_default();
            for span in &scope_spans.spans {
                let trace_id = hex(&span.trace_id);
                let mut tags: Vec<serde_json::Value> = span.attributes.iter().filter_map(to_tag).collect();
                let kind = match span::SpanKind::try_from(span.kind).unwrap_or(span::SpanKind::Unspecified) {
                    span::SpanKind::Client => Some("client"),
                    span::SpanKind::Server => Some("server"),
                    span::SpanKind::Producer => Some("producer"),
                    span::SpanKind::Consumer => Some("consumer"),
                    span::SpanKind::Internal => Some("internal"),
                    span::SpanKind::Unspecified => None,
                };
                if let Some(kind) = kind {
                    tags.push(json!({"key": "span.kind", "type": "string", "value": kind}));
                }
                if let Some(status) = &span.status {
                    match status.code {
                        1 => tags.push(json!({"key": "otel.status_code", "type": "string", "value": "OK"})),
                        2 => {
                            tags.push(json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}));
                            tags.push(json!({"key": "error", "type": "bool", "value": true}));
                        }
                        _ => {}
                    }
                    if !status.message.is_empty() {
                        tags.push(json!({"key": "otel.status_description", "type": "string", "value": status.message}));
                    }
                }
                if !scope.name.is_empty() {
                    tags.push(json!({"key": "otel.scope.name", "type": "string", "value": scope.name}));
                }
                if !scope.version.is_empty() {
                    tags.push(json!({"key": "otel.scope.version", "type": "string", "value": scope.version}));
                }
                if !span.trace_state.is_empty() {
                    tags.push(json!({"key": "w3c.tracestate", "type": "string", "value": span.trace_state}));
                }
                let mut references = Vec::new();
                if !span.parent_span_id.is_empty() {
                    references
                        .push(json!({"refType": "CHILD_OF", "traceID": trace_id, "spanID": hex(&span.parent_span_id)}));
                }
                for link in &span.links {
                    let follows = link.attributes.iter().any(|kv| {
                        kv.key == "opentracing.ref_type"
                            && kv.value.as_ref().and_then(|v| v.value.as_ref()).map(as_text).as_deref()
                                == Some("follows_from")
                    });
                    references.push(json!({"refType": if follows { "FOLLOWS_FROM" } else { "CHILD_OF" },
                        "traceID": hex(&link.trace_id), "spanID": hex(&link.span_id)}));
                }
                let logs: Vec<_> = span
                    .events
                    .iter()
                    .map(|event| {
                        let mut fields: Vec<_> = event.attributes.iter().filter_map(to_tag).collect();
                        if !event.name.is_empty() && event.name != "log" {
                            fields.insert(0, json!({"key": "event", "type": "string", "value": event.name}));
                        }
                        json!({"timestamp": event.time_unix_nano / 1000, "fields": fields})
                    })
                    .collect();
                let start = span.start_time_unix_nano / 1000;
                let value = json!({
                    "traceID": trace_id, "spanID": hex(&span.span_id), "operationName": span.name,
                    "references": references, "flags": span.flags, "startTime": start,
                    "duration": span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) / 1000,
                    "tags": tags, "logs": logs, "processID": process_id, "warnings": null,
                });
                let at = match traces.iter().position(|(id, ..)| *id == trace_id) {
                    Some(at) => at,
                    None => {
                        traces.push((trace_id.clone(), Vec::new(), serde_json::Map::new()));
                        traces.len() - 1
                    }
                };
                let (_, spans, processes) = &mut traces[at];
                spans.push(value);
                processes
                    .entry(process_id.clone())
                    .or_insert_with(|| json!({"serviceName": service, "tags": process_tags}));
            }
        }
    }
    traces
        .into_iter()
        .map(|(trace_id, spans, processes)| json!({"traceID": trace_id, "spans": spans, "processes": processes}))
        .collect()
}

/// An OTLP attribute as a Jaeger tag; arrays and maps as their JSON text.
fn to_tag(kv: &KeyValue) -> Option<serde_json::Value> {
    use any_value::Value as V;
    let value = kv.value.as_ref()?.value.as_ref()?;
    let (kind, value) = match value {
        V::StringValue(text) => ("string", serde_json::Value::from(text.as_str())),
        V::BoolValue(b) => ("bool", serde_json::Value::from(*b)),
        V::IntValue(i) => ("int64", serde_json::Value::from(*i)),
        V::DoubleValue(d) => ("float64", serde_json::Value::from(*d)),
        V::BytesValue(bytes) => ("binary", base64::engine::general_purpose::STANDARD.encode(bytes).into()),
        other => ("string", serde_json::to_string(&format!("{other:?}")).unwrap_or_default().into()),
    };
    Some(serde_json::json!({"key": kv.key, "type": kind, "value": value}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Converted {
        convert_trace(serde_json::from_str(json).expect("a trace"))
    }

    #[test]
    fn every_field_maps_to_otlp() {
        let converted = read(
            r#"{"traceID": "7a", "spans": [{
                "traceID": "7a", "spanID": "b2", "operationName": "GET /orders", "flags": 1,
                "startTime": 1700000000000001, "duration": 1500,
                "references": [{"refType": "CHILD_OF", "traceID": "ff", "spanID": "1"},
                               {"refType": "CHILD_OF", "traceID": "7a", "spanID": "a1"},
                               {"refType": "FOLLOWS_FROM", "traceID": "7a", "spanID": "a0"}],
                "tags": [{"key": "span.kind", "type": "string", "value": "server"},
                         {"key": "error", "type": "bool", "value": "true"},
                         {"key": "http.status_code", "type": "int64", "value": "9223372036854775222"},
                         {"key": "ratio", "type": "float64", "value": 0.5},
                         {"key": "blob", "type": "binary", "value": "AAAwOQ=="},
                         {"key": "otel.scope.name", "type": "string", "value": "io.opentelemetry.tomcat"},
                         {"key": "internal.span.format", "type": "string", "value": "proto"}],
                "logs": [{"timestamp": 1700000000000500, "fields": [
                    {"key": "event", "type": "string", "value": "error"},
                    {"key": "message", "type": "string", "value": "connection refused"}]}],
                "processID": "p1", "warnings": ["clock skew"]}],
              "processes": {"p1": {"serviceName": "orders", "tags": [{"key": "hostname", "type": "string", "value": "h1"}]}}}"#,
        );
        assert!(converted.rejected.is_empty());
        assert_eq!(converted.spans, 1);
        let resource_spans = &converted.resource_spans[0];
        let resource = resource_spans.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].key, "service.name");
        assert_eq!(resource.attributes[1].key, "hostname");
        let scope_spans = &resource_spans.scope_spans[0];
        assert_eq!(scope_spans.scope.as_ref().unwrap().name, "io.opentelemetry.tomcat");
        let span = &scope_spans.spans[0];
        assert_eq!(span.trace_id, [[0u8; 15].as_slice(), &[0x7a]].concat());
        assert_eq!(span.span_id, [0, 0, 0, 0, 0, 0, 0, 0xb2]);
        assert_eq!(span.parent_span_id, [0, 0, 0, 0, 0, 0, 0, 0xa1], "the CHILD_OF within the trace");
        assert_eq!(span.links.len(), 2, "the other trace's CHILD_OF and the FOLLOWS_FROM are links");
        // With no CHILD_OF within the trace, its first FOLLOWS_FROM is the parent, as Jaeger reads it.
        let follows = read(
            r#"{"spans": [{"traceID": "7a", "spanID": "c3", "operationName": "x", "startTime": 1, "duration": 1,
                "references": [{"refType": "FOLLOWS_FROM", "traceID": "7a", "spanID": "b2"}]}]}"#,
        );
        let followed = &follows.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((followed.parent_span_id.last(), followed.links.len()), (Some(&0xb2), 0));
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.status.as_ref().unwrap().code, 2, "error=true");
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_001_000);
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 1_500_000);
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["http.status_code", "ratio", "blob"]);
        let value = |at: usize| span.attributes[at].value.as_ref().unwrap().value.clone().unwrap();
        assert_eq!(value(0), any_value::Value::IntValue(9_223_372_036_854_775_222));
        assert_eq!(value(2), any_value::Value::BytesValue(vec![0, 0, 0x30, 0x39]));
        assert_eq!(span.events[0].name, "error");
        assert_eq!(span.events[0].attributes[0].key, "message");
        assert_eq!(span.flags, 1);
    }

    #[test]
    fn inline_processes_nulls_and_odd_ids() {
        let converted = read(
            r#"{"spans": [
                {"traceID": "trace-123", "spanID": "span-1", "operationName": "a", "startTime": "1000", "duration": 5,
                 "references": null, "tags": null, "logs": null, "process": {"serviceName": "svc-a", "tags": null}},
                {"traceID": "0", "spanID": "2", "operationName": "b", "startTime": 1000, "duration": 5},
                {"traceID": "ab", "spanID": "", "operationName": "c", "startTime": 1000, "duration": 5}]}"#,
        );
        assert_eq!(converted.spans, 1);
        assert_eq!(converted.hashed_ids, 2, "non-hex ids are hashed");
        assert_eq!(converted.rejected.len(), 2);
        assert!(converted.rejected[0].1.contains("traceID"), "{:?}", converted.rejected);
        assert!(converted.rejected[1].1.contains("spanID"), "{:?}", converted.rejected);
        let resource = converted.resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(
            resource.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::StringValue("svc-a".into()))
        );
    }

    #[test]
    fn otlp_written_as_jaeger_reads_back_the_same() {
        let original = read(
            r#"{"traceID": "7a", "spans": [
                {"traceID": "7a", "spanID": "a1", "operationName": "root", "startTime": 1000, "duration": 50,
                 "tags": [{"key": "span.kind", "type": "string", "value": "server"}, {"key": "n", "type": "int64", "value": 3}],
                 "processID": "p1"},
                {"traceID": "7a", "spanID": "b2", "operationName": "child", "startTime": 1010, "duration": 20,
                 "references": [{"refType": "CHILD_OF", "traceID": "7a", "spanID": "a1"}],
                 "tags": [{"key": "otel.status_code", "type": "string", "value": "ERROR"},
                          {"key": "otel.status_description", "type": "string", "value": "boom"}],
                 "logs": [{"timestamp": 1015, "fields": [{"key": "event", "type": "string", "value": "exception"},
                                                          {"key": "exception.message", "type": "string", "value": "boom"}]}],
                 "processID": "p2"}],
              "processes": {"p1": {"serviceName": "front", "tags": []}, "p2": {"serviceName": "back", "tags": [{"key": "host", "type": "string", "value": "h"}]}}}"#,
        );
        let written = from_otlp(&original.resource_spans);
        assert_eq!(written.len(), 1);
        let again = convert_trace(serde_json::from_value(written[0].clone()).unwrap());
        assert_eq!(again.resource_spans, original.resource_spans);
    }
}
