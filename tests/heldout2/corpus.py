#!/usr/bin/env python3
"""Held-out corpus #2 for semtrace search quality: seeded, realistic distributed traces sent over
OTLP/HTTP with the real OpenTelemetry Python SDK (one TracerProvider + Resource per service,
instrumentation scopes named as the real libraries name them).

Thirteen services in eight stacks (Node.js, Go, Java, Python, Ruby, .NET, Rust, PHP), healthy
flows, decoys (healthy spans that share words with the questions), a little unlabelled business
noise (declined cards, 404s, 422s, wrong passwords) and 22 fault types, each in 5-7 places and
stacks, recorded the way each SDK / instrumentation records them (exception events with
exception.type/message/stacktrace, status descriptions, log-like span events, bare HTTP status,
error.type), with the parents failing too (wrapper exceptions, Go error chains, gRPC statuses).

Writes labels.json (trace id -> fault type, fault traces only, from the ids really sent) and
corpus_meta.json (counts) to --out, and prints the meta JSON on stdout.

Usage: corpus.py --otlp http://127.0.0.1:4318 [--seed N] [--traces N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

HERE = os.path.dirname(os.path.abspath(__file__))
R = random.Random(0)  # content; reseeded in main()

SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER = (SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL,
                                                SpanKind.PRODUCER, SpanKind.CONSUMER)

# --------------------------------------------------------------------------------------------
# services: stack, resource, instrumentation scopes
# --------------------------------------------------------------------------------------------

JAVA_AGENT = "2.6.0"
SERVICES = {
    "storefront-web": dict(stack="node", semconv="old", ns="shop", version="3.42.1", k8s_ns="shop",
                           sdk="1.25.1", runtime=("nodejs", "20.15.1", "Node.js"), host=("storefront-web", 3000)),
    "mailer": dict(stack="node", semconv="old", ns="messaging", version="1.9.4", k8s_ns="messaging",
                   sdk="1.24.1", runtime=("nodejs", "18.20.4", "Node.js"), host=("mailer", 8080)),
    "edge-gateway": dict(stack="go", semconv="new", ns="edge", version="2.11.0", k8s_ns="edge",
                         sdk="1.28.0", runtime=("go", "go1.22.5", "go version go1.22.5 linux/amd64"),
                         host=("api.acme-shop.com", 8080)),
    "cart-service": dict(stack="go", semconv="new", ns="shop", version="1.31.2", k8s_ns="shop",
                         sdk="1.28.0", runtime=("go", "go1.22.5", "go version go1.22.5 linux/amd64"),
                         host=("cart-service", 9090)),
    "activity-feed": dict(stack="go", semconv="old", ns="social", version="0.18.7", k8s_ns="social",
                          sdk="1.21.0", runtime=("go", "go1.21.11", "go version go1.21.11 linux/arm64"),
                          host=("activity-feed", 8080)),
    "accounts": dict(stack="java", semconv="new", ns="identity", version="5.3.0", k8s_ns="identity",
                     sdk="1.40.0", runtime=("OpenJDK Runtime Environment", "21.0.3+9-LTS",
                                            "Eclipse Adoptium OpenJDK 64-Bit Server VM 21.0.3+9-LTS"),
                     host=("accounts", 8080)),
    "billing": dict(stack="java", semconv="new", ns="payments", version="2024.06.3", k8s_ns="payments",
                    sdk="1.40.0", runtime=("OpenJDK Runtime Environment", "17.0.11+9",
                                           "Eclipse Adoptium OpenJDK 64-Bit Server VM 17.0.11+9"),
                    host=("billing", 8080)),
    "recommendations": dict(stack="python", semconv="old", ns="discovery", version="0.42.0", k8s_ns="discovery",
                            sdk="1.25.0", runtime=("cpython", "3.11.9", "3.11.9 (main, Jun 13 2024, 03:24:52) [GCC 12.2.0]"),
                            host=("recommendations", 8000)),
    "ingest-worker": dict(stack="python", semconv="old", ns="catalog", version="3.7.1", k8s_ns="catalog",
                          sdk="1.26.0", runtime=("cpython", "3.12.4", "3.12.4 (main, Jul  2 2024, 20:57:30) [GCC 12.2.0]"),
                          host=("ingest-worker", 0)),
    "forum": dict(stack="ruby", semconv="old", ns="community", version="7.4.2", k8s_ns="community",
                  sdk="1.5.0", runtime=("ruby", "3.3.3", "ruby 3.3.3 (2024-06-12 revision f1c7b6f435) +YJIT [x86_64-linux]"),
                  host=("community.acme-shop.com", 3000)),
    "reports-api": dict(stack="dotnet", semconv="new", ns="analytics", version="8.2.0", k8s_ns="analytics",
                        sdk="1.9.0", runtime=(".NET", "8.0.6", ".NET 8.0.6"), host=("reports-api", 8080)),
    "media-pipeline": dict(stack="rust", semconv="old", ns="media", version="0.14.2", k8s_ns="media",
                           sdk="0.23.0", runtime=("rustc", "1.79.0", "rustc 1.79.0 (129f3b996 2024-06-10)"),
                           host=("media-pipeline", 8080)),
    "cms-admin": dict(stack="php", semconv="new", ns="content", version="4.0.9", k8s_ns="content",
                      sdk="1.0.3", runtime=("fpm-fcgi", "8.3.8", "PHP 8.3.8"), host=("cms.acme-shop.com", 80)),
}

# scope key -> (name, version) per stack; an app-level "app" scope per service
SCOPES = {
    "node": {"http": ("@opentelemetry/instrumentation-http", "0.52.1"),
             "express": ("@opentelemetry/instrumentation-express", "0.41.0"),
             "graphql": ("@opentelemetry/instrumentation-graphql", "0.42.0"),
             "redis": ("@opentelemetry/instrumentation-ioredis", "0.42.0"),
             "mongo": ("@opentelemetry/instrumentation-mongodb", "0.46.0"),
             "es": ("@elastic/transport", "8.7.0"),
             "aws": ("@opentelemetry/instrumentation-aws-sdk", "0.43.0"),
             "fs": ("@opentelemetry/instrumentation-fs", "0.14.0"),
             "amqp": ("@opentelemetry/instrumentation-amqplib", "0.40.0"),
             "prisma": ("prisma", "5.16.1")},
    "go": {"http": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.53.0"),
           "grpc": ("go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "0.53.0"),
           "redis": ("github.com/redis/go-redis/extra/redisotel", "9.5.3"),
           "pg": ("github.com/exaring/otelpgx", "0.6.2"),
           "cassandra": ("go.opentelemetry.io/contrib/instrumentation/github.com/gocql/gocql/otelgocql", "0.46.1"),
           "mongo": ("go.opentelemetry.io/contrib/instrumentation/go.mongodb.org/mongo-driver/mongo/otelmongo", "0.46.1"),
           "kafka": ("github.com/twmb/franz-go/plugin/kotel", "1.5.0")},
    "java": {"http": ("io.opentelemetry.tomcat-10.0", JAVA_AGENT + "-alpha"),
             "mvc": ("io.opentelemetry.spring-webmvc-6.0", JAVA_AGENT + "-alpha"),
             "jdbc": ("io.opentelemetry.jdbc", JAVA_AGENT + "-alpha"),
             "redis": ("io.opentelemetry.lettuce-5.1", JAVA_AGENT + "-alpha"),
             "cassandra": ("io.opentelemetry.cassandra-4.4", JAVA_AGENT + "-alpha"),
             "mongo": ("io.opentelemetry.mongo-3.1", JAVA_AGENT + "-alpha"),
             "rabbit": ("io.opentelemetry.rabbitmq-2.7", JAVA_AGENT + "-alpha"),
             "kafka": ("io.opentelemetry.kafka-clients-0.11", JAVA_AGENT + "-alpha"),
             "spring-kafka": ("io.opentelemetry.spring-kafka-2.7", JAVA_AGENT + "-alpha"),
             "okhttp": ("io.opentelemetry.okhttp-3.0", JAVA_AGENT + "-alpha"),
             "http_client": ("io.opentelemetry.java-http-client", JAVA_AGENT + "-alpha"),
             "es": ("io.opentelemetry.elasticsearch-api-client-7.16", JAVA_AGENT + "-alpha"),
             "aws": ("io.opentelemetry.aws-sdk-2.2", JAVA_AGENT + "-alpha"),
             "app": ("io.opentelemetry.opentelemetry-instrumentation-annotations-1.16", JAVA_AGENT + "-alpha")},
    "python": {"http": ("opentelemetry.instrumentation.fastapi", "0.46b0"),
               "asgi": ("opentelemetry.instrumentation.asgi", "0.46b0"),
               "redis": ("opentelemetry.instrumentation.redis", "0.46b0"),
               "mongo": ("opentelemetry.instrumentation.pymongo", "0.46b0"),
               "es": ("opentelemetry.instrumentation.elasticsearch", "0.46b0"),
               "http_client": ("opentelemetry.instrumentation.httpx", "0.46b0"),
               "requests": ("opentelemetry.instrumentation.requests", "0.47b0"),
               "cassandra": ("opentelemetry.instrumentation.cassandra", "0.46b0"),
               "celery": ("opentelemetry.instrumentation.celery", "0.47b0"),
               "aws": ("opentelemetry.instrumentation.botocore", "0.47b0"),
               "pg": ("opentelemetry.instrumentation.psycopg2", "0.47b0")},
    "ruby": {"http": ("OpenTelemetry::Instrumentation::Rack", "0.24.5"),
             "pg": ("OpenTelemetry::Instrumentation::PG", "0.27.3"),
             "redis": ("OpenTelemetry::Instrumentation::Redis", "0.25.6"),
             "view": ("OpenTelemetry::Instrumentation::ActionView", "0.7.1"),
             "sidekiq": ("OpenTelemetry::Instrumentation::Sidekiq", "0.25.6"),
             "mailer": ("OpenTelemetry::Instrumentation::ActionMailer", "0.1.0"),
             "http_client": ("OpenTelemetry::Instrumentation::Net::HTTP", "0.22.6"),
             "faraday": ("OpenTelemetry::Instrumentation::Faraday", "0.24.4")},
    "dotnet": {"http": ("Microsoft.AspNetCore", "8.0.6"),
               "http_client": ("System.Net.Http", "8.0.0"),
               "sql": ("OpenTelemetry.Instrumentation.SqlClient", "1.9.0.0"),
               "redis": ("OpenTelemetry.Instrumentation.StackExchangeRedis", "1.0.0.0"),
               "mongo": ("MongoDB.Driver.Core.Extensions.DiagnosticSources", "1.4.0.0"),
               "masstransit": ("MassTransit", "8.2.3.0"),
               "aws": ("Amazon.AWS.AWSClientInstrumentation", "1.3.0.0")},
    "rust": {},  # tracing-opentelemetry: one tracer for everything (the "app" scope)
    "php": {"http": ("io.opentelemetry.contrib.php.laravel", "1.0.0beta2"),
            "pdo": ("io.opentelemetry.contrib.php.pdo", "0.0.5"),
            "guzzle": ("io.opentelemetry.contrib.php.guzzle", "1.0.0beta4"),
            "redis": ("io.opentelemetry.contrib.php.phpredis", "0.0.3")},
}
APP_SCOPES = {
    "storefront-web": ("storefront-web", "3.42.1"), "mailer": ("mailer", "1.9.4"),
    "edge-gateway": ("github.com/acme/edge-gateway/internal/proxy", ""),
    "cart-service": ("github.com/acme/cart-service/internal/cart", ""),
    "activity-feed": ("github.com/acme/activity-feed/internal/feed", ""),
    "recommendations": ("reco.service", ""), "ingest-worker": ("ingest.tasks", ""),
    "forum": ("forum", "7.4.2"), "reports-api": ("Reporting.Api", "8.2.0.0"),
    "media-pipeline": ("media-pipeline", "0.14.2"), "cms-admin": ("cms-admin", ""),
}


def stack(svc):
    return SERVICES[svc]["stack"]


def new_semconv(svc):
    return SERVICES[svc]["semconv"] == "new"


def resource_for(svc, rng):
    m = SERVICES[svc]
    lang = {"node": "nodejs", "go": "go", "java": "java", "python": "python", "ruby": "ruby",
            "dotnet": "dotnet", "rust": "rust", "php": "php"}[m["stack"]]
    pod = f"{svc}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(10))}-" \
          f"{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
    a = {"service.name": svc, "service.namespace": m["ns"], "service.version": m["version"],
         "service.instance.id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
         "telemetry.sdk.language": lang, "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": m["sdk"],
         "process.runtime.name": m["runtime"][0], "process.runtime.version": m["runtime"][1],
         "process.runtime.description": m["runtime"][2], "process.pid": rng.randint(1, 90) if lang != "php" else rng.randint(20, 4000),
         "host.name": pod, "host.arch": "arm64" if svc == "activity-feed" else "amd64", "os.type": "linux",
         "k8s.namespace.name": m["k8s_ns"], "k8s.pod.name": pod, "k8s.deployment.name": svc,
         "k8s.node.name": f"ip-10-40-{rng.randint(1, 250)}-{rng.randint(2, 250)}.eu-west-1.compute.internal",
         "container.id": "".join(rng.choice("0123456789abcdef") for _ in range(64)),
         "cloud.provider": "aws", "cloud.platform": "aws_eks", "cloud.region": "eu-west-1",
         "cloud.availability_zone": rng.choice(["eu-west-1a", "eu-west-1b", "eu-west-1c"])}
    # old and new names of the environment attribute, as the different SDK versions set it
    if m["stack"] in ("java", "dotnet", "go") and m["semconv"] == "new":
        a["deployment.environment.name"] = "production"
    else:
        a["deployment.environment"] = "production"
    if m["stack"] == "java":
        a["telemetry.distro.name"] = "opentelemetry-java-instrumentation"
        a["telemetry.distro.version"] = JAVA_AGENT
        a["process.executable.path"] = "/opt/java/openjdk/bin/java"
    if m["stack"] == "node":
        a["process.executable.name"] = "node"
        a["process.command"] = "/app/dist/server.js"
    if m["stack"] == "python":
        a["process.executable.name"] = "python"
        a["telemetry.auto.version"] = "0.46b0"
    if m["stack"] == "rust":
        a.pop("process.runtime.name")
        a["process.executable.name"] = svc
    return Resource(a)


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator, so runs repeat."""

    def __init__(self, rng):
        self.rng = rng
        self.lock = threading.Lock()

    def generate_span_id(self) -> int:
        with self.lock:
            v = 0
            while v == 0:
                v = self.rng.getrandbits(64)
            return v

    def generate_trace_id(self) -> int:
        with self.lock:
            v = 0
            while v == 0:
                v = self.rng.getrandbits(128)
            return v


class CountingExporter(OTLPSpanExporter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ok = 0
        self.failed = 0
        self.lock = threading.Lock()

    def export(self, spans):
        res = super().export(spans)
        with self.lock:
            if res == SpanExportResult.SUCCESS:
                self.ok += len(spans)
            else:
                self.failed += len(spans)
        return res


class Env:
    def __init__(self, otlp, id_rng, res_rng):
        self.providers, self.exporters, self.tracers = {}, [], {}
        ids = SeededIds(id_rng)
        for svc in SERVICES:
            exp = CountingExporter(endpoint=otlp.rstrip("/") + "/v1/traces", timeout=30)
            tp = TracerProvider(resource=resource_for(svc, res_rng), id_generator=ids)
            tp.add_span_processor(BatchSpanProcessor(exp, max_queue_size=200000, max_export_batch_size=512,
                                                     schedule_delay_millis=500))
            self.providers[svc] = tp
            self.exporters.append(exp)

    def tracer(self, svc, scope):
        key = (svc, scope)
        if key not in self.tracers:
            st = stack(svc)
            name, ver = SCOPES[st].get(scope) or APP_SCOPES.get(svc, (svc, ""))
            self.tracers[key] = self.providers[svc].get_tracer(name, ver or None)
        return self.tracers[key]

    def close(self):
        for tp in self.providers.values():
            tp.force_flush(120000)
        for tp in self.providers.values():
            tp.shutdown()
        return sum(e.ok for e in self.exporters), sum(e.failed for e in self.exporters)


# --------------------------------------------------------------------------------------------
# span tree
# --------------------------------------------------------------------------------------------

class Sp:
    def __init__(self, svc, name, kind=INTERNAL, role="internal", attrs=None, ms=None, scope="app"):
        self.svc, self.name, self.kind, self.role, self.scope = svc, name, kind, role, scope
        self.attrs = dict(attrs or {})
        self.ms = ms if ms is not None else R.uniform(0.2, 4.0)
        self.children, self.events = [], []
        self.status = None
        self.parent = None
        self.slot = None
        self.resp = None       # (http status or grpc code, message) a server span answered with
        self.recorded = False  # an exception event is on this span

    def add(self, child, slot=None):
        child.parent = self
        child.slot = slot
        self.children.append(child)
        return child

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, slot):
        for s in self.walk():
            if s.slot == slot:
                return s
        return None

    def exc(self, etype, msg, stack=None, at=None, extra=None):
        a = {"exception.type": etype}
        if msg:  # e.g. java.lang.StackOverflowError has no message
            a["exception.message"] = msg
        if stack:
            a["exception.stacktrace"] = stack
        if stack_of(self) == "python":
            a["exception.escaped"] = "False"
        if extra:
            a.update(extra)
        self.events.append(("exception", a, at))
        self.recorded = True

    def event(self, name, attrs=None, at=None):
        self.events.append((name, dict(attrs or {}), at))

    def error(self, desc=None):
        self.status = (StatusCode.ERROR, desc)

    def count(self):
        return sum(1 for _ in self.walk())


def stack_of(sp):
    return stack(sp.svc)


def emit(sp, parent_ctx, start_ns, env):
    tracer = env.tracer(sp.svc, sp.scope)
    span = tracer.start_span(sp.name, context=parent_ctx, kind=sp.kind, attributes=sp.attrs, start_time=start_ns)
    ctx = trace.set_span_in_context(span)
    t = start_ns + int(R.uniform(0.05, 0.8) * 1e6)
    for c in sp.children:
        t = emit(c, ctx, t, env) + int(R.uniform(0.02, 0.5) * 1e6)
    end = t + int(sp.ms * 1e6)
    for name, attrs, at in sp.events:
        frac = at if at is not None else R.uniform(0.85, 0.99)
        span.add_event(name, attrs, timestamp=start_ns + int((end - start_ns) * frac))
    if sp.status:
        code, desc = sp.status
        span.set_status(Status(code, desc if code == StatusCode.ERROR else None))
    span.end(end_time=end)
    return end


# --------------------------------------------------------------------------------------------
# volatile values
# --------------------------------------------------------------------------------------------

FIRST = ["anna", "liam", "sofia", "noah", "mia", "lucas", "emma", "jonas", "lea", "finn", "zoe", "mateo", "ines",
         "omar", "priya", "kenji", "ava", "elif", "tomas", "hana", "ravi", "chloe", "david", "yara"]
LAST = ["kowalski", "nguyen", "schmidt", "garcia", "okafor", "rossi", "dubois", "tanaka", "silva", "novak",
        "jensen", "haddad", "murphy", "costa", "weber", "ivanova", "lindqvist", "moreau"]
MAILDOM = ["gmail.com", "outlook.com", "yahoo.de", "proton.me", "web.de", "icloud.com", "example.org", "gmx.net"]
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
       "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
       "AcmeShop/5.12.0 (Android 14; Pixel 8) okhttp/4.12.0", "AcmeShop/5.11.2 (iOS 17.5.1) Alamofire/5.9.1"]


def pick(seq):
    return R.choice(seq)


def hexs(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


def alnum(n, chars="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"):
    return "".join(R.choice(chars) for _ in range(n))


def ip():
    return f"10.{R.randint(40, 47)}.{R.randint(0, 255)}.{R.randint(2, 254)}"


def pubip():
    return f"{pick([34, 52, 54, 18, 3, 35, 104, 151])}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(2, 254)}"


def eport():
    return R.randint(32768, 60999)


def uid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


def person():
    return pick(FIRST), pick(LAST)


def email():
    f, l = person()
    return pick([f"{f}.{l}", f"{f}{R.randint(1, 99)}", f"{f[0]}{l}", f"{f}_{l}{R.randint(70, 99)}"]) + "@" + pick(MAILDOM)


def user_id():
    return R.randint(10000, 999999)


def sku():
    return f"SKU-{R.randint(10000, 99999)}"


def order_id():
    return f"ord_{alnum(12, 'abcdefghijkmnopqrstuvwxyz0123456789')}"


def cart_id():
    return f"c_{hexs(16)}"


def psp_ref():
    return alnum(16, "0123456789ABCDEFGHJKLMNPQRSTVWXYZ")


def pod(svc):
    return f"{svc}-{alnum(9, 'bcdfghjklmnpqrstvwxz2456789')}-{alnum(5, 'bcdfghjklmnpqrstvwxz2456789')}"


def aws_req_id():
    return alnum(16)


def ext_req_id():
    return "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(76)) + "="


REASON = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
          401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity",
          429: "Too Many Requests", 499: "Client Closed Request", 500: "Internal Server Error", 502: "Bad Gateway",
          503: "Service Unavailable", 504: "Gateway Timeout"}
GRPC = {0: "OK", 1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded", 5: "NotFound",
        6: "AlreadyExists", 9: "FailedPrecondition", 10: "Aborted", 13: "Internal", 14: "Unavailable", 16: "Unauthenticated"}


# --------------------------------------------------------------------------------------------
# span constructors: attribute names and span names as each stack's instrumentation emits them
# --------------------------------------------------------------------------------------------

def rust_attrs(svc, target, file=None, line=None):
    a = {"thread.name": "tokio-runtime-worker", "thread.id": R.randint(2, 17), "busy_ns": R.randint(40000, 9000000),
         "idle_ns": R.randint(100000, 90000000), "code.namespace": target}
    if file:
        a["code.filepath"] = file
        a["code.lineno"] = line or R.randint(20, 400)
    return a


def set_http_status(sp, code):
    for k in ("http.status_code", "http.response.status_code"):
        if k in sp.attrs or (k == "http.response.status_code" and new_semconv(sp.svc)) or \
                (k == "http.status_code" and not new_semconv(sp.svc)):
            sp.attrs[k] = code
            break
    if stack_of(sp) == "node" and sp.role == "http_server":
        sp.attrs["http.status_text"] = REASON.get(code, "").upper()


def http_server(svc, method, route, path=None, status=200, name=None, query=None, ms=None):
    path = path or route
    st = stack(svc)
    host, port = SERVICES[svc]["host"]
    peer, ua = ip(), pick(UAS)
    if new_semconv(svc):
        a = {"http.request.method": method, "url.scheme": "http", "url.path": path, "http.route": route,
             "server.address": host, "server.port": port, "network.protocol.version": "1.1",
             "user_agent.original": ua, "client.address": pubip() if svc in ("edge-gateway", "cms-admin") else peer,
             "network.peer.address": peer, "network.peer.port": eport()}
        if query:
            a["url.query"] = query
        if st == "php":
            a["url.full"] = f"https://{host}{path}" + (f"?{query}" if query else "")
            a["code.function"] = "handle"
            a["code.namespace"] = "Illuminate\\Foundation\\Http\\Kernel"
            a.pop("network.peer.address")
            a.pop("network.peer.port")
    else:
        target = path + (f"?{query}" if query else "")
        a = {"http.method": method, "http.target": target, "http.scheme": "http", "http.route": route,
             "net.host.name": host, "net.host.port": port, "http.user_agent": ua}
        if st == "node":
            a.update({"http.url": f"http://{host}:{port}{target}", "http.host": f"{host}:{port}", "http.flavor": "1.1",
                      "net.peer.ip": peer, "net.peer.port": eport(), "net.transport": "ip_tcp"})
        elif st == "python":
            a.update({"http.host": f"{host}:{port}", "http.flavor": "1.1", "http.server_name": host,
                      "http.url": f"http://{host}:{port}{target}", "net.peer.ip": peer, "net.peer.port": eport()})
        elif st == "ruby":
            a.pop("net.host.name")
            a.pop("net.host.port")
            a["http.host"] = host
        elif st == "go":
            a.update({"net.sock.peer.addr": peer, "net.sock.peer.port": eport(), "net.protocol.version": "1.1",
                      "user_agent.original": a.pop("http.user_agent")})
        elif st == "rust":
            a.update(rust_attrs(svc, "tower_http::trace::make_span"))
            a["http.version"] = "HTTP/1.1"
    sp = Sp(svc, name or f"{method} {route}", SERVER, "http_server", a, ms, scope="http")
    set_http_status(sp, status)
    return sp


def http_client(svc, method, url, status=200, name=None, ms=None, scope="http_client"):
    scheme, rest = url.split("://", 1)
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    st = stack(svc)
    if new_semconv(svc) or st == "php":
        a = {"http.request.method": method, "url.full": url, "server.address": host, "server.port": port,
             "network.protocol.version": "1.1"}
        if st == "java":
            a["network.protocol.version"] = "2" if scheme == "https" else "1.1"
    else:
        a = {"http.method": method, "http.url": url, "net.peer.name": host, "net.peer.port": port}
        if st == "node":
            a.update({"http.host": hostport, "http.flavor": "1.1", "net.transport": "ip_tcp",
                      "http.target": "/" + path})
        if st == "rust":
            a.update(rust_attrs(svc, "reqwest_tracing::reqwest_otel_span_builder"))
    if name is None:
        name = {"go": method if new_semconv(svc) else f"HTTP {method}", "ruby": f"HTTP {method}",
                "python": method if scope == "requests" else f"{method}"}.get(st, method)
    if st == "java" and scope == "http_client":
        scope = "okhttp"
    if st == "php":
        scope = "guzzle"
    if st == "node":
        scope = "http"
    if st == "go":
        scope = "http"
    if st == "rust":
        scope = "app"
    if st == "python" and scope == "http_client":
        scope = "http_client"
    sp = Sp(svc, name, CLIENT, "http_client", a, ms if ms is not None else R.uniform(15, 250), scope=scope)
    set_http_status(sp, status)
    if status >= 400:
        sp.error()
        if new_semconv(svc):
            sp.attrs["error.type"] = str(status)
    return sp


def grpc_client(svc, service, method, host, port=9090):
    a = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": 0,
         "server.address": host, "server.port": port}
    return Sp(svc, f"{service}/{method}", CLIENT, "grpc_client", a, R.uniform(0.2, 2), scope="grpc")


def grpc_server(svc, service, method):
    a = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": 0,
         "network.peer.address": ip(), "network.peer.port": eport()}
    return Sp(svc, f"{service}/{method}", SERVER, "grpc_server", a, R.uniform(0.2, 2), scope="grpc")


def internal(svc, name, attrs=None, ms=None, role="internal"):
    a = dict(attrs or {})
    if stack(svc) == "rust":
        a = {**rust_attrs(svc, a.pop("_target", "media_pipeline"), a.pop("_file", None)), **a}
    scope = "mvc" if role == "controller" else "app"
    return Sp(svc, name, INTERNAL, role, a, ms, scope=scope)


def controller(svc, cls, method):
    """Spring MVC handler span (Java agent) / Rails-style controller action."""
    return internal(svc, f"{cls}.{method}", {"code.namespace": f"com.acme.{svc}.web.{cls}", "code.function": method},
                    role="controller")


DB_HOSTS = {"cart-service": ("cart-db.shop.svc.cluster.local", 5432, "cart"),
            "accounts": ("accounts-db.identity.svc.cluster.local", 5432, "accounts"),
            "billing": ("billing-db.payments.svc.cluster.local", 5432, "billing"),
            "ingest-worker": ("catalog-db.catalog.svc.cluster.local", 5432, "catalog"),
            "forum": ("forum-db.community.svc.cluster.local", 5432, "forum_production"),
            "reports-api": ("reporting-sql.analytics.svc.cluster.local", 1433, "reporting"),
            "cms-admin": ("cms-mysql.content.svc.cluster.local", 3306, "cms"),
            "storefront-web": ("storefront-db.shop.svc.cluster.local", 5432, "storefront")}


