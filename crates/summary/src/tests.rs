use std::sync::Arc;

use semtrace_model::{
    AnyValue, Attributes, Event, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId,
};

use super::*;

fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
    let mut attributes = Attributes::default();
    for (key, value) in pairs {
        attributes.push(*key, value.clone());
    }
    attributes
}

fn s(text: &str) -> AnyValue {
    AnyValue::String(text.into())
}

fn span(service: &str, name: &str, kind: SpanKind, millis: u64, attributes: Attributes) -> Span {
    Span {
        trace_id: TraceId::from_bytes([1; 16]).unwrap(),
        span_id: SpanId::from_bytes([2; 8]).unwrap(),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: name.into(),
        kind,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_000_000_000 + millis * 1_000_000,
        attributes,
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::default(),
        resource: Arc::new(Resource { attributes: attrs(&[("service.name", s(service))]), ..Default::default() }),
        scope: Arc::new(Scope::default()),
    }
}

fn exception(kind: &str, message: &str) -> Event {
    Event {
        time_unix_nano: 1_000_000_000,
        name: "exception".into(),
        attributes: attrs(&[("exception.type", s(kind)), ("exception.message", s(message))]),
        dropped_attributes_count: 0,
    }
}

#[test]
fn a_failed_database_call_reads_well_and_masks_to_its_template() {
    let mut db = span(
        "orders-api",
        "SELECT orders",
        SpanKind::Client,
        30_012,
        attrs(&[
            ("db.system", s("postgresql")),
            ("db.operation.name", s("SELECT")),
            ("db.query.text", s("SELECT * FROM orders WHERE customer = 'bob' AND id = 4412")),
            ("server.address", s("orders-db-3.prod.internal")),
            ("server.port", AnyValue::Int(5432)),
        ]),
    );
    db.status = Status { code: StatusCode::Error, message: "Connection is not available".into() };
    db.events.push(exception(
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
    ));
    let summary = summarize(&db);
    assert_eq!(
        summary.text,
        "orders-api client span SELECT orders failed with java.sql.SQLTransientConnectionException: HikariPool-1 - \
         Connection is not available, request timed out after 30000ms. postgresql database SELECT: SELECT * FROM \
         orders WHERE customer = 'bob' AND id = 4412. peer orders-db-3.prod.internal:5432. Category: timeout, took too long; \
         database connection pool exhausted, no free connection; connection failure, could not connect. took 30012 ms, very slow."
    );
    assert_eq!(
        summary.template,
        "orders-api client span SELECT orders failed with SQLTransientConnectionException: HikariPool-1 - \
         Connection is not available, request timed out after <num>. postgresql database SELECT: SELECT * FROM \
         orders WHERE customer = ? AND id = <num>. Category: timeout, took too long; database connection pool exhausted, \
         no free connection; connection failure, could not connect. very slow."
    );
    assert_eq!(summary.error_type.as_deref(), Some("java.sql.SQLTransientConnectionException"));
    // Hikari's "Connection is not available, request timed out" is its pool running dry.
    let named = [
        "timeout, took too long",
        "database connection pool exhausted, no free connection",
        "connection failure, could not connect",
    ];
    assert_eq!(crate::categories_of(&summary.text), named);
    assert_eq!(crate::categories_of(&summary.template), named);
    let error_text = summary.error_text.unwrap();
    assert!(error_text.contains("HikariPool-1") && error_text.contains("SQLTransientConnectionException"));
}

#[test]
fn spans_differing_in_volatile_values_share_a_template() {
    let make = |ip: &str, millis: u64, order: &str| {
        let mut client = span(
            "checkout",
            "GET /api/orders/{id}",
            SpanKind::Client,
            millis,
            attrs(&[
                ("http.request.method", s("GET")),
                ("url.full", s(&format!("http://10.0.0.7:8080/api/orders/{order}?token=abc"))),
                ("http.response.status_code", AnyValue::Int(503)),
            ]),
        );
        client.status = Status { code: StatusCode::Error, message: format!("dial tcp {ip}: i/o timeout") };
        summarize(&client)
    };
    let a = make("10.2.3.4:5432", 12, "5f0c9a2e-8d1b-4c3a-9e7f-0a1b2c3d4e5f");
    let b = make("192.168.1.20:6543", 48, "1a2b3c4d-0000-4c3a-9e7f-0a1b2c3d4e5f");
    assert_ne!(a.text, b.text);
    assert_eq!(a.template, b.template);
    assert_eq!(a.template_hash(), b.template_hash());
    assert!(a.template.contains("status 503 server error"), "{}", a.template);
    assert!(!a.template.contains("token"), "query strings are dropped: {}", a.template);
    assert_eq!(a.error_type.as_deref(), Some("HTTP 503"));
}

