//! The indexer: a thread of its own that embeds new templates in batches and makes them
//! searchable. Ingest never waits for it: spans are acknowledged once stored, and the
//! semantic index catches up (`embedding_backlog` in health says how far behind it is).
//!
//! A template's vector is its text's embedding blended with the embeddings of the failure
//! categories its `Category:` sentence names ([`crate::index::blend`]): a category's few plain
//! words, embedded alone, say what went wrong more clearly than the same words diluted in a
//! long line of service names, statements and addresses. The category vectors are embedded
//! once per process and kept.
//!
//! Once nothing waits to be embedded, it files failed templates that no signature placed in
//! an error category (`crate::category`): zero-shot, by the model.
//!
//! Under load it yields: the model runs on threads of a lower CPU priority
//! ([`semtrace_embed::Background`], `semantic.indexer_nice`), and while the write pipeline is
//! saturated (its writer leaves export requests waiting) the indexer waits, up to
//! [`IndexerSettings::max_lag`] from the start of the saturated stretch, then works through it.
//! So a new template is searchable at most `max_lag` (plus a batch) after it arrived, and ingest
//! keeps the CPU while it is the bottleneck.
//!
//! Several nodes on one store (PostgreSQL): each claims the pending templates it embeds, so a
//! template is embedded once across them, and every [`SYNC`] the indexer adds to its own index
//! the templates other nodes embedded ([`Elsewhere`]).
//!
//! Crash safety: a template's embedding is written to the store before it enters the
//! in-memory index, and the index is rebuilt from the store at start; templates whose
//! embedding was not written are still pending and are embedded again.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semtrace_embed::{Background, Embedder};
use semtrace_store::Store;
use tokio::runtime::Handle;

use crate::category::{signature_category, CategoryPrototypes, UNKNOWN, ZERO_SHOT_FLOOR};
use crate::index::{blend, VectorIndex};

/// Templates embedded per model call.
const BATCH: usize = 64;
/// How long the indexer sleeps when nothing is pending.
const IDLE: Duration = Duration::from_millis(100);
/// How long it waits after a store error before trying again.
const BACKOFF: Duration = Duration::from_secs(1);

/// How the indexer shares the machine with ingest.
#[derive(Clone)]
pub struct IndexerSettings {
    /// Nice value of the threads the model runs on (0–19).
    pub nice: i32,
    /// Whether ingest is saturated now (the write pipeline's writer has requests waiting).
    pub busy: Arc<dyn Fn() -> bool + Send + Sync>,
    /// How long the indexer may wait while ingest is saturated; zero: it never waits.
    pub max_lag: Duration,
    /// Whether it embeds and files templates; without, it only adds to the index what other
    /// nodes embedded (a node that leaves the model's work to the others).
    pub embed: bool,
}

impl Default for IndexerSettings {
    fn default() -> Self {
        IndexerSettings { nice: 0, busy: Arc::new(|| false), max_lag: Duration::ZERO, embed: true }
    }
}

/// How often the indexer looks again while it waits for ingest.
const DEFER_POLL: Duration = Duration::from_millis(100);

/// How long a node files uncategorized templates for all after it last asked to, and how often
/// it asks again.
const CATEGORIZE_LEASE: Duration = Duration::from_secs(10);
const CATEGORIZE_ASK: Duration = Duration::from_secs(2);

/// How often the indexer looks for templates other nodes embedded.
const SYNC: Duration = Duration::from_secs(1);
/// Embeddings are numbered when stored but committed in batches, so a lower number can become
/// visible after a higher one: each look reads again this far below the highest number seen
/// (ids and numbers only; vectors only of what is new).
const SYNC_OVERLAP: i64 = 4096;
/// Most templates read per look.
const SYNC_BATCH: usize = 4096;

/// The templates other nodes embedded that the index holds, as far as they are numbered.
pub(crate) struct Elsewhere {
    /// The highest number seen.
    watermark: i64,
    /// Numbers seen within the overlap below the watermark, by template.
    seen: HashMap<i64, i64>,
    last: Option<Instant>,
}

impl Elsewhere {
    pub(crate) fn new(watermark: i64) -> Self {
        Elsewhere { watermark, seen: HashMap::new(), last: None }
    }

