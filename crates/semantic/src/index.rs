//! The vector index over template embeddings: exact (brute-force) inner-product search.
//!
//! Templates, not spans, are indexed, so the index stays small (tens to thousands of vectors
//! for millions of spans) and an exact scan costs well under a millisecond per thousand
//! templates (see `semtrace bench search`): exact recall, no ANN build or tuning.

use std::collections::HashMap;
use std::sync::RwLock;

/// Normalised vectors by template id. Shared by the indexer (writes) and searches (reads).
pub struct VectorIndex {
    dimension: usize,
    inner: RwLock<Inner>,
}

/// What a template's spans are, for the priors a search adds to its similarity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateKind {
    /// Its spans failed and said why (the failure prior applies).
    pub explained_failure: bool,
    /// Its spans were slow (the slowness prior applies).
    pub slow: bool,
}

/// Added to a template's similarity by its kind: failure queries favour explained failures,
/// latency queries slow spans.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Priors {
    pub failure: f32,
    pub slow: f32,
}

impl Priors {
    pub fn of(&self, kind: TemplateKind) -> f32 {
        (if kind.explained_failure { self.failure } else { 0.0 }) + (if kind.slow { self.slow } else { 0.0 })
    }
}

#[derive(Default)]
struct Inner {
    ids: Vec<i64>,
    /// Each template's kind, by position.
    kinds: Vec<TemplateKind>,
    vectors: Vec<f32>,
    positions: HashMap<i64, usize>,
    /// Failed templates' failure vectors (`semtrace_summary::SpanSummary::failure`).
    failures: Vectors,
}

/// Vectors by template id, side by side.
#[derive(Default)]
struct Vectors {
    ids: Vec<i64>,
    vectors: Vec<f32>,
    positions: HashMap<i64, usize>,
}

impl Vectors {
    fn insert(&mut self, id: i64, vector: &[f32]) {
        match self.positions.get(&id) {
            Some(&position) => {
                let start = position * vector.len();
                self.vectors[start..start + vector.len()].copy_from_slice(vector);
            }
            None => {
                self.positions.insert(id, self.ids.len());
                self.ids.push(id);
                self.vectors.extend_from_slice(vector);
            }
        }
    }

    fn get(&self, id: i64, dimension: usize) -> Option<Vec<f32>> {
        let start = *self.positions.get(&id)? * dimension;
        Some(self.vectors[start..start + dimension].to_vec())
    }
}

/// A template ranked for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub id: i64,
    /// Cosine similarity of the template's vector and the query's.
    pub similarity: f32,
    /// What ranks it: the similarity plus priors (and, in hybrid ranking, the lexical match).
    pub score: f32,
}

impl Ranked {
    /// Best score first; equal scores by template id.
    pub fn best_first(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
        b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
    }
}

impl VectorIndex {
    pub fn new(dimension: usize) -> Self {
        VectorIndex { dimension, inner: RwLock::new(Inner::default()) }
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("index lock").ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces a vector of a template of the given kind. Vectors of another dimension
    /// are refused.
    pub fn insert(&self, id: i64, vector: &[f32], kind: TemplateKind) -> bool {
        if vector.len() != self.dimension {
            return false;
        }
        let mut inner = self.inner.write().expect("index lock");
        match inner.positions.get(&id) {
            Some(&position) => {
                let start = position * self.dimension;
                inner.vectors[start..start + self.dimension].copy_from_slice(vector);
                inner.kinds[position] = kind;
            }
            None => {
                let position = inner.ids.len();
                inner.ids.push(id);
                inner.kinds.push(kind);
                inner.vectors.extend_from_slice(vector);
                inner.positions.insert(id, position);
            }
        }
        true
    }

    /// Adds or replaces a stored template's vector and its failure's (as the store reads them
    /// back); answers how many of the two were refused for their dimension.
    pub fn insert_stored(&self, template: &semtrace_store::TemplateVector) -> usize {
        let kind = TemplateKind {
            explained_failure: template.outcome == semtrace_summary::Outcome::FailedWithReason,
            slow: template.slow,
        };
        let mut refused = usize::from(!self.insert(template.id, &template.vector, kind));
        if let Some(failure) = &template.failure_vector {
            refused += usize::from(!self.insert_failure(template.id, failure));
        }
        refused
    }

    /// Adds or replaces the failure vector of a failed template. Vectors of another dimension
    /// are refused.
    pub fn insert_failure(&self, id: i64, vector: &[f32]) -> bool {
        if vector.len() != self.dimension {
            return false;
        }
        self.inner.write().expect("index lock").failures.insert(id, vector);
        true
    }

    /// The failure vector of a failed template, when it has one.
    pub fn failure(&self, id: i64) -> Option<Vec<f32>> {
        self.inner.read().expect("index lock").failures.get(id, self.dimension)
    }

    /// The `k` failure vectors nearest the query with a similarity of at least `min_score`, best
    /// first: (template id, similarity).
    pub fn top_failures(&self, query: &[f32], k: usize, min_score: f32) -> Vec<(i64, f32)> {
        if query.len() != self.dimension || k == 0 {
            return Vec::new();
        }
        let inner = self.inner.read().expect("index lock");
        let mut scored: Vec<(i64, f32)> = inner
            .failures
            .vectors
            .chunks_exact(self.dimension)
            .zip(&inner.failures.ids)
            .map(|(vector, id)| (*id, dot(vector, query)))
            .filter(|(_, similarity)| *similarity >= min_score)
            .collect();
        drop(inner);
        let best_first = |a: &(i64, f32), b: &(i64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, best_first);
            scored.truncate(k);
        }
        scored.sort_unstable_by(best_first);
        scored
    }

