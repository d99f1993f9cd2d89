//! Span summaries and templates: the text semantic search embeds and shows.
//!
//! A **summary** is one readable line per span with what people search for: service, kind and
//! name, outcome, error type and message (from the status and from `exception` events), log
//! lines attached as events, the key semantic-convention attributes (HTTP, database, RPC,
//! messaging, peer), the failure's categories in plain words and the duration with a slowness
//! cue. Example:
//!
//! ```text
//! orders-api client span SELECT orders failed with SQLTransientConnectionException: HikariPool-1 -
//! Connection is not available, request timed out after 30000ms. postgresql database SELECT orders:
//! SELECT * FROM orders WHERE id = ?. peer orders-db-3.prod.internal:5432. Category: timeout, took
//! too long; connection failure, could not connect; database unavailable, the database server could
//! not be reached. took 30012 ms, very slow.
//! ```
//!
//! Its **template** is the same line with high-cardinality values masked ([`mask`]): ids,
//! numbers, UUIDs, hex, IPs, times, e-mails; the duration reduced to its cue. Telemetry repeats
//! itself, so many spans share a template, and a template is embedded once.

mod category;
mod mask;
pub mod structured;
mod words;

use std::sync::LazyLock;

use regex::Regex;

use semtrace_model::{AnyValue, Attributes, Event, Span, SpanKind, StatusCode};

pub use category::{
    categories_of, categorize, category_label, category_labels, category_names, category_of_template, primary_category,
};
pub use mask::{mask, mask_statement};
pub use words::readable;

/// Longest summary kept, in bytes; longer ones are cut at a character boundary.
const MAX_SUMMARY: usize = 1000;
/// Longest template, in bytes (MiniLM reads at most 256 word pieces anyway).
const MAX_TEMPLATE: usize = 600;
/// Longest piece of free text (a message, a statement) taken into a summary.
const MAX_PIECE: usize = 300;
/// Events taken into a summary besides the first exception.
const MAX_EVENTS: usize = 3;
/// Bytes of a message, of a log line and of a statement the template keeps.
const TEMPLATE_MESSAGE: usize = 200;
const TEMPLATE_LOG: usize = 120;
const TEMPLATE_STATEMENT: usize = 80;

/// Database systems (OpenTelemetry `db.system` values) used as caches.
fn is_cache(system: &str) -> bool {
    ["redis", "memcached", "valkey", "keydb", "dragonfly", "hazelcast", "coherence"]
        .iter()
        .any(|cache| system.eq_ignore_ascii_case(cache))
}

/// What people call a store of this `db.system`: key-value stores are nearly always run as
/// caches, and document stores are asked for as such ("the document store was down").
fn store_kind(system: &str) -> &'static str {
    const DOCUMENT: &[&str] =
        &["mongodb", "couchdb", "couchbase", "dynamodb", "cosmosdb", "documentdb", "firestore", "ravendb"];
    if is_cache(system) {
        "cache"
    } else if DOCUMENT.iter().any(|document| system.eq_ignore_ascii_case(document)) {
        "document database"
    } else {
        "database"
    }
}

/// The last part of a dotted type name: `java.net.SocketTimeoutException` → `SocketTimeoutException`.
fn short_type(name: &str) -> &str {
    let name = name.trim();
    match name.rfind(['.', ':']) {
        Some(at) if at + 1 < name.len() && !name.contains(' ') => &name[at + 1..],
        _ => name,
    }
}

/// A URL's path: `https://host:8080/a/b?x=1` → `/a/b`.
fn url_path(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => without_query,
    }
}

/// What [`summarize`] makes of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanSummary {
    /// The readable summary, shown in search results.
    pub text: String,
    /// The summary with volatile values masked; spans with equal templates share one embedding.
    pub template: String,
    /// The exception or error type, when the span reports one.
    pub error_type: Option<String>,
    /// The error text (status message, exception messages, error logs), when the span reports
    /// one; what error search indexes.
    pub error_text: Option<String>,
    /// Well-known failure categories the error text falls in, in plain words.
    pub error_categories: Vec<&'static str>,
    /// Whether and how the span failed (part of the template: failed and healthy spans never
    /// share one).
    pub outcome: Outcome,
    /// For a failed span, the failure alone, masked as the template is: the sentence saying
    /// what failed and why, and its categories, without the service, operation or peer. The
    /// same failure in another service reads the same.
    pub failure: Option<String>,
}

/// A span's outcome as search ranks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Status OK or UNSET.
    Healthy,
    /// Status ERROR with nothing saying why (a parent passing on a child's failure, a bare 500).
    Failed,
    /// Status ERROR with an exception, an error message or an error log.
    FailedWithReason,
}

impl Outcome {
    pub fn to_i64(self) -> i64 {
        match self {
            Outcome::Healthy => 0,
            Outcome::Failed => 1,
            Outcome::FailedWithReason => 2,
        }
    }

    pub fn from_i64(value: i64) -> Outcome {
        match value {
            1 => Outcome::Failed,
            2 => Outcome::FailedWithReason,
            _ => Outcome::Healthy,
        }
    }

    pub fn is_failure(self) -> bool {
        self != Outcome::Healthy
    }
}

impl SpanSummary {
    /// A stable 64-bit hash of the template (FNV-1a), the same on every machine and version.
    pub fn template_hash(&self) -> i64 {
        template_hash(&self.template)
    }
}

/// Whether a template carries the slowness cue (`slow`, `very slow`) of a long span.
pub fn is_slow(template: &str) -> bool {
    template.ends_with(" slow.")
}

/// `template` with the slowness cue, for a span slow for its own operation though it took less
/// than the cue's absolute second (a conversion that took 674 ms where it takes 2): the store
/// adds it, knowing the operation's typical duration. `None` when the cue is there already.
pub fn with_slow_cue(template: &str) -> Option<String> {
    (!is_slow(template)).then(|| format!("{} slow.", template.trim_end()))
}

