#!/usr/bin/env python3
"""Held-out corpus #6: Online Boutique (GoogleCloudPlatform/microservices-demo) under locust load
with chaos faults injected, as fault-injection root-cause-analysis datasets (RCAEval, Nezha, ...)
record it with OpenTelemetry: traces AND log records, sent over OTLP/HTTP with the real
OpenTelemetry Python SDK (TracerProvider + OTLPSpanExporter, LoggerProvider + OTLPLogExporter).

Each service reports with its own Resource and with the instrumentation scope its real library
uses (otelhttp / otelgrpc for Go, OpenTelemetry .NET ASP.NET Core + StackExchange.Redis,
@opentelemetry/instrumentation-grpc for Node.js, opentelemetry-instrumentation-grpc / -requests for
Python, the OpenTelemetry Java agent). Log records are emitted through the SDK's logs API with the
trace and span ids of the span they were written under, with the severity text / number each
language's logger (or the Collector's filelog parser) produces.

  corpus.py --otlp http://127.0.0.1:4318 [--seed N] [--traces N] [--out DIR] [--require-logs]
            [--no-send]

Writes labels.json (trace id hex -> fault kind, fault traces only) and corpus_meta.json to --out
and prints the meta JSON on stdout. Exits non-zero if a span (or, with --require-logs, a log
record) was not acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
import zlib
from collections import Counter

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, LogRecordExporter, LogRecordExportResult

# ----------------------------------------------------------------------------------------------
# the application

NS = "default"
PODS = {
    "loadgenerator": "loadgenerator-7f9c6d8b5-qm2vx",
    "frontend": "frontend-6b8d4f9c7-x2k8p",
    "checkoutservice": "checkoutservice-5d9c87f4b-7lz9w",
    "productcatalogservice": "productcatalogservice-84b8c5d9d-r4n6t",
    "shippingservice": "shippingservice-6c9f5d7b8-hk2pd",
    "cartservice": "cartservice-7b6d8c9f4-wq5zm",
    "currencyservice": "currencyservice-5f8c6b7d9-8vxjn",
    "paymentservice": "paymentservice-6d7f9b8c5-tz4kq",
    "emailservice": "emailservice-7c5b9d6f8-p3xrl",
    "recommendationservice": "recommendationservice-6f4d8c9b7-mn7ws",
    "adservice": "adservice-5b9c7d6f4-jk8hv",
}
POD_IP = {
    "loadgenerator": "10.244.1.31", "frontend": "10.244.2.14", "checkoutservice": "10.244.3.8",
    "productcatalogservice": "10.244.2.17", "shippingservice": "10.244.1.22",
    "cartservice": "10.244.3.19", "currencyservice": "10.244.1.9", "paymentservice": "10.244.2.25",
    "emailservice": "10.244.3.27", "recommendationservice": "10.244.1.40", "adservice": "10.244.2.33",
}
CLUSTER_IP = {
    "frontend": "10.96.112.40", "checkoutservice": "10.96.14.203", "productcatalogservice": "10.96.201.7",
    "shippingservice": "10.96.77.152", "cartservice": "10.96.45.118", "currencyservice": "10.96.130.66",
    "paymentservice": "10.104.3.27", "emailservice": "10.96.88.9", "recommendationservice": "10.96.190.31",
    "adservice": "10.96.61.240", "redis-cart": "10.96.9.201",
}
LANG = {
    "loadgenerator": "python", "frontend": "go", "checkoutservice": "go", "productcatalogservice": "go",
    "shippingservice": "go", "cartservice": "dotnet", "currencyservice": "nodejs",
    "paymentservice": "nodejs", "emailservice": "python", "recommendationservice": "python",
    "adservice": "java",
}
PORT = {
    "productcatalogservice": 3550, "currencyservice": 7000, "cartservice": 7070,
    "recommendationservice": 8080, "shippingservice": 50051, "checkoutservice": 5050,
    "paymentservice": 50051, "emailservice": 5000, "adservice": 9555,
}
RPC = {
    "productcatalogservice": "hipstershop.ProductCatalogService", "currencyservice": "hipstershop.CurrencyService",
    "cartservice": "hipstershop.CartService", "recommendationservice": "hipstershop.RecommendationService",
    "shippingservice": "hipstershop.ShippingService", "checkoutservice": "hipstershop.CheckoutService",
    "paymentservice": "hipstershop.PaymentService", "emailservice": "hipstershop.EmailService",
    "adservice": "hipstershop.AdService",
}
SDK = {  # telemetry.sdk.language, telemetry.sdk.version, process.runtime.name, process.runtime.version
    "go": ("go", "1.28.0", "go", "go1.22.5"),
    "dotnet": ("dotnet", "1.9.0", ".NET", "8.0.7"),
    "nodejs": ("nodejs", "1.25.1", "nodejs", "20.15.1"),
    "python": ("python", "1.26.0", "cpython", "3.12.4"),
    "java": ("java", "1.40.0", "OpenJDK Runtime Environment", "21.0.4+7-LTS"),
}
SCOPE = {  # tracer scope (name, version) per service's server/client instrumentation
    "loadgenerator": ("opentelemetry.instrumentation.requests", "0.47b0"),
    "frontend.http": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.53.0"),
    "go.grpc": ("go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "0.53.0"),
    "cartservice": ("Microsoft.AspNetCore", ""),
    "cartservice.redis": ("OpenTelemetry.Instrumentation.StackExchangeRedis", "1.0.0-rc9.15"),
    "nodejs.grpc": ("@opentelemetry/instrumentation-grpc", "0.52.1"),
    "python.grpc.server": ("opentelemetry.instrumentation.grpc", "0.47b0"),
    "python.grpc.client": ("opentelemetry.instrumentation.grpc", "0.47b0"),
    "adservice": ("io.opentelemetry.grpc-1.6", "2.6.0-alpha"),
}
PRODUCTS = [
    ("OLJCESPC7Z", "Sunglasses", ["accessories"], 19.99), ("66VCHSJNUP", "Tank Top", ["clothing", "tops"], 18.99),
    ("1YMWWN1N4O", "Watch", ["accessories"], 109.99), ("L9ECAV7KIM", "Loafers", ["footwear"], 89.99),
    ("2ZYFJ3GM2N", "Hairdryer", ["hair", "beauty"], 24.99), ("0PUK6V6EV0", "Candle Holder", ["decor", "home"], 18.99),
    ("LS4PSXUNUM", "Salt & Pepper Shakers", ["kitchen"], 18.49), ("9SIQT8TOJO", "Bamboo Glass Jar", ["kitchen"], 5.49),
    ("6E92ZMYYFZ", "Mug", ["kitchen"], 8.99),
]
CURRENCIES = ["EUR", "USD", "JPY", "GBP", "TRY", "CAD"]
BROKEN_CURRENCIES = ["JPY", "TRY"]  # the code-level currency fault
GO_SERVER_ERROR_CODES = {2, 4, 12, 13, 14, 15}  # otelgrpc server: these codes set the span status
CODE_NAME = {0: "OK", 1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded", 5: "NotFound",
             9: "FailedPrecondition", 13: "Internal", 14: "Unavailable"}
PY_CODE = {2: "UNKNOWN", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 9: "FAILED_PRECONDITION", 13: "INTERNAL",
           14: "UNAVAILABLE"}

# ----------------------------------------------------------------------------------------------
# trace tree built first (times in ms from the trace start), emitted through the SDK afterwards


class Node:
    __slots__ = ("svc", "scope", "name", "kind", "start", "end", "attrs", "status", "events", "logs",
                 "children", "dropped")

    def __init__(self, svc, scope, name, kind, start, end, attrs, status=None):
        self.svc, self.scope, self.name, self.kind = svc, scope, name, kind
        self.start, self.end, self.attrs, self.status = start, end, dict(attrs), status
        self.events, self.logs, self.children, self.dropped = [], [], [], False

    def add(self, child):
        self.children.append(child)
        return child


class Trace:
    """Per-request state: the random source, the user, and how a fault shows in this trace."""

    def __init__(self, rng, fault=None, variant=None):
        self.rng, self.fault, self.variant = rng, fault, variant
        self.session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.currency = rng.choice(CURRENCIES)
        self.cart = [(p, rng.randint(1, 5)) for p in rng.sample(PRODUCTS, rng.randint(1, 3))]
        self.gc_tail = None  # (service, extra ms): a benign slow tail on one service

    def u(self, lo, hi):
        return self.rng.uniform(lo, hi)

    def reqid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def sev(level):
    return {"debug": (5, "DEBUG"), "info": (9, "INFO"), "warn": (13, "WARN"), "error": (17, "ERROR"),
            "fatal": (21, "FATAL")}[level]


# --- log dialects -------------------------------------------------------------------------------

def log_logrus_bridge(node, t, level, msg, **fields):
    """frontend: logrus through the otellogrus bridge (body = message, fields as attributes)."""
    num, _ = sev(level)
    text = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}[level]
    node.logs.append((t, "go.opentelemetry.io/contrib/bridges/otellogrus", num, text, msg, fields))


def log_logrus_file(node, t, level, msg, **fields):
    """checkout/shipping/productcatalog: the logrus JSON line, read by the Collector's filelog
    receiver (json_parser for severity and trace context; the body stays the raw line)."""
    num, _ = sev(level)
    text = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}[level]
    line = {"message": msg, "severity": text, "timestamp": "__TS__"}
    line.update(fields)
    node.logs.append((t, "", num, text, json.dumps(line, separators=(",", ":")),
                      {"log.iostream": "stdout",
                       "log.file.path": f"/var/log/pods/{NS}_{PODS[node.svc]}_{uuid.UUID(int=zlib.crc32(node.svc.encode()) * 0x9E3779B97F4A7C15 % 2**128)}/server/0.log"}))


def log_pino_bridge(node, t, level, msg, err=None):
    """currencyservice: pino through @opentelemetry/instrumentation-pino log sending."""
    num, _ = sev(level)
    attrs = {"name": "currencyservice-server", "pid": 1, "hostname": PODS["currencyservice"]}
    if err:
        attrs["err"] = err
    node.logs.append((t, "@opentelemetry/instrumentation-pino", num, level, msg, attrs))


PINO_LEVEL = {"debug": 20, "info": 30, "warn": 40, "error": 50, "fatal": 60}


def log_pino_file(node, t, level, msg, err=None):
    """paymentservice: pino's JSON line via filelog; the severity parser maps the numeric level
    (severity text stays the raw number)."""
    num, _ = sev(level)
    line = {"level": PINO_LEVEL[level], "time": "__MS__", "pid": 1, "hostname": PODS["paymentservice"],
            "name": "paymentservice-charge", "message": msg}
    if err:
        line["err"] = err
    node.logs.append((t, "", num, str(PINO_LEVEL[level]), json.dumps(line, separators=(",", ":")),
                      {"log.iostream": "stdout"}))


def log_dotnet(node, t, level, category, msg, template=None, exc=None, **params):
    """cartservice: ILogger through OpenTelemetry.Extensions.Logging (scope = category)."""
    num, _ = sev(level)
    text = {"debug": "Debug", "info": "Information", "warn": "Warning", "error": "Error"}[level]
    attrs = dict(params)
    if template:
        attrs["{OriginalFormat}"] = template
    if exc:
        attrs.update({"exception.type": exc[0], "exception.message": exc[1], "exception.stacktrace": exc[2]})
    node.logs.append((t, category, num, text, msg, attrs))


def log_python(node, t, level, logger, msg, func, lineno, path, exc=None):
    """emailservice / recommendationservice: logging through the SDK's LoggingHandler."""
    num, _ = sev(level)
    text = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}[level]
    attrs = {"code.file.path": path, "code.function.name": func, "code.line.number": lineno}
    if exc:
        attrs.update({"exception.type": exc[0], "exception.message": exc[1], "exception.stacktrace": exc[2]})
    node.logs.append((t, logger, num, text, msg, attrs))


