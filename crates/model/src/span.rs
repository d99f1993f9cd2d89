use std::sync::Arc;

use crate::{AnyValue, Attributes, SpanId, TraceId, UnixNanos};

/// The attribute that names a service in a resource (OpenTelemetry semantic conventions).
pub const SERVICE_NAME: &str = "service.name";
/// What OpenTelemetry SDKs report when no service name was configured.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// What the span describes, as in OTLP's `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From OTLP's enum number; unknown numbers are `Unspecified`, as the specification allows.
    pub fn from_otlp(value: i32) -> Self {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    pub fn to_otlp(self) -> i32 {
        match self {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "UNSPECIFIED",
            SpanKind::Internal => "INTERNAL",
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Producer => "PRODUCER",
            SpanKind::Consumer => "CONSUMER",
        }
    }
}

/// A span's final status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    pub fn from_otlp(value: i32) -> Self {
        match value {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    pub fn to_otlp(self) -> i32 {
        match self {
            StatusCode::Unset => 0,
            StatusCode::Ok => 1,
            StatusCode::Error => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "UNSET",
            StatusCode::Ok => "OK",
            StatusCode::Error => "ERROR",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "UNSET" => Some(StatusCode::Unset),
            "OK" => Some(StatusCode::Ok),
            "ERROR" => Some(StatusCode::Error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// The entity that produced spans: a service instance, with its attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Resource {
    /// The service name, `unknown_service` when the resource has none (as SDKs do).
    pub fn service_name(&self) -> &str {
        self.attributes.get_str(SERVICE_NAME).filter(|name| !name.is_empty()).unwrap_or(UNKNOWN_SERVICE)
    }
}

/// The instrumentation library that produced spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

/// A timestamped annotation: an exception, a log line attached to the span, a retry...
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time_unix_nano: UnixNanos,
    pub name: String,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
}

/// A reference to another span, in this trace or another.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

/// One operation in a trace. Resource and scope are shared by the spans of one OTLP batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: UnixNanos,
    pub end_time_unix_nano: UnixNanos,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl Span {
    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }

    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano)
    }

    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        self.attributes.get(key)
    }
}

/// All stored spans of one trace, ordered by start time.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub trace_id: TraceId,
    pub spans: Vec<Span>,
}

impl Trace {
    /// Builds a trace; spans are sorted by start time (then span id, for a stable order).
    pub fn new(trace_id: TraceId, mut spans: Vec<Span>) -> Self {
        debug_assert!(spans.iter().all(|span| span.trace_id == trace_id));
        spans.sort_by_key(|span| (span.start_time_unix_nano, span.span_id));
        Trace { trace_id, spans }
    }

    /// The root span: the one without a parent, or whose parent was never received;
    /// the earliest such span when there are several.
    pub fn root(&self) -> Option<&Span> {
        let has_span = |id: &SpanId| self.spans.iter().any(|span| span.span_id == *id);
        self.spans
            .iter()
            .find(|span| span.parent_span_id.is_none())
            .or_else(|| self.spans.iter().find(|span| span.parent_span_id.as_ref().is_some_and(|id| !has_span(id))))
            .or_else(|| self.spans.first())
    }

    pub fn start_time_unix_nano(&self) -> UnixNanos {
        self.spans.iter().map(|span| span.start_time_unix_nano).min().unwrap_or(0)
    }

    pub fn end_time_unix_nano(&self) -> UnixNanos {
        self.spans.iter().map(|span| span.end_time_unix_nano).max().unwrap_or(0)
    }

    /// Distinct service names, in order of first appearance.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = Vec::new();
        for span in &self.spans {
            let name = span.service_name();
            if !services.contains(&name) {
                services.push(name);
            }
        }
        services
    }
}
