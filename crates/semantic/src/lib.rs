//! Semantic search: spans found by meaning, through their templates.
//!
//! Life of a search: the query is embedded (on the blocking pool, through an LRU cache of
//! `cache_size` queries), scored against every template vector ([`index`]), optionally blended
//! with a full-text match over template text (hybrid), and the store returns the spans of the
//! best templates, newest first within a template, best span per trace. Templates get their
//! vectors from the [`Indexer`], off the ingest path.

pub mod category;
pub mod index;
mod indexer;
mod question;
mod similar;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use semtrace_embed::Embedder;
use semtrace_model::{Span, TraceId};
use semtrace_store::policy::PerTrace;
use semtrace_store::{SpanFilter, Store, StoreError};
use semtrace_summary::{Outcome, SpanSummary};

use crate::index::{Priors, Ranked, VectorIndex};
pub use crate::indexer::{Classification, Indexer, IndexerSettings};
pub use crate::question::{asks_unreported, asserts_failure, denies_failure, intent_of, Intent, Question};
pub use crate::similar::{
    Comparison, MatchedSpan, Reason, SharedSpan, SimilarBy, SimilarRequest, SimilarTrace, SimilarTraces, TellingSpan,
};

/// Templates considered per search at most; the store stops reading as soon as it has enough.
const MAX_CANDIDATES: usize = 1000;

/// Where a search's nearest templates come from.
#[derive(Clone, Copy)]
enum Nearest<'a> {
    /// The exact scan of the in-memory index, for this query vector.
    Scan(&'a [f32]),
    /// The store's approximate index found these: (template id, similarity).
    Found(&'a [(i64, f32)]),
}

/// Added to the ranking score of templates whose spans failed and say why (an exception, an
/// error message or log): at equal meaning such a failure ranks first, since search is mostly
/// for problems (filter `status=OK` for healthy spans). Spans that only pass on a failure (a
/// parent's bare ERROR or HTTP 500) get no prior: they would crowd out the spans that explain.
/// Measured on the labelled corpus with `semtrace bench quality`.
pub const FAILURE_PRIOR: f32 = 0.15;

/// How much more the failure prior weighs for a query that says in words that something failed
/// ([`asserts_failure`]): 0.25 instead of 0.15 by default. Healthy MongoDB reads outranked the
/// failures for "document store down for the contacts, food and ticket office features";
/// measured on the three held-out corpora and ours (README, "Asserted failure"): ×5/3 and ×7/3
/// gave the same figures.
const ASSERTED_FAILURE_SCALE: f32 = 5.0 / 3.0;

/// The BM25 score at which the lexical part of hybrid ranking reaches half its weight.
const LEXICAL_HALF_SCORE: f64 = 8.0;

/// For questions about latency, added to a span's score in proportion to how slow it was *for
/// its operation*: 0 at or below the operation's typical duration (its baseline, the geometric
/// mean of its spans'), the full weight at [`SLOWNESS_FULL_RATIO`] times it or more, on a log
/// scale between. A fixed cut-off cannot tell a slow 300 ms cache read from a normal 3 s report.
pub const SLOWNESS_WEIGHT: f32 = 0.3;
/// How many times its operation's typical duration a span takes to get all of [`SLOWNESS_WEIGHT`].
const SLOWNESS_FULL_RATIO: f64 = 100.0;
/// Templates without a "slow" cue whose slow spans a latency search reads apart, and how many
/// of each ([`Semantic::slow_spans_of_uncued_templates`]).
const UNCUED_TEMPLATES_READ: usize = 16;
const UNCUED_SPANS_READ: usize = 20;
/// Spans an operation needs before its baseline is trusted.
const MIN_BASELINE_SPANS: u64 = 5;

/// Weight of the full-text match in hybrid ranking (semantic similarity weighs 1).
pub const DEFAULT_LEXICAL_WEIGHT: f32 = 0.05;
/// How much a template loses per unit of cosine with a subject the query excludes, beyond the
/// candidates' median cosine with it plus [`EXCLUSION_MARGIN`]. Relative to the median because a
/// short subject ("gRPC", "the cache") sits at a different cosine with every template; measured
/// on 36 blind exclusion queries over the three held-out corpora (README, "Exclusions").
const EXCLUSION_WEIGHT: f32 = 1.0;
const EXCLUSION_MARGIN: f32 = 0.05;
/// Traces read per result wanted by a failure search with one result per trace: a trace found
/// through a wrapper is ranked by its cause ([`WRAPPER_SHARE`]) and may fall below traces found
/// further down the template ranking.
const CAUSE_OVERREAD: usize = 3;
/// The share of a wrapper's lead over its cause that a trace shown by that cause keeps. A wrapper
/// ("NestedServletException: … ABORTED: … Lock wait timeout") reads like the request around the
/// failure as much as like the failure, so its full score ranked lock waits first for "gave up
/// waiting for another microservice's HTTP reply". Measured with [`CAUSE_OVERREAD`] on the three
/// held-out corpora and their exclusion questions (README, "Causes over wrappers"): 1.0, 0.5
/// and 0 were tried; 0.5 kept MRR best.
const WRAPPER_SHARE: f32 = 0.5;
/// Traces read per result wanted when failed traces are left out ([`denies_failure`]), and the
/// factor by which a search for unreported failures reads on ([`Question::unreported`]).
const HEALTHY_OVERREAD: usize = 4;
/// The most spans a search for unreported failures reads before it answers with what it kept.
const UNREPORTED_READ_BOUND: usize = 2_560;

/// Which traces or spans a failure search keeps, as the query asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    All,
    /// Traces with no failed span ([`denies_failure`]).
    Healthy,
    /// Failed spans the request did not report ([`Question::unreported`]).
    Unreported,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding the query failed: {0}")]
    Embed(String),
}

/// How results are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// Cosine similarity of query and template.
    Semantic,
    /// Similarity plus a weighted, saturated BM25 match of the query's words in the template.
    Hybrid,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub limit: usize,
    /// Minimum cosine similarity of a result's template to the query.
    pub threshold: f32,
    pub filter: SpanFilter,
    /// One result per trace (its best span), or every span.
    pub per_trace: PerTrace,
    pub ranking: Ranking,
    /// Added to the score of templates of failed spans ([`FAILURE_PRIOR`] by default).
    pub failure_prior: f32,
    /// Weight of the lexical match in hybrid ranking ([`DEFAULT_LEXICAL_WEIGHT`] by default).
    pub lexical_weight: f32,
    /// What the query asks about; `None`: told from the query's meaning.
    pub intent: Option<Intent>,
}