    /// Adds to the index what other nodes embedded since the last look, when a look is due;
    /// answers how many templates it added.
    fn sync(&mut self, store: &dyn Store, index: &VectorIndex, runtime: &Handle) -> Result<usize, String> {
        if self.last.is_some_and(|last| last.elapsed() < SYNC) {
            return Ok(0);
        }
        self.last = Some(Instant::now());
        let read = |err: semtrace_store::StoreError| format!("cannot read templates embedded elsewhere: {err}");
        let added = self.sync_pages(
            index,
            SYNC_BATCH,
            |after| runtime.block_on(store.embedded_elsewhere(after, SYNC_BATCH)).map_err(read),
            |ids| runtime.block_on(store.template_vectors(ids)).map_err(read),
        )?;
        if added > 0 {
            metrics::counter!("semtrace_templates_synced_total").increment(added as u64);
            tracing::debug!(templates = added, "added templates embedded by other nodes");
        }
        Ok(added)
    }

    /// Reads pages of (id, number) of `batch` from `numbers(after)`, from below the watermark
    /// (the overlap) on, each page after the last number read, and adds the vectors of those not
    /// seen to the index; answers how many.
    fn sync_pages(
        &mut self,
        index: &VectorIndex,
        batch: usize,
        mut numbers: impl FnMut(i64) -> Result<Vec<(i64, i64)>, String>,
        mut vectors: impl FnMut(&[i64]) -> Result<Vec<semtrace_store::TemplateVector>, String>,
    ) -> Result<usize, String> {
        let mut added = 0;
        let mut after = (self.watermark - SYNC_OVERLAP).max(0);
        loop {
            let found = numbers(after)?;
            let full = found.len() == batch;
            let new: Vec<i64> =
                found.iter().filter(|(id, seq)| self.seen.get(id) != Some(seq)).map(|(id, _)| *id).collect();
            if !new.is_empty() {
                let vectors = vectors(&new)?;
                for template in &vectors {
                    index.insert_stored(template);
                }
                added += vectors.len();
            }
            if let Some(&(_, last)) = found.last() {
                after = last;
            }
            for (id, seq) in found {
                self.seen.insert(id, seq);
                self.watermark = self.watermark.max(seq);
            }
            if !full {
                break;
            }
        }
        let floor = self.watermark - SYNC_OVERLAP;
        self.seen.retain(|_, seq| *seq > floor);
        Ok(added)
    }
}

/// When the indexer waits for a saturated ingest, and when it stops waiting.
struct Deferral {
    settings: IndexerSettings,
    /// When the current stretch of saturated ingest began.
    busy_since: Option<Instant>,
}

impl Deferral {
    /// Whether to wait now rather than embed, and if not, whether the embedding is overdue (it
    /// waited the whole lag while ingest stayed saturated).
    fn decide(&mut self) -> Pace {
        if self.settings.max_lag.is_zero() || !(self.settings.busy)() {
            self.busy_since = None;
            metrics::gauge!("semtrace_embedding_deferred").set(0.0);
            return Pace::Embed;
        }
        let waiting = self.busy_since.get_or_insert_with(Instant::now).elapsed() < self.settings.max_lag;
        metrics::gauge!("semtrace_embedding_deferred").set(if waiting { 1.0 } else { 0.0 });
        if waiting {
            Pace::Wait
        } else {
            Pace::Overdue
        }
    }
}

/// What the indexer does next about ingest.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Pace {
    /// Ingest is saturated and the lag allows waiting.
    Wait,
    /// Embed, yielding the CPU to ingest (low priority).
    Embed,
    /// Embed at the process's priority: ingest stayed saturated past the lag.
    Overdue,
}

