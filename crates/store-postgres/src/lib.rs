//! The PostgreSQL + pgvector store: the seeds' production backend, behind the same [`Store`]
//! interface as the embedded store and passing the same conformance suite.
//!
//! Life of a write: the pipeline's batcher calls [`PostgresStore::write`] with the spans of many
//! export requests. Lookup rows the batch needs (operations, resources, scopes, templates, day
//! partitions) are created first, idempotently, and cached; then one transaction COPYs the spans
//! (binary) into a temporary staging table and moves them into `spans` with
//! `ON CONFLICT DO NOTHING` (retries store nothing twice), updating the per-trace aggregates in
//! the same statement. The call returns after `COMMIT`; only then are the requests acknowledged.
//!
//! Spans are partitioned by day of start time; `retention_days` drops whole partitions.

mod find;
mod logs;
mod read;
mod schema;
mod sql;
mod write;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use semtrace_model::{LogRecord, SpanId, Trace, TraceId};
use semtrace_store::{
    JoinDecisions, LogHit, Operation, PendingLog, PendingTemplate, SpanFilter, SpanHit, SpanProfile, Store, StoreError,
    StoreStats, TemplateVector, WriteOutcome,
};
use tokio_postgres::NoTls;

/// Options of the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgresql://user:password@host:port/database` or the key=value form.
    pub connection_string: String,
    /// Connections kept in the pool (writers and readers share it).
    pub pool_size: usize,
    /// Dimension of template embeddings (`vector(dim)` column); checked against the database.
    pub embedding_dimension: u32,
    /// Day partitions older than this are dropped; 0 keeps everything.
    pub retention_days: u32,
    /// The index over template embeddings in PostgreSQL (for SQL users and ANN queries; semtrace's
    /// own search ranks templates in memory).
    pub vector_index: VectorIndex,
    /// Extract and store the entities each trace touches (`features.entity_extraction`).
    pub entities: bool,
    /// Attribute weights of traces' importance (`importance.attributes`).
    pub importance: std::sync::Arc<[semtrace_store::importance::AttributeWeight]>,
    /// The schema holding this store's tables, created if missing (a tenant's own, see
    /// [`tenant_schema`]); `None`: the connection's search path (`public`).
    pub schema: Option<String>,
    /// Past this many stored templates, search asks pgvector's HNSW index for the templates
    /// nearest a query instead of scanning every vector in memory (`postgres.ann_above_templates`;
    /// 0: never). Only with the HNSW index.
    pub ann_above_templates: u64,
    /// `hnsw.ef_search` of those queries: candidates the index keeps while it searches, and at
    /// most how many templates it answers (`postgres.hnsw_ef_search`, 1–1000).
    pub hnsw_ef_search: u32,
    /// This node's name among the semtrace processes sharing the database (`cluster.node_name`):
    /// its claims on templates, its heartbeats and its share of the totals go under it.
    pub node: String,
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A node name for a process that was not given one: the host's name and the process id.
pub fn default_node_name() -> String {
    format!("{}/{}", host_name(), std::process::id())
}

/// The schema of a tenant's tables: `t_<tenant>`, shortened with a hash past PostgreSQL's
/// 63-byte identifiers, so that no two tenants share one.
pub fn tenant_schema(tenant: &str) -> String {
    let schema = format!("t_{tenant}");
    if schema.len() <= 63 {
        return schema;
    }
    let hash = tenant
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("t_{}_{hash:016x}", &tenant[..40])
}

/// A schema's name quoted as an SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Kind of pgvector index over template embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorIndex {
    /// HNSW (pgvector ≥ 0.5): built as rows arrive, no training.
    #[default]
    Hnsw,
    /// IVFFlat with `lists = sqrt(rows)`, built once 1,000 templates are embedded.
    Ivfflat,
}

impl PostgresOptions {
    pub fn new(connection_string: impl Into<String>) -> Self {
        PostgresOptions {
            connection_string: connection_string.into(),
            pool_size: 8,
            embedding_dimension: 384,
            retention_days: 0,
            vector_index: VectorIndex::Hnsw,
            entities: true,
            importance: Vec::new().into(),
            schema: None,
            ann_above_templates: 0,
            hnsw_ef_search: 400,
            node: default_node_name(),
        }
    }
}

/// Search through pgvector's HNSW index, past a number of stored templates.
struct Ann {
    above: u64,
    ef_search: u32,
    /// About how many templates are stored (the planner's estimate, exact while few), and when
    /// it was read.
    templates: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

/// How often the number of stored templates is read again.
const ANN_RECHECK: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: Pool,
    vector_index: VectorIndex,
    encode: semtrace_store::row::EncodeOptions,
    caches: Arc<write::Caches>,
    node: Arc<str>,
    started_ns: i64,
    /// Whether the first heartbeat looked for another live process under this node's name.
    named: std::sync::atomic::AtomicBool,
    ann: Option<Ann>,
    retention: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(task) = self.retention.take() {
            task.abort();
        }
    }
}