/// FNV-1a over the bytes: stable across builds, unlike `std`'s hasher.
pub fn template_hash(template: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in template.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Builds the text and its template side by side.
struct Builder {
    text: String,
    template: String,
}

impl Builder {
    /// Low-cardinality text (service, kind, status code names): the same in both.
    fn stable(&mut self, piece: &str) {
        self.text.push_str(piece);
        self.template.push_str(piece);
    }

    /// Free text: kept in the summary, masked in the template.
    fn volatile(&mut self, piece: &str) {
        let piece = truncate(piece.trim(), MAX_PIECE);
        self.text.push_str(piece);
        self.template.push_str(&mask(piece));
    }

    /// Free text kept whole in the summary, but only its first `max` bytes in the template:
    /// the template is what the model reads, and its cost grows with length.
    fn volatile_short(&mut self, piece: &str, max: usize) {
        let piece = truncate(piece.trim(), MAX_PIECE);
        self.text.push_str(piece);
        self.template.push_str(&mask(truncate(piece, max)));
    }

    /// Free text with a different, shorter form in the template.
    fn volatile_as(&mut self, piece: &str, in_template: &str) {
        self.text.push_str(truncate(piece.trim(), MAX_PIECE));
        self.template.push_str(&mask(truncate(in_template.trim(), MAX_PIECE)));
    }

    fn statement(&mut self, piece: &str) {
        let piece = truncate(piece.trim(), MAX_PIECE);
        self.text.push_str(piece);
        self.template.push_str(&mask_statement(truncate(piece, TEMPLATE_STATEMENT)));
    }

    fn text_only(&mut self, piece: &str) {
        self.text.push_str(piece);
    }

    /// Ends a sentence unless the text already ends with punctuation.
    fn end_sentence(&mut self) {
        for out in [&mut self.text, &mut self.template] {
            if !out.ends_with(['.', '!']) {
                out.push('.');
            }
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn get_str<'a>(attributes: &'a Attributes, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| attributes.get_str(key)).map(str::trim).filter(|text| !text.is_empty())
}

fn get_text(attributes: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match attributes.get(key)? {
        AnyValue::String(text) if text.trim().is_empty() => None,
        AnyValue::String(text) => Some(text.trim().to_owned()),
        AnyValue::Int(value) => Some(value.to_string()),
        AnyValue::Double(value) => Some(value.to_string()),
        AnyValue::Bool(value) => Some(value.to_string()),
        _ => None,
    })
}

fn get_int(attributes: &Attributes, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|key| match attributes.get(key)? {
        AnyValue::Int(value) => Some(*value),
        AnyValue::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Where log lines keep their text, in the conventions' order of preference.
const MESSAGE_KEYS: &[&str] = &["log.message", "message", "body", "log.record.body", "msg", "log"];
/// Where log lines keep their level as text (`ERROR`, `warn`, `Information` …).
const SEVERITY_KEYS: &[&str] = &["log.severity", "severity", "severity_text", "log.level", "level", "loglevel"];
/// Where log lines keep OpenTelemetry's numeric severity (1–24: 13–16 WARN, 17–24 ERROR/FATAL).
const SEVERITY_NUMBER_KEYS: &[&str] = &["severity_number", "log.severity_number", "severity.number"];

fn is_exception(event: &Event) -> bool {
    event.name == "exception" || event.attributes.get("exception.type").is_some()
}

/// How severe a log line attached to a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// TRACE, DEBUG, INFO, NOTICE.
    Routine,
    /// WARN.
    Warning,
    /// ERROR, FATAL, CRITICAL and above.
    Error,
}

impl Severity {
    /// From a level's name, as loggers spell it: `ERROR`, `err`, `Warning`, `info`, `FATAL` …
    pub fn from_text(level: &str) -> Option<Severity> {
        let level = level.trim().to_ascii_lowercase();
        if let Ok(number) = level.parse::<i64>() {
            return Severity::from_number(number);
        }
        const ERROR: &[&str] = &["err", "fatal", "crit", "alert", "emerg", "severe", "panic"];
        const ROUTINE: &[&str] = &["info", "debug", "trace", "notice", "verbose", "fine", "config"];
        if ERROR.iter().any(|prefix| level.starts_with(prefix)) {
            Some(Severity::Error)
        } else if level.starts_with("warn") {
            Some(Severity::Warning)
        } else if ROUTINE.iter().any(|prefix| level.starts_with(prefix)) {
            Some(Severity::Routine)
        } else {
            None
        }
    }

    /// From OpenTelemetry's `SeverityNumber`: 1–12 routine, 13–16 WARN, 17–24 ERROR and FATAL.
    pub fn from_number(number: i64) -> Option<Severity> {
        match number {
            1..=12 => Some(Severity::Routine),
            13..=16 => Some(Severity::Warning),
            17..=24 => Some(Severity::Error),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Severity::Routine => "info",
            Severity::Warning => "warn",
            Severity::Error => "error",
        }
    }
}

/// A span event read as a log line: its severity, if it has one, and its text.
struct LogLine<'a> {
    severity: Option<Severity>,
    /// The level as the event spelled it, for the summary (`error`, `warn`, `info`).
    level: Option<String>,
    message: Option<&'a str>,
    /// The error the line reports beside its message, its telling line ([`error_head`]): a
    /// logback appender's `log.exception`, a log record's `exception.message`, a logstash
    /// encoder's `stack_trace`, OpenTracing's `error.object`, zap's `error`.
    error: Option<&'a str>,
}

/// Where a log line keeps the error it reports, beside its message.
const LINE_ERROR_KEYS: &[&str] = &[
    "exception.message",
    "log.exception",
    "stack_trace",
    "stacktrace",
    "exception.stacktrace",
    "error.object",
    "error.message",
    "error",
    "exc_info",
    "stack",
];

/// An error text's telling line: a stack trace's first line (`Type: message`, which in most
/// frameworks already names the cause it wraps), a Python traceback's last line (`ValueError:
/// …`), a message as it is.
fn error_head(text: &str) -> &str {
    let text = text.trim();
    if text.starts_with("Traceback (most recent call last)") {
        if let Some(last) =
            text.lines().rev().find(|line| !line.trim().is_empty() && !line.starts_with(char::is_whitespace))
        {
            return last.trim();
        }
    }
    text.lines().next().unwrap_or_default().trim()
}

/// Reads an event as a log line, under every common convention: a level as text (`log.severity`,
/// `level`, `log.level`, `severity`, `severity_text`), OpenTelemetry's `severity_number`, and
/// OpenTracing's error events (`event=error` with `message`, `error.object`, `error.kind` or
/// `stack`), or an event named after a level (`error`, `WARN`).
fn log_line(event: &Event) -> LogLine<'_> {
    let attributes = &event.attributes;
    let text_level = get_str(attributes, SEVERITY_KEYS);
    let mut severity = text_level.and_then(Severity::from_text);
    if severity.is_none() {
        severity = get_int(attributes, SEVERITY_NUMBER_KEYS).and_then(Severity::from_number);
    }
    let opentracing_error = get_str(attributes, &["event"]).is_some_and(|kind| kind.eq_ignore_ascii_case("error"));
    if severity.is_none() && opentracing_error {
        severity = Some(Severity::Error);
    }
    if severity.is_none() {
        severity = Severity::from_text(&event.name).filter(|_| event.name.len() <= 12);
    }
    // tracing-opentelemetry names an event after its message and records an `error` field as
    // `exception.message` beside the level: the cause is there, the name only says "failed".
    let message = get_str(attributes, MESSAGE_KEYS)
        .or_else(|| get_str(attributes, &["error.object", "error.message", "error.kind", "stack", "event"]))
        .or_else(|| get_str(attributes, &["exception.message", "error"]).filter(|_| severity.is_some()))
        .or_else(|| {
            (severity.is_some() && Severity::from_text(&event.name).is_none() && !event.name.trim().is_empty())
                .then_some(event.name.as_str())
        });
    let level = match (text_level, severity) {
        (Some(level), Some(_)) if level.parse::<i64>().is_err() => Some(level.to_lowercase()),
        (_, Some(severity)) => Some(severity.name().to_owned()),
        (_, None) => None,
    };
    let error = LINE_ERROR_KEYS
        .iter()
        .filter_map(|key| attributes.get_str(key))
        .map(error_head)
        .find(|error| !error.is_empty() && message.is_none_or(|message| !message.contains(*error)));
    LogLine { severity, level, message, error }
}

