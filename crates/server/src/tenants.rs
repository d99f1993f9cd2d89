//! Tenants kept apart by construction, as Tempo and Loki keep each tenant's blocks apart: each
//! tenant has a stack of its own (store, write pipeline with its queue and spool, semantic index
//! and indexer, log joiner, query router), opened on first use. The default tenant's data stays
//! where it always was (`server.data_dir`); another tenant's is under
//! `server.data_dir/tenants/<tenant>/`. A request reaches only its tenant's stack, so no query,
//! count, error or suggestion can show another tenant's spans, and templates and their
//! embeddings are a tenant's own (the model, read-only, is shared).
//!
//! On PostgreSQL a tenant other than the default has its tables in a schema of its own
//! (`semtrace_store_postgres::tenant_schema`), the default tenant's staying where they were.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use semtrace_pipeline::Pipeline;
use semtrace_query::QueryState;
use tokio::sync::watch;

use crate::config::{Config, StorageKind};

/// How often a tenant's stored bytes are read again for its quota.
const STORED_REFRESH: Duration = Duration::from_secs(1);

/// A tenant's own parts.
pub struct Stack {
    pub pipeline: Pipeline,
    pub router: axum::Router,
    store: Arc<dyn semtrace_store::Store>,
    /// Its stored bytes when last read, and when.
    stored: Mutex<(u64, Option<Instant>)>,
    tasks: Mutex<Option<StackTasks>>,
}

impl Stack {
    /// Bytes the tenant's store holds, read at most once a `STORED_REFRESH`.
    async fn stored_bytes(&self) -> u64 {
        let (bytes, at) = *self.stored.lock().expect("stored lock");
        if at.is_some_and(|at| at.elapsed() < STORED_REFRESH) {
            return bytes;
        }
        let bytes = match self.store.stats().await {
            Ok(stats) => stats.disk_bytes.unwrap_or(0),
            Err(_) => bytes,
        };
        *self.stored.lock().expect("stored lock") = (bytes, Some(Instant::now()));
        bytes
    }
}

struct StackTasks {
    pipeline_task: semtrace_pipeline::PipelineTask,
    indexer: Option<semtrace_semantic::Indexer>,
    joiner: tokio::task::JoinHandle<()>,
}

/// Every tenant's stack, opened on first use.
pub struct Tenants {
    config: Config,
    embedder: Option<Arc<semtrace_embed::Embedder>>,
    metrics: PrometheusHandle,
    started: Instant,
    auth: semtrace_auth::Auth,
    stop: watch::Receiver<bool>,
    /// A cell per tenant, filled once its stack is open: the map's lock is held only to find or
    /// add a cell, so opening one tenant (seconds on a large store) holds up no other.
    stacks: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<Stack>>>>>,
}

impl Tenants {
    pub(crate) fn new(
        config: &Config,
        embedder: Option<Arc<semtrace_embed::Embedder>>,
        metrics: PrometheusHandle,
        started: Instant,
        auth: semtrace_auth::Auth,
        stop: watch::Receiver<bool>,
    ) -> Tenants {
        Tenants { config: config.clone(), embedder, metrics, started, auth, stop, stacks: Mutex::new(HashMap::new()) }
    }

    /// The tenant's stack, opened (store created or migrated) on first use.
    pub async fn stack(&self, tenant: &str) -> anyhow::Result<Arc<Stack>> {
        let cell = {
            let mut stacks = self.stacks.lock().expect("tenant stacks lock");
            match stacks.get(tenant) {
                Some(cell) => cell.clone(),
                None => {
                    semtrace_auth::check_tenant(tenant).map_err(anyhow::Error::msg)?;
                    let max = self.config.limits.max_tenants as usize;
                    anyhow::ensure!(
                        stacks.len() < max,
                        "semtrace serves at most {max} tenants at once (limits.max_tenants); tenant `{tenant}` would be one more"
                    );
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    stacks.insert(tenant.to_owned(), cell.clone());
                    cell
                }
            }
        };
        let opened = cell.get_or_try_init(|| async { self.open(tenant).await.map(Arc::new) }).await;
        match opened {
            Ok(stack) => Ok(stack.clone()),
            Err(err) => {
                // Not open: its place goes back, and the next request tries again.
                let mut stacks = self.stacks.lock().expect("tenant stacks lock");
                if stacks.get(tenant).is_some_and(|cell| !cell.initialized()) {
                    stacks.remove(tenant);
                }
                Err(err)
            }
        }
    }

