#!/usr/bin/env bash
# Held-out search-quality benchmark #3, end to end, through tests/heldout/run.sh: a fresh semtrace
# server on its own ports and a temporary data directory, this folder's labelled corpus (a
# train-ticket-like system whose failures are mostly told in logs) sent over OTLP/HTTP by the
# OpenTelemetry Python SDK (traces to /v1/traces, log records to /v1/logs), the evaluation
# (tests/heldout/evaluate.py), then the server stopped.
#
#   tests/heldout3/run.sh [--seed N] [--traces N]
#
# Environment: as tests/heldout/run.sh. Ports: HELDOUT3_GRPC_PORT / HELDOUT3_HTTP_PORT /
# HELDOUT3_API_PORT, else HELDOUT_GRPC_PORT / HELDOUT_HTTP_PORT / HELDOUT_API_PORT, else
# 54317 / 54318 / 56686. By default (HELDOUT3_REQUIRE_LOGS=1) the corpus fails when any OTLP log
# record is not acknowledged (corpus.py --require-logs); HELDOUT3_REQUIRE_LOGS=0 only counts
# log export failures in corpus_meta.json (for a server without POST /v1/logs). BENCH_WAIT=0 skips waiting for running `semtrace bench`
# processes (default: wait up to 20 min, so throughput measurements do not share the CPU).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../heldout/wait-for-bench.sh"

export HELDOUT3_REQUIRE_LOGS=${HELDOUT3_REQUIRE_LOGS:-1}
HELDOUT_CORPUS=$HERE HELDOUT_SEED=20250301 \
  HELDOUT_GRPC_PORT=${HELDOUT3_GRPC_PORT:-${HELDOUT_GRPC_PORT:-54317}} \
  HELDOUT_HTTP_PORT=${HELDOUT3_HTTP_PORT:-${HELDOUT_HTTP_PORT:-54318}} \
  HELDOUT_API_PORT=${HELDOUT3_API_PORT:-${HELDOUT_API_PORT:-56686}} \
  exec "$HERE/../heldout/run.sh" "$@"
