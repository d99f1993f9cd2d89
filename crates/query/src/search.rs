//! `GET /api/v1/search`, `GET /api/v1/errors`, `GET /api/v1/traces/{id}/similar`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::Json;
use semtrace_model::{format_rfc3339_nanos, Span, StatusCode, TraceId};
use semtrace_semantic::{Intent, Ranking, SearchRequest};
use semtrace_store::policy::PerTrace;
use semtrace_store::SpanFilter;
use semtrace_summary::SpanSummary;
use serde::{Deserialize, Serialize};

use crate::{parse_trace_id, ApiError, QueryState};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
    threshold: Option<f32>,
    service: Option<String>,
    /// The span name.
    operation: Option<String>,
    /// Go durations (`250ms`, `1.5s`) or milliseconds.
    min_duration: Option<String>,
    max_duration: Option<String>,
    /// Results whose failure falls in this category (its short name, e.g. `timeout`).
    category: Option<String>,
    /// Results of traces that touched this entity, `kind:value` (e.g. `user:12345`).
    entity: Option<String>,
    status: Option<String>,
    /// `failed` or `ok`: the derived outcome, whatever the status (see `SpanFilter::failed`).
    outcome: Option<String>,
    start: Option<String>,
    end: Option<String>,
    /// `trace` (default): the best span per trace; `span`: every span.
    group: Option<String>,
    /// `hybrid` (default) or `semantic`.
    mode: Option<String>,
    /// Ranking tuning: score added to templates of failed spans, weight of the lexical match.
    failure_prior: Option<f32>,
    lexical_weight: Option<f32>,
    /// `auto` (default: told from the query's words, `semtrace_semantic::intent_of`), `failure` or `latency`.
    intent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchResultDto {
    pub trace_id: String,
    pub span_id: String,
    pub service: String,
    pub name: String,
    /// Cosine similarity of the query and the span's template.
    pub similarity: f32,
    /// The ranking score (similarity, plus the lexical part in hybrid mode).
    pub score: f32,
    pub summary: String,
    pub start_time: String,
    pub duration_ms: f64,
    pub status: &'static str,
    /// Whether the span failed: an error status, an exception, or a log line WARN or above
    /// (on the span or in a log record about it), whatever its status.
    pub failed: bool,
    /// The most severe log line told about the span, if one is WARN or above.
    pub error_log: Option<String>,
    pub error_type: Option<String>,
    /// The failure's categories, by short name (`semtrace_summary::category_label`).
    pub error_categories: Vec<&'static str>,
    /// The category the failure is filed under (as stored with its template: by its text's
    /// signatures, or by the model), what `category=` filters by; absent for a healthy span.
    pub error_category: Option<String>,
    /// The result's trace in brief; absent when its spans could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceBriefDto>,
}

/// A trace in brief, shown beside each result: how big it is and whom it crossed.
#[derive(Debug, Clone, Serialize)]
pub struct TraceBriefDto {
    pub span_count: usize,
    pub services: Vec<String>,
    pub duration_ms: f64,
    /// The root span's service and name, when the root is stored.
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    /// Spans that failed (by their derived outcome).
    pub failed_count: usize,
    /// How much the trace deserves a look, 0 to 1 (`semtrace_store::importance`): failed,
    /// slow for its operation, or the first with a new template. Ties in `score` rank by it.
    pub importance: f64,
}

impl TraceBriefDto {
    fn of(spans: &[semtrace_store::SpanProfile]) -> Option<Self> {
        let start = spans.iter().map(|span| span.start_ns).min()?;
        let end = spans.iter().map(|span| span.end_ns).max()?;
        let mut services: Vec<String> = spans.iter().map(|span| span.service.clone()).collect();
        services.sort();
        services.dedup();
        let root = spans.iter().find(|span| span.parent_span_id.is_none());
        Some(TraceBriefDto {
            span_count: spans.len(),
            services,
            duration_ms: end.saturating_sub(start) as f64 / 1e6,
            root_service: root.map(|span| span.service.clone()),
            root_name: root.map(|span| span.name.clone()),
            failed_count: spans.iter().filter(|span| span.outcome.is_failure()).count(),
            importance: 0.0,
        })
    }
}

