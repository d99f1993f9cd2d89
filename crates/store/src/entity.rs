//! Entities a trace touches: users, customers, orders, hosts, IPs, URLs and routes, database
//! tables, Kubernetes pods and namespaces, email addresses. Read from semantic-convention
//! attributes first (the span's, then its resource's), then from the failure's text (status
//! message, exception messages, log lines); stored once per trace and kind and value, so
//! `entity=host:db-7` finds every span of the traces that touched `db-7`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use semtrace_model::{AnyValue, Resource, Span};

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityKind {
    User,
    Customer,
    Order,
    Host,
    Ip,
    Url,
    Route,
    Table,
    Pod,
    Namespace,
    Email,
}

impl EntityKind {
    pub const ALL: [EntityKind; 11] = [
        EntityKind::User,
        EntityKind::Customer,
        EntityKind::Order,
        EntityKind::Host,
        EntityKind::Ip,
        EntityKind::Url,
        EntityKind::Route,
        EntityKind::Table,
        EntityKind::Pod,
        EntityKind::Namespace,
        EntityKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Customer => "customer",
            EntityKind::Order => "order",
            EntityKind::Host => "host",
            EntityKind::Ip => "ip",
            EntityKind::Url => "url",
            EntityKind::Route => "route",
            EntityKind::Table => "table",
            EntityKind::Pod => "pod",
            EntityKind::Namespace => "namespace",
            EntityKind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The number the stores keep (stable: stored data depends on it).
    pub fn code(self) -> i16 {
        self as i16 + 1
    }

    pub fn from_code(code: i64) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| i64::from(kind.code()) == code)
    }
}

/// One word standing for an entity in a full-text index: `e` and a 64-bit hash of its kind
/// and value in hex (a value's own words would be split by a tokenizer).
pub fn term(kind: EntityKind, value: &str) -> String {
    format!("e{:016x}", term_id(kind, value) as u64)
}

/// [`term`] as a number (an array element of an inverted index).
pub fn term_id(kind: EntityKind, value: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in [kind.code() as u8].iter().chain(value.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// `kind:value`, as the API's `entity=` takes it (`user:12345`, `host:db-7`).
pub fn parse_filter(text: &str) -> Result<(EntityKind, String), String> {
    let (kind, value) = text.split_once(':').ok_or_else(|| format!("entity={text:?} is not kind:value"))?;
    let kind = EntityKind::parse(kind.trim()).ok_or_else(|| {
        let kinds: Vec<&str> = EntityKind::ALL.iter().map(|kind| kind.as_str()).collect();
        format!("unknown entity kind {kind:?}: one of {}", kinds.join(", "))
    })?;
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("entity={text:?} has no value"));
    }
    Ok((kind, value.to_owned()))
}

/// Attribute keys (span, then resource) naming each kind, newest conventions first.
const ATTRIBUTES: &[(EntityKind, &[&str])] = &[
    (EntityKind::User, &["enduser.id", "user.id", "user_id", "userId", "app.user.id", "user.name"]),
    (EntityKind::Customer, &["customer.id", "customer_id", "customerId", "app.customer.id"]),
    (EntityKind::Order, &["order.id", "order_id", "orderId", "app.order.id"]),
    (EntityKind::Host, &["server.address", "net.peer.name", "net.host.name", "host.name", "db.instance.id"]),
    (
        EntityKind::Ip,
        &["client.address", "network.peer.address", "net.peer.ip", "net.sock.peer.addr", "host.ip", "http.client_ip"],
    ),
    (EntityKind::Url, &["url.full", "http.url"]),
    (EntityKind::Route, &["http.route"]),
    (EntityKind::Table, &["db.collection.name", "db.sql.table", "db.mongodb.collection", "db.cassandra.table"]),
    (EntityKind::Pod, &["k8s.pod.name"]),
    (EntityKind::Namespace, &["k8s.namespace.name"]),
    (EntityKind::Email, &["user.email", "enduser.email", "email"]),
];

