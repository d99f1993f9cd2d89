//! An OpenTelemetry [`SpanExporter`] for semtrace.
//!
//! - [`SemtraceExporter::otlp`]: spans sent to a semtrace server (or any OTLP/HTTP receiver) as
//!   protobuf, gzip-compressed; a refusal that says to retry (429, 502, 503, 504, or a connection
//!   error) is retried after the server's `Retry-After` header, or the `google.rpc.RetryInfo` in
//!   its `Status` body, else with exponential backoff, until the export's deadline.
//! - [`SemtraceExporter::embedded`] (feature `embedded`, on by default): spans written straight
//!   into an embedded semtrace store (SQLite) in-process, through semtrace's own write pipeline
//!   (durable group commit); `semtrace serve --data-dir` on the same directory later serves and
//!   embeds them. For a program that keeps its traces without running a server.
//!
//! ```no_run
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! let exporter = semtrace_exporter::SemtraceExporter::otlp("http://127.0.0.1:4318").build().unwrap();
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! // … opentelemetry::global::set_tracer_provider(provider.clone()); trace; provider.shutdown()
//! ```
//!
//! The exporter runs its own small Tokio runtime (one worker), so it works from a program with
//! or without one, and under the SDK's batch processor's own thread.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use prost::Message;

/// Where spans go.
enum Sink {
    Otlp {
        client: reqwest::Client,
        url: String,
        token: Option<String>,
        gzip: bool,
    },
    #[cfg(feature = "embedded")]
    Embedded(embedded::Embedded),
}

/// The exporter: build it with [`SemtraceExporter::otlp`] or [`SemtraceExporter::embedded`].
pub struct SemtraceExporter {
    sink: std::sync::Arc<Sink>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    resource: ResourceAttributesWithSchema,
    timeout: Duration,
}

impl fmt::Debug for SemtraceExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &*self.sink {
            Sink::Otlp { url, .. } => format!("otlp {url}"),
            #[cfg(feature = "embedded")]
            Sink::Embedded(embedded) => format!("embedded {}", embedded.data_dir.display()),
        };
        f.debug_struct("SemtraceExporter").field("sink", &kind).field("timeout", &self.timeout).finish()
    }
}

/// Why an exporter could not be built.
#[derive(Debug)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Settings of an OTLP exporter.
pub struct OtlpBuilder {
    endpoint: String,
    token: Option<String>,
    gzip: bool,
    timeout: Duration,
}

impl OtlpBuilder {
    /// A bearer token (a semtrace token with the `ingest` role).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Compress requests with gzip (on by default).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// How long one export may take, retries included (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<SemtraceExporter, BuildError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|err| BuildError(format!("cannot build the HTTP client: {err}")))?;
        let url = format!("{}/v1/traces", self.endpoint.trim_end_matches('/'));
        SemtraceExporter::with_sink(self.timeout, |_| {
            Ok(Sink::Otlp { client, url, token: self.token, gzip: self.gzip })
        })
    }
}

impl SemtraceExporter {
    /// Sends to the OTLP/HTTP endpoint at `endpoint` (`http://127.0.0.1:4318`; `/v1/traces` is
    /// added).
    pub fn otlp(endpoint: impl Into<String>) -> OtlpBuilder {
        OtlpBuilder { endpoint: endpoint.into(), token: None, gzip: true, timeout: Duration::from_secs(10) }
    }

    /// Writes into the embedded store in `data_dir` (created if missing). The directory must not
    /// be open in a running `semtrace serve` at the same time.
    #[cfg(feature = "embedded")]
    pub fn embedded(data_dir: impl Into<std::path::PathBuf>) -> Result<SemtraceExporter, BuildError> {
        let data_dir = data_dir.into();
        SemtraceExporter::with_sink(Duration::from_secs(30), |handle| {
            embedded::Embedded::open(handle, data_dir).map(Sink::Embedded)
        })
    }

    fn with_sink(
        timeout: Duration,
        sink: impl FnOnce(&tokio::runtime::Handle) -> Result<Sink, BuildError>,
    ) -> Result<SemtraceExporter, BuildError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("semtrace-exporter")
            .enable_all()
            .build()
            .map_err(|err| BuildError(format!("cannot start the exporter's runtime: {err}")))?;
        let handle = runtime.handle().clone();
        let sink = sink(&handle)?;
        Ok(SemtraceExporter {
            sink: std::sync::Arc::new(sink),
            runtime: Mutex::new(Some(runtime)),
            handle,
            resource: ResourceAttributesWithSchema::default(),
            timeout,
        })
    }
}

