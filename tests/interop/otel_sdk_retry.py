"""Exports spans with the real OpenTelemetry Python SDK exporters (OTLP/HTTP and OTLP/gRPC)
while semtrace refuses them retryably; the exporters' own retries must get them through.

Usage: otel_sdk_retry.py GRPC_ENDPOINT HTTP_ENDPOINT
Each exporter exports one batch of 5 spans from its own thread, with a 60 s timeout. Prints
{"<protocol>": {"result": "SUCCESS"|..., "seconds": S, "trace_id": HEX}} as JSON.
"""

import json
import sys
import threading
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def spans_of(service):
    """Five finished spans of one trace, recorded in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("retry-test")
    with tracer.start_as_current_span("GET /orders") as root:
        for n in range(4):
            with tracer.start_as_current_span(f"step {n}"):
                pass
    trace_id = format(root.get_span_context().trace_id, "032x")
    return memory.get_finished_spans(), trace_id


def main():
    grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
    exporters = {
        "http": HttpExporter(endpoint=f"{http_endpoint}/v1/traces", timeout=60),
        "grpc": GrpcExporter(endpoint=grpc_endpoint, insecure=True, timeout=60),
    }
    report = {}

    def run(protocol):
        spans, trace_id = spans_of(f"py-retry-{protocol}")
        started = time.monotonic()
        result = exporters[protocol].export(spans)
        report[protocol] = {"result": result.name, "seconds": time.monotonic() - started, "trace_id": trace_id}

    threads = [threading.Thread(target=run, args=(protocol,)) for protocol in exporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