def log_java(node, t, level, msg, exc=None, logger="hipstershop.AdService"):
    """adservice: log4j2 through the Java agent's appender instrumentation."""
    num, text = sev(level)
    attrs = {"thread.name": "grpc-default-executor-%d" % (zlib.crc32(msg.encode()) % 7), "thread.id": 40 + zlib.crc32(msg.encode()) % 9}
    if exc:
        attrs.update({"exception.type": exc[0], "exception.message": exc[1], "exception.stacktrace": exc[2]})
    node.logs.append((t, logger, num, text, msg, attrs))


# --- span makers --------------------------------------------------------------------------------

def go_err(code, desc):
    return f"rpc error: code = {CODE_NAME[code]} desc = {desc}"


def client_span(T, caller, callee, method, start, end, code=0, desc=None):
    svc = RPC[callee]
    lang = LANG[caller]
    if lang == "go":
        attrs = {"rpc.system": "grpc", "rpc.service": svc, "rpc.method": method,
                 "server.address": callee, "server.port": PORT[callee], "rpc.grpc.status_code": code}
        st = (StatusCode.ERROR, desc) if code else None
        return Node(caller, "go.grpc", f"{svc}/{method}", SpanKind.CLIENT, start, end, attrs, st)
    # python client (recommendationservice -> productcatalogservice)
    attrs = {"rpc.system": "grpc", "rpc.grpc.status_code": code, "rpc.method": method, "rpc.service": svc}
    n = Node(caller, "python.grpc.client", f"/{svc}/{method}", SpanKind.CLIENT, start, end, attrs)
    if code:
        msg = (f"<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.{PY_CODE[code]}\n"
               f"\tdetails = \"{desc}\"\n\tdebug_error_string = \"UNKNOWN:Error received from peer "
               f"ipv4:{CLUSTER_IP[callee]}:{PORT[callee]} {{grpc_message:\"{desc}\", grpc_status:{code}, "
               f"created_time:\"2024-11-18T09:12:41.518233127+00:00\"}}\"\n>")
        n.status = (StatusCode.ERROR, f"_InactiveRpcError: {msg}")
        n.events.append(("exception", {"exception.type": "grpc._channel._InactiveRpcError", "exception.message": msg,
                                       "exception.stacktrace": PY_RECO_CLIENT_STACK + "grpc._channel._InactiveRpcError: " + msg,
                                       "exception.escaped": "False"}, end - 0.05))
    return n


def server_span(T, callee, method, start, end, code=0, desc=None, caller="frontend"):
    svc = RPC[callee]
    lang = LANG[callee]
    peer = POD_IP[caller]
    pport = T.rng.randint(32768, 60999)
    if lang == "go":
        attrs = {"rpc.system": "grpc", "rpc.service": svc, "rpc.method": method,
                 "network.peer.address": peer, "network.peer.port": pport, "rpc.grpc.status_code": code}
        st = (StatusCode.ERROR, desc) if code in GO_SERVER_ERROR_CODES else None
        return Node(callee, "go.grpc", f"{svc}/{method}", SpanKind.SERVER, start, end, attrs, st)
    if lang == "dotnet":
        attrs = {"server.address": "cartservice", "server.port": 7070, "http.request.method": "POST",
                 "url.scheme": "http", "url.path": f"/{svc}/{method}", "network.protocol.version": "2",
                 "user_agent.original": "grpc-go/1.65.0", "rpc.system": "grpc", "rpc.service": svc,
                 "rpc.method": method, "rpc.grpc.status_code": code, "http.response.status_code": 200}
        st = (StatusCode.ERROR, None) if code else None
        return Node(callee, "cartservice", f"{svc}/{method}", SpanKind.SERVER, start, end, attrs, st)
    if lang == "nodejs":
        attrs = {"rpc.system": "grpc", "rpc.method": method, "rpc.service": svc, "rpc.grpc.status_code": code}
        st = (StatusCode.ERROR, desc) if code else None
        return Node(callee, "nodejs.grpc", f"grpc.{svc}/{method}", SpanKind.SERVER, start, end, attrs, st)
    if lang == "python":
        attrs = {"rpc.system": "grpc", "rpc.grpc.status_code": code, "rpc.method": method, "rpc.service": svc,
                 "net.peer.ip": peer, "net.peer.port": str(pport)}
        return Node(callee, "python.grpc.server", f"/{svc}/{method}", SpanKind.SERVER, start, end, attrs,
                    (StatusCode.ERROR, desc) if code else None)
    # java agent
    attrs = {"rpc.system": "grpc", "rpc.service": svc, "rpc.method": method, "rpc.grpc.status_code": code,
             "server.address": "adservice", "server.port": 9555, "network.type": "ipv4",
             "network.peer.address": peer, "network.peer.port": pport}
    return Node(callee, "adservice", f"{svc}/{method}", SpanKind.SERVER, start, end, attrs,
                (StatusCode.ERROR, desc) if code else None)


def net(T):
    return T.u(0.25, 0.9)


def rpc(T, parent, caller, callee, method, t, work, fail=None, extra_net=0.0, server=True):
    """A gRPC call from `caller` at time t. `work(server_node, t0) -> t_end` fills the server span.
    `fail` = (code, desc, server_code) to fail the call: the client ends in error; the server span
    exists when `server` (with server_code as its own code), else the request never reached it.
    `extra_net` is added network delay (split before and after the server). Returns (client, end)."""
    n1 = net(T) + extra_net / 2
    s0 = t + n1
    if server:
        sv = server_span(T, callee, method, s0, s0, caller=caller)
        s1 = work(sv, s0) if work else s0 + T.u(0.1, 0.4)
        if T.gc_tail and T.gc_tail[0] == callee:
            s1 += T.gc_tail[1]
            T.gc_tail = None
        sv.end = s1
        end = s1 + net(T) + extra_net / 2
    else:
        sv = None
        end = t + n1 + (fail[3] if fail and len(fail) > 3 else T.u(0.3, 2.0))
    code, desc = (fail[0], fail[1]) if fail else (0, None)
    real = client_span(T, caller, callee, method, t, end, code, desc)
    if sv is not None:
        if fail and len(fail) > 2 and fail[2] is not None:
            scode = fail[2]
            sv.attrs["rpc.grpc.status_code"] = scode
            if LANG[callee] == "go":
                sv.status = (StatusCode.ERROR, fail[1]) if scode in GO_SERVER_ERROR_CODES else None
            elif LANG[callee] == "dotnet":
                sv.status = (StatusCode.ERROR, None) if scode else None
            else:
                sv.status = (StatusCode.ERROR, fail[1]) if scode else None
        real.add(sv)
    parent.add(real)
    return real, end