/// The cause a framework's wrapper message passes on, without the wrapper's boilerplate, which
/// would otherwise fill the template and make every wrapped failure look alike:
/// Tomcat's `Servlet.service() for servlet [x] in context with path [y] threw exception [...]
/// with root cause`, Spring's `Request processing failed; nested exception is X: ...` (and
/// Spring 6's `Request processing failed: X: ...`). Other messages are kept as they are.
pub fn cause_of(message: &str) -> &str {
    let mut text = message.trim();
    if text.starts_with("Servlet.service() for servlet [") {
        if let Some(at) = text.find("threw exception [") {
            text = &text[at + "threw exception [".len()..];
            text = text.strip_suffix("with root cause").map_or(text, str::trim_end);
            text = text.strip_suffix(']').unwrap_or(text);
        }
    }
    const NESTED: &str = "nested exception is";
    if let Some(at) = text.rfind(NESTED) {
        let inner = text[at + NESTED.len()..].trim_start_matches(|c: char| c == ':' || c.is_whitespace());
        if !inner.is_empty() {
            text = inner;
        }
    }
    if let Some(inner) = text.strip_prefix("Request processing failed: ").filter(|inner| !inner.trim().is_empty()) {
        text = inner;
    }
    text.trim()
}

/// Adds a message (its cause, [`cause_of`]) unless one already holds it; drops those it holds.
fn add_message<'a>(message: Option<&'a str>, messages: &mut Vec<&'a str>) {
    if let Some(message) = message.map(cause_of).filter(|message| !message.is_empty()) {
        if !messages.iter().any(|known| known.contains(message)) {
            messages.retain(|known| !message.contains(known));
            messages.push(message);
        }
    }
}

impl LogLine<'_> {
    /// WARN and above: the line says the span failed, whatever its status.
    fn severe(&self) -> Option<Severity> {
        self.severity.filter(|level| *level >= Severity::Warning)
    }
}

/// Whether a log record says something failed: severity WARN or above (by number, or by text
/// when the number is unset), or an exception it carries. Such records with trace context join
/// their span's evidence; the others are only stored.
pub fn log_is_severe(record: &semtrace_model::LogRecord) -> bool {
    let event = record.as_event();
    let event = structured_read(&event).unwrap_or(event);
    is_exception(&event) || log_line(&event).severe().is_some()
}

/// The summary of a span read together with log records about it (OTLP log records that carry
/// its trace and span id): they count as log lines attached to the span, in time order.
pub fn summarize_with_logs(span: &Span, logs: &[semtrace_model::LogRecord]) -> SpanSummary {
    if logs.is_empty() {
        return summarize(span);
    }
    let mut span = span.clone();
    span.events.extend(logs.iter().map(semtrace_model::LogRecord::as_event));
    span.events.sort_by_key(|event| event.time_unix_nano);
    summarize(&span)
}

/// The most severe log line told about a span (ERROR before WARN, the first of its level): from
/// its events and from log records about it. `None` when no line is WARN or above.
pub fn error_log(span: &Span, logs: &[semtrace_model::LogRecord]) -> Option<String> {
    let records: Vec<Event> = logs.iter().map(semtrace_model::LogRecord::as_event).collect();
    let mut worst: Option<(Severity, String)> = None;
    let (own, records) = (read_events(&span.events), read_events(&records));
    for event in own.iter().chain(records.iter()).filter(|event| !is_exception(event)) {
        let line = log_line(event);
        let (Some(severity), Some(message)) = (line.severe(), line.message) else { continue };
        if worst.as_ref().is_none_or(|(known, _)| severity > *known) {
            worst = Some((severity, message.trim().to_owned()));
        }
    }
    worst.map(|(_, message)| message)
}

/// Whether a log line of severity WARN or above is attached to the span (services often log a
/// failure and answer normally); such a span's summary reads as failed, whatever its status.
pub fn failure_logged(span: &Span) -> bool {
    read_events(&span.events).iter().any(|event| !is_exception(event) && log_line(event).severe().is_some())
}

/// Whether the span answered as failed, by what it reported rather than what it logged: an
/// error status, OpenTracing's `error=true` tag, an HTTP status of 400 or more, or a gRPC status
/// other than OK. A span that logged a failure and answered otherwise did not report it.
pub fn reported_failure(span: &Span) -> bool {
    let attributes = &span.attributes;
    span.status.code == StatusCode::Error
        || matches!(attributes.get("error"), Some(AnyValue::Bool(true)))
        || get_str(attributes, &["error"]).is_some_and(|flag| flag.eq_ignore_ascii_case("true"))
        || get_int(attributes, &["http.response.status_code", "http.status_code"]).is_some_and(|status| status >= 400)
        || grpc_status(attributes).is_some_and(|code| code != 0)
}

/// The event with its structured log line (JSON or logfmt) read as a sentence and a level
/// ([`structured`]); `None` when it has none.
fn structured_read(event: &Event) -> Option<Event> {
    structured::read_event(event, MESSAGE_KEYS, &[SEVERITY_KEYS, SEVERITY_NUMBER_KEYS])
}

/// Events with their structured log lines read ([`structured_read`]), each line parsed once;
/// borrowed as they are when none has one (the common case: nothing is copied).
fn read_events(events: &[Event]) -> std::borrow::Cow<'_, [Event]> {
    let mut read: Option<Vec<Event>> = None;
    for (at, event) in events.iter().enumerate() {
        if let Some(line) = structured_read(event) {
            read.get_or_insert_with(|| events[..at].to_vec()).push(line);
        } else if let Some(read) = &mut read {
            read.push(event.clone());
        }
    }
    read.map_or(std::borrow::Cow::Borrowed(events), std::borrow::Cow::Owned)
}

