//! Traffic of a configurable shape, for ingest benchmarks: how many spans a trace has, how many
//! attributes a span carries, how many of their values are unique (URLs with ids, SQL with
//! literals, peer IPs, user agents, thread ids), how many traces fail, and how many spans a
//! request holds. The fixed checkout traffic of [`crate::TraceGenerator`] is one shape; real
//! services send others, and a write path tuned on one shape can be slow on the next.
//!
//! A trace's spans take turns as an HTTP server span, a database client span and a gRPC client
//! span, each under the previous server span, spread over the configured number of services.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{kv_int, kv_str};

/// The shape of generated traffic.
#[derive(Debug, Clone)]
pub struct Shape {
    pub seed: u64,
    /// Spans in a trace (at least 1).
    pub spans_per_trace: usize,
    /// Attributes on a span; past the semantic-convention ones of its kind, `app.*` attributes.
    pub attributes_per_span: usize,
    /// Share of values drawn unique (0.0–1.0): a URL with an id, SQL with a literal, a random
    /// peer IP, one of many user agents, a thread id; otherwise the value is one of a few.
    pub high_cardinality: f64,
    /// Share of traces with a failed span (0.0–1.0).
    pub error_rate: f64,
    /// Share of spans named by their unique values (0.0–1.0), as some instrumentation does: an
    /// HTTP server span by its path with the id (`GET /api/v1/orders/12345`), a database span
    /// by its statement with literals. Otherwise by route and table.
    pub unique_names: f64,
    /// Services the spans are spread over (at least 1).
    pub services: usize,
    /// Timestamp of the first trace, in Unix nanoseconds.
    pub start_unix_nano: u64,
}

impl Default for Shape {
    /// The traffic an outside load generator sent in issue 21: traces of 10 spans, 6 attributes
    /// each, every value that can be unique unique, 5 % of traces failed.
    fn default() -> Self {
        Shape {
            seed: 42,
            spans_per_trace: 10,
            attributes_per_span: 6,
            high_cardinality: 1.0,
            error_rate: 0.05,
            unique_names: 0.0,
            services: 6,
            start_unix_nano: 1_763_000_000_000_000_000,
        }
    }
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];
const ROUTES: &[&str] =
    &["/api/v1/orders/{id}", "/api/v1/users/{id}/cart", "/api/v1/products/{id}", "/api/v1/payments/{id}"];
const TABLES: &[&str] = &["orders", "users", "cart_items", "products", "payments"];
const RPCS: &[(&str, &str)] =
    &[("inventory.v1.Inventory", "Reserve"), ("pricing.v1.Pricing", "Quote"), ("shipping.v1.Shipping", "Estimate")];
const FAILURES: &[&str] = &[
    "upstream request timeout after {}ms",
    "ERROR: duplicate key value violates unique constraint \"orders_pkey\" (order {})",
    "rpc error: code = Unavailable desc = connection error: dial tcp 10.0.{}.{}:50051: connect: connection refused",
];

/// Generates traffic of a [`Shape`] deterministically from its seed.
pub struct ShapedGenerator {
    rng: SmallRng,
    shape: Shape,
    now_ns: u64,
}

impl ShapedGenerator {
    pub fn new(shape: Shape) -> Self {
        let shape = Shape { spans_per_trace: shape.spans_per_trace.max(1), services: shape.services.max(1), ..shape };
        ShapedGenerator { rng: SmallRng::seed_from_u64(shape.seed), now_ns: shape.start_unix_nano, shape }
    }

