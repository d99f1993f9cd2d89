#!/usr/bin/env python3
"""Held-out labelled fault corpus for semtrace, sent over OTLP/HTTP with the OpenTelemetry Python SDK.

Fourteen services in eight language stacks each get their own TracerProvider and Resource (as
separate processes would); spans carry semantic-convention attributes in the old and new names
those stacks emit; failures are recorded the way the SDKs and instrumentations record them
(exception events with language-specific types and stack traces, status descriptions, log events,
bare HTTP status codes, error.type). Parents of failed spans fail too, usually with a generic
wrapper message. Most traffic is healthy; some healthy spans are decoys sharing words with
failure queries; some traces hold business errors (card declined, 404) that are not faults.

The label of a faulty trace (its fault type) is written to labels.json from the trace ids the
SDK really sent; nothing in the telemetry names the label.

Usage: corpus.py --otlp http://127.0.0.1:4318 [--traces 2400] [--seed 20241130] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER = (
    SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER)
ERROR = StatusCode.ERROR

# ---------------------------------------------------------------------------------------------
# Services: one TracerProvider each. http/db: which semantic-convention generation their
# instrumentation emits ("old": http.method/http.status_code/net.peer.name/db.statement,
# "new": http.request.method/http.response.status_code/server.address/db.query.text).
# ---------------------------------------------------------------------------------------------
SERVICES = {
    "web-frontend": dict(lang="nodejs", http="old", db="old", version="2.14.3", sdk="1.25.1",
                         runtime=("nodejs", "20.11.1"), port=3000),
    "api-gateway": dict(lang="go", http="old", db="old", version="1.32.0", sdk="1.24.0",
                        runtime=("go", "go1.22.3"), port=8080),
    "checkout-service": dict(lang="java", http="new", db="old", version="5.4.1", sdk="1.38.0",
                             runtime=("OpenJDK Runtime Environment", "17.0.10+7-LTS"), port=8080),
    "identity-service": dict(lang="java", http="new", db="old", version="3.2.0", sdk="1.38.0",
                             runtime=("OpenJDK Runtime Environment", "21.0.3+9-LTS"), port=8080),
    "shipping-service": dict(lang="java", http="old", db="old", version="1.9.12", sdk="1.31.0",
                             runtime=("OpenJDK Runtime Environment", "11.0.22+7"), port=8080),
    "payments-service": dict(lang="ruby", http="old", db="old", version="2024.11.28", sdk="1.4.0",
                             runtime=("ruby", "3.2.2"), port=3000),
    "inventory-service": dict(lang="go", http="new", db="new", version="0.19.4", sdk="1.28.0",
                              runtime=("go", "go1.22.5"), port=50051),
    "catalog-service": dict(lang="python", http="old", db="old", version="3.8.0", sdk="1.24.0",
                            runtime=("cpython", "3.11.9"), port=8000),
    "fulfillment-worker": dict(lang="python", http="old", db="old", version="3.8.0", sdk="1.24.0",
                               runtime=("cpython", "3.11.9"), port=0),
    "notification-service": dict(lang="nodejs", http="new", db="old", version="1.7.0", sdk="1.26.0",
                                 runtime=("nodejs", "18.20.2"), port=3000),
    "ledger-service": dict(lang="dotnet", http="new", db="new", version="4.1.2", sdk="1.9.0",
                           runtime=(".NET", "8.0.4"), port=8080),
    "media-service": dict(lang="rust", http="new", db="new", version="0.12.3", sdk="0.23.0",
                          runtime=("rustc", "1.78.0"), port=8080),
    "search-service": dict(lang="rust", http="new", db="new", version="0.4.0", sdk="0.23.0",
                           runtime=("rustc", "1.79.0"), port=8443),
    "storefront-legacy": dict(lang="php", http="new", db="old", version="7.3.9", sdk="1.0.3",
                              runtime=("cli-server", "8.2.18"), port=80),
}

SCOPES = {
    "nodejs": {"http": ("@opentelemetry/instrumentation-http", "0.52.1"),
               "grpc": ("@opentelemetry/instrumentation-grpc", "0.52.1"),
               "redis": ("@opentelemetry/instrumentation-ioredis", "0.42.0"),
               "aws": ("@opentelemetry/instrumentation-aws-sdk", "0.43.1"),
               "kafka": ("@opentelemetry/instrumentation-kafkajs", "0.2.0"),
               "db": ("@opentelemetry/instrumentation-pg", "0.43.0")},
    "go": {"http": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.49.0"),
           "grpc": ("go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "0.49.0"),
           "db": ("github.com/exaring/otelpgx", "0.5.4"),
           "kafka": ("github.com/dnwe/otelsarama", "0.1.0"),
           "redis": ("github.com/redis/go-redis/extra/redisotel", "9.5.1")},
    "java": {"http": ("io.opentelemetry.tomcat-10.0", "2.4.0-alpha"),
             "http_client": ("io.opentelemetry.java-http-client", "2.4.0-alpha"),
             "db": ("io.opentelemetry.jdbc", "2.4.0-alpha"),
             "grpc": ("io.opentelemetry.grpc-1.6", "2.4.0-alpha"),
             "kafka": ("io.opentelemetry.kafka-clients-0.11", "2.4.0-alpha"),
             "aws": ("io.opentelemetry.aws-sdk-2.2", "2.4.0-alpha"),
             "redis": ("io.opentelemetry.lettuce-5.1", "2.4.0-alpha"),
             "internal": ("io.opentelemetry.opentelemetry-instrumentation-annotations-1.16", "2.4.0-alpha")},
    "python": {"http": ("opentelemetry.instrumentation.django", "0.45b0"),
               "http_client": ("opentelemetry.instrumentation.requests", "0.45b0"),
               "db": ("opentelemetry.instrumentation.sqlalchemy", "0.45b0"),
               "redis": ("opentelemetry.instrumentation.redis", "0.45b0"),
               "aws": ("opentelemetry.instrumentation.botocore", "0.45b0"),
               "grpc": ("opentelemetry.instrumentation.grpc", "0.45b0"),
               "kafka": ("opentelemetry.instrumentation.confluent_kafka", "0.45b0"),
               "internal": ("opentelemetry.instrumentation.celery", "0.45b0")},
    "dotnet": {"http": ("Microsoft.AspNetCore", ""),
               "http_client": ("System.Net.Http", ""),
               "db": ("OpenTelemetry.Instrumentation.SqlClient", "1.9.0-beta.1"),
               "aws": ("Amazon.AWS.AWSClientInstrumentation", "1.1.0-beta.4"),
               "kafka": ("Confluent.Kafka.Extensions.Diagnostics", "0.4.0"),
               "internal": ("Acme.Ledger.Jobs", "4.1.2")},
    "ruby": {"http": ("OpenTelemetry::Instrumentation::Rack", "0.24.6"),
             "http_client": ("OpenTelemetry::Instrumentation::Net::HTTP", "0.22.7"),
             "db": ("OpenTelemetry::Instrumentation::PG", "0.27.3"),
             "redis": ("OpenTelemetry::Instrumentation::Redis", "0.25.6"),
             "kafka": ("OpenTelemetry::Instrumentation::Sidekiq", "0.25.4"),
             "internal": ("payments", "2024.11.28")},
    "rust": {},
    "php": {"http": ("io.opentelemetry.contrib.php.laravel", "1.0.0"),
            "http_client": ("io.opentelemetry.contrib.php.guzzle", "1.0.0"),
            "db": ("io.opentelemetry.contrib.php.pdo", "0.0.5"),
            "redis": ("io.opentelemetry.contrib.php.laravel", "1.0.0")},
}

REASON = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
          403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Request Entity Too Large",
          422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
          502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

NOW = time.time()


def lang(svc):
    return SERVICES[svc]["lang"]


# ---------------------------------------------------------------------------------------------
# Volatile values
# ---------------------------------------------------------------------------------------------
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
POD = "bcdfghjklmnpqrstvwxz2456789"


class V:
    """Random realistic values from one seeded generator."""

    def __init__(self, r, base=None):
        self.r = r
        self.base = NOW if base is None else base

    def ip(self):
        return f"10.{self.r.randint(0, 31)}.{self.r.randint(0, 255)}.{self.r.randint(2, 254)}"

    def port(self):
        return self.r.randint(32768, 60999)

    def uuid(self):
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def hex(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def an(self, n):
        return "".join(self.r.choice(ALNUM) for _ in range(n))

    def pod(self, svc):
        return f"{svc}-{''.join(self.r.choice(POD) for _ in range(10))}-{''.join(self.r.choice(POD) for _ in range(5))}"

    def order(self):
        return f"ord_{self.an(14)}"

    def cus(self):
        return f"cus_{self.an(14)}"

    def pid(self):
        return self.r.randint(1000, 98000)

    def sku(self):
        return f"SKU-{self.r.randint(10000, 99999)}-{self.r.choice('ABCDEFGH')}{self.r.randint(1, 9)}"

    def ts(self, offset_s=0.0, fmt="iso"):
        t = dt.datetime.fromtimestamp(self.base + offset_s, tz=dt.timezone.utc)
        if fmt == "iso":
            return t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if fmt == "go":
            return t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if fmt == "us":
            return t.strftime("%m/%d/%Y %H:%M:%S")
        return str(int(t.timestamp()))

    def req(self):
        return f"req_{self.an(14)}"


# ---------------------------------------------------------------------------------------------
# Stack traces as each runtime prints them
# ---------------------------------------------------------------------------------------------
def jstack(etype, msg, frames, cause=None):
    s = f"{etype}: {msg}\n" + "".join(f"\tat {f}\n" for f in frames)
    if cause:
        s += f"Caused by: {cause[0]}: {cause[1]}\n" + "".join(f"\tat {f}\n" for f in cause[2]) + "\t... 87 more\n"
    return s


def pystack(etype, msg, frames):
    s = "Traceback (most recent call last):\n"
    for f, line, fn, code in frames:
        s += f'  File "{f}", line {line}, in {fn}\n    {code}\n'
    return s + f"{etype}: {msg}\n"


def nodestack(name, msg, frames):
    return f"{name}: {msg}\n" + "".join(f"    at {f}\n" for f in frames)


def netstack(etype, msg, frames):
    return f"{etype}: {msg}\n" + "".join(f"   at {f}\n" for f in frames)


def rbstack(frames):
    return "\n".join(frames)


def phpstack(frames):
    return "\n".join(f"#{i} {f}" for i, f in enumerate(frames)) + f"\n#{len(frames)} {{main}}"


JAVA_APP = {
    "checkout-service": ["com.acme.checkout.order.OrderService.placeOrder(OrderService.java:148)",
                         "com.acme.checkout.api.OrderController.create(OrderController.java:62)",
                         "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
                         "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:61)",
                         "java.base/java.lang.Thread.run(Thread.java:840)"],
    "identity-service": ["com.acme.identity.security.JwtAuthenticationFilter.doFilterInternal(JwtAuthenticationFilter.java:71)",
                         "org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)",
                         "org.springframework.security.web.FilterChainProxy.doFilterInternal(FilterChainProxy.java:225)",
                         "java.base/java.lang.Thread.run(Thread.java:1583)"],
    "shipping-service": ["com.acme.shipping.quote.QuoteService.quote(QuoteService.java:97)",
                         "com.acme.shipping.web.ShipmentController.quote(ShipmentController.java:44)",
                         "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1072)",
                         "java.lang.Thread.run(Thread.java:829)"],
}
PY_APP = {
    "catalog-service": [("/app/catalog/views.py", 118, "retrieve", "product = self.get_object()"),
                        ("/app/.venv/lib/python3.11/site-packages/rest_framework/generics.py", 96, "get_object", "obj = get_object_or_404(queryset, **filter_kwargs)")],
    "fulfillment-worker": [("/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", 453, "trace_task", "R = retval = fun(*args, **kwargs)"),
                           ("/app/fulfillment/tasks.py", 77, "allocate_shipment", "shipment = allocator.allocate(order_id)")],
}
NODE_APP = {
    "web-frontend": ["process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
                     "async CheckoutController.submit (/usr/src/app/dist/server/controllers/checkout.js:88:21)"],
    "notification-service": ["process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
                             "async Mailer.send (/srv/app/src/mailer.js:54:17)",
                             "async /srv/app/src/routes/notify.js:31:5"],
}
NET_APP = ["Acme.Ledger.Services.SettlementService.ReconcileAsync(DateOnly day, CancellationToken ct) in /src/Acme.Ledger/Services/SettlementService.cs:line 142",
           "Acme.Ledger.Jobs.ReconcileDailySettlementsJob.ExecuteAsync(CancellationToken ct) in /src/Acme.Ledger/Jobs/ReconcileDailySettlementsJob.cs:line 38"]
RB_APP = ["/app/app/services/charge_service.rb:41:in `create_charge'",
          "/app/app/controllers/charges_controller.rb:18:in `create'",
          "/usr/local/bundle/gems/actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'"]
PHP_APP = ["/var/www/html/app/Http/Controllers/AccountOrdersController.php(34): Illuminate\\Database\\Eloquent\\Builder->get()",
           "/var/www/html/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Controllers\\AccountOrdersController->index()",
           "/var/www/html/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(183): Illuminate\\Routing\\Router->Illuminate\\Routing\\{closure}()",
           "/var/www/html/public/index.php(51): Illuminate\\Foundation\\Http\\Kernel->handle()"]


# ---------------------------------------------------------------------------------------------
# The trace model: nodes built first, emitted through the SDK afterwards
# ---------------------------------------------------------------------------------------------
class Node:
    def __init__(self, svc, name, kind, attrs, scope, dur, cat):
        self.svc, self.name, self.kind, self.attrs, self.scope = svc, name, kind, attrs, scope
        self.dur, self.cat = dur, cat          # own duration (ms); category: http/db/grpc/...
        self.children, self.parent, self.events = [], None, []
        self.status = None                     # (StatusCode, description or None)
        self.fixed = None                      # duration that does not grow with children
        self.opt = False                       # may be pruned to keep traces within 12 spans
        self.start = self.end = 0.0

    def add(self, child, opt=False):
        child.parent = self
        child.opt = opt
        self.children.append(child)
        return child

    def failed(self):
        return self.status is not None and self.status[0] == ERROR

    def error_text(self):
        for e in self.events:
            if e["kind"] == "exception":
                return e["type"], e["msg"]
        if self.status and self.status[1]:
            return None, self.status[1]
        return None, None

    def count(self):
        return 1 + sum(c.count() for c in self.children)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def set_http_status(n, code):
    for k in ("http.response.status_code", "http.status_code"):
        if k in n.attrs:
            n.attrs[k] = code
            return
    key = "http.response.status_code" if SERVICES[n.svc]["http"] == "new" else "http.status_code"
    n.attrs[key] = code


def http_status(n):
    return n.attrs.get("http.response.status_code", n.attrs.get("http.status_code"))


class T:
    """Builds one trace: span helpers, optional branches, failure recording, propagation."""

    def __init__(self, r, need=None):
        self.base = NOW - r.uniform(120, 3 * 3600)  # the trace's start (Unix seconds)
        self.r, self.v, self.need, self.points = r, V(r, self.base), need, {}

    # -- branch selection
    def on(self, p, *names):
        return (self.need is not None and self.need in names) or self.r.random() < p

    def pt(self, name, node):
        self.points[name] = node
        return node

    def host(self, svc):
        return self.r.choice([f"{svc}.shop.svc.cluster.local", f"{svc}.shop.svc", svc])

    # -- span helpers
    def node(self, svc, name, kind, attrs, cat, dur, scope_key=None):
        lg = lang(svc)
        sc = SCOPES[lg].get(scope_key or cat) or SCOPES[lg].get("http")
        if lg == "rust":
            sc = (svc.replace("-", "_"), SERVICES[svc]["version"])
        elif sc is None or scope_key == "internal" and "internal" not in SCOPES[lg]:
            sc = (svc, SERVICES[svc]["version"])
        return Node(svc, name, kind, attrs, sc, dur, cat)

    def server(self, svc, method, route, path=None, status=200, name=None):
        s = SERVICES[svc]
        path = path or route
        if s["http"] == "new":
            a = {"http.request.method": method, "http.route": route, "url.path": path.split("?")[0],
                 "url.scheme": "http", "http.response.status_code": status,
                 "server.address": self.host(svc), "server.port": s["port"] or 8080,
                 "network.protocol.version": "1.1", "client.address": self.v.ip(),
                 "user_agent.original": self.r.choice(["okhttp/4.12.0", "Go-http-client/1.1", "axios/1.6.8",
                                                       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"])}
            if "?" in path:
                a["url.query"] = path.split("?", 1)[1]
        else:
            a = {"http.method": method, "http.route": route, "http.target": path, "http.scheme": "http",
                 "http.status_code": status, "net.host.name": self.host(svc), "net.host.port": s["port"] or 8080,
                 "http.flavor": "1.1", "net.sock.peer.addr": self.v.ip(),
                 "http.user_agent": self.r.choice(["python-requests/2.31.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Faraday v2.9.0"])}
        n = self.node(svc, name or f"{method} {route}", SERVER, a, "http", self.r.uniform(0.3, 3))
        return n

    def client(self, svc, method, url, status=200, peer=None, dur=None):
        s = SERVICES[svc]
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        host = hostport.split(":")[0]
        port = int(hostport.split(":")[1]) if ":" in hostport else (443 if url.startswith("https") else 80)
        if s["http"] == "new":
            a = {"http.request.method": method, "url.full": url, "server.address": host, "server.port": port,
                 "http.response.status_code": status, "network.protocol.version": "1.1"}
        else:
            a = {"http.method": method, "http.url": url, "net.peer.name": host, "net.peer.port": port,
                 "http.status_code": status, "http.flavor": "1.1"}
        if peer and self.r.random() < 0.7:
            a["peer.service"] = peer
        lg = lang(svc)
        name = f"HTTP {method}" if lg in ("go", "ruby") else method
        ext = not host.endswith(("svc", "local")) and "." in host
        return self.node(svc, name, CLIENT, a, "http_client" if "http_client" in SCOPES[lg] else "http",
                         dur if dur is not None else (self.r.uniform(60, 450) if ext else self.r.uniform(1, 8)))

    def db(self, svc, system, op, table, stmt, dbname, host, port, dur=None):
        s = SERVICES[svc]
        lg = lang(svc)
        if s["db"] == "new":
            a = {"db.system": system, "db.namespace": dbname, "db.query.text": stmt, "db.operation.name": op,
                 "db.collection.name": table, "server.address": host, "server.port": port}
        else:
            a = {"db.system": system, "db.name": dbname, "db.statement": stmt, "db.operation": op,
                 "db.sql.table": table, "net.peer.name": host, "net.peer.port": port,
                 "db.user": dbname.split(".")[0] + "_app"}
        if lg == "java":
            a["db.connection_string"] = f"{system}://{host}:{port}"
            name = f"{op} {dbname}.{table}"
        elif lg == "python":
            name = f"{op} {dbname}" if svc == "fulfillment-worker" else op
        elif lg == "dotnet":
            name = self.r.choice([dbname, f"{op} {table}"])
        elif lg == "ruby":
            name = f"{op} {dbname}"
        elif lg == "php":
            name = "PDOStatement::execute"
        elif lg == "nodejs":
            name = f"pg.query:{op} {dbname}"
        else:
            name = f"{op} {table}"
        return self.node(svc, name, CLIENT, a, "db", dur if dur is not None else self.r.uniform(0.8, 25))

    def redis(self, svc, cmd, key, host="redis-master.shop.svc"):
        lg = lang(svc)
        a = {"db.system": "redis", "db.statement": f"{cmd} {key}" + (" ?" if cmd in ("SET", "SETEX") else ""),
             "db.redis.database_index": 0}
        if SERVICES[svc]["db"] == "new":
            a.update({"server.address": host, "server.port": 6379})
        else:
            a.update({"net.peer.name": host, "net.peer.port": 6379})
        name = cmd.lower() if lg == "nodejs" else cmd
        return self.node(svc, name, CLIENT, a, "redis", self.r.uniform(0.2, 2.5))

    def grpc_client(self, svc, service, method, target):
        a = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": 0}
        if SERVICES[svc]["http"] == "new":
            a.update({"server.address": self.host(target), "server.port": 50051})
        else:
            a.update({"net.peer.name": self.host(target), "net.peer.port": 50051})
        return self.node(svc, f"{service}/{method}", CLIENT, a, "grpc", self.r.uniform(1, 6))

    def grpc_server(self, svc, service, method):
        a = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": 0,
             "net.sock.peer.addr": self.v.ip(), "net.sock.peer.port": self.v.port()}
        return self.node(svc, f"{service}/{method}", SERVER, a, "grpc", self.r.uniform(0.3, 3))

    def messaging(self, svc, kind, system, dest, op=None, dur=None, extra=None):
        new = SERVICES[svc]["http"] == "new"
        op = op or ("publish" if kind == PRODUCER else "process")
        a = {"messaging.system": system, "messaging.destination.name": dest}
        if new:
            a["messaging.operation.type"] = "send" if op == "publish" else op
            a["messaging.operation.name"] = op
        else:
            a["messaging.operation"] = op
        if system == "kafka":
            part = self.r.randint(0, 11)
            if new:
                a.update({"messaging.destination.partition.id": str(part),
                          "messaging.kafka.offset": self.r.randint(100000, 9000000),
                          "messaging.client.id": f"{svc}-{self.r.randint(1, 4)}"})
            else:
                a.update({"messaging.kafka.destination.partition": part,
                          "messaging.kafka.message.offset": self.r.randint(100000, 9000000),
                          "messaging.client_id": f"{svc}-{self.r.randint(1, 4)}"})
            if kind == CONSUMER:
                a["messaging.kafka.consumer.group" if not new else "messaging.consumer.group.name"] = f"{svc}-group"
        a["messaging.message.body.size"] = self.r.randint(300, 9000)
        if extra:
            a.update(extra)
        name = f"{dest} {op}" if not new else f"{op} {dest}"
        return self.node(svc, name, kind, a, "kafka", dur if dur is not None else self.r.uniform(1, 9))

    def s3(self, svc, op, bucket, key, status=200):
        new = SERVICES[svc]["http"] == "new"
        a = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "aws.s3.bucket": bucket,
             "aws.s3.key": key, "cloud.region": "eu-west-1",
             ("http.response.status_code" if new else "http.status_code"): status,
             ("server.address" if new else "net.peer.name"): f"{bucket}.s3.eu-west-1.amazonaws.com",
             "aws.request_id": self.v.an(16).upper()}
        return self.node(svc, f"S3.{op}", CLIENT, a, "aws", self.r.uniform(15, 180))

    def internal(self, svc, name, attrs=None, dur=None):
        lg = lang(svc)
        a = dict(attrs or {})
        if lg == "java" and "." in name:
            cls, fn = name.rsplit(".", 1)
            a.setdefault("code.function", fn)
            a.setdefault("code.namespace", f"com.acme.{svc.split('-')[0]}.{cls}")
        n = self.node(svc, name, INTERNAL, a, "internal", dur if dur is not None else self.r.uniform(0.1, 4),
                      scope_key="internal")
        if lg == "python" and not name.startswith("run/"):
            n.scope = (svc.split("-")[0] + ".app", SERVICES[svc]["version"])
        return n

    def http_up(self, n, code):
        """A 4xx answer travels up: client spans see an error (semconv), server spans do not."""
        p = n.parent
        while p is not None:
            if p.cat in ("http", "http_client") and "rpc.system" not in p.attrs:
                set_http_status(p, code)
                if p.kind == CLIENT and not p.failed():
                    self.err(p, None)
            p = p.parent

    # -- failure recording
    def exc(self, n, etype, msg, stack=None, at=0.97):
        n.events.append({"kind": "exception", "type": etype, "msg": msg, "stack": stack, "at": at})

    def err(self, n, desc=None):
        n.status = (ERROR, desc)

    def log(self, n, msg, sev="ERROR", style=None, at=0.9, extra=None):
        style = style or ("tracing" if lang(n.svc) == "rust" else self.r.choice(["log", "log", "ot"]))
        if style == "tracing":
            mod = n.svc.replace("-", "_")
            a = {"level": sev, "target": f"{mod}::{self.r.choice(['handlers', 'storage', 'upload', 'query'])}",
                 "code.filepath": f"src/{self.r.choice(['handlers', 'storage', 'upload', 'query'])}.rs",
                 "code.lineno": self.r.randint(20, 400), "code.namespace": mod}
            name = msg
        elif style == "ot":
            a = {"event": "error" if sev == "ERROR" else "log", "message": msg, "level": sev.lower()}
            name = "log"
        else:
            a = {"message": msg, "log.severity": sev}
            name = "log"
        if extra:
            a.update(extra)
        n.events.append({"kind": "event", "name": name, "attrs": a, "at": at})

    def go_err(self, n, etype, msg, wrapped=None):
        """Go: span.RecordError(err) (type, message, no stack) and/or span.SetStatus(codes.Error, err.Error())."""
        text = wrapped or msg
        if self.r.random() < 0.6:
            self.exc(n, etype, text)
        self.err(n, text)

    def rust_err(self, n, what, err, status_desc=True):
        """Rust tracing-opentelemetry: an ERROR event with the message and the error field."""
        self.log(n, what, "ERROR", style="tracing", extra={"exception.message": err})
        self.err(n, err if status_desc and self.r.random() < 0.6 else None)

    def jexc(self, n, etype, msg, frames, cause=None, status=False):
        """Java agent: exception event with the Java stack, status ERROR (no description)."""
        app = JAVA_APP.get(n.svc, JAVA_APP["checkout-service"])
        self.exc(n, etype, msg, jstack(etype, msg, frames + app, cause))
        if SERVICES[n.svc]["http"] == "new" and n.kind in (CLIENT, SERVER):
            n.attrs["error.type"] = etype
        self.err(n, msg if status else None)

    def pyexc(self, n, etype, msg, frames):
        """Python SDK: record_exception + Status(ERROR, "<Type>: <message>")."""
        app = PY_APP.get(n.svc, PY_APP["catalog-service"])
        self.exc(n, etype, msg, pystack(etype, msg, app + frames))
        self.err(n, f"{etype.rsplit('.', 1)[-1]}: {msg}")

    def nodeexc(self, n, name, msg, frames=(), status=True, code=None):
        app = NODE_APP.get(n.svc, NODE_APP["notification-service"])
        self.exc(n, name, msg, nodestack(name, msg, list(frames) + app))
        if code:
            n.attrs["error.type"] = code if self.r.random() < 0.5 else name
        self.err(n, msg if status else None)

    def netexc(self, n, etype, msg, frames=(), status=True):
        self.exc(n, etype, msg, netstack(etype, msg, list(frames) + NET_APP))
        n.attrs["error.type"] = etype
        self.err(n, msg if status and self.r.random() < 0.5 else None)

    def rbexc(self, n, etype, msg, frames=()):
        self.exc(n, etype, msg, rbstack(list(frames) + RB_APP))
        # in_span's rescue sets "Unhandled exception of type: <class>"; instrumentations leave none
        self.err(n, f"Unhandled exception of type: {etype}" if self.r.random() < 0.5 else None)

    def phpexc(self, n, etype, msg, frames=()):
        self.exc(n, etype, msg, phpstack(list(frames) + PHP_APP))
        self.err(n, msg)

    # -- propagation of a failure to the ancestors
    def prop(self, n, code=500, stop=0.08):
        child, p = n, n.parent
        while p is not None:
            if not p.failed():
                if self.r.random() < stop and p.svc != child.svc:
                    break  # the caller degraded gracefully (fallback, cached answer)
                self.fail_parent(p, child, code)
                if self.r.random() < 0.85:
                    # the error escaped: what the caller would have done next never happened
                    i = next(i for i, c in enumerate(p.children) if c is child)
                    del p.children[i + 1:]
            child, p = p, p.parent

    def fail_parent(self, p, child, code):
        r, lg = self.r, lang(p.svc)
        ctype, cmsg = child.error_text()
        same = p.svc == child.svc
        if p.cat in ("http", "http_client") and "rpc.system" not in p.attrs:
            if p.kind == CLIENT:
                c = code if http_status(child) is None or not (http_status(child) >= 400) else http_status(child)
                if c < 400:
                    c = code
                set_http_status(p, c)
                url = p.attrs.get("url.full", p.attrs.get("http.url", ""))
                method = p.attrs.get("http.request.method", p.attrs.get("http.method", "GET"))
                if SERVICES[p.svc]["http"] == "new" and r.random() < 0.6:
                    p.attrs["error.type"] = str(c)
                if r.random() < 0.5:
                    reason = REASON.get(c, "Error")
                    if lg == "python":
                        self.pyexc(p, "requests.exceptions.HTTPError", f"{c} Server Error: {reason} for url: {url}", [])
                    elif lg == "ruby":
                        self.rbexc(p, "Faraday::ServerError", f"the server responded with status {c}")
                    elif lg == "php":
                        self.phpexc(p, "GuzzleHttp\\Exception\\ServerException",
                                    f"Server error: `{method} {url}` resulted in a `{c} {reason}` response")
                    elif lg == "dotnet":
                        self.netexc(p, "System.Net.Http.HttpRequestException",
                                    f"Response status code does not indicate success: {c} ({reason}).")
                    elif lg == "nodejs":
                        self.nodeexc(p, "AxiosError", f"Request failed with status code {c}")
                    elif lg == "java":
                        self.jexc(p, f"org.springframework.web.client.HttpServerErrorException${reason.replace(' ', '')}",
                                  f"{c} {reason}: \"{{\"status\":{c},\"error\":\"{reason}\"}}\"",
                                  ["org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler.java:136)"])
                    else:
                        self.err(p, f"unexpected status {c} {reason}")
                if not p.failed():
                    self.err(p, None)
            else:
                c = code if (child.kind == CLIENT and lg == "go") else 500
                if child.kind == CLIENT and http_status(child) in (502, 503, 504) and lg == "go":
                    c = http_status(child)
                set_http_status(p, c)
                if same and ctype and lg in ("java", "python") and r.random() < 0.6:
                    if lg == "java":
                        m = f"Request processing failed: {ctype}: {cmsg}"
                        self.jexc(p, "jakarta.servlet.ServletException", m,
                                  ["org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1022)"])
                    else:
                        self.exc(p, ctype, cmsg, None)
                        self.err(p, f"{ctype.rsplit('.', 1)[-1]}: {cmsg}")
                elif same and ctype and lg == "dotnet":
                    p.attrs["error.type"] = ctype
                    self.err(p, None)
                elif lg == "ruby" and same and ctype and r.random() < 0.5:
                    self.exc(p, ctype, cmsg, None)
                    self.err(p, cmsg)
                else:
                    if SERVICES[p.svc]["http"] == "new" and r.random() < 0.5:
                        p.attrs["error.type"] = str(c)
                    self.err(p, None)
        elif "rpc.system" in p.attrs and p.attrs["rpc.system"] == "grpc":
            if p.kind == CLIENT:
                p.attrs["rpc.grpc.status_code"] = 2 if code != 504 else 4
                name = "UNKNOWN" if code != 504 else "DEADLINE_EXCEEDED"
                if lg == "go":
                    self.err(p, f"rpc error: code = {'Unknown' if code != 504 else 'DeadlineExceeded'} desc = {cmsg or 'internal error'}")
                elif lg == "java":
                    self.jexc(p, "io.grpc.StatusRuntimeException", f"{name}: {cmsg or ''}".strip(),
                              ["io.grpc.stub.ClientCalls.toStatusRuntimeException(ClientCalls.java:268)"])
                else:
                    self.err(p, f"{2 if code != 504 else 4} {name}: {cmsg or ''}".strip())
            else:
                p.attrs["rpc.grpc.status_code"] = 13 if code != 504 else 4
                self.err(p, cmsg if lg == "go" else None)
        elif p.cat == "internal" or p.kind in (CONSUMER, PRODUCER):
            if same and ctype and lg in ("java", "python", "ruby", "php", "nodejs", "dotnet") and r.random() < 0.6:
                # the same exception escaped through the annotated / decorated method
                ev = next(e for e in child.events if e["kind"] == "exception")
                self.exc(p, ev["type"], ev["msg"], ev["stack"])
                self.err(p, f"{ev['type'].rsplit('.', 1)[-1]}: {ev['msg']}" if lg == "python" else None)
            elif lg == "go" and cmsg:
                self.err(p, f"{p.name.split('.')[-1].lower()}: {cmsg}")
            elif lg == "rust":
                self.err(p, None)
            else:
                self.err(p, r.choice([None, "operation failed", "Job failed, see inner exception"
                                      if lg == "dotnet" else "processing failed"]))
        else:
            self.err(p, None)


# ---------------------------------------------------------------------------------------------
# Flows (request shapes). Points are spans where a fault can happen.
# ---------------------------------------------------------------------------------------------
def flow_checkout(t):
    r, v = t.r, t.v
    order, pidv = v.order(), v.pid()
    root = t.pt("web_root", t.server("web-frontend", "POST", "/checkout"))
    if t.on(0.25, "web_pricing_grpc"):
        g = t.pt("web_pricing_grpc", root.add(t.grpc_client("web-frontend", "inventory.v1.PricingService", "GetPrices", "inventory-service"), opt=True))
        g.add(t.grpc_server("inventory-service", "inventory.v1.PricingService", "GetPrices"))
    wc = t.pt("web_gw_client", root.add(t.client("web-frontend", "POST", "http://api-gateway.shop.svc:8080/api/v1/checkout", peer="api-gateway")))
    gs = t.pt("gw_server", wc.add(t.server("api-gateway", "POST", "/api/v1/checkout")))
    if t.on(0.3, "gw_jwt"):
        t.pt("gw_jwt", gs.add(t.internal("api-gateway", "authn.VerifyToken", {"auth.scheme": "Bearer"}), opt=True))
    gc = t.pt("gw_checkout_client", gs.add(t.client("api-gateway", "POST", "http://checkout-service.shop.svc:8080/api/v1/orders", peer="checkout-service")))
    cs = t.pt("checkout_server", gc.add(t.server("checkout-service", "POST", "/api/v1/orders")))
    po = t.pt("checkout_internal", cs.add(t.internal("checkout-service", "OrderService.placeOrder", {"order.id": order})))
    t.pt("checkout_db", po.add(t.db("checkout-service", "postgresql", "SELECT", "carts",
                                     "SELECT c.id, c.customer_id, ci.sku, ci.quantity, ci.unit_price FROM carts c JOIN cart_items ci ON ci.cart_id = c.id WHERE c.id = ?",
                                     "shop", "orders-db.shop.svc", 5432)))
    if t.on(0.6, "checkout_inv_client", "inventory_db", "inventory_server"):
        ic = t.pt("checkout_inv_client", po.add(t.grpc_client("checkout-service", "inventory.v1.InventoryService", "ReserveStock", "inventory-service"), opt=True))
        isv = t.pt("inventory_server", ic.add(t.grpc_server("inventory-service", "inventory.v1.InventoryService", "ReserveStock")))
        t.pt("inventory_db", isv.add(t.db("inventory-service", "postgresql", "UPDATE", "stock",
                                           "UPDATE stock SET reserved = reserved + $1, updated_at = now() WHERE sku = $2 AND warehouse_id = $3",
                                           "inventory", "inventory-db.shop.svc", 5432)))
    if t.on(0.6, "checkout_pay_client", "payments_server", "payments_db", "stripe"):
        pc = t.pt("checkout_pay_client", po.add(t.client("checkout-service", "POST", "http://payments-service.shop.svc:3000/v1/charges", peer="payments-service"), opt=True))
        ps = t.pt("payments_server", pc.add(t.server("payments-service", "POST", "/v1/charges", name="ChargesController#create")))
        t.pt("payments_db", ps.add(t.db("payments-service", "postgresql", "SELECT", "payments",
                                         'SELECT "payments".* FROM "payments" WHERE "payments"."order_id" = $1 LIMIT $2',
                                         "payments_production", "payments-db.shop.svc", 5432)))
        st = t.pt("stripe", ps.add(t.client("payments-service", "POST", "https://api.stripe.com/v1/payment_intents", peer="stripe")))
        st.attrs["stripe.request_id"] = v.req()
        if r.random() < 0.4:
            ps.add(t.db("payments-service", "postgresql", "INSERT", "payments",
                        'INSERT INTO "payments" ("order_id", "amount_cents", "currency", "status", "created_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id"',
                        "payments_production", "payments-db.shop.svc", 5432), opt=True)
    if t.on(0.2, "ledger_server", "ledger_insert_db"):
        lc = po.add(t.client("checkout-service", "POST", "http://ledger-service.shop.svc:8080/api/ledger/entries", peer="ledger-service"), opt=True)
        ls = t.pt("ledger_server", lc.add(t.server("ledger-service", "POST", "api/ledger/entries")))
        t.pt("ledger_insert_db", ls.add(t.db("ledger-service", "mssql", "INSERT", "dbo.LedgerEntries",
                                              "INSERT INTO [dbo].[LedgerEntries] ([OrderId], [AmountMinor], [Currency], [IdempotencyKey], [CreatedUtc]) VALUES (@p0, @p1, @p2, @p3, @p4)",
                                              "ledger", "ledger-sql.shop.svc", 1433)))
    if t.on(0.15, "checkout_s3"):
        t.pt("checkout_s3", po.add(t.s3("checkout-service", "PutObject", "acme-invoices-prod", f"invoices/2024/11/{order}.pdf"), opt=True))
    if t.on(0.5, "checkout_kafka"):
        t.pt("checkout_kafka", po.add(t.messaging("checkout-service", PRODUCER, "kafka", "orders.created", extra={"messaging.kafka.message.key": order}), opt=True))
    return root


def flow_product(t):
    r, v = t.r, t.v
    pidv = v.pid()
    slug = r.choice(["trail-running-shoe", "merino-wool-sweater", "espresso-grinder", "usb-c-hub-7in1", "ceramic-pour-over", "rain-jacket-pro"])
    root = t.pt("web_root", t.server("web-frontend", "GET", "/products/:slug", f"/products/{slug}-{pidv}"))
    if t.on(0.2, "web_pricing_grpc"):
        g = t.pt("web_pricing_grpc", root.add(t.grpc_client("web-frontend", "inventory.v1.PricingService", "GetPrices", "inventory-service"), opt=True))
        g.add(t.grpc_server("inventory-service", "inventory.v1.PricingService", "GetPrices"))
    if r.random() < 0.4:
        root.add(t.redis("web-frontend", "GET", f"page:/products/{slug}-{pidv}"), opt=True)
    wc = t.pt("web_gw_client", root.add(t.client("web-frontend", "GET", f"http://api-gateway.shop.svc:8080/api/v1/products/{pidv}", peer="api-gateway")))
    gs = wc.add(t.server("api-gateway", "GET", "/api/v1/products/{id}", f"/api/v1/products/{pidv}"))
    if t.on(0.35, "gw_inv_grpc"):
        g = t.pt("gw_inv_grpc", gs.add(t.grpc_client("api-gateway", "inventory.v1.InventoryService", "GetAvailability", "inventory-service"), opt=True))
        isv = g.add(t.grpc_server("inventory-service", "inventory.v1.InventoryService", "GetAvailability"))
        if r.random() < 0.5:
            isv.add(t.db("inventory-service", "postgresql", "SELECT", "stock",
                         "SELECT warehouse_id, available FROM stock WHERE product_id = $1", "inventory", "inventory-db.shop.svc", 5432), opt=True)
    gc = t.pt("gw_catalog_client", gs.add(t.client("api-gateway", "GET", f"http://catalog-service.shop.svc:8000/api/products/{pidv}/", peer="catalog-service")))
    cs = t.pt("catalog_server", gc.add(t.server("catalog-service", "GET", "api/products/<int:product_id>/", f"/api/products/{pidv}/")))
    if t.on(0.2, "catalog_auth"):
        t.pt("catalog_auth", cs.add(t.internal("catalog-service", "authenticate", {"code.namespace": "rest_framework_simplejwt.authentication"}), opt=True))
    if r.random() < 0.6:
        cs.add(t.redis("catalog-service", "GET", f"catalog:product:{pidv}"), opt=True)
    t.pt("catalog_db", cs.add(t.db("catalog-service", "postgresql", "SELECT", "catalog_product",
                                    'SELECT "catalog_product"."id", "catalog_product"."sku", "catalog_product"."title", "catalog_product"."price" FROM "catalog_product" WHERE "catalog_product"."id" = %s LIMIT 21',
                                    "catalog", "catalog-db.shop.svc", 5432)))
    if t.on(0.3, "catalog_search_client", "search_es"):
        sc = t.pt("catalog_search_client", cs.add(t.client("catalog-service", "GET", f"https://search-service.shop.svc:8443/v1/similar?product_id={pidv}", peer="search-service"), opt=True))
        ss = sc.add(t.server("search-service", "GET", "/v1/similar", f"/v1/similar?product_id={pidv}"))
        es = t.pt("search_es", ss.add(t.db("search-service", "elasticsearch", "search", "products",
                                           '{"query":{"more_like_this":{"fields":["title","description"],"like":[{"_id":"?"}]}},"size":12}',
                                           "products", "es-data-0.search.svc", 9200)))
        es.name = "POST /products/_search"
    if t.on(0.15, "catalog_s3"):
        t.pt("catalog_s3", cs.add(t.s3("catalog-service", "GetObject", "acme-catalog-media", f"products/{pidv}/meta.json"), opt=True))
    if t.on(0.12, "catalog_ext"):
        t.pt("catalog_ext", cs.add(t.client("catalog-service", "POST", "https://api.openai.com/v1/embeddings", peer="openai"), opt=True))
    if t.on(0.1, "catalog_render"):
        t.pt("catalog_render", cs.add(t.internal("catalog-service", "ProductDetailView.render"), opt=True))
    return root


def flow_fulfil(t):
    r, v = t.r, t.v
    order = v.order()
    root = t.pt("worker_consume", t.messaging("fulfillment-worker", CONSUMER, "kafka", "orders.created",
                                              extra={"messaging.kafka.message.key": order}))
    task = t.pt("worker_task", root.add(t.internal("fulfillment-worker", "run/fulfillment.tasks.allocate_shipment",
                                                   {"celery.action": "run", "celery.task_name": "fulfillment.tasks.allocate_shipment",
                                                    "messaging.message.id": v.uuid(), "celery.state": "SUCCESS"})))
    t.pt("worker_db", task.add(t.db("fulfillment-worker", "postgresql", "SELECT", "shipments",
                                     "SELECT shipments.id, shipments.order_id, shipments.status FROM shipments WHERE shipments.order_id = %(order_id_1)s FOR UPDATE",
                                     "fulfillment", "fulfillment-db.shop.svc", 5432)))
    if t.on(0.25, "worker_inv_grpc"):
        g = t.pt("worker_inv_grpc", task.add(t.grpc_client("fulfillment-worker", "inventory.v1.InventoryService", "GetStock", "inventory-service"), opt=True))
        g.add(t.grpc_server("inventory-service", "inventory.v1.InventoryService", "GetStock"))
    if t.on(0.6, "worker_ship_client", "shipping_server", "shipping_carrier", "shipping_label"):
        wc = t.pt("worker_ship_client", task.add(t.client("fulfillment-worker", "POST", "http://shipping-service.shop.svc:8080/api/shipments/quote", peer="shipping-service"), opt=True))
        ss = t.pt("shipping_server", wc.add(t.server("shipping-service", "POST", "/api/shipments/quote")))
        if t.on(0.3, "shipping_label"):
            t.pt("shipping_label", ss.add(t.internal("shipping-service", "LabelRenderer.render"), opt=True))
        t.pt("shipping_carrier", ss.add(t.client("shipping-service", "POST", "https://api.easypost.com/v2/shipments", peer="easypost")))
        if r.random() < 0.4:
            ss.add(t.db("shipping-service", "mysql", "INSERT", "labels",
                        "INSERT INTO labels (shipment_id, carrier, tracking_code, created_at) VALUES (?, ?, ?, ?)",
                        "shipping", "shipping-mysql.shop.svc", 3306), opt=True)
    if t.on(0.45, "worker_notif_client", "notif_auth", "notif_render", "sendgrid"):
        nc = task.add(t.client("fulfillment-worker", "POST", "http://notification-service.shop.svc:3000/v1/notify", peer="notification-service"), opt=True)
        ns = nc.add(t.server("notification-service", "POST", "/v1/notify"))
        if t.on(0.15, "notif_auth"):
            t.pt("notif_auth", ns.add(t.internal("notification-service", "verifyServiceToken"), opt=True))
        if t.on(0.2, "notif_render"):
            t.pt("notif_render", ns.add(t.internal("notification-service", "renderAttachment"), opt=True))
        t.pt("sendgrid", ns.add(t.client("notification-service", "POST", "https://api.sendgrid.com/v3/mail/send", peer="sendgrid")))
    if t.on(0.15, "worker_file"):
        t.pt("worker_file", task.add(t.internal("fulfillment-worker", "write_label_pdf", {"file.path": f"/tmp/labels/{order}.pdf"}), opt=True))
    if t.on(0.5, "worker_produce"):
        if r.random() < 0.5:
            p = task.add(t.messaging("fulfillment-worker", PRODUCER, "kafka", "shipments.created"), opt=True)
        else:
            p = task.add(t.messaging("fulfillment-worker", PRODUCER, "aws_sqs", "label-print-jobs", op="publish",
                                     extra={"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": "SendMessage",
                                            "aws.queue_url": "https://sqs.eu-west-1.amazonaws.com/412398774123/label-print-jobs"}), opt=True)
            p.name = "SQS.SendMessage"
        t.pt("worker_produce", p)
    return root


def flow_account(t):
    r, v = t.r, t.v
    root = t.pt("web_root", t.server("web-frontend", "GET", "/account"))
    wc = root.add(t.client("web-frontend", "GET", "http://api-gateway.shop.svc:8080/api/v1/account", peer="api-gateway"))
    gs = wc.add(t.server("api-gateway", "GET", "/api/v1/account"))
    t.pt("gw_jwt", gs.add(t.internal("api-gateway", "authn.VerifyToken", {"auth.scheme": "Bearer"})))
    gc = gs.add(t.client("api-gateway", "GET", "http://identity-service.shop.svc:8080/api/users/me", peer="identity-service"))
    isv = t.pt("identity_server", gc.add(t.server("identity-service", "GET", "/api/users/me")))
    t.pt("identity_jwt", isv.add(t.internal("identity-service", "JwtAuthenticationFilter.doFilterInternal")))
    t.pt("identity_db", isv.add(t.db("identity-service", "postgresql", "SELECT", "users",
                                      "SELECT u.id, u.email, u.display_name, u.locale FROM users u WHERE u.id = ?",
                                      "identity", "identity-db.shop.svc", 5432)))
    if r.random() < 0.5:
        isv.add(t.redis("identity-service", "GET", f"session:{v.uuid()}"), opt=True)
    return root


def flow_upload(t):
    r, v = t.r, t.v
    asset = v.uuid()
    root = t.pt("web_root", t.server("web-frontend", "POST", "/account/avatar"))
    wc = t.pt("web_upload_client", root.add(t.client("web-frontend", "POST", "http://api-gateway.shop.svc:8080/api/v1/media", peer="api-gateway")))
    gs = wc.add(t.server("api-gateway", "POST", "/api/v1/media"))
    gc = gs.add(t.client("api-gateway", "POST", "http://media-service.shop.svc:8080/v1/uploads", peer="media-service"))
    ms = t.pt("media_server", gc.add(t.server("media-service", "POST", "/v1/uploads")))
    pu = t.pt("media_process", ms.add(t.internal("media-service", "process_upload", {"asset.id": asset, "upload.bytes": r.randint(40_000, 9_000_000)})))
    if t.on(0.6, "media_resize"):
        t.pt("media_resize", pu.add(t.internal("media-service", "resize_image", {"image.width": 1024}, dur=r.uniform(20, 140)), opt=True))
    if t.on(0.35, "media_disk"):
        t.pt("media_disk", pu.add(t.internal("media-service", "write_tmp_file", {"file.path": f"/var/tmp/media/{asset}.part"}), opt=True))
    t.pt("media_s3", pu.add(t.s3("media-service", "PutObject", "acme-media-prod", f"avatars/{asset}.webp")))
    t.pt("media_db", pu.add(t.db("media-service", "postgresql", "INSERT", "media_assets",
                                  "INSERT INTO media_assets (id, owner_id, content_type, bytes, s3_key) VALUES ($1, $2, $3, $4, $5)",
                                  "media", "media-db.shop.svc", 5432)))
    if t.on(0.12, "media_k8s"):
        j = pu.add(t.internal("media-service", "spawn_transcode_job"), opt=True)
        t.pt("media_k8s", j.add(t.client("media-service", "POST", "https://kubernetes.default.svc/apis/batch/v1/namespaces/media/jobs", status=201)))
    return root


def flow_legacy(t):
    r, v = t.r, t.v
    if t.need == "php_db_write" or (t.need not in ("php_db", "php_http") and r.random() < 0.3):
        root = t.pt("php_root", t.server("storefront-legacy", "POST", "/cart/checkout"))
        t.pt("php_db_write", root.add(t.db("storefront-legacy", "mysql", "INSERT", "order_items",
                                            "insert into `order_items` (`order_id`, `product_id`, `qty`, `price`) values (?, ?, ?, ?)",
                                            "storefront", "mysql-primary.legacy.svc", 3306)))
        t.pt("php_render", root.add(t.internal("storefront-legacy", "laravel.view.render checkout.confirm"), opt=True))
        return root
    root = t.pt("php_root", t.server("storefront-legacy", "GET", "/account/orders"))
    t.pt("php_db", root.add(t.db("storefront-legacy", "mysql", "SELECT", "orders",
                                  "select * from `orders` where `customer_id` = ? and `orders`.`deleted_at` is null order by `created_at` desc limit 20",
                                  "storefront", "mysql-primary.legacy.svc", 3306)))
    if r.random() < 0.5:
        root.add(t.redis("storefront-legacy", "GET", f"laravel_cache:customer:{v.pid()}"), opt=True)
    if t.on(0.5, "php_http"):
        hc = t.pt("php_http", root.add(t.client("storefront-legacy", "GET", f"https://api-gateway.shop.svc/api/v1/orders?customer={v.cus()}", peer="api-gateway"), opt=True))
        gs = hc.add(t.server("api-gateway", "GET", "/api/v1/orders"))
        gc = gs.add(t.client("api-gateway", "GET", "http://checkout-service.shop.svc:8080/api/v1/orders/history", peer="checkout-service"))
        cs = gc.add(t.server("checkout-service", "GET", "/api/v1/orders/history"))
        cs.add(t.db("checkout-service", "postgresql", "SELECT", "orders",
                    "SELECT o.id, o.status, o.total_cents FROM orders o WHERE o.customer_id = ? ORDER BY o.created_at DESC LIMIT ?",
                    "shop", "orders-db.shop.svc", 5432))
    t.pt("php_render", root.add(t.internal("storefront-legacy", "laravel.view.render account.orders")))
    return root


def flow_ledger(t):
    r, v = t.r, t.v
    day = v.ts(fmt="iso")[:10]
    root = t.pt("ledger_job", t.internal("ledger-service", "ReconcileDailySettlements", {"job.id": str(r.randint(100000, 999999)), "settlement.date": day}))
    t.pt("ledger_db", root.add(t.db("ledger-service", "mssql", "SELECT", "dbo.LedgerEntries",
                                     "SELECT [e].[Id], [e].[OrderId], [e].[AmountMinor], [e].[Currency] FROM [dbo].[LedgerEntries] AS [e] WHERE [e].[SettlementDate] = @__day_0",
                                     "ledger", "ledger-sql.shop.svc", 1433)))
    if t.on(0.7, "ledger_pay_client"):
        lc = t.pt("ledger_pay_client", root.add(t.client("ledger-service", "GET", f"https://payments-service.shop.svc/v1/settlements?date={day}", peer="payments-service"), opt=True))
        ps = lc.add(t.server("payments-service", "GET", "/v1/settlements", f"/v1/settlements?date={day}", name="SettlementsController#index"))
        ps.add(t.db("payments-service", "postgresql", "SELECT", "settlements",
                    'SELECT "settlements".* FROM "settlements" WHERE "settlements"."settled_on" = $1', "payments_production", "payments-db.shop.svc", 5432))
    if t.on(0.4, "ledger_disk"):
        t.pt("ledger_disk", root.add(t.internal("ledger-service", "WriteCsvExport", {"file.path": f"/var/lib/ledger/exports/settlements-{day}.csv"}), opt=True))
    if t.on(0.6, "ledger_s3"):
        t.pt("ledger_s3", root.add(t.s3("ledger-service", "PutObject", "acme-ledger-exports", f"settlements/{day}.csv.gz"), opt=True))
    if t.on(0.5, "ledger_kafka"):
        t.pt("ledger_kafka", root.add(t.messaging("ledger-service", PRODUCER, "kafka", "ledger.reconciled"), opt=True))
    return root


def flow_search(t):
    r, v = t.r, t.v
    q = r.choice(["running shoes", "coffee grinder", "usb hub", "wool sweater", "tent 2 person", "headphones"])
    root = t.pt("web_root", t.server("web-frontend", "GET", "/search", f"/search?q={q.replace(' ', '+')}"))
    wc = root.add(t.client("web-frontend", "GET", f"http://api-gateway.shop.svc:8080/api/v1/search?q={q.replace(' ', '+')}", peer="api-gateway"))
    gs = wc.add(t.server("api-gateway", "GET", "/api/v1/search"))
    if r.random() < 0.3:
        gs.add(t.internal("api-gateway", "ratelimit.Check", {"ratelimit.limit": 120, "ratelimit.remaining": r.randint(40, 119)}), opt=True)
    gc = gs.add(t.client("api-gateway", "GET", "http://search-service.shop.svc:8443/v1/search", peer="search-service"))
    ss = t.pt("search_server", gc.add(t.server("search-service", "GET", "/v1/search")))
    ss.add(t.internal("search-service", "parse_query", {"query.terms": len(q.split())}))
    es = t.pt("search_es2", ss.add(t.db("search-service", "elasticsearch", "search", "products",
                                         '{"query":{"multi_match":{"query":"?","fields":["title^3","description"]}},"size":24}',
                                         "products", "es-data-1.search.svc", 9200)))
    es.name = "POST /products/_search"
    if r.random() < 0.4:
        ss.add(t.redis("search-service", "GET", f"search:facets:{v.hex(12)}"), opt=True)
    return root


def flow_webhook(t):
    r, v = t.r, t.v
    root = t.pt("webhook_root", t.server("payments-service", "POST", "/webhooks/stripe", name="WebhooksController#stripe"))
    t.pt("webhook_verify", root.add(t.internal("payments-service", "Stripe::Webhook.construct_event")))
    t.pt("webhook_db", root.add(t.db("payments-service", "postgresql", "UPDATE", "payments",
                                      'UPDATE "payments" SET "status" = $1, "updated_at" = $2 WHERE "payments"."id" = $3',
                                      "payments_production", "payments-db.shop.svc", 5432)))
    if r.random() < 0.6:
        root.add(t.messaging("payments-service", PRODUCER, "sidekiq", "default", op="publish"), opt=True).name = "PaymentSucceededJob publish"
    return root


CONSUMERS = {
    "java_consumer": ("shipping-service", "shipments.requested", ("mysql", "UPDATE", "shipments", "UPDATE shipments SET status = ?, carrier = ? WHERE id = ?", "shipping", "shipping-mysql.shop.svc", 3306)),
    "go_consumer": ("inventory-service", "stock.adjusted", ("postgresql", "UPDATE", "stock", "UPDATE stock SET available = available + $1 WHERE sku = $2", "inventory", "inventory-db.shop.svc", 5432)),
    "node_consumer": ("notification-service", "customer.events", None),
    "py_consumer": ("fulfillment-worker", "returns.requested", ("postgresql", "INSERT", "returns", "INSERT INTO returns (order_id, reason, created_at) VALUES (%(order_id)s, %(reason)s, now())", "fulfillment", "fulfillment-db.shop.svc", 5432)),
    "dotnet_consumer": ("ledger-service", "payments.settled", ("mssql", "INSERT", "dbo.Settlements", "INSERT INTO [dbo].[Settlements] ([PaymentId], [AmountMinor]) VALUES (@p0, @p1)", "ledger", "ledger-sql.shop.svc", 1433)),
}


def flow_consumer(t):
    r = t.r
    key = t.need if t.need in CONSUMERS else r.choice(sorted(CONSUMERS))
    svc, topic, dbspec = CONSUMERS[key]
    root = t.pt(key, t.messaging(svc, CONSUMER, "kafka", topic))
    if dbspec:
        root.add(t.db(svc, *dbspec))
    else:
        root.add(t.redis(svc, "HGETALL", f"customer:prefs:{t.v.pid()}"))
        root.add(t.client(svc, "POST", "https://api.sendgrid.com/v3/mail/send", status=202, peer="sendgrid"))
    if r.random() < 0.5:
        root.add(t.internal(svc, {"java_consumer": "ShipmentEventHandler.handle", "go_consumer": "handleStockAdjusted",
                                  "node_consumer": "handleCustomerEvent", "py_consumer": "handle_return_request",
                                  "dotnet_consumer": "SettlementHandler.Handle"}[key]), opt=True)
    return root


FLOWS = {"checkout": flow_checkout, "product": flow_product, "fulfil": flow_fulfil, "account": flow_account,
         "upload": flow_upload, "legacy": flow_legacy, "ledger": flow_ledger, "search": flow_search,
         "webhook": flow_webhook, "consumer": flow_consumer}
HEALTHY_MIX = [("product", 26), ("checkout", 16), ("search", 14), ("account", 10), ("fulfil", 10),
               ("legacy", 8), ("upload", 6), ("consumer", 6), ("webhook", 3), ("ledger", 1)]

# ---------------------------------------------------------------------------------------------
# Fault variants: (fault type, flow, point, function(t, node))
# ---------------------------------------------------------------------------------------------
VARIANTS = []


def variant(fault, flow, point):
    def deco(fn):
        VARIANTS.append((fault, flow, point, fn))
        return fn
    return deco


# 1. database connection pool exhausted / no connection available
@variant("db_pool_exhausted", "checkout", "checkout_db")
def _(t, n):
    ms = t.r.choice([30000, 30001, 30004, 10000, 5000])
    tail = "" if t.r.random() < 0.5 else f" (total={t.r.choice([10, 20, 40])}, active={t.r.choice([10, 20, 40])}, idle=0, waiting={t.r.randint(3, 80)})"
    msg = f"HikariPool-1 - Connection is not available, request timed out after {ms}ms{tail}."
    n.fixed = ms + t.r.uniform(1, 15)
    if t.r.random() < 0.5:
        # no JDBC span: the connection was never obtained; the method span records it
        par = n.parent
        par.children = []  # the cart query was the method's first step
        par.fixed = n.fixed + t.r.uniform(0.5, 3)
        n = par
    t.jexc(n, "java.sql.SQLTransientConnectionException", msg,
           ["com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
            "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
            "com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:100)"])
    if t.r.random() < 0.5 and n.cat == "db":  # Spring wraps it one level up
        t.jexc(n.parent, "org.springframework.transaction.CannotCreateTransactionException",
               f"Could not open JPA EntityManager for transaction; nested exception is org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection",
               ["org.springframework.orm.jpa.JpaTransactionManager.doBegin(JpaTransactionManager.java:466)"])
    t.prop(n, 500)


@variant("db_pool_exhausted", "fulfil", "worker_db")
def _(t, n):
    size = t.r.choice([5, 10, 20])
    msg = f"QueuePool limit of size {size} overflow {size * 2} reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)"
    n.fixed = 30000 + t.r.uniform(1, 40)
    t.pyexc(n, "sqlalchemy.exc.TimeoutError", msg,
            [("/app/.venv/lib/python3.11/site-packages/sqlalchemy/pool/impl.py", 166, "_do_get",
              "raise exc.TimeoutError(")])
    t.prop(n)


@variant("db_pool_exhausted", "product", "catalog_db")
def _(t, n):
    ip = t.v.ip()
    msg = t.r.choice([
        f'connection to server at "catalog-db.shop.svc" ({ip}), port 5432 failed: FATAL:  sorry, too many clients already',
        f'connection to server at "catalog-db.shop.svc" ({ip}), port 5432 failed: FATAL:  remaining connection slots are reserved for non-replication superuser connections'])
    t.pyexc(n, "django.db.utils.OperationalError", msg,
            [("/app/.venv/lib/python3.11/site-packages/psycopg2/__init__.py", 122, "connect",
              "conn = _connect(dsn, connection_factory=connection_factory, **kwasync)")])
    t.prop(n)


@variant("db_pool_exhausted", "ledger", "ledger_db")
def _(t, n):
    n.fixed = 15000 + t.r.uniform(1, 30)
    t.netexc(n, "System.InvalidOperationException",
             "Timeout expired.  The timeout period elapsed prior to obtaining a connection from the pool.  This may have occurred because all pooled connections were in use and max pool size was reached.",
             ["Microsoft.Data.SqlClient.ConnectionPool.DbConnectionPool.TryGetConnection(DbConnection owningObject, UInt32 waitForMultipleObjectsTimeout, Boolean allowCreate, Boolean onlyOneCheckConnection, DbConnectionOptions userOptions, DbConnectionInternal& connection)",
              "Microsoft.Data.SqlClient.SqlConnection.OpenAsync(CancellationToken cancellationToken)"])
    t.prop(n)


@variant("db_pool_exhausted", "checkout", "payments_db")
def _(t, n):
    w = t.r.choice(["5.000", "5.001", "5.002"])
    n.fixed = 5000 + t.r.uniform(0, 5)
    t.rbexc(n, "ActiveRecord::ConnectionTimeoutError",
            f"could not obtain a connection from the pool within 5.000 seconds (waited {w} seconds); all pooled connections were in use",
            ["/usr/local/bundle/gems/activerecord-7.1.3/lib/active_record/connection_adapters/abstract/connection_pool/queue.rb:128:in `block in wait_poll'"])
    t.prop(n)


@variant("db_pool_exhausted", "upload", "media_db")
def _(t, n):
    n.fixed = 30000 + t.r.uniform(0, 20)
    t.rust_err(n, "failed to insert media asset", "pool timed out while waiting for an open connection")
    t.prop(n)


@variant("db_pool_exhausted", "legacy", "php_db")
def _(t, n):
    t.phpexc(n, "Illuminate\\Database\\QueryException",
             "SQLSTATE[HY000] [1040] Too many connections (Connection: mysql, SQL: select * from `orders` where `customer_id` = "
             f"{t.v.pid()} and `orders`.`deleted_at` is null order by `created_at` desc limit 20)",
             ["/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php(65): PDO->__construct()"])
    t.prop(n)


# 2. TLS certificate expired
@variant("tls_cert_expired", "checkout", "gw_checkout_client")
def _(t, n):
    now = t.v.ts()
    exp = t.v.ts(-86400 * t.r.randint(1, 20))
    url = n.attrs.get("http.url", "").replace("http://", "https://").replace(":8080", ":8443")
    msg = f'Post "{url}": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {now} is after {exp}'
    n.children.clear()
    n.fixed = t.r.uniform(3, 12)
    n.attrs.pop("http.status_code", None)
    n.attrs["http.url"], n.attrs["net.peer.port"] = url, 8443
    t.go_err(n, "*url.Error", msg)
    t.prop(n, 502)


@variant("tls_cert_expired", "fulfil", "shipping_carrier")
def _(t, n):
    n.attrs.pop("http.status_code", None)
    n.fixed = t.r.uniform(40, 120)
    t.jexc(n, "javax.net.ssl.SSLHandshakeException",
           "PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed",
           ["java.base/sun.security.ssl.Alert.createSSLException(Alert.java:131)",
            "java.base/sun.security.ssl.TransportContext.fatal(TransportContext.java:371)",
            "java.base/sun.security.ssl.CertificateMessage$T12CertificateConsumer.checkServerCerts(CertificateMessage.java:654)"],
           cause=("java.security.cert.CertificateExpiredException", f"NotAfter: {t.v.ts(-86400 * 3, fmt='iso')}",
                  ["java.base/sun.security.x509.CertificateValidity.valid(CertificateValidity.java:277)"]))
    t.prop(n)


@variant("tls_cert_expired", "fulfil", "sendgrid")
def _(t, n):
    n.attrs.pop("http.response.status_code", None)
    n.fixed = t.r.uniform(20, 80)
    t.nodeexc(n, "Error", "certificate has expired",
              ["TLSSocket.onConnectSecure (node:_tls_wrap:1674:34)", "TLSSocket.emit (node:events:519:28)"], code="CERT_HAS_EXPIRED")
    t.prop(n)


@variant("tls_cert_expired", "product", "catalog_search_client")
def _(t, n):
    n.children.clear()
    n.attrs.pop("http.status_code", None)
    pidv = n.attrs["http.url"].rsplit("=", 1)[1]
    msg = (f"HTTPSConnectionPool(host='search-service.shop.svc', port=8443): Max retries exceeded with url: /v1/similar?product_id={pidv} "
           "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))")
    t.pyexc(n, "requests.exceptions.SSLError", msg,
            [("/app/.venv/lib/python3.11/site-packages/requests/adapters.py", 517, "send", "raise SSLError(e, request=request)")])
    t.prop(n)


@variant("tls_cert_expired", "ledger", "ledger_pay_client")
def _(t, n):
    n.children.clear()
    n.attrs.pop("http.response.status_code", None)
    t.netexc(n, "System.Net.Http.HttpRequestException",
             "The SSL connection could not be established, see inner exception. ---> System.Security.Authentication.AuthenticationException: The remote certificate is invalid because of errors in the certificate chain: NotTimeValid",
             ["System.Net.Http.ConnectHelper.EstablishSslConnectionAsync(SslClientAuthenticationOptions sslOptions, HttpRequestMessage request, Boolean async, Stream stream, CancellationToken cancellationToken)"])
    t.prop(n)


@variant("tls_cert_expired", "legacy", "php_http")
def _(t, n):
    n.children.clear()
    n.attrs.pop("http.response.status_code", None)
    url = n.attrs["url.full"]
    t.phpexc(n, "GuzzleHttp\\Exception\\ConnectException",
             f"cURL error 60: SSL certificate problem: certificate has expired (see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for {url}",
             ["/var/www/html/vendor/guzzlehttp/guzzle/src/Handler/CurlFactory.php(210): GuzzleHttp\\Handler\\CurlFactory::createRejection()"])
    t.prop(n)


# 3. DNS resolution failure
@variant("dns_failure", "product", "gw_catalog_client")
def _(t, n):
    n.children.clear()
    n.attrs.pop("http.status_code", None)
    url = n.attrs["http.url"]
    host = url.split("://")[1].split(":")[0]
    tail = t.r.choice(["no such host", "server misbehaving", "i/o timeout"])
    msg = f'Get "{url}": dial tcp: lookup {host} on 10.96.0.10:53: {tail}'
    n.fixed = 5000.0 if tail == "i/o timeout" else t.r.uniform(1, 30)
    t.go_err(n, "*net.DNSError", msg)
    t.prop(n, 502)


@variant("dns_failure", "fulfil", "sendgrid")
def _(t, n):
    n.attrs.pop("http.response.status_code", None)
    code = t.r.choice(["ENOTFOUND", "EAI_AGAIN"])
    t.nodeexc(n, "Error", f"getaddrinfo {code} api.sendgrid.com",
              ["GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)"], code=code)
    t.prop(n)


@variant("dns_failure", "fulfil", "shipping_carrier")
def _(t, n):
    n.attrs.pop("http.status_code", None)
    t.jexc(n, "java.net.UnknownHostException", t.r.choice(["api.easypost.com: Temporary failure in name resolution", "api.easypost.com: Name or service not known"]),
           ["java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)",
            "java.base/java.net.InetAddress$PlatformNameService.lookupAllHostAddr(InetAddress.java:933)"])
    t.prop(n)


@variant("dns_failure", "fulfil", "worker_ship_client")
def _(t, n):
    n.children.clear()
    n.attrs.pop("http.status_code", None)
    msg = ("HTTPConnectionPool(host='shipping-service.shop.svc', port=8080): Max retries exceeded with url: /api/shipments/quote "
           f"(Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f{t.v.hex(10)}>: Failed to resolve 'shipping-service.shop.svc' ([Errno -3] Temporary failure in name resolution)\"))")
    t.pyexc(n, "requests.exceptions.ConnectionError", msg,
            [("/app/.venv/lib/python3.11/site-packages/requests/adapters.py", 519, "send", "raise ConnectionError(e, request=request)")])
    t.prop(n)


@variant("dns_failure", "checkout", "stripe")
def _(t, n):
    n.attrs.pop("http.status_code", None)
    t.rbexc(n, "Stripe::APIConnectionError",
            "Unexpected error communicating with Stripe. If this problem persists, let us know at support@stripe.com.\n\n(Network error: SocketError: Failed to open TCP connection to api.stripe.com:443 (getaddrinfo: Name or service not known))",
            ["/usr/local/bundle/gems/stripe-10.1.0/lib/stripe/stripe_client.rb:694:in `handle_network_error'"])
    t.prop(n)


@variant("dns_failure", "upload", "media_s3")
def _(t, n):
    n.attrs.pop("http.response.status_code", None)
    t.rust_err(n, "s3 put_object failed",
               "dispatch failure: io error: error trying to connect: dns error: failed to lookup address information: Temporary failure in name resolution")
    t.prop(n)


# 4. disk full
@variant("disk_full", "upload", "media_disk")
def _(t, n):
    t.rust_err(n, "failed to buffer upload to disk", "No space left on device (os error 28)")
    t.prop(n)


@variant("disk_full", "ledger", "ledger_disk")
def _(t, n):
    path = n.attrs["file.path"]
    t.netexc(n, "System.IO.IOException", f"No space left on device : '{path}'",
             ["System.IO.RandomAccess.WriteAtOffset(SafeFileHandle handle, ReadOnlySpan`1 buffer, Int64 fileOffset)",
              "System.IO.Strategies.BufferedFileStreamStrategy.FlushWrite()"])
    t.prop(n)


@variant("disk_full", "fulfil", "worker_file")
def _(t, n):
    t.pyexc(n, "OSError", f"[Errno 28] No space left on device: '{n.attrs['file.path']}'",
            [("/app/fulfillment/labels.py", 52, "write_label_pdf", "fh.write(pdf_bytes)")])
    t.prop(n)


@variant("disk_full", "product", "catalog_db")
def _(t, n):
    rel = f"base/{t.r.randint(16000, 17000)}/{t.r.randint(2000, 90000)}"
    t.pyexc(n, "django.db.utils.OperationalError", f'could not extend file "{rel}": No space left on device\nHINT:  Check free disk space.',
            [("/app/.venv/lib/python3.11/site-packages/django/db/backends/utils.py", 89, "_execute", "return self.cursor.execute(sql, params)")])
    t.prop(n)


@variant("disk_full", "fulfil", "notif_render")
def _(t, n):
    t.nodeexc(n, "Error", "ENOSPC: no space left on device, write", ["Object.writeSync (node:fs:936:3)"], code="ENOSPC")
    t.prop(n)


@variant("disk_full", "checkout", "checkout_kafka")
def _(t, n):
    t.jexc(n, "org.apache.kafka.common.errors.KafkaStorageException",
           "Disk error when trying to access log file on the disk.",
           ["org.apache.kafka.clients.producer.internals.FutureRecordMetadata.valueOrError(FutureRecordMetadata.java:98)"])
    t.prop(n)


@variant("disk_full", "legacy", "php_db_write")
def _(t, n):
    t.phpexc(n, "Illuminate\\Database\\QueryException",
             f"SQLSTATE[HY000]: General error: 1114 The table 'order_items' is full (Connection: mysql, SQL: insert into `order_items` (`order_id`, `product_id`, `qty`, `price`) values ({t.r.randint(100000, 999999)}, {t.v.pid()}, 1, 24.99))",
             ["/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php(580): PDOStatement->execute()"])
    t.prop(n)


# 5. database deadlock
@variant("db_deadlock", "checkout", "inventory_db")
def _(t, n):
    t.go_err(n, "*pgconn.PgError", "ERROR: deadlock detected (SQLSTATE 40P01)")
    t.prop(n)


@variant("db_deadlock", "checkout", "checkout_db")
def _(t, n):
    p1, p2 = t.r.randint(10000, 60000), t.r.randint(10000, 60000)
    x1, x2 = t.r.randint(9_000_000, 9_999_999), t.r.randint(9_000_000, 9_999_999)
    n.attrs["db.statement"] = "UPDATE carts SET status = ?, updated_at = ? WHERE id = ?"
    n.attrs["db.operation"] = "UPDATE"
    n.name = "UPDATE shop.carts"
    t.jexc(n, "org.postgresql.util.PSQLException",
           f"ERROR: deadlock detected\n  Detail: Process {p1} waits for ShareLock on transaction {x1}; blocked by process {p2}.\nProcess {p2} waits for ShareLock on transaction {x2}; blocked by process {p1}.\n  Hint: See server log for query details.\n  Where: while updating tuple ({t.r.randint(100, 9000)},{t.r.randint(1, 40)}) in relation \"carts\"",
           ["org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)"])
    if t.r.random() < 0.6:
        t.jexc(n.parent, "org.springframework.dao.CannotAcquireLockException",
               "could not execute statement [ERROR: deadlock detected] [update carts set status=?,updated_at=? where id=?]; SQL [update carts set status=?,updated_at=? where id=?]",
               ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:262)"])
    t.prop(n)


@variant("db_deadlock", "ledger", "ledger_db")
def _(t, n):
    t.netexc(n, "Microsoft.Data.SqlClient.SqlException",
             f"Transaction (Process ID {t.r.randint(51, 240)}) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
             ["Microsoft.Data.SqlClient.SqlConnection.OnError(SqlException exception, Boolean breakConnection, Action`1 wrapCloseInAction)",
              "Microsoft.Data.SqlClient.SqlDataReader.TryConsumeMetaData()"])
    t.prop(n)


@variant("db_deadlock", "legacy", "php_db_write")
def _(t, n):
    t.phpexc(n, "Illuminate\\Database\\QueryException",
             f"SQLSTATE[40001]: Serialization failure: 1213 Deadlock found when trying to get lock; try restarting transaction (Connection: mysql, SQL: insert into `order_items` (`order_id`, `product_id`, `qty`, `price`) values ({t.r.randint(100000, 999999)}, {t.v.pid()}, 2, 12.5))",
             ["/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php(580): PDOStatement->execute()"])
    t.prop(n)


@variant("db_deadlock", "fulfil", "worker_db")
def _(t, n):
    p1, p2 = t.r.randint(10000, 60000), t.r.randint(10000, 60000)
    t.pyexc(n, "sqlalchemy.exc.OperationalError",
            f"(psycopg2.errors.DeadlockDetected) deadlock detected\nDETAIL:  Process {p1} waits for ShareLock on transaction {t.r.randint(1000000, 9000000)}; blocked by process {p2}.\nProcess {p2} waits for ShareLock on transaction {t.r.randint(1000000, 9000000)}; blocked by process {p1}.\nHINT:  See server log for query details.\n[SQL: UPDATE shipments SET status=%(status)s WHERE shipments.id = %(shipments_id)s]\n(Background on this error at: https://sqlalche.me/e/20/e3q8)",
            [("/app/.venv/lib/python3.11/site-packages/sqlalchemy/engine/default.py", 924, "do_execute", "cursor.execute(statement, parameters)")])
    t.prop(n)


# 6. third-party rate limiting
@variant("third_party_rate_limit", "checkout", "stripe")
def _(t, n):
    set_http_status(n, 429)
    t.rbexc(n, "Stripe::RateLimitError",
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            ["/usr/local/bundle/gems/stripe-10.1.0/lib/stripe/stripe_client.rb:780:in `handle_error_response'"])
    t.prop(n, 503)


@variant("third_party_rate_limit", "fulfil", "sendgrid")
def _(t, n):
    # only the HTTP status: the node http instrumentation marks 4xx client spans as errors
    set_http_status(n, 429)
    n.attrs["error.type"] = "429"
    t.err(n, None)
    if t.r.random() < 0.5:
        t.log(n.parent, f"sendgrid responded 429, retry-after={t.r.randint(1, 60)}s", "WARN")
    t.prop(n)


@variant("third_party_rate_limit", "fulfil", "shipping_carrier")
def _(t, n):
    set_http_status(n, 429)
    t.jexc(n, "org.springframework.web.client.HttpClientErrorException$TooManyRequests",
           f"429 Too Many Requests: \"{{\"error\":{{\"code\":\"RATE_LIMIT_EXCEEDED\",\"message\":\"You have exceeded {t.r.choice([5, 10, 20])} requests per second\"}}}}\"",
           ["org.springframework.web.client.HttpClientErrorException.create(HttpClientErrorException.java:137)"])
    t.prop(n)


@variant("third_party_rate_limit", "product", "catalog_ext")
def _(t, n):
    set_http_status(n, 429)
    ms = t.r.choice([20, 120, 857, 1200])
    t.pyexc(n, "openai.RateLimitError",
            f"Error code: 429 - {{'error': {{'message': 'Rate limit reached for text-embedding-3-small in organization org-{t.v.an(24)} on requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in {ms}ms. Visit https://platform.openai.com/account/rate-limits to learn more.', 'type': 'requests', 'param': None, 'code': 'rate_limit_exceeded'}}}}",
            [("/app/.venv/lib/python3.11/site-packages/openai/_base_client.py", 1020, "_request", "raise self._make_status_error_from_response(err.response) from None")])
    t.prop(n)


@variant("third_party_rate_limit", "consumer", "node_consumer")
def _(t, n):
    tw = n.add(t.client("notification-service", "POST", f"https://api.twilio.com/2010-04-01/Accounts/AC{t.v.hex(32)}/Messages.json", status=429, peer="twilio"))
    t.nodeexc(tw, "RestException", "Too Many Requests", ["Twilio.request (/srv/app/node_modules/twilio/lib/base/BaseTwilio.js:207:23)"], code="429")
    tw.attrs["twilio.error_code"] = 20429
    t.prop(tw)


# 7. JWT / access token expired
@variant("jwt_expired", "account", "identity_jwt")
def _(t, n):
    exp_off = t.r.randint(60, 86400)
    now = t.v.ts()
    msg = f"JWT expired at {t.v.ts(-exp_off)}. Current time: {now}, a difference of {exp_off * 1000 + t.r.randint(0, 999)} milliseconds.  Allowed clock skew: 0 milliseconds."
    t.jexc(n, "io.jsonwebtoken.ExpiredJwtException", msg,
           ["io.jsonwebtoken.impl.DefaultJwtParser.parse(DefaultJwtParser.java:682)"])
    n.parent.children = [c for c in n.parent.children if c is n]
    t.http_up(n, 401)


@variant("jwt_expired", "account", "gw_jwt")
def _(t, n):
    t.go_err(n, "*fmt.wrapError", "token has invalid claims: token is expired")
    gs = n.parent
    gs.children = [c for c in gs.children if c is n]
    t.http_up(n, 401)
    if t.r.random() < 0.5:
        t.log(gs.parent.parent, "session expired, redirecting to /login", "WARN")


@variant("jwt_expired", "product", "catalog_auth")
def _(t, n):
    t.pyexc(n, "jwt.exceptions.ExpiredSignatureError", "Signature has expired",
            [("/app/.venv/lib/python3.11/site-packages/jwt/api_jwt.py", 363, "_validate_exp", 'raise ExpiredSignatureError("Signature has expired")')])
    cs = n.parent
    cs.children = [c for c in cs.children if c is n]
    t.log(cs, f"Unauthorized: {cs.attrs['http.target']}", "WARN")
    t.http_up(n, 401)


@variant("jwt_expired", "fulfil", "notif_auth")
def _(t, n):
    t.nodeexc(n, "TokenExpiredError", "jwt expired", ["/srv/app/node_modules/jsonwebtoken/verify.js:190:21"])
    n.events[-1]["extra"] = {"expiredAt": t.v.ts()}
    ns = n.parent
    ns.children = [c for c in ns.children if c is n]
    set_http_status(ns, 401)
    set_http_status(ns.parent, 401)
    t.err(ns.parent, None)
    t.prop(ns.parent, 500)  # the worker's task fails on the 401


@variant("jwt_expired", "checkout", "ledger_server")
def _(t, n):
    n.children.clear()
    set_http_status(n, 401)
    vt, now = t.v.ts(-t.r.randint(60, 7200), fmt="us"), t.v.ts(fmt="us")
    t.log(n, f"Bearer was not authenticated. Failure message: IDX10223: Lifetime validation failed. The token is expired. ValidTo (UTC): '{vt}', Current time (UTC): '{now}'.", "INFO")
    set_http_status(n.parent, 401)
    n.parent.attrs["error.type"] = "401"
    t.err(n.parent, None)
    t.prop(n.parent, 500)


# 8. schema mismatch: missing column / table after a migration
@variant("schema_mismatch", "product", "catalog_db")
def _(t, n):
    t.pyexc(n, "django.db.utils.ProgrammingError",
            'column catalog_product.search_vector does not exist\nLINE 1: ...t"."title", "catalog_product"."price", "catalog_pro...\n                                                             ^',
            [("/app/.venv/lib/python3.11/site-packages/django/db/backends/utils.py", 89, "_execute", "return self.cursor.execute(sql, params)")])
    t.prop(n)


@variant("schema_mismatch", "checkout", "payments_db")
def _(t, n):
    t.rbexc(n, "ActiveRecord::StatementInvalid",
            'PG::UndefinedColumn: ERROR:  column payments.idempotency_key does not exist\nLINE 1: SELECT "payments".* FROM "payments" WHERE "payments"."idempote...\n                                                   ^',
            ["/usr/local/bundle/gems/activerecord-7.1.3/lib/active_record/connection_adapters/postgresql_adapter.rb:894:in `exec_params'"])
    t.prop(n)


@variant("schema_mismatch", "legacy", "php_db")
def _(t, n):
    t.phpexc(n, "Illuminate\\Database\\QueryException",
             f"SQLSTATE[42S22]: Column not found: 1054 Unknown column 'orders.loyalty_tier' in 'field list' (Connection: mysql, SQL: select `orders`.*, `orders`.`loyalty_tier` from `orders` where `customer_id` = {t.v.pid()})",
             ["/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php(423): PDO->prepare()"])
    t.prop(n)


@variant("schema_mismatch", "checkout", "checkout_db")
def _(t, n):
    t.jexc(n, "org.postgresql.util.PSQLException", "ERROR: column c1_0.gift_wrap does not exist\n  Position: 112",
           ["org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)"])
    t.jexc(n.parent, "org.springframework.dao.InvalidDataAccessResourceUsageException",
           "JDBC exception executing SQL [select c1_0.id,c1_0.customer_id,c1_0.gift_wrap from carts c1_0 where c1_0.id=?] [ERROR: column c1_0.gift_wrap does not exist  Position: 112] [n/a]; SQL [n/a]",
           ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:277)"])
    t.prop(n)


@variant("schema_mismatch", "upload", "media_db")
def _(t, n):
    t.rust_err(n, "database query failed", 'error returned from database: relation "media_variants" does not exist')
    t.prop(n)


@variant("schema_mismatch", "ledger", "ledger_db")
def _(t, n):
    t.netexc(n, "Microsoft.Data.SqlClient.SqlException", "Invalid column name 'SettlementBatchId'.",
             ["Microsoft.Data.SqlClient.SqlCommand.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)",
              "Microsoft.EntityFrameworkCore.Storage.RelationalCommand.ExecuteReaderAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)"])
    t.prop(n)


# 9. Kafka consumer rebalance / offset commit failure
@variant("kafka_rebalance", "consumer", "py_consumer")
def _(t, n):
    t.pyexc(n, "cimpl.KafkaException", 'KafkaError{code=REBALANCE_IN_PROGRESS,val=27,str="Commit failed: Broker: Group rebalance in progress"}',
            [("/app/fulfillment/consumer.py", 64, "run", "consumer.commit(message=msg, asynchronous=False)")])


@variant("kafka_rebalance", "consumer", "java_consumer")
def _(t, n):
    msg = t.r.choice([
        "Commit cannot be completed since the group has already rebalanced and assigned the partitions to another member. This means that the time between subsequent calls to poll() was longer than the configured max.poll.interval.ms, which typically implies that the poll loop is spending too much time message processing. You can address this either by increasing max.poll.interval.ms or by reducing the maximum size of batches returned in poll() with max.poll.records.",
        "Offset commit cannot be completed since the consumer is not part of an active group for auto partition assignment; it is likely that the consumer was kicked out of the group."])
    n.fixed = t.r.uniform(300000, 330000) if t.r.random() < 0.3 else None
    t.jexc(n, "org.apache.kafka.clients.consumer.CommitFailedException", msg,
           ["org.apache.kafka.clients.consumer.internals.ConsumerCoordinator.sendOffsetCommitRequest(ConsumerCoordinator.java:1256)",
            "org.apache.kafka.clients.consumer.KafkaConsumer.commitSync(KafkaConsumer.java:1480)"])


@variant("kafka_rebalance", "consumer", "go_consumer")
def _(t, n):
    msg = t.r.choice(["kafka server: The provided member is not known in the current generation",
                      "kafka server: The group is rebalancing, so a rejoin is needed"])
    t.go_err(n, "sarama.KError", msg, wrapped=f"commit offsets for stock.adjusted/{t.r.randint(0, 11)}: {msg}")


@variant("kafka_rebalance", "consumer", "node_consumer")
def _(t, n):
    t.nodeexc(n, "KafkaJSProtocolError", "The group is rebalancing, so a rejoin is needed",
              ["createErrorFromCode (/srv/app/node_modules/kafkajs/src/protocol/error.js:581:10)"], code="REBALANCE_IN_PROGRESS")
    t.log(n, f"[Runner] The group is rebalancing, re-joining groupId=notification-service-group memberId=notification-service-{t.v.uuid()}", "ERROR")


@variant("kafka_rebalance", "consumer", "dotnet_consumer")
def _(t, n):
    t.netexc(n, "Confluent.Kafka.KafkaException", t.r.choice(["Broker: Specified group generation id is not valid", "Broker: Unknown member"]),
             ["Confluent.Kafka.Consumer`2.Commit(IEnumerable`1 offsets)"])


# 10. S3 access denied
@variant("s3_access_denied", "upload", "media_s3")
def _(t, n):
    set_http_status(n, 403)
    t.rust_err(n, "s3 put_object failed", f"service error: unhandled error (AccessDenied): Access Denied (request id: {t.v.an(16).upper()})")
    t.prop(n)


@variant("s3_access_denied", "product", "catalog_s3")
def _(t, n):
    n.attrs["http.status_code"] = 403
    t.pyexc(n, "botocore.exceptions.ClientError", "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
            [("/app/.venv/lib/python3.11/site-packages/botocore/client.py", 1021, "_make_api_call", "raise error_class(parsed_response, operation_name)")])
    t.prop(n)


@variant("s3_access_denied", "ledger", "ledger_s3")
def _(t, n):
    set_http_status(n, 403)
    t.netexc(n, "Amazon.S3.AmazonS3Exception", "Access Denied",
             ["Amazon.Runtime.Internal.HttpErrorResponseExceptionHandler.HandleExceptionStream(IRequestContext requestContext, IWebResponseData httpErrorResponse, HttpErrorResponseException exception, Stream responseStream)"])
    n.attrs["aws.error.code"] = "AccessDenied"
    t.prop(n)


@variant("s3_access_denied", "checkout", "checkout_s3")
def _(t, n):
    set_http_status(n, 403)
    acct = t.r.randint(100000000000, 999999999999)
    key = n.attrs["aws.s3.key"]
    t.jexc(n, "software.amazon.awssdk.services.s3.model.S3Exception",
           f"User: arn:aws:sts::{acct}:assumed-role/checkout-service-prod/{t.v.hex(16)} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::acme-invoices-prod/{key}\" because no identity-based policy allows the s3:PutObject action (Service: S3, Status Code: 403, Request ID: {t.v.an(16).upper()}, Extended Request ID: {t.v.an(56)}=)",
           ["software.amazon.awssdk.services.s3.model.S3Exception$BuilderImpl.build(S3Exception.java:104)"])
    t.prop(n)


# 11. out of memory / OOM-killed worker
@variant("oom", "checkout", "checkout_internal")
def _(t, n):
    t.jexc(n, "java.lang.OutOfMemoryError", "Java heap space",
           ["java.base/java.util.Arrays.copyOf(Arrays.java:3537)", "com.fasterxml.jackson.core.util.ByteArrayBuilder.toByteArray(ByteArrayBuilder.java:135)"])
    n.children = n.children[:1]
    t.prop(n)


@variant("oom", "fulfil", "shipping_label")
def _(t, n):
    n.fixed = t.r.uniform(8000, 25000)
    t.jexc(n, "java.lang.OutOfMemoryError", "GC overhead limit exceeded",
           ["java.awt.image.DataBufferInt.<init>(DataBufferInt.java:75)", "com.acme.shipping.label.LabelRenderer.render(LabelRenderer.java:58)"])
    t.prop(n)


@variant("oom", "legacy", "php_render")
def _(t, n):
    size = t.r.choice([134217728, 268435456])
    t.phpexc(n, "Symfony\\Component\\ErrorHandler\\Error\\FatalError",
             f"Allowed memory size of {size} bytes exhausted (tried to allocate {t.r.choice([20480, 65536, 4096, 2097160])} bytes)")
    t.prop(n)


@variant("oom", "fulfil", "worker_task")
def _(t, n):
    n.children = n.children[:1]
    n.attrs["celery.state"] = "FAILURE"
    t.pyexc(n, "billiard.exceptions.WorkerLostError", f"Worker exited prematurely: signal 9 (SIGKILL) Job: {t.r.randint(1000, 99999)}.",
            [("/app/.venv/lib/python3.11/site-packages/billiard/pool.py", 1265, "mark_as_worker_lost", "raise WorkerLostError(")])
    t.prop(n)


@variant("oom", "ledger", "ledger_job")
def _(t, n):
    n.children = n.children[:1]
    n.fixed = t.r.uniform(20000, 90000)
    t.netexc(n, "System.OutOfMemoryException", "Exception of type 'System.OutOfMemoryException' was thrown.",
             ["System.Collections.Generic.List`1.set_Capacity(Int32 value)", "System.Linq.Enumerable.ToList[TSource](IEnumerable`1 source)"])


@variant("oom", "product", "catalog_render")
def _(t, n):
    # Python's MemoryError usually carries no message at all
    t.pyexc(n, "MemoryError", "", [("/app/catalog/rendering.py", 211, "render_variants", "grid = [[render(v, s) for s in sizes] for v in variants]")])
    t.prop(n)


# 12. gRPC deadline exceeded
@variant("grpc_deadline", "checkout", "checkout_inv_client")
def _(t, n):
    secs = t.r.choice([5, 3, 2])
    n.fixed = secs * 1000 + t.r.uniform(0, 3)
    n.attrs["rpc.grpc.status_code"] = 4
    t.jexc(n, "io.grpc.StatusRuntimeException",
           f"DEADLINE_EXCEEDED: deadline exceeded after {secs - 1}.{t.r.randint(900000000, 999999999)}s. [closed=[], open=[[buffered_nanos={t.r.randint(100000, 900000)}, remote_addr=inventory-service.shop.svc/{t.v.ip()}:50051]]]",
           ["io.grpc.stub.ClientCalls.toStatusRuntimeException(ClientCalls.java:268)",
            "io.grpc.stub.ClientCalls.getUnchecked(ClientCalls.java:249)"])
    srv = n.children[0]
    srv.fixed = n.fixed + t.r.uniform(100, 4000)
    if t.r.random() < 0.6:
        srv.attrs["rpc.grpc.status_code"] = 4
        t.err(srv, "context deadline exceeded")
    t.prop(n, 504)


@variant("grpc_deadline", "fulfil", "worker_inv_grpc")
def _(t, n):
    n.fixed = 2000 + t.r.uniform(0, 3)
    n.attrs["rpc.grpc.status_code"] = 4
    ct = t.v.ts()
    msg = (f'<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n\tdetails = "Deadline Exceeded"\n'
           f'\tdebug_error_string = "UNKNOWN:Error received from peer  {{grpc_message:"Deadline Exceeded", grpc_status:4, created_time:"{ct}"}}"\n>')
    t.pyexc(n, "grpc._channel._InactiveRpcError", msg,
            [("/app/.venv/lib/python3.11/site-packages/grpc/_channel.py", 1006, "_end_unary_response_blocking", "raise _InactiveRpcError(state)")])
    t.prop(n, 504)


@variant("grpc_deadline", "product", "web_pricing_grpc")
def _(t, n):
    budget = t.r.choice([1.5, 1.0, 2.0])
    n.fixed = budget * 1000 + t.r.uniform(0, 5)
    n.attrs["rpc.grpc.status_code"] = 4
    t.nodeexc(n, "Error", f"4 DEADLINE_EXCEEDED: Deadline exceeded after {budget + t.r.uniform(0, 0.009):.3f}s,LB pick: 0.000s,remote_addr={t.v.ip()}:50051",
              ["callErrorFromStatus (/usr/src/app/node_modules/@grpc/grpc-js/build/src/call.js:31:19)",
               "Object.onReceiveStatus (/usr/src/app/node_modules/@grpc/grpc-js/build/src/client.js:193:76)"])
    t.prop(n, 504)


@variant("grpc_deadline", "product", "gw_inv_grpc")
def _(t, n):
    n.fixed = 800 + t.r.uniform(0, 3)
    n.attrs["rpc.grpc.status_code"] = 4
    t.go_err(n, "*status.Error", "rpc error: code = DeadlineExceeded desc = context deadline exceeded")
    t.prop(n, 504)


@variant("grpc_deadline", "checkout", "web_pricing_grpc")
def _(t, n):
    n.fixed = 1500 + t.r.uniform(0, 5)
    n.attrs["rpc.grpc.status_code"] = 4
    t.err(n, "4 DEADLINE_EXCEEDED: Deadline exceeded")
    t.prop(n, 504)


# 13. upstream 502 from a proxy / load balancer
@variant("upstream_502", "checkout", "web_gw_client")
def _(t, n):
    n.children.clear()
    set_http_status(n, 502)
    n.attrs["http.response.header.server"] = "awselb/2.0"
    t.err(n, None)
    if t.r.random() < 0.5:
        t.nodeexc(n, "AxiosError", "Request failed with status code 502")
    t.prop(n, 502)


@variant("upstream_502", "checkout", "gw_checkout_client")
def _(t, n):
    n.children.clear()
    ip = t.v.ip()
    set_http_status(n, 502)
    t.err(n, None)
    t.log(n.parent, f"http: proxy error: dial tcp {ip}:8080: connect: connection refused", "ERROR")
    set_http_status(n.parent, 502)
    t.err(n.parent, None)
    t.prop(n.parent, 502)


@variant("upstream_502", "legacy", "php_http")
def _(t, n):
    n.children.clear()
    set_http_status(n, 502)
    url = n.attrs["url.full"]
    t.phpexc(n, "GuzzleHttp\\Exception\\ServerException",
             f"Server error: `GET {url}` resulted in a `502 Bad Gateway` response:\n<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n",
             ["/var/www/html/vendor/guzzlehttp/guzzle/src/Middleware.php(72): GuzzleHttp\\Exception\\RequestException::create()"])
    t.prop(n)


@variant("upstream_502", "fulfil", "worker_ship_client")
def _(t, n):
    n.children.clear()
    set_http_status(n, 502)
    t.pyexc(n, "requests.exceptions.HTTPError", "502 Server Error: Bad Gateway for url: http://shipping-service.shop.svc:8080/api/shipments/quote",
            [("/app/.venv/lib/python3.11/site-packages/requests/models.py", 1021, "raise_for_status", "raise HTTPError(http_error_msg, response=self)")])
    t.prop(n)


@variant("upstream_502", "ledger", "ledger_pay_client")
def _(t, n):
    n.children.clear()
    set_http_status(n, 502)
    t.netexc(n, "System.Net.Http.HttpRequestException", "Response status code does not indicate success: 502 (Bad Gateway).",
             ["System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()"])
    t.prop(n)


@variant("upstream_502", "upload", "web_upload_client")
def _(t, n):
    # Envoy sidecar in front of the gateway: only the status code and the response flags
    n.children.clear()
    set_http_status(n, 502)
    n.attrs["http.response.header.server"] = "envoy"
    t.err(n, None)
    t.log(n.parent, "upstream connect error or disconnect/reset before headers. reset reason: connection termination", "ERROR")
    t.prop(n, 502)


# 14. thread pool / executor exhausted
@variant("thread_pool_exhausted", "checkout", "checkout_internal")
def _(t, n):
    ps = t.r.choice([16, 32, 64, 200])
    t.jexc(n, "java.util.concurrent.RejectedExecutionException",
           f"Task java.util.concurrent.FutureTask@{t.v.hex(8)}[Not completed, task = java.util.concurrent.Executors$RunnableAdapter@{t.v.hex(7)}[Wrapped task = com.acme.checkout.pricing.PriceQuoteTask@{t.v.hex(8)}]] rejected from java.util.concurrent.ThreadPoolExecutor@{t.v.hex(8)}[Running, pool size = {ps}, active threads = {ps}, queued tasks = {t.r.choice([100, 500, 1000])}, completed tasks = {t.r.randint(100000, 9000000)}]",
           ["java.base/java.util.concurrent.ThreadPoolExecutor$AbortPolicy.rejectedExecution(ThreadPoolExecutor.java:2081)",
            "java.base/java.util.concurrent.ThreadPoolExecutor.execute(ThreadPoolExecutor.java:1374)"])
    n.children = n.children[:1]
    t.prop(n, 503)


@variant("thread_pool_exhausted", "fulfil", "shipping_carrier")
def _(t, n):
    n.attrs.pop("http.status_code", None)
    n.fixed = t.r.uniform(0.1, 1)
    t.jexc(n, "io.github.resilience4j.bulkhead.BulkheadFullException",
           "Bulkhead 'carrierClient' is full and does not permit further calls",
           ["io.github.resilience4j.bulkhead.internal.FixedThreadPoolBulkhead.submit(FixedThreadPoolBulkhead.java:160)"])
    t.prop(n, 503)


@variant("thread_pool_exhausted", "account", "identity_jwt")
def _(t, n):
    n.name = "UserProfileService.loadProfile"
    n.attrs.update({"code.function": "loadProfile", "code.namespace": "com.acme.identity.UserProfileService"})
    t.jexc(n, "org.springframework.core.task.TaskRejectedException",
           f"Executor [java.util.concurrent.ThreadPoolExecutor@{t.v.hex(8)}[Running, pool size = 8, active threads = 8, queued tasks = 100, completed tasks = {t.r.randint(10000, 900000)}]] did not accept task: org.springframework.aop.interceptor.AsyncExecutionInterceptor$$Lambda${t.r.randint(1000, 2000)}/0x000000080{t.v.hex(7)}@{t.v.hex(7)}",
           ["org.springframework.scheduling.concurrent.ThreadPoolTaskExecutor.submit(ThreadPoolTaskExecutor.java:391)"])
    n.parent.children = [c for c in n.parent.children if c is n]
    t.prop(n, 503)


@variant("thread_pool_exhausted", "webhook", "webhook_db")
def _(t, n):
    # the webhook hands its work to a bounded Concurrent::ThreadPoolExecutor, which refuses it
    root = n.parent
    q = t.internal("payments-service", "Concurrent::ThreadPoolExecutor#post")
    q.parent = root
    root.children = [c if c is not n else q for c in root.children]
    t.rbexc(q, "Concurrent::RejectedExecutionError", "Concurrent::RejectedExecutionError",
            ["/usr/local/bundle/gems/concurrent-ruby-1.2.3/lib/concurrent-ruby/concurrent/executor/abstract_executor_service.rb:71:in `fallback_action'"])
    t.prop(q)


# 15. clock skew
@variant("clock_skew", "ledger", "ledger_s3")
def _(t, n):
    set_http_status(n, 403)
    t.netexc(n, "Amazon.S3.AmazonS3Exception", "The difference between the request time and the current time is too large.",
             ["Amazon.Runtime.Internal.HttpErrorResponseExceptionHandler.HandleExceptionStream(IRequestContext requestContext, IWebResponseData httpErrorResponse, HttpErrorResponseException exception, Stream responseStream)"])
    n.attrs["aws.error.code"] = "RequestTimeTooSkewed"
    t.prop(n)


@variant("clock_skew", "product", "catalog_s3")
def _(t, n):
    n.attrs["http.status_code"] = 403
    t.pyexc(n, "botocore.exceptions.ClientError",
            "An error occurred (RequestTimeTooSkewed) when calling the GetObject operation: The difference between the request time and the current time is too large.",
            [("/app/.venv/lib/python3.11/site-packages/botocore/client.py", 1021, "_make_api_call", "raise error_class(parsed_response, operation_name)")])
    t.prop(n)


@variant("clock_skew", "webhook", "webhook_verify")
def _(t, n):
    t.rbexc(n, "Stripe::SignatureVerificationError", f"Timestamp outside the tolerance zone ({int(NOW) - t.r.randint(400, 1200)})",
            ["/usr/local/bundle/gems/stripe-10.1.0/lib/stripe/webhook.rb:93:in `verify_header'"])
    n.parent.children = [n]
    set_http_status(n.parent, 400)
    t.log(n.parent, "Stripe webhook signature verification failed", "WARN")


@variant("clock_skew", "account", "identity_jwt")
def _(t, n):
    d = t.r.randint(3000, 40000)
    t.jexc(n, "io.jsonwebtoken.PrematureJwtException",
           f"JWT must not be accepted before {t.v.ts(d / 1000)}. Current time: {t.v.ts()}, a difference of {d} milliseconds.  Allowed clock skew: 0 milliseconds.",
           ["io.jsonwebtoken.impl.DefaultJwtParser.parse(DefaultJwtParser.java:698)"])
    n.parent.children = [c for c in n.parent.children if c is n]
    t.http_up(n, 401)


@variant("clock_skew", "account", "gw_jwt")
def _(t, n):
    t.go_err(n, "*fmt.wrapError", "token has invalid claims: token used before issued")
    gs = n.parent
    gs.children = [c for c in gs.children if c is n]
    t.http_up(n, 401)


@variant("clock_skew", "upload", "media_s3")
def _(t, n):
    set_http_status(n, 403)
    t.rust_err(n, "s3 put_object failed",
               "service error: unhandled error (RequestTimeTooSkewed): The difference between the request time and the current time is too large.")
    t.prop(n)


# 16. idempotency conflicts
@variant("idempotency_conflict", "checkout", "stripe")
def _(t, n):
    set_http_status(n, 400)
    t.rbexc(n, "Stripe::IdempotencyError",
            f"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{t.v.uuid()}' if you meant to execute a different request.",
            ["/usr/local/bundle/gems/stripe-10.1.0/lib/stripe/stripe_client.rb:780:in `handle_error_response'"])
    t.prop(n)


@variant("idempotency_conflict", "checkout", "payments_server")
def _(t, n):
    key = t.v.uuid()
    n.children = n.children[:1]
    set_http_status(n, 409)
    t.log(n, f"There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later.", "WARN")
    pc = n.parent
    set_http_status(pc, 409)
    t.jexc(pc, "org.springframework.web.client.HttpClientErrorException$Conflict",
           f"409 Conflict: \"{{\"error\":{{\"type\":\"idempotency_error\",\"message\":\"request with key {key} is still being processed\"}}}}\"",
           ["org.springframework.web.client.HttpClientErrorException.create(HttpClientErrorException.java:121)"])
    t.prop(pc)


@variant("idempotency_conflict", "checkout", "ledger_insert_db")
def _(t, n):
    key = t.v.uuid()
    t.netexc(n, "Microsoft.Data.SqlClient.SqlException",
             f"Violation of UNIQUE KEY constraint 'UQ_LedgerEntries_IdempotencyKey'. Cannot insert duplicate key in object 'dbo.LedgerEntries'. The duplicate key value is ({key}).\nThe statement has been terminated.",
             ["Microsoft.Data.SqlClient.SqlCommand.ExecuteNonQueryAsync(CancellationToken cancellationToken)",
              "Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch.ExecuteAsync(IRelationalConnection connection, CancellationToken cancellationToken)"])
    t.prop(n, 409)


@variant("idempotency_conflict", "fulfil", "worker_db")
def _(t, n):
    key = f"{t.v.order()}-alloc"
    n.name = "INSERT fulfillment"
    n.attrs["db.statement"] = "INSERT INTO shipments (order_id, idempotency_key, status) VALUES (%(order_id)s, %(idempotency_key)s, %(status)s)"
    n.attrs["db.operation"] = "INSERT"
    t.pyexc(n, "sqlalchemy.exc.IntegrityError",
            f'(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "shipments_idempotency_key_key"\nDETAIL:  Key (idempotency_key)=({key}) already exists.\n[SQL: INSERT INTO shipments (order_id, idempotency_key, status) VALUES (%(order_id)s, %(idempotency_key)s, %(status)s)]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)',
            [("/app/.venv/lib/python3.11/site-packages/sqlalchemy/engine/default.py", 924, "do_execute", "cursor.execute(statement, parameters)")])
    t.prop(n)


# 17. quota exceeded
@variant("quota_exceeded", "fulfil", "sendgrid")
def _(t, n):
    # the mail API is SES here: renamed span
    n.name = "SESv2.SendEmail"
    n.attrs = {"rpc.system": "aws-api", "rpc.service": "SESv2", "rpc.method": "SendEmail", "cloud.region": "eu-west-1",
               "http.response.status_code": 400, "aws.request_id": t.v.uuid()}
    t.nodeexc(n, "LimitExceededException", "Daily message quota exceeded.",
              ["de_LimitExceededExceptionRes (/srv/app/node_modules/@aws-sdk/client-sesv2/dist-cjs/index.js:2291:21)"])
    t.prop(n)


@variant("quota_exceeded", "upload", "media_k8s")
def _(t, n):
    set_http_status(n, 403)
    job = f"transcode-{t.v.hex(5)}"
    t.rust_err(n, "failed to create transcode job",
               f'ApiError: jobs.batch "{job}" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=16, limited: limits.cpu=16: Forbidden (ErrorResponse {{ status: "Failure", message: "jobs.batch \\"{job}\\" is forbidden: exceeded quota: compute-resources", reason: "Forbidden", code: 403 }})')
    t.prop(n)


@variant("quota_exceeded", "product", "catalog_ext")
def _(t, n):
    set_http_status(n, 429)
    t.pyexc(n, "openai.RateLimitError",
            "Error code: 429 - {'error': {'message': 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.', 'type': 'insufficient_quota', 'param': None, 'code': 'insufficient_quota'}}",
            [("/app/.venv/lib/python3.11/site-packages/openai/_base_client.py", 1020, "_request", "raise self._make_status_error_from_response(err.response) from None")])
    t.prop(n)


@variant("quota_exceeded", "fulfil", "shipping_carrier")
def _(t, n):
    n.attrs["http.url"] = f"https://maps.googleapis.com/maps/api/geocode/json?address={t.r.randint(1, 999)}+High+Street"
    n.attrs["net.peer.name"] = "maps.googleapis.com"
    n.attrs.pop("peer.service", None)
    set_http_status(n, 403)
    t.jexc(n, "com.google.api.client.googleapis.json.GoogleJsonResponseException",
           f"403 Forbidden\nGET https://maps.googleapis.com/maps/api/geocode/json\n{{\n  \"code\" : 403,\n  \"errors\" : [ {{\n    \"domain\" : \"usageLimits\",\n    \"message\" : \"Quota exceeded for quota metric 'Geocoding requests' and limit 'Requests per day' of service 'geocoding-backend.googleapis.com' for consumer 'project_number:{t.r.randint(100000000000, 999999999999)}'.\",\n    \"reason\" : \"rateLimitExceeded\"\n  }} ],\n  \"status\" : \"RESOURCE_EXHAUSTED\"\n}}",
           ["com.google.api.client.googleapis.json.GoogleJsonResponseException.from(GoogleJsonResponseException.java:146)"])
    t.prop(n)


# 18. message too large
@variant("message_too_large", "checkout", "checkout_kafka")
def _(t, n):
    size = t.r.randint(1_050_000, 4_000_000)
    t.jexc(n, "org.apache.kafka.common.errors.RecordTooLargeException",
           f"The message is {size} bytes when serialized which is larger than 1048576, which is the value of the max.request.size configuration.",
           ["org.apache.kafka.clients.producer.KafkaProducer.ensureValidRecordSize(KafkaProducer.java:1103)"])
    n.attrs["messaging.message.body.size"] = size
    t.prop(n)


@variant("message_too_large", "ledger", "ledger_kafka")
def _(t, n):
    t.netexc(n, "Confluent.Kafka.ProduceException`2[System.String,System.Byte[]]", "Broker: Message size too large",
             ["Confluent.Kafka.Producer`2.ProduceAsync(TopicPartition topicPartition, Message`2 message, CancellationToken cancellationToken)"])
    t.prop(n)


@variant("message_too_large", "product", "gw_inv_grpc")
def _(t, n):
    n.attrs["rpc.grpc.status_code"] = 8
    got = t.r.choice([4194305, 5242880, 6291456, 8388608 + t.r.randint(1, 99999)])
    t.go_err(n, "*status.Error", f"rpc error: code = ResourceExhausted desc = grpc: received message larger than max ({got} vs. 4194304)")
    t.prop(n)


@variant("message_too_large", "fulfil", "worker_produce")
def _(t, n):
    n.name = "SQS.SendMessage"
    n.attrs.update({"messaging.system": "aws_sqs", "messaging.destination.name": "label-print-jobs", "rpc.system": "aws-api",
                    "rpc.service": "SQS", "rpc.method": "SendMessage", "messaging.message.body.size": t.r.randint(262145, 900000)})
    t.pyexc(n, "botocore.exceptions.ClientError",
            "An error occurred (InvalidParameterValue) when calling the SendMessage operation: One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
            [("/app/.venv/lib/python3.11/site-packages/botocore/client.py", 1021, "_make_api_call", "raise error_class(parsed_response, operation_name)")])
    t.prop(n)


@variant("message_too_large", "upload", "web_upload_client")
def _(t, n):
    # nginx ingress rejects the body: only a 413 on the client span, nothing behind it
    n.children.clear()
    set_http_status(n, 413)
    t.err(n, None)
    t.http_up(n, 413)


# 19. serialization / deserialization errors
@variant("serialization_error", "checkout", "checkout_pay_client")
def _(t, n):
    amount = t.r.choice(['"12,99"', '"1.299,00"', '"N/A"'])
    t.jexc(n, "org.springframework.web.client.RestClientException",
           "Error while extracting response for type [class com.acme.checkout.payments.ChargeResponse] and content type [application/json;charset=utf-8]",
           ["org.springframework.web.client.HttpMessageConverterExtractor.extractData(HttpMessageConverterExtractor.java:118)"],
           cause=("com.fasterxml.jackson.databind.exc.InvalidFormatException",
                  f"Cannot deserialize value of type `java.math.BigDecimal` from String {amount}: not a valid representation\n at [Source: (org.springframework.util.StreamUtils$NonClosingInputStream); line: 1, column: {t.r.randint(40, 200)}] (through reference chain: com.acme.checkout.payments.ChargeResponse[\"amount\"])",
                  ["com.fasterxml.jackson.databind.exc.InvalidFormatException.from(InvalidFormatException.java:67)"]))
    t.prop(n)


@variant("serialization_error", "consumer", "py_consumer")
def _(t, n):
    t.pyexc(n, "json.decoder.JSONDecodeError", t.r.choice(["Expecting value: line 1 column 1 (char 0)", f"Unterminated string starting at: line 1 column {t.r.randint(20, 900)} (char {t.r.randint(20, 900)})"]),
            [("/usr/local/lib/python3.11/json/decoder.py", 355, "raw_decode", 'raise JSONDecodeError("Expecting value", s, err.value) from None')])


@variant("serialization_error", "checkout", "inventory_server")
def _(t, n):
    n.children.clear()
    n.attrs["rpc.grpc.status_code"] = 3
    t.go_err(n, "*json.UnmarshalTypeError", "json: cannot unmarshal string into Go struct field ReservationItem.items.quantity of type int",
             wrapped="decode reservation metadata: json: cannot unmarshal string into Go struct field ReservationItem.items.quantity of type int")
    t.prop(n)


@variant("serialization_error", "product", "web_gw_client")
def _(t, n):
    t.nodeexc(n, "SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
              ["JSON.parse (<anonymous>)", "parseJSONFromBytes (node:internal/deps/undici/undici:5329:19)"])
    t.prop(n)


@variant("serialization_error", "search", "search_es2")
def _(t, n):
    t.rust_err(n, "failed to decode search response", f"invalid type: null, expected a string at line 1 column {t.r.randint(100, 4000)}")
    t.prop(n)


@variant("serialization_error", "consumer", "dotnet_consumer")
def _(t, n):
    t.netexc(n, "System.Text.Json.JsonException",
             f"The JSON value could not be converted to System.Decimal. Path: $.amount | LineNumber: 0 | BytePositionInLine: {t.r.randint(20, 300)}.",
             ["System.Text.Json.ThrowHelper.ThrowJsonException_DeserializeUnableToConvertValue(Type propertyType)"])


FAULTS = sorted({v[0] for v in VARIANTS})

# ---------------------------------------------------------------------------------------------
# Decoys and noise
# ---------------------------------------------------------------------------------------------
def decoy_events(t, root):
    """Healthy traces sometimes log words that also appear in failures."""
    r = t.r
    for n in root.walk():
        if n.cat == "db" and r.random() < 0.05:
            t.log(n, f"retrying connection attempt 1 of 3 to {n.attrs.get('net.peer.name', n.attrs.get('server.address'))}", "INFO")
        elif n.kind == CONSUMER and r.random() < 0.15:
            t.log(n, f"consumer group rebalance completed: assigned partitions [{r.randint(0, 3)}, {r.randint(4, 7)}, {r.randint(8, 11)}]", "INFO")
        elif n.name == "ChargesController#create" and r.random() < 0.1:
            t.log(n, f"idempotent replay: returning stored response for Idempotency-Key {t.v.uuid()}", "INFO")
        elif n.kind == PRODUCER and r.random() < 0.1:
            t.log(n, f"compressed event payload from {r.randint(300, 990)}KiB to {r.randint(20, 99)}KiB (lz4)", "DEBUG")
        elif n.cat == "grpc" and n.kind == SERVER and r.random() < 0.08:
            t.log(n, f"deadline propagated from caller: {r.uniform(0.5, 4.9):.2f}s remaining", "DEBUG")
        elif n.cat == "http_client" and r.random() < 0.02:
            t.log(n, "request timed out once, retried successfully (attempt 2 of 3)", "INFO")


def decoy_trace(t):
    """Standalone healthy traces whose names and logs share words with the queries."""
    r, v = t.r, t.v
    k = r.randrange(16)
    if k == 0:
        root = t.internal("api-gateway", "timeout-config-reload")
        root.add(t.client("api-gateway", "GET", "http://config-server.shop.svc:8888/api/v1/config/gateway/timeouts"))
        root.add(t.internal("api-gateway", "apply-route-timeouts", {"routes": r.randint(20, 60)}))
        t.log(root, f"reloaded upstream timeouts: connect=2s read=30s idle=90s ({r.randint(20, 60)} routes)", "INFO")
    elif k == 1:
        root = t.server("web-frontend", "GET", "/admin/reports/payments-declined")
        c = root.add(t.client("web-frontend", "GET", "http://api-gateway.shop.svc:8080/api/payments/declined-report?days=7"))
        g = c.add(t.server("api-gateway", "GET", "/api/payments/declined-report"))
        gc = g.add(t.client("api-gateway", "GET", "http://payments-service.shop.svc:3000/api/payments/declined-report?days=7"))
        ps = gc.add(t.server("payments-service", "GET", "/api/payments/declined-report", name="ReportsController#declined"))
        ps.add(t.db("payments-service", "postgresql", "SELECT", "payments",
                    "SELECT date_trunc('day', created_at), decline_code, count(*) FROM payments WHERE status = 'declined' AND created_at > $1 GROUP BY 1, 2",
                    "payments_production", "payments-replica.shop.svc", 5432, dur=r.uniform(200, 900)))
    elif k == 2:
        root = t.internal("catalog-service", "cache_stats")
        root.add(t.redis("catalog-service", "INFO", "memory"))
        t.log(root, f"redis used_memory_human={r.uniform(0.5, 3):.2f}G maxmemory=4.00G evicted_keys=0", "INFO")
    elif k == 3:
        root = t.server("web-frontend", "GET", "/internal/memory-stats")
        root.attrs.update({"process.runtime.heap_used_bytes": r.randint(80, 400) * 2**20, "process.memory.usage": r.randint(200, 600) * 2**20})
        root.add(t.internal("web-frontend", "collectHeapStatistics"))
    elif k == 4:
        root = t.internal("media-service", "renew_tls_certificate")
        root.add(t.client("media-service", "POST", "https://acme-v02.api.letsencrypt.org/acme/new-order", status=201))
        root.add(t.client("media-service", "POST", "https://acme-v02.api.letsencrypt.org/acme/finalize/1422/2893", status=200))
        t.log(root, f"certificate for media.shop.example renewed, valid until {v.ts(86400 * 89)}", "INFO", style="tracing")
    elif k == 5:
        root = t.internal("api-gateway", "dns-cache-refresh")
        root.add(t.internal("api-gateway", "resolver.LookupHost", {"dns.server": "10.96.0.10:53"}))
        t.log(root, f"refreshed {r.randint(20, 50)} upstream DNS entries, 0 failures", "INFO")
    elif k == 6:
        root = t.internal("ledger-service", "CheckDiskUsage")
        root.add(t.internal("ledger-service", "DriveInfo.GetDrives"))
        t.log(root, f"disk usage on /var/lib/ledger: {r.randint(30, 70)}% of 200 GiB used", "INFO")
    elif k == 7:
        root = t.internal("inventory-service", "lockmonitor.Scan")
        root.add(t.db("inventory-service", "postgresql", "SELECT", "pg_locks", "SELECT pid, locktype, mode, granted FROM pg_locks WHERE NOT granted",
                      "inventory", "inventory-db.shop.svc", 5432))
        t.log(root, "no blocked lock waits, 0 deadlocks since last scan", "INFO")
    elif k == 8:
        root = t.internal("payments-service", "ActiveRecord::Migrator.needs_migration?")
        root.add(t.db("payments-service", "postgresql", "SELECT", "schema_migrations", 'SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC',
                      "payments_production", "payments-db.shop.svc", 5432))
        t.log(root, "schema up to date (version 20241128101500)", "INFO")
    elif k == 9:
        root = t.server("api-gateway", "GET", "/api/v1/account/quota")
        c = root.add(t.client("api-gateway", "GET", "http://identity-service.shop.svc:8080/api/users/me/quota"))
        s = c.add(t.server("identity-service", "GET", "/api/users/me/quota"))
        s.add(t.redis("identity-service", "GET", f"quota:{v.cus()}"))
        t.log(root, f"quota usage {r.randint(10, 900)}/1000 requests today", "DEBUG")
    elif k == 10:
        root = t.server("api-gateway", "GET", "/healthz/upstreams")
        for svc, path in (("checkout-service", "/actuator/health"), ("catalog-service", "/healthz/"), ("media-service", "/health")):
            c = root.add(t.client("api-gateway", "GET", f"http://{svc}.shop.svc:8080{path}"))
            c.add(t.server(svc, "GET", path))
    elif k == 11:
        root = t.internal("ledger-service", "NtpSync")
        t.log(root, f"clock offset {r.uniform(-2, 2):+.1f}ms from 169.254.169.123 (within tolerance)", "INFO")
        root.add(t.internal("ledger-service", "TimeSyncProbe.Query"))
        root.add(t.internal("ledger-service", "TimeSyncProbe.Report"))
    elif k == 12:
        root = t.internal("checkout-service", "ExecutorMetrics.report",
                          {"executor.pool.size": 64, "executor.active": r.randint(2, 30), "executor.queue.size": r.randint(0, 5)})
        root.add(t.internal("checkout-service", "ThreadPoolTaskExecutor.getThreadPoolExecutor"))
        root.add(t.internal("checkout-service", "MeterRegistry.publish"))
    elif k == 13:
        root = t.internal("ledger-service", "AccessLogImport")
        root.add(t.s3("ledger-service", "ListObjectsV2", "acme-access-logs", f"alb/{v.ts()[:10]}/"))
        root.add(t.s3("ledger-service", "GetObject", "acme-access-logs", f"alb/{v.ts()[:10]}/{v.hex(12)}.log.gz"))
    elif k == 14:
        root = t.server("identity-service", "POST", "/oauth/token")
        root.add(t.db("identity-service", "postgresql", "SELECT", "oauth_clients", "SELECT c.id, c.secret_hash, c.scopes FROM oauth_clients c WHERE c.client_id = ?",
                      "identity", "identity-db.shop.svc", 5432))
        root.add(t.internal("identity-service", "JwtIssuer.issue", {"token.expires_in": 3600}))
        t.log(root, "issued access token for client storefront, expires_in=3600", "INFO")
    else:
        root = t.internal("fulfillment-worker", "report_worker_memory")
        root.add(t.internal("fulfillment-worker", "psutil.Process.memory_info"))
        t.log(root, f"worker rss={r.randint(200, 900)}MiB limit=2048MiB, {r.randint(1, 8)} tasks in flight", "INFO")
    return root


def noise_trace(t):
    """Business errors and client mistakes that are not faults."""
    r, v = t.r, t.v
    k = r.randrange(3)
    if k == 0:  # card declined
        t.need = "stripe"
        root = flow_checkout(t)
        st = t.points["stripe"]
        set_http_status(st, 402)
        t.rbexc(st, "Stripe::CardError", r.choice(["Your card was declined.", "Your card has insufficient funds.", "Your card's security code is incorrect."]))
        t.http_up(st, 402)
        return root
    if k == 1:  # product not found
        root = flow_product(t)
        cs = t.points["catalog_server"]
        set_http_status(cs, 404)
        cs.children = [c for c in cs.children if c.cat == "db"]
        t.log(cs, f"Not Found: {cs.attrs['http.target']}", "WARN")
        t.http_up(cs, 404)
        return root
    root = flow_checkout(t)  # validation error
    cs = t.points["checkout_server"]
    cs.children = []
    set_http_status(cs, 422)
    t.log(cs, f"Validation failed for argument [0] in public ResponseEntity<OrderResponse> com.acme.checkout.api.OrderController.create(OrderRequest): [Field error in object 'orderRequest' on field 'shippingAddress.postalCode': rejected value [{v.an(4)}]]", "WARN")
    t.http_up(cs, 422)
    return root


# ---------------------------------------------------------------------------------------------
# Layout, pruning and emission
# ---------------------------------------------------------------------------------------------
def prune(root, keep, r, limit=12):
    """Drop optional branches (never those holding `keep`) until the trace has at most `limit` spans."""
    while root.count() > limit:
        cands = [n for n in root.walk() if n.opt and n.parent is not None and (keep is None or not any(m is keep for m in n.walk()))]
        if not cands:
            # fall back on any leaf outside the kept chain
            chain = set()
            k = keep
            while k is not None:
                chain.add(id(k))
                k = k.parent
            cands = [n for n in root.walk() if not n.children and n.parent is not None and id(n) not in chain]
            if not cands:
                break
        victim = r.choice(cands)
        victim.parent.children.remove(victim)


def layout(n, start, r):
    n.start = start
    t = start + r.uniform(0.05, 0.6)
    for c in n.children:
        layout(c, t, r)
        t = c.end + r.uniform(0.02, 0.5)
    if n.fixed is not None:
        n.end = start + n.fixed
    else:
        n.end = max(start + n.dur, t + r.uniform(0.05, 0.8))


class SeededIds(IdGenerator):
    def __init__(self, r):
        self.r = r

    def generate_span_id(self):
        return self.r.getrandbits(64) or 1

    def generate_trace_id(self):
        return self.r.getrandbits(128) or 1


class Counting:
    """Wraps the OTLP exporter and counts what it sent and what failed."""

    def __init__(self, inner):
        self.inner, self.spans, self.failures = inner, 0, 0

    def export(self, spans):
        res = self.inner.export(spans)
        if res == SpanExportResult.SUCCESS:
            self.spans += len(spans)
        else:
            self.failures += 1
        return res

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class Emitter:
    def __init__(self, otlp, seed):
        self.ids = SeededIds(random.Random(seed * 31 + 7))
        self.providers, self.tracers, self.exporters = {}, {}, []
        ir = random.Random(seed * 17 + 3)
        for svc, s in SERVICES.items():
            lg = s["lang"]
            attrs = {"service.name": svc, "service.namespace": "shop", "service.version": s["version"],
                     "service.instance.id": str(uuid.UUID(int=ir.getrandbits(128), version=4)),
                     "telemetry.sdk.language": lg, "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": s["sdk"],
                     "host.name": V(ir).pod(svc), "k8s.namespace.name": "shop-prod", "k8s.pod.name": V(ir).pod(svc),
                     "k8s.deployment.name": svc, "container.id": V(ir).hex(64), "cloud.provider": "aws", "cloud.region": "eu-west-1"}
            attrs["deployment.environment" if s["http"] == "old" else "deployment.environment.name"] = "production"
            if lg != "rust":
                attrs["process.runtime.name"], attrs["process.runtime.version"] = s["runtime"]
            if lg == "java":
                attrs.update({"telemetry.distro.name": "opentelemetry-java-instrumentation", "telemetry.distro.version": "2.4.0",
                              "process.runtime.description": f"Eclipse Adoptium OpenJDK 64-Bit Server VM {s['runtime'][1]}"})
            if lg == "php":
                attrs["telemetry.sdk.name"] = "opentelemetry"
            exp = Counting(OTLPSpanExporter(endpoint=f"{otlp.rstrip('/')}/v1/traces", timeout=30))
            prov = TracerProvider(resource=Resource.create(attrs), id_generator=self.ids)
            prov.add_span_processor(BatchSpanProcessor(exp, max_queue_size=200000, schedule_delay_millis=500, max_export_batch_size=512))
            self.providers[svc] = prov
            self.exporters.append(exp)

    def tracer(self, svc, scope):
        key = (svc, scope)
        if key not in self.tracers:
            self.tracers[key] = self.providers[svc].get_tracer(scope[0], scope[1] or None)
        return self.tracers[key]

    def emit(self, n, ctx, base_ns):
        tr = self.tracer(n.svc, n.scope)
        s_ns = base_ns + int(n.start * 1e6)
        e_ns = base_ns + int(n.end * 1e6)
        span = tr.start_span(n.name, context=ctx, kind=n.kind, attributes=n.attrs, start_time=s_ns)
        child_ctx = trace_api.set_span_in_context(span)
        for c in n.children:
            self.emit(c, child_ctx, base_ns)
        for ev in n.events:
            ts = s_ns + int((e_ns - s_ns) * ev["at"])
            if ev["kind"] == "exception":
                lg = lang(n.svc)
                if lg in ("go", "rust") or ev["stack"] is None:
                    # Go's RecordError and re-recorded exceptions: no stack trace
                    a = {"exception.type": ev["type"], "exception.message": ev["msg"]}
                    a.update(ev.get("extra") or {})
                    span.add_event("exception", a, timestamp=ts)
                elif lg == "python":
                    mod, _, name = ev["type"].rpartition(".")
                    cls = type(name, (Exception,), {"__module__": mod or "builtins"})
                    span.record_exception(cls(ev["msg"]), attributes={"exception.stacktrace": ev["stack"], **(ev.get("extra") or {})}, timestamp=ts)
                else:
                    span.record_exception(Exception(ev["msg"]), attributes={"exception.type": ev["type"], "exception.stacktrace": ev["stack"], **(ev.get("extra") or {})}, timestamp=ts)
            else:
                span.add_event(ev["name"], ev["attrs"], timestamp=ts)
        if n.status is not None:
            span.set_status(Status(n.status[0], n.status[1]))
        span.end(end_time=e_ns)
        return span

    def shutdown(self):
        for p in self.providers.values():
            p.force_flush(120000)
        for p in self.providers.values():
            p.shutdown()
        return sum(e.spans for e in self.exporters), sum(e.failures for e in self.exporters)


def ensure_min(t, root, low=3):
    """Traces cut short by a failure still show the request's first steps (session lookup)."""
    while root.count() < low:
        c = t.redis(root.svc, "GET", f"session:{t.v.an(24)}")
        c.parent = root
        root.children.insert(0, c)