/// The summary and template of a span.
pub fn summarize(span: &Span) -> SpanSummary {
    let events = read_events(&span.events);
    let mut out = Builder { text: String::with_capacity(256), template: String::with_capacity(256) };
    let evidence = Evidence::of(span, &events);
    identity_sentence(&mut out, span);
    let failure_said = failure_sentence(&mut out, span, &evidence);
    let http_status = http_sentence(&mut out, &span.attributes);
    database_sentence(&mut out, &span.attributes);
    rpc_sentence(&mut out, &span.attributes);
    messaging_sentence(&mut out, &span.attributes);
    peer_sentence(&mut out, &span.attributes);
    let error_logs = event_sentences(&mut out, &evidence);
    let (error_categories, categories_start) = categories_sentence(&mut out, span, &evidence, &error_logs, http_status);
    // What failed and why, without who: the same failure told by another service or operation
    // reads the same (similar traces compare failures by it).
    let failure = evidence.failed.then(|| {
        let said = format!("{}{}", &out.template[failure_said], &out.template[categories_start..]);
        truncate(said.trim(), MAX_TEMPLATE).to_owned()
    });
    duration_sentence(&mut out, span);
    let (error_type, error_text, outcome) = outcome(span, &evidence, error_logs, &error_categories, http_status);
    let (text, template) = (out.text.trim_start(), out.template.trim_start());
    SpanSummary {
        text: truncate(text, MAX_SUMMARY).to_owned(),
        template: truncate(template, MAX_TEMPLATE).to_owned(),
        error_type,
        error_text,
        error_categories,
        outcome,
        failure,
    }
}

/// What a span says about a failure: its first exception, its log lines (WARN and above are
/// `severe`, errors before warnings), the error's type and messages, and whether it failed.
struct Evidence<'a> {
    exception: Option<&'a Event>,
    /// Every event but the first exception, read as a log line.
    lines: Vec<(&'a Event, LogLine<'a>)>,
    severe: Vec<&'a str>,
    error_type: Option<String>,
    /// From the exception, severe lines, error attributes and the status message, deduplicated.
    messages: Vec<&'a str>,
    /// The status says so, or the span recorded an exception or logged a line WARN or above:
    /// services often handle a failure and answer normally.
    failed: bool,
    logged_failure: bool,
    /// Only warnings told the failure, the span did not report it, and a later routine line
    /// says it recovered ("reconnected … after 1 retry"): told, but no failure to explain.
    recovered: bool,
}

impl<'a> Evidence<'a> {
    /// `events`: the span's, with structured log lines read ([`read_events`]).
    fn of(span: &'a Span, events: &'a [Event]) -> Self {
        let attributes = &span.attributes;
        let exception = events.iter().find(|event| is_exception(event));
        let lines: Vec<(&Event, LogLine<'_>)> = events
            .iter()
            .filter(|event| !exception.is_some_and(|first| std::ptr::eq(*event, first)))
            .map(|event| (event, log_line(event)))
            .collect();
        let mut severe: Vec<(Severity, &str, Option<&str>)> = lines
            .iter()
            .filter(|(event, _)| !is_exception(event))
            .filter_map(|(_, line)| Some((line.severe()?, line.message?, line.error)))
            .collect();
        // Errors before warnings, each in the order logged.
        severe.sort_by_key(|(level, ..)| std::cmp::Reverse(*level));
        // What the first exception says, when it is a log record (a logging handler's record
        // with `exc_info`): the application's words beside the exception's.
        let exception_line = exception
            .filter(|event| log_line(event).severe().is_some())
            .and_then(|event| get_str(&event.attributes, MESSAGE_KEYS));
        let error_type = exception
            .and_then(|event| get_str(&event.attributes, &["exception.type"]))
            .or_else(|| get_str(attributes, &["exception.type", "error.type"]))
            .map(str::to_owned);
        let mut messages: Vec<&str> = Vec::new();
        add_message(exception.and_then(|event| get_str(&event.attributes, &["exception.message"])), &mut messages);
        add_message(exception_line, &mut messages);
        for (_, message, error) in severe.iter().take(MAX_EVENTS) {
            add_message(Some(message), &mut messages);
            add_message(*error, &mut messages);
        }
        let severe: Vec<&str> = severe.into_iter().map(|(_, message, _)| message).collect();
        add_message(get_str(attributes, &["exception.message", "error.message", "error"]), &mut messages);
        add_message(Some(&span.status.message), &mut messages);
        let logged_failure = !severe.is_empty() || exception.is_some();
        let failed = span.status.code == StatusCode::Error || logged_failure;
        let recovered = exception.is_none() && !reported_failure(span) && recovered_after_warnings(&lines);
        Evidence { exception, lines, severe, error_type, messages, failed, logged_failure, recovered }
    }
}

/// Lines that say a failure was got over: a client reconnected, a retry went through.
static RECOVERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(reconnected|recovered|re-?established|retry (succeeded|successful|ok)|(succeeded|successful|ok|completed|done) (after|on) (\d+ |the )?(\w+ )?(retr|attempt|tr(y|ies)\b))",
    )
    .expect("recovery pattern")
});

