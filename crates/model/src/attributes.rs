//! Typed attribute values. Their stored forms live with storage (`semtrace_store::encoding`),
//! their API form with the API's DTOs; here a complex value only has a text for people
//! ([`AnyValue::to_text`]: JSON-like, as it reads in summaries and log bodies).

use std::fmt;

use std::fmt::Write as _;

use base64::Engine as _;

/// One attribute value, as typed as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    Map(Attributes),
    /// An `AnyValue` with no value set; OTLP allows it, JSON writes `null`.
    Empty,
}

impl AnyValue {
    /// The value as text, the way a person would write it in a summary or a search.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AnyValue::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The value as text for people: a string as it is quoted in JSON, numbers, `true`,
    /// `null`, lists and maps in JSON's notation (in their order), bytes as
    /// `{"$bytes":"<base64>"}`, non-finite doubles as `{"$double":"NaN"}`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) {
        let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
        match self {
            AnyValue::String(text) => out.push_str(&quoted(text)),
            AnyValue::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            AnyValue::Int(value) => {
                let _ = write!(out, "{value}");
            }
            AnyValue::Double(value) if value.is_finite() => {
                out.push_str(&serde_json::to_string(value).unwrap_or_default());
            }
            AnyValue::Double(value) => {
                let text = if value.is_nan() {
                    "NaN"
                } else if *value > 0.0 {
                    "inf"
                } else {
                    "-inf"
                };
                let _ = write!(out, "{{\"$double\":\"{text}\"}}");
            }
            AnyValue::Bytes(bytes) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                let _ = write!(out, "{{\"$bytes\":\"{encoded}\"}}");
            }
            AnyValue::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write_text(out);
                }
                out.push(']');
            }
            AnyValue::Map(attributes) => {
                out.push('{');
                for (index, kv) in attributes.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&quoted(&kv.key));
                    out.push(':');
                    kv.value.write_text(out);
                }
                out.push('}');
            }
            AnyValue::Empty => out.push_str("null"),
        }
    }

    /// Bytes this value occupies roughly, for limits.
    pub fn approx_size(&self) -> usize {
        match self {
            AnyValue::String(text) => text.len(),
            AnyValue::Bytes(bytes) => bytes.len(),
            AnyValue::Array(items) => items.iter().map(AnyValue::approx_size).sum(),
            AnyValue::Map(attributes) => attributes.iter().map(|kv| kv.key.len() + kv.value.approx_size()).sum(),
            AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Empty => 8,
        }
    }
}

impl fmt::Display for AnyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyValue::String(text) => f.write_str(text),
            AnyValue::Bool(value) => write!(f, "{value}"),
            AnyValue::Int(value) => write!(f, "{value}"),
            AnyValue::Double(value) => write!(f, "{value}"),
            other => f.write_str(&other.to_text()),
        }
    }
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        KeyValue { key: key.into(), value }
    }
}

/// An ordered list of attributes; keys are unique as OTLP requires (the first wins on lookup).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(pub Vec<KeyValue>);

impl Attributes {
    pub fn get(&self, key: &str) -> Option<&AnyValue> {
        self.0.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(AnyValue::as_str)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, KeyValue> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, key: impl Into<String>, value: AnyValue) {
        self.0.push(KeyValue::new(key, value));
    }
}

impl FromIterator<KeyValue> for Attributes {
    fn from_iter<I: IntoIterator<Item = KeyValue>>(iter: I) -> Self {
        Attributes(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complex_values_read_as_json_text() {
        let nested: Attributes = [
            KeyValue::new("inner", AnyValue::Int(-3)),
            KeyValue::new("a\"b", AnyValue::String("x\ny".into())),
            KeyValue::new("d", AnyValue::Double(1.0)),
        ]
        .into_iter()
        .collect();
        let value = AnyValue::Array(vec![
            AnyValue::Map(nested),
            AnyValue::Bytes(vec![0, 159, 255]),
            AnyValue::Double(f64::NAN),
            AnyValue::Empty,
            AnyValue::Bool(true),
        ]);
        assert_eq!(
            value.to_string(),
            r#"[{"inner":-3,"a\"b":"x\ny","d":1.0},{"$bytes":"AJ//"},{"$double":"NaN"},null,true]"#
        );
        assert_eq!(AnyValue::String("GET".into()).to_string(), "GET", "plain text as it is");
        assert_eq!(AnyValue::Double(0.25).to_string(), "0.25");
    }
}
