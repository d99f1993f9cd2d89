"""Sends spans and log records to semtrace with the real OpenTelemetry Python SDK: traces through
its OTLP span exporters, logs through Python's `logging` with the SDK's LoggingHandler and its
OTLP log exporters (gRPC and HTTP, gzip), trace context included.

Usage: otel_sdk_logs.py GRPC_ENDPOINT HTTP_ENDPOINT
The log records are exported before their spans end (so they reach semtrace first, as batch
exporters often make them). Prints one JSON document describing what was sent. Exits non-zero if
an exporter reports a failure.
"""

import json
import logging
import sys

from grpc import Compression as GrpcCompression
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

FAILED_LINE = "[getThing][Get Thing Failed][thingListResult is null]"


class Checked:
    """Wraps an exporter and counts exports that did not succeed."""

    def __init__(self, inner, success):
        self.inner, self.success, self.failures = inner, success, 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result != self.success:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def emit(service, span_exporter, log_exporter):
    resource = Resource.create({"service.name": service, "service.version": "2.0.1"})
    spans = Checked(span_exporter, SpanExportResult.SUCCESS)
    logs = Checked(log_exporter, LogRecordExportResult.SUCCESS)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logging.getLogger(f"interop.{service}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider)
    logger.addHandler(handler)
    tracer = tracer_provider.get_tracer("interop.logs", "1.0.0")
    # A failure told only in logs: the span's status stays unset.
    with tracer.start_as_current_span("GET /things/{id}", kind=SpanKind.SERVER) as span:
        logger.info("[getThing][Get Thing][request received]")
        logger.error(FAILED_LINE)
        context = span.get_span_context()
    # A record without trace context.
    logger.warning("disk quota exceeded on /var/lib/%s", service)
    logger.removeHandler(handler)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    if spans.failures or logs.failures:
        sys.exit(f"{service}: {spans.failures} span export(s) and {logs.failures} log export(s) failed")
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "error_line": FAILED_LINE,
        "quota_line": f"disk quota exceeded on /var/lib/{service}",
    }


def main():
    grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
    sent = {
        "grpc": emit(
            "py-logs-grpc",
            GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True, compression=GrpcCompression.Gzip),
            GrpcLogExporter(endpoint=grpc_endpoint, insecure=True, compression=GrpcCompression.Gzip),
        ),
        "http": emit(
            "py-logs-http",
            HttpSpanExporter(endpoint=f"{http_endpoint}/v1/traces", compression=HttpCompression.Gzip),
            HttpLogExporter(endpoint=f"{http_endpoint}/v1/logs", compression=HttpCompression.Gzip),
        ),
    }
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
