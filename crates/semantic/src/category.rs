//! Error categories as data. A failure's category is the first one its text's signatures name
//! (`semtrace_summary::categorize`, as its template's `Category:` sentence records it); a
//! failure no signature knows is filed by the model: under the category of the nearest labelled
//! example message when it is at least [`EXAMPLE_FLOOR`] similar (an example labelled `unknown`
//! keeps it `unknown`), else under the category whose own words are nearest, when at least
//! [`ZERO_SHOT_FLOOR`] similar, else `unknown`. The first category a text names that is more
//! than "timeout" or "connection failure" wins (`semtrace_summary::primary_category`).

use std::collections::HashSet;
use std::sync::Arc;

use semtrace_embed::{cosine, EmbedError, Embedder};
use semtrace_model::{Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId};

/// What a failure is filed under when neither a signature nor the model places it.
pub const UNKNOWN: &str = "unknown";

/// Least cosine similarity between a failure and a category's words for the model's guess to
/// count (measured on tests/categories/labelled.jsonl: see `semtrace-bench categories`).
pub const ZERO_SHOT_FLOOR: f32 = 0.40;

/// Least cosine similarity between a failure and its nearest labelled example for the example's
/// category to count (chosen by leaving each labelled set out in turn: README, "Error
/// categories").
pub const EXAMPLE_FLOOR: f32 = 0.60;

/// The labelled messages failures are filed by: the labelled sets under `tests/categories`
/// but `blind5.jsonl`, kept out to measure by.
const EXAMPLE_SETS: [&str; 5] = [
    include_str!("../../../tests/categories/labelled.jsonl"),
    include_str!("../../../tests/categories/blind2.jsonl"),
    include_str!("../../../tests/categories/blind3.jsonl"),
    include_str!("../../../tests/categories/blind4.jsonl"),
    include_str!("../../../tests/categories/blind6.jsonl"),
];

/// The model the shipped example vectors are for, and the vectors: little-endian `f32`s, one
/// vector per example in [`examples`]' order (`semtrace-bench categories --write-example-vectors`).
pub const EXAMPLE_VECTORS_MODEL: &str = "all-MiniLM-L6-v2";
pub const EXAMPLE_VECTORS_PATH: &str = "crates/semantic/data/category-examples.all-MiniLM-L6-v2.f32";
const EXAMPLE_VECTORS: &[u8] = include_bytes!("../data/category-examples.all-MiniLM-L6-v2.f32");

pub use semtrace_summary::category_of_template as signature_category;

/// A labelled example message.
pub struct Example {
    pub message: String,
    /// A category's short name, or [`UNKNOWN`].
    pub label: &'static str,
}

/// The labelled example messages, each with a category of the taxonomy (lines naming a
/// category that is not in it are left out).
pub fn examples() -> Vec<Example> {
    let labels = semtrace_summary::category_labels();
    EXAMPLE_SETS
        .iter()
        .flat_map(|set| set.lines())
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let category = value["category"].as_str()?;
            let label = if category == UNKNOWN { UNKNOWN } else { *labels.iter().find(|label| **label == category)? };
            Some(Example { message: value["message"].as_str()?.to_owned(), label })
        })
        .collect()
}

/// The text the model reads for a failure that says `message` and nothing else: what the
/// pipeline embeds for a failed template ([`semtrace_summary::readable`] of its failure).
pub fn failure_text(message: &str) -> String {
    let summary = semtrace_summary::summarize(&failed_span(message));
    semtrace_summary::readable(summary.failure.as_deref().unwrap_or(message)).into_owned()
}