/// Reads the results' traces in brief, in one store call.
async fn with_traces<'a>(
    state: &QueryState,
    results: impl IntoIterator<Item = &'a mut SearchResultDto>,
) -> Result<(), ApiError> {
    let results: Vec<&mut SearchResultDto> = results.into_iter().collect();
    let mut ids: Vec<TraceId> = results.iter().filter_map(|result| result.trace_id.parse().ok()).collect();
    ids.sort();
    ids.dedup();
    let profiles = state.store.trace_profiles(&ids).await?;
    let importance = state.store.trace_importance(&ids).await?;
    for result in results {
        let id: Option<TraceId> = result.trace_id.parse().ok();
        result.trace = id.and_then(|id| {
            let mut brief = TraceBriefDto::of(profiles.get(&id)?)?;
            brief.importance = importance.get(&id).copied().unwrap_or(0.0);
            Some(brief)
        });
    }
    Ok(())
}

/// Results of equal score (to 3 decimals, as shown) ranked by their trace's importance; the
/// order is otherwise kept.
fn break_ties_by_importance(results: &mut [SearchResultDto]) {
    let shown = |score: f32| (f64::from(score) * 1000.0).round() as i64;
    let importance = |result: &SearchResultDto| result.trace.as_ref().map_or(0.0, |trace| trace.importance);
    results.sort_by(|a, b| shown(b.score).cmp(&shown(a.score)).then(importance(b).total_cmp(&importance(a))));
}

/// Sets each result's stored error category, where its template has one (the model's guess
/// for a failure no signature knows is only there).
async fn with_categories<'a>(
    state: &QueryState,
    results: impl IntoIterator<Item = (Option<i64>, &'a mut Option<String>)>,
) -> Result<(), ApiError> {
    let results: Vec<(Option<i64>, &mut Option<String>)> = results.into_iter().collect();
    let mut ids: Vec<i64> = results.iter().filter_map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let stored = state.store.template_categories(&ids).await?;
    for (id, category) in results {
        if let Some(found) = id.and_then(|id| stored.get(&id)) {
            *category = Some(found.clone());
        }
    }
    Ok(())
}