/// The results of a search, and the intent they were ranked for.
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub intent: Intent,
    /// The query denied failure ([`denies_failure`]) and no outcome filter was given: failed
    /// spans, and with one result per trace traces with a failed span, were left out.
    pub healthy_only: bool,
    /// The query asked for failures the request did not report ([`Question::unreported`]) and
    /// no outcome filter was given: only failed spans that answered success themselves, or whose
    /// trace's root did not fail, were kept.
    pub unreported_only: bool,
    /// Subjects the query excluded ([`Question::excluded`]).
    pub excluded: Vec<String>,
    pub hits: Vec<SearchHit>,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub span: Span,
    /// Cosine similarity of the query and the span's template.
    pub similarity: f32,
    /// The ranking score (equal to `similarity` in semantic ranking).
    pub score: f32,
    /// Read with the log records joined to the span, as its template was.
    pub summary: SpanSummary,
    /// The most severe log line told about the span (`semtrace_summary::error_log`).
    pub error_log: Option<String>,
    /// The span's template, once the writer gave it one.
    pub template_id: Option<i64>,
}

/// The semantic side of semtrace: model, vector index, query cache.
pub struct Semantic {
    store: Arc<dyn Store>,
    embedder: Arc<Embedder>,
    index: Arc<VectorIndex>,
    cache: Mutex<LruCache<String, Arc<Vec<f32>>>>,
    cache_size: usize,
}

