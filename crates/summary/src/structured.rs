//! Structured log lines read as sentences.
//!
//! Many services log one JSON object or one logfmt line per event (pino, bunyan, zap, logrus,
//! Go's `slog`, structlog, logstash encoders), and their OpenTelemetry bridges put that whole
//! line in the event's body: `{"level":50,"time":1796514568213,"pid":1,"hostname":"…","reqId":
//! "req-4715","err":{"type":"MongoServerSelectionError","message":"Server selection timed out
//! after 30000 ms"},"msg":"failed to load offices"}` or `time="…" level=warning msg="allocate
//! aborted" error="context canceled" train=T4387`. Embedded as they are, timestamps, host names
//! and keys drown the message; the level inside tells a failure that no attribute tells. Such a
//! line is read as its message and its error (`failed to load offices: MongoServerSelectionError:
//! Server selection timed out after 30000 ms`) and its level; the span keeps the original.

use semtrace_model::{AnyValue, Event};

/// Keys that hold a structured line's message, most specific first (`event` is structlog's).
const MESSAGE: &[&str] = &["msg", "message", "@message", "event"];
/// Keys that hold the error a structured line reports: a string, or an object with a message.
const ERROR: &[&str] = &["err", "error", "exception", "exc_info", "error.message", "stack_trace", "stacktrace"];
/// Keys that hold a structured line's level.
const LEVEL: &[&str] = &["level", "lvl", "severity", "log.level", "levelname"];

/// A structured log line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The level as the line spelled it (`warning`, `error`; pino's numbers as names).
    pub level: Option<String>,
    /// The message, then the error it reports: `allocate aborted: context canceled`.
    pub message: String,
}

/// Reads a JSON-object or logfmt line; `None` for other text (plain lines stay as they are).
pub fn parse(text: &str) -> Option<Line> {
    let text = text.trim();
    if text.starts_with('{') {
        json(text)
    } else if text.contains('=') {
        logfmt(text)
    } else {
        None
    }
}

fn json(text: &str) -> Option<Line> {
    let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else { return None };
    let field = |keys: &[&str]| keys.iter().find_map(|key| object.get(*key).filter(|value| !value.is_null()));
    let message = field(MESSAGE).and_then(serde_json::Value::as_str).map(str::trim).unwrap_or_default();
    let error = field(ERROR).and_then(|value| match value {
        serde_json::Value::String(text) => Some(first_line(text).to_owned()),
        serde_json::Value::Object(error) => {
            let kind = ["type", "name", "kind"].iter().find_map(|key| error.get(*key)?.as_str());
            let said = ["message", "msg"]
                .iter()
                .find_map(|key| error.get(*key)?.as_str())
                .or_else(|| ["stack", "stacktrace"].iter().find_map(|key| error.get(*key)?.as_str().map(first_line)));
            match (kind, said) {
                (Some(kind), Some(said)) if !said.contains(kind) => Some(format!("{kind}: {said}")),
                (_, Some(said)) => Some(said.to_owned()),
                (Some(kind), None) => Some(kind.to_owned()),
                (None, None) => None,
            }
        }
        _ => None,
    });
    let level = field(LEVEL).and_then(|value| match value {
        serde_json::Value::String(text) => Some(text.to_ascii_lowercase()),
        serde_json::Value::Number(number) => number.as_i64().and_then(pino_level).map(str::to_owned),
        _ => None,
    });
    line(message, error.as_deref(), level)
}

/// pino's and bunyan's numeric levels.
fn pino_level(number: i64) -> Option<&'static str> {
    Some(match number {
        10 => "trace",
        20 => "debug",
        30 => "info",
        40 => "warn",
        50 => "error",
        60 => "fatal",
        _ => return None,
    })
}

/// `key=value key="quoted \"value\""` pairs; a line with no message key is not logfmt.
fn logfmt(text: &str) -> Option<Line> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        if !rest.starts_with('=') || key.is_empty() {
            // A bare word: not logfmt unless it is a stray flag between pairs.
            if pairs.is_empty() {
                return None;
            }
            continue;
        }
        rest = &rest[1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                    }
                    '"' => {
                        end = Some(at);
                        break;
                    }
                    other => value.push(other),
                }
            }
            rest = &quoted[end? + 1..];
            value
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let value = rest[..end].to_owned();
            rest = &rest[end..];
            value
        };
        pairs.push((key, value));
    }
    let field = |keys: &[&str]| {
        keys.iter().find_map(|key| pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str()))
    };
    let message = field(MESSAGE)?;
    line(message, field(ERROR).map(first_line), field(LEVEL).map(str::to_ascii_lowercase))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim()
}

