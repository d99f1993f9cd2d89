//! Settings: the seeds' `OTelStorageSettings` fields plus semtrace's own, loaded in layers
//! (later wins): built-in defaults → YAML file (`--config`) → `local.yaml` beside it →
//! environment `SEMTRACE_<SECTION>__<KEY>` → command-line flags. Validated once, after loading.
//!
//! Each section of the file is a `…Settings` type (the seeds' `OTelStorageSettings` named the
//! convention); what a crate takes at run time is built from them (`LimitsSettings::build`,
//! `Config::pipeline_config`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default minimum similarity of search results, calibrated on the labelled corpus
/// (`semtrace bench quality`); the seeds' 0.85 is above every relevant MiniLM score.
pub const DEFAULT_SIMILARITY_THRESHOLD: f64 = 0.15;

/// Prefix of environment variables that set configuration.
pub const ENV_PREFIX: &str = "SEMTRACE_";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which store keeps the data: `sqlite` (embedded, zero setup) or `postgres`
    /// (PostgreSQL with pgvector at `otel_storage.connection_string`).
    pub storage: StorageKind,
    /// The seeds' settings (same names, defaults and ranges).
    pub otel_storage: OtelStorageSettings,
    pub server: ServerSettings,
    pub pipeline: PipelineSettings,
    pub limits: LimitsSettings,
    pub semantic: SemanticSettings,
    pub postgres: PostgresSettings,
    pub sqlite: SqliteSettings,
    pub logs: LogsSettings,
    pub redaction: RedactionSettings,
    pub sampling: SamplingSettings,
    /// Seed 003's processor sections: `processing` names settings of other sections,
    /// `features` turns processors on and off, `models` configures them.
    pub processing: ProcessingSettings,
    pub features: FeaturesSettings,
    pub models: std::collections::BTreeMap<String, ModelSettings>,
    pub importance: ImportanceSettings,
    pub auth: AuthSettings,
    pub tls: TlsSettings,
    /// Keys a layer set that semtrace reads but that change nothing, with why: logged at
    /// start, printed by `semtrace config`.
    #[serde(skip)]
    pub notices: Vec<String>,
}

/// Bearer tokens (SECURITY.md). Any token listed here or in `token_file` turns authentication on
/// for every listener; with none, semtrace serves loopback addresses only, unless
/// `server.insecure` (`--insecure`) says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Tokens by their SHA-256 (`semtrace token --role … --tenant …` makes one): name, sha256,
    /// role (`ingest`, `read`, `admin`), tenant (`*`: the one `X-Scope-OrgID` names).
    pub tokens: Vec<semtrace_auth::TokenEntry>,
    /// A YAML file with more tokens, a list in the same form (a mounted secret, say); read at
    /// start. Naming one turns authentication on even while it lists none.
    pub token_file: Option<PathBuf>,
}

/// TLS on every listener (rustls), from PEM files read at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM). With `key_file`, all three listeners speak TLS.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM): the OTLP listeners then require a client certificate one of them
    /// signed (mTLS). The query API does not (browsers).
    pub client_ca_file: Option<PathBuf>,
}

impl TlsSettings {
    /// The certificate and key, when TLS is on; an error when only one of them is set.
    pub fn files(&self) -> anyhow::Result<Option<(&Path, &Path)>> {
        match (&self.cert_file, &self.key_file, &self.client_ca_file) {
            (Some(cert), Some(key), _) => Ok(Some((cert, key))),
            (None, None, None) => Ok(None),
            (None, None, Some(_)) => {
                bail!("tls.client_ca_file needs tls.cert_file and tls.key_file (the server's own)")
            }
            _ => bail!("tls.cert_file and tls.key_file go together: set both, or neither"),
        }
    }
}

/// PII redaction, applied to spans and log records before they are queued, so the original
/// never reaches the spool, the store, templates or embeddings. Off while no pattern is listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionSettings {
    /// Built-in patterns: `email`, `card` (Luhn-checked), `bearer`, `api_key` (key=value
    /// secrets and well-known key shapes), `ip` (v4 and v6).
    pub patterns: Vec<String>,
    /// Custom patterns, name = regex (Rust regex syntax); a match becomes `<redacted:name>`.
    pub custom: std::collections::BTreeMap<String, String>,
}

impl RedactionSettings {
    /// The redactor these settings describe; `None` when none is configured.
    pub fn redactor(&self) -> anyhow::Result<Option<semtrace_pipeline::redact::Redactor>> {
        if self.patterns.is_empty() && self.custom.is_empty() {
            return Ok(None);
        }
        let custom: Vec<(String, String)> = self.custom.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let redactor = semtrace_pipeline::redact::Redactor::new(&self.patterns, &custom)
            .map_err(|err| anyhow::anyhow!("redaction: {err}"))?;
        Ok(Some(redactor))
    }
}

/// A trace's importance (README "Importance"): beyond failures, slowness and new templates,
/// the weights of configured attributes, which tail sampling also keeps as a floor under a
/// trace's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ImportanceSettings {
    pub attributes: Vec<AttributeWeightSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeWeightSettings {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    /// 0–1.
    pub weight: f64,
}

impl ImportanceSettings {
    pub fn weights(&self) -> Vec<semtrace_store::importance::AttributeWeight> {
        self.attributes
            .iter()
            .map(|rule| semtrace_store::importance::AttributeWeight {
                key: rule.key.clone(),
                value: rule.value.clone(),
                weight: rule.weight,
            })
            .collect()
    }

    fn validate(&self) -> anyhow::Result<()> {
        for rule in &self.attributes {
            if !(0.0..=1.0).contains(&rule.weight) {
                bail!("importance.attributes: the weight of {} is {}; weights are from 0 to 1", rule.key, rule.weight);
            }
        }
        Ok(())
    }
}

/// Seed 003's `processing` section: each field, when set, sets the setting it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingSettings {
    /// Export requests per store transaction (`otel_storage.batch_size`).
    pub batch_size: Option<u32>,
    /// Batches written at once (`pipeline.concurrency`).
    pub concurrency: Option<u32>,
    /// Export requests waiting for the writer (`pipeline.queue_size`).
    pub queue_size: Option<u32>,
    /// The time limit of a model call when its own `timeout_ms` is not set.
    pub timeout_ms: Option<u64>,
}

/// Seed 003's feature toggles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesSettings {
    /// File failed templates no signature knows by a custom model and the embedding model
    /// (off: they are filed `unknown`; signatures still apply, they cost nothing).
    pub error_classification: bool,
    /// Tail sampling; the same as `sampling.enabled` (either turns it on).
    pub smart_sampling: bool,
    /// Extract the entities each trace touches (users, orders, hosts, IPs, URLs, routes, tables,
    /// pods, namespaces, emails) and index them for `entity=` and `/api/v1/entities`. Off by
    /// default, as seed 003 has it: it costs a fifth of the embedded store's ingest rate (README "Entities").
    pub entity_extraction: bool,
}

