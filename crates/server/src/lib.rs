//! Wires semtrace together: config → store → pipeline → receivers and query API, and the
//! `semtrace` command line (serve, trace, health, bench).

pub mod client;
pub mod config;
pub mod listen;
pub mod tenants;

use tenants::Tenants;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use semtrace_store::Store;
use semtrace_store_postgres::{PostgresOptions, PostgresStore};
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, StorageKind};

/// The gRPC listener's HTTP/2 header list, at most (metadata beyond an OTLP export's needs).
const GRPC_MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// Streams a client may reset before the server accepted them; past it the connection is
/// closed (HTTP/2 rapid reset). h2's own default.
const GRPC_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's protocol errors before closing its connection.
const GRPC_MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// Ingest counts as saturated for the indexer while its writer left requests waiting this recently.
pub(crate) const SATURATION_WINDOW: Duration = Duration::from_millis(500);

/// A started server: where it listens, and how to stop it.
pub struct RunningServer {
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    listeners: JoinSet<anyhow::Result<()>>,
    tenants: Arc<Tenants>,
}

/// The process-wide Prometheus recorder (metrics macros report to one global recorder).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

async fn bind(addr: &str, what: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}: pass another address with {flag}"))
}

/// tonic's TLS for the gRPC listener: the same certificate and key, client certificates signed
/// by `client_ca` required when given, and a deadline for the handshake.
fn grpc_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
    handshake: Duration,
) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
    };
    let identity = tonic::transport::Identity::from_pem(read(cert, "tls.cert_file")?, read(key, "tls.key_file")?);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity).timeout(handshake);
    if let Some(ca) = client_ca {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca, "tls.client_ca_file")?));
    }
    Ok(config)
}

/// Refuses to serve a non-loopback address without authentication, unless told `insecure`:
/// traces hold user ids, SQL and host names, and anyone who reached such a listener could send
/// and read them.
fn exposed_only_with_auth(
    auth: &semtrace_auth::Auth,
    insecure: bool,
    listeners: &[(&str, SocketAddr)],
) -> anyhow::Result<()> {
    let exposed: Vec<String> = listeners
        .iter()
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .map(|(setting, addr)| format!("{setting} = {addr}"))
        .collect();
    if auth.enabled() || exposed.is_empty() {
        return Ok(());
    }
    if insecure {
        tracing::warn!(listeners = %exposed.join(", "), "serving addresses beyond loopback WITHOUT authentication (server.insecure): anyone who reaches them can send and read traces");
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve {} without authentication: anyone who reaches it could send and read traces. \
         Add a token to auth.tokens (`semtrace token --role admin --tenant default` makes one), \
         listen on 127.0.0.1 only, or pass --insecure (server.insecure: true) to serve it unauthenticated anyway",
        exposed.join(", ")
    )
}

/// How the indexer files failures no signature knows: `features.error_classification` and
/// the custom model `models.error_classifier`, loaded (and checked against the ABI) here.
pub(crate) fn classification(config: &Config) -> anyhow::Result<semtrace_semantic::Classification> {
    let custom = match config.error_classifier() {
        Some((path, limits, settings)) if config.features.error_classification => {
            let model = semtrace_wasm::WasmModel::load(path, limits)?;
            tracing::info!(path = %path.display(), memory_limit_mb = limits.memory_limit_mb,
                timeout_ms = limits.timeout_ms, "custom error classifier loaded");
            Some((
                std::sync::Arc::new(semtrace_wasm::GuardedModel::new(model, settings.cache_size as usize)),
                settings.min_score,
            ))
        }
        _ => None,
    };
    Ok(semtrace_semantic::Classification {
        zero_shot: config.features.error_classification,
        min_score: custom.as_ref().map_or(0.5, |(_, min_score)| *min_score),
        custom: custom.map(|(model, _)| model),
    })
}

