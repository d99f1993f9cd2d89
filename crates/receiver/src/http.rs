//! OTLP/HTTP: `POST /v1/traces` and `POST /v1/logs` with protobuf or JSON bodies, optionally
//! gzip-compressed. Both signals go through the same steps ([`Signal`]): memory reserved before
//! the body is read, limits, validation item by item, and an answer only once committed.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use semtrace_model::{LogRecord, Span};
use semtrace_pipeline::{Pipeline, Reservation, SubmitError};

use crate::{convert_logs_request, convert_request, Converted, ReceiverLimits};

pub const OTLP_TRACES_PATH: &str = "/v1/traces";
pub const OTLP_LOGS_PATH: &str = "/v1/logs";

/// What differs between OTLP signals on the way in; the rest of a request's life is shared.
pub trait Signal: Send + Sync + 'static {
    type Request: Message + Default + serde::de::DeserializeOwned + Send + 'static;
    type Response: Message + serde::Serialize;
    type Item: Send + 'static;
    /// The request message's name, for errors: `ExportTraceServiceRequest`.
    const REQUEST: &'static str;
    /// What the items are called in errors: `spans`, `log records`.
    const ITEMS: &'static str;
    /// The `signal` label of receiver metrics.
    const LABEL: &'static str;

    fn count(request: &Self::Request) -> usize;
    fn convert(request: Self::Request, limits: &ReceiverLimits) -> Converted<Self::Item>;
    fn response(converted_rejected: usize, message: String) -> Self::Response;
    fn submit(
        pipeline: &Pipeline,
        items: Vec<Self::Item>,
        reservation: Reservation,
    ) -> impl std::future::Future<Output = Result<(), SubmitError>> + Send;
}

/// `POST /v1/traces` and `TraceService/Export`.
pub struct Traces;

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    type Item = Span;
    const REQUEST: &'static str = "ExportTraceServiceRequest";
    const ITEMS: &'static str = "spans";
    const LABEL: &'static str = "traces";

    fn count(request: &Self::Request) -> usize {
        request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
    }

    fn convert(request: Self::Request, limits: &ReceiverLimits) -> Converted<Span> {
        convert_request(request, limits)
    }

    fn response(rejected: usize, error_message: String) -> Self::Response {
        let partial_success =
            (rejected > 0).then_some(ExportTracePartialSuccess { rejected_spans: rejected as i64, error_message });
        ExportTraceServiceResponse { partial_success }
    }

    async fn submit(pipeline: &Pipeline, spans: Vec<Span>, reservation: Reservation) -> Result<(), SubmitError> {
        pipeline.submit_reserved(spans, Some(reservation)).await
    }
}

/// `POST /v1/logs` and `LogsService/Export`.
pub struct Logs;

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    type Item = LogRecord;
    const REQUEST: &'static str = "ExportLogsServiceRequest";
    const ITEMS: &'static str = "log records";
    const LABEL: &'static str = "logs";

    fn count(request: &Self::Request) -> usize {
        request.resource_logs.iter().flat_map(|rl| &rl.scope_logs).map(|sl| sl.log_records.len()).sum()
    }

    fn convert(request: Self::Request, limits: &ReceiverLimits) -> Converted<LogRecord> {
        convert_logs_request(request, limits)
    }

    fn response(rejected: usize, error_message: String) -> Self::Response {
        let partial_success =
            (rejected > 0).then_some(ExportLogsPartialSuccess { rejected_log_records: rejected as i64, error_message });
        ExportLogsServiceResponse { partial_success }
    }

    async fn submit(pipeline: &Pipeline, logs: Vec<LogRecord>, reservation: Reservation) -> Result<(), SubmitError> {
        pipeline.submit_logs_reserved(logs, Some(reservation)).await
    }
}

