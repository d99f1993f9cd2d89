//! Application text turned into words the model can read.
//!
//! Services log in their own dialect: `[getStationIdByName][Get Station Id By Name Failed]
//! [stationList is null]`, `order_service.reserve_seat: seat_taken`,
//! `c.t.s.service.OrderServiceImpl`. MiniLM's WordPiece vocabulary knows English words, not
//! `getStationIdByName` (which it cuts into pieces that mean little), so before a template or a
//! query is embedded its identifiers are split into words ([`readable`]). The template keeps the
//! original text: it is what full-text search matches and what people read.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Dotted names of at least three parts, ending in a capitalised class name (a Java or .NET
/// class, a logger name): `com.example.orders.OrderServiceImpl`, `o.s.web.client.RestTemplate`,
/// `java.net.SocketTimeoutException$Inner`. Packages say little; the class says what failed.
static DOTTED_CLASS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:[a-z][a-z0-9_]*\.){2,}([A-Z][A-Za-z0-9_]*)(?:\$[A-Za-z0-9_]+)?")
        .expect("the dotted class pattern is valid")
});

/// Words with an inner capital or an underscore: `stationList`, `HikariPool`, `seat_taken`,
/// `SQLTransientConnectionException`.
static COMPOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z][A-Za-z0-9]*(?:_+[A-Za-z0-9]+)+\b|\b[A-Za-z]*[a-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*\b|\b[A-Z]{2,}[a-z][A-Za-z0-9]*\b")
        .expect("the compound word pattern is valid")
});

/// The text with identifiers split into words: brackets and braces become separators,
/// `camelCase`, `PascalCase` and `snake_case` become words, dotted class names keep their last
/// part. Masked values (`<num>`, `<uuid>` …) stay as they are.
pub fn readable(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| matches!(byte, b'[' | b']' | b'{' | b'}' | b'_' | b'.' | b'A'..=b'Z')) {
        return Cow::Borrowed(text);
    }
    let classes = DOTTED_CLASS.replace_all(text, |captures: &Captures<'_>| captures[1].to_owned());
    let words = COMPOUND.replace_all(&classes, |captures: &Captures<'_>| split_words(&captures[0]));
    let mut out = String::with_capacity(words.len());
    let mut pending_separator = false;
    for character in words.chars() {
        match character {
            '[' | ']' | '{' | '}' => pending_separator = true,
            _ => {
                if pending_separator {
                    let trimmed = out.trim_end().len();
                    out.truncate(trimmed);
                    if !out.is_empty() && !out.ends_with([':', ',', ';', '.', '(']) {
                        out.push(',');
                    }
                    if !out.is_empty() && character != ' ' {
                        out.push(' ');
                    }
                    pending_separator = false;
                }
                out.push(character);
            }
        }
    }
    Cow::Owned(out)
}

/// `getStationIdByName` → `get station id by name`; `SQLTransientConnectionException` →
/// `sql transient connection exception`; `seat_taken` → `seat taken`.
fn split_words(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 8);
    for part in word.split('_').filter(|part| !part.is_empty()) {
        for piece in crate::split_camel_case(part) {
            if !out.is_empty() {
                out.push(' ');
            }
            // An acronym stays as it is (`SQL`, `HTTP`); words are lowered, as the model lowers them.
            if piece.len() > 1 && piece.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                out.push_str(piece);
            } else {
                out.extend(piece.chars().flat_map(char::to_lowercase));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_dialect_becomes_words() {
        let cases = [
            (
                "[getStationIdByName][Get Station Id By Name Failed][stationList is null]",
                "get station id by name, Get Station Id By Name Failed, station list is null",
            ),
            ("cartItemsResult is null", "cart items result is null"),
            ("[check][Wrong State][id: <uuid>]", "check, Wrong State, id: <uuid>"),
            ("seat_taken for order_id <num>", "seat taken for order id <num>"),
            ("java.net.SocketTimeoutException: Read timed out", "socket timeout exception: Read timed out"),
            ("o.s.web.client.RestTemplate: I/O error", "rest template: I/O error"),
            ("SQLTransientConnectionException: HikariPool-1", "SQL transient connection exception: hikari pool-1"),
            ("plain words stay. As they are", "plain words stay. As they are"),
            ("GET /api/v1/orders HTTP status 500", "GET /api/v1/orders HTTP status 500"),
            ("level=error msg=\"lookup failed\"", "level=error msg=\"lookup failed\""),
        ];
        for (text, want) in cases {
            assert_eq!(readable(text), want, "{text}");
        }
    }
}
