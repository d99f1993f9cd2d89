//! Column values between the model's encoding and PostgreSQL's binary formats.

use std::borrow::Cow;
use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// JSON text already serialised by the model, sent as `jsonb` (or `json`) without re-parsing it
/// on this side.
#[derive(Debug)]
pub(crate) struct Jsonb<'a>(pub &'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(1); // jsonb binary format version
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }

    to_sql_checked!();
}

/// A `jsonb` or `json` value read as its JSON text.
pub(crate) struct JsonText<'a>(pub &'a str);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let raw = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb binary format version".into()),
            }
        } else {
            raw
        };
        Ok(JsonText(std::str::from_utf8(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

/// PostgreSQL text cannot hold NUL: it becomes U+FFFD (the rest of the text is kept).
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The same for JSON text, where NUL is written `\u0000` (jsonb rejects it): each NUL *in a
/// value* becomes U+FFFD. Only a real escape is rewritten: in `"\\u0000"` the backslash is
/// itself escaped, and the value is the six characters `\u0000`, kept as they are.
pub(crate) fn json(value: &str) -> Cow<'_, str> {
    const NUL: &[u8] = b"\\u0000";
    if !value.contains("\\u0000") {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            at += 1;
            continue;
        }
        if bytes[at..].starts_with(NUL) {
            out.push_str(&value[copied..at]);
            out.push_str("\\ufffd");
            at += NUL.len();
            copied = at;
        } else {
            // Any other escape: skip the backslash and the character it escapes.
            at += 2;
        }
    }
    out.push_str(&value[copied.min(value.len())..]);
    Cow::Owned(out)
}

/// Unix nanoseconds as a `timestamptz` (PostgreSQL keeps microseconds; `*_ns` columns keep the rest).
pub(crate) fn timestamp(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64)
}

/// Midnight UTC of the day holding `nanos`, as days since the epoch.
pub(crate) fn day_of(nanos: i64) -> i64 {
    nanos.max(0) / 86_400_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_in_values_and_the_text_of_an_escaped_backslash_is_kept() {
        // A NUL in a value.
        assert_eq!(json(r#"{"a":"x\u0000y"}"#), r#"{"a":"x\ufffdy"}"#);
        // The six characters \u0000 in a value: the backslash is escaped, nothing to replace.
        assert_eq!(json(r#"{"a":"\\u0000"}"#), r#"{"a":"\\u0000"}"#);
        // An escaped backslash, then a NUL.
        assert_eq!(json(r#"["\\\u0000"]"#), r#"["\\\ufffd"]"#);
        // Other escapes pass through; borrowed when there is nothing to do.
        assert_eq!(json(r#"["\"\n\u0001"]"#), r#"["\"\n\u0001"]"#);
        assert!(matches!(json(r#"["plain"]"#), Cow::Borrowed(_)));
        assert_eq!(text("a\0b"), "a\u{fffd}b");
    }
}
