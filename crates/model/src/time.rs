/// Nanoseconds since the Unix epoch, as OTLP carries them.
pub type UnixNanos = u64;

/// Formats a Unix-nanosecond timestamp as RFC 3339 with nanosecond precision (UTC).
pub fn format_rfc3339_nanos(nanos: UnixNanos) -> String {
    let timestamp = ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH);
    timestamp.format(&::time::format_description::well_known::Rfc3339).unwrap_or_else(|_| nanos.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_nanoseconds() {
        assert_eq!(super::format_rfc3339_nanos(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(super::format_rfc3339_nanos(0), "1970-01-01T00:00:00Z");
    }
}
