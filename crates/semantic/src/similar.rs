//! Similar traces, and two traces compared.
//!
//! A trace is read for what is unusual in it: its **failure** (spans that failed, said why in
//! their status, exception or log lines) or its **slowness** (spans slow for their operation,
//! against the operation's own baseline). Those telling spans are matched by meaning, through
//! their templates' vectors, against the telling spans of other traces; the **shape** (which
//! services and operations take part) only breaks ties and ranks when nothing is unusual.
//!
//! Why not the centroid of all the trace's templates, as before: a trace is mostly routine
//! spans, so the centroid is the route's, and traces of the same route that did not fail the
//! same way came first (README, "Similar traces").

use std::collections::{HashMap, HashSet};

use semtrace_model::{Span, SpanId, TraceId};
use semtrace_store::policy::PerTrace;
use semtrace_store::{SpanFilter, SpanProfile};
use semtrace_summary::{Outcome, SpanSummary};

use crate::index::{self, Priors};
use crate::{slow_child, span_evidence, times_typical, Baselines, SearchError, Semantic, SLOW_RATIO};

/// Candidate traces read and scored per request (the best `limit` are returned).
const CANDIDATE_TRACES: usize = 80;
/// Templates taken near each telling span when looking for candidates.
const NEAR_TEMPLATES: usize = 64;
/// Below this cosine a template is not the same failure told another way.
const FAILURE_FLOOR: f32 = 0.45;
/// Below this cosine a template is not the same operation (latency and shape candidates).
const OPERATION_FLOOR: f32 = 0.75;
/// Telling spans of the given trace that candidates are looked for by, at most.
const MAX_TELLING: usize = 4;
/// Weight of the shape (services and operations shared) beside the failure or the slowness.
/// Small: it orders traces with the same failure, and never lifts another failure above it.
const SHAPE_WEIGHT: f32 = 0.1;
/// How much a failure's duration (for its operation) counts beside what it says: a timeout
/// after 30 s and a refusal after 5 ms may be worded alike by the same application.
const FAILURE_DURATION_WEIGHT: f32 = 0.2;
/// The wrappers of a failure (failed spans whose own children failed too) count this much of its
/// origin, all together.
const WRAPPER_WEIGHT: f32 = 0.5;

/// What two traces are compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimilarBy {
    /// The failure: the same thing failed, told however each service tells it.
    Failure,
    /// The slowness: the same operations slow for what they usually take.
    Latency,
    /// The shape: the same services and operations.
    Shape,
}

impl SimilarBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SimilarBy::Failure => "failure",
            SimilarBy::Latency => "latency",
            SimilarBy::Shape => "shape",
        }
    }

    pub fn parse(text: &str) -> Option<SimilarBy> {
        match text {
            "failure" => Some(SimilarBy::Failure),
            "latency" => Some(SimilarBy::Latency),
            "shape" => Some(SimilarBy::Shape),
            _ => None,
        }
    }
}

/// A request for traces like one trace.
#[derive(Debug, Clone)]
pub struct SimilarRequest {
    pub trace_id: TraceId,
    /// `None`: by failure when the trace failed, by latency when it was slow, else by shape.
    pub by: Option<SimilarBy>,
    pub limit: usize,
    /// Narrows the span through which a trace is found (service, time range).
    pub filter: SpanFilter,
}

/// A span of the given trace that says what it is about: it failed, or it was slow.
#[derive(Debug, Clone, PartialEq)]
pub struct TellingSpan {
    pub span_id: SpanId,
    pub service: String,
    pub name: String,
    /// How many times its operation's typical duration it took, where the operation has a
    /// trusted baseline.
    pub times_typical: Option<f64>,
    /// 1 for a failure's origin or the slowest span, less for a wrapper that passes it on.
    pub weight: f32,
    template_id: i64,
}

/// Traces like one trace.
#[derive(Debug, Clone)]
pub struct SimilarTraces {
    /// What the traces were compared by.
    pub by: SimilarBy,
    /// The spans of the given trace that were looked for (empty by shape).
    pub telling: Vec<TellingSpan>,
    /// Set when the mode asked for does not apply (a failure asked of a trace that did not fail).
    pub note: Option<String>,
    pub results: Vec<SimilarTrace>,
}