/// Bodies at least this large are decoded (and gRPC messages converted) on the blocking pool,
/// off the async runtime.
pub(crate) const INLINE_DECODE_MAX_BYTES: usize = 256 * 1024;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Status`, the body OTLP/HTTP sends with an error.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

struct HttpState {
    pipelines: Arc<dyn crate::Pipelines>,
    limits: ReceiverLimits,
    auth: semtrace_auth::Auth,
}

/// The OTLP/HTTP router; serve it on the OTLP HTTP address (4318 by default). With `auth` on,
/// a request needs a token of role `ingest` (or `admin`), checked before its body is read.
pub fn http_router(pipelines: Arc<dyn crate::Pipelines>, limits: ReceiverLimits, auth: semtrace_auth::Auth) -> Router {
    Router::new()
        .route(OTLP_TRACES_PATH, post(export::<Traces>))
        .route(OTLP_LOGS_PATH, post(export::<Logs>))
        // The body limit is applied in `export`, which answers with an OTLP status body.
        .layer(DefaultBodyLimit::disable())
        .with_state(Arc::new(HttpState { pipelines, limits, auth }))
}

/// Why a request was refused, with the HTTP status and gRPC code it maps to.
struct Refusal {
    status: StatusCode,
    grpc_code: i32,
    message: String,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    fn bad_request(message: String) -> Self {
        Refusal { status: StatusCode::BAD_REQUEST, grpc_code: 3, message, retry_after_secs: None }
    }

    fn too_large(message: String) -> Self {
        Refusal { status: StatusCode::PAYLOAD_TOO_LARGE, grpc_code: 8, message, retry_after_secs: None }
    }

    /// 401 / UNAUTHENTICATED, 403 / PERMISSION_DENIED, or 400 for a tenant name that is not one.
    fn denied(denied: semtrace_auth::Denied) -> Self {
        let (status, grpc_code) = match &denied {
            semtrace_auth::Denied::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, 16),
            semtrace_auth::Denied::Forbidden(_) => (StatusCode::FORBIDDEN, 7),
            semtrace_auth::Denied::BadTenant(_) => (StatusCode::BAD_REQUEST, 3),
        };
        Refusal { status, grpc_code, message: denied.to_string(), retry_after_secs: None }
    }

    /// 429 / RESOURCE_EXHAUSTED with `Retry-After`: the tenant is over its ingest rate.
    fn over_rate(over: crate::tenant::OverRate) -> Self {
        Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            grpc_code: 8,
            message: over.message,
            retry_after_secs: Some(over.retry_after.as_secs_f64().ceil().max(1.0) as u64),
        }
    }

    fn unsupported(message: String) -> Self {
        Refusal { status: StatusCode::UNSUPPORTED_MEDIA_TYPE, grpc_code: 3, message, retry_after_secs: None }
    }

    fn from_submit(err: SubmitError) -> Self {
        let retry_after_secs = err.is_retryable().then(|| err.retry_after().as_secs_f64().ceil().max(1.0) as u64);
        let (status, grpc_code) = match &err {
            SubmitError::QueueFull { .. } | SubmitError::Overloaded { .. } => (StatusCode::TOO_MANY_REQUESTS, 8),
            SubmitError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 8),
            _ if err.is_retryable() => (StatusCode::SERVICE_UNAVAILABLE, 14),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, 13),
        };
        Refusal { status, grpc_code, message: err.to_string(), retry_after_secs }
    }

    fn into_response(self, format: Format) -> Response {
        metrics::counter!("semtrace_receiver_requests_refused_total", "protocol" => "http", "status" => self.status.as_str().to_owned())
            .increment(1);
        let body = RpcStatus { code: self.grpc_code, message: self.message };
        let mut response = encode(format, &body, serde_json::to_vec).into_response();
        *response.status_mut() = self.status;
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"semtrace\""));
        }
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn encode<T: Message>(
    format: Format,
    message: &T,
    to_json: impl FnOnce(&T) -> serde_json::Result<Vec<u8>>,
) -> Response {
    let (content_type, body) = match format {
        Format::Protobuf => (PROTOBUF, message.encode_to_vec()),
        Format::Json => (JSON, to_json(message).unwrap_or_default()),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn export<S: Signal>(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    // Errors are answered in the request's format; JSON when the format itself is the problem.
    let format = match request_format(&headers) {
        Ok(format) => format,
        Err(refusal) => return refusal.into_response(Format::Json),
    };
    // Before the body is read: a caller without a token costs a header parse.
    let principal = match state.auth.check(&headers, semtrace_auth::Access::Ingest) {
        Ok(principal) => principal,
        Err(denied) => {
            metrics::counter!("semtrace_auth_denied_total", "listener" => "otlp_http").increment(1);
            return Refusal::denied(denied).into_response(format);
        }
    };
    match handle::<S>(&state, &headers, format, body, &principal.tenant).await {
        Ok(response) => encode(format, &response, serde_json::to_vec),
        Err(refusal) => refusal.into_response(format),
    }
}

async fn handle<S: Signal>(
    state: &HttpState,
    headers: &HeaderMap,
    format: Format,
    body: Body,
    tenant: &Arc<str>,
) -> Result<S::Response, Refusal> {
    let max_body = state.limits.max_body_bytes;
    let tenants = &state.limits.tenants;
    // The declared length, before the body is read: over the rate, reading it costs nothing.
    let admitted = match content_length(headers) {
        Some(declared) => tenants.admit_bytes(tenant, declared).map_err(Refusal::over_rate),
        None => Ok(()),
    };
    let pipeline = match admitted {
        Ok(()) => state.pipelines.pipeline(tenant).await.map_err(|refused| match refused {
            crate::NoPipeline::Unavailable(message) => {
                Refusal { status: StatusCode::SERVICE_UNAVAILABLE, grpc_code: 14, message, retry_after_secs: Some(5) }
            }
            crate::NoPipeline::OverQuota(over) => Refusal::over_rate(over),
        }),
        Err(refusal) => Err(refusal),
    };
    let pipeline = match pipeline {
        Ok(pipeline) => pipeline,
        Err(refusal) => {
            // Read and drop the body (no memory kept) so the connection stays usable for the retry.
            discard(body, max_body).await;
            return Err(refusal);
        }
    };
    // Memory for the body is reserved before it is read: under overload, refusing costs nothing.
    let declared = bytes_len_hint(headers);
    let mut reservation = match pipeline.reserve(declared.min(max_body)) {
        Ok(reservation) => reservation,
        Err(err) => {
            // Read and drop the body (no memory kept) so the connection stays usable for the retry.
            discard(body, max_body).await;
            return Err(Refusal::from_submit(err));
        }
    };
    let timeout = state.limits.body_read_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, max_body))
        .await
        .map_err(|_| Refusal {
            status: StatusCode::REQUEST_TIMEOUT,
            grpc_code: 4,
            message: format!("the request body did not arrive within {timeout:?} (limits.body_read_timeout_seconds)"),
            retry_after_secs: None,
        })?
        .map_err(|err| {
            Refusal::too_large(format!(
                "request body is larger than the limit of {max_body} bytes ({err}); send smaller batches"
            ))
        })?;
    if content_length(headers).is_none() {
        tenants.admit_bytes(tenant, bytes.len()).map_err(Refusal::over_rate)?;
    }
    let gzip = content_encoding_is_gzip(headers)?;
    let limits = state.limits.clone();
    // A gzip body is measured before it is inflated (counting costs CPU, off the runtime, and
    // no memory), so its inflated size is reserved before the buffer exists.
    let inflated_len = if gzip {
        let (bytes, max) = (bytes.clone(), limits.max_decompressed_bytes);
        Some(blocking(move || inflated_len(&bytes, max)).await?)
    } else {
        None
    };
    let decoded_len = inflated_len.unwrap_or(bytes.len());
    reservation.grow_to(decoded_len).map_err(Refusal::from_submit)?;
    let decode = move || decode::<S>(&bytes, inflated_len, format, &limits);
    let converted = if decoded_len < INLINE_DECODE_MAX_BYTES { decode()? } else { blocking(decode).await? };
    let n_accepted = converted.accepted.len() as u64;
    tenants.admit_items(tenant, n_accepted as usize).map_err(Refusal::over_rate)?;
    count_received(S::LABEL, "http", n_accepted, converted.rejected);
    let response = S::response(converted.rejected, converted.rejection_message());
    // The reservation goes with the items: released once they are written, even if this
    // client has gone away meanwhile.
    S::submit(&pipeline, converted.accepted, reservation).await.map_err(Refusal::from_submit)?;
    count_accepted(S::LABEL, "http", n_accepted);
    Ok(response)
}

/// Items of a signal received (valid or not) and rejected. Spans keep their metric names;
/// other signals are named after themselves (`semtrace_receiver_logs_received_total`).
pub(crate) fn count_received(signal: &'static str, protocol: &'static str, accepted: u64, rejected: usize) {
    let (received, rejected_name) = match signal {
        "traces" => ("semtrace_receiver_spans_received_total", "semtrace_receiver_spans_rejected_total"),
        _ => ("semtrace_receiver_log_records_received_total", "semtrace_receiver_log_records_rejected_total"),
    };
    metrics::counter!(received, "protocol" => protocol).increment(accepted + rejected as u64);
    metrics::counter!(rejected_name, "protocol" => protocol).increment(rejected as u64);
}

pub(crate) fn count_accepted(signal: &'static str, protocol: &'static str, accepted: u64) {
    let name = match signal {
        "traces" => "semtrace_receiver_spans_accepted_total",
        _ => "semtrace_receiver_log_records_accepted_total",
    };
    metrics::counter!(name, "protocol" => protocol).increment(accepted);
}

/// Reads a body to its end (at most `limit` bytes), keeping nothing.
async fn discard(body: Body, limit: usize) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut read = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        read += chunk.len();
        if read > limit {
            break;
        }
    }
}

fn bytes_len_hint(headers: &HeaderMap) -> usize {
    content_length(headers).unwrap_or(usize::MAX)
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()).and_then(|value| value.parse().ok())
}

fn request_format(headers: &HeaderMap) -> Result<Format, Refusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        _ => Err(Refusal::unsupported(format!("unsupported content type {content_type:?}: send {PROTOBUF} or {JSON}"))),
    }
}

fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, Refusal> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|value| value.to_str().ok()).unwrap_or("");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(false),
        "gzip" => Ok(true),
        other => Err(Refusal::unsupported(format!("unsupported content encoding {other:?}: send gzip or none"))),
    }
}

/// Runs decoding work on the blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Refusal> + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work).await.map_err(|err| Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        grpc_code: 13,
        message: err.to_string(),
        retry_after_secs: None,
    })?
}

/// A body into items. `inflated_len`: the body is gzip, inflating to this many bytes (measured
/// by [`inflated_len`]).
fn decode<S: Signal>(
    bytes: &[u8],
    inflated_len: Option<usize>,
    format: Format,
    limits: &ReceiverLimits,
) -> Result<Converted<S::Item>, Refusal> {
    let inflated;
    let raw: &[u8] = match inflated_len {
        Some(len) => {
            inflated = inflate_exact(bytes, len)?;
            &inflated
        }
        None => bytes,
    };
    let request = match format {
        Format::Protobuf => S::Request::decode(raw)
            .map_err(|err| Refusal::bad_request(format!("body is not a valid OTLP {} protobuf: {err}", S::REQUEST))),
        Format::Json => serde_json::from_slice::<S::Request>(raw)
            .map_err(|err| Refusal::bad_request(format!("body is not a valid OTLP/JSON {}: {err}", S::REQUEST))),
    }?;
    let n_items = S::count(&request);
    if n_items > limits.max_spans_per_request {
        return Err(Refusal::too_large(format!(
            "request holds {n_items} {}, more than the limit of {}; send smaller batches",
            S::ITEMS,
            limits.max_spans_per_request
        )));
    }
    Ok(S::convert(request, limits))
}

/// An OTLP/HTTP request body (protobuf or JSON, gzip or not) into valid spans, exactly as
/// `POST /v1/traces` decodes it: the same limits, the same per-span validation. For importing
/// exported files, and for fuzzing.
pub fn decode_export(body: &[u8], json: bool, gzip: bool, limits: &ReceiverLimits) -> Result<Converted, String> {
    let format = if json { Format::Json } else { Format::Protobuf };
    let inflated_len = gzip.then(|| inflated_len(body, limits.max_decompressed_bytes)).transpose();
    inflated_len.and_then(|len| decode::<Traces>(body, len, format, limits)).map_err(|refusal| refusal.message)
}

/// [`decode_export`] for `POST /v1/logs` bodies.
pub fn decode_logs_export(
    body: &[u8],
    json: bool,
    gzip: bool,
    limits: &ReceiverLimits,
) -> Result<Converted<LogRecord>, String> {
    let format = if json { Format::Json } else { Format::Protobuf };
    let inflated_len = gzip.then(|| inflated_len(body, limits.max_decompressed_bytes)).transpose();
    inflated_len.and_then(|len| decode::<Logs>(body, len, format, limits)).map_err(|refusal| refusal.message)
}

/// How many bytes a gzip body inflates to, counted into a small scratch buffer and stopping as
/// soon as the count passes the limit: a bomb costs a few milliseconds of CPU and no memory.
fn inflated_len(bytes: &[u8], max_decompressed: usize) -> Result<usize, Refusal> {
    let mut counter = flate2::read::MultiGzDecoder::new(bytes);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut inflated_len = 0usize;
    loop {
        let n = counter.read(&mut scratch).map_err(invalid_gzip)?;
        if n == 0 {
            return Ok(inflated_len);
        }
        inflated_len += n;
        if inflated_len > max_decompressed {
            return Err(Refusal::too_large(format!(
                "gzip body inflates past the limit of {max_decompressed} bytes; send smaller batches"
            )));
        }
    }
}

/// Inflates a gzip body measured by [`inflated_len`] into a buffer of exactly that size.
fn inflate_exact(bytes: &[u8], len: usize) -> Result<Vec<u8>, Refusal> {
    let mut inflated = Vec::with_capacity(len);
    flate2::read::MultiGzDecoder::new(bytes).take(len as u64).read_to_end(&mut inflated).map_err(invalid_gzip)?;
    Ok(inflated)
}

fn invalid_gzip(err: std::io::Error) -> Refusal {
    Refusal::bad_request(format!("body is not valid gzip: {err}"))
}