#[test]
fn log_events_and_rpc_codes_are_summarised() {
    let mut worker = span(
        "billing-worker",
        "process invoice",
        SpanKind::Consumer,
        5,
        attrs(&[
            ("messaging.system", s("kafka")),
            ("messaging.destination.name", s("invoices")),
            ("rpc.system", s("grpc")),
            ("rpc.service", s("ledger.Ledger")),
            ("rpc.method", s("Post")),
            ("rpc.grpc.status_code", AnyValue::Int(4)),
        ]),
    );
    worker.events.push(Event {
        time_unix_nano: 1,
        name: "log".into(),
        attributes: attrs(&[("log.severity", s("ERROR")), ("log.message", s("ledger write failed for invoice 991"))]),
        dropped_attributes_count: 0,
    });
    worker.status.code = StatusCode::Error;
    let summary = summarize(&worker);
    assert!(summary.text.contains("grpc call ledger.Ledger/Post status DEADLINE_EXCEEDED"), "{}", summary.text);
    assert!(summary.text.contains("kafka messaging invoices"), "{}", summary.text);
    // The error line leads: it says why the span failed.
    assert!(summary.text.contains("failed: ledger write failed for invoice 991"), "{}", summary.text);
    assert!(summary.template.contains("invoice <num>"), "{}", summary.template);
    assert_eq!(summary.error_type.as_deref(), Some("DEADLINE_EXCEEDED"));
    assert!(summary.error_text.unwrap().contains("ledger write failed"));
}

#[test]
fn healthy_spans_have_no_error_text_and_long_text_is_cut() {
    let long = "x".repeat(5000);
    let summary = summarize(&span("svc", &long, SpanKind::Internal, 1, Attributes::default()));
    assert!(summary.error_text.is_none() && summary.error_type.is_none());
    assert!(summary.text.len() <= MAX_SUMMARY && summary.template.len() <= MAX_TEMPLATE);
}

#[test]
fn the_template_hash_is_stable() {
    // FNV-1a of "a": a fixed value, so stored hashes stay valid across builds.
    assert_eq!(template_hash("a") as u64, 0xaf63dc4c8601ec8c);
}

#[test]
fn key_value_stores_read_as_caches() {
    let call = |system: &str| {
        let attributes = attrs(&[("db.system", s(system)), ("db.operation", s("SET"))]);
        summarize(&span("cart", "SET", SpanKind::Client, 1, attributes)).text
    };
    assert!(call("redis").contains("redis cache SET"), "{}", call("redis"));
    assert!(call("memcached").contains("memcached cache SET"), "{}", call("memcached"));
    assert!(call("postgresql").contains("postgresql database SET"), "{}", call("postgresql"));
}

#[test]
fn a_failure_that_only_passes_another_on_is_not_explained() {
    let failed = |message: &str, exception_event: Option<(&str, &str)>, status: i64| {
        let mut server = span(
            "gateway",
            "POST /checkout",
            SpanKind::Server,
            40,
            attrs(&[("http.request.method", s("POST")), ("http.response.status_code", AnyValue::Int(status))]),
        );
        server.status = Status { code: StatusCode::Error, message: message.into() };
        if let Some((kind, text)) = exception_event {
            server.events.push(exception(kind, text));
        }
        summarize(&server).outcome
    };
    // Wrappers: the reason is somewhere else.
    assert_eq!(failed("unexpected status 500 Internal Server Error", None, 500), Outcome::Failed);
    assert_eq!(
        failed("", Some(("jakarta.servlet.ServletException", "Request processing failed")), 500),
        Outcome::Failed
    );
    assert_eq!(
        failed(
            "",
            Some(("HttpServerErrorException$InternalServerError", "500 Internal Server Error: {\"error\":500}")),
            500
        ),
        Outcome::Failed
    );
    // Reasons: a specific word, a specific exception type, or a known failure category.
    assert_eq!(
        failed(
            "",
            Some(("jakarta.servlet.ServletException", "Request processing failed: java.lang.OutOfMemoryError")),
            500
        ),
        Outcome::FailedWithReason
    );
    assert_eq!(failed("card declined", None, 402), Outcome::FailedWithReason);
    assert_eq!(failed("", Some(("InventoryReservationError", "processing failed")), 409), Outcome::FailedWithReason);
    assert_eq!(failed("upstream returned 503", None, 503), Outcome::FailedWithReason);
    // A bare response code says why when it names the failure itself, not when it only says
    // that something failed or was unavailable.
    assert_eq!(failed("", None, 429), Outcome::FailedWithReason);
    assert_eq!(failed("", None, 413), Outcome::FailedWithReason);
    assert_eq!(failed("", None, 500), Outcome::Failed);
    assert_eq!(failed("", None, 503), Outcome::Failed);
    assert_eq!(failed("", None, 401), Outcome::Failed);
    assert_eq!(split_camel_case("HttpServerErrorException"), ["Http", "Server", "Error", "Exception"]);
    assert_eq!(split_camel_case("HTTPError"), ["HTTP", "Error"]);
    assert_eq!(split_camel_case("x509"), ["x509"]);
}