def sql(svc, op, table, stmt, ms=None):
    """A SQL statement span as that stack's database instrumentation names and tags it."""
    host, port, db = DB_HOSTS[svc]
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(0.4, 25)
    if st == "java":
        a = {"db.system": "postgresql", "db.connection_string": f"postgresql://{host}:{port}", "db.name": db,
             "db.user": f"{svc}_app", "db.statement": stmt, "db.operation": op, "db.sql.table": table,
             "server.address": host, "server.port": port}
        return Sp(svc, f"{op} {db}.{table}", CLIENT, "db", a, ms, scope="jdbc")
    if st == "go":
        a = {"db.system": "postgresql", "db.query.text": stmt, "db.operation.name": op, "db.collection.name": table,
             "db.namespace": db, "server.address": host, "server.port": port}
        return Sp(svc, f"{op} {table}", CLIENT, "db", a, ms, scope="pg")
    if st == "python":
        a = {"db.system": "postgresql", "db.name": db, "db.statement": stmt, "db.user": "ingest",
             "net.peer.name": host, "net.peer.port": port}
        return Sp(svc, op, CLIENT, "db", a, ms, scope="pg")
    if st == "ruby":
        a = {"db.system": "postgresql", "db.name": db, "db.user": "forum", "db.statement": stmt, "db.operation": op,
             "net.peer.name": host, "net.peer.port": port, "net.transport": "ip_tcp"}
        return Sp(svc, f"{op} {db}", CLIENT, "db", a, ms, scope="pg")
    if st == "dotnet":
        a = {"db.system": "mssql", "db.name": db, "db.statement": stmt, "server.address": host, "server.port": port}
        return Sp(svc, db, CLIENT, "db", a, ms, scope="sql")
    if st == "php":
        a = {"db.system": "mysql", "db.statement": stmt, "code.function": "execute", "code.namespace": "PDOStatement"}
        return Sp(svc, "PDOStatement::execute", CLIENT, "db", a, ms, scope="pdo")
    if st == "node":  # Prisma's own spans
        a = {"db.system": "postgresql", "db.statement": stmt, "db.name": db}
        return Sp(svc, "prisma:engine:db_query", CLIENT, "db", a, ms, scope="prisma")
    raise ValueError(svc)


REDIS_HOSTS = {"cart-service": "redis-cart.shop.svc.cluster.local", "recommendations": "redis-reco.discovery.svc.cluster.local",
               "forum": "redis-forum.community.svc.cluster.local", "accounts": "sessions-redis.identity.svc.cluster.local",
               "storefront-web": "redis-pages.shop.svc.cluster.local", "reports-api": "redis-reports.analytics.svc.cluster.local",
               "edge-gateway": "redis-edge.edge.svc.cluster.local", "cms-admin": "redis-cms.content.svc.cluster.local"}


def redis(svc, cmd, args, ms=None):
    host = REDIS_HOSTS[svc]
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(0.15, 2.5)
    if st == "go":
        a = {"db.system": "redis", "db.statement": f"{cmd.lower()} {args}", "server.address": host, "server.port": 6379,
             "code.function": "github.com/acme/cart-service/internal/cart.(*Store).Load" if svc == "cart-service"
             else "main.(*cache).get", "code.filepath": "/src/internal/cart/store.go", "code.lineno": 88}
        return Sp(svc, cmd.lower(), CLIENT, "cache", a, ms, scope="redis")
    if st == "node":
        a = {"db.system": "redis", "db.statement": f"{cmd.lower()} {args.split(' ')[0]}", "net.peer.name": host,
             "net.peer.port": 6379, "db.connection_string": f"redis://{host}:6379"}
        return Sp(svc, cmd.lower(), CLIENT, "cache", a, ms, scope="redis")
    if st == "python":
        a = {"db.system": "redis", "db.statement": f"{cmd.upper()} {args}", "db.redis.database_index": 0,
             "net.peer.name": host, "net.peer.port": 6379, "net.transport": "ip_tcp",
             "db.redis.args_length": len(args.split()) + 1}
        return Sp(svc, cmd.upper(), CLIENT, "cache", a, ms, scope="redis")
    if st == "ruby":
        a = {"db.system": "redis", "db.redis.database_index": 0, "db.statement": f"{cmd.upper()} ?",
             "net.peer.name": host, "net.peer.port": 6379}
        return Sp(svc, cmd.upper(), CLIENT, "cache", a, ms, scope="redis")
    if st == "java":
        a = {"db.system": "redis", "db.statement": f"{cmd.upper()} {args.split(' ')[0]} ?",
             "server.address": host, "server.port": 6379, "network.peer.address": ip(), "network.peer.port": 6379}
        return Sp(svc, cmd.upper(), CLIENT, "cache", a, ms, scope="redis")
    if st == "dotnet":
        a = {"db.system": "redis", "db.statement": cmd.upper(), "db.redis.flags": "DemandMaster",
             "db.redis.database_index": 0, "net.peer.name": host, "net.peer.port": 6379}
        return Sp(svc, cmd.upper(), CLIENT, "cache", a, ms, scope="redis")
    if st == "php":
        a = {"db.system": "redis", "db.operation.name": cmd.upper(), "server.address": host, "server.port": 6379}
        return Sp(svc, cmd.upper(), CLIENT, "cache", a, ms, scope="redis")
    raise ValueError(svc)


MONGO = {"storefront-web": ("mongo-0.mongo.shop.svc.cluster.local", "storefront"),
         "recommendations": ("mongo-reco-0.mongo-reco.discovery.svc.cluster.local", "reco"),
         "activity-feed": ("mongo-social-0.mongo-social.social.svc.cluster.local", "social"),
         "accounts": ("mongo-audit-0.mongo-audit.identity.svc.cluster.local", "audit"),
         "reports-api": ("mongo-reports-0.mongo-reports.analytics.svc.cluster.local", "reporting")}


def mongo(svc, op, coll, stmt=None, ms=None):
    host, db = MONGO[svc]
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(0.5, 12)
    stmt = stmt or json.dumps({op: coll, "filter": {"_id": "?"}})
    if st == "node":
        a = {"db.system": "mongodb", "db.name": db, "db.mongodb.collection": coll, "db.operation": op,
             "db.connection_string": f"mongodb://{host}:27017", "net.peer.name": host, "net.peer.port": 27017,
             "db.statement": stmt}
        return Sp(svc, f"mongodb.{op}", CLIENT, "mongo", a, ms, scope="mongo")
    if st == "python":
        a = {"db.system": "mongodb", "db.name": db, "db.mongodb.collection": coll, "db.statement": f"{op} {stmt}",
             "net.peer.name": host, "net.peer.port": 27017}
        return Sp(svc, f"{db}.{op}", CLIENT, "mongo", a, ms, scope="mongo")
    if st == "go":
        a = {"db.system": "mongodb", "db.operation": op, "db.mongodb.collection": coll, "db.name": db,
             "net.peer.name": host, "net.peer.port": 27017}
        return Sp(svc, f"{coll}.{op}", CLIENT, "mongo", a, ms, scope="mongo")
    if st == "java":
        a = {"db.system": "mongodb", "db.name": db, "db.operation": op, "db.mongodb.collection": coll,
             "db.statement": stmt, "db.connection_string": f"mongodb://{host}:27017",
             "server.address": host, "server.port": 27017}
        return Sp(svc, f"{op} {db}.{coll}", CLIENT, "mongo", a, ms, scope="mongo")
    if st == "dotnet":
        a = {"db.system": "mongodb", "db.name": db, "db.mongodb.collection": coll, "db.operation": op,
             "net.peer.name": host, "net.peer.port": 27017, "db.statement": stmt}
        return Sp(svc, f"{coll}.{op}", CLIENT, "mongo", a, ms, scope="mongo")
    raise ValueError(svc)


CASS = {"activity-feed": ("cassandra-social.social.svc.cluster.local", "activity"),
        "accounts": ("cassandra-identity.identity.svc.cluster.local", "identity"),
        "recommendations": ("scylla-reco.discovery.svc.cluster.local", "reco_events")}


def cassandra(svc, op, table, cql, consistency="LOCAL_QUORUM", ms=None):
    host, ks = CASS[svc]
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(0.8, 18)
    if st == "java":
        a = {"db.system": "cassandra", "db.name": ks, "db.statement": cql, "db.operation": op,
             "db.cassandra.table": f"{ks}.{table}", "db.cassandra.consistency_level": consistency,
             "db.cassandra.coordinator.dc": "eu-west-1", "db.cassandra.coordinator.id": uid(),
             "db.cassandra.idempotence": op == "SELECT", "db.cassandra.page_size": 5000,
             "db.cassandra.speculative_execution_count": 0, "server.address": host, "server.port": 9042}
        return Sp(svc, f"{op} {ks}.{table}", CLIENT, "cassandra", a, ms, scope="cassandra")
    if st == "go":
        a = {"db.system": "cassandra", "db.statement": cql, "db.operation": op, "db.name": ks,
             "db.cassandra.consistency_level": consistency.lower(), "db.cassandra.keyspace": ks,
             "net.peer.name": host, "net.peer.port": 9042}
        return Sp(svc, cql, CLIENT, "cassandra", a, ms, scope="cassandra")
    if st == "python":
        a = {"db.system": "cassandra", "db.name": ks, "db.statement": cql, "net.peer.name": host}
        return Sp(svc, "Cassandra", CLIENT, "cassandra", a, ms, scope="cassandra")
    raise ValueError(svc)


def elastic(svc, index, body, ms=None):
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(4, 90)
    if st == "python":
        a = {"db.system": "elasticsearch", "db.statement": body, "elasticsearch.url": f"/{index}/_search",
             "elasticsearch.method": "POST", "elasticsearch.target": index}
        return Sp(svc, f"Elasticsearch/{index}/_search", CLIENT, "search", a, ms, scope="es")
    if st == "node":
        a = {"db.system": "elasticsearch", "db.operation": "search", "http.request.method": "POST",
             "url.full": f"http://es-products.shop.svc.cluster.local:9200/{index}/_search",
             "db.elasticsearch.path_parts.index": index, "server.address": "es-products.shop.svc.cluster.local",
             "server.port": 9200, "db.statement": body}
        return Sp(svc, "search", CLIENT, "search", a, ms, scope="es")
    if st == "java":
        a = {"db.system": "elasticsearch", "db.operation": "search", "http.request.method": "POST",
             "url.full": f"http://es-identity.identity.svc.cluster.local:9200/{index}/_search",
             "db.elasticsearch.path_parts.index": index, "server.address": "es-identity.identity.svc.cluster.local",
             "server.port": 9200}
        return Sp(svc, "search", CLIENT, "search", a, ms, scope="es")
    if st == "ruby":
        sp = http_client(svc, "POST", f"http://es-forum.community.svc.cluster.local:9200/{index}/_search", ms=ms,
                         scope="faraday")
        sp.role = "search"
        return sp
    if st in ("php", "dotnet"):
        host = "opensearch-cms.content.svc.cluster.local" if st == "php" else "opensearch.analytics.svc.cluster.local"
        sp = http_client(svc, "POST", f"http://{host}:9200/{index}/_search", ms=ms)
        sp.role = "search"
        return sp
    raise ValueError(svc)


def s3(svc, op, bucket, key, status=200, ms=None):
    st = stack(svc)
    ms = ms if ms is not None else R.uniform(8, 160)
    rid = aws_req_id()
    if st == "python":
        a = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "aws.region": "eu-west-1",
             "aws.request_id": rid, "retry_attempts": 0, "http.status_code": status}
        return Sp(svc, f"S3.{op}", CLIENT, "s3", a, ms, scope="aws")
    if st == "java":
        a = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "aws.bucket.name": bucket,
             "aws.request_id": rid, "http.request.method": "GET" if op.startswith("Get") else "PUT",
             "http.response.status_code": status, "url.full": f"https://{bucket}.s3.eu-west-1.amazonaws.com/{key}",
             "server.address": f"{bucket}.s3.eu-west-1.amazonaws.com"}
        return Sp(svc, f"S3.{op}", CLIENT, "s3", a, ms, scope="aws")
    if st == "node":
        a = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "aws.region": "eu-west-1",
             "aws.s3.bucket": bucket, "aws.request.id": rid, "http.status_code": status}
        return Sp(svc, f"S3.{op}", CLIENT, "s3", a, ms, scope="aws")
    if st == "dotnet":
        a = {"aws.service": "S3", "aws.operation": op, "aws.region": "eu-west-1", "aws.requestId": rid,
             "rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "http.status_code": status}
        return Sp(svc, f"S3.{op}", CLIENT, "s3", a, ms, scope="aws")
    if st == "rust":
        a = {**rust_attrs(svc, "aws_smithy_runtime::client::orchestrator"), "rpc.system": "aws-api",
             "rpc.service": "s3", "rpc.method": op, "sdk_invocation_id": R.randint(1000000, 9999999)}
        return Sp(svc, "invoke", CLIENT, "s3", a, ms, scope="app")
    if st == "php":  # Flysystem -> AWS SDK for PHP -> Guzzle
        sp = http_client(svc, "GET" if op.startswith("Get") else "PUT",
                         f"https://{bucket}.s3.eu-west-1.amazonaws.com/{key}", status=status, ms=ms)
        sp.role = "s3"
        return sp
    raise ValueError(svc)


def publish(svc, system, dest, key=None):
    st = stack(svc)
    a = {"messaging.system": system, "messaging.destination.name": dest, "messaging.operation": "publish",
         "messaging.message.id": uid() if system != "kafka" else None}
    if a["messaging.message.id"] is None:
        a.pop("messaging.message.id")
    if system == "kafka":
        a.update({"messaging.kafka.destination.partition": R.randint(0, 11), "messaging.client_id": f"{svc}-producer-1"})
        if key:
            a["messaging.kafka.message.key"] = key
    if system == "rabbitmq" and key:
        a["messaging.rabbitmq.destination.routing_key"] = key
    scope = {"java": "kafka" if system == "kafka" else "rabbit", "ruby": "sidekiq", "go": "kafka", "node": "amqp"}.get(st, "app")
    return Sp(svc, f"{dest} publish", PRODUCER, "producer", a, R.uniform(0.3, 3), scope=scope)


def consume(svc, system, dest, group=None, name=None):
    st = stack(svc)
    a = {"messaging.system": system, "messaging.destination.name": dest, "messaging.operation": "process"}
    if system == "kafka":
        a.update({"messaging.kafka.consumer.group": group or f"{svc}", "messaging.kafka.message.offset": R.randint(10000, 9000000),
                  "messaging.kafka.source.partition": R.randint(0, 11), "messaging.client_id": f"consumer-{svc}-{R.randint(1, 3)}"})
    elif system == "rabbitmq":
        a.update({"messaging.message.id": uid(), "messaging.rabbitmq.destination.routing_key": dest,
                  "net.peer.name": "rabbitmq.messaging.svc.cluster.local", "net.peer.port": 5672})
    scope = {"java": "spring-kafka", "ruby": "sidekiq", "go": "kafka", "node": "amqp", "dotnet": "masstransit"}.get(st, "app")
    return Sp(svc, name or f"{dest} process", CONSUMER, "consumer", a, R.uniform(0.3, 3), scope=scope)


def celery_task(svc, task, status="SUCCESS"):
    a = {"celery.action": "run", "celery.state": status, "celery.task_name": task, "messaging.message.id": uid(),
         "messaging.destination": "ingest", "celery.delivery_info": str({"exchange": "", "routing_key": "ingest",
                                                                         "priority": 0, "redelivered": False}),
         "celery.hostname": f"celery@{pod('ingest-worker')}"}
    return Sp("ingest-worker", f"run/{task}", CONSUMER, "consumer", a, R.uniform(1, 30), scope="celery")


# --------------------------------------------------------------------------------------------
# stack traces in each runtime's own format
# --------------------------------------------------------------------------------------------

def jstack(etype, msg, frames, causes=()):
    s = f"{etype}: {msg}\n" if msg else f"{etype}\n"
    s += "".join(f"\tat {f}\n" for f in frames)
    for ct, cm, cf, more in causes:
        s += f"Caused by: {ct}: {cm}\n" if cm else f"Caused by: {ct}\n"
        s += "".join(f"\tat {f}\n" for f in cf)
        if more:
            s += f"\t... {more} more\n"
    return s


def pystack(frames, etype, msg, cause=None):
    s = ""
    if cause:
        s = cause + "\nThe above exception was the direct cause of the following exception:\n\n"
    s += "Traceback (most recent call last):\n"
    for f, line, fn, code in frames:
        s += f'  File "{f}", line {line}, in {fn}\n'
        if code:
            s += f"    {code}\n"
    return s + f"{etype}: {msg}\n"


def nodestack(etype, msg, frames):
    return f"{etype}: {msg}\n" + "".join(f"    at {f}\n" for f in frames)


def rbstack(etype, msg, frames):
    return f"{frames[0]}: {msg} ({etype})\n" + "".join(f"\tfrom {f}\n" for f in frames[1:])


def netstack(etype, msg, frames, inner=None):
    s = f"{etype}: {msg}\n"
    if inner:
        it, im, ifr = inner
        s = f"{etype}: {msg}\n ---> {it}: {im}\n" + "".join(f"   at {f}\n" for f in ifr) + \
            "   --- End of inner exception stack trace ---\n"
    return s + "".join(f"   at {f}\n" for f in frames)


def phpstack(etype, msg, frames):
    # the OpenTelemetry PHP SDK formats stack traces Java-style
    return f"{etype}: {msg}\n" + "".join(f"\tat {f}\n" for f in frames)


JAVA_WEB = ["org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
            "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.invokeHandlerMethod(RequestMappingHandlerAdapter.java:926)",
            "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.handleInternal(RequestMappingHandlerAdapter.java:831)",
            "org.springframework.web.servlet.mvc.method.AbstractHandlerMethodAdapter.handle(AbstractHandlerMethodAdapter.java:87)",
            "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
            "org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)",
            "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)"]
JAVA_TOMCAT = ["jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)",
               "org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:195)",
               "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:140)",
               "org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
               "org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
               "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1736)",
               "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
               "java.base/java.lang.Thread.run(Thread.java:1583)"]
PY_STARLETTE = [("/usr/local/lib/python3.11/site-packages/starlette/middleware/errors.py", 186, "__call__", "raise exc"),
                ("/usr/local/lib/python3.11/site-packages/starlette/routing.py", 756, "__call__", "await self.middleware_stack(scope, receive, send)"),
                ("/usr/local/lib/python3.11/site-packages/starlette/routing.py", 72, "app", "response = await func(request)"),
                ("/usr/local/lib/python3.11/site-packages/fastapi/routing.py", 278, "app", "raw_response = await run_endpoint_function("),
                ("/usr/local/lib/python3.11/site-packages/fastapi/routing.py", 191, "run_endpoint_function", "return await dependant.call(**values)")]
PY_CELERY = [("/usr/local/lib/python3.12/site-packages/celery/app/trace.py", 453, "trace_task", "R = retval = fun(*args, **kwargs)"),
             ("/usr/local/lib/python3.12/site-packages/celery/app/trace.py", 736, "__protected_call__", "return self.run(*args, **kwargs)")]
RB_RAILS = ["/usr/local/bundle/gems/actionpack-7.1.3.4/lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'",
            "/usr/local/bundle/gems/actionpack-7.1.3.4/lib/abstract_controller/base.rb:224:in `process_action'",
            "/usr/local/bundle/gems/actionpack-7.1.3.4/lib/action_controller/metal/rendering.rb:165:in `process_action'",
            "/usr/local/bundle/gems/actionpack-7.1.3.4/lib/abstract_controller/callbacks.rb:259:in `block in process_action'",
            "/usr/local/bundle/gems/activesupport-7.1.3.4/lib/active_support/callbacks.rb:121:in `block in run_callbacks'",
            "/usr/local/bundle/gems/actionpack-7.1.3.4/lib/action_controller/metal/instrumentation.rb:74:in `process_action'"]
NET_ASP = ["Microsoft.AspNetCore.Routing.EndpointMiddleware.<Invoke>g__AwaitRequestTask|7_0(Endpoint endpoint, Task requestTask, ILogger logger)",
           "Microsoft.AspNetCore.Authorization.AuthorizationMiddleware.Invoke(HttpContext context)",
           "Microsoft.AspNetCore.Authentication.AuthenticationMiddleware.Invoke(HttpContext context)",
           "Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddlewareImpl.<Invoke>g__Awaited|10_0(ExceptionHandlerMiddlewareImpl middleware, HttpContext context, Task task)"]
PHP_LARAVEL = ["Illuminate\\Routing\\ControllerDispatcher.dispatch(ControllerDispatcher.php:46)",
               "Illuminate\\Routing\\Route.runController(Route.php:260)",
               "Illuminate\\Routing\\Route.run(Route.php:206)",
               "Illuminate\\Routing\\Router.{closure}(Router.php:806)",
               "Illuminate\\Pipeline\\Pipeline.{closure}(Pipeline.php:144)",
               "Illuminate\\Foundation\\Http\\Kernel.handle(Kernel.php:145)",
               "{main}(index.php:51)"]
NODE_EXPRESS = ["Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)",
                "next (/app/node_modules/express/lib/router/route.js:149:13)",
                "Route.dispatch (/app/node_modules/express/lib/router/route.js:119:3)"]


# --------------------------------------------------------------------------------------------
# recording an error on a span, and failing the parents
# --------------------------------------------------------------------------------------------

DEFAULT = object()


def short(etype):
    t = etype.replace("::", ".").replace("\\", ".")
    return t.rsplit(".", 1)[-1].lstrip("*")


def status_desc(sp, etype, msg):
    return {"python": f"{short(etype)}: {msg}", "ruby": f"Unhandled exception of type: {etype}", "java": None,
            "go": msg, "node": msg, "dotnet": msg, "php": msg, "rust": msg}[stack_of(sp)]


def rec(sp, etype, msg, stack=None, desc=DEFAULT, extra=None):
    """record_exception + set_status(ERROR) the way the span's SDK/instrumentation does it."""
    sp.exc(etype, msg, stack, extra=extra)
    sp.error(status_desc(sp, etype, msg) if desc is DEFAULT else desc)


def go_err(sp, etype, msg):
    """Go: span.RecordError(err) (no stack trace) + span.SetStatus(codes.Error, err.Error())."""
    sp.exc(etype, msg)
    sp.error(msg)


def rust_err(sp, message, target, file, line, error=None):
    """tracing::error!(error = %e, "...") under tracing-opentelemetry: an event named by the message."""
    a = {"level": "ERROR", "target": target, "code.filepath": file, "code.namespace": target, "code.lineno": line}
    if error:
        a["exception.message"] = error
    sp.event(message, a)
    sp.error(f"{message}: {error}" if error else message)


def log_event(sp, msg, level="ERROR", **extra):
    st = stack_of(sp)
    if st == "go":
        sp.event("log", {"log.severity": level.lower(), "log.message": msg, **extra})
    elif st == "dotnet":
        sp.event(msg, {"LogLevel": level.capitalize() if level != "WARN" else "Warning", **extra})
    elif st == "node":
        sp.event("log", {"level": level.lower(), "msg": msg, **extra})
    elif st == "rust":
        sp.event(msg, {"level": level, "target": extra.pop("target", "media_pipeline"), **extra})
    else:
        sp.event("log", {"message": msg, "log.severity": level, **extra})


class Err:
    """An error as one service sees it, on its way up the span tree."""

    def __init__(self, svc, etype, msg, stack=None, status=500, grpc=13, unhandled=True, keep_after=False):
        self.svc, self.type, self.msg, self.stack = svc, etype, msg, stack
        self.status, self.grpc, self.unhandled, self.keep_after = status, grpc, unhandled, keep_after
        self.servlet_msg = None  # Spring's ServletException text, when not "Request processing failed: ..."


JAVA_5XX = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
JAVA_4XX = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            422: "UnprocessableEntity"}
FARADAY_4XX = {400: "BadRequestError", 401: "UnauthorizedError", 403: "ForbiddenError", 404: "ResourceNotFound",
               409: "ConflictError", 422: "UnprocessableEntityError"}


def caller_error(client, code, callee_msg):
    """The exception the caller's HTTP/gRPC client library raises for the callee's answer."""
    svc, st = client.svc, stack_of(client)
    url = client.attrs.get("url.full") or client.attrs.get("http.url") or ""
    method = client.attrs.get("http.request.method") or client.attrs.get("http.method") or "GET"
    reason = REASON.get(code, "")
    status = 500 if code >= 500 else code
    if client.role == "grpc_client":
        return Err(svc, "*status.Error", f"rpc error: code = {GRPC.get(code, 'Unknown')} desc = {callee_msg}",
                   status=503 if code == 14 else (499 if code == 1 else (409 if code in (6, 10) else 500)))
    if st == "node":
        return Err(svc, "ERR_BAD_RESPONSE" if code >= 500 else "ERR_BAD_REQUEST", f"Request failed with status code {code}",
                   nodestack("AxiosError", f"Request failed with status code {code}",
                             ["settle (/app/node_modules/axios/dist/node/axios.cjs:1983:12)",
                              "IncomingMessage.handleStreamEnd (/app/node_modules/axios/dist/node/axios.cjs:3085:11)",
                              "IncomingMessage.emit (node:events:531:35)",
                              "endReadableNT (node:internal/streams/readable:1696:12)",
                              "process.processTicksAndRejections (node:internal/process/task_queues:82:21)",
                              "async Axios.request (/app/node_modules/axios/dist/node/axios.cjs:4224:14)"]), status=status)
    if st == "go":  # a reverse proxy passes the status through, a client wraps it
        return Err(svc, "*errors.errorString", f"{method} {url}: unexpected status {code} {reason}", status=code)
    if st == "java":
        kind = "HttpServerErrorException" if code >= 500 else "HttpClientErrorException"
        sub = (JAVA_5XX if code >= 500 else JAVA_4XX).get(code, "")
        et = f"org.springframework.web.client.{kind}${sub}" if sub else f"org.springframework.web.client.{kind}"
        m = f"{code} {reason}: [no body]"
        return Err(svc, et, m, jstack(et, m, ["org.springframework.web.client.HttpServerErrorException.create(HttpServerErrorException.java:102)",
                                               "org.springframework.web.client.StatusHandler.lambda$defaultHandler$3(StatusHandler.java:86)",
                                               "org.springframework.web.client.DefaultRestClient$DefaultResponseSpec.toEntityInternal(DefaultRestClient.java:662)"]),
                   status=status)
    if st == "python":
        kind = "Server error" if code >= 500 else "Client error"
        m = f"{kind} '{code} {reason}' for url '{url}'\nFor more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{code}"
        return Err(svc, "httpx.HTTPStatusError", m, pystack([("/usr/local/lib/python3.11/site-packages/httpx/_models.py", 761,
                                                              "raise_for_status", "raise HTTPStatusError(message, request=request, response=self)")],
                                                            "httpx.HTTPStatusError", m), status=status)
    if st == "ruby":
        et = "Faraday::ServerError" if code >= 500 else f"Faraday::{FARADAY_4XX.get(code, 'ClientError')}"
        m = f"the server responded with status {code}"
        return Err(svc, et, m, rbstack(et, m, ["/usr/local/bundle/gems/faraday-2.9.2/lib/faraday/response/raise_error.rb:38:in `on_complete'",
                                               "/usr/local/bundle/gems/faraday-2.9.2/lib/faraday/middleware.rb:18:in `block in call'"]),
                   status=status)
    if st == "dotnet":
        m = f"Response status code does not indicate success: {code} ({reason})."
        return Err(svc, "System.Net.Http.HttpRequestException", m,
                   netstack("System.Net.Http.HttpRequestException", m,
                            ["System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()",
                             "System.Net.Http.Json.HttpClientJsonExtensions.<FromJsonAsyncCore>g__Core|12_0[TValue,TJsonOptions](HttpClient client, Task`1 responseTask, Boolean usingResponseHeadersTimeout, CancellationTokenSource linkedCTS, Func`4 deserializeMethod, TJsonOptions jsonOptions, CancellationToken cancellationToken)"]),
                   status=status)
    if st == "php":
        et = "GuzzleHttp\\Exception\\ServerException" if code >= 500 else "GuzzleHttp\\Exception\\ClientException"
        m = f"{'Server' if code >= 500 else 'Client'} error: `{method} {url}` resulted in a `{code} {reason}` response"
        return Err(svc, et, m, phpstack(et, m, ["GuzzleHttp\\Exception\\RequestException.create(RequestException.php:113)",
                                               "GuzzleHttp\\Middleware.{closure}(Middleware.php:72)"]), status=status)
    if st == "rust":
        kind = "server" if code >= 500 else "client"
        return Err(svc, "reqwest::Error", f"HTTP status {kind} error ({code} {reason}) for url ({url})", status=status)
    raise ValueError(st)


def server_fail(sp, err):
    """A server span answering with err.status (HTTP) or err.grpc (gRPC)."""
    st = stack_of(sp)
    if sp.role == "grpc_server":
        sp.attrs["rpc.grpc.status_code"] = err.grpc
        sp.resp = (err.grpc, err.msg)
        if err.grpc in (2, 4, 12, 13, 14, 15):  # otelgrpc: server errors only
            sp.error(err.msg)
        return
    code = err.status
    set_http_status(sp, code)
    sp.resp = (code, err.msg)
    if code < 500:
        return
    if st == "java":
        if err.unhandled:
            m = err.servlet_msg or f"Request processing failed: {err.type}: {err.msg}"
            sp.exc("jakarta.servlet.ServletException", m,
                   jstack("jakarta.servlet.ServletException", m, JAVA_WEB[-1:] + JAVA_TOMCAT,
                          [(err.type, err.msg, [ln[4:] for ln in err.stack.split("\n") if ln.startswith("\tat ")][:4], 38)]
                          if err.stack else ()))
            sp.attrs["error.type"] = "jakarta.servlet.ServletException"
        else:
            sp.attrs["error.type"] = str(code)
        sp.error()
    elif st == "python":
        if err.unhandled:
            rec(sp, err.type, err.msg, err.stack)
        else:
            sp.error()
    elif st == "ruby":
        if err.unhandled:
            rec(sp, err.type, err.msg, err.stack)
        else:
            sp.error()
    elif st == "dotnet":
        if err.unhandled:
            sp.exc(err.type, err.msg, err.stack)
            sp.attrs["error.type"] = err.type
        else:
            sp.attrs["error.type"] = str(code)
        sp.error()
    elif st == "php":
        if err.unhandled:
            rec(sp, err.type, err.msg, err.stack)
        else:
            sp.error()
    elif st == "node":
        if err.unhandled and not any(s.recorded for s in sp.walk() if s.svc == sp.svc) and R.random() < 0.5:
            sp.exc(err.type, err.msg, err.stack)  # the app's error-handling middleware
        sp.error()
    elif st == "go":
        sp.error()
        if new_semconv(sp.svc):
            sp.attrs["error.type"] = str(code)
    elif st == "rust":
        sp.event("response failed", {"level": "ERROR", "target": "tower_http::trace::on_failure",
                                     "classification": f"Status code: {code} {REASON.get(code, '')}",
                                     "latency": f"{int(sp.ms)} ms"})
        sp.error()