impl Semantic {
    /// Loads the stored template vectors into the index and starts the indexer thread.
    /// Call from within a multi-threaded Tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        embedder: Arc<Embedder>,
        cache_size: usize,
        classification: Classification,
        indexer: IndexerSettings,
    ) -> Result<(Arc<Semantic>, Indexer), SearchError> {
        let index = Arc::new(VectorIndex::new(embedder.dimension()));
        // Read first: an embedding another node stores while these load is found again later.
        let watermark = store.embedding_watermark().await?;
        let stored = store.template_embeddings().await?;
        let refused: usize = stored.iter().map(|template| index.insert_stored(template)).sum();
        if refused > 0 {
            return Err(SearchError::Store(StoreError::Internal(format!(
                "{refused} stored template embeddings do not have the model's {} dimensions: \
                 the data directory was indexed with another model",
                embedder.dimension()
            ))));
        }
        tracing::info!(templates = stored.len(), model = embedder.name(), "semantic index loaded");
        let indexer = Indexer::start(
            store.clone(),
            embedder.clone(),
            index.clone(),
            classification,
            tokio::runtime::Handle::current(),
            indexer,
            watermark,
        )
        .map_err(|err| SearchError::Embed(format!("cannot start the indexer thread: {err}")))?;
        let capacity = NonZeroUsize::new(cache_size.max(1)).expect("at least 1");
        let semantic = Semantic { store, embedder, index, cache: Mutex::new(LruCache::new(capacity)), cache_size };
        Ok((Arc::new(semantic), indexer))
    }

    pub fn model_name(&self) -> &str {
        self.embedder.name()
    }

    pub fn dimension(&self) -> usize {
        self.embedder.dimension()
    }

    /// Templates in the vector index.
    pub fn indexed_templates(&self) -> usize {
        self.index.len()
    }

    /// Query embeddings cached, and the cache's capacity.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.cache.lock().expect("cache lock").len(), self.cache_size)
    }

    /// The query's embedding, from the cache or the model (on the blocking pool).
    pub async fn embed_query(&self, query: &str) -> Result<Arc<Vec<f32>>, SearchError> {
        let key = query.trim().to_owned();
        if let Some(vector) = self.cache.lock().expect("cache lock").get(&key) {
            metrics::counter!("semtrace_embedding_cache_hits_total").increment(1);
            return Ok(vector.clone());
        }
        metrics::counter!("semtrace_embedding_cache_misses_total").increment(1);
        let embedder = self.embedder.clone();
        // Read as templates are: identifiers split into words (`semtrace_summary::readable`).
        let text = semtrace_summary::readable(&key).into_owned();
        let started = std::time::Instant::now();
        let mut vectors = tokio::task::spawn_blocking(move || embedder.embed(&[text.as_str()]))
            .await
            .map_err(|err| SearchError::Embed(err.to_string()))?
            .map_err(|err| SearchError::Embed(err.to_string()))?;
        metrics::histogram!("semtrace_query_embed_seconds").record(started.elapsed().as_secs_f64());
        let vector = Arc::new(vectors.pop().unwrap_or_default());
        self.cache.lock().expect("cache lock").put(key, vector.clone());
        Ok(vector)
    }

    /// The query's lexical match per template, BM25 saturated into [0, 1): a lone weak match
    /// stays weak, whatever else matched. Empty in semantic mode.
    async fn lexical_scores(&self, request: &SearchRequest, text: &str) -> Result<HashMap<i64, f32>, SearchError> {
        if request.ranking == Ranking::Semantic {
            return Ok(HashMap::new());
        }
        let lexical = self.store.match_templates(text, MAX_CANDIDATES).await?;
        Ok(lexical
            .into_iter()
            .map(|(id, score)| (id, (score.max(0.0) / (score.max(0.0) + LEXICAL_HALF_SCORE)) as f32))
            .collect())
    }

    /// Templates ranked for a query, best first.
    fn rank_templates(
        &self,
        request: &SearchRequest,
        intent: Intent,
        nearest: Nearest<'_>,
        lexical: &HashMap<i64, f32>,
        excluded: &[Arc<Vec<f32>>],
        question: &Question,
    ) -> Vec<Ranked> {
        // A query that says something failed ("document store down") wants failures more than one
        // that only describes what happened ("two passengers wanted the same seat").
        let failure = match question.asserts_failure {
            true => request.failure_prior * ASSERTED_FAILURE_SCALE,
            false => request.failure_prior,
        };
        let priors = match intent {
            // One that also speaks of latency ("added latency, lost packets or names that don't
            // resolve") wants slow spans too, after the failures.
            Intent::Failure if question.mentions_latency => Priors { failure, slow: request.failure_prior },
            Intent::Failure => Priors { failure, slow: 0.0 },
            Intent::Latency => Priors { failure: -request.failure_prior, slow: request.failure_prior },
        };
        let mut semantic = match nearest {
            Nearest::Found(found) => self.index.rank_found(found, request.threshold, priors),
            Nearest::Scan(query) => self.index.top(query, MAX_CANDIDATES, request.threshold, priors),
        };
        if !excluded.is_empty() {
            exclude(&self.index, &mut semantic, excluded);
            semantic.sort_by(Ranked::best_first);
        }
        if request.ranking == Ranking::Semantic {
            return semantic;
        }
        let mut ranked: Vec<Ranked> = semantic
            .iter()
            .map(|ranked| {
                let lexical = lexical.get(&ranked.id).copied().unwrap_or(0.0);
                Ranked { score: ranked.score + request.lexical_weight * lexical, ..*ranked }
            })
            .collect();
        ranked.sort_by(Ranked::best_first);
        ranked
    }

    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        if request.limit == 0 || request.query.trim().is_empty() {
            let intent = request.intent.unwrap_or(Intent::Failure);
            return Ok(SearchResults {
                intent,
                healthy_only: false,
                unreported_only: false,
                excluded: Vec::new(),
                hits: Vec::new(),
            });
        }
        let question = Question::read(&request.query);
        // A query that says its spans did not fail asks for healthy ones, unless the caller
        // chose an outcome.
        // One that asks for failures the request did not report wants failed spans, and then
        // only those whose failure stayed in the logs.
        let keep = if request.filter.failed.is_some() {
            Keep::All
        } else if question.denies_failure {
            Keep::Healthy
        } else if question.unreported && request.intent.unwrap_or(question.intent) == Intent::Failure {
            Keep::Unreported
        } else {
            Keep::All
        };
        let (healthy_only, unreported_only) = (keep == Keep::Healthy, keep == Keep::Unreported);
        let narrowed;
        let request = if keep == Keep::All {
            request
        } else {
            narrowed = SearchRequest {
                filter: SpanFilter { failed: Some(unreported_only), ..request.filter.clone() },
                ..request.clone()
            };
            &narrowed
        };
        // What it excludes is taken out of what is embedded and matched, and counts against the
        // templates like it. The full-text match needs no embedding: it runs while the query is
        // embedded.
        let (query, lexical) =
            tokio::join!(self.embed_query(&question.text), self.lexical_scores(request, &question.text));
        let query = query?;
        let mut excluded = Vec::with_capacity(question.excluded.len());
        for subject in &question.excluded {
            excluded.push(self.embed_query(subject).await?);
        }
        let intent = request.intent.unwrap_or(question.intent);
        // Past a store's size, its own approximate index finds the nearest templates.
        let nearest = self.store.nearest_templates(&query, MAX_CANDIDATES).await?;
        if nearest.is_some() {
            metrics::counter!("semtrace_search_ann_total").increment(1);
        }
        let nearest = match nearest.as_deref() {
            Some(found) => Nearest::Found(found),
            None => Nearest::Scan(&query),
        };
        let ranked = self.rank_templates(request, intent, nearest, &lexical?, &excluded, &question);
        let ids: Vec<i64> = ranked.iter().map(|ranked| ranked.id).collect();
        let scores: HashMap<i64, Ranked> = ranked.iter().map(|ranked| (ranked.id, *ranked)).collect();
        let mut scores = scores;
        let hits = match intent {
            Intent::Failure => self.failures(request, &query, &ids, &mut scores, keep).await?,
            Intent::Latency => {
                self.slowest_for_their_operation(request, &query, &ids, &mut scores, healthy_only).await?
            }
        };
        let mut logs = span_evidence(&*self.store, hits.iter().map(|hit| &hit.span)).await?;
        let hits = hits
            .into_iter()
            .map(|hit| {
                let template = hit.template_id.and_then(|id| scores.get(&id));
                let (similarity, score) = template.map_or((0.0, 0.0), |ranked| (ranked.similarity, ranked.score));
                // A latency search's store score is its slowness bonus (see below).
                let score = score + hit.score as f32;
                let logs = logs.remove(&(hit.span.trace_id, hit.span.span_id)).unwrap_or_default();
                let summary = semtrace_summary::summarize_with_logs(&hit.span, &logs);
                let error_log = semtrace_summary::error_log(&hit.span, &logs);
                SearchHit { span: hit.span, similarity, score, summary, error_log, template_id: hit.template_id }
            })
            .collect::<Vec<_>>();
        let mut hits = hits;
        if request.per_trace == PerTrace::OneSpan {
            // A trace ranks by the span that stands for it (a cause may outrank its wrapper's
            // template); stable, so ties keep the store's order.
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            hits.truncate(request.limit);
        }
        Ok(SearchResults { intent, healthy_only, unreported_only, excluded: question.excluded, hits })
    }

    /// For a failure question: spans of the best templates, one per trace (a wrapper shown by
    /// its cause) or every span; the traces or spans `keep` says.
    async fn failures(
        &self,
        request: &SearchRequest,
        query: &[f32],
        ids: &[i64],
        scores: &mut HashMap<i64, Ranked>,
        keep: Keep,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        let read = |limit: usize| self.store.spans_of_templates(ids, &request.filter, limit, request.per_trace);
        if keep == Keep::Unreported {
            // Most failures found are reported ones: read on until a page is kept, or the
            // store has no more, or the bound is reached.
            let mut wanted = request.limit.saturating_mul(HEALTHY_OVERREAD);
            loop {
                let hits = read(wanted).await?;
                let exhausted = hits.len() < wanted;
                let mut kept = self.unreported_failures(hits).await?;
                if kept.len() >= request.limit || exhausted || wanted >= UNREPORTED_READ_BOUND {
                    kept.truncate(request.limit);
                    return Ok(kept);
                }
                wanted = wanted.saturating_mul(HEALTHY_OVERREAD).min(UNREPORTED_READ_BOUND);
            }
        }
        if request.per_trace == PerTrace::EverySpan {
            return Ok(read(request.limit).await?);
        }
        if keep == Keep::Healthy {
            // Some traces found will have failed elsewhere: read more, keep the healthy.
            let hits = read(request.limit.saturating_mul(HEALTHY_OVERREAD)).await?;
            let mut hits = self.healthy_traces(hits).await?;
            hits.truncate(request.limit);
            return Ok(hits);
        }
        let hits = read(request.limit).await?;
        let full = hits.len() >= request.limit;
        let (shown, demoted) = self.causes_over_wrappers(request, query, hits, scores).await?;
        if !(demoted && full) {
            return Ok(shown);
        }
        // A trace shown by its cause fell: traces the page did not reach may now rank above it.
        let more = read(request.limit.saturating_mul(CAUSE_OVERREAD)).await?;
        Ok(self.causes_over_wrappers(request, query, more, scores).await?.0)
    }

    /// The hits whose trace has no failed span (by the outcome its spans' templates record),
    /// in their order.
    async fn healthy_traces(
        &self,
        hits: Vec<semtrace_store::SpanHit>,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        if hits.is_empty() {
            return Ok(hits);
        }
        let traces: Vec<TraceId> = hits.iter().map(|hit| hit.span.trace_id).collect();
        let profiles = self.store.trace_profiles(&traces).await?;
        Ok(hits
            .into_iter()
            .filter(|hit| {
                profiles
                    .get(&hit.span.trace_id)
                    .is_none_or(|spans| spans.iter().all(|span| span.outcome == Outcome::Healthy))
            })
            .collect())
    }

    /// The failed hits whose failure the request did not report, in their order: the span
    /// answered success itself (`semtrace_summary::reported_failure`: no error status, tag or
    /// response code; it only logged the failure), or the root of its trace did not fail (work
    /// done after the request answered, a consumer's).
    async fn unreported_failures(
        &self,
        hits: Vec<semtrace_store::SpanHit>,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        let reported = |hit: &semtrace_store::SpanHit| semtrace_summary::reported_failure(&hit.span);
        // A reported failure under a root: whether the root failed tells.
        let traces: Vec<TraceId> = hits
            .iter()
            .filter(|hit| hit.span.parent_span_id.is_some() && reported(hit))
            .map(|hit| hit.span.trace_id)
            .collect();
        let profiles = match traces.is_empty() {
            true => HashMap::new(),
            false => self.store.trace_profiles(&traces).await?,
        };
        let root_healthy = |hit: &semtrace_store::SpanHit| {
            profiles.get(&hit.span.trace_id).is_some_and(|spans| {
                spans.iter().any(|span| span.parent_span_id.is_none() && span.outcome == Outcome::Healthy)
            })
        };
        Ok(hits.into_iter().filter(|hit| !reported(hit) || root_healthy(hit)).collect())
    }

    /// One span per trace: where the span found is a failure that only passes on a failure
    /// below it (a wrapper: "Request processing failed; nested exception is …"), the trace is
    /// represented by the span that states the cause instead: a failed span under it, with a
    /// reason (an exception, a message, or log lines, joined records included) and no failed
    /// child, whose template is at least as similar to the query as the search's threshold. The
    /// trace is ranked by its cause plus [`WRAPPER_SHARE`] of the wrapper's lead, if any. The
    /// best `limit` come back, and whether any trace fell for it (ranks below its wrapper's).
    async fn causes_over_wrappers(
        &self,
        request: &SearchRequest,
        query: &[f32],
        hits: Vec<semtrace_store::SpanHit>,
        scores: &mut HashMap<i64, Ranked>,
    ) -> Result<(Vec<semtrace_store::SpanHit>, bool), SearchError> {
        // The cause must pass the filter too; the profiles can tell its service and time, not
        // its status or duration: with those filters the span found stands.
        let filter = &request.filter;
        if hits.is_empty()
            || filter.status.is_some()
            || filter.failed == Some(false)
            || filter.min_duration_ns.is_some()
            || filter.max_duration_ns.is_some()
        {
            return Ok((hits, false));
        }
        // Only a failed span can be a wrapper: read the traces of those alone (an error status,
        // or a template of an explained failure, log evidence included).
        let failed = |hit: &semtrace_store::SpanHit| {
            hit.span.is_error()
                || hit.template_id.and_then(|id| self.index.kind(id)).is_some_and(|kind| kind.explained_failure)
        };
        let traces: Vec<TraceId> = hits.iter().filter(|hit| failed(hit)).map(|hit| hit.span.trace_id).collect();
        if traces.is_empty() {
            return Ok((hits, false));
        }
        let profiles = self.store.trace_profiles(&traces).await?;
        // Each hit with its cause, if it has one: (span, template, bonus).
        let mut ranked = Vec::with_capacity(hits.len());
        let mut demoted = false;
        for hit in hits {
            let cause = profiles
                .get(&hit.span.trace_id)
                .and_then(|spans| Self::cause_under(spans, hit.span.span_id))
                .filter(|cause| passes_by_profile(filter, cause))
                .and_then(|cause| {
                    let template = cause.template_id?;
                    let similarity = self.index.score(template, query)?;
                    (similarity >= request.threshold).then_some((cause.span_id, template, similarity))
                });
            let Some((span_id, template, similarity)) = cause else {
                ranked.push((hit, None));
                continue;
            };
            // The cause's template joins the ranked ones if the search had not ranked it; the
            // trace keeps a share of its wrapper's lead (as a bonus on this hit alone, not on the
            // template, which other traces may be found by).
            let wrapper = hit.template_id.and_then(|id| scores.get(&id)).map_or(0.0, |ranked| ranked.score);
            let own = scores
                .entry(template)
                .or_insert(Ranked { id: template, similarity, score: similarity + request.failure_prior })
                .score;
            let bonus = f64::from(((wrapper - own) * WRAPPER_SHARE).max(0.0));
            demoted |= bonus < f64::from(wrapper - own);
            ranked.push((hit, Some((span_id, template, bonus))));
        }
        // Ranked, then cut to the page, before the causes' spans are read.
        let total = |(hit, cause): &(semtrace_store::SpanHit, Option<(semtrace_model::SpanId, i64, f64)>)| {
            let (template, bonus) =
                cause.map_or((hit.template_id, 0.0), |(_, template, bonus)| (Some(template), bonus));
            f64::from(template.and_then(|id| scores.get(&id)).map_or(0.0, |ranked| ranked.score)) + hit.score + bonus
        };
        ranked.sort_by(|a, b| total(b).total_cmp(&total(a)));
        ranked.truncate(request.limit);
        let mut out = Vec::with_capacity(ranked.len());
        for (hit, cause) in ranked {
            let Some((span_id, template, bonus)) = cause else {
                out.push(hit);
                continue;
            };
            match self.span(hit.span.trace_id, span_id).await? {
                Some(span) => {
                    out.push(semtrace_store::SpanHit { span, template_id: Some(template), score: hit.score + bonus })
                }
                None => out.push(hit),
            }
        }
        Ok((out, demoted))
    }

    /// One span of a stored trace.
    async fn span(&self, trace_id: TraceId, span_id: semtrace_model::SpanId) -> Result<Option<Span>, SearchError> {
        let trace = self.store.get_trace(trace_id).await?;
        Ok(trace.and_then(|trace| trace.spans.into_iter().find(|span| span.span_id == span_id)))
    }

    /// The failed span that states the cause of `wrapper`'s failure: a failed descendant with a
    /// reason and no failed child, the shallowest first (then the earliest). `None` when the
    /// wrapper itself is such a span, or has no failed descendant with a reason.
    fn cause_under(
        spans: &[semtrace_store::SpanProfile],
        wrapper: semtrace_model::SpanId,
    ) -> Option<&semtrace_store::SpanProfile> {
        let failed = |span: &semtrace_store::SpanProfile| span.outcome != Outcome::Healthy;
        if !spans.iter().any(|span| span.span_id == wrapper && failed(span)) {
            return None;
        }
        let children = |id: semtrace_model::SpanId| spans.iter().filter(move |span| span.parent_span_id == Some(id));
        let mut level: Vec<&semtrace_store::SpanProfile> = children(wrapper).filter(|span| failed(span)).collect();
        while !level.is_empty() {
            level.sort_by_key(|span| span.start_ns);
            if let Some(cause) = level
                .iter()
                .find(|span| span.outcome == Outcome::FailedWithReason && !children(span.span_id).any(&failed))
            {
                return Some(cause);
            }
            level = level.iter().flat_map(|span| children(span.span_id)).filter(|span| failed(span)).collect();
        }
        None
    }

    /// For a latency question: spans of the best templates, each scored by its template and by
    /// how slow it was for its operation ([`SLOWNESS_WEIGHT`]), best first. The bonus is left in
    /// each hit's `score`.
    async fn slowest_for_their_operation(
        &self,
        request: &SearchRequest,
        query: &[f32],
        ids: &[i64],
        scores: &mut HashMap<i64, Ranked>,
        healthy_only: bool,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        // Several spans per template: the slow ones of an operation share its template with
        // the fast ones unless the summary's own cue ("slow") set them apart.
        let wanted = (request.limit * 8).clamp(100, 2000);
        let mut hits = self.store.spans_of_templates(ids, &request.filter, wanted, PerTrace::EverySpan).await?;
        let mut operations: Vec<(String, String)> =
            hits.iter().map(|hit| (hit.span.service_name().to_owned(), hit.span.name.clone())).collect();
        operations.sort();
        operations.dedup();
        let baselines = self.store.operation_baselines(&operations).await?;
        hits.extend(self.slow_spans_of_uncued_templates(request, ids, &hits, &baselines).await?);
        for hit in &mut hits {
            hit.score = typical_of_hit(hit, &baselines).map_or(0.0, |typical| {
                self.latency_bonus(request, hit.template_id, hit.span.duration_nanos() as f64, typical)
            });
        }
        let total = |scores: &HashMap<i64, Ranked>, hit: &semtrace_store::SpanHit| {
            hit.template_id.and_then(|id| scores.get(&id)).map_or(0.0, |ranked| ranked.score) + hit.score as f32
        };
        let by_total = |scores: &HashMap<i64, Ranked>, a: &semtrace_store::SpanHit, b: &semtrace_store::SpanHit| {
            total(scores, b)
                .total_cmp(&total(scores, a))
                .then(b.span.start_time_unix_nano.cmp(&a.span.start_time_unix_nano))
        };
        hits.sort_by(|a, b| by_total(scores, a, b));
        if request.per_trace == PerTrace::OneSpan {
            let mut seen = std::collections::HashSet::new();
            hits.retain(|hit| seen.insert(hit.span.trace_id));
            if healthy_only {
                hits.truncate(request.limit.saturating_mul(HEALTHY_OVERREAD));
                hits = self.healthy_traces(hits).await?;
            }
            // Twice the page: a trace shown by its origin may fall below one that was not.
            hits.truncate(request.limit.saturating_mul(2));
            hits = self.origins_over_slow_wrappers(request, query, hits, scores).await?;
            hits.sort_by(|a, b| by_total(scores, a, b));
        }
        hits.truncate(request.limit);
        Ok(hits)
    }

    /// The slow spans of the best templates without a "slow" cue: such a template holds an
    /// operation's fast spans and the slow ones the store did not cue (3 to 10 times typical,
    /// under 100 ms, or stored before the store cued them: `SpanRow::slow_template`), and its
    /// newest spans, which `hits` holds, may all be fast. For
    /// each of the first [`UNCUED_TEMPLATES_READ`] templates that has spans in `hits` but none slow
    /// for its operation ([`SLOW_RATIO`]), up to [`UNCUED_SPANS_READ`] spans that are.
    async fn slow_spans_of_uncued_templates(
        &self,
        request: &SearchRequest,
        ids: &[i64],
        hits: &[semtrace_store::SpanHit],
        baselines: &Baselines,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        let mut found = Vec::new();
        let mut read = 0;
        for &template in ids {
            if read == UNCUED_TEMPLATES_READ {
                break;
            }
            if self.index.kind(template).is_some_and(|kind| kind.slow) {
                continue;
            }
            let of_template: Vec<&semtrace_store::SpanHit> =
                hits.iter().filter(|hit| hit.template_id == Some(template)).collect();
            let Some(typical) = of_template.iter().find_map(|hit| typical_of_hit(hit, baselines)) else { continue };
            let slow_enough = (SLOW_RATIO * typical) as u64;
            if of_template.iter().any(|hit| hit.span.duration_nanos() >= slow_enough) {
                continue;
            }
            read += 1;
            let mut filter = request.filter.clone();
            filter.min_duration_ns = Some(filter.min_duration_ns.map_or(slow_enough, |min| min.max(slow_enough)));
            let slow =
                self.store.spans_of_templates(&[template], &filter, UNCUED_SPANS_READ, PerTrace::EverySpan).await?;
            // Spans of the same template name one operation (its template names it).
            found.extend(slow.into_iter().filter(|hit| typical_of_hit(hit, baselines).is_some()));
        }
        Ok(found)
    }

    /// What a latency question adds to a span's template score: its [`slowness`] for its
    /// operation, and the slow prior when the span is slow for its operation ([`SLOW_RATIO`])
    /// though its template did not get the "slow" cue (a 60 ms query that normally takes 15 ms
    /// is slow for its operation; the store cues from 10 times and 100 ms).
    fn latency_bonus(&self, request: &SearchRequest, template: Option<i64>, duration_ns: f64, typical_ns: f64) -> f64 {
        let cued = template.and_then(|id| self.index.kind(id)).is_some_and(|kind| kind.slow);
        let slow = duration_ns >= SLOW_RATIO * typical_ns.max(1_000.0);
        slowness(duration_ns, typical_ns) + if slow && !cued { f64::from(request.failure_prior) } else { 0.0 }
    }

    /// One span per trace, for a latency question: where the span found was slow only because
    /// a span under it was (a gateway waiting on the slow query it called), the trace is shown
    /// and ranked by that span instead, its *origin* ([`slow_origin`]), with the origin's own
    /// template score and slowness: "service-to-service calls unusually slow" then finds the
    /// slow HTTP calls, not the gateway spans that every slow trace has.
    async fn origins_over_slow_wrappers(
        &self,
        request: &SearchRequest,
        query: &[f32],
        hits: Vec<semtrace_store::SpanHit>,
        scores: &mut HashMap<i64, Ranked>,
    ) -> Result<Vec<semtrace_store::SpanHit>, SearchError> {
        // Profiles tell an origin's service and time, not its status: with a status filter the
        // span found stands.
        let filter = &request.filter;
        if filter.status.is_some() || filter.failed == Some(true) {
            return Ok(hits);
        }
        let traces: Vec<TraceId> = hits.iter().filter(|hit| hit.score > 0.0).map(|hit| hit.span.trace_id).collect();
        if traces.is_empty() {
            return Ok(hits);
        }
        let profiles = self.store.trace_profiles(&traces).await?;
        let mut operations: Vec<(String, String)> =
            profiles.values().flatten().map(|span| (span.service.clone(), span.name.clone())).collect();
        operations.sort();
        operations.dedup();
        let baselines = self.store.operation_baselines(&operations).await?;
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            let origin = profiles
                .get(&hit.span.trace_id)
                .filter(|_| hit.score > 0.0)
                .and_then(|spans| slow_origin(spans, hit.span.span_id, &baselines))
                .filter(|origin| {
                    passes_by_profile(filter, origin)
                        && filter.failed.is_none_or(|failed| failed == (origin.outcome != Outcome::Healthy))
                        && filter.min_duration_ns.is_none_or(|min| origin.duration_ns() >= min)
                        && filter.max_duration_ns.is_none_or(|max| origin.duration_ns() <= max)
                });
            let Some((origin, template)) = origin.and_then(|origin| Some((origin, origin.template_id?))) else {
                out.push(hit);
                continue;
            };
            let Some(ranked) = scores.get(&template).copied().or_else(|| {
                let similarity = self.index.score(template, query)?;
                let kind = self.index.kind(template)?;
                let priors = Priors { failure: -request.failure_prior, slow: request.failure_prior };
                Some(Ranked { id: template, similarity, score: similarity + priors.of(kind) })
            }) else {
                out.push(hit);
                continue;
            };
            let Some(span) = self.span(hit.span.trace_id, origin.span_id).await? else {
                out.push(hit);
                continue;
            };
            scores.insert(template, ranked);
            let bonus = typical_ns(origin, &baselines).map_or(0.0, |typical| {
                self.latency_bonus(request, Some(template), origin.duration_ns() as f64, typical)
            });
            out.push(semtrace_store::SpanHit { span, template_id: Some(template), score: bonus });
        }
        Ok(out)
    }
}