fn line(message: &str, error: Option<&str>, level: Option<String>) -> Option<Line> {
    let error = error.map(str::trim).filter(|error| !error.is_empty() && !message.contains(*error));
    let message = match (message.trim(), error) {
        ("", None) => return None,
        ("", Some(error)) => error.to_owned(),
        (message, Some(error)) => format!("{message}: {error}"),
        (message, None) => message.to_owned(),
    };
    Some(Line { level, message })
}

/// The event with its structured line read (`keys`: where the event keeps its message; `levels`:
/// lists of where it keeps a level, which a level inside the line does not override). `None`
/// when the event's message is not a structured line.
pub(crate) fn read_event(event: &Event, keys: &[&str], levels: &[&[&str]]) -> Option<Event> {
    let (key, line) = keys.iter().find_map(|key| {
        let text = event.attributes.get_str(key)?;
        Some((*key, parse(text)?))
    })?;
    let mut event = event.clone();
    for kv in &mut event.attributes.0 {
        if kv.key == key {
            kv.value = AnyValue::String(line.message.clone());
        }
    }
    if let Some(level) = line.level {
        if !levels.iter().flat_map(|keys| keys.iter()).any(|key| event.attributes.get(key).is_some()) {
            event.attributes.push("log.severity", AnyValue::String(level));
        }
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pino_lines_read_as_message_error_and_level() {
        let text = r#"{"level":50,"time":1796514568213,"pid":1,"hostname":"ts-office-6c9f","reqId":"req-4715","err":{"type":"MongoServerSelectionError","message":"Server selection timed out after 30000 ms","stack":"MongoServerSelectionError: Server selection timed out after 30000 ms\n    at Timeout._onTimeout"},"msg":"failed to load offices"}"#;
        assert_eq!(
            parse(text),
            Some(Line {
                level: Some("error".into()),
                message: "failed to load offices: MongoServerSelectionError: Server selection timed out after 30000 ms"
                    .into()
            })
        );
    }

    #[test]
    fn logfmt_lines_read_as_message_error_and_level() {
        let text =
            r#"time="2026-12-06T02:06:23Z" level=warning msg="allocate aborted" error="context canceled" train=T4387"#;
        assert_eq!(
            parse(text),
            Some(Line { level: Some("warning".into()), message: "allocate aborted: context canceled".into() })
        );
        let slog = r#"time=2026-12-06T02:06:23.120Z level=ERROR msg="query \"seats\" failed" err="dial tcp 10.0.0.7:3306: i/o timeout""#;
        assert_eq!(
            parse(slog),
            Some(Line {
                level: Some("error".into()),
                message: r#"query "seats" failed: dial tcp 10.0.0.7:3306: i/o timeout"#.into()
            })
        );
    }

    #[test]
    fn plain_text_and_other_shapes_are_left_alone() {
        for text in [
            "Connection is not available, request timed out after 30000ms.",
            "[getThing][Get Thing Failed][thingListResult is null]",
            "retry=3 exceeded",               // no message key
            "SELECT * FROM t WHERE a = 1",    // a statement, not logfmt
            "{not json at all",               // broken JSON
            r#"["an","array"]"#,              // JSON, not an object
            r#"{"level":"info","time":1}"#,   // nothing to say
            r#"user said msg="hi" and left"#, // prose around a pair
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn structlog_and_zap_shapes() {
        let structlog = r#"{"event": "payment declined", "level": "warning", "exc_info": "CardError: insufficient funds\nTraceback"}"#;
        assert_eq!(
            parse(structlog),
            Some(Line {
                level: Some("warning".into()),
                message: "payment declined: CardError: insufficient funds".into()
            })
        );
        let zap = r#"{"level":"error","ts":1733450000.1,"caller":"news/list.go:88","msg":"list failed","error":"strconv.Atoi: parsing \"x\": invalid syntax"}"#;
        assert_eq!(parse(zap).unwrap().message, r#"list failed: strconv.Atoi: parsing "x": invalid syntax"#);
    }
}