def internal_fail(sp, err):
    """An in-process parent the exception passes through; returns the error as its parent sees it."""
    st = stack_of(sp)
    if st == "go":
        op = getattr(sp, "goop", None) or sp.name.split("/")[-1].split(".")[-1].lower()
        w = Err(err.svc, "*fmt.wrapError", f"{op}: {err.msg}", status=err.status, grpc=err.grpc,
                unhandled=err.unhandled, keep_after=err.keep_after)
        go_err(sp, w.type, w.msg)
        return w
    if st == "rust":
        ctx = getattr(sp, "goop", None) or sp.name.replace("_", " ")
        w = Err(err.svc, err.type, f"{ctx}: {err.msg}", status=err.status, unhandled=err.unhandled,
                keep_after=err.keep_after)
        rust_err(sp, "error", sp.attrs.get("code.namespace", "media_pipeline"), sp.attrs.get("code.filepath", "src/main.rs"),
                 sp.attrs.get("code.lineno", 1), w.msg)
        return w
    if st == "java":
        rec(sp, err.type, err.msg, err.stack)
    elif st == "node" and sp.role == "internal" and sp.scope == "express":
        rec(sp, err.type, err.msg, err.stack)
    else:
        rec(sp, err.type, err.msg, err.stack)
    return err


def consumer_fail(sp, err):
    st = stack_of(sp)
    if st == "go":
        go_err(sp, "*fmt.wrapError", f"process {sp.attrs.get('messaging.destination.name')}: {err.msg}")
    elif st == "rust":
        rust_err(sp, "job failed", sp.attrs.get("code.namespace", "media_pipeline::worker"),
                 sp.attrs.get("code.filepath", "src/worker.rs"), 97, err.msg)
    elif sp.scope == "celery":
        sp.attrs["celery.state"] = "FAILURE"
        rec(sp, err.type, err.msg, err.stack)
    else:
        rec(sp, err.type, err.msg, err.stack)


def fail(target, err, stop_at=None):
    """Propagate err from target (already recorded on it) up to the root: parents in the same
    service wrap or re-record it, servers answer with a status, callers' clients see that status
    and raise their own library's exception; work after the failure is skipped."""
    child, cur = target, err
    while child.parent is not None and child is not stop_at:
        p = child.parent
        if not cur.keep_after:
            i = p.children.index(child)
            del p.children[i + 1:]
        if p.svc == child.svc:
            if p.role in ("http_server", "grpc_server"):
                server_fail(p, cur)
            elif p.role == "consumer":
                consumer_fail(p, cur)
                return
            elif p.role in ("producer",):
                pass
            else:
                cur = internal_fail(p, cur)
        else:
            if child.role == "consumer":  # asynchronous: the producer does not see it
                return
            if child.resp is None:
                return
            code, msg = child.resp
            if p.role == "grpc_client":
                p.attrs["rpc.grpc.status_code"] = code
                p.error(msg)
            else:
                set_http_status(p, code)
                if code < 400:
                    return
                p.error()
                if new_semconv(p.svc):
                    p.attrs["error.type"] = str(code)
            cur = caller_error(p, code, msg)
            if p.role != "grpc_client" and stack_of(p) == "go" and p.svc == "edge-gateway":
                # httputil.ReverseProxy copies the response: nothing to wrap, same status upstream
                cur.status = code
        child = p


# --------------------------------------------------------------------------------------------
# flows: healthy shapes; slots name the spans a fault can strike
# --------------------------------------------------------------------------------------------

def V(root, **kw):
    root.v = kw
    return root


def gw_entry(method, route, path=None, query=None):
    root = http_server("edge-gateway", method, route, path=path, query=query)
    root.add(redis("edge-gateway", "evalsha", f"{hexs(40)} 1 rl:{pubip()} 20 1"))  # token-bucket rate limit
    if R.random() < 0.5:
        root.add(redis("edge-gateway", "get", f"sess:{hexs(32)}"))
    return root


def gw_proxy(root, method, upstream_svc, route, path, query=None):
    host, port = SERVICES[upstream_svc]["host"]
    url = f"http://{host}.{SERVICES[upstream_svc]['k8s_ns']}.svc.cluster.local:{port}{path}" + (f"?{query}" if query else "")
    c = root.add(http_client("edge-gateway", method, url), slot="gw_client")
    srv = c.add(http_server(upstream_svc, method, route, path=path, query=query), slot="server")
    return c, srv


def f_cart_get():
    cid = cart_id()
    root = gw_entry("GET", "/api/cart")
    gc = root.add(grpc_client("edge-gateway", "cart.v1.CartService", "GetCart", "cart-service.shop.svc.cluster.local"), slot="gw_client")
    gs = gc.add(grpc_server("cart-service", "cart.v1.CartService", "GetCart"), slot="server")
    gs.add(redis("cart-service", "get", f"cart:{cid}"), slot="cache")
    if R.random() < 0.45:
        gs.add(sql("cart-service", "SELECT", "cart_items", "SELECT ci.sku, ci.qty, ci.unit_price_cents, ci.currency FROM cart_items ci "
                   "WHERE ci.cart_id = $1 ORDER BY ci.added_at"), slot="db")
        gs.add(redis("cart-service", "set", f"cart:{cid} ex 900"), slot="cache_write")
    p = gs.add(internal("cart-service", "pricing.Apply", {"cart.items": R.randint(1, 9)}), slot="logic")
    p.goop = "apply pricing"
    if R.random() < 0.6:
        p.add(http_client("cart-service", "POST", "https://api.taxly.io/v2/quotes"), slot="partner")
    return V(root, cart=cid)


def f_cart_add():
    cid, s = cart_id(), sku()
    root = gw_entry("POST", "/api/cart/items")
    gc = root.add(grpc_client("edge-gateway", "cart.v1.CartService", "AddItem", "cart-service.shop.svc.cluster.local"), slot="gw_client")
    gs = gc.add(grpc_server("cart-service", "cart.v1.CartService", "AddItem"), slot="server")
    gs.add(sql("cart-service", "SELECT", "carts", "SELECT id, version, currency, promo_code FROM carts WHERE id = $1"), slot="db")
    gs.add(sql("cart-service", "INSERT", "cart_items", "INSERT INTO cart_items (cart_id, sku, qty, unit_price_cents) VALUES ($1, $2, $3, $4) "
               "ON CONFLICT (cart_id, sku) DO UPDATE SET qty = cart_items.qty + EXCLUDED.qty"))
    gs.add(sql("cart-service", "UPDATE", "carts", "UPDATE carts SET version = version + 1, updated_at = now() WHERE id = $1 AND version = $2"),
           slot="db_update")
    pr = gs.add(internal("cart-service", "promo.Evaluate", {"promo.code": pick(["", "SUMMER15", "WELCOME10", "FREESHIP"])}), slot="logic")
    pr.goop = "evaluate promotions"
    gs.add(redis("cart-service", "del", f"cart:{cid}"), slot="cache")
    return V(root, cart=cid, sku=s)


def f_cart_clear():
    cid = cart_id()
    root = gw_entry("DELETE", "/api/cart")
    gc = root.add(grpc_client("edge-gateway", "cart.v1.CartService", "ClearCart", "cart-service.shop.svc.cluster.local"), slot="gw_client")
    gs = gc.add(grpc_server("cart-service", "cart.v1.CartService", "ClearCart"), slot="server")
    gs.add(sql("cart-service", "DELETE", "cart_items", "DELETE FROM cart_items WHERE cart_id = $1"))
    gs.add(sql("cart-service", "DELETE", "carts", "DELETE FROM carts WHERE id = $1"), slot="db_delete")
    gs.add(redis("cart-service", "del", f"cart:{cid}"), slot="cache")
    return V(root, cart=cid)


def f_feed():
    u = user_id()
    root = gw_entry("GET", "/api/feed")
    c, srv = gw_proxy(root, "GET", "activity-feed", "/v1/feed/{userId}", f"/v1/feed/{u}", query=f"limit={pick([20, 30, 50])}")
    srv.name = "/v1/feed/{userId}"  # older otelhttp: the operation name given to otelhttp.NewHandler
    srv.add(cassandra("activity-feed", "SELECT", "feed_by_user",
                      "SELECT actor_id, verb, object_id, created_at FROM feed_by_user WHERE user_id = ? LIMIT ?"), slot="cassandra")
    rk = srv.add(internal("activity-feed", "ranker.Score", {"feed.candidates": R.randint(30, 400)}), slot="logic")
    rk.goop = "score feed"
    if R.random() < 0.7:
        srv.add(mongo("activity-feed", "update", "feed_state"), slot="mongo")
    return V(root, user=u)


def f_feed_event():
    root = consume("activity-feed", "kafka", "activity-events", group="activity-feed-fanout")
    v = root.add(internal("activity-feed", "events.Validate"), slot="logic")
    v.goop = "validate event"
    root.add(cassandra("activity-feed", "INSERT", "feed_by_user",
                       "INSERT INTO feed_by_user (user_id, created_at, actor_id, verb, object_id) VALUES (?, ?, ?, ?, ?) USING TTL 2592000"),
             slot="cassandra")
    if R.random() < 0.5:
        root.add(cassandra("activity-feed", "UPDATE", "unread_counts", "UPDATE unread_counts SET n = n + 1 WHERE user_id = ?"))
    return V(root, offset=root.attrs["messaging.kafka.message.offset"], partition=root.attrs["messaging.kafka.source.partition"])


def sf_entry(method, route, path=None, query=None, mw_max=2, mw_min=0):
    root = http_server("storefront-web", method, route, path=path, query=query)
    for mw in R.sample(["query", "expressInit", "jsonParser", "session", "corsMiddleware"], R.randint(mw_min, mw_max)):
        root.add(Sp("storefront-web", f"middleware - {mw}", INTERNAL, "internal",
                    {"express.name": mw, "express.type": "middleware", "http.route": "/"}, R.uniform(0.05, 0.6), scope="express"))
    return root


def sf_call(parent, method, svc, route, path):
    host, port = SERVICES[svc]["host"]
    c = parent.add(http_client("storefront-web", method, f"http://{host}.{SERVICES[svc]['k8s_ns']}.svc.cluster.local:{port}{path}"),
                   slot="sf_client")
    srv = c.add(http_server(svc, method, route, path=path), slot="server")
    return c, srv


def handler(svc, route):
    return Sp(svc, f"request handler - {route}", INTERNAL, "internal",
              {"express.name": route, "express.type": "request_handler", "http.route": route}, R.uniform(0.2, 3), scope="express")


def f_signup():
    em = email()
    root = sf_entry("POST", "/signup", mw_max=1, mw_min=1)
    h = root.add(handler("storefront-web", "/signup"), slot="sf_handler")
    c, srv = sf_call(h, "POST", "accounts", "/api/v1/users", "/api/v1/users")
    ctl = srv.add(controller("accounts", "UserController", "register"), slot="logic")
    ctl.add(sql("accounts", "SELECT", "users", "select u1_0.id from users u1_0 where lower(u1_0.email)=lower(?) fetch first ? rows only"))
    ctl.add(sql("accounts", "INSERT", "users", "insert into users (created_at,email,display_name,password_hash,status,id) values (?,?,?,?,?,?)"),
            slot="db_insert")
    pb = ctl.add(publish("accounts", "rabbitmq", "user.events", key="user.created"))
    mc = pb.add(consume("mailer", "rabbitmq", "email.welcome"), slot="consumer")
    mc.add(internal("mailer", "render welcome", {"email.template": "welcome-v4", "email.locale": pick(["en", "de", "fr", "nl"])}))
    mc.add(smtp_span("mailer"), slot="smtp")
    return V(root, email=em)


def smtp_span(svc):
    host = {"mailer": "smtp.eu.mailgun.org", "forum": "email-smtp.eu-west-1.amazonaws.com", "accounts": "smtp.eu.mailgun.org",
            "ingest-worker": "smtp.office365.com", "reports-api": "smtp.office365.com"}[svc]
    st = stack(svc)
    a = {"server.address": host, "server.port": 587, "network.transport": "tcp", "email.to.count": 1}
    if st == "ruby":
        return Sp(svc, "deliver.action_mailer", INTERNAL, "smtp", {"email.message_id": f"<{hexs(24)}@forum.mail>",
                                                                  "email.mailer": "UserMailer", "email.subject": "[redacted]"},
                  R.uniform(80, 600), scope="mailer")
    if st == "java":
        return Sp(svc, "MailService.send", INTERNAL, "smtp", {"code.namespace": "com.acme.accounts.mail.MailService",
                                                             "code.function": "send", **a}, R.uniform(80, 700), scope="app")
    if st == "rust":
        return Sp(svc, "smtp send", CLIENT, "smtp", a, R.uniform(80, 600))
    return Sp(svc, "smtp send" if st != "python" else "smtplib.SMTP.send_message", CLIENT, "smtp", a, R.uniform(80, 700), scope="app")


def f_login():
    root = sf_entry("POST", "/login")
    h = root.add(handler("storefront-web", "/login"), slot="sf_handler")
    c, srv = sf_call(h, "POST", "accounts", "/api/v1/sessions", "/api/v1/sessions")
    ctl = srv.add(controller("accounts", "SessionController", "create"), slot="logic")
    ctl.add(sql("accounts", "SELECT", "users", "select u1_0.id,u1_0.email,u1_0.password_hash,u1_0.status from users u1_0 where lower(u1_0.email)=lower(?)"))
    ctl.add(redis("accounts", "set", f"sess:{hexs(32)} ex 86400"), slot="cache")
    if R.random() < 0.6:
        ctl.add(cassandra("accounts", "INSERT", "login_history",
                          "INSERT INTO login_history (user_id, at, ip, user_agent, outcome) VALUES (?, ?, ?, ?, ?)"), slot="cassandra")
    if R.random() < 0.5:
        ctl.add(mongo("accounts", "insert", "audit_events", json.dumps({"insert": "audit_events", "ordered": True,
                                                                        "documents": [{"type": "?", "actor": "?", "at": "?"}]})), slot="mongo")
    return V(root)


def f_profile():
    u = user_id()
    root = sf_entry("GET", "/account")
    h = root.add(handler("storefront-web", "/account"), slot="sf_handler")
    c, srv = sf_call(h, "GET", "accounts", "/api/v1/users/{id}", f"/api/v1/users/{u}")
    if R.random() < 0.4:
        srv.add(redis("accounts", "get", f"user:{u}"))
    ctl = srv.add(controller("accounts", "UserController", "get"), slot="logic")
    ctl.add(sql("accounts", "SELECT", "users", "select u1_0.id,u1_0.display_name,u1_0.email,u1_0.billing_address_id from users u1_0 where u1_0.id=?"))
    ctl.add(sql("accounts", "SELECT", "addresses", "select a1_0.id,a1_0.country_code,a1_0.city,a1_0.line1 from addresses a1_0 where a1_0.user_id=?"))
    if R.random() < 0.4:
        ctl.add(sql("accounts", "SELECT", "roles", "select r1_0.user_id,r1_1.id,r1_1.name from user_roles r1_0 join roles r1_1 on r1_1.id=r1_0.role_id where r1_0.user_id=?"))
    return V(root, user=u)


def f_prefs():
    u = user_id()
    root = sf_entry("POST", "/account/preferences")
    h = root.add(handler("storefront-web", "/account/preferences"), slot="sf_handler")
    c, srv = sf_call(h, "PUT", "accounts", "/api/v1/users/{id}/preferences", f"/api/v1/users/{u}/preferences")
    ctl = srv.add(controller("accounts", "UserPreferencesController", "update"), slot="logic")
    ctl.add(sql("accounts", "SELECT", "user_preferences", "select up1_0.user_id,up1_0.newsletter,up1_0.locale,up1_0.version from user_preferences up1_0 where up1_0.user_id=?"))
    ctl.add(sql("accounts", "UPDATE", "user_preferences", "update user_preferences set locale=?,newsletter=?,version=? where user_id=? and version=?"),
            slot="db_update")
    return V(root, user=u)


def f_close_account():
    u = user_id()
    root = sf_entry("POST", "/account/close")
    h = root.add(handler("storefront-web", "/account/close"), slot="sf_handler")
    c, srv = sf_call(h, "DELETE", "accounts", "/api/v1/users/{id}", f"/api/v1/users/{u}")
    ctl = srv.add(controller("accounts", "UserController", "delete"), slot="logic")
    ctl.add(sql("accounts", "DELETE", "sessions", "delete from sessions where user_id=?"))
    ctl.add(sql("accounts", "DELETE", "users", "delete from users where id=?"), slot="db_delete")
    ctl.add(smtp_span("accounts"), slot="smtp")
    if R.random() < 0.5:
        ctl.add(mongo("accounts", "insert", "audit_events"), slot="mongo")
    return V(root, user=u)


def f_admin_user_search():
    root = http_server("accounts", "GET", "/api/v1/admin/users/search", query=f"q={pick(FIRST)}")
    ctl = root.add(controller("accounts", "AdminUserController", "search"), slot="logic")
    ctl.add(elastic("accounts", "users", ""), slot="search")
    ctl.add(sql("accounts", "SELECT", "users", "select u1_0.id,u1_0.display_name,u1_0.status from users u1_0 where u1_0.id in (?,?,?,?,?,?,?,?)"))
    return V(root)


def f_product_page():
    slug = pick(["trail-runner-gtx", "merino-crew-sock", "alpine-shell-jacket", "ceramic-pour-over", "oak-desk-organizer",
                 "linen-duvet-cover", "waxed-canvas-tote", "cast-iron-skillet-26"])
    root = sf_entry("POST", "/graphql")
    root.add(Sp("storefront-web", "graphql.parse", INTERNAL, "internal", {"graphql.source": "query ProductPage($slug: String!) { ... }"},
                R.uniform(0.1, 0.6), scope="graphql"))
    root.add(Sp("storefront-web", "graphql.validate", INTERNAL, "internal", {"graphql.source": "query ProductPage($slug: String!) { ... }"},
                R.uniform(0.1, 0.6), scope="graphql"), slot="gql_validate")
    ex = root.add(Sp("storefront-web", "query ProductPage", INTERNAL, "internal",
                     {"graphql.operation.type": "query", "graphql.operation.name": "ProductPage",
                      "graphql.source": "query ProductPage($slug: String!) { product(slug: $slug) { id name price { amount currency } reviews { rating body } related { id } } }"},
                     R.uniform(0.5, 3), scope="graphql"), slot="gql")
    ex.add(redis("storefront-web", "get", f"page:product:{slug}"), slot="cache")
    rs = ex.add(Sp("storefront-web", "graphql.resolve product", INTERNAL, "internal",
                   {"graphql.field.name": "product", "graphql.field.path": "product", "graphql.field.type": "Product"},
                   R.uniform(0.2, 2), scope="graphql"), slot="logic")
    rs.add(mongo("storefront-web", "find", "products", json.dumps({"find": "products", "filter": {"slug": "?"}, "limit": 1})))
    if R.random() < 0.6:
        ex.add(mongo("storefront-web", "find", "reviews", json.dumps({"find": "reviews", "filter": {"product_id": "?"}, "sort": {"created_at": -1}, "limit": 20})),
               slot="mongo")
    if R.random() < 0.6:
        ex.add(elastic("storefront-web", "products", json.dumps({"query": {"more_like_this": {"fields": ["name", "tags"], "like": "?"}}, "size": 8})),
               slot="search")
    return V(root, slug=slug)


def f_image():
    name = f"{pick(['hero', 'pdp', 'thumb', 'banner'])}-{hexs(8)}.{pick(['webp', 'jpg', 'avif'])}"
    root = sf_entry("GET", "/_next/image", mw_min=1, query=f"url=%2Fmedia%2F{name}&w={pick([384, 640, 828, 1080])}&q=75")
    h = root.add(handler("storefront-web", "/_next/image"), slot="sf_handler")
    if R.random() < 0.5:
        h.add(Sp("storefront-web", "fs readFile", INTERNAL, "fs", {}, R.uniform(0.1, 2), scope="fs"), slot="fs")
        h.add(s3("storefront-web", "GetObject", "acme-shop-media", f"media/{name}"), slot="s3")
    else:
        h.add(http_client("storefront-web", "GET", f"https://cdn-img.acme-shop.com/media/{name}"), slot="partner")
        h.add(Sp("storefront-web", "fs writeFile", INTERNAL, "fs", {}, R.uniform(0.1, 2), scope="fs"), slot="fs")
    return V(root, key=f"media/{name}")


def f_newsletter():
    root = sf_entry("POST", "/api/newsletter")
    h = root.add(handler("storefront-web", "/api/newsletter"), slot="sf_handler")
    op = h.add(Sp("storefront-web", "prisma:client:operation", INTERNAL, "internal",
                  {"model": "NewsletterSubscriber", "method": "create", "name": "NewsletterSubscriber.create"}, R.uniform(0.5, 3),
                  scope="prisma"))
    op.add(sql("storefront-web", "INSERT", "newsletter_subscribers",
               'INSERT INTO "public"."NewsletterSubscriber" ("id","email","locale","createdAt") VALUES ($1,$2,$3,$4) RETURNING "public"."NewsletterSubscriber"."id"'),
           slot="db_insert")
    return V(root, email=email())


def f_sf_stripe_webhook():
    root = sf_entry("POST", "/api/webhooks/stripe", mw_min=1)
    h = root.add(handler("storefront-web", "/api/webhooks/stripe"), slot="webhook")
    op = h.add(Sp("storefront-web", "prisma:client:operation", INTERNAL, "internal",
                  {"model": "GiftCard", "method": "update", "name": "GiftCard.update"}, R.uniform(0.5, 3), scope="prisma"))
    op.add(sql("storefront-web", "UPDATE", "gift_cards", 'UPDATE "public"."GiftCard" SET "status" = $1, "stripePaymentIntent" = $2 WHERE "id" = $3'))
    return V(root)


def f_sf_recs_gql():
    """storefront GraphQL -> edge-gateway -> recommendations (Python)"""
    root = sf_entry("POST", "/graphql")
    ex = root.add(Sp("storefront-web", "query HomeFeed", INTERNAL, "internal",
                     {"graphql.operation.type": "query", "graphql.operation.name": "HomeFeed",
                      "graphql.source": "query HomeFeed { recommended(first: 12) { id name price { amount } } }"},
                     R.uniform(0.5, 3), scope="graphql"), slot="gql")
    u = user_id()
    c = ex.add(http_client("storefront-web", "GET", f"http://api.acme-shop.com:8080/api/recommendations/{u}"), slot="sf_client")
    g = c.add(http_server("edge-gateway", "GET", "/api/recommendations/{userId}", path=f"/api/recommendations/{u}"))
    gc, srv = gw_proxy(g, "GET", "recommendations", "/recommendations/{user_id}", f"/recommendations/{u}")
    srv.add(redis("recommendations", "get", f"reco:u:{u}"), slot="cache")
    srv.add(mongo("recommendations", "find", "user_profiles"), slot="mongo")
    return V(root, user=u)


def f_search():
    q = pick(["rain jacket", "wool socks", "espresso", "desk lamp", "trail shoes", "duvet", "gift card", "yoga mat", "kids boots"])
    root = gw_entry("GET", "/api/search", query=f"q={q.replace(' ', '+')}")
    c, srv = gw_proxy(root, "GET", "recommendations", "/search", "/search", query=f"q={q.replace(' ', '+')}&page=1")
    srv.add(redis("recommendations", "get", f"search:{hexs(12)}"), slot="cache")
    srv.add(elastic("recommendations", "products-v7", json.dumps({"query": {"multi_match": {"query": "?", "fields": ["name^3", "description", "tags"]}},
                                                                   "size": 24, "from": 0})), slot="search")
    if R.random() < 0.6:
        srv.add(mongo("recommendations", "find", "products"), slot="mongo")
    return V(root, q=q)


def f_recs():
    u = user_id()
    root = gw_entry("GET", "/api/recommendations/{userId}", path=f"/api/recommendations/{u}")
    c, srv = gw_proxy(root, "GET", "recommendations", "/recommendations/{user_id}", f"/recommendations/{u}")
    srv.add(redis("recommendations", "get", f"reco:u:{u}"), slot="cache")
    srv.add(mongo("recommendations", "find", "user_profiles"), slot="mongo")
    if R.random() < 0.7:
        srv.add(cassandra("recommendations", "SELECT", "recent_views",
                          "SELECT sku, viewed_at FROM recent_views WHERE user_id = %s LIMIT 50"), slot="cassandra")
    rk = srv.add(internal("recommendations", "rank_candidates", {"reco.candidates": R.randint(50, 800), "reco.model": "als-v12"}),
                 slot="logic")
    if R.random() < 0.5:
        rk.add(http_client("recommendations", "POST", "https://api.openai.com/v1/embeddings"), slot="partner")
    return V(root, user=u)


def f_reco_profile():
    u = user_id()
    root = http_server("recommendations", "PUT", "/profiles/{user_id}", path=f"/profiles/{u}")
    root.add(mongo("recommendations", "find", "user_profiles"))
    root.add(mongo("recommendations", "update", "user_profiles",
                   json.dumps({"update": "user_profiles", "updates": [{"q": {"external_id": "?"}, "u": {"$set": "?"}, "upsert": True}],
                               "writeConcern": {"w": "majority", "wtimeout": 5000}})), slot="mongo_write")
    if R.random() < 0.5:
        root.add(redis("recommendations", "delete", f"reco:u:{u}"))
    return V(root, user=u)


def f_reco_signup_profile():
    u = user_id()
    root = http_server("recommendations", "POST", "/profiles", path="/profiles")
    root.add(internal("recommendations", "build_cold_start_profile", {"reco.segment": pick(["new", "returning", "gift"])}))
    root.add(mongo("recommendations", "insert", "user_profiles"), slot="db_insert")
    return V(root, user=u)


def f_reco_shopify_webhook():
    root = http_server("recommendations", "POST", "/webhooks/shopify/{topic}", path="/webhooks/shopify/products-update")
    root.add(mongo("recommendations", "find", "shops", json.dumps({"find": "shops", "filter": {"domain": "?"}, "limit": 1})))
    root.add(internal("recommendations", "verify_webhook", {"shopify.topic": "products/update",
                                                           "shopify.shop_domain": "acme-wholesale.myshopify.com"}), slot="webhook")
    root.add(mongo("recommendations", "update", "products"))
    return V(root)


def f_categories():
    root = http_server("recommendations", "GET", "/categories/tree", path="/categories/tree")
    root.add(redis("recommendations", "get", "cat:tree:v3"))
    root.add(mongo("recommendations", "find", "categories"))
    root.add(internal("recommendations", "build_tree", {"categories.count": R.randint(900, 2400)}), slot="logic")
    return V(root)


def f_checkout():
    oid = order_id()
    root = gw_entry("POST", "/api/checkout")
    c, srv = gw_proxy(root, "POST", "billing", "/api/v1/payments", "/api/v1/payments")
    ctl = srv.add(controller("billing", "PaymentController", "authorize"), slot="logic")
    ctl.add(sql("billing", "INSERT", "payments", "insert into payments (amount_minor,currency,order_id,status,version,id) values (?,?,?,?,?,?)"))
    gw = ctl.add(internal("billing", "AdyenGateway.authorize", {"code.namespace": "com.acme.billing.psp.AdyenGateway",
                                                               "code.function": "authorize"}), slot="breaker")
    gw.add(http_client("billing", "POST", "https://checkout-live.adyenpayments.com/checkout/v71/payments"), slot="partner")
    ctl.add(sql("billing", "UPDATE", "payments", "update payments set psp_reference=?,result_code=?,status=?,version=? where id=? and version=?"),
            slot="db_update")
    ctl.add(publish("billing", "kafka", "payments.authorized", key=oid))
    return V(root, order=oid)


