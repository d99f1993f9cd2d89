//! Trace files read into OTLP export requests, streamed: Jaeger JSON (the query API's answer
//! `{"data": [trace, …]}`, the UI's download, a bare trace, an array of spans), OTLP JSON (one
//! `{"resourceSpans": …}` document, or JSON lines as the Collector's file exporter writes them)
//! and OTLP protobuf (one `ExportTraceServiceRequest`, or the file exporter's length-prefixed
//! stream), each optionally gzip- or zstd-compressed (told by their first bytes).
//!
//! A file is read one trace (Jaeger) or one resource (OTLP) at a time, so memory stays bounded
//! by the largest trace and the batch size, whatever the file's size. What cannot be stored is
//! reported as it is met (the file and document or trace, and why) and the rest is kept.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub mod command;
pub mod export;
pub mod jaeger;
pub mod remote;

/// What a file holds, as told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    OtlpProtobuf,
    OtlpProtobufStream,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::OtlpProtobuf => "OTLP protobuf",
            Format::OtlpProtobufStream => "OTLP protobuf, length-prefixed",
        })
    }
}

/// What reading gives, in order.
#[derive(Debug)]
pub enum Item {
    /// Spans to send, at most the batch size.
    Batch { request: ExportTraceServiceRequest, spans: usize },
    /// Spans that cannot be stored: where (`trace 4bf9…`, `document 3`), and why.
    Rejected { origin: String, reason: String, spans: usize },
}

/// What reading a file found.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub format: Option<Format>,
    /// Jaeger JSON, OTLP JSON, or both (a file of mixed documents).
    pub dialects: Vec<&'static str>,
    pub spans: usize,
    pub rejected: usize,
    /// Jaeger ids that were not hex, hashed into ids.
    pub hashed_ids: usize,
    pub compression: Option<&'static str>,
}