/// Opens the store and starts every listener. Returns once all are bound.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    let started = Instant::now();
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
    let metrics = metrics_handle();
    let embedder = if config.semantic.enabled {
        // The custom classifier, if any, is loaded by each tenant's stack (the default tenant's
        // below, at start, so a bad one fails the start).
        Some(load_embedder(config).await?)
    } else {
        tracing::info!("semantic search is off (semantic.enabled = false)");
        None
    };
    let limits = config.limits.build();

    let grpc_listener = bind(&config.server.otlp_grpc_addr, "OTLP/gRPC", "--otlp-grpc-addr").await?;
    let http_listener = bind(&config.server.otlp_http_addr, "OTLP/HTTP", "--otlp-http-addr").await?;
    let api_listener = bind(&config.server.http_addr, "the query API", "--http-addr").await?;
    let otlp_grpc_addr = grpc_listener.local_addr()?;
    let otlp_http_addr = http_listener.local_addr()?;
    let http_addr = api_listener.local_addr()?;
    let auth = config.auth()?;
    exposed_only_with_auth(
        &auth,
        config.server.insecure,
        &[
            ("server.otlp_grpc_addr", otlp_grpc_addr),
            ("server.otlp_http_addr", otlp_http_addr),
            ("server.http_addr", http_addr),
        ],
    )?;

    let (stop, stopped) = watch::channel(false);
    let stop_signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let mut listeners = JoinSet::new();

    // Each tenant's store, pipeline, index and joiner; the default tenant's opened now, so that
    // what is wrong with the store shows at start.
    let tenants = Arc::new(Tenants::new(config, embedder, metrics, started, auth.clone(), stop.subscribe()));
    tenants.stack(semtrace_auth::DEFAULT_TENANT).await?;
    let pipelines: Arc<dyn semtrace_receiver::Pipelines> = tenants.clone();

    let grpc_services = semtrace_receiver::grpc_services(pipelines.clone(), limits.clone(), auth.clone());
    let listen = config.limits.listen();
    let tls = match config.tls.files()? {
        Some((cert, key)) => {
            let client_ca = config.tls.client_ca_file.as_deref();
            let otlp = listen::tls_config(cert, key, client_ca, &[b"http/1.1"])?;
            let api = listen::tls_config(cert, key, None, &[b"http/1.1"])?;
            let grpc = grpc_tls(cert, key, client_ca, listen.header_read_timeout)?;
            Some((otlp, api, grpc))
        }
        None => None,
    };
    let (otlp_tls, api_tls, grpc_tls) = match tls {
        Some((otlp, api, grpc)) => (Some(otlp), Some(api), Some(grpc)),
        None => (None, None, None),
    };
    let mut grpc_builder = tonic::transport::Server::builder();
    if let Some(grpc_tls) = grpc_tls {
        grpc_builder = grpc_builder.tls_config(grpc_tls).context("TLS for OTLP/gRPC")?;
    }
    // HTTP/2's own limits: streams per connection, header list size, reset streams (HTTP/2 rapid
    // reset, CVE-2023-44487: h2 also closes a connection whose client resets streams faster than
    // it opens them), and pings that drop connections whose peer stopped answering.
    let grpc = grpc_builder
        .max_concurrent_streams(config.limits.grpc_max_concurrent_streams as u32)
        .http2_max_header_list_size(GRPC_MAX_HEADER_LIST_BYTES)
        .http2_max_pending_accept_reset_streams(Some(GRPC_MAX_PENDING_RESETS))
        .http2_max_local_error_reset_streams(Some(GRPC_MAX_LOCAL_ERROR_RESETS))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(grpc_services.traces)
        .add_service(grpc_services.logs)
        .serve_with_incoming_shutdown(
            listen::limited_incoming(grpc_listener, listen.max_connections, "otlp_grpc"),
            stop_signal(),
        );
    listeners.spawn(async move { grpc.await.context("OTLP/gRPC server failed") });

    let otlp_http = listen::serve_http(
        http_listener,
        semtrace_receiver::http_router(pipelines, limits, auth.clone()),
        listen,
        otlp_tls,
        "otlp_http",
        stop_signal(),
    );
    listeners.spawn(async move { otlp_http.await.context("OTLP/HTTP server failed") });

    let api = listen::serve_http(api_listener, tenants.router(), listen, api_tls, "query", stop_signal());
    listeners.spawn(async move { api.await.context("query API server failed") });

    tracing::info!(%otlp_grpc_addr, %otlp_http_addr, %http_addr, storage = ?config.storage, data_dir = %config.server.data_dir.display(), "semtrace is listening");
    Ok(RunningServer { otlp_grpc_addr, otlp_http_addr, http_addr, stop, listeners, tenants })
}

/// Opens the configured store, creating or migrating its schema.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_tenant_store(config, None).await
}

