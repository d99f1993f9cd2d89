//! PII redaction, before anything is queued: an accepted request's spans and log records have
//! their text rewritten here, so what the spool, the store, the templates and the embeddings
//! see is the redacted text, and the original never reaches disk.
//!
//! Off unless configured. Each pattern is named; a match becomes `<redacted:NAME>` (a secret's
//! key is kept: `api_key=<redacted:api_key>`), and `semtrace_redactions_total{pattern}` counts
//! them. Card numbers count only when their digits pass the Luhn check.

use std::collections::HashMap;
use std::sync::Arc;

use regex::{Regex, RegexSet};
use semtrace_model::{AnyValue, Attributes, LogRecord, Resource, Scope, Span};

/// The built-in patterns, by name.
pub const BUILT_IN: &[&str] = &["email", "card", "bearer", "api_key", "ip"];

/// A further check of a match; matches failing it are left as they are.
type Check = fn(&str) -> bool;

struct Pattern {
    name: String,
    regex: Regex,
    /// Text the match is replaced with; `$key` keeps a capture named `key`.
    replacement: String,
    /// Luhn for cards.
    check: Option<Check>,
}

/// The patterns to apply, compiled once.
pub struct Redactor {
    patterns: Vec<Pattern>,
    /// All patterns at once: most strings match none, and one pass over them says so.
    any: RegexSet,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.patterns.iter().map(|pattern| &pattern.name)).finish()
    }
}

/// Why a redaction configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("unknown redaction pattern {0:?}: the built-in ones are {BUILT_IN:?}, or give a custom regex")]
    Unknown(String),
    #[error("redaction pattern {name:?} is not a valid regex: {error}")]
    Invalid { name: String, error: regex::Error },
}

impl Redactor {
    /// Built-in patterns by name, then custom ones as (name, regex).
    pub fn new(built_in: &[String], custom: &[(String, String)]) -> Result<Redactor, RedactError> {
        let mut patterns = Vec::new();
        for name in built_in {
            let (regex, replacement, check): (&str, String, Option<Check>) = match name.as_str() {
                "email" => (r"(?i-u)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b", "<redacted:email>".into(), None),
                "card" => (r"(?-u)\b\d(?:[ -]?\d){12,18}\b", "<redacted:card>".into(), Some(luhn)),
                "bearer" => (r"(?i-u)\bbearer\s+[a-z0-9\-._~+/]{8,}=*", "Bearer <redacted:bearer>".into(), None),
                "api_key" => (
                    concat!(
                        r#"(?i)(?P<key>(?-u:\b)(?:api[_-]?key|apikey|access[_-]?token|secret|password|passwd|token)(?-u:\b)"#,
                        r#"["']?\s*[:=]\s*)["']?[^\s"'&,;]{4,}"#,
                        r"|(?-u:\b)(?:sk|pk|rk)_(?:live|test)_[a-z0-9]{10,}(?-u:\b)|(?-u:\b)AKIA[0-9A-Z]{16}(?-u:\b)",
                        r"|(?-u:\b)gh[pousr]_[A-Za-z0-9]{30,}(?-u:\b)",
                        r"|(?-u:\b)xox[baprs]-[A-Za-z0-9-]{10,}(?-u:\b)"
                    ),
                    "${key}<redacted:api_key>".into(),
                    None,
                ),
                "ip" => (
                    concat!(
                        r"(?i-u)\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b",
                        r"|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:[0-9a-f]{1,4}\b"
                    ),
                    "<redacted:ip>".into(),
                    None,
                ),
                other => return Err(RedactError::Unknown(other.to_owned())),
            };
            let regex = Regex::new(regex).map_err(|error| RedactError::Invalid { name: name.clone(), error })?;
            patterns.push(Pattern { name: name.clone(), regex, replacement, check });
        }
        for (name, regex) in custom {
            let regex = Regex::new(regex).map_err(|error| RedactError::Invalid { name: name.clone(), error })?;
            patterns.push(Pattern {
                name: name.clone(),
                regex,
                replacement: format!("<redacted:{name}>"),
                check: None,
            });
        }
        let any = RegexSet::new(patterns.iter().map(|pattern| pattern.regex.as_str()))
            .map_err(|error| RedactError::Invalid { name: "(all patterns together)".into(), error })?;
        Ok(Redactor { patterns, any })
    }