/// Lowers the score of candidates that read like a subject the query excludes: by
/// [`EXCLUSION_WEIGHT`] per unit of cosine beyond the candidates' median plus
/// [`EXCLUSION_MARGIN`] (the closest subject counts).
fn exclude(index: &VectorIndex, candidates: &mut [Ranked], excluded: &[Arc<Vec<f32>>]) {
    let likeness: Vec<f32> = candidates
        .iter()
        .map(|ranked| excluded.iter().filter_map(|subject| index.score(ranked.id, subject)).fold(f32::MIN, f32::max))
        .collect();
    let mut sorted = likeness.clone();
    sorted.sort_by(f32::total_cmp);
    let Some(&median) = sorted.get(sorted.len() / 2) else { return };
    for (ranked, likeness) in candidates.iter_mut().zip(likeness) {
        ranked.score -= EXCLUSION_WEIGHT * (likeness - median - EXCLUSION_MARGIN).max(0.0);
    }
}

/// Whether a span standing in for the one found passes the search's filter as far as its
/// profile tells: service and start time (not status or attributes).
fn passes_by_profile(filter: &SpanFilter, span: &semtrace_store::SpanProfile) -> bool {
    filter.service.as_ref().is_none_or(|service| *service == span.service)
        && filter.operation.as_ref().is_none_or(|operation| *operation == span.name)
        && filter.start_ns.is_none_or(|start| span.start_ns >= start)
        && filter.end_ns.is_none_or(|end| span.start_ns < end)
}