/// A trace found similar, with why.
#[derive(Debug, Clone)]
pub struct SimilarTrace {
    pub trace_id: TraceId,
    /// The ranking score: the telling part (failure or latency) and the shape, weighted.
    pub score: f32,
    /// How alike the telling spans are (0–1; the shape's Jaccard index by shape).
    pub telling_similarity: f32,
    /// Share of operations (service, span name) the two traces have in common (Jaccard, 0–1).
    pub shape_similarity: f32,
    /// The span of that trace that matched (its failure, its slow span), or its root by shape.
    pub span: Span,
    /// Read with the log records joined to the span.
    pub summary: SpanSummary,
    /// The most severe log line told about the span (`semtrace_summary::error_log`).
    pub error_log: Option<String>,
    pub reason: Reason,
    /// The span's template, once the writer gave it one.
    pub template_id: Option<i64>,
}

/// What two traces share and how they differ.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reason {
    /// The telling span of the given trace and its best match in this one.
    pub shared: Option<SharedSpan>,
    /// The root operation (`service: name`) when both traces have the same.
    pub same_route: Option<String>,
    /// Operations (`service: name`) only in the given trace.
    pub only_in_given: Vec<String>,
    /// Operations only in this trace.
    pub only_in_this: Vec<String>,
}

/// A telling span matched in another trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedSpan {
    /// `failure` or `slow`.
    pub kind: &'static str,
    /// Its operation in the given trace (`service: name`).
    pub given: String,
    /// Its operation in this trace.
    pub this: String,
    /// Cosine of the two spans' templates.
    pub similarity: f32,
    /// Times its operation's typical duration the span took, in each trace, where the
    /// operation has a trusted baseline.
    pub given_times_typical: Option<f64>,
    pub this_times_typical: Option<f64>,
}

/// One span's pair in a comparison of two traces.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpan {
    pub a: SpanProfile,
    pub b: SpanProfile,
    /// Whether the two spans share a template (same outcome, same masked summary).
    pub same_template: bool,
}

/// Two traces compared span by span (Jaeger's trace comparison, matched by template).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Spans matched by their place in the tree (the operations from the root down) and their
    /// order there, by template first, then by operation alone.
    pub matched: Vec<MatchedSpan>,
    pub only_in_a: Vec<SpanProfile>,
    pub only_in_b: Vec<SpanProfile>,
}

/// A trace as similarity reads it.
struct Profile {
    spans: Vec<SpanProfile>,
    operations: HashSet<(String, String)>,
}

impl Profile {
    fn new(spans: Vec<SpanProfile>) -> Self {
        let operations = spans.iter().map(|span| (span.service.clone(), span.name.clone())).collect();
        Profile { spans, operations }
    }

    fn root(&self) -> Option<&SpanProfile> {
        let ids: HashSet<SpanId> = self.spans.iter().map(|span| span.span_id).collect();
        self.spans
            .iter()
            .filter(|span| span.parent_span_id.is_none_or(|parent| !ids.contains(&parent)))
            .min_by_key(|span| (span.start_ns, std::cmp::Reverse(span.end_ns)))
    }

    fn shape(&self, other: &Profile) -> f32 {
        let shared = self.operations.intersection(&other.operations).count();
        let union = self.operations.len() + other.operations.len() - shared;
        if union == 0 {
            0.0
        } else {
            shared as f32 / union as f32
        }
    }