impl Default for FeaturesSettings {
    fn default() -> Self {
        FeaturesSettings { error_classification: true, smart_sampling: false, entity_extraction: false }
    }
}

/// A custom model (`models.<name>`): a WebAssembly module (ABI in the README), sandboxed.
/// `error_classifier` is the one semtrace runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// The `.wasm` (or `.wat`) file; empty: the built-in classifier alone.
    pub path: PathBuf,
    /// Linear memory the module may use (1–4096 MiB).
    pub memory_limit_mb: u32,
    /// Time per call (1–10000 ms), as a fuel budget calibrated on this CPU at start; unset:
    /// `processing.timeout_ms`, else 50.
    pub timeout_ms: Option<u64>,
    /// Answers cached by input text.
    pub cache_size: u32,
    /// Answers scored below this are ignored (0–1).
    pub min_score: f32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings { path: PathBuf::new(), memory_limit_mb: 100, timeout_ms: None, cache_size: 1000, min_score: 0.5 }
    }
}

/// The model name semtrace runs custom models as.
pub const ERROR_CLASSIFIER: &str = "error_classifier";

impl Config {
    /// Applies `processing` and `features` to the settings they name.
    fn apply_processor_sections(&mut self) {
        let processing = &self.processing;
        if let Some(batch_size) = processing.batch_size {
            self.otel_storage.batch_size = batch_size;
        }
        if let Some(concurrency) = processing.concurrency {
            self.pipeline.concurrency = concurrency;
        }
        if let Some(queue_size) = processing.queue_size {
            self.pipeline.queue_size = queue_size;
        }
        self.sampling.enabled |= self.features.smart_sampling;
    }

    /// The custom error classifier's limits and file, when one is configured.
    pub fn error_classifier(&self) -> Option<(&Path, semtrace_wasm::Limits, &ModelSettings)> {
        let model = self.models.get(ERROR_CLASSIFIER).filter(|model| !model.path.as_os_str().is_empty())?;
        let timeout_ms = model.timeout_ms.or(self.processing.timeout_ms).unwrap_or(50);
        Some((&model.path, semtrace_wasm::Limits { memory_limit_mb: model.memory_limit_mb, timeout_ms }, model))
    }

    fn validate_models(&self) -> anyhow::Result<()> {
        for (name, model) in &self.models {
            check_range(&format!("models.{name}.memory_limit_mb"), model.memory_limit_mb.into(), 1, 4096)?;
            if let Some(timeout) = model.timeout_ms {
                check_range(&format!("models.{name}.timeout_ms"), timeout, 1, 10_000)?;
            }
            if !(0.0..=1.0).contains(&model.min_score) {
                bail!("models.{name}.min_score = {} is out of range: allowed 0 to 1", model.min_score);
            }
        }
        if let Some(timeout) = self.processing.timeout_ms {
            check_range("processing.timeout_ms", timeout, 1, 10_000)?;
        }
        Ok(())
    }
}

/// Tail sampling (off by default): each trace is kept or dropped once complete, at the rate of
/// the first rule that applies: errors (`error_events`), attribute rules, slow traces
/// (`slow_spans`), operation patterns, services, the rest (`normal_spans`). Spans wait for the
/// decision in an fsynced hold log, so a crash loses nothing acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingSettings {
    pub enabled: bool,
    /// Decide and count (metrics, health), but keep every trace.
    pub dry_run: bool,
    /// The seeds' rates (0–1).
    pub error_events: f64,
    pub slow_spans: f64,
    pub normal_spans: f64,
    /// A root span this long (ms) makes its trace slow; 0: no fixed threshold.
    pub slow_threshold_ms: u64,
    /// A root span at this quantile of its operation's recent durations makes its trace slow
    /// (0.5–0.999); 0: only the fixed threshold.
    pub slow_percentile: f64,
    /// A trace is decided once no span of it arrived for this long (0.01–3600 s).
    pub decision_wait_seconds: f64,
    /// A trace still receiving spans is decided after this long anyway (at least the wait).
    pub max_trace_wait_seconds: f64,
    /// Past this many buffered spans the oldest traces are decided early (1000–100000000).
    pub max_buffered_spans: u64,
    /// Held bytes past which clients are told to retry (1 MiB–1 TiB).
    pub max_hold_bytes: u64,
    /// Where the hold log lives; empty means `<server.data_dir>/sampling`.
    pub dir: PathBuf,
    /// Traces kept per second at most, errors aside; 0: no limit.
    pub max_traces_per_sec: f64,
    /// Rates by the root span's service.
    pub services: std::collections::BTreeMap<String, f64>,
    /// Rates by the root span's name; `*` matches any text, case is ignored, the longest
    /// pattern that matches wins. By default health checks are kept at 0.01.
    pub operations: std::collections::BTreeMap<String, f64>,
    /// Traces with a span or resource attribute `key` (equal to `value`, if given) get `rate`.
    pub attributes: Vec<AttributeRuleSettings>,
    pub adaptive: AdaptiveSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRuleSettings {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub rate: f64,
}

/// Adaptive sampling: the operation, service and normal rates are halved each tick while the
/// write queue or the hold log is over 80 % full or batch writes are slower than
/// `target_write_seconds`, down to `min_factor` of their value, and restored as it eases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveSettings {
    pub enabled: bool,
    pub min_factor: f64,
    pub target_write_seconds: f64,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings { enabled: false, min_factor: 0.01, target_write_seconds: 0.5 }
    }
}

impl Default for SamplingSettings {
    fn default() -> Self {
        let policy = semtrace_pipeline::sampling::PolicyConfig::default();
        SamplingSettings {
            enabled: false,
            dry_run: false,
            error_events: policy.error_rate,
            slow_spans: policy.slow_rate,
            normal_spans: policy.normal_rate,
            slow_threshold_ms: policy.slow_threshold_nanos / 1_000_000,
            slow_percentile: policy.slow_percentile.unwrap_or(0.0),
            decision_wait_seconds: 10.0,
            max_trace_wait_seconds: 120.0,
            max_buffered_spans: 200_000,
            max_hold_bytes: 1 << 30,
            dir: PathBuf::new(),
            max_traces_per_sec: 0.0,
            services: Default::default(),
            operations: ["*health*", "*healthz*", "*readyz*", "*livez*", "*readiness*", "*liveness*"]
                .into_iter()
                .map(|pattern| (pattern.to_owned(), 0.01))
                .collect(),
            attributes: Vec::new(),
            adaptive: AdaptiveSettings::default(),
        }
    }
}