def f_billing_webhook():
    root = http_server("billing", "POST", "/webhooks/adyen", path="/webhooks/adyen")
    ctl = root.add(controller("billing", "AdyenWebhookController", "handle"), slot="webhook")
    ctl.add(sql("billing", "SELECT", "merchant_accounts", "select ma1_0.id,ma1_0.hmac_key_ref from merchant_accounts ma1_0 where ma1_0.code=?"))
    ctl.add(sql("billing", "UPDATE", "payments", "update payments set status=?,settled_at=?,version=? where psp_reference=? and version=?"))
    ctl.add(publish("billing", "kafka", "payments.settled", key=psp_ref()))
    return V(root, psp=psp_ref())


def f_invoice():
    oid = order_id()
    root = consume("billing", "kafka", "orders.completed", group="billing-invoicing")
    root.add(sql("billing", "SELECT", "orders", "select o1_0.id,o1_0.customer_id,o1_0.total_minor,o1_0.currency from orders o1_0 where o1_0.id=?"))
    rd = root.add(internal("billing", "InvoiceRenderer.render", {"code.namespace": "com.acme.billing.invoicing.InvoiceRenderer",
                                                                "code.function": "render", "invoice.lines": R.randint(1, 14)}), slot="logic")
    if R.random() < 0.4:
        rd.add(s3("billing", "GetObject", "acme-billing-templates", "invoice/templates/eu-vat-v3.ftl"), slot="s3_get")
    root.add(s3("billing", "PutObject", "acme-billing-invoices", f"invoices/2024/{R.randint(1, 12):02d}/INV-{R.randint(100000, 999999)}.pdf"),
             slot="s3_put")
    root.add(sql("billing", "UPDATE", "invoices", "update invoices set pdf_key=?,status=?,version=? where id=? and version=?"), slot="db_update")
    return V(root, order=oid, offset=root.attrs["messaging.kafka.message.offset"], partition=root.attrs["messaging.kafka.source.partition"])


def forum_req(method, route, ctrl, path=None):
    root = http_server("forum", method, route, path=path, name=ctrl)
    root.add(redis("forum", "incrby", "rack::attack:req/ip"))  # Rack::Attack throttle counter
    c, a = ctrl.split("#")
    root.attrs["code.namespace"] = c
    root.attrs["code.function"] = a
    return root


def f_topic_show():
    tid = R.randint(1000, 99999)
    root = forum_req("GET", "/t/:slug/:id", "TopicsController#show", path=f"/t/{pick(['help', 'gear-talk', 'trip-reports', 'announcements'])}/{tid}")
    root.add(sql("forum", "SELECT", "topics", 'SELECT "topics".* FROM "topics" WHERE "topics"."id" = $1 LIMIT $2'))
    root.add(sql("forum", "SELECT", "posts", 'SELECT "posts".* FROM "posts" WHERE "posts"."topic_id" = $1 ORDER BY "posts"."created_at" ASC LIMIT $2'),
             slot="db")
    root.add(redis("forum", "get", f"topic:{tid}:views"), slot="cache")
    root.add(Sp("forum", "topics/show.html.erb", INTERNAL, "internal", {"code.filepath": "app/views/topics/show.html.erb"},
                R.uniform(2, 30), scope="view"), slot="logic")
    return V(root, topic=tid)


def f_post_create():
    root = forum_req("POST", "/t/:topic_id/posts", "PostsController#create", path=f"/t/{R.randint(1000, 99999)}/posts")
    root.add(sql("forum", "INSERT", "posts", 'INSERT INTO "posts" ("topic_id", "user_id", "body", "created_at", "updated_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id"'),
             slot="db_insert")
    root.add(redis("forum", "incr", "topic:posts"), slot="cache")
    pb = root.add(publish("forum", "sidekiq", "default"))
    pb.name = "NotifyMentionsJob publish"
    pb.attrs["messaging.sidekiq.job_class"] = "NotifyMentionsJob"
    job = pb.add(consume("forum", "sidekiq", "default", name="NotifyMentionsJob process"), slot="consumer")
    job.attrs.update({"messaging.sidekiq.job_class": "NotifyMentionsJob", "messaging.message.id": hexs(24)})
    job.add(sql("forum", "SELECT", "users", 'SELECT "users".* FROM "users" WHERE "users"."username" IN ($1, $2)'))
    job.add(smtp_span("forum"), slot="smtp")
    return V(root)


def f_forum_signup():
    root = forum_req("POST", "/users", "UsersController#create", path="/users")
    root.add(sql("forum", "SELECT", "users", 'SELECT 1 AS one FROM "users" WHERE LOWER("users"."email") = LOWER($1) LIMIT $2'))
    root.add(sql("forum", "INSERT", "users", 'INSERT INTO "users" ("username", "email", "encrypted_password", "created_at", "updated_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id"'),
             slot="db_insert")
    if R.random() < 0.6:
        root.add(http_client("forum", "GET", f"https://api.mapbox.com/search/geocode/v6/forward?q={pick(['Berlin', 'Lyon', 'Porto', 'Gent', 'Bergen', 'Graz'])}&limit=1",
                             scope="faraday"), slot="partner")
    return V(root, user=pick(FIRST) + pick(["", "_", "."]) + pick(LAST)[:4] + str(R.randint(1, 99)))


def f_forum_admin_destroy():
    u = R.randint(1000, 99999)
    root = forum_req("DELETE", "/admin/users/:id", "Admin::UsersController#destroy", path=f"/admin/users/{u}")
    root.add(sql("forum", "SELECT", "users", 'SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2'))
    root.add(sql("forum", "DELETE", "users", 'DELETE FROM "users" WHERE "users"."id" = $1'), slot="db_delete")
    return V(root, user=u)


def f_forum_search():
    root = forum_req("GET", "/search", "SearchController#index", path="/search")
    root.attrs["http.target"] = f"/search?q={pick(['tent', 'stove', 'via+ferrata', 'boots+sizing', 'return+policy'])}"
    root.add(elastic("forum", "topics", ""), slot="search")
    root.add(sql("forum", "SELECT", "topics", 'SELECT "topics".* FROM "topics" WHERE "topics"."id" IN ($1, $2, $3, $4, $5, $6)'))
    return V(root)


def f_forum_stripe_webhook():
    root = forum_req("POST", "/webhooks/stripe", "Webhooks::StripeController#create", path="/webhooks/stripe")
    root.add(internal("forum", "Stripe::Webhook.construct_event", {}), slot="webhook")
    root.add(sql("forum", "UPDATE", "memberships", 'UPDATE "memberships" SET "status" = $1, "updated_at" = $2 WHERE "memberships"."id" = $3'))
    return V(root)


def f_forum_profile():
    root = forum_req("GET", "/u/:username", "ProfilesController#show", path=f"/u/{pick(FIRST)}{R.randint(1, 99)}")
    root.add(sql("forum", "SELECT", "users", 'SELECT "users".* FROM "users" WHERE "users"."username" = $1 LIMIT $2'))
    root.add(redis("forum", "get", "user:stats"), slot="cache")
    root.add(Sp("forum", "profiles/show.html.erb", INTERNAL, "internal", {"code.filepath": "app/views/profiles/show.html.erb"},
                R.uniform(2, 30), scope="view"), slot="logic")
    return V(root)


def f_forum_digest():
    root = consume("forum", "sidekiq", "mailers", name="WeeklyDigestJob process")
    root.attrs["messaging.sidekiq.job_class"] = "WeeklyDigestJob"
    root.add(sql("forum", "SELECT", "topics", 'SELECT "topics".* FROM "topics" WHERE "topics"."created_at" > $1 ORDER BY "topics"."score" DESC LIMIT $2'))
    root.add(internal("forum", "WeeklyDigest#build", {}), slot="logic")
    root.add(smtp_span("forum"), slot="smtp")
    return V(root)


def rep_req(method, route, path=None):
    root = http_server("reports-api", method, route, path=path)
    root.add(internal("reports-api", "TenantContext.Resolve", {"tenant.id": R.randint(1, 400)}))
    return root


def f_report_get():
    rid = R.randint(100, 9999)
    root = rep_req("GET", "api/reports/{id}", path=f"/api/reports/{rid}")
    root.add(redis("reports-api", "get", f"report:{rid}"), slot="cache")
    root.add(sql("reports-api", "SELECT", "Reports", "[dbo].[usp_GetReportDefinition]"), slot="db")
    b = root.add(internal("reports-api", "ReportService.Build", {"report.id": rid, "report.kind": pick(["revenue", "funnel", "cohort", "refunds"])}),
                 slot="logic")
    if R.random() < 0.5:
        c = b.add(http_client("reports-api", "GET", f"http://billing.payments.svc.cluster.local:8080/api/v1/revenue?from=2024-06-01&to=2024-06-30&granularity=day"),
                  slot="rep_client")
        srv = c.add(http_server("billing", "GET", "/api/v1/revenue", query="from=2024-06-01&to=2024-06-30&granularity=day"), slot="server")
        ctl = srv.add(controller("billing", "RevenueController", "daily"), slot="logic_billing")
        ctl.add(sql("billing", "SELECT", "payments", "select date_trunc('day',p1_0.settled_at),sum(p1_0.amount_minor) from payments p1_0 where p1_0.settled_at between ? and ? group by 1"))
    if R.random() < 0.4:
        root.add(mongo("reports-api", "insert", "snapshots"), slot="mongo")
    return V(root, report=rid)


def f_report_export():
    rid = R.randint(100, 9999)
    root = rep_req("POST", "api/reports/{id}/exports", path=f"/api/reports/{rid}/exports")
    root.add(sql("reports-api", "SELECT", "ReportRows", "SELECT [r].[Day], [r].[Sessions], [r].[Orders], [r].[RevenueMinor] FROM [ReportRows] AS [r] WHERE [r].[ReportId] = @__id_0"),
             slot="db")
    root.add(internal("reports-api", "ExportService.Render", {"export.format": pick(["xlsx", "csv", "pdf"])}), slot="logic")
    root.add(s3("reports-api", "PutObject", "acme-report-exports", f"exports/{rid}/{uid()}.xlsx"), slot="s3_put")
    if R.random() < 0.6:
        root.add(smtp_span("reports-api"), slot="smtp")
    return V(root, report=rid)


def f_report_subscribe():
    rid = R.randint(100, 9999)
    root = rep_req("POST", "api/reports/{id}/subscriptions", path=f"/api/reports/{rid}/subscriptions")
    root.add(sql("reports-api", "SELECT", "Reports", "SELECT TOP(1) [r].[Id], [r].[OwnerId] FROM [Reports] AS [r] WHERE [r].[Id] = @__id_0"))
    root.add(sql("reports-api", "INSERT", "ReportSubscriptions",
                 "SET IMPLICIT_TRANSACTIONS OFF; SET NOCOUNT ON; INSERT INTO [ReportSubscriptions] ([ReportId], [UserId], [Cadence], [CreatedAt]) OUTPUT INSERTED.[Id] VALUES (@p0, @p1, @p2, @p3);"),
             slot="db_insert")
    return V(root, report=rid, user=user_id())


def f_report_delete():
    rid = R.randint(100, 9999)
    root = rep_req("DELETE", "api/reports/{id}", path=f"/api/reports/{rid}")
    root.add(sql("reports-api", "SELECT", "Reports", "SELECT TOP(1) [r].[Id], [r].[RowVersion] FROM [Reports] AS [r] WHERE [r].[Id] = @__id_0"))
    root.add(sql("reports-api", "DELETE", "Reports", "SET NOCOUNT ON; DELETE FROM [Reports] OUTPUT 1 WHERE [Id] = @p0 AND [RowVersion] = @p1;"),
             slot="db_delete")
    return V(root, report=rid)


def f_report_rename():
    rid = R.randint(100, 9999)
    root = rep_req("PATCH", "api/reports/{id}", path=f"/api/reports/{rid}")
    root.add(sql("reports-api", "SELECT", "Reports", "SELECT TOP(1) [r].[Id], [r].[Name], [r].[RowVersion] FROM [Reports] AS [r] WHERE [r].[Id] = @__id_0"))
    root.add(sql("reports-api", "UPDATE", "Reports", "SET NOCOUNT ON; UPDATE [Reports] SET [Name] = @p0 OUTPUT INSERTED.[RowVersion] WHERE [Id] = @p1 AND [RowVersion] = @p2;"),
             slot="db_update")
    return V(root, report=rid)


def f_report_fx():
    root = rep_req("GET", "api/reports/{id}/fx", path=f"/api/reports/{R.randint(100, 9999)}/fx")
    root.add(redis("reports-api", "get", "fx:EUR"), slot="cache")
    root.add(http_client("reports-api", "GET", "https://v6.exchangerate-api.com/v6/latest/EUR"), slot="partner")
    root.add(internal("reports-api", "FxConverter.Convert", {"fx.base": "EUR"}), slot="logic")
    return V(root)


def f_report_consumer():
    root = consume("reports-api", "rabbitmq", "report-requested")
    root.attrs["messaging.masstransit.message_types"] = "urn:message:Reporting.Contracts:ReportRequested"
    root.add(sql("reports-api", "SELECT", "Reports", "[dbo].[usp_GetReportDefinition]"))
    root.add(internal("reports-api", "ReportRequestedConsumer.Consume", {}), slot="logic")
    root.add(sql("reports-api", "INSERT", "ReportRuns", "INSERT INTO [ReportRuns] ([ReportId], [StartedAt], [Status]) VALUES (@p0, @p1, @p2)"))
    return V(root)


def f_upload():
    aid = uid()
    root = http_server("media-pipeline", "POST", "/v1/uploads", path="/v1/uploads")
    root.add(internal("media-pipeline", "validate_upload", {"_target": "media_pipeline::upload", "_file": "src/upload.rs",
                                                           "upload.content_type": pick(["video/mp4", "image/jpeg", "image/png", "video/quicktime"]),
                                                           "upload.bytes": R.randint(80000, 900000000)}), slot="logic")
    root.add(s3("media-pipeline", "PutObject", "acme-media-raw", f"uploads/raw/{aid}"), slot="s3_put")
    root.add(internal("media-pipeline", "enqueue_transcode", {"_target": "media_pipeline::queue", "_file": "src/queue.rs"}))
    return V(root, asset=aid)


def f_transcode():
    aid = uid()
    root = internal("media-pipeline", "transcode_job", {"_target": "media_pipeline::worker", "_file": "src/worker.rs", "asset.id": aid,
                                                       "job.attempt": 1})
    root.role = "consumer"
    root.add(internal("media-pipeline", "claim_job", {"_target": "media_pipeline::queue", "_file": "src/queue.rs", "queue.name": "transcode"}))
    root.add(s3("media-pipeline", "GetObject", "acme-media-raw", f"uploads/raw/{aid}"), slot="s3_get")
    root.add(internal("media-pipeline", "probe_media", {"_target": "media_pipeline::probe", "_file": "src/probe.rs"}), slot="probe")
    root.add(internal("media-pipeline", "transcode", {"_target": "media_pipeline::transcode", "_file": "src/transcode.rs",
                                                     "transcode.preset": pick(["hls-720p", "hls-1080p", "mp4-480p"])}), slot="logic")
    root.add(s3("media-pipeline", "PutObject", "acme-media-public", f"renditions/{aid}/index.m3u8"), slot="s3_put")
    if R.random() < 0.5:
        cb = root.add(http_client("media-pipeline", "POST", "http://cms-admin.content.svc.cluster.local/api/media/callback"), slot="callback")
        srv = cb.add(http_server("cms-admin", "POST", "/api/media/callback"), slot="server")
        srv.add(sql("cms-admin", "UPDATE", "media", "update `media` set `status` = ?, `rendition_path` = ?, `media`.`updated_at` = ? where `id` = ?"))
    return V(root, asset=aid)


def f_thumb():
    aid = uid()
    root = http_server("media-pipeline", "GET", "/v1/assets/{id}/thumbnail", path=f"/v1/assets/{aid}/thumbnail")
    root.add(s3("media-pipeline", "GetObject", "acme-media-public", f"renditions/{aid}/poster.jpg"), slot="s3_get")
    root.add(internal("media-pipeline", "resize", {"_target": "media_pipeline::image", "_file": "src/image.rs", "image.width": pick([160, 320, 640])}),
             slot="logic")
    return V(root, asset=aid)


def cms_req(method, route, path=None):
    root = http_server("cms-admin", method, route, path=path)
    root.add(redis("cms-admin", "get", f"laravel_session:{alnum(40, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}"))
    return root


def f_cms_page():
    pid = R.randint(10, 9000)
    root = cms_req("GET", "/admin/pages/{page}", path=f"/admin/pages/{pid}")
    root.add(sql("cms-admin", "SELECT", "pages", "select * from `pages` where `pages`.`id` = ? limit 1"))
    root.add(sql("cms-admin", "SELECT", "page_translations", "select * from `page_translations` where `page_translations`.`page_id` in (?)"))
    root.add(internal("cms-admin", "App\\Services\\PageRenderer::render", {"code.function": "render", "code.namespace": "App\\Services\\PageRenderer"}),
             slot="logic")
    if R.random() < 0.5:
        root.add(s3("cms-admin", "GetObject", "acme-cms-media", f"media/2024/{R.randint(1, 12):02d}/{pick(['hero', 'banner', 'promo'])}-{hexs(6)}.webp"),
                 slot="s3")
    return V(root, page=pid)


def f_cms_page_create():
    root = cms_req("POST", "/admin/pages")
    root.add(internal("cms-admin", "App\\Http\\Requests\\StorePageRequest::validateResolved", {"code.function": "validateResolved"}))
    root.add(sql("cms-admin", "INSERT", "pages", "insert into `pages` (`title`, `slug`, `status`, `author_id`, `updated_at`, `created_at`) values (?, ?, ?, ?, ?, ?)"),
             slot="db_insert")
    if R.random() < 0.7:
        c = root.add(http_client("cms-admin", "POST", "http://storefront-web.shop.svc.cluster.local:3000/api/revalidate"), slot="partner")
        c.add(http_server("storefront-web", "POST", "/api/revalidate"))
    return V(root, slug=pick(["summer-sale", "gift-guide", "care-instructions", "store-locator", "returns", "about-us"]) + pick(["", "-2024", "-de", "-v2"]))


def f_cms_page_delete():
    pid = R.randint(10, 9000)
    root = cms_req("DELETE", "/admin/pages/{page}", path=f"/admin/pages/{pid}")
    root.add(sql("cms-admin", "SELECT", "pages", "select * from `pages` where `pages`.`id` = ? limit 1"))
    root.add(sql("cms-admin", "DELETE", "pages", "delete from `pages` where `id` = ?"), slot="db_delete")
    return V(root, page=pid)


def f_cms_report():
    root = cms_req("GET", "/admin/reports/traffic")
    root.add(sql("cms-admin", "SELECT", "page_views", "select `page_id`, count(*) as views, sum(`converted`) as conversions from `page_views` where `viewed_at` >= ? group by `page_id`"))
    root.add(internal("cms-admin", "App\\Reports\\TrafficReport::conversionRate", {"code.function": "conversionRate",
                                                                                   "code.namespace": "App\\Reports\\TrafficReport"}), slot="logic")
    return V(root)


def f_cms_export():
    root = cms_req("GET", "/admin/exports/pages")
    root.add(sql("cms-admin", "SELECT", "pages", "select * from `pages` order by `id` asc limit 500 offset ?"))
    root.add(internal("cms-admin", "App\\Exports\\CsvExporter::write", {"code.function": "write", "code.namespace": "App\\Exports\\CsvExporter"}),
             slot="logic")
    return V(root)


def f_cms_search():
    root = cms_req("GET", "/admin/search")
    root.attrs["url.query"] = f"q={pick(['sale', 'returns', 'shipping', 'gift', 'store'])}"
    root.add(elastic("cms-admin", "pages", ""), slot="search")
    root.add(sql("cms-admin", "SELECT", "pages", "select * from `pages` where `id` in (?, ?, ?, ?, ?)"))
    return V(root)


def f_cms_github():
    root = cms_req("POST", "/webhooks/github")
    root.add(internal("cms-admin", "App\\Http\\Middleware\\VerifyGithubSignature::handle", {"code.function": "handle",
                                                                                            "github.event": "push"}), slot="webhook")
    root.add(internal("cms-admin", "App\\Services\\DeployPreview::trigger", {"code.function": "trigger"}))
    root.add(http_client("cms-admin", "POST", "https://preview.acme-cms.io/api/deploy"), slot="partner")
    return V(root)


def f_ingest():
    root = celery_task("ingest-worker", "ingest.import_catalog_feed")
    partner = pick(["partner-wholesale", "nordic-outdoor", "brightline-home"])
    root.attrs["ingest.partner"] = partner
    root.add(sql("ingest-worker", "SELECT", "partners", "SELECT partners.id, partners.feed_url, partners.mapping_key FROM partners WHERE partners.slug = %(slug_1)s"))
    root.add(http_client("ingest-worker", "GET", f"https://feeds.{partner}.com/v2/catalog.csv", scope="requests"), slot="partner")
    root.add(s3("ingest-worker", "GetObject", "acme-catalog-feeds", f"feeds/{partner}/mapping.json"), slot="s3")
    root.add(internal("ingest-worker", "parse_feed", {"feed.rows": R.randint(200, 40000), "feed.format": "csv"}), slot="logic")
    root.add(sql("ingest-worker", "INSERT", "catalog_items", "INSERT INTO catalog_items (sku, partner_id, title, price_cents, updated_at) VALUES (%s, %s, %s, %s, now()) "
                 "ON CONFLICT (sku) DO UPDATE SET title = EXCLUDED.title, price_cents = EXCLUDED.price_cents"), slot="db_insert")
    if R.random() < 0.5:
        root.add(sql("ingest-worker", "UPDATE", "catalog_items", "UPDATE catalog_items SET version=%(version)s, stock=%(stock)s WHERE catalog_items.id = %(id)s AND catalog_items.version = %(version_1)s"),
                 slot="db_update")
    if R.random() < 0.3:
        root.add(smtp_span("ingest-worker"), slot="smtp")
    return V(root, partner=partner)


def f_ingest_event():
    root = celery_task("ingest-worker", "ingest.process_stock_event")
    root.add(sql("ingest-worker", "SELECT", "catalog_items", "SELECT catalog_items.id, catalog_items.version FROM catalog_items WHERE catalog_items.sku = %(sku_1)s"))
    root.add(internal("ingest-worker", "apply_stock_event", {"stock.warehouse": pick(["AMS1", "FRA2", "WAW1"])}), slot="logic")
    root.add(sql("ingest-worker", "INSERT", "stock_levels", "INSERT INTO stock_levels (sku, warehouse, qty, observed_at) VALUES (%s, %s, %s, %s)"),
             slot="db_insert")
    return V(root)


def f_mailer_email():
    root = consume("mailer", "rabbitmq", "email.send")
    root.add(internal("mailer", "validate payload", {"email.schema": "email-send-v2"}))
    root.add(internal("mailer", "render template", {"email.template": pick(["order-confirmation", "shipping-update", "password-reset",
                                                                           "abandoned-cart-reminder", "review-request"])}))
    root.add(smtp_span("mailer"), slot="smtp")
    return V(root)


def f_mailer_sms():
    root = consume("mailer", "rabbitmq", "notifications.sms")
    root.add(internal("mailer", "render sms", {"sms.template": pick(["delivery-window", "otp", "pickup-ready"])}))
    root.add(http_client("mailer", "POST", f"https://api.twilio.com/2010-04-01/Accounts/AC{hexs(32)}/Messages.json"), slot="partner")
    return V(root)


FLOWS = {k[2:]: v for k, v in list(globals().items()) if k.startswith("f_") and callable(v)}


# --------------------------------------------------------------------------------------------
# faults: each variant strikes one slot of one flow and returns
#   Err                    -> recorded on the slot's span by the variant; propagate from there
#   ("at", node, Err)      -> record on node as its role/instrumentation does, propagate from node
#   ("from", node, Err)    -> already recorded on node; propagate from node
#   None                   -> the variant did all the recording itself
# --------------------------------------------------------------------------------------------

def raise_at(node, err):
    if node.role in ("http_server", "grpc_server"):
        server_fail(node, err)
    elif node.role == "consumer":
        consumer_fail(node, err)
        return
    else:
        err = internal_fail(node, err)
    fail(node, err)


def detach(sp):
    p = sp.parent
    p.children.remove(sp)
    return p


def go_panic_stack(frame_fn, file, line, gid=None):
    gid = gid or R.randint(900, 99999)
    return (f"goroutine {gid} [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:24 +0x5e\n"
            f"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery.recoverFrom({{0x1f6b2a8, 0xc000{hexs(6)}}}, {{0x1a4e0e0, 0x2d7c6f0}}, 0x0)\n"
            f"\t/go/pkg/mod/github.com/grpc-ecosystem/go-grpc-middleware/v2@v2.1.0/interceptors/recovery/interceptors.go:61 +0x46\n"
            f"panic({{0x1a4e0e0?, 0x2d7c6f0?}})\n\t/usr/local/go/src/runtime/panic.go:770 +0x132\n"
            f"{frame_fn}\n\t{file}:{line} +0x{hexs(3)}\n")


# --- cache_unavailable ----------------------------------------------------------------------

def cache_go(t, v):
    m = f"dial tcp {ip()}:6379: connect: connection refused"
    go_err(t, "*net.OpError", m)
    return Err("cart-service", "*fmt.wrapError", f"load cart {v['cart']}: {m}", grpc=14)


def cache_py(t, v):
    m = f"Error 111 connecting to {REDIS_HOSTS['recommendations']}:6379. Connection refused."
    st = pystack(PY_STARLETTE + [
        ("/app/reco/api/routes.py", 64, "get_recommendations", 'cached = await cache.get(f"reco:u:{user_id}")'),
        ("/usr/local/lib/python3.11/site-packages/redis/asyncio/client.py", 606, "execute_command",
         "conn = self.connection or await pool.get_connection(command_name, **options)"),
        ("/usr/local/lib/python3.11/site-packages/redis/asyncio/connection.py", 1060, "get_connection", "await self.ensure_connection(connection)"),
        ("/usr/local/lib/python3.11/site-packages/redis/asyncio/connection.py", 290, "connect", "raise ConnectionError(self._error_message(e))")],
        "redis.exceptions.ConnectionError", m)
    rec(t, "redis.exceptions.ConnectionError", m, st)
    return Err("recommendations", "redis.exceptions.ConnectionError", m, st)


def cache_rb(t, v):
    m = f"Error connecting to Redis on {ip()}:6379 (Errno::ECONNREFUSED)"
    st = rbstack("Redis::CannotConnectError", m, [
        "/usr/local/bundle/gems/redis-client-0.22.2/lib/redis_client/ruby_connection.rb:123:in `rescue in connect'",
        "/usr/local/bundle/gems/redis-client-0.22.2/lib/redis_client.rb:731:in `ensure_connected'",
        "/usr/local/bundle/gems/redis-5.2.0/lib/redis/client.rb:91:in `call_v'",
        "/app/app/models/topic.rb:58:in `increment_views!'",
        "/app/app/controllers/topics_controller.rb:14:in `show'"] + RB_RAILS)
    rec(t, "Redis::CannotConnectError", m, st)
    return Err("forum", "Redis::CannotConnectError", m, st)


def cache_java(t, v):
    ctl = detach(t)  # Spring Data Redis fails to get a connection: no command span
    host = REDIS_HOSTS["accounts"]
    et, m = "org.springframework.data.redis.RedisConnectionFailureException", "Unable to connect to Redis"
    st = jstack(et, m, ["org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory$ExceptionTranslatingConnectionProvider.translateException(LettuceConnectionFactory.java:1805)",
                        "org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory$ExceptionTranslatingConnectionProvider.getConnection(LettuceConnectionFactory.java:1736)",
                        "org.springframework.data.redis.core.RedisTemplate.execute(RedisTemplate.java:406)",
                        "org.springframework.data.redis.core.DefaultValueOperations.set(DefaultValueOperations.java:305)",
                        "com.acme.accounts.session.RedisSessionStore.save(RedisSessionStore.java:47)",
                        "com.acme.accounts.web.SessionController.create(SessionController.java:63)"] + JAVA_WEB,
                [("io.lettuce.core.RedisConnectionException", f"Unable to connect to {host}/<unresolved>:6379",
                  ["io.lettuce.core.RedisConnectionException.create(RedisConnectionException.java:78)",
                   "io.lettuce.core.AbstractRedisClient.getConnection(AbstractRedisClient.java:350)"], 112),
                 ("io.netty.channel.AbstractChannel$AnnotatedConnectException", f"Connection refused: {host}/{ip()}:6379", [], 0),
                 ("java.net.ConnectException", "Connection refused", ["java.base/sun.nio.ch.Net.pollConnect(Native Method)"], 11)])
    return ("at", ctl, Err("accounts", et, m, st))


def cache_node(t, v):
    t.name = "set"
    t.attrs["db.statement"] = f"set page:product:{v['slug']}"
    m = "READONLY You can't write against a read only replica."
    rec(t, "ReplyError", m, nodestack("ReplyError", m, ["parseError (/app/node_modules/redis-parser/lib/parser.js:179:12)",
                                                       "parseType (/app/node_modules/redis-parser/lib/parser.js:302:14)"]))
    e = Err("storefront-web", "ReplyError", m, t.events[-1][1]["exception.stacktrace"], status=200)  # GraphQL: errors[] in a 200
    return e


