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

/// What a failure none of the taxonomy's signatures knows is counted under.
pub const UNCATEGORIZED: &str = "uncategorized";
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
    category: &'static str,
    spans: u64,
    counts: Vec<u64>,
}

/// One service's failures of one category: how many, when, and the newest trace to open.
#[derive(Debug, Serialize)]
struct Group {
    service: String,
    category: &'static str,
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

/// A failure's primary category, read from its template's `Category:` sentence.
fn category_of(template: &str) -> &'static str {
    semtrace_summary::categories_of(template)
        .first()
        .map_or(UNCATEGORIZED, |name| semtrace_summary::category_label(name))
}

pub(crate) async fn overview(
    State(state): State<QueryState>,
    params: Result<Query<OverviewParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let end_ns = params.end.map(|text| parse_time("end", &text)).transpose()?.unwrap_or_else(now_ns);
    let start_ns = params
        .start
        .map(|text| parse_time("start", &text))
        .transpose()?
        .unwrap_or(end_ns.saturating_sub(DEFAULT_WINDOW_NS));
    if end_ns <= start_ns {
        return Err(ApiError::BadRequest("end must be after start".into()));
    }
    let buckets = params.buckets.unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::BadRequest(format!("buckets={buckets} is out of range: allowed 1 to {MAX_BUCKETS}")));
    }
    let bucket_ns = (end_ns - start_ns).div_ceil(u64::from(buckets)).max(1);
    let window =
        FailureWindow { service: params.service.filter(|service| !service.is_empty()), start_ns, end_ns, bucket_ns };
    let counts = state.store.failure_counts(&window).await?;

    let slots = buckets as usize;
    let mut by_category: HashMap<&'static str, CategorySeries> = HashMap::new();
    let mut groups: HashMap<(String, &'static str), Group> = HashMap::new();
    let mut total = 0u64;
    for count in counts {
        let category = category_of(&count.template);
        let slot = (count.bucket as usize).min(slots - 1);
        total += count.spans;
        let series = by_category.entry(category).or_insert_with(|| CategorySeries {
            category,
            spans: 0,
            counts: vec![0; slots],
        });
        series.spans += count.spans;
        series.counts[slot] += count.spans;
        let group = groups.entry((count.service.clone(), category)).or_insert_with(|| Group {
            service: count.service.clone(),
            category,
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
    categories.sort_by(|a, b| b.spans.cmp(&a.spans).then(a.category.cmp(b.category)));
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
    groups
        .sort_by(|a, b| b.newest_ns.cmp(&a.newest_ns).then(a.service.cmp(&b.service)).then(a.category.cmp(b.category)));
    Ok(Json(serde_json::json!({
        "start": format_rfc3339_nanos(start_ns),
        "end": format_rfc3339_nanos(end_ns),
        "start_unix_nano": start_ns.to_string(),
        "bucket_ms": bucket_ns as f64 / 1e6,
        "buckets": buckets,
        "failed_spans": total,
        "categories": categories,
        "groups": groups,
        "taxonomy": semtrace_summary::category_labels().into_iter().chain([UNCATEGORIZED]).collect::<Vec<_>>(),
    })))
}
