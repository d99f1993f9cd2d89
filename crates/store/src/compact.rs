//! The compact binary form of span attributes, version [`VERSION`]: what the embedded store
//! keeps per span instead of JSON.
//!
//! On traffic like an outside load generator's (issue 21: route, full URL, user agent, SQL
//! statement, peer address, thread id) attributes were 227 of a span row's 324 bytes in JSON,
//! and some 40 % of that was keys and JSON punctuation repeated on every span. Here a key of
//! the OpenTelemetry semantic conventions is one byte (its place in [`KEYS`], a static table
//! as HPACK has), other keys are written out, and a value is a tag and its bytes.
//!
//! Layout: the version byte, then each attribute in order: the key (a varint `h`: `0` = a
//! varint length and the key's UTF-8 follow; otherwise `KEYS[h - 1]`), then the value (a tag
//! byte, then: string and bytes a varint length and the bytes; int a zigzag varint; double 8
//! bytes little-endian; bool and empty nothing; array a varint count and the values; map a
//! varint count and the attributes). [`KEYS`] is append-only: a key's place never changes;
//! any other change needs a new version, and readers keep reading the old ones. The golden
//! test pins the bytes.

use semtrace_model::{AnyValue, Attributes, KeyValue};

/// Version of the form (its first byte).
pub const VERSION: u8 = 1;

/// Keys written as one byte: the semantic conventions' span attributes (current and older
/// names). Append only.
pub const KEYS: &[&str] = &[
    // HTTP (current, then pre-1.20 names).
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "http.request.body.size",
    "http.response.body.size",
    "http.request.method_original",
    "http.request.resend_count",
    "http.method",
    "http.url",
    "http.target",
    "http.host",
    "http.scheme",
    "http.status_code",
    "http.flavor",
    "http.user_agent",
    "http.client_ip",
    "http.server_name",
    "http.request_content_length",
    "http.response_content_length",
    "url.full",
    "url.path",
    "url.query",
    "url.scheme",
    "url.fragment",
    "user_agent.original",
    // Network and peers.
    "server.address",
    "server.port",
    "client.address",
    "client.port",
    "network.peer.address",
    "network.peer.port",
    "network.local.address",
    "network.local.port",
    "network.protocol.name",
    "network.protocol.version",
    "network.transport",
    "network.type",
    "net.peer.name",
    "net.peer.ip",
    "net.peer.port",
    "net.host.name",
    "net.host.port",
    "net.transport",
    "net.sock.peer.addr",
    "net.sock.peer.port",
    "peer.service",
    // Databases.
    "db.system",
    "db.system.name",
    "db.namespace",
    "db.collection.name",
    "db.operation.name",
    "db.query.text",
    "db.query.summary",
    "db.response.status_code",
    "db.statement",
    "db.name",
    "db.user",
    "db.operation",
    "db.sql.table",
    "db.connection_string",
    "db.redis.database_index",
    "db.mongodb.collection",
    "db.cassandra.keyspace",
    // RPC.
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "rpc.jsonrpc.version",
    "rpc.jsonrpc.request_id",
    // Messaging.
    "messaging.system",
    "messaging.destination.name",
    "messaging.operation",
    "messaging.operation.name",
    "messaging.operation.type",
    "messaging.message.id",
    "messaging.message.body.size",
    "messaging.batch.message_count",
    "messaging.consumer.group.name",
    "messaging.kafka.message.key",
    "messaging.kafka.partition",
    "messaging.kafka.destination.partition",
    "messaging.kafka.message.offset",
    "messaging.kafka.consumer.group",
    "messaging.destination",
    "messaging.rabbitmq.routing_key",
    // Errors and exceptions.
    "error.type",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.escaped",
    "otel.status_code",
    "otel.status_description",
    "otel.library.name",
    "otel.library.version",
    "otel.scope.name",
    "otel.scope.version",
    // Code and threads.
    "code.function",
    "code.namespace",
    "code.filepath",
    "code.lineno",
    "code.function.name",
    "code.file.path",
    "code.line.number",
    "thread.id",
    "thread.name",
    // Users, sessions, cloud, Kubernetes, FaaS.
    "enduser.id",
    "enduser.role",
    "session.id",
    "cloud.region",
    "cloud.provider",
    "k8s.pod.name",
    "k8s.namespace.name",
    "faas.trigger",
    "faas.invocation_id",
    "aws.request_id",
    "aws.region",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    // OpenTracing and Jaeger tags as bridges send them.
    "component",
    "span.kind",
    "sampling.priority",
    "error",
    "event",
    "message",
    "level",
    "log.severity",
    "log.level",
];