    /// The spans that say the trace failed: failed with a reason (else any failure), weighted 1
    /// where the failure starts and [`WRAPPER_WEIGHT`] on spans whose children failed too.
    fn failures(&self) -> Vec<(&SpanProfile, f32)> {
        let explained = self.spans.iter().any(|span| span.outcome == Outcome::FailedWithReason);
        let telling = |span: &SpanProfile| {
            span.template_id.is_some()
                && if explained { span.outcome == Outcome::FailedWithReason } else { span.outcome.is_failure() }
        };
        let failing_parents: HashSet<SpanId> =
            self.spans.iter().filter(|span| telling(span)).filter_map(|span| span.parent_span_id).collect();
        // However deep the call chain, its wrappers together weigh WRAPPER_WEIGHT: a failure
        // passed up through six services is still one failure.
        let wrappers =
            self.spans.iter().filter(|span| telling(span) && failing_parents.contains(&span.span_id)).count();
        let wrapper_weight = WRAPPER_WEIGHT / wrappers.max(1) as f32;
        self.spans
            .iter()
            .filter(|span| telling(span))
            .map(|span| (span, if failing_parents.contains(&span.span_id) { wrapper_weight } else { 1.0 }))
            .collect()
    }

    /// The spans slow for their operation whose slowness is their own (no child of theirs is
    /// where their extra time went, `crate::slow_child`), with how many times typical they took.
    fn slow(&self, baselines: &Baselines) -> Vec<(&SpanProfile, f64)> {
        self.spans
            .iter()
            .filter(|span| span.template_id.is_some())
            .filter_map(|span| times_typical(span, baselines).map(|times| (span, times)))
            .filter(|(_, times)| *times >= SLOW_RATIO)
            .filter(|(span, _)| slow_child(&self.spans, span, baselines).is_none())
            .collect()
    }
}

fn operation(span: &SpanProfile) -> String {
    format!("{}: {}", span.service, span.name)
}

/// How alike two slownesses are: 1 for the same ratio, less as they part (on a log scale).
fn closeness(a: f64, b: f64) -> f32 {
    let (a, b) = (a.max(1.0).ln(), b.max(1.0).ln());
    if a.max(b) <= 0.0 {
        return 1.0;
    }
    (a.min(b) / a.max(b)) as f32
}

/// How alike two failures' durations are, each in times its operation's typical duration:
/// 1 for the same, 1/e at a hundredfold apart (on a log scale, gentle near the typical).
fn duration_closeness(a: f64, b: f64) -> f32 {
    (-((a + 1.0).ln() - (b + 1.0).ln()).abs() / 100f64.ln()).exp() as f32
}

/// How alike two telling spans are: the cosine of their vectors, times how alike their durations
/// are for their operations (slowness: all of it; a failure: [`FAILURE_DURATION_WEIGHT`] of it).
fn alike(by: SimilarBy, want: &Wanted, offer: &Wanted) -> f32 {
    let similarity = index::dot(&want.vector, &offer.vector).max(0.0);
    match (want.times_typical, offer.times_typical) {
        (Some(a), Some(b)) if by == SimilarBy::Latency => similarity * closeness(a, b),
        (Some(a), Some(b)) => {
            similarity * (1.0 - FAILURE_DURATION_WEIGHT + FAILURE_DURATION_WEIGHT * duration_closeness(a, b))
        }
        _ => similarity,
    }
}

/// A telling span to be matched: its template's vector and its weight.
#[derive(Clone)]
struct Wanted {
    vector: Vec<f32>,
    weight: f32,
    times_typical: Option<f64>,
    operation: String,
}

