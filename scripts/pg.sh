#!/usr/bin/env bash
# PostgreSQL 16 + pgvector for tests and benchmarks, from the PyPI package `pgserver`
# (Debian has no pgvector for its PostgreSQL 15). Nothing here is needed to run semtrace on the
# embedded store, nor with your own PostgreSQL.
#
#   scripts/pg.sh install            fetch and unpack the binaries (idempotent)
#   scripts/pg.sh start DIR PORT     initdb DIR if new, start on 127.0.0.1:PORT, print the URL
#   scripts/pg.sh ensure             start the shared test cluster (target/pg-test, on the first free
#                                    port from 25432) unless it runs; print its URL (used by the tests)
#   scripts/pg.sh stop DIR           stop the cluster of DIR
#
# PostgreSQL refuses to run as root: as root, the cluster runs as the system user `semtrace-pg`
# (created when missing) and the binaries are unpacked under /opt/semtrace-pgserver, where that
# user can reach them; otherwise under .pg/ in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  install_dir=${PGSERVER_DIR:-/opt/semtrace-pgserver}
else
  install_dir=${PGSERVER_DIR:-$PWD/.pg}
fi
bin="$install_dir/pgserver/pginstall/bin"
pg_user=semtrace-pg

install() {
  if [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then
    return
  fi
  echo "== fetching PostgreSQL 16 + pgvector from PyPI (pgserver)" >&2
  tmp=$(mktemp -d)
  # The wheels are per Python version; any CPython 3.9-3.12 wheel holds the same binaries.
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
    --python-version 3.11 --platform manylinux2014_x86_64 pgserver==0.1.4 >&2
  mkdir -p "$install_dir"
  python3 - "$tmp" "$install_dir" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
target = pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as archive:
    for info in archive.infolist():
        # The binaries find their shared libraries in pgserver.libs/ through an RPATH.
        if not info.filename.startswith(("pgserver/pginstall/", "pgserver.libs/")) or info.is_dir():
            continue
        path = target / info.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive.read(info))
        mode = (info.external_attr >> 16) & 0o777
        path.chmod(mode or 0o644)
PY
  chmod -R a+rX "$install_dir"
  chmod a+rx "$bin"/*
  rm -rf "$tmp"
  [ -x "$bin/postgres" ] || { echo "error: the pgserver wheel lacks pginstall/bin/postgres" >&2; exit 1; }
}

# Runs a PostgreSQL binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

start() {
  local dir=$1 port=$2
  install
  if [ "$(id -u)" = 0 ] && ! id "$pg_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown "$pg_user" "$dir"
    # The owner must reach the directory through its parents.
    local parent=$dir
    while [ "$parent" != / ]; do parent=$(dirname "$parent"); chmod o+x "$parent" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bin/initdb" --pgdata="$dir" --username=postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
  fi
  if ! as_owner "$bin/pg_ctl" status --pgdata="$dir" >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" start --pgdata="$dir" --wait --timeout=60 --log="$dir/server.log" \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200 -c shared_buffers=256MB" \
      </dev/null >/dev/null 2>&1 9>&- || { tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir=$1
  if [ -f "$dir/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" stop --pgdata="$dir" --mode=fast --wait >/dev/null || true
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?data directory}" "${3:?port}" ;;
  stop) stop "${2:?data directory}" ;;
  ensure)
    mkdir -p target
    exec 9>target/pg-test.lock
    flock 9
    if [ -f target/pg-test/postmaster.pid ] \
        && as_owner "$bin/pg_ctl" status --pgdata="$PWD/target/pg-test" >/dev/null 2>&1; then
      # Line 4 of postmaster.pid is the port the running server listens on.
      echo "postgresql://postgres@127.0.0.1:$(sed -n 4p target/pg-test/postmaster.pid)/postgres"
      exit 0
    fi
    # Another checkout's cluster may hold 25432: take the first free port.
    port=25432
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    start target/pg-test "$port"
    ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
