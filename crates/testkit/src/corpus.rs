//! A labelled corpus for measuring the quality of natural-language search over traces.
//!
//! [`build`] generates OTLP export requests whose traces each carry at most one fault from
//! [`Corpus::faults`], with the trace → fault labels and natural-language queries about each fault.
//! Every fault is written in several real-world styles (different stacks print different text, in
//! different places: span status, `exception` events, log events, bare attributes, bare status
//! codes), with volatile values inside. About a sixth of the traces are healthy decoys that share
//! words with the queries (`timeout-config-reload`, `pool_stats`, "payment authorized", …).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{kv_int, kv_str};

pub struct FaultType {
    pub key: &'static str,
    pub description: &'static str,
}

pub struct LabelledQuery {
    /// Natural-language query, phrased without the error message's own distinctive words.
    pub text: &'static str,
    /// [`FaultType::key`] the query is about.
    pub fault: &'static str,
    /// Other faults that also answer the query. Only where the mission says so: its headline
    /// query "database connection timeout errors" must find HikariPool's "Connection is not
    /// available, request timed out", a pool that timed out handing out a connection; so timeouts
    /// waiting on any connection pool answer it too.
    pub also: &'static [&'static str],
    /// The single word a user of a `LIKE '%word%'` error search would type for this need.
    pub keyword: &'static str,
}

pub struct Corpus {
    /// OTLP export requests, about 50 traces each.
    pub requests: Vec<ExportTraceServiceRequest>,
    /// Trace id → fault key (`None` for healthy and decoy traces).
    pub labels: HashMap<[u8; 16], Option<&'static str>>,
    pub faults: &'static [FaultType],
    pub queries: &'static [LabelledQuery],
}

/// Deterministic for a seed. `traces` total traces; roughly 40% carry one fault (spread evenly over
/// fault types), the rest are healthy, including decoys.
///
/// Timestamps lie within the last hour: they are anchored to the wall clock rounded down to ten
/// minutes, so two builds with the same seed are identical unless a ten-minute boundary passes
/// between them (trace ids and labels never depend on the clock).
pub fn build(seed: u64, traces: usize) -> Corpus {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    generate(seed, traces, now - now % (600 * SEC)).0
}

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const TRACES_PER_REQUEST: usize = 50;

static FAULTS: &[FaultType] = &[
    FaultType { key: "db_connection_timeout", description: "Opening a database connection timed out" },
    FaultType { key: "connection_pool_exhausted", description: "No free connection in the client pool" },
    FaultType { key: "deadlock_detected", description: "Transaction aborted as a deadlock victim" },
    FaultType { key: "unique_constraint_violation", description: "Insert rejected: duplicate unique key" },
    FaultType { key: "out_of_memory", description: "Process or allocation ran out of memory" },
    FaultType { key: "tls_certificate_error", description: "TLS certificate expired or failed verification" },
    FaultType { key: "dns_resolution_failure", description: "Host name could not be resolved" },
    FaultType { key: "upstream_unavailable", description: "Dependency unavailable (503) or circuit breaker open" },
    FaultType { key: "rate_limited", description: "Throttled by a remote API (429)" },
    FaultType { key: "auth_token_expired", description: "Access token / JWT expired" },
    FaultType { key: "null_reference", description: "Null pointer / undefined dereference in code" },
    FaultType { key: "message_publish_failure", description: "Publishing to Kafka or RabbitMQ failed" },
    FaultType { key: "disk_full", description: "Write failed: no space left on device" },
    FaultType { key: "payment_declined", description: "Card payment declined by the issuer" },
    FaultType { key: "cache_readonly", description: "Redis rejected a write: read-only replica" },
    FaultType { key: "grpc_deadline_exceeded", description: "gRPC call exceeded its deadline" },
];

macro_rules! q {
    ($text:expr, $fault:expr, $keyword:expr) => {
        LabelledQuery { text: $text, fault: $fault, also: &[], keyword: $keyword }
    };
    ($text:expr, $fault:expr, $keyword:expr, also $also:expr) => {
        LabelledQuery { text: $text, fault: $fault, also: $also, keyword: $keyword }
    };
}

#[rustfmt::skip]
static QUERIES: &[LabelledQuery] = &[
    q!("database connection timeout errors", "db_connection_timeout", "timeout", also &["connection_pool_exhausted"]),
    q!("services that could not reach postgres in time", "db_connection_timeout", "timeout"),
    q!("slow database connects that gave up waiting", "db_connection_timeout", "timeout"),
    q!("all database connections busy, requests waiting for a free one", "connection_pool_exhausted", "pool"),
    q!("application ran out of db connections to hand out", "connection_pool_exhausted", "pool"),
    q!("transactions aborted because two of them blocked each other", "deadlock_detected", "deadlock"),
    q!("lock cycles that killed database writes", "deadlock_detected", "deadlock"),
    q!("insert failed because the record already exists", "unique_constraint_violation", "duplicate"),
    q!("same key written twice to a table", "unique_constraint_violation", "duplicate"),
    q!("processes crashing because they ran out of heap", "out_of_memory", "memory"),
    q!("workers that exhausted their RAM", "out_of_memory", "memory"),
    q!("https calls failing because of an expired or untrusted cert", "tls_certificate_error", "certificate"),
    q!("secure handshake problems with third-party endpoints", "tls_certificate_error", "ssl"),
    q!("hostname lookup failures when calling other services", "dns_resolution_failure", "dns"),
    q!("could not translate a service name into an address", "dns_resolution_failure", "dns"),
    q!("calls rejected because a dependency was down", "upstream_unavailable", "503"),
    q!("breaker tripped after a downstream outage", "upstream_unavailable", "circuit"),
    q!("being throttled by third-party APIs", "rate_limited", "429"),
    q!("partner API pushing back because we call it too often", "rate_limited", "429"),
    q!("users rejected because their login credential is stale", "auth_token_expired", "token"),
    q!("bearer credentials past their validity", "auth_token_expired", "jwt"),
    q!("crashes from using a value that was never set", "null_reference", "null"),
    q!("accessing a field on something that does not exist", "null_reference", "null"),
    q!("failed to emit events to the message bus", "message_publish_failure", "kafka"),
    q!("events that never made it onto the queue", "message_publish_failure", "kafka"),
    q!("volume filled up and writes failed", "disk_full", "disk"),
    q!("storage capacity exhausted on a node", "disk_full", "space"),
    q!("writes failing because the filesystem is full", "disk_full", "disk"),
    q!("customers whose card the bank turned down", "payment_declined", "declined"),
    q!("checkout failing because the charge was not approved", "payment_declined", "declined"),
    q!("payments rejected for lack of funds", "payment_declined", "declined"),
    q!("cache writes rejected after a failover", "cache_readonly", "redis"),
    q!("unable to store keys in the cache cluster", "cache_readonly", "redis"),
    q!("rpc calls between services running out of time", "grpc_deadline_exceeded", "deadline"),
    q!("internal grpc requests that took too long and were cancelled", "grpc_deadline_exceeded", "deadline"),
    q!("postgres or sql server unreachable within the connect window", "db_connection_timeout", "timeout"),
    q!("concurrent updates that had to be retried because of lock conflicts", "deadlock_detected", "deadlock"),
];

/// HTTP status the user-facing request ends with when the fault happens (200: handled).
fn fault_http_code(fault: &str) -> i64 {
    match fault {
        "db_connection_timeout" | "connection_pool_exhausted" | "upstream_unavailable" | "rate_limited" => 503,
        "unique_constraint_violation" => 409,
        "tls_certificate_error" | "dns_resolution_failure" => 502,
        "auth_token_expired" => 401,
        "payment_declined" => 402,
        "cache_readonly" => 200,
        "grpc_deadline_exceeded" => 504,
        _ => 500,
    }
}

