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

/// The same for JSON text, where NUL is written `\u0000` (jsonb rejects it).
pub(crate) fn json(value: &str) -> Cow<'_, str> {
    if value.contains("\\u0000") {
        Cow::Owned(value.replace("\\u0000", "\\ufffd"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Unix nanoseconds as a `timestamptz` (PostgreSQL keeps microseconds; `*_ns` columns keep the rest).
pub(crate) fn timestamp(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64)
}

/// Midnight UTC of the day holding `nanos`, as days since the epoch.
pub(crate) fn day_of(nanos: i64) -> i64 {
    nanos.max(0) / 86_400_000_000_000
}
