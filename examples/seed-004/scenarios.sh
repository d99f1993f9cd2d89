#!/usr/bin/env bash
# Seed 004's eight usage scenarios against a running semtrace, with curl and the `semtrace` CLI:
# 1 basic use, 2 health check, 3 storing a trace, 4 semantic search, 5 retrieval by id,
# 6 batch, 7 filtered search, 8 statistics. Each checks what it gets and stops with a message if
# it is not what it should be.
#
#   semtrace serve &                # in another terminal
#   examples/seed-004/scenarios.sh
#
# Environment: SEMTRACE (the CLI, default `semtrace` on PATH), SEMTRACE_API (the query API,
# default http://127.0.0.1:16686), SEMTRACE_OTLP (OTLP/HTTP, default http://127.0.0.1:4318),
# SEMTRACE_TOKEN when the server requires one. Needs curl and python3 (to read JSON).
set -euo pipefail

SEMTRACE=${SEMTRACE:-semtrace}
API=${SEMTRACE_API:-http://127.0.0.1:16686}
OTLP=${SEMTRACE_OTLP:-http://127.0.0.1:4318}
AUTH=()
if [ -n "${SEMTRACE_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $SEMTRACE_TOKEN"); fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/semtrace-scenarios.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# json FILE PYTHON-EXPRESSION: evaluates the expression with `d` bound to the file's JSON.
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }
get() { curl -fsS "${AUTH[@]}" "$API$1" -o "$2"; }
# Waits until the server holds at least $1 spans, all of their templates embedded.
wait_searchable() {
  for _ in $(seq 1 600); do
    get /api/v1/health "$WORK/health.json"
    if [ "$(json "$WORK/health.json" "d['total_spans'] >= $1 and d['embedding_backlog'] == 0")" = True ]; then return 0; fi
    sleep 0.2
  done
  fail "the server did not hold $1 searchable spans within 2 minutes: $(cat "$WORK/health.json")"
}
now_ns() { python3 -c 'import time; print(time.time_ns())'; }
random_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

step "1. Basic use: the CLI talks to the server"
"$SEMTRACE" health --server "$API" | tee "$WORK/cli-health.txt"
grep -qi "healthy" "$WORK/cli-health.txt" || fail "semtrace health did not say the server is healthy"

step "2. Health check: store reachable, model loaded, queue"
get /api/v1/health "$WORK/health.json"
json "$WORK/health.json" "'healthy', d['healthy'], 'store', d['storage'], 'model', d['embedding_model'], 'queue', d['queue_depth'], '/', d['queue_capacity']"
[ "$(json "$WORK/health.json" "d['healthy'] and d['store_reachable']")" = True ] || fail "not healthy: $(cat "$WORK/health.json")"
BEFORE=$(json "$WORK/health.json" "d['total_spans']")

step "3. Storing a trace: one request over OTLP/HTTP JSON, a checkout whose database call timed out"
TRACE=$(random_hex 16)
T0=$(now_ns)
cat >"$WORK/trace.json" <<JSON
{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
  "scopeSpans": [{"scope": {"name": "seed-004"}, "spans": [
    {"traceId": "$TRACE", "spanId": "00000000000000a1", "name": "POST /checkout", "kind": 2,
     "startTimeUnixNano": "$T0", "endTimeUnixNano": "$((T0 + 5100000000))",
     "attributes": [{"key": "http.request.method", "value": {"stringValue": "POST"}},
                    {"key": "http.response.status_code", "value": {"intValue": "500"}}],
     "status": {"code": 2, "message": "checkout failed"}},
    {"traceId": "$TRACE", "spanId": "00000000000000a2", "parentSpanId": "00000000000000a1", "name": "SELECT orders", "kind": 3,
     "startTimeUnixNano": "$((T0 + 1000000))", "endTimeUnixNano": "$((T0 + 5001000000))",
     "attributes": [{"key": "db.system", "value": {"stringValue": "postgresql"}},
                    {"key": "db.statement", "value": {"stringValue": "SELECT * FROM orders WHERE id = 42"}}],
     "events": [{"name": "exception", "timeUnixNano": "$((T0 + 5000000000))", "attributes": [
        {"key": "exception.type", "value": {"stringValue": "*net.OpError"}},
        {"key": "exception.message", "value": {"stringValue": "dial tcp 10.2.3.4:5432: i/o timeout"}}]}],
     "status": {"code": 2, "message": "dial tcp 10.2.3.4:5432: i/o timeout"}}]}]}]}
