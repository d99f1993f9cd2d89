//! The persisted JSON forms of model values, version [`VERSION`]: what the stores keep in their
//! JSON columns (attributes, events, links, resources, scopes, log records) and what the spool
//! keeps of whole spans. They belong to storage, not to the model: a change to how the API
//! renders a span, or to a model type, cannot change what is on disk; a change here must come
//! with a schema migration (stores) or a new spool record version (`semtrace_pipeline::spool`),
//! and the golden tests below pin every form.
//!
//! Attribute values take their natural JSON form (`"GET"`, `200`, `0.5`, `true`, `[..]`, `{..}`),
//! so that the stores' JSON operators can filter them. Two values have none and are written as
//! one-key objects: bytes as `{"$bytes": "<base64>"}` and non-finite doubles as
//! `{"$double": "NaN" | "inf" | "-inf"}`. Integers keep their exact 64-bit value; doubles always
//! carry a fraction or exponent (`1.0`, not `1`), so reading the JSON back gives the same types.
//! Ids are lowercase hex; span kinds and status codes their variant names (`Server`, `Error`).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use semtrace_model::{
    AnyValue, Attributes, Event, KeyValue, Link, LogRecord, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, TraceId,
};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Version of the forms in this module.
pub const VERSION: u32 = 1;

const BYTES_KEY: &str = "$bytes";
const DOUBLE_KEY: &str = "$double";

/// A model value in its persisted JSON form, for writing.
pub struct Json<'a, T: ?Sized>(pub &'a T);

/// The JSON text of a value.
pub fn to_json<T: ?Sized>(value: &T) -> String
where
    for<'a> Json<'a, T>: Serialize,
{
    serde_json::to_string(&Json(value)).expect("model values always serialise")
}

/// Attributes as a JSON object, in their order.
pub fn attributes_to_json(attributes: &Attributes) -> String {
    to_json(attributes)
}

/// Attributes back from their JSON object.
pub fn attributes_from_json(text: &str) -> Result<Attributes, serde_json::Error> {
    serde_json::from_str::<AttributesIn>(text).map(|attributes| attributes.0)
}

/// Events back from their JSON array.
pub fn events_from_json(text: &str) -> Result<Vec<Event>, serde_json::Error> {
    serde_json::from_str::<Vec<EventIn>>(text).map(|events| events.into_iter().map(EventIn::into_model).collect())
}

/// Links back from their JSON array.
pub fn links_from_json(text: &str) -> Result<Vec<Link>, serde_json::Error> {
    serde_json::from_str::<Vec<LinkIn>>(text).map(|links| links.into_iter().map(LinkIn::into_model).collect())
}

pub fn resource_from_json(text: &str) -> Result<Resource, serde_json::Error> {
    serde_json::from_str::<ResourceIn>(text).map(ResourceIn::into_model)
}

pub fn scope_from_json(text: &str) -> Result<Scope, serde_json::Error> {
    serde_json::from_str::<ScopeIn>(text).map(ScopeIn::into_model)
}

/// A log record back from its JSON (without resource and scope, which are stored apart).
pub fn log_from_json(text: &str, resource: Arc<Resource>, scope: Arc<Scope>) -> Result<LogRecord, serde_json::Error> {
    serde_json::from_str::<LogRecordIn>(text).map(|log| log.into_model(resource, scope))
}

// ---- Writing ----

impl Serialize for Json<'_, AnyValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AnyValue::String(text) => serializer.serialize_str(text),
            AnyValue::Bool(value) => serializer.serialize_bool(*value),
            AnyValue::Int(value) => serializer.serialize_i64(*value),
            AnyValue::Double(value) if value.is_finite() => serializer.serialize_f64(*value),
            AnyValue::Double(value) => {
                let text = if value.is_nan() {
                    "NaN"
                } else if *value > 0.0 {
                    "inf"
                } else {
                    "-inf"
                };
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(DOUBLE_KEY, text)?;
                map.end()
            }
            AnyValue::Bytes(bytes) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(BYTES_KEY, &base64::engine::general_purpose::STANDARD.encode(bytes))?;
                map.end()
            }
            AnyValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            AnyValue::Map(attributes) => Json(attributes).serialize(serializer),
            AnyValue::Empty => serializer.serialize_unit(),
        }
    }
}

impl Serialize for Json<'_, Attributes> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kv in self.0.iter() {
            map.serialize_entry(&kv.key, &Json(&kv.value))?;
        }
        map.end()
    }
}