#[test]
fn an_exhausted_pool_is_named_after_what_it_connects_to() {
    let pool_error = |system: Option<&str>, message: &str| {
        let attributes = match system {
            Some(system) => attrs(&[("db.system", s(system))]),
            None => attrs(&[]),
        };
        let mut client = span("checkout", "query", SpanKind::Client, 30_000, attributes);
        client.status = Status { code: StatusCode::Error, message: message.into() };
        crate::categories_of(&summarize(&client).template)
    };
    let queue_pool = "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00";
    assert_eq!(
        pool_error(Some("postgresql"), queue_pool),
        ["timeout, took too long", "database connection pool exhausted, no free connection"]
    );
    assert_eq!(
        pool_error(Some("redis"), "redis: connection pool timeout"),
        ["timeout, took too long", "cache connection pool exhausted, no free connection"]
    );
    assert_eq!(
        pool_error(None, "Timeout occurred while waiting for a slot to become available"),
        ["timeout, took too long", "connection pool exhausted, no free connection"]
    );
    // sqlx's words name a database pool without attributes.
    assert_eq!(
        pool_error(None, "pool timed out while waiting for an open connection"),
        ["timeout, took too long", "database connection pool exhausted, no free connection"]
    );
    // SQLAlchemy's QueuePool pools database connections, whatever the span's attributes say.
    assert_eq!(
        pool_error(None, queue_pool),
        ["timeout, took too long", "database connection pool exhausted, no free connection"]
    );
    // So does a well-known port; a link to documentation is not a call.
    for message in [
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "QueuePool limit of size 5 overflow 10 reached (Background on this error at: https://sqlalche.me/e/20/3o7r)",
    ] {
        let named = pool_error(None, message);
        assert!(named.iter().any(|name| name.starts_with("database")), "{message}: {named:?}");
    }
    assert!(pool_error(None, "dial tcp 10.0.7.12:6379: connect: connection refused")
        .contains(&"cache unavailable, the cache or key-value store could not be reached"));
}

fn log_event(pairs: &[(&str, AnyValue)]) -> Event {
    Event { time_unix_nano: 1, name: "log".into(), attributes: attrs(pairs), dropped_attributes_count: 0 }
}

#[test]
fn a_span_that_logs_an_error_failed_whatever_its_status() {
    let info = || log_event(&[("level", s("INFO")), ("message", s("[getStation][Querying stations][size: 12]"))]);
    let conventions: Vec<Vec<(&str, AnyValue)>> = vec![
        vec![
            ("log.severity", s("ERROR")),
            ("log.message", s("[getStationIdByName][Get Station Failed][stationList is null]")),
        ],
        vec![("level", s("error")), ("message", s("[getStationIdByName][Get Station Failed][stationList is null]"))],
        vec![("log.level", s("WARN")), ("body", s("[getStationIdByName][Get Station Failed][stationList is null]"))],
        vec![("severity", s("Error")), ("msg", s("[getStationIdByName][Get Station Failed][stationList is null]"))],
        vec![
            ("severity_text", s("FATAL")),
            ("message", s("[getStationIdByName][Get Station Failed][stationList is null]")),
        ],
        vec![
            ("severity_number", AnyValue::Int(17)),
            ("message", s("[getStationIdByName][Get Station Failed][stationList is null]")),
        ],
        vec![("event", s("error")), ("message", s("[getStationIdByName][Get Station Failed][stationList is null]"))],
        vec![
            ("event", s("error")),
            ("error.object", s("[getStationIdByName][Get Station Failed][stationList is null]")),
        ],
    ];
    for convention in conventions {
        let mut server = span("ts-station-service", "GET /api/v1/stationservice", SpanKind::Server, 12, attrs(&[]));
        for _ in 0..4 {
            server.events.push(info());
        }
        server.events.push(log_event(&convention));
        server.events.push(info());
        let summary = summarize(&server);
        assert_eq!(summary.outcome, Outcome::FailedWithReason, "{convention:?}");
        assert!(failure_logged(&server), "{convention:?}");
        assert_eq!(server.status.code, StatusCode::Unset);
        // The error line leads; the routine lines are shown but not embedded.
        assert!(
            summary.template.starts_with(
                "ts-station-service server span GET /api/v1/stationservice failed: \
                 [getStationIdByName][Get Station Failed][stationList is null]."
            ),
            "{convention:?}: {}",
            summary.template
        );
        assert!(!summary.template.contains("Querying stations"), "{}", summary.template);
        assert!(summary.text.contains("Querying stations"), "{}", summary.text);
        assert!(summary.error_text.as_deref().is_some_and(|text| text.contains("stationList is null")));
    }
    // Routine lines alone leave a span healthy.
    let mut healthy = span("ts-station-service", "GET /api/v1/stationservice", SpanKind::Server, 12, attrs(&[]));
    healthy.events.push(info());
    healthy.events.push(log_event(&[("severity_number", AnyValue::Int(9)), ("message", s("done"))]));
    assert_eq!(summarize(&healthy).outcome, Outcome::Healthy);
    assert!(!failure_logged(&healthy));
}