impl SpanExporter for SemtraceExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let request =
            ExportTraceServiceRequest { resource_spans: group_spans_by_resource_and_scope(batch, &self.resource) };
        let (sink, deadline) = (self.sink.clone(), Instant::now() + self.timeout);
        // Run on the exporter's own runtime; its join handle can be awaited from any executor.
        let task = self.handle.spawn(async move {
            match &*sink {
                Sink::Otlp { client, url, token, gzip } => {
                    send(client, url, token.as_deref(), *gzip, request, deadline).await
                }
                #[cfg(feature = "embedded")]
                Sink::Embedded(embedded) => embedded.write(request).await,
            }
        });
        async move { task.await.map_err(|err| OTelSdkError::InternalFailure(format!("export task: {err}")))? }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        #[cfg(feature = "embedded")]
        if let Sink::Embedded(embedded) = &*self.sink {
            embedded.close(&self.handle, timeout)?;
        }
        if let Some(runtime) = self.runtime.lock().map_err(|_| OTelSdkError::AlreadyShutdown)?.take() {
            runtime.shutdown_timeout(timeout.min(Duration::from_secs(1)));
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

impl Drop for SemtraceExporter {
    fn drop(&mut self) {
        // Never block (the exporter may be dropped inside an async context).
        if let Ok(mut runtime) = self.runtime.lock() {
            if let Some(runtime) = runtime.take() {
                runtime.shutdown_background();
            }
        }
    }
}

/// Posts one request, retrying what the server asks to be retried until `deadline`.
async fn send(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    gzip: bool,
    request: ExportTraceServiceRequest,
    deadline: Instant,
) -> OTelSdkResult {
    let mut body = request.encode_to_vec();
    if gzip {
        body = otlp_http::gzip(&body).map_err(|err| OTelSdkError::InternalFailure(err.to_string()))?;
    }
    let mut backoff = Duration::from_millis(100);
    loop {
        let (wait, why) = match otlp_http::attempt(client, url, token, gzip, &body).await {
            otlp_http::Attempt::Accepted { rejected_spans: 0, .. } => return Ok(()),
            otlp_http::Attempt::Accepted { rejected_spans, message } => {
                return Err(OTelSdkError::InternalFailure(format!("{rejected_spans} spans rejected: {message}")))
            }
            otlp_http::Attempt::Refused { status, message } => {
                return Err(OTelSdkError::InternalFailure(format!("{url} refused the spans ({status}): {message}")))
            }
            otlp_http::Attempt::Retry { after, why } => (after, why),
        };
        let wait = wait.unwrap_or(backoff);
        if Instant::now() + wait > deadline {
            return Err(OTelSdkError::InternalFailure(format!("gave up retrying before the export's deadline: {why}")));
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One OTLP/HTTP export attempt, as every semtrace client makes it (this exporter, `semtrace
/// import`): protobuf, optionally gzip-compressed, a bearer token; the answer classified.
pub mod otlp_http {
    use std::io::Write;
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;

    /// What the server made of a request.
    #[derive(Debug)]
    pub enum Attempt {
        /// Stored, but for `rejected_spans` (OTLP partial success), with why.
        Accepted { rejected_spans: i64, message: String },
        /// Refused for now (429, 502–504, no connection): retry, after `after` if the server
        /// said (`Retry-After`, or `RetryInfo` in its `google.rpc.Status` body).
        Retry { after: Option<Duration>, why: String },
        /// Refused for good (400, 401, 403, 413, …): the status and the server's message.
        Refused { status: u16, message: String },
    }

    pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        encoder.write_all(body)?;
        encoder.finish()
    }

    /// Posts `body` (an encoded `ExportTraceServiceRequest`, gzip-compressed if `gzip`) to `url`.
    pub async fn attempt(client: &reqwest::Client, url: &str, token: Option<&str>, gzip: bool, body: &[u8]) -> Attempt {
        let mut post = client.post(url).header("content-type", "application/x-protobuf").body(body.to_vec());
        if gzip {
            post = post.header("content-encoding", "gzip");
        }
        if let Some(token) = token {
            post = post.bearer_auth(token);
        }
        let response = match post.send().await {
            Ok(response) => response,
            Err(err) => return Attempt::Retry { after: None, why: format!("cannot reach {url}: {err}") },
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let partial =
                ExportTraceServiceResponse::decode(bytes.as_ref()).ok().and_then(|answer| answer.partial_success);
            return match partial {
                Some(partial) => {
                    Attempt::Accepted { rejected_spans: partial.rejected_spans, message: partial.error_message }
                }
                None => Attempt::Accepted { rejected_spans: 0, message: String::new() },
            };
        }
        let rpc = tonic_types::pb::Status::decode(bytes.as_ref()).ok().filter(|rpc| !rpc.message.is_empty());
        let message = match &rpc {
            Some(rpc) => rpc.message.clone(),
            None => String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        };
        if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
            let after = retry_after.or_else(|| rpc.as_ref().and_then(super::retry_info));
            return Attempt::Retry { after, why: format!("{status}: {message}") };
        }
        Attempt::Refused { status: status.as_u16(), message }
    }
}

/// The delay a `google.rpc.Status`'s `RetryInfo` detail asks for.
fn retry_info(status: &tonic_types::pb::Status) -> Option<Duration> {
    status.details.iter().find(|any| any.type_url.ends_with("google.rpc.RetryInfo")).and_then(|any| {
        let info = tonic_types::pb::RetryInfo::decode(any.value.as_slice()).ok()?;
        let delay = info.retry_delay?;
        Some(Duration::new(delay.seconds.max(0) as u64, delay.nanos.max(0) as u32))
    })
}

#[cfg(feature = "embedded")]
mod embedded {
    use std::sync::Arc;
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
    use semtrace_pipeline::{Pipeline, PipelineConfig, PipelineTask};
    use semtrace_store::Store;

    use super::BuildError;

    /// semtrace's write pipeline over an embedded store, in this process.
    pub(super) struct Embedded {
        pub(super) data_dir: std::path::PathBuf,
        pipeline: std::sync::Mutex<Option<(Pipeline, PipelineTask)>>,
        writer: tokio::sync::RwLock<Option<Pipeline>>,
    }

    impl Embedded {
        pub(super) fn open(
            handle: &tokio::runtime::Handle,
            data_dir: std::path::PathBuf,
        ) -> Result<Embedded, BuildError> {
            let options = semtrace_store_sqlite::SqliteOptions::new(&data_dir);
            let dir = data_dir.clone();
            // Opened on a thread of its own: the caller may be inside another runtime.
            let handle = handle.clone();
            let started = std::thread::spawn(move || {
                handle.block_on(async move {
                    let store = tokio::task::spawn_blocking(move || semtrace_store_sqlite::SqliteStore::open(options))
                        .await
                        .map_err(|err| err.to_string())?
                        .map_err(|err| format!("cannot open the embedded store in {}: {err}", dir.display()))?;
                    let store: Arc<dyn Store> = Arc::new(store);
                    Pipeline::start(store, PipelineConfig::default()).map_err(|err| err.to_string())
                })
            })
            .join()
            .map_err(|_| BuildError("the store's opening panicked".into()))?
            .map_err(BuildError)?;
            let writer = started.0.clone();
            Ok(Embedded {
                data_dir,
                pipeline: std::sync::Mutex::new(Some(started)),
                writer: tokio::sync::RwLock::new(Some(writer)),
            })
        }

        /// Converts as the OTLP receiver does (invalid spans refused, the rest kept) and writes
        /// through the pipeline: returns once the spans are committed.
        pub(super) async fn write(&self, request: ExportTraceServiceRequest) -> OTelSdkResult {
            let converted = semtrace_receiver::convert_request(request, &semtrace_receiver::ReceiverLimits::default());
            let rejected = converted.rejected;
            let writer = self.writer.read().await;
            let Some(pipeline) = writer.as_ref() else { return Err(OTelSdkError::AlreadyShutdown) };
            pipeline.submit(converted.accepted).await.map_err(|err| OTelSdkError::InternalFailure(err.to_string()))?;
            if rejected > 0 {
                return Err(OTelSdkError::InternalFailure(format!("{rejected} spans were not valid OTLP")));
            }
            Ok(())
        }

        /// Drains the pipeline: everything submitted is committed.
        pub(super) fn close(&self, handle: &tokio::runtime::Handle, timeout: Duration) -> OTelSdkResult {
            let Some((pipeline, task)) = self.pipeline.lock().map_err(|_| OTelSdkError::AlreadyShutdown)?.take() else {
                return Ok(());
            };
            let handle = handle.clone();
            let writer = &self.writer;
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        handle.block_on(async {
                            writer.write().await.take();
                            // Every clone of the pipeline dropped, the batcher writes what is queued.
                            drop(pipeline);
                            let drained = task.shutdown();
                            tokio::time::timeout(timeout, drained).await.map_err(|_| OTelSdkError::Timeout(timeout))
                        })
                    })
                    .join()
                    .map_err(|_| OTelSdkError::InternalFailure("the pipeline's shutdown panicked".into()))?
            })
        }
    }
}