const EMPTY: u8 = 0;
const STRING: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const INT: u8 = 4;
const DOUBLE: u8 = 5;
const BYTES: u8 = 6;
const ARRAY: u8 = 7;
const MAP: u8 = 8;

/// Values nested deeper than this are refused when reading (a corrupt length cannot recurse
/// without end).
const MAX_DEPTH: usize = 64;

/// Why stored bytes are not attributes in this form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompactError {
    #[error("compact attributes of version {0}, which this semtrace does not know")]
    Version(u8),
    #[error("compact attributes end early")]
    Truncated,
    #[error("compact attributes hold an unknown value tag {0}")]
    Tag(u8),
    #[error("compact attributes name key {0}, past the key table")]
    Key(u64),
    #[error("compact attributes hold text that is not UTF-8")]
    Utf8,
    #[error("compact attributes nest deeper than {MAX_DEPTH}")]
    Depth,
}

/// Attributes in the compact form.
pub fn attributes_to_compact(attributes: &Attributes) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + attributes.len() * 24);
    out.push(VERSION);
    for kv in attributes.iter() {
        write_entry(&mut out, kv);
    }
    out
}

/// Attributes back from the compact form.
pub fn attributes_from_compact(bytes: &[u8]) -> Result<Attributes, CompactError> {
    let (&version, rest) = bytes.split_first().ok_or(CompactError::Truncated)?;
    if version != VERSION {
        return Err(CompactError::Version(version));
    }
    let mut reader = Reader { bytes: rest };
    let mut attributes = Vec::new();
    while !reader.bytes.is_empty() {
        attributes.push(reader.entry(0)?);
    }
    Ok(Attributes(attributes))
}

fn key_index(key: &str) -> Option<usize> {
    use std::collections::HashMap;
    use std::sync::LazyLock;
    static INDEX: LazyLock<HashMap<&'static str, usize>> =
        LazyLock::new(|| KEYS.iter().enumerate().map(|(at, key)| (*key, at)).collect());
    INDEX.get(key).copied()
}

fn write_entry(out: &mut Vec<u8>, kv: &KeyValue) {
    match key_index(&kv.key) {
        Some(at) => write_varint(out, at as u64 + 1),
        None => {
            write_varint(out, 0);
            write_bytes(out, kv.key.as_bytes());
        }
    }
    write_value(out, &kv.value);
}