/// The labels of a summary's categories.
fn labels(categories: &[&'static str]) -> Vec<&'static str> {
    categories.iter().map(|name| semtrace_summary::category_label(name)).collect()
}

/// A `category=` parameter: one of the taxonomy's short names, or `unknown`, case aside.
fn parse_category(text: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = text.filter(|text| !text.trim().is_empty()) else { return Ok(None) };
    let mut labels = semtrace_summary::category_labels();
    labels.push(semtrace_semantic::category::UNKNOWN);
    let wanted = semtrace_summary::category_label(text.trim());
    labels.iter().find(|label| label.eq_ignore_ascii_case(wanted)).map(|label| Some((*label).to_owned())).ok_or_else(
        || ApiError::BadRequest(format!("category={text:?} is not a category: pass one of {}", labels.join(", "))),
    )
}

/// How a result relates to what was asked: the cosine similarity of its template (to the
/// query, or to the given trace's telling span), and the score it is ranked by.
struct Relevance {
    similarity: f32,
    score: f32,
}

impl SearchResultDto {
    fn new(span: &Span, summary: SpanSummary, error_log: Option<String>, relevance: Relevance) -> Self {
        let Relevance { similarity, score } = relevance;
        SearchResultDto {
            trace_id: span.trace_id.to_hex(),
            span_id: span.span_id.to_hex(),
            service: span.service_name().to_owned(),
            name: span.name.clone(),
            similarity,
            score,
            summary: summary.text,
            start_time: format_rfc3339_nanos(span.start_time_unix_nano),
            duration_ms: span.duration_nanos() as f64 / 1e6,
            status: span.status.code.as_str(),
            failed: summary.outcome.is_failure(),
            error_log,
            error_type: summary.error_type,
            error_categories: labels(&summary.error_categories),
            error_category: semtrace_store::template_category(&summary.template, summary.outcome).map(str::to_owned),
            trace: None,
        }
    }
}

/// A time as RFC 3339 or a Unix timestamp in seconds, milliseconds, microseconds or
/// nanoseconds (told apart by magnitude).
pub(crate) fn parse_time(name: &str, text: &str) -> Result<u64, ApiError> {
    let text = text.trim();
    if let Ok(number) = text.parse::<u64>() {
        // Seconds up to year ~5138, then ms, µs, ns; a number too large for nanoseconds since
        // 1970 in 64 bits is refused rather than wrapped.
        let nanos = match number {
            n if n < 100_000_000_000 => n.checked_mul(1_000_000_000),
            n if n < 100_000_000_000_000 => n.checked_mul(1_000_000),
            n if n < 100_000_000_000_000_000 => n.checked_mul(1_000),
            n => Some(n),
        };
        return nanos.ok_or_else(|| ApiError::BadRequest(format!("{name}={text:?} is too far in the future")));
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|err| {
        ApiError::BadRequest(format!(
            "{name}={text:?} is not a time ({err}): pass RFC 3339 (2026-11-23T10:00:00Z) or Unix seconds/ms/µs/ns"
        ))
    })?;
    u64::try_from(parsed.unix_timestamp_nanos())
        .map_err(|_| ApiError::BadRequest(format!("{name}={text:?} is before 1970")))
}

/// The filter fields of a query string, as text.
#[derive(Debug, Default)]
struct FilterText {
    service: Option<String>,
    operation: Option<String>,
    status: Option<String>,
    outcome: Option<String>,
    start: Option<String>,
    end: Option<String>,
    min_duration: Option<String>,
    max_duration: Option<String>,
    category: Option<String>,
    /// Results of traces that touched this entity, `kind:value` (e.g. `user:12345`).
    entity: Option<String>,
}

/// A duration as Go writes it (`250ms`, `1.5s`, `2m`, `1h30m`) or a bare number of milliseconds.
fn parse_duration(name: &str, text: &str) -> Result<u64, ApiError> {
    let text = text.trim();
    let millis = text.parse::<f64>().ok().filter(|ms| ms.is_finite() && *ms >= 0.0).map(|ms| (ms * 1e6) as u64);
    millis.or_else(|| crate::jaeger::go_duration(text)).ok_or_else(|| {
        ApiError::BadRequest(format!("{name}={text:?} is not a duration: pass e.g. 250ms, 1.5s, 2m or milliseconds"))
    })
}

fn parse_filter(text: FilterText) -> Result<SpanFilter, ApiError> {
    let FilterText { service, operation, status, outcome, start, end, min_duration, max_duration, category, entity } =
        text;
    let failed = match outcome.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("any") => None,
        Some("failed") => Some(true),
        Some("ok") | Some("healthy") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "outcome={other:?} is not an outcome: pass failed (an error status, an exception or a log line WARN \
                 or above) or ok"
            )))
        }
    };
    let status = status
        .map(|text| {
            StatusCode::parse(&text).ok_or_else(|| {
                ApiError::BadRequest(format!("status={text:?} is not a span status: pass OK, ERROR or UNSET"))
            })
        })
        .transpose()?;
    let start_ns = start.map(|text| parse_time("start", &text)).transpose()?;
    let end_ns = end.map(|text| parse_time("end", &text)).transpose()?;
    if let (Some(start), Some(end)) = (start_ns, end_ns) {
        if end <= start {
            return Err(ApiError::BadRequest("end must be after start".into()));
        }
    }
    let nonempty = |text: Option<String>| text.filter(|text| !text.trim().is_empty());
    let min_duration_ns = nonempty(min_duration).map(|text| parse_duration("min_duration", &text)).transpose()?;
    let max_duration_ns = nonempty(max_duration).map(|text| parse_duration("max_duration", &text)).transpose()?;
    if let (Some(min), Some(max)) = (min_duration_ns, max_duration_ns) {
        if max < min {
            return Err(ApiError::BadRequest("max_duration must not be less than min_duration".into()));
        }
    }
    Ok(SpanFilter {
        service: nonempty(service),
        operation: nonempty(operation),
        status,
        start_ns,
        end_ns,
        exclude_trace: None,
        failed,
        min_duration_ns,
        max_duration_ns,
        category: parse_category(category)?,
        entity: nonempty(entity)
            .map(|text| semtrace_store::entity::parse_filter(&text).map_err(ApiError::BadRequest))
            .transpose()?,
    })
}

