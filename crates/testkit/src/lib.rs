//! Seeded generators of realistic OTLP traffic, for benchmarks and tests.
//!
//! A generated trace is a checkout request crossing five services in four language stacks
//! (about 10 spans), with semantic-convention attributes, realistic sizes, and errors in a few
//! percent of traces whose messages carry volatile values (addresses, ids, durations), written
//! the way each stack really prints them.

pub mod corpus;
pub mod postgres;
pub mod shaped;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Settings of the generator.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Fraction of traces with an error (0.0–1.0).
    pub error_rate: f64,
    /// Timestamp of the first trace, in Unix nanoseconds.
    pub start_unix_nano: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig { seed: 42, error_rate: 0.05, start_unix_nano: 1_763_000_000_000_000_000 }
    }
}

/// Generates traces deterministically from its seed.
pub struct TraceGenerator {
    rng: SmallRng,
    config: GeneratorConfig,
    now_ns: u64,
}

struct Service {
    name: &'static str,
    language: &'static str,
    scope: &'static str,
}

const FRONTEND: Service =
    Service { name: "frontend", language: "nodejs", scope: "@opentelemetry/instrumentation-http" };
const CHECKOUT: Service = Service { name: "checkout", language: "java", scope: "io.opentelemetry.spring-webmvc-6.0" };
const INVENTORY: Service =
    Service { name: "inventory", language: "python", scope: "opentelemetry.instrumentation.grpc" };
const PAYMENTS: Service = Service {
    name: "payments",
    language: "go",
    scope: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
};
const NOTIFIER: Service = Service {
    name: "notifier",
    language: "go",
    scope: "go.opentelemetry.io/contrib/instrumentation/github.com/IBM/sarama/otelsarama",
};
const SERVICES: [&Service; 5] = [&FRONTEND, &CHECKOUT, &INVENTORY, &PAYMENTS, &NOTIFIER];

/// Error messages as the stacks print them; `{}` placeholders get volatile values.
const FAULTS: &[(&str, &str)] = &[
    ("*net.OpError", "dial tcp 10.{}.{}.{}:5432: i/o timeout"),
    ("java.sql.SQLTransientConnectionException", "HikariPool-1 - Connection is not available, request timed out after {}ms."),
    ("grpc.RpcError", "<_InactiveRpcError of RPC that terminated with: status = StatusCode.UNAVAILABLE details = \"failed to connect to all addresses; last error: UNKNOWN: ipv4:10.{}.{}.{}:50051: Failed to connect to remote host: Connection refused\">"),
    ("Error", "connect ECONNREFUSED 10.{}.{}.{}:6379"),
    ("psycopg2.errors.DeadlockDetected", "deadlock detected DETAIL: Process {} waits for ShareLock on transaction {}; blocked by process {}."),
    ("java.lang.NullPointerException", "Cannot invoke \"com.shop.Cart.getItems()\" because \"cart\" is null (order {})"),
    ("*errors.errorString", "payment declined: card ending {} insufficient funds (request {})"),
    ("kafka.Error", "kafka: client has run out of available brokers to talk to: dial tcp 10.{}.{}.{}:9092: connect: connection refused"),
];

impl TraceGenerator {
    pub fn new(config: GeneratorConfig) -> Self {
        TraceGenerator { rng: SmallRng::seed_from_u64(config.seed), now_ns: config.start_unix_nano, config }
    }