/// Operations' baselines, by (service, span name).
pub(crate) type Baselines = HashMap<(String, String), semtrace_store::OperationBaseline>;

/// An operation's typical duration, when its baseline has enough spans to trust.
fn typical_of(baselines: &Baselines, service: &str, name: &str) -> Option<f64> {
    let baseline = baselines.get(&(service.to_owned(), name.to_owned()))?;
    (baseline.spans >= MIN_BASELINE_SPANS).then_some(baseline.typical_ns.max(1_000.0))
}

/// A span's operation's typical duration ([`typical_of`]).
fn typical_ns(span: &semtrace_store::SpanProfile, baselines: &Baselines) -> Option<f64> {
    typical_of(baselines, &span.service, &span.name)
}

/// A found span's operation's typical duration ([`typical_of`]).
fn typical_of_hit(hit: &semtrace_store::SpanHit, baselines: &Baselines) -> Option<f64> {
    typical_of(baselines, hit.span.service_name(), &hit.span.name)
}

/// How many times its operation's typical duration a span took.
pub(crate) fn times_typical(span: &semtrace_store::SpanProfile, baselines: &Baselines) -> Option<f64> {
    typical_ns(span, baselines).map(|typical| span.duration_ns() as f64 / typical)
}

/// Times its operation's typical duration from which a span is slow (for latency search and
/// similar traces alike).
pub const SLOW_RATIO: f64 = 3.0;
/// The share of a slow span's extra time (over its operation's typical duration) that a slow
/// child must account for to be where that time went.
const SLOW_ORIGIN_SHARE: f64 = 0.5;