impl PostgresStore {
    /// Connects, checks pgvector and the embedding dimension, applies migrations, and starts the
    /// retention task when `retention_days` is set. Every failure says what to do.
    pub async fn open(options: PostgresOptions) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = options.connection_string.parse().map_err(|err| {
            StoreError::Internal(format!("otel_storage.connection_string is not a PostgreSQL connection string: {err}"))
        })?;
        let target = target(&config);
        // Connect once directly, so the first error is the server's own, explained.
        let (mut client, connection) =
            config.connect(NoTls).await.map_err(|err| connect_error(&err, &target, &config))?;
        let driver = tokio::spawn(connection);
        // A tenant's tables live in its schema; `public` stays on the path for pgvector's type.
        let session = match &options.schema {
            Some(schema) => {
                let schema = quote_identifier(schema);
                client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.map_err(internal)?;
                format!("SET plan_cache_mode = force_custom_plan; SET search_path TO {schema}, public")
            }
            None => "SET plan_cache_mode = force_custom_plan".to_owned(),
        };
        client.batch_execute(&session).await.map_err(internal)?;
        schema::migrate(&mut client, options.embedding_dimension).await?;
        schema::vector_index(&mut client, options.vector_index).await?;
        drop(client);
        let _ = driver.await;

        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
                let session = session.clone();
                Box::pin(
                    async move { client.batch_execute(&session).await.map_err(deadpool_postgres::HookError::Backend) },
                )
            }))
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(Duration::from_secs(30)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::Internal(format!("cannot build the connection pool: {err}")))?;
        let client = pool.get().await.map_err(pool_error)?;
        let caches = Arc::new(write::Caches::load(&client).await?);
        drop(client);
        let store = PostgresStore {
            pool,
            vector_index: options.vector_index,
            encode: semtrace_store::row::EncodeOptions {
                entities: options.entities,
                importance: options.importance.clone(),
                // JSONB: PostgreSQL's own binary form, which its JSON operators read.
                compact_attributes: false,
            },
            caches,
            node: options.node.into(),
            started_ns: semtrace_store::now_ns(),
            named: std::sync::atomic::AtomicBool::new(false),
            ann: (options.ann_above_templates > 0 && options.vector_index == VectorIndex::Hnsw).then(|| Ann {
                above: options.ann_above_templates,
                ef_search: options.hnsw_ef_search.clamp(1, 1000),
                templates: std::sync::Mutex::new(None),
            }),
            retention: None,
        };
        Ok(if options.retention_days > 0 { store.with_retention(options.retention_days) } else { store })
    }

    /// Drops day partitions older than `days` now, then every hour.
    fn with_retention(mut self, days: u32) -> Self {
        let (pool, caches) = (self.pool.clone(), self.caches.clone());
        self.retention = Some(tokio::spawn(async move {
            loop {
                match write::drop_expired(&pool, &caches, days).await {
                    Ok(0) => {}
                    Ok(dropped) => tracing::info!(dropped, days, "retention dropped day partitions"),
                    Err(err) => tracing::warn!(error = %err, "retention failed; will try again"),
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }));
        self
    }

    /// Drops the day partitions wholly older than `days` days; returns how many.
    pub async fn drop_expired(&self, days: u32) -> Result<usize, StoreError> {
        write::drop_expired(&self.pool, &self.caches, days).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// `host:port` of the first host, for messages.
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Explains a failed connection: refused, authentication, missing database.
fn connect_error(err: &tokio_postgres::Error, target: &str, config: &tokio_postgres::Config) -> StoreError {
    use tokio_postgres::error::SqlState;
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            return StoreError::Unavailable(format!(
                "PostgreSQL at {target} refused user \"{user}\": authentication failed ({}); check the user and \
                 password in otel_storage.connection_string",
                db.message()
            ));
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return StoreError::Unavailable(format!(
                "database \"{database}\" does not exist on PostgreSQL at {target}: create it (createdb {database}, \
                 or CREATE DATABASE {database}) or name another in otel_storage.connection_string"
            ));
        }
        return StoreError::Unavailable(format!("PostgreSQL at {target}: {}", db.message()));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {target}: connection refused; is the server running and \
                     listening there? (otel_storage.connection_string)"
                ));
            }
            return StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {io}"));
        }
        source = cause.source();
    }
    StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {err}"))
}

fn pool_error(err: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no PostgreSQL connection: {err}"))
}

/// The server's message and detail when there is one, else the client's.
pub(crate) fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => err.to_string(),
    }
}