/// Whether the span's log lines told a failure only as warnings, and a routine line after the
/// last of them says it was got over ([`RECOVERY`]).
fn recovered_after_warnings(lines: &[(&Event, LogLine<'_>)]) -> bool {
    let Some(last_warning) = lines.iter().rposition(|(_, line)| line.severe().is_some()) else { return false };
    lines.iter().all(|(_, line)| line.severe() != Some(Severity::Error))
        && lines[last_warning + 1..].iter().any(|(_, line)| {
            line.severity.is_none_or(|level| level == Severity::Routine)
                && line.message.is_some_and(|message| RECOVERY.is_match(message))
        })
}

/// Who and what: `orders client span SELECT orders`.
fn identity_sentence(out: &mut Builder, span: &Span) {
    out.stable(span.service_name());
    out.stable(match span.kind {
        SpanKind::Server => " server span ",
        SpanKind::Client => " client span ",
        SpanKind::Producer => " producer span ",
        SpanKind::Consumer => " consumer span ",
        SpanKind::Internal | SpanKind::Unspecified => " span ",
    });
    out.volatile(&span.name);
}

/// How it ended, and why: ` failed with QueryCanceled: canceling statement…`. Returns where
/// the failure's own words lie in the template.
fn failure_sentence(out: &mut Builder, span: &Span, evidence: &Evidence<'_>) -> std::ops::Range<usize> {
    let start = out.template.len();
    match span.status.code {
        StatusCode::Error => out.stable(" failed"),
        _ if evidence.logged_failure => out.stable(" failed"),
        StatusCode::Ok => out.stable(" succeeded"),
        StatusCode::Unset => {}
    }
    if let Some(error_type) = &evidence.error_type {
        out.stable(" with ");
        out.volatile_as(error_type, short_type(error_type));
    }
    if !evidence.messages.is_empty() {
        out.stable(": ");
        for (index, message) in evidence.messages.iter().enumerate() {
            if index > 0 {
                out.stable("; ");
            }
            out.volatile_short(message, if index == 0 { TEMPLATE_MESSAGE } else { TEMPLATE_LOG });
        }
    }
    out.end_sentence();
    start..out.template.len()
}

/// ` HTTP GET /users/{id} status 503 server error.`, in the semantic conventions' terms
/// (current names first, then older ones). Returns the HTTP status code.
fn http_sentence(out: &mut Builder, attributes: &Attributes) -> Option<i64> {
    let method = get_str(attributes, &["http.request.method", "http.method"]);
    let status = get_int(attributes, &["http.response.status_code", "http.status_code"]);
    if method.is_none() && status.is_none() {
        return None;
    }
    out.stable(" HTTP");
    if let Some(method) = method {
        out.stable(" ");
        out.volatile(method);
    }
    if let Some(route) = get_str(attributes, &["http.route"]) {
        out.stable(" ");
        out.volatile(route);
    } else if let Some(path) = get_str(attributes, &["url.path", "http.target", "url.full", "http.url"]) {
        out.stable(" ");
        let without_query = path.split('?').next().unwrap_or(path);
        out.volatile_as(without_query, url_path(without_query));
    }
    if let Some(status) = status {
        out.stable(&format!(" status {status}"));
        if status >= 500 {
            out.stable(" server error");
        } else if status >= 400 {
            out.stable(" client error");
        }
    }
    out.end_sentence();
    status
}

/// ` postgresql database SELECT orders: SELECT * FROM orders WHERE id = <num>.`
fn database_sentence(out: &mut Builder, attributes: &Attributes) {
    let Some(system) = get_str(attributes, &["db.system.name", "db.system"]) else { return };
    out.stable(" ");
    out.volatile(system);
    out.stable(" ");
    out.stable(store_kind(system));
    if let Some(operation) = get_str(attributes, &["db.operation.name", "db.operation"]) {
        out.stable(" ");
        out.volatile(operation);
    }
    if let Some(collection) = get_str(attributes, &["db.collection.name", "db.sql.table", "db.mongodb.collection"]) {
        out.stable(" ");
        out.volatile(collection);
    }
    if let Some(statement) = get_str(attributes, &["db.query.text", "db.statement"]) {
        out.stable(": ");
        out.statement(statement);
    }
    out.end_sentence();
}

/// ` grpc call inventory.Inventory/Reserve status UNAVAILABLE.`
fn rpc_sentence(out: &mut Builder, attributes: &Attributes) {
    let Some(system) = get_str(attributes, &["rpc.system"]) else { return };
    out.stable(" ");
    out.volatile(system);
    out.stable(" call");
    let service = get_str(attributes, &["rpc.service"]);
    let method = get_str(attributes, &["rpc.method"]);
    if service.is_some() || method.is_some() {
        out.stable(" ");
        out.volatile(&[service.unwrap_or(""), method.unwrap_or("")].join("/"));
    }
    if let Some(code) = grpc_status(attributes) {
        out.stable(&format!(" status {}", grpc_name(code).unwrap_or("UNKNOWN")));
    }
    out.end_sentence();
}

fn grpc_status(attributes: &Attributes) -> Option<i64> {
    get_int(attributes, &["rpc.grpc.status_code"])
}

/// A gRPC status code's name; `None` out of range.
fn grpc_name(code: i64) -> Option<&'static str> {
    usize::try_from(code).ok().and_then(|code| GRPC_CODES.get(code)).copied()
}

/// ` kafka messaging publish order-events.`
fn messaging_sentence(out: &mut Builder, attributes: &Attributes) {
    let Some(system) = get_str(attributes, &["messaging.system"]) else { return };
    out.stable(" ");
    out.volatile(system);
    out.stable(" messaging");
    if let Some(operation) = get_str(attributes, &["messaging.operation.type", "messaging.operation"]) {
        out.stable(" ");
        out.volatile(operation);
    }
    if let Some(destination) = get_str(attributes, &["messaging.destination.name", "messaging.destination"]) {
        out.stable(" ");
        out.volatile(destination);
    }
    out.end_sentence();
}

/// ` peer payments 10.0.0.5:8080.` The address is for people; the model reads only the peer
/// service's name.
fn peer_sentence(out: &mut Builder, attributes: &Attributes) {
    let peer_service = get_str(attributes, &["peer.service"]);
    let address = get_str(attributes, &["server.address", "net.peer.name", "net.peer.ip", "network.peer.address"]);
    if let Some(peer) = peer_service {
        out.stable(" peer ");
        out.volatile(peer);
    } else if address.is_some() {
        out.text_only(" peer");
    }
    if let Some(address) = address {
        out.text_only(" ");
        match get_text(attributes, &["server.port", "net.peer.port", "network.peer.port"]) {
            Some(port) => out.text_only(&format!("{address}:{port}")),
            None => out.text_only(address),
        }
    }
    if peer_service.is_some() || address.is_some() {
        out.end_sentence();
    }
}

/// Log lines and other events attached to the span (the first exception and the severe lines
/// are in the failure sentence). In a failed span, routine lines say nothing about the failure:
/// shown, not embedded. Returns the error lines: the severe ones and later exceptions'.
fn event_sentences(out: &mut Builder, evidence: &Evidence<'_>) -> Vec<String> {
    let mut error_logs: Vec<String> = evidence.severe.iter().map(|message| (*message).to_owned()).collect();
    let mut shown = 0;
    for (event, line) in &evidence.lines {
        if line.message.is_some_and(|message| evidence.severe.contains(&message)) {
            continue;
        }
        if shown == MAX_EVENTS {
            break;
        }
        shown += 1;
        let message = if is_exception(event) {
            get_str(&event.attributes, &["exception.message", "exception.type"])
        } else {
            line.message
        };
        if evidence.failed && line.severity == Some(Severity::Routine) {
            out.text_only(&format!(" {} log: ", line.level.as_deref().unwrap_or_default()));
            out.text_only(truncate(message.unwrap_or_default(), MAX_PIECE));
            if !out.text.ends_with(['.', '!']) {
                out.text.push('.');
            }
            continue;
        }
        out.stable(" ");
        match (&line.level, message) {
            (Some(level), Some(message)) => {
                out.stable(&format!("{level} log: "));
                out.volatile_short(message, TEMPLATE_LOG);
            }
            (None, Some(message)) => {
                out.volatile(&event.name);
                out.stable(": ");
                out.volatile_short(message, TEMPLATE_LOG);
            }
            (_, None) => out.volatile(&event.name),
        }
        out.end_sentence();
        if let (true, Some(message)) = (is_exception(event), message) {
            error_logs.push(message.to_owned());
        }
    }
    error_logs
}

/// Failure categories in plain words, from everything that says what went wrong, and the
/// dependency that failed when the span says which: ` Failed dependency: HTTP call to service
/// payments. Category: dependency unavailable.` Returns the categories, and where their
/// sentence starts in the template (the failure's words leave the dependency, a "who", out).
fn categories_sentence(
    out: &mut Builder,
    span: &Span,
    evidence: &Evidence<'_>,
    error_logs: &[String],
    http_status: Option<i64>,
) -> (Vec<&'static str>, usize) {
    if !(evidence.failed || evidence.exception.is_some() || !error_logs.is_empty()) {
        return (Vec::new(), out.template.len());
    }
    let mut said: Vec<&str> = evidence.messages.clone();
    said.extend(evidence.error_type.as_deref());
    said.extend(error_logs.iter().map(String::as_str));
    let http_status = http_status.filter(|status| *status >= 400).map(|status| status.to_string());
    said.extend(http_status.as_deref());
    said.extend(grpc_status(&span.attributes).and_then(grpc_name).filter(|code| *code != "OK"));
    let said = said.join("\n");
    let mut categories = categorize(&said);
    // A failure to reach something (a timeout, a refused connection) that names nothing may
    // say in its routine lines what the span was talking to ("Delivering … via
    // smtp-relay:587", then `Net::OpenTimeout`).
    let dependency = dependency_of(span, &said, &categories).or_else(|| {
        let reaching = |name: &&str| {
            [category::TIMEOUT, category::POOL_EXHAUSTED].contains(name) || category::UNREACHED.contains(name)
        };
        if !(evidence.failed && categories.iter().any(reaching)) {
            return None;
        }
        let routine: Vec<&str> = evidence
            .lines
            .iter()
            .filter(|(_, line)| line.severe().is_none())
            .filter_map(|(_, line)| line.message)
            .collect();
        dependency_in_words(&routine.join("\n"))
    });
    name_the_dependency(dependency.as_ref(), &mut categories);
    // A database, cache or broker named by the span's attributes is in its sentence above.
    let said_above = matches!(
        dependency,
        Some(Dependency::Database(Some(_)) | Dependency::Cache(Some(_)) | Dependency::Broker(Some(_)))
    );
    if let Some(dependency) = dependency.filter(|_| evidence.failed && !said_above) {
        out.stable(" Failed dependency: ");
        out.volatile(&dependency.describe());
        out.end_sentence();
    }
    let start = out.template.len();
    if !categories.is_empty() {
        out.stable(category::SENTENCE);
        out.stable(&categories.join(category::SEPARATOR));
        out.end_sentence();
    }
    (categories, start)
}

/// ` took 2500 ms, slow.`: the duration for people, and a cue words can match in the template.
fn duration_sentence(out: &mut Builder, span: &Span) {
    let millis = span.duration_nanos() as f64 / 1e6;
    let cue = if millis >= 10_000.0 {
        Some("very slow")
    } else if millis >= 1_000.0 {
        Some("slow")
    } else {
        None
    };
    out.text_only(&format!(" took {} ms", format_millis(millis)));
    if let Some(cue) = cue {
        out.text.push_str(", ");
        out.text.push_str(cue);
        out.template.push(' ');
        out.template.push_str(cue);
    }
    out.end_sentence();
}

/// The error type and text full-text search indexes, and the outcome search ranks by.
fn outcome(
    span: &Span,
    evidence: &Evidence<'_>,
    error_logs: Vec<String>,
    error_categories: &[&str],
    http_status: Option<i64>,
) -> (Option<String>, Option<String>, Outcome) {
    let Evidence { exception, messages, failed, .. } = evidence;
    let grpc_error = grpc_status(&span.attributes).filter(|code| *code != 0).and_then(grpc_name);
    let type_says_why = evidence.error_type.as_deref().is_some_and(|kind| says_why(short_type(kind)));
    let error_type = evidence.error_type.clone().or_else(|| {
        if !failed {
            return None;
        }
        grpc_error
            .map(str::to_owned)
            .or_else(|| http_status.filter(|status| *status >= 400).map(|status| format!("HTTP {status}")))
    });
    // A reason counts only if it says something beyond "it failed": wrappers such as
    // "unexpected status 500 Internal Server Error" or "ServletException: Request processing
    // failed" pass a child's failure on, and would crowd out the spans that explain it.
    // So does a response code that names the failure itself (HTTP 429, 413, 404; gRPC
    // RESOURCE_EXHAUSTED, NOT_FOUND), not one that says only that something failed, timed out or
    // was refused (500, 503, 401, UNAVAILABLE, DEADLINE_EXCEEDED); read only when nothing else
    // says why.
    let code_says_why = || {
        let code = [
            http_status.filter(|status| *status >= 400).map(|status| status.to_string()),
            grpc_error.map(str::to_owned),
        ];
        *failed
            && category::categorize(&code.into_iter().flatten().collect::<Vec<_>>().join("\n"))
                .iter()
                .any(|name| category::is_specific(name))
    };
    let has_reason = !evidence.recovered
        && (exception.is_some() || !messages.is_empty() || !error_logs.is_empty())
        && (!error_categories.is_empty()
            || type_says_why
            || messages.iter().copied().chain(error_logs.iter().map(String::as_str)).any(says_why))
        || code_says_why();
    let mut error_parts: Vec<String> = Vec::new();
    if *failed || exception.is_some() || !messages.is_empty() || !error_logs.is_empty() {
        error_parts.extend(error_type.iter().cloned());
        error_parts.extend(messages.iter().map(|message| (*message).to_owned()));
        error_parts.extend(error_logs.into_iter().filter(|line| !messages.contains(&line.as_str())));
    }
    let error_text = (!error_parts.is_empty()).then(|| error_parts.join("\n"));
    let outcome = match (*failed, has_reason) {
        (false, _) => Outcome::Healthy,
        (true, false) => Outcome::Failed,
        (true, true) => Outcome::FailedWithReason,
    };
    (error_type, error_text, outcome)
}

/// What a failed span was talking to, when it says: the kind of dependency and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dependency {
    /// An HTTP or RPC call to another service (its name or host, if known).
    Service {
        protocol: String,
        name: Option<String>,
    },
    Database(Option<String>),
    Cache(Option<String>),
    Broker(Option<String>),
    /// A mail server (SMTP).
    Mail,
    /// A service registry or client-side load balancer (Eureka, Consul, Ribbon …).
    Registry,
}