fn write_value(out: &mut Vec<u8>, value: &AnyValue) {
    match value {
        AnyValue::Empty => out.push(EMPTY),
        AnyValue::String(text) => {
            out.push(STRING);
            write_bytes(out, text.as_bytes());
        }
        AnyValue::Bool(false) => out.push(FALSE),
        AnyValue::Bool(true) => out.push(TRUE),
        AnyValue::Int(value) => {
            out.push(INT);
            write_varint(out, ((value << 1) ^ (value >> 63)) as u64);
        }
        AnyValue::Double(value) => {
            out.push(DOUBLE);
            out.extend_from_slice(&value.to_le_bytes());
        }
        AnyValue::Bytes(bytes) => {
            out.push(BYTES);
            write_bytes(out, bytes);
        }
        AnyValue::Array(items) => {
            out.push(ARRAY);
            write_varint(out, items.len() as u64);
            for item in items {
                write_value(out, item);
            }
        }
        AnyValue::Map(attributes) => {
            out.push(MAP);
            write_varint(out, attributes.len() as u64);
            for kv in attributes.iter() {
                write_entry(out, kv);
            }
        }
    }
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let (&first, rest) = self.bytes.split_first().ok_or(CompactError::Truncated)?;
        self.bytes = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, CompactError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CompactError::Truncated)
    }

    fn take(&mut self, len: u64) -> Result<&[u8], CompactError> {
        let len = usize::try_from(len).map_err(|_| CompactError::Truncated)?;
        if len > self.bytes.len() {
            return Err(CompactError::Truncated);
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn text(&mut self) -> Result<String, CompactError> {
        let len = self.varint()?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| CompactError::Utf8)
    }

    /// A count of items, each at least one byte: a count past the bytes left is corrupt (and
    /// would otherwise reserve memory for nothing).
    fn count(&mut self) -> Result<usize, CompactError> {
        let count = self.varint()?;
        usize::try_from(count).ok().filter(|count| *count <= self.bytes.len()).ok_or(CompactError::Truncated)
    }

    fn entry(&mut self, depth: usize) -> Result<KeyValue, CompactError> {
        let key = match self.varint()? {
            0 => self.text()?,
            at => (*KEYS.get(at as usize - 1).ok_or(CompactError::Key(at))?).to_owned(),
        };
        Ok(KeyValue { key, value: self.value(depth)? })
    }

    fn value(&mut self, depth: usize) -> Result<AnyValue, CompactError> {
        if depth > MAX_DEPTH {
            return Err(CompactError::Depth);
        }
        Ok(match self.byte()? {
            EMPTY => AnyValue::Empty,
            STRING => AnyValue::String(self.text()?),
            FALSE => AnyValue::Bool(false),
            TRUE => AnyValue::Bool(true),
            INT => {
                let zigzag = self.varint()?;
                AnyValue::Int(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
            }
            DOUBLE => {
                let bytes: [u8; 8] = self.take(8)?.try_into().expect("8 bytes taken");
                AnyValue::Double(f64::from_le_bytes(bytes))
            }
            BYTES => {
                let len = self.varint()?;
                AnyValue::Bytes(self.take(len)?.to_vec())
            }
            ARRAY => {
                let count = self.count()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AnyValue::Array(items)
            }
            MAP => {
                let count = self.count()?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push(self.entry(depth + 1)?);
                }
                AnyValue::Map(Attributes(entries))
            }
            tag => return Err(CompactError::Tag(tag)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue { key: key.to_owned(), value }
    }

    fn every_kind() -> Attributes {
        Attributes(vec![
            kv("http.request.method", AnyValue::String("GET".into())),
            kv("http.response.status_code", AnyValue::Int(200)),
            kv("app.negative", AnyValue::Int(i64::MIN)),
            kv("app.max", AnyValue::Int(i64::MAX)),
            kv("app.ratio", AnyValue::Double(0.5)),
            kv("app.nan", AnyValue::Double(f64::NAN)),
            kv("app.ok", AnyValue::Bool(true)),
            kv("app.no", AnyValue::Bool(false)),
            kv("app.raw", AnyValue::Bytes(vec![0, 255, 7])),
            kv("app.none", AnyValue::Empty),
            kv("app.list", AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(-1)])),
            kv("app.map", AnyValue::Map(Attributes(vec![kv("thread.id", AnyValue::Int(7)), kv("k", AnyValue::Empty)]))),
            kv("ключ", AnyValue::String("значение".into())),
            kv("http.route", AnyValue::String(String::new())),
        ])
    }

    /// Compares attribute lists value by value (NaN equal to NaN: the bits round-trip).
    fn same(a: &Attributes, b: &Attributes) -> bool {
        fn value(a: &AnyValue, b: &AnyValue) -> bool {
            match (a, b) {
                (AnyValue::Double(x), AnyValue::Double(y)) => x.to_bits() == y.to_bits(),
                (AnyValue::Array(x), AnyValue::Array(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(x, y)| value(x, y))
                }
                (AnyValue::Map(x), AnyValue::Map(y)) => same(x, y),
                _ => a == b,
            }
        }
        a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.key == y.key && value(&x.value, &y.value))
    }

    #[test]
    fn every_kind_of_value_round_trips_in_order() {
        let attributes = every_kind();
        let back = attributes_from_compact(&attributes_to_compact(&attributes)).unwrap();
        assert!(same(&attributes, &back), "{back:?}");
        assert!(attributes_from_compact(&attributes_to_compact(&Attributes(Vec::new()))).unwrap().is_empty());
    }

    #[test]
    fn the_form_is_pinned() {
        let attributes = Attributes(vec![
            kv("http.request.method", AnyValue::String("GET".into())),
            kv("http.response.status_code", AnyValue::Int(200)),
            kv("app.tier", AnyValue::Int(-2)),
            kv("app.up", AnyValue::Bool(true)),
        ]);
        let bytes = attributes_to_compact(&attributes);
        assert_eq!(
            bytes,
            [
                1, // version
                1, STRING, 3, b'G', b'E', b'T', // KEYS[0] = "GET"
                3, INT, 0x90, 0x03, // KEYS[2] = 200 (zigzag 400)
                0, 8, b'a', b'p', b'p', b'.', b't', b'i', b'e', b'r', INT, 3, // "app.tier" = -2
                0, 6, b'a', b'p', b'p', b'.', b'u', b'p', TRUE,
            ]
        );
    }

    #[test]
    fn keys_keep_their_places() {
        // Append-only: stored bytes name keys by place. These pins catch an insertion.
        assert_eq!(KEYS[0], "http.request.method");
        assert_eq!(KEYS[19], "url.full");
        assert_eq!(KEYS[51], "db.query.text");
        assert_eq!(KEYS.iter().collect::<std::collections::HashSet<_>>().len(), KEYS.len(), "a key listed twice");
        // Places 1–127 take one byte, the rest two: the most common keys come first.
        assert!(KEYS.iter().position(|key| *key == "thread.id").unwrap() < 127);
    }

    #[test]
    fn it_is_smaller_than_json_on_semantic_convention_spans() {
        let attributes = Attributes(vec![
            kv("db.system", AnyValue::String("postgresql".into())),
            kv("db.query.text", AnyValue::String("SELECT * FROM payments WHERE id = 1222801277".into())),
            kv("server.address", AnyValue::String("10.81.31.89".into())),
            kv("server.port", AnyValue::Int(5432)),
        ]);
        let compact = attributes_to_compact(&attributes).len();
        let json = crate::encoding::attributes_to_json(&attributes).len();
        assert!(compact * 10 < json * 7, "compact {compact} bytes against JSON {json}");
    }

    #[test]
    fn corrupt_bytes_are_refused_not_read() {
        let good = attributes_to_compact(&every_kind());
        for cut in 1..good.len() {
            // Every prefix either reads as fewer attributes or is refused; none panics.
            let _ = attributes_from_compact(&good[..cut]);
        }
        assert_eq!(attributes_from_compact(&[]), Err(CompactError::Truncated));
        assert_eq!(attributes_from_compact(&[2]), Err(CompactError::Version(2)));
        assert_eq!(attributes_from_compact(&[1, 200, 1, STRING, 0]), Err(CompactError::Key(200)));
        assert_eq!(attributes_from_compact(&[1, 1, 42]), Err(CompactError::Tag(42)));
        assert_eq!(attributes_from_compact(&[1, 1, ARRAY, 0xff, 0xff, 0xff, 0x0f]), Err(CompactError::Truncated));
        let mut deep = vec![1, 1];
        deep.extend(std::iter::repeat_n([ARRAY, 1], 100).flatten());
        deep.push(EMPTY);
        assert_eq!(attributes_from_compact(&deep), Err(CompactError::Depth));
    }
}