def cache_net(t, v):
    n = R.randint(1000, 90000)
    m = (f"No connection is active/available to service this operation: GET report:{v['report']}; It was not possible to connect to the "
         f"redis server(s). ConnectTimeout, inst: 0, qu: 0, qs: 0, aw: False, bw: SpinningDown, rs: NotStarted, ws: Idle, in: 0, last-in: 0, "
         f"cur-in: 0, sync-ops: 0, async-ops: {n}, serverEndpoint: {REDIS_HOSTS['reports-api']}:6379, conn-sec: n/a, aoc: 0, mc: 1/1/0, "
         f"mgr: 10 of 10 available, clientName: {pod('reports-api')}(SE.Redis-v2.7.33.41805), IOCP: (Busy=0,Free=1000,Min=2,Max=1000), "
         f"WORKER: (Busy=1,Free=32766,Min=2,Max=32767), POOL: (Threads=6,QueuedItems=0,CompletedItems={n * 7}), v: 2.7.33.41805")
    et = "StackExchange.Redis.RedisConnectionException"
    st = netstack(et, m, ["StackExchange.Redis.ConnectionMultiplexer.ThrowFailed[T](TaskCompletionSource`1 source, Exception unthrownException) in /_/src/StackExchange.Redis/ConnectionMultiplexer.cs:line 2082",
                          "Reporting.Api.Caching.RedisReportCache.GetAsync(Int32 reportId, CancellationToken ct) in /src/Reporting.Api/Caching/RedisReportCache.cs:line 38",
                          "Reporting.Api.Controllers.ReportsController.Get(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 52"] + NET_ASP)
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


# --- search_cluster_unavailable -------------------------------------------------------------

def search_py(t, v):
    et, m = "elasticsearch.ApiError", "ApiError(503, 'search_phase_execution_exception', 'all shards failed')"
    st = pystack(PY_STARLETTE + [("/app/reco/api/search.py", 41, "search", "resp = await es.search(index=PRODUCTS_INDEX, query=q, size=24)"),
                                 ("/usr/local/lib/python3.11/site-packages/elasticsearch/_async/client/__init__.py", 4120, "search",
                                  'return await self.perform_request(  # type: ignore[return-value]'),
                                 ("/usr/local/lib/python3.11/site-packages/elasticsearch/_async/client/_base.py", 352, "_perform_request",
                                  "raise HTTP_EXCEPTIONS.get(meta.status, ApiError)(")], et, m)
    rec(t, et, m, st)
    return Err("recommendations", et, m, st)


def search_rb(t, v):
    set_http_status(t, 503)
    t.error()
    et = "Elastic::Transport::Transport::Errors::ServiceUnavailable"
    m = ('[503] {"error":{"root_cause":[],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query",'
         '"grouped":true,"failed_shards":[]},"status":503}')
    st = rbstack(et, m, ["/usr/local/bundle/gems/elastic-transport-8.3.2/lib/elastic/transport/transport/base.rb:218:in `__raise_transport_error'",
                         "/usr/local/bundle/gems/elastic-transport-8.3.2/lib/elastic/transport/transport/base.rb:346:in `perform_request'",
                         "/usr/local/bundle/gems/searchkick-5.3.1/lib/searchkick/query.rb:133:in `execute_search'",
                         "/app/app/controllers/search_controller.rb:9:in `index'"] + RB_RAILS)
    return Err("forum", et, m, st)


def search_php(t, v):
    set_http_status(t, 503)
    t.error()
    t.attrs["error.type"] = "503"
    et = "Elastic\\Elasticsearch\\Exception\\ServerResponseException"
    m = ('503 Service Unavailable: {"error":{"root_cause":[{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/2/no master];"}],'
         '"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/2/no master];"},"status":503}')
    st = phpstack(et, m, ["Elastic\\Elasticsearch\\Response\\Elasticsearch.setResponse(Elasticsearch.php:82)",
                          "Elastic\\Elasticsearch\\Client.sendRequest(Client.php:186)",
                          "Elastic\\Elasticsearch\\Traits\\ClientEndpointsTrait.search(ClientEndpointsTrait.php:1652)",
                          "App\\Http\\Controllers\\Admin\\SearchController.index(SearchController.php:29)"] + PHP_LARAVEL)
    return Err("cms-admin", et, m, st)


def search_node(t, v):
    node_ip = ip()
    m = (f"search_phase_execution_exception\n\tRoot causes:\n\t\tno_shard_available_action_exception: [es-products-{R.randint(0, 5)}]"
         f"[{node_ip}:9300][indices:data/read/search[phase/query]]")
    st = nodestack("ResponseError", m, ["SniffingTransport._request (/app/node_modules/@elastic/transport/lib/Transport.js:543:27)",
                                       "process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
                                       "async /app/node_modules/@elastic/transport/lib/Transport.js:641:32",
                                       "async Client.SearchApi [as search] (/app/node_modules/@elastic/elasticsearch/lib/api/api/search.js:66:12)",
                                       "async relatedProducts (/app/dist/server/graphql/resolvers/product.js:88:17)"])
    t.attrs["http.response.status_code"] = 503
    rec(t, "ResponseError", m, st)
    return Err("storefront-web", "ResponseError", m, st, status=200)


def search_java(t, v):
    t.attrs["http.response.status_code"] = 503
    et = "co.elastic.clients.elasticsearch._types.ElasticsearchException"
    m = "[es/search] failed: [search_phase_execution_exception] all shards failed"
    st = jstack(et, m, ["co.elastic.clients.transport.ElasticsearchTransportBase.getApiResponse(ElasticsearchTransportBase.java:345)",
                        "co.elastic.clients.transport.ElasticsearchTransportBase.performRequest(ElasticsearchTransportBase.java:147)",
                        "co.elastic.clients.elasticsearch.ElasticsearchClient.search(ElasticsearchClient.java:1897)",
                        "com.acme.accounts.admin.UserSearchService.search(UserSearchService.java:58)",
                        "com.acme.accounts.web.AdminUserController.search(AdminUserController.java:41)"] + JAVA_WEB)
    rec(t, et, m, st)
    return Err("accounts", et, m, st)


# --- optimistic_lock_conflict ---------------------------------------------------------------

def olock_java(t, v):
    ctl = t.parent
    ent = f"com.acme.accounts.domain.UserPreferences#{v['user']}"
    et = "org.springframework.orm.ObjectOptimisticLockingFailureException"
    m = f"Row was updated or deleted by another transaction (or unsaved-value mapping was incorrect) : [{ent}]"
    st = jstack(et, m, ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:325)",
                        "org.springframework.orm.jpa.vendor.HibernateJpaDialect.translateExceptionIfPossible(HibernateJpaDialect.java:244)",
                        "org.springframework.orm.jpa.JpaTransactionManager.doCommit(JpaTransactionManager.java:565)",
                        "com.acme.accounts.web.UserPreferencesController.update(UserPreferencesController.java:72)"] + JAVA_WEB,
                [("org.hibernate.StaleObjectStateException", m,
                  ["org.hibernate.engine.jdbc.mutation.internal.ModelMutationHelper.identifiedResultsCheck(ModelMutationHelper.java:75)",
                   "org.hibernate.persister.entity.mutation.UpdateCoordinatorStandard.lambda$doStaticUpdate$9(UpdateCoordinatorStandard.java:785)"], 97)])
    return ("at", ctl, Err("accounts", et, m, st, status=409, unhandled=False))


def olock_java_kafka(t, v):
    root = t.parent
    et = "org.springframework.orm.ObjectOptimisticLockingFailureException"
    m = ("Batch update returned unexpected row count from update [0]; actual row count: 0; expected: 1; statement executed: "
         "update invoices set pdf_key=?,status=?,version=? where id=? and version=?")
    st = jstack(et, m, ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:325)",
                        "org.springframework.orm.jpa.JpaTransactionManager.doCommit(JpaTransactionManager.java:565)",
                        "com.acme.billing.invoicing.OrderCompletedListener.onOrderCompleted(OrderCompletedListener.java:58)"],
                [("org.hibernate.StaleStateException", m, ["org.hibernate.jdbc.Expectations.checkBatched(Expectations.java:68)"], 44)])
    rec(root, et, m, st)
    log_event(root, f"Error handler threw an exception; seeking to orders.completed-{v['partition']}@{v['offset']} for retry", "WARN")
    return None


def olock_rb(t, v):
    root = t.parent
    root.add(sql("forum", "UPDATE", "topics", 'UPDATE "topics" SET "posts_count" = $1, "last_posted_at" = $2, "lock_version" = $3 '
                 'WHERE "topics"."id" = $4 AND "topics"."lock_version" = $5'))
    et, m = "ActiveRecord::StaleObjectError", "Attempted to update a stale object: Topic."
    st = rbstack(et, m, ["/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/locking/optimistic.rb:109:in `_update_row'",
                         "/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/persistence.rb:1276:in `_update_record'",
                         "/app/app/models/post.rb:31:in `bump_topic'",
                         "/app/app/controllers/posts_controller.rb:22:in `create'"] + RB_RAILS)
    del root.children[root.children.index(t) + 1:-1]
    return ("at", root, Err("forum", et, m, st))


def olock_net(t, v):
    et = "Microsoft.EntityFrameworkCore.DbUpdateConcurrencyException"
    m = ("The database operation was expected to affect 1 row(s), but actually affected 0 row(s); data may have been modified or deleted "
         "since entities were loaded. See https://go.microsoft.com/fwlink/?LinkId=527962 for information on understanding and handling "
         "optimistic concurrency exceptions.")
    st = netstack(et, m, ["Microsoft.EntityFrameworkCore.Update.AffectedCountModificationCommandBatch.ThrowAggregateUpdateConcurrencyExceptionAsync(RelationalDataReader reader, Int32 commandIndex, Int32 expectedRowsAffected, Int32 rowsAffected, CancellationToken cancellationToken)",
                          "Microsoft.EntityFrameworkCore.ChangeTracking.Internal.StateManager.SaveChangesAsync(IList`1 entriesToSave, CancellationToken cancellationToken)",
                          "Microsoft.EntityFrameworkCore.DbContext.SaveChangesAsync(Boolean acceptAllChangesOnSuccess, CancellationToken cancellationToken)",
                          "Reporting.Api.Controllers.ReportsController.Rename(Int32 id, RenameReportRequest body, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 118"] + NET_ASP)
    return ("at", t.parent, Err("reports-api", et, m, st))


def olock_go(t, v):
    gs = t.parent
    ver = R.randint(3, 90)
    m = f"add item to cart {v['cart']}: cart was modified concurrently (version {ver} is stale)"
    gs.exc("*fmt.wrapError", m)  # span.RecordError without SetStatus
    gs.attrs["rpc.grpc.status_code"] = 10
    gs.resp = (10, m)
    del gs.children[gs.children.index(t) + 1:]
    return ("from", gs, Err("cart-service", "*fmt.wrapError", m, grpc=10))


def olock_py(t, v):
    et = "sqlalchemy.orm.exc.StaleDataError"
    m = "UPDATE statement on table 'catalog_items' expected to update 1 row(s); 0 were matched."
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 118, "import_catalog_feed", "session.commit()"),
                              ("/usr/local/lib/python3.12/site-packages/sqlalchemy/orm/persistence.py", 1452, "_emit_update_statements",
                               "raise orm_exc.StaleDataError(")], et, m)
    return ("at", t.parent, Err("ingest-worker", et, m, st))


# --- unique_violation -----------------------------------------------------------------------

def uniq_java(t, v):
    em = v["email"]
    pm = f'ERROR: duplicate key value violates unique constraint "users_email_key"\n  Detail: Key (lower(email::text))=({em}) already exists.'
    rec(t, "org.postgresql.util.PSQLException", pm,
        jstack("org.postgresql.util.PSQLException", pm, ["org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)",
                                                         "org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2412)",
                                                         "com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate(HikariProxyPreparedStatement.java)"]))
    sqltxt = "insert into users (created_at,email,display_name,password_hash,status,id) values (?,?,?,?,?,?)"
    et = "org.springframework.dao.DataIntegrityViolationException"
    m = f"could not execute statement [{pm}] [{sqltxt}]; SQL [{sqltxt}]; constraint [users_email_key]"
    st = jstack(et, m, ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:290)",
                        "com.acme.accounts.users.UserService.register(UserService.java:74)",
                        "com.acme.accounts.web.UserController.register(UserController.java:49)"] + JAVA_WEB,
                [("org.hibernate.exception.ConstraintViolationException", f"could not execute statement [{pm}] [{sqltxt}]", [], 120)])
    return Err("accounts", et, m, st)


def uniq_rb(t, v):
    u = v["user"]
    pm = f'ERROR:  duplicate key value violates unique constraint "index_users_on_username"\nDETAIL:  Key (username)=({u}) already exists.\n'
    rec(t, "PG::UniqueViolation", pm)
    et, m = "ActiveRecord::RecordNotUnique", "PG::UniqueViolation: " + pm
    st = rbstack(et, m, ["/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/connection_adapters/postgresql/database_statements.rb:55:in `exec'",
                         "/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/persistence.rb:1251:in `_create_record'",
                         "/app/app/controllers/users_controller.rb:18:in `create'"] + RB_RAILS)
    return Err("forum", et, m, st)


def uniq_php(t, v):
    slug = v["slug"]
    pm = f"SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry '{slug}' for key 'pages.pages_slug_unique'"
    rec(t, "PDOException", pm)
    et = "Illuminate\\Database\\UniqueConstraintViolationException"
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - R.randint(0, 10800)))
    m = (f"{pm} (Connection: mysql, SQL: insert into `pages` (`title`, `slug`, `status`, `author_id`, `updated_at`, `created_at`) values "
         f"({slug.replace('-', ' ').title()}, {slug}, draft, {R.randint(2, 60)}, {now}, {now}))")
    st = phpstack(et, m, ["Illuminate\\Database\\Connection.runQueryCallback(Connection.php:821)",
                          "Illuminate\\Database\\Connection.run(Connection.php:776)",
                          "Illuminate\\Database\\Eloquent\\Model.save(Model.php:1196)",
                          "App\\Http\\Controllers\\Admin\\PageController.store(PageController.php:58)"] + PHP_LARAVEL)
    return Err("cms-admin", et, m, st)


def uniq_node(t, v):
    t.error()
    op = t.parent
    m = ("\nInvalid `prisma.newsletterSubscriber.create()` invocation in\n/app/dist/server/routes/newsletter.js:27:52\n\n"
         "  24   const { email, locale } = parsed.data;\n  25   \n  26   try {\n→ 27     await prisma.newsletterSubscriber.create(\n"
         "Unique constraint failed on the fields: (`email`)")
    st = nodestack("PrismaClientKnownRequestError", m, ["In.handleRequestError (/app/node_modules/@prisma/client/runtime/library.js:122:6877)",
                                                       "In.handleAndLogRequestError (/app/node_modules/@prisma/client/runtime/library.js:122:6211)",
                                                       "async /app/dist/server/routes/newsletter.js:27:5"])
    op.error(m)
    return ("at", op.parent, Err("storefront-web", "P2002", m, st))


def uniq_py(t, v):
    key = f"u_{v['user']}"
    errmsg = f'E11000 duplicate key error collection: reco.user_profiles index: external_id_1 dup key: {{ external_id: "{key}" }}'
    t.error(errmsg)  # pymongo instrumentation: status only, from the command's failure document
    et = "pymongo.errors.DuplicateKeyError"
    m = (f"{errmsg}, full error: {{'index': 0, 'code': 11000, 'errmsg': '{errmsg}', 'keyPattern': {{'external_id': 1}}, "
         f"'keyValue': {{'external_id': '{key}'}}}}")
    st = pystack(PY_STARLETTE + [("/app/reco/api/profiles.py", 77, "create_profile", "await db.user_profiles.insert_one(profile.model_dump())"),
                                 ("/usr/local/lib/python3.11/site-packages/pymongo/helpers.py", 228, "_check_write_command_response",
                                  "_raise_last_write_error(write_errors)")], et, m)
    return ("at", t.parent, Err("recommendations", et, m, st))


def uniq_net(t, v):
    m = (f"Cannot insert duplicate key row in object 'dbo.ReportSubscriptions' with unique index 'IX_ReportSubscriptions_ReportId_UserId'. "
         f"The duplicate key value is ({v['report']}, {v['user']}).\nThe statement has been terminated.")
    rec(t, "Microsoft.Data.SqlClient.SqlException", m)
    t.attrs["db.response.status_code"] = "2601"
    et, em = "Microsoft.EntityFrameworkCore.DbUpdateException", "An error occurred while saving the entity changes. See the inner exception for details."
    st = netstack(et, em, ["Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch.ExecuteAsync(IRelationalConnection connection, CancellationToken cancellationToken)",
                           "Microsoft.EntityFrameworkCore.DbContext.SaveChangesAsync(Boolean acceptAllChangesOnSuccess, CancellationToken cancellationToken)",
                           "Reporting.Api.Controllers.SubscriptionsController.Create(Int32 id, CreateSubscriptionRequest body, CancellationToken ct) in /src/Reporting.Api/Controllers/SubscriptionsController.cs:line 44"] + NET_ASP,
                  inner=("Microsoft.Data.SqlClient.SqlException (0x80131904)", m,
                         ["Microsoft.Data.SqlClient.SqlCommand.<>c.<ExecuteDbDataReaderAsync>b__209_0(Task`1 result)"]))
    return Err("reports-api", et, em, st)


# --- fk_violation ---------------------------------------------------------------------------

def fk_rb(t, v):
    pm = (f'ERROR:  update or delete on table "users" violates foreign key constraint "fk_rails_{hexs(10)}" on table "posts"\n'
          f'DETAIL:  Key (id)=({v["user"]}) is still referenced from table "posts".\n')
    rec(t, "PG::ForeignKeyViolation", pm)
    et, m = "ActiveRecord::InvalidForeignKey", "PG::ForeignKeyViolation: " + pm
    st = rbstack(et, m, ["/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/connection_adapters/postgresql/database_statements.rb:55:in `exec'",
                         "/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/persistence.rb:1023:in `destroy'",
                         "/app/app/controllers/admin/users_controller.rb:41:in `destroy'"] + RB_RAILS)
    return Err("forum", et, m, st)


def fk_php(t, v):
    pm = ("SQLSTATE[23000]: Integrity constraint violation: 1451 Cannot delete or update a parent row: a foreign key constraint fails "
          "(`cms`.`page_revisions`, CONSTRAINT `page_revisions_page_id_foreign` FOREIGN KEY (`page_id`) REFERENCES `pages` (`id`))")
    rec(t, "PDOException", pm)
    et = "Illuminate\\Database\\QueryException"
    m = f"{pm} (Connection: mysql, SQL: delete from `pages` where `id` = {v['page']})"
    st = phpstack(et, m, ["Illuminate\\Database\\Connection.runQueryCallback(Connection.php:829)",
                          "Illuminate\\Database\\Eloquent\\Model.delete(Model.php:1425)",
                          "App\\Http\\Controllers\\Admin\\PageController.destroy(PageController.php:97)"] + PHP_LARAVEL)
    return Err("cms-admin", et, m, st)


def fk_net(t, v):
    m = ('The DELETE statement conflicted with the REFERENCE constraint "FK_ReportRuns_Reports_ReportId". The conflict occurred in database '
         '"reporting", table "dbo.ReportRuns", column \'ReportId\'.\nThe statement has been terminated.')
    rec(t, "Microsoft.Data.SqlClient.SqlException", m)
    t.attrs["db.response.status_code"] = "547"
    et, em = "Microsoft.EntityFrameworkCore.DbUpdateException", "An error occurred while saving the entity changes. See the inner exception for details."
    st = netstack(et, em, ["Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch.ExecuteAsync(IRelationalConnection connection, CancellationToken cancellationToken)",
                           "Reporting.Api.Controllers.ReportsController.Delete(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 141"] + NET_ASP,
                  inner=("Microsoft.Data.SqlClient.SqlException (0x80131904)", m, ["Microsoft.Data.SqlClient.SqlConnection.OnError(SqlException exception, Boolean breakConnection, Action`1 wrapCloseInAction)"]))
    return Err("reports-api", et, em, st)


def fk_go(t, v):
    m = 'ERROR: update or delete on table "carts" violates foreign key constraint "orders_cart_id_fkey" on table "orders" (SQLSTATE 23503)'
    go_err(t, "*pgconn.PgError", m)
    return Err("cart-service", "*fmt.wrapError", f"clear cart {v['cart']}: {m}", grpc=13)


def fk_java(t, v):
    pm = (f'ERROR: update or delete on table "users" violates foreign key constraint "fk_orders_user_id" on table "orders"\n'
          f'  Detail: Key (id)=({v["user"]}) is still referenced from table "orders".')
    rec(t, "org.postgresql.util.PSQLException", pm,
        jstack("org.postgresql.util.PSQLException", pm, ["org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)",
                                                         "org.postgresql.jdbc.PgPreparedStatement.executeUpdate(PgPreparedStatement.java:152)"]))
    et = "org.springframework.dao.DataIntegrityViolationException"
    m = f"could not execute statement [{pm}] [delete from users where id=?]; SQL [delete from users where id=?]; constraint [fk_orders_user_id]"
    st = jstack(et, m, ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:290)",
                        "com.acme.accounts.users.UserService.delete(UserService.java:131)",
                        "com.acme.accounts.web.UserController.delete(UserController.java:88)"] + JAVA_WEB)
    return Err("accounts", et, m, st)


def fk_py(t, v):
    pid = R.randint(100, 999)
    m = (f'insert or update on table "catalog_items" violates foreign key constraint "catalog_items_partner_id_fkey"\n'
         f'DETAIL:  Key (partner_id)=({pid}) is not present in table "partners".\n')
    et = "psycopg2.errors.ForeignKeyViolation"
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 102, "import_catalog_feed", "cur.executemany(UPSERT_ITEMS, rows)"),
                              ("/usr/local/lib/python3.12/site-packages/opentelemetry/instrumentation/dbapi/__init__.py", 524, "traced_execution",
                               "return query_method(*args, **kwargs)")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


# --- null_reference -------------------------------------------------------------------------

def null_java(t, v):
    et = "java.lang.NullPointerException"
    m = ('Cannot invoke "com.acme.accounts.domain.Address.getCountryCode()" because the return value of '
         '"com.acme.accounts.domain.User.getBillingAddress()" is null')
    st = jstack(et, m, ["com.acme.accounts.web.dto.UserView.from(UserView.java:38)",
                        "com.acme.accounts.web.UserController.get(UserController.java:71)"] + JAVA_WEB)
    rec(t, et, m, st)
    return Err("accounts", et, m, st)


def null_node(t, v):
    m = "Cannot read properties of undefined (reading 'amount')"
    st = nodestack("TypeError", m, ["formatPrice (/app/dist/server/graphql/resolvers/price.js:14:31)",
                                   "Product.price (/app/dist/server/graphql/resolvers/product.js:52:14)",
                                   "field.resolve (/app/node_modules/@opentelemetry/instrumentation-graphql/build/src/utils.js:289:34)",
                                   "executeField (/app/node_modules/graphql/execution/execute.js:492:20)"])
    rec(t, "TypeError", m, st)
    return Err("storefront-web", "TypeError", m, st, status=200)


def null_py(t, v):
    et, m = "AttributeError", "'NoneType' object has no attribute 'get'"
    st = pystack(PY_STARLETTE + [("/app/reco/api/routes.py", 88, "get_recommendations", "ranked = rank_candidates(profile, candidates)"),
                                 ("/app/reco/ranking/rank.py", 143, "rank_candidates", 'weights = profile.preferences.get("category_weights", {})')],
                 et, m)
    rec(t, et, m, st)
    return Err("recommendations", et, m, st)


def null_rb(t, v):
    et, m = "ActionView::Template::Error", "undefined method `avatar_url' for nil"
    st = rbstack(et, m, ["/app/app/views/profiles/show.html.erb:12:in `_app_views_profiles_show_html_erb___3457918213874523211_112840'",
                         "/usr/local/bundle/gems/actionview-7.1.3.4/lib/action_view/base.rb:273:in `_run'",
                         "/usr/local/bundle/gems/actionview-7.1.3.4/lib/action_view/template.rb:261:in `block in render'"] + RB_RAILS)
    rec(t, et, m, st)
    return Err("forum", et, m, st)


def null_net(t, v):
    et, m = "System.NullReferenceException", "Object reference not set to an instance of an object."
    st = netstack(et, m, ["Reporting.Api.Services.ReportService.BuildHeader(Report report, ReportOptions options) in /src/Reporting.Api/Services/ReportService.cs:line 212",
                          "Reporting.Api.Services.ReportService.BuildAsync(Int32 reportId, CancellationToken ct) in /src/Reporting.Api/Services/ReportService.cs:line 87",
                          "Reporting.Api.Controllers.ReportsController.Get(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 58"] + NET_ASP)
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


