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

use semtrace_model::{AnyValue, Attributes, Event, Span, SpanKind, StatusCode};

pub use category::{categories_of, categorize};
pub use mask::{mask, mask_statement};

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

const MESSAGE_KEYS: &[&str] = &["log.message", "message", "body", "log.record.body", "event", "msg"];
const SEVERITY_KEYS: &[&str] = &["log.severity", "severity", "severity_text", "log.level", "level"];

fn is_exception(event: &Event) -> bool {
    event.name == "exception" || event.attributes.get("exception.type").is_some()
}

/// Adds a message unless one already holds it; drops those it holds.
fn add_message<'a>(message: Option<&'a str>, messages: &mut Vec<&'a str>) {
    if let Some(message) = message.map(str::trim).filter(|message| !message.is_empty()) {
        if !messages.iter().any(|known| known.contains(message)) {
            messages.retain(|known| !message.contains(known));
            messages.push(message);
        }
    }
}

/// The summary and template of a span.
pub fn summarize(span: &Span) -> SpanSummary {
    let attributes = &span.attributes;
    let mut out = Builder { text: String::with_capacity(256), template: String::with_capacity(256) };

    // Who and what.
    out.stable(span.service_name());
    out.stable(match span.kind {
        SpanKind::Server => " server span ",
        SpanKind::Client => " client span ",
        SpanKind::Producer => " producer span ",
        SpanKind::Consumer => " consumer span ",
        SpanKind::Internal | SpanKind::Unspecified => " span ",
    });
    out.volatile(&span.name);

    // The error: type and messages from the exception event, span attributes and status.
    let exception = span.events.iter().find(|event| is_exception(event));
    let error_type = exception
        .and_then(|event| get_str(&event.attributes, &["exception.type"]))
        .or_else(|| get_str(attributes, &["exception.type", "error.type"]))
        .map(str::to_owned);
    let mut messages: Vec<&str> = Vec::new();
    add_message(exception.and_then(|event| get_str(&event.attributes, &["exception.message"])), &mut messages);
    add_message(get_str(attributes, &["exception.message", "error.message", "error"]), &mut messages);
    add_message(Some(&span.status.message), &mut messages);
    let failed = span.status.code == StatusCode::Error;
    match span.status.code {
        StatusCode::Error => out.stable(" failed"),
        StatusCode::Ok => out.stable(" succeeded"),
        StatusCode::Unset => {}
    }
    if let Some(error_type) = &error_type {
        out.stable(" with ");
        out.volatile_as(error_type, short_type(error_type));
    }
    if !messages.is_empty() {
        out.stable(": ");
        for (index, message) in messages.iter().enumerate() {
            if index > 0 {
                out.stable("; ");
            }
            out.volatile_short(message, TEMPLATE_MESSAGE);
        }
    }
    out.end_sentence();

    // What it talked to, in the semantic conventions' terms (current names first, then older ones).
    let method = get_str(attributes, &["http.request.method", "http.method"]);
    let status = get_int(attributes, &["http.response.status_code", "http.status_code"]);
    if method.is_some() || status.is_some() {
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
    }
    if let Some(system) = get_str(attributes, &["db.system.name", "db.system"]) {
        out.stable(" ");
        out.volatile(system);
        // Key-value stores are nearly always run as caches; people search for them as such.
        out.stable(if is_cache(system) { " cache" } else { " database" });
        if let Some(operation) = get_str(attributes, &["db.operation.name", "db.operation"]) {
            out.stable(" ");
            out.volatile(operation);
        }
        if let Some(collection) = get_str(attributes, &["db.collection.name", "db.sql.table", "db.mongodb.collection"])
        {
            out.stable(" ");
            out.volatile(collection);
        }
        if let Some(statement) = get_str(attributes, &["db.query.text", "db.statement"]) {
            out.stable(": ");
            out.statement(statement);
        }
        out.end_sentence();
    }
    if let Some(system) = get_str(attributes, &["rpc.system"]) {
        out.stable(" ");
        out.volatile(system);
        out.stable(" call");
        let service = get_str(attributes, &["rpc.service"]);
        let method = get_str(attributes, &["rpc.method"]);
        if service.is_some() || method.is_some() {
            out.stable(" ");
            out.volatile(&[service.unwrap_or(""), method.unwrap_or("")].join("/"));
        }
        if let Some(code) = get_int(attributes, &["rpc.grpc.status_code"]) {
            let name = usize::try_from(code).ok().and_then(|code| GRPC_CODES.get(code)).copied().unwrap_or("UNKNOWN");
            out.stable(&format!(" status {name}"));
        }
        out.end_sentence();
    }
    if let Some(system) = get_str(attributes, &["messaging.system"]) {
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
    let peer_service = get_str(attributes, &["peer.service"]);
    let address = get_str(attributes, &["server.address", "net.peer.name", "net.peer.ip", "network.peer.address"]);
    // The peer's address is for people; the model reads only the peer service's name.
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

    // Events: log lines and other events attached to the span (the first exception is above).
    let mut error_logs: Vec<String> = Vec::new();
    let events = span.events.iter().filter(|event| !exception.is_some_and(|first| std::ptr::eq(*event, first)));
    for event in events.take(MAX_EVENTS) {
        let severity = get_str(&event.attributes, SEVERITY_KEYS);
        let message = if is_exception(event) {
            get_str(&event.attributes, &["exception.message", "exception.type"])
        } else {
            get_str(&event.attributes, MESSAGE_KEYS)
        };
        // In a failed span, routine log lines say nothing about the failure: shown, not embedded.
        let routine = severity.is_some_and(|severity| {
            let severity = severity.to_ascii_lowercase();
            ["info", "debug", "trace"].iter().any(|level| severity.starts_with(level))
        });
        if failed && routine {
            out.text_only(&format!(" {} log: ", severity.unwrap_or_default().to_lowercase()));
            out.text_only(truncate(message.unwrap_or_default(), MAX_PIECE));
            if !out.text.ends_with(['.', '!']) {
                out.text.push('.');
            }
            continue;
        }
        out.stable(" ");
        match (severity, message) {
            (Some(severity), Some(message)) => {
                out.stable(&format!("{} log: ", severity.to_lowercase()));
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
        let severe = severity.is_some_and(|severity| {
            let severity = severity.to_ascii_lowercase();
            ["err", "fatal", "crit", "alert", "emerg", "warn"].iter().any(|level| severity.starts_with(level))
        });
        if let (true, Some(message)) = (severe || is_exception(event), message) {
            error_logs.push(message.to_owned());
        }
    }

    // Failure categories in plain words, from everything that says what went wrong.
    let error_categories = if failed || exception.is_some() || !error_logs.is_empty() {
        let mut said: Vec<&str> = messages.clone();
        said.extend(error_type.as_deref());
        said.extend(error_logs.iter().map(String::as_str));
        let http_status = status.filter(|status| *status >= 400).map(|status| status.to_string());
        said.extend(http_status.as_deref());
        let grpc = get_int(attributes, &["rpc.grpc.status_code"])
            .and_then(|code| usize::try_from(code).ok().and_then(|code| GRPC_CODES.get(code)).copied());
        said.extend(grpc.filter(|code| *code != "OK"));
        let mut categories = categorize(&said.join("\n"));
        name_the_dependency(attributes, &mut categories);
        categories
    } else {
        Vec::new()
    };
    if !error_categories.is_empty() {
        out.stable(category::SENTENCE);
        out.stable(&error_categories.join(category::SEPARATOR));
        out.end_sentence();
    }

    // Duration, and a cue words can match ("slow").
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

    let grpc_error = get_int(attributes, &["rpc.grpc.status_code"])
        .filter(|code| *code != 0)
        .and_then(|code| usize::try_from(code).ok().and_then(|code| GRPC_CODES.get(code)).copied());
    let type_says_why = error_type.as_deref().is_some_and(|kind| says_why(short_type(kind)));
    let error_type = error_type.or_else(|| {
        if !failed {
            return None;
        }
        grpc_error.map(str::to_owned).or_else(|| status.filter(|status| *status >= 400).map(|s| format!("HTTP {s}")))
    });
    // A reason counts only if it says something beyond "it failed": wrappers such as
    // "unexpected status 500 Internal Server Error" or "ServletException: Request processing
    // failed" pass a child's failure on, and would crowd out the spans that explain it.
    let has_reason = (exception.is_some() || !messages.is_empty() || !error_logs.is_empty())
        && (!error_categories.is_empty()
            || type_says_why
            || messages.iter().copied().chain(error_logs.iter().map(String::as_str)).any(says_why));
    let mut error_parts: Vec<String> = Vec::new();
    if failed || exception.is_some() || !messages.is_empty() || !error_logs.is_empty() {
        error_parts.extend(error_type.iter().cloned());
        error_parts.extend(messages.iter().map(|message| (*message).to_owned()));
        error_parts.extend(error_logs);
    }
    let error_text = (!error_parts.is_empty()).then(|| error_parts.join("\n"));
    let outcome = match (failed, has_reason) {
        (false, _) => Outcome::Healthy,
        (true, false) => Outcome::Failed,
        (true, true) => Outcome::FailedWithReason,
    };

    let SpanSummary { text, template, .. } = SpanSummary {
        text: out.text.trim_start().to_owned(),
        template: out.template.trim_start().to_owned(),
        error_type: None,
        error_text: None,
        error_categories: Vec::new(),
        outcome: Outcome::Healthy,
    };
    SpanSummary {
        text: truncate(&text, MAX_SUMMARY).to_owned(),
        template: truncate(&template, MAX_TEMPLATE).to_owned(),
        error_type,
        error_text,
        error_categories,
        outcome,
    }
}

/// Names what failed after the span's dependency, from its attributes, since people ask for "the
/// cache was down" or "database connections", not for the error:
/// - a database or cache span whose pool ran dry: `database connection pool exhausted, …`;
/// - a cache, database or broker span that could not connect (not when its pool ran dry, or one
///   query was slow): `cache unavailable, the cache or key-value store could not be reached`, and so on.
fn name_the_dependency(attributes: &Attributes, categories: &mut Vec<&'static str>) {
    let database = get_str(attributes, &["db.system.name", "db.system"]);
    let cache = database.is_some_and(is_cache);
    if let Some(pool) = categories.iter_mut().find(|name| **name == category::POOL_EXHAUSTED) {
        if database.is_some() {
            *pool = if cache { category::CACHE_POOL_EXHAUSTED } else { category::DATABASE_POOL_EXHAUSTED };
        }
        return;
    }
    if !(categories.contains(&category::CONNECTION_FAILURE) || categories.contains(&category::DNS_FAILURE)) {
        return;
    }
    let unreachable = match database {
        Some(_) if cache => Some(category::CACHE_UNAVAILABLE),
        Some(_) => Some(category::DATABASE_UNAVAILABLE),
        None => get_str(attributes, &["messaging.system"]).map(|_| category::BROKER_UNAVAILABLE),
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
