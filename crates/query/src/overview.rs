//! `GET /api/v1/errors/overview`: failed spans counted by error category, service and time, for
//! the UI's errors overview (and anyone charting failures).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use semtrace_model::format_rfc3339_nanos;
use semtrace_store::FailureWindow;
use serde::{Deserialize, Serialize};

use crate::jaeger::now_ns;
use crate::search::parse_time;
use crate::{ApiError, QueryState};

use semtrace_semantic::category::UNKNOWN;
const DEFAULT_BUCKETS: u32 = 48;
const MAX_BUCKETS: u32 = 500;
const DEFAULT_WINDOW_NS: u64 = 24 * 3600 * 1_000_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverviewParams {
    service: Option<String>,
    start: Option<String>,
    end: Option<String>,
    /// Time buckets across the window (default 48).
    buckets: Option<u32>,
}

/// One category's failures across the window, bucket by bucket.
#[derive(Debug, Serialize)]
struct CategorySeries {
    category: String,
    spans: u64,
    counts: Vec<u64>,
}

/// One service's failures of one category: how many, when, and the newest trace to open.
#[derive(Debug, Serialize)]
struct Group {
    service: String,
    category: String,
    spans: u64,
    counts: Vec<u64>,
    newest_time: String,
    newest_time_unix_nano: String,
    newest_trace_id: String,
    /// A sample of what its failures say: the summary of its most frequent template.
    example: String,
    #[serde(skip)]
    newest_ns: u64,
    /// Spans per template, with its text (the example is the most frequent).
    #[serde(skip)]
    templates: HashMap<i64, (u64, String)>,
}

/// A failure's category: as stored with its template; until the indexer has filed a template
/// no signature placed, the one its text names, else `unknown`.
fn category_of(count: &semtrace_store::FailureCount) -> String {
    count
        .category
        .clone()
        .unwrap_or_else(|| semtrace_summary::category_of_template(&count.template).unwrap_or(UNKNOWN).to_owned())
}

/// The window asked for: `start`/`end` as RFC 3339 or Unix time; by default the last 24 h.
fn window(start: Option<String>, end: Option<String>) -> Result<(u64, u64), ApiError> {
    let end_ns = end.map(|text| parse_time("end", &text)).transpose()?.unwrap_or_else(now_ns);
    let start_ns =
        start.map(|text| parse_time("start", &text)).transpose()?.unwrap_or(end_ns.saturating_sub(DEFAULT_WINDOW_NS));
    if end_ns <= start_ns {
        return Err(ApiError::BadRequest("end must be after start".into()));
    }
    Ok((start_ns, end_ns))
}

