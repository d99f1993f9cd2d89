//! Masking of high-cardinality values in free text, so that texts differing only in ids,
//! numbers, addresses or times share one template.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Numbers, with a decimal part and a unit if any: 30000ms, 1.5s, 512MB, 42 (a macro, for
/// `concat!`).
macro_rules! number {
    () => {
        r"(?P<num>\d+(?:[.,]\d+)*(?:ms|us|µs|ns|[smhd]|[kKMGT]i?[bB]|[bB]|%)?\b)"
    };
}

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
        // Generated ids of letters and digits (checked for mixing below): 0HN1DABC598, ULIDs.
        r"|(?P<id>\b[0-9A-Za-z]{8,}\b)",
        // Numbers.
        "|",
        number!(),
    ))
    .expect("the masking pattern is valid")
});

/// The number pattern alone, for the numbers inside a word that is not an id.
static NUMBERS: LazyLock<Regex> = LazyLock::new(|| Regex::new(number!()).expect("the number pattern is valid"));

/// Runs of digits from which a word of letters and digits is a generated id (`0HN1DABC598`
/// has three); names with numbers in them have one or two (`Sha256Digest`, `Log4j2Appender`).
/// A word of both that starts with a digit is an id too (names do not).
const ID_DIGIT_RUNS: usize = 3;

/// String literals in database statements.
static SQL_LITERAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'").expect("the SQL literal pattern is valid"));

/// Masks volatile values in `text`: UUIDs, times, e-mails, IP addresses, hex ids, generated ids
/// of letters and digits and numbers become `<uuid>`, `<time>`, `<email>`, `<ip>`, `<hex>`,
/// `<id>`, `<num>`. A lone digit glued to a
/// name stays (`HikariPool-1`, `pool_2`); one standing as a value (`order 7`, `retries=3`) is
/// masked, since each of its ten values would otherwise make a template of its own.
pub fn mask(text: &str) -> Cow<'_, str> {
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
        } else if captures.name("id").is_some() {
            let digit_runs = whole.split(|c: char| !c.is_ascii_digit()).filter(|run| !run.is_empty()).count();
            let has_letters = whole.bytes().any(|byte| byte.is_ascii_alphabetic());
            let a_number = NUMBERS.find(whole).is_some_and(|found| found.len() == whole.len());
            if has_letters
                && !a_number
                && (digit_runs >= ID_DIGIT_RUNS || whole.starts_with(|c: char| c.is_ascii_digit()))
            {
                "<id>".to_owned()
            } else {
                // A name with a number in it: its numbers as anywhere else (`req12345` -> `req<num>`).
                NUMBERS.replace_all(whole, "<num>").into_owned()
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
                r#"Connection id "0HN1DABC598", Request id "0HN24484EE9:00000003": done"#,
                r#"Connection id "<id>", Request id "<id>:<num>": done"#,
            ),
            ("job 01ARZ3NDEKTSV4RRFFQ69G5FAV lost", "job <id> lost"),
            ("Sha256Digest and Log4j2Appender in req12345678", "Sha256Digest and Log4j2Appender in req<num>"),
            ("AES256GCM cipher after 12000000ms", "AES256GCM cipher after <num>"),
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