impl SamplingSettings {
    /// The sampler's settings; `data_dir` holds the hold log unless `dir` says otherwise.
    pub fn sampling_config(&self, data_dir: &Path) -> semtrace_pipeline::SamplingConfig {
        use semtrace_pipeline::sampling::{AdaptiveConfig, AttributeRule, PolicyConfig};
        let dir = if self.dir.as_os_str().is_empty() { data_dir.join("sampling") } else { self.dir.clone() };
        let mut operations: Vec<(String, f64)> = self.operations.iter().map(|(k, v)| (k.clone(), *v)).collect();
        operations.sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.len()));
        let policy = PolicyConfig {
            error_rate: self.error_events,
            slow_rate: self.slow_spans,
            normal_rate: self.normal_spans,
            slow_threshold_nanos: self.slow_threshold_ms.saturating_mul(1_000_000),
            slow_percentile: (self.slow_percentile > 0.0).then_some(self.slow_percentile),
            services: self.services.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            operations,
            attributes: self
                .attributes
                .iter()
                .map(|rule| AttributeRule { key: rule.key.clone(), value: rule.value.clone(), rate: rule.rate })
                .collect(),
            max_traces_per_sec: (self.max_traces_per_sec > 0.0).then_some(self.max_traces_per_sec),
            // Set from the `importance` section by `Config::pipeline_config`.
            importance: Vec::new(),
        };
        let wait = std::time::Duration::from_secs_f64(self.decision_wait_seconds.clamp(0.0, 3600.0));
        semtrace_pipeline::SamplingConfig {
            enabled: self.enabled,
            dir,
            max_hold_bytes: self.max_hold_bytes,
            decision_wait: wait,
            max_trace_wait: std::time::Duration::from_secs_f64(self.max_trace_wait_seconds.clamp(0.0, 86_400.0))
                .max(wait),
            max_buffered_spans: self.max_buffered_spans as usize,
            policy,
            adaptive: self.adaptive.enabled.then_some(AdaptiveConfig {
                min_factor: self.adaptive.min_factor,
                target_write_seconds: self.adaptive.target_write_seconds,
            }),
            dry_run: self.dry_run,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(0.01..=3600.0).contains(&self.decision_wait_seconds) {
            bail!(
                "sampling.decision_wait_seconds = {} is out of range: allowed 0.01 to 3600",
                self.decision_wait_seconds
            );
        }
        check_range("sampling.max_buffered_spans", self.max_buffered_spans, 1000, 100_000_000)?;
        check_range("sampling.max_hold_bytes", self.max_hold_bytes, 1 << 20, 1 << 40)?;
        if !(0.0..=1.0).contains(&self.adaptive.min_factor) || self.adaptive.target_write_seconds <= 0.0 {
            bail!("sampling.adaptive: min_factor is from 0 to 1 and target_write_seconds above 0");
        }
        semtrace_pipeline::sampling::policy::Policy::new(self.sampling_config(Path::new("")).policy)
            .map_err(|err| anyhow::anyhow!("sampling: {err}"))?;
        Ok(())
    }
}

/// OTLP log records and how they join spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSettings {
    /// Seconds a severe log record with trace context waits for its span to arrive (1–86400);
    /// past it the record stays stored and searchable but is not evidence of its span, and
    /// `semtrace_logs_join_missed_total` counts it.
    pub join_window_seconds: u32,
}

impl Default for LogsSettings {
    fn default() -> Self {
        LogsSettings { join_window_seconds: 300 }
    }
}

/// The embedded store's memory: SQLite page caches, each a ceiling that fills as pages are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteSettings {
    /// Page cache of the writer connection, in MiB (4–16384). 64 MiB ingested as fast as 256
    /// (README, "Memory") and kept peak RSS under 500 MiB.
    pub writer_cache_mb: u32,
    /// Page cache of each read connection, in MiB (1–4096); at most eight are open.
    pub reader_cache_mb: u32,
    /// New traces held in memory (about 25 bytes each, 1–4194304) before their ids are merged
    /// into the trace id index in one sorted pass (ARCHITECTURE.md, `trace_keys.rs`).
    pub trace_keys_merge_at: u32,
    /// Days of traces kept: a trace that started longer ago is dropped whole (0–36500; 0 keeps
    /// everything). README, "Retention".
    pub retention_days: u32,
    /// Bytes of live data kept (0: no cap): past it, the oldest traces are dropped until it is
    /// under 90 % of the cap. Whichever of this and `retention_days` drops more wins.
    pub max_bytes: u64,
    /// Seconds between retention runs (10–86400).
    pub retention_interval_seconds: u32,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            writer_cache_mb: semtrace_store_sqlite::DEFAULT_WRITER_CACHE_MIB,
            reader_cache_mb: semtrace_store_sqlite::DEFAULT_READER_CACHE_MIB,
            trace_keys_merge_at: semtrace_store_sqlite::DEFAULT_TRACE_KEYS_MERGE_AT as u32,
            retention_days: 0,
            max_bytes: 0,
            retention_interval_seconds: 300,
        }
    }
}

/// The PostgreSQL backend's own settings (the connection string is the seeds' field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresSettings {
    /// Connections in the pool shared by writers and readers (2–256).
    pub pool_size: u32,
    /// Days of spans kept: older day partitions are dropped hourly. 0 keeps everything (0–36500).
    pub retention_days: u32,
    /// pgvector index over template embeddings: `hnsw`, or `ivfflat` (built once 1,000 templates
    /// are embedded, `lists = sqrt(rows)`).
    pub vector_index: VectorIndexKind,
    /// This node's name among the semtrace processes sharing the database (its claims on
    /// templates to embed, its heartbeat in `/api/v1/cluster`, its share of the totals). Empty:
    /// the host's name and the API's port, which stay the same across restarts.
    pub node_name: String,
    /// Past this many stored templates, search asks pgvector's HNSW index for the templates
    /// nearest a query instead of scanning every vector in memory (0: never; needs
    /// `vector_index: hnsw`). See "Several nodes on one PostgreSQL" in the README.
    pub ann_above_templates: u64,
    /// `hnsw.ef_search` of those queries (1–1000): higher finds more of the true nearest
    /// templates, slower; also at most how many templates a search ranks.
    pub hnsw_ef_search: u32,
}

impl PostgresSettings {
    /// The node name: `node_name`, else `<host name>:<API port>`.
    pub fn node_name(&self, server: &ServerSettings) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        let port = server.http_addr.rsplit(':').next().unwrap_or_default();
        format!("{}:{port}", semtrace_store_postgres::host_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VectorIndexKind {
    #[default]
    Hnsw,
    Ivfflat,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            pool_size: 8,
            retention_days: 0,
            vector_index: VectorIndexKind::Hnsw,
            node_name: String::new(),
            ann_above_templates: 200_000,
            hnsw_ef_search: 400,
        }
    }
}