impl Dependency {
    /// `HTTP call to service ts-order-service`, `mysql database`, `service registry` (masked in
    /// the template, like any free text).
    fn describe(&self) -> String {
        let named = |kind: &str, name: &Option<String>| match name {
            Some(name) => format!("{name} {kind}"),
            None => kind.to_owned(),
        };
        match self {
            Dependency::Service { protocol, name: Some(name) } => format!("{protocol} call to service {name}"),
            Dependency::Service { protocol, name: None } => format!("{protocol} call to another service"),
            Dependency::Database(name) => named(name.as_deref().map_or("database", store_kind), name),
            Dependency::Cache(name) => named("cache", name),
            Dependency::Broker(name) => named("message broker", name),
            Dependency::Mail => "mail server".to_owned(),
            Dependency::Registry => "service registry".to_owned(),
        }
    }
}

/// An HTTP client's message naming the URL it called: Spring's `I/O error on GET request for
/// "http://ts-order-service:12031/…"`, Go's `Get "http://inventory:8080/…"`, Python's
/// `HTTPConnectionPool(host='payments', port=80)`.
static CALLED_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:request for|^|\s|"|for url \()(?:get|post|put|delete|patch|head)?\s*"?https?://([A-Za-z0-9][A-Za-z0-9.-]*)|host='([A-Za-z0-9][A-Za-z0-9.-]*)'"#)
        .expect("the called URL pattern is valid")
});