def build(r, kind, fault=None):
    """One trace of kind 'healthy'|'fault'|'decoy'|'noise': (root node, start time in Unix seconds)."""
    if kind == "fault":
        cands = [v for v in VARIANTS if v[0] == fault]
        _, flow, point, fn = r.choice(cands)
        t = T(r, need=point)
        root = FLOWS[flow](t)
        n = t.points[point]
        fn(t, n)
        prune(root, n, r)
    elif kind == "decoy":
        t = T(r)
        root = decoy_trace(t)
    elif kind == "noise":
        t = T(r)
        root = noise_trace(t)
        prune(root, None, r)
    else:
        names, weights = zip(*HEALTHY_MIX)
        t = T(r)
        root = FLOWS[r.choices(names, weights)[0]](t)
        decoy_events(t, root)
        prune(root, None, r)
    ensure_min(t, root)
    return root, t.base


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:14318")
    ap.add_argument("--traces", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=20241130)
    ap.add_argument("--fault-rate", type=float, default=0.22)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    r = random.Random(args.seed)
    em = Emitter(args.otlp, args.seed)
    # the plan: exact fault counts (round robin over fault types), decoys, noise, healthy
    n_fault = int(args.traces * args.fault_rate)
    n_decoy = int(args.traces * 0.07)
    n_noise = int(args.traces * 0.03)
    plan = [("fault", FAULTS[i % len(FAULTS)]) for i in range(n_fault)]
    plan += [("decoy", None)] * n_decoy + [("noise", None)] * n_noise
    plan += [("healthy", None)] * (args.traces - len(plan))
    r.shuffle(plan)

    labels, stats, spans_built = {}, {}, 0
    sizes = []
    for kind, fault in plan:
        root, base = build(r, kind, fault)
        base_ns = int(base * 1e9)
        layout(root, 0.0, r)
        sizes.append(root.count())
        spans_built += root.count()
        span = em.emit(root, None, base_ns)
        tid = format(span.get_span_context().trace_id, "032x")
        if kind == "fault":
            labels[tid] = fault
        stats[kind] = stats.get(kind, 0) + 1
    sent, failures = em.shutdown()

    by_fault = {}
    for f in labels.values():
        by_fault[f] = by_fault.get(f, 0) + 1
    meta = {"seed": args.seed, "traces": len(plan), "spans": spans_built, "spans_acknowledged": sent,
            "export_failures": failures, "kinds": stats, "faults": by_fault, "fault_types": FAULTS,
            "services": sorted(SERVICES), "stacks": sorted({s["lang"] for s in SERVICES.values()}),
            "variants": len(VARIANTS), "spans_per_trace": {"min": min(sizes), "max": max(sizes), "mean": round(sum(sizes) / len(sizes), 2)}}
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(labels, fh, indent=0, sort_keys=True)
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(json.dumps(meta, indent=2))
    if failures or sent != spans_built:
        sys.exit(f"export incomplete: built {spans_built} spans, acknowledged {sent}, {failures} failed exports")


if __name__ == "__main__":
    main()
