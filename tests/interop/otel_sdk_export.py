"""Sends spans to semtrace with the real OpenTelemetry Python SDK and OTLP exporters.

Usage: otel_sdk_export.py GRPC_ENDPOINT HTTP_ENDPOINT
Prints one JSON document describing what was sent, for the Rust test to compare with what
semtrace serves back. Exits non-zero if an exporter reports a failure.
"""

import json
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from grpc import Compression as GrpcCompression


class Checked:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def emit(service, exporter):
    checked = Checked(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "3.1.4", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = provider.get_tracer("interop.tracer", "0.9.1")
    spans = []
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes={
        "http.request.method": "GET",
        "http.response.status_code": 500,
        "http.route": "/orders/{id}",
        "retry.ratio": 0.75,
        "cache.hit": False,
        "tags": ["a", "b"],
        "counts": [1, 2, 3],
    }) as root:
        root.add_event("order.lookup", {"order.id": "ord-981"})
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes={
            "db.system": "postgresql",
            "db.statement": "SELECT * FROM orders WHERE id = $1",
        }, links=[Link(root.get_span_context(), {"link.kind": "parent-copy"})]) as child:
            try:
                raise TimeoutError("dial tcp 10.2.3.4:5432: i/o timeout")
            except TimeoutError as err:
                child.record_exception(err)
                child.set_status(Status(StatusCode.ERROR, "dial tcp 10.2.3.4:5432: i/o timeout"))
            spans.append(child)
        root.set_status(Status(StatusCode.ERROR, "upstream database timeout"))
        spans.append(root)
    provider.shutdown()
    if checked.failures:
        sys.exit(f"{service}: {checked.failures} export(s) failed")
    described = []
    for span in spans:
        context = span.get_span_context()
        described.append({
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
            "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
            "name": span.name,
            "kind": span.kind.name,
            "start_time_unix_nano": str(span.start_time),
            "end_time_unix_nano": str(span.end_time),
            "status": span.status.status_code.name,
            "status_message": span.status.description or "",
            "attributes": {key: (list(value) if isinstance(value, tuple) else value) for key, value in span.attributes.items()},
            "events": [{"name": event.name, "time_unix_nano": str(event.timestamp), "attributes": dict(event.attributes)} for event in span.events],
            "links": [{"trace_id": format(link.context.trace_id, "032x"), "span_id": format(link.context.span_id, "016x"), "attributes": dict(link.attributes)} for link in span.links],
            "resource": dict(span.resource.attributes),
            "scope": {"name": span.instrumentation_scope.name, "version": span.instrumentation_scope.version},
        })
    return described


def main():
    grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
    sent = {
        # https:// endpoints: TLS, with the CA and client certificate of OTEL_EXPORTER_OTLP_CERTIFICATE,
        # OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (the SDK reads them).
        "grpc": emit(
            "py-grpc",
            GrpcExporter(
                endpoint=grpc_endpoint,
                insecure=not grpc_endpoint.startswith("https://"),
                compression=GrpcCompression.Gzip,
            ),
        ),
        "http": emit("py-http", HttpExporter(endpoint=f"{http_endpoint}/v1/traces", compression=HttpCompression.Gzip)),
    }
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
