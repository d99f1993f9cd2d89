//! The candle embedder gives what the Python sentence-transformers package gives for the same
//! model (vectors in tests/data/reference.json, made by tests/data/make_reference.py).
//! Needs the model in ./models (scripts/setup.sh puts it there).

use std::path::PathBuf;

use semtrace_embed::{cosine, locate, Embedder};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

#[test]
fn matches_sentence_transformers_reference_vectors() {
    let files = locate("sentence-transformers/all-MiniLM-L6-v2", &[models_dir()]).expect("run scripts/setup.sh first");
    let embedder = Embedder::load(&files).unwrap();
    assert_eq!(embedder.dimension(), 384);
    let reference: serde_json::Value = serde_json::from_str(include_str!("data/reference.json")).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|case| case["text"].as_str().unwrap()).collect();
    // All in one batch: padding must not change any vector.
    let batch = embedder.embed(&texts).unwrap();
    for (case, got) in cases.iter().zip(&batch) {
        let want: Vec<f32> = case["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(got.len(), want.len());
        let similarity = cosine(got, &want);
        assert!(similarity >= 0.999, "cosine {similarity} for {:?}", case["text"]);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
        // Alone (the small encoder, for short texts) gives the same as in a batch (candle).
        let text = case["text"].as_str().unwrap();
        let alone = embedder.embed(&[text]).unwrap();
        assert!(cosine(&alone[0], got) > 0.9999);
        assert!(cosine(&alone[0], &want) >= 0.999, "alone: cosine {} for {text:?}", cosine(&alone[0], &want));
        let candle = embedder.embed_with_candle(&[text]).unwrap();
        assert!(cosine(&alone[0], &candle[0]) > 0.99999, "{text:?}: the two encoders differ");
    }
    // Meaning, not words: the query is nearer the timeout than the payment text.
    let query = &batch[0];
    assert!(cosine(query, &batch[1]) > cosine(query, &batch[3]));
}

#[test]
fn large_batches_are_grouped_by_length_and_keep_their_order() {
    let files = locate("all-MiniLM-L6-v2", &[models_dir()]).expect("run scripts/setup.sh first");
    let embedder = Embedder::load(&files).unwrap();
    let texts: Vec<String> = (0..40).map(|i| format!("error number {i} {}", "very long ".repeat(i % 7 * 5))).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let together = embedder.embed(&refs).unwrap();
    for index in [0, 13, 39] {
        let alone = embedder.embed(&refs[index..index + 1]).unwrap();
        assert!(cosine(&alone[0], &together[index]) > 0.9999, "text {index} kept its place");
    }
}