/// The best match of each wanted span among `offered`, weighted: (score 0–1, index of the
/// wanted span with the most weighted match, the matching offered span and its similarity).
fn weighted_match<'a>(
    by: SimilarBy,
    wanted: &[Wanted],
    offered: &[(Wanted, &'a SpanProfile)],
) -> (f32, Option<(usize, &'a SpanProfile, f32)>) {
    let total: f32 = wanted.iter().map(|want| want.weight).sum();
    if total <= 0.0 || offered.is_empty() {
        return (0.0, None);
    }
    let mut score = 0.0;
    let mut best: Option<(usize, &SpanProfile, f32, f32)> = None;
    for (position, want) in wanted.iter().enumerate() {
        let matched =
            offered.iter().map(|(offer, span)| (alike(by, want, offer), *span)).max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((similarity, span)) = matched {
            score += want.weight * similarity;
            if best.is_none_or(|(_, _, _, weighted)| want.weight * similarity > weighted) {
                best = Some((position, span, similarity, want.weight * similarity));
            }
        }
    }
    (score / total, best.map(|(position, span, similarity, _)| (position, span, similarity)))
}

impl Semantic {
    /// A telling span's vector: for a failure, its failure alone where the template has one
    /// (the same failure told by another service matches fully), else its template's.
    fn wanted(&self, span: &SpanProfile, weight: f32, times_typical: Option<f64>, by: SimilarBy) -> Option<Wanted> {
        let id = span.template_id?;
        let failure = if by == SimilarBy::Failure { self.index.failure(id) } else { None };
        let vector = failure.or_else(|| self.index.get(id))?;
        Some(Wanted { vector, weight, times_typical, operation: operation(span) })
    }

    /// Traces like the given one, best first, each with what the two share. `None` when the
    /// trace is not stored.
    pub async fn similar(&self, request: &SimilarRequest) -> Result<Option<SimilarTraces>, SearchError> {
        let given_id = request.trace_id;
        let mut profiles = self.store.trace_profiles(&[given_id]).await?;
        let Some(spans) = profiles.remove(&given_id) else { return Ok(None) };
        let given = Profile::new(spans);
        let operations: Vec<(String, String)> = given.operations.iter().cloned().collect();
        let mut baselines = self.store.operation_baselines(&operations).await?;

        let failures: Vec<(TellingSpan, Wanted)> = given
            .failures()
            .into_iter()
            .filter_map(|(span, weight)| {
                let times = times_typical(span, &baselines);
                Some((telling(span, weight, times)?, self.wanted(span, weight, times, SimilarBy::Failure)?))
            })
            .collect();
        let slow: Vec<(TellingSpan, Wanted)> = {
            let mut slow = given.slow(&baselines);
            slow.sort_by(|a, b| b.1.total_cmp(&a.1));
            let slowest = slow.first().map_or(1.0, |(_, times)| times.ln());
            slow.into_iter()
                .filter_map(|(span, times)| {
                    let weight = (times.ln() / slowest) as f32;
                    Some((
                        telling(span, weight, Some(times))?,
                        self.wanted(span, weight, Some(times), SimilarBy::Latency)?,
                    ))
                })
                .collect()
        };
        let by = request.by.unwrap_or(if !failures.is_empty() {
            SimilarBy::Failure
        } else if !slow.is_empty() {
            SimilarBy::Latency
        } else {
            SimilarBy::Shape
        });
        let mut telling_spans = match by {
            SimilarBy::Failure => failures,
            SimilarBy::Latency => slow,
            SimilarBy::Shape => Vec::new(),
        };
        telling_spans.sort_by(|a, b| b.1.weight.total_cmp(&a.1.weight));
        let note = match by {
            SimilarBy::Failure if telling_spans.is_empty() => {
                Some("the trace did not fail (or its failing spans are not indexed yet)")
            }
            SimilarBy::Latency if telling_spans.is_empty() => {
                Some("no span of the trace was slow for its operation (or no operation has a baseline yet)")
            }
            _ => None,
        };
        let root_template = given.root().and_then(|root| root.template_id);
        if note.is_some() || (by == SimilarBy::Shape && root_template.is_none()) {
            return Ok(Some(SimilarTraces {
                by,
                telling: telling_spans.into_iter().map(|(span, _)| span).collect(),
                note: note.map(str::to_owned),
                results: Vec::new(),
            }));
        }

        // Candidates: traces with a span whose template is near a telling span's (or the root's).
        let mut filter = SpanFilter { exclude_trace: Some(given_id), ..request.filter.clone() };
        let mut near: HashMap<i64, f32> = HashMap::new();
        let add_near = |vector: &[f32], weight: f32, floor: f32, near: &mut HashMap<i64, f32>| {
            for ranked in self.index.top(vector, NEAR_TEMPLATES, floor, Priors::default()) {
                let entry = near.entry(ranked.id).or_insert(0.0);
                *entry = entry.max(ranked.similarity * weight);
            }
        };
        match by {
            SimilarBy::Failure => {
                filter.failed = Some(true);
                for (span, want) in telling_spans.iter().take(MAX_TELLING) {
                    if self.index.failure(span.template_id).is_some() {
                        for (id, similarity) in self.index.top_failures(&want.vector, NEAR_TEMPLATES, FAILURE_FLOOR) {
                            let entry = near.entry(id).or_insert(0.0);
                            *entry = entry.max(similarity * want.weight);
                        }
                    }
                    if let Some(vector) = self.index.get(span.template_id) {
                        add_near(&vector, want.weight, FAILURE_FLOOR, &mut near);
                    }
                }
            }
            SimilarBy::Latency => {
                for (span, want) in telling_spans.iter().take(MAX_TELLING) {
                    add_near(&want.vector, want.weight, OPERATION_FLOOR, &mut near);
                    if let (Some(times), Some(duration)) = (
                        span.times_typical,
                        given.spans.iter().find(|s| s.span_id == span.span_id).map(|s| s.duration_ns()),
                    ) {
                        // Only spans about as slow for the operation as this one was.
                        let typical = duration as f64 / times;
                        let floor = (typical * SLOW_RATIO) as u64;
                        filter.min_duration_ns = Some(filter.min_duration_ns.map_or(floor, |min| min.min(floor)));
                    }
                }
            }
            SimilarBy::Shape => {
                if let Some(vector) = root_template.and_then(|id| self.index.get(id)) {
                    add_near(&vector, 1.0, OPERATION_FLOOR, &mut near);
                }
            }
        }
        let mut near: Vec<(i64, f32)> = near.into_iter().collect();
        near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let ids: Vec<i64> = near.iter().map(|(id, _)| *id).collect();
        let hits = self.store.spans_of_templates(&ids, &filter, CANDIDATE_TRACES, PerTrace::OneSpan).await?;
        let candidate_ids: Vec<TraceId> = hits.iter().map(|hit| hit.span.trace_id).collect();
        let mut candidates = self.store.trace_profiles(&candidate_ids).await?;
        if by != SimilarBy::Shape {
            let mut missing: Vec<(String, String)> = candidates
                .values()
                .flatten()
                .map(|span| (span.service.clone(), span.name.clone()))
                .filter(|key| !baselines.contains_key(key))
                .collect();
            missing.sort();
            missing.dedup();
            baselines.extend(self.store.operation_baselines(&missing).await?);
        }

        let wanted: Vec<Wanted> = telling_spans.iter().map(|(_, want)| want.clone()).collect();
        let mut scored = Vec::with_capacity(hits.len());
        for hit in hits {
            let Some(spans) = candidates.remove(&hit.span.trace_id) else { continue };
            let candidate = Profile::new(spans);
            let shape = given.shape(&candidate);
            let (telling_similarity, shared) = match by {
                SimilarBy::Shape => (shape, None),
                SimilarBy::Failure | SimilarBy::Latency => {
                    let offered: Vec<(Wanted, &SpanProfile)> = match by {
                        SimilarBy::Failure => candidate
                            .failures()
                            .into_iter()
                            .filter_map(|(span, weight)| {
                                let times = times_typical(span, &baselines);
                                Some((self.wanted(span, weight, times, by)?, span))
                            })
                            .collect(),
                        _ => {
                            let slow = candidate.slow(&baselines);
                            let slowest = slow.iter().map(|(_, times)| times.ln()).fold(f64::MIN, f64::max);
                            slow.into_iter()
                                .filter_map(|(span, times)| {
                                    let weight = (times.ln() / slowest) as f32;
                                    Some((self.wanted(span, weight, Some(times), by)?, span))
                                })
                                .collect()
                        }
                    };
                    // Both ways: a trace that failed the same way and also otherwise is less alike.
                    let (forward, best) = weighted_match(by, &wanted, &offered);
                    let back: Vec<Wanted> = offered.iter().map(|(offer, _)| offer.clone()).collect();
                    let backward = reverse_match(by, &back, &wanted);
                    let shared = best.map(|(position, span, similarity)| SharedSpan {
                        kind: if by == SimilarBy::Failure { "failure" } else { "slow" },
                        given: wanted[position].operation.clone(),
                        this: operation(span),
                        similarity,
                        given_times_typical: wanted[position].times_typical,
                        this_times_typical: times_typical(span, &baselines),
                    });
                    ((forward + backward) / 2.0, shared)
                }
            };
            let score = match by {
                SimilarBy::Shape => {
                    let templates = |profile: &Profile| -> HashSet<i64> {
                        profile.spans.iter().filter_map(|span| span.template_id).collect()
                    };
                    let (a, b) = (templates(&given), templates(&candidate));
                    let shared = a.intersection(&b).count() as f32;
                    let union = (a.len() + b.len()) as f32 - shared;
                    // Same operations first; the same templates (outcomes, statements) next.
                    0.7 * shape + 0.3 * if union > 0.0 { shared / union } else { 0.0 }
                }
                _ => (1.0 - SHAPE_WEIGHT) * telling_similarity + SHAPE_WEIGHT * shape,
            };
            let reason = reason(&given, &candidate, shared);
            scored.push((score, telling_similarity, shape, hit.span, reason, hit.template_id));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.3.start_time_unix_nano.cmp(&a.3.start_time_unix_nano)));
        scored.truncate(request.limit);

        let mut logs = span_evidence(&*self.store, scored.iter().map(|found| &found.3)).await?;
        let results = scored
            .into_iter()
            .map(|(score, telling_similarity, shape_similarity, span, reason, template_id)| {
                let logs = logs.remove(&(span.trace_id, span.span_id)).unwrap_or_default();
                let summary = semtrace_summary::summarize_with_logs(&span, &logs);
                let error_log = semtrace_summary::error_log(&span, &logs);
                SimilarTrace {
                    trace_id: span.trace_id,
                    score,
                    telling_similarity,
                    shape_similarity,
                    span,
                    summary,
                    error_log,
                    reason,
                    template_id,
                }
            })
            .collect();
        Ok(Some(SimilarTraces {
            by,
            telling: telling_spans.into_iter().map(|(span, _)| span).collect(),
            note: None,
            results,
        }))
    }

    /// Two traces compared span by span; `None` when either is not stored.
    pub async fn compare(&self, a: TraceId, b: TraceId) -> Result<Option<Comparison>, SearchError> {
        let mut profiles = self.store.trace_profiles(&[a, b]).await?;
        let (Some(a), Some(b)) = (profiles.remove(&a), profiles.remove(&b)) else { return Ok(None) };
        Ok(Some(compare(a, b)))
    }
}

fn telling(span: &SpanProfile, weight: f32, times_typical: Option<f64>) -> Option<TellingSpan> {
    Some(TellingSpan {
        span_id: span.span_id,
        service: span.service.clone(),
        name: span.name.clone(),
        times_typical,
        weight,
        template_id: span.template_id?,
    })
}

/// How well the candidate's telling spans are matched in the given trace's (weighted mean of
/// each one's best cosine).
fn reverse_match(by: SimilarBy, candidate: &[Wanted], given: &[Wanted]) -> f32 {
    let total: f32 = candidate.iter().map(|want| want.weight).sum();
    if total <= 0.0 || given.is_empty() {
        return 0.0;
    }
    let score: f32 = candidate
        .iter()
        .map(|want| {
            let best = given.iter().map(|offer| alike(by, want, offer)).fold(0.0f32, f32::max);
            want.weight * best
        })
        .sum();
    score / total
}

fn reason(given: &Profile, candidate: &Profile, shared: Option<SharedSpan>) -> Reason {
    let same_route = match (given.root(), candidate.root()) {
        (Some(a), Some(b)) if a.service == b.service && a.name == b.name => Some(operation(a)),
        _ => None,
    };
    let listed = |operations: Vec<&(String, String)>| {
        let mut listed: Vec<String> =
            operations.into_iter().map(|(service, name)| format!("{service}: {name}")).collect();
        listed.sort();
        listed
    };
    Reason {
        shared,
        same_route,
        only_in_given: listed(given.operations.difference(&candidate.operations).collect()),
        only_in_this: listed(candidate.operations.difference(&given.operations).collect()),
    }
}

/// Where a span sits: the operations from the root down to it.
fn paths(spans: &[SpanProfile]) -> Vec<String> {
    let by_id: HashMap<SpanId, usize> =
        spans.iter().enumerate().map(|(position, span)| (span.span_id, position)).collect();
    spans
        .iter()
        .map(|span| {
            let mut path = vec![operation(span)];
            let mut parent = span.parent_span_id;
            while let Some(position) = parent.and_then(|id| by_id.get(&id).copied()) {
                path.push(operation(&spans[position]));
                parent = spans[position].parent_span_id;
                if path.len() > spans.len() {
                    break; // a cycle in bad data
                }
            }
            path.reverse();
            path.join(" > ")
        })
        .collect()
}

/// Matches spans of two traces by their path, first with the same template, then by operation
/// alone, each in start order within its path.
fn compare(mut a: Vec<SpanProfile>, mut b: Vec<SpanProfile>) -> Comparison {
    a.sort_by_key(|span| (span.start_ns, span.span_id));
    b.sort_by_key(|span| (span.start_ns, span.span_id));
    let (paths_a, paths_b) = (paths(&a), paths(&b));
    let mut taken_a = vec![false; a.len()];
    let mut taken_b = vec![false; b.len()];
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    for by_template in [true, false] {
        let key = |path: &str, span: &SpanProfile| (path.to_owned(), by_template.then_some(span.template_id));
        let mut waiting: HashMap<(String, Option<Option<i64>>), Vec<usize>> = HashMap::new();
        for (position, span) in b.iter().enumerate().rev() {
            if !taken_b[position] {
                waiting.entry(key(&paths_b[position], span)).or_default().push(position);
            }
        }
        for (position, span) in a.iter().enumerate() {
            if taken_a[position] {
                continue;
            }
            if let Some(other) = waiting.get_mut(&key(&paths_a[position], span)).and_then(Vec::pop) {
                taken_a[position] = true;
                taken_b[other] = true;
                pairs.push((position, other, a[position].template_id == b[other].template_id));
            }
        }
    }
    pairs.sort();
    let matched = pairs
        .into_iter()
        .map(|(x, y, same_template)| MatchedSpan { a: a[x].clone(), b: b[y].clone(), same_template })
        .collect();
    let rest = |spans: Vec<SpanProfile>, taken: &[bool]| -> Vec<SpanProfile> {
        spans.into_iter().zip(taken).filter(|(_, taken)| !**taken).map(|(span, _)| span).collect()
    };
    Comparison { matched, only_in_a: rest(a, &taken_a), only_in_b: rest(b, &taken_b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semtrace_store::OperationBaseline;

    fn span(id: u8, parent: Option<u8>, service: &str, name: &str, template: i64, duration_ms: u64) -> SpanProfile {
        SpanProfile {
            span_id: SpanId::from_bytes([id; 8]).unwrap(),
            parent_span_id: parent.map(|parent| SpanId::from_bytes([parent; 8]).unwrap()),
            service: service.into(),
            name: name.into(),
            start_ns: u64::from(id) * 1000,
            end_ns: u64::from(id) * 1000 + duration_ms * 1_000_000,
            template_id: Some(template),
            outcome: Outcome::Healthy,
        }
    }

    #[test]
    fn a_comparison_matches_by_path_and_template_then_by_operation() {
        let a = vec![
            span(1, None, "web", "GET /cart", 10, 50),
            span(2, Some(1), "cart", "SELECT", 20, 5),
            span(3, Some(1), "cart", "SELECT", 20, 6),
            span(4, Some(1), "cache", "GET", 30, 1),
        ];
        let mut b = vec![
            span(1, None, "web", "GET /cart", 11, 900),
            span(2, Some(1), "cart", "SELECT", 21, 800),
            span(3, Some(1), "cart", "SELECT", 20, 5),
            span(5, Some(1), "auth", "check", 40, 2),
        ];
        b[1].outcome = Outcome::FailedWithReason;
        let comparison = compare(a, b);
        let pairs: Vec<(u8, u8, bool)> = comparison
            .matched
            .iter()
            .map(|pair| (pair.a.span_id.as_bytes()[0], pair.b.span_id.as_bytes()[0], pair.same_template))
            .collect();
        // The first SELECT of a pairs with b's healthy SELECT (same template); the second with
        // the failed one, by operation alone; the roots differ in template only.
        assert_eq!(pairs, vec![(1, 1, false), (2, 3, true), (3, 2, false)]);
        assert_eq!(comparison.only_in_a.iter().map(|span| span.name.as_str()).collect::<Vec<_>>(), vec!["GET"]);
        assert_eq!(comparison.only_in_b.iter().map(|span| span.name.as_str()).collect::<Vec<_>>(), vec!["check"]);
    }

    #[test]
    fn failures_weigh_their_origin_over_the_wrappers() {
        let mut spans = vec![
            span(1, None, "web", "POST /pay", 10, 50),
            span(2, Some(1), "pay", "charge", 20, 40),
            span(3, Some(2), "pay", "INSERT", 30, 30),
            span(4, Some(1), "web", "render", 40, 1),
        ];
        for span in &mut spans[..3] {
            span.outcome = Outcome::FailedWithReason;
        }
        let profile = Profile::new(spans);
        let weights: Vec<(String, f32)> =
            profile.failures().into_iter().map(|(span, weight)| (span.name.clone(), weight)).collect();
        let wrapper = WRAPPER_WEIGHT / 2.0;
        assert_eq!(weights, vec![("POST /pay".into(), wrapper), ("charge".into(), wrapper), ("INSERT".into(), 1.0)]);
    }

    #[test]
    fn slowness_is_told_by_the_span_it_starts_in() {
        let spans = vec![
            span(1, None, "web", "GET /report", 10, 2000),
            span(2, Some(1), "db", "SELECT", 20, 1900),
            span(3, Some(1), "cache", "GET", 30, 1),
        ];
        let baseline = |typical_ms: f64| OperationBaseline { spans: 100, typical_ns: typical_ms * 1e6 };
        let baselines: HashMap<(String, String), OperationBaseline> = [
            (("web".to_owned(), "GET /report".to_owned()), baseline(100.0)),
            (("db".to_owned(), "SELECT".to_owned()), baseline(10.0)),
            (("cache".to_owned(), "GET".to_owned()), baseline(1.0)),
        ]
        .into();
        let profile = Profile::new(spans);
        let slow: Vec<(String, u64)> = profile
            .slow(&baselines)
            .into_iter()
            .map(|(span, times)| (span.name.clone(), times.round() as u64))
            .collect();
        assert_eq!(slow, vec![("SELECT".to_owned(), 190)], "the root is slow because of its child");
    }

    #[test]
    fn failures_taking_very_different_times_are_less_alike() {
        assert_eq!(duration_closeness(5.0, 5.0), 1.0);
        assert!(duration_closeness(1.0, 3.0) > 0.8, "near the typical, a little apart");
        assert!(duration_closeness(0.5, 3000.0) < 0.2, "a refusal and a timeout");
        let want =
            |times| Wanted { vector: vec![1.0, 0.0], weight: 1.0, times_typical: times, operation: String::new() };
        let same_text = alike(SimilarBy::Failure, &want(Some(0.5)), &want(Some(3000.0)));
        assert!((1.0 - FAILURE_DURATION_WEIGHT..0.85).contains(&same_text), "{same_text}");
        assert_eq!(alike(SimilarBy::Failure, &want(None), &want(Some(3000.0))), 1.0, "no baseline: the text alone");
        assert!(alike(SimilarBy::Latency, &want(Some(10.0)), &want(Some(1000.0))) < 0.5);
    }

    #[test]
    fn closeness_is_one_for_equal_slowness_and_falls_as_they_part() {
        assert_eq!(closeness(10.0, 10.0), 1.0);
        assert!(closeness(10.0, 100.0) < 0.6);
        assert!(closeness(10.0, 20.0) > closeness(10.0, 100.0));
    }
}