/// Semantic search: the model and where to find it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticSettings {
    /// Load the model, embed templates and serve `/api/v1/search`. Off: no model is needed,
    /// and search answers 503.
    pub enabled: bool,
    /// Folder holding one folder per model (`<models_dir>/all-MiniLM-L6-v2`), searched before
    /// the Hugging Face cache. Relative paths are from the working directory.
    pub models_dir: PathBuf,
    /// Nice value of the threads that embed new templates (0–19): 19, the default, lets them
    /// run on what CPU ingest leaves, so a burst of new templates grows the embedding backlog
    /// instead of slowing ingest; 0 runs them at the server's own priority.
    pub indexer_nice: u32,
    /// Seconds the indexer may wait while the write pipeline is saturated (its writer leaves
    /// export requests waiting), counted from the start of that stretch; then it embeds anyway, at the server's own priority.
    /// A new template is searchable at most this long after it arrived, plus a batch's
    /// embedding. 0: embed at once whatever the load.
    pub max_index_lag_seconds: u32,
    /// Embed new templates here. Off, on PostgreSQL: a node that only serves searches (and
    /// ingest), leaving the model's work to the other nodes; it still finds what they embed
    /// within a second or so.
    pub embed_templates: bool,
}

impl Default for SemanticSettings {
    fn default() -> Self {
        SemanticSettings {
            enabled: true,
            models_dir: PathBuf::from("./models"),
            indexer_nice: 19,
            max_index_lag_seconds: 30,
            embed_templates: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    #[default]
    Sqlite,
    Postgres,
}

/// The seeds' `OTelStorageSettings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelStorageSettings {
    /// Accepted for compatibility with the seeds' files; semtrace always stores what it receives.
    pub enabled: bool,
    /// PostgreSQL connection string, used when `storage` is `postgres`.
    pub connection_string: String,
    /// Sentence-transformer model name or folder for semantic search.
    pub embedding_model: String,
    /// Vector dimension; must match the model (128–1024).
    pub embedding_dimension: u32,
    /// Embeddings kept in memory (100–10000).
    pub cache_size: u32,
    /// Minimum cosine similarity of search results (0.0–1.0). The seeds' 0.85 returns nothing
    /// with MiniLM, whose relevant matches score 0.3–0.76: see README "Similarity threshold".
    pub similarity_threshold: f64,
    /// Export requests committed together in one transaction at most (10–1000).
    pub batch_size: u32,
    /// Seconds the writer may keep a batch open (1–60). The writer commits as soon as it is free,
    /// so under normal load batches close much sooner; see README "Batching".
    pub batch_interval_seconds: u32,
    /// Retries of a batch whose store write failed with a retryable error (1–10), with
    /// exponential backoff and jitter.
    pub max_retries: u32,
    /// Consecutive failed batches before the circuit breaker opens (3–20); see README "Batching".
    pub circuit_breaker_threshold: u32,
}

impl Default for OtelStorageSettings {
    fn default() -> Self {
        OtelStorageSettings {
            enabled: false,
            connection_string: "postgresql://postgres:password@localhost:5432/otel_traces".into(),
            embedding_model: "all-MiniLM-L6-v2".into(),
            embedding_dimension: 384,
            cache_size: 1000,
            similarity_threshold: DEFAULT_SIMILARITY_THRESHOLD,
            batch_size: 100,
            batch_interval_seconds: 5,
            max_retries: 3,
            circuit_breaker_threshold: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: String,
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: String,
    /// Query API, metrics and UI listen address.
    pub http_addr: String,
    /// Serve addresses other than loopback without authentication (`--insecure`): anyone who
    /// reaches them can send and read traces.
    pub insecure: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            data_dir: PathBuf::from("./data"),
            otlp_grpc_addr: "127.0.0.1:4317".into(),
            otlp_http_addr: "127.0.0.1:4318".into(),
            http_addr: "127.0.0.1:16686".into(),
            insecure: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Export requests waiting for the writer before clients are told to retry (1–1000000).
    pub queue_size: u32,
    /// Batches written at once (1–16).
    pub concurrency: u32,
    /// While the store is unavailable, acknowledge batches from an on-disk spool (fsynced) and
    /// replay them, in order, when it recovers. Off: clients are told to retry instead.
    pub spool_enabled: bool,
    /// Where the spool lives; empty means `<server.data_dir>/spool`.
    pub spool_dir: PathBuf,
    /// Spooled bytes past which clients are told to retry (1 MiB–1 TiB). The file may take up to
    /// twice this on disk: it grows by doubling.
    pub spool_max_bytes: u64,
    /// Memory budget for requests in flight (bodies being decoded, queued or written), in
    /// (decompressed) request bytes; past it requests get 429 / UNAVAILABLE before their bodies
    /// are read. At least `limits.max_decompressed_bytes`, at most 64 GiB.
    pub max_inflight_bytes: u64,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            queue_size: 1024,
            concurrency: 2,
            spool_enabled: true,
            spool_dir: PathBuf::new(),
            spool_max_bytes: 1 << 30,
            max_inflight_bytes: 128 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Largest OTLP/HTTP request body as sent, in bytes. gRPC has a single limit,
    /// `max_decompressed_bytes`, for a message compressed or not (tonic's).
    pub max_body_bytes: u64,
    /// Largest request body after gzip inflation, and largest gRPC message, in bytes.
    pub max_decompressed_bytes: u64,
    /// Most spans in one export request.
    pub max_spans_per_request: u64,
    /// Attributes kept per span, event, link and resource; the rest are dropped and counted.
    pub max_attributes_per_span: u64,
    /// Longest attribute value kept, in bytes; longer values are cut.
    pub max_attribute_value_bytes: u64,
    /// gRPC messages being decoded at once (before their memory is reserved); past it, calls are
    /// refused retryably. Worst-case memory of decoding: this × `max_decompressed_bytes`.
    pub max_concurrent_grpc_decodes: u64,
    /// Connections open at once on each listener (1–1000000); past it, new ones are closed.
    pub max_connections: u64,
    /// A request's headers must arrive within this many seconds (HTTP/1; 1–300): slowloris.
    pub header_read_timeout_seconds: u64,
    /// An OTLP/HTTP body must arrive within this many seconds of its headers (1–3600); else 408.
    pub body_read_timeout_seconds: u64,
    /// A query (search, trace, Jaeger API…) answers within this many seconds (1–3600), else 503.
    pub query_timeout_seconds: u64,
    /// HTTP/2 streams open at once on one gRPC connection (1–10000).
    pub grpc_max_concurrent_streams: u64,
    /// Spans (and log records) each tenant may send a second; 0: unlimited. Past it, OTLP
    /// answers 429 / RESOURCE_EXHAUSTED with how long to wait.
    pub tenant_spans_per_second: u64,
    /// Request bytes (as sent) each tenant may send a second; 0: unlimited.
    pub tenant_bytes_per_second: u64,
    /// Rates of named tenants, instead of the two above.
    pub tenants: std::collections::BTreeMap<String, TenantRateSettings>,
    /// Bytes each tenant's store may hold (its data directory, as health's `disk_bytes`); past
    /// it OTLP answers 429 / RESOURCE_EXHAUSTED until retention frees space; 0: unlimited.
    pub tenant_max_stored_bytes: u64,
    /// Tenants with an open stack at once (1–10000): each holds its own store connections,
    /// caches, queue and indexer threads. A request for one more is refused (503) and says so.
    pub max_tenants: u64,
}

/// A named tenant's ingest rates; 0: unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantRateSettings {
    pub spans_per_second: u64,
    pub bytes_per_second: u64,
    /// Instead of `tenant_max_stored_bytes`; 0: that one.
    pub max_stored_bytes: u64,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        let defaults = semtrace_receiver::ReceiverLimits::default();
        LimitsSettings {
            max_body_bytes: defaults.max_body_bytes as u64,
            max_decompressed_bytes: defaults.max_decompressed_bytes as u64,
            max_spans_per_request: defaults.max_spans_per_request as u64,
            max_attributes_per_span: defaults.max_attributes_per_span as u64,
            max_attribute_value_bytes: defaults.max_attribute_value_bytes as u64,
            max_concurrent_grpc_decodes: defaults.max_concurrent_grpc_decodes as u64,
            max_connections: 4096,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: defaults.body_read_timeout.as_secs(),
            query_timeout_seconds: 30,
            grpc_max_concurrent_streams: 128,
            tenant_spans_per_second: 0,
            tenant_bytes_per_second: 0,
            tenants: Default::default(),
            tenant_max_stored_bytes: 0,
            max_tenants: 64,
        }
    }
}

impl LimitsSettings {
    pub fn build(&self) -> semtrace_receiver::ReceiverLimits {
        semtrace_receiver::ReceiverLimits {
            max_body_bytes: self.max_body_bytes as usize,
            max_decompressed_bytes: self.max_decompressed_bytes as usize,
            max_spans_per_request: self.max_spans_per_request as usize,
            max_attributes_per_span: self.max_attributes_per_span as usize,
            max_attribute_value_bytes: self.max_attribute_value_bytes as usize,
            max_concurrent_grpc_decodes: self.max_concurrent_grpc_decodes as usize,
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_seconds),
            tenants: semtrace_receiver::TenantLimits::new(
                semtrace_receiver::TenantRate {
                    items_per_second: self.tenant_spans_per_second as f64,
                    bytes_per_second: self.tenant_bytes_per_second as f64,
                },
                self.tenants
                    .iter()
                    .map(|(tenant, rate)| {
                        let rate = semtrace_receiver::TenantRate {
                            items_per_second: rate.spans_per_second as f64,
                            bytes_per_second: rate.bytes_per_second as f64,
                        };
                        (tenant.clone(), rate)
                    })
                    .collect(),
            ),
        }
    }