/// Longest value kept; longer ones (a URL with a huge query) are cut at a character boundary.
const MAX_VALUE: usize = 256;

/// [`ATTRIBUTES`] by key, so a span's attributes are read in one pass.
static BY_KEY: LazyLock<std::collections::HashMap<&'static str, EntityKind>> =
    LazyLock::new(|| ATTRIBUTES.iter().flat_map(|(kind, keys)| keys.iter().map(move |key| (*key, *kind))).collect());

/// All text patterns in one automaton: a text none matches (most) costs one pass.
static TEXT_SET: LazyLock<regex::RegexSet> = LazyLock::new(|| {
    regex::RegexSet::new(TEXT_PATTERNS.iter().map(|(_, pattern)| pattern.as_str())).expect("entity patterns compile")
});

static TEXT_PATTERNS: LazyLock<Vec<(EntityKind, Regex)>> = LazyLock::new(|| {
    [
        (EntityKind::Email, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
        (EntityKind::Ip, r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
        (EntityKind::Url, r#"\bhttps?://[^\s"'<>\]\)]+"#),
        (EntityKind::User, r"(?i)\buser(?:[ _-]?id)?[=:# ]+\s*([A-Za-z0-9_-]{2,64})\b"),
        (EntityKind::Customer, r"(?i)\bcustomer(?:[ _-]?id)?[=:# ]+\s*([A-Za-z0-9_-]{2,64})\b"),
        (EntityKind::Order, r"(?i)\border(?:[ _-]?id[=:# ]+|[=:#]\s*|\s+#)([A-Za-z0-9_-]{2,64})\b"),
        (EntityKind::Order, r"\b((?:ORD|ORDER)[-_]?\d{3,})\b"),
        (EntityKind::Table, r#"(?i)\b(?:from|into|update|join|table)\s+[`"]?([A-Za-z_][A-Za-z0-9_.]{0,63})[`"]?"#),
    ]
    .into_iter()
    .map(|(kind, pattern)| (kind, Regex::new(pattern).expect("entity patterns compile")))
    .collect()
});

/// Words that follow "from"/"into"/"update" in prose and are not tables.
const NOT_TABLES: &[&str] = &["the", "a", "an", "to", "set", "select", "where", "dual", "server", "service", "cache"];

/// The entities a resource names (`host.name`, `k8s.pod.name`, …): every span it produced
/// ran there. Kept per resource, not per trace (a trace crosses a few resources, each shared by
/// millions of spans).
pub fn extract_resource(resource: &Resource) -> Vec<(EntityKind, String)> {
    let mut found = BTreeSet::new();
    for (kind, keys) in ATTRIBUTES {
        for key in *keys {
            if let Some(value) = resource.attributes.get(key).and_then(text_of) {
                add(&mut found, *kind, &value);
            }
        }
    }
    found.into_iter().collect()
}

/// The entities a span names, each once: from its own attributes, then from its failure's
/// words (its resource's are [`extract_resource`]'s).
pub fn extract(span: &Span) -> BTreeSet<(EntityKind, String)> {
    let mut found = BTreeSet::new();
    for attribute in span.attributes.iter() {
        if let Some(kind) = BY_KEY.get(attribute.key.as_str()) {
            if let Some(value) = text_of(&attribute.value) {
                add(&mut found, *kind, &value);
            }
        }
    }
    // A statement names its tables when no attribute does.
    if !found.iter().any(|(kind, _)| *kind == EntityKind::Table) {
        for key in ["db.query.text", "db.statement"] {
            if let Some(AnyValue::String(statement)) = span.attributes.get(key) {
                find_in_text(&mut found, statement, &[EntityKind::Table]);
            }
        }
    }
    // The failure's own words: status message, exception messages, log lines.
    let mut texts: Vec<&str> = Vec::new();
    if !span.status.message.is_empty() {
        texts.push(&span.status.message);
    }
    for event in &span.events {
        for key in ["exception.message", "message", "log.message", "msg", "body", "event"] {
            if let Some(AnyValue::String(text)) = event.attributes.get(key) {
                texts.push(text);
            }
        }
    }
    let kinds =
        [EntityKind::Email, EntityKind::Ip, EntityKind::Url, EntityKind::User, EntityKind::Customer, EntityKind::Order];
    for text in texts {
        find_in_text(&mut found, text, &kinds);
    }
    found
}

fn find_in_text(found: &mut BTreeSet<(EntityKind, String)>, text: &str, kinds: &[EntityKind]) {
    let matched = TEXT_SET.matches(text);
    if !matched.matched_any() {
        return;
    }
    let patterns =
        TEXT_PATTERNS.iter().enumerate().filter(|(at, (kind, _))| matched.matched(*at) && kinds.contains(kind));
    for (_, (kind, pattern)) in patterns {
        for captures in pattern.captures_iter(text) {
            let matched = captures.get(1).or_else(|| captures.get(0)).expect("a match").as_str();
            if *kind == EntityKind::Table && NOT_TABLES.contains(&matched.to_ascii_lowercase().as_str()) {
                continue;
            }
            add(found, *kind, matched);
        }
    }
}

fn add(found: &mut BTreeSet<(EntityKind, String)>, kind: EntityKind, value: &str) {
    let value = value.trim().trim_end_matches(['.', ',', ';']);
    if value.is_empty() {
        return;
    }
    let mut end = value.len().min(MAX_VALUE);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    // Hosts and emails are case-insensitive; ids and routes are not.
    let value = match kind {
        EntityKind::Host | EntityKind::Email => value.to_ascii_lowercase(),
        _ => value.to_owned(),
    };
    found.insert((kind, value));
}

fn text_of(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::String(text) if !text.is_empty() => Some(text.clone()),
        AnyValue::Int(number) => Some(number.to_string()),
        _ => None,
    }
}

/// An entity with how many stored traces name it, and how many resources (service instances)
/// carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityCount {
    pub kind: EntityKind,
    pub value: String,
    pub traces: u64,
    pub resources: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(span: &Span) -> Vec<String> {
        extract(span).into_iter().map(|(kind, value)| format!("{}:{value}", kind.as_str())).collect()
    }

    #[test]
    fn attributes_first_then_the_failures_words() {
        let mut span = crate::conformance::rich_trace(1).swap_remove(0);
        span.attributes.push("enduser.id", AnyValue::String("12345".into()));
        span.attributes.push("app.order.id", AnyValue::Int(998877));
        span.attributes.push("server.address", AnyValue::String("DB-7.internal".into()));
        let mut resource = (*span.resource).clone();
        resource.attributes.push("k8s.pod.name", AnyValue::String("checkout-5d9f".into()));
        assert_eq!(extract_resource(&resource), vec![(EntityKind::Pod, "checkout-5d9f".to_owned())]);
        span.attributes.push("db.query.text", AnyValue::String("SELECT * FROM orders o JOIN line_items l".into()));
        span.status.message =
            "charge for customer_id=C-77 failed; mail ops@example.com, upstream 10.2.3.4:5432; 3 order items".into();
        let found = names(&span);
        for expected in [
            "user:12345",
            "order:998877",
            "host:db-7.internal",
            "table:orders",
            "table:line_items",
            "route:/api/orders",
            "customer:C-77",
            "email:ops@example.com",
            "ip:10.2.3.4",
        ] {
            assert!(found.contains(&expected.to_owned()), "{expected} not in {found:?}");
        }
        assert!(!found.iter().any(|name| name == "table:the" || name == "order:items"), "{found:?}");
    }

    #[test]
    fn filters_parse_as_kind_and_value() {
        assert_eq!(parse_filter("user:12345"), Ok((EntityKind::User, "12345".into())));
        assert_eq!(parse_filter("url:http://a/b?c=d"), Ok((EntityKind::Url, "http://a/b?c=d".into())));
        assert!(parse_filter("planet:mars").unwrap_err().contains("one of user"));
        assert!(parse_filter("user:").is_err() && parse_filter("12345").is_err());
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::from_code(kind.code().into()), Some(kind));
        }
    }
}