    /// An export request holding `n_traces` whole traces, grouped by service as a collector
    /// would send them. Returns the request and the ids of its traces.
    pub fn request(&mut self, n_traces: usize) -> (ExportTraceServiceRequest, Vec<[u8; 16]>) {
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        let mut trace_ids = Vec::with_capacity(n_traces);
        for _ in 0..n_traces {
            let trace_id = self.trace(&mut by_service);
            trace_ids.push(trace_id);
        }
        let resource_spans = SERVICES
            .iter()
            .zip(by_service)
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv_str("service.name", service.name),
                        kv_str("service.namespace", "shop"),
                        kv_str("service.version", "2.7.1"),
                        kv_str("deployment.environment", "production"),
                        kv_str("telemetry.sdk.language", service.language),
                        kv_str("telemetry.sdk.name", "opentelemetry"),
                        kv_str("host.name", &format!("{}-7d9f8b6c5-x2k4p", service.name)),
                        kv_str("k8s.namespace.name", "shop-prod"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: service.scope.into(),
                        version: "1.32.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            })
            .collect();
        (ExportTraceServiceRequest { resource_spans }, trace_ids)
    }

    fn id<const N: usize>(&mut self) -> [u8; N] {
        crate::random_id(&mut self.rng)
    }

    fn volatile(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut parts = template.split("{}").peekable();
        while let Some(part) = parts.next() {
            out.push_str(part);
            if parts.peek().is_some() {
                let value: u32 = self.rng.random_range(1..99_999);
                out.push_str(&(value % 255).max(1).to_string());
                if value.is_multiple_of(3) {
                    out.push_str(&value.to_string());
                }
            }
        }
        out
    }

    /// Appends one trace's spans to their services' lists; returns its id.
    fn trace(&mut self, by_service: &mut [Vec<Span>]) -> [u8; 16] {
        let trace_id: [u8; 16] = self.id();
        self.now_ns += self.rng.random_range(100_000..2_000_000);
        let start = self.now_ns;
        let failing = self.rng.random_bool(self.config.error_rate);
        let fault = self.rng.random_range(0..FAULTS.len());
        let user_id = self.rng.random_range(1..5_000_000u32);
        let order_id = self.rng.random_range(1..90_000_000u32);

        let mut b = Builder { generator: self, trace_id, spans: Vec::new() };
        let root = b.span(0, None, "GET /api/checkout", span::SpanKind::Server, start, vec![
            kv_str("http.request.method", "GET"),
            kv_str("http.route", "/api/checkout"),
            kv_str("url.path", &format!("/api/checkout/{order_id}")),
            kv_str("url.scheme", "https"),
            kv_str("user_agent.original", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"),
            kv_str("client.address", &format!("203.0.113.{}", order_id % 250)),
            kv_str("enduser.id", &format!("user-{user_id}")),
        ]);
        let call = b.span(
            0,
            Some(root),
            "POST",
            span::SpanKind::Client,
            start + 1_000_000,
            vec![
                kv_str("http.request.method", "POST"),
                kv_str("server.address", "checkout.shop-prod.svc.cluster.local"),
                kv_int("server.port", 8080),
                kv_str("url.full", "http://checkout.shop-prod.svc.cluster.local:8080/checkout"),
            ],
        );
        let checkout = b.span(
            1,
            Some(call),
            "POST /checkout",
            span::SpanKind::Server,
            start + 2_000_000,
            vec![
                kv_str("http.request.method", "POST"),
                kv_str("http.route", "/checkout"),
                kv_str("thread.name", "http-nio-8080-exec-7"),
            ],
        );
        b.span(
            1,
            Some(checkout),
            "CartService.validate",
            span::SpanKind::Internal,
            start + 2_500_000,
            vec![kv_int("cart.items", i64::from(order_id % 9 + 1))],
        );
        let reserve = b.span(
            1,
            Some(checkout),
            "inventory.InventoryService/Reserve",
            span::SpanKind::Client,
            start + 4_000_000,
            vec![
                kv_str("rpc.system", "grpc"),
                kv_str("rpc.service", "inventory.InventoryService"),
                kv_str("rpc.method", "Reserve"),
                kv_str("server.address", "inventory"),
                kv_int("server.port", 50051),
            ],
        );
        let inventory = b.span(
            2,
            Some(reserve),
            "inventory.InventoryService/Reserve",
            span::SpanKind::Server,
            start + 5_000_000,
            vec![
                kv_str("rpc.system", "grpc"),
                kv_str("rpc.service", "inventory.InventoryService"),
                kv_str("rpc.method", "Reserve"),
                kv_int("rpc.grpc.status_code", 0),
            ],
        );
        let inventory_update = b.span(
            2,
            Some(inventory),
            "UPDATE inventory",
            span::SpanKind::Client,
            start + 6_000_000,
            vec![
                kv_str("db.system", "postgresql"),
                kv_str("db.name", "inventory"),
                kv_str("db.operation", "UPDATE"),
                kv_str(
                    "db.statement",
                    "UPDATE inventory SET reserved = reserved + $1 WHERE sku = $2 AND reserved + $1 <= stock",
                ),
                kv_str("server.address", "inventory-db.shop-prod.svc.cluster.local"),
            ],
        );
        let orders_query = b.span(1, Some(checkout), "SELECT shop.orders", span::SpanKind::Client, start + 12_000_000, vec![
            kv_str("db.system", "postgresql"),
            kv_str("db.name", "shop"),
            kv_str("db.operation", "SELECT"),
            kv_str("db.sql.table", "orders"),
            kv_str("db.statement", "SELECT o.id, o.status, o.total FROM orders o WHERE o.customer_id = ? ORDER BY o.created_at DESC LIMIT ?"),
        ]);
        let charge = b.span(
            3,
            Some(checkout),
            "POST /v1/charges",
            span::SpanKind::Server,
            start + 20_000_000,
            vec![
                kv_str("http.request.method", "POST"),
                kv_str("http.route", "/v1/charges"),
                kv_int("http.response.status_code", 200),
                kv_str("payment.provider", "stripe"),
            ],
        );
        let cache_get = b.span(
            3,
            Some(charge),
            "GET",
            span::SpanKind::Client,
            start + 21_000_000,
            vec![
                kv_str("db.system", "redis"),
                kv_str("db.operation", "GET"),
                kv_str("db.statement", "GET idempotency:*"),
                kv_str("server.address", "redis-master"),
                kv_int("server.port", 6379),
            ],
        );
        let publish = b.span(
            4,
            Some(checkout),
            "orders publish",
            span::SpanKind::Producer,
            start + 30_000_000,
            vec![
                kv_str("messaging.system", "kafka"),
                kv_str("messaging.destination.name", "orders"),
                kv_str("messaging.operation", "publish"),
                kv_int("messaging.kafka.message.offset", i64::from(order_id)),
            ],
        );
        if failing {
            // Where each fault of FAULTS happens.
            let failed_span = match fault {
                0 | 6 => charge,
                1 => orders_query,
                2 => inventory,
                3 => cache_get,
                4 => inventory_update,
                5 => checkout,
                _ => publish,
            };
            b.fail(failed_span, fault);
        }
        let Builder { spans, .. } = b;
        for (service_idx, span) in spans {
            by_service[service_idx].push(span);
        }
        trace_id
    }
}

struct Builder<'a> {
    generator: &'a mut TraceGenerator,
    trace_id: [u8; 16],
    spans: Vec<(usize, Span)>,
}

impl Builder<'_> {
    /// Adds a span; returns its index.
    fn span(
        &mut self,
        service_idx: usize,
        parent: Option<usize>,
        name: &str,
        kind: span::SpanKind,
        start: u64,
        attributes: Vec<KeyValue>,
    ) -> usize {
        let span_id: [u8; 8] = self.generator.id();
        let duration = self.generator.rng.random_range(200_000..40_000_000u64);
        let parent_span_id = parent.map(|idx| self.spans[idx].1.span_id.clone()).unwrap_or_default();
        self.spans.push((
            service_idx,
            Span {
                trace_id: self.trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id,
                flags: 0x101,
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration,
                attributes,
                status: Some(Status { code: status::StatusCode::Unset as i32, message: String::new() }),
                ..Default::default()
            },
        ));
        self.spans.len() - 1
    }