JSON
curl -fsS "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$WORK/trace.json" "$OTLP/v1/traces" -o "$WORK/stored.json"
echo "acknowledged: $(cat "$WORK/stored.json")"
[ "$(json "$WORK/stored.json" "(d.get('partialSuccess') or {}).get('rejectedSpans', 0) in (0, '0')")" = True ] || fail "spans were rejected"
wait_searchable $((BEFORE + 2))

step "4. Semantic search: words the spans do not contain"
"$SEMTRACE" search "database connection timeout" --server "$API" --limit 5 --start "$T0" | tee "$WORK/search.txt"
grep -q "$TRACE" "$WORK/search.txt" || fail "the search did not find trace $TRACE"
get "/api/v1/search?q=database+connection+timeout&limit=5&start=$T0" "$WORK/search.json"
[ "$(json "$WORK/search.json" "'$TRACE' in [r['trace_id'] for r in d['results']]")" = True ] || fail "the API's search did not find $TRACE"

step "5. Retrieving a trace by id: the span tree, and the API's JSON"
"$SEMTRACE" trace "$TRACE" --server "$API" | tee "$WORK/tree.txt"
grep -q "SELECT orders" "$WORK/tree.txt" || fail "the tree lacks the database span"
get "/api/v1/traces/$TRACE" "$WORK/trace-out.json"
[ "$(json "$WORK/trace-out.json" "d['span_count']")" = 2 ] || fail "trace $TRACE does not hold 2 spans"

step "6. Batch: 50 traces of 2 spans in one file, imported in batches"
BATCH=$(random_hex 6)
T_BATCH=$(now_ns)
python3 - "$WORK/batch.jsonl" "$BATCH" "$T_BATCH" <<'PY'
import json, sys
path, prefix, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as out:
    for n in range(50):
        trace = f"{prefix}{n:020x}"
        slow = n % 10 == 0
        spans = [
            {"traceId": trace, "spanId": f"{n:08x}00000001", "name": "GET /cart", "kind": 2,
             "startTimeUnixNano": str(t0 + n * 1000), "endTimeUnixNano": str(t0 + n * 1000 + (900 if slow else 20) * 1000000),
             "status": {"code": 2 if slow else 0}},
            {"traceId": trace, "spanId": f"{n:08x}00000002", "parentSpanId": f"{n:08x}00000001", "name": "redis GET",
             "kind": 3, "startTimeUnixNano": str(t0 + n * 1000 + 1000), "endTimeUnixNano": str(t0 + n * 1000 + (899 if slow else 19) * 1000000),
             "attributes": [{"key": "db.system", "value": {"stringValue": "redis"}}],
             "status": {"code": 2, "message": "READONLY You can't write against a read only replica."} if slow else {"code": 0}},
        ]
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout-batch"}}]}
        out.write(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}) + "\n")
PY
"$SEMTRACE" import --quiet --otlp-endpoint "$OTLP" --batch-spans 40 "$WORK/batch.jsonl" | tee "$WORK/import.txt"
grep -q "imported 100 spans" "$WORK/import.txt" || fail "the batch was not imported whole"
wait_searchable $((BEFORE + 102))

step "7. Search with filters: one service, failed spans, at least 500 ms, this run's (start)"
get "/api/v1/search?q=cache+refused+writes&service=checkout-batch&outcome=failed&min_duration=500ms&start=$T_BATCH&limit=20" "$WORK/filtered.json"
json "$WORK/filtered.json" "'\n'.join('%s %s %s %.0f ms' % (r['service'], r['name'], r['status'], r['duration_ms']) for r in d['results'])"
[ "$(json "$WORK/filtered.json" "len(d['results'])")" = 5 ] || fail "expected the 5 slow failed traces"
[ "$(json "$WORK/filtered.json" "all(r['service'] == 'checkout-batch' and r['failed'] and r['duration_ms'] >= 500 for r in d['results'])")" = True ] \
  || fail "a result does not match the filters"

step "8. Statistics: totals, services, failures by category"
get /api/v1/health "$WORK/health.json"
json "$WORK/health.json" "'spans', d['total_spans'], 'traces', d['total_traces'], 'templates', d['templates'], 'bytes on disk', d['disk_bytes']"
get /api/v1/services "$WORK/services.json"
json "$WORK/services.json" "'services:', d"
get /api/v1/errors/categories "$WORK/categories.json"
json "$WORK/categories.json" "d"
[ "$(json "$WORK/health.json" "d['total_spans'] >= $BEFORE + 102")" = True ] || fail "the totals do not count the stored spans"
[ "$(json "$WORK/services.json" "'checkout-batch' in str(d)")" = True ] || fail "the services lack checkout-batch"

echo
echo "all eight scenarios passed"