fn parse_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::BadRequest("limit must be at least 1".into())),
        n if n > MAX_LIMIT => Err(ApiError::BadRequest(format!("limit={n} is over the maximum {MAX_LIMIT}"))),
        n => Ok(n),
    }
}

/// Query-string errors as JSON, like every other API error.
fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(params)| params).map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

fn semantic(state: &QueryState) -> Result<&semtrace_semantic::Semantic, ApiError> {
    state
        .semantic
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable("semantic search is off in this server (semantic.enabled = false)".into()))
}

/// A `/api/v1/search` query string (`q=…&limit=…`), parsed and checked as the handler does.
pub fn parse_search(query_string: &str, default_threshold: f32) -> Result<SearchRequest, ApiError> {
    let params: SearchParams = parse_query_string(query_string)?;
    let query = params.q.unwrap_or_default();
    if query.trim().is_empty() {
        return Err(ApiError::BadRequest("q is required: what to search for, in words".into()));
    }
    let threshold = params.threshold.unwrap_or(default_threshold);
    if !(-1.0..=1.0).contains(&threshold) {
        return Err(ApiError::BadRequest(format!("threshold={threshold} is out of range: allowed -1.0 to 1.0")));
    }
    let per_trace = match params.group.as_deref() {
        None | Some("trace") => PerTrace::OneSpan,
        Some("span") => PerTrace::EverySpan,
        Some(other) => return Err(ApiError::BadRequest(format!("group={other:?}: pass trace or span"))),
    };
    let ranking = match params.mode.as_deref() {
        None | Some("hybrid") => Ranking::Hybrid,
        Some("semantic") => Ranking::Semantic,
        Some(other) => return Err(ApiError::BadRequest(format!("mode={other:?}: pass hybrid or semantic"))),
    };
    let weight = |name: &str, value: Option<f32>, default: f32| match value {
        None => Ok(default),
        Some(value) if value.is_finite() && (0.0..=10.0).contains(&value) => Ok(value),
        Some(value) => Err(ApiError::BadRequest(format!("{name}={value} is out of range: allowed 0.0 to 10.0"))),
    };
    Ok(SearchRequest {
        query,
        limit: parse_limit(params.limit)?,
        threshold,
        filter: parse_filter(FilterText {
            service: params.service,
            operation: params.operation,
            status: params.status,
            outcome: params.outcome,
            start: params.start,
            end: params.end,
            min_duration: params.min_duration,
            max_duration: params.max_duration,
            category: params.category,
            entity: params.entity,
        })?,
        per_trace,
        ranking,
        failure_prior: weight("failure_prior", params.failure_prior, semtrace_semantic::FAILURE_PRIOR)?,
        lexical_weight: weight("lexical_weight", params.lexical_weight, semtrace_semantic::DEFAULT_LEXICAL_WEIGHT)?,
        intent: match params.intent.as_deref() {
            None | Some("auto") => None,
            Some("failure") => Some(Intent::Failure),
            Some("latency") => Some(Intent::Latency),
            Some(other) => {
                return Err(ApiError::BadRequest(format!("intent={other:?}: pass auto, failure or latency")));
            }
        },
    })
}

/// A query string into its parameters; unknown or malformed ones are a 400 naming them.
fn parse_query_string<T: serde::de::DeserializeOwned>(query_string: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query_string)
        .map_err(|err| ApiError::BadRequest(format!("Failed to deserialize query string: {err}")))
}