/// Why a file could not be read (to its end).
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Malformed content: where it stopped (serde's line and column), and why.
    Malformed(String),
    /// The receiver of the batches went away.
    Stopped,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(err) => write!(f, "{err}"),
            ReadError::Malformed(why) => f.write_str(why),
            ReadError::Stopped => f.write_str("stopped"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Counts the bytes read from the file (compressed), for progress.
struct Counting<'a, R> {
    inner: R,
    read: &'a AtomicU64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

const READ_BUFFER: usize = 256 * 1024;
/// The largest message of a length-prefixed protobuf stream (the Collector's requests are far
/// smaller); a larger length means the file is not such a stream.
const MAX_MESSAGE: usize = 256 << 20;

/// Reads `path`, handing batches of at most `batch_spans` spans and rejects to `emit` (which
/// returns false to stop); `bytes_read` counts the file's bytes as they are read.
pub fn read_file(
    path: &Path,
    batch_spans: usize,
    bytes_read: &AtomicU64,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<FileReport, (FileReport, ReadError)> {
    let file = File::open(path).map_err(|err| (FileReport::default(), ReadError::Io(err)))?;
    read(Counting { inner: file, read: bytes_read }, batch_spans, emit)
}

/// As [`read_file`], from any reader.
pub fn read(
    reader: impl Read,
    batch_spans: usize,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<FileReport, (FileReport, ReadError)> {
    let mut report = FileReport::default();
    let mut raw = BufReader::with_capacity(READ_BUFFER, reader);
    let magic = match raw.fill_buf() {
        Ok(bytes) => bytes.get(..4).map(|m| [m[0], m[1], m[2], m[3]]),
        Err(err) => return Err((report, ReadError::Io(err))),
    };
    let mut input: Box<dyn BufRead + '_> = match magic {
        Some([0x1f, 0x8b, ..]) => {
            report.compression = Some("gzip");
            Box::new(BufReader::with_capacity(READ_BUFFER, flate2::bufread::MultiGzDecoder::new(raw)))
        }
        Some([0x28, 0xb5, 0x2f, 0xfd]) => {
            report.compression = Some("zstd");
            match ruzstd::decoding::StreamingDecoder::new(raw) {
                Ok(decoder) => Box::new(BufReader::with_capacity(READ_BUFFER, decoder)),
                Err(err) => return Err((report, ReadError::Malformed(format!("zstd: {err}")))),
            }
        }
        _ => Box::new(raw),
    };
    let first = match input.fill_buf() {
        Ok(bytes) if looks_like_json(bytes) => Some(b'{'),
        Ok(bytes) => bytes.first().copied(),
        Err(err) => return Err((report, ReadError::Io(err))),
    };
    let mut sink =
        Sink { batch_spans: batch_spans.max(1), pending: Vec::new(), pending_spans: 0, emit, stopped: false, report };
    let result = match first {
        None => Ok(()),
        Some(b'{' | b'[') => {
            sink.report.format = Some(Format::Json);
            read_json(input, &mut sink)
        }
        Some(0x0a) => {
            sink.report.format = Some(Format::OtlpProtobuf);
            read_protobuf(input, &mut sink)
        }
        Some(_) => {
            sink.report.format = Some(Format::OtlpProtobufStream);
            read_protobuf_stream(input, &mut sink)
        }
    };
    let flushed = sink.flush();
    let report = std::mem::take(&mut sink.report);
    let result = result.and_then(|()| match (first, report.spans + report.rejected) {
        (None, _) => Err(ReadError::Malformed("the file is empty".into())),
        (Some(_), 0) if report.dialects.is_empty() => {
            Err(ReadError::Malformed("no Jaeger or OTLP trace data found in it".into()))
        }
        _ => Ok(()),
    });
    match result {
        Err(err) => Err((report, err)),
        Ok(()) if !flushed || sink.stopped => Err((report, ReadError::Stopped)),
        Ok(()) => Ok(report),
    }
}

/// Batches traces and resources read from elsewhere (a running Jaeger or Tempo) as a file's are.
pub struct Batcher<'a> {
    sink: Sink<'a>,
}

impl<'a> Batcher<'a> {
    pub fn new(batch_spans: usize, emit: &'a mut dyn FnMut(Item) -> bool) -> Self {
        let report = FileReport::default();
        Batcher {
            sink: Sink {
                batch_spans: batch_spans.max(1),
                pending: Vec::new(),
                pending_spans: 0,
                emit,
                stopped: false,
                report,
            },
        }
    }

    /// Adds what a remote system gave; false once the receiver of the batches is gone.
    pub fn add(&mut self, remote: remote::Remote) -> bool {
        match remote {
            remote::Remote::Jaeger(trace) => self.sink.jaeger_trace(trace),
            remote::Remote::Otlp(resource_spans) => {
                self.sink.dialect("OTLP protobuf");
                self.sink.push(resource_spans)
            }
            remote::Remote::Rejected { origin, reason } => self.sink.reject(origin, reason, 0),
        }
    }

    /// Sends what is left; what was read.
    pub fn finish(mut self) -> FileReport {
        self.sink.flush();
        self.sink.report
    }
}

/// Whether a file starts as JSON does: `{` or `[` after any whitespace, then a key, a value
/// or the end (protobuf's first byte, 0x0a, is a newline too).
fn looks_like_json(bytes: &[u8]) -> bool {
    let mut rest = bytes.iter().copied().skip_while(u8::is_ascii_whitespace);
    match rest.next() {
        Some(b'{' | b'[') => {}
        _ => return false,
    }
    match rest.find(|byte| !byte.is_ascii_whitespace()) {
        None => true,
        Some(byte) => matches!(byte, b'"' | b'{' | b'[' | b']' | b'}' | b'-' | b'0'..=b'9' | b'n' | b't' | b'f'),
    }
}

/// Collects resources into batches and hands them on.
struct Sink<'a> {
    batch_spans: usize,
    pending: Vec<ResourceSpans>,
    pending_spans: usize,
    emit: &'a mut dyn FnMut(Item) -> bool,
    stopped: bool,
    report: FileReport,
}

fn count_spans(resource_spans: &ResourceSpans) -> usize {
    resource_spans.scope_spans.iter().map(|scope| scope.spans.len()).sum()
}

impl Sink<'_> {
    fn dialect(&mut self, dialect: &'static str) {
        if !self.report.dialects.contains(&dialect) {
            self.report.dialects.push(dialect);
        }
    }

    fn flush(&mut self) -> bool {
        if self.pending.is_empty() || self.stopped {
            return !self.stopped;
        }
        let request = ExportTraceServiceRequest { resource_spans: std::mem::take(&mut self.pending) };
        let spans = std::mem::take(&mut self.pending_spans);
        if !(self.emit)(Item::Batch { request, spans }) {
            self.stopped = true;
        }
        !self.stopped
    }

    fn reject(&mut self, origin: String, reason: String, spans: usize) -> bool {
        self.report.rejected += spans;
        if !(self.emit)(Item::Rejected { origin, reason, spans }) {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Adds a resource's spans, split across batches when it holds more than one batch.
    fn push(&mut self, mut resource_spans: ResourceSpans) -> bool {
        let spans = count_spans(&resource_spans);
        if spans == 0 {
            return true;
        }
        self.report.spans += spans;
        if spans + self.pending_spans <= self.batch_spans {
            self.pending_spans += spans;
            self.pending.push(resource_spans);
            return self.pending_spans < self.batch_spans || self.flush();
        }
        // Split: scope by scope, span by span, into what fits.
        let scopes = std::mem::take(&mut resource_spans.scope_spans);
        for mut scope in scopes {
            while !scope.spans.is_empty() {
                let room = self.batch_spans - self.pending_spans;
                let rest = if scope.spans.len() > room { scope.spans.split_off(room) } else { Vec::new() };
                let taken = scope.spans.len();
                let piece = ScopeSpans { spans: std::mem::replace(&mut scope.spans, rest), ..scope.clone() };
                self.pending.push(ResourceSpans { scope_spans: vec![piece], ..resource_spans.clone() });
                self.pending_spans += taken;
                if self.pending_spans >= self.batch_spans && !self.flush() {
                    return false;
                }
            }
        }
        true
    }

    fn jaeger_trace(&mut self, trace: jaeger::Trace) -> bool {
        self.dialect("Jaeger JSON");
        let label = trace
            .trace_id
            .clone()
            .or_else(|| trace.spans.first().map(|span| span.trace_id().to_owned()))
            .unwrap_or_default();
        let converted = jaeger::convert_trace(trace);
        self.report.hashed_ids += converted.hashed_ids;
        for (span, reason) in converted.rejected {
            if !self.reject(format!("trace {label} span {span}"), reason, 1) {
                return false;
            }
        }
        converted.resource_spans.into_iter().all(|resource_spans| self.push(resource_spans))
    }

    fn otlp_resource(&mut self, value: serde_json::Value, origin: &str) -> bool {
        self.dialect("OTLP JSON");
        match ResourceSpans::deserialize(value) {
            Ok(resource_spans) => self.push(resource_spans),
            Err(err) => self.reject(origin.to_owned(), format!("not an OTLP resourceSpans entry: {err}"), 0),
        }
    }

    fn jaeger_value(&mut self, value: serde_json::Value, origin: &str) -> bool {
        let spans = value.get("spans").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        match jaeger::Trace::deserialize(value) {
            Ok(trace) => self.jaeger_trace(trace),
            Err(err) => self.reject(origin.to_owned(), format!("not a Jaeger trace: {err}"), spans),
        }
    }
}

fn stopped<E: serde::de::Error>() -> E {
    E::custom("import stopped")
}

/// One top-level JSON document: an object (`{"data": …}`, `{"resourceSpans": …}`, a bare
/// Jaeger trace) or an array (of Jaeger traces or spans).
struct Document<'s, 'a> {
    sink: &'s mut Sink<'a>,
    number: usize,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Jaeger or OTLP JSON document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let origin = format!("document {}", self.number);
        let mut rest = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => {
                    self.sink.dialect("Jaeger JSON");
                    map.next_value_seed(Data { sink: &mut *self.sink, origin: &origin })?
                }
                "resourceSpans" | "resource_spans" => {
                    self.sink.dialect("OTLP JSON");
                    map.next_value_seed(Resources { sink: &mut *self.sink, origin: &origin })?
                }
                _ => {
                    let value: serde_json::Value = map.next_value()?;
                    rest.insert(key, value);
                }
            }
        }
        // A bare Jaeger trace: `{traceID, spans, processes}`.
        if rest.contains_key("spans") && !self.sink.jaeger_value(serde_json::Value::Object(rest), &origin) {
            return Err(stopped());
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let origin = format!("document {}", self.number);
        Data { sink: self.sink, origin: &origin }.visit_seq(seq)
    }
}