# ----------------------------------------------------------------------------------------------
# stack traces and messages as the real libraries print them

PY_RECO_CLIENT_STACK = (
    "Traceback (most recent call last):\n"
    "  File \"/recommendationservice/recommendation_server.py\", line 71, in ListRecommendations\n"
    "    cat_response = product_catalog_stub.ListProducts(demo_pb2.Empty())\n"
    "  File \"/usr/local/lib/python3.12/site-packages/grpc/_interceptor.py\", line 277, in __call__\n"
    "    response, ignored_call = self._with_call(\n"
    "  File \"/usr/local/lib/python3.12/site-packages/grpc/_interceptor.py\", line 332, in _with_call\n"
    "    return call.result(), call\n"
    "  File \"/usr/local/lib/python3.12/site-packages/grpc/_channel.py\", line 440, in result\n"
    "    raise self\n")


def redis_exc(T, cmd, key):
    v = T.rng.random()
    tail = ("IOCP: (Busy=0,Free=1000,Min=2,Max=1000), WORKER: (Busy=%d,Free=32766,Min=2,Max=32767), "
            "POOL: (Threads=%d,QueuedItems=0,CompletedItems=%d,Timers=4), v: 2.6.122.38350"
            % (T.rng.randint(1, 4), T.rng.randint(6, 14), T.rng.randint(10000, 90000)))
    if v < 0.45:
        msg = (f"No connection is available to service this operation: {cmd} {key}; It was not possible to "
               f"connect to the redis server(s). ConnectTimeout; {tail}")
    elif v < 0.8:
        msg = (f"No connection is available to service this operation: {cmd} {key}; SocketFailure (ReadSocketError/"
               f"ConnectionReset, last-recv: 0) on redis-cart:6379/Interactive, Idle/MarkProcessed, last: {cmd}, "
               f"origin: ReadFromPipe, outstanding: 1, last-read: 0s ago, last-write: 0s ago, keep-alive: 60s, "
               f"state: ConnectedEstablished, mgr: 9 of 10 available, in: 0, in-pipe: 0, out-pipe: 0, "
               f"last-heartbeat: 0s ago, last-mbeat: 0s ago, global: 0s ago; {tail}")
    else:
        msg = ("It was not possible to connect to the redis server(s). Error connecting right now. To allow this "
               "multiplexer to continue retrying until it's able to connect, use abortConnect=false in your "
               "connection string or AbortOnConnectFail=false; in your code.")
    method = {"HMGET": "GetCartAsync", "HSET": "AddItemAsync", "DEL": "EmptyCartAsync"}[cmd]
    line = {"GetCartAsync": 187, "AddItemAsync": 142, "EmptyCartAsync": 165}[method]
    stack = (
        f"StackExchange.Redis.RedisConnectionException: {msg}\n"
        "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteAsyncImpl[T](Message message, ResultProcessor`1 "
        "processor, Object state, ServerEndPoint server, T defaultValue) in /_/src/StackExchange.Redis/"
        "ConnectionMultiplexer.cs:line 2127\n"
        "   at StackExchange.Redis.RedisDatabase.HashGetAsync(RedisKey key, RedisValue[] hashFields, CommandFlags "
        "flags) in /_/src/StackExchange.Redis/RedisDatabase.cs:line 414\n"
        "   at Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache.GetAndRefreshAsync(String key, Boolean "
        "getData, CancellationToken token)\n"
        f"   at cartservice.cartstore.RedisCartStore.{method}(String userId) in /app/cartstore/RedisCartStore.cs:"
        f"line {line}")
    return "StackExchange.Redis.RedisConnectionException", msg, stack, method


def java_ads_exc(T, words):
    return ("java.lang.IllegalArgumentException", "bound must be positive",
            "java.lang.IllegalArgumentException: bound must be positive\n"
            "\tat java.base/java.util.Random.nextInt(Random.java:557)\n"
            "\tat hipstershop.AdService.getRandomAds(AdService.java:196)\n"
            "\tat hipstershop.AdService.getAdsByCategory(AdService.java:185)\n"
            "\tat hipstershop.AdService$AdServiceImpl.getAds(AdService.java:137)\n"
            "\tat hipstershop.AdServiceGrpc$MethodHandlers.invoke(AdServiceGrpc.java:287)\n"
            "\tat io.grpc.stub.ServerCalls$UnaryServerCallHandler$UnaryServerCallListener.onHalfClose(ServerCalls.java:182)\n"
            "\tat io.grpc.internal.ServerCallImpl$ServerStreamListenerImpl.halfClosed(ServerCallImpl.java:356)\n"
            "\tat io.grpc.internal.ServerImpl$JumpToApplicationThreadServerStreamListener$1HalfClosed.runInContext(ServerImpl.java:861)\n"
            "\tat io.grpc.internal.ContextRunnable.run(ContextRunnable.java:37)\n"
            "\tat io.grpc.internal.SerializingExecutor.run(SerializingExecutor.java:133)\n"
            "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)\n"
            "\tat java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:642)\n"
            "\tat java.base/java.lang.Thread.run(Thread.java:1583)")


def currency_err(code):
    return {"type": "RangeError",
            "message": f"Unsupported currency code \"{code}\": no EUR rate in currency_conversion.json",
            "stack": (f"RangeError: Unsupported currency code \"{code}\": no EUR rate in currency_conversion.json\n"
                      "    at _getCurrencyData (/usr/src/app/server.js:101:11)\n"
                      "    at convert (/usr/src/app/server.js:139:7)\n"
                      "    at Object.onReceiveHalfClose (/usr/src/app/node_modules/@grpc/grpc-js/build/src/server.js:1457:25)\n"
                      "    at BaseStreamingInterceptor.onReceiveHalfClose (/usr/src/app/node_modules/@grpc/grpc-js/build/src/server-interceptors.js:171:19)\n"
                      "    at process.processTicksAndRejections (node:internal/process/task_queues:77:11)")}


# ----------------------------------------------------------------------------------------------
# services' handlers (each returns the server span's end time)

def w_catalog_list(T):
    def work(sv, t0):
        end = t0 + T.u(0.08, 0.4)
        if T.fault == "productcatalog_empty_catalog":
            log_logrus_file(sv, t0 + 0.05, "warn", "failed to parse the catalog JSON: proto: syntax error (line 1:4381): "
                            "unexpected token }")
        return end
    return work


def w_catalog_get(T, pid, notfound=False):
    def work(sv, t0):
        end = t0 + T.u(0.05, 0.25)
        if T.fault == "productcatalog_empty_catalog":
            log_logrus_file(sv, t0 + 0.03, "warn", "failed to parse the catalog JSON: proto: syntax error (line 1:4381): "
                            "unexpected token }")
        return end
    return work


def w_currency(T, method, frm="USD", to=None, swallow=False):
    def work(sv, t0):
        if T.fault == "currency_cpu_stress":
            dur = T.u(140, 900)
        else:
            dur = T.u(0.35, 1.6)
        end = t0 + dur
        if method == "GetSupportedCurrencies":
            log_pino_bridge(sv, t0 + 0.1, "info", "Getting supported currencies...")
        else:
            log_pino_bridge(sv, t0 + 0.05, "info", "received conversion request")
            if swallow:
                log_pino_bridge(sv, end - 0.1, "error", f"conversion request failed: RangeError: Unsupported currency code "
                                f"\"{to}\": no EUR rate in currency_conversion.json", err=currency_err(to))
            elif not (T.fault == "currency_unsupported_code" and to in BROKEN_CURRENCIES):
                log_pino_bridge(sv, end - 0.1, "info", "conversion request successful")
        return end
    return work


def redis_span(T, parent, cmd, t, key):
    dur = T.u(0.35, 1.4)
    attrs = {"db.system": "redis", "db.redis.flags": "DemandMaster", "db.statement": cmd,
             "net.peer.name": "redis-cart", "net.peer.port": 6379, "db.redis.database_index": 0}
    n = Node("cartservice", "cartservice.redis", cmd, SpanKind.CLIENT, t, t + dur, attrs)
    n.events.append(("Enqueued", {}, t + 0.01))
    n.events.append(("Sent", {}, t + 0.03))
    n.events.append(("ResponseReceived", {}, t + dur - 0.02))
    parent.add(n)
    return t + dur