pub(crate) async fn search(
    State(state): State<QueryState>,
    RawQuery(query_string): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let semantic = semantic(&state)?;
    let request = parse_search(query_string.as_deref().unwrap_or(""), state.similarity_threshold)?;
    let (query, threshold) = (request.query.clone(), request.threshold);
    let found = semantic.search(&request).await?;
    let templates: Vec<Option<i64>> = found.hits.iter().map(|hit| hit.template_id).collect();
    let mut results: Vec<SearchResultDto> = found
        .hits
        .into_iter()
        .map(|hit| {
            let relevance = Relevance { similarity: hit.similarity, score: hit.score };
            SearchResultDto::new(&hit.span, hit.summary, hit.error_log, relevance)
        })
        .collect();
    with_traces(&state, &mut results).await?;
    with_categories(&state, templates.into_iter().zip(results.iter_mut().map(|result| &mut result.error_category)))
        .await?;
    break_ties_by_importance(&mut results);
    Ok(Json(serde_json::json!({
        "query": query,
        "threshold": threshold,
        "intent": found.intent.as_str(),
        "healthy_only": found.healthy_only,
        "unreported_only": found.unreported_only,
        "excluded": found.excluded,
        "results": results,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorParams {
    q: Option<String>,
    limit: Option<usize>,
    service: Option<String>,
    operation: Option<String>,
    min_duration: Option<String>,
    max_duration: Option<String>,
    /// Results whose failure falls in this category (its short name, e.g. `timeout`).
    category: Option<String>,
    /// Results of traces that touched this entity, `kind:value` (e.g. `user:12345`).
    entity: Option<String>,
    /// `failed` or `ok`: the derived outcome (see `SpanFilter::failed`).
    outcome: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ErrorResultDto {
    pub trace_id: String,
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub start_time: String,
    pub duration_ms: f64,
    pub status: &'static str,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// The most severe log line told about the span, if one is WARN or above.
    pub error_log: Option<String>,
    /// The failure's categories, by short name.
    pub error_categories: Vec<&'static str>,
    /// The category the failure is filed under (see `SearchResultDto::error_category`).
    pub error_category: Option<String>,
    /// Full-text relevance (BM25, higher is better); 0 when listing the newest errors.
    pub score: f64,
}

/// A log record found by error search that no stored span holds.
#[derive(Debug, Serialize)]
pub struct LogResultDto {
    #[serde(flatten)]
    pub record: crate::dto::LogDto,
    pub score: f64,
}

impl LogResultDto {
    fn new(record: &semtrace_model::LogRecord, score: f64) -> Self {
        LogResultDto { record: crate::dto::LogDto::from_record(record), score }
    }
}

/// An `/api/v1/errors` question: words to look for (empty: the newest errors), filters, limit.
#[derive(Debug, Clone)]
pub struct ErrorsRequest {
    pub query: String,
    pub filter: SpanFilter,
    pub limit: usize,
}

/// An `/api/v1/errors` query string, parsed and checked as the handler does.
pub fn parse_errors(query_string: &str) -> Result<ErrorsRequest, ApiError> {
    let params: ErrorParams = parse_query_string(query_string)?;
    Ok(ErrorsRequest {
        filter: parse_filter(FilterText {
            service: params.service,
            operation: params.operation,
            outcome: params.outcome,
            start: params.start,
            end: params.end,
            min_duration: params.min_duration,
            max_duration: params.max_duration,
            category: params.category,
            entity: params.entity,
            ..FilterText::default()
        })?,
        query: params.q.unwrap_or_default(),
        limit: parse_limit(params.limit)?,
    })
}

pub(crate) async fn errors(
    State(state): State<QueryState>,
    RawQuery(query_string): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ErrorsRequest { query, filter, limit } = parse_errors(query_string.as_deref().unwrap_or(""))?;
    let (hits, log_hits) = tokio::try_join!(
        state.store.search_errors(&query, &filter, limit),
        state.store.search_logs(&query, &filter, limit)
    )?;
    let mut logs = semtrace_semantic::span_evidence(&*state.store, hits.iter().map(|hit| &hit.span)).await?;
    let templates: Vec<Option<i64>> = hits.iter().map(|hit| hit.template_id).collect();
    let mut results: Vec<ErrorResultDto> = hits
        .into_iter()
        .map(|hit| {
            let logs = logs.remove(&(hit.span.trace_id, hit.span.span_id)).unwrap_or_default();
            let summary = semtrace_summary::summarize_with_logs(&hit.span, &logs);
            let error_log = semtrace_summary::error_log(&hit.span, &logs);
            let span = &hit.span;
            let error_categories = labels(&summary.error_categories);
            let error_category =
                semtrace_store::template_category(&summary.template, summary.outcome).map(str::to_owned);
            let error_message = summary.error_text.map(|text| match &summary.error_type {
                Some(kind) => text.strip_prefix(kind.as_str()).map(|rest| rest.trim_start().to_owned()).unwrap_or(text),
                None => text,
            });
            ErrorResultDto {
                trace_id: span.trace_id.to_hex(),
                span_id: span.span_id.to_hex(),
                service: span.service_name().to_owned(),
                name: span.name.clone(),
                start_time: format_rfc3339_nanos(span.start_time_unix_nano),
                duration_ms: span.duration_nanos() as f64 / 1e6,
                status: span.status.code.as_str(),
                error_type: summary.error_type,
                error_message,
                error_log,
                error_categories,
                error_category,
                score: hit.score,
            }
        })
        .collect();
    with_categories(&state, templates.into_iter().zip(results.iter_mut().map(|result| &mut result.error_category)))
        .await?;
    // Log records that match but that no stored span holds (no trace context, or a span that
    // never arrived).
    let logs: Vec<LogResultDto> = log_hits.iter().map(|hit| LogResultDto::new(&hit.record, hit.score)).collect();
    Ok(Json(serde_json::json!({ "query": query, "results": results, "logs": logs })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimilarParams {
    limit: Option<usize>,
    /// `failure`, `latency` or `shape`; by default failure when the trace failed, latency when
    /// it was slow for its operations, else shape.
    by: Option<String>,
    service: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// A telling span of the given trace, as the API shows it.
#[derive(Debug, Serialize)]
struct TellingDto {
    span_id: String,
    service: String,
    name: String,
    weight: f32,
    times_typical: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SharedDto {
    kind: &'static str,
    given: String,
    this: String,
    similarity: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_times_typical: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    this_times_typical: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ReasonDto {
    /// The given trace's telling span and its match here.
    shared: Option<SharedDto>,
    /// The root operation both traces share, if they do.
    same_route: Option<String>,
    only_in_given: Vec<String>,
    only_in_this: Vec<String>,
}

impl From<semtrace_semantic::Reason> for ReasonDto {
    fn from(reason: semtrace_semantic::Reason) -> Self {
        ReasonDto {
            shared: reason.shared.map(|shared| SharedDto {
                kind: shared.kind,
                given: shared.given,
                this: shared.this,
                similarity: shared.similarity,
                given_times_typical: shared.given_times_typical,
                this_times_typical: shared.this_times_typical,
            }),
            same_route: reason.same_route,
            only_in_given: reason.only_in_given,
            only_in_this: reason.only_in_this,
        }
    }
}

#[derive(Debug, Serialize)]
struct SimilarResultDto {
    #[serde(flatten)]
    span: SearchResultDto,
    /// How alike the telling spans (failure or slowness) of the two traces are, 0–1.
    telling_similarity: f32,
    /// Share of operations the two traces have in common (Jaccard), 0–1.
    shape_similarity: f32,
    reason: ReasonDto,
}

pub(crate) async fn similar(
    State(state): State<QueryState>,
    Path(trace_id): Path<String>,
    params: Result<Query<SimilarParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let semantic = semantic(&state)?;
    let params = query_params(params)?;
    let trace_id: TraceId = parse_trace_id(&trace_id)?;
    let limit = parse_limit(params.limit.or(Some(10)))?;
    let by = match params.by.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("auto") => None,
        Some(text) => Some(semtrace_semantic::SimilarBy::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!("by={text:?} is not a mode: pass failure, latency or shape"))
        })?),
    };
    let filter = parse_filter(FilterText {
        service: params.service,
        start: params.start,
        end: params.end,
        ..FilterText::default()
    })?;
    let request = semtrace_semantic::SimilarRequest { trace_id, by, limit, filter };
    let Some(similar) = semantic.similar(&request).await? else {
        return Err(ApiError::NotFound(format!("trace {trace_id} is not stored")));
    };
    let telling: Vec<TellingDto> = similar
        .telling
        .into_iter()
        .map(|span| TellingDto {
            span_id: span.span_id.to_hex(),
            service: span.service,
            name: span.name,
            weight: span.weight,
            times_typical: span.times_typical,
        })
        .collect();
    let templates: Vec<Option<i64>> = similar.results.iter().map(|found| found.template_id).collect();
    let mut results: Vec<SimilarResultDto> = similar
        .results
        .into_iter()
        .map(|found| SimilarResultDto {
            span: SearchResultDto::new(
                &found.span,
                found.summary,
                found.error_log,
                Relevance { similarity: found.telling_similarity, score: found.score },
            ),
            telling_similarity: found.telling_similarity,
            shape_similarity: found.shape_similarity,
            reason: found.reason.into(),
        })
        .collect();
    with_traces(&state, results.iter_mut().map(|result| &mut result.span)).await?;
    let categories = results.iter_mut().map(|result| &mut result.span.error_category);
    with_categories(&state, templates.into_iter().zip(categories)).await?;
    Ok(Json(serde_json::json!({
        "trace_id": trace_id.to_hex(),
        "by": similar.by.as_str(),
        "telling": telling,
        "note": similar.note,
        "results": results,
    })))
}

#[derive(Debug, Serialize)]
struct ComparedSpanDto {
    span_id: String,
    service: String,
    name: String,
    duration_ms: f64,
    failed: bool,
}

impl From<&semtrace_store::SpanProfile> for ComparedSpanDto {
    fn from(span: &semtrace_store::SpanProfile) -> Self {
        ComparedSpanDto {
            span_id: span.span_id.to_hex(),
            service: span.service.clone(),
            name: span.name.clone(),
            duration_ms: span.duration_ns() as f64 / 1e6,
            failed: span.outcome.is_failure(),
        }
    }
}

#[derive(Debug, Serialize)]
struct MatchedDto {
    a: ComparedSpanDto,
    b: ComparedSpanDto,
    /// Same template: the same outcome and the same masked summary.
    same_template: bool,
    /// b's duration minus a's.
    duration_diff_ms: f64,
}

/// `GET /api/v1/traces/{a}/compare/{b}`: the spans of two traces matched by their place in the
/// tree and their template, with what only one of them has and the duration differences.
pub(crate) async fn compare(
    State(state): State<QueryState>,
    Path((a, b)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let semantic = semantic(&state)?;
    let (a, b): (TraceId, TraceId) = (parse_trace_id(&a)?, parse_trace_id(&b)?);
    let Some(comparison) = semantic.compare(a, b).await? else {
        return Err(ApiError::NotFound(format!("trace {a} or trace {b} is not stored")));
    };
    let mut matched: Vec<MatchedDto> = comparison
        .matched
        .iter()
        .map(|pair| MatchedDto {
            a: (&pair.a).into(),
            b: (&pair.b).into(),
            same_template: pair.same_template,
            duration_diff_ms: (pair.b.duration_ns() as f64 - pair.a.duration_ns() as f64) / 1e6,
        })
        .collect();
    matched.sort_by(|x, y| y.duration_diff_ms.abs().total_cmp(&x.duration_diff_ms.abs()));
    let listed = |spans: &[semtrace_store::SpanProfile]| spans.iter().map(ComparedSpanDto::from).collect::<Vec<_>>();
    Ok(Json(serde_json::json!({
        "a": a.to_hex(),
        "b": b.to_hex(),
        "matched": matched,
        "only_in_a": listed(&comparison.only_in_a),
        "only_in_b": listed(&comparison.only_in_b),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_scores_rank_by_importance_and_the_rest_keeps_its_order() {
        let span = semtrace_store::conformance::rich_trace(1).swap_remove(0);
        let result = |score: f32, importance: f64| {
            let summary = semtrace_summary::summarize(&span);
            let mut result = SearchResultDto::new(&span, summary, None, Relevance { similarity: score, score });
            result.trace = Some(TraceBriefDto {
                span_count: 1,
                services: Vec::new(),
                duration_ms: 0.0,
                root_service: None,
                root_name: None,
                failed_count: 0,
                importance,
            });
            result
        };
        let mut results =
            vec![result(0.9, 0.0), result(0.7, 0.1), result(0.70001, 0.0), result(0.7, 0.65), result(0.5, 1.0)];
        break_ties_by_importance(&mut results);
        let order: Vec<(f32, f64)> =
            results.iter().map(|result| (result.score, result.trace.as_ref().unwrap().importance)).collect();
        assert_eq!(order, vec![(0.9, 0.0), (0.7, 0.65), (0.7, 0.1), (0.70001, 0.0), (0.5, 1.0)]);
    }
}