/// What a span does: its span kind, name and semantic-convention attributes follow from it.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    /// system, namespace, operation, table, query text, server address, port
    Db(&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, i64),
    /// method, url, peer.service
    Http(&'static str, &'static str, &'static str),
    /// rpc service, rpc method, server address
    Rpc(&'static str, &'static str, &'static str),
    /// messaging system, destination
    Publish(&'static str, &'static str),
    Internal(&'static str),
}

#[rustfmt::skip]
mod op {
    use super::Op::{self, *};
    pub const PG_ORD_SEL: Op = Db("postgresql", "orders", "SELECT", "customers", "SELECT c.id, c.email, c.tier FROM customers c WHERE c.id = ?", "orders-db-3.prod.internal", 5432);
    pub const PG_ORD_INS: Op = Db("postgresql", "orders", "INSERT", "orders", "INSERT INTO orders (id, customer_id, total_cents, currency, idempotency_key) VALUES (?, ?, ?, ?, ?)", "orders-db-3.prod.internal", 5432);
    pub const RD_ORD: Op = Db("redis", "", "GET", "", "GET promo:?", "redis-cache-1.prod.internal", 6379);
    pub const RD_ORD_SET: Op = Db("redis", "", "SET", "", "SET order-summary:? ? EX ?", "redis-cache-1.prod.internal", 6379);
    pub const KF_ORDERS: Op = Publish("kafka", "order-events");
    pub const PG_PAY: Op = Db("postgresql", "payments", "SELECT", "payment_intents", "SELECT id, status, amount_cents FROM payment_intents WHERE id = $1 FOR UPDATE", "payments-db-1.prod.internal", 5432);
    pub const PG_PAY_UPD: Op = Db("postgresql", "payments", "UPDATE", "payment_intents", "UPDATE payment_intents SET status = $1, updated_at = now() WHERE id = $2", "payments-db-1.prod.internal", 5432);
    pub const RD_PAY: Op = Db("redis", "", "SET", "", "SET idempotency:? ? NX EX 86400", "redis-cache-2.prod.internal", 6379);
    pub const RD_PAY_GET: Op = Db("redis", "", "GET", "", "GET idempotency:?", "redis-cache-2.prod.internal", 6379);
    pub const PG_STOCK: Op = Db("postgresql", "inventory", "UPDATE", "stock_levels", "UPDATE stock_levels SET reserved = reserved + %(qty)s WHERE sku = %(sku)s AND warehouse_id = %(wh)s", "inventory-db-2.prod.internal", 5432);
    pub const PG_RESV: Op = Db("postgresql", "inventory", "INSERT", "reservations", "INSERT INTO reservations (order_id, sku, qty, expires_at) VALUES (%(order_id)s, %(sku)s, %(qty)s, %(expires_at)s)", "inventory-db-2.prod.internal", 5432);
    pub const MQ_STOCK: Op = Publish("rabbitmq", "inventory.events");
    pub const MS_PROD: Op = Db("mssql", "Catalog", "SELECT", "Products", "SELECT TOP(1) [p].[Id], [p].[Sku], [p].[Name], [p].[PriceCents] FROM [Products] AS [p] WHERE [p].[Id] = @__id_0", "catalog-sql-1.prod.internal", 1433);
    pub const MS_PROD_INS: Op = Db("mssql", "Catalog", "INSERT", "Products", "INSERT INTO [Products] ([Sku], [Name], [PriceCents]) OUTPUT INSERTED.[Id] VALUES (@p0, @p1, @p2)", "catalog-sql-1.prod.internal", 1433);
    pub const MS_PROD_UPD: Op = Db("mssql", "Catalog", "UPDATE", "ProductStats", "UPDATE [ProductStats] SET [Views] = [Views] + 1 WHERE [ProductId] = @p0", "catalog-sql-1.prod.internal", 1433);
    pub const RD_CAT: Op = Db("redis", "", "SET", "", "SET product:? ? EX 600", "redis-cache-1.prod.internal", 6379);
    pub const KF_VIEWS: Op = Publish("kafka", "catalog-views");
    pub const PG_NOTIF: Op = Db("postgresql", "notifications", "INSERT", "outbox", "INSERT INTO outbox (id, channel, payload) VALUES (%s, %s, %s)", "notifications-db-0.prod.internal", 5432);
    pub const SENDGRID: Op = Http("POST", "https://api.sendgrid.com/v3/mail/send", "sendgrid");
    pub const MQ_EMAIL: Op = Publish("rabbitmq", "notifications.email");
    pub const MY_SHIP: Op = Db("mysql", "shipping", "INSERT", "shipments", "INSERT INTO shipments (order_id, carrier, tracking_number, status) VALUES (?, ?, ?, 'CREATED')", "shipping-mysql-0.prod.internal", 3306);
    pub const MY_SHIP_UPD: Op = Db("mysql", "shipping", "UPDATE", "shipments", "UPDATE shipments SET status = ?, updated_at = NOW() WHERE order_id = ?", "shipping-mysql-0.prod.internal", 3306);
    pub const MAPS: Op = Http("GET", "https://maps.googleapis.com/maps/api/geocode/json", "google-maps");
    pub const DHL: Op = Http("POST", "https://api.dhl.com/shipping/v2/shipments", "dhl");
    pub const KF_SHIP: Op = Publish("kafka", "shipment-events");
    pub const PG_IDN: Op = Db("postgresql", "identity", "SELECT", "refresh_tokens", "SELECT user_id, expires_at FROM refresh_tokens WHERE token_hash = ?", "identity-db-0.prod.internal", 5432);
    pub const RD_SESS: Op = Db("redis", "", "GET", "", "GET sess:?", "redis-sessions-0.prod.internal", 6379);
    pub const S3_PUT: Op = Http("PUT", "https://media-prod.s3.eu-west-1.amazonaws.com/originals", "s3");
    pub const PG_MEDIA: Op = Db("postgresql", "media", "INSERT", "assets", "INSERT INTO assets (id, owner_id, content_type, bytes) VALUES ($1, $2, $3, $4)", "media-db-0.prod.internal", 5432);
    pub const RD_FEAT: Op = Db("redis", "", "HSET", "", "HSET features:user:? ? ?", "redis-features-0.prod.internal", 6379);
    pub const RD_FEAT_GET: Op = Db("redis", "", "HGETALL", "", "HGETALL features:user:?", "redis-features-0.prod.internal", 6379);
    pub const PG_CART: Op = Db("postgresql", "cart", "SELECT", "cart_items", "SELECT sku, qty, unit_price_cents FROM cart_items WHERE cart_id = $1", "cart-db-0.prod.internal", 5432);
    pub const MG_CART: Op = Db("mongodb", "cart", "insert", "carts", "{\"insert\":\"carts\",\"documents\":\"?\"}", "cart-mongo-1.prod.internal", 27017);
    pub const RD_CART: Op = Db("redis", "", "SET", "", "SET cart:? ? EX 3600", "redis-cache-1.prod.internal", 6379);
    pub const KF_CART: Op = Publish("kafka", "cart-events");
    pub const INV_HTTP: Op = Http("POST", "http://inventory.shop-prod.svc.cluster.local:8000/reservations", "inventory");
    pub const CAT_HTTP: Op = Http("GET", "http://catalog.shop-prod.svc.cluster.local:8080/api/products/batch", "catalog");
    pub const RECS_HTTP: Op = Http("GET", "http://recommendations.shop-prod.svc.cluster.local:8000/v1/recommendations", "recommendations");
    pub const PAY_HTTP: Op = Http("POST", "http://payments.shop-prod.svc.cluster.local:8080/v1/charges", "payments");
    pub const IDN_HTTP: Op = Http("POST", "http://identity.shop-prod.svc.cluster.local:8080/oauth2/introspect", "identity");
    pub const FX_HTTP: Op = Http("GET", "http://fx-rates.shop-prod.svc.cluster.local:8080/api/v1/rates", "fx-rates");
    pub const PRICE_HTTP: Op = Http("GET", "http://pricing.shop-prod.svc.cluster.local/api/v2/prices", "pricing");
    pub const FEAT_HTTP: Op = Http("GET", "http://feature-store.shop-prod.svc.cluster.local:8080/v1/features", "feature-store");
    pub const STRIPE: Op = Http("POST", "https://api.stripe.com/v1/charges", "stripe");
    pub const ADYEN: Op = Http("POST", "https://checkout-live.adyen.com/v71/payments", "adyen");
    pub const SIFT: Op = Http("POST", "https://api.sift.com/v205/events", "sift");
    pub const RECAPTCHA: Op = Http("POST", "https://www.google.com/recaptcha/api/siteverify", "recaptcha");
    pub const SEGMENT: Op = Http("POST", "https://api.segment.io/v1/track", "segment");
    pub const SSO: Op = Http("GET", "https://login.partner-sso.example.com/.well-known/openid-configuration", "partner-sso");
    pub const SHIP_RPC: Op = Rpc("shipping.ShippingService", "GetQuote", "shipping.shop-prod.svc.cluster.local");
    pub const PRICE_RPC: Op = Rpc("pricing.PricingService", "Quote", "pricing.shop-prod.svc.cluster.local");
    pub const RANK_RPC: Op = Rpc("ranking.RankingService", "Rank", "ranking.shop-prod.svc.cluster.local");
    pub const RISK_RPC: Op = Rpc("risk.RiskService", "Score", "risk.shop-prod.svc.cluster.local");
}
use op::*;

struct Svc {
    name: &'static str,
    lang: &'static str,
    version: &'static str,
    scope: &'static str,
    /// ReplicaSet hash in pod names.
    rs: &'static str,
    /// Route of the user-facing gateway request that reaches this service.
    gw: &'static str,
    /// Server span: "METHOD /route", or "package.Service/Method" for gRPC.
    route: &'static str,
    work: &'static str,
    ops: &'static [Op],
    /// Stack frames, already formatted the way the language prints them.
    frames: &'static [&'static str],
}

const GW: usize = 0;
const ORD: usize = 1;
const PAY: usize = 2;
const INV: usize = 3;
const CAT: usize = 4;
const NOT: usize = 5;
const SHIP: usize = 6;
const IDN: usize = 7;
const MED: usize = 8;
const REC: usize = 9;
const CART: usize = 10;

#[rustfmt::skip]
static SERVICES: [Svc; 11] = [
    Svc { name: "web-gateway", lang: "nodejs", version: "3.14.2", scope: "@opentelemetry/instrumentation-http", rs: "7c9f6d8b4", gw: "", route: "", work: "middleware - session", ops: &[RD_SESS],
        frames: &["    at verifyToken (/usr/src/app/src/middleware/auth.js:48:19)", "    at Layer.handle [as handle_request] (/usr/src/app/node_modules/express/lib/router/layer.js:95:5)", "    at next (/usr/src/app/node_modules/express/lib/router/route.js:149:13)"] },
    Svc { name: "orders", lang: "java", version: "5.2.0", scope: "io.opentelemetry.spring-webmvc-6.0", rs: "5d8c7b9f4", gw: "POST /api/checkout", route: "POST /api/v1/orders", work: "OrderService.placeOrder", ops: &[PG_ORD_SEL, PG_ORD_INS, RD_ORD, KF_ORDERS],
        frames: &["\tat com.shop.orders.service.OrderService.placeOrder(OrderService.java:142)", "\tat com.shop.orders.web.OrderController.create(OrderController.java:57)", "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)"] },
    Svc { name: "payments", lang: "go", version: "1.19.3", scope: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", rs: "6b7d9c5f8", gw: "POST /api/payments/confirm", route: "POST /v1/charges", work: "charge.Authorize", ops: &[PG_PAY, PG_PAY_UPD, RD_PAY_GET, STRIPE],
        frames: &["github.com/shop/payments/internal/charge.(*Service).Authorize(0xc0001a4000, {0x1b2e8c0, 0xc00039e0f0})", "\t/src/internal/charge/service.go:212 +0x3a5", "github.com/shop/payments/internal/api.(*Handler).CreateCharge(0xc000118a80, {0x1b2a6d0, 0xc0004b61c0}, 0xc000512300)\n\t/src/internal/api/charges.go:88 +0x1f4"] },
    Svc { name: "inventory", lang: "python", version: "2.8.1", scope: "opentelemetry.instrumentation.flask", rs: "84f6c9d7b", gw: "POST /api/cart/reserve", route: "POST /reservations", work: "reserve_stock", ops: &[PG_STOCK, PG_RESV, MQ_STOCK],
        frames: &["  File \"/app/inventory/api/reservations.py\", line 41, in create_reservation\n    result = service.reserve_stock(order_id, lines)", "  File \"/app/inventory/service.py\", line 118, in reserve_stock\n    self.repo.reserve(line.sku, line.qty, warehouse.id)", "  File \"/app/inventory/repository.py\", line 77, in reserve\n    cur.execute(UPDATE_STOCK, params)"] },
    Svc { name: "catalog", lang: "dotnet", version: "4.0.7", scope: "OpenTelemetry.Instrumentation.AspNetCore", rs: "9d5f7b6c4", gw: "GET /api/products/:id", route: "GET api/products/{id}", work: "ProductService.GetProduct", ops: &[MS_PROD, RD_CAT, KF_VIEWS],
        frames: &["   at Catalog.Api.Services.ProductService.GetProductAsync(Int32 id, CancellationToken ct) in /src/Catalog.Api/Services/ProductService.cs:line 64", "   at Catalog.Api.Controllers.ProductsController.Get(Int32 id) in /src/Catalog.Api/Controllers/ProductsController.cs:line 31", "   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.TaskOfIActionResultExecutor.Execute(ActionContext actionContext)"] },
    Svc { name: "notifications", lang: "python", version: "1.6.0", scope: "opentelemetry.instrumentation.fastapi", rs: "c7b9d5f64", gw: "POST /api/orders/:id/receipt", route: "POST /v1/receipts", work: "send_receipt", ops: &[PG_NOTIF, SENDGRID, MQ_EMAIL],
        frames: &["  File \"/app/notifications/routes.py\", line 52, in post_receipt\n    await send_receipt(order)", "  File \"/app/notifications/receipts.py\", line 96, in send_receipt\n    response = client.send(message)", "  File \"/usr/local/lib/python3.12/site-packages/requests/adapters.py\", line 517, in send\n    raise SSLError(e, request=request)"] },
    Svc { name: "shipping", lang: "go", version: "2.3.4", scope: "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", rs: "f6c8d7b95", gw: "GET /api/shipping/quote", route: "shipping.ShippingService/GetQuote", work: "quote.Calculate", ops: &[MY_SHIP, MAPS, DHL, KF_SHIP],
        frames: &["github.com/shop/shipping/internal/quote.(*Calculator).Calculate(0xc00021e3c0, {0x1d0f4e8, 0xc0003ba150}, 0xc0001f6a80)", "\t/src/internal/quote/calculator.go:131 +0x2c8", "github.com/shop/shipping/internal/server.(*ShippingServer).GetQuote(0xc000128b40, {0x1d0f4e8, 0xc0003ba150}, 0xc0001f6a80)\n\t/src/internal/server/grpc.go:64 +0x11d"] },
    Svc { name: "identity", lang: "java", version: "3.9.2", scope: "io.opentelemetry.spring-webmvc-6.0", rs: "7f5b6d9c8", gw: "POST /api/login", route: "POST /oauth2/token", work: "TokenService.issue", ops: &[PG_IDN, RD_SESS, SSO],
        frames: &["\tat com.shop.identity.token.TokenService.issue(TokenService.java:88)", "\tat com.shop.identity.web.TokenEndpoint.token(TokenEndpoint.java:45)", "\tat org.springframework.security.web.FilterChainProxy.doFilterInternal(FilterChainProxy.java:219)"] },
    Svc { name: "media", lang: "go", version: "0.14.0", scope: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", rs: "5c9b8f7d6", gw: "POST /api/uploads", route: "POST /v2/uploads", work: "upload.Process", ops: &[S3_PUT, PG_MEDIA],
        frames: &["github.com/shop/media/internal/upload.(*Processor).Process(0xc0002b6000, {0x1a9c3e0, 0xc000412000})", "\t/src/internal/upload/processor.go:97 +0x4e1", "net/http.HandlerFunc.ServeHTTP(0xc000116f00, {0x1a9d1a8, 0xc0004c21c0}, 0xc0005a2000)\n\t/usr/local/go/src/net/http/server.go:2220 +0x29"] },
    Svc { name: "recommendations", lang: "python", version: "0.31.5", scope: "opentelemetry.instrumentation.flask", rs: "b5d7c9f86", gw: "GET /api/recommendations", route: "GET /v1/recommendations/<user_id>", work: "rank_candidates", ops: &[RD_FEAT_GET, RANK_RPC, FEAT_HTTP],
        frames: &["  File \"/app/recs/api.py\", line 33, in recommendations\n    items = rank_candidates(user_id, limit=20)", "  File \"/app/recs/ranking.py\", line 141, in rank_candidates\n    scores = model.predict(features)", "  File \"/app/recs/model.py\", line 58, in predict\n    return self._session.run(None, {\"input\": batch})[0]"] },
    Svc { name: "cart", lang: "nodejs", version: "2.22.0", scope: "@opentelemetry/instrumentation-express", rs: "6d8f5c7b9", gw: "POST /api/cart/items", route: "POST /cart/:cartId/items", work: "CartService.addItem", ops: &[PG_CART, RD_CART, MG_CART, KF_CART],
        frames: &["    at CartService.addItem (/usr/src/app/src/services/cart.js:112:23)", "    at async CartController.add (/usr/src/app/src/controllers/cart.js:37:18)", "    at async /usr/src/app/node_modules/express-async-handler/index.js:3:20"] },
];

/// Where the error text goes.
#[derive(Clone, Copy, PartialEq)]
enum At {
    /// `exception` event (type, message, stacktrace) plus the span status message as the SDK sets it.
    Exc,
    /// Only the span status message.
    Status,
    /// A log event (`log.severity`, `log.message`); status message empty.
    Log,
    /// Only an `error.message` attribute.
    Attr,
    /// No text at all: only the HTTP / gRPC status code.
    Code,
}

/// One way a fault shows up: in which service, on which operation, with which text.
struct Variant {
    fault: &'static str,
    svc: usize,
    op: Op,
    exc: &'static str,
    /// Message with `{placeholders}` for volatile values.
    msg: &'static str,
    at: At,
    /// HTTP status (HTTP ops) or gRPC status (RPC ops) of the failing call; 0 for none.
    code: i64,
    /// Duration of the failing span in seconds (0: an ordinary duration).
    slow: u64,
}

macro_rules! v {
    ($fault:expr, $svc:expr, $op:expr, $exc:expr, $msg:expr, $at:ident, $code:expr, $slow:expr) => {
        Variant { fault: $fault, svc: $svc, op: $op, exc: $exc, msg: $msg, at: At::$at, code: $code, slow: $slow }
    };
}

#[rustfmt::skip]
static VARIANTS: &[Variant] = &[
    v!("db_connection_timeout", PAY, PG_PAY, "*net.OpError", "dial tcp {ip}:5432: i/o timeout", Exc, 0, 10),
    v!("db_connection_timeout", PAY, PG_PAY_UPD, "*pgconn.ConnectError", "failed to connect to `user=payments database=payments`: {ip}:5432 ({host}): dial error: timeout: dial tcp {ip}:5432: i/o timeout", Status, 0, 10),
    v!("db_connection_timeout", ORD, PG_ORD_INS, "java.sql.SQLTransientConnectionException", "HikariPool-1 - Connection is not available, request timed out after 30000ms.", Exc, 0, 30),
    v!("db_connection_timeout", INV, PG_STOCK, "psycopg2.OperationalError", "connection to server at \"{host}\" ({ip}), port 5432 failed: timeout expired", Exc, 0, 10),
    v!("db_connection_timeout", CAT, MS_PROD, "Microsoft.Data.SqlClient.SqlException", "Connection Timeout Expired.  The timeout period elapsed while attempting to consume the pre-login handshake acknowledgement.  This could be because the pre-login handshake failed or the server was unable to respond back in time.  The duration spent while attempting to connect to this server was - [Pre-Login] initialization={n}; handshake={ms};", Exc, 0, 15),
    v!("db_connection_timeout", CART, PG_CART, "Error", "Connection terminated due to connection timeout", Log, 0, 10),
    v!("connection_pool_exhausted", INV, PG_RESV, "sqlalchemy.exc.TimeoutError", "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)", Exc, 0, 30),
    v!("connection_pool_exhausted", CAT, MS_PROD, "System.InvalidOperationException", "Timeout expired.  The timeout period elapsed prior to obtaining a connection from the pool.  This may have occurred because all pooled connections were in use and max pool size was reached.", Exc, 0, 15),
    v!("connection_pool_exhausted", CART, PG_CART, "KnexTimeoutError", "Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?", Exc, 0, 60),
    v!("connection_pool_exhausted", PAY, RD_PAY_GET, "*errors.errorString", "redis: connection pool timeout", Status, 0, 4),
    v!("connection_pool_exhausted", NOT, PG_NOTIF, "psycopg2.pool.PoolError", "connection pool exhausted", Log, 0, 0),
    v!("deadlock_detected", INV, PG_STOCK, "psycopg2.errors.DeadlockDetected", "deadlock detected\nDETAIL:  Process {pid} waits for ShareLock on transaction {txid}; blocked by process {pid}.\nProcess {pid} waits for ShareLock on transaction {txid}; blocked by process {pid}.\nHINT:  See server log for query details.\nCONTEXT:  while updating tuple (0,{n}) in relation \"stock_levels\"", Exc, 0, 1),
    v!("deadlock_detected", ORD, PG_ORD_INS, "org.springframework.dao.CannotAcquireLockException", "could not execute statement; SQL [n/a]; nested exception is org.hibernate.exception.LockAcquisitionException: could not execute statement", Exc, 0, 1),
    v!("deadlock_detected", CAT, MS_PROD_UPD, "Microsoft.Data.SqlClient.SqlException", "Transaction (Process ID {n}) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.", Exc, 0, 2),
    v!("deadlock_detected", SHIP, MY_SHIP_UPD, "*mysql.MySQLError", "Error 1213 (40001): Deadlock found when trying to get lock; try restarting transaction", Status, 0, 1),
    v!("deadlock_detected", PAY, PG_PAY_UPD, "*pgconn.PgError", "ERROR: deadlock detected (SQLSTATE 40P01)", Attr, 0, 1),
    v!("unique_constraint_violation", ORD, PG_ORD_INS, "org.postgresql.util.PSQLException", "ERROR: duplicate key value violates unique constraint \"orders_idempotency_key_key\"\n  Detail: Key (idempotency_key)=({uuid}) already exists.", Exc, 0, 0),
    v!("unique_constraint_violation", CAT, MS_PROD_INS, "Microsoft.EntityFrameworkCore.DbUpdateException", "An error occurred while saving the entity changes. See the inner exception for details. ---> Microsoft.Data.SqlClient.SqlException (0x80131904): Cannot insert duplicate key row in object 'dbo.Products' with unique index 'IX_Products_Sku'. The duplicate key value is (SKU-{id}).", Exc, 0, 0),
    v!("unique_constraint_violation", SHIP, MY_SHIP, "*mysql.MySQLError", "Error 1062 (23000): Duplicate entry '{id}-DHL' for key 'shipments.uq_order_carrier'", Status, 0, 0),
    v!("unique_constraint_violation", CART, MG_CART, "MongoServerError", "E11000 duplicate key error collection: cart.carts index: userId_1 dup key: { userId: \"{uuid}\" }", Exc, 0, 0),
    v!("unique_constraint_violation", INV, PG_RESV, "sqlalchemy.exc.IntegrityError", "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint \"reservations_pkey\"\nDETAIL:  Key (order_id, sku)=({id}, SKU-{n}) already exists.", Log, 0, 0),
    v!("out_of_memory", ORD, Op::Internal("InvoiceRenderer.render"), "java.lang.OutOfMemoryError", "Java heap space", Exc, 0, 8),
    v!("out_of_memory", IDN, Op::Internal("AuditExporter.export"), "java.lang.OutOfMemoryError", "GC overhead limit exceeded", Exc, 0, 20),
    v!("out_of_memory", MED, Op::Internal("image.Resize"), "", "runtime: out of memory: cannot allocate {id}-byte block ({id} in use)\nfatal error: out of memory", Log, 0, 3),
    v!("out_of_memory", REC, Op::Internal("model.predict"), "numpy.core._exceptions._ArrayMemoryError", "Unable to allocate {n} MiB for an array with shape ({id}, 768) and data type float32", Exc, 0, 4),
    v!("out_of_memory", REC, Op::Internal("embed_candidates"), "MemoryError", "", Exc, 0, 6),
    v!("out_of_memory", GW, Op::Internal("graphql.execute"), "", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", Log, 0, 5),
    v!("out_of_memory", CAT, Op::Internal("ImageProcessor.Transform"), "System.OutOfMemoryException", "Exception of type 'System.OutOfMemoryException' was thrown.", Exc, 0, 3),
    v!("tls_certificate_error", PAY, STRIPE, "*url.Error", "Post \"https://api.stripe.com/v1/charges\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {ts} is after {ts}", Status, 0, 0),
    v!("tls_certificate_error", ORD, SIFT, "javax.net.ssl.SSLHandshakeException", "PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", Exc, 0, 0),
    v!("tls_certificate_error", GW, RECAPTCHA, "CERT_HAS_EXPIRED", "certificate has expired", Exc, 0, 0),
    v!("tls_certificate_error", NOT, SENDGRID, "requests.exceptions.SSLError", "HTTPSConnectionPool(host='api.sendgrid.com', port=443): Max retries exceeded with url: /v3/mail/send (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))", Exc, 0, 0),
    v!("tls_certificate_error", CAT, PRICE_HTTP, "System.Security.Authentication.AuthenticationException", "The remote certificate is invalid because of errors in the certificate chain: NotTimeValid", Exc, 0, 0),
    v!("tls_certificate_error", CART, SEGMENT, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate", Log, 0, 0),
    v!("dns_resolution_failure", GW, RECS_HTTP, "ENOTFOUND", "getaddrinfo ENOTFOUND recommendations.shop-prod.svc.cluster.local", Exc, 0, 0),
    v!("dns_resolution_failure", SHIP, DHL, "*url.Error", "Post \"https://api.dhl.com/shipping/v2/shipments\": dial tcp: lookup api.dhl.com on 10.96.0.10:53: no such host", Status, 0, 0),
    v!("dns_resolution_failure", PAY, FX_HTTP, "*net.DNSError", "lookup fx-rates.shop-prod.svc.cluster.local on 10.96.0.10:53: server misbehaving", Exc, 0, 2),
    v!("dns_resolution_failure", REC, FEAT_HTTP, "requests.exceptions.ConnectionError", "HTTPConnectionPool(host='feature-store.shop-prod.svc.cluster.local', port=8080): Max retries exceeded with url: /v1/features (Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f{hex}>: Failed to resolve 'feature-store.shop-prod.svc.cluster.local' ([Errno -2] Name or service not known)\"))", Exc, 0, 0),
    v!("dns_resolution_failure", IDN, SSO, "java.net.UnknownHostException", "login.partner-sso.example.com: Name or service not known", Exc, 0, 0),
    v!("dns_resolution_failure", CAT, PRICE_HTTP, "System.Net.Http.HttpRequestException", "Name or service not known (pricing.shop-prod.svc.cluster.local:80)", Exc, 0, 0),
    v!("upstream_unavailable", ORD, INV_HTTP, "io.github.resilience4j.circuitbreaker.CallNotPermittedException", "CircuitBreaker 'inventory' is OPEN and does not permit further calls", Exc, 0, 0),
    v!("upstream_unavailable", GW, CAT_HTTP, "", "", Code, 503, 0),
    v!("upstream_unavailable", REC, CAT_HTTP, "requests.exceptions.HTTPError", "503 Server Error: Service Unavailable for url: http://catalog.shop-prod.svc.cluster.local:8080/api/products/batch", Exc, 503, 0),
    v!("upstream_unavailable", PAY, SIFT, "*errors.errorString", "sift: unexpected status 503: upstream connect error or disconnect/reset before headers. reset reason: connection failure", Status, 503, 0),
    v!("upstream_unavailable", CART, CAT_HTTP, "EOPENBREAKER", "Breaker is open", Exc, 0, 0),
    v!("upstream_unavailable", SHIP, PRICE_RPC, "*status.Error", "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {ip}:50051: connect: connection refused\"", Status, 14, 0),
    v!("upstream_unavailable", CAT, PRICE_HTTP, "Polly.CircuitBreaker.BrokenCircuitException", "The circuit is now open and is not allowing calls.", Exc, 0, 0),
    v!("rate_limited", SHIP, MAPS, "*googleapi.Error", "googleapi: Error 429: Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'geocoding-backend.googleapis.com' for consumer 'project_number:{id}'., rateLimitExceeded", Status, 429, 0),
    v!("rate_limited", NOT, SENDGRID, "python_http_client.exceptions.TooManyRequestsError", "HTTP Error 429: Too Many Requests", Exc, 429, 0),
    v!("rate_limited", ORD, SIFT, "org.springframework.web.client.HttpClientErrorException$TooManyRequests", "429 Too Many Requests: \"{\"error\":{\"code\":\"rate_limit_exceeded\",\"retry_after\":{n}}}\"", Exc, 429, 0),
    v!("rate_limited", PAY, STRIPE, "*stripe.Error", "{\"code\":\"rate_limit\",\"message\":\"Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.\",\"request_id\":\"req_{hex}\",\"status\":429,\"type\":\"invalid_request_error\"}", Attr, 429, 0),
    v!("rate_limited", CART, SEGMENT, "", "", Code, 429, 0),
    v!("auth_token_expired", GW, Op::Internal("jwt.verify"), "TokenExpiredError", "jwt expired", Exc, 0, 0),
    v!("auth_token_expired", IDN, Op::Internal("JwtTokenValidator.validate"), "io.jsonwebtoken.ExpiredJwtException", "JWT expired at {ts}. Current time: {ts}, a difference of {id} milliseconds.  Allowed clock skew: 0 milliseconds.", Exc, 0, 0),
    v!("auth_token_expired", REC, Op::Internal("verify_access_token"), "jwt.exceptions.ExpiredSignatureError", "Signature has expired", Exc, 0, 0),
    v!("auth_token_expired", CAT, Op::Internal("JwtBearerHandler.HandleAuthenticate"), "Microsoft.IdentityModel.Tokens.SecurityTokenExpiredException", "Bearer was not authenticated. Failure message: IDX10223: Lifetime validation failed. The token is expired. ValidTo (UTC): '{ts}', Current time (UTC): '{ts}'.", Log, 0, 0),
    v!("auth_token_expired", SHIP, DHL, "*url.Error", "Post \"https://api.dhl.com/shipping/v2/shipments\": oauth2: token expired and refresh token is not set", Status, 0, 0),
    v!("auth_token_expired", ORD, IDN_HTTP, "", "", Code, 401, 0),
    v!("null_reference", CART, Op::Internal("CartService.computeTotals"), "TypeError", "Cannot read properties of undefined (reading 'price')", Exc, 0, 0),
    v!("null_reference", GW, Op::Internal("renderProductPage"), "TypeError", "Cannot read properties of null (reading 'map')", Exc, 0, 0),
    v!("null_reference", ORD, Op::Internal("OrderMapper.toResponse"), "java.lang.NullPointerException", "Cannot invoke \"com.shop.orders.model.Address.getPostalCode()\" because the return value of \"com.shop.orders.model.Customer.getShippingAddress()\" is null", Exc, 0, 0),
    v!("null_reference", INV, Op::Internal("allocate_warehouse"), "AttributeError", "'NoneType' object has no attribute 'warehouse_id'", Exc, 0, 0),
    v!("null_reference", CAT, Op::Internal("ProductMapper.ToDto"), "System.NullReferenceException", "Object reference not set to an instance of an object.", Exc, 0, 0),
    v!("null_reference", PAY, Op::Internal("charge.applyDiscount"), "runtime.Error", "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x{hex}]", Log, 0, 0),
    v!("message_publish_failure", SHIP, KF_SHIP, "sarama.ProducerErrors", "kafka: Failed to produce message to topic shipment-events: kafka: client has run out of available brokers to talk to: dial tcp {ip}:9092: connect: connection refused", Status, 0, 0),
    v!("message_publish_failure", ORD, KF_ORDERS, "org.apache.kafka.common.errors.TimeoutException", "Expiring {n} record(s) for order-events-3:120000 ms has passed since batch creation", Exc, 0, 30),
    v!("message_publish_failure", ORD, KF_ORDERS, "org.apache.kafka.common.errors.TimeoutException", "Topic order-events not present in metadata after 60000 ms.", Exc, 0, 60),
    v!("message_publish_failure", NOT, MQ_EMAIL, "pika.exceptions.ChannelClosedByBroker", "(404, \"NOT_FOUND - no exchange 'notifications.email' in vhost '/'\")", Exc, 0, 0),
    v!("message_publish_failure", CART, KF_CART, "KafkaJSProtocolError", "This server is not the leader for that topic-partition", Exc, 0, 0),
    v!("message_publish_failure", CAT, KF_VIEWS, "Confluent.Kafka.ProduceException`2[System.String,System.String]", "Local: Message timed out", Exc, 0, 5),
    v!("message_publish_failure", INV, MQ_STOCK, "pika.exceptions.UnroutableError", "1 unroutable message(s) returned", Log, 0, 0),
    v!("disk_full", MED, Op::Internal("upload.writeChunk"), "*fs.PathError", "write /var/lib/media/tmp/upload-{id}.part: no space left on device", Status, 0, 0),
    v!("disk_full", GW, Op::Internal("multer.diskStorage"), "ENOSPC", "ENOSPC: no space left on device, write", Exc, 0, 0),
    v!("disk_full", NOT, Op::Internal("render_attachment"), "OSError", "[Errno 28] No space left on device: '/tmp/invoice-{uuid}.pdf'", Exc, 0, 0),
    v!("disk_full", ORD, PG_ORD_INS, "org.postgresql.util.PSQLException", "ERROR: could not extend file \"base/16384/{id}\": No space left on device\n  Hint: Check free disk space.", Exc, 0, 0),
    v!("disk_full", CAT, Op::Internal("CatalogExportJob.WriteCsv"), "System.IO.IOException", "There is not enough space on the disk. : '/app/exports/catalog-{uuid}.csv'", Exc, 0, 0),
    v!("disk_full", INV, PG_STOCK, "psycopg2.errors.DiskFull", "could not write to file \"pg_wal/xlogtemp.{n}\": No space left on device", Exc, 0, 0),
    v!("payment_declined", PAY, STRIPE, "*stripe.Error", "{\"code\":\"card_declined\",\"decline_code\":\"insufficient_funds\",\"doc_url\":\"https://stripe.com/docs/error-codes/card-declined\",\"message\":\"Your card has insufficient funds.\",\"request_id\":\"req_{hex}\",\"status\":402,\"type\":\"card_error\"}", Status, 402, 0),
    v!("payment_declined", PAY, STRIPE, "*stripe.Error", "{\"code\":\"card_declined\",\"decline_code\":\"do_not_honor\",\"message\":\"Your card was declined.\",\"request_id\":\"req_{hex}\",\"status\":402,\"type\":\"card_error\"}", Attr, 402, 0),
    v!("payment_declined", ORD, ADYEN, "com.shop.payments.PaymentRefusedException", "Payment refused: resultCode=Refused, refusalReason=Not enough balance, pspReference={id}", Exc, 200, 0),
    v!("payment_declined", ORD, ADYEN, "com.shop.payments.PaymentRefusedException", "Payment refused: resultCode=Refused, refusalReason=Expired Card, pspReference={id}", Log, 200, 0),
    v!("payment_declined", ORD, PAY_HTTP, "", "", Code, 402, 0),
    v!("cache_readonly", PAY, RD_PAY, "proto.RedisError", "READONLY You can't write against a read only replica.", Status, 0, 0),
    v!("cache_readonly", CART, RD_CART, "ReplyError", "READONLY You can't write against a read only replica. script: {hex}, on @user_script:1.", Exc, 0, 0),
    v!("cache_readonly", REC, RD_FEAT, "redis.exceptions.ReadOnlyError", "You can't write against a read only replica.", Exc, 0, 0),
    v!("cache_readonly", CAT, RD_CAT, "StackExchange.Redis.RedisServerException", "READONLY You can't write against a read only replica.", Exc, 0, 0),
    v!("cache_readonly", ORD, RD_ORD_SET, "io.lettuce.core.RedisReadOnlyException", "READONLY You can't write against a read only replica.", Log, 0, 0),
    v!("grpc_deadline_exceeded", SHIP, PRICE_RPC, "*status.Error", "rpc error: code = DeadlineExceeded desc = context deadline exceeded", Status, 4, 5),
    v!("grpc_deadline_exceeded", ORD, SHIP_RPC, "io.grpc.StatusRuntimeException", "DEADLINE_EXCEEDED: deadline exceeded after 4.999{id}s. [closed=[], open=[[buffered_nanos={id}, remote_addr=shipping.shop-prod.svc.cluster.local/{ip}:50051]]]", Exc, 4, 5),
    v!("grpc_deadline_exceeded", REC, RANK_RPC, "grpc._channel._InactiveRpcError", "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n\tdetails = \"Deadline Exceeded\"\n\tdebug_error_string = \"UNKNOWN:Deadline Exceeded {grpc_status:4, created_time:\"{ts}\"}\"\n>", Exc, 4, 2),
    v!("grpc_deadline_exceeded", GW, SHIP_RPC, "4", "4 DEADLINE_EXCEEDED: Deadline exceeded after 2.001s,LB pick: 0.000s,remote_addr={ip}:50051", Exc, 4, 2),
    v!("grpc_deadline_exceeded", CAT, PRICE_RPC, "Grpc.Core.RpcException", "Status(StatusCode=\"DeadlineExceeded\", Detail=\"Deadline Exceeded\")", Exc, 4, 3),
    v!("grpc_deadline_exceeded", PAY, RISK_RPC, "", "", Code, 4, 1),
];

/// Healthy content sharing words with the queries.
enum Decoy {
    /// severity, message
    Log(&'static str, &'static str),
    /// internal span name, attribute key, attribute value
    Span(&'static str, &'static str, &'static str),
    /// db system, query text
    Db(&'static str, &'static str),
    /// url, integer attribute key, value
    HttpAttr(&'static str, &'static str, i64),
    /// The user-facing request ends 404 (client span ERROR, as semantic conventions have it).
    NotFound,
}

#[rustfmt::skip]
static DECOYS: &[Decoy] = &[
    Decoy::Span("timeout-config-reload", "config.changed_keys", "http.client.timeout_ms,db.pool.max_size"),
    Decoy::HttpAttr("https://api.exchangerate.host/latest?base=EUR", "http.client.timeout_ms", 30000),
    Decoy::HttpAttr("http://fx-rates.shop-prod.svc.cluster.local:8080/api/v1/rates", "http.client.connect_timeout_ms", 5000),
    Decoy::Db("postgresql", "SELECT state, count(*) FROM connections WHERE datname = $1 GROUP BY state"),
    Decoy::Db("postgresql", "SELECT pool_name, active, idle, waiting FROM pool_stats WHERE sampled_at > now() - interval '5 minutes'"),
    Decoy::Db("postgresql", "DELETE FROM expired_tokens WHERE expires_at < now() - interval '1 day'"),
    Decoy::Db("redis", "INFO memory"),
    Decoy::Db("mysql", "SELECT trx_id, trx_state FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"),
    Decoy::Log("INFO", "retrying connection to {host}:5432 (attempt 2 of 5) ... succeeded after {ms}ms"),
    Decoy::Log("INFO", "certificate rotation completed for *.shop.internal, previous certificate expired at {ts}"),
    Decoy::Span("certificate-rotation", "tls.certificate.subject", "CN=*.shop.internal"),
    Decoy::Log("INFO", "payment authorized: charge ch_{hex} for {n} EUR"),
    Decoy::Span("payment.authorize", "payment.status", "authorized"),
    Decoy::Log("INFO", "memory cache warmed: {id} entries, {n} MiB resident"),
    Decoy::Span("gc.heap-compaction", "jvm.memory.pool.name", "G1 Old Gen"),
    Decoy::Log("INFO", "CircuitBreaker 'inventory' changed state from HALF_OPEN to CLOSED"),
    Decoy::Log("WARN", "upstream returned 503 Service Unavailable, retry 1 of 3 succeeded"),
    Decoy::Log("INFO", "duplicate request detected for idempotency key {uuid}; returning stored response"),
    Decoy::Log("INFO", "access token refreshed for client shop-backend, expires in 3600s"),
    Decoy::Log("INFO", "lock monitor: no deadlocks detected in the last 60s"),
    Decoy::Log("INFO", "rate limiter bucket refilled: {n} requests remaining in current window"),
    Decoy::Log("INFO", "dns cache refreshed: {n} records from resolver 10.96.0.10"),
    Decoy::Log("INFO", "published message to kafka topic order-events partition 3 offset {id}"),
    Decoy::Log("INFO", "disk usage on /var/lib/media at 41%, reclaimed {n} MiB of temp space"),
    Decoy::Log("INFO", "cache miss for product:{id}, loaded from database in {n}us"),
    Decoy::Log("WARN", "slow query took {ms}ms (threshold 1000ms) but completed"),
    Decoy::Span("grpc.deadline-budget", "rpc.grpc.deadline_ms", "5000"),
    Decoy::Log("DEBUG", "optional field coupon_code is null, skipping discount"),
    Decoy::NotFound,
];

#[rustfmt::skip]
static NOISE: &[&str] = &[
    "order {id} accepted", "cache hit for product:{id}", "request validated in {n}us",
    "feature flag new-checkout-flow evaluated to true", "loaded {n} items for user {id}", "response serialized ({n} bytes)",
];

#[derive(Clone, Copy)]
enum Kind {
    Healthy,
    Decoy,
    Fault(usize),
}

/// Generates the corpus with timestamps ending before `anchor_ns`; also returns the decoy traces.
fn generate(seed: u64, traces: usize, anchor_ns: u64) -> (Corpus, HashSet<[u8; 16]>) {
    let mut g = Gen { rng: SmallRng::seed_from_u64(seed), now_s: anchor_ns / SEC };
    let n_fault = traces * 2 / 5;
    let n_decoy = traces * 7 / 40;
    let mut kinds: Vec<Kind> = (0..traces)
        .map(|i| match i {
            i if i < n_fault => Kind::Fault(i % FAULTS.len()),
            i if i < n_fault + n_decoy => Kind::Decoy,
            _ => Kind::Healthy,
        })
        .collect();
    for i in (1..kinds.len()).rev() {
        let j = g.rng.random_range(0..=i);
        kinds.swap(i, j);
    }
    let variants_of: Vec<Vec<usize>> = FAULTS
        .iter()
        .map(|f| VARIANTS.iter().enumerate().filter(|(_, v)| v.fault == f.key).map(|(i, _)| i).collect())
        .collect();
    let mut next_variant: Vec<usize> = variants_of.iter().map(|vs| g.rng.random_range(0..vs.len().max(1))).collect();

    let window = 46 * 60 * SEC;
    let first = anchor_ns - 48 * 60 * SEC;
    let step = window / traces.max(1) as u64;
    let mut labels = HashMap::with_capacity(traces);
    let mut decoys = HashSet::new();
    let mut requests = Vec::new();
    let mut batch: BTreeMap<(usize, bool, usize), Vec<Span>> = BTreeMap::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let kind = match kind {
            Kind::Fault(f) => {
                let vs = &variants_of[f];
                next_variant[f] += 1;
                Kind::Fault(vs[next_variant[f] % vs.len()])
            }
            other => other,
        };
        let t0 = first + i as u64 * step + g.rng.random_range(0..step.max(1));
        let mut trace_id: [u8; 16] = g.id();
        while labels.contains_key(&trace_id) {
            trace_id = g.id();
        }
        let Tr { spans, svc, .. } = trace(&mut g, trace_id, kind, t0);
        match kind {
            Kind::Fault(v) => labels.insert(trace_id, Some(VARIANTS[v].fault)),
            Kind::Decoy => {
                decoys.insert(trace_id);
                labels.insert(trace_id, None)
            }
            Kind::Healthy => labels.insert(trace_id, None),
        };
        let staging = g.rng.random_bool(0.08);
        let pods: Vec<usize> = (0..SERVICES.len()).map(|_| g.rng.random_range(0..3)).collect();
        for (svc, span) in svc.into_iter().zip(spans) {
            batch.entry((svc, staging, pods[svc])).or_default().push(span);
        }
        if (i + 1) % TRACES_PER_REQUEST == 0 || i + 1 == traces {
            requests.push(request(std::mem::take(&mut batch)));
        }
    }
    (Corpus { requests, labels, faults: FAULTS, queries: QUERIES }, decoys)
}

fn request(batch: BTreeMap<(usize, bool, usize), Vec<Span>>) -> ExportTraceServiceRequest {
    const PODS: [&str; 3] = ["x2k4p", "q7m9z", "h4t8w"];
    let resource_spans = batch
        .into_iter()
        .map(|((svc, staging, pod), spans)| {
            let s = &SERVICES[svc];
            let (env, namespace, host) = match staging {
                true => ("staging", "shop-staging", format!("{}-staging-{}-{}", s.name, s.rs, PODS[pod])),
                false => ("production", "shop-prod", format!("{}-{}-{}", s.name, s.rs, PODS[pod])),
            };
            let sdk_version = match s.lang {
                "java" => "1.44.1",
                "go" => "1.32.0",
                "python" => "1.29.0",
                "dotnet" => "1.10.0",
                _ => "1.30.1",
            };
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv_str("service.name", s.name),
                        kv_str("service.namespace", "shop"),
                        kv_str("service.version", s.version),
                        kv_str("deployment.environment", env),
                        kv_str("telemetry.sdk.language", s.lang),
                        kv_str("telemetry.sdk.name", "opentelemetry"),
                        kv_str("telemetry.sdk.version", sdk_version),
                        kv_str("host.name", &host),
                        kv_str("k8s.namespace.name", namespace),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: s.scope.into(),
                        version: "0.56.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

struct Gen {
    rng: SmallRng,
    now_s: u64,
}

impl Gen {
    fn id<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.rng.fill(&mut bytes[..]);
        bytes[0] |= 1;
        bytes
    }

    /// Replaces `{placeholder}`s by volatile values; other braces stay as they are.
    fn fill(&mut self, template: &str, host: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let key = after.find('}').map(|close| &after[..close]);
            match key.and_then(|key| self.value(key, host).map(|value| (key, value))) {
                Some((key, value)) => {
                    out.push_str(&value);
                    rest = &after[key.len() + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn value(&mut self, key: &str, host: &str) -> Option<String> {
        let r = &mut self.rng;
        Some(match key {
            "ip" => format!("10.{}.{}.{}", r.random_range(0..64), r.random_range(0..256), r.random_range(1..255)),
            "n" => r.random_range(1..10_000u32).to_string(),
            "id" => r.random_range(100_000..99_999_999u32).to_string(),
            "pid" => r.random_range(1_000..65_000u32).to_string(),
            "txid" => r.random_range(1_000_000..999_999_999u32).to_string(),
            "ms" => r.random_range(1_000..60_000u32).to_string(),
            "hex" => format!("{:012x}", r.random::<u64>() & 0xffff_ffff_ffff),
            "uuid" => {
                let b: [u8; 16] = self.id();
                let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..])
            }
            "ts" => rfc3339(self.now_s - r.random_range(60..7_200)),
            "host" => host.to_string(),
            _ => return None,
        })
    }
}

/// One trace under construction.
struct Tr<'a> {
    g: &'a mut Gen,
    trace_id: [u8; 16],
    t0: u64,
    spans: Vec<Span>,
    svc: Vec<usize>,
    parent: Vec<Option<usize>>,
    /// Where the next child of each span starts.
    cursor: Vec<u64>,
}

impl Tr<'_> {
    /// Adds a span after its parent's previous children and stretches its ancestors to cover it.
    fn add(
        &mut self,
        svc: usize,
        parent: Option<usize>,
        name: &str,
        kind: span::SpanKind,
        duration: u64,
        attributes: Vec<KeyValue>,
    ) -> usize {
        let start = match parent {
            None => self.t0,
            Some(p) => self.cursor[p] + self.g.rng.random_range(20_000..900_000),
        };
        let span_id: [u8; 8] = self.g.id();
        self.spans.push(Span {
            trace_id: self.trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: parent.map(|p| self.spans[p].span_id.clone()).unwrap_or_default(),
            flags: 0x101,
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration,
            attributes,
            status: Some(Status::default()),
            ..Default::default()
        });
        self.svc.push(svc);
        self.parent.push(parent);
        self.cursor.push(start + 30_000);
        let idx = self.spans.len() - 1;
        let mut child = idx;
        while let Some(p) = self.parent[child] {
            let end = self.spans[child].end_time_unix_nano;
            self.cursor[p] = self.cursor[p].max(end);
            let parent_end = &mut self.spans[p].end_time_unix_nano;
            *parent_end = (*parent_end).max(end + 40_000);
            child = p;
        }
        idx
    }

    /// Adds the span of an operation, with the attributes its service's instrumentation sets.
    fn op(&mut self, svc: usize, parent: usize, op: &Op, duration: Option<u64>) -> usize {
        use span::SpanKind::{Client, Internal, Producer};
        let old_conventions = matches!(SERVICES[svc].lang, "java" | "python");
        let (name, kind, attrs, range) = match *op {
            Op::Db(system, namespace, operation, table, query, host, port) => {
                let mut a = vec![kv_str("db.system", system)];
                let keys = if old_conventions {
                    ["db.name", "db.operation", "db.statement", "db.sql.table"]
                } else {
                    ["db.namespace", "db.operation.name", "db.query.text", "db.collection.name"]
                };
                for (key, value) in keys.into_iter().zip([namespace, operation, query, table]) {
                    if !value.is_empty() {
                        a.push(kv_str(key, value));
                    }
                }
                a.extend([kv_str("server.address", host), kv_int("server.port", port)]);
                let name = if table.is_empty() { operation.to_string() } else { format!("{operation} {table}") };
                (name, Client, a, 300_000..25 * MS)
            }
            Op::Http(method, url, peer) => {
                let (host, port) = host_port(url);
                let a = vec![
                    kv_str("http.request.method", method),
                    kv_str("url.full", url),
                    kv_str("server.address", host),
                    kv_int("server.port", port),
                    kv_str("peer.service", peer),
                    kv_int("http.response.status_code", 200),
                ];
                (method.to_string(), Client, a, 30 * MS..450 * MS)
            }
            Op::Rpc(service, method, host) => {
                let a = vec![
                    kv_str("rpc.system", "grpc"),
                    kv_str("rpc.service", service),
                    kv_str("rpc.method", method),
                    kv_str("server.address", host),
                    kv_int("server.port", 50051),
                    kv_int("rpc.grpc.status_code", 0),
                ];
                (format!("{service}/{method}"), Client, a, 2 * MS..80 * MS)
            }
            Op::Publish(system, destination) => {
                let broker = if system == "kafka" { "kafka-0.kafka.prod.internal" } else { "rabbitmq.prod.internal" };
                let a = vec![
                    kv_str("messaging.system", system),
                    kv_str("messaging.destination.name", destination),
                    kv_str("messaging.operation.type", "publish"),
                    kv_str("server.address", broker),
                ];
                (format!("{destination} publish"), Producer, a, 500_000..12 * MS)
            }
            Op::Internal(name) => {
                (name.to_string(), Internal, vec![kv_str("code.function.name", name)], 50_000..40 * MS)
            }
        };
        let duration = duration.unwrap_or_else(|| self.g.rng.random_range(range));
        self.add(svc, Some(parent), &name, kind, duration, attrs)
    }

    /// A server span of `svc` and the client span calling it from `caller` under `parent`;
    /// returns (client, server).
    fn call(&mut self, caller: usize, parent: usize, svc: usize, id: u32) -> (usize, usize) {
        use span::SpanKind::{Client, Server};
        let s = &SERVICES[svc];
        if s.route.contains(' ') {
            let (method, route) = s.route.split_once(' ').unwrap_or(("GET", s.route));
            let route = route.trim_start_matches('/');
            let path = format!("/{}", concrete(route, id));
            let host = format!("{}.shop-prod.svc.cluster.local", s.name);
            let mut attrs = vec![
                kv_str("http.request.method", method),
                kv_str("url.full", &format!("http://{host}:8080{path}")),
                kv_str("server.address", &host),
                kv_int("server.port", 8080),
                kv_str("peer.service", s.name),
                kv_int("http.response.status_code", 200),
            ];
            if self.g.rng.random_bool(0.25) {
                attrs.push(kv_int("http.client.timeout_ms", 30_000));
            }
            let peer_address = self.g.fill("{ip}", "");
            let client = self.add(caller, Some(parent), method, Client, 400_000, attrs);
            let server = self.add(
                svc,
                Some(client),
                s.route,
                Server,
                300_000,
                vec![
                    kv_str("http.request.method", method),
                    kv_str("http.route", &format!("/{route}")),
                    kv_str("url.path", &path),
                    kv_str("url.scheme", "http"),
                    kv_str("server.address", &host),
                    kv_int("server.port", 8080),
                    kv_str("network.peer.address", &peer_address),
                    kv_int("http.response.status_code", 200),
                ],
            );
            (client, server)
        } else {
            let (service, method) = s.route.split_once('/').unwrap_or((s.route, ""));
            let rpc = |extra: Vec<KeyValue>| {
                let mut a =
                    vec![kv_str("rpc.system", "grpc"), kv_str("rpc.service", service), kv_str("rpc.method", method)];
                a.extend(extra);
                a.push(kv_int("rpc.grpc.status_code", 0));
                a
            };
            let host = format!("{}.shop-prod.svc.cluster.local", s.name);
            let client_attrs = rpc(vec![kv_str("server.address", &host), kv_int("server.port", 50051)]);
            let client = self.add(caller, Some(parent), s.route, Client, 400_000, client_attrs);
            let server = self.add(svc, Some(client), s.route, Server, 300_000, rpc(Vec::new()));
            (client, server)
        }
    }

    fn event(&mut self, idx: usize, time: u64, name: &str, attributes: Vec<KeyValue>) {
        self.spans[idx].events.push(span::Event {
            time_unix_nano: time,
            name: name.into(),
            attributes,
            dropped_attributes_count: 0,
        });
    }

    fn log(&mut self, idx: usize, severity: &str, message: &str) {
        let span = &self.spans[idx];
        let time = self
            .g
            .rng
            .random_range(span.start_time_unix_nano..span.end_time_unix_nano.max(span.start_time_unix_nano + 1));
        self.event(idx, time, "log", vec![kv_str("log.severity", severity), kv_str("log.message", message)]);
    }

    fn fail(&mut self, idx: usize, message: &str) {
        self.spans[idx].status = Some(Status { code: status::StatusCode::Error as i32, message: message.into() });
    }

    /// Writes the fault of `v` on span `f` the way its stack reports it, and the status codes of the
    /// spans above (`server`, `client`: the failing service's server span and the call into it).
    fn fault(&mut self, f: usize, v: &Variant, work: usize, server_client: Option<(usize, usize)>, root: usize) {
        let lang = SERVICES[v.svc].lang;
        let host = match v.op {
            Op::Db(.., host, _) | Op::Rpc(.., host) => host,
            Op::Http(_, url, _) => host_port(url).0,
            _ => "",
        };
        let message = self.g.fill(v.msg, host);
        let exc = match (v.exc, lang) {
            ("", "go") => "*errors.errorString",
            ("", "java") => "java.lang.RuntimeException",
            ("", "python") => "Exception",
            ("", "dotnet") => "System.Exception",
            ("", _) => "Error",
            (exc, _) => exc,
        };
        let at = if v.at == At::Exc && self.g.rng.random_bool(0.2) { At::Log } else { v.at };
        let end = self.spans[f].end_time_unix_nano;
        let mut exception = None;
        let status_message = match at {
            At::Exc => {
                // Python's SDK records the class's bare name; its traceback prints the qualified one.
                let short = if lang == "python" { exc.rsplit('.').next().unwrap_or(exc) } else { exc };
                let mut attrs = vec![kv_str("exception.type", short), kv_str("exception.message", &message)];
                if lang != "go" || self.g.rng.random_bool(0.4) {
                    attrs.push(kv_str("exception.stacktrace", &self.stacktrace(v.svc, exc, &message)));
                }
                self.event(f, end, "exception", attrs.clone());
                exception = Some(attrs);
                match lang {
                    "java" => String::new(),
                    "python" if message.is_empty() => short.to_string(),
                    "python" => format!("{short}: {message}"),
                    _ => message.clone(),
                }
            }
            At::Status => message.clone(),
            At::Log => {
                let severity = if matches!(lang, "go" | "nodejs") { "error" } else { "ERROR" };
                let text = if message.is_empty() { exc.to_string() } else { message.clone() };
                self.event(f, end, "log", vec![kv_str("log.severity", severity), kv_str("log.message", &text)]);
                String::new()
            }
            At::Attr => {
                self.spans[f].attributes.push(kv_str("error.message", &message));
                String::new()
            }
            At::Code => String::new(),
        };
        let error_type = if at == At::Code { v.code.to_string() } else { exc.to_string() };
        self.spans[f].attributes.push(kv_str("error.type", &error_type));
        match v.op {
            Op::Http(..) if v.code > 0 => set_int(&mut self.spans[f], "http.response.status_code", v.code),
            Op::Http(..) => self.spans[f].attributes.retain(|kv| kv.key != "http.response.status_code"),
            Op::Rpc(..) => set_int(&mut self.spans[f], "rpc.grpc.status_code", if v.code > 0 { v.code } else { 14 }),
            _ => {}
        }
        self.fail(f, &status_message);

        let code = fault_http_code(v.fault);
        if code == 200 {
            return;
        }
        if work != root {
            // The exception bubbles up through the service's own span.
            let inherited = if matches!(lang, "java" | "dotnet" | "nodejs") { status_message } else { String::new() };
            self.fail(work, &inherited);
            if let (Some(attrs), "java") = (exception, lang) {
                let end = self.spans[work].end_time_unix_nano;
                self.event(work, end, "exception", attrs);
            }
        }
        if let Some((server, client)) = server_client {
            self.status_code(server, code, true);
            self.status_code(client, code, false);
        }
        self.status_code(root, code, true);
    }

    /// Sets the HTTP (or gRPC) status code of a span, failing it as the conventions say.
    fn status_code(&mut self, idx: usize, code: i64, server: bool) {
        let span = &mut self.spans[idx];
        if span.attributes.iter().any(|kv| kv.key == "rpc.grpc.status_code") {
            let grpc = match code {
                401 => 16,
                402 => 9,
                409 => 6,
                503 => 14,
                504 => 4,
                _ => 2,
            };
            set_int(span, "rpc.grpc.status_code", grpc);
        } else {
            set_int(span, "http.response.status_code", code);
        }
        if code >= 500 || (!server && code >= 400) {
            self.fail(idx, "");
        }
    }

    fn stacktrace(&mut self, svc: usize, exc: &str, message: &str) -> String {
        let frames = SERVICES[svc].frames.join("\n");
        // Node's SDK records `err.code` (ENOTFOUND, CERT_HAS_EXPIRED, …) as the type; the stack says `Error`.
        let is_code = exc.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let name = if SERVICES[svc].lang == "nodejs" && is_code { "Error" } else { exc };
        let headline = if message.is_empty() { name.to_string() } else { format!("{name}: {message}") };
        match SERVICES[svc].lang {
            "python" => format!("Traceback (most recent call last):\n{frames}\n{headline}"),
            "go" => format!("goroutine {} [running]:\n{frames}", self.g.rng.random_range(20..4000)),
            _ => format!("{headline}\n{frames}"),
        }
    }
}

fn trace(g: &mut Gen, trace_id: [u8; 16], kind: Kind, t0: u64) -> Tr<'_> {
    use span::SpanKind::{Internal, Server};
    let mut t = Tr { g, trace_id, t0, spans: Vec::new(), svc: Vec::new(), parent: Vec::new(), cursor: Vec::new() };
    let variant = match kind {
        Kind::Fault(v) => Some(&VARIANTS[v]),
        _ => None,
    };
    let at_gateway = variant.is_some_and(|v| v.svc == GW);
    let main = match variant {
        Some(v) if v.svc != GW => v.svc,
        Some(v) => gateway_target(&v.op).unwrap_or_else(|| t.g.rng.random_range(1..SERVICES.len())),
        None => t.g.rng.random_range(1..SERVICES.len()),
    };
    let id = t.g.rng.random_range(1_000..9_000_000u32);
    let (method, route) = SERVICES[main].gw.split_once(' ').unwrap_or(("GET", "/"));
    const AGENTS: [&str; 3] = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "shop-android/8.14.0 okhttp/4.12.0",
    ];
    let agent = AGENTS[t.g.rng.random_range(0..AGENTS.len())];
    let client_address = format!("203.0.113.{}", t.g.rng.random_range(1..255));
    let root = t.add(
        GW,
        None,
        SERVICES[main].gw,
        Server,
        500_000,
        vec![
            kv_str("http.request.method", method),
            kv_str("http.route", route),
            kv_str("url.path", &concrete(route, id)),
            kv_str("url.scheme", "https"),
            kv_str("server.address", "www.shop.example"),
            kv_str("client.address", &client_address),
            kv_str("user_agent.original", agent),
            kv_int("http.response.status_code", 200),
        ],
    );
    let session_parent = if at_gateway || t.g.rng.random_bool(0.5) {
        t.add(GW, Some(root), "middleware - session", Internal, 100_000, Vec::new())
    } else {
        root
    };
    t.op(GW, session_parent, &RD_SESS, None);
    if let (Some(v), true) = (variant, at_gateway) {
        let duration = fault_duration(t.g, v);
        let f = t.op(GW, root, &v.op, duration);
        t.fault(f, v, root, None, root);
        return t;
    }

    let (client, server) = t.call(GW, root, main, id);
    let s = &SERVICES[main];
    let work = t.add(main, Some(server), s.work, Internal, 200_000, Vec::new());
    let nested = t.g.rng.random_bool(0.35);
    let count = if nested { 1 } else { t.g.rng.random_range(1..=3) };
    let mut ops: Vec<&Op> = s.ops.iter().filter(|op| variant.is_none_or(|v| v.op != **op)).collect();
    for i in (1..ops.len()).rev() {
        let j = t.g.rng.random_range(0..=i);
        ops.swap(i, j);
    }
    for op in ops.into_iter().take(count) {
        t.op(main, work, op, None);
    }
    if nested {
        let mut other = t.g.rng.random_range(1..SERVICES.len());
        if other == main {
            other = other % (SERVICES.len() - 1) + 1;
        }
        let (_, nested_server) = t.call(main, work, other, id);
        let nested_ops = SERVICES[other].ops;
        let op = nested_ops[t.g.rng.random_range(0..nested_ops.len())];
        t.op(other, nested_server, &op, None);
    }
    if t.g.rng.random_bool(0.3) {
        let template = NOISE[t.g.rng.random_range(0..NOISE.len())];
        let noise = t.g.fill(template, "");
        t.log(work, "INFO", &noise);
    }
    match variant {
        Some(v) => {
            let duration = fault_duration(t.g, v);
            let f = t.op(main, work, &v.op, duration);
            t.fault(f, v, work, Some((server, client)), root);
        }
        None if matches!(kind, Kind::Decoy) => {
            let first = t.g.rng.random_range(0..DECOYS.len());
            let second = t.g.rng.random_range(0..DECOYS.len());
            let picks = if t.g.rng.random_bool(0.4) && second != first { vec![first, second] } else { vec![first] };
            for pick in picks {
                decoy(&mut t, &DECOYS[pick], main, work, (server, client, root));
            }
        }
        None => {}
    }
    t
}

fn decoy(t: &mut Tr<'_>, d: &Decoy, main: usize, work: usize, (server, client, root): (usize, usize, usize)) {
    let host = SERVICES[main]
        .ops
        .iter()
        .find_map(|op| match op {
            Op::Db(.., host, _) => Some(*host),
            _ => None,
        })
        .unwrap_or("pgbouncer.prod.internal");
    match *d {
        Decoy::Log(severity, template) => {
            let message = t.g.fill(template, host);
            t.log(work, severity, &message);
        }
        Decoy::Span(name, key, value) => {
            t.add(main, Some(work), name, span::SpanKind::Internal, 1_500_000, vec![kv_str(key, value)]);
        }
        Decoy::Db(system, query) => {
            let operation = query.split_whitespace().next().unwrap_or("SELECT");
            let (host, port) = match system {
                "redis" => ("redis-cache-1.prod.internal", 6379),
                "mysql" => ("shipping-mysql-0.prod.internal", 3306),
                _ => (host, 5432),
            };
            t.op(main, work, &Op::Db(system, "", operation, "", query, host, port), None);
        }
        Decoy::HttpAttr(url, key, value) => {
            let idx = t.op(main, work, &Op::Http("GET", url, "fx-rates"), None);
            t.spans[idx].attributes.push(kv_int(key, value));
        }
        Decoy::NotFound => {
            t.status_code(server, 404, true);
            t.status_code(client, 404, false);
            t.status_code(root, 404, true);
        }
    }
}

/// The service whose user-facing route fits a fault of the gateway itself.
fn gateway_target(op: &Op) -> Option<usize> {
    let name = match *op {
        Op::Http(.., "recaptcha") => "identity",
        Op::Http(.., peer) => peer,
        Op::Rpc(service, ..) => service.split('.').next()?,
        Op::Internal("renderProductPage") => "catalog",
        Op::Internal("multer.diskStorage") => "media",
        _ => return None,
    };
    SERVICES.iter().position(|s| s.name == name)
}

fn fault_duration(g: &mut Gen, v: &Variant) -> Option<u64> {
    (v.slow > 0).then(|| v.slow * SEC + g.rng.random_range(0..v.slow * SEC / 20 + MS))
}

fn concrete(route: &str, id: u32) -> String {
    route
        .split('/')
        .map(|seg| if seg.starts_with([':', '{', '<']) { id.to_string() } else { seg.to_string() })
        .collect::<Vec<_>>()
        .join("/")
}

fn host_port(url: &str) -> (&str, i64) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.split_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(80)),
        None => (authority, if url.starts_with("https") { 443 } else { 80 }),
    }
}