    async fn open(&self, tenant: &str) -> anyhow::Result<Stack> {
        let mut config = self.config.clone();
        let mut schema = None;
        if tenant != semtrace_auth::DEFAULT_TENANT {
            // Its spool, sampling hold log and (embedded) store under a directory of its own;
            // on PostgreSQL, its tables in a schema of its own.
            config.server.data_dir = config.server.data_dir.join("tenants").join(tenant);
            if config.storage == StorageKind::Postgres {
                schema = Some(semtrace_store_postgres::tenant_schema(tenant));
            }
        }
        let store = crate::open_tenant_store(&config, schema).await?;
        let (pipeline, pipeline_task) =
            Pipeline::start(store.clone(), config.pipeline_config()).context("cannot start the write pipeline")?;
        let (semantic, indexer) = match &self.embedder {
            Some(embedder) => {
                let saturation = pipeline.saturation();
                let settings = semtrace_semantic::IndexerSettings {
                    nice: config.semantic.indexer_nice as i32,
                    busy: Arc::new(move || saturation.within(crate::SATURATION_WINDOW)),
                    max_lag: Duration::from_secs(config.semantic.max_index_lag_seconds.into()),
                    embed: config.semantic.embed_templates,
                };
                let (semantic, indexer) = semtrace_semantic::Semantic::start(
                    store.clone(),
                    embedder.clone(),
                    config.otel_storage.cache_size as usize,
                    crate::classification(&config)?,
                    settings,
                )
                .await
                .context("cannot start semantic search")?;
                (Some(semantic), Some(indexer))
            }
            None => (None, None),
        };
        // Severe log records join their spans in the background, whichever arrives first.
        let joins = Arc::new(semtrace_pipeline::join::JoinStatus::default());
        let join_config = semtrace_pipeline::join::JoinConfig {
            window: Duration::from_secs(config.logs.join_window_seconds.into()),
            ..Default::default()
        };
        let joiner =
            tokio::spawn(semtrace_pipeline::join::run(store.clone(), join_config, joins.clone(), self.stop.clone()));
        if tenant != semtrace_auth::DEFAULT_TENANT {
            tracing::info!(tenant, "tenant opened");
        }
        let state = QueryState {
            store: store.clone(),
            pipeline: Some(pipeline.clone()),
            metrics: Some(self.metrics.clone()),
            started: self.started,
            semantic,
            similarity_threshold: config.otel_storage.similarity_threshold as f32,
            joins: Some(joins),
            auth: self.auth.clone(),
            query_timeout: Duration::from_secs(config.limits.query_timeout_seconds),
        };
        // Beside other nodes on one database: this node's heartbeat.
        if store.node_name().is_some() {
            tokio::spawn(semtrace_query::cluster::heartbeat(state.clone(), self.stop.clone()));
        }
        let router = semtrace_query::router(state);
        Ok(Stack {
            pipeline,
            router,
            store,
            stored: Mutex::new((0, None)),
            tasks: Mutex::new(Some(StackTasks { pipeline_task, indexer, joiner })),
        })
    }

    /// Once the listeners have stopped: every tenant's queued batches written, its joiner and
    /// indexer stopped.
    pub(crate) async fn drain(&self) {
        let cells: Vec<_> = self.stacks.lock().expect("tenant stacks lock").drain().collect();
        for (tenant, cell) in cells {
            // The listeners have stopped: this is the last handle of the cell.
            let stack = match Arc::try_unwrap(cell) {
                Ok(cell) => cell.into_inner(),
                Err(cell) => cell.get().cloned(),
            };
            let Some(stack) = stack else { continue };
            let tasks = stack.tasks.lock().expect("stack tasks lock").take();
            // The batcher exits once every handle of its pipeline is gone: this was the last.
            drop(stack);
            let Some(StackTasks { pipeline_task, indexer, mut joiner }) = tasks else { continue };
            pipeline_task.shutdown().await;
            if let Err(err) = (&mut joiner).await {
                tracing::error!(tenant, %err, "the log joiner task failed");
            }
            if let Some(indexer) = indexer {
                let _ = tokio::task::spawn_blocking(move || indexer.shutdown()).await;
            }
        }
    }

    /// The query API of every tenant: the caller's tenant (the token's, or `X-Scope-OrgID`'s
    /// where allowed) picks the router. A caller without a valid token gets the default
    /// tenant's, which refuses what needs one.
    pub(crate) fn router(self: &Arc<Self>) -> axum::Router {
        let tenants = self.clone();
        axum::Router::new().fallback(move |request: axum::extract::Request| {
            let tenants = tenants.clone();
            async move {
                use axum::response::IntoResponse;
                use tower::ServiceExt;
                let tenant = match tenants.auth.check(request.headers(), semtrace_auth::Access::Read) {
                    Ok(principal) => principal.tenant.to_string(),
                    Err(_) => semtrace_auth::DEFAULT_TENANT.to_owned(),
                };
                match tenants.stack(&tenant).await {
                    Ok(stack) => stack.router.clone().oneshot(request).await.into_response(),
                    Err(err) => (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({ "error": format!("{err:#}") })),
                    )
                        .into_response(),
                }
            }
        })
    }
}

impl semtrace_receiver::Pipelines for Tenants {
    fn pipeline<'a>(
        &'a self,
        tenant: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Pipeline, semtrace_receiver::NoPipeline>> {
        Box::pin(async move {
            let stack = self
                .stack(tenant)
                .await
                .map_err(|err| semtrace_receiver::NoPipeline::Unavailable(format!("{err:#}")))?;
            let quota = self.config.limits.max_stored_bytes(tenant);
            if quota > 0 {
                let stored = stack.stored_bytes().await;
                if stored >= quota {
                    metrics::counter!("semtrace_tenant_refused_total", "tenant" => tenant.to_owned(), "reason" => "stored_bytes")
                        .increment(1);
                    return Err(semtrace_receiver::NoPipeline::OverQuota(semtrace_receiver::OverRate {
                        message: format!(
                            "tenant `{tenant}` holds {stored} bytes, its quota of {quota} (limits.tenant_max_stored_bytes): \
                             retry once retention has freed space"
                        ),
                        retry_after: Duration::from_secs(30),
                    }));
                }
            }
            Ok(stack.pipeline.clone())
        })
    }
}
