#!/usr/bin/env python3
"""Held-out corpus #3 for semtrace: a train-ticket-like microservice system, sent with the
OpenTelemetry Python SDK (traces to <otlp>/v1/traces, log records to <otlp>/v1/logs).

Thirty-odd services (Java/Spring Boot ts-*-service behind a Spring Cloud Gateway, two Go services,
two Node services, four Python services), each with its own TracerProvider and Resource; the
services that ship their logs over OTLP also get a LoggerProvider with the same Resource and a
LoggingHandler on their Python loggers. Failures are told the way such systems tell them: very
often only in log lines (span events in several logging conventions, or OTLP log records carrying
the span's trace and span ids) while the span's status stays unset, in the application's own
dialect ("[cancelOrder][Cancel Order Failed][...]"), with parents that wrap the cause generically.
Some faults are latency only. Most traffic is healthy and logs routine lines too.

The label of a faulty trace (its fault kind) is written to labels.json from the trace ids the SDK
really sent; nothing in the telemetry names the label.

Usage: corpus.py --otlp http://127.0.0.1:4318 [--traces 2400] [--seed 20250301] [--out DIR]
                 [--require-logs]

--require-logs (or HELDOUT3_REQUIRE_LOGS=1) makes the run fail (exit status 1) when any log record
was not acknowledged by <otlp>/v1/logs; without it, log export failures are only counted in
corpus_meta.json (logs_sent / logs_acknowledged / log_export_failures) and warned about.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
import warnings
from collections import Counter

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER = (
    SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER)
ERROR = StatusCode.ERROR

R = random.Random(0)  # reseeded in main()

# ---------------------------------------------------------------------------------------------
# Services. logs: how the service's log lines reach the trace store
#   logback  span events "log": log.severity / log.message / log.logger / thread.name
#   json     span events "log": severity / message / logger_name / thread_name / stack_trace
#   ot       OpenTracing span logs: event (level or "error") / message / error.kind / error.object / stack
#   zap      span events "log": level / msg / caller / logger / error
#   logrus   span events "log": log.level / body (the logfmt line)
#   pino     span events "log": severity_text / severity_number / body (the pino JSON line)
#   winston  span events "log": level / message / service
#   otlp     OTLP log records through Python logging + LoggingHandler, with trace context
# clients: the service's outgoing HTTP calls make client spans; db: its database calls make spans
# ---------------------------------------------------------------------------------------------
J_OLD = dict(stack="java", agent="1.32.1", semconv="old", runtime=("OpenJDK Runtime Environment", "1.8.0_402-b06"))
J_NEW = dict(stack="java", agent="2.10.0", semconv="new", runtime=("OpenJDK Runtime Environment", "17.0.12+7"))


def _j(base, port, logs, pkg, cls, version="1.0.0", clients=True, db=True, **kw):
    d = dict(base, port=port, logs=logs, pkg=pkg, cls=cls, version=version, clients=clients, db=db)
    d.update(kw)
    return d


SERVICES = {
    "ts-gateway-service": _j(J_NEW, 18888, "logback", "gateway", "Gateway", "1.2.0", gateway=True),
    "ts-auth-service": _j(J_OLD, 12340, "logback", "auth", "User", "1.0.3"),
    "ts-user-service": _j(J_NEW, 12342, "json", "user", "User", "1.0.3"),
    "ts-verification-code-service": _j(J_OLD, 15678, "logback", "verifycode", "VerifyCode", "1.0.1"),
    "ts-travel-service": _j(J_OLD, 12346, "ot", "travel", "Travel", "1.1.0", clients=False),
    "ts-station-service": _j(J_OLD, 12345, "logback", "fdse.microservice", "Station", "1.0.2"),
    "ts-train-service": _j(J_OLD, 14567, "json", "train", "Train", "1.0.2"),
    "ts-route-service": _j(J_OLD, 11178, "logback", "route", "Route", "1.0.2"),
    "ts-price-service": _j(J_OLD, 16579, "json", "price", "Price", "1.0.2", db=False),
    "ts-basic-service": _j(J_OLD, 15680, "ot", "fdse.microservice.basic", "Basic", "1.0.4", clients=False),
    "ts-seat-service": _j(J_OLD, 18898, "logback", "seat", "Seat", "1.1.2"),
    "ts-config-service": _j(J_OLD, 15679, "json", "config", "Config", "1.0.1", db=False),
    "ts-contacts-service": _j(J_OLD, 12347, "json", "contacts", "Contacts", "1.0.2"),
    "ts-order-service": _j(J_OLD, 12031, "logback", "order", "Order", "1.2.5"),
    "ts-order-other-service": _j(J_NEW, 12032, "otlp", "other", "OrderOther", "1.2.5"),
    "ts-preserve-service": _j(J_OLD, 14568, "ot", "preserve", "Preserve", "1.1.0", clients=False),
    "ts-security-service": _j(J_OLD, 11188, "json", "security", "Security", "1.0.1", db=False),
    "ts-inside-payment-service": _j(J_OLD, 18673, "logback", "inside_payment", "InsidePayment", "1.0.6"),
    "ts-payment-service": _j(J_NEW, 19001, "json", "com.trainticket", "Payment", "1.0.6", db=False),
    "ts-cancel-service": _j(J_OLD, 18885, "ot", "cancel", "Cancel", "1.0.3", clients=False),
    "ts-rebook-service": _j(J_OLD, 18886, "logback", "rebook", "Rebook", "1.0.3"),
    "ts-execute-service": _j(J_OLD, 12386, "json", "execute", "Execute", "1.0.2"),
    "ts-food-service": _j(J_OLD, 18856, "logback", "foodsearch", "Food", "1.0.4"),
    "ts-consign-service": _j(J_NEW, 16111, "otlp", "consign", "Consign", "1.0.2"),
    "ts-assurance-service": _j(J_OLD, 18889, "json", "assurance", "Assurance", "1.0.1"),
    "ts-admin-order-service": _j(J_OLD, 16112, "logback", "adminorder", "AdminOrder", "1.0.1"),
    "ts-news-service": dict(stack="go", port=12862, logs="zap", version="0.3.1", clients=False, db=False,
                            runtime=("go", "go1.21.6")),
    "ts-seat-allocator": dict(stack="go", port=50051, logs="logrus", version="2.4.0", clients=True, db=True,
                              runtime=("go", "go1.22.3")),
    "ts-sms-gateway": dict(stack="go", port=9090, logs="logrus", version="1.8.2", clients=True, db=False,
                           runtime=("go", "go1.22.3")),
    "ts-ticket-office-service": dict(stack="node", port=16108, logs="pino", version="1.4.0", clients=True, db=True,
                                     runtime=("nodejs", "18.19.1")),
    "ts-notification-service": dict(stack="node", port=17853, logs="winston", version="2.0.1", clients=True, db=True,
                                    runtime=("nodejs", "20.11.1")),
    "ts-voucher-service": dict(stack="python", port=16101, logs="otlp", version="1.0.0", clients=False, db=False,
                               runtime=("cpython", "3.8.18"), pylog="voucher"),
    "ts-avatar-service": dict(stack="python", port=17001, logs="otlp", version="0.9.2", clients=True, db=True,
                              runtime=("cpython", "3.10.13"), pylog="avatar"),
    "ts-report-service": dict(stack="python", port=16120, logs="otlp", version="1.3.0", clients=True, db=True,
                              runtime=("cpython", "3.11.8"), pylog="report"),
    "ts-delivery-service": dict(stack="python", port=0, logs="otlp", version="1.1.4", clients=True, db=True,
                                runtime=("cpython", "3.11.8"), pylog="delivery"),
}

GO_SCOPES = {
    "server": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.46.1"),
    "client": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.46.1"),
    "grpc": ("go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "0.46.1"),
    "redis": ("github.com/redis/go-redis/extra/redisotel", "9.0.5"),
    "db": ("github.com/XSAM/otelsql", "0.27.0"),
}
NODE_SCOPES = {
    "server": ("@opentelemetry/instrumentation-http", "0.49.1"),
    "client": ("@opentelemetry/instrumentation-http", "0.49.1"),
    "express": ("@opentelemetry/instrumentation-express", "0.36.1"),
    "mongo": ("@opentelemetry/instrumentation-mongodb", "0.41.0"),
    "redis": ("@opentelemetry/instrumentation-ioredis", "0.38.0"),
    "grpc": ("@opentelemetry/instrumentation-grpc", "0.49.1"),
}
PY_SCOPES = {
    "server": ("opentelemetry.instrumentation.flask", "0.44b0"),
    "client": ("opentelemetry.instrumentation.requests", "0.44b0"),
    "db": ("opentelemetry.instrumentation.sqlalchemy", "0.44b0"),
    "mongo": ("opentelemetry.instrumentation.pymongo", "0.44b0"),
    "redis": ("opentelemetry.instrumentation.redis", "0.44b0"),
    "aws": ("opentelemetry.instrumentation.botocore", "0.44b0"),
    "messaging": ("opentelemetry.instrumentation.pika", "0.44b0"),
}
JAVA_SCOPES = {
    "server": "io.opentelemetry.tomcat-7.0", "controller": "io.opentelemetry.spring-webmvc-3.1",
    "client": "io.opentelemetry.http-url-connection", "db": "io.opentelemetry.jdbc",
    "mongo": "io.opentelemetry.mongo-3.1", "redis": "io.opentelemetry.lettuce-5.1",
    "jedis": "io.opentelemetry.jedis-3.0", "grpc": "io.opentelemetry.grpc-1.6",
    "messaging": "io.opentelemetry.rabbitmq-2.7", "gw_server": "io.opentelemetry.netty-4.1",
    "gw_client": "io.opentelemetry.reactor-netty-1.0", "gw_filter": "io.opentelemetry.spring-webflux-5.3",
}


def meta(svc):
    return SERVICES[svc]


def stack(svc):
    return SERVICES[svc]["stack"]


def new_sc(svc):
    return SERVICES[svc].get("semconv") == "new"


def resource_for(svc, rng):
    m = SERVICES[svc]
    st = m["stack"]
    lang = {"java": "java", "go": "go", "node": "nodejs", "python": "python"}[st]
    pod = f"{svc}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(9))}-" \
          f"{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
    a = {"service.name": svc, "service.namespace": "train-ticket", "service.version": m["version"],
         "service.instance.id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
         "telemetry.sdk.language": lang, "telemetry.sdk.name": "opentelemetry",
         "host.name": pod, "host.arch": "amd64", "os.type": "linux",
         "k8s.namespace.name": "train-ticket", "k8s.pod.name": pod, "k8s.deployment.name": svc,
         "k8s.node.name": f"tt-worker-{rng.randint(1, 6)}",
         "k8s.cluster.name": "tt-prod-sh1",
         "container.id": "".join(rng.choice("0123456789abcdef") for _ in range(64)),
         "process.runtime.name": m["runtime"][0], "process.runtime.version": m["runtime"][1],
         "process.pid": 1 if st != "python" else rng.randint(7, 40)}
    if st == "java":
        a["telemetry.sdk.version"] = "1.31.0" if m["agent"].startswith("1.") else "1.44.1"
        a["telemetry.distro.name"] = "opentelemetry-java-instrumentation"
        a["telemetry.distro.version"] = m["agent"]
        a["telemetry.auto.version"] = m["agent"]
        a["process.executable.path"] = "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java" \
            if m["semconv"] == "old" else "/opt/java/openjdk/bin/java"
        a["process.command_line"] = f"java -javaagent:/otel/opentelemetry-javaagent.jar -Xmx200m -jar /app/{svc}-1.0.jar"
        if m["logs"] == "ot":
            a["telemetry.sdk.name"] = "opentelemetry"
            a["opentracing.shim"] = True
    elif st == "go":
        a["telemetry.sdk.version"] = "1.24.0"
        a["process.executable.name"] = svc
    elif st == "node":
        a["telemetry.sdk.version"] = "1.22.0"
        a["process.executable.name"] = "node"
        a["process.command"] = "/app/index.js"
    else:
        a["telemetry.sdk.version"] = "1.23.0"
        a["process.executable.name"] = "python"
        a["telemetry.auto.version"] = "0.44b0"
    if m.get("semconv") == "new":
        a["deployment.environment.name"] = "prod"
    else:
        a["deployment.environment"] = "prod"
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


class CountingSpanExporter(OTLPSpanExporter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ok = self.failed = 0
        self.lock = threading.Lock()

    def export(self, spans):
        res = super().export(spans)
        with self.lock:
            if res == SpanExportResult.SUCCESS:
                self.ok += len(spans)
            else:
                self.failed += len(spans)
        return res


class CountingLogExporter(OTLPLogExporter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ok = self.failed = 0
        self.lock = threading.Lock()

    def export(self, batch):
        try:
            res = super().export(batch)
        except Exception:  # noqa: BLE001 - counted, never fatal for logs
            res = LogRecordExportResult.FAILURE
        with self.lock:
            if res == LogRecordExportResult.SUCCESS:
                self.ok += len(batch)
            else:
                self.failed += len(batch)
        return res


class VirtualClock(logging.Filter):
    """Gives a log record the time (and source position) of the simulated event."""

    def filter(self, rec):
        d = rec.__dict__
        ts = d.pop("_ts", None)
        if ts is not None:
            rec.created = ts / 1e9
            rec.msecs = (ts // 1_000_000) % 1000
        if "_file" in d:
            rec.pathname = d.pop("_file")
            rec.filename = os.path.basename(rec.pathname)
        if "_func" in d:
            rec.funcName = d.pop("_func")
        if "_line" in d:
            rec.lineno = d.pop("_line")
        if "_name" in d:
            rec.name = d.pop("_name")
        return True


PY_LEVEL = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


class Env:
    def __init__(self, otlp, id_rng, res_rng):
        base = otlp.rstrip("/")
        ids = SeededIds(id_rng)
        self.providers, self.tracers, self.span_exps = {}, {}, []
        self.log_providers, self.log_exps, self.handlers, self.loggers = {}, [], {}, {}
        self.logs_sent = Counter()
        for svc, m in SERVICES.items():
            res = resource_for(svc, res_rng)
            exp = CountingSpanExporter(endpoint=base + "/v1/traces", timeout=30)
            tp = TracerProvider(resource=res, id_generator=ids)
            tp.add_span_processor(BatchSpanProcessor(exp, max_queue_size=400000, max_export_batch_size=512,
                                                     schedule_delay_millis=500))
            self.providers[svc] = tp
            self.span_exps.append(exp)
            if m["logs"] == "otlp":
                lexp = CountingLogExporter(endpoint=base + "/v1/logs", timeout=30)
                lp = LoggerProvider(resource=res, shutdown_on_exit=False)
                lp.add_log_record_processor(BatchLogRecordProcessor(lexp, schedule_delay_millis=500,
                                                                    max_export_batch_size=512,
                                                                    max_queue_size=400000))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    h = LoggingHandler(level=logging.DEBUG, logger_provider=lp)
                h.addFilter(VirtualClock())
                self.log_providers[svc] = lp
                self.log_exps.append(lexp)
                self.handlers[svc] = h

    def tracer(self, svc, scope):
        key = (svc, scope)
        if key not in self.tracers:
            m = SERVICES[svc]
            st = m["stack"]
            if st == "java":
                if m["logs"] == "ot" and scope in ("server", "controller", "app"):
                    name, ver = "opentracing-shim", None
                elif scope == "app":
                    name, ver = "io.opentelemetry.opentelemetry-instrumentation-annotations-1.16", m["agent"] + "-alpha"
                else:
                    name, ver = JAVA_SCOPES[scope], m["agent"] + "-alpha"
            elif st == "go":
                name, ver = GO_SCOPES.get(scope, (f"github.com/fudanselab/{svc}/internal", None))
            elif st == "node":
                name, ver = NODE_SCOPES.get(scope, (svc, m["version"]))
            else:
                name, ver = PY_SCOPES.get(scope, (m["pylog"] + ".app", None))
            self.tracers[key] = self.providers[svc].get_tracer(name, ver)
        return self.tracers[key]

    def logger(self, svc, name):
        """A Python logger private to the service (Python loggers are process-wide); the record
        gets the real logger name back in VirtualClock, so the OTLP scope is e.g. the Java class."""
        key = (svc, name)
        if key not in self.loggers:
            lg = logging.getLogger(f"semtrace-heldout3.{svc}.{name}")
            lg.setLevel(logging.DEBUG)
            lg.propagate = False
            lg.addHandler(self.handlers[svc])
            self.loggers[key] = lg
        return self.loggers[key]

    def pylog(self, svc, ts_ns, level, msg, logger, exc, extra, code):
        """One log record through Python logging (and the service's LoggingHandler)."""
        lg = self.logger(svc, logger)
        ex = {"_ts": ts_ns, "_name": logger}
        if code:
            ex["_file"], ex["_func"], ex["_line"] = code
        for k, v in (extra or {}).items():
            if v is not None:
                ex[k] = v
        if exc:
            ex["exception.type"] = exc[0]
            ex["exception.message"] = exc[1]
            if len(exc) > 2 and exc[2]:
                ex["exception.stacktrace"] = exc[2]
        lg.log(PY_LEVEL[level], msg, extra=ex)
        self.logs_sent[svc] += 1

    def close(self):
        for tp in self.providers.values():
            tp.force_flush(180000)
        for lp in self.log_providers.values():
            lp.force_flush(180000)
        for tp in self.providers.values():
            tp.shutdown()
        for lp in self.log_providers.values():
            lp.shutdown()
        return (sum(e.ok for e in self.span_exps), sum(e.failed for e in self.span_exps),
                sum(e.ok for e in self.log_exps), sum(e.failed for e in self.log_exps))


# ---------------------------------------------------------------------------------------------
# Volatile values
# ---------------------------------------------------------------------------------------------
STATIONS = ["Shang Hai", "Bei Jing", "Nan Jing", "Su Zhou", "Tai Yuan", "Shi Jia Zhuang", "Xu Zhou", "Ji Nan",
            "Hang Zhou", "Shang Hai Hong Qiao", "Jia Xing Nan", "Wu Xi", "Zhen Jiang", "Bei Jing Nan", "Tian Jin Xi"]
CITIES = [("Shanghai", "Shanghai"), ("Jiangsu", "Nanjing"), ("Jiangsu", "Suzhou"), ("Zhejiang", "Hangzhou"),
          ("Beijing", "Beijing"), ("Shandong", "Jinan"), ("Shanxi", "Taiyuan"), ("Hebei", "Shijiazhuang")]
USERS = ["fdse_microservice", "admin", "jchen", "lwang", "mzhao", "yliu", "hsun", "qzhou", "xli88", "tang_wei", "zyang"]


def pick(seq):
    return R.choice(seq)


def uid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


def hexs(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


def ip():
    return f"10.{R.choice([42, 43, 44])}.{R.randint(0, 255)}.{R.randint(2, 254)}"


def eport():
    return R.randint(32768, 60999)


def trip_id():
    return f"{pick('GDZKT')}{R.randint(1, 9)}{R.randint(100, 999)}"


def travel_date(days=None):
    d = dt.date.fromtimestamp(NOW) + dt.timedelta(days=R.randint(0, 20) if days is None else days)
    return d.isoformat()


def seat_no():
    return f"{R.randint(1, 18):02d}{pick('ABCDF')}"


def phone():
    return f"1{pick('35789')}{R.randint(0, 9)}{R.randint(10000000, 99999999)}"


def user():
    return pick(USERS)


def obj_hash():
    return hexs(R.choice([7, 8]))


NOW = time.time()


def iso(ts=None, ms=True):
    t = dt.datetime.fromtimestamp(NOW if ts is None else ts, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00" if ms else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def abbrev(name, width=36):
    """logback's %logger{36}: shorten leading package segments to their first letter."""
    parts = name.split(".")
    i = 0
    while len(".".join(parts)) > width and i < len(parts) - 1:
        parts[i] = parts[i][0]
        i += 1
    return ".".join(parts)


# ---------------------------------------------------------------------------------------------
# Stack traces as the runtimes print them
# ---------------------------------------------------------------------------------------------
def jst(etype, msg, frames, causes=(), more=None):
    s = f"{etype}: {msg}\n" if msg else f"{etype}\n"
    s += "".join(f"\tat {f}\n" for f in frames)
    for ct, cm, cf in causes:
        s += f"Caused by: {ct}: {cm}\n" + "".join(f"\tat {f}\n" for f in cf) + f"\t... {R.randint(30, 90)} common frames omitted\n"
    return s.rstrip("\n")


def pyst(etype, msg, frames):
    s = "Traceback (most recent call last):\n"
    for f, ln, fn, src in frames:
        s += f'  File "{f}", line {ln}, in {fn}\n    {src}\n'
    return s + f"{etype}: {msg}"


def nodest(etype, msg, frames):
    return f"{etype}: {msg}\n" + "\n".join(f"    at {f}" for f in frames)


SPRING_MVC = ["org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
              "org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:909)",
              "javax.servlet.http.HttpServlet.service(HttpServlet.java:681)",
              "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
              "javax.servlet.http.HttpServlet.service(HttpServlet.java:764)"]
REST_TEMPLATE = ["org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:785)",
                 "org.springframework.web.client.RestTemplate.execute(RestTemplate.java:711)",
                 "org.springframework.web.client.RestTemplate.exchange(RestTemplate.java:602)"]


def jcls(svc, layer, suffix=""):
    """Full Java class name of one of a service's classes, e.g. order.service.OrderServiceImpl."""
    m = SERVICES[svc]
    name = {"controller": f"{m['cls']}Controller", "service": f"{m['cls']}ServiceImpl",
            "repository": f"{m['cls']}Repository", "config": "Application"}.get(layer, layer)
    pkg = m["pkg"] if m["pkg"].count(".") else f"{m['pkg']}"
    return f"{pkg}.{layer if layer in ('controller', 'service', 'repository') else 'config'}.{name}{suffix}"


def jframes(svc, method, extra=()):
    c = jcls(svc, "service")
    ctl = jcls(svc, "controller")
    cn = c.rsplit(".", 1)[1]
    return list(extra) + [f"{c}.{method}({cn}.java:{R.randint(60, 480)})",
                          f"{c}$$FastClassBySpringCGLIB$${hexs(8)}.invoke(<generated>)",
                          "org.springframework.cglib.proxy.MethodProxy.invoke(MethodProxy.java:218)",
                          f"{ctl}.{method}({ctl.rsplit('.', 1)[1]}.java:{R.randint(40, 160)})",
                          "sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
                          "org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:117)",
                          "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1067)"]


# ---------------------------------------------------------------------------------------------
# Span tree
# ---------------------------------------------------------------------------------------------
class Sp:
    def __init__(self, svc, name, kind=INTERNAL, attrs=None, ms=None, scope="app", pre=None):
        self.svc, self.name, self.kind, self.scope = svc, name, kind, scope
        self.attrs = dict(attrs or {})
        self.ms = R.uniform(0.3, 2.5) if ms is None else ms      # own time after the children
        self.pre = R.uniform(0.05, 0.6) if pre is None else pre  # own time before the first child
        self.fixed = None        # total duration forced (a client that stopped waiting)
        self.wait = None         # how long the parent waited for this span (None: until it ended)
        self.children, self.events, self.logs = [], [], []
        self.status = None
        self.parent = None

    def add(self, c):
        c.parent = self
        self.children.append(c)
        return c

    def log(self, level, msg, logger=None, exc=None, code=None, **extra):
        self.logs.append((level, msg, logger, exc, code, extra))
        return self

    def exc(self, etype, msg, stack=None, **extra):
        a = {"exception.type": etype, "exception.message": msg}
        if stack:
            a["exception.stacktrace"] = stack
        a.update(extra)
        self.events.append(("exception", a))

    def event(self, name, attrs=None):
        self.events.append((name, dict(attrs or {})))

    def error(self, desc=None):
        self.status = (ERROR, desc)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def count(self):
        return sum(1 for _ in self.walk())


PINO_HOST = "ts-ticket-office-service-6c9f7b8d5-x2k9q"
LEVEL_NUM = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}
PINO_NUM = {"DEBUG": 20, "INFO": 30, "WARN": 40, "ERROR": 50}


def render_log(sp, ts_ns, level, msg, logger, exc, extra, thread):
    """A log line as a span event, in the service's logging convention."""
    m = SERVICES[sp.svc]
    conv = m["logs"]
    extra = {k: v for k, v in (extra or {}).items() if v is not None}
    if conv == "logback":
        a = {"log.severity": level, "log.message": msg, "log.logger": abbrev(logger or jcls(sp.svc, "service")),
             "thread.name": thread}
        if exc:
            a["log.exception"] = exc[2] if len(exc) > 2 and exc[2] else f"{exc[0]}: {exc[1]}"
        a.update(extra)
        return "log", a
    if conv == "json":
        a = {"severity": "WARNING" if level == "WARN" else level, "message": msg,
             "logger_name": logger or jcls(sp.svc, "service"), "thread_name": thread,
             "@timestamp": iso(ts_ns / 1e9)}
        if exc:
            a["stack_trace"] = exc[2] if len(exc) > 2 and exc[2] else f"{exc[0]}: {exc[1]}"
        a.update(extra)
        return "log", a
    if conv == "ot":
        a = {"event": "error" if level == "ERROR" else level.lower(), "message": msg}
        if exc:
            a["error.kind"] = exc[0]
            a["error.object"] = f"{exc[0]}: {exc[1]}"
            if len(exc) > 2 and exc[2]:
                a["stack"] = exc[2]
        a.update(extra)
        return "log", a
    if conv == "zap":
        a = {"level": level.lower(), "msg": msg, "logger": logger or "news",
             "caller": extra.pop("caller", f"handler/{pick(['news', 'list', 'widget'])}.go:{R.randint(30, 220)}"),
             "ts": round(ts_ns / 1e9, 6)}
        if exc:
            a["error"] = exc[1]
            if level == "ERROR":
                a["stacktrace"] = (f"github.com/fudanselab/ts-news-service/handler.(*NewsHandler).List\n"
                                   f"\t/src/handler/news.go:{R.randint(60, 200)}\nnet/http.HandlerFunc.ServeHTTP\n"
                                   f"\t/usr/local/go/src/net/http/server.go:2136")
        a.update(extra)
        return "log", a
    if conv == "logrus":
        lv = {"WARN": "warning"}.get(level, level.lower())
        fields = "".join(f' {k}={json.dumps(v) if isinstance(v, str) and (" " in v or not v) else v}'
                         for k, v in extra.items())
        body = f'time="{iso(ts_ns / 1e9, ms=False)}" level={lv} msg={json.dumps(msg)}'
        if exc:
            body += f" error={json.dumps(exc[1])}"
        body += fields
        return "log", {"log.level": level, "body": body}
    if conv == "pino":
        if not hasattr(sp, "req_id"):
            sp.req_id = f"req-{R.randint(1, 65535):x}"
        o = {"level": PINO_NUM[level], "time": ts_ns // 1_000_000, "pid": 1, "hostname": PINO_HOST, "reqId": sp.req_id}
        o.update(extra)
        if exc:
            o["err"] = {"type": exc[0], "message": exc[1], "stack": exc[2] if len(exc) > 2 and exc[2] else f"{exc[0]}: {exc[1]}"}
        o["msg"] = msg
        return "log", {"severity_text": level, "severity_number": LEVEL_NUM[level],
                       "body": json.dumps(o, separators=(",", ":"))}
    if conv == "winston":
        a = {"level": {"WARN": "warn"}.get(level, level.lower()), "message": msg,
             "service": sp.svc, "timestamp": iso(ts_ns / 1e9)}
        if exc:
            a["stack"] = exc[2] if len(exc) > 2 and exc[2] else f"{exc[0]}: {exc[1]}"
        a.update(extra)
        return "log", a
    raise ValueError(conv)


def emit(sp, parent_ctx, start_ns, env):
    tracer = env.tracer(sp.svc, sp.scope)
    span = tracer.start_span(sp.name, context=parent_ctx, kind=sp.kind, attributes=sp.attrs, start_time=start_ns)
    if parent_ctx is None:
        ROOT_TID.append(span.get_span_context().trace_id)
    ctx = trace.set_span_in_context(span)
    t = start_ns + int(sp.pre * 1e6)
    for c in sp.children:
        c_end = emit(c, ctx, t, env)
        t = (t + int(c.wait * 1e6) if c.wait is not None else c_end) + int(R.uniform(0.05, 0.9) * 1e6)
    end = t + int(sp.ms * 1e6)
    if sp.fixed is not None:
        end = start_ns + int(sp.fixed * 1e6)
    dur = max(end - start_ns, 1000)
    for name, attrs in sp.events:
        span.add_event(name, attrs, timestamp=start_ns + int(dur * R.uniform(0.9, 0.99)))
    if sp.logs:
        fracs = sorted(R.uniform(0.02, 0.98) for _ in sp.logs)
        m = SERVICES[sp.svc]
        thread = ((f"reactor-http-epoll-{R.randint(1, 4)}" if m.get("gateway") else f"http-nio-{m['port']}-exec-{R.randint(1, 200)}")
                  if m["stack"] == "java" else None)
        if m["logs"] == "otlp":
            with trace.use_span(span, end_on_exit=False):
                for f, (level, msg, logger, exc, code, extra) in zip(fracs, sp.logs):
                    ex = dict(extra)
                    if m["stack"] == "java":
                        ex.setdefault("thread.name", thread)
                        ex.setdefault("thread.id", R.randint(30, 260))
                    env.pylog(sp.svc, start_ns + int(dur * f), level, msg, logger or default_logger(sp.svc),
                              exc, ex, code or default_code(sp.svc, logger))
        else:
            for f, (level, msg, logger, exc, code, extra) in zip(fracs, sp.logs):
                ts = start_ns + int(dur * f)
                name, attrs = render_log(sp, ts, level, msg, logger, exc, extra, thread)
                span.add_event(name, attrs, timestamp=ts)
    if sp.status:
        code, desc = sp.status
        span.set_status(Status(code, desc if code == ERROR else None))
    span.end(end_time=start_ns + dur)
    return start_ns + dur


def default_logger(svc):
    m = SERVICES[svc]
    if m["stack"] == "java":
        return jcls(svc, "service")
    return m["pylog"] + ".app"


def default_code(svc, logger):
    m = SERVICES[svc]
    lg = logger or default_logger(svc)
    if m["stack"] == "java":
        cls = lg.rsplit(".", 1)[-1]
        return (f"{cls}.java", pick(["getOrderById", "handle", "process", "queryAll", "create", "modify"]),
                R.randint(40, 420))
    mod = lg.split(".")
    return (f"/app/{'/'.join(mod)}.py", pick(["handle", "get_voucher", "export", "process", "run"]), R.randint(20, 300))


def emit_trace(env, root, start_ns):
    """Sends one trace; returns the trace id the SDK gave its root span."""
    ROOT_TID.clear()
    emit(root, None, start_ns, env)
    return format(ROOT_TID[0], "032x")


ROOT_TID = []


# ---------------------------------------------------------------------------------------------
# Requests handled by services, calls between them, datastores
# ---------------------------------------------------------------------------------------------
BROWSER_UA = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
              "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
              "Mozilla/5.0 (Linux; Android 13; M2102J2SC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36",
              "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"]
CALLER_UA = {"java": "Java/1.8.0_402", "go": "Go-http-client/1.1", "node": "axios/1.6.7", "python": "python-requests/2.31.0"}
GRPC_NAMES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
              9: "FAILED_PRECONDITION", 10: "ABORTED", 13: "INTERNAL", 14: "UNAVAILABLE"}


def set_code(sp, code):
    if sp is None:
        return
    if "http.request.method" in sp.attrs:
        sp.attrs["http.response.status_code"] = code
    else:
        sp.attrs["http.status_code"] = code


def server_attrs(svc, method, route, path, ua, peer):
    port = SERVICES[svc]["port"]
    p, _, q = path.partition("?")
    if new_sc(svc):
        a = {"http.request.method": method, "url.scheme": "http", "url.path": p, "http.route": route,
             "server.address": svc, "server.port": port, "network.protocol.version": "1.1",
             "client.address": peer, "network.peer.address": peer, "user_agent.original": ua}
        if q:
            a["url.query"] = q
        return a
    a = {"http.method": method, "http.scheme": "http", "http.target": path, "http.route": route,
         "net.host.name": svc, "net.host.port": port, "http.flavor": "1.1", "net.sock.peer.addr": peer,
         "http.user_agent": ua}
    if stack(svc) == "python":
        a["http.server_name"] = "0.0.0.0"
        a["http.host"] = f"{svc}:{port}"
    return a


def client_attrs(caller, method, url, host, port):
    if new_sc(caller):
        return {"http.request.method": method, "url.full": url, "server.address": host, "server.port": port,
                "network.protocol.version": "1.1"}
    return {"http.method": method, "http.url": url, "net.peer.name": host, "net.peer.port": port}


class H:
    """One request handled by one service: its server span, the span its own work hangs on (the
    controller span for entry services), the caller's client span if there is one, the caller."""

    def __init__(self, t, svc, server, work, client=None, up=None, method="GET", route="", path="", url=""):
        self.t, self.svc, self.server, self.work, self.client, self.up = t, svc, server, work, client, up
        self.method, self.route, self.path, self.url = method, route, path, url
        self.code = 200
        self.grpc = None       # (service, method) for a gRPC handler
        self.grpc_code = 0
        self.rest_at = None    # where the caller's RestTemplate debug lines go
        self.noresp = False    # the caller stopped waiting: its client span has no status code
        self.server_grpc_code = None
        t.hs.append(self)

    def log(self, level, msg, logger=None, exc=None, **extra):
        self.work.log(level, msg, logger, exc, **extra)
        return self

    def tt(self, level, method, what, detail=None, cls="service", exc=None, **extra):
        """A train-ticket style line: [method][What][detail]."""
        msg = f"[{method}][{what}]" + (f"[{detail}]" if detail else "")
        return self.log(level, msg, jcls(self.svc, cls) if stack(self.svc) == "java" else None, exc, **extra)

    # --- datastores ------------------------------------------------------------------------
    def sql(self, op, table, stmt, ms=None):
        ms = R.uniform(0.8, 6.0) if ms is None and op == "SELECT" else (R.uniform(1.5, 9.0) if ms is None else ms)
        m = SERVICES[self.svc]
        host = self.svc.replace("-service", "") + "-mysql"
        st = m["stack"]
        if st == "java":
            if new_sc(self.svc):
                a = {"db.system": "mysql", "db.namespace": "ts", "db.query.text": stmt, "db.operation.name": op,
                     "db.collection.name": table, "server.address": host, "server.port": 3306}
            else:
                a = {"db.system": "mysql", "db.connection_string": f"mysql://{host}:3306", "db.user": "root",
                     "db.name": "ts", "db.statement": stmt, "db.operation": op, "db.sql.table": table,
                     "net.peer.name": host, "net.peer.port": 3306}
            sp = Sp(self.svc, f"{op} ts.{table}", CLIENT, a, ms=ms, scope="db", pre=0.0)
        elif st == "go":
            sp = Sp(self.svc, "sql.conn.query" if op == "SELECT" else "sql.conn.exec", CLIENT,
                    {"db.system": "mysql", "db.statement": stmt}, ms=ms, scope="db", pre=0.0)
        else:
            sp = Sp(self.svc, f"{op} ts", CLIENT, {"db.system": "mysql", "db.name": "ts", "db.statement": stmt,
                                                   "db.user": "ts", "net.peer.name": host, "net.peer.port": 3306},
                    ms=ms, scope="db", pre=0.0)
        if m["db"]:
            self.work.add(sp)
        return sp

    def mongo(self, op, coll, stmt, ms=None):
        ms = R.uniform(0.8, 6.0) if ms is None else ms
        host = self.svc.replace("-service", "") + "-mongo"
        st = stack(self.svc)
        a = {"db.system": "mongodb", "db.name": "ts", "db.operation": op, "db.mongodb.collection": coll,
             "db.statement": stmt, "net.peer.name": host, "net.peer.port": 27017}
        name = {"java": f"{op} ts.{coll}", "node": f"mongodb.{op}", "python": f"{op}"}.get(st, op)
        sp = Sp(self.svc, name, CLIENT, a, ms=ms, scope="mongo", pre=0.0)
        self.work.add(sp)
        return sp

    def redis(self, cmd, key, args="", ms=None, client="lettuce"):
        ms = R.uniform(0.2, 1.6) if ms is None else ms
        st = stack(self.svc)
        stmt = f"{cmd} {key}" + (f" {args}" if args else "")
        a = {"db.system": "redis", "db.statement": stmt if st != "go" else stmt.lower(),
             "net.peer.name": "ts-redis-master", "net.peer.port": 6379}
        if st == "java" and client == "lettuce":
            a["db.statement"] = f"{cmd} {key}" + (" ?" if args else "")
        name = cmd if st == "java" else cmd.lower()
        sp = Sp(self.svc, name, CLIENT, a, ms=ms, scope="jedis" if client == "jedis" else "redis", pre=0.0)
        self.work.add(sp)
        return sp

    def s3(self, op, bucket, key, ms=None):
        ms = R.uniform(20, 140) if ms is None else ms
        a = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": op, "aws.region": "us-east-1",
             "aws.s3.bucket": bucket, "aws.s3.key": key, "http.status_code": 200,
             "aws.request_id": hexs(16).upper(), "server.address": "minio.storage.svc", "server.port": 9000}
        sp = Sp(self.svc, f"S3.{op}", CLIENT, a, ms=ms, scope="aws", pre=0.0)
        self.work.add(sp)
        return sp

    def inner(self, name, ms=None, attrs=None):
        sp = Sp(self.svc, name, INTERNAL, attrs or {}, ms=R.uniform(1, 20) if ms is None else ms, scope="app")
        self.work.add(sp)
        return sp


