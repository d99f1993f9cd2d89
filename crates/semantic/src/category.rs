//! Error categories as data. A failure's category is the first one its text's signatures name
//! (`semtrace_summary::categorize`, as its template's `Category:` sentence records it); a
//! failure no signature knows is classified zero-shot: its embedding against each category's
//! own words, kept only when the best is at least [`ZERO_SHOT_FLOOR`] similar, else `unknown`.
//! The first category a text names that is more than "timeout" or "connection failure" wins
//! (`semtrace_summary::primary_category`).

use semtrace_embed::{cosine, EmbedError, Embedder};

/// What a failure is filed under when neither a signature nor the model places it.
pub const UNKNOWN: &str = "unknown";

/// Least cosine similarity between a failure and a category's words for the model's guess to
/// count (measured on tests/categories/labelled.jsonl: see `semtrace-bench categories`).
pub const ZERO_SHOT_FLOOR: f32 = 0.40;

pub use semtrace_summary::category_of_template as signature_category;

/// Every category's embedding, for zero-shot classification.
pub struct CategoryPrototypes {
    labels: Vec<&'static str>,
    vectors: Vec<Vec<f32>>,
}

impl CategoryPrototypes {
    /// Embeds each category's full name ("timeout, took too long"): a few plain words.
    pub fn embed(embedder: &Embedder) -> Result<Self, EmbedError> {
        let names = semtrace_summary::category_names();
        let vectors = embedder.embed(&names)?;
        let labels = names.iter().map(|name| semtrace_summary::category_label(name)).collect();
        Ok(CategoryPrototypes { labels, vectors })
    }

    /// The category most like the failure's vector, with its similarity, when at least `floor`.
    pub fn classify(&self, vector: &[f32], floor: f32) -> Option<(&'static str, f32)> {
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
        };
        let near_disk = [0.1, 0.9, 0.1];
        let (label, similarity) = prototypes.classify(&near_disk, 0.5).expect("near the disk prototype");
        assert_eq!(label, "disk full");
        assert!(similarity > 0.9);
        assert_eq!(prototypes.classify(&[0.0, 0.0, 1.0], 0.5), None, "like nothing: unknown");
    }
}