/// The child of `parent` where its extra time went: the child that took most extra time, if it
/// is slow itself ([`SLOW_RATIO`]) and accounts for at least [`SLOW_ORIGIN_SHARE`] of the
/// parent's, alone or with the other slow children of its operation. A parent without a
/// baseline owes its whole duration.
pub(crate) fn slow_child<'a>(
    spans: &'a [semtrace_store::SpanProfile],
    parent: &semtrace_store::SpanProfile,
    baselines: &Baselines,
) -> Option<&'a semtrace_store::SpanProfile> {
    let extra = |span: &semtrace_store::SpanProfile, typical: f64| (span.duration_ns() as f64 - typical).max(0.0);
    let owed = extra(parent, typical_ns(parent, baselines).unwrap_or(0.0)) * SLOW_ORIGIN_SHARE;
    // Slow children with their extra time, and each operation's slow children's together: nine
    // conversions each 600 ms slower than usual are where a page's 5 s went, though none alone
    // accounts for half of it.
    let slow: Vec<(f64, &semtrace_store::SpanProfile)> = spans
        .iter()
        .filter(|span| span.parent_span_id == Some(parent.span_id))
        .filter_map(|span| {
            let typical = typical_ns(span, baselines)?;
            (span.duration_ns() as f64 >= SLOW_RATIO * typical).then_some((extra(span, typical), span))
        })
        .collect();
    let together = |span: &semtrace_store::SpanProfile| -> f64 {
        slow.iter()
            .filter(|(_, other)| other.service == span.service && other.name == span.name)
            .map(|(own, _)| own)
            .sum()
    };
    slow.iter()
        .filter(|(own, span)| *own >= owed || together(span) >= owed)
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.start_ns.cmp(&a.1.start_ns)))
        .map(|(_, span)| *span)
}