/// Jaeger's `data`: traces, one trace (the UI's store), or spans with inline processes.
struct Data<'s, 'a, 'o> {
    sink: &'s mut Sink<'a>,
    origin: &'o str,
}

impl<'de> DeserializeSeed<'de> for Data<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Data<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jaeger traces or spans")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        if self.sink.jaeger_value(value, self.origin) {
            Ok(())
        } else {
            Err(stopped())
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each entry's text is kept as it is and read on its own, so a malformed trace is
        // reported and the others kept. Spans at the top level (the anonymizer's format) are
        // gathered into pseudo-traces.
        let mut loose: Vec<jaeger::JaegerSpan> = Vec::new();
        let mut index = 0;
        while let Some(raw) = seq.next_element::<Box<serde_json::value::RawValue>>()? {
            index += 1;
            let text = raw.get();
            let origin = || format!("{} entry {index}", self.origin);
            let ok = match serde_json::from_str::<jaeger::Trace>(text) {
                Ok(trace) if !trace.spans.is_empty() => self.sink.jaeger_trace(trace),
                Ok(_) if text.contains("\"spanID\"") => match serde_json::from_str::<jaeger::JaegerSpan>(text) {
                    Ok(span) => {
                        loose.push(span);
                        loose.len() < self.sink.batch_spans || self.sink.jaeger_trace(take_loose(&mut loose))
                    }
                    Err(err) => self.sink.reject(origin(), format!("not a Jaeger span: {err}"), 1),
                },
                _ => match serde_json::from_str::<serde_json::Value>(text) {
                    // `[ExportTraceServiceRequest, …]` or `[ResourceSpans, …]`.
                    Ok(value) if value.get("resourceSpans").is_some() || value.get("scopeSpans").is_some() => {
                        match value.get("resourceSpans").and_then(serde_json::Value::as_array) {
                            Some(resources) => {
                                resources.iter().all(|rs| self.sink.otlp_resource(rs.clone(), &origin()))
                            }
                            None => self.sink.otlp_resource(value, &origin()),
                        }
                    }
                    Ok(value) if value.get("spans").is_some() => self.sink.jaeger_value(value, &origin()),
                    Ok(_) => {
                        self.sink.reject(origin(), "neither a Jaeger trace or span nor OTLP resource spans".into(), 0)
                    }
                    Err(err) => self.sink.reject(origin(), err.to_string(), 0),
                },
            };
            if !ok {
                return Err(stopped());
            }
        }
        if !loose.is_empty() && !self.sink.jaeger_trace(take_loose(&mut loose)) {
            return Err(stopped());
        }
        Ok(())
    }
}