#[test]
fn a_warning_the_span_recovered_from_is_told_but_explains_no_failure() {
    let line = |level: &str, message: &str| log_event(&[("level", s(level)), ("message", s(message))]);
    let client = || span("compose-post-service", "ComposeUniqueId", SpanKind::Client, 30, attrs(&[]));
    let refused = "TSocket::open() connect() <Host: unique-id-service Port: 9090>: Connection refused";
    let mut recovered = client();
    recovered.events.push(line("warning", refused));
    recovered.events.push(line("info", "reconnected to unique-id-service:9090 after 1 retry"));
    let summary = summarize(&recovered);
    assert_eq!(summary.outcome, Outcome::Failed, "{}", summary.template);
    assert!(summary.text.contains("Connection refused") && summary.text.contains("reconnected"), "{}", summary.text);
    for (level, message) in [("info", "request succeeded after 2 attempts"), ("debug", "retry succeeded")] {
        let mut retried = client();
        retried.events.push(line("WARN", refused));
        retried.events.push(line(level, message));
        assert_eq!(summarize(&retried).outcome, Outcome::Failed, "{message}");
    }
    // Not recovered: the recovery came before the warning, the failure was an error, the span
    // reported it, or a later line says something else.
    let mut before = client();
    before.events.push(line("info", "reconnected to unique-id-service:9090 after 1 retry"));
    before.events.push(line("warning", refused));
    let mut error = client();
    error.events.push(line("error", refused));
    error.events.push(line("info", "reconnected to unique-id-service:9090 after 1 retry"));
    let mut reported = client();
    reported.status.code = StatusCode::Error;
    reported.events.push(line("warning", refused));
    reported.events.push(line("info", "reconnected to unique-id-service:9090 after 1 retry"));
    let mut other = client();
    other.events.push(line("warning", refused));
    other.events.push(line("info", "giving up after 3 retries"));
    for span in [before, error, reported, other] {
        assert_eq!(summarize(&span).outcome, Outcome::FailedWithReason, "{:?}", span.events);
    }
}

#[test]
fn a_failure_is_reported_by_status_error_tag_or_response_code_not_by_a_log_line() {
    let error_line = || log_event(&[("level", s("ERROR")), ("message", s("publish to home-timeline failed"))]);
    let mut logged = span(
        "compose-post",
        "ComposePost",
        SpanKind::Server,
        12,
        attrs(&[("http.response.status_code", AnyValue::Int(200))]),
    );
    logged.events.push(error_line());
    assert!(failure_logged(&logged) && !reported_failure(&logged), "logged, answered 200");
    for reported in [
        attrs(&[("http.response.status_code", AnyValue::Int(401))]),
        attrs(&[("http.status_code", s("503"))]),
        attrs(&[("rpc.grpc.status_code", AnyValue::Int(14))]),
        attrs(&[("error", AnyValue::Bool(true))]),
        attrs(&[("error", s("true"))]),
    ] {
        let mut span = span("compose-post", "ComposePost", SpanKind::Server, 12, reported.clone());
        span.events.push(error_line());
        assert!(reported_failure(&span), "{reported:?}");
    }
    let mut status =
        span("compose-post", "ComposePost", SpanKind::Server, 12, attrs(&[("rpc.grpc.status_code", AnyValue::Int(0))]));
    assert!(!reported_failure(&status));
    status.status = Status { code: StatusCode::Error, message: String::new() };
    assert!(reported_failure(&status));
}

#[test]
fn a_structured_log_line_says_its_message_error_and_level() {
    // pino through a bridge: the whole JSON line is the body, its level inside it alone.
    let pino = r#"{"level":50,"time":1796514568213,"pid":1,"hostname":"ts-office-6c9f","reqId":"req-4715","err":{"type":"MongoServerSelectionError","message":"Server selection timed out after 30000 ms"},"msg":"failed to load offices"}"#;
    // logrus: a logfmt body, its level also as an attribute.
    let logrus =
        r#"time="2026-12-06T02:06:23Z" level=warning msg="allocate aborted" error="context canceled" train=T4387"#;
    let debug = r#"time="2026-12-06T02:06:22Z" level=debug msg="seat lock acquired" train=T4387"#;
    for (events, said) in [
        (
            vec![log_event(&[("body", s(pino))])],
            "failed: failed to load offices: MongoServerSelectionError: Server selection timed out after <num> ms.",
        ),
        (
            vec![log_event(&[("body", s(debug))]), log_event(&[("log.level", s("WARN")), ("body", s(logrus))])],
            "failed: allocate aborted: context canceled.",
        ),
    ] {
        let mut server = span("ts-office", "GET /office", SpanKind::Server, 12, attrs(&[]));
        server.events = events;
        let summary = summarize(&server);
        assert_eq!(summary.outcome, Outcome::FailedWithReason, "{}", summary.template);
        assert!(failure_logged(&server));
        assert!(
            summary.template.starts_with(&format!("ts-office server span GET /office {said}")),
            "{}",
            summary.template
        );
        assert!(
            !summary.template.contains("hostname") && !summary.template.contains("seat lock"),
            "{}",
            summary.template
        );
        assert_eq!(
            error_log(&server, &[]).as_deref(),
            Some(said.trim_start_matches("failed: ").trim_end_matches('.'))
                .map(|said| said.replace("<num>", "30000"))
                .as_deref()
        );
    }
}