def null_php(t, v):
    et, m = "Error", "Call to a member function getTranslation() on null"
    st = phpstack(et, m, ["App\\Services\\PageRenderer.renderBlocks(PageRenderer.php:133)",
                          "App\\Services\\PageRenderer.render(PageRenderer.php:61)",
                          "App\\Http\\Controllers\\Admin\\PageController.show(PageController.php:34)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


def null_go(t, v):
    m = "runtime error: invalid memory address or nil pointer dereference"
    st = go_panic_stack("github.com/acme/cart-service/internal/pricing.(*Engine).Apply(0xc000412a80, {0x1f0c2a8, 0xc0007b2f30}, 0xc0003e6c00)",
                        "/src/internal/pricing/engine.go", 142)
    t.exc("runtime.errorString", m, st)
    t.error(m)
    del t.children[:]
    return Err("cart-service", "runtime.errorString", f"panic: {m}", grpc=13)


# --- index_out_of_range ---------------------------------------------------------------------

def idx_rust(t, v):
    tid = R.randint(40, 9000)
    msg = "index out of bounds: the len is 0 but the index is 0"
    t.event(f"panicked at src/probe.rs:88:23:\n{msg}", {"level": "ERROR", "target": "media_pipeline::panic", "code.filepath": "src/probe.rs",
                                                        "code.lineno": 88, "panic.payload": msg})
    t.error(msg)
    return Err("media-pipeline", "tokio::task::JoinError", f'task {tid} panicked with message "{msg}"')


def idx_go(t, v):
    n = R.randint(1, 6)
    m = f"runtime error: index out of range [{n}] with length {n}"
    st = go_panic_stack("github.com/acme/activity-feed/internal/feed.(*Ranker).diversify(0xc0004b2000, {0xc000a1e000, 0x" + f"{n:x}" + ", 0x8})",
                        "/src/internal/feed/ranker.go", 207).replace("github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery.recoverFrom",
                                                                     "github.com/acme/activity-feed/internal/httpx.Recover.func1.1")
    t.exc("runtime.boundsError", m, st)
    t.error(m)
    log_event(t, f"panic recovered: {m}", "ERROR")
    return Err("activity-feed", "runtime.boundsError", m, status=500)


def idx_py(t, v):
    et, m = "IndexError", "list index out of range"
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 88, "import_catalog_feed", "items = parse_feed(body, mapping)"),
                              ("/app/ingest/feeds/parse.py", 57, "parse_feed", "price = row[mapping['price_col']]")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def idx_java(t, v):
    et, m = "java.lang.IndexOutOfBoundsException", "Index 0 out of bounds for length 0"
    st = jstack(et, m, ["java.base/jdk.internal.util.Preconditions.outOfBounds(Preconditions.java:100)",
                        "java.base/jdk.internal.util.Preconditions.outOfBoundsCheckIndex(Preconditions.java:106)",
                        "java.base/java.util.Objects.checkIndex(Objects.java:385)",
                        "java.base/java.util.ArrayList.get(ArrayList.java:427)",
                        "com.acme.billing.invoicing.InvoiceRenderer.render(InvoiceRenderer.java:96)",
                        "com.acme.billing.invoicing.OrderCompletedListener.onOrderCompleted(OrderCompletedListener.java:51)"])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def idx_net(t, v):
    et = "System.ArgumentOutOfRangeException"
    m = "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')"
    st = netstack(et, m, ["System.Collections.Generic.List`1.get_Item(Int32 index)",
                          "Reporting.Api.Consumers.ReportRequestedConsumer.Consume(ConsumeContext`1 context) in /src/Reporting.Api/Consumers/ReportRequestedConsumer.cs:line 63",
                          "MassTransit.DependencyInjection.ScopeConsumerFactory`1.Send[TMessage](ConsumeContext`1 context, IPipe`1 next)"])
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


def idx_php(t, v):
    n = R.randint(2, 9)
    et, m = "ErrorException", f"Undefined array key {n}"
    st = phpstack(et, m, ["Illuminate\\Foundation\\Bootstrap\\HandleExceptions.handleError(HandleExceptions.php:255)",
                          "App\\Exports\\CsvExporter.write(CsvExporter.php:71)",
                          "App\\Http\\Controllers\\Admin\\ExportController.pages(ExportController.php:23)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


# --- division_by_zero -----------------------------------------------------------------------

def div_net(t, v):
    et, m = "System.DivideByZeroException", "Attempted to divide by zero."
    st = netstack(et, m, ["Reporting.Api.Metrics.FunnelCalculator.StepConversion(FunnelStep from, FunnelStep to) in /src/Reporting.Api/Metrics/FunnelCalculator.cs:line 47",
                          "Reporting.Api.Services.ReportService.BuildAsync(Int32 reportId, CancellationToken ct) in /src/Reporting.Api/Services/ReportService.cs:line 104",
                          "Reporting.Api.Controllers.ReportsController.Get(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 58"] + NET_ASP)
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


def div_py(t, v):
    et, m = "ZeroDivisionError", pick(["division by zero", "float division by zero"])
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 88, "import_catalog_feed", "items = parse_feed(body, mapping)"),
                              ("/app/ingest/feeds/pricing.py", 23, "normalise_price", "return round(row.price_cents / row.pack_size)")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def div_java(t, v):
    et, m = "java.lang.ArithmeticException", "/ by zero"
    st = jstack(et, m, ["com.acme.billing.invoicing.VatCalculator.effectiveRate(VatCalculator.java:44)",
                        "com.acme.billing.invoicing.InvoiceRenderer.render(InvoiceRenderer.java:112)",
                        "com.acme.billing.invoicing.OrderCompletedListener.onOrderCompleted(OrderCompletedListener.java:51)"])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def div_php(t, v):
    et, m = "DivisionByZeroError", "Division by zero"
    st = phpstack(et, m, ["App\\Reports\\TrafficReport.conversionRate(TrafficReport.php:58)",
                          "App\\Http\\Controllers\\Admin\\ReportController.traffic(ReportController.php:31)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


def div_rb(t, v):
    et, m = "ZeroDivisionError", "divided by 0"
    st = rbstack(et, m, ["/app/app/services/weekly_digest.rb:44:in `/'", "/app/app/services/weekly_digest.rb:44:in `engagement_rate'",
                         "/app/app/services/weekly_digest.rb:17:in `build'", "/app/app/jobs/weekly_digest_job.rb:9:in `perform'",
                         "/usr/local/bundle/gems/sidekiq-7.2.4/lib/sidekiq/processor.rb:220:in `execute_job'"])
    rec(t, et, m, st)
    return Err("forum", et, m, st)


def div_go(t, v):
    m = "runtime error: integer divide by zero"
    st = go_panic_stack("github.com/acme/activity-feed/internal/feed.(*Ranker).Score(0xc0004b2000, {0xc000a1e000, 0x0, 0x0})",
                        "/src/internal/feed/ranker.go", 131).replace("github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery.recoverFrom",
                                                                     "github.com/acme/activity-feed/internal/httpx.Recover.func1.1")
    t.exc("runtime.errorString", m, st)
    t.error(m)
    log_event(t, f"panic recovered: {m}", "ERROR")
    return Err("activity-feed", "runtime.errorString", m, status=500)


def div_rust(t, v):
    msg = "attempt to divide by zero"
    t.event(f"panicked at src/transcode.rs:212:31:\n{msg}", {"level": "ERROR", "target": "media_pipeline::panic",
                                                             "code.filepath": "src/transcode.rs", "code.lineno": 212, "panic.payload": msg})
    t.error(msg)
    return Err("media-pipeline", "tokio::task::JoinError", f'task {R.randint(40, 9000)} panicked with message "{msg}"')


# --- config_missing -------------------------------------------------------------------------

def cfg_py(t, v):
    key = pick(["CATALOG_FEED_BUCKET", "PARTNER_FEED_TOKEN", "PRICE_ROUNDING_MODE"])
    et, m = "KeyError", f"'{key}'"
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 71, "import_catalog_feed", f'bucket = os.environ["{key}"]'),
                              ("/usr/local/lib/python3.12/os.py", 714, "__getitem__", "raise KeyError(key) from None")], et, m)
    return ("at", t.parent, Err("ingest-worker", et, m, st))


def cfg_java(t, v):
    del t.children[:]
    et = "org.springframework.beans.factory.BeanCreationException"
    m = ("Error creating bean with name 'adyenCheckoutClient' defined in class path resource [com/acme/billing/psp/AdyenConfig.class]: "
         "Failed to instantiate [com.adyen.Client]: Factory method 'adyenCheckoutClient' threw exception with message: "
         "Could not resolve placeholder 'ADYEN_MERCHANT_ACCOUNT' in value \"${ADYEN_MERCHANT_ACCOUNT}\"")
    st = jstack(et, m, ["org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:648)",
                        "org.springframework.beans.factory.support.AbstractBeanFactory.getBean(AbstractBeanFactory.java:205)",
                        "com.acme.billing.psp.AdyenGateway.authorize(AdyenGateway.java:52)"],
                [("java.lang.IllegalArgumentException", "Could not resolve placeholder 'ADYEN_MERCHANT_ACCOUNT' in value \"${ADYEN_MERCHANT_ACCOUNT}\"",
                  ["org.springframework.util.PropertyPlaceholderHelper.parseStringValue(PropertyPlaceholderHelper.java:180)"], 61)])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def cfg_rust(t, v):
    rust_err(t, "failed to load transcode presets", "media_pipeline::transcode", "src/transcode.rs", 58,
             "reading TRANSCODE_PRESETS_DIR: environment variable not found")
    del t.children[:]
    return Err("media-pipeline", "anyhow::Error", "transcode: failed to load transcode presets: reading TRANSCODE_PRESETS_DIR: environment variable not found")


def cfg_node(t, v):
    del t.children[:]
    m = ('The "key" argument must be of type string or an instance of ArrayBuffer, Buffer, TypedArray, DataView, KeyObject, or CryptoKey. '
         'Received undefined')
    st = nodestack("TypeError [ERR_INVALID_ARG_TYPE]", m, ["prepareSecretKey (node:internal/crypto/keys:632:11)",
                                                          "new Hmac (node:internal/crypto/hash:151:9)",
                                                          "Object.createHmac (node:crypto:168:10)",
                                                          "verifyImageSignature (/app/dist/server/lib/image-signing.js:19:24)"] + NODE_EXPRESS)
    rec(t, "ERR_INVALID_ARG_TYPE", m, st)
    return Err("storefront-web", "ERR_INVALID_ARG_TYPE", m, st)


def cfg_net(t, v):
    et, m = "System.InvalidOperationException", "The ConnectionString property has not been initialized."
    st = netstack(et, m, ["Microsoft.Data.SqlClient.SqlConnection.PermissionDemand()",
                          "Microsoft.Data.SqlClient.SqlConnectionFactory.PermissionDemand(DbConnection outerConnection)",
                          "Microsoft.Data.SqlClient.SqlConnection.OpenAsync(CancellationToken cancellationToken)",
                          "Reporting.Api.Exports.ExportRepository.LoadRowsAsync(Int32 reportId, CancellationToken ct) in /src/Reporting.Api/Exports/ExportRepository.cs:line 29"] + NET_ASP)
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


def cfg_rb(t, v):
    et, m = "KeyError", 'key not found: "SMTP_PASSWORD"'
    st = rbstack(et, m, ["/app/config/initializers/mailer.rb:7:in `fetch'", "/app/config/initializers/mailer.rb:7:in `block in <main>'",
                         "/usr/local/bundle/gems/actionmailer-7.1.3.4/lib/action_mailer/delivery_methods.rb:77:in `wrap_delivery_behavior!'",
                         "/app/app/jobs/weekly_digest_job.rb:12:in `perform'"])
    rec(t, et, m, st)
    return Err("forum", et, m, st)


def cfg_go(t, v):
    for k in ("server.address", "server.port", "http.response.status_code"):
        t.attrs.pop(k, None)
    t.attrs["url.full"] = "/v2/quotes"
    t.status = None
    m = 'Post "/v2/quotes": unsupported protocol scheme ""'
    go_err(t, "*url.Error", m)
    return Err("cart-service", "*fmt.wrapError", f"tax quote: {m}")


# --- circuit_open ---------------------------------------------------------------------------

def cb_java(t, v):
    del t.children[:]
    et, m = "io.github.resilience4j.circuitbreaker.CallNotPermittedException", "CircuitBreaker 'adyenCheckout' is OPEN and does not permit further calls"
    st = jstack(et, m, ["io.github.resilience4j.circuitbreaker.CallNotPermittedException.createCallNotPermittedException(CallNotPermittedException.java:48)",
                        "io.github.resilience4j.circuitbreaker.internal.CircuitBreakerStateMachine$OpenState.acquirePermission(CircuitBreakerStateMachine.java:696)",
                        "io.github.resilience4j.circuitbreaker.CircuitBreaker.lambda$decorateCheckedSupplier$82a9021a$1(CircuitBreaker.java:70)",
                        "com.acme.billing.psp.AdyenGateway.authorize(AdyenGateway.java:61)"])
    rec(t, et, m, st)
    e = Err("billing", et, m, st, status=503, unhandled=False)
    return e


def cb_net(t, v):
    b = detach(t)
    et, m = "Polly.CircuitBreaker.BrokenCircuitException", "The circuit is now open and is not allowing calls."
    st = netstack(et, m, ["Polly.CircuitBreaker.CircuitStateController`1.OnActionPreExecute()",
                          "Polly.CircuitBreaker.CircuitBreakerResilienceStrategy`1.ExecuteCore[TState](Func`3 callback, ResilienceContext context, TState state)",
                          "Microsoft.Extensions.Http.Resilience.ResilienceHandler.SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)",
                          "Reporting.Api.Clients.BillingClient.GetDailyRevenueAsync(DateOnly from, DateOnly to, CancellationToken ct) in /src/Reporting.Api/Clients/BillingClient.cs:line 33"])
    return ("at", b, Err("reports-api", et, m, st))


def cb_node(t, v):
    ex = detach(t)
    m = "Breaker is open"
    st = nodestack("Error", m, ["CircuitBreaker.call (/app/node_modules/opossum/lib/circuit.js:666:17)",
                               "CircuitBreaker.fire (/app/node_modules/opossum/lib/circuit.js:571:22)",
                               "relatedProducts (/app/dist/server/graphql/resolvers/product.js:86:38)"])
    return ("at", ex, Err("storefront-web", "EOPENBREAKER", m, st, status=200))


def cb_go(t, v):
    root = detach(t)
    if root.count() < 3:  # the optional session lookup, drawn as present
        root.add(redis("edge-gateway", "get", f"sess:{hexs(32)}"))
    m = "proxy recommendations: circuit breaker is open"
    if R.random() < 0.5:  # fallback: popular items from the cache, answered 200
        root.exc("*fmt.wrapError", m)
        root.add(redis("edge-gateway", "get", "reco:popular:v2"))
        log_event(root, "recommendations breaker open; served popular-items fallback", "WARN")
        return None
    go_err(root, "*fmt.wrapError", m)
    set_http_status(root, 503)
    root.attrs["error.type"] = "503"
    return None


def cb_py(t, v):
    rk = detach(t)
    et, m = "pybreaker.CircuitBreakerError", "Timeout not elapsed yet, circuit breaker still open"
    st = pystack(PY_STARLETTE + [("/app/reco/ranking/rank.py", 97, "rank_candidates", "vectors = embed_breaker.call(embed, texts)"),
                                 ("/usr/local/lib/python3.11/site-packages/pybreaker.py", 262, "call", "return self.state.call(func, *args, **kwargs)"),
                                 ("/usr/local/lib/python3.11/site-packages/pybreaker.py", 841, "before_call", "raise CircuitBreakerError(error_msg)")],
                 et, m)
    return ("at", rk, Err("recommendations", et, m, st))


def cb_rb(t, v):
    root = detach(t)
    et, m = "Stoplight::Error::RedLight", "mapbox-geocoding"
    st = rbstack(et, m, ["/usr/local/bundle/gems/stoplight-4.1.0/lib/stoplight/light/runnable.rb:84:in `run_red'",
                         "/usr/local/bundle/gems/stoplight-4.1.0/lib/stoplight/light/runnable.rb:24:in `run'",
                         "/app/app/services/geocoder.rb:19:in `lookup'", "/app/app/controllers/users_controller.rb:24:in `create'"] + RB_RAILS)
    return ("at", root, Err("forum", et, m, st))


# --- client_cancelled -----------------------------------------------------------------------

def cancel_gw(t, v):
    url = t.attrs["url.full"]
    go_err(t, "*url.Error", f'{t.name} "{url}": context canceled')
    t.attrs.pop("http.response.status_code", None)
    root = t.parent
    del root.children[root.children.index(t) + 1:]
    set_http_status(root, 502)
    root.attrs["error.type"] = "502"
    root.error()
    log_event(root, "http: proxy error: context canceled", "ERROR")
    return None


def cancel_net(t, v):
    m = ("A severe error occurred on the current command.  The results, if any, should be discarded.\nOperation cancelled by user.")
    rec(t, "Microsoft.Data.SqlClient.SqlException", m)
    root = t.parent
    del root.children[root.children.index(t) + 1:]
    set_http_status(root, 499)
    et, em = "System.Threading.Tasks.TaskCanceledException", "A task was canceled."
    root.exc(et, em, netstack(et, em, ["Microsoft.Data.SqlClient.SqlCommand.<>c.<ExecuteDbDataReaderAsync>b__209_0(Task`1 result)",
                                       "Reporting.Api.Controllers.ReportsController.Get(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/ReportsController.cs:line 55"] + NET_ASP))
    root.attrs["error.type"] = et
    log_event(root, "The request was aborted by the client.", "INFO")
    return None


def cancel_node(t, v):
    root = t.parent
    del root.children[root.children.index(t):]
    mw = root.add(Sp("storefront-web", "middleware - jsonParser", INTERNAL, "internal",
                     {"express.name": "jsonParser", "express.type": "middleware", "http.route": "/"}, R.uniform(200, 4000), scope="express"))
    m = "request aborted"
    rec(mw, "ECONNABORTED", m, nodestack("BadRequestError", m, ["IncomingMessage.onAborted (/app/node_modules/raw-body/index.js:245:10)",
                                                               "IncomingMessage.emit (node:events:519:28)",
                                                               "IncomingMessage._destroy (node:_http_incoming:224:10)",
                                                               "_destroy (node:internal/streams/destroy:121:10)"]))
    set_http_status(root, 400)
    return None


def cancel_java(t, v):
    root = t.parent
    et, m = "org.apache.catalina.connector.ClientAbortException", "java.io.IOException: Broken pipe"
    st = jstack(et, m, ["org.apache.catalina.connector.OutputBuffer.realWriteBytes(OutputBuffer.java:341)",
                        "org.apache.catalina.connector.OutputBuffer.flushByteBuffer(OutputBuffer.java:778)",
                        "com.fasterxml.jackson.core.json.UTF8JsonGenerator._flushBuffer(UTF8JsonGenerator.java:2203)",
                        "org.springframework.http.converter.json.AbstractJackson2HttpMessageConverter.writeInternal(AbstractJackson2HttpMessageConverter.java:483)"]
                + JAVA_WEB, [("java.io.IOException", "Broken pipe", ["java.base/sun.nio.ch.SocketDispatcher.write0(Native Method)"], 63)])
    rec(root, et, m, st)
    root.attrs["error.type"] = et
    return None


def cancel_go_feed(t, v):
    go_err(t, "*errors.errorString", "context canceled")
    srv = t.parent
    del srv.children[srv.children.index(t) + 1:]
    m = f"get feed {v['user']}: context canceled"
    go_err(srv, "*fmt.wrapError", m)
    srv.status = None  # handler records the error; the 499 it writes is not a server error
    set_http_status(srv, 499)
    gc = srv.parent
    go_err(gc, "*url.Error", f'GET "{gc.attrs["url.full"]}": context canceled')
    gc.attrs.pop("http.response.status_code", None)
    root = gc.parent
    set_http_status(root, 502)
    root.attrs["error.type"] = "502"
    root.error()
    log_event(root, "http: proxy error: context canceled", "ERROR")
    return None


# --- smtp_failure ---------------------------------------------------------------------------

def smtp_node_auth(t, v):
    m = "Invalid login: 535 5.7.0 Mailgun is not loving your login or password"
    rec(t, "EAUTH", m, nodestack("Error", m, ["SMTPConnection._formatError (/app/node_modules/nodemailer/lib/smtp-connection/index.js:798:19)",
                                             "SMTPConnection._actionAUTHComplete (/app/node_modules/nodemailer/lib/smtp-connection/index.js:1577:34)",
                                             "SMTPConnection.<anonymous> (/app/node_modules/nodemailer/lib/smtp-connection/index.js:1531:18)"]),
        extra=None)
    t.attrs.update({"smtp.response_code": 535, "smtp.command": "AUTH PLAIN"})
    return Err("mailer", "EAUTH", m, t.events[-1][1]["exception.stacktrace"])


def smtp_node_rcpt(t, v):
    m = (f"Can't send mail - all recipients were rejected: 550 5.1.1 <{v.get('email') or email()}>: Recipient address rejected: "
         f"User unknown in virtual mailbox table")
    rec(t, "EENVELOPE", m, nodestack("Error", m, ["SMTPConnection._formatError (/app/node_modules/nodemailer/lib/smtp-connection/index.js:798:19)",
                                                 "SMTPConnection._actionRCPT (/app/node_modules/nodemailer/lib/smtp-connection/index.js:1735:28)"]))
    t.attrs.update({"smtp.response_code": 550, "smtp.command": "RCPT TO"})
    return Err("mailer", "EENVELOPE", m, t.events[-1][1]["exception.stacktrace"])


def smtp_node_greet(t, v):
    m = "Greeting never received"
    t.ms = 30000 + R.uniform(0, 40)
    rec(t, "ETIMEDOUT", m, nodestack("Error", m, ["SMTPConnection._formatError (/app/node_modules/nodemailer/lib/smtp-connection/index.js:798:19)",
                                                 "SMTPConnection._onError (/app/node_modules/nodemailer/lib/smtp-connection/index.js:784:20)",
                                                 "Timeout.<anonymous> (/app/node_modules/nodemailer/lib/smtp-connection/index.js:237:22)",
                                                 "listOnTimeout (node:internal/timers:573:17)"]))
    t.attrs.update({"smtp.command": "CONN"})
    return Err("mailer", "ETIMEDOUT", m, t.events[-1][1]["exception.stacktrace"])


def smtp_rb(t, v):
    et = "Net::SMTPFatalError"
    m = ("554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: "
         "noreply@community.acme-shop.com\n")
    st = rbstack(et, m, ["/usr/local/bundle/gems/net-smtp-0.5.0/lib/net/smtp.rb:1094:in `check_response'",
                         "/usr/local/bundle/gems/net-smtp-0.5.0/lib/net/smtp.rb:1067:in `data'",
                         "/usr/local/bundle/gems/mail-2.8.1/lib/mail/network/delivery_methods/smtp.rb:109:in `deliver!'",
                         "/app/app/jobs/notify_mentions_job.rb:15:in `perform'"])
    rec(t, et, m, st)
    e = Err("forum", et, m, st)
    return e


def smtp_java(t, v):
    et = "org.springframework.mail.MailSendException"
    m = ("Mail server connection failed. Failed messages: org.eclipse.angus.mail.util.MailConnectException: Couldn't connect to host, port: "
         "smtp.eu.mailgun.org, 587; timeout 5000;\n  nested exception is:\n\tjava.net.SocketTimeoutException: Connect timed out")
    t.ms = 5000 + R.uniform(0, 30)
    rec(t, et, m, jstack(et, m, ["org.springframework.mail.javamail.JavaMailSenderImpl.doSend(JavaMailSenderImpl.java:437)",
                                "org.springframework.mail.javamail.JavaMailSenderImpl.send(JavaMailSenderImpl.java:361)",
                                "com.acme.accounts.mail.MailService.send(MailService.java:44)"]))
    log_event(t.parent, f"account-closed confirmation for user {v['user']} not sent; will retry from outbox", "WARN")
    return None  # caught and logged: the request itself succeeds


def smtp_py(t, v):
    et = "smtplib.SMTPAuthenticationError"
    m = (f"(535, b'5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
         f"https://aka.ms/smtp_auth_disabled for more information. [AM{R.randint(0, 9)}PR0{R.randint(1, 9)}CA00{R.randint(10, 99)}.eurprd0{R.randint(1, 9)}.prod.outlook.com "
         f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(time.time() - R.randint(0, 10800)))}.{R.randint(100, 999)}Z {hexs(16).upper()}]')")
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 131, "import_catalog_feed", "send_import_report(partner, stats)"),
                              ("/app/ingest/reporting.py", 40, "send_import_report", "smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)"),
                              ("/usr/local/lib/python3.12/smtplib.py", 750, "login", "raise last_exception")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def smtp_net(t, v):
    et = "MailKit.Net.Smtp.SmtpCommandException"
    m = f"5.7.57 Client not authenticated to send mail. [AM{R.randint(0, 9)}PR0{R.randint(1, 9)}CA00{R.randint(10, 99)}.eurprd0{R.randint(1, 9)}.prod.outlook.com]"
    st = netstack(et, m, ["MailKit.Net.Smtp.SmtpClient.SendAsync(FormatOptions options, MimeMessage message, MailboxAddress sender, IList`1 recipients, CancellationToken cancellationToken, ITransferProgress progress)",
                          "Reporting.Api.Exports.ExportMailer.SendAsync(ExportResult export, CancellationToken ct) in /src/Reporting.Api/Exports/ExportMailer.cs:line 51"] + NET_ASP)
    rec(t, et, m, st)
    t.attrs["smtp.status_code"] = "MailboxUnavailable"
    return Err("reports-api", et, m, st)


# --- webhook_signature_invalid --------------------------------------------------------------

def wh_java(t, v):
    et = "com.acme.billing.webhooks.InvalidHmacSignatureException"
    m = f"HMAC signature validation failed for notification item pspReference={psp_ref()} (eventCode=AUTHORISATION)"
    st = jstack(et, m, ["com.acme.billing.webhooks.AdyenNotificationVerifier.verify(AdyenNotificationVerifier.java:39)",
                        "com.acme.billing.web.AdyenWebhookController.handle(AdyenWebhookController.java:46)"] + JAVA_WEB)
    del t.children[1:]
    rec(t, et, m, st)
    return Err("billing", et, m, st, status=401, unhandled=False)


def wh_rb(t, v):
    et, m = "Stripe::SignatureVerificationError", "No signatures found matching the expected signature for payload"
    st = rbstack(et, m, ["/usr/local/bundle/gems/stripe-11.7.0/lib/stripe/webhook.rb:113:in `verify_header'",
                         "/usr/local/bundle/gems/stripe-11.7.0/lib/stripe/webhook.rb:12:in `construct_event'",
                         "/app/app/controllers/webhooks/stripe_controller.rb:8:in `create'"] + RB_RAILS)
    rec(t, et, m, st)
    return Err("forum", et, m, st, status=400, unhandled=False)


def wh_php(t, v):
    et, m = "Spatie\\WebhookClient\\Exceptions\\InvalidWebhookSignature", "The signature is invalid."
    st = phpstack(et, m, ["Spatie\\WebhookClient\\Exceptions\\InvalidWebhookSignature.make(InvalidWebhookSignature.php:11)",
                          "Spatie\\WebhookClient\\WebhookProcessor.ensureValidSignature(WebhookProcessor.php:38)",
                          "Spatie\\WebhookClient\\Http\\Controllers\\WebhookController.__invoke(WebhookController.php:15)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


def wh_node(t, v):
    del t.children[:]
    m = ("No signatures found matching the expected signature for payload. Are you passing the raw request body you received from Stripe? \n"
         " Learn more about webhook signing and explore webhook integration examples for various frameworks at "
         "https://github.com/stripe/stripe-node#webhook-signing")
    st = nodestack("StripeSignatureVerificationError", m, ["validateComputedSignature (/app/node_modules/stripe/cjs/Webhooks.js:149:19)",
                                                          "Object.verifyHeader (/app/node_modules/stripe/cjs/Webhooks.js:75:20)",
                                                          "Object.constructEvent (/app/node_modules/stripe/cjs/Webhooks.js:10:32)"] + NODE_EXPRESS)
    rec(t, "StripeSignatureVerificationError", m, st)
    set_http_status(t.parent, 400)
    return None


def wh_py(t, v):
    log_event(t, f"Shopify webhook HMAC mismatch for topic products/update from acme-wholesale.myshopify.com "
                 f"(X-Shopify-Webhook-Id {uid()})", "WARNING")
    et, m = "fastapi.exceptions.HTTPException", "401: HMAC validation failed"
    rec(t, et, m, pystack([("/app/reco/api/webhooks.py", 33, "verify_webhook", 'raise HTTPException(status_code=401, detail="HMAC validation failed")')], et, m))
    return Err("recommendations", et, m, status=401, unhandled=False)


# --- object_not_found -----------------------------------------------------------------------

def nokey_py(t, v):
    t.attrs["http.status_code"] = 404
    et = "botocore.errorfactory.NoSuchKey"
    m = "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist."
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 79, "import_catalog_feed", "mapping = load_mapping(s3, bucket, partner)"),
                              ("/app/ingest/feeds/mapping.py", 18, "load_mapping", 'obj = s3.get_object(Bucket=bucket, Key=f"feeds/{partner}/mapping.json")'),
                              ("/usr/local/lib/python3.12/site-packages/botocore/client.py", 1021, "_make_api_call",
                               "raise error_class(parsed_response, operation_name)")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def nokey_rust(t, v):
    rust_err(t, "GetObject failed", "aws_sdk_s3::operation::get_object", "src/storage.rs", 64,
             f"service error: NoSuchKey: The specified key does not exist. (s3://acme-media-raw/uploads/raw/{v['asset']})")
    return Err("media-pipeline", "anyhow::Error", f"fetch source uploads/raw/{v['asset']}: service error: NoSuchKey: The specified key does not exist.")


def nokey_java(t, v):
    t.attrs["http.response.status_code"] = 404
    et = "software.amazon.awssdk.services.s3.model.NoSuchKeyException"
    m = f"The specified key does not exist. (Service: S3, Status Code: 404, Request ID: {aws_req_id()}, Extended Request ID: {ext_req_id()})"
    st = jstack(et, m, ["software.amazon.awssdk.services.s3.model.NoSuchKeyException$BuilderImpl.build(NoSuchKeyException.java:126)",
                        "software.amazon.awssdk.core.internal.http.CombinedResponseHandler.handleErrorResponse(CombinedResponseHandler.java:125)",
                        "software.amazon.awssdk.services.s3.DefaultS3Client.getObject(DefaultS3Client.java:5570)",
                        "com.acme.billing.invoicing.TemplateStore.load(TemplateStore.java:37)",
                        "com.acme.billing.invoicing.InvoiceRenderer.render(InvoiceRenderer.java:71)"])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def nokey_php(t, v):
    set_http_status(t, 404)
    t.error()
    key = t.attrs["url.full"].split(".amazonaws.com/", 1)[1]
    et = "League\\Flysystem\\UnableToReadFile"
    m = (f"Unable to read file from location: {key}. Error executing \"GetObject\" on \"{t.attrs['url.full']}\"; AWS HTTP error: Client error: "
         f"`GET {t.attrs['url.full']}` resulted in a `404 Not Found` response:\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         f"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>{key[:18]} (truncated...)\n"
         f" NoSuchKey (client): The specified key does not exist.")
    st = phpstack(et, m, ["League\\Flysystem\\UnableToReadFile.fromLocation(UnableToReadFile.php:30)",
                          "League\\Flysystem\\AwsS3V3\\AwsS3V3Adapter.readObject(AwsS3V3Adapter.php:449)",
                          "App\\Services\\PageRenderer.heroImage(PageRenderer.php:98)"] + PHP_LARAVEL)
    return ("at", t.parent, Err("cms-admin", et, m, st))


def nokey_node(t, v):
    t.attrs["http.status_code"] = 404
    m = "The specified key does not exist."
    rec(t, "NoSuchKey", m, nodestack("NoSuchKey", m, ["de_NoSuchKeyRes (/app/node_modules/@aws-sdk/client-s3/dist-cjs/index.js:4993:21)",
                                                     "de_CommandError (/app/node_modules/@aws-sdk/client-s3/dist-cjs/index.js:4840:19)",
                                                     "process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
                                                     "async loadSourceImage (/app/dist/server/lib/images.js:41:18)"]))
    return Err("storefront-web", "NoSuchKey", m, t.events[-1][1]["exception.stacktrace"])


# --- api_key_rejected -----------------------------------------------------------------------

def key_py(t, v):
    set_http_status(t, 401)
    t.error()
    et = "openai.AuthenticationError"
    m = (f"Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: sk-proj-{'*' * 20}{alnum(4, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}. "
         f"You can find your API key at https://platform.openai.com/account/api-keys.', 'type': 'invalid_request_error', 'param': None, "
         f"'code': 'invalid_api_key'}}}}")
    st = pystack(PY_STARLETTE + [("/app/reco/ranking/rank.py", 97, "rank_candidates", "vectors = embed_breaker.call(embed, texts)"),
                                 ("/app/reco/ranking/embeddings.py", 22, "embed", 'resp = client.embeddings.create(model="text-embedding-3-small", input=texts)'),
                                 ("/usr/local/lib/python3.11/site-packages/openai/_base_client.py", 1041, "_request",
                                  "raise self._make_status_error_from_response(err.response) from None")], et, m)
    return ("at", t.parent, Err("recommendations", et, m, st))


def key_node(t, v):
    set_http_status(t, 401)
    t.error()
    m = "Authenticate"
    st = nodestack("Error", m, ["success (/app/node_modules/twilio/lib/base/Version.js:79:23)",
                               "Promise_then_fulfilled (/app/node_modules/q/q.js:766:44)",
                               "async sendSms (/app/dist/consumers/sms.js:33:9)"])
    log_event(t.parent, "twilio rejected request: code=20003 status=401 moreInfo=https://www.twilio.com/docs/errors/20003", "error")
    return ("from", t, Err("mailer", "RestException", m, st))


def key_go(t, v):
    set_http_status(t, 401)
    t.error()
    t.attrs["error.type"] = "401"
    m = 'tax quote: taxly: 401 Unauthorized: {"error":"invalid_api_key","message":"API key is invalid or has been revoked"}'
    return ("at", t.parent, Err("cart-service", "*errors.errorString", m))


def key_java(t, v):
    set_http_status(t, 401)
    t.error()
    t.attrs["error.type"] = "401"
    et = "com.adyen.service.exception.ApiException"
    m = "HTTP Exception"
    st = jstack(et, m, ["com.adyen.httpclient.AdyenHttpClient.request(AdyenHttpClient.java:118)",
                        "com.adyen.service.resource.Resource.request(Resource.java:96)",
                        "com.adyen.service.checkout.PaymentsApi.payments(PaymentsApi.java:487)",
                        "com.acme.billing.psp.AdyenGateway.authorize(AdyenGateway.java:74)"])
    log_event(t.parent, "Adyen API call failed: ApiException{statusCode=401, error=ApiError{status=401, errorCode='000', "
                        "message='HTTP Status Response - Unauthorized', errorType='security'}}", "ERROR")
    return ("at", t.parent, Err("billing", et, m, st))


def key_rb(t, v):
    set_http_status(t, 401)
    t.error()
    et, m = "Faraday::UnauthorizedError", "the server responded with status 401"
    st = rbstack(et, m, ["/usr/local/bundle/gems/faraday-2.9.2/lib/faraday/response/raise_error.rb:22:in `on_complete'",
                         "/app/app/services/geocoder.rb:21:in `lookup'", "/app/app/controllers/users_controller.rb:24:in `create'"] + RB_RAILS)
    t.exc(et, m, st)
    return ("from", t, Err("forum", et, m, st))


def key_net(t, v):
    et = "Reporting.Api.Fx.FxProviderException"
    m = "exchange rate provider returned result 'error' with error-type 'invalid-key'"
    st = netstack(et, m, ["Reporting.Api.Fx.ExchangeRateApiClient.GetLatestAsync(String baseCurrency, CancellationToken ct) in /src/Reporting.Api/Fx/ExchangeRateApiClient.cs:line 47",
                          "Reporting.Api.Controllers.FxController.Get(Int32 id, CancellationToken ct) in /src/Reporting.Api/Controllers/FxController.cs:line 22"] + NET_ASP)
    log_event(t.parent, 'FX provider response: {"result":"error","documentation":"https://www.exchangerate-api.com/docs","error-type":"invalid-key"}', "WARN")
    return ("at", t.parent, Err("reports-api", et, m, st))


# --- connection_reset -----------------------------------------------------------------------

def reset_rust(t, v):
    rust_err(t, "PutObject failed", "aws_smithy_runtime::client::orchestrator", "src/storage.rs", 91,
             "dispatch failure: io error: connection reset by peer (os error 104)")
    return Err("media-pipeline", "anyhow::Error",
               f"upload rendition renditions/{v['asset']}/index.m3u8: dispatch failure: io error: connection reset by peer (os error 104)")


def reset_py(t, v):
    t.attrs.pop("http.status_code", None)
    et, m = "requests.exceptions.ConnectionError", "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 64, "import_catalog_feed", "body = fetch_feed(partner)"),
                              ("/app/ingest/feeds/fetch.py", 28, "fetch_feed", "resp = session.get(url, stream=True, timeout=(5, 120))"),
                              ("/usr/local/lib/python3.12/site-packages/requests/adapters.py", 682, "send", "raise ConnectionError(err, request=request)")],
                 et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def reset_java(t, v):
    t.attrs.pop("http.response.status_code", None)
    t.attrs["error.type"] = "java.net.SocketException"
    et, m = "java.net.SocketException", "Connection reset"
    st = jstack(et, m, ["java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:318)",
                        "java.base/sun.security.ssl.SSLSocketInputRecord.read(SSLSocketInputRecord.java:484)",
                        "okio.InputStreamSource.read(JvmOkio.kt:93)",
                        "okhttp3.internal.http1.Http1ExchangeCodec.readResponseHeaders(Http1ExchangeCodec.kt:179)",
                        "com.adyen.httpclient.AdyenHttpClient.request(AdyenHttpClient.java:109)"])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def reset_node(t, v):
    t.attrs.pop("http.status_code", None)
    m = "read ECONNRESET"
    rec(t, "ECONNRESET", m, nodestack("Error", m, ["TCP.onStreamRead (node:internal/stream_base_commons:218:20)"]))
    t.attrs.update({"http.error_name": "Error", "http.error_message": m})
    return Err("storefront-web", "ECONNRESET", m, t.events[-1][1]["exception.stacktrace"], status=200)