/// Opens a tenant's store: the embedded store in `server.data_dir` (a tenant's config names its
/// own), or on PostgreSQL the tables in the tenant's schema (`None`: the default tenant's, in
/// the connection's search path).
pub(crate) async fn open_tenant_store(config: &Config, schema: Option<String>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.storage {
        StorageKind::Sqlite => {
            let options = SqliteOptions {
                entities: config.features.entity_extraction,
                writer_cache_kib: config.sqlite.writer_cache_mb * 1024,
                reader_cache_kib: config.sqlite.reader_cache_mb * 1024,
                trace_keys_merge_at: config.sqlite.trace_keys_merge_at as usize,
                retention: semtrace_store_sqlite::retention::RetentionOptions {
                    days: config.sqlite.retention_days,
                    max_bytes: config.sqlite.max_bytes,
                    interval: std::time::Duration::from_secs(config.sqlite.retention_interval_seconds.into()),
                },
                ..SqliteOptions::new(&config.server.data_dir)
            };
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(options))
                .await?
                .with_context(|| format!("cannot open the embedded store in {}", config.server.data_dir.display()))?;
            Arc::new(store)
        }
        StorageKind::Postgres => {
            let options = PostgresOptions {
                connection_string: config.otel_storage.connection_string.clone(),
                pool_size: config.postgres.pool_size as usize,
                embedding_dimension: config.otel_storage.embedding_dimension,
                retention_days: config.postgres.retention_days,
                vector_index: match config.postgres.vector_index {
                    crate::config::VectorIndexKind::Hnsw => semtrace_store_postgres::VectorIndex::Hnsw,
                    crate::config::VectorIndexKind::Ivfflat => semtrace_store_postgres::VectorIndex::Ivfflat,
                },
                entities: config.features.entity_extraction,
                importance: config.importance.weights().into(),
                schema,
                node: config.postgres.node_name(&config.server),
                ann_above_templates: config.postgres.ann_above_templates,
                hnsw_ef_search: config.postgres.hnsw_ef_search,
            };
            Arc::new(PostgresStore::open(options).await.context("cannot open the PostgreSQL store")?)
        }
    })
}

/// Finds and loads the embedding model (on the blocking pool: it reads ~90 MB), checking its
/// dimension against `embedding_dimension`.
pub async fn load_embedder(config: &Config) -> anyhow::Result<Arc<semtrace_embed::Embedder>> {
    let spec = config.otel_storage.embedding_model.clone();
    let mut search_dirs = vec![config.semantic.models_dir.clone()];
    // Beside the binary too, so `target/release/semtrace` finds the repository's ./models from anywhere.
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.to_path_buf())) {
        search_dirs.push(exe_dir.join("models"));
        search_dirs.push(exe_dir.join("../../models"));
    }
    let expected = config.otel_storage.embedding_dimension as usize;
    let embedder = tokio::task::spawn_blocking(move || -> anyhow::Result<semtrace_embed::Embedder> {
        let files = semtrace_embed::locate(&spec, &search_dirs)?;
        let embedder = semtrace_embed::Embedder::load(&files)?;
        if embedder.dimension() != expected {
            anyhow::bail!(
                "model {} produces {} dims but embedding_dimension is {expected}: set otel_storage.embedding_dimension \
                 to {}",
                embedder.name(),
                embedder.dimension(),
                embedder.dimension()
            );
        }
        Ok(embedder)
    })
    .await??;
    tracing::info!(model = embedder.name(), dimension = embedder.dimension(), "embedding model loaded");
    Ok(Arc::new(embedder))
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, writes everything queued, returns.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut first_error = None;
        while let Some(joined) = self.listeners.join_next().await {
            if let Err(err) = joined.map_err(anyhow::Error::from).and_then(|result| result) {
                first_error.get_or_insert(err);
            }
        }
        // The servers just stopped held the other pipeline handles: each tenant's batcher drains.
        self.tenants.drain().await;
        tracing::info!("semtrace stopped; everything acknowledged is stored");
        first_error.map_or(Ok(()), Err)
    }

    /// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        tokio::select! {
            () = shutdown_signal() => tracing::info!("shutdown requested; flushing"),
            Some(joined) = self.listeners.join_next() => {
                joined??;
                anyhow::bail!("a listener stopped unexpectedly");
            }
        }
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// What a semtrace binary does before anything else: fixes the model's thread count (before
/// any thread exists: it sets an environment variable) and logs to stderr (`RUST_LOG`, else
/// info).
pub fn init_process() {
    semtrace_embed::fix_thread_count();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// Runs a binary's work on a multi-threaded runtime; an error is printed with its causes and
/// fails the process.
pub fn run_to_exit(work: impl std::future::Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
