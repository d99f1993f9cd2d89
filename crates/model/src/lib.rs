//! The domain model of semtrace: spans, traces, log records, ids and attribute values.
//!
//! No IO, no async, no wire formats: receivers convert OTLP into these types,
//! stores persist them, the query API renders them.

mod attributes;
mod ids;
mod log;
mod span;
mod time;

pub use attributes::{AnyValue, Attributes, KeyValue};
pub use ids::{IdError, SpanId, TraceId};
pub use log::LogRecord;
pub use span::{Event, Link, Resource, Scope, Span, SpanKind, Status, StatusCode, Trace};
pub use time::{format_rfc3339_nanos, UnixNanos};
