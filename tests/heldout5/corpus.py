#!/usr/bin/env python3
"""Held-out corpus #5: DeathStarBench (hotelReservation + socialNetwork) as Jaeger-instrumented
services reaching an OTLP store through the OpenTelemetry Collector's Jaeger receiver.

The shape imitated is what the Collector makes of Jaeger spans: `span.kind` tags become span kinds,
every other tag stays an attribute (`error=true` as a boolean, the status often left UNSET),
process tags (`hostname`, `ip`, `jaeger.version`, `client-uuid`) become resource attributes next to
`service.name`, and span logs become span events, named by their `event` field (which is then
dropped from the attributes) or "event" when they have none. No OTLP log records are sent: Jaeger
clients have no log signal, their log lines live on the spans.

hotelReservation: Go services (jaeger-client-go, opentracing-contrib nethttp + grpc-opentracing
otgrpc), gRPC between them, memcached and MongoDB behind profile / rate / reservation, Consul as the
gRPC name resolver. socialNetwork: C++ Thrift services (jaeger-client-cpp), OpenResty nginx with
nginx-opentracing and Lua client spans, Redis / memcached / MongoDB, RabbitMQ feeding
write-home-timeline-service.

Usage: corpus.py --otlp http://127.0.0.1:4318 [--seed N] [--traces N] [--out DIR] [--require-logs]

Writes DIR/labels.json (trace id hex -> fault kind, fault traces only) and DIR/corpus_meta.json,
prints the meta JSON, exits non-zero if any span (or, with --require-logs, any log record: none are
sent) was not acknowledged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import sys
import time
from collections import Counter

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

SERVER, CLIENT, PRODUCER, CONSUMER = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER

HOTEL = ["frontend", "search", "geo", "rate", "profile", "recommendation", "user", "reservation"]
SOCIAL = ["nginx-web-server", "compose-post-service", "text-service", "user-mention-service",
          "url-shorten-service", "unique-id-service", "media-service", "user-service",
          "social-graph-service", "home-timeline-service", "user-timeline-service",
          "post-storage-service", "write-home-timeline-service"]

# fault kind -> (flows it hits, whether it hits every request of those flows in its window)
FAULTS = {
    "profile_memcached_down": (("h_search", "h_recommend"), True),
    "reservation_mongo_slow": (("h_reserve",), True),
    "geo_cpu_hog": (("h_search",), True),
    "search_network_delay": (("h_search",), True),
    "rate_no_healthy_instances": (("h_search",), True),
    "reservation_sold_out": (("h_reserve",), False),
    "usertimeline_redis_oom": (("s_compose",), True),
    "hometimeline_rabbitmq_lost": (("s_compose",), True),
    "post_duplicate_id": (("s_compose",), False),
    "urlshorten_mongo_timeout": (("s_compose",), False),
    "thrift_pool_exhausted": (("s_compose", "s_read_home"), False),
    "auth_rejected": (("s_login", "s_compose", "s_read_home"), False),
}

FLOW_WEIGHTS = [("h_search", 0.21), ("h_recommend", 0.15), ("h_login", 0.05), ("h_reserve", 0.09),
                ("s_compose", 0.14), ("s_read_home", 0.19), ("s_read_user", 0.11), ("s_login", 0.035),
                ("s_follow", 0.025)]

NOISE_QUOTA = {  # unlabelled: benign or self-healing events that look like trouble
    "unknown_hotel_404": ("h_reserve", 24),
    "missing_params_400": ("h_search", 10),
    "geo_retry_ok": ("h_search", 20),
    "uniqueid_reconnect_ok": ("s_compose", 16),
    "memc_set_warn": ("s_read_home", 16),
    "deleted_post_warn": ("s_read_user", 16),
    "gc_pause_tail": (None, 40),
}

GRPC_CODES = {"OK": 0, "Canceled": 1, "Unknown": 2, "InvalidArgument": 3, "DeadlineExceeded": 4,
              "NotFound": 5, "PermissionDenied": 7, "Unavailable": 14, "Internal": 13, "Unauthenticated": 16}
CLIENT_CLASS = {"InvalidArgument", "NotFound", "PermissionDenied", "Unauthenticated", "Canceled"}


class SeededIds(IdGenerator):
    """Jaeger clients make 64-bit trace ids by default; the Collector pads them to 128 bits."""

    def __init__(self, seed):
        self.r = random.Random(seed * 7919 + 17)

    def _nz(self):
        while True:
            v = self.r.getrandbits(64)
            if v:
                return v

    def generate_span_id(self):
        return self._nz()

    def generate_trace_id(self):
        return self._nz()


class Collect(SpanProcessor):
    def __init__(self):
        self.spans = []

    def on_start(self, span, parent_context=None):
        pass

    def on_end(self, span):
        self.spans.append(span)

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


class SErr:
    """A failure travelling back up a call: gRPC (code, desc) or Thrift (errorCode, message)."""

    def __init__(self, code, msg):
        self.code, self.msg = code, msg


class Corpus:
    def __init__(self, seed, now_us):
        self.R = random.Random(seed)
        self.ids = SeededIds(seed)
        self.sink = Collect()
        self.now_us = now_us
        self.tracers = {}
        self.events = 0
        self.smode = "unset"
        logging.getLogger("opentelemetry.sdk.trace").setLevel(logging.CRITICAL)
        for svc in HOTEL + SOCIAL:
            tp = TracerProvider(resource=Resource(self.process_tags(svc)), id_generator=self.ids)
            tp.add_span_processor(self.sink)
            self.tracers[svc] = tp.get_tracer("")
        self.conn = 10000

    # ---------------------------------------------------------------- plumbing
    def process_tags(self, svc):
        R = self.R
        pod = "%s-%s-%s" % (svc if svc != "nginx-web-server" else "nginx-thrift",
                            "".join(R.choice("6789bcdf") for _ in range(9)),
                            "".join(R.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)))
        tags = {"service.name": svc, "hostname": pod, "ip": "10.244.%d.%d" % (R.randint(0, 3), R.randint(2, 250))}
        if svc in HOTEL:
            tags["jaeger.version"] = "Go-2.30.0"
            tags["client-uuid"] = "%016x" % R.getrandbits(64)
        else:
            tags["jaeger.version"] = "C++-0.4.2"
        return tags

    def ms(self, a, b):
        return int(self.R.uniform(a, b) * 1000)

    def start(self, svc, name, kind, t_us, parent=None, attrs=None):
        ctx = trace.set_span_in_context(parent) if parent is not None else Context()
        return self.tracers[svc].start_span(name, context=ctx, kind=kind, attributes=attrs or {},
                                            start_time=t_us * 1000)

    def end(self, span, t_us):
        span.end(end_time=t_us * 1000)

    def ev(self, span, t_us, name, attrs=None):
        span.add_event(name, attrs or {}, timestamp=t_us * 1000)
        self.events += 1

    def err_status(self, span, desc):
        """error=true tag; the status only when this trace went through a Collector that maps it."""
        span.set_attribute("error", True)
        if self.smode == "collector":
            span.set_status(Status(StatusCode.ERROR, desc))

    def stamp(self, t_us, fmt):
        return dt.datetime.fromtimestamp(t_us / 1e6, dt.timezone.utc).strftime(fmt)

    # Go services log with zerolog; the line reaches the span as key/values or as one string.
    def golog(self, span, t_us, level, msg, caller=None):
        if self.R.random() < 0.5:
            attrs = {"level": level, "message": msg}
            if caller:
                attrs["caller"] = caller
            self.ev(span, t_us, "event", attrs)
        else:
            self.ev(span, t_us, 'level=%s msg="%s"' % (level, msg.replace('"', '\\"')))

    # C++ services log with Boost.Log: "[time] <severity>: (File.h:line:Func) message".
    def cpplog(self, span, t_us, level, where, msg):
        line = "[%s] <%s>: (%s) %s" % (self.stamp(t_us, "%Y-%m-%d %H:%M:%S.%f"), level, where, msg)
        if self.R.random() < 0.5:
            self.ev(span, t_us, line)
        else:
            self.ev(span, t_us, "event", {"level": level, "message": "(%s) %s" % (where, msg)})

    # OpenResty error.log line, logged by the Lua handler onto the nginx span.
    def ngxlog(self, span, t_us, level, lua, msg, method, path):
        self.conn += self.R.randint(1, 40)
        line = ('%s [%s] 1#1: *%d [lua] %s: %s, client: 10.244.0.1, server: localhost, request: "%s %s HTTP/1.1", '
                'host: "nginx-thrift:8080"' % (self.stamp(t_us, "%Y/%m/%d %H:%M:%S"), level, self.conn, lua, msg,
                                              method, path))
        self.ev(span, t_us, "event", {"level": level, "message": line})

    # ---------------------------------------------------------------- gRPC (otgrpc conventions)
    def grpc_tag(self, span, t_us, code, desc, client):
        cls = "4xx" if code in CLIENT_CLASS else "5xx"
        span.set_attribute("response_code", code)
        span.set_attribute("response_class", cls)
        span.set_attribute("grpc.status_code" if client else "rpc.grpc.status_code", GRPC_CODES[code])
        text = "rpc error: code = %s desc = %s" % (code, desc) if client else desc
        if client or cls == "5xx":
            self.err_status(span, text)
        self.ev(span, t_us, "error", {"message": text})

    def grpc_call(self, csvc, ssvc, method, t, parent, body, delay_in=0, delay_out=0):
        c = self.start(csvc, method, CLIENT, t, parent, {"component": "gRPC", "peer.service": ssvc})
        ts = t + self.ms(0.06, 0.35) + delay_in
        s = self.start(ssvc, method, SERVER, ts, c, {"component": "gRPC"})
        te, err = body(s, ts)
        if err:
            self.grpc_tag(s, te - 5, err.code, err.msg, client=False)
        self.end(s, te)
        tc = te + self.ms(0.05, 0.3) + delay_out
        if err:
            self.grpc_tag(c, tc - 3, err.code, err.msg, client=True)
        self.end(c, tc)
        return tc, err

    def store(self, svc, name, t, parent, dur, host, port, extra=None):
        attrs = {"peer.hostname": host, "peer.port": port}
        if extra:
            attrs.update(extra)
        s = self.start(svc, name, CLIENT, t, parent, attrs)
        self.end(s, t + dur)
        return s, t + dur

    # ---------------------------------------------------------------- hotelReservation
    def h_root(self, t0, method, path, url):
        return self.start("frontend", "HTTP %s %s" % (method, path), SERVER, t0, None,
                          {"component": "net/http", "http.method": method, "http.url": url,
                           "sampler.type": "probabilistic", "sampler.param": 1.0})

    def h_finish(self, root, t, status, err_text=None, log=None):
        root.set_attribute("http.status_code", status)
        if log:
            self.golog(root, t - 20, "error", log, "services/frontend/server.go:%d" % self.R.randint(180, 330))
        if status >= 500:
            self.err_status(root, err_text or "Internal Server Error")
        self.end(root, t)

    def dates(self):
        d = dt.date(2015, 4, 9) + dt.timedelta(days=self.R.randint(0, 14))
        return d, d + dt.timedelta(days=self.R.randint(1, 3))

    def geo_body(self, fault):
        def body(s, ts):
            if fault == "geo_cpu_hog":
                return ts + self.ms(380, 2600), None
            return ts + self.ms(0.25, 1.6), None
        return body

    def rate_body(self, hotels):
        def body(s, ts):
            t = ts + self.ms(0.02, 0.1)
            _, t = self.store("rate", "memcached_get_multi_rate", t, s, self.ms(0.15, 0.9), "memcached-rate", 11211)
            if self.R.random() < 0.12:
                miss = self.R.sample(hotels, min(len(hotels), self.R.randint(1, 3)))
                self.golog(s, t + 5, "info", "memcached miss for rate plans of hotels %s, reading mongodb-rate" % miss)
                ends = [self.store("rate", "mongo_rate", t + self.ms(0.01, 0.1), s, self.ms(0.8, 4.5),
                                   "mongodb-rate", 27017)[1] for _ in miss]
                t = max(ends)
            return t + self.ms(0.03, 0.2), None
        return body

    def search_body(self, fault, noise, hotels):
        def body(s, ts):
            t = ts + self.ms(0.02, 0.1)
            if noise == "geo_retry_ok":
                c1 = self.start("search", "/geo.Geo/Nearby", CLIENT, t, s, {"component": "gRPC", "peer.service": "geo"})
                te = t + self.ms(0.2, 1.8)
                self.grpc_tag(c1, te - 2, "Unavailable", "transport is closing", client=True)
                self.end(c1, te)
                self.golog(s, te + 10, "warn", "geo.Nearby failed: rpc error: code = Unavailable desc = transport is "
                           "closing; retrying (attempt 2 of 3)")
                t = te + self.ms(4, 25)
            t, _ = self.grpc_call("search", "geo", "/geo.Geo/Nearby", t, s, self.geo_body(fault))
            if fault == "rate_no_healthy_instances":
                self.golog(s, t + 3, "warn", "consul resolver: health query for srv-rate returned 0 passing entries "
                           "(%d registered, index %d)" % (self.R.randint(1, 3), self.R.randint(40000, 60000)),
                           "registry/resolver.go:88")
                c = self.start("search", "/rate.Rate/GetRates", CLIENT, t + 20, s, {"component": "gRPC", "peer.service": "rate"})
                te = t + 20 + self.ms(0.05, 1.2)
                err = SErr("Unavailable", "name resolver error: produced zero addresses")
                self.grpc_tag(c, te - 2, err.code, err.msg, client=True)
                self.end(c, te)
                return te + self.ms(0.03, 0.2), err
            t, _ = self.grpc_call("search", "rate", "/rate.Rate/GetRates", t, s, self.rate_body(hotels))
            return t + self.ms(0.03, 0.3), None
        return body

    def availability_body(self, hotels):
        def body(s, ts):
            t = ts + self.ms(0.03, 0.15)
            _, t = self.store("reservation", "memcached_capacity_get_multi_number", t, s, self.ms(0.15, 0.8),
                              "memcached-reserve", 11211)
            if self.R.random() < 0.1:
                _, t = self.store("reservation", "mongodb_capacity_get_multi_number", t, s, self.ms(1, 4),
                                  "mongodb-reservation", 27017)
            _, t = self.store("reservation", "memcached_reserve_get_multi_number", t, s, self.ms(0.2, 0.9),
                              "memcached-reserve", 11211)
            if self.R.random() < 0.15:
                ends = []
                for h in self.R.sample(hotels, min(len(hotels), self.R.randint(1, 3))):
                    d, _ = self.dates()
                    key = "%s_%s_%s" % (h, d.isoformat(), d.isoformat())
                    ends.append(self.store("reservation", "mongodb_capacity_get_multi_number" + key,
                                           t + self.ms(0.01, 0.1), s, self.ms(1, 4.5), "mongodb-reservation", 27017)[1])
                t = max(ends)
            return t + self.ms(0.05, 0.3), None
        return body

    def profile_body(self, fault, hotels):
        def body(s, ts):
            t = ts + self.ms(0.02, 0.1)
            if fault == "profile_memcached_down":
                addr = "10.96.%d.%d:11211" % (self.R.randint(0, 255), self.R.randint(1, 254))
                if self.R.random() < 0.7:
                    dur, e = self.ms(0.2, 1.2), "dial tcp %s: connect: connection refused" % addr
                else:
                    dur, e = self.ms(100, 104), "memcache: connect timeout to %s" % addr
                m = self.start("profile", "memcached_get_profile", CLIENT, t, s,
                               {"peer.hostname": "memcached-profile", "peer.port": 11211})
                self.err_status(m, e)
                self.ev(m, t + dur - 5, "error", {"error.object": e, "error.kind": "*net.OpError"})
                self.end(m, t + dur)
                t += dur
                msg = "Tried to get hotelIds %s, but got memmcached error = %s" % ("[" + " ".join(hotels) + "]", e)
                self.golog(s, t + 8, "error", msg, "services/profile/server.go:126")
                return t + self.ms(0.05, 0.2), SErr("Unknown", msg)
            _, t = self.store("profile", "memcached_get_profile", t, s, self.ms(0.2, 1.1), "memcached-profile", 11211)
            if self.R.random() < 0.15:
                miss = self.R.sample(hotels, min(len(hotels), self.R.randint(1, 3)))
                self.golog(s, t + 4, "info", "memcached miss for hotel profiles %s, loading from mongodb-profile" % miss)
                ends = [self.store("profile", "mongo_profile", t + self.ms(0.01, 0.1), s, self.ms(0.9, 4),
                                   "mongodb-profile", 27017)[1] for _ in miss]
                t = max(ends)
            return t + self.ms(0.05, 0.4), None
        return body

    def h_search(self, t0, fault, noise):
        R = self.R
        din, dout = self.dates()
        lat, lon = 37.7749 + R.uniform(-0.25, 0.25), -122.4194 + R.uniform(-0.25, 0.25)
        if noise == "missing_params_400":
            url = "/hotels?inDate=%s&outDate=%s" % (din, dout)
            root = self.h_root(t0, "GET", "/hotels", url)
            self.h_finish(root, t0 + self.ms(0.05, 0.3), 400)
            return
        url = "/hotels?inDate=%s&outDate=%s&lat=%.4f&lon=%.4f" % (din, dout, lat, lon)
        root = self.h_root(t0, "GET", "/hotels", url)
        hotels = [str(h) for h in R.sample(range(1, 81), R.randint(3, 6))]
        t = t0 + self.ms(0.05, 0.4)
        din_, dout_ = 0, 0
        if fault == "search_network_delay":
            din_, dout_ = self.ms(350, 1400), self.ms(350, 1400)
        t, err = self.grpc_call("frontend", "search", "/search.Search/Nearby", t, root,
                                self.search_body(fault, noise, hotels), din_, dout_)
        if err:
            self.h_finish(root, t + self.ms(0.05, 0.3), 500, "rpc error: code = %s desc = %s" % (err.code, err.msg))
            return
        t, _ = self.grpc_call("frontend", "reservation", "/reservation.Reservation/CheckAvailability", t + 30, root,
                              self.availability_body(hotels))
        t, err = self.grpc_call("frontend", "profile", "/profile.Profile/GetProfiles", t + 30, root,
                                self.profile_body(fault, hotels))
        if err:
            self.h_finish(root, t + self.ms(0.05, 0.3), 500, "rpc error: code = %s desc = %s" % (err.code, err.msg),
                          log="SearchHandler GetProfiles failed")
            return
        self.h_finish(root, t + self.ms(0.1, 0.6), 200)

    def h_recommend(self, t0, fault, noise):
        R = self.R
        req = R.choice(["dis", "rate", "price"])
        url = "/recommendations?require=%s&lat=%.4f&lon=%.4f" % (req, 37.7749 + R.uniform(-0.25, 0.25),
                                                                 -122.4194 + R.uniform(-0.25, 0.25))
        root = self.h_root(t0, "GET", "/recommendations", url)
        hotels = [str(h) for h in R.sample(range(1, 81), R.randint(1, 5))]
        t = t0 + self.ms(0.05, 0.4)
        t, _ = self.grpc_call("frontend", "recommendation", "/recommendation.Recommendation/GetRecommendations", t,
                              root, lambda s, ts: (ts + self.ms(0.2, 1.2), None))
        t, err = self.grpc_call("frontend", "profile", "/profile.Profile/GetProfiles", t + 25, root,
                                self.profile_body(fault, hotels))
        if err:
            self.h_finish(root, t + self.ms(0.05, 0.3), 500, "rpc error: code = %s desc = %s" % (err.code, err.msg))
            return
        self.h_finish(root, t + self.ms(0.1, 0.5), 200)

    def check_user(self, root, t):
        return self.grpc_call("frontend", "user", "/user.User/CheckUser", t, root,
                              lambda s, ts: (ts + self.ms(0.08, 0.6), None))

    def h_login(self, t0, fault, noise):
        n = self.R.randint(0, 500)
        root = self.h_root(t0, "POST", "/user", "/user?username=Cornell_%d&password=%s" % (n, str(n) * 10))
        t, _ = self.check_user(root, t0 + self.ms(0.05, 0.3))
        self.h_finish(root, t + self.ms(0.05, 0.3), 200)

    def reserve_body(self, fault, noise, hotel, din, nights, rooms):
        def body(s, ts):
            R = self.R
            t = ts + self.ms(0.05, 0.2)
            slow = fault == "reservation_mongo_slow"
            cap = R.choice([200, 200, 250, 300])
            for i in range(nights):
                day = din + dt.timedelta(days=i + 1)
                _, t = self.store("reservation", "memcached_get_reserve_number", t, s, self.ms(0.15, 0.7),
                                  "memcached-reserve", 11211)
                if R.random() < 0.4:
                    self.golog(s, t + 3, "info", "memcached miss for %s_%s_%s, counting reservations in mongodb"
                               % (hotel, day, day))
                    _, t = self.store("reservation", "mongodb_find_reservation", t + 5, s,
                                      self.ms(700, 3200) if slow else self.ms(0.8, 4), "mongodb-reservation", 27017)
                _, t = self.store("reservation", "memcached_get_capacity", t + 3, s, self.ms(0.15, 0.6),
                                  "memcached-reserve", 11211)
                if noise == "unknown_hotel_404":
                    _, t = self.store("reservation", "mongodb_find_capacity", t + 5, s, self.ms(0.8, 3.5),
                                      "mongodb-reservation", 27017)
                    return t + self.ms(0.05, 0.2), SErr("NotFound", "hotel %s not found in reservation-db.number: "
                                                                     "mongo: no documents in result" % hotel)
                if R.random() < 0.15 or slow and R.random() < 0.5:
                    _, t = self.store("reservation", "mongodb_find_capacity", t + 5, s,
                                      self.ms(600, 2500) if slow else self.ms(0.8, 3.5), "mongodb-reservation", 27017)
                if fault == "reservation_sold_out" and i == nights - 1:
                    self.golog(s, t + 10, "warn", "hotel %s has no rooms left for %s: %d of %d booked, %d requested; "
                               "reservation not made" % (hotel, day, cap, cap, rooms), "services/reservation/server.go:171")
                    return t + self.ms(0.05, 0.3), None
            _, t = self.store("reservation", "memcached_set_reserve_number", t + 3, s, self.ms(0.15, 0.6),
                              "memcached-reserve", 11211)
            for i in range(nights):
                _, t = self.store("reservation", "mongodb_insert_reservation", t + 4, s,
                                  self.ms(900, 4200) if slow else self.ms(1.2, 6), "mongodb-reservation", 27017)
            return t + self.ms(0.05, 0.3), None
        return body

    def h_reserve(self, t0, fault, noise):
        R = self.R
        din, dout = self.dates()
        nights = (dout - din).days
        hotel = str(R.randint(1200, 1999)) if noise == "unknown_hotel_404" else str(R.randint(1, 80))
        n, rooms = R.randint(0, 500), R.randint(1, 2)
        url = ("/reservation?inDate=%s&outDate=%s&lat=nil&lon=nil&hotelId=%s&customerName=Cornell_%d"
               "&username=Cornell_%d&password=%s&number=%d" % (din, dout, hotel, n, n, str(n) * 10, rooms))
        root = self.h_root(t0, "POST", "/reservation", url)
        t, _ = self.check_user(root, t0 + self.ms(0.05, 0.3))
        t, err = self.grpc_call("frontend", "reservation", "/reservation.Reservation/MakeReservation", t + 25, root,
                                self.reserve_body(fault, noise, hotel, din, nights, rooms))
        if err:
            self.h_finish(root, t + self.ms(0.05, 0.3), 404)
            return
        self.h_finish(root, t + self.ms(0.05, 0.4), 200)

    # ---------------------------------------------------------------- socialNetwork
    def s_root(self, t0, method, path, url):
        return self.start("nginx-web-server", path, SERVER, t0, None,
                          {"component": "nginx", "http.method": method, "http.url": url,
                           "http.host": "nginx-thrift:8080", "nginx.worker_pid": self.R.choice([7, 8, 9, 10]),
                           "peer.address": "10.244.0.1:%d" % self.R.randint(32768, 60999),
                           "sampler.type": "const", "sampler.param": True})

    def s_finish(self, root, t, status, upstream=True):
        root.set_attribute("http.status_code", status)
        if upstream:
            root.set_attribute("upstream.address", "unix:/var/run/openresty.sock")
        if status >= 500:
            root.set_attribute("error", True)
            if self.smode == "collector":
                root.set_status(Status(StatusCode.ERROR, "Internal Server Error"))
        self.end(root, t)

    def thrift_fail_origin(self, span, t, code, msg, where):
        """The handler that throws: Boost.Log line, then the exception logged onto its span."""
        self.cpplog(span, t - 8, "error", where, msg)
        self.err_status(span, msg)
        self.ev(span, t - 4, "error", {"error.kind": "ServiceException", "errorCode": code, "message": msg})

    def thrift_client_err(self, span, t, err):
        text = "ServiceException(errorCode=%s, message=%s)" % (err.code, err.msg)
        self.err_status(span, text)
        self.ev(span, t - 2, "error", {"error.kind": "social_network::ServiceException",
                                       "error.object": "TException - service has thrown: " + text})

    def thrift_call(self, csvc, ssvc, name, t, parent, body, rethrow=None):
        """rethrow: (where, text) the server logs when it only passes a downstream failure on."""
        c = self.start(csvc, name, CLIENT, t, parent)
        ts = t + self.ms(0.04, 0.3)
        s = self.start(ssvc, name, SERVER, ts, c)
        te, err = body(s, ts)
        if err and rethrow:
            self.cpplog(s, te - 6, "error", rethrow[0], rethrow[1])
            self.err_status(s, err.msg)
        self.end(s, te)
        tc = te + self.ms(0.04, 0.3)
        if err:
            self.thrift_client_err(c, tc, err)
        self.end(c, tc)
        return tc, err

    def pool_timeout(self, csvc, name, ssvc, t, parent, where):
        """ClientPool<ThriftClient<...>>::Pop() waits timeout_ms for a free client, then gives up."""
        c = self.start(csvc, name, CLIENT, t, parent)
        te = t + self.ms(1000, 1004)
        self.cpplog(c, te - 30, "warning", "ClientPool.h:79:Pop", "ClientPool pop timeout")
        self.cpplog(c, te - 28, "info", "ClientPool.h:80:Pop", "0 %d" % self.R.choice([128, 256, 512]))
        msg = "Failed to connect to " + ssvc
        self.err_status(c, msg)
        self.ev(c, te - 10, "error", {"error.kind": "ServiceException", "errorCode": "SE_THRIFT_CONN_ERROR",
                                      "message": msg})
        self.end(c, te)
        return te, SErr("SE_THRIFT_CONN_ERROR", msg)

    def lua_fail(self, root, lua, t, err, lua_file, prefix, method, path):
        self.err_status(lua, prefix + err.msg)
        self.ev(lua, t - 2, "error", {"error.kind": "ServiceException", "message": prefix + err.msg})
        self.ngxlog(root, t + 10, "error", lua_file, prefix + err.msg, method, path)

    def jwt_reject(self, root, t0, lua_file, method, path):
        t = t0 + self.ms(0.2, 1.2)
        exp = dt.datetime.fromtimestamp(t / 1e6, dt.timezone.utc) - dt.timedelta(minutes=self.R.randint(3, 240))
        reason = self.R.choice(["'exp' claim expired at %s" % exp.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                                "Login token expired, please log in again"])
        self.ngxlog(root, t - 20, "warn", lua_file, "jwt verification failed: " + reason, method, path)
        self.s_finish(root, t, 401, upstream=False)

    def text_body(self, fault, has_urls, has_mentions):
        def body(s, ts):
            t = ts + self.ms(0.05, 0.3)
            ends, err = [t], None
            if has_urls:
                e, er = self.thrift_call("text-service", "url-shorten-service", "ComposeUrls", t + self.ms(0.01, 0.05), s,
                                         self.urls_body(fault))
                ends.append(e)
                err = err or er
            if has_mentions:
                if fault == "thrift_pool_exhausted":
                    e, er = self.pool_timeout("text-service", "ComposeUserMentions", "user-mention-service",
                                              t + self.ms(0.01, 0.05), s, "TextHandler.h")
                else:
                    e, er = self.thrift_call("text-service", "user-mention-service", "ComposeUserMentions",
                                             t + self.ms(0.01, 0.05), s, self.mentions_body())
                ends.append(e)
                err = err or er
            t = max(ends)
            if err:
                self.cpplog(s, t + 15, "error", "TextHandler.h:%d:ComposeText" % self.R.randint(90, 140),
                            "Failed to upload urls or user mentions: " + err.msg)
                self.err_status(s, err.msg)
            return t + self.ms(0.03, 0.2), err
        return body

    def urls_body(self, fault):
        def body(s, ts):
            t = ts + self.ms(0.03, 0.2)
            if fault == "urlshorten_mongo_timeout":
                if self.R.random() < 0.6:
                    dur, e = self.ms(3000, 3040), "Failed to read 4 bytes: socket error or timeout"
                else:
                    dur, e = self.ms(5000, 5060), "waiting for replication timed out"
                m = self.start("url-shorten-service", "MongoInsertUrls", CLIENT, t, s,
                               {"peer.hostname": "url-shorten-mongodb", "peer.port": 27017})
                self.err_status(m, e)
                self.ev(m, t + dur - 3, "error", {"message": e, "error.kind": "mongoc_error"})
                self.end(m, t + dur)
                t += dur
                self.thrift_fail_origin(s, t + 40, "SE_MONGODB_ERROR", "Failed to insert urls to MongoDB: " + e,
                                        "UrlShortenHandler.h:131:ComposeUrls")
                return t + 60, SErr("SE_MONGODB_ERROR", "Failed to insert urls to MongoDB: " + e)
            _, t = self.store("url-shorten-service", "MongoInsertUrls", t, s, self.ms(1, 5),
                              "url-shorten-mongodb", 27017)
            return t + self.ms(0.03, 0.2), None
        return body

    def mentions_body(self):
        def body(s, ts):
            t = ts + self.ms(0.03, 0.2)
            _, t = self.store("user-mention-service", "MmcGetUserMentions", t, s, self.ms(0.2, 0.9),
                              "user-memcached", 11211)
            if self.R.random() < 0.2:
                self.cpplog(s, t + 2, "debug", "UserMentionHandler.h:102:ComposeUserMentions",
                            "%d usernames not cached in Memcached, looking up MongoDB" % self.R.randint(1, 3))
                _, t = self.store("user-mention-service", "MongoFindUsers", t + 3, s, self.ms(1, 4),
                                  "user-mongodb", 27017)
            return t + self.ms(0.03, 0.2), None
        return body

    def store_post_body(self, fault, post_id):
        def body(s, ts):
            t = ts + self.ms(0.05, 0.3)
            if fault == "post_duplicate_id":
                e = "E11000 duplicate key error collection: post.post index: post_id_1 dup key: { post_id: %d }" % post_id
                dur = self.ms(1.5, 6)
                m = self.start("post-storage-service", "MongoInsertPost", CLIENT, t, s,
                               {"peer.hostname": "post-storage-mongodb", "peer.port": 27017})
                self.err_status(m, e)
                self.ev(m, t + dur - 3, "error", {"message": e, "error.kind": "mongoc_error", "code": 11000})
                self.end(m, t + dur)
                t += dur
                self.thrift_fail_origin(s, t + 30, "SE_MONGODB_ERROR", "Error: Failed to insert post to MongoDB: " + e,
                                        "PostStorageHandler.h:138:StorePost")
                return t + 40, SErr("SE_MONGODB_ERROR", e)
            _, t = self.store("post-storage-service", "MongoInsertPost", t, s, self.ms(1, 5.5),
                              "post-storage-mongodb", 27017)
            return t + self.ms(0.03, 0.2), None
        return body

    def write_utl_body(self, fault, user_id):
        def body(s, ts):
            t = ts + self.ms(0.05, 0.3)
            _, t = self.store("user-timeline-service", "MongoUpdateUserTimeline", t, s, self.ms(1, 4.5),
                              "user-timeline-mongodb", 27017)
            if fault == "usertimeline_redis_oom":
                e = "OOM command not allowed when used memory > 'maxmemory'."
                dur = self.ms(0.2, 0.9)
                r = self.start("user-timeline-service", "RedisUpdate", CLIENT, t + 2, s,
                               {"peer.hostname": "user-timeline-redis", "peer.port": 6379})
                self.err_status(r, e)
                self.ev(r, t + dur, "error", {"message": e, "error.kind": "cpp_redis::redis_error"})
                self.end(r, t + 2 + dur)
                t += dur + 2
                self.thrift_fail_origin(s, t + 25, "SE_REDIS_ERROR", e, "UserTimelineHandler.h:187:WriteUserTimeline")
                return t + 30, SErr("SE_REDIS_ERROR", e)
            _, t = self.store("user-timeline-service", "RedisUpdate", t + 2, s, self.ms(0.2, 0.9),
                              "user-timeline-redis", 6379)
            return t + self.ms(0.03, 0.2), None
        return body

    def home_fanout(self, pub, t, user_id, post_id):
        """write-home-timeline-service consumes the RabbitMQ message after the HTTP request returned."""
        R = self.R
        tc = t + self.ms(0.4, 25)
        c = self.start("write-home-timeline-service", "WriteHomeTimeline", CONSUMER, tc, pub,
                       {"message_bus.destination": "write-home-timeline"})
        if R.random() < 0.3:
            self.cpplog(c, tc + 20, "debug", "WriteHomeTimelineService.cpp:141:operator()",
                        'Received: {"post_id":%d,"user_id":%d,"req_id":%d}' % (post_id, user_id, R.getrandbits(62)))
        t = tc + self.ms(0.05, 0.2)

        def followers(s, ts):
            t2 = ts + self.ms(0.03, 0.15)
            _, t2 = self.store("social-graph-service", "RedisFindFollowers", t2, s, self.ms(0.2, 0.8),
                               "social-graph-redis", 6379)
            if R.random() < 0.1:
                _, t2 = self.store("social-graph-service", "MongoFindFollowers", t2 + 2, s, self.ms(1, 4),
                                   "social-graph-mongodb", 27017)
                _, t2 = self.store("social-graph-service", "RedisInsertFollowers", t2 + 2, s, self.ms(0.2, 0.8),
                                   "social-graph-redis", 6379)
            return t2 + self.ms(0.03, 0.15), None
        t, _ = self.thrift_call("write-home-timeline-service", "social-graph-service", "GetFollowers", t, c, followers)
        _, t = self.store("write-home-timeline-service", "RedisUpdate", t + 3, c, self.ms(0.3, 2.5),
                          "home-timeline-redis", 6379)
        self.end(c, t + self.ms(0.02, 0.1))

    def s_compose(self, t0, fault, noise, browser=False, variant=None):
        R = self.R
        browser = browser or fault == "auth_rejected"  # only the browser API verifies the JWT cookie
        path = "/api/post/compose" if browser else "/wrk2-api/post/compose"
        root = self.s_root(t0, "POST", path, path)
        if fault == "auth_rejected":
            self.jwt_reject(root, t0, "compose.lua:%d" % R.randint(20, 40), "POST", path)
            return
        user_id = R.randint(0, 961)
        post_id = R.getrandbits(63)
        has_urls = R.random() < 0.35 or fault == "urlshorten_mongo_timeout"
        has_mentions = R.random() < 0.45 or (fault == "thrift_pool_exhausted")
        has_media = R.random() < 0.3
        t = t0 + self.ms(0.3, 1.5)
        lua = self.start("nginx-web-server", "ComposePost", CLIENT, t, root)
        ts = t + self.ms(0.05, 0.3)
        cp = self.start("compose-post-service", "ComposePost", SERVER, ts, lua)
        if noise == "gc_pause_tail":
            ts += self.ms(60, 260)
        t = ts + self.ms(0.03, 0.2)
        ends, err = [], None

        def uid_body(s, ts2):
            return ts2 + self.ms(0.04, 0.3), None
        tu = t
        if noise == "uniqueid_reconnect_ok":
            cc = self.start("compose-post-service", "ComposeUniqueId", CLIENT, t, cp)
            self.cpplog(cc, t + 300, "warning", "ThriftClient.h:78:Connect",
                        "TSocket::open() connect() <Host: unique-id-service Port: 9090>: Connection refused")
            tr = t + self.ms(8, 40)
            self.cpplog(cc, tr, "info", "ThriftClient.h:84:Connect", "reconnected to unique-id-service:9090 after 1 retry")
            s = self.start("unique-id-service", "ComposeUniqueId", SERVER, tr + 80, cc)
            te = tr + 80 + self.ms(0.04, 0.3)
            self.end(s, te)
            self.end(cc, te + 90)
            ends.append(te + 90)
        else:
            ends.append(self.thrift_call("compose-post-service", "unique-id-service", "ComposeUniqueId", tu, cp, uid_body)[0])
        ends.append(self.thrift_call("compose-post-service", "user-service", "ComposeCreatorWithUserId",
                                     t + self.ms(0.01, 0.08), cp, lambda s, ts2: (ts2 + self.ms(0.04, 0.3), None))[0])
        if has_media:
            ends.append(self.thrift_call("compose-post-service", "media-service", "ComposeMedia", t + self.ms(0.01, 0.08),
                                         cp, lambda s, ts2: (ts2 + self.ms(0.04, 0.3), None))[0])
        te, err = self.thrift_call("compose-post-service", "text-service", "ComposeText", t + self.ms(0.01, 0.08), cp,
                                   self.text_body(fault, has_urls, has_mentions))
        ends.append(te)
        t = max(ends)
        if not err:
            # StorePost, WriteUserTimeline and the home-timeline publish run concurrently
            ends = []
            e1, er1 = self.thrift_call("compose-post-service", "post-storage-service", "StorePost",
                                       t + self.ms(0.01, 0.08), cp, self.store_post_body(fault, post_id))
            e2, er2 = self.thrift_call("compose-post-service", "user-timeline-service", "WriteUserTimeline",
                                       t + self.ms(0.01, 0.08), cp, self.write_utl_body(fault, user_id))
            tp = t + self.ms(0.01, 0.08)
            pub = self.start("compose-post-service", "RabbitmqPublish", PRODUCER, tp, cp,
                             {"message_bus.destination": "write-home-timeline", "peer.hostname": "write-home-timeline-rabbitmq",
                              "peer.port": 5672})
            if fault == "hometimeline_rabbitmq_lost":
                e3 = tp + self.ms(0.1, 1.8)
                self.cpplog(pub, e3 - 40, "error", "RabbitmqClient.h:58:operator()",
                            "Channel error: connection lost (write-home-timeline-rabbitmq:5672)")
                self.cpplog(pub, e3 - 10, "error", "ComposePostHandler.h:%d:_UploadHomeTimelineHelper" % R.randint(300, 330),
                            "Failed to publish post %d of user %d to queue write-home-timeline, message dropped"
                            % (post_id, user_id))
                self.end(pub, e3)
            else:
                e3 = tp + self.ms(0.08, 0.6)
                self.end(pub, e3)
                self.home_fanout(pub, e3, user_id, post_id)
            ends = [e1, e2, e3]
            err = er1 or er2
            t = max(ends)
        if err:
            what = {"SE_REDIS_ERROR": "Failed to write user-timeline to user-timeline-service",
                    "SE_MONGODB_ERROR": "Failed to store post to post-storage-service" if not has_urls or "E11000" in err.msg
                    else "Failed to upload text to text-service"}.get(err.code, "Failed to upload text to text-service")
            self.cpplog(cp, t + 20, "error", "ComposePostHandler.h:%d:ComposePost" % R.randint(180, 260), what)
            self.err_status(cp, err.msg)
            self.end(cp, t + 40)
            tl = t + self.ms(0.1, 0.5)
            self.lua_fail(root, lua, tl, err, "compose.lua:%d" % R.randint(60, 75), "compose_post failure: ", "POST", path)
            self.end(lua, tl)
            self.s_finish(root, tl + self.ms(0.2, 1), 500)
            return
        self.end(cp, t + self.ms(0.03, 0.2))
        tl = t + self.ms(0.1, 0.5)
        self.end(lua, tl)
        self.s_finish(root, tl + self.ms(0.2, 1), 200)

    def read_posts(self, csvc, t, parent, noise, n):
        R = self.R

        def body(s, ts):
            nonlocal noise
            t2 = ts + self.ms(0.03, 0.2)
            _, t2 = self.store("post-storage-service", "MmcGetPosts", t2, s, self.ms(0.3, 1.3),
                               "post-storage-memcached", 11211)
            if noise in ("memc_set_warn", "deleted_post_warn") or R.random() < 0.25:
                miss = R.randint(1, max(1, n // 2))
                self.cpplog(s, t2 + 2, "debug", "PostStorageHandler.h:381:ReadPosts",
                            "%d of %d posts not cached in Memcached, reading MongoDB" % (miss, n))
                _, t2 = self.store("post-storage-service", "MongoFindPosts", t2 + 3, s, self.ms(1.2, 6),
                                   "post-storage-mongodb", 27017)
                if noise == "deleted_post_warn":
                    self.cpplog(s, t2 + 2, "warning", "PostStorageHandler.h:452:ReadPosts",
                                "Post_id: %d doesn't exist in MongoDB, skipping" % R.getrandbits(62))
                for _ in range(min(miss, 3)):
                    m, t2 = self.store("post-storage-service", "MmcSetPost", t2 + 1, s, self.ms(0.1, 0.5),
                                       "post-storage-memcached", 11211)
                    if noise == "memc_set_warn":
                        self.cpplog(m, t2 - 1, "warning", "PostStorageHandler.h:497:ReadPosts",
                                    "Failed to set post to Memcached: SERVER HAS FAILED AND IS DISABLED UNTIL TIMED RETRY")
                        noise = None
            return t2 + self.ms(0.03, 0.2), None
        return self.thrift_call(csvc, "post-storage-service", "ReadPosts", t, parent, body)

    def s_read_home(self, t0, fault, noise, browser=False):
        R = self.R
        uid = R.randint(0, 961)
        browser = browser or fault == "auth_rejected"
        path = "/api/home-timeline/read" if browser else "/wrk2-api/home-timeline/read"
        url = "%s?user_id=%d&start=0&stop=10" % (path, uid)
        root = self.s_root(t0, "GET", path, url)
        if fault == "auth_rejected":
            self.jwt_reject(root, t0, "read_home_timeline.lua:%d" % R.randint(18, 30), "GET", url)
            return
        t = t0 + self.ms(0.3, 1.2)

        def body(s, ts):
            t2 = ts + self.ms(0.03, 0.2)
            if noise == "gc_pause_tail":
                t2 += self.ms(60, 260)
            _, t2 = self.store("home-timeline-service", "RedisFind", t2, s, self.ms(0.2, 1), "home-timeline-redis", 6379)
            if fault == "thrift_pool_exhausted":
                t2, err = self.pool_timeout("home-timeline-service", "ReadPosts", "post-storage-service", t2 + 2, s,
                                            "HomeTimelineHandler.h")
                self.cpplog(s, t2 + 10, "error", "HomeTimelineHandler.h:%d:ReadHomeTimeline" % R.randint(150, 190),
                            "Failed to read posts from post-storage-service")
                self.err_status(s, err.msg)
                return t2 + 15, err
            t2, _ = self.read_posts("home-timeline-service", t2 + 2, s, noise, R.randint(1, 10))
            return t2 + self.ms(0.03, 0.2), None
        # the Lua handler's span is the Thrift client span
        t, err = self.thrift_call("nginx-web-server", "home-timeline-service", "ReadHomeTimeline", t, root, body)
        if err:
            self.ngxlog(root, t + 10, "error", "read_home_timeline.lua:%d" % R.randint(40, 55),
                        "Get home-timeline failure: " + err.msg, "GET", url)
            self.s_finish(root, t + self.ms(0.2, 1), 500)
            return
        self.s_finish(root, t + self.ms(0.2, 1), 200)

    def s_read_user(self, t0, fault, noise, browser=False):
        R = self.R
        uid = R.randint(0, 961)
        path = "/wrk2-api/user-timeline/read"
        url = "%s?user_id=%d&start=0&stop=10" % (path, uid)
        root = self.s_root(t0, "GET", path, url)
        t = t0 + self.ms(0.3, 1.2)

        def body(s, ts):
            t2 = ts + self.ms(0.03, 0.2)
            if noise == "gc_pause_tail":
                t2 += self.ms(60, 260)
            _, t2 = self.store("user-timeline-service", "RedisFind", t2, s, self.ms(0.2, 1), "user-timeline-redis", 6379)
            if R.random() < 0.2:
                self.cpplog(s, t2 + 1, "debug", "UserTimelineHandler.h:241:ReadUserTimeline",
                            "user-timeline of user %d not cached in Redis, reading MongoDB" % uid)
                _, t2 = self.store("user-timeline-service", "MongoFindUserTimeline", t2 + 2, s, self.ms(1, 5),
                                   "user-timeline-mongodb", 27017)
                _, t2 = self.store("user-timeline-service", "RedisUpdate", t2 + 2, s, self.ms(0.2, 0.9),
                                   "user-timeline-redis", 6379)
            t2, _ = self.read_posts("user-timeline-service", t2 + 2, s, noise, R.randint(1, 10))
            return t2 + self.ms(0.03, 0.2), None
        t, _ = self.thrift_call("nginx-web-server", "user-timeline-service", "ReadUserTimeline", t, root, body)
        self.s_finish(root, t + self.ms(0.2, 1), 200)

    def s_login(self, t0, fault, noise, browser=False):
        R = self.R
        path = "/api/user/login" if browser or fault == "auth_rejected" else "/wrk2-api/user/login"
        root = self.s_root(t0, "POST", path, path)
        t = t0 + self.ms(0.3, 1.2)
        uname = "username_%d" % R.randint(0, 961)

        def body(s, ts):
            t2 = ts + self.ms(0.03, 0.2)
            _, t2 = self.store("user-service", "MmcGetLogin", t2, s, self.ms(0.2, 0.8), "user-memcached", 11211)
            if R.random() < 0.3:
                self.cpplog(s, t2 + 1, "debug", "UserHandler.h:522:Login", "%s not cached in Memcached" % uname)
                _, t2 = self.store("user-service", "MongoFindUser", t2 + 2, s, self.ms(1, 4), "user-mongodb", 27017)
                _, t2 = self.store("user-service", "MmcSetLogin", t2 + 2, s, self.ms(0.1, 0.5), "user-memcached", 11211)
            if fault == "auth_rejected":
                t2 += self.ms(0.3, 1.5)  # sha256 of salted password
                msg = "Incorrect username or password"
                self.err_status(s, msg)
                self.ev(s, t2, "error", {"error.kind": "ServiceException", "errorCode": "SE_UNAUTHORIZED",
                                         "message": msg})
                return t2 + 30, SErr("SE_UNAUTHORIZED", msg)
            return t2 + self.ms(0.3, 1.5), None
        c_t, err = self.thrift_call("nginx-web-server", "user-service", "Login", t, root, body)
        if err:
            self.ngxlog(root, c_t + 30, "error", "login.lua:%d" % R.randint(44, 52), "User login failure: " + err.msg,
                        "POST", path)
            self.s_finish(root, c_t + self.ms(0.2, 1), 401)
            return
        self.s_finish(root, c_t + self.ms(0.2, 1), 200)

    def s_follow(self, t0, fault, noise, browser=False):
        R = self.R
        path = "/wrk2-api/user/follow"
        root = self.s_root(t0, "POST", path, path)
        t = t0 + self.ms(0.3, 1.2)

        def body(s, ts):
            t2 = ts + self.ms(0.03, 0.2)
            e1 = self.store("social-graph-service", "MongoUpdateFollower", t2, s, self.ms(1, 5), "social-graph-mongodb", 27017)[1]
            e2 = self.store("social-graph-service", "MongoUpdateFollowee", t2 + 5, s, self.ms(1, 5), "social-graph-mongodb", 27017)[1]
            e3 = self.store("social-graph-service", "RedisUpdate", t2 + 8, s, self.ms(0.2, 1), "social-graph-redis", 6379)[1]
            return max(e1, e2, e3) + self.ms(0.03, 0.2), None
        c_t, _ = self.thrift_call("nginx-web-server", "social-graph-service", "Follow", t, root, body)
        self.s_finish(root, c_t + self.ms(0.2, 1), 200)

    # ---------------------------------------------------------------- plan
    def plan(self, n_traces):
        R = self.R
        span_s = 3 * 3600 * 10 ** 6
        t_begin = self.now_us - span_s
        kinds = list(FAULTS)
        counts = {k: R.randint(26, 34) for k in kinds}
        scale = 0.15 * n_traces / sum(counts.values())
        counts = {k: max(3, int(round(v * scale))) for k, v in counts.items()}
        order = kinds[:]
        R.shuffle(order)
        slot = (span_s - 10 * 60 * 10 ** 6) // len(order)
        windows = {}
        for i, k in enumerate(order):
            w0 = t_begin + 5 * 60 * 10 ** 6 + i * slot + 30 * 10 ** 6
            windows[k] = (w0, w0 + slot - 60 * 10 ** 6)
        items = []
        for k in kinds:
            flows, _ = FAULTS[k]
            for _ in range(counts[k]):
                if k == "thrift_pool_exhausted":
                    f = "s_compose" if R.random() < 0.6 else "s_read_home"
                elif k == "auth_rejected":
                    f = "s_login" if R.random() < 0.55 else R.choice(["s_compose", "s_read_home"])
                elif k == "profile_memcached_down":
                    f = "h_search" if R.random() < 0.6 else "h_recommend"
                else:
                    f = flows[0]
                items.append([R.randint(*windows[k]), f, k, None])
        blocked = [(windows[k], set(FAULTS[k][0])) for k in kinds if FAULTS[k][1]]
        names, weights = zip(*FLOW_WEIGHTS)
        for _ in range(n_traces - len(items)):
            f = R.choices(names, weights)[0]
            while True:
                t = R.randint(t_begin + 60 * 10 ** 6, self.now_us - 120 * 10 ** 6)
                if not any(w[0] <= t <= w[1] and f in fl for w, fl in blocked):
                    break
            items.append([t, f, None, None])
        healthy = [it for it in items if it[2] is None]
        for noise, (flow, n) in NOISE_QUOTA.items():
            pool = [it for it in healthy if it[3] is None and (flow is None and it[1] in ("s_compose", "s_read_home", "s_read_user")
                                                               or it[1] == flow)]
            for it in R.sample(pool, min(n, len(pool))):
                it[3] = noise
        items.sort(key=lambda it: it[0])
        return items, windows

    def build(self, n_traces):
        items, windows = self.plan(n_traces)
        labels, noise_counts = {}, Counter()
        for t0, flow, fault, noise in items:
            before = len(self.sink.spans)
            if fault in ("profile_memcached_down", "auth_rejected", "hometimeline_rabbitmq_lost", "reservation_sold_out"):
                self.smode = "unset"
            elif fault == "rate_no_healthy_instances":
                self.smode = "collector"
            else:
                self.smode = "collector" if self.R.random() < 0.45 else "unset"
            fn = getattr(self, flow)
            if flow.startswith("s_"):
                browser = flow in ("s_compose", "s_read_home", "s_login") and self.R.random() < 0.2
                fn(t0, fault, noise, browser=browser)
            else:
                fn(t0, fault, noise)
            if noise:
                noise_counts[noise] += 1
            new = self.sink.spans[before:]
            roots = [s for s in new if s.parent is None]
            assert len(roots) == 1, (flow, fault, len(roots))
            if fault:
                labels["%032x" % roots[0].context.trace_id] = fault
        return labels, noise_counts, windows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    ap.add_argument("--seed", type=int, default=20261208)
    ap.add_argument("--traces", type=int, default=2400)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--require-logs", action="store_true",
                    help="fail if any OTLP log record is not acknowledged (none are sent: Jaeger has no log signal)")
    args = ap.parse_args()

    now_us = int(time.time() * 1e6)
    c = Corpus(args.seed, now_us)
    labels, noise_counts, windows = c.build(args.traces)
    spans = c.sink.spans

    exporter = OTLPSpanExporter(endpoint=args.otlp.rstrip("/") + "/v1/traces", timeout=60)
    acked = 0
    batch = 400
    for i in range(0, len(spans), batch):
        chunk = spans[i:i + batch]
        if exporter.export(chunk) == SpanExportResult.SUCCESS:
            acked += len(chunk)
        else:
            print("export of spans %d..%d failed" % (i, i + len(chunk)), file=sys.stderr)
    exporter.shutdown()

    kinds = Counter(s.kind.name.lower() for s in spans)
    per_service = Counter(s.resource.attributes["service.name"] for s in spans)
    traces = len({s.context.trace_id for s in spans})
    meta = {
        "corpus": "heldout5 (DeathStarBench hotelReservation + socialNetwork via Jaeger receiver)",
        "seed": args.seed, "traces": traces, "spans": len(spans), "spans_acknowledged": acked,
        "kinds": dict(sorted(kinds.items())), "span_events": c.events,
        "spans_error_tag": sum(1 for s in spans if s.attributes.get("error") is True),
        "spans_status_error": sum(1 for s in spans if s.status.status_code == StatusCode.ERROR),
        "logs_sent": 0, "logs_acknowledged": 0, "logs_with_trace_context": 0, "logs_without_trace_context": 0,
        "faults": dict(sorted(Counter(labels.values()).items())),
        "fault_traces": len(labels), "noise": dict(sorted(noise_counts.items())),
        "per_service": dict(sorted(per_service.items())),
        "windows": {k: [dt.datetime.fromtimestamp(a / 1e6, dt.timezone.utc).isoformat(timespec="seconds"),
                        dt.datetime.fromtimestamp(b / 1e6, dt.timezone.utc).isoformat(timespec="seconds")]
                    for k, (a, b) in sorted(windows.items(), key=lambda kv: kv[1][0])},
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.json"), "w") as fh:
        json.dump(labels, fh, indent=0, sort_keys=True)
    with open(os.path.join(args.out, "corpus_meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps(meta, indent=1))
    if acked != len(spans):
        print("only %d of %d spans acknowledged" % (acked, len(spans)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
