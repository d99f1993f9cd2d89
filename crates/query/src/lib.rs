//! The query HTTP API (`/api/v1/...`), a Jaeger-compatible API (`/jaeger/api/...`, `/api/...`,
//! `/api/v3/...`), Prometheus metrics and the web UI (`/`), served on 127.0.0.1:16686 by default.
//!
//! API boundary: JSON DTOs live here and only here; handlers talk to the store through the
//! `semtrace_store::Store` trait.

pub mod cluster;
mod dto;
mod entities;
mod error;
mod jaeger;
mod overview;
mod search;
mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use semtrace_model::TraceId;
use semtrace_pipeline::Pipeline;
use semtrace_store::Store;

pub use dto::{HealthDto, LogDto, SpanDto, TraceDto};
pub use error::ApiError;
pub use search::{
    parse_errors, parse_search, ErrorResultDto, ErrorsRequest, LogResultDto, SearchResultDto, TraceBriefDto,
};

/// What the API handlers share.
#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<dyn Store>,
    /// The write pipeline, for queue depth in health; absent in read-only deployments.
    pub pipeline: Option<Pipeline>,
    pub metrics: Option<PrometheusHandle>,
    pub started: Instant,
    /// Semantic search; absent when it is turned off.
    pub semantic: Option<Arc<semtrace_semantic::Semantic>>,
    /// Default minimum similarity of search results.
    pub similarity_threshold: f32,
    /// The log joiner's counts, for health; absent when no joiner runs.
    pub joins: Option<Arc<semtrace_pipeline::join::JoinStatus>>,
    /// Who may read ([`gate`]).
    pub auth: semtrace_auth::Auth,
    /// A query that takes longer is answered 503 ([`gate`]).
    pub query_timeout: std::time::Duration,
}

/// Longest value of a query parameter (a search's text, a filter), in bytes.
pub const MAX_PARAMETER_BYTES: usize = 1024;

/// What the gate in front of every handler holds.
#[derive(Clone)]
struct Gate {
    auth: semtrace_auth::Auth,
    query_timeout: std::time::Duration,
}

/// The API router.
pub fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/v1/traces/{trace_id}", get(get_trace))
        .route("/api/v1/traces/{trace_id}/similar", get(search::similar))
        .route("/api/v1/traces/{a}/compare/{b}", get(search::compare))
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/errors", get(search::errors))
        .route("/api/v1/errors/overview", get(overview::overview))
        .route("/api/v1/errors/categories", get(overview::categories))
        .route("/api/v1/entities", get(entities::entities))
        .route("/api/v1/health", get(health))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{service}/operations", get(operations))
        .route("/metrics", get(metrics))
        // Jaeger's classic API under /jaeger (Grafana's data source URL) and at the root (where
        // Jaeger UI calls it); its API v3 at /api/v3.
        .nest("/jaeger", jaeger::classic())
        .merge(jaeger::classic())
        .merge(jaeger::v3())
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            Gate { auth: state.auth.clone(), query_timeout: state.query_timeout },
            gate,
        ))
        .with_state(state)
}

/// What a path needs. The UI's pages and files hold no data, and health answers a caller without
/// a token only whether semtrace is up; `/metrics` counts every tenant's data, so it needs admin;
/// everything else reads data.
fn access_of(path: &str) -> Option<semtrace_auth::Access> {
    match path {
        "/metrics" => Some(semtrace_auth::Access::Admin),
        "/" | "/search" | "/errors" | "/api/v1/health" => None,
        _ if path.starts_with("/ui/") || path.starts_with("/trace/") => None,
        _ => Some(semtrace_auth::Access::Read),
    }
}

/// In front of every handler: checks the token (the caller, [`semtrace_auth::Principal`], travels
/// in the request's extensions), refuses query parameters over [`MAX_PARAMETER_BYTES`], and
/// answers 503 when the handler takes longer than `query_timeout` (the work is dropped with it).
async fn gate(
    State(gate): State<Gate>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let need = access_of(request.uri().path());
    let checked = gate.auth.check(request.headers(), need.unwrap_or(semtrace_auth::Access::Read));
    match (checked, need) {
        (Ok(principal), _) => {
            request.extensions_mut().insert(principal);
        }
        (Err(_), None) => {}
        (Err(denied), Some(_)) => {
            metrics::counter!("semtrace_auth_denied_total", "listener" => "query").increment(1);
            return denied_response(denied);
        }
    }
    let query = request.uri().query().unwrap_or("");
    if let Some((name, value)) =
        form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.len() > MAX_PARAMETER_BYTES)
    {
        return ApiError::BadRequest(format!(
            "parameter {name} is {} bytes long; at most {MAX_PARAMETER_BYTES} are taken",
            value.len()
        ))
        .into_response();
    }
    match tokio::time::timeout(gate.query_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("semtrace_query_timeouts_total").increment(1);
            ApiError::Unavailable(format!(
                "the query took longer than {:?} (limits.query_timeout_seconds): narrow it (a time range, a service) and retry",
                gate.query_timeout
            ))
            .into_response()
        }
    }
}