/// What comes before a link to documentation in an error message.
const DOCUMENTATION_LINK: &[&str] =
    &["at:", "see", "see:", "visit", "docs:", "documentation:", "information:", "more:"];

/// A source file's line (and column) in a stack frame: `axios.cjs:3087:25`, `handler.go:212`.
static SOURCE_POSITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\.(c?js|mjs|tsx?|py|rb|go|java|cs|php|exs?|rs|kt|scala|swift|cpp|cc|hpp|h|c):\d+(:\d+)?\b")
        .expect("the source position pattern is valid")
});

/// Words in an error that say what kind of dependency failed, when attributes do not.
static DATABASE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)jdbc|SQLException|SQLTimeout|SQLTransient|SQLNonTransient|\bSQLSTATE|mysql|mariadb|postgres|PSQLException|psycopg|pymysql|sqlalchemy|hikari|\bORA-\d|sqlserver|mongo|cassandra|communications link failure|\bgorm\b|database|\bsql:|sqlx|knex|\becto\b|DBConnection|ActiveRecord|sequelize|prisma|typeorm|npgsql|hibernate|mybatis|diesel|snowflake|clickhouse|oracle|\bpgx|asyncpg|QueuePool|SqlClient|elapsed prior to obtaining a connection|waiting for an open connection|Connection terminated (unexpectedly|due to connection timeout)|sql ?server|(:|\bport )(5432|6432|3306|1433|1521|27017|9042|26257)\b")
        .expect("the database pattern is valid")
});
static CACHE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)redis|redix|jedis|lettuce|memcache|valkey|\bcache\b|(:|\bport )(6379|6380|26379|11211)\b")
        .expect("the cache pattern is valid")
});
static BROKER_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)kafka|rabbit|amqp|\bnats\b|pulsar|\bsqs\b|ServiceBus|service bus|EventHub|kinesis|publisher confirm|kombu|\bpika\b|NoBrokersAvailable|rdkafka|Message production error|user-specified time limit|(:|\bport )(5671|5672|9092|9093|4222|6650|61616)\b",
    )
    .expect("the broker pattern is valid")
});
/// Words of a mail client or server (Ruby's `Net::SMTP`, MailKit, nodemailer, JavaMail, an SMTP
/// relay's host or port).
static MAIL_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bsmtp|mail (server|relay)|sendmail|nodemailer|MailKit|(javax|jakarta)\.mail|MailSend|:(25|465|587)\b",
    )
    .expect("the mail pattern is valid")
});
static CALL_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)RestTemplate|ResourceAccessException|HttpClient|feign|okhttp|SocketTimeoutException|read timed out|requests\.exceptions|urllib3|axios|\bfetch\b|NSURLError|URLSession|faraday|HTTParty|RestClient::|error sending request for url|reqwest|aiohttp|httpx|GuzzleHttp|cURL error|WebClientRequestException|undici|\bcall(ing)? to [a-z][\w.-]*(service|api|svc)\b|ECONNRESET|socket hang up|DEADLINE_EXCEEDED|\bgrpc\b")
        .expect("the call pattern is valid")
});

/// Words of a gRPC client's error (Java's `StatusRuntimeException: DEADLINE_EXCEEDED`, Python's
/// `_InactiveRpcError … StatusCode.UNAVAILABLE`, Go's `rpc error: code = …`): the call was gRPC.
static RPC_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)grpc|StatusRuntimeException|RpcError|StatusCode\.[A-Z_]+|rpc error: code|DEADLINE_EXCEEDED")
        .expect("the RPC pattern is valid")
});

/// The dependency a failed span names: attributes first (database, messaging, RPC, HTTP client),
/// then the error's own words (a URL it called, a driver's or client's name).
fn dependency_of(span: &Span, said: &str, categories: &[&str]) -> Option<Dependency> {
    let attributes = &span.attributes;
    if categories.contains(&category::SERVICE_DISCOVERY) {
        return Some(Dependency::Registry);
    }
    if let Some(system) = get_str(attributes, &["db.system.name", "db.system"]) {
        let name = Some(system.to_owned());
        return Some(if is_cache(system) { Dependency::Cache(name) } else { Dependency::Database(name) });
    }
    let peer = get_str(attributes, &["peer.service", "server.address", "net.peer.name"]).map(str::to_owned);
    // A server span's RPC service is its own: what it depends on is in its error's words.
    if let Some(system) = get_str(attributes, &["rpc.system"]).filter(|_| span.kind != SpanKind::Server) {
        let name = get_str(attributes, &["peer.service"]).or_else(|| get_str(attributes, &["rpc.service"]));
        return Some(Dependency::Service { protocol: system.to_owned(), name: name.map(str::to_owned).or(peer) });
    }
    if let Some(system) = get_str(attributes, &["messaging.system"]) {
        // A consumer that failed while handling a message often failed on something else (the
        // database it writes to): its error's words say so, unless they name a broker.
        if span.kind == SpanKind::Consumer && !BROKER_WORDS.is_match(said) {
            if let Some(handled) = dependency_in_words(said) {
                return Some(handled);
            }
        }
        return Some(Dependency::Broker(Some(system.to_owned())));
    }
    let url_host = get_str(attributes, &["url.full", "http.url"]).and_then(|url| {
        let rest = url.split_once("://")?.1;
        Some(rest.split(['/', ':', '?']).next()?.to_owned())
    });
    let http_client =
        span.kind == SpanKind::Client && get_str(attributes, &["http.request.method", "http.method"]).is_some();
    if http_client {
        return Some(Dependency::Service { protocol: "HTTP".to_owned(), name: peer.or(url_host) });
    }
    dependency_in_words(said)
}

