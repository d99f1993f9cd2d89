//! A small program instrumented with semtrace's exporter: a checkout that calls a payment
//! provider, which fails one time in three.
//!
//!   semtrace serve &
//!   cargo run -p semtrace-exporter --example instrumented                        # over OTLP/HTTP
//!   cargo run -p semtrace-exporter --example instrumented -- --embedded ./data    # in-process
//!   semtrace search "payment provider refused the card"
//!
//! `--endpoint URL` names another OTLP/HTTP endpoint (default http://127.0.0.1:4318);
//! `SEMTRACE_TOKEN` is sent as the bearer token.

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use semtrace_exporter::SemtraceExporter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|arg| arg == flag).and_then(|at| args.get(at + 1)).cloned();
    let exporter = match value("--embedded") {
        Some(dir) => SemtraceExporter::embedded(dir)?,
        None => {
            let mut builder =
                SemtraceExporter::otlp(value("--endpoint").unwrap_or_else(|| "http://127.0.0.1:4318".into()));
            if let Ok(token) = std::env::var("SEMTRACE_TOKEN") {
                builder = builder.with_token(token);
            }
            builder.build()?
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("checkout-rs").build())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("checkout");
    for order in 0..9 {
        tracer.in_span("POST /checkout", |cx| {
            cx.span().set_attribute(KeyValue::new("order.id", order));
            let mut call = tracer.span_builder("POST /v1/charges").with_kind(SpanKind::Client).start(&tracer);
            call.set_attribute(KeyValue::new("server.address", "api.payments.example"));
            if order % 3 == 0 {
                call.set_attribute(KeyValue::new("http.response.status_code", 402));
                call.set_status(Status::error("card_declined: Your card has insufficient funds."));
                println!("order {order}: payment declined, trace {}", cx.span().span_context().trace_id());
            } else {
                call.set_attribute(KeyValue::new("http.response.status_code", 200));
            }
            call.end();
        });
    }
    // Shutdown flushes the batch processor (and, in-process, commits every span).
    provider.shutdown()?;
    println!("9 traces exported");
    Ok(())
}