#[test]
fn a_failure_names_what_failed() {
    let categories_and_dependency = |kind: SpanKind, attributes: Attributes, message: &str| {
        let mut failed = span("ts-travel-service", "POST /trips", kind, 5_000, attributes);
        failed.events.push(log_event(&[("level", s("ERROR")), ("message", s(message))]));
        let summary = summarize(&failed);
        let dependency = summary
            .template
            .split("Failed dependency: ")
            .nth(1)
            .map(|rest| rest.split('.').next().unwrap_or_default().to_owned());
        (crate::categories_of(&summary.template), dependency)
    };
    let http_read_timeout = categories_and_dependency(
        SpanKind::Server,
        attrs(&[]),
        "I/O error on POST request for \"http://ts-order-service:12031/api/v1/orderservice/order\": Read timed out",
    );
    assert_eq!(
        http_read_timeout,
        (
            vec!["timeout, took too long", "request to a downstream service timed out, waited too long for it"],
            Some("HTTP call to service ts-order-service".to_owned())
        )
    );
    let database_timeout = categories_and_dependency(
        SpanKind::Server,
        attrs(&[]),
        "com.mysql.cj.jdbc.exceptions.MySQLTimeoutException: Statement cancelled due to timeout or client request",
    );
    assert_eq!(
        database_timeout.0[..2],
        ["timeout, took too long", "database timed out, the database server did not answer in time"]
    );
    assert_eq!(database_timeout.1.as_deref(), Some("database"));
    let client = categories_and_dependency(
        SpanKind::Client,
        attrs(&[("http.request.method", s("GET")), ("server.address", s("ts-route-service"))]),
        "Read timed out",
    );
    assert_eq!(client.1.as_deref(), Some("HTTP call to service ts-route-service"));
    let discovery = categories_and_dependency(
        SpanKind::Server,
        attrs(&[]),
        "com.netflix.client.ClientException: Load balancer does not have available server for client: ts-route-service",
    );
    assert_eq!(discovery, (vec![crate::category::SERVICE_DISCOVERY], Some("service registry".to_owned())));
    let refused = categories_and_dependency(SpanKind::Server, attrs(&[]), "[check][Wrong State][id: 5ad7750b]");
    assert_eq!(refused.0, vec!["request refused by a business rule, operation not allowed in the current state"]);
    let empty = categories_and_dependency(SpanKind::Server, attrs(&[]), "[getTripInfo][thingListResult is null]");
    assert!(empty.0.contains(&"lookup found nothing, no matching record, empty or missing result"), "{empty:?}");
    // A gRPC server's own service is not what it depends on; its error's words say that.
    let grpc_server = categories_and_dependency(
        SpanKind::Server,
        attrs(&[("rpc.system", s("grpc")), ("rpc.service", s("seat.v1.SeatAllocator"))]),
        "update seat_inventory: Error 1205 (HY000): Lock wait timeout exceeded; mysql",
    );
    assert_eq!(grpc_server.1.as_deref(), Some("database"));
    // A gRPC client's error names a gRPC call, not an HTTP one; a MongoDB driver that found no
    // server to talk to, an unreachable database.
    for message in [
        "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with: status = StatusCode.DEADLINE_EXCEEDED>",
        "rpc error: code = Unavailable desc = connection error",
        "io.grpc.StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after 1.999s",
    ] {
        let rpc = categories_and_dependency(SpanKind::Internal, attrs(&[]), message);
        assert_eq!(rpc.1.as_deref(), Some("gRPC call to another service"), "{message}");
    }
    for message in [
        "MongoServerSelectionError: Server selection timed out after 30000 ms",
        "com.mongodb.MongoTimeoutException: Timed out after 30000 ms while waiting to connect",
        "pymongo.errors.ServerSelectionTimeoutError: ts-delivery-mongo:27017: timed out",
    ] {
        let mongo = categories_and_dependency(SpanKind::Internal, attrs(&[]), message);
        assert!(mongo.0.contains(&crate::category::DATABASE_UNAVAILABLE), "{message}: {mongo:?}");
    }
    // A document store is named as one (in its database sentence); a malformed value in the
    // request as malformed data.
    let mut mongo =
        span("ts-food-service", "find foods", SpanKind::Client, 30_000, attrs(&[("db.system", s("mongodb"))]));
    mongo.status = Status { code: StatusCode::Error, message: "Timed out after 30000 ms".into() };
    let template = summarize(&mongo).template;
    assert!(template.contains("mongodb document database"), "{template}");
    for message in [
        "java.time.format.DateTimeParseException: Text '2026-02-30' could not be parsed: Invalid date 'FEBRUARY 30'",
        "java.lang.NumberFormatException: For input string: \"null\"",
        "strconv.Atoi: parsing \"abc\": invalid syntax",
        "RangeError: Invalid time value",
    ] {
        let parse = categories_and_dependency(SpanKind::Server, attrs(&[]), message);
        assert!(parse.0.contains(&"malformed data, parsing or deserialization failed"), "{message}: {parse:?}");
    }
}

#[test]
fn wrapper_boilerplate_gives_way_to_the_cause() {
    use crate::cause_of;
    assert_eq!(
        cause_of(
            "Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Request \
             processing failed; nested exception is org.springframework.web.client.ResourceAccessException: I/O error \
             on POST request for \"http://ts-order-service:12031/api\": Read timed out] with root cause"
        ),
        "org.springframework.web.client.ResourceAccessException: I/O error on POST request for \
         \"http://ts-order-service:12031/api\": Read timed out"
    );
    assert_eq!(
        cause_of("Could not send mail; nested exception is:\n\tjava.net.SocketTimeoutException: Connect timed out"),
        "java.net.SocketTimeoutException: Connect timed out"
    );
    assert_eq!(cause_of("Request processing failed: java.lang.OutOfMemoryError"), "java.lang.OutOfMemoryError");
    assert_eq!(cause_of("Request processing failed"), "Request processing failed", "a bare wrapper stays one");
    assert_eq!(cause_of("  card declined "), "card declined");
}

