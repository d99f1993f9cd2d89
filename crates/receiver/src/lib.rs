//! OTLP receivers: gRPC (`TraceService/Export`, tonic) and HTTP (`POST /v1/traces`, axum, protobuf
//! and JSON, gzip). They decode, check limits, validate span by span, and hand valid spans to the
//! [`semtrace_pipeline::Pipeline`]; they answer only once the pipeline says the spans are committed.
//!
//! API boundary: OTLP types do not leave this crate; what goes on is `semtrace_model::Span`.

mod convert;
mod grpc;
mod http;
mod limits;

pub use convert::{convert_request, Converted};
pub use grpc::{grpc_service, TraceReceiver};
pub use http::{decode_export, http_router, OTLP_TRACES_PATH};
pub use limits::ReceiverLimits;
