#!/usr/bin/env bash
# Held-out search-quality benchmark #2, end to end, through tests/heldout/run.sh: a fresh semtrace
# server on its own ports and a temporary data directory, this folder's labelled corpus sent over
# OTLP/HTTP by the OpenTelemetry Python SDK, the evaluation, then the server stopped.
#
#   tests/heldout2/run.sh [--seed N] [--traces N]
#
# Environment: as tests/heldout/run.sh, with HELDOUT2_GRPC_PORT / HELDOUT2_HTTP_PORT /
# HELDOUT2_API_PORT (default 44317 / 44318 / 46686); BENCH_WAIT=0 skips waiting for running
# `semtrace bench` processes (default: wait up to 20 min, so throughput measurements on the same
# box do not share the CPU with this run).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../heldout/wait-for-bench.sh"

HELDOUT_CORPUS=$HERE HELDOUT_SEED=20240618 \
  HELDOUT_GRPC_PORT=${HELDOUT2_GRPC_PORT:-44317} HELDOUT_HTTP_PORT=${HELDOUT2_HTTP_PORT:-44318} \
  HELDOUT_API_PORT=${HELDOUT2_API_PORT:-46686} \
  exec "$HERE/../heldout/run.sh" "$@"