/// Stops the indexer thread when dropped; [`Indexer::shutdown`] also waits for it.
pub struct Indexer {
    stop: Option<mpsc::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl Indexer {
    pub(crate) fn start(
        store: Arc<dyn Store>,
        embedder: Arc<Embedder>,
        index: Arc<VectorIndex>,
        classification: Classification,
        runtime: Handle,
        settings: IndexerSettings,
        watermark: i64,
    ) -> std::io::Result<Indexer> {
        let background = Background::new(settings.nice)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let join = std::thread::Builder::new().name("semtrace-indexer".into()).spawn(move || {
            let model = Model { embedder: &embedder, background: &background, urgent: std::cell::Cell::new(false) };
            let mut deferral = Deferral { settings, busy_since: None };
            let mut elsewhere = Elsewhere::new(watermark);
            run(&*store, &model, &index, &classification, &runtime, &stopped, &mut deferral, &mut elsewhere)
        })?;
        Ok(Indexer { stop: Some(stop), join: Some(join) })
    }

    /// Stops the thread after the batch in hand and waits for it.
    pub fn shutdown(mut self) {
        self.stop.take();
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop.take();
    }
}

/// Waits for `wait`, or less if told to stop; true when told to stop.
fn pause(stopped: &mpsc::Receiver<()>, wait: Duration) -> bool {
    !matches!(stopped.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout))
}

/// What one round of the indexer did.
enum Round {
    /// Nothing was pending.
    Idle,
    /// A batch was embedded, stored and indexed.
    Embedded,
}

/// The model as the indexer runs it: on the low-priority [`Background`] pool, so a burst of new
/// templates takes the CPU ingest leaves over rather than a share of ingest's.
struct Model<'a> {
    embedder: &'a Embedder,
    background: &'a Background,
    /// Embedding has waited as long as it may: it runs at the process's priority.
    urgent: std::cell::Cell<bool>,
}

impl Model<'_> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, semtrace_embed::EmbedError> {
        self.run(|| self.embedder.embed(texts))
    }

    fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        if self.urgent.get() {
            self.background.run_urgent(work)
        } else {
            self.background.run(work)
        }
    }
}

/// Embeddings of the failure categories, by name, made when first needed.
#[derive(Default)]
struct CategoryVectors {
    vectors: HashMap<&'static str, Vec<f32>>,
}

impl CategoryVectors {
    /// The template text's vector blended with its categories' vectors.
    fn template_vector(&mut self, model: &Model<'_>, text: &str, text_vector: Vec<f32>) -> Result<Vec<f32>, String> {
        let names = semtrace_summary::categories_of(text);
        let missing: Vec<&'static str> =
            names.iter().copied().filter(|name| !self.vectors.contains_key(name)).collect();
        if !missing.is_empty() {
            let vectors = model.embed(&missing).map_err(|err| format!("embedding categories failed: {err}"))?;
            self.vectors.extend(missing.into_iter().zip(vectors));
        }
        let categories: Vec<&[f32]> =
            names.iter().filter_map(|name| self.vectors.get(name)).map(Vec::as_slice).collect();
        Ok(blend(text_vector, &categories))
    }
}

#[allow(clippy::too_many_arguments)] // the thread's whole state, handed over once
fn run(
    store: &dyn Store,
    model: &Model<'_>,
    index: &VectorIndex,
    classification: &Classification,
    runtime: &Handle,
    stopped: &mpsc::Receiver<()>,
    deferral: &mut Deferral,
    elsewhere: &mut Elsewhere,
) {
    let mut categories = CategoryVectors::default();
    let mut prototypes: Option<CategoryPrototypes> = None;
    let mut led: Option<(Instant, bool)> = None;
    loop {
        if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            return;
        }
        // Other nodes' templates are found whatever this node's ingest is doing.
        if let Err(err) = elsewhere.sync(store, index, runtime) {
            tracing::warn!(%err, "the indexer could not look for templates embedded elsewhere; retrying");
        }
        if !deferral.settings.embed {
            if pause(stopped, IDLE) {
                return;
            }
            continue;
        }
        match deferral.decide() {
            Pace::Wait => {
                if pause(stopped, DEFER_POLL) {
                    return;
                }
                continue;
            }
            pace => model.urgent.set(pace == Pace::Overdue),
        }
        let done = round(store, model, &mut categories, index, runtime).and_then(|round| match round {
            Round::Embedded => Ok(Round::Embedded),
            // Filing templates is one node's work among several (its own lease).
            Round::Idle => match leads(store, runtime, &mut led) {
                Ok(true) => categorize(store, model, &mut prototypes, classification, runtime),
                Ok(false) => Ok(Round::Idle),
                Err(err) => Err(format!("cannot tell which node files templates: {err}")),
            },
        });
        let wait = match done {
            Ok(Round::Embedded) => continue,
            Ok(Round::Idle) => IDLE,
            Err(err) => {
                tracing::warn!(%err, "the indexer failed a round; retrying");
                BACKOFF
            }
        };
        if pause(stopped, wait) {
            return;
        }
    }
}