#[test]
fn a_recorded_exception_makes_a_span_failed_whatever_its_status() {
    let mut handled = span("ts-voucher-service", "/getVoucher", SpanKind::Server, 5020, attrs(&[]));
    handled.events.push(exception(
        "requests.exceptions.ReadTimeout",
        "HTTPConnectionPool(host='ts-order-other-service', port=12032): Read timed out. (read timeout=5)",
    ));
    let summary = summarize(&handled);
    assert!(summary.outcome.is_failure(), "{summary:?}");
    assert!(summary.text.contains("/getVoucher failed with requests.exceptions.ReadTimeout"), "{}", summary.text);
}

#[test]
fn a_query_the_database_stopped_is_named_apart_from_other_timeouts() {
    let limit = "query cancelled for running too long, over the database's time limit";
    for message in [
        "ERROR: canceling statement due to statement timeout",
        "Query execution was interrupted, maximum statement execution time exceeded",
        "Executor error during find command :: caused by :: operation exceeded time limit",
    ] {
        let mut db = span("orders", "SELECT orders", SpanKind::Client, 30, attrs(&[("db.system", s("postgresql"))]));
        db.status = Status { code: StatusCode::Error, message: message.into() };
        let categories = crate::categories_of(&summarize(&db).template);
        assert!(categories.contains(&limit), "{message}: {categories:?}");
    }
    let mut lock = span("orders", "UPDATE orders", SpanKind::Client, 30, attrs(&[("db.system", s("mysql"))]));
    lock.status =
        Status { code: StatusCode::Error, message: "Lock wait timeout exceeded; try restarting transaction".into() };
    assert!(!crate::categories_of(&summarize(&lock).template).contains(&limit));
}

#[test]
fn the_failure_reads_the_same_in_another_service_and_operation() {
    let failed_in = |service: &str, name: &str, url: &str, millis: u64| {
        let mut call = span(
            service,
            name,
            SpanKind::Client,
            millis,
            attrs(&[("http.request.method", s("GET")), ("url.full", s(url))]),
        );
        call.status = Status { code: StatusCode::Error, message: String::new() };
        call.events.push(exception("java.net.SocketTimeoutException", "Read timed out after 5000 ms"));
        summarize(&call)
    };
    let a = failed_in("ts-voucher-service", "GET", "http://ts-order-service:12031/api/v1/orders/42", 5003);
    let b = failed_in("ts-travel-service", "HTTP GET", "http://ts-route-service:11178/api/v1/routes/7", 5120);
    assert_ne!(a.template, b.template, "who failed differs");
    let failure = a.failure.clone().expect("a failed span has a failure");
    assert_eq!(Some(failure.clone()), b.failure, "what failed and why reads the same");
    assert!(failure.starts_with("failed with SocketTimeoutException: Read timed out"), "{failure}");
    assert!(failure.contains("Category: "), "{failure}");
    for who in ["ts-voucher-service", "ts-order-service", "GET", "12031"] {
        assert!(!failure.contains(who), "{who} in {failure}");
    }
    let healthy = span("web", "GET /", SpanKind::Server, 3, Attributes::default());
    assert_eq!(summarize(&healthy).failure, None);
}

#[test]
fn a_tracing_event_says_its_cause_from_its_error_field() {
    // tracing-opentelemetry: `error!(error = %e, "s3 put_object failed")`.
    let mut upload = span("media-service", "S3.PutObject", SpanKind::Client, 32, Attributes::default());
    upload.status = Status { code: StatusCode::Error, message: String::new() };
    let event = |cause: &str| Event {
        time_unix_nano: 1_000_000_000,
        name: "s3 put_object failed".into(),
        attributes: attrs(&[
            ("level", s("ERROR")),
            ("target", s("media_service::query")),
            ("exception.message", s(cause)),
        ]),
        dropped_attributes_count: 0,
    };
    upload.events.push(event("dispatch failure: dns error: failed to lookup address information"));
    let dns = summarize(&upload);
    upload.events[0] = event("AccessDenied: Access Denied (status 403)");
    let denied = summarize(&upload);
    let dns_failure = dns.failure.expect("failed");
    assert!(dns_failure.contains("dns error"), "{dns_failure}");
    assert_ne!(Some(dns_failure), denied.failure, "two causes, two failures");
    // Without an error field, the event's name is its message.
    upload.events[0].attributes = attrs(&[("level", s("ERROR"))]);
    assert!(summarize(&upload).failure.unwrap().contains("s3 put_object failed"));
}