    /// The stored bytes `tenant` may hold; 0: unlimited.
    pub fn max_stored_bytes(&self, tenant: &str) -> u64 {
        self.tenants
            .get(tenant)
            .map(|rate| rate.max_stored_bytes)
            .filter(|bytes| *bytes > 0)
            .unwrap_or(self.tenant_max_stored_bytes)
    }

    /// What every listener holds to.
    pub fn listen(&self) -> crate::listen::ListenLimits {
        crate::listen::ListenLimits {
            max_connections: self.max_connections as usize,
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_seconds),
        }
    }
}

/// Command-line values that override everything else (`None` leaves the loaded value).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub otlp_grpc_addr: Option<String>,
    pub otlp_http_addr: Option<String>,
    pub http_addr: Option<String>,
    /// `--insecure`: sets `server.insecure`.
    pub insecure: bool,
}

impl Config {
    /// Loads every layer. `env` is the process environment (passed in for tests).
    pub fn load(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> anyhow::Result<Config> {
        // What the files and the environment set, apart from the defaults, for the notices.
        let mut explicit = Value::Object(Default::default());
        if let Some(path) = config_file {
            merge(&mut explicit, read_yaml(path)?);
            let local = path.parent().unwrap_or(Path::new(".")).join("local.yaml");
            if local.exists() && local != path {
                merge(&mut explicit, read_yaml(&local)?);
            }
        }
        merge(&mut explicit, env_layer(env)?);
        let mut merged = serde_json::to_value(Config::default()).expect("defaults serialise");
        merge(&mut merged, explicit.clone());
        let mut config: Config = serde_path_to_error::deserialize(merged).map_err(|err| {
            let path = err.path().to_string();
            anyhow::anyhow!("invalid configuration at `{path}`: {}", err.into_inner())
        })?;
        let server = &mut config.server;
        if let Some(value) = &overrides.data_dir {
            server.data_dir = value.clone();
        }
        if let Some(value) = &overrides.otlp_grpc_addr {
            server.otlp_grpc_addr = value.clone();
        }
        if let Some(value) = &overrides.otlp_http_addr {
            server.otlp_http_addr = value.clone();
        }
        if let Some(value) = &overrides.http_addr {
            server.http_addr = value.clone();
        }
        server.insecure |= overrides.insecure;
        config.apply_processor_sections();
        config.validate()?;
        config.notices = notices(&explicit);
        Ok(config)
    }

    /// The listeners' gate: the configured tokens and those of `auth.token_file`, else off.
    pub fn auth(&self) -> anyhow::Result<semtrace_auth::Auth> {
        let mut entries = self.auth.tokens.clone();
        if let Some(path) = &self.auth.token_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read auth.token_file {}", path.display()))?;
            let listed: Vec<semtrace_auth::TokenEntry> = serde_saphyr::from_str(&text).with_context(|| {
                format!(
                    "auth.token_file {}: expected a YAML list of tokens (name, sha256, role, tenant)",
                    path.display()
                )
            })?;
            entries.extend(listed);
        } else if entries.is_empty() {
            return Ok(semtrace_auth::Auth::off());
        }
        Ok(semtrace_auth::Auth::with_tokens(semtrace_auth::Tokens::new(&entries)?))
    }