/// Classes a database error: connection trouble and transient conflicts (deadlock, serialization,
/// too many connections, shutting down, disk full) are worth retrying; the rest is a bug.
pub(crate) fn internal(err: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let retryable = err.is_closed()
        || err.as_db_error().is_none_or(|db| {
            let code = db.code();
            *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::DISK_FULL
                || code.code().starts_with("08")
        });
    if retryable {
        StoreError::Unavailable(describe(&err))
    } else {
        StoreError::Internal(describe(&err))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn write(&self, spans: &[semtrace_model::Span]) -> Result<WriteOutcome, StoreError> {
        if spans.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let rows = semtrace_store::row::encode_batch_in_place(spans, &self.encode);
        let mut client = self.client().await?;
        let committed = write::write(&mut client, &self.caches, &rows, &self.node).await?;
        // A batch holding retried spans is left out of the baselines rather than counted twice.
        if committed.duplicates == 0 {
            write::add_to_baselines(&client, &rows).await;
            write::count_entity_values(&client, &rows).await;
        }
        Ok(committed)
    }

    async fn get_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, StoreError> {
        let client = self.client().await?;
        let spans = read::trace_spans(&client, trace_id).await?;
        Ok((!spans.is_empty()).then(|| Trace::new(trace_id, spans)))
    }

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows =
            client.query("SELECT DISTINCT service FROM operations ORDER BY service", &[]).await.map_err(internal)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, kind FROM operations WHERE service = $1 ORDER BY name, kind", &[&service])
            .await
            .map_err(internal)?;
        Ok(rows
            .iter()
            .map(|row| Operation {
                name: row.get(0),
                span_kind: semtrace_model::SpanKind::from_otlp(i32::from(row.get::<_, i16>(1))),
            })
            .collect())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                // The span and trace totals are every node's, kept exact by the writes themselves
                // (`write::count`).
                "SELECT (SELECT count(*) FROM templates), (SELECT count(*) FROM templates WHERE embedding IS NULL),
                        (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c
                         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm')),
                        (SELECT coalesce(sum(spans), 0)::int8 FROM semtrace_counts),
                        (SELECT coalesce(sum(traces), 0)::int8 FROM semtrace_counts)",
                &[],
            )
            .await
            .map_err(internal)?;
        Ok(StoreStats {
            total_traces: row.get::<_, i64>(4) as u64,
            total_spans: row.get::<_, i64>(3) as u64,
            disk_bytes: Some(row.get::<_, i64>(2) as u64),
            templates: row.get::<_, i64>(0) as u64,
            templates_pending: row.get::<_, i64>(1) as u64,
        })
    }

    async fn storage(&self) -> Result<semtrace_store::StorageDetail, StoreError> {
        let client = self.client().await?;
        // Tables (with TOAST; each day partition of spans on its own, so the bytes a day holds
        // show) and indexes of this schema.
        let rows = client
            .query(
                "SELECT c.relname::text, c.relkind = 'i',
                        (CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END)::int8
                 FROM pg_class c
                 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm', 'i')
                 ORDER BY 3 DESC, 1",
                &[],
            )
            .await
            .map_err(internal)?;
        let relations = rows
            .iter()
            .map(|row| {
                let kind = if row.get::<_, bool>(1) { "index" } else { "table" };
                (row.get::<_, String>(0), kind, row.get::<_, i64>(2).max(0) as u64)
            })
            .collect();
        let row = client
            .query_one("SELECT min(start_ns), max(end_ns) FROM traces WHERE span_count > 0", &[])
            .await
            .map_err(internal)?;
        Ok(semtrace_store::StorageDetail {
            relations,
            oldest_span_ns: row.get::<_, Option<i64>>(0).map(|ns| ns.max(0) as u64),
            newest_span_ns: row.get::<_, Option<i64>>(1).map(|ns| ns.max(0) as u64),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await.map_err(internal)?;
        Ok(())
    }

    async fn pending_templates(&self, limit: usize) -> Result<Vec<PendingTemplate>, StoreError> {
        let client = self.client().await?;
        read::claim_pending_templates(&client, limit, &self.node).await
    }

    async fn uncategorized_templates(
        &self,
        limit: usize,
    ) -> Result<Vec<semtrace_store::UncategorizedTemplate>, StoreError> {
        let client = self.client().await?;
        read::uncategorized_templates(&client, limit).await
    }

    async fn set_template_categories(&self, categories: &[(i64, String)]) -> Result<(), StoreError> {
        let client = self.client().await?;
        write::set_categories(&client, categories).await
    }

    async fn template_categories(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, category FROM templates WHERE id = ANY($1) AND category IS NOT NULL", &[&ids])
            .await
            .map_err(internal)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn set_failure_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        write::set_embeddings(&mut client, embeddings, true, &self.node).await
    }

    async fn set_template_embeddings(&self, embeddings: &[(i64, Vec<f32>)]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        write::set_embeddings(&mut client, embeddings, false, &self.node).await?;
        if self.vector_index == VectorIndex::Ivfflat {
            schema::vector_index(&mut client, VectorIndex::Ivfflat).await?;
        }
        Ok(())
    }

    async fn template_embeddings(&self) -> Result<Vec<TemplateVector>, StoreError> {
        let client = self.client().await?;
        read::template_embeddings(&client).await
    }

    async fn embedding_watermark(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        read::embedding_watermark(&client).await
    }

    async fn embedded_elsewhere(&self, after: i64, limit: usize) -> Result<Vec<(i64, i64)>, StoreError> {
        let client = self.client().await?;
        read::embedded_elsewhere(&client, &self.node, after, limit).await
    }

    async fn template_vectors(&self, ids: &[i64]) -> Result<Vec<TemplateVector>, StoreError> {
        let client = self.client().await?;
        read::template_vectors(&client, ids).await
    }

    async fn nearest_templates(&self, query: &[f32], k: usize) -> Result<Option<Vec<(i64, f32)>>, StoreError> {
        let Some(ann) = &self.ann else { return Ok(None) };
        let known = *ann.templates.lock().expect("ann lock");
        let templates = match known {
            Some((at, templates)) if at.elapsed() < ANN_RECHECK => templates,
            _ => {
                let client = self.client().await?;
                let templates = read::templates_estimate(&client).await?;
                *ann.templates.lock().expect("ann lock") = Some((std::time::Instant::now(), templates));
                templates
            }
        };
        if templates <= ann.above {
            return Ok(None);
        }
        let mut client = self.client().await?;
        read::nearest_templates(&mut client, query, k.min(ann.ef_search as usize), ann.ef_search).await.map(Some)
    }

    async fn lead(&self, task: &str, lease: Duration) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let led = client
            .query_opt(
                "INSERT INTO semtrace_leases (task, node, until) VALUES ($1, $2, now() + make_interval(secs => $3))
                 ON CONFLICT (task) DO UPDATE SET node = excluded.node, until = excluded.until
                 WHERE semtrace_leases.node = excluded.node OR semtrace_leases.until < now()
                 RETURNING node",
                &[&task, &&*self.node, &lease.as_secs_f64()],
            )
            .await
            .map_err(internal)?;
        Ok(led.is_some())
    }

    fn node_name(&self) -> Option<&str> {
        Some(&self.node)
    }

    async fn heartbeat(&self, state: &serde_json::Value) -> Result<(), StoreError> {
        let client = self.client().await?;
        let started = sql::timestamp(self.started_ns);
        if !self.named.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // Two live processes under one name would take each other's claims and never see
            // each other's embeddings: said at the first heartbeat.
            let other = client
                .query_opt(
                    "SELECT extract(epoch FROM now() - heartbeat_at)::float8 FROM semtrace_nodes
                     WHERE node = $1 AND started_at <> $2 AND heartbeat_at > now() - interval '10 seconds'",
                    &[&&*self.node, &started],
                )
                .await
                .map_err(internal)?;
            if let Some(row) = other {
                tracing::error!(
                    node = %self.node,
                    seconds_ago = row.get::<_, f64>(0),
                    "another live semtrace process has this node name (or this one restarted within 10 s): give \
                     each node its own postgres.node_name"
                );
            }
        }
        client
            .execute(
                "INSERT INTO semtrace_nodes (node, version, started_at, heartbeat_at, state)
                 VALUES ($1, $2, $3, now(), $4::text::jsonb)
                 ON CONFLICT (node) DO UPDATE SET version = excluded.version, started_at = excluded.started_at,
                                                  heartbeat_at = now(), state = excluded.state",
                &[&&*self.node, &env!("CARGO_PKG_VERSION"), &started, &state.to_string()],
            )
            .await
            .map_err(internal)?;
        Ok(())
    }

    async fn cluster_nodes(&self) -> Result<Option<Vec<semtrace_store::ClusterNode>>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT node, version, (extract(epoch FROM started_at) * 1e9)::int8,
                        (extract(epoch FROM heartbeat_at) * 1e9)::int8,
                        extract(epoch FROM now() - heartbeat_at)::float8, state::text
                 FROM semtrace_nodes ORDER BY node",
                &[],
            )
            .await
            .map_err(internal)?;
        Ok(Some(
            rows.iter()
                .map(|row| semtrace_store::ClusterNode {
                    name: row.get(0),
                    version: row.get(1),
                    started_ns: row.get(2),
                    heartbeat_ns: row.get(3),
                    silent_seconds: row.get(4),
                    state: serde_json::from_str(row.get(5)).unwrap_or_default(),
                })
                .collect(),
        ))
    }

    async fn match_templates(&self, query: &str, limit: usize) -> Result<Vec<(i64, f64)>, StoreError> {
        let client = self.client().await?;
        read::match_templates(&client, query, limit).await
    }

    async fn spans_of_templates(
        &self,
        template_ids: &[i64],
        filter: &SpanFilter,
        max_traces: usize,
        per_trace: semtrace_store::policy::PerTrace,
    ) -> Result<Vec<SpanHit>, StoreError> {
        let client = self.client().await?;
        read::spans_of_templates(&client, template_ids, filter, max_traces, per_trace).await
    }

    async fn search_errors(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<SpanHit>, StoreError> {
        let client = self.client().await?;
        read::search_errors(&client, query, filter, limit).await
    }

    async fn operation_baselines(
        &self,
        operations: &[(String, String)],
    ) -> Result<std::collections::HashMap<(String, String), semtrace_store::OperationBaseline>, StoreError> {
        let client = self.client().await?;
        // Spans count under their masked operation (`operation_name`): look that up, answer by
        // the names asked.
        let counted: Vec<(&str, std::borrow::Cow<'_, str>)> = operations
            .iter()
            .map(|(service, name)| (service.as_str(), semtrace_store::row::operation_name(name)))
            .collect();
        let services: Vec<&str> = counted.iter().map(|(service, _)| *service).collect();
        let names: Vec<&str> = counted.iter().map(|(_, operation)| operation.as_ref()).collect();
        let baselines: std::collections::HashMap<(String, String), semtrace_store::OperationBaseline> =
            write::operation_sums(&client, &services, &names)
                .await?
                .into_iter()
                .filter_map(|(key, spans, sum)| Some((key, semtrace_store::OperationBaseline::from_sums(spans, sum)?)))
                .collect();
        Ok(operations
            .iter()
            .zip(&counted)
            .filter_map(|(asked, (service, operation))| {
                let baseline = baselines.get(&((*service).to_owned(), operation.to_string()))?;
                Some((asked.clone(), *baseline))
            })
            .collect())
    }

    async fn write_logs(&self, logs: &[LogRecord]) -> Result<WriteOutcome, StoreError> {
        if logs.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let rows = semtrace_store::row::encode_logs(logs);
        let mut client = self.client().await?;
        logs::write(&mut client, &self.caches, &rows, semtrace_store::now_ns()).await
    }

    async fn pending_log_joins(&self, after_id: i64, limit: usize) -> Result<Vec<PendingLog>, StoreError> {
        let client = self.client().await?;
        logs::pending(&client, after_id, limit).await
    }

    async fn finish_log_joins(&self, decisions: &JoinDecisions) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        logs::finish(&mut client, &self.caches, decisions).await
    }

    async fn span_evidence(&self, spans: &[(TraceId, SpanId)]) -> Result<Vec<LogRecord>, StoreError> {
        let client = self.client().await?;
        logs::evidence(&client, spans).await
    }

    async fn trace_logs(&self, trace_id: TraceId) -> Result<Vec<LogRecord>, StoreError> {
        let client = self.client().await?;
        logs::of_trace(&client, trace_id).await
    }

    async fn search_logs(&self, query: &str, filter: &SpanFilter, limit: usize) -> Result<Vec<LogHit>, StoreError> {
        let client = self.client().await?;
        logs::search(&client, query, filter, limit).await
    }

    async fn find_traces(&self, query: &semtrace_store::TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let client = self.client().await?;
        find::find_traces(&client, query).await
    }

    async fn service_calls(&self, start_ns: u64, end_ns: u64) -> Result<Vec<semtrace_store::ServiceCall>, StoreError> {
        let client = self.client().await?;
        find::service_calls(&client, start_ns, end_ns).await
    }

    async fn trace_importance(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, f64>, StoreError> {
        let client = self.client().await?;
        let ids: Vec<&[u8]> = trace_ids.iter().map(|id| id.as_bytes().as_slice()).collect();
        let rows = client
            .query("SELECT trace_id, importance FROM traces WHERE trace_id = ANY($1)", &[&ids])
            .await
            .map_err(internal)?;
        Ok(rows
            .iter()
            .filter_map(|row| Some((TraceId::from_slice(row.get::<_, &[u8]>(0)).ok()?, row.get::<_, f64>(1))))
            .collect())
    }

    async fn entities(
        &self,
        kind: Option<semtrace_store::entity::EntityKind>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<semtrace_store::entity::EntityCount>, StoreError> {
        let client = self.client().await?;
        find::entities(&client, kind, prefix, limit).await
    }

    async fn failure_counts(
        &self,
        window: &semtrace_store::FailureWindow,
    ) -> Result<Vec<semtrace_store::FailureCount>, StoreError> {
        let client = self.client().await?;
        find::failure_counts(&client, window).await
    }

    async fn trace_profiles(
        &self,
        trace_ids: &[TraceId],
    ) -> Result<std::collections::HashMap<TraceId, Vec<SpanProfile>>, StoreError> {
        let client = self.client().await?;
        let ids: Vec<&[u8]> = trace_ids.iter().map(|id| id.as_bytes().as_slice()).collect();
        let rows = client
            .query(
                "SELECT s.trace_id, s.span_id, s.parent_span_id, s.service, s.name, s.start_ns, s.end_ns,
                        s.template_id, t.failed
                 FROM spans s LEFT JOIN templates t ON t.id = s.template_id WHERE s.trace_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(internal)?;
        let mut profiles: std::collections::HashMap<TraceId, Vec<SpanProfile>> = std::collections::HashMap::new();
        for row in rows {
            let trace_id = TraceId::from_slice(row.get(0))
                .map_err(|err| StoreError::Internal(format!("stored trace id: {err}")))?;
            profiles.entry(trace_id).or_default().push(SpanProfile {
                span_id: SpanId::from_slice(row.get(1))
                    .map_err(|err| StoreError::Internal(format!("stored span id: {err}")))?,
                parent_span_id: row.get::<_, Option<&[u8]>>(2).and_then(|parent| SpanId::from_slice(parent).ok()),
                service: row.get(3),
                name: row.get(4),
                start_ns: row.get::<_, i64>(5) as u64,
                end_ns: row.get::<_, i64>(6) as u64,
                template_id: row.get(7),
                outcome: semtrace_summary::Outcome::from_i64(i64::from(row.get::<_, Option<i16>>(8).unwrap_or(0))),
            });
        }
        Ok(profiles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semtrace_testkit::postgres::fresh_database;

    async fn open(url: &str, dimension: u32) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(PostgresOptions { embedding_dimension: dimension, ..PostgresOptions::new(url) }).await
    }

    /// A store as the node `name` opens it.
    async fn open_node(url: &str, name: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(PostgresOptions { embedding_dimension: 3, node: name.into(), ..PostgresOptions::new(url) })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        let url = fresh_database().await;
        let store = open(&url, 3).await.unwrap();
        semtrace_store::conformance::run(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_keeps_data_counts_and_caches() {
        let url = fresh_database().await;
        let spans = semtrace_store::conformance::rich_trace(5);
        {
            let store = open(&url, 3).await.unwrap();
            store.write(&spans).await.unwrap();
        }
        let store = open(&url, 3).await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.total_traces, stats.total_spans, stats.templates), (1, 3, 3));
        let again = store.write(&spans).await.unwrap();
        assert_eq!(again, WriteOutcome { inserted: 0, duplicates: 3 });
        assert_eq!(store.services().await.unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_on_one_database_share_counts_pending_templates_and_embeddings() {
        use semtrace_store::conformance::rich_trace;
        let url = fresh_database().await;
        let node = |name: &'static str| open_node(&url, name);
        // Started at once on a new database: one applies the migrations and builds the vector
        // index, the other waits its turn and finds them done.
        let (a, b) = tokio::join!(node("a"), node("b"));
        let (a, b) = (a.unwrap(), b.unwrap());

        // Totals are the cluster's: each node sees what both wrote, a retry through the other
        // node counted once.
        a.write(&rich_trace(1)).await.unwrap();
        b.write(&rich_trace(2)).await.unwrap();
        assert_eq!(b.write(&rich_trace(1)).await.unwrap(), WriteOutcome { inserted: 0, duplicates: 3 });
        for store in [&a, &b] {
            let stats = store.stats().await.unwrap();
            assert_eq!((stats.total_traces, stats.total_spans, stats.templates_pending), (2, 6, 3));
        }

        // Pending templates are shared out: claimed at the same moment, no template twice.
        let (from_a, from_b) = tokio::join!(a.pending_templates(2), b.pending_templates(10));
        let ids = |templates: Vec<PendingTemplate>| templates.into_iter().map(|t| t.id).collect::<Vec<i64>>();
        let (from_a, from_b) = (ids(from_a.unwrap()), ids(from_b.unwrap()));
        let mut all: Vec<i64> = from_a.iter().chain(&from_b).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3, "a {from_a:?}, b {from_b:?}");
        assert_eq!(all.len(), from_a.len() + from_b.len(), "a template claimed twice: a {from_a:?}, b {from_b:?}");
        // A claim holds against the other node; the node itself takes its own back (as after a restart).
        assert_eq!(ids(a.pending_templates(10).await.unwrap()), from_a);
        assert_eq!(ids(b.pending_templates(10).await.unwrap()), from_b);

        // What one node embeds the other finds, by number, and reads the vectors of. (Whichever
        // node claimed first may hold all three.)
        let (embedder, other, claimed, rest) =
            if from_a.is_empty() { (&b, &a, &from_b, &from_a) } else { (&a, &b, &from_a, &from_b) };
        assert_eq!(other.embedding_watermark().await.unwrap(), 0);
        let vectors: Vec<(i64, Vec<f32>)> = claimed.iter().map(|id| (*id, vec![1.0, *id as f32, 0.0])).collect();
        embedder.set_template_embeddings(&vectors).await.unwrap();
        let found = other.embedded_elsewhere(0, 100).await.unwrap();
        // In the order of their numbers, drawn in id order.
        assert_eq!(&found.iter().map(|(id, _)| *id).collect::<Vec<_>>(), claimed);
        assert!(embedder.embedded_elsewhere(0, 100).await.unwrap().is_empty(), "a node's own are not 'elsewhere'");
        let last = found.last().unwrap().1;
        assert!(other.embedded_elsewhere(last, 100).await.unwrap().is_empty());
        assert_eq!(other.embedding_watermark().await.unwrap(), last);
        let read = other.template_vectors(claimed).await.unwrap();
        assert_eq!(read.iter().map(|t| (t.id, t.vector.clone())).collect::<Vec<_>>(), vectors);
        // Embedded templates are no longer pending for anyone.
        assert_eq!(other.stats().await.unwrap().templates_pending, rest.len() as u64);

        // One node leads a task at a time, renewing its lease; another takes it once it runs out.
        let lease = Duration::from_millis(300);
        assert!(a.lead("log_joiner", lease).await.unwrap());
        assert!(!b.lead("log_joiner", lease).await.unwrap(), "a leads");
        assert!(a.lead("log_joiner", lease).await.unwrap(), "a renews");
        assert!(b.lead("other_task", lease).await.unwrap(), "tasks are led apart");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(b.lead("log_joiner", lease).await.unwrap(), "a's lease ran out");
        assert!(!a.lead("log_joiner", lease).await.unwrap(), "b leads now");

        // Heartbeats: both listed, with what each said of itself.
        a.heartbeat(&serde_json::json!({"queue_depth": 1})).await.unwrap();
        b.heartbeat(&serde_json::json!({"queue_depth": 2})).await.unwrap();
        let nodes = a.cluster_nodes().await.unwrap().unwrap();
        let names: Vec<(&str, i64)> =
            nodes.iter().map(|node| (node.name.as_str(), node.state["queue_depth"].as_i64().unwrap())).collect();
        assert_eq!(names, vec![("a", 1), ("b", 2)]);
        assert!(nodes.iter().all(|node| node.silent_seconds < 5.0 && node.heartbeat_ns >= node.started_ns));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_creating_the_same_lookup_rows_at_once_do_not_deadlock() {
        use semtrace_store::conformance::rich_trace;
        let url = fresh_database().await;
        let node = |name: &'static str| open_node(&url, name);
        let mut nodes = Vec::new();
        for name in ["a", "b", "c", "d"] {
            nodes.push(node(name).await.unwrap());
        }
        // Each round, every node writes spans of the same new operations, templates, resources and
        // services (each node's own traces), as when one service's traffic is spread over nodes.
        let batch = |round: u64, offset: u64| -> Vec<semtrace_model::Span> {
            (0..150u64)
                .flat_map(|i| {
                    let mut spans = rich_trace(offset + round * 1000 + i);
                    for span in &mut spans {
                        span.name = format!("{} {round}-{i}", span.name);
                        let mut resource = (*span.resource).clone();
                        resource
                            .attributes
                            .push("host.name", semtrace_model::AnyValue::String(format!("host-{round}-{}", i % 7)));
                        span.resource = std::sync::Arc::new(resource);
                    }
                    spans
                })
                .collect()
        };
        for round in 0..30 {
            let batches: Vec<Vec<semtrace_model::Span>> =
                (0..nodes.len() as u64).map(|n| batch(round, n * 1_000_000)).collect();
            let writes = nodes.iter().zip(&batches).map(|(node, spans)| node.write(spans));
            for (wrote, spans) in futures_util::future::join_all(writes).await.into_iter().zip(&batches) {
                assert_eq!(wrote.unwrap().inserted, spans.len(), "round {round}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_span_twice_in_one_batch_is_stored_once() {
        let url = fresh_database().await;
        let store = open(&url, 3).await.unwrap();
        let mut spans = semtrace_store::conformance::rich_trace(9);
        spans.push(spans[1].clone());
        let outcome = store.write(&spans).await.unwrap();
        assert_eq!(outcome, WriteOutcome { inserted: 3, duplicates: 1 });
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.total_spans, stats.total_traces), (3, 1));
        assert_eq!(store.get_trace(spans[0].trace_id).await.unwrap().unwrap().spans.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ivfflat_is_built_once_enough_templates_are_embedded() {
        let url = fresh_database().await;
        let options = PostgresOptions {
            embedding_dimension: 3,
            vector_index: VectorIndex::Ivfflat,
            ..PostgresOptions::new(&url)
        };
        let store = PostgresStore::open(options.clone()).await.unwrap();
        let client = store.client().await.unwrap();
        let index = || async {
            client
                .query_opt("SELECT indexdef FROM pg_indexes WHERE indexname = 'templates_embedding'", &[])
                .await
                .unwrap()
                .map(|row| row.get::<_, String>(0))
        };
        assert_eq!(index().await, None, "no IVFFlat on an empty table");
        // 1,000 distinct templates, embedded.
        let mut spans = Vec::new();
        for n in 0..schema::IVFFLAT_MIN_ROWS as u64 {
            let mut span = semtrace_store::conformance::rich_trace(100 + n)[1].clone();
            span.name = format!("operation {}", "x".repeat(n as usize % 50 + 1) + &"y".repeat(n as usize / 50));
            spans.push(span);
        }
        store.write(&spans).await.unwrap();
        let pending = store.pending_templates(2000).await.unwrap();
        assert_eq!(pending.len(), 1000);
        let (first, rest) = pending.split_at(999);
        let vector = |i: usize| vec![(i % 7) as f32 + 1.0, (i % 11) as f32, 1.0];
        let embed = |templates: &[semtrace_store::PendingTemplate]| -> Vec<(i64, Vec<f32>)> {
            templates.iter().enumerate().map(|(i, t)| (t.id, vector(i))).collect()
        };
        store.set_template_embeddings(&embed(first)).await.unwrap();
        assert_eq!(index().await, None, "999 rows: not yet");
        store.set_template_embeddings(&embed(rest)).await.unwrap();
        let made = index().await.expect("IVFFlat built at 1,000 rows");
        assert!(made.contains("ivfflat") && made.contains("lists='32'"), "{made}");
        // Reopening with HNSW replaces it.
        drop(client);
        drop(store);
        let store = PostgresStore::open(PostgresOptions { vector_index: VectorIndex::Hnsw, ..options }).await.unwrap();
        let client = store.client().await.unwrap();
        let made: String = client
            .query_one("SELECT indexdef FROM pg_indexes WHERE indexname = 'templates_embedding'", &[])
            .await
            .unwrap()
            .get(0);
        assert!(made.contains("hnsw"), "{made}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_templates_stored_before_failures_were_kept_get_theirs() {
        let url = fresh_database().await;
        {
            let store = open(&url, 3).await.unwrap();
            store.write(&semtrace_store::conformance::rich_trace(1)).await.unwrap();
            let pending = store.pending_templates(10).await.unwrap();
            let all: Vec<(i64, Vec<f32>)> = pending.iter().map(|template| (template.id, vec![1.0, 0.0, 0.0])).collect();
            store.set_template_embeddings(&all).await.unwrap();
            // As an older semtrace left them: embedded, without their failure.
            let client = store.client().await.unwrap();
            let cleared = client.execute("UPDATE templates SET failure = NULL WHERE failed <> 0", &[]).await.unwrap();
            assert_eq!(cleared, 2);
        }
        let store = open(&url, 3).await.unwrap();
        assert!(store.pending_templates(10).await.unwrap().is_empty());
        store.write(&semtrace_store::conformance::rich_trace(2)).await.unwrap();
        let pending = store.pending_templates(10).await.unwrap();
        assert_eq!(pending.len(), 2, "both failed templates are embedded again: {pending:?}");
        assert!(pending.iter().all(|template| template.failure.is_some()), "{pending:?}");
        assert_eq!(store.stats().await.unwrap().templates, 3, "no template is stored twice");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_different_embedding_dimension_is_refused() {
        let url = fresh_database().await;
        drop(open(&url, 384).await.unwrap());
        let err = open(&url, 768).await.err().expect("dimension mismatch").to_string();
        assert!(err.contains("384-dim") && err.contains("embedding_dimension is 768"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_errors_say_what_to_do() {
        let err = open("postgresql://postgres@127.0.0.1:1/postgres", 3).await.err().unwrap().to_string();
        assert!(err.contains("127.0.0.1:1") && err.contains("connection refused"), "{err}");
        let url = semtrace_testkit::postgres::server_url();
        let missing = semtrace_testkit::postgres::database_url(&url, "no_such_database_here");
        let err = open(&missing, 3).await.err().unwrap().to_string();
        assert!(err.contains("\"no_such_database_here\" does not exist") && err.contains("createdb"), "{err}");
        let err = open("not a url at all ::", 3).await.err().unwrap().to_string();
        assert!(err.contains("connection_string"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_land_in_day_partitions_that_retention_drops() {
        let url = fresh_database().await;
        let store = open(&url, 3).await.unwrap();
        let day = 86_400_000_000_000u64;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let mut old = semtrace_store::conformance::rich_trace(1);
        let mut recent = semtrace_store::conformance::rich_trace(2);
        for (spans, at) in [(&mut old, now - 10 * day), (&mut recent, now - 3_600_000_000_000)] {
            for span in spans.iter_mut() {
                let length = span.end_time_unix_nano - span.start_time_unix_nano;
                span.start_time_unix_nano = at;
                span.end_time_unix_nano = at + length;
            }
        }
        store.write(&old).await.unwrap();
        store.write(&recent).await.unwrap();
        assert_eq!(store.stats().await.unwrap().total_spans, 6);
        assert_eq!(store.drop_expired(7).await.unwrap(), 1, "one day partition is older than 7 days");
        assert!(store.get_trace(old[0].trace_id).await.unwrap().is_none());
        assert_eq!(store.get_trace(recent[0].trace_id).await.unwrap().unwrap().spans.len(), 3);
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.total_spans, stats.total_traces), (3, 1));
        // A late span for a dropped day recreates its partition.
        store.write(&old).await.unwrap();
        assert_eq!(store.get_trace(old[0].trace_id).await.unwrap().unwrap().spans.len(), 3);
    }
}