/// Where the extra time of a slow span went: from `from` down through [`slow_child`] while
/// there is one. `None` when `from` is its own origin (nothing under it explains its time).
fn slow_origin<'a>(
    spans: &'a [semtrace_store::SpanProfile],
    from: semtrace_model::SpanId,
    baselines: &Baselines,
) -> Option<&'a semtrace_store::SpanProfile> {
    let start = spans.iter().find(|span| span.span_id == from)?;
    let mut current = start;
    while let Some(child) = slow_child(spans, current, baselines) {
        current = child;
    }
    (current.span_id != start.span_id).then_some(current)
}

/// How slow a span was for its operation, as a share of [`SLOWNESS_WEIGHT`]: 0 at or below its
/// typical duration, all of it at [`SLOWNESS_FULL_RATIO`] times it, log-scaled between.
fn slowness(duration_ns: f64, typical_ns: f64) -> f64 {
    let ratio = duration_ns / typical_ns.max(1_000.0);
    if ratio <= 1.0 {
        return 0.0;
    }
    f64::from(SLOWNESS_WEIGHT) * (ratio.ln() / SLOWNESS_FULL_RATIO.ln()).min(1.0)
}

/// The severe log records about each span (`Store::span_evidence`), by span.
pub async fn span_evidence<'a>(
    store: &dyn Store,
    spans: impl Iterator<Item = &'a Span>,
) -> Result<HashMap<(TraceId, semtrace_model::SpanId), Vec<semtrace_model::LogRecord>>, StoreError> {
    let keys: Vec<_> = spans.map(|span| (span.trace_id, span.span_id)).collect();
    let mut by_span: HashMap<_, Vec<_>> = HashMap::new();
    if keys.is_empty() {
        return Ok(by_span);
    }
    for record in store.span_evidence(&keys).await? {
        if let Some(key) = record.span_key() {
            by_span.entry(key).or_default().push(record);
        }
    }
    Ok(by_span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::TemplateKind;

    fn profile(id: u8, parent: Option<u8>, outcome: Outcome, start: u64) -> semtrace_store::SpanProfile {
        semtrace_store::SpanProfile {
            span_id: semtrace_model::SpanId::from_bytes([id; 8]).unwrap(),
            parent_span_id: parent.map(|parent| semtrace_model::SpanId::from_bytes([parent; 8]).unwrap()),
            service: "svc".into(),
            name: format!("op{id}"),
            start_ns: start,
            end_ns: start + 10,
            template_id: Some(i64::from(id)),
            outcome,
        }
    }

    #[test]
    fn a_wrapper_gives_way_to_the_failure_it_passes_on() {
        use Outcome::{Failed, FailedWithReason, Healthy};
        let id = |n: u8| semtrace_model::SpanId::from_bytes([n; 8]).unwrap();
        // 1 wraps (with a nested message) 2, which passes on 4's failure; 3 failed on its own,
        // but later; 5 is a healthy sibling; 4 states the cause and has no failed child.
        let spans = vec![
            profile(1, None, FailedWithReason, 0),
            profile(2, Some(1), Failed, 1),
            profile(3, Some(1), FailedWithReason, 5),
            profile(4, Some(2), FailedWithReason, 2),
            profile(5, Some(4), Healthy, 3),
        ];
        // The shallowest cause first: 3 is a cause at depth one.
        assert_eq!(Semantic::cause_under(&spans, id(1)).map(|span| span.span_id), Some(id(3)));
        assert_eq!(Semantic::cause_under(&spans, id(2)).map(|span| span.span_id), Some(id(4)));
        assert!(Semantic::cause_under(&spans, id(4)).is_none(), "a cause stands for itself");
        assert!(Semantic::cause_under(&spans, id(5)).is_none(), "a healthy span wraps nothing");
        let without_reason = vec![profile(1, None, Failed, 0), profile(2, Some(1), Failed, 1)];
        assert!(Semantic::cause_under(&without_reason, id(1)).is_none(), "nothing below says why");
    }

    #[test]
    fn a_slow_span_gives_way_to_where_its_time_went() {
        let id = |n: u8| semtrace_model::SpanId::from_bytes([n; 8]).unwrap();
        let span = |n: u8, parent: Option<u8>, name: &str, millis: u64| semtrace_store::SpanProfile {
            span_id: id(n),
            parent_span_id: parent.map(id),
            service: "svc".into(),
            name: name.into(),
            start_ns: 0,
            end_ns: millis * 1_000_000,
            template_id: Some(i64::from(n)),
            outcome: Outcome::Healthy,
        };
        // Typical: gateway 50 ms, call 40 ms, server 30 ms, query 5 ms, cache 1 ms.
        let typical = |millis: f64| semtrace_store::OperationBaseline { spans: 100, typical_ns: millis * 1e6 };
        let typical: Baselines = [("gateway", 50.0), ("call", 40.0), ("server", 30.0), ("query", 5.0), ("cache", 1.0)]
            .into_iter()
            .map(|(name, millis)| (("svc".to_owned(), name.to_owned()), typical(millis)))
            .collect();
        // The gateway took 8 s: its call took 7.9 s, whose server took 7.8 s in one query.
        let slow_query = vec![
            span(1, None, "gateway", 8000),
            span(2, Some(1), "call", 7900),
            span(3, Some(2), "server", 7800),
            span(4, Some(3), "query", 7700),
            span(5, Some(3), "cache", 4),
        ];
        assert_eq!(slow_origin(&slow_query, id(1), &typical).map(|span| span.span_id), Some(id(4)));
        assert_eq!(slow_origin(&slow_query, id(3), &typical).map(|span| span.span_id), Some(id(4)));
        assert!(slow_origin(&slow_query, id(4), &typical).is_none(), "the origin stands for itself");
        // The call took 6 s, its server 25 ms: the time went on the way (the call is the origin).
        let slow_hop = vec![
            span(1, None, "gateway", 6100),
            span(2, Some(1), "call", 6000),
            span(3, Some(2), "server", 25),
            span(4, Some(3), "query", 5),
        ];
        assert_eq!(slow_origin(&slow_hop, id(1), &typical).map(|span| span.span_id), Some(id(2)));
        // A slow child that accounts for little of its parent's extra time explains nothing: the
        // gateway spent 8 s itself; its cache read was 4x slow (3 ms more).
        let own_time = vec![span(1, None, "gateway", 8000), span(2, Some(1), "cache", 4)];
        assert!(slow_origin(&own_time, id(1), &typical).is_none());
        // Nine queries each 600 ms slower than usual: together they are where the gateway's 5.5 s
        // went, though none alone is half of it; the slowest of them stands for them.
        let mut many_slow = vec![span(1, None, "gateway", 5500)];
        many_slow.extend((2..=10).map(|n| span(n, Some(1), "query", 600 + u64::from(n))));
        assert_eq!(slow_origin(&many_slow, id(1), &typical).map(|span| span.span_id), Some(id(10)));
        // Nine slow reads of different operations do not add up.
        let mut scattered = vec![span(1, None, "gateway", 5500)];
        scattered.extend(
            (2..=10).map(|n| semtrace_store::SpanProfile { name: format!("read{n}"), ..span(n, Some(1), "", 600) }),
        );
        let mut scattered_typical = typical.clone();
        for n in 2..=10 {
            let read = semtrace_store::OperationBaseline { spans: 100, typical_ns: 5e6 };
            scattered_typical.insert(("svc".to_owned(), format!("read{n}")), read);
        }
        assert!(slow_origin(&scattered, id(1), &scattered_typical).is_none());
        // Without a baseline a child cannot be told slow.
        let unknown = vec![span(1, None, "gateway", 8000), span(2, Some(1), "unknown", 7900)];
        assert!(slow_origin(&unknown, id(1), &typical).is_none());
    }

    #[test]
    fn slowness_is_relative_to_the_operation_and_saturates() {
        assert_eq!(slowness(1e6, 2e6), 0.0, "faster than usual");
        assert_eq!(slowness(2e6, 2e6), 0.0);
        let ten_times = slowness(2e7, 2e6);
        assert!(
            (ten_times - f64::from(SLOWNESS_WEIGHT) / 2.0).abs() < 1e-6,
            "10x is half way on a log scale: {ten_times}"
        );
        assert_eq!(slowness(2e9, 2e6), f64::from(SLOWNESS_WEIGHT), "1000x saturates");
        assert!(slowness(3e8, 3e6) > slowness(3e9, 3e9), "a slow cache read outranks a normal long report");
    }

    #[test]
    fn templates_like_an_excluded_subject_lose_their_lead() {
        let index = VectorIndex::new(3);
        let unit = |v: [f32; 3]| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.map(|x| x / norm)
        };
        // 1 reads like the excluded subject (the x axis), 2 and 3 do not.
        for (id, vector) in [(1, [1.0, 1.0, 0.0]), (2, [0.0, 1.0, 0.2]), (3, [0.1, 0.4, 1.0])] {
            assert!(index.insert(id, &unit(vector), TemplateKind::default()));
        }
        let mut candidates: Vec<Ranked> =
            [(1, 0.70), (2, 0.65), (3, 0.30)].map(|(id, score)| Ranked { id, similarity: score, score }).to_vec();
        exclude(&index, &mut candidates, &[Arc::new(unit([1.0, 0.0, 0.0]).to_vec())]);
        candidates.sort_by(Ranked::best_first);
        let order: Vec<i64> = candidates.iter().map(|ranked| ranked.id).collect();
        assert_eq!(order, [2, 3, 1], "{candidates:?}");
        // The median candidate and those below it keep their score.
        assert_eq!((candidates[0].score, candidates[1].score), (0.65, 0.30));
    }
}
