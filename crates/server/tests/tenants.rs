//! Tenants kept apart: tenant B, with its own read token, hunts for tenant A's traces through
//! every endpoint (query API, Jaeger API classic and v3, health) and finds nothing of A's, not a
//! trace id, not a service name, not a count; A reads its own; a gateway token of tenant `*`
//! reads the tenant its `X-Scope-OrgID` names.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{hex, start_server};
use prost::Message;
use semtrace_auth::{digest, Role, TokenEntry};
use serde_json::{json, Value};

const A_INGEST: &str = "tenant_a_ingest";
const A_READ: &str = "tenant_a_read";
const B_INGEST: &str = "tenant_b_ingest";
const B_READ: &str = "tenant_b_read";
const GATEWAY: &str = "tenant_gateway_admin";

/// The services of tenant A's traffic (`semtrace_testkit::TraceGenerator`).
const A_SERVICES: [&str; 5] = ["frontend", "checkout", "inventory", "payments", "notifier"];

fn tokens() -> Vec<TokenEntry> {
    [
        ("a-ingest", A_INGEST, Role::Ingest, "acme"),
        ("a-read", A_READ, Role::Read, "acme"),
        ("b-ingest", B_INGEST, Role::Ingest, "globex"),
        ("b-read", B_READ, Role::Read, "globex"),
        ("gateway", GATEWAY, Role::Admin, "*"),
    ]
    .into_iter()
    .map(|(name, token, role, tenant)| TokenEntry {
        name: name.into(),
        sha256: digest(token),
        role,
        tenant: tenant.into(),
    })
    .collect()
}