/// Lists of events and links, as JSON arrays.
macro_rules! json_list {
    ($($item:ty),*) => {$(
        impl Serialize for Json<'_, [$item]> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(Json))
            }
        }

        impl Serialize for Json<'_, Vec<$item>> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                Json(self.0.as_slice()).serialize(serializer)
            }
        }
    )*};
}

json_list!(Event, Link);

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "Unspecified",
        SpanKind::Internal => "Internal",
        SpanKind::Server => "Server",
        SpanKind::Client => "Client",
        SpanKind::Producer => "Producer",
        SpanKind::Consumer => "Consumer",
    }
}

fn code_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "Unset",
        StatusCode::Ok => "Ok",
        StatusCode::Error => "Error",
    }
}

/// Fields written only when they hold something.
struct Fields<S: SerializeStruct>(S);

impl<S: SerializeStruct> Fields<S> {
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), S::Error> {
        self.0.serialize_field(name, value)
    }

    fn text(&mut self, name: &'static str, value: &str) -> Result<(), S::Error> {
        if value.is_empty() {
            self.0.skip_field(name)
        } else {
            self.0.serialize_field(name, value)
        }
    }

    fn count(&mut self, name: &'static str, value: u32) -> Result<(), S::Error> {
        if value == 0 {
            self.0.skip_field(name)
        } else {
            self.0.serialize_field(name, &value)
        }
    }

    fn attributes(&mut self, name: &'static str, value: &Attributes) -> Result<(), S::Error> {
        if value.is_empty() {
            self.0.skip_field(name)
        } else {
            self.0.serialize_field(name, &Json(value))
        }
    }
}

impl Serialize for Json<'_, Resource> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let resource = self.0;
        let mut fields = Fields(serializer.serialize_struct("Resource", 3)?);
        fields.field("attributes", &Json(&resource.attributes))?;
        fields.count("dropped_attributes_count", resource.dropped_attributes_count)?;
        fields.text("schema_url", &resource.schema_url)?;
        fields.0.end()
    }
}

impl Serialize for Json<'_, Scope> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let scope = self.0;
        let mut fields = Fields(serializer.serialize_struct("Scope", 5)?);
        fields.text("name", &scope.name)?;
        fields.text("version", &scope.version)?;
        fields.attributes("attributes", &scope.attributes)?;
        fields.count("dropped_attributes_count", scope.dropped_attributes_count)?;
        fields.text("schema_url", &scope.schema_url)?;
        fields.0.end()
    }
}

impl Serialize for Json<'_, Event> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut fields = Fields(serializer.serialize_struct("Event", 4)?);
        fields.field("time_unix_nano", &event.time_unix_nano)?;
        fields.field("name", &event.name)?;
        fields.attributes("attributes", &event.attributes)?;
        fields.count("dropped_attributes_count", event.dropped_attributes_count)?;
        fields.0.end()
    }
}

impl Serialize for Json<'_, Link> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let link = self.0;
        let mut fields = Fields(serializer.serialize_struct("Link", 6)?);
        fields.field("trace_id", &link.trace_id.to_hex())?;
        fields.field("span_id", &link.span_id.to_hex())?;
        fields.text("trace_state", &link.trace_state)?;
        fields.attributes("attributes", &link.attributes)?;
        fields.count("dropped_attributes_count", link.dropped_attributes_count)?;
        fields.count("flags", link.flags)?;
        fields.0.end()
    }
}

impl Serialize for Json<'_, Status> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Status", 2)?;
        fields.serialize_field("code", code_name(self.0.code))?;
        fields.serialize_field("message", &self.0.message)?;
        fields.end()
    }
}

/// A whole span, without its resource and scope (whoever stores spans keeps those once per
/// batch and puts them back).
impl Serialize for Json<'_, Span> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let span = self.0;
        let mut fields = serializer.serialize_struct("Span", 16)?;
        fields.serialize_field("trace_id", &span.trace_id.to_hex())?;
        fields.serialize_field("span_id", &span.span_id.to_hex())?;
        fields.serialize_field("parent_span_id", &span.parent_span_id.map(|id| id.to_hex()))?;
        fields.serialize_field("trace_state", &span.trace_state)?;
        fields.serialize_field("flags", &span.flags)?;
        fields.serialize_field("name", &span.name)?;
        fields.serialize_field("kind", kind_name(span.kind))?;
        fields.serialize_field("start_time_unix_nano", &span.start_time_unix_nano)?;
        fields.serialize_field("end_time_unix_nano", &span.end_time_unix_nano)?;
        fields.serialize_field("attributes", &Json(&span.attributes))?;
        fields.serialize_field("dropped_attributes_count", &span.dropped_attributes_count)?;
        fields.serialize_field("events", &Json(&span.events))?;
        fields.serialize_field("dropped_events_count", &span.dropped_events_count)?;
        fields.serialize_field("links", &Json(&span.links))?;
        fields.serialize_field("dropped_links_count", &span.dropped_links_count)?;
        fields.serialize_field("status", &Json(&span.status))?;
        fields.end()
    }
}