    /// Marks a span failed with an exception event, and its ancestors failed as instrumentations do.
    fn fail(&mut self, idx: usize, fault: usize) {
        let (exception_type, template) = FAULTS[fault];
        let message = self.generator.volatile(template);
        let span = &mut self.spans[idx].1;
        span.status = Some(Status { code: status::StatusCode::Error as i32, message: message.clone() });
        span.events.push(span::Event {
            time_unix_nano: span.end_time_unix_nano,
            name: "exception".into(),
            attributes: vec![
                kv_str("exception.type", exception_type),
                kv_str("exception.message", &message),
                kv_str("exception.stacktrace", &format!("{exception_type}: {message}\n\tat com.shop.checkout.CheckoutService.placeOrder(CheckoutService.java:142)\n\tat com.shop.checkout.CheckoutController.checkout(CheckoutController.java:57)")),
            ],
            dropped_attributes_count: 0,
        });
        let mut parent = span.parent_span_id.clone();
        while !parent.is_empty() {
            let Some((_, ancestor)) = self.spans.iter_mut().find(|(_, candidate)| candidate.span_id == parent) else {
                break;
            };
            if ancestor.status.as_ref().is_some_and(|status| status.code == status::StatusCode::Error as i32) {
                break;
            }
            ancestor.status = Some(Status { code: status::StatusCode::Error as i32, message: String::new() });
            parent = ancestor.parent_span_id.clone();
        }
    }
}

/// A random trace or span id, never all zero.
pub(crate) fn random_id<const N: usize>(rng: &mut SmallRng) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes[..]);
    bytes[0] |= 1;
    bytes
}

pub(crate) fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

pub(crate) fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn requests_are_deterministic_and_realistic() {
        let (first, ids) = TraceGenerator::new(GeneratorConfig::default()).request(100);
        let (again, _) = TraceGenerator::new(GeneratorConfig::default()).request(100);
        assert_eq!(first, again, "same seed, same traffic");
        assert_eq!(ids.len(), 100);
        let spans: Vec<&Span> =
            first.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).collect();
        assert_eq!(spans.len(), 1100, "11 spans per trace");
        let errors = spans.iter().filter(|span| span.status.as_ref().is_some_and(|status| status.code == 2)).count();
        assert!(errors > 0, "some traces fail");
        let bytes_per_span = first.encoded_len() / spans.len();
        assert!((150..2000).contains(&bytes_per_span), "realistic span size, got {bytes_per_span} bytes");
    }
}