def cart_logs_ok(T, sv, t0, method, end):
    log_dotnet(sv, t0 + 0.02, "info", "Microsoft.AspNetCore.Hosting.Diagnostics",
               f"Request starting HTTP/2 POST http://cartservice:7070/hipstershop.CartService/{method} - application/grpc -")
    if method == "GetCart":
        log_dotnet(sv, t0 + 0.1, "info", "cartservice.cartstore.RedisCartStore",
                   f"GetCartAsync called with userId={T.session}", "GetCartAsync called with userId={userId}",
                   userId=T.session)
    elif method == "AddItem":
        p, q = T.cart[0]
        log_dotnet(sv, t0 + 0.1, "info", "cartservice.cartstore.RedisCartStore",
                   f"AddItemAsync called with userId={T.session}, productId={p[0]}, quantity={q}",
                   "AddItemAsync called with userId={userId}, productId={productId}, quantity={quantity}",
                   userId=T.session, productId=p[0], quantity=q)
    else:
        log_dotnet(sv, t0 + 0.1, "info", "cartservice.cartstore.RedisCartStore",
                   f"EmptyCartAsync called with userId={T.session}", "EmptyCartAsync called with userId={userId}",
                   userId=T.session)


def cart_call(T, parent, caller, method, t):
    """A call to cartservice; under redis_cart_pod_kill it fails with FailedPrecondition.
    Returns (end, error string as the Go client prints it, or None)."""
    failing = T.fault == "redis_cart_pod_kill"
    cmd = {"GetCart": "HMGET", "AddItem": "HSET", "EmptyCart": "DEL"}[method]
    box = {}

    def work(sv, t0):
        if failing:
            etype, emsg, stack, cmethod = redis_exc(T, cmd, T.session)
            wait = T.u(5000, 5200) if "ConnectTimeout" in emsg else T.u(0.4, 3.0)
            end = t0 + wait
            log_dotnet(sv, t0 + 0.02, "info", "Microsoft.AspNetCore.Hosting.Diagnostics",
                       f"Request starting HTTP/2 POST http://cartservice:7070/hipstershop.CartService/{method} - application/grpc -")
            detail = f"Can't access cart storage. {stack}"
            if T.rng.random() < 0.6:
                log_dotnet(sv, end - 0.3, "error", "cartservice.cartstore.RedisCartStore",
                           "Wasn't able to connect to redis", exc=(etype, emsg, stack))
            log_dotnet(sv, end - 0.1, "info", "Grpc.AspNetCore.Server.ServerCallHandler",
                       f"Error status code 'FailedPrecondition' with detail '{detail}' raised.",
                       "Error status code '{StatusCode}' with detail '{Detail}' raised.",
                       StatusCode="FailedPrecondition", Detail=detail)
            box["detail"] = detail
            return end
        cart_logs_ok(T, sv, t0, method, None)
        t1 = redis_span(T, sv, "HMGET", t0 + T.u(0.2, 0.6), T.session)
        if method == "AddItem":
            t1 = redis_span(T, sv, "HSET", t1 + 0.05, T.session)
            t1 = redis_span(T, sv, "EXPIRE", t1 + 0.02, T.session)
        elif method == "EmptyCart":
            t1 = redis_span(T, sv, "HSET", t1 + 0.05, T.session)
        if T.gc_tail and T.gc_tail[0] == "cartservice.redis":
            t1 += T.gc_tail[1]
            T.gc_tail = None
        end = t1 + T.u(0.2, 0.8)
        log_dotnet(sv, end - 0.02, "info", "Microsoft.AspNetCore.Hosting.Diagnostics",
                   f"Request finished HTTP/2 POST http://cartservice:7070/hipstershop.CartService/{method} - 200 - "
                   f"application/grpc {end - t0:.4f}ms")
        if T.fault is None and T.variant == "kestrel_warn" and method != "GetCart":
            log_dotnet(sv, end - 0.01, "warn", "Microsoft.AspNetCore.Server.Kestrel",
                       f"Connection id \"0HN{T.rng.randint(10**8, 10**9 - 1):X}\", Request id \"0HN{T.rng.randint(10**8, 10**9 - 1):X}:00000003\": "
                       "the application completed without reading the entire request body.")
        if T.fault is None and T.variant == "redis_retry_ok" and method == "GetCart":
            log_dotnet(sv, t0 + 0.15, "warn", "cartservice.cartstore.RedisCartStore",
                       "Redis command HMGET timed out after 250ms, retrying (attempt 1 of 3)",
                       "Redis command {Command} timed out after {Timeout}ms, retrying (attempt {Attempt} of {Max})",
                       Command="HMGET", Timeout=250, Attempt=1, Max=3)
            end += 250
        return end

    cl, end = rpc(T, parent, caller, "cartservice", method, t, work)
    if failing:
        desc = box["detail"]
        cl.status = (StatusCode.ERROR, desc)
        cl.attrs["rpc.grpc.status_code"] = 9
        sv = cl.children[0]
        sv.attrs["rpc.grpc.status_code"] = 9
        sv.status = (StatusCode.ERROR, None)
        return end, go_err(9, desc)
    return end, None


def w_shipping(T, method):
    def work(sv, t0):
        end = t0 + T.u(0.15, 0.6)
        log_logrus_file(sv, t0 + 0.02, "info", f"[{method}] received request")
        log_logrus_file(sv, end - 0.02, "info", f"[{method}] completed request")
        return end
    return work


def shipping_delay(T):
    return T.u(800, 2600) if T.fault == "shipping_network_delay" else 0.0


def w_ads(T, words):
    def work(sv, t0):
        end = t0 + T.u(0.3, 2.0)
        log_java(sv, t0 + 0.05, "info", f"received ad request (context_words=[{', '.join(words)}])")
        if T.fault == "adservice_exception_warn":
            exc = java_ads_exc(T, words)
            if T.variant == "thrown":
                sv.events.append(("exception", {"exception.type": exc[0], "exception.message": exc[1],
                                                "exception.stacktrace": exc[2]}, end - 0.05))
                log_java(sv, end - 0.1, "warn", "GetAds Failed with status Status{code=UNKNOWN, description=null, "
                         "cause=java.lang.IllegalArgumentException: bound must be positive}", exc=exc)
            else:
                log_java(sv, end - 0.1, "warn", f"Failed to fetch ads for context {words}, serving no ads", exc=exc)
        return end
    return work


def ads_call(T, fe, t, words):
    """frontend's chooseAd (100 ms deadline); an error is only logged at WARN by the frontend."""
    thrown = T.fault == "adservice_exception_warn" and T.variant == "thrown"
    fail = (2, "", 2) if thrown else None
    cl, end = rpc(T, fe, "frontend", "adservice", "GetAds", t, w_ads(T, words), fail=fail)
    if thrown:
        cl.status = (StatusCode.ERROR, None)
        cl.children[0].status = (StatusCode.ERROR, None)
        log_logrus_bridge(fe, end + 0.05, "warn", "failed to retrieve ads", error=go_err(2, ""))
    return end


def reco_call(T, fe, t):
    """frontend -> recommendationservice -> productcatalogservice ListProducts."""
    pl = T.fault == "productcatalog_packet_loss" and T.variant == "reco"
    box = {}

    def work(sv, t0):
        t1 = t0 + T.u(0.5, 1.5)
        ids = [p[0] for p in T.cart]
        log_python(sv, t0 + 0.2, "info", "recommendationservice-server",
                   f"[Recv ListRecommendations] product_ids={ids}", "ListRecommendations", 67,
                   "/recommendationservice/recommendation_server.py")
        if pl and T.variant == "reco":
            desc = T.rng.choice(PL_ERRORS_PY)
            _, t2 = rpc(T, sv, "recommendationservice", "productcatalogservice", "ListProducts", t1, None,
                        fail=(14, desc, None, T.u(20, 1500)), server=False)
            end = t2 + T.u(0.5, 2.0)
            sv.attrs["rpc.grpc.status_code"] = 2
            msg = (f"<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.UNAVAILABLE\n\tdetails = "
                   f"\"{desc}\"\n\tdebug_error_string = \"UNKNOWN:Error received from peer ipv4:{CLUSTER_IP['productcatalogservice']}"
                   f":3550 {{grpc_message:\"{desc}\", grpc_status:14}}\"\n>")
            sv.status = (StatusCode.ERROR, f"_InactiveRpcError: {msg}")
            sv.events.append(("exception", {"exception.type": "grpc._channel._InactiveRpcError", "exception.message": msg,
                                            "exception.stacktrace": PY_RECO_CLIENT_STACK + "grpc._channel._InactiveRpcError: " + msg,
                                            "exception.escaped": "True"}, end - 0.1))
            box["err"] = go_err(2, "Exception calling application: " + msg)
            return end
        slow = T.rng.choice([200, 400, 600, 1000]) + T.u(1, 30) if (T.fault == "productcatalog_packet_loss" and T.rng.random() < 0.5) else 0.0
        _, t2 = rpc(T, sv, "recommendationservice", "productcatalogservice", "ListProducts", t1,
                    w_catalog_list(T), extra_net=slow)
        end = t2 + T.u(0.8, 3.0)
        log_python(sv, end - 0.1, "info", "recommendationservice-server",
                   f"[Recv ListRecommendations] product_ids={ids}", "ListRecommendations", 80,
                   "/recommendationservice/recommendation_server.py")
        return end

    cl, end = rpc(T, fe, "frontend", "recommendationservice", "ListRecommendations", t, work)
    if "err" in box:
        cl.status = (StatusCode.ERROR, box["err"][len("rpc error: code = Unknown desc = "):])
        cl.attrs["rpc.grpc.status_code"] = 2
        return end, box["err"]
    return end, None


