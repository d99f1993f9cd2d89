"""Seed 004's eight usage scenarios against a running semtrace, from Python: traces sent by the
OpenTelemetry SDK (what an application does), read back through semtrace's HTTP API.

  1 basic use        the SDK pointed at semtrace's OTLP/HTTP endpoint
  2 health check     GET /api/v1/health
  3 storing traces   one trace, exported at once (SimpleSpanProcessor)
  4 semantic search  GET /api/v1/search?q=… in words the spans do not contain
  5 retrieval        GET /api/v1/traces/{id}
  6 batch            100 traces through the SDK's BatchSpanProcessor
  7 filtered search  service, outcome and minimum duration
  8 statistics       totals, services, failures by category

    pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    semtrace serve &
    python examples/seed-004/scenarios.py

Environment: SEMTRACE_API (default http://127.0.0.1:16686), SEMTRACE_OTLP (default
http://127.0.0.1:4318), SEMTRACE_TOKEN when the server requires one. Exits non-zero, saying
why, when a scenario does not get what it should.
"""

import json
import os
import sys
import time
import urllib.parse
import urllib.request

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

API = os.environ.get("SEMTRACE_API", "http://127.0.0.1:16686").rstrip("/")
OTLP = os.environ.get("SEMTRACE_OTLP", "http://127.0.0.1:4318").rstrip("/")
TOKEN = os.environ.get("SEMTRACE_TOKEN")
HEADERS = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def step(title):
    print(f"\n== {title}", flush=True)


def fail(why):
    print(f"FAILED: {why}", file=sys.stderr)
    sys.exit(1)


def get(path, **params):
    url = API + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(urllib.request.Request(url, headers=HEADERS), timeout=60) as response:
        return json.load(response)


def wait_searchable(spans):
    deadline = time.time() + 120
    while time.time() < deadline:
        health = get("/api/v1/health")
        if health["total_spans"] >= spans and health["embedding_backlog"] == 0:
            return health
        time.sleep(0.2)
    fail(f"the server did not hold {spans} searchable spans within 2 minutes: {health}")


def provider(service, processor):
    tp = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "seed-004"}))
    tp.add_span_processor(processor(OTLPSpanExporter(endpoint=f"{OTLP}/v1/traces", headers=HEADERS, timeout=30)))
    return tp


def main():
    step("1. Basic use: the OpenTelemetry SDK exports to semtrace's OTLP/HTTP endpoint")
    single = provider("payments-py", SimpleSpanProcessor)
    tracer = single.get_tracer("seed-004.scenarios")
    print(f"exporting to {OTLP}/v1/traces, reading from {API}")

    step("2. Health check")
    health = get("/api/v1/health")
    print({key: health[key] for key in ("healthy", "storage", "embedding_model", "queue_depth", "queue_capacity")})
    if not (health["healthy"] and health["store_reachable"]):
        fail(f"not healthy: {health}")
    before = health["total_spans"]

    step("3. Storing a trace: a payment whose call to the card processor was refused")
    stored_from = time.time_ns()
    with tracer.start_as_current_span("POST /payments", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("POST https://api.cardproc.example/v1/charges", kind=SpanKind.CLIENT) as call:
            call.set_attribute("http.request.method", "POST")
            call.set_attribute("server.address", "api.cardproc.example")
            call.set_attribute("http.response.status_code", 503)
            try:
                raise ConnectionRefusedError("[Errno 111] Connection refused: card processor is not accepting connections")
            except ConnectionRefusedError as err:
                call.record_exception(err)
                call.set_status(Status(StatusCode.ERROR, str(err)))
        root.set_status(Status(StatusCode.ERROR, "payment failed"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    single.force_flush()
    print(f"stored trace {trace_id}")
    wait_searchable(before + 2)

    step("4. Semantic search: words the spans do not contain")
    found = get("/api/v1/search", q="payment provider unreachable", start=str(stored_from), limit=5)
    for result in found["results"]:
        print(f"{result['score']:.3f} {result['service']} {result['name']}: {result['summary'][:100]}")
    if trace_id not in [result["trace_id"] for result in found["results"]]:
        fail(f"the search did not find trace {trace_id}")

    step("5. Retrieving the trace by id")
    stored = get(f"/api/v1/traces/{trace_id}")
    for span in stored["spans"]:
        print(f"{span['service']} {span['name']} {span['status']} {span['duration_ms']:.1f} ms")
    if stored["span_count"] != 2:
        fail(f"trace {trace_id} holds {stored['span_count']} spans, not 2")

    step("6. Batch: 100 traces through the SDK's batch processor")
    batch = provider("inventory-py", lambda exporter: BatchSpanProcessor(exporter, max_export_batch_size=64))
    batch_tracer = batch.get_tracer("seed-004.scenarios")
    start = time.time_ns()
    for n in range(100):
        slow = n % 20 == 0
        span = batch_tracer.start_span("reserve stock", kind=SpanKind.SERVER, start_time=start + n * 1000)
        span.set_attribute("inventory.sku", f"sku-{n}")
        if slow:
            span.set_status(Status(StatusCode.ERROR, "lock wait timeout exceeded; try restarting transaction"))
        span.end(end_time=start + n * 1000 + (800 if slow else 15) * 1_000_000)
    batch.force_flush()
    wait_searchable(before + 102)
    print("100 spans stored")

    step("7. Search with filters: one service, failed, at least 500 ms")
    # `start`: this run's spans only, whatever an earlier run left.
    filtered = get("/api/v1/search", q="database lock contention", service="inventory-py", outcome="failed",
                   min_duration="500ms", start=str(start), limit=20)
    for result in filtered["results"]:
        print(f"{result['service']} {result['name']} {result['status']} {result['duration_ms']:.0f} ms")
    if len(filtered["results"]) != 5:
        fail(f"expected the 5 slow failures, got {len(filtered['results'])}")
    if not all(r["service"] == "inventory-py" and r["failed"] and r["duration_ms"] >= 500 for r in filtered["results"]):
        fail("a result does not match the filters")

    step("8. Statistics")
    health = get("/api/v1/health")
    print({key: health[key] for key in ("total_spans", "total_traces", "templates", "disk_bytes")})
    services = get("/api/v1/services")["services"]
    print("services:", services)
    categories = get("/api/v1/errors/categories")["categories"]
    print("failures by category:", {c["category"]: c["spans"] for c in categories})
    if health["total_spans"] < before + 102 or "inventory-py" not in services:
        fail("the statistics do not count what was stored")

    single.shutdown()
    batch.shutdown()
    print("\nall eight scenarios passed")


if __name__ == "__main__":
    main()