async fn get(api: &str, path: &str, token: &str, tenant: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{api}{path}")).bearer_auth(token);
    if let Some(tenant) = tenant {
        request = request.header("x-scope-orgid", tenant);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_b_finds_nothing_of_tenant_a_through_any_endpoint() {
    hunt(|_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_b_finds_nothing_of_tenant_a_through_any_endpoint_on_postgres() {
    let url = semtrace_testkit::postgres::fresh_database().await;
    hunt(move |config| {
        config.storage = semtrace_server::config::StorageKind::Postgres;
        config.otel_storage.connection_string = url;
    })
    .await;
}

/// Tenant A sends failing checkout traffic, tenant B one span of its own; B then tries every
/// endpoint for A's traces.
async fn hunt(tweak: impl FnOnce(&mut semtrace_server::config::Config)) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.auth.tokens = tokens();
        tweak(config);
    })
    .await;
    let http = reqwest::Client::new();

    // Tenant A: checkout traffic, some of it failing.
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig {
        seed: 5,
        error_rate: 0.5,
        ..Default::default()
    });
    let (request, a_ids) = generator.request(20);
    let a_spans: u64 = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len() as u64)
        .sum();
    let sent = http
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("content-type", "application/x-protobuf")
        .bearer_auth(A_INGEST)
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    // Tenant B: one failing span of its own service.
    let b_trace = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let b_body = json!({ "resourceSpans": [{
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "globex-billing" } }] },
        "scopeSpans": [{ "spans": [{
            "traceId": b_trace, "spanId": "0b0b0b0b0b0b0b0b", "name": "POST /invoices", "kind": 2,
            "startTimeUnixNano": (now - 2_000_000_000).to_string(), "endTimeUnixNano": (now - 1_000_000_000).to_string(),
            "status": { "code": 2, "message": "connection to ledger timed out" },
        }]}],
    }]});
    let sent = http
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("content-type", "application/json")
        .bearer_auth(B_INGEST)
        .body(serde_json::to_vec(&b_body).unwrap())
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    common::wait_searchable_as(&server.api, a_spans, Some(A_READ)).await;
    common::wait_searchable_as(&server.api, 1, Some(B_READ)).await;

    // A reads its own: the hunt below is not empty because nothing is served.
    let a_trace = hex(&a_ids[0]);
    let (status, _) = get(&server.api, &format!("/api/v1/traces/{a_trace}"), A_READ, None).await;
    assert_eq!(status, 200);
    let (_, found) = get(&server.api, "/api/v1/search?q=payment%20failed&limit=50", A_READ, None).await;
    assert!(a_ids.iter().any(|id| found.contains(&hex(id))), "A finds its own traces: {found}");

    // B hunts through every endpoint.
    let a_second = hex(&a_ids[1]);
    let day = now / 1_000_000;
    let paths = [
        format!("/api/v1/traces/{a_trace}"),
        format!("/api/v1/traces/{a_trace}/similar"),
        format!("/api/v1/traces/{a_trace}/compare/{a_second}"),
        "/api/v1/search?q=payment%20failed&limit=100".to_string(),
        "/api/v1/search?q=checkout%20inventory%20frontend&group=trace".to_string(),
        "/api/v1/search?q=timeout&service=checkout".to_string(),
        "/api/v1/errors?limit=100".to_string(),
        "/api/v1/errors?q=payment".to_string(),
        "/api/v1/errors/overview".to_string(),
        "/api/v1/errors/categories".to_string(),
        "/api/v1/entities?limit=100".to_string(),
        "/api/v1/services".to_string(),
        "/api/v1/services/checkout/operations".to_string(),
        "/api/v1/health".to_string(),
        "/api/services".to_string(),
        "/jaeger/api/services".to_string(),
        "/api/services/checkout/operations".to_string(),
        "/api/operations?service=checkout".to_string(),
        "/api/traces?service=checkout&limit=100".to_string(),
        format!("/api/traces/{a_trace}"),
        format!("/api/dependencies?endTs={day}&lookback=86400000"),
        "/api/v3/services".to_string(),
        "/api/v3/operations?service=checkout".to_string(),
        format!("/api/v3/traces/{a_trace}"),
        "/api/v3/traces?query.service_name=checkout".to_string(),
    ];
    for path in &paths {
        let (status, body) = get(&server.api, path, B_READ, None).await;
        assert!(status < 500, "{path}: {status} {body}");
        for id in a_ids.iter().map(|id| hex(id)) {
            if path.contains(&id) {
                // Asked for by id: "not stored", as for a trace nobody sent (the id echoed back).
                assert!(status == 404 || (status == 200 && !body.contains("span")), "{path}: {status} {body}");
            } else {
                assert!(!body.contains(&id), "{path} shows tenant A's trace {id}: {body}");
            }
        }
        // A service the path names may be echoed back; no other of A's may appear.
        for service in A_SERVICES.iter().filter(|service| !path.contains(*service)) {
            assert!(!body.contains(service), "{path} names tenant A's service {service}: {body}");
        }
    }
    let (_, health) = get(&server.api, "/api/v1/health", B_READ, None).await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!((health["total_spans"].as_u64(), health["total_traces"].as_u64()), (Some(1), Some(1)), "{health}");
    let (_, services) = get(&server.api, "/api/v1/services", B_READ, None).await;
    assert_eq!(serde_json::from_str::<Value>(&services).unwrap()["services"], json!(["globex-billing"]));
    let (status, _) = get(&server.api, &format!("/api/v1/traces/{b_trace}"), B_READ, None).await;
    assert_eq!(status, 200, "B reads its own");
    let (status, _) = get(&server.api, &format!("/api/v1/traces/{b_trace}"), A_READ, None).await;
    assert_eq!(status, 404, "and A does not");

    // B's token cannot name A in X-Scope-OrgID; the gateway's can, and sees only what it names.
    let (status, _) = get(&server.api, "/api/v1/services", B_READ, Some("acme")).await;
    assert_eq!(status, 403);
    let (_, as_a) = get(&server.api, "/api/v1/services", GATEWAY, Some("acme")).await;
    assert!(as_a.contains("checkout") && !as_a.contains("globex"), "{as_a}");
    let (_, as_b) = get(&server.api, "/api/v1/services", GATEWAY, Some("globex")).await;
    assert!(as_b.contains("globex-billing") && !as_b.contains("checkout"), "{as_b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_stored_bytes_is_refused_retryably_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.limits.tenants.insert(
            "small".into(),
            semtrace_server::config::TenantRateSettings { max_stored_bytes: 256 * 1024, ..Default::default() },
        );
    })
    .await;
    let http = reqwest::Client::new();
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let mut send = |tenant: &'static str| {
        let body = generator.request(10).0.encode_to_vec();
        http.post(format!("{}/v1/traces", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .header("x-scope-orgid", tenant)
            .body(body)
            .send()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let response = send("small").await.unwrap();
        if response.status().as_u16() == 429 {
            break response;
        }
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
        assert!(Instant::now() < deadline, "the tenant was never held to its quota");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("quota"));
    // The default tenant has no quota: it keeps ingesting.
    for _ in 0..3 {
        assert!(send("default").await.unwrap().status().is_success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_past_max_tenants_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |config| {
        config.semantic.enabled = false;
        config.limits.max_tenants = 2;
    })
    .await;
    let http = reqwest::Client::new();
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig::default());
    let mut send = |tenant: &'static str| {
        http.post(format!("{}/v1/traces", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .header("x-scope-orgid", tenant)
            .body(generator.request(1).0.encode_to_vec())
            .send()
    };
    // The default tenant's stack is open from the start: one more fits.
    assert!(send("second").await.unwrap().status().is_success());
    let refused = send("third").await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.text().await.unwrap().contains("limits.max_tenants"));
    assert!(send("second").await.unwrap().status().is_success(), "open tenants keep ingesting");
}
