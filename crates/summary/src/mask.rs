//! Masking of high-cardinality values in free text, so that texts differing only in ids,
//! numbers, addresses or times share one template.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// One pass, alternatives tried left to right at each position.
static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // UUIDs.
        r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
        // Dates and times: 2026-11-23T10:00:00.123Z, 2026-11-23 10:00:00, 10:00:00.5
        r"|(?P<time>\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?)",
        // E-mail addresses.
        r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
        // IPv4 with an optional port; IPv6 (at least three groups, optionally bracketed with a port).
        r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\[?\b(?:[0-9a-fA-F]{1,4}:){2,7}:?[0-9a-fA-F]{1,4}\b\]?(?::\d{1,5})?)",
        // Hex ids and hashes (checked for a digit below), 0x literals.
        r"|(?P<hex>\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b)",
        // Numbers, with a decimal part and a unit if any: 30000ms, 1.5s, 512MB, 42.
        r"|(?P<num>\d+(?:[.,]\d+)*(?:ms|us|µs|ns|[smhd]|[kKMGT]i?[bB]|[bB]|%)?\b)",
    ))
    .expect("the masking pattern is valid")
});

/// Words of letters and digits long enough to be a generated id; [`generated_id`] decides.
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9A-Za-z]{8,}\b").expect("the word pattern is valid"));

/// Whether a word is an id some system generated (Kestrel's connection ids `0HN1DABC598`,
/// ULIDs, base32 and base62 keys): letters and digits mixed, with three runs of digits or more,
/// or with two when it starts with a digit. Names with numbers in them have fewer
/// (`Sha256Digest`, `Log4j2Appender`, `PaymentServiceV2`, `404NotFound`, `3DSecure`); words of
/// hex digits alone are left to the hex and number rules, so UUIDs and trace ids keep their tags.
fn generated_id(word: &str) -> bool {
    let digit_runs = word.split(|c: char| !c.is_ascii_digit()).filter(|run| !run.is_empty()).count();
    let leading_digit = word.starts_with(|c: char| c.is_ascii_digit());
    word.bytes().any(|byte| !byte.is_ascii_hexdigit()) && (digit_runs >= 3 || (leading_digit && digit_runs >= 2))
}

/// String literals in database statements.
static SQL_LITERAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'").expect("the SQL literal pattern is valid"));

/// Masks volatile values in `text`: UUIDs, times, e-mails, IP addresses, hex ids, generated ids
/// and numbers become `<uuid>`, `<time>`, `<email>`, `<ip>`, `<hex>`, `<id>`, `<num>`. A lone
/// digit glued to a name stays (`HikariPool-1`, `pool_2`); one standing as a value (`order 7`,
/// `retries=3`) is masked, since each of its ten values would otherwise make a template of its
/// own.
pub fn mask(text: &str) -> Cow<'_, str> {
    match mask_ids(text) {
        Cow::Borrowed(text) => mask_values(text),
        Cow::Owned(text) => Cow::Owned(mask_values(&text).into_owned()),
    }
}

/// Generated ids ([`generated_id`]) become `<id>`; a word glued to an `@` is an e-mail's, left
/// to the e-mail rule.
fn mask_ids(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| byte.is_ascii_digit()) {
        return Cow::Borrowed(text);
    }
    WORD.replace_all(text, |captures: &Captures<'_>| {
        let found = captures.get(0).expect("match");
        let glued_to_email = text[found.end()..].starts_with('@');
        if !glued_to_email && generated_id(found.as_str()) {
            "<id>".to_owned()
        } else {
            found.as_str().to_owned()
        }
    })
}