PL_ERRORS_GO = [
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 110",
    "transport is closing",
    "connection error: desc = \"transport: Error while dialing: dial tcp %s:3550: i/o timeout\"" % CLUSTER_IP["productcatalogservice"],
]
PL_ERRORS_PY = [
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    "Socket closed",
    "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:%s:3550: Connection timed out" % CLUSTER_IP["productcatalogservice"],
]


def catalog_call(T, parent, caller, method, t, pid=None, can_fail=True):
    """A productcatalogservice call. Returns (end, error string or None).
    packet loss: intermittent Unavailable/DeadlineExceeded at the client (no server span) or
    retransmission delays; empty catalog: ListProducts empty, GetProduct NotFound."""
    if T.fault == "productcatalog_packet_loss" and can_fail and T.pl_budget > 0 and T.rng.random() < T.pl_p:
        T.pl_budget -= 1
        if T.rng.random() < 0.3:
            code, desc = 4, "context deadline exceeded"
            waited = T.u(2000, 3000)
        else:
            code, desc = 14, T.rng.choice(PL_ERRORS_GO)
            waited = T.u(15, 1600)
        cl, end = rpc(T, parent, caller, "productcatalogservice", method, t, None,
                      fail=(code, desc, None, waited), server=False)
        return end, go_err(code, desc)
    slow = 0.0
    if T.fault == "productcatalog_packet_loss" and T.rng.random() < 0.5:
        slow = T.rng.choice([200, 400, 600, 1000]) + T.u(1, 30)
    if method == "ListProducts":
        cl, end = rpc(T, parent, caller, "productcatalogservice", method, t, w_catalog_list(T), extra_net=slow)
        return end, None
    notfound = T.fault == "productcatalog_empty_catalog" or pid == "BADPRODUCT"
    if notfound:
        desc = f"no product with ID {pid}"
        cl, end = rpc(T, parent, caller, "productcatalogservice", method, t, w_catalog_get(T, pid, True),
                      fail=(5, desc, 5), extra_net=slow)
        return end, go_err(5, desc)
    cl, end = rpc(T, parent, caller, "productcatalogservice", method, t, w_catalog_get(T, pid), extra_net=slow)
    return end, None


def currency_call(T, parent, caller, method, t, to=None):
    """Returns (end, error or None)."""
    broken = T.fault == "currency_unsupported_code" and method == "Convert" and to in BROKEN_CURRENCIES
    if broken and T.variant == "returned":
        err = currency_err(to)

        def work(sv, t0):
            end = t0 + T.u(0.4, 1.5)
            log_pino_bridge(sv, t0 + 0.05, "info", "received conversion request")
            log_pino_bridge(sv, end - 0.1, "error", f"conversion request failed: {err['type']}: {err['message']}", err=err)
            return end
        cl, end = rpc(T, parent, caller, "currencyservice", method, t, work, fail=(2, err["message"], 2))
        return end, go_err(2, err["message"])
    cl, end = rpc(T, parent, caller, "currencyservice", method, t,
                  w_currency(T, method, to=to, swallow=broken))
    return end, None


# ----------------------------------------------------------------------------------------------
# frontend handlers and the loadgenerator


def frontend_root(T, method, path, t0):
    lg = Node("loadgenerator", "loadgenerator", method, SpanKind.CLIENT, t0, t0,
              {"http.request.method": method, "url.full": f"http://frontend:80{path}", "server.address": "frontend",
               "server.port": 80, "network.protocol.version": "1.1"})
    fs = t0 + T.u(0.4, 1.2)
    fe = Node("frontend", "frontend.http", "frontend", SpanKind.SERVER, fs, fs,
              {"http.method": method, "http.scheme": "http", "net.host.name": "frontend", "net.host.port": 8080,
               "net.sock.peer.addr": POD_IP["loadgenerator"], "net.sock.peer.port": T.rng.randint(32768, 60999),
               "user_agent.original": "python-requests/2.32.3", "http.target": path,
               "net.protocol.version": "1.1"})
    lg.add(fe)
    rid = T.reqid()
    T.fe_fields = {"http.req.id": rid, "http.req.method": method, "http.req.path": path, "session": T.session}
    log_logrus_bridge(fe, fs + 0.05, "debug", "request started", **T.fe_fields)
    return lg, fe, fs + T.u(0.05, 0.2)


def frontend_finish(T, lg, fe, t, status, err=None, nbytes=None):
    if err:
        log_logrus_bridge(fe, t + 0.1, "error", "request error", error=err, **T.fe_fields)
        t += T.u(0.3, 1.5)
    else:
        t += T.u(0.5, 4.0)
    nbytes = nbytes or T.rng.randint(6000, 14000)
    fe.end = t
    fe.attrs.update({"http.status_code": status, "http.wrote_bytes": nbytes if status != 302 else 0})
    if status >= 500:
        fe.status = (StatusCode.ERROR, None)
    log_logrus_bridge(fe, t - 0.02, "debug", "request complete",
                      **{"http.resp.took_ms": int(t - fe.start), "http.resp.status": status,
                         "http.resp.bytes": nbytes if status != 302 else 0}, **T.fe_fields)
    lg.end = t + T.u(0.3, 1.0)
    lg.attrs["http.response.status_code"] = status
    if status >= 400:
        lg.status = (StatusCode.ERROR, None)
        lg.attrs["error.type"] = str(status)
    return lg