    /// An export request of whole traces holding at least `n_spans` spans, grouped by service as
    /// a collector would send them. Returns the request and the ids of its traces.
    pub fn request(&mut self, n_spans: usize) -> (ExportTraceServiceRequest, Vec<[u8; 16]>) {
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); self.shape.services];
        let mut trace_ids = Vec::new();
        let mut spans = 0;
        while spans < n_spans.max(1) {
            trace_ids.push(self.trace(&mut by_service));
            spans += self.shape.spans_per_trace;
        }
        let resource_spans = by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv_str("service.name", &format!("svc-{service}")),
                        kv_str("service.version", "1.4.2"),
                        kv_str("telemetry.sdk.language", ["java", "go", "python", "nodejs"][service % 4]),
                        kv_str("host.name", &format!("svc-{service}-5f7c9d-abcde")),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "loadgen".into(), ..Default::default() }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        (ExportTraceServiceRequest { resource_spans }, trace_ids)
    }

    fn id<const N: usize>(&mut self) -> [u8; N] {
        crate::random_id(&mut self.rng)
    }

    /// Whether this value is drawn unique.
    fn unique(&mut self) -> bool {
        self.rng.random_bool(self.shape.high_cardinality.clamp(0.0, 1.0))
    }

    fn fill(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut parts = template.split("{}").peekable();
        while let Some(part) = parts.next() {
            out.push_str(part);
            if parts.peek().is_some() {
                out.push_str(&self.rng.random_range(1..255u32).to_string());
            }
        }
        out
    }

    /// Appends one trace's spans to their services' lists; returns its id.
    fn trace(&mut self, by_service: &mut [Vec<Span>]) -> [u8; 16] {
        let trace_id: [u8; 16] = self.id();
        self.now_ns += self.rng.random_range(100_000..2_000_000);
        let start = self.now_ns;
        let n = self.shape.spans_per_trace;
        let failing = self.rng.random_bool(self.shape.error_rate.clamp(0.0, 1.0)).then(|| self.rng.random_range(0..n));
        let mut server: Option<Vec<u8>> = None;
        for i in 0..n {
            let span_id: [u8; 8] = self.id();
            let kind = i % 3;
            let (name, span_kind, mut attributes) = match kind {
                0 => self.http_server(),
                1 => self.database(),
                _ => self.grpc_client(),
            };
            for extra in attributes.len()..self.shape.attributes_per_span {
                let value = if self.unique() { format!("{:x}", self.rng.random::<u64>()) } else { "default".into() };
                attributes.push(kv_str(&format!("app.attr_{extra}"), &value));
            }
            attributes.truncate(self.shape.attributes_per_span);
            let offset = i as u64 * 200_000;
            let duration = self.rng.random_range(200_000..20_000_000u64);
            let mut span = Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: server.clone().unwrap_or_default(),
                flags: 0x101,
                name,
                kind: span_kind as i32,
                start_time_unix_nano: start + offset,
                end_time_unix_nano: start + offset + duration,
                attributes,
                status: Some(Status::default()),
                ..Default::default()
            };
            if failing == Some(i) {
                let template = FAILURES[self.rng.random_range(0..FAILURES.len())];
                let message = self.fill(template);
                span.status = Some(Status { code: status::StatusCode::Error as i32, message });
            }
            if kind == 0 {
                server = Some(span_id.to_vec());
            }
            // A server span starts its service's part of the trace; its clients stay with it.
            let service = (i / 3) % self.shape.services;
            by_service[service].push(span);
        }
        trace_id
    }

    /// Whether this span is named by its unique values. Draws nothing when none is, so that the
    /// default traffic stays the same sequence as before the option.
    fn named_by_values(&mut self) -> bool {
        self.shape.unique_names > 0.0 && self.rng.random_bool(self.shape.unique_names.min(1.0))
    }

    fn http_server(&mut self) -> (String, span::SpanKind, Vec<KeyValue>) {
        let route = ROUTES[self.rng.random_range(0..ROUTES.len())];
        let id = if self.unique() { self.rng.random_range(1..99_999_999u64) } else { 42 };
        let agent = if self.unique() {
            format!("{} build/{}", USER_AGENTS[self.rng.random_range(0..USER_AGENTS.len())], self.rng.random::<u16>())
        } else {
            USER_AGENTS[0].to_owned()
        };
        let thread = if self.unique() { self.rng.random_range(1..4096i64) } else { 1 };
        let attributes = vec![
            kv_str("http.request.method", "GET"),
            kv_str("http.route", route),
            kv_str("url.full", &format!("https://shop.example.com{}", route.replace("{id}", &id.to_string()))),
            kv_str("user_agent.original", &agent),
            kv_int("http.response.status_code", 200),
            kv_int("thread.id", thread),
        ];
        let name = if self.named_by_values() {
            format!("GET {}", route.replace("{id}", &id.to_string()))
        } else {
            format!("GET {route}")
        };
        (name, span::SpanKind::Server, attributes)
    }

    fn database(&mut self) -> (String, span::SpanKind, Vec<KeyValue>) {
        let table = TABLES[self.rng.random_range(0..TABLES.len())];
        let statement = if self.unique() {
            format!(
                "SELECT * FROM {table} WHERE id = {} AND tenant = '{:x}'",
                self.rng.random::<u32>(),
                self.rng.random::<u32>()
            )
        } else {
            format!("SELECT * FROM {table} WHERE id = ? AND tenant = ?")
        };
        let peer = self.peer();
        let attributes = vec![
            kv_str("db.system", "postgresql"),
            kv_str("db.query.text", &statement),
            kv_str("db.collection.name", table),
            kv_str("server.address", &peer),
            kv_int("server.port", 5432),
            kv_str("db.namespace", "shop"),
        ];
        let name = if self.named_by_values() { statement } else { format!("SELECT {table}") };
        (name, span::SpanKind::Client, attributes)
    }

    fn grpc_client(&mut self) -> (String, span::SpanKind, Vec<KeyValue>) {
        let (service, method) = RPCS[self.rng.random_range(0..RPCS.len())];
        let peer = self.peer();
        let attributes = vec![
            kv_str("rpc.system", "grpc"),
            kv_str("rpc.service", service),
            kv_str("rpc.method", method),
            kv_str("server.address", &peer),
            kv_int("server.port", 50051),
            kv_int("rpc.grpc.status_code", 0),
        ];
        (format!("{service}/{method}"), span::SpanKind::Client, attributes)
    }

    fn peer(&mut self) -> String {
        if self.unique() {
            format!(
                "10.{}.{}.{}",
                self.rng.random_range(0..255u8),
                self.rng.random_range(0..255u8),
                self.rng.random_range(1..255u8)
            )
        } else {
            "10.0.0.1".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
        request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).collect()
    }

    #[test]
    fn traffic_takes_the_shape_asked_for() {
        let shape = Shape { spans_per_trace: 10, attributes_per_span: 8, error_rate: 0.5, ..Shape::default() };
        let (request, ids) = ShapedGenerator::new(shape.clone()).request(500);
        let (again, _) = ShapedGenerator::new(shape).request(500);
        assert_eq!(request, again, "same seed, same traffic");
        let all = spans(&request);
        assert_eq!((all.len(), ids.len()), (500, 50));
        assert!(all.iter().all(|span| span.attributes.len() == 8));
        let failed = all.iter().filter(|span| span.status.as_ref().is_some_and(|status| status.code == 2)).count();
        assert!((10..=40).contains(&failed), "about half of 50 traces fail: {failed}");
        // A trace's parents are its own server spans.
        let by_id: std::collections::HashMap<&[u8], &&Span> =
            all.iter().map(|span| (span.span_id.as_slice(), span)).collect();
        for span in &all {
            if !span.parent_span_id.is_empty() {
                let parent = by_id[span.parent_span_id.as_slice()];
                assert_eq!((parent.trace_id.as_slice(), parent.kind), (span.trace_id.as_slice(), 2));
            }
        }
    }

    #[test]
    fn high_cardinality_makes_values_unique_and_spans_larger() {
        let distinct_urls = |high_cardinality: f64| {
            let (request, _) = ShapedGenerator::new(Shape { high_cardinality, ..Shape::default() }).request(3000);
            let urls: std::collections::HashSet<String> = spans(&request)
                .iter()
                .flat_map(|span| &span.attributes)
                .filter(|kv| kv.key == "url.full" || kv.key == "db.query.text")
                .map(|kv| format!("{:?}", kv.value))
                .collect();
            (urls.len(), request.encoded_len())
        };
        let (few, small) = distinct_urls(0.0);
        let (many, large) = distinct_urls(1.0);
        assert!(few <= ROUTES.len() + TABLES.len(), "{few}");
        assert!(many > 1500, "{many}");
        assert!(large > small);
    }

    #[test]
    fn unique_names_name_spans_by_their_values() {
        let distinct_names = |unique_names: f64| {
            let (request, _) = ShapedGenerator::new(Shape { unique_names, ..Shape::default() }).request(3000);
            spans(&request).iter().map(|span| span.name.clone()).collect::<std::collections::HashSet<_>>().len()
        };
        assert!(distinct_names(0.0) <= ROUTES.len() + TABLES.len() + RPCS.len());
        assert!(distinct_names(1.0) > 1500);
    }
}
