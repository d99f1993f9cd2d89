//! Log records, as OTLP's logs signal carries them.

use std::sync::Arc;

use crate::{AnyValue, Attributes, Event, Resource, Scope, SpanId, TraceId, UnixNanos};

/// One log record. With a trace id and a span id it is evidence about that span: the joiner
/// reads it as one of the span's log lines ([`LogRecord::as_event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// When the event happened; 0 when the source did not say.
    pub time_unix_nano: UnixNanos,
    /// When the record was observed by the collection system.
    pub observed_time_unix_nano: UnixNanos,
    /// OpenTelemetry's `SeverityNumber` (1–24; 0 unspecified).
    pub severity_number: i32,
    pub severity_text: String,
    pub body: AnyValue,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub flags: u32,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    /// OTLP's `event_name`: the record is an event of that name.
    pub event_name: String,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl LogRecord {
    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }

    /// The record's time: when it happened, else when it was observed.
    pub fn time(&self) -> UnixNanos {
        if self.time_unix_nano != 0 {
            self.time_unix_nano
        } else {
            self.observed_time_unix_nano
        }
    }

    /// The body as text: a string as it is, anything else as JSON.
    pub fn body_text(&self) -> String {
        match &self.body {
            AnyValue::String(text) => text.clone(),
            AnyValue::Empty => String::new(),
            other => other.to_text(),
        }
    }

    /// The span this record is about, when it carries both ids.
    pub fn span_key(&self) -> Option<(TraceId, SpanId)> {
        Some((self.trace_id?, self.span_id?))
    }

    /// The record as a log line attached to its span: a span event carrying the record's
    /// attributes, its body as `log.message`, and its severity as `severity_text` and
    /// `severity_number` (the keys span events written by log bridges use).
    pub fn as_event(&self) -> Event {
        let mut attributes = self.attributes.clone();
        attributes.push("log.message", AnyValue::String(self.body_text()));
        if !self.severity_text.is_empty() {
            attributes.push("severity_text", AnyValue::String(self.severity_text.clone()));
        }
        if self.severity_number != 0 {
            attributes.push("severity_number", AnyValue::Int(i64::from(self.severity_number)));
        }
        let name = if self.event_name.is_empty() { "log".to_owned() } else { self.event_name.clone() };
        Event { time_unix_nano: self.time(), name, attributes, dropped_attributes_count: self.dropped_attributes_count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> LogRecord {
        LogRecord {
            time_unix_nano: 0,
            observed_time_unix_nano: 7,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: AnyValue::String("[getThing][Get Thing Failed][thingListResult is null]".into()),
            attributes: Attributes::default(),
            dropped_attributes_count: 0,
            flags: 1,
            trace_id: None,
            span_id: None,
            event_name: String::new(),
            resource: Arc::default(),
            scope: Arc::default(),
        }
    }

    #[test]
    fn a_record_reads_as_a_log_line_event_with_its_severity() {
        let event = record().as_event();
        assert_eq!(event.time_unix_nano, 7, "no event time: the observed time");
        assert_eq!(event.name, "log");
        assert_eq!(
            event.attributes.get_str("log.message"),
            Some("[getThing][Get Thing Failed][thingListResult is null]")
        );
        assert_eq!(event.attributes.get_str("severity_text"), Some("ERROR"));
        assert_eq!(event.attributes.get("severity_number").and_then(AnyValue::as_i64), Some(17));
    }

    #[test]
    fn a_body_that_is_not_text_reads_as_json() {
        let mut log = record();
        log.body = AnyValue::Int(3);
        assert_eq!(log.body_text(), "3");
        // Its stored form round-trips in `semtrace_store::encoding`.
    }
}
