/// Limits that protect the receivers from oversized or hostile input.
#[derive(Debug, Clone)]
pub struct ReceiverLimits {
    /// Largest request body accepted as sent (compressed or not); larger gets 413 / RESOURCE_EXHAUSTED.
    pub max_body_bytes: usize,
    /// Largest body after decompression; inflation stops as soon as it is passed.
    pub max_decompressed_bytes: usize,
    /// Most spans in one export request; more gets 413 / RESOURCE_EXHAUSTED (split the batch).
    pub max_spans_per_request: usize,
    /// Attributes kept per span (and per event, link, resource); the rest are dropped and counted
    /// in the span's `dropped_attributes_count`, as OpenTelemetry SDKs do.
    pub max_attributes_per_span: usize,
    /// Longest string or bytes attribute value kept; longer values are cut at this many bytes.
    pub max_attribute_value_bytes: usize,
    /// gRPC messages decoded at once. tonic reads and decodes a message before the service can
    /// reserve memory for it, so this bounds that memory: at most this many times
    /// `max_decompressed_bytes`. Calls past it get UNAVAILABLE with `RetryInfo` at once.
    pub max_concurrent_grpc_decodes: usize,
    /// An OTLP/HTTP body must arrive within this, counted from its headers (slow-body clients
    /// hold a connection and a memory reservation otherwise); later gets 408.
    pub body_read_timeout: std::time::Duration,
    /// Each tenant's ingest rates (spans and bytes a second).
    pub tenants: crate::tenant::TenantLimits,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_spans_per_request: 100_000,
            max_attributes_per_span: 256,
            max_attribute_value_bytes: 64 * 1024,
            max_concurrent_grpc_decodes: 16,
            body_read_timeout: std::time::Duration::from_secs(30),
            tenants: crate::tenant::TenantLimits::default(),
        }
    }
}