/// One span per kind of sentence a summary can hold, for the table below.
fn sentence_cases() -> Vec<(&'static str, Span)> {
    let mut http = span(
        "web",
        "GET /users/{id}",
        SpanKind::Server,
        12,
        attrs(&[
            ("http.request.method", s("GET")),
            ("http.route", s("/users/{id}")),
            ("http.response.status_code", AnyValue::Int(200)),
        ]),
    );
    http.status = Status { code: StatusCode::Ok, message: String::new() };
    let mut client_error = span(
        "web",
        "POST",
        SpanKind::Client,
        40,
        attrs(&[
            ("http.method", s("POST")),
            ("url.full", s("http://payments:8080/v1/charges?id=7")),
            ("http.status_code", AnyValue::Int(503)),
            ("peer.service", s("payments")),
        ]),
    );
    client_error.status = Status { code: StatusCode::Error, message: String::new() };
    let mut database = span(
        "orders",
        "SELECT orders",
        SpanKind::Client,
        2_500,
        attrs(&[
            ("db.system", s("postgresql")),
            ("db.operation", s("SELECT")),
            ("db.sql.table", s("orders")),
            ("db.statement", s("SELECT * FROM orders WHERE id = 42")),
            ("server.address", s("10.0.0.5")),
            ("server.port", AnyValue::Int(5432)),
        ]),
    );
    database.status =
        Status { code: StatusCode::Error, message: "canceling statement due to statement timeout".into() };
    database.events.push(exception("psycopg2.errors.QueryCanceled", "canceling statement due to statement timeout"));
    let rpc = span(
        "checkout",
        "inventory.Inventory/Reserve",
        SpanKind::Client,
        3,
        attrs(&[
            ("rpc.system", s("grpc")),
            ("rpc.service", s("inventory.Inventory")),
            ("rpc.method", s("Reserve")),
            ("rpc.grpc.status_code", AnyValue::Int(0)),
        ]),
    );
    let messaging = span(
        "orders",
        "order-events publish",
        SpanKind::Producer,
        1,
        attrs(&[
            ("messaging.system", s("kafka")),
            ("messaging.operation", s("publish")),
            ("messaging.destination.name", s("order-events")),
        ]),
    );
    let mut logged = span("cart", "CartService.add", SpanKind::Internal, 15_000, Attributes::default());
    logged.events.push(log_event(&[("level", s("INFO")), ("message", s("adding item 17 to cart 9"))]));
    logged
        .events
        .push(log_event(&[("level", s("ERROR")), ("message", s("[addItem][Add Failed][cartItemsResult is null]"))]));
    let cache =
        span("cart", "GET", SpanKind::Client, 1, attrs(&[("db.system", s("redis")), ("db.operation", s("GET"))]));
    vec![
        ("http server, ok", http),
        ("http client error to a peer", client_error),
        ("database failure with an exception", database),
        ("rpc call", rpc),
        ("messaging", messaging),
        ("a failure told in logs, slow", logged),
        ("cache", cache),
    ]
}

/// Every sentence of a summary, pinned: (span, expected summary, expected template).
#[test]
fn each_kind_of_sentence_reads_and_masks_as_pinned() {
    let expected: &[(&str, &str, &str)] = &[
        (
            "http server, ok",
            "web server span GET /users/{id} succeeded. HTTP GET /users/{id} status 200. took 12.0 ms.",
            "web server span GET /users/{id} succeeded. HTTP GET /users/{id} status 200.",
        ),
        (
            "http client error to a peer",
            "web client span POST failed. HTTP POST http://payments:8080/v1/charges status 503 server error. peer payments. Failed dependency: HTTP call to service payments. Category: dependency unavailable. took 40.0 ms.",
            "web client span POST failed. HTTP POST /v1/charges status 503 server error. peer payments. Failed dependency: HTTP call to service payments. Category: dependency unavailable.",
        ),
        (
            "database failure with an exception",
            "orders client span SELECT orders failed with psycopg2.errors.QueryCanceled: canceling statement due to statement timeout. postgresql database SELECT orders: SELECT * FROM orders WHERE id = 42. peer 10.0.0.5:5432. Category: timeout, took too long; database timed out, the database server did not answer in time; query cancelled for running too long, over the database's time limit. took 2500 ms, slow.",
            "orders client span SELECT orders failed with QueryCanceled: canceling statement due to statement timeout. postgresql database SELECT orders: SELECT * FROM orders WHERE id = <num>. Category: timeout, took too long; database timed out, the database server did not answer in time; query cancelled for running too long, over the database's time limit. slow.",
        ),
        (
            "rpc call",
            "checkout client span inventory.Inventory/Reserve. grpc call inventory.Inventory/Reserve status OK. took 3.0 ms.",
            "checkout client span inventory.Inventory/Reserve. grpc call inventory.Inventory/Reserve status OK.",
        ),
        (
            "messaging",
            "orders producer span order-events publish. kafka messaging publish order-events. took 1.0 ms.",
            "orders producer span order-events publish. kafka messaging publish order-events.",
        ),
        (
            "a failure told in logs, slow",
            "cart span CartService.add failed: [addItem][Add Failed][cartItemsResult is null]. info log: adding item 17 to cart 9. Category: lookup found nothing, no matching record, empty or missing result. took 15000 ms, very slow.",
            "cart span CartService.add failed: [addItem][Add Failed][cartItemsResult is null]. Category: lookup found nothing, no matching record, empty or missing result. very slow.",
        ),
        (
            "cache",
            "cart client span GET. redis cache GET. took 1.0 ms.",
            "cart client span GET. redis cache GET.",
        ),
    ];
    let cases = sentence_cases();
    assert_eq!(cases.len(), expected.len());
    for ((name, span), (expected_name, text, template)) in cases.iter().zip(expected) {
        assert_eq!(name, expected_name);
        let summary = summarize(span);
        assert_eq!(summary.text, *text, "{name}");
        assert_eq!(summary.template, *template, "{name}");
    }
}