    /// The text with every match replaced, or `None` when nothing matched.
    pub fn text(&self, text: &str) -> Option<String> {
        let matched = self.any.matches(text);
        if !matched.matched_any() {
            return None;
        }
        let mut current: Option<String> = None;
        for pattern in matched.iter().map(|at| &self.patterns[at]) {
            let input = current.as_deref().unwrap_or(text);
            let mut count = 0u64;
            let replaced = pattern.regex.replace_all(input, |captures: &regex::Captures<'_>| {
                let found = captures.get(0).map_or("", |m| m.as_str());
                if pattern.check.is_some_and(|check| !check(found)) {
                    return found.to_owned();
                }
                count += 1;
                let mut out = String::new();
                captures.expand(&pattern.replacement, &mut out);
                out
            });
            if count > 0 {
                metrics::counter!("semtrace_redactions_total", "pattern" => pattern.name.clone()).increment(count);
                current = Some(replaced.into_owned());
            }
        }
        current
    }

    fn value(&self, value: &mut AnyValue) {
        match value {
            AnyValue::String(text) => {
                if let Some(redacted) = self.text(text) {
                    *text = redacted;
                }
            }
            AnyValue::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            AnyValue::Map(attributes) => self.attributes(attributes),
            _ => {}
        }
    }

    fn attributes(&self, attributes: &mut Attributes) {
        for pair in attributes.0.iter_mut() {
            self.value(&mut pair.value);
        }
    }

    fn string(&self, text: &mut String) {
        if let Some(redacted) = self.text(text) {
            *text = redacted;
        }
    }

    /// Redacts spans and log records in place; resources and scopes shared by several are
    /// redacted once and shared again.
    pub fn batch(&self, spans: &mut [Span], logs: &mut [LogRecord]) {
        let mut resources: HashMap<*const Resource, Arc<Resource>> = HashMap::new();
        let mut scopes: HashMap<*const Scope, Arc<Scope>> = HashMap::new();
        let mut resource = |shared: &mut Arc<Resource>| {
            let redacted = resources.entry(Arc::as_ptr(shared)).or_insert_with(|| {
                let mut copy = Resource::clone(shared);
                self.attributes(&mut copy.attributes);
                Arc::new(copy)
            });
            *shared = redacted.clone();
        };
        let mut scope = |shared: &mut Arc<Scope>| {
            let redacted = scopes.entry(Arc::as_ptr(shared)).or_insert_with(|| {
                let mut copy = Scope::clone(shared);
                self.attributes(&mut copy.attributes);
                Arc::new(copy)
            });
            *shared = redacted.clone();
        };
        for span in spans.iter_mut() {
            self.string(&mut span.name);
            self.string(&mut span.status.message);
            self.attributes(&mut span.attributes);
            for event in &mut span.events {
                self.string(&mut event.name);
                self.attributes(&mut event.attributes);
            }
            for link in &mut span.links {
                self.attributes(&mut link.attributes);
            }
            resource(&mut span.resource);
            scope(&mut span.scope);
        }
        for record in logs.iter_mut() {
            self.value(&mut record.body);
            self.attributes(&mut record.attributes);
            resource(&mut record.resource);
            scope(&mut record.scope);
        }
    }
}

/// Whether a run of digits (spaces and dashes aside) passes the Luhn check, as card numbers do.
fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, digit)| match (i % 2, digit * 2) {
            (1, doubled) if doubled > 9 => doubled - 9,
            (1, doubled) => doubled,
            _ => *digit,
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Redactor {
        let built_in: Vec<String> = BUILT_IN.iter().map(|name| name.to_string()).collect();
        Redactor::new(&built_in, &[("order".into(), r"\bORD-\d{6}\b".into())]).unwrap()
    }

    #[test]
    fn each_pattern_redacts_what_it_names() {
        let redactor = all();
        let cases = [
            ("mail to jane.doe+x@example.co.uk failed", "mail to <redacted:email> failed"),
            ("charge 4111 1111 1111 1111 declined", "charge <redacted:card> declined"),
            ("card 4111-1111-1111-1112 declined", "card 4111-1111-1111-1112 declined"), // fails Luhn
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
                "Authorization: Bearer <redacted:bearer>",
            ),
            ("GET /v1?api_key=abcd1234efgh&x=1", "GET /v1?api_key=<redacted:api_key>&x=1"),
            ("password: \"hunter22\"", "password: <redacted:api_key>\""),
            ("stripe sk_live_51HxYzAbCdEfGhIj rejected", "stripe <redacted:api_key> rejected"),
            ("dial tcp 10.2.3.4:5432: i/o timeout", "dial tcp <redacted:ip>:5432: i/o timeout"),
            ("peer fe80:0:0:0:202:b3ff:fe1e:8329 reset", "peer <redacted:ip> reset"),
            ("order ORD-123456 not found", "order <redacted:order> not found"),
        ];
        for (text, want) in cases {
            assert_eq!(redactor.text(text).as_deref().unwrap_or(text), want, "{text}");
        }
        assert_eq!(redactor.text("GET /api/products took 120 ms, version 1.2.3"), None, "nothing to redact");
    }

    #[test]
    fn luhn_tells_card_numbers_from_other_digits() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("5500 0000 0000 0004"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("1234"));
    }

    #[test]
    fn unknown_and_invalid_patterns_are_refused() {
        assert!(matches!(Redactor::new(&["ssn".into()], &[]), Err(RedactError::Unknown(_))));
        assert!(matches!(Redactor::new(&[], &[("x".into(), "(".into())]), Err(RedactError::Invalid { .. })));
    }
}
