//! Traces read from running systems: a Jaeger query service (`/api/services`, then
//! `/api/traces?service=…&start=…&end=…&limit=…` per service) and Tempo (`/api/search`, then
//! `/api/traces/{id}` as protobuf). Neither API pages, so a time range is read in windows: a
//! window that comes back full (as many traces as asked) is split in two and each half read
//! again, down to a millisecond; traces met twice (a trace crossing two windows) are kept once.

use std::collections::HashSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use serde_json::Value;

use crate::jaeger;

/// What a remote system gave, in order.
pub enum Remote {
    Jaeger(jaeger::Trace),
    Otlp(ResourceSpans),
    /// Something could not be read: where (a URL, a trace) and why.
    Rejected {
        origin: String,
        reason: String,
    },
}

/// A time range, in microseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub start_us: u64,
    pub end_us: u64,
}

/// The narrowest window read from Jaeger: a full one this narrow is taken as it is (and said so).
const MIN_WINDOW_US: u64 = 1_000;
/// The first window's width (it grows over empty stretches and shrinks over dense ones).
const FIRST_WINDOW_US: u64 = 60_000_000;

type Sender = tokio::sync::mpsc::Sender<Remote>;

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>, accept: &str) -> Result<bytes::Bytes, String> {
    let mut request = client.get(url).header("accept", accept);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|err| format!("cannot reach {url}: {err}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|err| format!("{url}: {err}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body).chars().take(300).collect::<String>();
        return Err(format!("{url} answered {status}: {text}"));
    }
    Ok(body)
}

async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Value, String> {
    let body = get(client, url, token, "application/json").await?;
    serde_json::from_slice(&body).map_err(|err| format!("{url} did not answer with JSON: {err}"))
}

/// Reads `range` window by window, newest first: `read(window)` gives the traces found and
/// whether the window came back full. A full window is read again at half the width; a window
/// with room to spare makes the next one twice as wide, so empty stretches cost a few requests
/// and dense ones are read in windows that fit `limit`.
async fn by_windows<T, F, Fut>(
    range: Range,
    min_window_us: u64,
    limit: usize,
    mut read: F,
    tx: &Sender,
    mut hand_on: impl FnMut(T) -> Option<Remote>,
) -> bool
where
    F: FnMut(Range) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, bool), String>>,
{
    let mut end = range.end_us;
    let mut width = FIRST_WINDOW_US.max(min_window_us);
    loop {
        let start = end.saturating_sub(width - 1).max(range.start_us);
        let window = Range { start_us: start, end_us: end };
        match read(window).await {
            Ok((_, true)) if width > min_window_us => {
                width = (width / 2).max(min_window_us);
                continue;
            }
            Ok((found, full)) => {
                if full {
                    let reason = format!(
                        "more traces than --page-traces between {} and {} µs: only as many as it allows were read",
                        window.start_us, window.end_us
                    );
                    if tx.send(Remote::Rejected { origin: "a window".into(), reason }).await.is_err() {
                        return false;
                    }
                } else if found.len() * 4 < limit {
                    width = width.saturating_mul(2);
                }
                for item in found {
                    if let Some(remote) = hand_on(item) {
                        if tx.send(remote).await.is_err() {
                            return false;
                        }
                    }
                }
            }
            Err(reason) => {
                let origin = format!("window {}–{} µs", window.start_us, window.end_us);
                if tx.send(Remote::Rejected { origin, reason }).await.is_err() {
                    return false;
                }
            }
        }
        if start <= range.start_us {
            return true;
        }
        end = start - 1;
    }
}

/// Every trace of `services` (all the service lists, when empty) in `range`, from a Jaeger
/// query service at `base` (`http://jaeger:16686`), `limit` traces per request.
pub async fn jaeger(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    services: &[String],
    range: Range,
    limit: usize,
    tx: &Sender,
) {
    let base = base.trim_end_matches('/');
    let services = if services.is_empty() {
        match get_json(client, &format!("{base}/api/services"), token).await {
            Ok(body) => body["data"]
                .as_array()
                .map(|names| names.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            Err(reason) => {
                let _ = tx.send(Remote::Rejected { origin: base.to_owned(), reason }).await;
                return;
            }
        }
    } else {
        services.to_vec()
    };
    let mut seen: HashSet<String> = HashSet::new();
    for service in services {
        let read = |window: Range| {
            let url = format!(
                "{base}/api/traces?service={}&start={}&end={}&limit={limit}",
                form_encode(&service),
                window.start_us,
                window.end_us
            );
            async move {
                let body = get_json(client, &url, token).await?;
                let traces = body["data"].as_array().cloned().unwrap_or_default();
                let full = traces.len() >= limit;
                Ok((traces, full))
            }
        };
        let hand_on = |value: Value| {
            let id = value["traceID"].as_str().unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) {
                return None;
            }
            Some(match serde_json::from_value::<jaeger::Trace>(value) {
                Ok(trace) => Remote::Jaeger(trace),
                Err(err) => {
                    Remote::Rejected { origin: format!("trace {id}"), reason: format!("not a Jaeger trace: {err}") }
                }
            })
        };
        if !by_windows(range, MIN_WINDOW_US, limit, read, tx, hand_on).await {
            return;
        }
    }
}

/// Every trace in `range` (matching Tempo's `q` TraceQL query or `tags`, if given) from Tempo
/// at `base` (`http://tempo:3200`): found by `/api/search`, read by `/api/traces/{id}`.
pub async fn tempo(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: Option<&str>,
    range: Range,
    limit: usize,
    tx: &Sender,
) {
    let base = base.trim_end_matches('/');
    let filter = query.map(|query| format!("&q={}", form_encode(query))).unwrap_or_default();
    let read = |window: Range| {
        // Tempo's search takes seconds: the window is widened to whole seconds.
        let url = format!(
            "{base}/api/search?start={}&end={}&limit={limit}{filter}",
            window.start_us / 1_000_000,
            window.end_us.div_ceil(1_000_000)
        );
        async move {
            let body = get_json(client, &url, token).await?;
            let ids: Vec<String> = body["traces"]
                .as_array()
                .map(|traces| traces.iter().filter_map(|trace| trace["traceID"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let full = ids.len() >= limit;
            Ok((ids, full))
        }
    };
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let collect = |id: String| {
        if seen.insert(id.clone()) {
            ids.push(id);
        }
        None
    };
    // Seconds are Tempo's finest window.
    if !by_windows(range, 1_000_000, limit, read, tx, collect).await {
        return;
    }
    for id in ids {
        let url = format!("{base}/api/traces/{id}");
        let remote = match get(client, &url, token, "application/protobuf").await {
            // Tempo's `Trace { repeated ResourceSpans batches = 1 }` is, on the wire, an export request.
            Ok(body) => match ExportTraceServiceRequest::decode(body.as_ref()) {
                Ok(request) => {
                    for resource_spans in request.resource_spans {
                        if tx.send(Remote::Otlp(resource_spans)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Err(err) => {
                    Remote::Rejected { origin: format!("trace {id}"), reason: format!("not a Tempo trace: {err}") }
                }
            },
            Err(reason) => Remote::Rejected { origin: format!("trace {id}"), reason },
        };
        if tx.send(remote).await.is_err() {
            return;
        }
    }
}

/// Percent-encodes a query parameter's value.
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