fn rfc3339(secs: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % 86_400;
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn set_int(span: &mut Span, key: &str, value: i64) {
    span.attributes.retain(|kv| kv.key != key);
    span.attributes.push(kv_int(key, value));
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value;

    use super::*;

    const ANCHOR: u64 = 1_763_000_000 * SEC;

    fn spans(corpus: &Corpus) -> impl Iterator<Item = (&ResourceSpans, &Span)> {
        corpus
            .requests
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| rs.scope_spans.iter().flat_map(move |ss| ss.spans.iter().map(move |s| (rs, s))))
    }

    fn resource_attr<'a>(rs: &'a ResourceSpans, key: &str) -> &'a str {
        let attrs = &rs.resource.as_ref().unwrap().attributes;
        match attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s,
            _ => panic!("missing resource attribute {key}"),
        }
    }

    fn is_error(span: &Span) -> bool {
        span.status.as_ref().is_some_and(|s| s.code == status::StatusCode::Error as i32)
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (a, _) = generate(7, 600, ANCHOR);
        let (b, _) = generate(7, 600, ANCHOR);
        assert_eq!(a.requests, b.requests);
        assert_eq!(a.labels, b.labels);
        let (c, _) = generate(8, 600, ANCHOR);
        assert_ne!(a.labels, c.labels);
        assert_eq!(build(7, 600).labels, a.labels, "labels do not depend on the clock");
    }

    #[test]
    fn faults_queries_and_variants_are_consistent() {
        assert!(FAULTS.len() >= 14);
        let keys: HashSet<&str> = FAULTS.iter().map(|f| f.key).collect();
        assert_eq!(keys.len(), FAULTS.len(), "fault keys are unique");
        assert!(QUERIES.len() >= 30);
        for q in QUERIES {
            assert!(keys.contains(q.fault), "query {:?} is about an unknown fault", q.text);
            assert!(q.also.iter().all(|fault| keys.contains(fault) && *fault != q.fault), "{:?}", q.text);
            assert!(!q.keyword.is_empty() && !q.keyword.contains(' '), "one keyword per query");
        }
        for v in VARIANTS {
            assert!(keys.contains(v.fault), "variant of unknown fault {}", v.fault);
        }
        for f in FAULTS {
            assert!(QUERIES.iter().filter(|q| q.fault == f.key).count() >= 2, "{} has 2+ queries", f.key);
            let styles: HashSet<&str> = VARIANTS.iter().filter(|v| v.fault == f.key).map(|v| v.msg).collect();
            assert!(styles.len() >= 2, "{} has 2+ message styles", f.key);
        }
    }

    #[test]
    fn every_fault_appears_evenly_at_2000_traces() {
        let (corpus, decoys) = generate(3, 2000, ANCHOR);
        assert_eq!(corpus.labels.len(), 2000);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for fault in corpus.labels.values().flatten() {
            *counts.entry(fault).or_default() += 1;
        }
        for f in FAULTS {
            let n = counts.get(f.key).copied().unwrap_or(0);
            assert!((40..=60).contains(&n), "{} appears {n} times", f.key);
        }
        let faulty: usize = counts.values().sum();
        assert!((760..=840).contains(&faulty), "{faulty} faulty traces");
        assert!((300..=400).contains(&decoys.len()), "{} decoys", decoys.len());
        assert!(decoys.iter().all(|id| corpus.labels[id].is_none()));
    }

    #[test]
    fn services_languages_and_shape() {
        let (corpus, decoys) = generate(11, 2000, ANCHOR);
        let services: HashSet<&str> = spans(&corpus).map(|(rs, _)| resource_attr(rs, "service.name")).collect();
        let languages: HashSet<&str> =
            spans(&corpus).map(|(rs, _)| resource_attr(rs, "telemetry.sdk.language")).collect();
        assert!(services.len() >= 8, "{services:?}");
        assert!(languages.len() >= 4, "{languages:?}");
        for (rs, _) in spans(&corpus) {
            for key in ["service.version", "host.name", "deployment.environment"] {
                assert!(!resource_attr(rs, key).is_empty());
            }
        }
        assert_eq!(corpus.requests.len(), 40);

        let mut per_trace: HashMap<[u8; 16], Vec<&Span>> = HashMap::new();
        let mut span_ids = HashSet::new();
        for (_, span) in spans(&corpus) {
            per_trace.entry(span.trace_id.clone().try_into().unwrap()).or_default().push(span);
            assert!(span_ids.insert(span.span_id.clone()), "span ids are unique");
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            assert!(span.end_time_unix_nano <= ANCHOR && span.start_time_unix_nano >= ANCHOR - 3600 * SEC);
        }
        assert_eq!(per_trace.len(), 2000, "trace ids are unique");
        for (id, trace) in &per_trace {
            assert!((4..=12).contains(&trace.len()), "trace of {} spans", trace.len());
            assert_eq!(trace.iter().filter(|s| s.parent_span_id.is_empty()).count(), 1, "one root");
            let errors = trace.iter().filter(|s| is_error(s)).count();
            match corpus.labels[id] {
                Some(_) => assert!(errors >= 1, "a faulty trace has an error span"),
                None if !decoys.contains(id) => assert_eq!(errors, 0, "a healthy trace has no error span"),
                None => {}
            }
        }
    }

    #[test]
    fn built_corpus_lies_within_the_last_hour() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let corpus = build(5, 300);
        for (_, span) in spans(&corpus) {
            assert!(span.start_time_unix_nano >= now - 3600 * SEC && span.end_time_unix_nano <= now);
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let mut g = Gen { rng: SmallRng::seed_from_u64(1), now_s: 1_763_000_000 };
        let text = g.fill("dial tcp {ip}:5432 {\"a\":{n}} {grpc_status:4} {uuid} {ts}", "");
        assert!(!text.contains("{ip}") && !text.contains("{n}") && !text.contains("{uuid}"), "{text}");
        assert!(text.contains("{\"a\":") && text.contains("{grpc_status:4}"), "{text}");
        assert!(text.contains("2025-11-1"), "{text}");
        assert_eq!(rfc3339(1_763_000_000), "2025-11-13T02:13:20Z");
    }
}