def h_home(T, t0):
    lg, fe, t = frontend_root(T, "GET", "/", t0)
    log_logrus_bridge(fe, t, "info", "home", currency=T.currency, **T.fe_fields)
    t, err = currency_call(T, fe, "frontend", "GetSupportedCurrencies", t)
    t, err = catalog_call(T, fe, "frontend", "ListProducts", t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve products: " + err)
    t, err = cart_call(T, fe, "frontend", "GetCart", t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve cart: " + err)
    prods = [] if T.fault == "productcatalog_empty_catalog" else PRODUCTS
    for p in prods:
        t, err = currency_call(T, fe, "frontend", "Convert", t, to=T.currency)
        if err:
            return frontend_finish(T, lg, fe, t, 500, f"failed to do currency conversion for product {p[0]}: " + err)
    t = ads_call(T, fe, t, [])
    return frontend_finish(T, lg, fe, t, 200)


def h_product(T, t0, pid=None):
    p = T.rng.choice(PRODUCTS)
    pid = pid or p[0]
    lg, fe, t = frontend_root(T, "GET", f"/product/{pid}", t0)
    t, err = catalog_call(T, fe, "frontend", "GetProduct", t, pid=pid)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve product: " + err)
    t, err = currency_call(T, fe, "frontend", "GetSupportedCurrencies", t)
    t, err = cart_call(T, fe, "frontend", "GetCart", t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve cart: " + err)
    t, err = currency_call(T, fe, "frontend", "Convert", t, to=T.currency)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to convert currency: " + err)
    t, err = reco_call(T, fe, t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to get product recommendations: " + err)
    log_logrus_bridge(fe, t, "debug", "serving product page", id=pid, currency=T.currency, **T.fe_fields)
    t = ads_call(T, fe, t, p[2])
    return frontend_finish(T, lg, fe, t, 200)


def h_add(T, t0):
    p, q = T.cart[0]
    lg, fe, t = frontend_root(T, "POST", "/cart", t0)
    log_logrus_bridge(fe, t, "debug", "adding to cart", product=p[0], quantity=q, **T.fe_fields)
    t, err = catalog_call(T, fe, "frontend", "GetProduct", t, pid=p[0])
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve product: " + err)
    t, err = cart_call(T, fe, "frontend", "AddItem", t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to add to cart: " + err)
    return frontend_finish(T, lg, fe, t, 302)


def h_set_currency(T, t0):
    lg, fe, t = frontend_root(T, "POST", "/setCurrency", t0)
    log_logrus_bridge(fe, t, "debug", "setting currency", **{"curr.new": T.currency, "curr.old": "USD"}, **T.fe_fields)
    return frontend_finish(T, lg, fe, t + T.u(0.05, 0.3), 302)


def h_view_cart(T, t0):
    lg, fe, t = frontend_root(T, "GET", "/cart", t0)
    log_logrus_bridge(fe, t, "debug", "view user cart", **T.fe_fields)
    t, err = currency_call(T, fe, "frontend", "GetSupportedCurrencies", t)
    t, err = cart_call(T, fe, "frontend", "GetCart", t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "could not retrieve cart: " + err)
    t, err = reco_call(T, fe, t)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to get product recommendations: " + err)
    cl, t = rpc(T, fe, "frontend", "shippingservice", "GetQuote", t, w_shipping(T, "GetQuote"),
                extra_net=shipping_delay(T))
    t, err = currency_call(T, fe, "frontend", "Convert", t, to=T.currency)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to convert currency for shipping cost: " + err)
    for p, q in T.cart:
        t, err = catalog_call(T, fe, "frontend", "GetProduct", t, pid=p[0])
        if err:
            return frontend_finish(T, lg, fe, t, 500, f"could not retrieve product #{p[0]}: " + err)
        t, err = currency_call(T, fe, "frontend", "Convert", t, to=T.currency)
        if err:
            return frontend_finish(T, lg, fe, t, 500, f"could not convert currency for product #{p[0]}: " + err)
    return frontend_finish(T, lg, fe, t, 200)


def h_checkout(T, t0):
    lg, fe, t = frontend_root(T, "POST", "/cart/checkout", t0)
    email = "someone@example.com"
    log_logrus_bridge(fe, t, "debug", "placing order", **T.fe_fields)
    box = {}
    oom = T.fault == "checkout_oom_restart"

    def work(sv, s0):
        return checkout_place_order(T, sv, s0, email, box)

    if oom and T.variant == "refused":
        desc = ("connection error: desc = \"transport: Error while dialing: dial tcp %s:5050: connect: connection refused\""
                % CLUSTER_IP["checkoutservice"])
        cl, t = rpc(T, fe, "frontend", "checkoutservice", "PlaceOrder", t, None, fail=(14, desc, None, T.u(0.5, 3)),
                    server=False)
        return frontend_finish(T, lg, fe, t, 500, "failed to complete the order: " + go_err(14, desc))
    if oom and T.variant in ("killed", "canceled"):
        # the checkout process died mid-request: its spans were never exported; the calls it had
        # already made show as spans whose parent is missing
        if T.variant == "killed":
            desc = T.rng.choice([
                "error reading from server: read tcp %s:%d->%s:5050: read: connection reset by peer"
                % (POD_IP["frontend"], T.rng.randint(32768, 60999), POD_IP["checkoutservice"]),
                "error reading from server: EOF",
                "transport is closing"])
            code = 14
        else:
            desc, code = "context canceled", 1
        ghost = Node("checkoutservice", "go.grpc", "hipstershop.CheckoutService/PlaceOrder", SpanKind.SERVER,
                     t + 0.5, t + 1, {})
        ghost.dropped = True
        gc = Node("checkoutservice", "go.grpc", "x", SpanKind.CLIENT, t + 0.6, t + 1, {})
        gc.dropped = True
        ghost.add(gc)
        s = t + 1.0
        s, _ = cart_call(T, gc, "checkoutservice", "GetCart", s)
        for cl_node in gc.children:
            cl_node.dropped = True  # checkout's own client span is lost; cart's server span stays
        waited = s + T.u(800, 4000) if code == 14 else s + T.u(9000, 15000)
        cl = client_span(T, "frontend", "checkoutservice", "PlaceOrder", t, waited, code, desc)
        cl.add(ghost)
        fe.add(cl)
        return frontend_finish(T, lg, fe, waited, 500, "failed to complete the order: " + go_err(code, desc))

    cl, t = rpc(T, fe, "frontend", "checkoutservice", "PlaceOrder", t, work)
    if "err" in box:
        code, desc = box["err"]
        cl.status = (StatusCode.ERROR, desc)
        cl.attrs["rpc.grpc.status_code"] = code
        sv = cl.children[0]
        sv.attrs["rpc.grpc.status_code"] = code
        sv.status = (StatusCode.ERROR, desc) if code in GO_SERVER_ERROR_CODES else None
        return frontend_finish(T, lg, fe, t, 500, "failed to complete the order: " + go_err(code, desc))
    log_logrus_bridge(fe, t + 0.05, "info", "order placed", order=T.reqid(), **T.fe_fields)
    t, err = reco_call(T, fe, t + 0.1)
    if err:
        return frontend_finish(T, lg, fe, t, 500, "failed to get product recommendations: " + err)
    t, _ = currency_call(T, fe, "frontend", "GetSupportedCurrencies", t)
    return frontend_finish(T, lg, fe, t, 200)


def checkout_place_order(T, sv, s0, email, box):
    s = s0 + T.u(0.05, 0.2)
    log_logrus_file(sv, s, "info", f"[PlaceOrder] user_id=\"{T.session}\" user_currency=\"{T.currency}\"")

    def fail(code, msg, at):
        box["err"] = (code, msg)
        return at + T.u(0.05, 0.3)

    s, err = cart_call(T, sv, "checkoutservice", "GetCart", s)
    if err:
        return fail(13, f"cart failure: failed to get user cart during checkout: {err}", s)
    for p, q in T.cart:
        s, err = catalog_call(T, sv, "checkoutservice", "GetProduct", s, pid=p[0])
        if err:
            return fail(13, f"failed to prepare order: failed to get product #\"{p[0]}\"", s)
        s, err = currency_call(T, sv, "checkoutservice", "Convert", s, to=T.currency)
        if err:
            return fail(13, f"failed to prepare order: failed to convert price of \"{p[0]}\" to {T.currency}", s)
    _, s = rpc(T, sv, "checkoutservice", "shippingservice", "GetQuote", s, w_shipping(T, "GetQuote"),
               extra_net=shipping_delay(T))
    s, err = currency_call(T, sv, "checkoutservice", "Convert", s, to=T.currency)
    if err:
        return fail(13, f"failed to prepare order: shipping quote failure: failed to convert currency: {err}", s)

    # payment
    amex = T.variant == "amex_card"
    if T.fault == "payment_port_misconfig":
        desc = ("connection error: desc = \"transport: Error while dialing: dial tcp %s:50052: connect: connection refused\""
                % CLUSTER_IP["paymentservice"])
        _, s = rpc(T, sv, "checkoutservice", "paymentservice", "Charge", s, None, fail=(14, desc, None, T.u(0.4, 2.5)),
                   server=False)
        return fail(13, f"failed to charge card: could not charge the card: {go_err(14, desc)}", s)

    def pay(psv, p0):
        pend = p0 + T.u(0.8, 3.5)
        log_pino_file(psv, p0 + 0.05, "info", "PaymentService#Charge invoked with request {\"amount\":{\"currency_code\":\"USD\","
                      "\"units\":\"%d\",\"nanos\":%d},\"credit_card\":{\"credit_card_number\":\"%s\","
                      "\"credit_card_cvv\":672,\"credit_card_expiration_year\":2030,\"credit_card_expiration_month\":1}}"
                      % (T.rng.randint(20, 400), T.rng.randint(0, 999999999),
                         "3782-822463-10005" if amex else "4432-8015-6152-0454"))
        if amex:
            msg = "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted."
            log_pino_file(psv, pend - 0.1, "warn", msg,
                          err={"type": "UnacceptedCreditCard", "message": msg, "code": 400,
                               "stack": "UnacceptedCreditCard: " + msg + "\n    at module.exports (/usr/src/app/charge.js:83:11)\n"
                                        "    at Object.chargeServiceHandler [as charge] (/usr/src/app/server.js:33:27)"})
        else:
            log_pino_file(psv, pend - 0.1, "info", "Transaction processed: visa ending 0454     Amount: %s%d.%02d"
                          % (T.currency, T.rng.randint(20, 400), T.rng.randint(0, 99)))
        return pend

    if amex:
        msg = "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted."
        _, s = rpc(T, sv, "checkoutservice", "paymentservice", "Charge", s, pay, fail=(2, msg, 2))
        return fail(13, f"failed to charge card: could not charge the card: {go_err(2, msg)}", s)
    _, s = rpc(T, sv, "checkoutservice", "paymentservice", "Charge", s, pay)
    log_logrus_file(sv, s + 0.05, "info", f"payment went through (transaction_id: {T.reqid()})")
    _, s = rpc(T, sv, "checkoutservice", "shippingservice", "ShipOrder", s, w_shipping(T, "ShipOrder"),
               extra_net=shipping_delay(T))
    s, _ = cart_call(T, sv, "checkoutservice", "EmptyCart", s)

    # order confirmation e-mail
    if T.fault == "email_dns_failure":
        if T.variant == "nxdomain":
            desc = "connection error: desc = \"transport: Error while dialing: dial tcp: lookup emailservice on 10.96.0.10:53: no such host\""
        else:
            desc = ("name resolver error: produced zero addresses" if T.variant == "zero"
                    else "connection error: desc = \"transport: Error while dialing: dial tcp: lookup emailservice on 10.96.0.10:53: server misbehaving\"")
        _, s = rpc(T, sv, "checkoutservice", "emailservice", "SendOrderConfirmation", s, None,
                   fail=(14, desc, None, T.u(0.3, 40)), server=False)
        log_logrus_file(sv, s + 0.05, "warn", f"failed to send order confirmation to \"{email}\": {go_err(14, desc)}")
    else:
        def mail(esv, e0):
            eend = e0 + T.u(3, 12)
            log_python(esv, e0 + 0.1, "info", "emailservice-server",
                       f"A request to send order confirmation email to {email} has been received.",
                       "SendOrderConfirmation", 133, "/email_server/email_server.py")
            if T.variant == "py_deprecation":
                log_python(esv, e0 + 0.5, "warn", "py.warnings",
                           "/email_server/email_server.py:79: DeprecationWarning: 'jinja2.Markup' is deprecated and will be "
                           "removed in Jinja 3.1. Import 'markupsafe.Markup' instead.\n  confirmation = template.render(order=order)",
                           "_showwarnmsg", 110, "/usr/local/lib/python3.12/warnings.py")
            return eend
        _, s = rpc(T, sv, "checkoutservice", "emailservice", "SendOrderConfirmation", s, mail)
        log_logrus_file(sv, s + 0.05, "info", f"order confirmation email sent to \"{email}\"")
    return s + T.u(0.1, 0.5)


def h_health(T, t0):
    """A kubelet probe: grpc.health.v1.Health/Check on a gRPC service, or GET /_healthz on the frontend."""
    svc = T.health_svc
    if svc == "frontend":
        fe = Node("frontend", "frontend.http", "frontend", SpanKind.SERVER, t0, t0 + T.u(0.05, 0.3),
                  {"http.method": "GET", "http.scheme": "http", "net.host.name": POD_IP["frontend"], "net.host.port": 8080,
                   "net.sock.peer.addr": "10.244.2.1", "net.sock.peer.port": T.rng.randint(32768, 60999),
                   "user_agent.original": "kube-probe/1.30", "http.target": "/_healthz", "net.protocol.version": "1.1",
                   "http.status_code": 200, "http.wrote_bytes": 2})
        return fe
    sv = server_span(T, svc, "Check", t0, t0 + T.u(0.04, 0.4), caller="frontend")
    sv.name = sv.name.replace(RPC[svc], "grpc.health.v1.Health")
    for k in ("rpc.service",):
        sv.attrs[k] = "grpc.health.v1.Health"
    for k in ("network.peer.address", "net.peer.ip"):
        if k in sv.attrs:
            sv.attrs[k] = "10.244.%d.1" % T.rng.randint(1, 3)
    if svc == "cartservice":
        sv.attrs["url.path"] = "/grpc.health.v1.Health/Check"
        sv.attrs["user_agent.original"] = "grpc-go/1.62.1"
    return sv


def h_not_found(T, t0):
    """loadgenerator noise: a URL the shop does not serve."""
    path = T.rng.choice(["/favicon.ico", "/static/img/products/hairdryer-v2.jpg", "/api/products", "/wp-login.php"])
    lg, fe, t = frontend_root(T, "GET", path, t0)
    return frontend_finish(T, lg, fe, t + T.u(0.05, 0.3), 404, nbytes=19)


FLOWS = {"index": h_home, "setCurrency": h_set_currency, "browseProduct": h_product, "addToCart": h_add,
         "viewCart": h_view_cart, "checkout": h_checkout}
WEIGHTS = {"index": 1, "setCurrency": 2, "browseProduct": 10, "addToCart": 2, "viewCart": 3, "checkout": 1}

# fault kind -> (flows it shows in, variants with weights)
FAULTS = {
    "shipping_network_delay": (["checkout", "viewCart"], {"": 1}),
    "productcatalog_packet_loss": (["index", "browseProduct", "addToCart", "viewCart", "checkout"],
                                   {"": 3, "reco": 1}),
    "currency_cpu_stress": (["index", "browseProduct", "viewCart", "checkout"], {"": 1}),
    "checkout_oom_restart": (["checkout"], {"refused": 3, "killed": 3, "canceled": 1}),
    "redis_cart_pod_kill": (["index", "browseProduct", "addToCart", "viewCart", "checkout"], {"": 1}),
    "currency_unsupported_code": (["index", "browseProduct", "viewCart", "checkout"], {"returned": 1, "swallowed": 1}),
    "productcatalog_empty_catalog": (["index", "browseProduct", "addToCart", "viewCart", "checkout"], {"": 1}),
    "adservice_exception_warn": (["index", "browseProduct"], {"thrown": 1, "swallowed": 1}),
    "email_dns_failure": (["checkout"], {"nxdomain": 2, "zero": 1, "misbehaving": 1}),
    "payment_port_misconfig": (["checkout"], {"": 1}),
}
# how often each flow is drawn for a fault trace (the fault's own flows, reweighted so rare flows
# still show up)
FAULT_FLOW_WEIGHT = {"index": 3, "setCurrency": 0, "browseProduct": 4, "addToCart": 2, "viewCart": 3, "checkout": 3}


def affects(kind, flow, T=None):
    if flow not in FAULTS[kind][0]:
        return False
    if kind == "currency_unsupported_code" and T is not None and T.currency not in BROKEN_CURRENCIES:
        return False
    return True


def pick(rng, weights):
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


# ----------------------------------------------------------------------------------------------
# sending


class Collect(SpanExporter):
    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


class CollectLogs(LogRecordExporter):
    def __init__(self):
        self.records = []

    def export(self, batch):
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


class SeededIds(IdGenerator):
    def __init__(self, seed):
        self.rng = random.Random(seed ^ 0x5EED1D5)

    def generate_span_id(self):
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self):
        return self.rng.getrandbits(128) or 1


def resource_for(svc):
    lang, ver, rt, rtv = SDK[LANG[svc]]
    attrs = {"service.name": svc, "service.namespace": "online-boutique", "service.version": "v0.10.1",
             "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": lang, "telemetry.sdk.version": ver,
             "process.runtime.name": rt, "process.runtime.version": rtv, "host.name": PODS[svc],
             "k8s.namespace.name": NS, "k8s.pod.name": PODS[svc], "k8s.node.name": "gke-boutique-pool-1-%s" %
             ("a1b2", "c3d4", "e5f6")[zlib.crc32(svc.encode()) % 3], "k8s.deployment.name": svc,
             "container.name": "server" if svc != "loadgenerator" else "main"}
    if LANG[svc] == "java":
        attrs.update({"telemetry.distro.name": "opentelemetry-java-instrumentation", "telemetry.distro.version": "2.6.0"})
    if LANG[svc] == "nodejs":
        attrs["process.command"] = "/usr/src/app/server.js"
    return Resource(attrs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", default="http://127.0.0.1:4318")
    ap.add_argument("--seed", type=int, default=20261209)
    ap.add_argument("--traces", type=int, default=1500)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--require-logs", action="store_true")
    ap.add_argument("--no-send", action="store_true", help="build the corpus and write labels, send nothing")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    ids = SeededIds(args.seed)
    collect, collect_logs = Collect(), CollectLogs()
    tracers, loggers = {}, {}
    tps, lps = {}, {}
    for svc in LANG:
        tp = TracerProvider(resource=resource_for(svc), id_generator=ids)
        tp.add_span_processor(SimpleSpanProcessor(collect))
        lp = LoggerProvider(resource=resource_for(svc), shutdown_on_exit=False)
        lp.add_log_record_processor(SimpleLogRecordProcessor(collect_logs))
        tps[svc], lps[svc] = tp, lp

    def tracer(svc, scope):
        key = (svc, scope)
        if key not in tracers:
            name, ver = SCOPE.get(scope) or SCOPE.get(f"{LANG[svc]}.grpc") or ("unknown", "")
            tracers[key] = tps[svc].get_tracer(name, ver or None)
        return tracers[key]

    def logger(svc, scope):
        key = (svc, scope)
        if key not in loggers:
            loggers[key] = lps[svc].get_logger(scope or "")
        return loggers[key]

    now_ns = time.time_ns()
    horizon_ms = 3 * 3600 * 1000.0
    t_begin = now_ns - int(horizon_ms * 1e6) - 5 * 60 * 10**9

    # incident windows: one ~14 min window per kind, in a seeded order, spread over the 3 hours
    kinds = list(FAULTS)
    order = kinds[:]
    rng.shuffle(order)
    slot = horizon_ms / len(order)
    windows = {}
    for i, k in enumerate(order):
        w0 = i * slot + rng.uniform(0, slot - 14 * 60000)
        windows[k] = (w0, w0 + 14 * 60000)

    per_kind = max(12, round(args.traces * 0.02))
    n_health = round(args.traces * 0.07)
    noise_plan = {"bad_product": max(4, round(args.traces * 0.009)), "not_found": max(4, round(args.traces * 0.009)),
                  "amex_card": max(3, round(args.traces * 0.006)), "kestrel_warn": max(3, round(args.traces * 0.008)),
                  "redis_retry_ok": max(3, round(args.traces * 0.008)), "py_deprecation": max(3, round(args.traces * 0.007)),
                  "gc_tail": max(4, round(args.traces * 0.02))}
    n_fault = per_kind * len(kinds)
    n_noise = sum(noise_plan.values())
    n_healthy = max(0, args.traces - n_fault - n_noise - n_health)

    plan = []  # (kind or None, variant or noise, flow)
    for k in kinds:
        flows, variants = FAULTS[k]
        for _ in range(per_kind):
            plan.append((k, pick(rng, variants), pick(rng, {f: FAULT_FLOW_WEIGHT[f] for f in flows})))
    for nz, n in noise_plan.items():
        for _ in range(n):
            flow = {"bad_product": "browseProduct", "not_found": "notFound", "amex_card": "checkout",
                    "kestrel_warn": pick(rng, {"addToCart": 3, "checkout": 1}),
                    "redis_retry_ok": pick(rng, {"index": 1, "browseProduct": 3, "viewCart": 2}),
                    "py_deprecation": "checkout",
                    "gc_tail": pick(rng, {"browseProduct": 3, "checkout": 1, "viewCart": 1})}[nz]
            plan.append((None, nz, flow))
    for _ in range(n_health):
        plan.append((None, "health", "health"))
    for _ in range(n_healthy):
        plan.append((None, None, pick(rng, WEIGHTS)))
    rng.shuffle(plan)

    labels, meta_noise = {}, Counter()
    span_kinds, per_service, faults = Counter(), Counter(), Counter()
    events = 0
    error_status = 0
    n_logs = 0
    severe_logs = 0

    def emit(node, parent_span, trace_base, trace_id_box):
        nonlocal events, error_status
        if node.dropped:
            tid = trace_id_box[0]
            sc = SpanContext(trace_id=tid, span_id=ids.generate_span_id(), is_remote=False,
                             trace_flags=TraceFlags(TraceFlags.SAMPLED))
            span = NonRecordingSpan(sc)
        else:
            ctx = trace.set_span_in_context(parent_span) if parent_span is not None else Context()
            tr = tracer(node.svc, node.scope)
            span = tr.start_span(node.name, context=ctx, kind=node.kind, attributes=node.attrs,
                                 start_time=trace_base + int(node.start * 1e6))
            if trace_id_box[0] is None:
                trace_id_box[0] = span.get_span_context().trace_id
            for name, attrs, ts in node.events:
                span.add_event(name, attrs, timestamp=trace_base + int(ts * 1e6))
                events += 1
            if node.status:
                span.set_status(Status(node.status[0], node.status[1]))
                error_status += 1
            span_kinds[node.kind.name] += 1
            per_service[node.svc] += 1
            sctx = trace.set_span_in_context(span)
            for (ts, scope, num, text, body, attrs) in node.logs:
                tsn = trace_base + int(ts * 1e6)
                if isinstance(body, str) and "__TS__" in body:
                    body = body.replace("__TS__", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tsn / 1e9)) +
                                        ".%06dZ" % ((tsn // 1000) % 10**6))
                if isinstance(body, str) and "\"__MS__\"" in body:
                    body = body.replace("\"__MS__\"", str(tsn // 10**6))
                logger(node.svc, scope).emit(timestamp=tsn, observed_timestamp=tsn + 2_000_000, context=sctx,
                                             severity_number=SeverityNumber(num), severity_text=text, body=body,
                                             attributes=attrs)
        for ch in node.children:
            emit(ch, span, trace_base, trace_id_box)
        if not node.dropped:
            span.end(end_time=trace_base + int(node.end * 1e6))

    def draw_time(kind, flow, T):
        if kind:
            w0, w1 = windows[kind]
            return rng.uniform(w0, w1)
        for _ in range(200):
            at = rng.uniform(0, horizon_ms)
            clash = False
            for k, (w0, w1) in windows.items():
                if w0 <= at <= w1 and (flow == "health" and T.health_svc in FAULT_SERVICE[k] or
                                       flow != "health" and affects(k, flow, T)):
                    clash = True
                    break
            if not clash:
                return at
        return at

    for kind, variant, flow in plan:
        T = Trace(rng, kind, variant)
        T.pl_budget, T.pl_p = 0, 0.0
        if kind == "productcatalog_packet_loss":
            if variant == "reco" and flow not in ("browseProduct", "viewCart", "checkout"):
                variant = T.variant = ""
            T.pl_budget = 0 if variant == "reco" else 1
            T.pl_p = 0.6
        if kind == "currency_unsupported_code":
            T.currency = rng.choice(BROKEN_CURRENCIES)
        if variant == "gc_tail":
            T.gc_tail = (rng.choice(["checkoutservice", "recommendationservice", "cartservice.redis", "paymentservice"]),
                         rng.uniform(120, 420))
            if T.gc_tail[0] == "paymentservice" or T.gc_tail[0] == "checkoutservice":
                flow = "checkout"
        if variant == "health":
            T.health_svc = rng.choice(["frontend", "checkoutservice", "productcatalogservice", "shippingservice",
                                       "cartservice", "currencyservice", "paymentservice", "emailservice",
                                       "recommendationservice", "adservice"])
        else:
            T.health_svc = None
        at = draw_time(kind, flow, T)
        if flow == "health":
            root = h_health(T, 0.0)
        elif flow == "notFound":
            root = h_not_found(T, 0.0)
        elif variant == "bad_product":
            root = h_product(T, 0.0, pid="BADPRODUCT")
        else:
            root = FLOWS[flow](T, 0.0)
        if kind == "productcatalog_packet_loss" and T.pl_budget > 0 and variant == "":
            # the loss hit no call of this request: draw it again until it does
            for _ in range(20):
                T = Trace(rng, kind, variant)
                T.pl_budget, T.pl_p = 1, 1.0
                root = FLOWS[flow](T, 0.0)
                if T.pl_budget == 0:
                    break
        base = t_begin + int(at * 1e6)
        box = [None]
        emit(root, None, base, box)
        tid = "%032x" % box[0]
        if kind:
            labels[tid] = kind
            faults[kind] += 1
        elif variant:
            meta_noise[variant] += 1

    spans = collect.spans
    records = collect_logs.records
    n_logs = len(records)
    severe_logs = sum(1 for r in records if (r.log_record.severity_number.value if r.log_record.severity_number else 0) >= 13)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(labels, fh, indent=0, sort_keys=True)

    acked_spans = acked_logs = 0
    if not args.no_send:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        sx = OTLPSpanExporter(endpoint=args.otlp.rstrip("/") + "/v1/traces", timeout=60)
        lx = OTLPLogExporter(endpoint=args.otlp.rstrip("/") + "/v1/logs", timeout=60)
        B = 2000
        for i in range(0, len(spans), B):
            chunk = spans[i:i + B]
            if sx.export(chunk) == SpanExportResult.SUCCESS:
                acked_spans += len(chunk)
        for i in range(0, len(records), B):
            chunk = records[i:i + B]
            if lx.export(chunk) == LogRecordExportResult.SUCCESS:
                acked_logs += len(chunk)

    meta = {"seed": args.seed, "traces": len(plan), "spans": len(spans),
            "spans_acknowledged": acked_spans, "kinds": dict(span_kinds), "span_events": events,
            "spans_with_error_status": error_status, "logs": n_logs, "logs_warn_or_above": severe_logs,
            "logs_acknowledged": acked_logs, "faults": dict(sorted(faults.items())),
            "noise": dict(sorted(meta_noise.items())), "spans_per_service": dict(sorted(per_service.items())),
            "windows_minutes_from_start": {k: [round(w[0] / 60000, 1), round(w[1] / 60000, 1)] for k, w in
                                           sorted(windows.items())}}
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps(meta))
    if not args.no_send:
        if acked_spans != len(spans):
            sys.exit(f"only {acked_spans} of {len(spans)} spans acknowledged")
        if acked_logs != n_logs or (args.require_logs and n_logs == 0):
            sys.exit(f"only {acked_logs} of {n_logs} log records acknowledged")


# which services' health checks are kept out of a kind's window (a probe there would be slow or fail)
FAULT_SERVICE = {
    "shipping_network_delay": {"shippingservice"}, "productcatalog_packet_loss": {"productcatalogservice"},
    "currency_cpu_stress": {"currencyservice"}, "checkout_oom_restart": {"checkoutservice"},
    "redis_cart_pod_kill": {"cartservice"}, "currency_unsupported_code": set(),
    "productcatalog_empty_catalog": set(), "adservice_exception_warn": set(), "email_dns_failure": set(),
    "payment_port_misconfig": set(),
}

if __name__ == "__main__":
    main()
