//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! tonic reads and decodes a message before the service sees it, so the service cannot reserve
//! the message's memory first, as the HTTP receiver does. An interceptor, which runs on the
//! headers before the body is read, takes one of `max_concurrent_grpc_decodes` permits (or
//! refuses the call at once, retryably); the permit travels in the request's extensions and is
//! released once the decoded request holds its pipeline reservation. Memory being decoded is so
//! bounded by permits × `max_decompressed_bytes`.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;

use prost::Message;
use semtrace_pipeline::{Pipeline, SubmitError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{convert_request, ReceiverLimits};

/// The gRPC trace service: validates, then waits for the pipeline's commit before answering.
pub struct TraceReceiver {
    pipeline: Pipeline,
    limits: ReceiverLimits,
}

/// The tonic service, accepting and sending gzip, with the decoded-size limit applied and the
/// number of messages decoded at once bounded.
pub fn grpc_service(
    pipeline: Pipeline,
    limits: ReceiverLimits,
) -> InterceptedService<TraceServiceServer<TraceReceiver>, DecodeLimit> {
    let max_message = limits.max_decompressed_bytes;
    let decoding = Arc::new(Semaphore::new(limits.max_concurrent_grpc_decodes.max(1)));
    let service = TraceServiceServer::new(TraceReceiver { pipeline, limits })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    InterceptedService::new(service, DecodeLimit { decoding })
}

/// Admits a call to be read and decoded while fewer than `max_concurrent_grpc_decodes` are.
#[derive(Clone)]
pub struct DecodeLimit {
    decoding: Arc<Semaphore>,
}

/// Held from the headers until the decoded request holds its reservation (or is dropped).
#[derive(Clone)]
struct DecodePermit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

impl Interceptor for DecodeLimit {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
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

#[tonic::async_trait]
impl TraceService for TraceReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let decode_permit = request.extensions().get::<DecodePermit>().cloned();
        let request = request.into_inner();
        // tonic has decoded the message already; the reservation holds its memory until the
        // answer, and refuses when requests in flight hold the budget.
        let reservation = self.pipeline.reserve(request.encoded_len()).map_err(status_of)?;
        drop(decode_permit);
        let n_spans: usize =
            request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
        if n_spans > self.limits.max_spans_per_request {
            return Err(Status::resource_exhausted(format!(
                "request holds {n_spans} spans, more than the limit of {}; send smaller batches",
                self.limits.max_spans_per_request
            )));
        }
        let converted = convert_request(request, &self.limits);
        let n_accepted = converted.spans.len() as u64;
        metrics::counter!("semtrace_receiver_spans_received_total", "protocol" => "grpc").increment(n_spans as u64);
        metrics::counter!("semtrace_receiver_spans_rejected_total", "protocol" => "grpc")
            .increment(converted.rejected as u64);
        let partial_success = (converted.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: converted.rejected as i64,
            error_message: converted.rejection_message(),
        });
        self.pipeline.submit_reserved(converted.spans, Some(reservation)).await.map_err(status_of)?;
        metrics::counter!("semtrace_receiver_spans_accepted_total", "protocol" => "grpc").increment(n_accepted);
        Ok(Response::new(ExportTraceServiceResponse { partial_success }))
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