/// Whether this node files templates for all now: asked of the store at most every
/// [`CATEGORIZE_ASK`], within its lease.
fn leads(
    store: &dyn Store,
    runtime: &Handle,
    led: &mut Option<(Instant, bool)>,
) -> Result<bool, semtrace_store::StoreError> {
    if let Some((at, leads)) = *led {
        if at.elapsed() < CATEGORIZE_ASK {
            return Ok(leads);
        }
    }
    let leads = runtime.block_on(store.lead("template_categories", CATEGORIZE_LEASE))?;
    *led = Some((Instant::now(), leads));
    Ok(leads)
}

/// Files one batch of failed templates stored without an error category: under the category
/// their text names (templates stored before categories were), else the one the model finds
/// nearest their failure above [`ZERO_SHOT_FLOOR`], else `unknown`.
fn categorize(
    store: &dyn Store,
    model: &Model<'_>,
    prototypes: &mut Option<CategoryPrototypes>,
    classification: &Classification,
    runtime: &Handle,
) -> Result<Round, String> {
    let pending = runtime
        .block_on(store.uncategorized_templates(BATCH))
        .map_err(|err| format!("cannot read uncategorized templates: {err}"))?;
    if pending.is_empty() {
        return Ok(Round::Idle);
    }
    if prototypes.is_none() && classification.zero_shot {
        *prototypes = Some(
            model
                .run(|| CategoryPrototypes::embed(model.embedder))
                .map_err(|err| format!("embedding the categories failed: {err}"))?,
        );
    }
    // Each template's signature category, read once; those without one go to the custom model,
    // then to the embedding model.
    let mut filed_as: Vec<Option<String>> =
        pending.iter().map(|template| signature_category(&template.text).map(str::to_owned)).collect();
    let by_signature = filed_as.iter().filter(|filed| filed.is_some()).count();
    let mut by_custom = 0;
    if let Some(custom) = &classification.custom {
        for (template, filed) in pending.iter().zip(&mut filed_as).filter(|(_, filed)| filed.is_none()) {
            let text = template.failure.as_deref().unwrap_or(&template.text);
            let input = semtrace_wasm::Input { abi: 1, kind: "error_classifier", text, ..Default::default() };
            let Some(answer) = custom.classify(&input) else { continue };
            if !answer.score.is_none_or(|score| score >= classification.min_score) {
                continue;
            }
            // Categories are a fixed taxonomy (what `category=` and the UI know): a label
            // outside it is not filed.
            match semtrace_summary::category_labels().into_iter().find(|label| *label == answer.label) {
                Some(label) => {
                    *filed = Some(label.to_owned());
                    by_custom += 1;
                }
                None => {
                    metrics::counter!("semtrace_model_labels_refused_total", "model" => custom.name().to_owned())
                        .increment(1);
                    tracing::debug!(label = %answer.label, "a custom model's label is not in the taxonomy");
                }
            }
        }
    }
    let unfiled: Vec<(usize, std::borrow::Cow<'_, str>)> = pending
        .iter()
        .enumerate()
        .filter(|(at, _)| filed_as[*at].is_none())
        .map(|(at, template)| (at, semtrace_summary::readable(template.failure.as_deref().unwrap_or(&template.text))))
        .collect();
    let mut by_model = 0;
    if let Some(prototypes) = prototypes.as_ref().filter(|_| classification.zero_shot && !unfiled.is_empty()) {
        let texts: Vec<&str> = unfiled.iter().map(|(_, text)| text.as_ref()).collect();
        let vectors = model.embed(&texts).map_err(|err| format!("embedding failures failed: {err}"))?;
        for ((at, _), vector) in unfiled.iter().zip(&vectors) {
            if let Some((category, _)) = prototypes.classify(vector, ZERO_SHOT_FLOOR) {
                filed_as[*at] = Some(category.to_owned());
                by_model += 1;
            }
        }
    }
    let filed: Vec<(i64, String)> = pending
        .iter()
        .zip(filed_as)
        .map(|(template, category)| (template.id, category.unwrap_or_else(|| UNKNOWN.to_owned())))
        .collect();
    let unknown = pending.len() - by_signature - by_custom - by_model;
    runtime
        .block_on(store.set_template_categories(&filed))
        .map_err(|err| format!("cannot store template categories: {err}"))?;
    metrics::counter!("semtrace_templates_categorized_total", "by" => "signature").increment(by_signature as u64);
    metrics::counter!("semtrace_templates_categorized_total", "by" => "custom_model").increment(by_custom as u64);
    metrics::counter!("semtrace_templates_categorized_total", "by" => "model").increment(by_model as u64);
    metrics::counter!("semtrace_templates_categorized_total", "by" => "unknown").increment(unknown as u64);
    Ok(Round::Embedded)
}

/// How the indexer files failed templates no signature knows.
#[derive(Clone)]
pub struct Classification {
    /// By the embedding model's nearest category (`features.error_classification`).
    pub zero_shot: bool,
    /// A custom WebAssembly model, asked first (`models.error_classifier.path`).
    pub custom: Option<Arc<semtrace_wasm::GuardedModel>>,
    /// A custom model's answers scored below this are ignored.
    pub min_score: f32,
}

impl Default for Classification {
    fn default() -> Self {
        Classification { zero_shot: true, custom: None, min_score: 0.5 }
    }
}

/// Embeds one batch of pending templates: the vectors are stored before they are indexed.
fn round(
    store: &dyn Store,
    model: &Model<'_>,
    categories: &mut CategoryVectors,
    index: &VectorIndex,
    runtime: &Handle,
) -> Result<Round, String> {
    let pending = runtime
        .block_on(store.pending_templates(BATCH))
        .map_err(|err| format!("cannot read pending templates: {err}"))?;
    if pending.is_empty() {
        return Ok(Round::Idle);
    }
    // The model reads the template's identifiers as words (`semtrace_summary::readable`).
    let readable: Vec<std::borrow::Cow<'_, str>> =
        pending.iter().map(|template| semtrace_summary::readable(&template.text)).collect();
    let texts: Vec<&str> = readable.iter().map(|text| text.as_ref()).collect();
    let started = Instant::now();
    let vectors = model.embed(&texts).map_err(|err| format!("embedding templates failed: {err}"))?;
    metrics::histogram!("semtrace_embed_batch_seconds").record(started.elapsed().as_secs_f64());
    let embeddings = pending
        .iter()
        .zip(vectors)
        .map(|(template, vector)| Ok((template.id, categories.template_vector(model, &template.text, vector)?)))
        .collect::<Result<Vec<(i64, Vec<f32>)>, String>>()?;
    // Failed templates: their failure alone too, stored first (a crash before the template's
    // own vector is stored leaves both to do again).
    let failures: Vec<(i64, std::borrow::Cow<'_, str>, &str)> = pending
        .iter()
        .filter_map(|template| {
            let failure = template.failure.as_deref()?;
            Some((template.id, semtrace_summary::readable(failure), failure))
        })
        .collect();
    let failure_embeddings = if failures.is_empty() {
        Vec::new()
    } else {
        let texts: Vec<&str> = failures.iter().map(|(_, readable, _)| readable.as_ref()).collect();
        let vectors = model.embed(&texts).map_err(|err| format!("embedding failures failed: {err}"))?;
        let embeddings = failures
            .iter()
            .zip(vectors)
            .map(|((id, _, failure), vector)| Ok((*id, categories.template_vector(model, failure, vector)?)))
            .collect::<Result<Vec<(i64, Vec<f32>)>, String>>()?;
        runtime
            .block_on(store.set_failure_embeddings(&embeddings))
            .map_err(|err| format!("cannot store failure embeddings: {err}"))?;
        embeddings
    };
    runtime
        .block_on(store.set_template_embeddings(&embeddings))
        .map_err(|err| format!("cannot store embeddings: {err}"))?;
    for (id, vector) in &failure_embeddings {
        index.insert_failure(*id, vector);
    }
    for ((id, vector), template) in embeddings.iter().zip(&pending) {
        let kind = crate::index::TemplateKind {
            explained_failure: template.outcome == semtrace_summary::Outcome::FailedWithReason,
            slow: semtrace_summary::is_slow(&template.text),
        };
        index.insert(*id, vector, kind);
    }
    metrics::counter!("semtrace_templates_embedded_total").increment(embeddings.len() as u64);
    tracing::debug!(
        templates = embeddings.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "embedded templates"
    );
    Ok(Round::Embedded)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Templates other nodes embedded, numbered 1..=n: (id, number) and their vectors.
    struct OtherNodes {
        numbered: Vec<(i64, i64)>,
    }

    impl OtherNodes {
        fn page(&self, after: i64, batch: usize) -> Result<Vec<(i64, i64)>, String> {
            Ok(self.numbered.iter().filter(|(_, seq)| *seq > after).take(batch).copied().collect())
        }

        fn vectors(ids: &[i64]) -> Result<Vec<semtrace_store::TemplateVector>, String> {
            Ok(ids
                .iter()
                .map(|id| semtrace_store::TemplateVector {
                    id: *id,
                    vector: vec![1.0, 0.0],
                    outcome: semtrace_summary::Outcome::Healthy,
                    slow: false,
                    failure_vector: None,
                })
                .collect())
        }
    }

    #[test]
    fn what_other_nodes_embed_is_read_page_by_page_past_the_overlap_and_late_numbers_too() {
        let index = VectorIndex::new(2);
        let mut elsewhere = Elsewhere::new(0);
        let batch = 1000;
        // Past the overlap and several pages: all of it, however many pages.
        let mut source = OtherNodes { numbered: (1..=10_000).map(|n| (n, n)).collect() };
        let sync = |elsewhere: &mut Elsewhere, source: &OtherNodes| {
            elsewhere.sync_pages(&index, batch, |after| source.page(after, batch), OtherNodes::vectors).unwrap()
        };
        assert_eq!(sync(&mut elsewhere, &source), 10_000);
        assert_eq!((index.len(), elsewhere.watermark), (10_000, 10_000));
        // Nothing new: nothing added, the overlap read again without vectors.
        assert_eq!(sync(&mut elsewhere, &source), 0);
        // More, and a number below the watermark that committed late (within the overlap).
        source.numbered.push((20_000, 9_990 - 1));
        source.numbered.extend((10_001..=12_500).map(|n| (n, n)));
        source.numbered.sort_by_key(|(_, seq)| *seq);
        assert_eq!(sync(&mut elsewhere, &source), 2_501);
        assert_eq!((index.len(), elsewhere.watermark), (12_501, 12_500));
        // A template embedded again (a new number) is read again.
        source.numbered.push((5, 12_501));
        assert_eq!(sync(&mut elsewhere, &source), 1);
    }

    fn deferral(busy: &Arc<AtomicBool>, max_lag: Duration) -> Deferral {
        let busy = busy.clone();
        let settings =
            IndexerSettings { nice: 0, busy: Arc::new(move || busy.load(Ordering::Relaxed)), max_lag, embed: true };
        Deferral { settings, busy_since: None }
    }

    #[test]
    fn the_indexer_waits_for_saturated_ingest_only_up_to_the_lag() {
        let busy = Arc::new(AtomicBool::new(false));
        let mut waits = deferral(&busy, Duration::from_millis(80));
        assert_eq!(waits.decide(), Pace::Embed, "ingest is not saturated");
        busy.store(true, Ordering::Relaxed);
        assert_eq!(waits.decide(), Pace::Wait, "ingest is saturated and the stretch just began");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(waits.decide(), Pace::Overdue, "the stretch outlasted the lag: embed anyway, at full priority");
        assert_eq!(waits.decide(), Pace::Overdue, "and keep embedding while it lasts");
        busy.store(false, Ordering::Relaxed);
        assert_eq!(waits.decide(), Pace::Embed);
        busy.store(true, Ordering::Relaxed);
        assert_eq!(waits.decide(), Pace::Wait, "a new stretch waits again");

        let mut never = deferral(&busy, Duration::ZERO);
        assert_eq!(never.decide(), Pace::Embed, "a zero lag never waits");
    }
}
