//! OTLP receivers for traces and logs: gRPC (`TraceService/Export`, `LogsService/Export`, tonic)
//! and HTTP (`POST /v1/traces`, `POST /v1/logs`, axum, protobuf and JSON, gzip). They decode,
//! check limits, validate item by item, and hand valid spans and log records to the
//! [`semtrace_pipeline::Pipeline`]; they answer only once the pipeline says they are committed.
//!
//! API boundary: OTLP types do not leave this crate; what goes on is `semtrace_model::Span` and
//! `semtrace_model::LogRecord`.

mod convert;
mod grpc;
mod http;
mod limits;
mod tenant;

pub use convert::{convert_logs_request, convert_request, Converted};
pub use grpc::{grpc_services, GrpcServices, LogsReceiver, Receiver, TraceReceiver};
pub use http::{decode_export, decode_logs_export, http_router, OTLP_LOGS_PATH, OTLP_TRACES_PATH};
pub use limits::ReceiverLimits;

/// Where a tenant's items go: its own write pipeline (and so its own store). A single
/// [`semtrace_pipeline::Pipeline`] serves every tenant alike, for single-tenant uses.
pub trait Pipelines: Send + Sync + 'static {
    /// The tenant's pipeline, opened on first use, or why it takes nothing now.
    fn pipeline<'a>(
        &'a self,
        tenant: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<semtrace_pipeline::Pipeline, NoPipeline>>;
}

/// Why a tenant's items cannot be taken now; both are retryable.
#[derive(Debug, Clone)]
pub enum NoPipeline {
    /// Its store could not be opened: 503 / UNAVAILABLE.
    Unavailable(String),
    /// It holds its quota of stored bytes: 429 / RESOURCE_EXHAUSTED with when to retry.
    OverQuota(OverRate),
}

impl Pipelines for semtrace_pipeline::Pipeline {
    fn pipeline<'a>(
        &'a self,
        _tenant: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<semtrace_pipeline::Pipeline, NoPipeline>> {
        Box::pin(std::future::ready(Ok(self.clone())))
    }
}
pub use tenant::{OverRate, TenantLimits, TenantRate};