def reset_gw(t, v):
    a, b = ip(), ip()
    m = f"read tcp {a}:{eport()}->{b}:8000: read: connection reset by peer"
    go_err(t, "*net.OpError", m)
    t.attrs.pop("http.response.status_code", None)
    root = t.parent
    del root.children[root.children.index(t) + 1:]
    set_http_status(root, 502)
    root.attrs["error.type"] = "502"
    root.error()
    log_event(root, f"http: proxy error: {m}", "ERROR")
    return None


def reset_net(t, v):
    et, m = "System.Net.Http.HttpRequestException", "An error occurred while sending the request."
    st = netstack(et, m, ["System.Net.Http.HttpConnection.SendAsync(HttpRequestMessage request, Boolean async, CancellationToken cancellationToken)",
                          "Amazon.Runtime.HttpWebRequestMessage.GetResponseAsync(CancellationToken cancellationToken)",
                          "Reporting.Api.Exports.ExportStore.PutAsync(String key, Stream body, CancellationToken ct) in /src/Reporting.Api/Exports/ExportStore.cs:line 36"] + NET_ASP,
                  inner=("System.IO.IOException", "Unable to read data from the transport connection: Connection reset by peer.",
                         ["System.Net.Sockets.Socket.AwaitableSocketAsyncEventArgs.ThrowException(SocketError error, CancellationToken cancellationToken)"]))
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


# --- too_many_open_files --------------------------------------------------------------------

def fd_gw(t, v):
    m = f"dial tcp {ip()}:8000: socket: too many open files"
    del t.children[:]
    go_err(t, "*net.OpError", m)
    t.attrs.pop("http.response.status_code", None)
    root = t.parent
    del root.children[root.children.index(t) + 1:]
    set_http_status(root, 502)
    root.attrs["error.type"] = "502"
    root.error()
    log_event(root, f"http: proxy error: {m}", "ERROR")
    return None


def fd_rust(t, v):
    n = R.randint(1, 900)
    rust_err(t, "failed to write segment", "media_pipeline::transcode", "src/transcode.rs", 144,
             f"create /tmp/transcode-{v['asset'][:8]}/seg_{n:05d}.ts: Too many open files (os error 24)")
    return Err("media-pipeline", "anyhow::Error", f"transcode: create /tmp/transcode-{v['asset'][:8]}/seg_{n:05d}.ts: Too many open files (os error 24)")