/// [`mask`] after ids: UUIDs, times, e-mails, IP addresses, hex ids and numbers.
fn mask_values(text: &str) -> Cow<'_, str> {
    VOLATILE.replace_all(text, |captures: &Captures<'_>| {
        let whole = &captures[0];
        if captures.name("uuid").is_some() {
            "<uuid>".to_owned()
        } else if captures.name("time").is_some() {
            "<time>".to_owned()
        } else if captures.name("email").is_some() {
            "<email>".to_owned()
        } else if captures.name("ip").is_some() || captures.name("hex").is_some() {
            let tag = if captures.name("ip").is_some() {
                "<ip>"
            } else if whole.bytes().all(|byte| byte.is_ascii_digit()) {
                "<num>"
            } else {
                "<hex>"
            };
            if whole.bytes().any(|byte| byte.is_ascii_digit()) {
                tag.to_owned()
            } else {
                whole.to_owned()
            }
        } else if whole.len() == 1 && part_of_a_name(text, captures.get(0).map_or(0, |found| found.start())) {
            whole.to_owned()
        } else {
            "<num>".to_owned()
        }
    })
}

/// Whether the lone digit at `at` belongs to a name: right after a letter, `-`, `_` or `.`
/// (a path segment, `/orders/7`, is a value like `/orders/12`).
fn part_of_a_name(text: &str, at: usize) -> bool {
    text[..at].chars().next_back().is_some_and(|before| before.is_alphanumeric() || "-_.".contains(before))
}

/// Masks a database statement: string literals become `?`, then as [`mask`].
pub fn mask_statement(text: &str) -> String {
    let without_literals = SQL_LITERAL.replace_all(text, "?");
    mask(&without_literals).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_volatile_values() {
        let cases = [
            ("dial tcp 10.2.3.4:5432: i/o timeout", "dial tcp <ip>: i/o timeout"),
            (
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                "HikariPool-1 - Connection is not available, request timed out after <num>.",
            ),
            ("order 3f2a9c1e-1b2c-4d5e-8f90-123456789abc not found", "order <uuid> not found"),
            ("at 2026-11-23T10:15:42.123Z by alice@example.com", "at <time> by <email>"),
            ("trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7", "trace <hex> span <hex>"),
            ("ptr 0xdeadbeef size 1.5GB", "ptr <hex> size <num>"),
            ("user42 retry 3 of 5 took 120ms", "user<num> retry <num> of <num> took <num>"),
            (
                "duplicate key (order 7); pool_2 and worker-3 busy, retries=1",
                "duplicate key (order <num>); pool_2 and worker-3 busy, retries=<num>",
            ),
            ("connect [2001:db8::1]:443 refused", "connect <ip> refused"),
            ("keys a:b:cd stay", "keys a:b:cd stay"),
            ("fe80:0:0:0:202:b3ff:fe1e:8329 unreachable", "<ip> unreachable"),
            ("the facade accepted", "the facade accepted"),
            (
                r#"Connection id "0HN1DABC598", Request id "0HNABCDEF7:00000003": done"#,
                r#"Connection id "<id>", Request id "<id>:<num>": done"#,
            ),
            ("job 01ARZ3NDEKTSV4RRFFQ69G5FAV lost", "job <id> lost"),
            ("Sha256Digest and Log4j2Appender in req12345678", "Sha256Digest and Log4j2Appender in req<num>"),
            ("AES256GCM cipher after 12000000ms", "AES256GCM cipher after <num>"),
            ("postgres1 and PaymentServiceV2 on postgresql14.5", "postgres1 and PaymentServiceV2 on postgresql<num>"),
            ("3DSecure 404NotFound 12xlarge", "3DSecure 404NotFound 12xlarge"),
            ("mail j0hn2do3@example.com", "mail <email>"),
        ];
        for (text, want) in cases {
            assert_eq!(mask(text), want, "{text}");
        }
    }

    #[test]
    fn masks_statement_literals() {
        assert_eq!(
            mask_statement("SELECT * FROM users WHERE email = 'a''b@x.io' AND id = 123"),
            "SELECT * FROM users WHERE email = ? AND id = <num>"
        );
    }
}
