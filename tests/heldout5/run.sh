#!/usr/bin/env bash
# Held-out search-quality benchmark #5, end to end, through tests/heldout/run.sh: a fresh semtrace
# server on its own ports and a temporary data directory, this folder's labelled corpus
# (DeathStarBench hotelReservation + socialNetwork, Jaeger-instrumented, as the OpenTelemetry
# Collector's Jaeger receiver hands them on) sent over OTLP/HTTP by the OpenTelemetry Python SDK,
# the evaluation (tests/heldout/evaluate.py, then exclusions.json), then the server stopped.
#
#   tests/heldout5/run.sh [--seed N] [--traces N]
#
# Environment: as tests/heldout/run.sh. Ports: HELDOUT5_GRPC_PORT / HELDOUT5_HTTP_PORT /
# HELDOUT5_API_PORT, else 24317 / 24318 / 26686. BENCH_WAIT=0 skips waiting for running
# `semtrace bench` processes (default: wait up to 20 min, so throughput measurements do not share
# the CPU). Default seed 20261208. No OTLP log records are sent (Jaeger clients have none).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../heldout/wait-for-bench.sh"

HELDOUT_CORPUS=$HERE HELDOUT_SEED=20261208 \
  HELDOUT_GRPC_PORT=${HELDOUT5_GRPC_PORT:-24317} \
  HELDOUT_HTTP_PORT=${HELDOUT5_HTTP_PORT:-24318} \
  HELDOUT_API_PORT=${HELDOUT5_API_PORT:-26686} \
  exec "$HERE/../heldout/run.sh" "$@"