    pub fn get(&self, id: i64) -> Option<Vec<f32>> {
        let inner = self.inner.read().expect("index lock");
        let start = *inner.positions.get(&id)? * self.dimension;
        Some(inner.vectors[start..start + self.dimension].to_vec())
    }

    /// What kind of template this is, once embedded.
    pub fn kind(&self, id: i64) -> Option<TemplateKind> {
        let inner = self.inner.read().expect("index lock");
        inner.positions.get(&id).map(|position| inner.kinds[*position])
    }

    /// The inner product of the query with one template's vector (its cosine: both are normalised).
    pub fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
        let inner = self.inner.read().expect("index lock");
        let start = *inner.positions.get(&id)? * self.dimension;
        Some(dot(&inner.vectors[start..start + self.dimension], query))
    }

    /// [`VectorIndex::top`] of templates another index found nearest (the store's approximate
    /// one): (id, similarity) ranked with the priors of their kinds (templates this index does
    /// not hold yet count as plain).
    pub fn rank_found(&self, found: &[(i64, f32)], min_score: f32, priors: Priors) -> Vec<Ranked> {
        let inner = self.inner.read().expect("index lock");
        let mut ranked: Vec<Ranked> = found
            .iter()
            .filter(|(_, similarity)| *similarity >= min_score)
            .map(|&(id, similarity)| {
                let kind = inner.positions.get(&id).map(|position| inner.kinds[*position]).unwrap_or_default();
                Ranked { id, similarity, score: similarity + priors.of(kind) }
            })
            .collect();
        drop(inner);
        ranked.sort_unstable_by(Ranked::best_first);
        ranked
    }

    /// The `k` templates nearest the query with a similarity of at least `min_score`, best first
    /// by similarity plus the priors of each template's kind.
    pub fn top(&self, query: &[f32], k: usize, min_score: f32, priors: Priors) -> Vec<Ranked> {
        if query.len() != self.dimension || k == 0 {
            return Vec::new();
        }
        let inner = self.inner.read().expect("index lock");
        let mut scored: Vec<Ranked> = inner
            .vectors
            .chunks_exact(self.dimension)
            .zip(inner.ids.iter().zip(&inner.kinds))
            .map(|(vector, (id, kind))| {
                let similarity = dot(vector, query);
                Ranked { id: *id, similarity, score: similarity + priors.of(*kind) }
            })
            .filter(|ranked| ranked.similarity >= min_score)
            .collect();
        drop(inner);
        let by_score = Ranked::best_first;
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_unstable_by(by_score);
        scored
    }
}

/// Dot product in eight lanes, which the compiler turns into SIMD.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let tail: f32 = a[chunks..].iter().zip(&b[chunks..]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// Weight of the failure categories' mean vector against the template text's vector in
/// [`blend`]. Measured with `semtrace bench quality` and the two held-out corpora (README,
/// "Search quality"): 0 (text alone) -> CATEGORY_WEIGHT raised mean P@10 on all three.
pub const CATEGORY_WEIGHT: f32 = 0.7;

/// A template's vector: its text's (normalised) vector plus [`CATEGORY_WEIGHT`] times the
/// normalised mean of its categories' vectors, normalised. A query's cosine with it is a
/// weighted mean of its cosines with the text and with the categories, so a query that says
/// what went wrong in other words than the error's finds the category's plain words.
pub fn blend(mut text: Vec<f32>, categories: &[&[f32]]) -> Vec<f32> {
    if categories.is_empty() {
        return text;
    }
    let mut mean = vec![0f32; text.len()];
    for category in categories {
        mean.iter_mut().zip(category.iter()).for_each(|(sum, value)| *sum += value);
    }
    normalize(&mut mean);
    text.iter_mut().zip(&mean).for_each(|(value, category)| *value += CATEGORY_WEIGHT * category);
    normalize(&mut text);
    text
}