#[test]
fn the_error_a_log_line_carries_joins_its_words() {
    // A logback appender's line: the application's words, and the exception beside them (a stack
    // trace, read by its first line).
    let mut order = span("orders", "GET /orders/{id}", SpanKind::Server, 2_010, Attributes::default());
    order.events.push(log_event(&[
        ("log.severity", s("WARN")),
        ("log.message", s("[getOrderById][Redis Read Failed, Fallback To Database][OrderId: 42]")),
        (
            "log.exception",
            s("org.springframework.dao.QueryTimeoutException: Redis command timed out; nested exception is io.lettuce.core.RedisCommandTimeoutException: Command timed out after 2 second(s)\n\tat org.springframework.data.redis.connection.lettuce.LettuceExceptionConverter.convert(LettuceExceptionConverter.java:70)"),
        ),
    ]));
    let summary = summarize(&order);
    assert!(summary.text.contains("failed: [getOrderById][Redis Read Failed"), "{}", summary.text);
    assert!(
        summary.text.contains("RedisCommandTimeoutException: Command timed out after 2 second(s)"),
        "{}",
        summary.text
    );
    assert!(!summary.text.contains("LettuceExceptionConverter"), "the stack's frames stay out: {}", summary.text);
    assert!(summary.template.contains("cache command timed out"), "{}", summary.template);

    // A Python logging handler's record with `exc_info`: an exception with the message beside it.
    let mut voucher = span("voucher", "/getVoucher", SpanKind::Server, 12, Attributes::default());
    voucher.events.push(log_event(&[
        ("severity_text", s("ERROR")),
        ("log.message", s("voucher lookup failed for order 42")),
        ("exception.type", s("pymysql.err.OperationalError")),
        ("exception.message", s("(2013, 'Lost connection to MySQL server during query')")),
        ("exception.stacktrace", s("Traceback (most recent call last):\n  File \"/app/v.py\", line 3, in get\npymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')")),
    ]));
    let summary = summarize(&voucher);
    assert!(summary.text.contains("Lost connection to MySQL server"), "{}", summary.text);
    assert!(summary.text.contains("voucher lookup failed for order 42"), "{}", summary.text);

    // A traceback alone is read by its last line, where Python names the error.
    assert_eq!(
        error_head("Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: bad\n"),
        "ValueError: bad"
    );
}

#[test]
fn a_consumer_that_failed_on_its_database_names_the_database_not_the_broker() {
    let attributes = attrs(&[("messaging.system", s("kafka")), ("messaging.operation", s("receive"))]);
    let mut consumer = span("accounting", "orders receive", SpanKind::Consumer, 40, attributes);
    consumer.events.push(log_event(&[
        ("severity_text", s("Error")),
        ("message", s("Npgsql.PostgresException: 53300: sorry, too many clients already")),
    ]));
    let summary = summarize(&consumer);
    assert!(summary.template.contains("Failed dependency: database."), "{}", summary.template);
    assert_eq!(crate::categories_of(&summary.template), ["database connection pool exhausted, no free connection"]);
    // A failure that names the broker stays the broker's (named by its attributes, so no
    // sentence of its own).
    let attributes = attrs(&[("messaging.system", s("kafka"))]);
    let mut consumer = span("fraud", "orders process", SpanKind::Consumer, 40, attributes);
    consumer.status = Status { code: StatusCode::Error, message: "Kafka commit failed: rebalance in progress".into() };
    assert!(!summarize(&consumer).template.contains("Failed dependency"), "{}", summarize(&consumer).template);
}

#[test]
fn a_timeout_names_the_dependency_its_routine_lines_mention() {
    let mut sender = span("email", "send_email", SpanKind::Internal, 5_000, attrs(&[]));
    sender.events.push(log_event(&[
        ("log.severity", s("INFO")),
        ("log.message", s("Delivering order confirmation via smtp-relay.mail.svc.cluster.local:587")),
    ]));
    sender.events.push(log_event(&[
        ("log.severity", s("ERROR")),
        ("log.message", s("Failed to send order confirmation: Net::OpenTimeout: execution expired")),
    ]));
    let summary = summarize(&sender);
    assert!(summary.template.contains("Failed dependency: mail server."), "{}", summary.template);
    assert!(
        crate::categories_of(&summary.template)
            .contains(&"email delivery failure, the mail server refused the message"),
        "{}",
        summary.template
    );
    // A failure that is not about reaching anything keeps to its own words.
    let mut handler = span("email", "render", SpanKind::Internal, 5, attrs(&[]));
    handler.events.push(log_event(&[("level", s("INFO")), ("message", s("Loaded the cart from redis"))]));
    handler
        .events
        .push(log_event(&[("level", s("ERROR")), ("message", s("NoMethodError: undefined method `name' for nil"))]));
    assert!(!summarize(&handler).template.contains("Failed dependency"), "{}", summarize(&handler).template);
}