fn denied_response(denied: semtrace_auth::Denied) -> axum::response::Response {
    use axum::http::StatusCode;
    let status = match denied {
        semtrace_auth::Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        semtrace_auth::Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        semtrace_auth::Denied::BadTenant(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = (status, Json(serde_json::json!({ "error": denied.to_string() }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"semtrace\""));
    }
    response
}

async fn get_trace(State(state): State<QueryState>, Path(trace_id): Path<String>) -> Result<Json<TraceDto>, ApiError> {
    let trace_id = parse_trace_id(&trace_id)?;
    let (trace, logs) = tokio::try_join!(state.store.get_trace(trace_id), state.store.trace_logs(trace_id))?;
    let trace = trace.ok_or_else(|| ApiError::NotFound(format!("trace {trace_id} is not stored")))?;
    Ok(Json(TraceDto::from_trace(&trace, &logs)))
}

/// A trace id in hex: 32 digits, or 16 (a 64-bit id, as Jaeger writes one whose high half is
/// zero).
pub(crate) fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    let padded;
    let text = if text.len() == 16 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        padded = format!("{text:0>32}");
        padded.as_str()
    } else {
        text
    };
    text.parse().map_err(|err| {
        ApiError::BadRequest(format!("{err}: pass the 32-hex-digit trace id, e.g. 4bf92f3577b34da6a3ce929d0e0e4736"))
    })
}

/// What the store holds and where its bytes are: counts, bytes per table and index, and the time
/// its spans cover.
async fn stats(State(state): State<QueryState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (counts, detail) = tokio::try_join!(state.store.stats(), state.store.storage())?;
    let time = |ns: Option<u64>| ns.map(semtrace_model::format_rfc3339_nanos);
    let relations: Vec<_> = detail
        .relations
        .iter()
        .map(|(name, kind, bytes)| serde_json::json!({ "name": name, "kind": kind, "bytes": bytes }))
        .collect();
    Ok(Json(serde_json::json!({
        "storage": state.store.backend(),
        "spans": counts.total_spans,
        "traces": counts.total_traces,
        "templates": counts.templates,
        "templates_pending": counts.templates_pending,
        "disk_bytes": counts.disk_bytes,
        "oldest_span": time(detail.oldest_span_ns),
        "newest_span": time(detail.newest_span_ns),
        "tables_bytes": detail.relations.iter().filter(|(_, kind, _)| *kind == "table").map(|(_, _, bytes)| bytes).sum::<u64>(),
        "indexes_bytes": detail.relations.iter().filter(|(_, kind, _)| *kind == "index").map(|(_, _, bytes)| bytes).sum::<u64>(),
        "relations": relations,
    })))
}

async fn services(State(state): State<QueryState>) -> Result<Json<serde_json::Value>, ApiError> {
    let services = state.store.services().await?;
    Ok(Json(serde_json::json!({ "services": services })))
}

async fn operations(
    State(state): State<QueryState>,
    Path(service): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let operations = state.store.operations(&service).await?;
    let operations: Vec<_> = operations
        .iter()
        .map(|operation| serde_json::json!({ "name": operation.name, "span_kind": operation.span_kind.as_str() }))
        .collect();
    Ok(Json(serde_json::json!({ "service": service, "operations": operations })))
}

/// With auth on, a caller without a token learns only whether semtrace is up (a liveness probe),
/// not what it holds.
async fn health(
    State(state): State<QueryState>,
    principal: Option<axum::Extension<semtrace_auth::Principal>>,
) -> axum::response::Response {
    let health = HealthDto::collect(&state).await;
    let status = if health.healthy { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    if state.auth.enabled() && principal.is_none() {
        return (status, Json(serde_json::json!({ "healthy": health.healthy, "version": health.version })))
            .into_response();
    }
    (status, Json(health)).into_response()
}

async fn metrics(State(state): State<QueryState>) -> impl IntoResponse {
    // Gauges of the pipeline's current state, read now rather than when they last changed.
    if let Some(pipeline) = &state.pipeline {
        metrics::gauge!("semtrace_pipeline_queue_depth").set(pipeline.queue_depth() as f64);
        metrics::gauge!("semtrace_pipeline_queue_capacity").set(pipeline.queue_capacity() as f64);
        metrics::gauge!("semtrace_pipeline_inflight_bytes").set(pipeline.inflight_bytes() as f64);
        metrics::gauge!("semtrace_pipeline_inflight_budget_bytes").set(pipeline.inflight_budget() as f64);
        if let Some(spool) = pipeline.spool_status() {
            metrics::gauge!("semtrace_spool_bytes").set(spool.bytes as f64);
            metrics::gauge!("semtrace_spool_records").set(spool.records as f64);
            metrics::gauge!("semtrace_spool_max_bytes").set(spool.max_bytes as f64);
        }
        if let Some(sampling) = pipeline.sampling_status() {
            metrics::gauge!("semtrace_sampling_buffered_traces").set(sampling.buffered_traces as f64);
            metrics::gauge!("semtrace_sampling_buffered_spans").set(sampling.buffered_spans as f64);
            metrics::gauge!("semtrace_sampling_hold_bytes").set(sampling.hold_bytes as f64);
            metrics::gauge!("semtrace_sampling_hold_max_bytes").set(sampling.hold_max_bytes as f64);
            metrics::gauge!("semtrace_sampling_adaptive_factor").set(sampling.adaptive_factor);
        }
    }
    overview::failure_gauges(&state).await;
    let text = state.metrics.as_ref().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
