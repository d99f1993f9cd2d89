#!/usr/bin/env python3
"""Held-out corpus #4: the OpenTelemetry Demo ("Astronomy Shop") as it really emits telemetry.

Sends a labelled corpus over OTLP/HTTP with the real OpenTelemetry Python SDK: one TracerProvider
(and one LoggerProvider) per service, each with the service's own Resource, spans shaped like the
instrumentation libraries each service really uses (Envoy's tracer, Next.js and the Node
auto-instrumentations, otelgrpc/otelhttp in Go, ASP.NET Core and StackExchange.Redis in .NET,
the Java agent, the Python gRPC instrumentation, tracing-opentelemetry in Rust, Sinatra in Ruby,
Slim in PHP, the C++ SDK used by hand), and log records sent through the Python SDK's
LoggingHandler and OTLPLogExporter to /v1/logs, with the trace context of the span they were
written under.

    corpus.py --otlp http://127.0.0.1:4318 [--seed N] [--traces N] [--out DIR] [--require-logs]

Writes labels.json (trace id hex -> fault kind, fault traces only) and corpus_meta.json in --out
and prints the meta JSON. Exits non-zero when a span (or, with --require-logs or
HELDOUT4_REQUIRE_LOGS=1, a log record) was not acknowledged by the receiver.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import threading
import time
import uuid
import warnings

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

warnings.filterwarnings("ignore", category=DeprecationWarning)

SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER = (SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL,
                                                SpanKind.PRODUCER, SpanKind.CONSUMER)
MS = 1_000_000
SEC = 1_000_000_000
HOURS3 = 3 * 3600
LAST_START = HOURS3 - 330  # leave room for consumer lag before "now"

# ---------------------------------------------------------------------------------------------
# Fault kinds: share of all traces, and the time windows (the flag or the incident was on).
# ---------------------------------------------------------------------------------------------
FAULTS = {
    "ad_high_cpu":                0.011,
    "cart_store_unreachable":     0.011,
    "product_catalog_failure":    0.011,
    "recommendation_cache_leak":  0.011,
    "payment_loyalty_rejected":   0.011,
    "payment_unreachable":        0.010,
    "kafka_consumer_lag":         0.010,
    "image_slow_load":            0.011,
    "homepage_rate_limited":      0.012,
    "currency_unsupported":       0.010,
    "accounting_db_write_failed": 0.010,
    "email_smtp_timeout":         0.010,
}
# windows in seconds after the corpus start (fixed: the incidents of that afternoon)
WINDOWS = {
    "ad_high_cpu":                [(1500, 3300)],
    "cart_store_unreachable":     [(4200, 5400), (9000, 9600)],
    "product_catalog_failure":    [(600, 2400)],
    "recommendation_cache_leak":  [(6600, 10400)],
    "payment_loyalty_rejected":   [(2700, 4500)],
    "payment_unreachable":        [(7800, 8700)],
    "kafka_consumer_lag":         [(5600, 7000)],
    "image_slow_load":            [(3600, 5200)],
    "homepage_rate_limited":      [(8400, 9300)],
    "currency_unsupported":       [(300, 10400)],     # a few clients asking for unsupported codes, all day
    "accounting_db_write_failed": [(9700, 10450)],
    "email_smtp_timeout":         [(1200, 2600), (7100, 7700)],
}
# flows whose healthy traces cannot happen during a kind's window (the fault hit every request)
EXCLUSIVE = {"ads": ["ad_high_cpu"], "image": ["image_slow_load"],
             "recs": ["recommendation_cache_leak"], "checkout": ["kafka_consumer_lag", "payment_unreachable"]}
NOISE = {"unknown_product": 0.012, "unknown_route": 0.010, "client_cancel": 0.008,
         "redis_retry": 0.008, "rec_retry": 0.006, "checkout_retry_quote": 0.004}
FLOWS = [("home", 14), ("product", 24), ("recs", 11), ("ads", 11), ("cart_view", 9), ("add_cart", 10),
         ("checkout", 8), ("currency", 4), ("shipping", 3), ("image", 6)]

PRODUCTS = {
    "OLJCESPC7Z": ("National Park Foundation Explorascope", 101.96, "telescopes"),
    "66VCHSJNUP": ("Starsense Explorer Refractor Telescope", 349.95, "telescopes"),
    "1YMWWN1N4O": ("Eclipsmart Travel Refractor Telescope", 129.95, "telescopes"),
    "L9ECAV7KIM": ("Lens Cleaning Kit", 21.95, "accessories"),
    "2ZYFJ3GM2N": ("Roof Binoculars", 209.95, "binoculars"),
    "0PUK6V6EV0": ("Solar System Color Imager", 175.0, "accessories"),
    "LS4PSXUNUM": ("Red Flashlight", 57.8, "flashlights"),
    "9SIQT8TOJO": ("Optical Tube Assembly", 3599.0, "telescopes"),
    "6E92ZMYYFZ": ("Solar Filter", 69.95, "accessories"),
    "HQTGWGPNH4": ("The Comet Book", 0.99, "books"),
}
PIDS = list(PRODUCTS)
BAD_PRODUCT = "OLJCESPC7Z"
CURRENCIES_OK = ["USD"] * 10 + ["EUR", "EUR", "CAD", "JPY", "GBP", "CHF", "AUD", "SEK", "INR", "BRL"]
CURRENCIES_BAD = ["VND", "ARS", "NGN", "UAH"]
LOYALTY = ["platinum", "gold", "silver", "bronze"]
AD_KEYS = ["telescopes", "binoculars", "accessories", "flashlights", "books", "travel", "assembly"]

GRPC_NAME = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
             9: "FAILED_PRECONDITION", 13: "INTERNAL", 14: "UNAVAILABLE"}
GO_CODE = {1: "Canceled", 2: "Unknown", 4: "DeadlineExceeded", 5: "NotFound", 9: "FailedPrecondition",
           13: "Internal", 14: "Unavailable"}

# ---------------------------------------------------------------------------------------------
# Services: resources and instrumentation scopes
# ---------------------------------------------------------------------------------------------
LANG = {
    "nodejs": {"telemetry.sdk.language": "nodejs", "telemetry.sdk.version": "1.30.1",
               "process.runtime.name": "nodejs", "process.runtime.version": "22.14.0",
               "process.runtime.description": "Node.js", "process.executable.name": "node"},
    "go": {"telemetry.sdk.language": "go", "telemetry.sdk.version": "1.35.0"},
    "dotnet": {"telemetry.sdk.language": "dotnet", "telemetry.sdk.version": "1.11.2"},
    "cpp": {"telemetry.sdk.language": "cpp", "telemetry.sdk.version": "1.19.0"},
    "ruby": {"telemetry.sdk.language": "ruby", "telemetry.sdk.version": "1.8.0",
             "process.runtime.name": "ruby", "process.runtime.version": "3.3.7",
             "process.runtime.description": "ruby 3.3.7 (2025-01-15 revision be31f993d7) [x86_64-linux]"},
    "python": {"telemetry.sdk.language": "python", "telemetry.sdk.version": "1.30.0",
               "process.runtime.name": "cpython", "process.runtime.version": "3.12.9"},
    "rust": {"telemetry.sdk.language": "rust", "telemetry.sdk.version": "0.28.0"},
    "java": {"telemetry.sdk.language": "java", "telemetry.sdk.version": "1.47.0",
             "telemetry.distro.name": "opentelemetry-java-instrumentation", "telemetry.distro.version": "2.13.3",
             "process.runtime.name": "OpenJDK Runtime Environment", "process.runtime.version": "21.0.6+7-LTS",
             "process.runtime.description": "Eclipse Adoptium OpenJDK 64-Bit Server VM 21.0.6+7-LTS"},
    "php": {"telemetry.sdk.language": "php", "telemetry.sdk.version": "1.2.2",
            "telemetry.distro.name": "opentelemetry-php-instrumentation", "telemetry.distro.version": "1.1.2",
            "process.runtime.name": "cli", "process.runtime.version": "8.3.17"},
}
SERVICES = {
    # name: (language, scopes {scope: version}, extra resource attributes)
    "load-generator": ("python", {"opentelemetry.instrumentation.requests": "0.51b0"}, {}),
    "frontend-proxy": (None, {"envoy": ""}, {}),
    "image-provider": (None, {"nginx": ""}, {}),
    "frontend": ("nodejs", {"@opentelemetry/instrumentation-http": "0.57.2", "next.js": "0.0.1",
                            "@opentelemetry/instrumentation-grpc": "0.57.2",
                            "@opentelemetry/instrumentation-undici": "0.10.1"}, {}),
    "checkout": ("go", {"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc": "0.60.0",
                        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp": "0.60.0",
                        "checkout": ""}, {}),
    "product-catalog": ("go", {"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc": "0.60.0",
                               "product-catalog": ""}, {}),
    "cart": ("dotnet", {"Microsoft.AspNetCore": "9.0.0", "OpenTelemetry.Instrumentation.StackExchangeRedis": "1.11.0-beta.2",
                        "cart": ""}, {}),
    "currency": ("cpp", {"currency": ""}, {}),
    "email": ("ruby", {"OpenTelemetry::Instrumentation::Sinatra": "0.25.0", "OpenTelemetry::Instrumentation::Rack": "0.26.0",
                       "email": ""}, {}),
    "payment": ("nodejs", {"@opentelemetry/instrumentation-grpc": "0.57.2", "payment": ""}, {}),
    "quote": ("php", {"io.opentelemetry.contrib.php.slim": "1.1.0", "quote": ""}, {}),
    "recommendation": ("python", {"opentelemetry.instrumentation.grpc": "0.51b0", "recommendation": ""}, {}),
    "shipping": ("rust", {"opentelemetry-instrumentation-actix-web": "0.22.0", "shipping": "",
                          "reqwest-tracing": "0.5.5"}, {}),
    "ad": ("java", {"io.opentelemetry.grpc-1.6": "2.13.3-alpha", "ad": "",
                    "io.opentelemetry.opentelemetry-instrumentation-annotations-1.16": "2.13.3-alpha"}, {}),
    "accounting": ("dotnet", {"OpenTelemetry.AutoInstrumentation.Kafka": "1.10.0",
                              "OpenTelemetry.Instrumentation.EntityFrameworkCore": "1.11.0-beta.2"},
                   {"telemetry.distro.name": "opentelemetry-dotnet-instrumentation", "telemetry.distro.version": "1.10.0"}),
    "fraud-detection": ("java", {"io.opentelemetry.kafka-clients-0.11": "2.13.3-alpha"}, {}),
    "flagd": ("go", {"connectrpc.com/otelconnect": "0.7.1", "jsonEvaluator": "", "flagEvaluationService": ""}, {}),
}
LOGGERS = {  # service -> OTLP logger names (scope of the log records)
    "load-generator": ["locust.runners"],
    "frontend": ["frontend"],
    "checkout": ["checkout"],
    "product-catalog": ["product-catalog"],
    "cart": ["cart.cartstore.ValkeyCartStore", "cart.services.CartService", "Microsoft.Hosting.Lifetime"],
    "currency": ["currency"],
    "payment": ["payment"],
    "recommendation": ["recommendation_server"],
    "ad": ["oteldemo.AdService"],
    "accounting": ["Accounting.Consumer"],
    "fraud-detection": ["frauddetection"],
    "quote": ["quote"],
}


class SeededIds(IdGenerator):
    """Trace and span ids from the corpus's seeded generator, so labels repeat per seed."""

    def __init__(self, rng):
        self.rng = rng

    def generate_span_id(self):
        while True:
            v = self.rng.getrandbits(64)
            if v:
                return v

    def generate_trace_id(self):
        while True:
            v = self.rng.getrandbits(128)
            if v:
                return v