/// A span that failed saying `message` and nothing else.
pub fn failed_span(message: &str) -> Span {
    Span {
        trace_id: TraceId::from_bytes([1; 16]).expect("a non-zero id"),
        span_id: SpanId::from_bytes([1; 8]).expect("a non-zero id"),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "operation".into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_010_000_000,
        attributes: Default::default(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status { code: StatusCode::Error, message: message.to_owned() },
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
    }
}

/// The shipped example vectors, when they are this model's: its name and dimension match, and
/// the model gives the first examples the vectors shipped (a folder of another model under the
/// same name, or a summary that reads messages otherwise, does not).
fn shipped_vectors(embedder: &Embedder, examples: &[Example]) -> Result<Option<Vec<Vec<f32>>>, EmbedError> {
    let dimension = embedder.dimension();
    if embedder.name() != EXAMPLE_VECTORS_MODEL || EXAMPLE_VECTORS.len() != examples.len() * dimension * 4 {
        return Ok(None);
    }
    let vectors: Vec<Vec<f32>> = EXAMPLE_VECTORS
        .chunks_exact(dimension * 4)
        .map(|vector| {
            vector.chunks_exact(4).map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4 bytes"))).collect()
        })
        .collect();
    let probes: Vec<String> = examples.iter().take(2).map(|example| failure_text(&example.message)).collect();
    let probes: Vec<&str> = probes.iter().map(String::as_str).collect();
    let fresh = embedder.embed(&probes)?;
    Ok(fresh.iter().zip(&vectors).all(|(fresh, shipped)| cosine(fresh, shipped) >= 0.99).then_some(vectors))
}

/// Every category's embedding and the labelled examples', to file failures no signature knows.
pub struct CategoryPrototypes {
    labels: Vec<&'static str>,
    vectors: Vec<Vec<f32>>,
    examples: Vec<Example>,
    example_vectors: Vec<Vec<f32>>,
}

impl CategoryPrototypes {
    /// Embeds each category's full name ("timeout, took too long"): a few plain words; and the
    /// labelled examples, unless the shipped vectors are this model's.
    pub fn embed(embedder: &Embedder) -> Result<Self, EmbedError> {
        let names = semtrace_summary::category_names();
        let vectors = embedder.embed(&names)?;
        let labels = names.iter().map(|name| semtrace_summary::category_label(name)).collect();
        let examples = examples();
        let example_vectors = match shipped_vectors(embedder, &examples)? {
            Some(vectors) => vectors,
            None => {
                tracing::info!(
                    examples = examples.len(),
                    model = embedder.name(),
                    "embedding the labelled error examples"
                );
                let texts: Vec<String> = examples.iter().map(|example| failure_text(&example.message)).collect();
                embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())?
            }
        };
        Ok(CategoryPrototypes { labels, vectors, examples, example_vectors })
    }

    /// Leaves out the examples whose message is one of `messages` (to measure on a labelled set
    /// without filing its messages by themselves).
    pub fn without(self, messages: &HashSet<&str>) -> Self {
        let (examples, example_vectors) = self
            .examples
            .into_iter()
            .zip(self.example_vectors)
            .filter(|(example, _)| !messages.contains(example.message.as_str()))
            .unzip();
        CategoryPrototypes { examples, example_vectors, ..self }
    }

    /// How many labelled examples file failures.
    pub fn example_count(&self) -> usize {
        self.examples.len()
    }

    /// The category of the nearest labelled example, when at least [`EXAMPLE_FLOOR`] similar
    /// (`None`, unknown, when that example is labelled unknown); else the category most like
    /// the failure's vector, with its similarity, when at least `floor`.
    pub fn classify(&self, vector: &[f32], floor: f32) -> Option<(&'static str, f32)> {
        let nearest_example = self
            .examples
            .iter()
            .zip(&self.example_vectors)
            .map(|(example, prototype)| (example.label, cosine(vector, prototype)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((label, similarity)) = nearest_example.filter(|(_, similarity)| *similarity >= EXAMPLE_FLOOR) {
            return (label != UNKNOWN).then_some((label, similarity));
        }
        let (label, similarity) = self
            .labels
            .iter()
            .zip(&self.vectors)
            .map(|(label, prototype)| (*label, cosine(vector, prototype)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        (similarity >= floor).then_some((label, similarity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_filed_under_its_first_category() {
        let template = "orders span SELECT failed with timeout. Category: database timed out, the database server did not answer in time; timeout, took too long.";
        assert_eq!(signature_category(template), Some("database timed out"));
        assert_eq!(signature_category("catalog span GET /api/products failed."), None);
    }

    #[test]
    fn the_nearest_prototype_wins_above_the_floor() {
        let prototypes = CategoryPrototypes {
            labels: vec!["timeout", "disk full"],
            vectors: vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]],
            examples: Vec::new(),
            example_vectors: Vec::new(),
        };
        let near_disk = [0.1, 0.9, 0.1];
        let (label, similarity) = prototypes.classify(&near_disk, 0.5).expect("near the disk prototype");
        assert_eq!(label, "disk full");
        assert!(similarity > 0.9);
        assert_eq!(prototypes.classify(&[0.0, 0.0, 1.0], 0.5), None, "like nothing: unknown");
    }

    #[test]
    fn a_near_labelled_example_wins_over_the_category_words() {
        let example = |message: &str, label| Example { message: message.to_owned(), label };
        let prototypes = CategoryPrototypes {
            labels: vec!["timeout", "disk full"],
            vectors: vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]],
            examples: vec![
                example("[pay][Refused][order already paid]", "request refused by a business rule"),
                example("ok", UNKNOWN),
            ],
            example_vectors: vec![vec![0.0, 0.6, 0.8], vec![0.0, 0.0, -1.0]],
        };
        let near_example = [0.0, 0.5, 0.8];
        let (label, _) = prototypes.classify(&near_example, 0.4).expect("near the example");
        assert_eq!(label, "request refused by a business rule");
        // An example labelled unknown keeps what is like it unknown.
        assert_eq!(prototypes.classify(&[0.0, 0.1, -0.9], 0.05), None);
        // Far from every example: the category words decide.
        assert_eq!(prototypes.classify(&[0.9, 0.1, 0.0], 0.4).map(|(label, _)| label), Some("timeout"));
        let without = prototypes.without(&HashSet::from(["ok"]));
        assert_eq!(without.example_count(), 1);
    }

    /// Needs the model in ./models (scripts/setup.sh). A change to how summaries read messages
    /// can make the shipped vectors stale: `semtrace-bench categories --write-example-vectors`.
    #[test]
    fn the_shipped_example_vectors_are_the_models() {
        let models = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let files = semtrace_embed::locate(EXAMPLE_VECTORS_MODEL, &[models]).expect("the model (scripts/setup.sh)");
        let embedder = Embedder::load(&files).expect("the model loads");
        let examples = examples();
        let shipped = shipped_vectors(&embedder, &examples)
            .expect("embedding works")
            .expect("the shipped vectors are this model's: semtrace-bench categories --write-example-vectors");
        let sample: Vec<usize> = (0..examples.len()).step_by(25).collect();
        let texts: Vec<String> = sample.iter().map(|at| failure_text(&examples[*at].message)).collect();
        let fresh = embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>()).expect("embedding works");
        for (at, fresh) in sample.iter().zip(&fresh) {
            let similarity = cosine(fresh, &shipped[*at]);
            assert!(
                similarity >= 0.99,
                "example {at} ({:?}) reads otherwise now ({similarity}): semtrace-bench categories --write-example-vectors",
                examples[*at].message
            );
        }
    }

    #[test]
    fn every_example_is_labelled_from_the_taxonomy() {
        let examples = examples();
        assert!(examples.len() > 1500, "{}", examples.len());
        let lines: usize =
            EXAMPLE_SETS.iter().map(|set| set.lines().filter(|line| !line.trim().is_empty()).count()).sum();
        assert_eq!(examples.len(), lines, "an example names a category that is not in the taxonomy");
    }
}