/// Scales a vector to unit length (unchanged when zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuples(ranked: Vec<Ranked>) -> Vec<(i64, f32, f32)> {
        ranked.into_iter().map(|ranked| (ranked.id, ranked.similarity, ranked.score)).collect()
    }

    #[test]
    fn a_blend_leans_towards_the_categories_and_stays_unit_length() {
        let text = vec![1.0, 0.0, 0.0];
        assert_eq!(blend(text.clone(), &[]), text, "no category: the text's vector");
        let blended = blend(text.clone(), &[&[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]]);
        assert!((dot(&blended, &blended) - 1.0).abs() < 1e-6);
        // Both categories count alike, and the text more than either.
        assert!((blended[1] - blended[2]).abs() < 1e-6);
        assert!(blended[0] > blended[1] && blended[1] > 0.0);
        let expected = CATEGORY_WEIGHT / 2f32.sqrt() / (1.0 + CATEGORY_WEIGHT * CATEGORY_WEIGHT).sqrt();
        assert!((blended[1] - expected).abs() < 1e-6, "{blended:?}");
    }

    #[test]
    fn finds_the_nearest_in_order_above_the_floor() {
        let index = VectorIndex::new(2);
        index.insert(1, &[1.0, 0.0], TemplateKind::default());
        index.insert(2, &[0.0, 1.0], TemplateKind::default());
        index.insert(3, &[0.6, 0.8], TemplateKind::default());
        assert!(!index.insert(4, &[1.0, 0.0, 0.0], TemplateKind::default()), "wrong dimension refused");
        assert_eq!(
            tuples(index.top(&[1.0, 0.0], 2, -1.0, Priors { failure: 0.5, slow: 0.0 })),
            vec![(1, 1.0, 1.0), (3, 0.6, 0.6)]
        );
        assert_eq!(
            tuples(index.top(&[1.0, 0.0], 10, 0.5, Priors { failure: 0.5, slow: 0.0 })),
            vec![(1, 1.0, 1.0), (3, 0.6, 0.6)]
        );
        assert_eq!(tuples(index.top(&[0.0, 1.0], 1, 0.0, Priors { failure: 0.5, slow: 0.0 })), vec![(2, 1.0, 1.0)]);
        // The prior reorders, but the floor applies to similarity alone.
        index.insert(3, &[0.6, 0.8], TemplateKind { explained_failure: true, slow: false });
        assert_eq!(
            tuples(index.top(&[1.0, 0.0], 10, 0.5, Priors { failure: 0.5, slow: 0.0 })),
            vec![(3, 0.6, 1.1), (1, 1.0, 1.0)]
        );
        assert!(index
            .top(&[0.0, 1.0], 10, 0.9, Priors { failure: 0.5, slow: 0.0 })
            .iter()
            .all(|ranked| ranked.id == 2));
        index.insert(3, &[0.0, -1.0], TemplateKind::default());
        assert_eq!(index.len(), 3);
        assert_eq!(index.score(3, &[0.0, 1.0]), Some(-1.0));
        assert_eq!(index.get(2), Some(vec![0.0, 1.0]));
        // The slowness prior lifts slow templates only.
        index.insert(2, &[0.0, 1.0], TemplateKind { explained_failure: false, slow: true });
        let latency = Priors { failure: 0.0, slow: 0.5 };
        assert_eq!(tuples(index.top(&[0.6, 0.8], 1, -1.0, latency)), vec![(2, 0.8, 1.3)]);
    }

    #[test]
    fn failure_vectors_are_kept_and_searched_apart_from_template_vectors() {
        let index = VectorIndex::new(2);
        index.insert(1, &[1.0, 0.0], TemplateKind::default());
        index.insert(2, &[0.0, 1.0], TemplateKind::default());
        assert!(index.insert_failure(1, &[0.0, 1.0]));
        assert!(index.insert_failure(2, &[0.6, 0.8]));
        assert!(!index.insert_failure(3, &[1.0]), "wrong dimension refused");
        assert_eq!(index.failure(1), Some(vec![0.0, 1.0]));
        assert_eq!(index.failure(3), None);
        assert_eq!(index.get(1), Some(vec![1.0, 0.0]), "the template's own vector is untouched");
        assert_eq!(index.top_failures(&[0.0, 1.0], 10, 0.0), vec![(1, 1.0), (2, 0.8)]);
        assert_eq!(index.top_failures(&[0.0, 1.0], 1, 0.0), vec![(1, 1.0)]);
        assert_eq!(index.top_failures(&[1.0, 0.0], 10, 0.5), vec![(2, 0.6)], "the floor applies");
        index.insert_failure(1, &[1.0, 0.0]);
        assert_eq!(index.top_failures(&[1.0, 0.0], 1, 0.0), vec![(1, 1.0)], "replaced in place");
    }

    #[test]
    fn dot_handles_any_length() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
    }
}
