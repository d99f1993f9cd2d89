#!/usr/bin/env bash
# Held-out search-quality benchmark #4, end to end, through tests/heldout/run.sh: a fresh semtrace
# server on its own ports and a temporary data directory, this folder's labelled corpus (the
# OpenTelemetry Demo, "Astronomy Shop", as its services really emit telemetry) sent over OTLP/HTTP
# by the OpenTelemetry Python SDK (traces to /v1/traces, log records to /v1/logs), the evaluation
# (tests/heldout/evaluate.py, then exclusions.json), then the server stopped.
#
#   tests/heldout4/run.sh [--seed N] [--traces N]
#
# Environment: as tests/heldout/run.sh. Ports: HELDOUT4_GRPC_PORT / HELDOUT4_HTTP_PORT /
# HELDOUT4_API_PORT, else HELDOUT_GRPC_PORT / HELDOUT_HTTP_PORT / HELDOUT_API_PORT, else
# 64317 / 64318 / 64686. By default (HELDOUT4_REQUIRE_LOGS=1) the corpus fails when any OTLP log
# record is not acknowledged; HELDOUT4_REQUIRE_LOGS=0 only counts them in corpus_meta.json.
# BENCH_WAIT=0 skips waiting for running `semtrace bench` processes (default: wait up to 20 min,
# so throughput measurements do not share the CPU). Default seed 20261207.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../heldout/wait-for-bench.sh"

export HELDOUT4_REQUIRE_LOGS=${HELDOUT4_REQUIRE_LOGS:-1}
HELDOUT_CORPUS=$HERE HELDOUT_SEED=20261207 \
  HELDOUT_GRPC_PORT=${HELDOUT4_GRPC_PORT:-${HELDOUT_GRPC_PORT:-64317}} \
  HELDOUT_HTTP_PORT=${HELDOUT4_HTTP_PORT:-${HELDOUT_HTTP_PORT:-64318}} \
  HELDOUT_API_PORT=${HELDOUT4_API_PORT:-${HELDOUT_API_PORT:-64686}} \
  exec "$HERE/../heldout/run.sh" "$@"
