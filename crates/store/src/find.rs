//! Traces found by their fields, as Jaeger's and Tempo's search asks: a service, an operation,
//! tags, a time range and a duration range, newest first. Backends select candidate spans by
//! service, operation, time and duration; whether a span has the tags asked for is decided here,
//! once for every backend ([`TraceQuery::tags_match`]).

use semtrace_model::{AnyValue, Attributes, SpanKind, StatusCode};

/// A search for traces by their fields: a trace matches when one of its spans passes every
/// field given. `None` and empty fields leave it open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub service: Option<String>,
    /// The span's name (Jaeger's operation).
    pub operation: Option<String>,
    /// (key, value) pairs the span has, each as text: its own attributes, its resource's, or
    /// Jaeger's derived tags (`error=true`, `span.kind=server`, `otel.status_code=ERROR`), and
    /// semtrace's `error.category` (the error category of the span's template).
    pub tags: Vec<(String, String)>,
    /// Spans starting at or after this time (Unix ns).
    pub start_ns: Option<u64>,
    /// Spans starting before this time (Unix ns).
    pub end_ns: Option<u64>,
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    /// Traces returned at most.
    pub limit: usize,
}

impl TraceQuery {
    /// Whether a tag asks for the span's error category: only then do backends read it.
    pub fn wants_category(&self) -> bool {
        self.tags.iter().any(|(key, _)| key == "error.category")
    }

    /// Whether a span of this kind, status and error category, with these attributes and its
    /// resource's, has every tag asked for. Values compare as text: a string as it is, other
    /// values as JSON writes them (`500`, `true`, `1.5`).
    pub fn tags_match(&self, span: TaggedSpan<'_>) -> bool {
        let TaggedSpan { kind, status, category, attributes, resource } = span;
        self.tags.iter().all(|(key, wanted)| {
            let derived = match key.as_str() {
                "error" => Some(status == StatusCode::Error && wanted == "true"),
                "error.category" => Some(category.is_some_and(|category| category.eq_ignore_ascii_case(wanted))),
                "span.kind" => Some(kind_name(kind) == Some(wanted.as_str())),
                "otel.status_code" => Some(status_name(status) == Some(wanted.as_str())),
                _ => None,
            };
            derived == Some(true)
                || [attributes, resource]
                    .iter()
                    .any(|attributes| attributes.get(key).is_some_and(|value| value_text(value) == *wanted))
        })
    }
}

/// What a span's tags are read from.
#[derive(Debug, Clone, Copy)]
pub struct TaggedSpan<'a> {
    pub kind: SpanKind,
    pub status: StatusCode,
    /// Its template's error category, for a failed span.
    pub category: Option<&'a str>,
    pub attributes: &'a Attributes,
    pub resource: &'a Attributes,
}

/// An attribute's value as a tag compares it.
pub fn value_text(value: &AnyValue) -> String {
    match value {
        AnyValue::String(text) => text.clone(),
        other => other.to_text(),
    }
}

/// Jaeger's name of a span kind (`span.kind`); `None` for an unspecified kind.
pub fn kind_name(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Unspecified => None,
        SpanKind::Internal => Some("internal"),
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
    }
}

/// Jaeger's `otel.status_code`; `None` for an unset status.
pub fn status_name(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::Unset => None,
        StatusCode::Ok => Some("OK"),
        StatusCode::Error => Some("ERROR"),
    }
}

/// Calls from one service to another: spans of `child` whose parent span is of `parent`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceCall {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

/// Failed spans of one service and one template in one time bucket: what the errors overview
/// charts (the template's text names the failure's categories).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureCount {
    /// The bucket: (span start - window start) / bucket width.
    pub bucket: u32,
    pub service: String,
    pub template_id: i64,
    pub template: String,
    /// The template's error category; `None` while the indexer has not classified it.
    pub category: Option<String>,
    pub spans: u64,
    /// The group's newest span: its start and its trace.
    pub newest_ns: u64,
    pub newest_trace: semtrace_model::TraceId,
}

/// The window an errors overview counts over: spans starting in [start_ns, end_ns), in buckets
/// of `bucket_ns`, of one service or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureWindow {
    pub service: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub bucket_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_attributes_resource_and_derived_tags() {
        let mut attributes = Attributes::default();
        attributes.push("http.response.status_code", AnyValue::Int(500));
        attributes.push("http.route", AnyValue::String("/orders/{id}".into()));
        let mut resource = Attributes::default();
        resource.push("k8s.namespace.name", AnyValue::String("shop".into()));
        let query = |tags: &[(&str, &str)]| TraceQuery {
            tags: tags.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            ..TraceQuery::default()
        };
        let tagged = |status, category| TaggedSpan {
            kind: SpanKind::Server,
            status,
            category,
            attributes: &attributes,
            resource: &resource,
        };
        let matches = |tags: &[(&str, &str)], status| query(tags).tags_match(tagged(status, None));
        assert!(matches(&[], StatusCode::Unset), "no tags: every span");
        assert!(matches(&[("http.response.status_code", "500"), ("http.route", "/orders/{id}")], StatusCode::Unset));
        assert!(matches(&[("k8s.namespace.name", "shop")], StatusCode::Unset), "a resource attribute");
        assert!(!matches(&[("http.response.status_code", "404")], StatusCode::Unset));
        assert!(!matches(&[("http.route", "/orders/{id}"), ("missing", "x")], StatusCode::Unset), "all must match");
        assert!(matches(&[("error", "true"), ("otel.status_code", "ERROR")], StatusCode::Error));
        assert!(!matches(&[("error", "true")], StatusCode::Ok));
        assert!(matches(&[("span.kind", "server")], StatusCode::Ok));
        assert!(!matches(&[("span.kind", "client")], StatusCode::Ok));
        let timed_out = tagged(StatusCode::Error, Some("database timed out"));
        assert!(query(&[("error.category", "Database timed out")]).tags_match(timed_out), "case aside");
        assert!(!query(&[("error.category", "timeout")]).tags_match(timed_out));
        assert!(!matches(&[("error.category", "timeout")], StatusCode::Error), "no category: no match");
    }
}
