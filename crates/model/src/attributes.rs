//! Typed attribute values and their JSON form.
//!
//! The JSON form is the natural one (`"GET"`, `200`, `0.5`, `true`, `[..]`, `{..}`), so that
//! attributes read well in the API and can be queried with JSON operators in the stores.
//! Two values have no natural JSON form and are written as one-key objects:
//! bytes as `{"$bytes": "<base64>"}` and non-finite doubles as `{"$double": "NaN" | "inf" | "-inf"}`.
//! Integers keep their exact 64-bit value; doubles always carry a fraction or exponent
//! (`1.0`, not `1`), so reading the JSON back gives the same types.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const BYTES_KEY: &str = "$bytes";
const DOUBLE_KEY: &str = "$double";

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
            other => f.write_str(&serde_json::to_string(other).unwrap_or_default()),
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

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("attributes always serialise")
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl FromIterator<KeyValue> for Attributes {
    fn from_iter<I: IntoIterator<Item = KeyValue>>(iter: I) -> Self {
        Attributes(iter.into_iter().collect())
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kv in &self.0 {
            map.serialize_entry(&kv.key, &kv.value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match AnyValue::deserialize(deserializer)? {
            AnyValue::Map(attributes) => Ok(attributes),
            other => Err(de::Error::custom(format!("expected an attribute object, got {other:?}"))),
        }
    }
}

impl Serialize for AnyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
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
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            AnyValue::Map(attributes) => attributes.serialize(serializer),
            AnyValue::Empty => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValueVisitor)
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
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(AnyValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<String, AnyValue>()? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: AnyValue) -> AnyValue {
        let text = serde_json::to_string(&value).unwrap();
        serde_json::from_str(&text).unwrap()
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
        let json = attributes.to_json();
        assert_eq!(json, r#"{"http.request.method":"POST","http.response.status_code":503,"a":2.0}"#);
        assert_eq!(Attributes::from_json(&json).unwrap(), attributes);
    }
}