    /// Checks every range; the error names the field, the value and what is allowed.
    pub fn validate(&self) -> anyhow::Result<()> {
        let seeds = &self.otel_storage;
        check_range("otel_storage.embedding_dimension", seeds.embedding_dimension.into(), 128, 1024)?;
        check_range("otel_storage.cache_size", seeds.cache_size.into(), 100, 10_000)?;
        check_range("otel_storage.batch_size", seeds.batch_size.into(), 10, 1000)?;
        check_range("otel_storage.batch_interval_seconds", seeds.batch_interval_seconds.into(), 1, 60)?;
        check_range("otel_storage.max_retries", seeds.max_retries.into(), 1, 10)?;
        check_range("otel_storage.circuit_breaker_threshold", seeds.circuit_breaker_threshold.into(), 3, 20)?;
        if !(0.0..=1.0).contains(&seeds.similarity_threshold) {
            bail!(
                "otel_storage.similarity_threshold = {} is out of range: allowed 0.0 to 1.0",
                seeds.similarity_threshold
            );
        }
        check_range("pipeline.queue_size", self.pipeline.queue_size.into(), 1, 1_000_000)?;
        check_range("pipeline.concurrency", self.pipeline.concurrency.into(), 1, 16)?;
        check_range("pipeline.spool_max_bytes", self.pipeline.spool_max_bytes, 1 << 20, 1 << 40)?;
        check_range(
            "pipeline.max_inflight_bytes",
            self.pipeline.max_inflight_bytes,
            self.limits.max_decompressed_bytes.min(1 << 36),
            1 << 36,
        )
        .context("pipeline.max_inflight_bytes must be at least limits.max_decompressed_bytes")?;
        check_range("postgres.pool_size", self.postgres.pool_size.into(), 2, 256)?;
        check_range("postgres.retention_days", self.postgres.retention_days.into(), 0, 36_500)?;
        check_range("postgres.hnsw_ef_search", self.postgres.hnsw_ef_search.into(), 1, 1000)?;
        check_range("logs.join_window_seconds", self.logs.join_window_seconds.into(), 1, 86_400)?;
        check_range("semantic.indexer_nice", self.semantic.indexer_nice.into(), 0, 19)?;
        check_range("semantic.max_index_lag_seconds", self.semantic.max_index_lag_seconds.into(), 0, 3600)?;
        check_range("sqlite.writer_cache_mb", self.sqlite.writer_cache_mb.into(), 4, 16_384)?;
        check_range("sqlite.reader_cache_mb", self.sqlite.reader_cache_mb.into(), 1, 4_096)?;
        check_range("limits.max_connections", self.limits.max_connections, 1, 1_000_000)?;
        check_range("limits.header_read_timeout_seconds", self.limits.header_read_timeout_seconds, 1, 300)?;
        check_range("limits.body_read_timeout_seconds", self.limits.body_read_timeout_seconds, 1, 3600)?;
        check_range("limits.query_timeout_seconds", self.limits.query_timeout_seconds, 1, 3600)?;
        check_range("limits.grpc_max_concurrent_streams", self.limits.grpc_max_concurrent_streams, 1, 10_000)?;
        check_range("limits.max_tenants", self.limits.max_tenants, 1, 10_000)?;
        for tenant in self.limits.tenants.keys() {
            semtrace_auth::check_tenant(tenant).map_err(|reason| anyhow::anyhow!("limits.tenants: {reason}"))?;
        }
        check_range("sqlite.trace_keys_merge_at", self.sqlite.trace_keys_merge_at.into(), 1, 1 << 22)?;
        check_range("sqlite.retention_days", self.sqlite.retention_days.into(), 0, 36_500)?;
        check_range("sqlite.retention_interval_seconds", self.sqlite.retention_interval_seconds.into(), 10, 86_400)?;
        if !self.semantic.embed_templates && self.semantic.enabled && self.storage == StorageKind::Sqlite {
            bail!(
                "semantic.embed_templates = false leaves embedding to other nodes on one PostgreSQL; the embedded \
                 store has none, so nothing would ever be searchable: set it to true, or storage = \"postgres\""
            );
        }
        self.redaction.redactor()?;
        self.auth()?;
        self.tls.files()?;
        self.sampling.validate()?;
        self.validate_models()?;
        self.importance.validate()?;
        let limits = &self.limits;
        check_range("limits.max_body_bytes", limits.max_body_bytes, 1024, 1 << 32)?;
        check_range(
            "limits.max_decompressed_bytes",
            limits.max_decompressed_bytes,
            limits.max_body_bytes.min(1 << 32),
            1 << 32,
        )
        .context("limits.max_decompressed_bytes must be at least limits.max_body_bytes")?;
        check_range("limits.max_spans_per_request", limits.max_spans_per_request, 1, 10_000_000)?;
        check_range("limits.max_attributes_per_span", limits.max_attributes_per_span, 1, 100_000)?;
        check_range("limits.max_attribute_value_bytes", limits.max_attribute_value_bytes, 16, 1 << 30)?;
        check_range("limits.max_concurrent_grpc_decodes", limits.max_concurrent_grpc_decodes, 1, 4096)?;
        for (name, addr) in [
            ("server.otlp_grpc_addr", &self.server.otlp_grpc_addr),
            ("server.otlp_http_addr", &self.server.otlp_http_addr),
            ("server.http_addr", &self.server.http_addr),
        ] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                bail!("{name} = {addr:?} is not a socket address: write IP:PORT, e.g. 127.0.0.1:4317");
            }
        }
        Ok(())
    }

    /// The pipeline's settings, from the seeds' batch fields and ours.
    pub fn pipeline_config(&self) -> semtrace_pipeline::PipelineConfig {
        semtrace_pipeline::PipelineConfig {
            queue_size: self.pipeline.queue_size as usize,
            batch_size: self.otel_storage.batch_size as usize,
            concurrency: self.pipeline.concurrency as usize,
            max_retries: self.otel_storage.max_retries,
            breaker_threshold: self.otel_storage.circuit_breaker_threshold,
            spool: self.pipeline.spool_enabled.then(|| semtrace_pipeline::SpoolConfig {
                dir: if self.pipeline.spool_dir.as_os_str().is_empty() {
                    self.server.data_dir.join("spool")
                } else {
                    self.pipeline.spool_dir.clone()
                },
                max_bytes: self.pipeline.spool_max_bytes,
            }),
            max_inflight_bytes: self.pipeline.max_inflight_bytes as usize,
            // Checked by `validate`.
            redactor: self.redaction.redactor().ok().flatten().map(std::sync::Arc::new),
            sampling: Some({
                let mut sampling = self.sampling.sampling_config(&self.server.data_dir);
                sampling.policy.importance = self.importance.weights();
                sampling
            }),
        }
    }
}

/// Keys the seeds' files set that semtrace reads and that change nothing, when a layer sets them.
fn notices(explicit: &Value) -> Vec<String> {
    let seeds = &explicit["otel_storage"];
    let mut notices = Vec::new();
    if seeds["enabled"] == Value::Bool(false) {
        notices.push(
            "otel_storage.enabled is false, which changes nothing: semtrace stores everything it receives \
             (the key is read so that the seeds' files load)"
                .to_owned(),
        );
    }
    if !seeds["batch_interval_seconds"].is_null() {
        notices.push(
            "otel_storage.batch_interval_seconds changes nothing: the writer commits as soon as it is free, so \
             no batch waits for an interval (README \"Batching\"); batch_size still applies"
                .to_owned(),
        );
    }
    if let Value::Object(models) = &explicit["models"] {
        for name in models.keys().filter(|name| name.as_str() != ERROR_CLASSIFIER) {
            notices.push(format!(
                "models.{name} changes nothing: semtrace runs a custom model only as models.{ERROR_CLASSIFIER}"
            ));
        }
    }
    notices
}