class T:
    """One trace being built, and the fault (if any) to inject at a named point."""

    def __init__(self, fault=None):
        self.fault = fault
        self.fired = False
        self.stop = False
        self.hs = []
        self.root = None

    def hook(self, point, **kw):
        if self.fault and not self.fired and self.fault[0] == point:
            self.fired = True
            self.fault[1](self, **kw)
            return True
        return False


def entry(t, method, path, prefix):
    """The Spring Cloud Gateway's server span for a browser request."""
    gw = "ts-gateway-service"
    srv = Sp(gw, f"{method} {prefix}/**", SERVER,
             server_attrs(gw, method, f"{prefix}/**", path, pick(BROWSER_UA), f"10.42.0.{R.randint(2, 40)}"),
             scope="gw_server")
    t.root = srv
    h = H(t, gw, srv, srv, method=method, route=f"{prefix}/**", path=path)
    return h


def call(t, up, svc, method, route, path, controller=None):
    """An HTTP call from up's service to svc: a client span (if the caller's instrumentation makes
    them) and svc's server span (plus its Spring MVC controller span when controller is given)."""
    caller = up.svc
    m = SERVICES[svc]
    port = m["port"]
    url = f"http://{svc}:{port}{path}"
    client = None
    parent = up.work
    if SERVICES[caller]["clients"]:
        cst = stack(caller)
        scope = "gw_client" if caller == "ts-gateway-service" else "client"
        name = {"go": f"HTTP {method}"}.get(cst, method)
        client = up.work.add(Sp(caller, name, CLIENT, client_attrs(caller, method, url, svc, port),
                                ms=R.uniform(0.2, 1.2), pre=R.uniform(0.3, 1.5), scope=scope))
        parent = client
    ua = CALLER_UA[stack(caller)] if caller != "ts-gateway-service" else pick(BROWSER_UA)
    name = route if m["stack"] == "python" else f"{method} {route}"
    srv = parent.add(Sp(svc, name, SERVER, server_attrs(svc, method, route, path, ua, ip()), scope="server",
                        ms=R.uniform(0.4, 2.5)))
    work = srv
    if controller and m["stack"] == "java":
        work = srv.add(Sp(svc, controller, INTERNAL, {"code.namespace": jcls(svc, "controller"),
                                                      "code.function": controller.split(".")[-1]},
                          scope="controller", pre=0.1, ms=R.uniform(0.1, 0.8)))
    elif m["stack"] == "node":
        work = srv.add(Sp(svc, f"request handler - {route}", INTERNAL,
                          {"http.route": route, "express.name": route, "express.type": "request_handler"},
                          scope="express", pre=R.uniform(0.2, 1.0), ms=R.uniform(0.1, 0.6)))
    h = H(t, svc, srv, work, client, up, method, route, path, url)
    if SERVICES[caller]["stack"] == "java" and SERVICES[caller]["logs"] in ("logback", "json") \
            and not SERVICES[caller].get("gateway") and R.random() < 0.45:
        h.rest_at = len(up.work.logs)
    return h