/// A log record, without its resource and scope.
impl Serialize for Json<'_, LogRecord> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let log = self.0;
        let mut fields = Fields(serializer.serialize_struct("LogRecord", 11)?);
        fields.field("time_unix_nano", &log.time_unix_nano)?;
        fields.field("observed_time_unix_nano", &log.observed_time_unix_nano)?;
        fields.field("severity_number", &log.severity_number)?;
        fields.text("severity_text", &log.severity_text)?;
        fields.field("body", &Json(&log.body))?;
        fields.attributes("attributes", &log.attributes)?;
        fields.field("dropped_attributes_count", &log.dropped_attributes_count)?;
        fields.field("flags", &log.flags)?;
        fields.field("trace_id", &log.trace_id.map(|id| id.to_hex()))?;
        fields.field("span_id", &log.span_id.map(|id| id.to_hex()))?;
        fields.text("event_name", &log.event_name)?;
        fields.0.end()
    }
}

// ---- Reading ----

/// An attribute value read back.
pub struct AnyValueIn(pub AnyValue);

impl<'de> Deserialize<'de> for AnyValueIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValueVisitor).map(AnyValueIn)
    }
}

/// Attributes read back from their JSON object.
#[derive(Default)]
pub struct AttributesIn(pub Attributes);

impl<'de> Deserialize<'de> for AttributesIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(AnyValueVisitor)? {
            AnyValue::Map(attributes) => Ok(AttributesIn(attributes)),
            other => Err(de::Error::custom(format!("expected an attribute object, got {other:?}"))),
        }
    }
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<AnyValue, E> {
        Ok(AnyValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<AnyValue, E> {
        Ok(AnyValue::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<AnyValue, E> {
        // OTLP integers are signed 64-bit; larger ones cannot come from OTLP but may come from JSON imports.
        Ok(i64::try_from(value).map(AnyValue::Int).unwrap_or(AnyValue::Double(value as f64)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<AnyValue, E> {
        Ok(AnyValue::Double(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<AnyValue, E> {
        Ok(AnyValue::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<AnyValue, E> {
        Ok(AnyValue::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Empty)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(AnyValueIn(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(AnyValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, AnyValueIn(value))) = map.next_entry::<String, AnyValueIn>()? {
            entries.push(KeyValue { key, value });
        }
        if let [KeyValue { key, value: AnyValue::String(text) }] = entries.as_slice() {
            if key == BYTES_KEY {
                let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(de::Error::custom)?;
                return Ok(AnyValue::Bytes(bytes));
            }
            if key == DOUBLE_KEY {
                let value = match text.as_str() {
                    "NaN" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    other => return Err(de::Error::custom(format!("unknown {DOUBLE_KEY} value {other:?}"))),
                };
                return Ok(AnyValue::Double(value));
            }
        }
        Ok(AnyValue::Map(Attributes(entries)))
    }
}

/// An id read back from hex.
struct Hex<T>(T);

impl<'de, T: std::str::FromStr> Deserialize<'de> for Hex<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map(Hex).map_err(de::Error::custom)
    }
}

struct KindIn(SpanKind);

impl<'de> Deserialize<'de> for KindIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let kinds = [
            SpanKind::Unspecified,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        kinds
            .into_iter()
            .find(|kind| kind_name(*kind) == text)
            .map(KindIn)
            .ok_or_else(|| de::Error::custom(format!("unknown span kind {text:?}")))
    }
}

struct CodeIn(StatusCode);

impl<'de> Deserialize<'de> for CodeIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
            .into_iter()
            .find(|code| code_name(*code) == text)
            .map(CodeIn)
            .ok_or_else(|| de::Error::custom(format!("unknown status code {text:?}")))
    }
}

/// A resource read back.
#[derive(Deserialize)]
pub struct ResourceIn {
    attributes: AttributesIn,
    #[serde(default)]
    dropped_attributes_count: u32,
    #[serde(default)]
    schema_url: String,
}

impl ResourceIn {
    pub fn into_model(self) -> Resource {
        Resource {
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
            schema_url: self.schema_url,
        }
    }
}

/// A scope read back.
#[derive(Deserialize)]
pub struct ScopeIn {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    attributes: AttributesIn,
    #[serde(default)]
    dropped_attributes_count: u32,
    #[serde(default)]
    schema_url: String,
}

impl ScopeIn {
    pub fn into_model(self) -> Scope {
        Scope {
            name: self.name,
            version: self.version,
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
            schema_url: self.schema_url,
        }
    }
}

#[derive(Deserialize)]
struct EventIn {
    time_unix_nano: u64,
    name: String,
    #[serde(default)]
    attributes: AttributesIn,
    #[serde(default)]
    dropped_attributes_count: u32,
}

impl EventIn {
    fn into_model(self) -> Event {
        Event {
            time_unix_nano: self.time_unix_nano,
            name: self.name,
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
        }
    }
}

#[derive(Deserialize)]
struct LinkIn {
    trace_id: Hex<TraceId>,
    span_id: Hex<SpanId>,
    #[serde(default)]
    trace_state: String,
    #[serde(default)]
    attributes: AttributesIn,
    #[serde(default)]
    dropped_attributes_count: u32,
    #[serde(default)]
    flags: u32,
}

impl LinkIn {
    fn into_model(self) -> Link {
        Link {
            trace_id: self.trace_id.0,
            span_id: self.span_id.0,
            trace_state: self.trace_state,
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
            flags: self.flags,
        }
    }
}

#[derive(Deserialize)]
struct StatusIn {
    code: CodeIn,
    message: String,
}

/// A whole span read back; its resource and scope are given back by whoever stored them.
#[derive(Deserialize)]
pub struct SpanIn {
    trace_id: Hex<TraceId>,
    span_id: Hex<SpanId>,
    parent_span_id: Option<Hex<SpanId>>,
    trace_state: String,
    flags: u32,
    name: String,
    kind: KindIn,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    attributes: AttributesIn,
    dropped_attributes_count: u32,
    events: Vec<EventIn>,
    dropped_events_count: u32,
    links: Vec<LinkIn>,
    dropped_links_count: u32,
    status: StatusIn,
}

impl SpanIn {
    pub fn into_model(self, resource: Arc<Resource>, scope: Arc<Scope>) -> Span {
        Span {
            trace_id: self.trace_id.0,
            span_id: self.span_id.0,
            parent_span_id: self.parent_span_id.map(|id| id.0),
            trace_state: self.trace_state,
            flags: self.flags,
            name: self.name,
            kind: self.kind.0,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
            events: self.events.into_iter().map(EventIn::into_model).collect(),
            dropped_events_count: self.dropped_events_count,
            links: self.links.into_iter().map(LinkIn::into_model).collect(),
            dropped_links_count: self.dropped_links_count,
            status: Status { code: self.status.code.0, message: self.status.message },
            resource,
            scope,
        }
    }
}

/// A log record read back; its resource and scope are given back by whoever stored them.
#[derive(Deserialize)]
pub struct LogRecordIn {
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
    severity_number: i32,
    #[serde(default)]
    severity_text: String,
    body: AnyValueIn,
    #[serde(default)]
    attributes: AttributesIn,
    #[serde(default)]
    dropped_attributes_count: u32,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    trace_id: Option<Hex<TraceId>>,
    #[serde(default)]
    span_id: Option<Hex<SpanId>>,
    #[serde(default)]
    event_name: String,
}

impl LogRecordIn {
    pub fn into_model(self, resource: Arc<Resource>, scope: Arc<Scope>) -> LogRecord {
        LogRecord {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.observed_time_unix_nano,
            severity_number: self.severity_number,
            severity_text: self.severity_text,
            body: self.body.0,
            attributes: self.attributes.0,
            dropped_attributes_count: self.dropped_attributes_count,
            flags: self.flags,
            trace_id: self.trace_id.map(|id| id.0),
            span_id: self.span_id.map(|id| id.0),
            event_name: self.event_name,
            resource,
            scope,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: AnyValue) -> AnyValue {
        let text = to_json(&value);
        serde_json::from_str::<AnyValueIn>(&text).unwrap().0
    }

    #[test]
    fn every_type_survives_json() {
        let nested: Attributes = [KeyValue::new("inner", AnyValue::Int(-3))].into_iter().collect();
        let values = vec![
            AnyValue::String("GET".into()),
            AnyValue::Bool(true),
            AnyValue::Int(i64::MAX),
            AnyValue::Int(7),
            AnyValue::Double(1.0),
            AnyValue::Double(0.25),
            AnyValue::Double(f64::INFINITY),
            AnyValue::Bytes(vec![0, 159, 255]),
            AnyValue::Array(vec![AnyValue::Int(1), AnyValue::String("two".into())]),
            AnyValue::Map(nested),
            AnyValue::Empty,
        ];
        for value in values {
            assert_eq!(round_trip(value.clone()), value);
        }
        match round_trip(AnyValue::Double(f64::NAN)) {
            AnyValue::Double(value) => assert!(value.is_nan()),
            other => panic!("NaN came back as {other:?}"),
        }
    }

    #[test]
    fn attributes_keep_their_order_and_read_naturally() {
        let attributes: Attributes = [
            KeyValue::new("http.request.method", AnyValue::String("POST".into())),
            KeyValue::new("http.response.status_code", AnyValue::Int(503)),
            KeyValue::new("a", AnyValue::Double(2.0)),
        ]
        .into_iter()
        .collect();
        let json = attributes_to_json(&attributes);
        assert_eq!(json, r#"{"http.request.method":"POST","http.response.status_code":503,"a":2.0}"#);
        assert_eq!(attributes_from_json(&json).unwrap(), attributes);
    }

    /// Version 1, pinned: what is on disk reads back the same, whatever the model becomes.
    #[test]
    fn the_persisted_forms_are_pinned() {
        let spans = crate::conformance::rich_trace(1);
        let span = spans.iter().find(|span| !span.events.is_empty() && !span.links.is_empty()).expect("a rich span");
        let events = to_json(&span.events);
        let links = to_json(&span.links);
        assert_eq!(events_from_json(&events).unwrap(), span.events);
        assert_eq!(links_from_json(&links).unwrap(), span.links);
        assert_eq!(resource_from_json(&to_json(&*span.resource)).unwrap(), *span.resource);
        assert_eq!(scope_from_json(&to_json(&*span.scope)).unwrap(), *span.scope);
        let whole = to_json(span);
        let back: SpanIn = serde_json::from_str(&whole).unwrap();
        assert_eq!(back.into_model(span.resource.clone(), span.scope.clone()), *span);

        let event = Event {
            time_unix_nano: 5,
            name: "exception".into(),
            attributes: [KeyValue::new("exception.type", AnyValue::String("E".into()))].into_iter().collect(),
            dropped_attributes_count: 0,
        };
        assert_eq!(to_json(&event), r#"{"time_unix_nano":5,"name":"exception","attributes":{"exception.type":"E"}}"#);
        let link = Link {
            trace_id: TraceId::from_bytes([1; 16]).unwrap(),
            span_id: SpanId::from_bytes([2; 8]).unwrap(),
            trace_state: String::new(),
            attributes: Attributes::default(),
            dropped_attributes_count: 0,
            flags: 1,
        };
        assert_eq!(
            to_json(&link),
            r#"{"trace_id":"01010101010101010101010101010101","span_id":"0202020202020202","flags":1}"#
        );
        assert_eq!(to_json(&Scope { name: "lib".into(), ..Default::default() }), r#"{"name":"lib"}"#);
        assert_eq!(to_json(&Resource::default()), r#"{"attributes":{}}"#);
        let status = Status { code: StatusCode::Error, message: "boom".into() };
        assert_eq!(to_json(&status), r#"{"code":"Error","message":"boom"}"#);
        let log = LogRecord {
            time_unix_nano: 7,
            observed_time_unix_nano: 8,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: AnyValue::String("failed".into()),
            attributes: Attributes::default(),
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: None,
            span_id: None,
            event_name: String::new(),
            resource: Arc::default(),
            scope: Arc::default(),
        };
        let text = to_json(&log);
        assert_eq!(
            text,
            r#"{"time_unix_nano":7,"observed_time_unix_nano":8,"severity_number":17,"severity_text":"ERROR","body":"failed","dropped_attributes_count":0,"flags":0,"trace_id":null,"span_id":null}"#
        );
        assert_eq!(log_from_json(&text, Arc::default(), Arc::default()).unwrap(), log);
    }
}
