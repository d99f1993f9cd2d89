//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` and
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export`, sharing one decode limit.
//!
//! tonic reads and decodes a message before the service sees it, so the service cannot reserve
//! the message's memory first, as the HTTP receiver does. An interceptor, which runs on the
//! headers before the body is read, takes one of `max_concurrent_grpc_decodes` permits (or
//! refuses the call at once, retryably); the permit travels in the request's extensions and is
//! released once the decoded request holds its pipeline reservation. Memory being decoded is so
//! bounded by permits × `max_decompressed_bytes`.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use std::sync::Arc;

use prost::Message;
use semtrace_pipeline::SubmitError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::http::{count_accepted, count_received, Logs, Signal, Traces};
use crate::ReceiverLimits;

/// A gRPC OTLP service (traces or logs): validates, then waits for the pipeline's commit
/// before answering.
pub struct Receiver<S> {
    pipelines: Arc<dyn crate::Pipelines>,
    limits: ReceiverLimits,
    signal: std::marker::PhantomData<S>,
}

pub type TraceReceiver = Receiver<Traces>;
pub type LogsReceiver = Receiver<Logs>;

/// The tonic services, traces and logs, accepting and sending gzip, with the decoded-size limit
/// applied and the number of messages decoded at once (by both together) bounded.
pub struct GrpcServices {
    pub traces: InterceptedService<TraceServiceServer<TraceReceiver>, DecodeLimit>,
    pub logs: InterceptedService<LogsServiceServer<LogsReceiver>, DecodeLimit>,
}

/// With `auth` on, a call needs a token of role `ingest` (or `admin`) in its `authorization`
/// metadata, checked from the headers before the message is read.
pub fn grpc_services(
    pipelines: Arc<dyn crate::Pipelines>,
    limits: ReceiverLimits,
    auth: semtrace_auth::Auth,
) -> GrpcServices {
    let max_message = limits.max_decompressed_bytes;
    let limit = DecodeLimit { decoding: Arc::new(Semaphore::new(limits.max_concurrent_grpc_decodes.max(1))), auth };
    let traces = TraceServiceServer::new(Receiver {
        pipelines: pipelines.clone(),
        limits: limits.clone(),
        signal: std::marker::PhantomData,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .send_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(max_message);
    let logs = LogsServiceServer::new(Receiver { pipelines, limits, signal: std::marker::PhantomData })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    GrpcServices { traces: InterceptedService::new(traces, limit.clone()), logs: InterceptedService::new(logs, limit) }
}

/// Admits a call whose token allows ingest to be read and decoded while fewer than
/// `max_concurrent_grpc_decodes` are.
#[derive(Clone)]
pub struct DecodeLimit {
    decoding: Arc<Semaphore>,
    auth: semtrace_auth::Auth,
}

/// Held from the headers until the decoded request holds its reservation (or is dropped).
#[derive(Clone)]
struct DecodePermit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

impl Interceptor for DecodeLimit {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let headers = request.metadata().clone().into_headers();
        match self.auth.check(&headers, semtrace_auth::Access::Ingest) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
            }
            Err(denied) => {
                metrics::counter!("semtrace_auth_denied_total", "listener" => "otlp_grpc").increment(1);
                return Err(match denied {
                    semtrace_auth::Denied::Unauthenticated(message) => Status::unauthenticated(message),
                    semtrace_auth::Denied::Forbidden(message) => Status::permission_denied(message),
                    semtrace_auth::Denied::BadTenant(message) => Status::invalid_argument(message),
                });
            }
        }
        match self.decoding.clone().try_acquire_owned() {
            Ok(permit) => {
                request.extensions_mut().insert(DecodePermit(Arc::new(permit)));
                Ok(request)
            }
            Err(_) => {
                metrics::counter!("semtrace_receiver_requests_refused_total", "protocol" => "grpc").increment(1);
                metrics::counter!("semtrace_pipeline_requests_refused_total", "reason" => "grpc_decode_limit")
                    .increment(1);
                let wait = std::time::Duration::from_secs(1);
                Err(Status::with_error_details(
                    Code::Unavailable,
                    "semtrace is decoding as many gRPC messages as limits.max_concurrent_grpc_decodes allows; retry later",
                    ErrorDetails::with_retry_info(Some(wait)),
                ))
            }
        }
    }
}

impl<S: Signal> Receiver<S> {
    async fn export(&self, request: Request<S::Request>) -> Result<S::Response, Status> {
        let decode_permit = request.extensions().get::<DecodePermit>().cloned();
        let tenant = request
            .extensions()
            .get::<semtrace_auth::Principal>()
            .map(|principal| principal.tenant.clone())
            .unwrap_or_else(|| semtrace_auth::DEFAULT_TENANT.into());
        let request = request.into_inner();
        // tonic has decoded the message already; the reservation holds its memory until the
        // answer, and refuses when requests in flight hold the budget.
        let encoded_len = request.encoded_len();
        let n_items = S::count(&request);
        // The tenant's rates, before anything is reserved or converted.
        let tenants = &self.limits.tenants;
        tenants.admit_bytes(&tenant, encoded_len).and_then(|()| tenants.admit_items(&tenant, n_items)).map_err(
            |over| {
                Status::with_error_details(
                    Code::ResourceExhausted,
                    over.message,
                    ErrorDetails::with_retry_info(Some(over.retry_after)),
                )
            },
        )?;
        let pipeline = self.pipelines.pipeline(&tenant).await.map_err(|refused| match refused {
            crate::NoPipeline::Unavailable(message) => Status::unavailable(message),
            crate::NoPipeline::OverQuota(over) => Status::with_error_details(
                Code::ResourceExhausted,
                over.message,
                ErrorDetails::with_retry_info(Some(over.retry_after)),
            ),
        })?;
        let reservation = pipeline.reserve(encoded_len).map_err(status_of)?;
        drop(decode_permit);
        if n_items > self.limits.max_spans_per_request {
            return Err(Status::resource_exhausted(format!(
                "request holds {n_items} {}, more than the limit of {}; send smaller batches",
                S::ITEMS,
                self.limits.max_spans_per_request
            )));
        }
        // A large message (up to `max_spans_per_request` items) is converted on the blocking
        // pool, as HTTP bodies are decoded, so it does not hold a runtime worker.
        let converted = if encoded_len < crate::http::INLINE_DECODE_MAX_BYTES {
            S::convert(request, &self.limits)
        } else {
            let limits = self.limits.clone();
            tokio::task::spawn_blocking(move || S::convert(request, &limits))
                .await
                .map_err(|err| Status::internal(format!("converting the request failed: {err}")))?
        };
        let n_accepted = converted.accepted.len() as u64;
        count_received(S::LABEL, "grpc", n_accepted, converted.rejected);
        let response = S::response(converted.rejected, converted.rejection_message());
        S::submit(&pipeline, converted.accepted, reservation).await.map_err(status_of)?;
        count_accepted(S::LABEL, "grpc", n_accepted);
        Ok(response)
    }
}

#[tonic::async_trait]
impl TraceService for TraceReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        Receiver::export(self, request).await.map(Response::new)
    }
}

#[tonic::async_trait]
impl LogsService for LogsReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        Receiver::export(self, request).await.map(Response::new)
    }
}

/// Retryable failures map to UNAVAILABLE, which OTLP exporters always retry, with a
/// `google.rpc.RetryInfo` detail saying how long to wait (as the OTLP specification asks).
fn status_of(err: SubmitError) -> Status {
    metrics::counter!("semtrace_receiver_requests_refused_total", "protocol" => "grpc").increment(1);
    if err.is_retryable() {
        let details = ErrorDetails::with_retry_info(Some(err.retry_after()));
        Status::with_error_details(Code::Unavailable, err.to_string(), details)
    } else if matches!(err, SubmitError::TooLarge { .. }) {
        Status::resource_exhausted(err.to_string())
    } else {
        Status::internal(err.to_string())
    }
}