class CountingSpanExporter(SpanExporter):
    def __init__(self, inner, stats):
        self.inner, self.stats, self.lock = inner, stats, threading.Lock()

    def export(self, spans):
        try:
            r = self.inner.export(spans)
        except Exception as e:  # noqa: BLE001
            print(f"span export raised: {e}", file=sys.stderr)
            r = SpanExportResult.FAILURE
        with self.lock:
            if r == SpanExportResult.SUCCESS:
                self.stats["spans_acknowledged"] += len(spans)
            else:
                self.stats["span_export_failures"] += 1
        return r

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class CountingLogExporter(LogRecordExporter):
    def __init__(self, inner, stats):
        self.inner, self.stats, self.lock = inner, stats, threading.Lock()

    def export(self, batch):
        try:
            r = self.inner.export(batch)
        except Exception as e:  # noqa: BLE001
            print(f"log export raised: {e}", file=sys.stderr)
            r = LogRecordExportResult.FAILURE
        with self.lock:
            if r == LogRecordExportResult.SUCCESS:
                self.stats["logs_acknowledged"] += len(batch)
            else:
                self.stats["log_export_failures"] += 1
        return r

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class Svc:
    def __init__(self, name, rng, ids, otlp, stats):
        lang, scopes, extra = SERVICES[name]
        self.name = name
        self.scopes = scopes
        rs = "%x" % rng.getrandbits(36)
        pod = f"{name}-{rs[:9]}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
        attrs = {"service.name": name}
        if lang is not None:
            attrs.update({"service.namespace": "opentelemetry-demo", "service.version": "2.0.2",
                          "service.instance.id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          "telemetry.sdk.name": "opentelemetry"})
            attrs.update(LANG[lang])
            attrs.update({"host.name": pod, "host.arch": "amd64", "os.type": "linux",
                          "process.pid": 1 if lang in ("go", "rust", "cpp") else rng.randint(7, 40),
                          "k8s.namespace.name": "otel-demo", "k8s.pod.name": pod,
                          "k8s.deployment.name": name, "k8s.node.name": rng.choice(["gke-otel-demo-pool-1-5f0c2a1e-x7kq",
                                                                                     "gke-otel-demo-pool-1-5f0c2a1e-m2wd",
                                                                                     "gke-otel-demo-pool-1-5f0c2a1e-9hrt"]),
                          "k8s.pod.uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          "container.id": "%064x" % rng.getrandbits(256)})
            attrs.update(extra)
        else:  # envoy and nginx set nothing but the service name
            attrs["telemetry.sdk.language"] = "cpp"
        self.resource = Resource(attrs)
        self.provider = TracerProvider(resource=self.resource, id_generator=ids)
        self.provider.add_span_processor(BatchSpanProcessor(
            CountingSpanExporter(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces", timeout=60), stats),
            max_queue_size=400000, schedule_delay_millis=500, max_export_batch_size=512, export_timeout_millis=120000))
        self.tracers = {s: self.provider.get_tracer(s, v or None) for s, v in scopes.items()}
        self.log_provider = None
        self.loggers = {}
        if name in LOGGERS:
            self.log_provider = LoggerProvider(resource=self.resource)
            self.log_provider.add_log_record_processor(BatchLogRecordProcessor(
                CountingLogExporter(OTLPLogExporter(endpoint=f"{otlp}/v1/logs", timeout=60), stats),
                max_queue_size=200000, schedule_delay_millis=500, max_export_batch_size=512,
                export_timeout_millis=120000))
            handler = LoggingHandler(level=logging.NOTSET, logger_provider=self.log_provider)
            for ln in LOGGERS[name]:
                lg = logging.getLogger(ln)
                lg.handlers = [handler]
                lg.propagate = False
                lg.setLevel(logging.DEBUG)
                self.loggers[ln] = lg


class Gen:
    def __init__(self, seed, otlp):
        self.seed = seed
        self.r = random.Random(seed)
        self.ids = SeededIds(random.Random(seed * 7919 + 17))
        self.stats = {"spans_acknowledged": 0, "span_export_failures": 0, "logs_acknowledged": 0,
                      "log_export_failures": 0}
        self.S = {n: Svc(n, self.r, self.ids, otlp, self.stats) for n in SERVICES}
        self.n_spans = 0
        self.n_events = 0
        self.n_logs = 0
        self.logs_ctx = 0
        self.logs_noctx = 0
        self.logs_by_service = {}
        self.now_ns = time.time_ns()
        self.base = self.now_ns - HOURS3 * SEC
        self.ips = {}

    # ----- primitives ---------------------------------------------------------------------------
    def d(self, median_ms, sigma=0.35):
        """A lognormal duration in ns around a median in ms."""
        return int(median_ms * MS * math.exp(self.r.gauss(0.0, sigma)))

    def ip(self, svc):
        if svc not in self.ips:
            self.ips[svc] = f"10.244.{self.r.randint(0, 3)}.{self.r.randint(2, 250)}"
        return self.ips[svc]

    def uid(self):
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def span(self, svc, scope, name, kind, t, parent=None, attrs=None, remote=False):
        s = self.S[svc]
        if parent is None:
            ctx = Context()
        else:
            sc = parent.get_span_context()
            if remote:
                sc = SpanContext(sc.trace_id, sc.span_id, True, sc.trace_flags, sc.trace_state)
            ctx = trace.set_span_in_context(NonRecordingSpan(sc))
        sp = s.tracers[scope].start_span(name, context=ctx, kind=kind, attributes=attrs or {}, start_time=int(t))
        self.n_spans += 1
        return sp

    def event(self, sp, name, t, attrs=None):
        sp.add_event(name, attrs or {}, timestamp=int(t))
        self.n_events += 1

    def exc(self, sp, t, typ, msg, stack, escaped=None):
        a = {"exception.type": typ, "exception.message": msg, "exception.stacktrace": stack}
        if escaped is not None:
            a["exception.escaped"] = escaped
        self.event(sp, "exception", t, a)

    @staticmethod
    def err(sp, desc=None):
        sp.set_status(Status(StatusCode.ERROR, desc or None))

    @staticmethod
    def end(sp, t):
        sp.end(end_time=int(t))

    def log(self, svc, logger, level, body, t, span=None, attrs=None, code=("", "", 0)):
        lg = self.S[svc].loggers[logger]
        path, func, line = code
        rec = lg.makeRecord(lg.name, level, path or "", line or 0, body, None, None, func or "<module>",
                            extra=attrs or None)
        rec.created = t / SEC
        rec.msecs = (t // MS) % 1000
        token = None
        if span is not None:
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            lg.handle(rec)
        finally:
            if token is not None:
                otel_context.detach(token)
        self.n_logs += 1
        if span is not None:
            self.logs_ctx += 1
        else:
            self.logs_noctx += 1
        self.logs_by_service[svc] = self.logs_by_service.get(svc, 0) + 1

    # ----- gRPC client spans in each stack's instrumentation ------------------------------------
    def grpc_client(self, style, caller, parent, t, service, method, peer, port, server_fn):
        """A gRPC client span; server_fn(client_span, t) -> (end, code, desc)."""
        attrs = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        if style == "node":
            name, scope = f"grpc.{service}/{method}", "@opentelemetry/instrumentation-grpc"
            attrs.update({"net.peer.name": peer, "net.peer.port": port})
        elif style == "go":
            name = f"{service}/{method}"
            scope = "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
            attrs.update({"server.address": peer, "server.port": port})
        elif style == "python":
            name, scope = f"/{service}/{method}", "opentelemetry.instrumentation.grpc"
        else:
            raise ValueError(style)
        cs = self.span(caller, scope, name, CLIENT, t, parent, attrs)
        end, code, desc = server_fn(cs, t + self.d(0.6, 0.4))
        end += self.d(0.5, 0.4)
        cs.set_attribute("rpc.grpc.status_code", code)
        if code != 0:
            if style == "node":
                self.err(cs, f"{code} {GRPC_NAME[code]}: {desc}")
            elif style == "go":
                self.err(cs, desc)
            else:
                self.err(cs, f"StatusCode.{GRPC_NAME[code]}: {desc}")
        self.end(cs, end)
        return end, code, desc

    # ----- frontend-proxy (Envoy) ---------------------------------------------------------------
    def envoy_tags(self, method, path, ua, peer):
        return {"node_id": "", "zone": "", "guid:x-request-id": self.uid(),
                "http.url": f"http://frontend-proxy:8080{path}", "http.method": method,
                "downstream_cluster": "-", "user_agent": ua, "http.protocol": "HTTP/1.1",
                "peer.address": peer, "request_size": str(self.r.choice([0, 0, 0, 112, 245])), "component": "proxy"}

    def envoy(self, parent, t, method, path, ua, peer, cluster, upstream_fn, *, rate_limited=False,
              fault_delay=0, cancel=False):
        """ingress span, and (unless rate limited) 'router <cluster> egress' wrapping upstream_fn(egress, t)."""
        tags = self.envoy_tags(method, path, ua, peer)
        ing = self.span("frontend-proxy", "envoy", "ingress", SERVER, t, parent, tags, remote=parent is not None)
        if rate_limited:
            end = t + self.d(0.25, 0.3)
            ing.set_attributes({"upstream_cluster": cluster, "upstream_cluster.name": cluster,
                                "http.status_code": "429", "response_size": "18", "response_flags": "RL"})
            self.end(ing, end)
            return end, 429
        t_up = t + self.d(0.2, 0.3) + fault_delay
        eg_tags = dict(tags)
        eg_tags.update({"upstream_cluster": cluster, "upstream_cluster.name": cluster,
                        "upstream_address": f"{self.ip(cluster)}:8080"})
        eg = self.span("frontend-proxy", "envoy", f"router {cluster} egress", CLIENT, t_up, ing, eg_tags)
        up_end, status = upstream_fn(eg, t_up + self.d(0.2, 0.3))
        flags = "DI" if fault_delay else "-"
        if cancel:
            up_end_client = up_end
            eg.set_attributes({"http.status_code": "0", "response_flags": "DC", "response_size": "0"})
            self.err(eg)
            self.end(eg, up_end_client)
            ing.set_attributes({"upstream_cluster": cluster, "upstream_cluster.name": cluster,
                                "http.status_code": "0", "response_flags": "DC", "response_size": "0"})
            self.err(ing)
            self.end(ing, up_end_client + self.d(0.1))
            return up_end_client, 0
        size = str(self.r.randint(180, 9000)) if status < 400 else str(self.r.randint(20, 120))
        eg.set_attributes({"http.status_code": str(status), "response_flags": flags, "response_size": size})
        if status >= 500:
            self.err(eg)
        self.end(eg, up_end + self.d(0.15))
        end = up_end + self.d(0.3)
        ing.set_attributes({"upstream_cluster": cluster, "upstream_cluster.name": cluster,
                            "http.status_code": str(status), "response_flags": flags, "response_size": size})
        if status >= 500:
            self.err(ing)
        self.end(ing, end)
        return end, status

    # ----- load-generator (locust + requests instrumentation) -----------------------------------
    def loadgen(self, t, method, path, inner_fn):
        url = f"http://frontend-proxy:8080{path}"
        sp = self.span("load-generator", "opentelemetry.instrumentation.requests", method, CLIENT, t, None,
                       {"http.method": method, "http.url": url})
        end, status = inner_fn(sp, t + self.d(0.3))
        end += self.d(0.3)
        if status:
            sp.set_attribute("http.status_code", status)
        if status == 0 or status >= 400:
            self.err(sp)
        self.end(sp, end)
        return sp

    UA_LOCUST = "python-requests/2.32.3"
    UA_BROWSER = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
                  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
                  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:135.0) Gecko/20100101 Firefox/135.0"]

    def entry(self, t, method, path, cluster, upstream_fn, *, browser=None, **kw):
        """A request from the load generator (root span GET/POST) or from a browser (root: Envoy)."""
        if browser is None:
            browser = self.r.random() < 0.25
        if browser:
            ua = self.r.choice(self.UA_BROWSER)
            end, status = self.envoy(None, t, method, path, ua, f"10.128.0.{self.r.randint(2, 250)}", cluster,
                                     upstream_fn, **kw)
            return
        self.loadgen(t, method, path, lambda sp, t1: self.envoy(sp, t1, method, path, self.UA_LOCUST,
                                                                 self.ip("load-generator"), cluster, upstream_fn, **kw))

    # ----- frontend (Next.js on Node) -----------------------------------------------------------
    def frontend(self, parent, t, method, path, route, handler, page=False):
        """http server span, Next.js handleRequest span, api route span; handler(route_span, t) ->
        (end, status, error) with error None or (type, message, stack)."""
        target = path
        a = {"http.url": f"http://frontend:8080{target}", "http.host": "frontend:8080", "net.host.name": "frontend",
             "http.method": method, "http.scheme": "http", "http.target": target,
             "http.flavor": "1.1",
             "net.transport": "ip_tcp", "net.host.ip": f"::ffff:{self.ip('frontend')}", "net.host.port": 8080,
             "net.peer.ip": f"::ffff:{self.ip('frontend-proxy')}", "net.peer.port": self.r.randint(33000, 60999)}
        hs = self.span("frontend", "@opentelemetry/instrumentation-http", method, SERVER, t, parent, a, remote=True)
        t1 = t + self.d(1.5)
        ns = self.span("frontend", "next.js", f"{method} {route}", SERVER, t1, hs,
                       {"next.span_name": f"{method} {route}", "next.span_type": "BaseServer.handleRequest",
                        "http.method": method, "http.target": target, "next.route": route})
        t2 = t1 + self.d(2.5)
        if page:
            rn = f"render route (pages) {route}"
            rs = self.span("frontend", "next.js", rn, INTERNAL, t2, ns,
                           {"next.span_name": rn, "next.span_type": "Render.renderDocument", "next.route": route})
        else:
            rn = f"executing api route (pages) {route}"
            rs = self.span("frontend", "next.js", rn, INTERNAL, t2, ns,
                           {"next.span_name": rn, "next.span_type": "Node.runHandler", "next.route": route})
        end, status, error = handler(rs, t2 + self.d(0.3))
        if error is not None:
            typ, msg, stack = error
            self.exc(rs, end, typ, msg, stack)
            self.err(rs, msg)
        self.end(rs, end)
        end += self.d(1.0)
        ns.set_attribute("http.status_code", status)
        if status >= 500:
            self.err(ns)
        self.end(ns, end)
        end += self.d(0.2)
        hs.set_attributes({"http.status_code": status,
                           "http.status_text": {200: "OK", 404: "NOT FOUND", 500: "INTERNAL SERVER ERROR"}.get(status, "")})
        if status >= 500:
            self.err(hs)
        self.end(hs, end)
        return end, status

    @staticmethod
    def node_grpc_error(code, desc, fn, line):
        msg = f"{code} {GRPC_NAME[code]}: {desc}"
        stack = (f"Error: {msg}\n"
                 f"    at callErrorFromStatus (/app/node_modules/@grpc/grpc-js/build/src/call.js:32:19)\n"
                 f"    at Object.onReceiveStatus (/app/node_modules/@grpc/grpc-js/build/src/client.js:193:76)\n"
                 f"    at /app/node_modules/@grpc/grpc-js/build/src/resolving-call.js:111:35\n"
                 f"    at process.processTicksAndRejections (node:internal/process/task_queues:85:11)\n"
                 f"for call at\n"
                 f"    at ServiceClientImpl.makeUnaryRequest (/app/node_modules/@grpc/grpc-js/build/src/client.js:161:32)\n"
                 f"    at /app/.next/server/chunks/{fn}.js:1:{line}\n"
                 f"    at new Promise (<anonymous>)")
        return ("Error", msg, stack)

    # ----- feature flags ------------------------------------------------------------------------
    def flag_event(self, sp, t, key, variant):
        self.event(sp, "feature_flag", t, {"feature_flag.key": key, "feature_flag.provider_name": "flagd",
                                            "feature_flag.variant": variant})

    def flagd_eval(self, caller_span, t, key, variant, kind="Boolean"):
        """payment's flagd provider (RPC mode) asks flagd: client span, flagd server and evaluator spans."""
        def srv(cs, t1):
            s = self.span("flagd", "connectrpc.com/otelconnect", f"flagd.evaluation.v1.Service/Resolve{kind}", SERVER,
                          t1, cs, {"rpc.system": "grpc", "rpc.service": "flagd.evaluation.v1.Service",
                                   "rpc.method": f"Resolve{kind}", "network.protocol.name": "http",
                                   "network.peer.address": self.ip("payment")}, remote=True)
            t2 = t1 + self.d(0.05)
            e = self.span("flagd", "flagEvaluationService", f"flagEvaluationService(resolve{kind})", INTERNAL, t2, s)
            j = self.span("flagd", "jsonEvaluator", f"jsonEvaluator(resolve{kind})", INTERNAL, t2 + self.d(0.01), e,
                          {"feature_flag.key": key, "feature_flag.flagset": "", "feature_flag.variant": variant,
                           "feature_flag.reason": "STATIC" if variant == "off" else "TARGETING_MATCH"})
            t3 = t2 + self.d(0.12)
            self.end(j, t3)
            self.end(e, t3 + self.d(0.01))
            end = t3 + self.d(0.05)
            s.set_attribute("rpc.grpc.status_code", 0)
            self.end(s, end)
            return end, 0, ""
        return self.grpc_client("node", "payment", caller_span, t, "flagd.evaluation.v1.Service", f"Resolve{kind}",
                                "flagd", 8013, srv)[0]

    # ----- product-catalog (Go, otelgrpc) -------------------------------------------------------
    def ok_pids(self, toff):
        """Products a healthy request can show: not the failing one while its failure is on."""
        if self.in_window("product_catalog_failure", toff):
            return [p for p in PIDS if p != BAD_PRODUCT]
        return PIDS

    def in_window(self, kind, toff):
        return any(a <= toff <= b for a, b in WINDOWS[kind])

    def pc_get(self, cs, t, pid, toff, fail=False, caller="frontend"):
        s = self.span("product-catalog", "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                      "oteldemo.ProductCatalogService/GetProduct", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.ProductCatalogService", "rpc.method": "GetProduct",
                       "network.peer.address": self.ip(caller), "network.peer.port": self.r.randint(33000, 60999),
                       "server.address": "product-catalog", "server.port": 3550}, remote=True)
        t1 = t + self.d(0.08)
        on = self.in_window("product_catalog_failure", toff)
        self.flag_event(s, t1, "productCatalogFailure", "on" if on else "off")
        if fail:
            msg = "Error: Product Catalog Fail Feature Flag Enabled"
            t2 = t1 + self.d(0.05)
            self.event(s, msg, t2)
            self.err(s, msg)
            s.set_attribute("rpc.grpc.status_code", 13)
            end = t2 + self.d(0.05)
            self.end(s, end)
            return end, 13, msg
        if pid not in PRODUCTS:
            msg = f"Product Not Found: {pid}"
            t2 = t1 + self.d(0.05)
            self.event(s, msg, t2)
            self.err(s, msg)
            s.set_attribute("rpc.grpc.status_code", 5)
            end = t2 + self.d(0.05)
            self.end(s, end)
            return end, 5, msg
        s.set_attributes({"app.product.id": pid, "app.product.name": PRODUCTS[pid][0], "rpc.grpc.status_code": 0})
        end = t1 + self.d(0.3)
        self.end(s, end)
        return end, 0, ""

    def pc_list(self, cs, t, caller):
        s = self.span("product-catalog", "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                      "oteldemo.ProductCatalogService/ListProducts", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.ProductCatalogService", "rpc.method": "ListProducts",
                       "network.peer.address": self.ip(caller), "network.peer.port": self.r.randint(33000, 60999),
                       "server.address": "product-catalog", "server.port": 3550}, remote=True)
        s.set_attributes({"app.products.count": len(PRODUCTS), "rpc.grpc.status_code": 0})
        end = t + self.d(0.3)
        self.end(s, end)
        return end, 0, ""

    # ----- currency (C++, spans made by hand) ---------------------------------------------------
    def currency_convert(self, cs, t, frm, to, units):
        s = self.span("currency", "currency", "Convert", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.CurrencyService", "rpc.method": "Convert",
                       "rpc.grpc.status_code": 0, "app.currency.conversion.from": frm,
                       "app.currency.conversion.to": to}, remote=True)
        t1 = t + self.d(0.02)
        self.event(s, "Processing currency conversion request", t1)
        t2 = t1 + self.d(0.05)
        if to in CURRENCIES_BAD:
            self.event(s, "Conversion failed", t2)
            self.err(s)
            end = t2 + self.d(0.02)
            self.end(s, end)
            return end, 1, ""
        s.set_attribute("app.currency.conversion.units.nanos", self.r.randint(0, 999_999_999))
        self.event(s, "Conversion successful, response sent back", t2)
        end = t2 + self.d(0.02)
        self.end(s, end)
        return end, 0, ""

    def currency_supported(self, cs, t):
        s = self.span("currency", "currency", "GetSupportedCurrencies", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.CurrencyService",
                       "rpc.method": "GetSupportedCurrencies", "rpc.grpc.status_code": 0}, remote=True)
        t1 = t + self.d(0.05)
        self.event(s, "Currencies fetched, response sent back", t1)
        self.end(s, t1 + self.d(0.02))
        return t1 + self.d(0.02), 0, ""

    # ----- cart (.NET, ASP.NET Core gRPC + StackExchange.Redis) ---------------------------------
    REDIS_CONNECT_STACK = (
        "StackExchange.Redis.RedisConnectionException: It was not possible to connect to the redis server(s). "
        "Error connecting right now. To allow this multiplexer to continue retrying until it's able to connect, "
        "use abortConnect=false in your connection string or AbortOnConnectFail=false; in your code. ConnectTimeout\n"
        "   at StackExchange.Redis.ConnectionMultiplexer.ConnectImpl(ConfigurationOptions configuration, TextWriter writer, Nullable`1 serverType, EndPointCollection endpoints) in /_/src/StackExchange.Redis/ConnectionMultiplexer.cs:line 711\n"
        "   at StackExchange.Redis.ConnectionMultiplexer.Connect(ConfigurationOptions configuration, TextWriter log) in /_/src/StackExchange.Redis/ConnectionMultiplexer.cs:line 673\n"
        "   at cart.cartstore.ValkeyCartStore.EnsureRedisConnected() in /app/src/cartstore/ValkeyCartStore.cs:line 92\n"
        "   at cart.cartstore.ValkeyCartStore.{op}(String userId) in /app/src/cartstore/ValkeyCartStore.cs:line {line}")

    def cart_call(self, cs, t, method, user, toff, caller, fail=False, redis_retry=False, item=None):
        svc_path = f"/oteldemo.CartService/{method}"
        s = self.span("cart", "Microsoft.AspNetCore", f"oteldemo.CartService/{method}", SERVER, t, cs,
                      {"http.request.method": "POST", "url.path": svc_path, "url.scheme": "http",
                       "server.address": "cart", "server.port": 8080, "network.protocol.version": "2",
                       "http.route": svc_path, "user_agent.original": "grpc-node-js/1.12.6" if caller == "frontend"
                       else "grpc-go/1.71.0", "client.address": self.ip(caller),
                       "rpc.system": "grpc", "rpc.service": "oteldemo.CartService", "rpc.method": method,
                       "app.user.id": user}, remote=True)
        t1 = t + self.d(0.4)
        on = self.in_window("cart_store_unreachable", toff)
        self.flag_event(s, t1, "cartFailure", "on" if on else "off")
        op = {"GetCart": "GetCartAsync", "AddItem": "AddItemAsync", "EmptyCart": "EmptyCartAsync"}[method]
        store_logger = "cart.cartstore.ValkeyCartStore"
        code = ("/app/src/cartstore/ValkeyCartStore.cs", op, {"GetCartAsync": 201, "AddItemAsync": 139,
                                                               "EmptyCartAsync": 171}[op])
        if method == "AddItem":
            self.log("cart", store_logger, logging.INFO,
                     f"AddItemAsync called with userId={user}, productId={item[0]}, quantity={item[1]}", t1, s,
                     {"userId": user, "productId": item[0], "quantity": item[1],
                      "{OriginalFormat}": "AddItemAsync called with userId={userId}, productId={productId}, quantity={quantity}"}, code)
        else:
            self.log("cart", store_logger, logging.INFO, f"{op} called with userId={user}", t1, s,
                     {"userId": user, "{OriginalFormat}": op + " called with userId={userId}"}, code)
        if fail:
            t2 = t1 + int(5000 * MS + self.r.randint(0, 40) * MS)
            stack = self.REDIS_CONNECT_STACK.format(op=op, line=code[2] + 3)
            typ = "StackExchange.Redis.RedisConnectionException"
            inner_msg = stack.split("\n")[0][len(typ) + 2:]
            self.exc(s, t2, typ, inner_msg, stack)
            desc = f"Can't access cart storage. {stack}"
            self.err(s, desc)
            s.set_attributes({"rpc.grpc.status_code": 9, "http.response.status_code": 200})
            end = t2 + self.d(0.3)
            self.end(s, end)
            return end, 9, desc
        t2 = t1 + self.d(0.1)
        cmds = {"GetCart": ["HGET"], "AddItem": ["HGET", "HSET", "EXPIRE"], "EmptyCart": ["HSET", "EXPIRE"]}[method]
        for i, c in enumerate(cmds):
            ra = {"db.system": "redis", "db.redis.flags": "DemandMaster", "db.statement": c,
                  "net.peer.name": "valkey-cart", "net.peer.port": 6379, "db.redis.database_index": 0}
            rsp = self.span("cart", "OpenTelemetry.Instrumentation.StackExchangeRedis", c, CLIENT, t2, s, ra)
            if redis_retry and i == 0:
                t3 = t2 + int(5000 * MS + self.r.randint(0, 20) * MS)
                typ = "StackExchange.Redis.RedisTimeoutException"
                msg = (f"Timeout performing {c} (5000ms), next: {c} {user}, inst: 0, qu: 0, qs: 1, aw: False, "
                       f"bw: Inactive, rs: ReadAsync, ws: Idle, in: 0, last-in: 0, cur-in: 0, sync-ops: 0, async-ops: 1342, "
                       f"serverEndpoint: valkey-cart:6379, conn-sec: 8124.3, aoc: 1, mc: 1/1/0, mgr: 10 of 10 available, "
                       f"clientName: {self.S['cart'].resource.attributes['host.name']}(SE.Redis-v2.8.24.3255), "
                       f"IOCP: (Busy=0,Free=1000,Min=1,Max=1000), WORKER: (Busy=3,Free=32764,Min=2,Max=32767), "
                       f"POOL: (Threads=5,QueuedItems=0,CompletedItems=9581,Timers=6), v: 2.8.24.3255 "
                       f"(Please take a look at this article for some common client-side issues that can cause timeouts: "
                       f"https://stackexchange.github.io/StackExchange.Redis/Timeouts)")
                self.exc(rsp, t3, typ, msg, f"{typ}: {msg}\n   at cart.cartstore.ValkeyCartStore.{op}(String userId) in /app/src/cartstore/ValkeyCartStore.cs:line {code[2] + 6}")
                self.err(rsp, msg)
                self.end(rsp, t3)
                self.log("cart", store_logger, logging.WARNING,
                         f"Retrying {c} for userId={user} after a transient Valkey error (attempt 1 of 3)", t3 + MS, s,
                         {"userId": user, "command": c, "attempt": 1}, code)
                t2 = t3 + self.d(2.0)
                rsp = self.span("cart", "OpenTelemetry.Instrumentation.StackExchangeRedis", c, CLIENT, t2, s, ra)
            t3 = t2 + self.d(0.8, 0.4)
            self.end(rsp, t3)
            t2 = t3 + self.d(0.05)
        if method in ("GetCart", "AddItem"):
            s.set_attribute("app.cart.items.count", self.r.randint(0, 6))
        if item:
            s.set_attributes({"app.product.id": item[0], "app.product.quantity": item[1]})
        s.set_attributes({"rpc.grpc.status_code": 0, "http.response.status_code": 200})
        end = t2 + self.d(0.1)
        self.end(s, end)
        return end, 0, ""

    # ----- recommendation (Python gRPC, LoggingHandler) -----------------------------------------
    def recommendation(self, cs, t, pids, toff, leak=False, retry=False):
        s = self.span("recommendation", "opentelemetry.instrumentation.grpc",
                      "/oteldemo.RecommendationService/ListRecommendations", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.RecommendationService",
                       "rpc.method": "ListRecommendations", "net.peer.ip": self.ip("frontend"),
                       "net.peer.port": str(self.r.randint(33000, 60999))}, remote=True)
        t1 = t + self.d(0.1)
        g = self.span("recommendation", "recommendation", "get_product_list", INTERNAL, t1, s)
        code = ("/app/recommendation_server.py", "ListRecommendations", 47)
        t2 = t1 + self.d(0.05)
        if leak:
            w0, w1 = WINDOWS["recommendation_cache_leak"][0]
            frac = max(0.0, (toff - w0) / (w1 - w0))
            count = int(400 * (1.0 + 700.0 * frac ** 1.6) * math.exp(self.r.gauss(0, 0.15)))
            hit = self.r.random() < 0.85
            g.set_attributes({"app.recommendation.cache_enabled": True, "app.cache_hit": hit})
            if not hit:
                t2 = self.grpc_client("python", "recommendation", g, t2, "oteldemo.ProductCatalogService", "ListProducts",
                                      "product-catalog", 3550, lambda c, tt: self.pc_list(c, tt, "recommendation"))[0]
            # filtering the ever-growing cached id list
            work = int((0.02 * count + 150.0) * MS * math.exp(self.r.gauss(0, 0.2)))
            t2 += work
            g.set_attribute("app.products.count", count)
        else:
            g.set_attributes({"app.recommendation.cache_enabled": False, "app.cache_hit": False})
            if retry:
                def fail_srv(c, tt):
                    return tt + self.d(1.5), 14, "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:10.96.137.41:3550: Connection refused"
                t2 = self.grpc_client("python", "recommendation", g, t2, "oteldemo.ProductCatalogService", "ListProducts",
                                      "product-catalog", 3550, fail_srv)[0]
                self.log("recommendation", "recommendation_server", logging.WARNING,
                         "ListProducts call to product-catalog failed, retrying once", t2 + MS, g, None, code)
                t2 += self.d(20)
            t2 = self.grpc_client("python", "recommendation", g, t2, "oteldemo.ProductCatalogService", "ListProducts",
                                  "product-catalog", 3550, lambda c, tt: self.pc_list(c, tt, "recommendation"))[0]
            t2 += self.d(1.5)
            g.set_attribute("app.products.count", len(PRODUCTS))
        self.end(g, t2)
        n = min(5, len(PRODUCTS) - len(pids))
        s.set_attributes({"app.products_recommended.count": n, "rpc.grpc.status_code": 0})
        self.log("recommendation", "recommendation_server", logging.INFO,
                 f"Receive ListRecommendations for product ids:{pids}", t1, s,
                 {"otelSpanID": format(s.get_span_context().span_id, "016x"),
                  "otelTraceID": format(s.get_span_context().trace_id, "032x"),
                  "otelServiceName": "recommendation", "otelTraceSampled": True}, code)
        end = t2 + self.d(0.1)
        self.end(s, end)
        rec = [p for p in self.ok_pids(toff) if p not in pids]
        self.r.shuffle(rec)
        return end, 0, "", rec[:n]

    # ----- ad (Java agent) ----------------------------------------------------------------------
    def ad(self, cs, t, keys, toff, slow=False, benign_warn=False):
        s = self.span("ad", "io.opentelemetry.grpc-1.6", "oteldemo.AdService/GetAds", SERVER, t, cs,
                      {"rpc.system": "grpc", "rpc.service": "oteldemo.AdService", "rpc.method": "GetAds",
                       "network.type": "ipv4", "network.peer.address": self.ip("frontend"),
                       "network.peer.port": self.r.randint(33000, 60999), "server.address": "ad", "server.port": 9555,
                       "app.ads.contextKeys": str(keys), "app.ads.contextKeys.count": len(keys)}, remote=True)
        t1 = t + self.d(0.1)
        self.flag_event(s, t1, "adFailure", "off")
        self.flag_event(s, t1 + 20_000, "adHighCpu", "on" if self.in_window("ad_high_cpu", toff) else "off")
        self.flag_event(s, t1 + 40_000, "adManualGc", "off")
        code_attrs = {"code.namespace": "oteldemo.AdService$AdServiceImpl", "code.function": "getAds"}
        work = int(self.r.uniform(1200, 4500) * MS) if slow else self.d(3.5, 0.5)
        if keys and not benign_warn:
            self.log("ad", "oteldemo.AdService", logging.INFO, f"Targeted ad request received for {keys}", t1, s,
                     code_attrs, ("AdService.java", "getAds", 0))
            i = self.span("ad", "io.opentelemetry.opentelemetry-instrumentation-annotations-1.16", "getAdsByCategory",
                          INTERNAL, t1 + self.d(0.05), s, {"app.ads.category": keys[0],
                                                           "code.namespace": "oteldemo.AdService",
                                                           "code.function": "getAdsByCategory"})
            self.end(i, t1 + self.d(0.05) + work)
            s.set_attributes({"app.ads.ad_request_type": "TARGETED", "app.ads.ad_response_type": "TARGETED",
                              "app.ads.count": self.r.randint(1, 2)})
        else:
            if benign_warn:
                self.log("ad", "oteldemo.AdService", logging.WARNING,
                         f"No ads found for context keys {keys}; falling back to random ads", t1, s,
                         code_attrs, ("AdService.java", "getAds", 0))
            else:
                self.log("ad", "oteldemo.AdService", logging.INFO,
                         "Non-targeted ad request received, preparing random response.", t1, s,
                         code_attrs, ("AdService.java", "getAds", 0))
            i = self.span("ad", "ad", "getRandomAds", INTERNAL, t1 + self.d(0.05), s)
            self.end(i, t1 + self.d(0.05) + work)
            s.set_attributes({"app.ads.ad_request_type": "NOT_TARGETED", "app.ads.ad_response_type": "RANDOM",
                              "app.ads.count": 2})
        s.set_attribute("rpc.grpc.status_code", 0)
        end = t1 + work + self.d(0.3)
        self.end(s, end)
        return end, 0, ""

    # ----- quote (PHP, Slim) and shipping (Rust, actix-web + tracing) ---------------------------
    def quote(self, cs, t, items):
        s = self.span("quote", "io.opentelemetry.contrib.php.slim", "POST /getquote", SERVER, t, cs,
                      {"http.request.method": "POST", "url.full": "http://quote:8090/getquote", "url.path": "/getquote",
                       "url.scheme": "http", "http.route": "/getquote", "network.protocol.version": "1.1",
                       "server.address": "quote", "server.port": 8090, "user_agent.original": "",
                       "http.request.body.size": 14}, remote=True)
        t1 = t + self.d(1.5)
        self.event(s, "Received get quote request, processing it", t1)
        c = self.span("quote", "quote", "calculate-quote", INTERNAL, t1 + self.d(0.05), s)
        cost = round(items * 8.99 + self.r.uniform(0, 3), 2)
        c.set_attributes({"app.quote.items.count": items, "app.quote.cost.total": cost})
        t2 = t1 + self.d(2.5)
        self.event(c, "log", t2, {"severity_text": "INFO", "severity_number": 9, "body": "Calculated quote",
                                  "total": cost})
        self.end(c, t2 + self.d(0.02))
        self.event(s, "Quote processed, response sent back", t2 + self.d(0.05), {"app.quote.cost.total": cost})
        s.set_attributes({"http.response.status_code": 200, "http.response.body.size": len(str(cost))})
        end = t2 + self.d(1.0)
        self.end(s, end)
        return end, cost

    def rust_event(self, sp, t, msg, target, file, line, level="INFO", **fields):
        a = {"level": level, "target": target, "code.filepath": file, "code.namespace": target, "code.lineno": line}
        a.update(fields)
        self.event(sp, msg, t, a)

    def shipping(self, parent, t, route, items, caller, retry_quote=False):
        s = self.span("shipping", "opentelemetry-instrumentation-actix-web", f"POST {route}", SERVER, t, parent,
                      {"http.request.method": "POST", "url.path": route, "http.route": route, "url.scheme": "http",
                       "server.address": "shipping", "server.port": 50050, "network.protocol.version": "1.1",
                       "client.address": self.ip(caller), "user_agent.original":
                           "Go-http-client/1.1" if caller == "checkout" else "node"}, remote=True)
        t1 = t + self.d(0.1)
        if route == "/get-quote":
            self.rust_event(s, t1, "Received quote request", "shipping::shipping_service",
                            "src/shipping_service.rs", 31, items=items)
            q = self.span("shipping", "shipping", "create_quote_from_count", INTERNAL, t1 + self.d(0.02), s,
                          {"code.filepath": "src/shipping_service/quote.rs", "code.namespace": "shipping::shipping_service::quote",
                           "code.lineno": 24, "count": items})
            t2 = t1 + self.d(0.05)
            for attempt in ([1, 2] if retry_quote else [1]):
                rc = self.span("shipping", "reqwest-tracing", "POST", CLIENT, t2, q,
                               {"http.request.method": "POST", "url.full": "http://quote:8090/getquote",
                                "url.scheme": "http", "server.address": "quote", "server.port": 8090,
                                "user_agent.original": "", "otel.kind": "client"})
                if retry_quote and attempt == 1:
                    t3 = t2 + self.d(3.0)
                    rc.set_attribute("error.type", "connection_reset")
                    self.err(rc, "error sending request for url (http://quote:8090/getquote): connection closed before message completed")
                    self.end(rc, t3)
                    self.rust_event(q, t3, "retrying request after transient error", "reqwest_retry::middleware",
                                    "reqwest-retry-0.7.0/src/middleware.rs", 170, level="WARN", attempt=1,
                                    error="error sending request for url (http://quote:8090/getquote): connection closed before message completed")
                    t2 = t3 + self.d(25)
                    continue
                qe, cost = self.quote(rc, t2 + self.d(0.3), items)
                rc.set_attribute("http.response.status_code", 200)
                self.end(rc, qe + self.d(0.3))
                t2 = qe + self.d(0.4)
            self.end(q, t2)
            dollars = int(cost)
            self.rust_event(s, t2 + self.d(0.05), "Sending Quote", "shipping::shipping_service",
                            "src/shipping_service.rs", 52, **{"quote.dollars": dollars,
                                                               "quote.cents": int(round((cost - dollars) * 100))})
        else:
            t2 = t1 + self.d(0.2)
            self.rust_event(s, t2, "Tracking ID Created", "shipping::shipping_service", "src/shipping_service.rs", 71,
                            tracking_id=self.uid())
            cost = 0.0
        s.set_attribute("http.response.status_code", 200)
        end = t2 + self.d(0.1)
        self.end(s, end)
        return end, cost

    # ----- payment (Node) -----------------------------------------------------------------------
    def payment(self, cs, t, amount, loyalty, toff, reject=False):
        s = self.span("payment", "@opentelemetry/instrumentation-grpc", "grpc.oteldemo.PaymentService/Charge", SERVER,
                      t, cs, {"rpc.system": "grpc", "rpc.service": "oteldemo.PaymentService", "rpc.method": "Charge"},
                      remote=True)
        t1 = t + self.d(0.8)
        s.set_attribute("app.payment.amount", amount)
        code = ("/usr/src/app/index.js", "chargeServiceHandler", 21)
        self.log("payment", "payment", logging.INFO, "Charge request received.", t1, s,
                 {"request.amount.currencyCode": "USD", "request.amount.units": int(amount)}, code)
        c = self.span("payment", "payment", "charge", INTERNAL, t1 + self.d(0.05), s)
        on = self.in_window("payment_loyalty_rejected", toff)
        t2 = self.flagd_eval(c, t1 + self.d(0.1), "paymentFailure", "on" if on else "off", "Float")
        card = self.r.choice(["visa", "visa", "mastercard"])
        c.set_attributes({"app.payment.card_type": card, "app.payment.card_valid": True, "app.loyalty.level": loyalty})
        if reject:
            t3 = t2 + self.d(0.1)
            self.end(c, t3)
            msg = f"Invalid token. app.loyalty.level={loyalty} is unsupported."
            stack = (f"Error: {msg}\n"
                     "    at module.exports.charge (/usr/src/app/charge.js:37:11)\n"
                     "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)\n"
                     "    at async Object.chargeServiceHandler [as charge] (/usr/src/app/index.js:23:22)")
            self.log("payment", "payment", logging.WARNING, msg, t3, s,
                     {"err.type": "Error", "err.message": msg, "err.stack": stack}, ("/usr/src/app/index.js", "chargeServiceHandler", 28))
            self.exc(s, t3 + 50_000, "Error", msg, stack)
            self.err(s)
            s.set_attribute("rpc.grpc.status_code", 2)
            end = t3 + self.d(0.2)
            self.end(s, end)
            return end, 2, msg
        txid = self.uid()
        c.set_attributes({"app.payment.charged": True})
        t3 = t2 + self.d(1.5)
        self.end(c, t3)
        self.log("payment", "payment", logging.INFO, "Transaction complete.", t3, s,
                 {"transactionId": txid, "cardType": card, "lastFourDigits": str(self.r.randint(1000, 9999)),
                  "amount.units": int(amount), "amount.currencyCode": "USD", "loyalty_level": loyalty},
                 ("/usr/src/app/charge.js", "module.exports.charge", 62))
        s.set_attribute("rpc.grpc.status_code", 0)
        end = t3 + self.d(0.2)
        self.end(s, end)
        return end, 0, txid

    # ----- email (Ruby, Sinatra) ----------------------------------------------------------------
    def email(self, parent, t, order_id, addr, smtp_timeout=False):
        s = self.span("email", "OpenTelemetry::Instrumentation::Rack", "POST /send_order_confirmation", SERVER, t,
                      parent, {"http.method": "POST", "http.host": "email:6060", "http.scheme": "http",
                               "http.target": "/send_order_confirmation", "http.route": "/send_order_confirmation",
                               "http.user_agent": "Go-http-client/1.1"}, remote=True)
        t1 = t + self.d(2.0)
        s.set_attribute("app.order.id", order_id)
        e = self.span("email", "email", "send_email", INTERNAL, t1, s, {"app.email.recipient": addr})
        self.event(e, "log", t1 + self.d(0.05), {"log.severity": "DEBUG",
                                                   "log.message": "Rendering confirmation.erb for order " + order_id})
        t2 = t1 + self.d(6.0)
        self.event(e, "log", t2, {"log.severity": "INFO",
                                  "log.message": f"Delivering order confirmation for order {order_id} via smtp-relay.mail.svc.cluster.local:587"})
        if smtp_timeout:
            t3 = t2 + int(self.r.uniform(5.0, 5.3) * SEC)
            self.event(e, "log", t3, {"log.severity": "ERROR", "log.progname": "email",
                                      "log.message": (f"Failed to send order confirmation to {addr} for order {order_id}: "
                                                      "Net::OpenTimeout: execution expired")})
            self.event(e, "log", t3 + self.d(0.2), {"log.severity": "INFO",
                                                    "log.message": f"Finished POST /send_order_confirmation for order {order_id}"})
            e.set_attribute("app.email.sent", False)
        else:
            t3 = t2 + self.d(12.0)
            self.event(e, "log", t3, {"log.severity": "INFO", "log.message": f"Order confirmation email sent to: {addr}"})
            e.set_attribute("app.email.sent", True)
        self.end(e, t3 + self.d(0.1))
        s.set_attribute("http.status_code", 200)
        end = t3 + self.d(2.0)
        self.end(s, end)
        return end

    # ----- kafka consumers ----------------------------------------------------------------------
    def accounting(self, pub, t, order_id, offset, partition, db_fail=False):
        s = self.span("accounting", "OpenTelemetry.AutoInstrumentation.Kafka", "orders receive", CONSUMER, t, pub,
                      {"messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation": "receive",
                       "messaging.kafka.consumer.group": "accounting", "messaging.client_id": "rdkafka",
                       "messaging.kafka.message.offset": offset, "messaging.kafka.destination.partition": partition,
                       "messaging.kafka.message.key": ""}, remote=True)
        t1 = t + self.d(0.3)
        code = ("/app/Consumer.cs", "ProcessMessage", 61)
        self.log("accounting", "Accounting.Consumer", logging.INFO, f"Order details: OrderId {order_id}", t1, s,
                 {"OrderId": order_id, "{OriginalFormat}": "Order details: OrderId {OrderId}"}, code)
        if db_fail:
            t2 = t1 + self.d(35, 0.3)
            inner = ("Npgsql.PostgresException (0x80004005): 53300: sorry, too many clients already\n"
                     "   at Npgsql.Internal.NpgsqlConnector.ReadMessageLong(Boolean async, DataRowLoadingMode dataRowLoadingMode, Boolean readingNotifications, Boolean isReadingPrependedMessage)\n"
                     "   at Npgsql.Internal.NpgsqlConnector.Authenticate(String username, NpgsqlTimeout timeout, Boolean async, CancellationToken cancellationToken)\n"
                     "   at Npgsql.Internal.NpgsqlConnector.Open(NpgsqlTimeout timeout, Boolean async, CancellationToken cancellationToken)\n"
                     "   at Npgsql.PoolingDataSource.OpenNewConnector(NpgsqlConnection conn, NpgsqlTimeout timeout, Boolean async, CancellationToken cancellationToken)\n"
                     "   at Npgsql.NpgsqlConnection.Open(Boolean async, CancellationToken cancellationToken)\n"
                     "   at Microsoft.EntityFrameworkCore.Storage.RelationalConnection.OpenDbConnection(Boolean errorsExpected)\n"
                     "   at Microsoft.EntityFrameworkCore.Update.Internal.BatchExecutor.Execute(IEnumerable`1 commandBatches, IRelationalConnection connection)\n"
                     "   at Microsoft.EntityFrameworkCore.DbContext.SaveChanges(Boolean acceptAllChangesOnSuccess)\n"
                     "   at Accounting.Consumer.ProcessMessage(Message`2 message) in /app/Consumer.cs:line 88\n"
                     "  Exception data:\n    Severity: FATAL\n    SqlState: 53300\n    MessageText: sorry, too many clients already\n"
                     "    File: proc.c\n    Line: 363\n    Routine: InitProcess")
            self.log("accounting", "Accounting.Consumer", logging.ERROR, f"Failed to save order {order_id}", t2, s,
                     {"OrderId": order_id, "{OriginalFormat}": "Failed to save order {OrderId}",
                      "exception.type": "Npgsql.PostgresException",
                      "exception.message": "53300: sorry, too many clients already",
                      "exception.stacktrace": inner}, ("/app/Consumer.cs", "ProcessMessage", 92))
            end = t2 + self.d(0.4)
        else:
            t2 = t1 + self.d(0.4)
            db = self.span("accounting", "OpenTelemetry.Instrumentation.EntityFrameworkCore", "otel", CLIENT, t2, s,
                           {"db.system": "postgresql", "db.name": "otel", "server.address": "postgresql",
                            "server.port": 5432, "network.peer.address": self.ip("postgresql"),
                            "db.statement": ('INSERT INTO "order" (order_id)\nVALUES (@p0);\n'
                                             'INSERT INTO orderitem (order_id, product_id, item_cost_currency_code, '
                                             'item_cost_nanos, item_cost_units, quantity)\n'
                                             'VALUES (@p1, @p2, @p3, @p4, @p5, @p6);\n'
                                             'INSERT INTO shipping (shipping_tracking_id, city, country, order_id, '
                                             'shipping_cost_currency_code, shipping_cost_nanos, shipping_cost_units, '
                                             'state, street_address, zip_code)\n'
                                             'VALUES (@p7, @p8, @p9, @p10, @p11, @p12, @p13, @p14, @p15, @p16);')})
            t3 = t2 + self.d(4.0)
            self.end(db, t3)
            end = t3 + self.d(0.3)
        self.end(s, end)

    def fraud(self, pub, t, order_id, offset, partition, total, slow=False):
        s = self.span("fraud-detection", "io.opentelemetry.kafka-clients-0.11", "orders process", CONSUMER, t, pub,
                      {"messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation": "process",
                       "messaging.kafka.consumer.group": "fraud-detection",
                       "messaging.client_id": "consumer-fraud-detection-1", "messaging.kafka.message.offset": offset,
                       "messaging.destination.partition.id": str(partition), "messaging.message.body.size": self.r.randint(240, 900),
                       "thread.name": "main", "thread.id": 1}, remote=True)
        work = int(self.r.uniform(1500, 6000) * MS) if slow else self.d(1.5, 0.5)
        self.log("fraud-detection", "frauddetection", logging.INFO,
                 f"Consumed record with orderId: {order_id}, and updated total count to: {total}", t + work, s,
                 {"code.namespace": "frauddetection.MainKt", "code.function": "main"}, ("main.kt", "main", 0))
        self.end(s, t + work + self.d(0.1))

    # =============================================================================================
    # Flows
    # =============================================================================================
    def flow_home(self, t, toff, rate_limited=False):
        def up(eg, t1):
            return self.frontend(eg, t1, "GET", "/", "/", lambda rs, t2: (t2 + self.d(9, 0.5), 200, None), page=True)
        self.entry(t, "GET", "/", "frontend", up, browser=False if rate_limited else None, rate_limited=rate_limited)

    def get_product_via_frontend(self, rs, t, pid, currency, toff, fail_pc=False):
        """frontend's ProductCatalogGateway.getProduct, then CurrencyGateway.convert when the currency is not USD."""
        end, code, desc = self.grpc_client("node", "frontend", rs, t, "oteldemo.ProductCatalogService", "GetProduct",
                                           "product-catalog", 3550,
                                           lambda cs, tt: self.pc_get(cs, tt, pid, toff, fail_pc))
        if code != 0:
            return end, code, desc
        if currency != "USD":
            end, code, desc = self.grpc_client("node", "frontend", rs, end + self.d(0.1), "oteldemo.CurrencyService",
                                               "Convert", "currency", 7001,
                                               lambda cs, tt: self.currency_convert(cs, tt, "USD", currency, int(PRODUCTS[pid][1])))
        return end, code, desc

    def flow_product(self, t, toff, pid=None, currency=None, fail_pc=False, unknown=False):
        if unknown:
            pid = "".join(self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(10))
        pid = pid or self.r.choice(PIDS)
        currency = currency or self.r.choice(CURRENCIES_OK)
        path = f"/api/products/{pid}" + ("" if currency == "USD" and self.r.random() < 0.5 else f"?currencyCode={currency}")

        def handler(rs, t1):
            end, code, desc = self.get_product_via_frontend(rs, t1, pid, currency, toff, fail_pc)
            if code == 0:
                return end + self.d(0.2), 200, None
            if code == 5:
                return end + self.d(0.2), 404, None
            return end + self.d(0.3), 500, self.node_grpc_error(code, desc, "pages/api/products/[productId]", 2114)

        self.entry(t, "GET", path, "frontend",
                   lambda eg, t1: self.frontend(eg, t1, "GET", path, "/api/products/[productId]", handler))

    def flow_recs(self, t, toff, leak=False, retry=False):
        pids = self.r.sample(self.ok_pids(toff), self.r.choice([1, 1, 2]))
        currency = self.r.choice(CURRENCIES_OK)
        path = f"/api/recommendations?productIds={','.join(pids)}&sessionId={self.uid()}&currencyCode={currency}"

        def handler(rs, t1):
            holder = {}

            def srv(cs, tt):
                end, code, desc, rec = self.recommendation(cs, tt, pids, toff, leak, retry)
                holder["rec"] = rec
                return end, code, desc
            end = self.grpc_client("node", "frontend", rs, t1, "oteldemo.RecommendationService", "ListRecommendations",
                                   "recommendation", 9001, srv)[0]
            t2 = end + self.d(0.2)
            ends = [t2]
            for pid in holder["rec"][:4]:  # Promise.all: in parallel
                e, _, _ = self.get_product_via_frontend(rs, t2 + self.d(0.05), pid, currency, toff)
                ends.append(e)
            return max(ends) + self.d(0.3), 200, None

        self.entry(t, "GET", path, "frontend",
                   lambda eg, t1: self.frontend(eg, t1, "GET", path, "/api/recommendations", handler))

    def flow_ads(self, t, toff, slow=False):
        keys = self.r.choice([[], [self.r.choice(AD_KEYS[:5])], [self.r.choice(AD_KEYS[:5])]])
        warn = not slow and self.r.random() < 0.06
        if warn:
            keys = [self.r.choice(["travel", "assembly"])]
        path = "/api/data" + (f"?contextKeys={keys[0]}" if keys else "")

        def handler(rs, t1):
            end = self.grpc_client("node", "frontend", rs, t1, "oteldemo.AdService", "GetAds", "ad", 9555,
                                   lambda cs, tt: self.ad(cs, tt, keys, toff, slow, warn))[0]
            return end + self.d(0.2), 200, None

        self.entry(t, "GET", path, "frontend", lambda eg, t1: self.frontend(eg, t1, "GET", path, "/api/data", handler))

    def user(self):
        return self.uid()

    def flow_cart(self, t, toff, add=False, fail=False, redis_retry=False):
        user = self.user()
        currency = self.r.choice(CURRENCIES_OK)
        item = (self.r.choice(self.ok_pids(toff)), self.r.choice([1, 1, 2, 3, 5, 10]))
        method = "POST" if add else "GET"
        path = "/api/cart" if add else f"/api/cart?sessionId={user}&currencyCode={currency}"

        def handler(rs, t1):
            if add:
                end, code, desc = self.grpc_client("node", "frontend", rs, t1, "oteldemo.CartService", "AddItem", "cart",
                                                   8080, lambda cs, tt: self.cart_call(cs, tt, "AddItem", user, toff,
                                                                                       "frontend", fail, redis_retry, item))
                if code != 0:
                    return end + self.d(0.3), 500, self.node_grpc_error(code, desc, "pages/api/cart", 1723)
                t1 = end + self.d(0.1)
            end, code, desc = self.grpc_client("node", "frontend", rs, t1, "oteldemo.CartService", "GetCart", "cart", 8080,
                                               lambda cs, tt: self.cart_call(cs, tt, "GetCart", user, toff, "frontend",
                                                                             fail and not add, redis_retry and not add))
            if code != 0:
                return end + self.d(0.3), 500, self.node_grpc_error(code, desc, "pages/api/cart", 1723)
            t2 = end + self.d(0.1)
            ends = [t2]
            for pid in self.r.sample(self.ok_pids(toff), self.r.randint(0, 3)):
                e, _, _ = self.get_product_via_frontend(rs, t2 + self.d(0.05), pid, currency, toff)
                ends.append(e)
            return max(ends) + self.d(0.2), 200, None

        self.entry(t, method, path, "frontend",
                   lambda eg, t1: self.frontend(eg, t1, method, path, "/api/cart", handler))

    def flow_currency(self, t, toff):
        path = "/api/currency"

        def handler(rs, t1):
            end = self.grpc_client("node", "frontend", rs, t1, "oteldemo.CurrencyService", "GetSupportedCurrencies",
                                   "currency", 7001, lambda cs, tt: self.currency_supported(cs, tt))[0]
            return end + self.d(0.1), 200, None

        self.entry(t, "GET", path, "frontend", lambda eg, t1: self.frontend(eg, t1, "GET", path, "/api/currency", handler))

    def flow_shipping(self, t, toff):
        items = self.r.randint(1, 6)
        currency = self.r.choice(CURRENCIES_OK)
        path = f"/api/shipping?itemList=%5B%7B%22productId%22%3A%22{self.r.choice(PIDS)}%22%2C%22quantity%22%3A{items}%7D%5D&currencyCode={currency}&address=%7B%7D"

        def handler(rs, t1):
            fc = self.span("frontend", "@opentelemetry/instrumentation-undici", "POST", CLIENT, t1, rs,
                           {"http.request.method": "POST", "url.full": "http://shipping:50050/get-quote",
                            "url.path": "/get-quote", "url.scheme": "http", "server.address": "shipping",
                            "server.port": 50050, "user_agent.original": "node"})
            end, cost = self.shipping(fc, t1 + self.d(0.3), "/get-quote", items, "frontend")
            fc.set_attribute("http.response.status_code", 200)
            self.end(fc, end + self.d(0.3))
            end += self.d(0.4)
            if currency != "USD":
                end = self.grpc_client("node", "frontend", rs, end, "oteldemo.CurrencyService", "Convert", "currency",
                                       7001, lambda cs, tt: self.currency_convert(cs, tt, "USD", currency, int(cost)))[0]
            return end + self.d(0.1), 200, None

        self.entry(t, "GET", path, "frontend", lambda eg, t1: self.frontend(eg, t1, "GET", path, "/api/shipping", handler))

    def flow_image(self, t, toff, slow=False, cancel=False):
        pid = self.r.choice(PIDS)
        img = {"OLJCESPC7Z": "NationalParkFoundationExplorascope.jpg", "66VCHSJNUP": "StarsenseExplorer.jpg",
               "1YMWWN1N4O": "EclipsmartTravelRefractorTelescope.jpg", "L9ECAV7KIM": "LensCleaningKit.jpg",
               "2ZYFJ3GM2N": "RoofBinoculars.jpg", "0PUK6V6EV0": "SolarSystemColorImager.jpg",
               "LS4PSXUNUM": "RedFlashlight.jpg", "9SIQT8TOJO": "OpticalTubeAssembly.jpg",
               "6E92ZMYYFZ": "SolarFilter.jpg", "HQTGWGPNH4": "TheCometBook.jpg"}[pid]
        path = f"/images/products/{img}"

        def up(eg, t1):
            s = self.span("image-provider", "nginx", "/images/", SERVER, t1, eg,
                          {"http.method": "GET", "http.target": path, "http.route": "/images/", "http.scheme": "http",
                           "http.flavor": "1.1", "http.user_agent": self.r.choice(self.UA_BROWSER),
                           "net.host.name": "image-provider", "net.host.port": 8081,
                           "net.sock.peer.addr": self.ip("frontend-proxy"), "net.sock.peer.port": self.r.randint(33000, 60999)},
                          remote=True)
            s.set_attributes({"http.status_code": 200, "http.response_content_length": self.r.randint(60000, 400000)})
            end = t1 + self.d(1.2, 0.5)
            self.end(s, end)
            return end, 200

        delay = int(self.r.uniform(5.0, 10.0) * SEC) if slow else 0
        self.entry(t, "GET", path, "image-provider", up, browser=True, fault_delay=delay, cancel=cancel)

    def flow_unknown_route(self, t, toff):
        path = self.r.choice(["/wp-login.php", "/.env", "/admin/config.php", "/api/v2/products", "/favicon-32x32.png",
                              "/robots.txt", "/.git/config", "/cgi-bin/luci"])

        def up(eg, t1):
            return self.frontend(eg, t1, "GET", path, "/_error", lambda rs, t2: (t2 + self.d(4, 0.5), 404, None), page=True)
        self.entry(t, "GET", path, "frontend", up, browser=True)

    def flow_cancel(self, t, toff):
        if self.r.random() < 0.5:
            self.flow_image(t, toff, cancel=True)
            return
        path = "/"

        def up(eg, t1):
            return self.frontend(eg, t1, "GET", path, "/", lambda rs, t2: (t2 + self.d(12, 0.5), 200, None), page=True)
        self.entry(t, "GET", path, "frontend", up, browser=True, cancel=True)

    def flow_checkout(self, t, toff, fault=None, retry_quote=False):
        user = self.user()
        bad_currency = fault == "currency_unsupported"
        currency = self.r.choice(CURRENCIES_BAD) if bad_currency else self.r.choice(CURRENCIES_OK)
        n_items = self.r.randint(1, 4)
        items = self.r.sample(PIDS, n_items)
        if fault == "product_catalog_failure" and BAD_PRODUCT not in items:
            items[0] = BAD_PRODUCT
        elif fault != "product_catalog_failure" and self.in_window("product_catalog_failure", toff):
            items = [p for p in items if p != BAD_PRODUCT] or ["L9ECAV7KIM"]
        loyalty = "gold" if fault == "payment_loyalty_rejected" else self.r.choice(LOYALTY)
        if fault != "payment_loyalty_rejected" and loyalty == "gold" and self.in_window("payment_loyalty_rejected", toff):
            loyalty = self.r.choice(["platinum", "silver", "bronze"])
        email_addr = self.r.choice(["someone", "jack", "alice.w", "m.garcia", "lee", "orders", "t.nguyen"]) + "@example.com"
        path = "/api/checkout"
        order_id = self.uid()
        gocode = ("/usr/src/app/main.go",)

        def place_order(cs, t0):
            s = self.span("checkout", "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                          "oteldemo.CheckoutService/PlaceOrder", SERVER, t0, cs,
                          {"rpc.system": "grpc", "rpc.service": "oteldemo.CheckoutService", "rpc.method": "PlaceOrder",
                           "network.peer.address": self.ip("frontend"), "network.peer.port": self.r.randint(33000, 60999),
                           "server.address": "checkout", "server.port": 5050,
                           "app.user.id": user, "app.user.currency": currency}, remote=True)
            t1 = t0 + self.d(0.1)
            self.log("checkout", "checkout", logging.INFO, f'[PlaceOrder] user_id="{user}" user_currency="{currency}"',
                     t1, s, {"app.user.id": user}, (gocode[0], "main.(*checkout).PlaceOrder", 276))

            def fail(t_, msg):
                s.set_attribute("rpc.grpc.status_code", 13)
                self.err(s, msg)
                end = t_ + self.d(0.1)
                self.end(s, end)
                return end, 13, msg

            # prepOrderItemsAndShippingQuoteFromCart
            end, code, desc = self.grpc_client("go", "checkout", s, t1, "oteldemo.CartService", "GetCart", "cart", 8080,
                                               lambda c, tt: self.cart_call(c, tt, "GetCart", user, toff, "checkout",
                                                                            fault == "cart_store_unreachable"))
            if code != 0:
                return fail(end, "failed to prepare order: failed to get user cart during checkout: "
                                 f"rpc error: code = {GO_CODE[code]} desc = {desc}")
            tt = end + self.d(0.1)
            for pid in items:
                end, code, desc = self.grpc_client("go", "checkout", s, tt, "oteldemo.ProductCatalogService", "GetProduct",
                                                   "product-catalog", 3550,
                                                   lambda c, t_: self.pc_get(c, t_, pid, toff,
                                                                             fault == "product_catalog_failure" and pid == BAD_PRODUCT,
                                                                             "checkout"))
                if code != 0:
                    return fail(end, f'failed to prepare order: failed to get product #"{pid}"')
                end, code, desc = self.grpc_client("go", "checkout", s, end + self.d(0.05), "oteldemo.CurrencyService",
                                                   "Convert", "currency", 7001,
                                                   lambda c, t_: self.currency_convert(c, t_, "USD", currency,
                                                                                       int(PRODUCTS[pid][1])))
                if code != 0:
                    return fail(end, f'failed to prepare order: failed to convert price of "{pid}" to {currency}')
                tt = end + self.d(0.05)
            # shipping quote over HTTP (otelhttp)
            hc = self.span("checkout", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "HTTP POST",
                           CLIENT, tt, s, {"http.method": "POST", "http.url": "http://shipping:50050/get-quote",
                                           "net.peer.name": "shipping", "net.peer.port": 50050,
                                           "http.request_content_length": 64})
            end, cost = self.shipping(hc, tt + self.d(0.3), "/get-quote", n_items, "checkout", retry_quote)
            hc.set_attributes({"http.status_code": 200, "http.response_content_length": 38})
            self.end(hc, end + self.d(0.3))
            end, code, desc = self.grpc_client("go", "checkout", s, end + self.d(0.4), "oteldemo.CurrencyService",
                                               "Convert", "currency", 7001,
                                               lambda c, t_: self.currency_convert(c, t_, "USD", currency, int(cost)))
            tt = end + self.d(0.1)
            total = round(sum(PRODUCTS[p][1] for p in items) + cost, 2)
            self.event(s, "prepared", tt)
            # payment
            unreachable = fault == "payment_unreachable"
            self.flag_event(s, tt + 10_000, "paymentUnreachable",
                            "on" if self.in_window("payment_unreachable", toff) else "off")
            if unreachable:
                c = self.span("checkout", "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                              "oteldemo.PaymentService/Charge", CLIENT, tt + 20_000, s,
                              {"rpc.system": "grpc", "rpc.service": "oteldemo.PaymentService", "rpc.method": "Charge",
                               "server.address": "badAddress", "server.port": 50051})
                e = tt + self.d(12, 0.5)
                desc = ('connection error: desc = "transport: Error while dialing: dial tcp: lookup badAddress on '
                        '10.96.0.10:53: no such host"')
                c.set_attribute("rpc.grpc.status_code", 14)
                self.err(c, desc)
                self.end(c, e)
                return fail(e, "failed to charge card: could not charge the card: "
                               f"rpc error: code = Unavailable desc = {desc}")
            end, code, txid = self.grpc_client("go", "checkout", s, tt + 20_000, "oteldemo.PaymentService", "Charge",
                                               "payment", 50051,
                                               lambda c, t_: self.payment(c, t_, total, loyalty, toff,
                                                                          fault == "payment_loyalty_rejected"))
            if code != 0:
                return fail(end, "failed to charge card: could not charge the card: "
                                 f"rpc error: code = {GO_CODE[code]} desc = {txid}")
            self.log("checkout", "checkout", logging.INFO, f"payment went through (transaction_id: {txid})", end, s,
                     {"app.payment.transaction.id": txid}, (gocode[0], "main.(*checkout).PlaceOrder", 318))
            self.event(s, "charged", end + 10_000, {"app.payment.transaction.id": txid})
            # ship order
            hc = self.span("checkout", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "HTTP POST",
                           CLIENT, end + self.d(0.1), s, {"http.method": "POST", "http.url": "http://shipping:50050/ship-order",
                                                          "net.peer.name": "shipping", "net.peer.port": 50050,
                                                          "http.request_content_length": 142})
            end, _ = self.shipping(hc, end + self.d(0.4), "/ship-order", n_items, "checkout")
            hc.set_attributes({"http.status_code": 200, "http.response_content_length": 52})
            self.end(hc, end + self.d(0.3))
            tracking = self.uid()
            self.event(s, "shipped", end + self.d(0.4), {"app.shipping.tracking.id": tracking})
            # empty cart
            end = self.grpc_client("go", "checkout", s, end + self.d(0.5), "oteldemo.CartService", "EmptyCart", "cart",
                                   8080, lambda c, t_: self.cart_call(c, t_, "EmptyCart", user, toff, "checkout"))[0]
            # email confirmation
            hc = self.span("checkout", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "HTTP POST",
                           CLIENT, end + self.d(0.1), s,
                           {"http.method": "POST", "http.url": "http://email:6060/send_order_confirmation",
                            "net.peer.name": "email", "net.peer.port": 6060, "http.request_content_length": 512})
            end = self.email(hc, end + self.d(0.4), order_id, email_addr, fault == "email_smtp_timeout")
            hc.set_attributes({"http.status_code": 200, "http.response_content_length": 0})
            self.end(hc, end + self.d(0.3))
            end += self.d(0.4)
            self.log("checkout", "checkout", logging.INFO, f'order confirmation email sent to "{email_addr}"', end, s,
                     None, (gocode[0], "main.(*checkout).PlaceOrder", 334))
            # kafka
            lag = fault == "kafka_consumer_lag"
            n_pub = 1 + (self.r.randint(3, 6) if lag else 0)
            self.flag_event(s, end + 10_000, "kafkaQueueProblems", str(n_pub - 1) if lag else "off")
            self.log("checkout", "checkout", logging.INFO, "sending to postProcessor", end + 20_000, s, None,
                     (gocode[0], "main.(*checkout).PlaceOrder", 352))
            t_pub = end + self.d(0.1)
            last = t_pub
            for k in range(n_pub):
                tp = t_pub + k * self.d(0.05)
                partition = 0
                offset = self.next_offset()
                p = self.span("checkout", "checkout", "orders publish", PRODUCER, tp, s,
                              {"messaging.system": "kafka", "messaging.destination.name": "orders",
                               "messaging.operation": "publish", "messaging.kafka.destination.partition": partition,
                               "messaging.kafka.message.offset": offset, "messaging.kafka.producer.success": True})
                dur = self.d(4.0) if not lag else self.d(30, 0.5)
                p.set_attribute("messaging.kafka.producer.duration_ms", round(dur / MS, 3))
                self.end(p, tp + dur)
                last = max(last, tp + dur)
                consume_at = tp + dur + (int(self.r.uniform(30, 240) * SEC) if lag else self.d(4, 0.6))
                self.accounting(p, consume_at + self.d(0.5), order_id, offset, partition,
                                fault == "accounting_db_write_failed" and k == 0)
                self.fraud_total += 1
                self.fraud(p, consume_at + (int(self.r.uniform(5, 60) * SEC) if lag else self.d(1.0, 0.6)),
                           order_id, offset, partition, self.fraud_total, slow=lag)
            self.log("checkout", "checkout", logging.INFO,
                     f"Successful to write message. offset: {self.offset}, duration: {round((last - t_pub) / MS, 3)}ms",
                     last, s, None, (gocode[0], "main.(*checkout).sendToPostProcessor", 541))
            s.set_attributes({"app.order.id": order_id, "app.shipping.tracking.id": tracking,
                              "app.shipping.amount": cost, "app.order.amount": total, "app.order.items.count": n_items,
                              "rpc.grpc.status_code": 0})
            end = last + self.d(0.2)
            self.end(s, end)
            return end, 0, ""

        def handler(rs, t1):
            end, code, desc = self.grpc_client("node", "frontend", rs, t1, "oteldemo.CheckoutService", "PlaceOrder",
                                               "checkout", 5050, place_order)
            if code != 0:
                return end + self.d(0.3), 500, self.node_grpc_error(code, desc, "pages/api/checkout", 2961)
            t2 = end + self.d(0.1)
            ends = [t2]
            for pid in items:
                e, _, _ = self.get_product_via_frontend(rs, t2 + self.d(0.05), pid, currency, toff)
                ends.append(e)
            return max(ends) + self.d(0.2), 200, None

        self.entry(t, "POST", path, "frontend",
                   lambda eg, t1: self.frontend(eg, t1, "POST", path, "/api/checkout", handler))

    offset = 184_220
    fraud_total = 0

    def next_offset(self):
        self.offset += 1
        return self.offset

    # =============================================================================================
    def startup_logs(self):
        """A few records without trace context, as services write them while starting."""
        t = self.base + 30 * SEC
        self.log("cart", "Microsoft.Hosting.Lifetime", logging.WARNING,
                 "Overriding HTTP_PORTS '8080' and HTTPS_PORTS ''. Binding to values defined by URLS instead 'http://*:8080'.",
                 t, None, {"{OriginalFormat}": "Overriding HTTP_PORTS '{http}' and HTTPS_PORTS '{https}'. Binding to values defined by URLS instead '{urls}'."})
        self.log("cart", "Microsoft.Hosting.Lifetime", logging.INFO, "Application started. Press Ctrl+C to shut down.",
                 t + 2 * SEC, None, {"{OriginalFormat}": "Application started. Press Ctrl+C to shut down."})
        self.log("recommendation", "recommendation_server", logging.INFO, "RecommendationService server started on port 9001",
                 t + 5 * SEC, None, None, ("/app/recommendation_server.py", "<module>", 134))
        self.log("product-catalog", "product-catalog", logging.INFO, "Loaded 10 products", t + 3 * SEC)
        self.log("product-catalog", "product-catalog", logging.INFO, "ProductCatalogService gRPC server started on port: 3550",
                 t + 3 * SEC + MS)
        self.log("payment", "payment", logging.INFO, "payment gRPC server started on 0.0.0.0:50051", t + 4 * SEC)
        self.log("ad", "oteldemo.AdService", logging.INFO, "Ad service started, listening on 9555", t + 9 * SEC)
        self.log("fraud-detection", "frauddetection", logging.INFO, "Consumer Started", t + 11 * SEC)
        self.log("accounting", "Accounting.Consumer", logging.INFO, "Connecting to Kafka: kafka:9092", t + 6 * SEC)
        self.log("currency", "currency", logging.INFO, "Currency Server listening on port: 7001", t + 2 * SEC)
        self.log("quote", "quote", logging.INFO, "Slim Application started on 0.0.0.0:8090", t + 2 * SEC)
        self.log("checkout", "checkout", logging.INFO, "service config: &{productCatalogSvcAddr:product-catalog:3550 ...}", t + 3 * SEC)
        self.log("load-generator", "locust.runners", logging.INFO, "Ramping to 10 users at a rate of 1.00 per second",
                 t + 20 * SEC, None, None, ("/usr/local/lib/python3.12/site-packages/locust/runners.py", "start", 512))
        self.log("frontend", "frontend", logging.INFO, "Ready in 1834ms", t + 4 * SEC)

    def plan(self, n):
        r = self.r
        items = []
        for kind, share in FAULTS.items():
            items += [("fault", kind)] * max(10, round(n * share))
        for kind, share in NOISE.items():
            items += [("noise", kind)] * max(3, round(n * share))
        weights = [w for _, w in FLOWS]
        while len(items) < n:
            items.append(("healthy", r.choices([f for f, _ in FLOWS], weights)[0]))
        plan = []
        for what, kind in items:
            if what == "fault":
                others = [k for k in EXCLUSIVE["checkout"] if k != kind]
                for _ in range(1000):
                    a, b = r.choice(WINDOWS[kind])
                    toff = r.uniform(a, min(b, LAST_START))
                    if not any(self.in_window(k, toff) for k in others):
                        break
            else:
                flow = kind
                if what == "noise":
                    flow = {"redis_retry": "cart_view", "rec_retry": "recs", "checkout_retry_quote": "checkout"}.get(kind, "")
                for _ in range(1000):
                    toff = r.uniform(0, LAST_START)
                    if not any(self.in_window(k, toff) for k in EXCLUSIVE.get(flow, [])):
                        break
            plan.append((toff, what, kind))
        plan.sort()
        return plan

    def run(self, n):
        self.startup_logs()
        labels = {}
        counts = {}
        noise = {}
        for toff, what, kind in self.plan(n):
            t = self.base + int(toff * SEC)
            if what == "fault":
                self.fault(kind, t, toff)
                counts[kind] = counts.get(kind, 0) + 1
            elif what == "noise":
                self.noise(kind, t, toff)
                noise[kind] = noise.get(kind, 0) + 1
            else:
                self.healthy(kind, t, toff)
            if what == "fault":
                labels[self.last_trace_id] = kind
        return labels, counts, noise

    def fault(self, kind, t, toff):
        self._mark()
        r = self.r
        if kind == "ad_high_cpu":
            self.flow_ads(t, toff, slow=True)
        elif kind == "cart_store_unreachable":
            x = r.random()
            if x < 0.35:
                self.flow_cart(t, toff, add=False, fail=True)
            elif x < 0.7:
                self.flow_cart(t, toff, add=True, fail=True)
            else:
                self.flow_checkout(t, toff, kind)
        elif kind == "product_catalog_failure":
            if r.random() < 0.7:
                self.flow_product(t, toff, pid=BAD_PRODUCT, fail_pc=True)
            else:
                self.flow_checkout(t, toff, kind)
        elif kind == "recommendation_cache_leak":
            self.flow_recs(t, toff, leak=True)
        elif kind in ("payment_loyalty_rejected", "payment_unreachable", "kafka_consumer_lag",
                      "accounting_db_write_failed", "email_smtp_timeout"):
            self.flow_checkout(t, toff, kind)
        elif kind == "image_slow_load":
            self.flow_image(t, toff, slow=True)
        elif kind == "homepage_rate_limited":
            self.flow_home(t, toff, rate_limited=True)
        elif kind == "currency_unsupported":
            if r.random() < 0.6:
                pid = r.choice(self.ok_pids(toff))
                self.flow_product(t, toff, pid=pid, currency=r.choice(CURRENCIES_BAD))
            else:
                self.flow_checkout(t, toff, kind)
        else:
            raise ValueError(kind)
        self._unmark()

    def noise(self, kind, t, toff):
        self._mark()
        if kind == "unknown_product":
            self.flow_product(t, toff, unknown=True)
        elif kind == "unknown_route":
            self.flow_unknown_route(t, toff)
        elif kind == "client_cancel":
            self.flow_cancel(t, toff)
        elif kind == "redis_retry":
            self.flow_cart(t, toff, add=False, redis_retry=True)
        elif kind == "rec_retry":
            self.flow_recs(t, toff, retry=True)
        elif kind == "checkout_retry_quote":
            self.flow_checkout(t, toff, None, retry_quote=True)
        self._unmark()

    def healthy(self, flow, t, toff):
        self._mark()
        r = self.r
        if flow == "home":
            self.flow_home(t, toff)
        elif flow == "product":
            self.flow_product(t, toff, pid=r.choice(self.ok_pids(toff)))
        elif flow == "recs":
            self.flow_recs(t, toff)
        elif flow == "ads":
            self.flow_ads(t, toff)
        elif flow == "cart_view":
            self.flow_cart(t, toff)
        elif flow == "add_cart":
            self.flow_cart(t, toff, add=True)
        elif flow == "checkout":
            self.flow_checkout(t, toff)
        elif flow == "currency":
            self.flow_currency(t, toff)
        elif flow == "shipping":
            self.flow_shipping(t, toff)
        elif flow == "image":
            self.flow_image(t, toff)
        self._unmark()

    def _mark(self):
        self._first_span_count = self.n_spans
        self.last_trace_id = None

    def _unmark(self):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--traces", type=int, default=2400)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--require-logs", action="store_true",
                    default=os.environ.get("HELDOUT4_REQUIRE_LOGS", "0") == "1",
                    help="fail when a log record was not acknowledged (default: HELDOUT4_REQUIRE_LOGS=1)")
    args = ap.parse_args()
    otlp = args.otlp.rstrip("/")

    g = Gen(args.seed, otlp)
    # Capture each trace's id: the root span is the first span started for a trace; wrap the
    # generator's trace id method so the last generated trace id is the current trace's.
    orig = g.ids.generate_trace_id

    def gen_tid():
        v = orig()
        g.last_trace_id = format(v, "032x")
        return v
    g.ids.generate_trace_id = gen_tid

    t0 = time.time()
    labels, counts, noise = g.run(args.traces)
    for s in g.S.values():
        s.provider.force_flush(300_000)
        if s.log_provider is not None:
            s.log_provider.force_flush(300_000)
    for s in g.S.values():
        s.provider.shutdown()
        if s.log_provider is not None:
            s.log_provider.shutdown()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(dict(sorted(labels.items())), fh, indent=1)
    meta = {
        "corpus": "heldout4: OpenTelemetry Demo (Astronomy Shop)",
        "seed": args.seed,
        "traces": args.traces,
        "fault_traces": len(labels),
        "healthy_traces": args.traces - len(labels),
        "kinds": dict(sorted(counts.items())),
        "noise": dict(sorted(noise.items())),
        "spans": g.n_spans,
        "spans_acknowledged": g.stats["spans_acknowledged"],
        "span_export_failures": g.stats["span_export_failures"],
        "span_events": g.n_events,
        "logs_sent": g.n_logs,
        "logs_acknowledged": g.stats["logs_acknowledged"],
        "log_export_failures": g.stats["log_export_failures"],
        "logs_with_trace_context": g.logs_ctx,
        "logs_without_trace_context": g.logs_noctx,
        "logs_by_service": dict(sorted(g.logs_by_service.items())),
        "services": sorted(SERVICES),
        "window_start_unix_nano": str(g.base),
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps(meta, indent=1))
    bad = False
    if meta["spans_acknowledged"] != meta["spans"]:
        print(f"error: {meta['spans'] - meta['spans_acknowledged']} spans were not acknowledged", file=sys.stderr)
        bad = True
    if meta["logs_acknowledged"] != meta["logs_sent"]:
        msg = f"{meta['logs_sent'] - meta['logs_acknowledged']} log records were not acknowledged"
        if args.require_logs:
            print(f"error: {msg}", file=sys.stderr)
            bad = True
        else:
            print(f"warning: {msg} (the receiver may not accept POST /v1/logs)", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