def grpc_call(t, up, svc, service, method):
    caller = up.svc
    port = SERVICES[svc]["port"]
    parent = up.work
    client = None
    if SERVICES[caller]["clients"] or stack(caller) == "go":
        a = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        if new_sc(caller):
            a.update({"server.address": svc, "server.port": port})
        else:
            a.update({"net.peer.name": svc, "net.peer.port": port})
        client = up.work.add(Sp(caller, f"{service}/{method}", CLIENT, a, ms=R.uniform(0.2, 1.0),
                                pre=R.uniform(0.2, 0.9), scope="grpc"))
        parent = client
    srv = parent.add(Sp(svc, f"{service}/{method}", SERVER,
                        {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
                         "net.sock.peer.addr": ip(), "net.sock.peer.port": eport()},
                        scope="grpc", ms=R.uniform(0.1, 0.9)))
    h = H(t, svc, srv, srv, client, up, "POST", f"/{service}/{method}", f"/{service}/{method}")
    h.grpc = (service, method)
    return h


def finalize(t):
    """Status codes on server/client spans, RestTemplate debug lines, access-log lines."""
    for h in reversed(t.hs):
        if h.grpc:
            c = h.grpc_code
            sc = c if h.server_grpc_code is None else h.server_grpc_code
            h.server.attrs["rpc.grpc.status_code"] = sc
            if h.client is not None:
                h.client.attrs["rpc.grpc.status_code"] = c
                if c != 0 and h.client.status is None:
                    h.client.error(getattr(h, "client_desc", None))
            if sc in (2, 4, 13, 14) and h.server.status is None:
                h.server.error(getattr(h, "server_desc", None))
            continue
        set_code(h.server, h.code)
        if not h.noresp:
            set_code(h.client, h.code)
        if h.code >= 500 and h.server.status is None:
            h.server.error()
        if h.client is not None and h.code >= 400 and h.client.status is None and not h.noresp:
            h.client.error()
        if h.rest_at is not None and h.up is not None:
            reason = {200: "OK", 404: "NOT_FOUND", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}.get(h.code, "")
            lines = [("DEBUG", f"HTTP {h.method} {h.url}"), ("DEBUG", "Accept=[application/json, application/*+json]")]
            if h.client is None or h.client.fixed is None:
                lines.append(("DEBUG", f"Response {h.code} {reason}"))
            for lv, msg in reversed(lines):
                h.up.work.logs.insert(h.rest_at, (lv, msg, "org.springframework.web.client.RestTemplate", None, None, {}))
        st = stack(h.svc)
        if st == "node" and SERVICES[h.svc]["logs"] == "pino":
            h.log("ERROR" if h.code >= 500 else ("WARN" if h.code >= 400 else "INFO"), "request completed",
                  res={"statusCode": h.code}, responseTime=R.randint(2, 60), req={"method": h.method, "url": h.path})
        elif st == "node":
            h.log("INFO", f"{h.method} {h.path} {h.code} {R.randint(2, 60)}ms")
        elif st == "python" and h.svc != "ts-delivery-service":
            h.log("INFO", f'{h.server.attrs.get("net.sock.peer.addr", "10.42.1.7")} - - "{h.method} {h.path} HTTP/1.1" {h.code} {R.randint(40, 900)}',
                  logger=SERVICES[h.svc]["pylog"] + ".access")
        elif st == "go" and h.svc == "ts-news-service":
            h.log("INFO", "request served", method=h.method, path=h.path, status=h.code)


# ---------------------------------------------------------------------------------------------
# How failures travel up: a caller's answer when its callee failed
# ---------------------------------------------------------------------------------------------
TOMCAT = "org.apache.catalina.core.ContainerBase.[Tomcat].[localhost].[/].[dispatcherServlet]"


def java_throw(h, etype, emsg, stack_=None, code=500):
    """An exception thrown out of a Spring MVC controller: recorded by the agent on the controller
    and server spans (the servlet's wrapper), logged by Tomcat, answered with a 500."""
    stack_ = stack_ or jst(etype, emsg, jframes(h.svc, "handle"))
    wrapper = f"Request processing failed; nested exception is {etype}: {emsg}"
    if SERVICES[h.svc]["logs"] == "ot":
        h.log("ERROR", wrapper, exc=(etype, emsg, stack_))
        h.server.error()
        if h.work is not h.server:
            h.work.error()
    else:
        if h.work is not h.server:
            h.work.exc(etype, emsg, stack_)
            h.work.error()
        h.server.exc("org.springframework.web.util.NestedServletException", wrapper,
                     jst("org.springframework.web.util.NestedServletException", wrapper, SPRING_MVC,
                         [(etype, emsg, jframes(h.svc, "handle")[:4])]))
        h.log("ERROR", f"Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception "
                       f"[{wrapper}] with root cause", logger=TOMCAT if SERVICES[h.svc]["logs"] != "logback"
              else "o.a.c.c.C.[.[.[/].[dispatcherServlet]", exc=(etype, emsg, stack_))
    h.code = code


def fail_up(h, until=None, code=500):
    """Each caller above h fails in turn with its stack's generic wrapper of the callee's 500."""
    cur = h
    while cur.up is not None and cur is not until:
        up = cur.up
        st = stack(up.svc)
        if up.svc == "ts-gateway-service":
            up.code = 500 if cur.code in (500, 504) or cur.grpc else cur.code
            break
        if cur.grpc:
            g = GRPC_NAMES.get(cur.grpc_code, "UNKNOWN")
            desc = getattr(cur, "server_desc", None) or g.lower()
            if st == "java":
                java_throw(up, "io.grpc.StatusRuntimeException", f"{g}: {desc}")
            else:
                up.log("ERROR", "upstream rpc failed", exc=("status.Error", f"rpc error: code = {g.title().replace('_', '')} desc = {desc}"))
                up.code = 500
        elif st == "java":
            body = (f'500 : [{{"timestamp":"{iso(NOW - R.uniform(60, 10800))}","status":500,"error":"Internal Server Error",'
                    f'"path":"{cur.path.split("?")[0]}"}}]')
            java_throw(up, "org.springframework.web.client.HttpServerErrorException$InternalServerError", body,
                       jst("org.springframework.web.client.HttpServerErrorException$InternalServerError", body,
                           ["org.springframework.web.client.HttpServerErrorException.create(HttpServerErrorException.java:100)",
                            "org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler.java:188)",
                            "org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler.java:125)",
                            "org.springframework.web.client.ResponseErrorHandler.handleError(ResponseErrorHandler.java:63)",
                            "org.springframework.web.client.RestTemplate.handleResponse(RestTemplate.java:819)"]
                           + REST_TEMPLATE + jframes(up.svc, "handle")[:3]))
        elif st == "node":
            up.log("ERROR", f"call to {cur.svc} failed",
                   exc=("AxiosError", "Request failed with status code 500",
                        nodest("AxiosError", "Request failed with status code 500",
                               ["settle (/app/node_modules/axios/dist/node/axios.cjs:1966:12)",
                                "IncomingMessage.handleStreamEnd (/app/node_modules/axios/dist/node/axios.cjs:3065:11)",
                                "IncomingMessage.emit (node:events:529:35)"])))
            up.code = 500
        elif st == "python":
            up.log("ERROR", f"Exception on {up.path.split('?')[0]} [{up.method}]",
                   exc=("requests.exceptions.HTTPError", f"500 Server Error:  for url: {cur.url}", None))
            up.code = 500
        else:
            up.log("ERROR", "upstream call failed", exc=("error", f"unexpected status 500 from {cur.svc}"))
            up.code = 500
        cur = up


# ---------------------------------------------------------------------------------------------
# Flows (healthy unless a fault hook changes them)
# ---------------------------------------------------------------------------------------------
def gw_call(t, gw, svc, method, route, path, controller=None):
    h = call(t, gw, svc, method, route, path, controller)
    t.hook("gw.call", gw=gw, h=h)
    return h


SQL_ORDER_BY_ID = ("select order0_.id as id1_0_0_, order0_.account_id as account_2_0_0_, order0_.bought_date as bought_d3_0_0_, "
                   "order0_.coach_number as coach_nu4_0_0_, order0_.contacts_document_number as contacts5_0_0_, "
                   "order0_.price as price9_0_0_, order0_.status as status13_0_0_, order0_.train_number as train_n14_0_0_ "
                   "from orders order0_ where order0_.id=?")
SQL_ORDERS_BY_ACCOUNT = ("select order0_.id as id1_0_, order0_.account_id as account_2_0_, order0_.from_station as from_sta7_0_, "
                         "order0_.status as status13_0_, order0_.to_station as to_stati15_0_, order0_.travel_date as travel_16_0_ "
                         "from orders order0_ where order0_.account_id=?")
SQL_SOLD = ("select order0_.seat_number as seat_num1_0_, order0_.from_station as from_sta2_0_, order0_.to_station as to_stati3_0_ "
            "from orders order0_ where order0_.travel_date=? and order0_.train_number=?")
SQL_STATION_IDS = ("select station0_.id as id1_0_, station0_.name as name2_0_, station0_.stay_time as stay_tim3_0_ "
                   "from station station0_ where station0_.name in (? , ?)")
SQL_STATION_NAMES = "select station0_.id as id1_0_, station0_.name as name2_0_ from station station0_ where station0_.id in (? , ? , ?)"
SQL_UPDATE_ORDER = "update orders set status=?, seat_number=?, coach_number=?, price=? where id=?"


def order_get(t, up, oid, other=False, cache=None):
    """ts-order-service (or -other) answering GET order/{orderId}."""
    svc = "ts-order-other-service" if other else "ts-order-service"
    base = "/api/v1/orderOtherService/orderOther" if other else "/api/v1/orderservice/order"
    od = call(t, up, svc, "GET", base + "/{orderId}", f"{base}/{oid}")
    od.tt("INFO", "getOrderById", "Get Order By Id", f"OrderId: {oid}")
    if cache if cache is not None else (not other and R.random() < 0.4):
        od.cache = od.redis("GET", f"ts:order:{oid}")
        od.tt("DEBUG", "getOrderById", "Cache Miss", f"key: ts:order:{oid}", cls="repository")
    od.q = od.sql("SELECT", "orders_other" if other else "orders", SQL_ORDER_BY_ID.replace("orders", "orders_other") if other else SQL_ORDER_BY_ID)
    return od


def f_login(t):
    name, code = user(), str(R.randint(1000, 9999))
    gw = entry(t, "POST", "/api/v1/users/login", "/api/v1/users")
    au = gw_call(t, gw, "ts-auth-service", "POST", "/api/v1/users/login", "/api/v1/users/login", "UserController.getToken")
    au.tt("INFO", "getToken", "Login", f"username: {name}", cls="controller")
    vc = call(t, au, "ts-verification-code-service", "GET", "/api/v1/verifycode/verify/{verifyCode}",
              f"/api/v1/verifycode/verify/{code}", "VerifyCodeController.verifyCode")
    vc.redis("GET", f"verifycode:{hexs(32)}")
    vc.tt("INFO", "verifyCode", "Verify Code", f"receivedCode: {code}")
    t.hook("login.verify", au=au, vc=vc)
    if t.stop:
        return
    q = au.sql("SELECT", "auth_user", "select user0_.user_id as user_id1_1_, user0_.password as password2_1_, "
                                      "user0_.username as username3_1_ from auth_user user0_ where user0_.username=?")
    t.hook("login.select", au=au, q=q)
    if t.stop:
        return
    au.tt("DEBUG", "getToken", "Password Matched", f"username: {name}")
    r = au.redis("SETEX", f"token:{uid()}", "3600 ?", client="jedis")
    t.hook("login.token_cache", au=au, r=r)
    if t.stop:
        return
    au.tt("INFO", "getToken", "Login Success", f"userId: {uid()}, username: {name}")


def f_trips(t):
    a, b = R.sample(STATIONS, 2)
    day, trip = travel_date(), trip_id()
    gw = entry(t, "POST", "/api/v1/travelservice/trips/left", "/api/v1/travelservice")
    tr = gw_call(t, gw, "ts-travel-service", "POST", "/api/v1/travelservice/trips/left",
                 "/api/v1/travelservice/trips/left", "TravelController.queryInfo")
    tr.tt("INFO", "queryInfo", "Query TripResponse", f"startPlace: {a}, endPlace: {b}, departureTime: {day}", cls="controller")
    t.hook("trips.parse", tr=tr, day=day)
    if t.stop:
        return
    if R.random() < 0.6:
        tr.sql("SELECT", "trip", "select trip0_.id as id1_3_, trip0_.route_id as route_id5_3_, trip0_.start_time as start_ti7_3_, "
                                 "trip0_.train_type_name as train_ty9_3_ from trip trip0_")
    bs = call(t, tr, "ts-basic-service", "POST", "/api/v1/basicservice/basic/travel", "/api/v1/basicservice/basic/travel")
    bs.tt("INFO", "queryForTravel", "Query For Travel", f"tripId: {trip}, startPlace: {a}, endPlace: {b}")
    st = call(t, bs, "ts-station-service", "POST", "/api/v1/stationservice/stations/idlist", "/api/v1/stationservice/stations/idlist")
    st.tt("INFO", "queryForIdBatch", "Query stations for id batch", f"stationNameList: [{a}, {b}]")
    q = st.sql("SELECT", "station", SQL_STATION_IDS)
    t.hook("trips.station", tr=tr, bs=bs, st=st, q=q, names=(a, b), trip=trip)
    if t.stop:
        return
    ttype = pick(["GaoTieOne", "GaoTieTwo", "DongCheOne", "ZhiDa", "TeKuai", "KuaiSu"])
    tn = call(t, bs, "ts-train-service", "GET", "/api/v1/trainservice/trains/byName/{name}", f"/api/v1/trainservice/trains/byName/{ttype}")
    tn.sql("SELECT", "train_type", "select traintype0_.id as id1_0_, traintype0_.average_speed as average_2_0_, "
                                   "traintype0_.name as name5_0_ from train_type traintype0_ where traintype0_.name=?")
    rid = uid()
    t.hook("trips.route", tr=tr, bs=bs, rid=rid)
    if t.stop:
        return
    rt = call(t, bs, "ts-route-service", "GET", "/api/v1/routeservice/routes/{routeId}", f"/api/v1/routeservice/routes/{rid}")
    rt.tt("INFO", "getRouteById", "Get Route By Id", f"RouteId: {rid}")
    rt.sql("SELECT", "route", "select route0_.id as id1_1_0_, route0_.end_station as end_stat2_1_0_, "
                              "route0_.start_station as start_st3_1_0_ from route route0_ where route0_.id=?")
    pr = call(t, bs, "ts-price-service", "GET", "/api/v1/priceservice/prices/{routeId}/{trainType}",
              f"/api/v1/priceservice/prices/{rid}/{ttype}")
    pr.tt("INFO", "findByRouteIdAndTrainType", "Find By Route Id And Train Type", f"RouteId: {rid}, TrainType: {ttype}")
    bs.tt("INFO", "queryForTravel", "Query For Travel Success", f"tripId: {trip}")
    se = call(t, tr, "ts-seat-service", "POST", "/api/v1/seatservice/seats/left_tickets", "/api/v1/seatservice/seats/left_tickets")
    se.tt("INFO", "getLeftTicketOfInterval", "Get Left Ticket Of Interval", f"travelDate: {day}, trainNumber: {trip}")
    od = call(t, se, "ts-order-service", "POST", "/api/v1/orderservice/order/tickets", "/api/v1/orderservice/order/tickets")
    od.tt("INFO", "getSoldTickets", "Get Sold Tickets", f"travelDate: {day}, trainNumber: {trip}")
    oq = od.sql("SELECT", "orders", SQL_SOLD)
    t.hook("trips.sold", se=se, od=od, q=oq)
    if t.stop:
        return
    if not t.hook("trips.config", tr=tr, se=se):
        cf = call(t, se, "ts-config-service", "GET", "/api/v1/configservice/configs/{configName}",
                  "/api/v1/configservice/configs/DirectTicketAllocationProportion")
        cf.tt("INFO", "queryConfig", "Query Config", "name: DirectTicketAllocationProportion")
    if t.stop:
        return
    se.tt("INFO", "getLeftTicketOfInterval", "Left Tickets", f"trainNumber: {trip}, remain: {R.randint(3, 900)}")
    t.hook("trips.seat", tr=tr, se=se, trip=trip)
    if t.stop:
        return
    tr.tt("INFO", "queryInfo", "Query Trips Success", f"count: {R.randint(1, 6)}", cls="controller")


def allocator(t, up, rpc="Allocate", trip=None, day=None, sql=None):
    al = grpc_call(t, up, "ts-seat-allocator", "seat.v1.SeatAllocator", rpc)
    trip, day = trip or trip_id(), day or travel_date()
    if rpc == "Allocate":
        s = seat_no()
        al.seat = s
        al.lock = al.redis("SETNX", f"seat:lock:{trip}:{day}:{s}", "1")
        al.log("DEBUG", "seat lock acquired", train=trip, date=day, seat=s)
        stmt = "UPDATE seat_inventory SET status = ?, order_id = ? WHERE train_number = ? AND travel_date = ? AND seat_no = ?"
        al.q = al.sql("UPDATE", "seat_inventory", stmt) if (R.random() < 0.5 if sql is None else sql) else Sp("ts-seat-allocator", "sql.conn.exec", CLIENT, {"db.system": "mysql", "db.statement": stmt})
        al.log("INFO", "seat allocated", train=trip, date=day, seat=s, coach=R.randint(1, 16))
    else:
        al.lock = None
        al.q = al.sql("SELECT", "seat_inventory", "SELECT coach, COUNT(*) FROM seat_inventory WHERE train_number = ? AND travel_date = ? AND status = 0 GROUP BY coach")
        al.log("INFO", "left tickets computed", train=trip, date=day, left=R.randint(0, 600))
    return al