fn check_range(field: &str, value: u64, min: u64, max: u64) -> anyhow::Result<()> {
    if value < min || value > max {
        bail!("{field} = {value} is out of range: allowed {min} to {max}");
    }
    Ok(())
}

fn read_yaml(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    if text.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with('#')) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value =
        serde_saphyr::from_str(&text).with_context(|| format!("config file {} is not valid YAML", path.display()))?;
    match value {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(value),
        _ => bail!("config file {} must hold a mapping of sections", path.display()),
    }
}

/// `SEMTRACE_OTEL_STORAGE__BATCH_SIZE=200` becomes `{otel_storage: {batch_size: 200}}`;
/// `SEMTRACE_STORAGE=sqlite` sets a top-level key. Values are read as YAML scalars.
fn env_layer(env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Value> {
    let mut layer = Value::Object(Default::default());
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) || path.len() > 2 {
            bail!("environment variable {name} is not of the form {ENV_PREFIX}<SECTION>__<KEY>");
        }
        let value: Value = serde_saphyr::from_str(&raw).unwrap_or_else(|_| Value::String(raw.clone()));
        let root = layer.as_object_mut().expect("the layer is an object");
        match path.as_slice() {
            [key] => {
                root.insert(key.clone(), value);
            }
            [section, key] => {
                let section = root.entry(section.clone()).or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(section) = section {
                    section.insert(key.clone(), value);
                } else {
                    bail!("environment variable {name} sets a key inside {section:?}, which another variable sets as a value");
                }
            }
            _ => unreachable!("checked above"),
        }
    }
    Ok(layer)
}