def fd_py(t, v):
    et, m = "OSError", f"[Errno 24] Too many open files: '/tmp/feed-{hexs(8)}/part-{R.randint(1, 999):04d}.csv'"
    st = pystack(PY_CELERY + [("/app/ingest/tasks/catalog.py", 88, "import_catalog_feed", "items = parse_feed(body, mapping)"),
                              ("/app/ingest/feeds/parse.py", 34, "split_feed", 'out = open(os.path.join(tmpdir, f"part-{i:04d}.csv"), "w", newline="")')],
                 et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def fd_node(t, v):
    path = f"/app/.next/cache/images/{alnum(43, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')}"
    m = f"EMFILE: too many open files, open '{path}'"
    rec(t, "EMFILE", m, nodestack("Error", m, ["Object.openSync (node:fs:573:18)", "Object.readFileSync (node:fs:452:35)",
                                              "ImageOptimizerCache.get (/app/node_modules/next/dist/server/image-optimizer.js:172:40)"]))
    t.attrs.update({"fs.path": path})
    return Err("storefront-web", "EMFILE", m, t.events[-1][1]["exception.stacktrace"])


def fd_java(t, v):
    et = "java.io.FileNotFoundException"
    m = f"/tmp/invoices/INV-{R.randint(100000, 999999)}.pdf (Too many open files)"
    st = jstack(et, m, ["java.base/java.io.FileOutputStream.open0(Native Method)", "java.base/java.io.FileOutputStream.open(FileOutputStream.java:289)",
                        "com.openhtmltopdf.pdfboxout.PdfRendererBuilder.toStream(PdfRendererBuilder.java:98)",
                        "com.acme.billing.invoicing.InvoiceRenderer.render(InvoiceRenderer.java:130)"])
    rec(t, et, m, st)
    return Err("billing", et, m, st)


def fd_php(t, v):
    et = "ErrorException"
    m = (f"fopen(/var/www/html/storage/app/exports/pages-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(time.time() - R.randint(0, 10800)))}.csv): "
         f"Failed to open stream: Too many open files")
    st = phpstack(et, m, ["Illuminate\\Foundation\\Bootstrap\\HandleExceptions.handleError(HandleExceptions.php:255)",
                          "fopen(CsvExporter.php:44)", "App\\Exports\\CsvExporter.write(CsvExporter.php:44)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


# --- stack_overflow -------------------------------------------------------------------------

def so_java(t, v):
    et = "java.lang.StackOverflowError"
    frames = []
    for _ in range(6):
        frames += ["com.acme.accounts.domain.User.hashCode(User.java:24)", "java.base/java.util.AbstractSet.hashCode(AbstractSet.java:124)",
                   "org.hibernate.collection.spi.PersistentSet.hashCode(PersistentSet.java:416)", "com.acme.accounts.domain.Role.hashCode(Role.java:19)"]
    st = jstack(et, "", frames)
    rec(t, et, "", st)
    e = Err("accounts", et, "", st)
    e.servlet_msg = "Handler dispatch failed: java.lang.StackOverflowError"
    return e


def so_py(t, v):
    et, m = "RecursionError", "maximum recursion depth exceeded while calling a Python object"
    st = pystack(PY_STARLETTE + [("/app/reco/api/categories.py", 29, "category_tree", "return build_tree(nodes, root_id)")] +
                 [("/app/reco/catalog/tree.py", 17, "build_tree", "children = [build_tree(nodes, c) for c in nodes[node_id].children]")] * 3 +
                 [("/app/reco/catalog/tree.py", 17, "<listcomp>", "children = [build_tree(nodes, c) for c in nodes[node_id].children]"),
                  ("", "", "", "[Previous line repeated 984 more times]")], et, m).replace('  File "", line , in \n    [Previous', "  [Previous")
    rec(t, et, m, st)
    return Err("recommendations", et, m, st)


def so_node(t, v):
    m = "Maximum call stack size exceeded"
    st = nodestack("RangeError", m, ["flattenBundle (/app/dist/server/graphql/resolvers/bundle.js:12:22)"] * 8)
    rec(t, "RangeError", m, st)
    return Err("storefront-web", "RangeError", m, st, status=200)


def so_rb(t, v):
    et, m = "ActionView::Template::Error", "stack level too deep"
    st = rbstack(et, m, ["/app/app/views/posts/_reply.html.erb:9:in `_app_views_posts__reply_html_erb___1138219382874652341_87360'"] * 6 +
                 ["/usr/local/bundle/gems/actionview-7.1.3.4/lib/action_view/template.rb:261:in `block in render'"] + RB_RAILS)
    rec(t, et, m, st)
    return Err("forum", et, m, st)


def so_php(t, v):
    et, m = "Error", "Maximum call stack size of 8339456 bytes reached. Infinite recursion?"
    st = phpstack(et, m, ["App\\Services\\BlockTree.resolve(BlockTree.php:41)"] * 6 + ["App\\Services\\PageRenderer.render(PageRenderer.php:61)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


# --- poison_message_dlq ---------------------------------------------------------------------

def dlq_java(t, v):
    root = t
    del root.children[1:]
    et = "org.springframework.kafka.listener.ListenerExecutionFailedException"
    m = ("Listener method 'public void com.acme.billing.invoicing.OrderCompletedListener.onOrderCompleted(com.acme.billing.events.OrderCompleted)' "
         "threw exception")
    cause = ("java.lang.IllegalArgumentException", "No enum constant com.acme.billing.domain.Currency.XBT",
             ["java.base/java.lang.Enum.valueOf(Enum.java:273)", "com.acme.billing.domain.Currency.valueOf(Currency.java:5)"], 12)
    rec(root, et, m, jstack(et, m, ["org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.decorateException(KafkaMessageListenerContainer.java:2973)",
                                    "org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.doInvokeOnMessage(KafkaMessageListenerContainer.java:2893)"],
                            [cause]))
    log_event(root, f"Backoff FixedBackOff{{interval=1000, currentAttempts=4, maxAttempts=3}} exhausted for orders.completed-{v['partition']}@{v['offset']}", "ERROR")
    root.add(publish("billing", "kafka", "orders.completed.DLT", key=v["order"]))
    return None


def dlq_node(t, v):
    root = t
    del root.children[1:]
    n = R.randint(4, 8)
    m = '"recipient.email" must be a valid email'
    st = nodestack("ValidationError", m, ["Object.exports.process (/app/node_modules/joi/lib/errors.js:193:16)",
                                          "handleEmailSend (/app/dist/consumers/email.js:27:38)"])
    rec(root.children[0], "ValidationError", m, st)
    rec(root, "ValidationError", m, st)
    log_event(root, f"giving up after {n} attempts (x-retry-count={n}); publishing to email.send.dlq", "error")
    root.attrs["messaging.rabbitmq.delivery_count"] = n
    root.add(publish("mailer", "rabbitmq", "email.send.dlq", key="email.send.dlq"))
    return None


def dlq_py(t, v):
    root = t
    del root.children[2:]
    et, m = "ValueError", "invalid literal for int() with base 10: 'N/A'"
    rec(root, et, m, pystack(PY_CELERY + [("/app/ingest/tasks/stock.py", 41, "process_stock_event", 'qty = int(event["qty"])')], et, m))
    root.attrs["celery.state"] = "FAILURE"
    mid = uid()
    log_event(root, f"Task ingest.process_stock_event[{mid}] failed permanently after 5 retries; "
                    f"message moved to ingest-stock-events-dlq", "ERROR")
    root.add(Sp("ingest-worker", "SQS.SendMessage", PRODUCER, "producer",
                {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": "SendMessage", "aws.region": "eu-west-1",
                 "messaging.system": "aws_sqs", "messaging.destination.name": "ingest-stock-events-dlq",
                 "messaging.url": f"https://sqs.eu-west-1.amazonaws.com/{R.randint(10**11, 10**12 - 1)}/ingest-stock-events-dlq",
                 "aws.request_id": uid(), "http.status_code": 200}, R.uniform(8, 40), scope="aws"))
    return None


def dlq_rb(t, v):
    job = t
    del job.children[:]
    pid = R.randint(100000, 999999)
    et, m = "ActiveRecord::RecordNotFound", f"Couldn't find Post with 'id'={pid}"
    rec(job, et, m, rbstack(et, m, ["/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/core.rb:253:in `find'",
                                    "/app/app/jobs/notify_mentions_job.rb:6:in `perform'"]))
    log_event(job, f"NotifyMentionsJob JID-{hexs(24)} has exhausted its 25 retries; moving to the Dead set", "ERROR")
    return None


def dlq_net(t, v):
    root = t
    del root.children[1:]
    et, m = "System.FormatException", "The input string 'n/a' was not in a correct format."
    rec(root, et, m, netstack(et, m, ["System.Number.ThrowFormatException[TChar](ReadOnlySpan`1 value)",
                                      "Reporting.Api.Consumers.ReportRequestedConsumer.Consume(ConsumeContext`1 context) in /src/Reporting.Api/Consumers/ReportRequestedConsumer.cs:line 41"]))
    log_event(root, f"R-FAULT rabbitmq://rabbitmq.messaging.svc.cluster.local/report-requested {uid()} Reporting.Contracts.ReportRequested "
                    f"Reporting.Api.Consumers.ReportRequestedConsumer(00:00:00.0{R.randint(100, 999)}) after 5 redeliveries", "ERROR")
    root.add(publish("reports-api", "rabbitmq", "report-requested_error"))
    return None


def dlq_go(t, v):
    root = t
    del root.children[1:]
    m = (f"poison record at activity-events[{v['partition']}]@{v['offset']}: validate event: missing actor_id; "
         f"published to activity-events.dlq")
    go_err(root, "*fmt.wrapError", f"process activity-events: validate event: missing actor_id")
    log_event(root, m, "ERROR")
    root.add(publish("activity-feed", "kafka", "activity-events.dlq"))
    return None


# --- mongo_not_primary ----------------------------------------------------------------------

def mongo_py_np(t, v):
    t.error("not primary")
    et = "pymongo.errors.NotPrimaryError"
    m = ("not primary, full error: {'topologyVersion': {'processId': ObjectId('" + hexs(24) + "'), 'counter': " + str(R.randint(3, 12)) +
         "}, 'ok': 0.0, 'errmsg': 'not primary', 'code': 10107, 'codeName': 'NotWritablePrimary', '$clusterTime': {'clusterTime': Timestamp("
         + str(int(time.time()) - R.randint(0, 10800)) + ", 3)}}")
    st = pystack(PY_STARLETTE + [("/app/reco/api/profiles.py", 58, "update_profile", "await db.user_profiles.update_one({'external_id': key}, update, upsert=True)"),
                                 ("/usr/local/lib/python3.11/site-packages/pymongo/helpers.py", 270, "_check_command_response",
                                  "raise NotPrimaryError(errmsg, response)")], et, m)
    return ("at", t.parent, Err("recommendations", et, m, st))


def mongo_py_wc(t, v):
    t.error("waiting for replication timed out")
    et = "pymongo.errors.WriteConcernError"
    m = ("waiting for replication timed out, full error: {'code': 64, 'codeName': 'WriteConcernFailed', 'errmsg': 'waiting for replication timed out', "
         "'errInfo': {'wtimeout': True, 'writeConcern': {'w': 'majority', 'wtimeout': 5000, 'provenance': 'clientSupplied'}}}")
    t.ms = 5000 + R.uniform(0, 20)
    st = pystack(PY_STARLETTE + [("/app/reco/api/profiles.py", 58, "update_profile", "await db.user_profiles.update_one({'external_id': key}, update, upsert=True)"),
                                 ("/usr/local/lib/python3.11/site-packages/pymongo/helpers.py", 244, "_raise_write_concern_error",
                                  "raise WriteConcernError(error.get(\"errmsg\"), error.get(\"code\"), error)")], et, m)
    return ("at", t.parent, Err("recommendations", et, m, st))


def mongo_node(t, v):
    m = "not primary and secondaryOk=false"
    rec(t, "MongoServerError", m, nodestack("MongoServerError", m, ["Connection.onMessage (/app/node_modules/mongodb/lib/cmap/connection.js:230:30)",
                                                                  "MessageStream.<anonymous> (/app/node_modules/mongodb/lib/cmap/connection.js:61:60)"]))
    t.attrs["db.response.status_code"] = "13435"
    return Err("storefront-web", "MongoServerError", m, t.events[-1][1]["exception.stacktrace"], status=200)


def mongo_java(t, v):
    host = MONGO["accounts"][0].replace("-0.", f"-{R.randint(0, 2)}.")
    et = "com.mongodb.MongoNotPrimaryException"
    m = (f"Command failed with error 10107 (NotWritablePrimary): 'not primary' on server {host}:27017. The full response is "
         f'{{"topologyVersion": {{"processId": {{"$oid": "{hexs(24)}"}}, "counter": {R.randint(3, 12)}}}, "ok": 0.0, "errmsg": "not primary", '
         f'"code": 10107, "codeName": "NotWritablePrimary"}}')
    st = jstack(et, m, ["com.mongodb.internal.connection.ProtocolHelper.createSpecialException(ProtocolHelper.java:251)",
                        "com.mongodb.internal.connection.InternalStreamConnection.receiveCommandMessageResponse(InternalStreamConnection.java:558)",
                        "org.springframework.data.mongodb.core.MongoTemplate.insert(MongoTemplate.java:1317)",
                        "com.acme.accounts.audit.AuditLog.record(AuditLog.java:33)"])
    rec(t, et, m, st)
    return Err("accounts", et, m, st)


def mongo_go(t, v):
    m = "(NotWritablePrimary) not primary"
    go_err(t, "mongo.CommandError", m)
    return Err("activity-feed", "*fmt.wrapError", f"update feed state for {v['user']}: {m}", status=500)


def mongo_net(t, v):
    et, m = "MongoDB.Driver.MongoNotPrimaryException", "Server returned not primary error."
    st = netstack(et, m, ["MongoDB.Driver.Core.WireProtocol.CommandUsingCommandMessageWireProtocol`1.ProcessResponse(ConnectionId connectionId, CommandMessage responseMessage)",
                          "MongoDB.Driver.MongoCollectionImpl`1.InsertOneAsync(TDocument document, InsertOneOptions options, CancellationToken cancellationToken)",
                          "Reporting.Api.Snapshots.SnapshotStore.SaveAsync(ReportSnapshot snapshot, CancellationToken ct) in /src/Reporting.Api/Snapshots/SnapshotStore.cs:line 27"] + NET_ASP)
    rec(t, et, m, st)
    return Err("reports-api", et, m, st)


# --- cassandra_unavailable ------------------------------------------------------------------

def cass_go(t, v):
    m = "Cannot achieve consistency level LOCAL_QUORUM"
    go_err(t, "*gocql.RequestErrUnavailable", m)
    return Err("activity-feed", "*fmt.wrapError", f"get feed {v['user']}: {m}", status=500)


def cass_go_nohost(t, v):
    m = "gocql: no hosts available in the pool"
    go_err(t, "*errors.errorString", m)
    return Err("activity-feed", "*fmt.wrapError", f"insert feed entry: {m}")


def cass_java(t, v):
    et = "com.datastax.oss.driver.api.core.servererrors.UnavailableException"
    m = "Not enough replicas available for query at consistency LOCAL_QUORUM (2 required but only 1 alive)"
    st = jstack(et, m, ["com.datastax.oss.driver.api.core.servererrors.UnavailableException.copy(UnavailableException.java:97)",
                        "com.datastax.oss.driver.internal.core.util.concurrent.CompletableFutures.getUninterruptibly(CompletableFutures.java:151)",
                        "com.datastax.oss.driver.api.core.cql.SyncCqlSession.execute(SyncCqlSession.java:53)",
                        "com.acme.accounts.session.LoginHistory.record(LoginHistory.java:41)"])
    rec(t, et, m, st)
    return Err("accounts", et, m, st)


def cass_java_wt(t, v):
    et = "com.datastax.oss.driver.api.core.servererrors.WriteTimeoutException"
    m = "Cassandra timeout during SIMPLE write query at consistency LOCAL_QUORUM (2 replica were required but only 1 acknowledged the write)"
    t.ms = 2000 + R.uniform(0, 30)
    st = jstack(et, m, ["com.datastax.oss.driver.api.core.servererrors.WriteTimeoutException.copy(WriteTimeoutException.java:98)",
                        "com.datastax.oss.driver.api.core.cql.SyncCqlSession.execute(SyncCqlSession.java:53)",
                        "com.acme.accounts.session.LoginHistory.record(LoginHistory.java:41)"])
    rec(t, et, m, st)
    return Err("accounts", et, m, st)


def cass_py(t, v):
    et = "cassandra.Unavailable"
    m = ("Error from server: code=1000 [Unavailable exception] message=\"Cannot achieve consistency level LOCAL_QUORUM\" "
         "info={'consistency': 'LOCAL_QUORUM', 'required_replicas': 2, 'alive_replicas': 1}")
    st = pystack(PY_STARLETTE + [("/app/reco/api/routes.py", 75, "get_recommendations", "views = recent_views(session, user_id)"),
                                 ("/app/reco/store/views.py", 19, "recent_views", "rows = session.execute(RECENT_VIEWS, (user_id,))"),
                                 ("cassandra/cluster.py", 4894, "cassandra.cluster.ResponseFuture.result", None)], et, m)
    rec(t, et, m, st)
    return Err("recommendations", et, m, st)


def cass_py_nohost(t, v):
    et = "cassandra.cluster.NoHostAvailable"
    hs = ", ".join(f"<Host: {ip()}:9042 eu-west-1>: ConnectionException('Host has been marked down or removed')" for _ in range(3))
    m = f"('Unable to complete the operation against any hosts', {{{hs}}})"
    st = pystack(PY_STARLETTE + [("/app/reco/store/views.py", 19, "recent_views", "rows = session.execute(RECENT_VIEWS, (user_id,))"),
                                 ("cassandra/cluster.py", 2677, "cassandra.cluster.Session.execute", None)], et, m)
    rec(t, et, m, st)
    return Err("recommendations", et, m, st)


# --- tls_hostname_mismatch ------------------------------------------------------------------

def tls_go(t, v):
    m = "tls: failed to verify certificate: x509: certificate is valid for *.taxly-staging.net, taxly-staging.net, not api.taxly.io"
    t.attrs.pop("http.response.status_code", None)
    t.status = None
    go_err(t, "*tls.CertificateVerificationError", m)
    return Err("cart-service", "*fmt.wrapError", f'tax quote: Post "https://api.taxly.io/v2/quotes": {m}')


def tls_java(t, v):
    t.attrs.pop("http.response.status_code", None)
    t.status = None
    et = "javax.net.ssl.SSLPeerUnverifiedException"
    b64 = "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(43))
    m = ("Hostname checkout-live.adyenpayments.com not verified:\n    certificate: sha256/" + b64 + "=\n"
         "    DN: CN=*.egress-proxy.acme.internal\n    subjectAltNames: [*.egress-proxy.acme.internal, egress-proxy.acme.internal]")
    st = jstack(et, m, ["okhttp3.internal.connection.RealConnection.connectTls(RealConnection.kt:390)",
                        "okhttp3.internal.connection.RealConnection.establishProtocol(RealConnection.kt:337)",
                        "okhttp3.internal.connection.RealConnection.connect(RealConnection.kt:209)",
                        "com.adyen.httpclient.AdyenHttpClient.request(AdyenHttpClient.java:109)"])
    rec(t, et, m, st)
    t.attrs["error.type"] = et
    return Err("billing", et, m, st)


def tls_py(t, v):
    t.attrs.pop("http.status_code", None)
    host = t.attrs["net.peer.name"]
    et = "requests.exceptions.SSLError"
    m = (f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /v2/catalog.csv (Caused by "
         f"SSLError(SSLCertVerificationError(1, \"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate "
         f"is not valid for '{host}'. (_ssl.c:1000)\")))")
    st = pystack(PY_CELERY + [("/app/ingest/feeds/fetch.py", 28, "fetch_feed", "resp = session.get(url, stream=True, timeout=(5, 120))"),
                              ("/usr/local/lib/python3.12/site-packages/requests/adapters.py", 698, "send", "raise SSLError(e, request=request)")], et, m)
    rec(t, et, m, st)
    return Err("ingest-worker", et, m, st)


def tls_node(t, v):
    t.attrs.pop("http.status_code", None)
    t.status = None
    m = ("Hostname/IP does not match certificate's altnames: Host: cdn-img.acme-shop.com. is not in the cert's altnames: "
         "DNS:*.cloudfront.net, DNS:cloudfront.net")
    rec(t, "ERR_TLS_CERT_ALTNAME_INVALID", m, nodestack("Error", m, ["Object.checkServerIdentity (node:tls:316:12)",
                                                                   "TLSSocket.onConnectSecure (node:_tls_wrap:1674:27)",
                                                                   "TLSSocket.emit (node:events:519:28)"]))
    return Err("storefront-web", "ERR_TLS_CERT_ALTNAME_INVALID", m, t.events[-1][1]["exception.stacktrace"])


def tls_rb(t, v):
    t.attrs.pop("http.status_code", None)
    t.status = None
    et = "Faraday::SSLError"
    m = f"SSL_connect returned=1 errno=0 peeraddr={pubip()}:443 state=error: certificate verify failed (hostname mismatch)"
    st = rbstack(et, m, ["/usr/local/lib/ruby/3.3.0/net/protocol.rb:46:in `connect_nonblock'",
                         "/usr/local/lib/ruby/3.3.0/net/http.rb:1674:in `connect'",
                         "/usr/local/bundle/gems/faraday-net_http-3.1.0/lib/faraday/adapter/net_http.rb:100:in `perform_request'",
                         "/app/app/services/geocoder.rb:21:in `lookup'"] + RB_RAILS)
    rec(t, et, m, st)
    return Err("forum", et, m, st)


def tls_php(t, v):
    t.attrs.pop("http.response.status_code", None)
    t.status = None
    et = "GuzzleHttp\\Exception\\RequestException"
    m = ("cURL error 60: SSL: no alternative certificate subject name matches target host name 'preview.acme-cms.io' "
         "(see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for https://preview.acme-cms.io/api/deploy")
    st = phpstack(et, m, ["GuzzleHttp\\Handler\\CurlFactory.createRejection(CurlFactory.php:275)",
                          "GuzzleHttp\\Handler\\CurlFactory.finishError(CurlFactory.php:205)",
                          "App\\Services\\DeployPreview.trigger(DeployPreview.php:31)"] + PHP_LARAVEL)
    rec(t, et, m, st)
    return Err("cms-admin", et, m, st)


def tls_net(t, v):
    t.attrs.pop("http.response.status_code", None)
    t.status = None
    et, m = "System.Net.Http.HttpRequestException", "The SSL connection could not be established, see inner exception."
    st = netstack(et, m, ["System.Net.Http.ConnectHelper.EstablishSslConnectionAsync(SslClientAuthenticationOptions sslOptions, HttpRequestMessage request, Boolean async, Stream stream, CancellationToken cancellationToken)",
                          "Reporting.Api.Fx.ExchangeRateApiClient.GetLatestAsync(String baseCurrency, CancellationToken ct) in /src/Reporting.Api/Fx/ExchangeRateApiClient.cs:line 39"] + NET_ASP,
                  inner=("System.Security.Authentication.AuthenticationException",
                         "The remote certificate is invalid according to the validation procedure: RemoteCertificateNameMismatch",
                         ["System.Net.Security.SslStream.SendAuthResetSignal(ReadOnlySpan`1 alert, ExceptionDispatchInfo exception)"]))
    rec(t, et, m, st)
    t.attrs["error.type"] = "System.Net.Http.HttpRequestException"
    return Err("reports-api", et, m, st)


# fault type -> [(flow, slot, variant)]
FAULTS = {
    "cache_unavailable": [("cart_get", "cache", cache_go), ("recs", "cache", cache_py), ("topic_show", "cache", cache_rb),
                          ("login", "cache", cache_java), ("product_page", "cache", cache_node), ("report_get", "cache", cache_net)],
    "search_cluster_unavailable": [("search", "search", search_py), ("forum_search", "search", search_rb), ("cms_search", "search", search_php),
                                   ("product_page", "search", search_node), ("admin_user_search", "search", search_java)],
    "optimistic_lock_conflict": [("prefs", "db_update", olock_java), ("invoice", "db_update", olock_java_kafka), ("post_create", "db_insert", olock_rb),
                                 ("report_rename", "db_update", olock_net), ("cart_add", "db_update", olock_go), ("ingest", "db_update", olock_py)],
    "unique_violation": [("signup", "db_insert", uniq_java), ("forum_signup", "db_insert", uniq_rb), ("cms_page_create", "db_insert", uniq_php),
                         ("newsletter", "db_insert", uniq_node), ("reco_signup_profile", "db_insert", uniq_py),
                         ("report_subscribe", "db_insert", uniq_net)],
    "fk_violation": [("forum_admin_destroy", "db_delete", fk_rb), ("cms_page_delete", "db_delete", fk_php), ("report_delete", "db_delete", fk_net),
                     ("cart_clear", "db_delete", fk_go), ("close_account", "db_delete", fk_java), ("ingest", "db_insert", fk_py)],
    "null_reference": [("profile", "logic", null_java), ("product_page", "logic", null_node), ("recs", "logic", null_py),
                       ("forum_profile", "logic", null_rb), ("report_get", "logic", null_net), ("cms_page", "logic", null_php),
                       ("cart_get", "logic", null_go)],
    "index_out_of_range": [("transcode", "probe", idx_rust), ("feed", "logic", idx_go), ("ingest", "logic", idx_py),
                           ("invoice", "logic", idx_java), ("report_consumer", "logic", idx_net), ("cms_export", "logic", idx_php)],
    "division_by_zero": [("report_get", "logic", div_net), ("ingest", "logic", div_py), ("invoice", "logic", div_java),
                         ("cms_report", "logic", div_php), ("forum_digest", "logic", div_rb), ("feed", "logic", div_go),
                         ("transcode", "logic", div_rust)],
    "config_missing": [("ingest", "s3", cfg_py), ("checkout", "breaker", cfg_java), ("transcode", "logic", cfg_rust),
                       ("image", "sf_handler", cfg_node), ("report_export", "db", cfg_net), ("forum_digest", "smtp", cfg_rb),
                       ("cart_get", "partner", cfg_go)],
    "circuit_open": [("checkout", "breaker", cb_java), ("report_get", "rep_client", cb_net), ("product_page", "search", cb_node),
                     ("recs", "gw_client", cb_go), ("recs", "partner", cb_py), ("forum_signup", "partner", cb_rb)],
    "client_cancelled": [("search", "gw_client", cancel_gw), ("report_get", "db", cancel_net), ("signup", "sf_handler", cancel_node),
                         ("admin_user_search", "logic", cancel_java), ("feed", "cassandra", cancel_go_feed)],
    "smtp_failure": [("mailer_email", "smtp", smtp_node_auth), ("signup", "smtp", smtp_node_rcpt), ("mailer_email", "smtp", smtp_node_greet),
                     ("post_create", "smtp", smtp_rb), ("close_account", "smtp", smtp_java), ("ingest", "smtp", smtp_py),
                     ("report_export", "smtp", smtp_net)],
    "webhook_signature_invalid": [("billing_webhook", "webhook", wh_java), ("forum_stripe_webhook", "webhook", wh_rb),
                                  ("cms_github", "webhook", wh_php), ("sf_stripe_webhook", "webhook", wh_node),
                                  ("reco_shopify_webhook", "webhook", wh_py)],
    "object_not_found": [("ingest", "s3", nokey_py), ("transcode", "s3_get", nokey_rust), ("invoice", "s3_get", nokey_java),
                         ("cms_page", "s3", nokey_php), ("image", "s3", nokey_node)],
    "api_key_rejected": [("recs", "partner", key_py), ("mailer_sms", "partner", key_node), ("cart_get", "partner", key_go),
                         ("checkout", "partner", key_java), ("forum_signup", "partner", key_rb), ("report_fx", "partner", key_net)],
    "connection_reset": [("transcode", "s3_put", reset_rust), ("ingest", "partner", reset_py), ("checkout", "partner", reset_java),
                         ("sf_recs_gql", "sf_client", reset_node), ("search", "gw_client", reset_gw), ("report_export", "s3_put", reset_net)],
    "too_many_open_files": [("recs", "gw_client", fd_gw), ("transcode", "logic", fd_rust), ("ingest", "logic", fd_py),
                            ("image", "fs", fd_node), ("invoice", "logic", fd_java), ("cms_export", "logic", fd_php)],
    "stack_overflow": [("profile", "logic", so_java), ("categories", "logic", so_py), ("product_page", "logic", so_node),
                       ("topic_show", "logic", so_rb), ("cms_page", "logic", so_php)],
    "poison_message_dlq": [("invoice", None, dlq_java), ("mailer_email", None, dlq_node), ("ingest_event", None, dlq_py),
                           ("post_create", "consumer", dlq_rb), ("report_consumer", None, dlq_net), ("feed_event", None, dlq_go)],
    "mongo_not_primary": [("reco_profile", "mongo_write", mongo_py_np), ("reco_profile", "mongo_write", mongo_py_wc),
                          ("product_page", "mongo", mongo_node), ("login", "mongo", mongo_java), ("feed", "mongo", mongo_go),
                          ("report_get", "mongo", mongo_net)],
    "cassandra_unavailable": [("feed", "cassandra", cass_go), ("feed_event", "cassandra", cass_go_nohost), ("login", "cassandra", cass_java),
                              ("login", "cassandra", cass_java_wt), ("recs", "cassandra", cass_py), ("recs", "cassandra", cass_py_nohost)],
    "tls_hostname_mismatch": [("cart_get", "partner", tls_go), ("checkout", "partner", tls_java), ("ingest", "partner", tls_py),
                              ("image", "partner", tls_node), ("forum_signup", "partner", tls_rb), ("cms_github", "partner", tls_php),
                              ("report_fx", "partner", tls_net)],
}


def fault_trace(flow, slot, fn):
    for _ in range(200):
        root = FLOWS[flow]()
        t = root if slot is None else root.find(slot)
        if t is not None:
            break
    else:
        raise RuntimeError(f"{flow} never has slot {slot}")
    res = fn(t, root.v)
    if isinstance(res, Err):
        fail(t, res)
    elif isinstance(res, tuple):
        how, node, err = res
        if how == "at":
            raise_at(node, err)
        else:
            fail(node, err)
    return root


# --------------------------------------------------------------------------------------------
# decoys: healthy traces that share words with the questions (cancel, declined, null island,
# cache stats, duplicates, retries, breaker metrics, dead letters, file descriptors, replica
# set changes, node health, certificates, config reloads, key rotation, edit locks, resets)
# --------------------------------------------------------------------------------------------

def d_cancel_order():
    oid = order_id()
    root = gw_entry("POST", "/api/orders/{orderId}/cancel", path=f"/api/orders/{oid}/cancel")
    c, srv = gw_proxy(root, "POST", "billing", "/api/v1/payments/{id}/cancel", f"/api/v1/payments/{R.randint(10**6, 10**7)}/cancel")
    ctl = srv.add(controller("billing", "PaymentController", "cancel"))
    ctl.add(http_client("billing", "POST", f"https://checkout-live.adyenpayments.com/checkout/v71/payments/{psp_ref()}/cancels", status=201))
    ctl.add(sql("billing", "UPDATE", "payments", "update payments set status=?,cancelled_at=?,version=? where id=? and version=?"))
    ctl.add(publish("billing", "kafka", "payments.cancelled", key=oid))
    log_event(ctl, f"payment for {oid} cancelled at customer request (reason=changed_mind)", "INFO")
    return root


def d_declined_report():
    root = http_server("billing", "GET", "/api/v1/reports/declined-payments", query="from=2024-06-01&to=2024-06-30")
    ctl = root.add(controller("billing", "PaymentReportController", "declined"))
    ctl.add(sql("billing", "SELECT", "payments", "select p1_0.refusal_reason,count(*) from payments p1_0 where p1_0.result_code=? and p1_0.created_at between ? and ? group by 1"))
    ctl.add(sql("billing", "SELECT", "payments", "select count(*) from payments p1_0 where p1_0.created_at between ? and ?"))
    return root


def d_null_island():
    root = celery_task("ingest-worker", "ingest.fix_null_island_coordinates")
    root.add(sql("ingest-worker", "SELECT", "store_locations", "SELECT id, name FROM store_locations WHERE lat = 0 AND lon = 0"))
    root.add(sql("ingest-worker", "UPDATE", "store_locations", "UPDATE store_locations SET lat = NULL, lon = NULL, geocode_status = 'pending' WHERE lat = 0 AND lon = 0"))
    log_event(root, f"reset {R.randint(0, 6)} store locations sitting on null island (0,0); queued for re-geocoding", "INFO")
    return root


def d_cache_stats():
    root = http_server("edge-gateway", "GET", "/internal/cache/stats")
    root.add(redis("edge-gateway", "info", "stats"))
    root.add(redis("edge-gateway", "info", "memory"))
    root.add(internal("edge-gateway", "cache.Summarize", {"cache.hit_ratio": round(R.uniform(0.82, 0.97), 3)}))
    return root


def d_email_available():
    root = sf_entry("GET", "/api/signup/email-available", query=f"email={email().replace('@', '%40')}")
    h = root.add(handler("storefront-web", "/api/signup/email-available"))
    c, srv = sf_call(h, "GET", "accounts", "/api/v1/users/email-available", "/api/v1/users/email-available")
    ctl = srv.add(controller("accounts", "UserController", "emailAvailable"))
    ctl.add(sql("accounts", "SELECT", "users", "select count(u1_0.id) from users u1_0 where lower(u1_0.email)=lower(?)"))
    log_event(h, f"email availability check: available={pick(['true', 'false'])} (duplicate signup prevented client-side)", "info")
    return root


def d_mail_retry():
    root = f_mailer_email()
    log_event(root.find("smtp"), "SMTP connection closed by pool, retrying connection attempt 1 of 3", "info")
    log_event(root.find("smtp"), f"250 2.0.0 Ok: queued as {alnum(10)}", "info")
    return root


def d_breaker_metrics():
    root = Sp("billing", "CircuitBreakerMetricsPublisher.publish", INTERNAL, "internal",
              {"code.namespace": "com.acme.billing.ops.CircuitBreakerMetricsPublisher", "code.function": "publish",
               "job.system": "spring_scheduling"}, R.uniform(1, 5), scope="app")
    root.scope = "app"
    root.add(sql("billing", "SELECT", "psp_health", "select h1_0.psp,h1_0.window_start,h1_0.calls,h1_0.failures from psp_health h1_0 where h1_0.window_start>?"))
    root.add(publish("billing", "kafka", "ops.breaker-metrics", key="adyenCheckout"))
    log_event(root, f"circuitbreaker adyenCheckout state=CLOSED failureRate={R.uniform(0, 2):.1f}% slowCallRate=0.0% bufferedCalls=100", "INFO")
    return root


def d_dlq_redrive():
    root = celery_task("ingest-worker", "ingest.redrive_dead_letters")
    for op in ("GetQueueAttributes", "ReceiveMessage"):
        root.add(Sp("ingest-worker", f"SQS.{op}", CLIENT, "client",
                    {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": op, "aws.region": "eu-west-1",
                     "aws.queue_url": "https://sqs.eu-west-1.amazonaws.com/412381762291/ingest-stock-events-dlq",
                     "aws.request_id": uid(), "http.status_code": 200}, R.uniform(8, 40), scope="aws"))
    log_event(root, "redriven 0 messages from ingest-stock-events-dlq (ApproximateNumberOfMessages=0)", "INFO")
    return root


def d_fd_report():
    root = http_server("media-pipeline", "GET", "/healthz/deep")
    ch = root.add(internal("media-pipeline", "check_resources", {"_target": "media_pipeline::health", "_file": "src/health.rs"}))
    ch.event(f"open file descriptors {R.randint(200, 1400)} of 65536", {"level": "INFO", "target": "media_pipeline::health"})
    root.add(s3("media-pipeline", "HeadBucket", "acme-media-raw", ""))
    root.add(s3("media-pipeline", "HeadBucket", "acme-media-public", ""))
    return root


def d_category_depth():
    root = f_categories()
    log_event(root.find("logic"), f"walked category tree depth={R.randint(5, 9)} nodes={R.randint(900, 2400)} (recursion limit 1000)", "INFO")
    return root


def d_mongo_topology():
    root = f_feed()
    srv = root.find("server")
    log_event(srv, f"mongo topology changed: {MONGO['activity-feed'][0].replace('-0.', '-1.')} is now PRIMARY (replica set rs-social, election term {R.randint(20, 90)})",
              "INFO")
    return root


def d_cassandra_health():
    root = http_server("activity-feed", "GET", "/internal/cassandra/health", name="/internal/cassandra/health")
    root.add(cassandra("activity-feed", "SELECT", "system.peers", "SELECT peer, data_center, rack, release_version FROM system.peers", consistency="ONE"))
    root.add(cassandra("activity-feed", "SELECT", "system.local", "SELECT cluster_name, release_version FROM system.local", consistency="ONE"))
    log_event(root, "cassandra ring: 3/3 nodes UN in eu-west-1, consistency LOCAL_QUORUM achievable", "info")
    return root


def d_cert_inventory():
    root = rep_req("GET", "api/admin/certificates")
    root.add(http_client("reports-api", "POST", "https://acm.eu-west-1.amazonaws.com/"))
    log_event(root, f"{R.randint(8, 16)} certificates checked, hostnames match their SANs, next expiry in {R.randint(20, 80)} days", "INFO")
    return root


def d_config_reload():
    root = http_server("edge-gateway", "POST", "/internal/config/reload")
    root.add(internal("edge-gateway", "config.Reload"))
    root.add(redis("edge-gateway", "publish", "config-changed 1"))
    log_event(root, f"config reloaded: {R.randint(30, 60)} keys, 0 missing, feature flags {R.randint(10, 30)}", "info")
    return root


def d_key_rotation():
    partner = pick(["partner-wholesale", "nordic-outdoor", "brightline-home"])
    root = celery_task("ingest-worker", "ingest.rotate_partner_credentials")
    root.add(http_client("ingest-worker", "POST", f"https://feeds.{partner}.com/oauth/token", scope="requests"))
    root.add(sql("ingest-worker", "UPDATE", "partners", "UPDATE partners SET api_key_ref = %(ref)s, rotated_at = now() WHERE slug = %(slug)s"))
    log_event(root, f"rotated API key for partner {partner} (key id k_{hexs(8)}); old key valid for 24h", "INFO")
    return root


def d_page_lock():
    pid = R.randint(10, 9000)
    root = cms_req("POST", "/admin/pages/{page}/lock", path=f"/admin/pages/{pid}/lock")
    root.add(redis("cms-admin", "set", f"page-lock:{pid} nx ex 300"))
    root.add(sql("cms-admin", "SELECT", "pages", "select `id`, `updated_at`, `version` from `pages` where `id` = ? limit 1"))
    log_event(root, f"editing lock on page {pid} acquired by user {R.randint(2, 60)} (expires in 300s)", "INFO")
    return root


def d_abandoned_cart():
    root = f_mailer_email()
    root.children[1].attrs["email.template"] = "abandoned-cart-reminder"
    log_event(root, f"customer left checkout {R.randint(2, 20)}h ago without paying; sending reminder", "info")
    return root


def d_webhook_verified():
    root = f_forum_stripe_webhook()
    log_event(root.find("webhook"), f"webhook signature verified for evt_{alnum(24, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')} (tolerance 300s)", "INFO")
    return root


def d_duplicates_report():
    root = rep_req("GET", "api/reports/duplicate-customers")
    root.add(sql("reports-api", "SELECT", "Customers", "SELECT [c].[Email], COUNT(*) FROM [Customers] AS [c] GROUP BY [c].[Email] HAVING COUNT(*) > 1"))
    root.add(internal("reports-api", "DuplicateCustomerReport.Build", {"report.rows": R.randint(0, 40)}))
    return root


def d_dead_letters_admin():
    root = http_server("billing", "GET", "/api/v1/admin/dead-letters", query="topic=orders.completed.DLT")
    ctl = root.add(controller("billing", "DeadLetterController", "list"))
    ctl.add(sql("billing", "SELECT", "dead_letters", "select d1_0.id,d1_0.topic,d1_0.partition_no,d1_0.offset_no,d1_0.reason from dead_letters d1_0 where d1_0.topic=? order by d1_0.id desc fetch first ? rows only"))
    return root


def d_password_reset():
    root = sf_entry("POST", "/password-reset", mw_max=1)
    h = root.add(handler("storefront-web", "/password-reset"))
    c, srv = sf_call(h, "POST", "accounts", "/api/v1/password-resets", "/api/v1/password-resets")
    ctl = srv.add(controller("accounts", "PasswordResetController", "create"))
    ctl.add(sql("accounts", "SELECT", "users", "select u1_0.id from users u1_0 where lower(u1_0.email)=lower(?)"))
    ctl.add(sql("accounts", "INSERT", "password_reset_tokens", "insert into password_reset_tokens (expires_at,token_hash,user_id,id) values (?,?,?,?)"))
    pb = ctl.add(publish("accounts", "rabbitmq", "user.events", key="user.password_reset_requested"))
    mc = pb.add(consume("mailer", "rabbitmq", "email.password-reset"))
    mc.add(smtp_span("mailer"))
    return root


def d_upload_resume():
    aid = uid()
    root = http_server("media-pipeline", "POST", "/v1/uploads/{id}/resume", path=f"/v1/uploads/{aid}/resume")
    for part in range(R.randint(1, 3)):
        root.add(s3("media-pipeline", "UploadPart", "acme-media-raw", f"uploads/raw/{aid}"))
    root.add(s3("media-pipeline", "CompleteMultipartUpload", "acme-media-raw", f"uploads/raw/{aid}"))
    root.children[0].event("resuming multipart upload after client reconnect", {"level": "INFO", "target": "media_pipeline::upload",
                                                                                 "upload.parts_done": R.randint(2, 40)})
    return root


def d_search_retry():
    root = f_search()
    log_event(root.find("search"), f"retrying elasticsearch request (attempt 2/3) after node es-products-{R.randint(0, 5)} was slow", "INFO")
    return root


def d_zero_results():
    root = f_search()
    log_event(root.find("server"), "query returned 0 hits; showing popular products instead", "INFO")
    return root


DECOYS = [d_cancel_order, d_declined_report, d_null_island, d_cache_stats, d_email_available, d_mail_retry, d_breaker_metrics,
          d_dlq_redrive, d_fd_report, d_category_depth, d_mongo_topology, d_cassandra_health, d_cert_inventory, d_config_reload,
          d_key_rotation, d_page_lock, d_abandoned_cart, d_webhook_verified, d_duplicates_report, d_dead_letters_admin,
          d_password_reset, d_upload_resume, d_search_retry, d_zero_results]


# --------------------------------------------------------------------------------------------
# unlabelled business errors: what a healthy shop also emits
# --------------------------------------------------------------------------------------------

def n_card_refused():
    root = f_checkout()
    ctl = root.find("logic")
    reason = pick(["Not enough balance", "Refused", "CVC Declined", "Expired Card", "Do Not Honor"])
    log_event(ctl, f"authorisation refused: resultCode=Refused refusalReason='{reason}' pspReference={psp_ref()}", "INFO")
    srv = root.find("server")
    set_http_status(srv, 402)
    set_http_status(root, 402)
    ctl.children = [c for c in ctl.children if "payments.authorized" not in c.name]
    return root


def n_wrong_password():
    root = f_login()
    srv = root.find("server")
    ctl = srv.children[0]
    ctl.children = ctl.children[:1]
    set_http_status(srv, 401)
    c = srv.parent
    set_http_status(c, 401)
    c.error()
    set_http_status(root, 401)
    return root


def n_topic_404():
    root = f_topic_show()
    root.children = root.children[:2]
    et, m = "ActiveRecord::RecordNotFound", f"Couldn't find Topic with 'id'={R.randint(100000, 999999)}"
    root.exc(et, m, rbstack(et, m, ["/usr/local/bundle/gems/activerecord-7.1.3.4/lib/active_record/core.rb:253:in `find'",
                                    "/app/app/controllers/topics_controller.rb:9:in `show'"] + RB_RAILS))
    set_http_status(root, 404)
    return root


def n_signup_422():
    root = f_forum_signup()
    root.children = root.children[:2]
    set_http_status(root, 422)
    log_event(root, "Validation failed: Password is too short (minimum is 8 characters)", "INFO")
    return root


def n_report_400():
    root = rep_req("GET", "api/reports/{id}", path=f"/api/reports/{R.randint(100, 9999)}")
    root.add(sql("reports-api", "SELECT", "Reports", "[dbo].[usp_GetReportDefinition]"))
    set_http_status(root, 400)
    log_event(root, "Validation failed: 'to' must be after 'from'", "INFO")
    return root


def n_image_404():
    root = f_image()
    set_http_status(root, 404)
    return root


NOISE = [n_card_refused, n_wrong_password, n_topic_404, n_signup_422, n_report_400, n_image_404]

WEIGHTS = {"cart_get": 8, "cart_add": 5, "cart_clear": 1, "feed": 6, "feed_event": 4, "signup": 2, "login": 5, "profile": 4, "prefs": 2,
           "close_account": 1, "admin_user_search": 1, "product_page": 8, "image": 5, "newsletter": 1, "sf_stripe_webhook": 1,
           "sf_recs_gql": 4, "search": 7, "recs": 5, "reco_profile": 2, "reco_signup_profile": 1, "reco_shopify_webhook": 1, "categories": 1,
           "checkout": 4, "billing_webhook": 2, "invoice": 3, "topic_show": 5, "post_create": 2, "forum_signup": 1, "forum_admin_destroy": 0.5,
           "forum_search": 2, "forum_stripe_webhook": 1, "forum_profile": 2, "forum_digest": 1, "report_get": 3, "report_export": 1,
           "report_subscribe": 1, "report_delete": 0.5, "report_rename": 1, "report_fx": 1, "report_consumer": 1, "upload": 2, "transcode": 2,
           "thumb": 3, "cms_page": 2, "cms_page_create": 1, "cms_page_delete": 0.5, "cms_report": 0.5, "cms_export": 0.5, "cms_search": 1,
           "cms_github": 1, "ingest": 2, "ingest_event": 3, "mailer_email": 4, "mailer_sms": 2}


# --------------------------------------------------------------------------------------------

def emit_trace(env, root, start_ns):
    tracer = env.tracer(root.svc, root.scope)
    span = tracer.start_span(root.name, kind=root.kind, attributes=root.attrs, start_time=start_ns, context=trace.set_span_in_context(trace.INVALID_SPAN))
    ctx = trace.set_span_in_context(span)
    tid = format(span.get_span_context().trace_id, "032x")
    t = start_ns + int(R.uniform(0.05, 0.8) * 1e6)
    for c in root.children:
        t = emit(c, ctx, t, env) + int(R.uniform(0.02, 0.5) * 1e6)
    end = t + int(root.ms * 1e6)
    for name, attrs, at in root.events:
        frac = at if at is not None else R.uniform(0.85, 0.99)
        span.add_event(name, attrs, timestamp=start_ns + int((end - start_ns) * frac))
    if root.status:
        code, desc = root.status
        span.set_status(Status(code, desc if code == StatusCode.ERROR else None))
    span.end(end_time=end)
    return tid


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    ap.add_argument("--seed", type=int, default=20240618)
    ap.add_argument("--traces", type=int, default=2400)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    if not 1500 <= args.traces <= 3000:
        print("note: the benchmark is meant for 1500-3000 traces", file=sys.stderr)

    R.seed(args.seed)
    env = Env(args.otlp, random.Random(args.seed * 7919 + 1), random.Random(args.seed + 31))

    n = args.traces
    per_fault = max(1, round(n * 0.20 / len(FAULTS)))
    n_decoy, n_noise = round(n * 0.07), round(n * 0.02)
    n_healthy = n - per_fault * len(FAULTS) - n_decoy - n_noise
    jobs = []
    for f, variants in FAULTS.items():
        for i in range(per_fault):
            jobs.append(("fault", f, variants[i % len(variants)]))
    names = list(WEIGHTS)
    for name in R.choices(names, weights=[WEIGHTS[k] for k in names], k=n_healthy):
        jobs.append(("healthy", name, None))
    for i in range(n_decoy):
        jobs.append(("decoy", DECOYS[i % len(DECOYS)].__name__, DECOYS[i % len(DECOYS)]))
    for i in range(n_noise):
        jobs.append(("noise", NOISE[i % len(NOISE)].__name__, NOISE[i % len(NOISE)]))
    R.shuffle(jobs)

    now = time.time_ns()
    labels, kinds, faults, spans = {}, Counter(), Counter(), 0
    for kind, name, x in jobs:
        if kind == "fault":
            root = fault_trace(*x)
        elif kind == "healthy":
            root = FLOWS[name]()
        else:
            root = x()
        c = root.count()
        assert 1 <= c <= 12, (kind, name, c)
        spans += c
        start = now - int(R.uniform(60, 3 * 3600) * 1e9)
        tid = emit_trace(env, root, start)
        kinds[kind] += 1
        if kind == "fault":
            labels[tid] = name
            faults[name] += 1
    ok, failed = env.close()

    meta = {"seed": args.seed, "traces": n, "spans": spans, "spans_acknowledged": ok, "export_failures": failed,
            "kinds": dict(kinds), "faults": dict(faults), "fault_types": len(FAULTS),
            "variants": sum(len(v) for v in FAULTS.values()), "services": len(SERVICES),
            "stacks": sorted({m["stack"] for m in SERVICES.values()})}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(dict(sorted(labels.items())), fh, indent=0)
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(json.dumps(meta))
    if ok != spans:
        sys.exit(f"only {ok} of {spans} spans were acknowledged")


if __name__ == "__main__":
    main()