def f_preserve(t):
    acc, cid, oid, trip, day = uid(), uid(), uid(), trip_id(), travel_date()
    gw = entry(t, "POST", "/api/v1/preserveservice/preserve", "/api/v1/preserveservice")
    pv = gw_call(t, gw, "ts-preserve-service", "POST", "/api/v1/preserveservice/preserve",
                 "/api/v1/preserveservice/preserve", "PreserveController.preserve")
    pv.tt("INFO", "preserve", "Step 1", f"Check Security, accountId: {acc}")
    sc = call(t, pv, "ts-security-service", "GET", "/api/v1/securityservice/securityConfigs/{accountId}",
              f"/api/v1/securityservice/securityConfigs/{acc}")
    sc.tt("INFO", "check", "Check Security", f"accountId: {acc}")
    forced = t.fault is not None and t.fault[0] in ("pre.consign", "pre.notify")
    if not forced and R.random() < 0.5:
        so = call(t, sc, "ts-order-service", "GET", "/api/v1/orderservice/order/security/{checkDate}/{accountId}",
                  f"/api/v1/orderservice/order/security/{travel_date(0)}/{acc}")
        so.sql("SELECT", "orders", "select count(order0_.id) as col_0_0_ from orders order0_ where order0_.account_id=? and order0_.bought_date>?")
    sc.tt("INFO", "check", "Security Check Pass", f"orderNumInLastOneHour: {R.randint(0, 2)}")
    pv.tt("INFO", "preserve", "Step 2", f"Find contacts, contactsId: {cid}")
    ct = call(t, pv, "ts-contacts-service", "GET", "/api/v1/contactservice/contacts/{id}", f"/api/v1/contactservice/contacts/{cid}")
    ct.tt("INFO", "getContactsByContactsId", "Get Contacts By Id", f"ContactsId: {cid}")
    cq = ct.mongo("find", "contacts", '{"find": "contacts", "filter": {"_id": "?"}, "limit": 1, "$db": "ts"}')
    t.hook("pre.contacts", pv=pv, ct=ct, q=cq, cid=cid)
    if t.stop:
        return
    pv.tt("INFO", "preserve", "Step 3", f"Check tickets num, tripId: {trip}")
    tv = call(t, pv, "ts-travel-service", "POST", "/api/v1/travelservice/trip_detail", "/api/v1/travelservice/trip_detail")
    tv.tt("INFO", "getTripAllDetailInfo", "Get Trip All Detail Info", f"tripId: {trip}, travelDate: {day}")
    t.hook("pre.trip", pv=pv, tv=tv, trip=trip)
    if t.stop:
        return
    pv.tt("INFO", "preserve", "Step 4", "Do Order")
    se = call(t, pv, "ts-seat-service", "POST", "/api/v1/seatservice/seats", "/api/v1/seatservice/seats")
    se.tt("INFO", "distributeSeat", "Distribute Seat", f"trainNumber: {trip}, travelDate: {day}")
    al = allocator(t, se, "Allocate", trip, day, sql=False if forced else (True if t.fault and t.fault[0] == "pre.seat" else None))
    t.hook("pre.seat", pv=pv, se=se, al=al, trip=trip, day=day)
    if t.stop:
        return
    od = call(t, pv, "ts-order-service", "POST", "/api/v1/orderservice/order", "/api/v1/orderservice/order")
    od.tt("INFO", "create", "Create Order", f"OrderId: {oid}, accountId: {acc}")
    od.sql("INSERT", "orders", "insert into orders (account_id, bought_date, coach_number, contacts_document_number, contacts_name, "
                               "document_type, from_station, price, seat_class, seat_number, status, to_station, train_number, "
                               "travel_date, travel_time, id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    od.tt("INFO", "create", "Order Create Success", f"OrderId: {oid}")
    t.hook("pre.order", pv=pv, od=od, oid=oid)
    if t.stop:
        return
    extras = R.sample(["assurance", "food", "consign", "notify"], k=R.choice([1, 1, 2]))
    if t.fault and t.fault[0] == "pre.consign" and "consign" not in extras:
        extras = ["consign"]
    if t.fault and t.fault[0] == "pre.notify" and "notify" not in extras:
        extras = ["notify"]
    for x in extras:
        if t.root.count() > 16 and not forced:
            break
        if x == "assurance":
            pv.tt("INFO", "preserve", "Step 5", "Buy Assurance")
            asu = call(t, pv, "ts-assurance-service", "GET", "/api/v1/assuranceservice/assurances/{typeIndex}/{orderId}",
                       f"/api/v1/assuranceservice/assurances/1/{oid}")
            asu.tt("INFO", "create", "Create Assurance", f"OrderId: {oid}, typeIndex: 1")
            asu.sql("INSERT", "assurance", "insert into assurance (order_id, type, id) values (?, ?, ?)")
        elif x == "food":
            pv.tt("INFO", "preserve", "Step 6", "Buy Food")
            fd = call(t, pv, "ts-food-service", "POST", "/api/v1/foodservice/orders", "/api/v1/foodservice/orders")
            fd.tt("INFO", "createFoodOrder", "Create Food Order", f"orderId: {oid}")
            fd.mongo("insert", "food_order", '{"insert": "food_order", "ordered": true, "$db": "ts"}')
        elif x == "consign":
            pv.tt("INFO", "preserve", "Step 7", "Add Consign")
            cs = call(t, pv, "ts-consign-service", "PUT", "/api/v1/consignservice/consigns", "/api/v1/consignservice/consigns")
            cs.tt("INFO", "updateConsign", "Update Consign", f"orderId: {oid}")
            cq = cs.sql("INSERT", "consign_record", "insert into consign_record (account_id, consignee, order_id, phone, weight, id) values (?, ?, ?, ?, ?, ?)")
            if t.hook("pre.consign", pv=pv, cs=cs, q=cq, oid=oid):
                continue
            cs.tt("INFO", "updateConsign", "Consign Saved", f"orderId: {oid}")
        else:
            pv.tt("INFO", "preserve", "Step 8", "Send Notification")
            nt = call(t, pv, "ts-notification-service", "POST", "/api/v1/notifyservice/notification/preserve_success",
                      "/api/v1/notifyservice/notification/preserve_success")
            nt.log("INFO", f"sending preserve_success notification for order {oid}")
            sm = grpc_call(t, nt, "ts-sms-gateway", "sms.v1.SmsGateway", "Send")
            sm.log("INFO", "sms queued", provider="aliyun", template="SMS_2024_PRESERVE", to=phone()[:3] + "****")
            if t.hook("pre.notify", pv=pv, nt=nt, sm=sm):
                continue
            nt.log("INFO", "notification delivered", channel="sms", orderId=oid)
    if t.stop:
        return
    pv.tt("INFO", "preserve", "Preserve Success", f"orderId: {oid}")


def f_pay(t):
    oid, trip, acc = uid(), trip_id(), uid()
    price = f"{R.randint(50, 1800)}.0"
    gw = entry(t, "POST", "/api/v1/inside_pay_service/inside_payment", "/api/v1/inside_pay_service")
    ip_ = gw_call(t, gw, "ts-inside-payment-service", "POST", "/api/v1/inside_pay_service/inside_payment",
                  "/api/v1/inside_pay_service/inside_payment", "InsidePaymentController.pay")
    ip_.tt("INFO", "pay", "Pay", f"orderId: {oid}, tripId: {trip}", cls="controller")
    od = order_get(t, ip_, oid, cache=True if t.fault and t.fault[0] == "pay.cache" else None)
    if getattr(od, "cache", None) is not None:
        t.hook("pay.cache", ip=ip_, od=od, oid=oid)
    t.hook("pay.get_order", ip=ip_, od=od, oid=oid)
    if t.stop:
        return
    t.hook("pay.check_state", ip=ip_, od=od, oid=oid)
    if t.stop:
        return
    ip_.tt("INFO", "pay", "Order Status Check", f"orderId: {oid}, status: NOTPAID")
    ip_.sql("SELECT", "money", "select money0_.id as id1_0_, money0_.money as money2_0_, money0_.user_id as user_id3_0_ from money money0_ where money0_.user_id=?")
    pm = call(t, ip_, "ts-payment-service", "POST", "/api/v1/paymentservice/payment", "/api/v1/paymentservice/payment")
    pm.tt("INFO", "pay", "Pay", f"orderId: {oid}, price: {price}")
    t.hook("pay.payment", ip=ip_, pm=pm, oid=oid)
    if t.stop:
        return
    pm.tt("INFO", "pay", "Payment Saved", f"orderId: {oid}")
    ip_.sql("INSERT", "inside_payment", "insert into inside_payment (order_id, price, type, user_id, id) values (?, ?, ?, ?, ?)")
    mo = call(t, ip_, "ts-order-service", "GET", "/api/v1/orderservice/order/status/{orderId}/{status}",
              f"/api/v1/orderservice/order/status/{oid}/1")
    mo.tt("INFO", "modifyOrder", "Modify Order", f"OrderId: {oid}, status: 1")
    uq = mo.sql("UPDATE", "orders", SQL_UPDATE_ORDER)
    t.hook("pay.modify", ip=ip_, mo=mo, q=uq, oid=oid)
    if t.stop:
        return
    ip_.tt("INFO", "pay", "Pay Success", f"orderId: {oid}, price: {price}")


def f_cancel(t):
    oid, acc = uid(), uid()
    gw = entry(t, "GET", f"/api/v1/cancelservice/cancel/{oid}/{acc}", "/api/v1/cancelservice")
    cn = gw_call(t, gw, "ts-cancel-service", "GET", "/api/v1/cancelservice/cancel/{orderId}/{loginId}",
                 f"/api/v1/cancelservice/cancel/{oid}/{acc}", "CancelController.cancelTicket")
    cn.tt("INFO", "cancelTicket", "Cancel Ticket", f"orderId: {oid}, loginId: {acc}")
    od = order_get(t, cn, oid)
    t.hook("cancel.get_order", cn=cn, od=od, oid=oid)
    if t.stop:
        return
    t.hook("cancel.check_state", cn=cn, od=od, oid=oid)
    if t.stop:
        return
    money = f"{R.randint(20, 900)}.{R.choice(['0', '5'])}"
    cn.tt("INFO", "cancelOrder", "Order Status Check", f"orderId: {oid}, status: PAID, refund: {money}")
    dr = call(t, cn, "ts-inside-payment-service", "GET", "/api/v1/inside_pay_service/inside_payment/drawback/{userId}/{money}",
              f"/api/v1/inside_pay_service/inside_payment/drawback/{acc}/{money}")
    dr.tt("INFO", "drawBack", "Draw Back Money", f"userId: {acc}, money: {money}")
    dr.sql("INSERT", "money", "insert into money (money, type, user_id, id) values (?, ?, ?, ?)")
    mo = call(t, cn, "ts-order-service", "PUT", "/api/v1/orderservice/order", "/api/v1/orderservice/order")
    mo.tt("INFO", "saveChanges", "Save Order Changes", f"OrderId: {oid}, status: CANCEL")
    mo.sql("UPDATE", "orders", SQL_UPDATE_ORDER)
    if R.random() < 0.7 or (t.fault is not None and t.fault[0] == "cancel.notify"):
        nt = call(t, cn, "ts-notification-service", "POST", "/api/v1/notifyservice/notification/order_cancel_success",
                  "/api/v1/notifyservice/notification/order_cancel_success")
        nt.log("INFO", f"sending order_cancel_success notification for order {oid}")
        sm = grpc_call(t, nt, "ts-sms-gateway", "sms.v1.SmsGateway", "Send")
        sm.log("INFO", "sms queued", provider="aliyun", template="SMS_2024_CANCEL", to=phone()[:3] + "****")
        if not t.hook("cancel.notify", cn=cn, nt=nt, sm=sm):
            nt.log("INFO", "notification delivered", channel="sms", orderId=oid)
    cn.tt("INFO", "cancelOrder", "Cancel Order Success", f"orderId: {oid}")


def f_rebook(t):
    oid, trip, day = uid(), trip_id(), travel_date()
    gw = entry(t, "POST", "/api/v1/rebookservice/rebook", "/api/v1/rebookservice")
    rb = gw_call(t, gw, "ts-rebook-service", "POST", "/api/v1/rebookservice/rebook", "/api/v1/rebookservice/rebook",
                 "RebookController.rebook")
    rb.tt("INFO", "rebook", "Rebook", f"orderId: {oid}, oldTripId: {trip_id()}, newTripId: {trip}", cls="controller")
    od = order_get(t, rb, oid, cache=False)
    t.hook("rebook.get_order", rb=rb, od=od, oid=oid)
    if t.stop:
        return
    t.hook("rebook.check_state", rb=rb, od=od, oid=oid)
    if t.stop:
        return
    rb.tt("INFO", "rebook", "Order Status Check", f"orderId: {oid}, status: PAID")
    tv = call(t, rb, "ts-travel-service", "POST", "/api/v1/travelservice/trip_detail", "/api/v1/travelservice/trip_detail")
    tv.tt("INFO", "getTripAllDetailInfo", "Get Trip All Detail Info", f"tripId: {trip}, travelDate: {day}")
    tv.sql("SELECT", "trip", "select trip0_.id as id1_3_0_, trip0_.route_id as route_id5_3_0_, trip0_.train_type_name as train_ty9_3_0_ "
                             "from trip trip0_ where trip0_.id=?")
    t.hook("rebook.trip", rb=rb, tv=tv, trip=trip)
    if t.stop:
        return
    se = call(t, rb, "ts-seat-service", "POST", "/api/v1/seatservice/seats", "/api/v1/seatservice/seats")
    se.tt("INFO", "distributeSeat", "Distribute Seat", f"trainNumber: {trip}, travelDate: {day}")
    allocator(t, se, "Allocate", trip, day, sql=False)
    mo = call(t, rb, "ts-order-service", "PUT", "/api/v1/orderservice/order", "/api/v1/orderservice/order")
    mo.tt("INFO", "saveChanges", "Save Order Changes", f"OrderId: {oid}, status: CHANGE")
    mo.sql("UPDATE", "orders", SQL_UPDATE_ORDER)
    rb.tt("INFO", "rebook", "Rebook Success", f"orderId: {oid}, newTripId: {trip}")


def f_execute(t):
    oid = uid()
    action = pick(["collected", "execute"])
    gw = entry(t, "GET", f"/api/v1/executeservice/execute/{action}/{oid}", "/api/v1/executeservice")
    ex = gw_call(t, gw, "ts-execute-service", "GET", f"/api/v1/executeservice/execute/{action}/{{orderId}}",
                 f"/api/v1/executeservice/execute/{action}/{oid}",
                 "ExecuteController.collectTicket" if action == "collected" else "ExecuteController.executeTicket")
    m = "ticketCollect" if action == "collected" else "ticketExecute"
    ex.tt("INFO", m, "Ticket " + ("Collect" if action == "collected" else "Execute"), f"orderId: {oid}")
    od = order_get(t, ex, oid)
    t.hook("exec.get_order", ex=ex, od=od, oid=oid, action=action)
    if t.stop:
        return
    t.hook("exec.check_state", ex=ex, od=od, oid=oid, action=action)
    if t.stop:
        return
    new = 2 if action == "collected" else 6
    mo = call(t, ex, "ts-order-service", "GET", "/api/v1/orderservice/order/status/{orderId}/{status}",
              f"/api/v1/orderservice/order/status/{oid}/{new}")
    mo.tt("INFO", "modifyOrder", "Modify Order", f"OrderId: {oid}, status: {new}")
    mo.sql("UPDATE", "orders", SQL_UPDATE_ORDER)
    ex.tt("INFO", m, "Success", f"orderId: {oid}")


def f_refresh(t):
    acc = uid()
    other = R.random() < 0.3 and not (t.fault and t.fault[0].startswith("refresh."))
    svc = "ts-order-other-service" if other else "ts-order-service"
    base = "/api/v1/orderOtherService/orderOther" if other else "/api/v1/orderservice/order"
    gw = entry(t, "POST", base + "/refresh", base.rsplit("/", 1)[0])
    od = gw_call(t, gw, svc, "POST", base + "/refresh", base + "/refresh",
                 ("OrderOtherController" if other else "OrderController") + ".queryOrdersForRefresh")
    od.tt("INFO", "queryOrdersForRefresh", "Query Orders For Refresh", f"loginId: {acc}", cls="controller")
    t.hook("refresh.parse", od=od, acc=acc)
    if t.stop:
        return
    q = od.sql("SELECT", "orders_other" if other else "orders",
               SQL_ORDERS_BY_ACCOUNT.replace("orders", "orders_other") if other else SQL_ORDERS_BY_ACCOUNT)
    t.hook("refresh.select", od=od, q=q, acc=acc)
    if t.stop:
        return
    n = R.randint(0, 9)
    st = call(t, od, "ts-station-service", "POST", "/api/v1/stationservice/stations/namelist", "/api/v1/stationservice/stations/namelist")
    st.tt("INFO", "queryForNameBatch", "Query stations for name batch", f"stationIdList size: {2 * n}")
    st.sql("SELECT", "station", SQL_STATION_NAMES)
    t.hook("refresh.station", od=od, st=st)
    if t.stop:
        return
    od.tt("INFO", "queryOrdersForRefresh", "Query Orders For Refresh Success", f"loginId: {acc}, count: {n}")


def f_news(t):
    gw = entry(t, "GET", "/api/v1/newsservice/news", "/api/v1/newsservice")
    detail = (t.fault is not None and t.fault[0] == "news.detail") or \
        (not (t.fault and t.fault[0].startswith("news.")) and R.random() < 0.3)
    nid = R.randint(1, 400)
    path = f"/api/v1/newsservice/news/{nid}" if detail else "/api/v1/newsservice/news"
    route = "/api/v1/newsservice/news/{id}" if detail else "/api/v1/newsservice/news"
    if detail:
        gw.server.attrs["http.target" if "http.target" in gw.server.attrs else "url.path"] = path
    nw = gw_call(t, gw, "ts-news-service", "GET", route, path)
    nw.log("DEBUG", "handling request", method="GET", path=path)
    t.hook("news.parse", nw=nw, path=path)
    if t.stop:
        return
    key = f"news:item:{nid}" if detail else "news:latest"
    nw.redis("GET", key)
    if detail:
        if t.hook("news.detail", nw=nw, nid=nid):
            return
        nw.log("INFO", "news item loaded", id=nid, source="mysql")
        return
    if not t.hook("news.db", nw=nw):
        nw.log("DEBUG", "cache miss, loading news from mysql", key=key)
        nw.redis("SET", key, "<json> EX 60")
    if t.stop:
        return
    if R.random() < 0.4 or (t.fault and t.fault[0] == "news.config"):
        if not t.hook("news.config", nw=nw):
            cf = call(t, nw, "ts-config-service", "GET", "/api/v1/configservice/configs/{configName}",
                      "/api/v1/configservice/configs/news.pageSize")
            cf.tt("INFO", "queryConfig", "Query Config", "name: news.pageSize")
    if t.stop:
        return
    if t.hook("news.grpc", nw=nw):
        return
    al = allocator(t, nw, "LeftTickets")
    t.hook("news.alloc_sql", nw=nw, al=al)
    nw.log("INFO", "news list served", count=R.randint(5, 20), widget="left-tickets")


def f_office(t):
    prov, city = pick(CITIES)
    specific = R.random() < 0.6
    path = "/office/getSpecificOffices" if specific else "/office/getAll"
    gw = entry(t, "POST" if specific else "GET", "/api/v1/officeservice" + path, "/api/v1/officeservice")
    of = gw_call(t, gw, "ts-ticket-office-service", "POST" if specific else "GET", path, path)
    of.log("INFO", "incoming request", req={"method": of.method, "url": path}, province=prov, city=city)
    t.hook("office.parse", of=of)
    if t.stop:
        return
    key = f"office:{prov}:{city}" if specific else "office:all"
    rc = of.redis("GET", key)
    if t.hook("office.redis", of=of, r=rc):
        pass
    if t.stop:
        return
    q = of.mongo("find", "office", json.dumps({"province": prov, "city": city}) if specific else "{}")
    t.hook("office.mongo", of=of, q=q, prov=prov, city=city)
    if t.stop:
        return
    if R.random() < 0.6 or (t.fault and t.fault[0] == "office.station"):
        name = pick(STATIONS)
        st = call(t, of, "ts-station-service", "GET", "/api/v1/stationservice/stations/id/{stationNameForId}",
                  f"/api/v1/stationservice/stations/id/{name.replace(' ', '%20')}")
        st.tt("INFO", "queryForStationId", "Query For Station Id", f"stationName: {name}")
        st.sql("SELECT", "station", "select station0_.id as id1_0_, station0_.name as name2_0_ from station station0_ where station0_.name=?")
        t.hook("office.station", of=of, st=st)
        if t.stop:
            return
    of.redis("SET", key, "<json> EX 300")
    of.log("INFO", "offices returned", count=R.randint(1, 12))


def f_voucher(t):
    oid = uid()
    gw = entry(t, "POST", "/getVoucher", "/voucherservice")
    vo = gw_call(t, gw, "ts-voucher-service", "POST", "/getVoucher", "/getVoucher")
    typ = pick([0, 1])
    vo.log("INFO", f"getVoucher order_id={oid} type={typ}", logger="voucher.app")
    t.hook("voucher.redis", vo=vo, oid=oid)
    if t.stop:
        return
    if not t.hook("voucher.order", vo=vo, oid=oid):
        od = order_get(t, vo, oid, other=True)
        od.log("INFO", f"[getOrderById][Get Order By Id Success][OrderId: {oid}]")
    if t.stop:
        return
    vo.log("DEBUG", f"SELECT * FROM voucher WHERE order_id = '{oid}'", logger="voucher.db")
    t.hook("voucher.db", vo=vo, oid=oid)
    if t.stop:
        return
    vo.log("INFO", f"voucher {R.randint(1000, 99999)} issued for order {oid}", logger="voucher.app")


def f_report(t):
    d0 = travel_date(-R.randint(7, 60))
    fmt = pick(["csv", "csv", "xlsx"])
    path = f"/api/v1/reportservice/orders/export?from={d0}&to={travel_date(0)}&format={fmt}"
    gw = entry(t, "GET", path, "/api/v1/reportservice")
    rp = gw_call(t, gw, "ts-report-service", "GET", "/api/v1/reportservice/orders/export", path)
    rp.log("INFO", f"order export requested from={d0} format={fmt}", logger="report.export")
    t.hook("report.parse", rp=rp, path=path)
    if t.stop:
        return
    rows = R.randint(80000, 420000)
    q = rp.sql("SELECT", "orders", "SELECT o.id, o.account_id, o.train_number, o.from_station, o.to_station, o.price, o.status, "
                                   "o.bought_date FROM orders o WHERE o.bought_date BETWEEN %(d0)s AND %(d1)s ORDER BY o.bought_date",
               ms=R.uniform(2300, 3600))
    t.hook("report.select", rp=rp, q=q)
    if t.stop:
        return
    rp.log("INFO", f"fetched {rows} rows in {q.ms / 1000:.2f}s", logger="report.export")
    rp.inner("render_report", ms=R.uniform(300, 900), attrs={"report.format": fmt, "report.rows": rows})
    key = f"exports/orders-{d0}-{travel_date(0)}.{fmt}"
    rp.s3("PutObject", "ts-reports", key, ms=R.uniform(90, 400))
    rp.log("INFO", f"uploaded s3://ts-reports/{key} ({rows * 96 / 1e6:.1f} MB)", logger="report.export")
    rp.log("INFO", f"export finished in {R.uniform(3.0, 4.9):.1f}s", logger="report.export")


def f_admin_orders(t):
    gw = entry(t, "GET", "/api/v1/adminorderservice/adminorder", "/api/v1/adminorderservice")
    ad = gw_call(t, gw, "ts-admin-order-service", "GET", "/api/v1/adminorderservice/adminorder",
                 "/api/v1/adminorderservice/adminorder", "AdminOrderController.getAllOrders")
    ad.tt("INFO", "getAllOrders", "Get All Orders", "admin")
    o1 = call(t, ad, "ts-order-service", "GET", "/api/v1/orderservice/order", "/api/v1/orderservice/order")
    o1.tt("INFO", "findAllOrder", "Find All Order", None)
    o1.sql("SELECT", "orders", "select order0_.id as id1_0_, order0_.account_id as account_2_0_, order0_.status as status13_0_ from orders order0_",
           ms=R.uniform(250, 900))
    o2 = call(t, ad, "ts-order-other-service", "GET", "/api/v1/orderOtherService/orderOther", "/api/v1/orderOtherService/orderOther")
    o2.tt("INFO", "findAllOrder", "Find All Order", None)
    o2.sql("SELECT", "orders_other", "select orderother0_.id as id1_0_, orderother0_.status as status13_0_ from orders_other orderother0_",
           ms=R.uniform(200, 700))
    ad.tt("INFO", "getAllOrders", "Get All Orders Success", f"size: {R.randint(3000, 40000)}")


def f_food(t):
    trip, day = trip_id(), travel_date()
    a, b = R.sample(STATIONS, 2)
    path = f"/api/v1/foodservice/foods/{day}/{a.replace(' ', '%20')}/{b.replace(' ', '%20')}/{trip}"
    gw = entry(t, "GET", path, "/api/v1/foodservice")
    fd = gw_call(t, gw, "ts-food-service", "GET", "/api/v1/foodservice/foods/{date}/{startStation}/{endStation}/{tripId}",
                 path, "FoodController.getAllFood")
    fd.tt("INFO", "getAllFood", "Get Food Request", f"date: {day}, tripId: {trip}", cls="controller")
    q = fd.mongo("find", "train_food", '{"find": "train_food", "filter": {"tripId": "?"}, "$db": "ts"}')
    t.hook("food.mongo", fd=fd, q=q, trip=trip)
    if t.stop:
        return
    tv = call(t, fd, "ts-travel-service", "GET", "/api/v1/travelservice/routes/{tripId}", f"/api/v1/travelservice/routes/{trip}")
    tv.tt("INFO", "getRouteByTripId", "Get Route By Trip Id", f"tripId: {trip}")
    tv.sql("SELECT", "trip", "select trip0_.route_id as route_id5_3_ from trip trip0_ where trip0_.id=?")
    st = call(t, tv, "ts-station-service", "POST", "/api/v1/stationservice/stations/namelist", "/api/v1/stationservice/stations/namelist")
    st.sql("SELECT", "station", SQL_STATION_NAMES)
    fd.tt("INFO", "getAllFood", "Get All Food Success", f"tripId: {trip}, trainFoodList: {R.randint(2, 9)}, foodStoreListMap: {R.randint(1, 4)}")


def f_contacts(t):
    acc = uid()
    gw = entry(t, "GET", f"/api/v1/contactservice/contacts/account/{acc}", "/api/v1/contactservice")
    ct = gw_call(t, gw, "ts-contacts-service", "GET", "/api/v1/contactservice/contacts/account/{accountId}",
                 f"/api/v1/contactservice/contacts/account/{acc}", "ContactsController.findContactsByAccountId")
    ct.tt("INFO", "findContactsByAccountId", "Find Contacts By Account Id", f"accountId: {acc}", cls="controller")
    q = ct.mongo("find", "contacts", '{"find": "contacts", "filter": {"accountId": "?"}, "$db": "ts"}')
    t.hook("contacts.mongo", ct=ct, q=q, acc=acc)
    if t.stop:
        return
    if R.random() < 0.5:
        ct.redis("SET", f"contacts:{acc}", "<json> EX 600")
    ct.tt("INFO", "findContactsByAccountId", "Success", f"accountId: {acc}, size: {R.randint(1, 6)}")


def f_avatar(t):
    acc = uid()
    gw = entry(t, "POST", "/api/v1/avatar", "/api/v1/avatar")
    av = gw_call(t, gw, "ts-avatar-service", "POST", "/api/v1/avatar", "/api/v1/avatar")
    av.log("INFO", f"avatar upload user_id={acc} size={R.randint(40, 900)}KB", logger="avatar.views")
    av.inner("detect_face", ms=R.uniform(250, 900), attrs={"face.count": 1})
    av.log("DEBUG", "face detected, cropping to 256x256", logger="avatar.image")
    key = f"avatars/{acc}.png"
    av.s3("PutObject", "ts-avatars", key)
    us = call(t, av, "ts-user-service", "PUT", "/api/v1/userservice/users/avatar", "/api/v1/userservice/users/avatar",
              "UserController.updateAvatar")
    us.tt("INFO", "updateAvatar", "Update Avatar", f"userId: {acc}", cls="controller")
    us.sql("UPDATE", "user", "update user set avatar=? where user_id=?")
    av.log("INFO", f"avatar stored at s3://ts-avatars/{key}", logger="avatar.views")


def f_user(t):
    acc = uid()
    gw = entry(t, "GET", f"/api/v1/userservice/users/id/{acc}", "/api/v1/userservice")
    us = gw_call(t, gw, "ts-user-service", "GET", "/api/v1/userservice/users/id/{userId}",
                 f"/api/v1/userservice/users/id/{acc}", "UserController.getUserByUserId")
    us.tt("INFO", "getUserByUserId", "Get User By Id", f"userId: {acc}", cls="controller")
    r = us.redis("GET", f"user:{acc}")
    q = us.sql("SELECT", "user", "select user0_.user_id as user_id1_0_0_, user0_.email as email2_0_0_, "
                                 "user0_.user_name as user_nam6_0_0_ from user user0_ where user0_.user_id=?")
    t.hook("user.select", us=us, q=q, r=r, acc=acc)
    if t.stop:
        return
    us.redis("SET", f"user:{acc}", "<json> EX 600")
    us.tt("INFO", "getUserByUserId", "Find User Success", f"userId: {acc}")


def f_consign(t):
    acc = uid()
    gw = entry(t, "GET", f"/api/v1/consignservice/consigns/account/{acc}", "/api/v1/consignservice")
    cs = gw_call(t, gw, "ts-consign-service", "GET", "/api/v1/consignservice/consigns/account/{id}",
                 f"/api/v1/consignservice/consigns/account/{acc}", "ConsignController.findByAccountId")
    cs.tt("INFO", "findByAccountId", "Find Consign By Account Id", f"accountId: {acc}", cls="controller")
    cs.sql("SELECT", "consign_record", "select consignrec0_.id as id1_0_, consignrec0_.order_id as order_id6_0_ "
                                       "from consign_record consignrec0_ where consignrec0_.account_id=?")
    for _ in range(R.randint(1, 2)):
        order_get(t, cs, uid(), cache=False)
    cs.tt("INFO", "findByAccountId", "Find Consign Success", f"accountId: {acc}")


def f_delivery(t):
    oid = uid()
    root = Sp("ts-delivery-service", "food_delivery process", CONSUMER,
              {"messaging.system": "rabbitmq", "messaging.destination.name": "food_delivery",
               "messaging.operation": "process", "messaging.rabbitmq.destination.routing_key": "food_delivery",
               "messaging.message.id": uid(), "net.peer.name": "ts-rabbitmq", "net.peer.port": 5672},
              scope="messaging", ms=R.uniform(0.5, 3))
    t.root = root
    dv = H(t, "ts-delivery-service", root, root, method="CONSUME", path="food_delivery")
    dv.log("INFO", f"received delivery message order_id={oid}", logger="delivery.consumer")
    h = dv.inner("handle_delivery", ms=R.uniform(0.5, 3))
    dv.work = h
    q = dv.mongo("find", "delivery", "find delivery")
    t.hook("delivery.mongo", dv=dv, q=q, oid=oid)
    if t.stop:
        return
    dv.mongo("insert", "delivery", "insert delivery")
    dv.log("INFO", f"delivery record stored order_id={oid} station={pick(STATIONS)}", logger="delivery.consumer")
    if t.hook("delivery.sms", dv=dv, oid=oid):
        return
    nt = call(t, dv, "ts-notification-service", "POST", "/api/v1/notifyservice/notification/delivery",
              "/api/v1/notifyservice/notification/delivery")
    nt.log("INFO", f"sending delivery notification for order {oid}")
    sm = grpc_call(t, nt, "ts-sms-gateway", "sms.v1.SmsGateway", "Send")
    sm.log("INFO", "sms queued", provider="aliyun", template="SMS_2024_DELIVERY", to=phone()[:3] + "****")
    dv.log("INFO", f"ack delivery message order_id={oid}", logger="delivery.consumer")


FLOWS = {"login": (f_login, 11), "trips": (f_trips, 20), "preserve": (f_preserve, 9), "pay": (f_pay, 8),
         "cancel": (f_cancel, 4), "rebook": (f_rebook, 3), "execute": (f_execute, 4), "refresh": (f_refresh, 9),
         "news": (f_news, 6), "office": (f_office, 5), "voucher": (f_voucher, 3), "report": (f_report, 3),
         "admin_orders": (f_admin_orders, 2), "food": (f_food, 4), "contacts": (f_contacts, 3), "avatar": (f_avatar, 2),
         "user": (f_user, 3), "consign": (f_consign, 2), "delivery": (f_delivery, 4)}


# ---------------------------------------------------------------------------------------------
# Fault kinds and their variants. Each variant: (flow, hook point, function changing the trace)
# ---------------------------------------------------------------------------------------------
FAULTS = {}


def variant(kind, flow, point):
    def deco(fn):
        FAULTS.setdefault(kind, []).append((flow, point, fn))
        return fn
    return deco


def drop(sp):
    if sp is not None and sp.parent is not None and sp in sp.parent.children:
        sp.parent.children.remove(sp)


def unlog(h, *needles):
    h.work.logs = [l for l in h.work.logs if not any(n in str(l[1]) for n in needles)]


SOCKET_READ = ["java.net.SocketInputStream.socketRead0(Native Method)",
               "java.net.SocketInputStream.socketRead(SocketInputStream.java:116)",
               "java.net.SocketInputStream.read(SocketInputStream.java:171)",
               "java.net.SocketInputStream.read(SocketInputStream.java:141)",
               "java.io.BufferedInputStream.fill(BufferedInputStream.java:246)",
               "sun.net.www.http.HttpClient.parseHTTPHeader(HttpClient.java:735)",
               "sun.net.www.http.HttpClient.parseHTTP(HttpClient.java:678)",
               "sun.net.www.protocol.http.HttpURLConnection.getInputStream0(HttpURLConnection.java:1593)"]
HIBERNATE = ["org.hibernate.exception.internal.SQLStateConversionDelegate.convert(SQLStateConversionDelegate.java:112)",
             "org.hibernate.exception.internal.StandardSQLExceptionConverter.convert(StandardSQLExceptionConverter.java:42)",
             "org.hibernate.engine.jdbc.spi.SqlExceptionHelper.convert(SqlExceptionHelper.java:113)",
             "org.hibernate.loader.Loader.getResultSet(Loader.java:2265)"]
MYSQL_DRIVER = ["com.mysql.cj.jdbc.exceptions.SQLError.createCommunicationsException(SQLError.java:174)",
                "com.mysql.cj.jdbc.exceptions.SQLExceptionsMapping.translateException(SQLExceptionsMapping.java:64)",
                "com.mysql.cj.jdbc.ConnectionImpl.createNewIO(ConnectionImpl.java:836)",
                "com.zaxxer.hikari.pool.PoolBase.newConnection(PoolBase.java:364)",
                "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:162)"]
EXH = "o.h.engine.jdbc.spi.SqlExceptionHelper"
EXH_FULL = "org.hibernate.engine.jdbc.spi.SqlExceptionHelper"


def exh(h):
    return EXH_FULL if SERVICES[h.svc]["logs"] in ("json", "otlp") else EXH


def read_timeout_exc(h_caller, method, url, fn):
    msg = (f'I/O error on {method} request for "{url}": Read timed out; nested exception is '
           f'java.net.SocketTimeoutException: Read timed out')
    return ("org.springframework.web.client.ResourceAccessException", msg,
            jst("org.springframework.web.client.ResourceAccessException", msg,
                REST_TEMPLATE + jframes(h_caller.svc, fn)[:3],
                [("java.net.SocketTimeoutException", "Read timed out", SOCKET_READ)]))


def comm_failure(received_ms=None):
    if received_ms is None:
        return ("Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago. "
                "The driver has not received any packets from the server.")
    return (f"Communications link failure\n\nThe last packet successfully received from the server was {received_ms:,} "
            f"milliseconds ago. The last packet sent successfully to the server was {received_ms + R.randint(0, 3):,} milliseconds ago.")


def mongo_cluster(host, exc):
    return (f"Client view of cluster state is {{type=UNKNOWN, servers=[{{address={host}:27017, type=UNKNOWN, "
            f"state=CONNECTING, exception={{{exc}}}}}]")


def pre_soft(t, pv, step, what, detail, exc=None, level="ERROR"):
    """ts-preserve-service catches a step's failure and answers 200 with status 0."""
    pv.tt(level, "preserve", f"{step}", f"{what}][{detail}" if detail else what, exc=exc)
    pv.tt("INFO", "preserve", "Return Response", f"status: 0, msg: {what}")
    t.stop = True


# --- http_read_timeout: a caller stopped waiting for a named downstream service's answer ------
@variant("http_read_timeout", "pay", "pay.get_order")
def _(t, ip, od, oid):
    od.client.fixed = 5000 + R.uniform(0.3, 4)
    od.noresp = True
    od.server.ms = R.uniform(6500, 9800)
    e = read_timeout_exc(ip, "GET", od.url, "pay")
    od.client.exc("java.net.SocketTimeoutException", "Read timed out", jst("java.net.SocketTimeoutException", "Read timed out", SOCKET_READ))
    od.client.error()
    ip.tt("INFO", "pay", "Get Order", f"orderId: {oid}", cls="service")
    java_throw(ip, e[0], e[1], e[2])
    fail_up(ip)
    t.stop = True


@variant("http_read_timeout", "trips", "trips.seat")
def _(t, tr, se, trip):
    se.server.wait = 5000 + R.uniform(0.2, 3)
    se.server.ms = R.uniform(7000, 12000)
    e = read_timeout_exc(tr, "POST", se.url, "getRestTicketNumber")
    tr.tt("ERROR", "getRestTicketNumber", "Seat Request Failed", f"tripId: {trip}", exc=e)
    tr.tt("WARN", "queryInfo", "Left Ticket Unknown, Return Trips Without Seat Info", f"tripId: {trip}", cls="controller")


@variant("http_read_timeout", "office", "office.station")
def _(t, of, st):
    st.client.fixed = 3000 + R.uniform(0.5, 6)
    st.noresp = True
    st.client.error()
    st.server.ms = R.uniform(4200, 7500)
    of.log("ERROR", "station lookup failed, serving offices without station ids",
           exc=("AxiosError", "timeout of 3000ms exceeded",
                nodest("AxiosError", "timeout of 3000ms exceeded",
                       ["RedirectableRequest.handleRequestTimeout (/app/node_modules/axios/dist/node/axios.cjs:3079:16)",
                        "RedirectableRequest.emit (node:events:517:28)",
                        "Timeout.<anonymous> (/app/node_modules/follow-redirects/index.js:210:12)",
                        "listOnTimeout (node:internal/timers:569:17)"])),
           code="ECONNABORTED", url=st.url)


@variant("http_read_timeout", "voucher", "voucher.order")
def _(t, vo, oid):
    od = order_get(t, vo, oid, other=True)
    od.server.wait = 5000 + R.uniform(0.2, 2)
    od.server.ms = R.uniform(6000, 11000)
    msg = "HTTPConnectionPool(host='ts-order-other-service', port=12032): Read timed out. (read timeout=5)"
    vo.log("ERROR", f"failed to fetch order {oid} from ts-order-other-service", logger="voucher.app",
           exc=("requests.exceptions.ReadTimeout", msg,
                pyst("requests.exceptions.ReadTimeout", msg,
                     [("/app/server.py", 88, "get_voucher", "order = fetch_order(order_id, order_type)"),
                      ("/app/server.py", 41, "fetch_order", "resp = requests.get(url, timeout=5)"),
                      ("/usr/local/lib/python3.8/site-packages/requests/api.py", 73, "get", 'return request("get", url, params=params, **kwargs)'),
                      ("/usr/local/lib/python3.8/site-packages/requests/adapters.py", 532, "send", "raise ReadTimeout(e, request=request)")])))
    vo.log("INFO", f"returning status=0 for order {oid}", logger="voucher.app")
    t.stop = True


@variant("http_read_timeout", "news", "news.config")
def _(t, nw):
    cf = call(t, nw, "ts-config-service", "GET", "/api/v1/configservice/configs/{configName}",
              "/api/v1/configservice/configs/news.pageSize")
    cf.tt("INFO", "queryConfig", "Query Config", "name: news.pageSize")
    cf.server.wait = 2000 + R.uniform(0.1, 1)
    cf.server.ms = R.uniform(3000, 6000)
    nw.log("ERROR", "load page size failed, using default 10", exc=("url.Error", (
        'Get "http://ts-config-service:15679/api/v1/configservice/configs/news.pageSize": '
        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)")))


# --- db_query_timeout: a query ran past the time the driver/server allows and was killed ------
@variant("db_query_timeout", "refresh", "refresh.select")
def _(t, od, q, acc):
    q.ms = 3000 + R.uniform(0.5, 8)
    m = "Statement cancelled due to timeout or client request"
    q.exc("com.mysql.cj.jdbc.exceptions.MySQLTimeoutException", m,
          jst("com.mysql.cj.jdbc.exceptions.MySQLTimeoutException", m,
              ["com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:130)",
               "com.mysql.cj.jdbc.ClientPreparedStatement.executeInternal(ClientPreparedStatement.java:916)",
               "com.mysql.cj.jdbc.ClientPreparedStatement.executeQuery(ClientPreparedStatement.java:972)",
               "com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeQuery(HikariProxyPreparedStatement.java)"]))
    q.error()
    od.log("WARN", "SQL Error: 0, SQLState: S1T00", logger=exh(od))
    od.log("ERROR", m, logger=exh(od))
    w = "could not extract ResultSet; SQL [n/a]; nested exception is org.hibernate.QueryTimeoutException: could not extract ResultSet"
    java_throw(od, "org.springframework.dao.QueryTimeoutException", w,
               jst("org.springframework.dao.QueryTimeoutException", w,
                   ["org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:261)",
                    "org.springframework.orm.jpa.EntityManagerFactoryUtils.convertJpaAccessExceptionIfPossible(EntityManagerFactoryUtils.java:403)"]
                   + jframes(od.svc, "queryOrdersForRefresh")[:3],
                   [("org.hibernate.QueryTimeoutException", "could not extract ResultSet", HIBERNATE),
                    ("com.mysql.cj.jdbc.exceptions.MySQLTimeoutException", m,
                     ["com.mysql.cj.jdbc.ClientPreparedStatement.executeInternal(ClientPreparedStatement.java:916)"])]))
    fail_up(od)
    t.stop = True


@variant("db_query_timeout", "trips", "trips.config")
def _(t, tr, se):
    cf = call(t, se, "ts-config-service", "GET", "/api/v1/configservice/configs/{configName}",
              "/api/v1/configservice/configs/DirectTicketAllocationProportion")
    cf.tt("INFO", "queryConfig", "Query Config", "name: DirectTicketAllocationProportion")
    cf.server.ms = 2000 + R.uniform(1, 40)
    m = "Query execution was interrupted, maximum statement execution time exceeded"
    cf.log("WARN", "SQL Error: 3024, SQLState: HY000", logger=exh(cf))
    cf.log("ERROR", m, logger=exh(cf))
    w = "could not extract ResultSet; nested exception is org.hibernate.exception.GenericJDBCException: could not extract ResultSet"
    cf.tt("ERROR", "queryConfig", "Query Config Failed", "name: DirectTicketAllocationProportion",
          exc=("org.springframework.orm.jpa.JpaSystemException", w,
               jst("org.springframework.orm.jpa.JpaSystemException", w, jframes(cf.svc, "query")[:4],
                   [("org.hibernate.exception.GenericJDBCException", "could not extract ResultSet", HIBERNATE),
                    ("java.sql.SQLException", m, ["com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:129)"])])))
    cf.tt("INFO", "queryConfig", "Return Response", "status: 0, msg: Config not found")
    se.tt("WARN", "getLeftTicketOfInterval", "Config Not Available, Use Default Proportion", "configName: DirectTicketAllocationProportion")
    return True


@variant("db_query_timeout", "preserve", "pre.seat")
def _(t, pv, se, al, trip, day):
    m = "Error 3024 (HY000): Query execution was interrupted, maximum statement execution time exceeded"
    al.q.name = "sql.conn.query"
    al.q.attrs["db.statement"] = ("SELECT seat_no, coach FROM seat_inventory WHERE train_number = ? AND travel_date = ? "
                                  "AND status = 0 ORDER BY coach, seat_no")
    al.q.ms = 1000 + R.uniform(0.5, 6)
    al.q.error(m)
    unlog(al, "seat allocated")
    al.log("ERROR", "allocate failed", exc=("mysql.MySQLError", f"load free seats: {m}"), train=trip, date=day)
    al.grpc_code = 13
    al.server_desc = al.client_desc = f"load free seats: {m}"
    fail_up(al, until=se)
    pre_soft(t, pv, "Step 4", "Distribute Seat Failed", f"tripId: {trip}",
             exc=("org.springframework.web.client.HttpServerErrorException$InternalServerError", "500 : [no body]"))


@variant("db_query_timeout", "report", "report.select")
def _(t, rp, q):
    q.ms = 30000 + R.uniform(1, 60)
    m = ("(pymysql.err.OperationalError) (3024, 'Query execution was interrupted, maximum statement execution time exceeded')\n"
         f"[SQL: {q.attrs['db.statement']}]\n(Background on this error at: https://sqlalche.me/e/20/e3q8)")
    q.exc("sqlalchemy.exc.OperationalError", m)
    q.error(f"OperationalError: {m.splitlines()[0]}")
    rp.log("ERROR", f"Exception on /api/v1/reportservice/orders/export [GET]", logger="report.app",
           exc=("sqlalchemy.exc.OperationalError", m,
                pyst("sqlalchemy.exc.OperationalError", m,
                     [("/usr/local/lib/python3.11/site-packages/flask/app.py", 1463, "wsgi_app", "response = self.full_dispatch_request()"),
                      ("/app/report/export.py", 57, "export_orders", "rows = session.execute(query, params).all()"),
                      ("/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py", 1967, "_exec_single_context", "self.dialect.do_execute(")])))
    rp.code = 500
    fail_up(rp)
    t.stop = True


@variant("db_query_timeout", "office", "office.mongo")
def _(t, of, q, prov, city):
    m = "Executor error during find command :: caused by :: operation exceeded time limit"
    q.ms = 2000 + R.uniform(0.5, 9)
    q.error(m)
    of.log("ERROR", "failed to load offices", province=prov, city=city,
           exc=("MongoServerError", m, nodest("MongoServerError", m,
                                              ["Connection.onMessage (/app/node_modules/mongodb/lib/cmap/connection.js:202:26)",
                                               "MessageStream.<anonymous> (/app/node_modules/mongodb/lib/cmap/connection.js:61:60)"])),
           code=50, codeName="MaxTimeMSExpired")
    of.code = 500
    fail_up(of)
    t.stop = True


# --- db_connection_lost: the app's link to MySQL broke in the middle of work ------------------
@variant("db_connection_lost", "trips", "trips.station")
def _(t, tr, bs, st, q, names, trip):
    drop(q)
    st.server.ms = R.uniform(2000, 9000)
    for _ in range(R.randint(1, 3)):
        st.log("WARN", f"HikariPool-1 - Failed to validate connection com.mysql.cj.jdbc.ConnectionImpl@{obj_hash()} "
                       "(No operations allowed after connection closed.). Possibly consider using a shorter maxLifetime value.",
               logger="com.zaxxer.hikari.pool.PoolBase")
    st.log("WARN", "SQL Error: 0, SQLState: 08S01", logger=exh(st))
    st.log("ERROR", comm_failure(), logger=exh(st))
    w = "Unable to acquire JDBC Connection; nested exception is org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection"
    st.tt("ERROR", "queryForIdBatch", "Query Station Id Batch Failed", f"stationNameList: [{names[0]}, {names[1]}]",
          exc=("org.springframework.dao.DataAccessResourceFailureException", w,
               jst("org.springframework.dao.DataAccessResourceFailureException", w, jframes(st.svc, "queryForIdBatch")[:4],
                   [("org.hibernate.exception.JDBCConnectionException", "Unable to acquire JDBC Connection", HIBERNATE),
                    ("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(), MYSQL_DRIVER)])))
    bs.tt("WARN", "getStationIdByName", "Get Station Id By Name Failed", "stationList is null")
    tr.tt("WARN", "queryInfo", "Query Trips Failed", f"tripId: {trip}, basic info unavailable", cls="controller")
    t.stop = True


@variant("db_connection_lost", "user", "user.select")
def _(t, us, q, r, acc):
    recv = R.randint(300_000, 2_400_000)
    q.ms = R.uniform(5, 40)
    q.exc("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(recv))
    q.error()
    us.log("WARN", f"HikariPool-1 - Connection com.mysql.cj.jdbc.ConnectionImpl@{obj_hash()} marked as broken because of "
                   "SQLSTATE(08S01), ErrorCode(0)", logger="com.zaxxer.hikari.pool.ProxyConnection",
           exc=("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(recv)))
    w = "could not execute query; nested exception is org.hibernate.exception.JDBCConnectionException: could not execute query"
    java_throw(us, "org.springframework.dao.DataAccessResourceFailureException", w,
               jst("org.springframework.dao.DataAccessResourceFailureException", w, jframes(us.svc, "getUserByUserId")[:4],
                   [("org.hibernate.exception.JDBCConnectionException", "could not execute query", HIBERNATE),
                    ("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(recv), MYSQL_DRIVER[:2]),
                    ("java.io.EOFException", "Can not read response from server. Expected to read 4 bytes, read 0 bytes before "
                                             "connection was unexpectedly lost.",
                     ["com.mysql.cj.protocol.FullReadInputStream.readFully(FullReadInputStream.java:67)"])]))
    fail_up(us)
    t.stop = True


@variant("db_connection_lost", "news", "news.db")
def _(t, nw):
    nw.log("DEBUG", "cache miss, loading news from mysql", key="news:latest")
    nw.log("WARN", f"packets.go:122: closing bad idle connection: EOF", logger="mysql")
    nw.log("ERROR", "load news from mysql failed", exc=("errors.errorString", "invalid connection"))
    nw.log("WARN", "serving stale news from cache", age="00:14:32")
    return True


@variant("db_connection_lost", "voucher", "voucher.db")
def _(t, vo, oid):
    m = pick(["(2013, 'Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)')",
              "(2006, \"MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))\")"])
    vo.log("ERROR", f"voucher query failed for order {oid}", logger="voucher.db",
           exc=("pymysql.err.OperationalError", m,
                pyst("pymysql.err.OperationalError", m,
                     [("/app/server.py", 96, "get_voucher", "cursor.execute(sql, (order_id,))"),
                      ("/usr/local/lib/python3.8/site-packages/pymysql/cursors.py", 148, "execute", "result = self._query(query)"),
                      ("/usr/local/lib/python3.8/site-packages/pymysql/connections.py", 692, "_read_packet",
                       'raise err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")')])))
    vo.log("INFO", f"returning status=0 for order {oid}", logger="voucher.app")
    t.stop = True


@variant("db_connection_lost", "voucher", "voucher.order")
def _(t, vo, oid):
    od = order_get(t, vo, oid, other=True)
    drop(od.q)
    recv = R.randint(300_000, 2_400_000)
    od.log("WARN", f"HikariPool-1 - Connection com.mysql.cj.jdbc.ConnectionImpl@{obj_hash()} marked as broken because of "
                   "SQLSTATE(08S01), ErrorCode(0)", logger="com.zaxxer.hikari.pool.ProxyConnection",
           exc=("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(recv),
                jst("com.mysql.cj.jdbc.exceptions.CommunicationsException", comm_failure(recv), MYSQL_DRIVER)))
    od.tt("ERROR", "getOrderById", "Get Order Failed", f"OrderId: {oid}")
    vo.log("WARN", f"could not load order {oid} from ts-order-other-service: status=0", logger="voucher.app")
    t.stop = True


# --- mongo_selection_timeout: the MongoDB driver found no usable server ------------------------
@variant("mongo_selection_timeout", "preserve", "pre.contacts")
def _(t, pv, ct, q, cid):
    drop(q)
    ct.server.ms = 30000 + R.uniform(2, 40)
    ct.log("INFO", "Cluster description not yet available. Waiting for 30000 ms before timing out",
           logger="org.mongodb.driver.cluster")
    m = ("Timed out after 30000 ms while waiting for a server that matches ReadPreferenceServerSelector{readPreference=primary}. "
         + mongo_cluster("ts-contacts-mongo", "com.mongodb.MongoSocketReadException: Prematurely reached end of stream"))
    w = f"{m}; nested exception is com.mongodb.MongoTimeoutException: {m}"
    ct.tt("ERROR", "getContactsByContactsId", "Find Contacts Failed", f"ContactsId: {cid}",
          exc=("org.springframework.dao.DataAccessResourceFailureException", w,
               jst("org.springframework.dao.DataAccessResourceFailureException", w,
                   ["org.springframework.data.mongodb.core.MongoExceptionTranslator.translateExceptionIfPossible(MongoExceptionTranslator.java:95)",
                    "org.springframework.data.mongodb.core.MongoTemplate.potentiallyConvertRuntimeException(MongoTemplate.java:3044)"]
                   + jframes(ct.svc, "findContactsById")[:3],
                   [("com.mongodb.MongoTimeoutException", m,
                     ["com.mongodb.internal.connection.BaseCluster.createTimeoutException(BaseCluster.java:407)",
                      "com.mongodb.internal.connection.BaseCluster.selectServer(BaseCluster.java:118)"])])))
    pre_soft(t, pv, "Step 2", "Get Contacts Failed", f"contactsId: {cid}", level="WARN")


@variant("mongo_selection_timeout", "food", "food.mongo")
def _(t, fd, q, trip):
    drop(q)
    fd.server.ms = 30000 + R.uniform(2, 40)
    fd.log("INFO", "Cluster description not yet available. Waiting for 30000 ms before timing out",
           logger="org.mongodb.driver.cluster")
    m = ("Timed out after 30000 ms while waiting to connect. "
         + mongo_cluster("ts-food-mongo", "com.mongodb.MongoSocketOpenException: Exception opening socket}, caused by "
                                          "{java.net.ConnectException: Connection refused (Connection refused)"))
    java_throw(fd, "org.springframework.dao.DataAccessResourceFailureException",
               f"{m}; nested exception is com.mongodb.MongoTimeoutException: {m}")
    fail_up(fd)
    t.stop = True


@variant("mongo_selection_timeout", "office", "office.mongo")
def _(t, of, q, prov, city):
    drop(q)
    of.server.ms = 30000 + R.uniform(2, 40)
    m = "Server selection timed out after 30000 ms"
    of.log("ERROR", "failed to load offices, answering with an empty list", province=prov, city=city,
           exc=("MongoServerSelectionError", m,
                nodest("MongoServerSelectionError", m,
                       ["Timeout._onTimeout (/app/node_modules/mongodb/lib/sdam/topology.js:278:38)",
                        "listOnTimeout (node:internal/timers:569:17)", "process.processTimers (node:internal/timers:512:7)"])),
           reason={"type": "Unknown", "servers": {"ts-ticket-office-mongo:27017": {"error": "connect ECONNREFUSED 10.43.18.7:27017"}}})
    t.stop = True


@variant("mongo_selection_timeout", "delivery", "delivery.mongo")
def _(t, dv, q, oid):
    drop(q)
    dv.work.ms = 30000 + R.uniform(2, 40)
    tid = hexs(24)
    m = (f"ts-delivery-mongo:27017: [Errno 111] Connection refused, Timeout: 30s, Topology Description: <TopologyDescription "
         f"id: {tid}, topology_type: Unknown, servers: [<ServerDescription ('ts-delivery-mongo', 27017) server_type: Unknown, "
         f"rtt: None, error=AutoReconnect('ts-delivery-mongo:27017: [Errno 111] Connection refused')>]>")
    dv.log("ERROR", f"failed to process delivery message order_id={oid}, requeueing", logger="delivery.consumer",
           exc=("pymongo.errors.ServerSelectionTimeoutError", m,
                pyst("pymongo.errors.ServerSelectionTimeoutError", m,
                     [("/app/delivery/consumer.py", 64, "on_message", "existing = db.delivery.find_one({'orderId': order_id})"),
                      ("/usr/local/lib/python3.11/site-packages/pymongo/topology.py", 272, "_select_servers_loop",
                       "raise ServerSelectionTimeoutError(")])))
    dv.log("WARN", f"nack delivery_tag={R.randint(1, 90000)} requeue=True", logger="delivery.consumer")
    t.stop = True


# --- redis_command_timeout: cache commands that got no reply in time --------------------------
@variant("redis_command_timeout", "pay", "pay.cache")
def _(t, ip, od, oid):
    od.cache.ms = 2000 + R.uniform(0.2, 3)
    od.cache.attrs["lettuce.command.cancelled"] = True
    unlog(od, "Cache Miss")
    w = ("Redis command timed out; nested exception is io.lettuce.core.RedisCommandTimeoutException: "
         "Command timed out after 2 second(s)")
    od.tt("WARN", "getOrderById", "Redis Read Failed, Fallback To Database", f"OrderId: {oid}",
          exc=("org.springframework.dao.QueryTimeoutException", w,
               jst("org.springframework.dao.QueryTimeoutException", w,
                   ["org.springframework.data.redis.connection.lettuce.LettuceExceptionConverter.convert(LettuceExceptionConverter.java:70)",
                    "org.springframework.data.redis.connection.lettuce.LettuceConnection.await(LettuceConnection.java:1092)"],
                   [("io.lettuce.core.RedisCommandTimeoutException", "Command timed out after 2 second(s)",
                     ["io.lettuce.core.internal.ExceptionFactory.createTimeoutException(ExceptionFactory.java:59)",
                      "io.lettuce.core.internal.Futures.awaitOrCancel(Futures.java:246)"])])))


@variant("redis_command_timeout", "preserve", "pre.seat")
def _(t, pv, se, al, trip, day):
    err = f"read tcp {ip()}:{eport()}->10.43.9.12:6379: i/o timeout"
    al.lock.ms = 3000 + R.uniform(0.2, 4)
    al.lock.error(err)
    drop(al.q)
    unlog(al, "seat allocated", "seat lock acquired")
    al.log("ERROR", "seat lock failed", exc=("net.OpError", err), train=trip, date=day)
    al.grpc_code = 14
    al.server_desc = al.client_desc = f"seat lock: {err}"
    fail_up(al, until=se)
    pre_soft(t, pv, "Step 4", "Distribute Seat Failed", f"tripId: {trip}",
             exc=("org.springframework.web.client.HttpServerErrorException$InternalServerError", "500 : [no body]"))


@variant("redis_command_timeout", "office", "office.redis")
def _(t, of, r):
    r.ms = 1000 + R.uniform(0.2, 5)
    r.error("Command timed out")
    of.log("WARN", "redis get failed, falling back to mongo",
           exc=("Error", "Command timed out", nodest("Error", "Command timed out",
                                                     ["Timeout._onTimeout (/app/node_modules/ioredis/built/Command.js:192:33)",
                                                      "listOnTimeout (node:internal/timers:569:17)"])))


@variant("redis_command_timeout", "voucher", "voucher.redis")
def _(t, vo, oid):
    vo.log("DEBUG", f"GET voucher:order:{oid}", logger="voucher.cache")
    m = "Timeout reading from socket"
    vo.log("WARN", "voucher cache unavailable, reading from MySQL", logger="voucher.cache",
           exc=("redis.exceptions.TimeoutError", m,
                pyst("redis.exceptions.TimeoutError", m,
                     [("/app/server.py", 71, "get_voucher", "cached = cache.get(f'voucher:order:{order_id}')"),
                      ("/usr/local/lib/python3.8/site-packages/redis/connection.py", 478, "_read_from_socket",
                       "raise TimeoutError(\"Timeout reading from socket\")")])))
    vo.server.ms += 1000


@variant("redis_command_timeout", "login", "login.token_cache")
def _(t, au, r):
    r.ms = 2000 + R.uniform(0.2, 4)
    m = "java.net.SocketTimeoutException: Read timed out"
    st = jst("redis.clients.jedis.exceptions.JedisConnectionException", m,
             ["redis.clients.jedis.util.RedisInputStream.ensureFill(RedisInputStream.java:205)",
              "redis.clients.jedis.Protocol.process(Protocol.java:155)",
              "redis.clients.jedis.Connection.getStatusCodeReply(Connection.java:245)",
              "redis.clients.jedis.Jedis.setex(Jedis.java:617)"],
             [("java.net.SocketTimeoutException", "Read timed out", SOCKET_READ[:4])])
    r.exc("redis.clients.jedis.exceptions.JedisConnectionException", m, st)
    r.error()
    au.tt("WARN", "getToken", "Token Cache Write Failed", f"userId: {uid()}",
          exc=("redis.clients.jedis.exceptions.JedisConnectionException", m, st))


# --- grpc_deadline_exceeded: an RPC ran out of the time its caller gave it ---------------------
@variant("grpc_deadline_exceeded", "preserve", "pre.seat")
def _(t, pv, se, al, trip, day):
    d = 2000
    al.client.fixed = d + R.uniform(0.1, 2)
    al.server.ms = R.uniform(2600, 5200)
    al.grpc_code, al.server_grpc_code = 4, 1
    unlog(al, "seat allocated")
    al.log("WARN", "allocate aborted", exc=("context.deadlineExceededError", "context canceled"), train=trip)
    m = (f"DEADLINE_EXCEEDED: deadline exceeded after {d / 1000 - R.uniform(0.0001, 0.0009):.9f}s. "
         f"[closed=[], open=[[buffered_nanos={R.randint(20000, 90000)}, remote_addr=ts-seat-allocator/{ip()}:50051]]]")
    st = jst("io.grpc.StatusRuntimeException", m,
             ["io.grpc.stub.ClientCalls.toStatusRuntimeException(ClientCalls.java:268)",
              "io.grpc.stub.ClientCalls.getUnchecked(ClientCalls.java:249)",
              "io.grpc.stub.ClientCalls.blockingUnaryCall(ClientCalls.java:167)",
              "seat.v1.SeatAllocatorGrpc$SeatAllocatorBlockingStub.allocate(SeatAllocatorGrpc.java:311)"]
             + jframes(se.svc, "distributeSeat")[:3])
    al.client.exc("io.grpc.StatusRuntimeException", m, st)
    java_throw(se, "io.grpc.StatusRuntimeException", m, st)
    pre_soft(t, pv, "Step 4", "Distribute Seat Failed", f"tripId: {trip}",
             exc=("org.springframework.web.client.HttpServerErrorException$InternalServerError", "500 : [no body]"))


@variant("grpc_deadline_exceeded", "news", "news.grpc")
def _(t, nw):
    al = allocator(t, nw, "LeftTickets")
    al.client.fixed = 800 + R.uniform(0.1, 2)
    al.server.ms = R.uniform(1200, 3500)
    al.grpc_code, al.server_grpc_code = 4, 1
    al.client_desc = "context deadline exceeded"
    unlog(al, "left tickets computed")
    nw.log("ERROR", "left tickets widget failed",
           exc=("status.Error", "rpc error: code = DeadlineExceeded desc = context deadline exceeded"))
    nw.log("INFO", "news list served", count=R.randint(5, 20), widget="none")
    return True


def _sms_deadline(t, nt, sm):
    d = 3000
    sm.client.fixed = d + R.uniform(0.5, 3)
    sm.server.ms = R.uniform(3500, 8000)
    sm.grpc_code, sm.server_grpc_code = 4, 1
    m = f"4 DEADLINE_EXCEEDED: Deadline exceeded after {d / 1000 + R.uniform(0.0005, 0.004):.3f}s,LB pick: 0.000s,remote_addr={ip()}:9090"
    sm.client_desc = m
    nt.log("ERROR", "sms dispatch failed",
           stack=nodest("Error", m, ["callErrorFromStatus (/app/node_modules/@grpc/grpc-js/build/src/call.js:31:19)",
                                     "Object.onReceiveStatus (/app/node_modules/@grpc/grpc-js/build/src/client.js:192:76)",
                                     "process.processTicksAndRejections (node:internal/process/task_queues:77:11)"]))
    nt.log("INFO", "notification marked as failed, will not retry", channel="sms")
    return True


@variant("grpc_deadline_exceeded", "preserve", "pre.notify")
def _(t, pv, nt, sm):
    return _sms_deadline(t, nt, sm)


@variant("grpc_deadline_exceeded", "cancel", "cancel.notify")
def _(t, cn, nt, sm):
    return _sms_deadline(t, nt, sm)


@variant("grpc_deadline_exceeded", "delivery", "delivery.sms")
def _(t, dv, oid):
    dv.work.ms = 2000 + R.uniform(1, 10)
    created = iso(NOW - R.uniform(100, 9000))
    m = ('<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n\tdetails = "Deadline Exceeded"\n'
         f'\tdebug_error_string = "UNKNOWN:Deadline Exceeded {{grpc_status:4, created_time:"{created}"}}"\n>')
    dv.log("ERROR", f"eta sms failed for order_id={oid}", logger="delivery.notify",
           exc=("grpc._channel._InactiveRpcError", m,
                pyst("grpc._channel._InactiveRpcError", m,
                     [("/app/delivery/notify.py", 33, "send_eta", "stub.Send(req, timeout=2.0)"),
                      ("/usr/local/lib/python3.11/site-packages/grpc/_channel.py", 1161, "__call__",
                       "return _end_unary_response_blocking(state, call, False, None)")])))
    dv.log("INFO", f"ack delivery message order_id={oid}", logger="delivery.consumer")
    return True


# --- row_lock_wait_timeout: a write waited for a row another transaction held -----------------
LOCK_MSG = "Lock wait timeout exceeded; try restarting transaction"


@variant("row_lock_wait_timeout", "pay", "pay.modify")
def _(t, ip, mo, q, oid):
    q.ms = 50000 + R.uniform(1, 30)
    q.exc("com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException", LOCK_MSG,
          jst("com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException", LOCK_MSG,
              ["com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:123)",
               "com.mysql.cj.jdbc.ClientPreparedStatement.executeUpdateInternal(ClientPreparedStatement.java:1098)",
               "com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate(HikariProxyPreparedStatement.java)"]))
    q.error()
    mo.log("WARN", "SQL Error: 1205, SQLState: 40001", logger=exh(mo))
    mo.log("ERROR", LOCK_MSG, logger=exh(mo))
    java_throw(mo, "org.springframework.dao.CannotAcquireLockException",
               "could not execute statement; SQL [n/a]; nested exception is org.hibernate.exception.LockAcquisitionException: could not execute statement")
    fail_up(mo)
    t.stop = True


@variant("row_lock_wait_timeout", "pay", "pay.payment")
def _(t, ip, pm, oid):
    pm.server.ms = 50000 + R.uniform(1, 30)
    pm.log("WARN", "SQL Error: 1205, SQLState: 40001", logger=exh(pm))
    pm.log("ERROR", LOCK_MSG, logger=exh(pm))
    w = "could not execute statement; SQL [n/a]; nested exception is org.hibernate.exception.LockAcquisitionException: could not execute statement"
    pm.tt("ERROR", "pay", "Payment Failed", f"orderId: {oid}",
          exc=("org.springframework.dao.CannotAcquireLockException", w,
               jst("org.springframework.dao.CannotAcquireLockException", w, jframes(pm.svc, "pay")[:4],
                   [("org.hibernate.exception.LockAcquisitionException", "could not execute statement", HIBERNATE),
                    ("com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException", LOCK_MSG,
                     ["com.mysql.cj.jdbc.ClientPreparedStatement.executeUpdateInternal(ClientPreparedStatement.java:1098)"])])))
    pm.tt("INFO", "pay", "Return Response", "status: 0, msg: Pay Failed")
    ip.tt("WARN", "pay", "Payment Failed", f"orderId: {oid}, payment service returned status 0")
    t.stop = True


@variant("row_lock_wait_timeout", "preserve", "pre.seat")
def _(t, pv, se, al, trip, day):
    m = f"Error 1205 (HY000): {LOCK_MSG}"
    al.q.ms = 50000 + R.uniform(1, 30)
    al.q.error(m)
    unlog(al, "seat allocated")
    al.log("ERROR", "allocate failed", exc=("mysql.MySQLError", f"update seat_inventory: {m}"), train=trip, date=day)
    al.grpc_code = 10
    al.server_desc = al.client_desc = f"update seat_inventory: {m}"
    fail_up(al, until=se)
    pre_soft(t, pv, "Step 4", "Distribute Seat Failed", f"tripId: {trip}",
             exc=("org.springframework.web.client.HttpServerErrorException$InternalServerError", "500 : [no body]"))


@variant("row_lock_wait_timeout", "voucher", "voucher.db")
def _(t, vo, oid):
    vo.server.ms += 50000 + R.uniform(1, 30)
    m = f"(1205, '{LOCK_MSG}')"
    vo.log("ERROR", f"insert voucher failed for order {oid}", logger="voucher.db",
           exc=("pymysql.err.OperationalError", m,
                pyst("pymysql.err.OperationalError", m,
                     [("/app/server.py", 104, "get_voucher", "cursor.execute(insert_sql, values)"),
                      ("/usr/local/lib/python3.8/site-packages/pymysql/err.py", 143, "raise_mysql_exception", "raise errorclass(errno, errval)")])))
    vo.log("INFO", f"returning status=0 for order {oid}", logger="voucher.app")
    t.stop = True


@variant("row_lock_wait_timeout", "preserve", "pre.consign")
def _(t, pv, cs, q, oid):
    q.ms = 50000 + R.uniform(1, 30)
    q.exc("com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException", LOCK_MSG)
    q.error()
    cs.log("WARN", "SQL Error: 1205, SQLState: 40001", logger=exh(cs))
    cs.log("ERROR", LOCK_MSG, logger=exh(cs))
    cs.tt("ERROR", "updateConsign", "Update Consign Failed", f"orderId: {oid}",
          exc=("org.springframework.dao.CannotAcquireLockException",
               "could not execute statement; SQL [n/a]; nested exception is org.hibernate.exception.LockAcquisitionException: could not execute statement"))
    pv.tt("WARN", "preserve", "Step 7", f"Consign Failed][orderId: {oid}")
    return True


# --- no_instances_available: service discovery had no instance to send the call to -------------
RIBBON = ["org.springframework.cloud.netflix.ribbon.RibbonLoadBalancerClient.execute(RibbonLoadBalancerClient.java:119)",
          "org.springframework.cloud.netflix.ribbon.RibbonLoadBalancerClient.execute(RibbonLoadBalancerClient.java:99)",
          "org.springframework.cloud.client.loadbalancer.LoadBalancerInterceptor.intercept(LoadBalancerInterceptor.java:58)",
          "org.springframework.http.client.InterceptingClientHttpRequest$InterceptingRequestExecution.execute(InterceptingClientHttpRequest.java:93)",
          "org.springframework.http.client.InterceptingClientHttpRequest.executeInternal(InterceptingClientHttpRequest.java:77)"]


@variant("no_instances_available", "trips", "trips.route")
def _(t, tr, bs, rid):
    bs.log("INFO", "DynamicServerListLoadBalancer for client ts-route-service initialized: DynamicServerListLoadBalancer:"
                   "{NFLoadBalancer:name=ts-route-service,current list of Servers=[],Load balancer stats=Zone stats: {},"
                   f"Server stats: []}}ServerList:org.springframework.cloud.netflix.ribbon.eureka.DomainExtractingServerList@{obj_hash()}",
           logger="com.netflix.loadbalancer.DynamicServerListLoadBalancer")
    m = "No instances available for ts-route-service"
    java_throw(bs, "java.lang.IllegalStateException", m,
               jst("java.lang.IllegalStateException", m, RIBBON + REST_TEMPLATE + jframes(bs.svc, "queryForTravel")[:3]))
    fail_up(bs)
    t.stop = True


@variant("no_instances_available", "trips", "trips.config")
def _(t, tr, se):
    se.log("WARN", "No servers available for service: ts-config-service",
           logger="o.s.c.l.core.RoundRobinLoadBalancer")
    m = "No instances available for ts-config-service"
    se.tt("ERROR", "getLeftTicketOfInterval", "Get Config Failed", "configName: DirectTicketAllocationProportion",
          exc=("java.lang.IllegalStateException", m,
               jst("java.lang.IllegalStateException", m,
                   ["org.springframework.cloud.loadbalancer.blocking.client.BlockingLoadBalancerClient.execute(BlockingLoadBalancerClient.java:79)",
                    "org.springframework.cloud.client.loadbalancer.LoadBalancerInterceptor.intercept(LoadBalancerInterceptor.java:56)"]
                   + REST_TEMPLATE + jframes(se.svc, "getLeftTicketOfInterval")[:2])))
    se.tt("INFO", "getLeftTicketOfInterval", "Use Default Proportion", "0.5")
    return True


def _gateway_no_instance(t, gw, h):
    drop(h.client)
    t.hs.remove(h)
    gw.server.children = []
    gw.server.add(Sp("ts-gateway-service", "FilteringWebHandler.handle", INTERNAL, {}, scope="gw_filter", ms=R.uniform(0.2, 1.5)))
    gw.log("WARN", f"No servers available for service: {h.svc}", logger="o.s.c.l.core.RoundRobinLoadBalancer")
    m = f'503 SERVICE_UNAVAILABLE "Unable to find instance for {h.svc}"'
    gw.server.exc("org.springframework.cloud.gateway.support.NotFoundException", m,
                  jst("org.springframework.cloud.gateway.support.NotFoundException", m,
                      ["org.springframework.cloud.gateway.support.NotFoundException.create(NotFoundException.java:45)",
                       "org.springframework.cloud.gateway.filter.ReactiveLoadBalancerClientFilter.lambda$filter$1(ReactiveLoadBalancerClientFilter.java:120)"]))
    gw.code = 503
    t.stop = True


for _flow in ("trips", "pay", "refresh", "food"):
    variant("no_instances_available", _flow, "gw.call")(_gateway_no_instance)


@variant("no_instances_available", "news", "news.grpc")
def _(t, nw):
    c = nw.work.add(Sp("ts-news-service", "seat.v1.SeatAllocator/LeftTickets", CLIENT,
                       {"rpc.system": "grpc", "rpc.service": "seat.v1.SeatAllocator", "rpc.method": "LeftTickets",
                        "net.peer.name": "ts-seat-allocator", "net.peer.port": 50051, "rpc.grpc.status_code": 14},
                       ms=R.uniform(0.3, 3), scope="grpc"))
    c.error("name resolver error: produced zero addresses")
    nw.log("WARN", "no healthy instances", logger="consul", service="ts-seat-allocator", passingOnly=True, dc="dc1")
    nw.log("ERROR", "left tickets widget failed",
           exc=("status.Error", "rpc error: code = Unavailable desc = name resolver error: produced zero addresses"))
    nw.log("INFO", "news list served", count=R.randint(5, 20), widget="none")
    return True


@variant("no_instances_available", "preserve", "pre.notify")
def _(t, pv, nt, sm):
    sm.client.children = []
    sm.grpc_code = 14
    sm.client_desc = "14 UNAVAILABLE: no healthy upstream"
    nt.log("ERROR", "sms dispatch failed",
           stack=nodest("Error", "14 UNAVAILABLE: no healthy upstream",
                        ["callErrorFromStatus (/app/node_modules/@grpc/grpc-js/build/src/call.js:31:19)",
                         "Object.onReceiveStatus (/app/node_modules/@grpc/grpc-js/build/src/client.js:192:76)"]))
    return True


@variant("no_instances_available", "voucher", "voucher.order")
def _(t, vo, oid):
    vo.log("DEBUG", "consul health lookup ts-order-other-service passing=True", logger="voucher.discovery")
    m = "no passing instances of ts-order-other-service registered in consul"
    vo.log("ERROR", f"failed to fetch order {oid}", logger="voucher.app",
           exc=("RuntimeError", m, pyst("RuntimeError", m, [("/app/server.py", 88, "get_voucher", "order = fetch_order(order_id, order_type)"),
                                                             ("/app/discovery.py", 27, "resolve", "raise RuntimeError(f'no passing instances of {name} registered in consul')")])))
    vo.log("INFO", f"returning status=0 for order {oid}", logger="voucher.app")
    t.stop = True


# --- lookup_not_found: the thing asked for does not exist -------------------------------------
BAD_STATIONS = ["Shang Hia", "Bei Jin", "Su Zhuo", "Nan Jing Xi Zhan", "Hang Zhou Dong", "ShangHai", "Tai Yuan Nan"]


@variant("lookup_not_found", "trips", "trips.station")
def _(t, tr, bs, st, q, names, trip):
    bad = pick(BAD_STATIONS)
    st.tt("WARN", "queryForIdBatch", "Find station id error", f"Station not exists, stationName: {bad}")
    st.tt("INFO", "queryForIdBatch", "Return Response", "status: 0, msg: No content according to name list")
    bs.tt("WARN", "getStationIdByName", "Get Station Id By Name Failed", "stationList is null")
    tr.tt("WARN", "queryInfo", "Query Trips Failed", f"startPlace: {bad} not exists", cls="controller")
    t.stop = True


@variant("lookup_not_found", "rebook", "rebook.trip")
def _(t, rb, tv, trip):
    tv.tt("WARN", "getTripAllDetailInfo", "Get Trip All Detail Info Failed", f"Trip not found, tripId: {trip}")
    rb.tt("WARN", "rebook", "Rebook Failed", f"Trip info is null, tripId: {trip}")
    t.stop = True


@variant("lookup_not_found", "cancel", "cancel.get_order")
def _(t, cn, od, oid):
    od.tt("WARN", "getOrderById", "Order Not Found", f"OrderId: {oid}")
    o2 = order_get(t, cn, oid, other=True)
    o2.tt("WARN", "getOrderById", "No Content according to orderId", f"OrderId: {oid}")
    cn.tt("WARN", "cancelOrder", "Cancel Order Failed", f"Order Not Found, orderId: {oid}")
    t.stop = True


@variant("lookup_not_found", "news", "news.detail")
def _(t, nw, nid):
    nw.log("WARN", "news item not found", id=nid, exc=("errors.errorString", "sql: no rows in result set"))
    nw.code = 404
    return True


@variant("lookup_not_found", "office", "office.mongo")
def _(t, of, q, prov, city):
    of.log("WARN", "no office for province/city", province=prov, city=city + pick(["", " ", "shi"]))
    of.code = 404
    t.hs[0].code = 404
    t.stop = True


@variant("lookup_not_found", "voucher", "voucher.order")
def _(t, vo, oid):
    od = order_get(t, vo, oid, other=True)
    od.tt("WARN", "getOrderById", "No Content according to orderId", f"OrderId: {oid}")
    vo.log("WARN", f"order {oid} unknown to ts-order-other-service, no voucher issued", logger="voucher.app")
    t.stop = True


@variant("lookup_not_found", "preserve", "pre.contacts")
def _(t, pv, ct, q, cid):
    ct.tt("WARN", "getContactsByContactsId", "No contacts according to contacts id", f"contactsId: {cid}")
    pre_soft(t, pv, "Step 2", "Get Contacts Failed", f"contactsId: {cid}", level="WARN")


# --- business_rule_refused: the operation is not allowed in the order's/seat's current state ---
@variant("business_rule_refused", "pay", "pay.check_state")
def _(t, ip, od, oid):
    ip.tt("WARN", "pay", "Order Pay Failed", f"order already paid, orderId: {oid}, status: PAID")
    ip.tt("INFO", "pay", "Return Response", "status: 0, msg: Error. Order status is PAID")
    t.stop = True


@variant("business_rule_refused", "execute", "exec.check_state")
def _(t, ex, od, oid, action):
    if action == "collected":
        ex.tt("WARN", "ticketCollect", "Ticket Collect Failed", f"Wrong State, orderId: {oid}, status: {pick(['NOTPAID', 'CANCEL', 'USED'])}")
    else:
        ex.tt("WARN", "check", "Wrong State", f"id: {oid}")
        ex.tt("WARN", "ticketExecute", "Ticket Execute Failed", f"orderId: {oid}, status: PAID, expected: COLLECTED")
    ex.tt("INFO", "ticketCollect" if action == "collected" else "ticketExecute", "Return Response", "status: 0")
    t.stop = True


@variant("business_rule_refused", "preserve", "pre.seat")
def _(t, pv, se, al, trip, day):
    drop(al.q)
    unlog(al, "seat allocated", "seat lock acquired")
    al.log("WARN", "seat already taken", train=trip, date=day, seat=al.seat, holder=uid()[:8])
    al.grpc_code = 6
    al.server_desc = al.client_desc = f"seat {al.seat} on {trip} {day} already taken"
    m = f"ALREADY_EXISTS: seat {al.seat} on {trip} {day} already taken"
    al.client.exc("io.grpc.StatusRuntimeException", m)
    se.tt("WARN", "distributeSeat", "Seat Already Taken", f"seatNo: {al.seat}, trainNumber: {trip}")
    se.tt("INFO", "distributeSeat", "Return Response", "status: 0, msg: Seat taken")
    pre_soft(t, pv, "Step 4", "Distribute Seat Failed", f"seat taken, tripId: {trip}", level="WARN")


@variant("business_rule_refused", "cancel", "cancel.check_state")
def _(t, cn, od, oid):
    cn.tt("WARN", "cancelOrder", "Cancel Order Failed",
          f"Order Status Cancel Not Permitted, orderId: {oid}, status: {pick(['COLLECTED', 'USED', 'CANCEL'])}")
    t.stop = True


@variant("business_rule_refused", "rebook", "rebook.check_state")
def _(t, rb, od, oid):
    if R.random() < 0.5:
        rb.tt("WARN", "rebook", "Rebook Failed", f"You can only change the ticket once, orderId: {oid}, status: CHANGE")
    else:
        rb.tt("WARN", "rebook", "Rebook Failed", f"Order status not permit rebook, orderId: {oid}, status: {pick(['NOTPAID', 'COLLECTED'])}")
    rb.tt("INFO", "rebook", "Return Response", "status: 0")
    t.stop = True


@variant("business_rule_refused", "preserve", "pre.consign")
def _(t, pv, cs, q, oid):
    drop(q)
    cs.tt("WARN", "updateConsign", "Update Consign Refused", f"consign already dispatched, orderId: {oid}, status: IN_TRANSIT")
    pv.tt("WARN", "preserve", "Step 7", f"Consign Failed][orderId: {oid}")
    return True


# --- slow_db_query: a query that normally takes milliseconds takes 8-12 s; nothing fails -------
@variant("slow_db_query", "refresh", "refresh.select")
def _(t, od, q, acc):
    q.ms = R.uniform(8000, 11000)


@variant("slow_db_query", "trips", "trips.station")
def _(t, tr, bs, st, q, names, trip):
    q.ms = R.uniform(8000, 10500)


@variant("slow_db_query", "contacts", "contacts.mongo")
def _(t, ct, q, acc):
    q.ms = R.uniform(8500, 12000)


@variant("slow_db_query", "execute", "exec.get_order")
def _(t, ex, od, oid, action):
    od.q.ms = R.uniform(8000, 11000)


@variant("slow_db_query", "office", "office.mongo")
def _(t, of, q, prov, city):
    q.ms = R.uniform(8000, 10000)


# --- slow_downstream_call: an HTTP call that normally takes tens of ms takes 6-9 s -----------
@variant("slow_downstream_call", "pay", "pay.payment")
def _(t, ip, pm, oid):
    pm.server.ms = R.uniform(6000, 8000)


@variant("slow_downstream_call", "trips", "trips.sold")
def _(t, se, od, q):
    od.client.pre = R.uniform(6000, 7500)


@variant("slow_downstream_call", "login", "login.verify")
def _(t, au, vc):
    vc.server.ms = R.uniform(6000, 7000)


def _slow_gateway(t, gw, h):
    h.client.pre = R.uniform(6000, 9000)


for _flow in ("user", "contacts", "food", "execute"):
    variant("slow_downstream_call", _flow, "gw.call")(_slow_gateway)


@variant("slow_downstream_call", "refresh", "refresh.station")
def _(t, od, st):
    st.server.ms = R.uniform(6000, 7000)


# --- input_parse_crash: malformed input made a handler throw -----------------------------------
@variant("input_parse_crash", "trips", "trips.parse")
def _(t, tr, day):
    y = day[:4]
    bad, why = pick([(f"{y}-02-30", "Invalid date 'FEBRUARY 30'"), (f"{y}-06-31", "Invalid date 'JUNE 31'"),
                     (f"{y}-13-01", "Invalid value for MonthOfYear (valid values 1 - 12): 13"),
                     (f"{day} 08:00", f"Text '{day} 08:00' could not be parsed, unparsed text found at index 10")])
    msg = why if why.startswith("Text") else f"Text '{bad}' could not be parsed: {why}"
    java_throw(tr, "java.time.format.DateTimeParseException", msg,
               jst("java.time.format.DateTimeParseException", msg,
                   ["java.time.format.DateTimeFormatter.createError(DateTimeFormatter.java:1920)",
                    "java.time.format.DateTimeFormatter.parse(DateTimeFormatter.java:1855)",
                    "java.time.LocalDate.parse(LocalDate.java:400)"] + jframes(tr.svc, "queryInfo")[:3]))
    fail_up(tr)
    t.stop = True


@variant("input_parse_crash", "refresh", "refresh.parse")
def _(t, od, acc):
    v = pick(["undefined", "null", "", "NaN", "1,2"])
    m = f'For input string: "{v}"'
    java_throw(od, "java.lang.NumberFormatException", m,
               jst("java.lang.NumberFormatException", m,
                   ["java.lang.NumberFormatException.forInputString(NumberFormatException.java:65)",
                    "java.lang.Integer.parseInt(Integer.java:580)", "java.lang.Integer.parseInt(Integer.java:615)"]
                   + jframes(od.svc, "queryOrdersForRefresh")[:3]))
    fail_up(od)
    t.stop = True


@variant("input_parse_crash", "news", "news.parse")
def _(t, nw, path):
    v = pick(["abc", "2,", "1e3", "-", "undefined"])
    nw.log("ERROR", "panic recovered", exc=("*strconv.NumError", f'strconv.Atoi: parsing "{v}": invalid syntax'),
           stacktrace="goroutine 1187 [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:24 +0x5e\n"
                      "github.com/fudanselab/ts-news-service/handler.(*NewsHandler).List(...)\n\t/src/handler/news.go:57 +0x3c5")
    nw.code = 500
    fail_up(nw)
    t.stop = True


@variant("input_parse_crash", "report", "report.parse")
def _(t, rp, path):
    m = pick(["invalid literal for int() with base 10: 'NaN'", "day is out of range for month",
              "time data '2024/06/18' does not match format '%Y-%m-%d'"])
    st = pyst("ValueError", m, [("/usr/local/lib/python3.11/site-packages/flask/app.py", 1463, "wsgi_app", "response = self.full_dispatch_request()"),
                               ("/app/report/export.py", 31, "export_orders", "start = parse_range(request.args)"),
                               ("/app/report/params.py", 18, "parse_range", "return datetime.strptime(args['from'], '%Y-%m-%d')")])
    rp.server.exc("ValueError", m, st)
    rp.log("ERROR", "Exception on /api/v1/reportservice/orders/export [GET]", logger="report.app", exc=("ValueError", m, st))
    rp.code = 500
    fail_up(rp)
    t.stop = True


@variant("input_parse_crash", "office", "office.parse")
def _(t, of):
    st = nodest("RangeError", "Invalid time value", ["Date.toISOString (<anonymous>)",
                                                    "buildQuery (/app/src/office/service.js:41:38)",
                                                    "getSpecificOffices (/app/src/office/controller.js:22:19)",
                                                    "Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)"])
    of.work.exc("RangeError", "Invalid time value", st)
    of.work.error("Invalid time value")
    of.log("ERROR", "unhandled error", exc=("RangeError", "Invalid time value", st))
    of.code = 500
    fail_up(of)
    t.stop = True


# ---------------------------------------------------------------------------------------------
# Decoys: healthy traces whose routine lines share words with the questions
# ---------------------------------------------------------------------------------------------
def hs_of(t, svc):
    return [h for h in t.hs if h.svc == svc]


def _first(t, svc):
    hs = hs_of(t, svc)
    return hs[0] if hs else None


DECOYS = []


def decoy(flow):
    def deco(fn):
        DECOYS.append((flow, fn))
        return fn
    return deco


@decoy("trips")
def d_config_timeouts(t):
    cf = _first(t, "ts-config-service")
    if cf:
        cf.tt("INFO", "queryConfig", "Config Loaded",
              "ribbon.ReadTimeout=5000, ribbon.ConnectTimeout=2000, spring.datasource.hikari.connection-timeout=30000")


@decoy("trips")
def d_station_found(t):
    st = _first(t, "ts-station-service")
    if st:
        st.tt("INFO", "queryForIdBatch", "Station found", f"stationName: {pick(STATIONS)}, stayTime: {R.randint(2, 10)}")
    se = _first(t, "ts-seat-service")
    if se:
        se.log("DEBUG", f"Fetched {R.randint(2, 4)} instances for ts-order-service from DiscoveryClient",
               logger="o.s.c.l.core.RoundRobinLoadBalancer")


@decoy("pay")
def d_pay_lock(t):
    ip_ = _first(t, "ts-inside-payment-service")
    if ip_:
        ip_.tt("INFO", "pay", "Check Order Status", "status: NOTPAID, payment allowed")
        ip_.tt("DEBUG", "pay", "Row Lock Acquired", f"table: money, waited: {R.randint(1, 9)}ms")
        for sp in ip_.work.children:
            if sp.name == "SELECT ts.money":
                sp.attrs["db.statement"] += " for update"


@decoy("pay")
def d_cache_stats(t):
    od = _first(t, "ts-order-service")
    if od:
        od.tt("DEBUG", "getOrderById", "Cache Stats", f"hits: {R.randint(900, 9000)}, misses: {R.randint(20, 400)}, timeouts: 0")


@decoy("preserve")
def d_seat_reuse(t):
    al = _first(t, "ts-seat-allocator")
    if al:
        al.log("INFO", "seat already held by this order, reusing allocation", seat=seat_no(), idempotent=True)
    ct = _first(t, "ts-contacts-service")
    if ct:
        ct.log("INFO", f"Opened connection [connectionId{{localValue:{R.randint(2, 40)}, serverValue:{R.randint(100, 9000)}}}] "
                       "to ts-contacts-mongo:27017", logger="org.mongodb.driver.connection")


@decoy("contacts")
def d_mongo_monitor(t):
    ct = _first(t, "ts-contacts-service")
    if ct:
        ct.log("INFO", "Monitor thread successfully connected to server with description ServerDescription{"
                       "address=ts-contacts-mongo:27017, type=STANDALONE, state=CONNECTED, ok=true, minWireVersion=0, "
                       f"maxWireVersion=8, maxDocumentSize=16777216, logicalSessionTimeoutMinutes=30, roundTripTimeNanos={R.randint(900000, 3000000)}}}",
               logger="org.mongodb.driver.cluster")


@decoy("news")
def d_grpc_deadline_info(t):
    nw = _first(t, "ts-news-service")
    if nw:
        nw.log("DEBUG", "calling seat allocator", deadline="800ms")
    al = _first(t, "ts-seat-allocator")
    if al:
        al.log("DEBUG", "request deadline remaining", remaining=f"{R.uniform(0.75, 0.79):.3f}s")


@decoy("refresh")
def d_hikari(t):
    od = _first(t, "ts-order-service") or _first(t, "ts-order-other-service")
    if od:
        od.log("DEBUG", f"HikariPool-1 - Pool stats (total=10, active={R.randint(1, 3)}, idle={R.randint(6, 9)}, waiting=0)",
               logger="com.zaxxer.hikari.pool.HikariPool")
        od.log("DEBUG", f"HikariPool-1 - Added connection com.mysql.cj.jdbc.ConnectionImpl@{obj_hash()}",
               logger="com.zaxxer.hikari.pool.HikariPool")


@decoy("cancel")
def d_cancel_permitted(t):
    cn = _first(t, "ts-cancel-service")
    if cn:
        cn.tt("INFO", "cancelOrder", "Order Status Check", "status: PAID, cancel permitted")


@decoy("voucher")
def d_voucher_none_yet(t):
    vo = _first(t, "ts-voucher-service")
    if vo:
        vo.log("INFO", "no existing voucher for this order, creating one", logger="voucher.app")


@decoy("delivery")
def d_delivery_retry(t):
    dv = _first(t, "ts-delivery-service")
    if dv:
        dv.log("INFO", "retrying connection attempt 1 of 3 to ts-delivery-mongo:27017 ... connected", logger="delivery.db")


@decoy("execute")
def d_execute_state_ok(t):
    ex = _first(t, "ts-execute-service")
    if ex:
        ex.tt("INFO", "check", "State OK", f"id: {uid()}, status: PAID")


# ---------------------------------------------------------------------------------------------
# Noise: ordinary user-facing refusals that are not faults (unlabelled)
# ---------------------------------------------------------------------------------------------
NOISE = []


def noise(flow, point):
    def deco(fn):
        NOISE.append((flow, point, fn))
        return fn
    return deco


@noise("login", "login.select")
def n_wrong_password(t, au, q):
    au.tt("WARN", "getToken", "Incorrect username or password", f"username: {user()}")
    au.tt("INFO", "getToken", "Return Response", "status: 0, msg: Incorrect username or password.")
    t.stop = True


@noise("login", "login.verify")
def n_verify_code(t, au, vc):
    vc.tt("WARN", "verifyCode", "Verification code mismatch", f"received: {R.randint(1000, 9999)}")
    au.tt("WARN", "getToken", "Verification failed", None)
    t.stop = True


@noise("user", "gw.call")
def n_jwt(t, gw, h):
    drop(h.client)
    t.hs.remove(h)
    gw.server.add(Sp("ts-gateway-service", "FilteringWebHandler.handle", INTERNAL, {}, scope="gw_filter", ms=R.uniform(0.2, 1.5)))
    gw.log("WARN", f"JWT expired at {iso(NOW - R.uniform(60, 7200), ms=False)}. Current time: {iso(ms=False)}, "
                   "a difference of 86400000 milliseconds. Allowed clock skew: 0 milliseconds.",
           logger="edu.fudan.common.security.jwt.JWTFilter")
    gw.code = 401
    t.stop = True


# ---------------------------------------------------------------------------------------------
# Background log records without trace context (scheduled jobs, client libraries)
# ---------------------------------------------------------------------------------------------
BACKGROUND = [
    ("ts-order-other-service", "INFO", "com.netflix.discovery.DiscoveryClient",
     lambda: "DiscoveryClient_TS-ORDER-OTHER-SERVICE/ts-order-other-service:12032 - Re-registering apps/TS-ORDER-OTHER-SERVICE", None),
    ("ts-order-other-service", "INFO", "com.netflix.discovery.DiscoveryClient",
     lambda: "Getting all instance registry info from the eureka server", None),
    ("ts-order-other-service", "ERROR", "com.netflix.discovery.DiscoveryClient",
     lambda: ("DiscoveryClient_TS-ORDER-OTHER-SERVICE/ts-order-other-service:12032 - was unable to refresh its cache! This periodic "
              "background refresh will be retried in 30 seconds. status = Cannot execute request on any known server"),
     ("com.netflix.discovery.shared.transport.TransportException", "Cannot execute request on any known server")),
    ("ts-order-other-service", "WARN", "com.zaxxer.hikari.pool.HikariPool",
     lambda: f"HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=1m{R.randint(1, 59)}s{R.randint(1, 999)}ms).", None),
    ("ts-order-other-service", "INFO", "other.service.OrderOtherServiceImpl",
     lambda: f"[ScheduledTask][Expired Orders Cleaned][count: {R.randint(0, 4)}]", None),
    ("ts-consign-service", "INFO", "consign.config.Application",
     lambda: f"[consignPrice][Price Config Refreshed][initialWeight: 1.0, withinPrice: {R.randint(1, 9)}.0]", None),
    ("ts-consign-service", "INFO", "org.mongodb.driver.cluster",
     lambda: "Monitor thread successfully connected to server with description ServerDescription{address=ts-consign-mongo:27017, type=STANDALONE, state=CONNECTED}", None),
    ("ts-report-service", "INFO", "report.scheduler",
     lambda: f"nightly export job finished in {R.uniform(3.1, 5.0):.1f}s rows={R.randint(80000, 420000)}", None),
    ("ts-report-service", "DEBUG", "report.scheduler", lambda: "next run of 'orders-nightly' at 02:00:00+08:00", None),
    ("ts-delivery-service", "INFO", "delivery.consumer", lambda: "consumer heartbeat ok queue=food_delivery prefetch=10", None),
    ("ts-delivery-service", "WARN", "pika.adapters.utils.io_services_utils",
     lambda: "Socket closed when connection was open; reconnecting in 5s", None),
    ("ts-voucher-service", "INFO", "voucher.app", lambda: f"Booting worker with pid: {R.randint(8, 60)}", None),
    ("ts-avatar-service", "INFO", "avatar.views", lambda: f"face model warm-up done in {R.randint(300, 900)}ms", None),
]


# ---------------------------------------------------------------------------------------------
# Building and sending
# ---------------------------------------------------------------------------------------------
def build(kind, name, x):
    if kind == "fault":
        flow, point, fn = x
        t = T((point, fn))
    elif kind == "noise":
        flow, point, fn = x
        t = T((point, fn))
    else:
        flow = name if kind == "healthy" else x[0]
        t = T()
    FLOWS[flow][0](t)
    if kind in ("fault", "noise"):
        assert t.fired, (kind, name, flow, x[1])
    if kind == "decoy":
        x[1](t)
    finalize(t)
    return t.root


def send_background(env, n, rng_span_s):
    sent = 0
    for i in range(n):
        svc, level, logger, msg, exc = BACKGROUND[i % len(BACKGROUND)]
        ts = int((NOW - R.uniform(30, rng_span_s)) * 1e9)
        env.pylog(svc, ts, level, msg(), logger, exc, {}, default_code(svc, logger))
        sent += 1
    return sent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    ap.add_argument("--seed", type=int, default=20250301)
    ap.add_argument("--traces", type=int, default=2400)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--require-logs", action="store_true",
                    help="fail when any OTLP log record was not acknowledged by <otlp>/v1/logs")
    args = ap.parse_args()
    if os.environ.get("HELDOUT3_REQUIRE_LOGS", "0") not in ("", "0"):
        args.require_logs = True
    if not 1500 <= args.traces <= 3000:
        print("note: the benchmark is meant for 1500-3000 traces", file=sys.stderr)
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)

    R.seed(args.seed)
    env = Env(args.otlp, random.Random(args.seed * 7919 + 3), random.Random(args.seed + 47))

    n = args.traces
    per_fault = max(1, round(n * 0.17 / len(FAULTS)))
    n_decoy, n_noise = round(n * 0.06), round(n * 0.02)
    n_healthy = n - per_fault * len(FAULTS) - n_decoy - n_noise
    jobs = []
    for kind, variants in FAULTS.items():
        for i in range(per_fault):
            jobs.append(("fault", kind, variants[i % len(variants)]))
    names = list(FLOWS)
    for name in R.choices(names, weights=[FLOWS[k][1] for k in names], k=n_healthy):
        jobs.append(("healthy", name, None))
    for i in range(n_decoy):
        jobs.append(("decoy", DECOYS[i % len(DECOYS)][1].__name__, DECOYS[i % len(DECOYS)]))
    for i in range(n_noise):
        jobs.append(("noise", NOISE[i % len(NOISE)][2].__name__, NOISE[i % len(NOISE)]))
    R.shuffle(jobs)

    now = time.time_ns()
    window_s = 3 * 3600
    labels, kinds, faults, sizes, spans = {}, Counter(), Counter(), Counter(), 0
    events = 0
    for kind, name, x in jobs:
        root = build(kind, name, x)
        c = root.count()
        assert 2 <= c <= 20, (kind, name, c)
        sizes[min(c, 20) // 5 * 5] += 1
        spans += c
        events += sum(len(s.events) + (len(s.logs) if SERVICES[s.svc]["logs"] != "otlp" else 0) for s in root.walk())
        start = now - int(R.uniform(90, window_s) * 1e9)
        tid = emit_trace(env, root, start)
        kinds[kind] += 1
        if kind == "fault":
            labels[tid] = name
            faults[name] += 1
    traced_logs = sum(env.logs_sent.values())
    background = send_background(env, max(20, n // 12), window_s)
    ok, failed, logs_ok, logs_failed = env.close()
    logs_sent = sum(env.logs_sent.values())

    meta = {"seed": args.seed, "traces": n, "spans": spans, "spans_acknowledged": ok, "export_failures": failed,
            "span_events": events,
            "logs_sent": logs_sent, "logs_acknowledged": logs_ok, "log_export_failures": logs_failed,
            "logs_with_trace_context": traced_logs, "logs_without_trace_context": background,
            "logs_by_service": dict(sorted(env.logs_sent.items())),
            "kinds": dict(kinds), "faults": dict(sorted(faults.items())), "fault_kinds": len(FAULTS),
            "variants": sum(len(v) for v in FAULTS.values()), "services": len(SERVICES),
            "stacks": sorted({m["stack"] for m in SERVICES.values()}),
            "trace_sizes": {f"{k}-{k + 4}": v for k, v in sorted(sizes.items())}}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(dict(sorted(labels.items())), fh, indent=0)
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(json.dumps(meta))
    if ok != spans:
        sys.exit(f"only {ok} of {spans} spans were acknowledged")
    if logs_ok != logs_sent:
        msg = f"only {logs_ok} of {logs_sent} log records were acknowledged by {args.otlp.rstrip('/')}/v1/logs"
        if args.require_logs:
            sys.exit(msg)
        print(f"warning: {msg} (not fatal without --require-logs)", file=sys.stderr)


if __name__ == "__main__":
    main()