/// The dependency words name: a URL called, then a driver's or client library's name.
fn dependency_in_words(said: &str) -> Option<Dependency> {
    // A stack frame's line and column ("axios.cjs:3087:25") are no port.
    let said = &*SOURCE_POSITION.replace_all(said, ".src");
    // A link to documentation ("Background on this error at: https://sqlalche.me/…") is not a call.
    let called = CALLED_URL.captures_iter(said).find(|captures| {
        let before = said[..captures.get(0).map_or(0, |whole| whole.start())].trim_end().to_ascii_lowercase();
        !DOCUMENTATION_LINK.iter().any(|intro| before.ends_with(intro))
    });
    if let Some(captures) = called {
        let host = captures.get(1).or_else(|| captures.get(2)).map(|host| host.as_str().to_owned());
        return Some(Dependency::Service { protocol: "HTTP".to_owned(), name: host });
    }
    if CACHE_WORDS.is_match(said) {
        return Some(Dependency::Cache(None));
    }
    if DATABASE_WORDS.is_match(said) {
        return Some(Dependency::Database(None));
    }
    if BROKER_WORDS.is_match(said) {
        return Some(Dependency::Broker(None));
    }
    if MAIL_WORDS.is_match(said) {
        return Some(Dependency::Mail);
    }
    if RPC_WORDS.is_match(said) {
        return Some(Dependency::Service { protocol: "gRPC".to_owned(), name: None });
    }
    if CALL_WORDS.is_match(said) {
        return Some(Dependency::Service { protocol: "HTTP".to_owned(), name: None });
    }
    None
}

/// Names what failed after the span's dependency, since people ask for "the cache was down",
/// "database connections" or "calls to the order service timed out", not for the error:
/// - a database or cache span whose pool ran dry: `database connection pool exhausted, …`;
/// - a timeout: of a call to another service, of a database, a cache or a broker;
/// - a cache, database or broker that could not be reached (not when its pool ran dry, or one
///   query was slow): `cache unavailable, the cache or key-value store could not be reached`, and so on.
fn name_the_dependency(dependency: Option<&Dependency>, categories: &mut Vec<&'static str>) {
    if let Some(pool) = categories.iter_mut().find(|name| **name == category::POOL_EXHAUSTED) {
        match dependency {
            Some(Dependency::Database(_)) => *pool = category::DATABASE_POOL_EXHAUSTED,
            Some(Dependency::Cache(_)) => *pool = category::CACHE_POOL_EXHAUSTED,
            _ => {}
        }
        return;
    }
    // The plain timeout stays beside the named one: queries about "timeouts" in general still
    // find it (replacing it cost every corpus a few queries, README "Search quality").
    if let Some(at) = categories.iter().position(|name| *name == category::TIMEOUT) {
        let named = match dependency {
            Some(Dependency::Service { .. }) => Some(category::CALL_TIMEOUT),
            Some(Dependency::Database(_)) => Some(category::DATABASE_TIMEOUT),
            Some(Dependency::Cache(_)) => Some(category::CACHE_TIMEOUT),
            Some(Dependency::Broker(_)) => Some(category::BROKER_TIMEOUT),
            _ => None,
        };
        if let Some(named) = named {
            categories.insert(at + 1, named);
        }
    }
    // A mail server that did not take the message, however it failed (timed out, refused).
    if dependency == Some(&Dependency::Mail) && !categories.contains(&category::EMAIL_DELIVERY) {
        categories.push(category::EMAIL_DELIVERY);
    }
    if !categories.iter().any(|name| category::UNREACHED.contains(name)) {
        return;
    }
    let unreachable = match dependency {
        Some(Dependency::Cache(_)) => Some(category::CACHE_UNAVAILABLE),
        Some(Dependency::Database(_)) => Some(category::DATABASE_UNAVAILABLE),
        Some(Dependency::Broker(_)) => Some(category::BROKER_UNAVAILABLE),
        _ => None,
    };
    categories.extend(unreachable);
}

/// Words that say only that something failed, and where.
#[rustfmt::skip]
const GENERIC_WORDS: &[&str] = &[
    "a", "an", "and", "api", "at", "be", "been", "by", "call", "called", "calling", "caused", "client", "code",
    "details", "during", "err", "error", "errors", "exception", "fail", "failed", "failure", "fails", "for", "from",
    "got", "grpc", "handler", "has", "http", "https", "in", "inner", "internal", "is", "it", "jakarta", "java",
    "javax", "job", "lang", "message", "non", "of", "on", "operation", "or", "process", "processing", "received",
    "request", "response", "rest", "returned", "rpc", "runtime", "server", "service", "servlet", "some", "status",
    "system", "task", "the", "this", "to", "type", "unexpected", "unhandled", "unknown", "was", "web", "went",
    "while", "with", "wrong", "num", "hex", "uuid", "ip", "time", "email",
];

/// Whether an error text says why something failed, not only that it did: some word in it,
/// after masking, is not one of [`GENERIC_WORDS`] (words of `CamelCase` names counted apart).
fn says_why(text: &str) -> bool {
    let masked = mask(truncate(text, TEMPLATE_MESSAGE));
    masked
        .split(|c: char| !c.is_alphanumeric())
        .flat_map(split_camel_case)
        .any(|word| word.len() > 1 && !GENERIC_WORDS.iter().any(|generic| generic.eq_ignore_ascii_case(word)))
}

/// `HttpServerErrorException` → Http, Server, Error, Exception; `HTTPError` → HTTP, Error.
fn split_camel_case(word: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, current) = chars[i];
        let before = chars[i - 1].1;
        let next_is_lower = chars.get(i + 1).is_some_and(|(_, next)| next.is_lowercase());
        if current.is_uppercase() && (before.is_lowercase() || (before.is_uppercase() && next_is_lower)) {
            parts.push(&word[start..at]);
            start = at;
        }
    }
    parts.push(&word[start..]);
    parts
}

fn format_millis(millis: f64) -> String {
    if millis >= 100.0 {
        format!("{millis:.0}")
    } else if millis >= 1.0 {
        format!("{millis:.1}")
    } else {
        format!("{millis:.3}")
    }
}

#[cfg(test)]
mod tests;