/// Deep-merges `layer` into `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Object(base), Value::Object(layer)) => {
            for (key, value) in layer {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, layer) => *base = layer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn load(
        yaml: Option<&str>,
        local: Option<&str>,
        vars: &[(&str, &str)],
        overrides: Overrides,
    ) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("semtrace.yaml");
        if let Some(yaml) = yaml {
            std::fs::write(&path, yaml).unwrap();
        }
        if let Some(local) = local {
            std::fs::write(dir.path().join("local.yaml"), local).unwrap();
        }
        Config::load(yaml.map(|_| path.as_path()), env(vars), &overrides)
    }

    #[test]
    fn defaults_are_the_seeds_but_the_threshold() {
        // The seeds' table of `OTelStorageSettings` (design document 001), value by value.
        let config = load(None, None, &[], Overrides::default()).unwrap();
        let seeds = &config.otel_storage;
        assert!(!seeds.enabled);
        assert_eq!(seeds.connection_string, "postgresql://postgres:password@localhost:5432/otel_traces");
        assert_eq!(seeds.embedding_model, "all-MiniLM-L6-v2");
        assert_eq!(seeds.embedding_dimension, 384);
        assert_eq!(seeds.cache_size, 1000);
        assert_eq!(seeds.batch_size, 100);
        assert_eq!(seeds.batch_interval_seconds, 5);
        assert_eq!(seeds.max_retries, 3);
        assert_eq!(seeds.circuit_breaker_threshold, 5);
        // The one departure: the seeds' 0.85 is above every relevant MiniLM score.
        assert_eq!(seeds.similarity_threshold, 0.15);
        assert_eq!(config.server.otlp_grpc_addr, "127.0.0.1:4317");
        assert_eq!(config.server.otlp_http_addr, "127.0.0.1:4318");
        assert!(config.notices.is_empty(), "defaults alone raise no notice: {:?}", config.notices);
    }

    #[test]
    fn keys_that_change_nothing_are_noticed_when_set() {
        let seed = "otel_storage:\n  enabled: false\n  batch_interval_seconds: 10\n";
        let config = load(Some(seed), None, &[], Overrides::default()).unwrap();
        assert_eq!(config.notices.len(), 2, "{:?}", config.notices);
        assert!(config.notices[0].starts_with("otel_storage.enabled is false"), "{:?}", config.notices);
        assert!(config.notices[1].starts_with("otel_storage.batch_interval_seconds"), "{:?}", config.notices);
        let config = load(None, None, &[("SEMTRACE_OTEL_STORAGE__ENABLED", "true")], Overrides::default()).unwrap();
        assert!(config.notices.is_empty(), "{:?}", config.notices);
    }

    #[test]
    fn what_semtrace_config_prints_loads_back_the_same() {
        let mut config = Config::default();
        config.otel_storage.batch_size = 250;
        config.server.data_dir = PathBuf::from("/var/lib/semtrace");
        config.postgres.vector_index = VectorIndexKind::Ivfflat;
        let printed = serde_saphyr::to_string(&config).unwrap();
        let loaded = load(Some(&printed), None, &[], Overrides::default()).unwrap();
        assert_eq!(Config { notices: Vec::new(), ..loaded }, config, "{printed}");
    }

    #[test]
    fn layers_apply_in_order() {
        let yaml = "otel_storage:\n  batch_size: 200\n  cache_size: 500\nserver:\n  data_dir: /tmp/a\n";
        let local = "otel_storage:\n  batch_size: 300\n";
        let config = load(
            Some(yaml),
            Some(local),
            &[
                ("SEMTRACE_OTEL_STORAGE__CACHE_SIZE", "700"),
                ("SEMTRACE_SERVER__HTTP_ADDR", "127.0.0.1:9999"),
                ("OTHER", "x"),
            ],
            Overrides { http_addr: Some("127.0.0.1:1234".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(config.otel_storage.batch_size, 300, "local.yaml beats the file");
        assert_eq!(config.otel_storage.cache_size, 700, "environment beats the files");
        assert_eq!(config.server.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(config.server.http_addr, "127.0.0.1:1234", "flags beat the environment");
    }

    /// The profiles under `examples/config/` load, validate, and mean what they say; the
    /// custom model each names loads.
    #[test]
    fn the_example_profiles_load_with_their_processor_sections_applied() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = 0;
        for entry in std::fs::read_dir(root.join("examples/config")).unwrap() {
            let path = entry.unwrap().path();
            let config = Config::load(Some(&path), Vec::new(), &Overrides::default())
                .unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
            let processing = &config.processing;
            assert_eq!(Some(config.otel_storage.batch_size), processing.batch_size, "{}", path.display());
            assert_eq!(Some(config.pipeline.concurrency), processing.concurrency);
            assert_eq!(Some(config.pipeline.queue_size), processing.queue_size);
            assert_eq!(config.sampling.enabled, config.features.smart_sampling);
            assert!(config.notices.is_empty(), "{}: {:?}", path.display(), config.notices);
            let (model, limits, _) = config.error_classifier().expect("each profile names the example model");
            semtrace_wasm::WasmModel::load(&root.join(model), limits).unwrap();
            seen += 1;
        }
        assert_eq!(seen, 3, "high-volume, resource-constrained, low-latency");
    }

    #[test]
    fn processing_features_and_models_sections_are_seed_003s() {
        let yaml = "processing:\n  batch_size: 50\n  concurrency: 4\n  queue_size: 1000\n  timeout_ms: 500\n\
                    features:\n  error_classification: true\n  smart_sampling: true\n  entity_extraction: true\n\
                    models:\n  error_classifier:\n    path: /models/error-classifier.wasm\n    memory_limit_mb: 100\n    \
                    cache_size: 1000\n  importance_sampler:\n    memory_limit_mb: 50\n";
        let config = load(Some(yaml), None, &[], Overrides::default()).unwrap();
        assert_eq!(
            (config.otel_storage.batch_size, config.pipeline.concurrency, config.pipeline.queue_size),
            (50, 4, 1000)
        );
        assert!(config.sampling.enabled, "smart_sampling turns sampling on");
        let (path, limits, _) = config.error_classifier().unwrap();
        assert_eq!(path, Path::new("/models/error-classifier.wasm"));
        assert_eq!(limits, semtrace_wasm::Limits { memory_limit_mb: 100, timeout_ms: 500 }, "processing.timeout_ms");
        assert_eq!(config.notices.len(), 1, "{:?}", config.notices);
        assert!(config.notices.iter().any(|notice| notice.starts_with("models.importance_sampler")));
        let err = load(Some("models:\n  error_classifier:\n    timeout_ms: 0\n"), None, &[], Overrides::default())
            .unwrap_err();
        assert!(format!("{err:#}").contains("models.error_classifier.timeout_ms"), "{err:#}");
    }

    #[test]
    fn importance_weights_reach_the_sampler_and_are_checked() {
        let yaml = "importance:\n  attributes: [{key: tenant.tier, value: gold, weight: 0.8}]\n";
        let config = load(Some(yaml), None, &[], Overrides::default()).unwrap();
        let weights = config.importance.weights();
        assert_eq!(weights.len(), 1);
        assert_eq!(config.pipeline_config().sampling.unwrap().policy.importance, weights);
        let err = load(Some("importance:\n  attributes: [{key: a, weight: 2}]\n"), None, &[], Overrides::default())
            .unwrap_err();
        assert!(format!("{err:#}").contains("weights are from 0 to 1"), "{err:#}");
    }

    #[test]
    fn sampling_takes_the_seeds_rates_and_is_checked_at_load() {
        let yaml = "sampling:\n  enabled: true\n  error_events: 1.0\n  slow_spans: 0.8\n  normal_spans: 0.05\n  \
                    decision_wait_seconds: 5\n  services: {billing: 0.5}\n  operations: {'GET /status*': 0.02}\n  \
                    attributes: [{key: tenant.tier, value: gold, rate: 1.0}]\n  adaptive: {enabled: true}\n";
        let config = load(Some(yaml), None, &[], Overrides::default()).unwrap();
        let sampling = config.pipeline_config().sampling.expect("configured");
        assert!(sampling.enabled && sampling.adaptive.is_some());
        assert_eq!(sampling.dir, config.server.data_dir.join("sampling"));
        assert_eq!(sampling.decision_wait, std::time::Duration::from_secs(5));
        assert_eq!(sampling.policy.normal_rate, 0.05);
        assert_eq!(sampling.policy.services, vec![("billing".to_owned(), 0.5)]);
        assert_eq!(sampling.policy.operations[0], ("GET /status*".to_owned(), 0.02), "the longest pattern first");
        assert_eq!(sampling.policy.attributes[0].value.as_deref(), Some("gold"));
        assert!(!Config::default().pipeline_config().sampling.unwrap().enabled, "off by default");
        let err = load(Some("sampling:\n  normal_spans: 2\n"), None, &[], Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("rates are between 0 and 1"), "{err:#}");
        let err = load(Some("sampling:\n  decision_wait_seconds: 0\n"), None, &[], Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("decision_wait_seconds"), "{err:#}");
    }

    #[test]
    fn redaction_is_configured_by_pattern_and_checked_at_load() {
        let yaml = "redaction:\n  patterns: [email, card]\n  custom:\n    order: '\\bORD-\\d{6}\\b'\n";
        let config = load(Some(yaml), None, &[], Overrides::default()).unwrap();
        assert_eq!(config.redaction.patterns, vec!["email", "card"]);
        let redactor = config.pipeline_config().redactor.expect("redaction is on");
        assert_eq!(redactor.text("ORD-123456 for a@b.io").as_deref(), Some("<redacted:order> for <redacted:email>"));
        assert!(Config::default().pipeline_config().redactor.is_none(), "off by default");
        let err = load(Some("redaction:\n  patterns: [ssn]\n"), None, &[], Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("unknown redaction pattern \"ssn\""), "{err:#}");
        let err = load(Some("redaction:\n  custom:\n    broken: '('\n"), None, &[], Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("\"broken\" is not a valid regex"), "{err:#}");
    }

    #[test]
    fn the_seeds_file_is_accepted() {
        let seed = "otel_storage:\n  enabled: true\n  connection_string: \"postgresql://otel_user:password@localhost:5432/otel_traces\"\n  embedding_model: \"all-MiniLM-L6-v2\"\n  embedding_dimension: 384\n  cache_size: 1000\n  similarity_threshold: 0.85\n  batch_size: 100\n  batch_interval_seconds: 5\n  max_retries: 3\n  circuit_breaker_threshold: 5\n";
        let config = load(Some(seed), None, &[], Overrides::default()).unwrap();
        assert!(config.otel_storage.enabled);
    }

    #[test]
    fn bad_values_name_field_value_and_range() {
        let err = load(Some("otel_storage:\n  batch_size: 5\n"), None, &[], Overrides::default()).unwrap_err();
        assert_eq!(err.to_string(), "otel_storage.batch_size = 5 is out of range: allowed 10 to 1000");
        let err = load(None, None, &[("SEMTRACE_OTEL_STORAGE__SIMILARITY_THRESHOLD", "1.5")], Overrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("similarity_threshold = 1.5 is out of range"), "{err}");
        let err = load(None, None, &[("SEMTRACE_SERVER__HTTP_ADDR", "nowhere")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("server.http_addr = \"nowhere\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_with_their_path() {
        let err = load(Some("otel_storage:\n  batch_sise: 50\n"), None, &[], Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("otel_storage.batch_sise") && text.contains("unknown field"), "{text}");
        let err = load(None, None, &[("SEMTRACE_NOPE__X", "1")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = load(Some("otel_storage:\n  batch_size: lots\n"), None, &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("otel_storage.batch_size"), "{err}");
    }
}