pub(crate) async fn overview(
    State(state): State<QueryState>,
    params: Result<Query<OverviewParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let (start_ns, end_ns) = window(params.start, params.end)?;
    let buckets = params.buckets.unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::BadRequest(format!("buckets={buckets} is out of range: allowed 1 to {MAX_BUCKETS}")));
    }
    let bucket_ns = (end_ns - start_ns).div_ceil(u64::from(buckets)).max(1);
    let window =
        FailureWindow { service: params.service.filter(|service| !service.is_empty()), start_ns, end_ns, bucket_ns };
    let counts = state.store.failure_counts(&window).await?;

    let slots = buckets as usize;
    let mut by_category: HashMap<String, CategorySeries> = HashMap::new();
    let mut groups: HashMap<(String, String), Group> = HashMap::new();
    let mut total = 0u64;
    for count in counts {
        let category = category_of(&count);
        let slot = (count.bucket as usize).min(slots - 1);
        total += count.spans;
        let series = by_category.entry(category.clone()).or_insert_with(|| CategorySeries {
            category: category.clone(),
            spans: 0,
            counts: vec![0; slots],
        });
        series.spans += count.spans;
        series.counts[slot] += count.spans;
        let group = groups.entry((count.service.clone(), category.clone())).or_insert_with(|| Group {
            service: count.service.clone(),
            category: category.clone(),
            spans: 0,
            counts: vec![0; slots],
            newest_time: String::new(),
            newest_time_unix_nano: String::new(),
            newest_trace_id: String::new(),
            example: String::new(),
            newest_ns: 0,
            templates: HashMap::new(),
        });
        group.spans += count.spans;
        group.counts[slot] += count.spans;
        if count.newest_ns >= group.newest_ns {
            group.newest_ns = count.newest_ns;
            group.newest_trace_id = count.newest_trace.to_hex();
        }
        let seen = group.templates.entry(count.template_id).or_insert((0, count.template));
        seen.0 += count.spans;
    }
    let mut categories: Vec<CategorySeries> = by_category.into_values().collect();
    categories.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.category.cmp(&b.category)));
    let mut groups: Vec<Group> = groups
        .into_values()
        .map(|mut group| {
            group.newest_time = format_rfc3339_nanos(group.newest_ns);
            group.newest_time_unix_nano = group.newest_ns.to_string();
            let example =
                std::mem::take(&mut group.templates).into_values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            group.example = example.map(|(_, text)| text).unwrap_or_default();
            group
        })
        .collect();
    // Newest first.
    groups.sort_by(|a, b| {
        b.newest_ns.cmp(&a.newest_ns).then(a.service.cmp(&b.service)).then(a.category.cmp(&b.category))
    });
    Ok(Json(serde_json::json!({
        "start": format_rfc3339_nanos(start_ns),
        "end": format_rfc3339_nanos(end_ns),
        "start_unix_nano": start_ns.to_string(),
        "bucket_ms": bucket_ns as f64 / 1e6,
        "buckets": buckets,
        "failed_spans": total,
        "categories": categories,
        "groups": groups,
        "taxonomy": semtrace_summary::category_labels().into_iter().chain([UNKNOWN]).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CategoriesParams {
    service: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// One category's failed spans in the window, and which services they were in.
#[derive(Debug, Serialize)]
struct CategoryCount {
    category: String,
    spans: u64,
    services: Vec<ServiceCount>,
}

#[derive(Debug, Serialize)]
struct ServiceCount {
    service: String,
    spans: u64,
}

/// Failed spans starting in the window, counted per (service, category).
async fn counts_by_category(
    state: &QueryState,
    service: Option<String>,
    start_ns: u64,
    end_ns: u64,
) -> Result<Vec<CategoryCount>, ApiError> {
    let window = FailureWindow {
        service: service.filter(|service| !service.is_empty()),
        start_ns,
        end_ns,
        bucket_ns: end_ns.saturating_sub(start_ns).max(1),
    };
    let mut by_category: HashMap<String, HashMap<String, u64>> = HashMap::new();
    for count in state.store.failure_counts(&window).await? {
        *by_category.entry(category_of(&count)).or_default().entry(count.service).or_default() += count.spans;
    }
    let mut categories: Vec<CategoryCount> = by_category
        .into_iter()
        .map(|(category, services)| {
            let mut services: Vec<ServiceCount> =
                services.into_iter().map(|(service, spans)| ServiceCount { service, spans }).collect();
            services.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.service.cmp(&b.service)));
            CategoryCount { category, spans: services.iter().map(|service| service.spans).sum(), services }
        })
        .collect();
    categories.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.category.cmp(&b.category)));
    Ok(categories)
}

/// `GET /api/v1/errors/categories`: the error categories failed spans were filed under in the
/// window (default the last 24 h), with counts per service, most first; and the taxonomy.
pub(crate) async fn categories(
    State(state): State<QueryState>,
    params: Result<Query<CategoriesParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let (start_ns, end_ns) = window(params.start, params.end)?;
    let categories = counts_by_category(&state, params.service, start_ns, end_ns).await?;
    Ok(Json(serde_json::json!({
        "start": format_rfc3339_nanos(start_ns),
        "end": format_rfc3339_nanos(end_ns),
        "categories": categories,
        "taxonomy": semtrace_summary::category_labels().into_iter().chain([UNKNOWN]).collect::<Vec<_>>(),
    })))
}

/// Sets `semtrace_failed_spans_last_hour{service, category}` for a scrape of `/metrics`: failed
/// spans that started in the last hour, by service and error category. A pair reported before
/// and absent now is set to 0, not left at its old count.
pub(crate) async fn failure_gauges(state: &QueryState) {
    static REPORTED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let end_ns = now_ns();
    let categories = match counts_by_category(state, None, end_ns.saturating_sub(3600 * 1_000_000_000), end_ns).await {
        Ok(categories) => categories,
        Err(err) => return tracing::warn!(%err, "cannot count failed spans for /metrics"),
    };
    let mut now: Vec<(String, String, u64)> = Vec::new();
    for category in categories {
        for service in category.services {
            now.push((service.service, category.category.clone(), service.spans));
        }
    }
    let mut reported = REPORTED.lock().expect("reported gauges lock");
    for (service, category) in reported.iter() {
        if !now.iter().any(|(s, c, _)| s == service && c == category) {
            metrics::gauge!("semtrace_failed_spans_last_hour", "service" => service.clone(), "category" => category.clone())
                .set(0.0);
        }
    }
    for (service, category, spans) in &now {
        metrics::gauge!("semtrace_failed_spans_last_hour", "service" => service.clone(), "category" => category.clone())
            .set(*spans as f64);
        if !reported.iter().any(|(s, c)| s == service && c == category) {
            reported.push((service.clone(), category.clone()));
        }
    }
}