fn take_loose(loose: &mut Vec<jaeger::JaegerSpan>) -> jaeger::Trace {
    jaeger::Trace { trace_id: None, spans: std::mem::take(loose), processes: Default::default() }
}

/// OTLP's `resourceSpans`, one resource at a time.
struct Resources<'s, 'a, 'o> {
    sink: &'s mut Sink<'a>,
    origin: &'o str,
}

impl<'de> DeserializeSeed<'de> for Resources<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Resources<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OTLP resourceSpans")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(raw) = seq.next_element::<Box<serde_json::value::RawValue>>()? {
            index += 1;
            self.sink.dialect("OTLP JSON");
            let ok = match serde_json::from_str::<ResourceSpans>(raw.get()) {
                Ok(resource_spans) => self.sink.push(resource_spans),
                Err(err) => self.sink.reject(
                    format!("{} resource {index}", self.origin),
                    format!("not an OTLP resourceSpans entry: {err}"),
                    0,
                ),
            };
            if !ok {
                return Err(stopped());
            }
        }
        Ok(())
    }
}

/// Every JSON document in the input, in turn (one, or JSON lines).
fn read_json(input: impl BufRead, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    let mut number = 0;
    while deserializer.end().is_err() {
        number += 1;
        if let Err(err) = (Document { sink: &mut *sink, number }).deserialize(&mut deserializer) {
            if sink.stopped {
                return Err(ReadError::Stopped);
            }
            return Err(ReadError::Malformed(format!("document {number}: {err}")));
        }
    }
    Ok(())
}

fn read_protobuf(mut input: impl BufRead, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(ReadError::Io)?;
    let request = ExportTraceServiceRequest::decode(bytes.as_slice())
        .map_err(|err| ReadError::Malformed(format!("not an OTLP ExportTraceServiceRequest: {err}")))?;
    sink.dialect("OTLP protobuf");
    for resource_spans in request.resource_spans {
        if !sink.push(resource_spans) {
            return Err(ReadError::Stopped);
        }
    }
    Ok(())
}

/// The Collector's file exporter with `format: proto`: each request after its length (4 bytes,
/// big-endian).
fn read_protobuf_stream(mut input: impl BufRead, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    sink.dialect("OTLP protobuf");
    let mut number = 0;
    let mut message = Vec::new();
    loop {
        let mut length = [0u8; 4];
        match input.read_exact(&mut length) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(ReadError::Io(err)),
        }
        number += 1;
        let length = u32::from_be_bytes(length) as usize;
        if length > MAX_MESSAGE {
            let what = if number == 1 { "not a trace file: neither JSON nor OTLP protobuf (" } else { "(" };
            return Err(ReadError::Malformed(format!(
                "{what}message {number} announces {length} bytes, more than the {} MiB a request may hold)",
                MAX_MESSAGE >> 20
            )));
        }
        // Read as the bytes come, so a length that lies costs no more memory than the file.
        message.clear();
        (&mut input).take(length as u64).read_to_end(&mut message).map_err(ReadError::Io)?;
        if message.len() < length {
            return Err(ReadError::Malformed(format!(
                "message {number}: {length} bytes announced, {} left in the file",
                message.len()
            )));
        }
        match ExportTraceServiceRequest::decode(message.as_slice()) {
            Ok(request) => {
                for resource_spans in request.resource_spans {
                    if !sink.push(resource_spans) {
                        return Err(ReadError::Stopped);
                    }
                }
            }
            Err(err) => {
                if !sink.reject(format!("message {number}"), format!("not an ExportTraceServiceRequest: {err}"), 0) {
                    return Err(ReadError::Stopped);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
