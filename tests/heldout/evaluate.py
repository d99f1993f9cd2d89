#!/usr/bin/env python3
"""Scores semtrace's search on the held-out corpus (labels.json) with queries.json.

Starts nothing. Waits until GET /api/v1/health reports embedding_backlog == 0 and no log record
waiting for its span (logs_join_waiting), and it stays so for a few seconds, then for each query asks
  - GET /api/v1/search?q=...&limit=10                (hybrid, the default ranking)
  - GET /api/v1/search?q=...&limit=10&mode=semantic
  - GET /api/v1/errors?q=...&limit=10                (full-text error search: keyword baseline)
and computes P@10 (relevant results among the top 10, divided by 10) and MRR (1/rank of the first
relevant result in the top 10, else 0). A result is relevant when its trace is labelled with one
of the query's fault types.

Usage: evaluate.py --server http://127.0.0.1:16686 [--labels labels.json] [--queries queries.json]
                   [--out results.json] [--expect-spans N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
K = 10
MODES = [("hybrid", "/api/v1/search", {}), ("semantic", "/api/v1/search", {"mode": "semantic"}),
         ("errors", "/api/v1/errors", {})]


def get(server, path, params=None, timeout=60):
    url = server.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(server, expect_spans=None, stable_s=5.0, timeout_s=1800.0):
    start, zero_since, last = time.time(), None, None
    while True:
        try:
            h = get(server, "/api/v1/health", timeout=10)
        except (urllib.error.URLError, OSError, ValueError) as e:
            h, zero_since = None, None
            last = f"health unreachable: {e}"
        if h is not None:
            # Log records waiting for their span (servers that join OTLP logs) count as backlog too.
            backlog = (h.get("embedding_backlog") or 0) + (h.get("logs_join_waiting") or 0)
            spans_ok = expect_spans is None or h.get("total_spans", 0) >= expect_spans
            last = (f"embedding_backlog={h.get('embedding_backlog')} logs_join_waiting={h.get('logs_join_waiting')} "
                    f"total_spans={h.get('total_spans')} templates={h.get('templates')}")
            if backlog == 0 and spans_ok:
                zero_since = zero_since or time.time()
                if time.time() - zero_since >= stable_s:
                    print(f"ready: {last}", file=sys.stderr)
                    return h
            else:
                zero_since = None
        if time.time() - start > timeout_s:
            sys.exit(f"semtrace not ready after {timeout_s:.0f}s ({last})")
        time.sleep(1.0)


def score(results, relevant, labels):
    rel = [labels.get(r["trace_id"]) in relevant for r in results[:K]]
    p = sum(rel) / K
    mrr = next((1.0 / (i + 1) for i, x in enumerate(rel) if x), 0.0)
    return p, mrr, rel


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="semtrace query API, e.g. http://127.0.0.1:16686")
    ap.add_argument("--labels", default=os.path.join(HERE, "labels.json"))
    ap.add_argument("--queries", default=os.path.join(HERE, "queries.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--expect-spans", type=int, default=None,
                    help="also wait until health counts this many spans (default: corpus_meta.json's, if present)")
    ap.add_argument("--weak", type=float, default=0.8, help="print the top results of queries under this P@10")
    ap.add_argument("--params", default="", help="extra search parameters, e.g. lexical_weight=0.05&failure_prior=0.1")
    args = ap.parse_args()

    labels = json.load(open(args.labels))
    queries = json.load(open(args.queries))["queries"]
    expect = args.expect_spans
    meta_path = os.path.join(os.path.dirname(os.path.abspath(args.labels)), "corpus_meta.json")
    if expect is None and os.path.exists(meta_path):
        expect = json.load(open(meta_path)).get("spans")
    present = set(labels.values())
    for q in queries:
        missing = [f for f in q["relevant"] if f not in present]
        if missing:
            sys.exit(f"query {q['id']} names fault types with no labelled trace: {missing}")

    health = wait_ready(args.server, expect)
    per_query, weak = [], []
    for q in queries:
        row = {"id": q["id"], "query": q["query"], "relevant": q["relevant"],
               "relevant_traces": sum(1 for f in labels.values() if f in q["relevant"])}
        for mode, path, extra in MODES:
            params = {"q": q["query"], "limit": K, **extra}
            if path.endswith("/search") and args.params:
                params.update(urllib.parse.parse_qsl(args.params))
            t0 = time.time()
            body = get(args.server, path, params)
            ms = (time.time() - t0) * 1000
            res = body.get("results", [])
            p, mrr, rel = score(res, set(q["relevant"]), labels)
            top = []
            for r, ok in zip(res[:K], rel):
                top.append({"trace_id": r["trace_id"], "relevant": ok, "label": labels.get(r["trace_id"]),
                            "service": r.get("service"), "name": r.get("name"), "status": r.get("status"),
                            "score": r.get("score"), "similarity": r.get("similarity"),
                            "text": r.get("summary") if "summary" in r else
                            f"{r.get('error_type') or ''}: {r.get('error_message') or ''}"})
            row[mode] = {"p10": p, "mrr": mrr, "returned": len(res), "latency_ms": round(ms, 1), "top": top}
            if mode != "errors" and p < args.weak:
                weak.append((q, mode, row[mode]))
        per_query.append(row)

    means = {m: {"p10": sum(r[m]["p10"] for r in per_query) / len(per_query),
                 "mrr": sum(r[m]["mrr"] for r in per_query) / len(per_query),
                 "min_p10": min(r[m]["p10"] for r in per_query)} for m, _, _ in MODES}

    print(f"\n{'id':4} {'hyb P@10':>8} {'MRR':>5} | {'sem P@10':>8} {'MRR':>5} | {'err P@10':>8} {'MRR':>5} | relevant: query")
    for r in per_query:
        h, s, e = r["hybrid"], r["semantic"], r["errors"]
        print(f"{r['id']:4} {h['p10']:8.1f} {h['mrr']:5.2f} | {s['p10']:8.1f} {s['mrr']:5.2f} | {e['p10']:8.1f} {e['mrr']:5.2f} | "
              f"{'+'.join(r['relevant'])}: {r['query']}")
    print(f"\n{'mean':4} {means['hybrid']['p10']:8.3f} {means['hybrid']['mrr']:5.3f} | {means['semantic']['p10']:8.3f} "
          f"{means['semantic']['mrr']:5.3f} | {means['errors']['p10']:8.3f} {means['errors']['mrr']:5.3f} | {len(per_query)} queries")

    if weak:
        print(f"\n=== queries with P@10 < {args.weak} (search modes): the top {K} results ===")
    for q, mode, m in weak:
        print(f"\n[{q['id']} {mode}] P@10={m['p10']:.1f} MRR={m['mrr']:.2f} relevant={'+'.join(q['relevant'])}: {q['query']}")
        for i, t in enumerate(m["top"], 1):
            mark = "REL" if t["relevant"] else "---"
            sc = f"{t['score']:.3f}" if isinstance(t["score"], (int, float)) else "-"
            si = f"{t['similarity']:.3f}" if isinstance(t["similarity"], (int, float)) else "-"
            print(f"  {i:2} {mark} [{t['label'] or 'unlabelled'}] score={sc} sim={si} {t['service']} {(t['text'] or '')[:400]}")

    out = {"server": args.server, "health": health, "k": K, "queries": len(per_query), "means": means,
           "per_query": per_query}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
