# Sourced by the corpora's run.sh wrappers: unless BENCH_WAIT=0, waits (up to 20 min) while a
# `semtrace bench` process is running, so throughput measurements do not share the CPU.
if [ "${BENCH_WAIT:-1}" = 1 ]; then
  for i in $(seq 1 40); do
    pgrep -f "semtrace.bench" >/dev/null || break
    [ "$i" = 40 ] && { echo "a 'semtrace bench' is still running after 20 min; not starting" >&2; exit 1; }
    echo "waiting for 'semtrace bench' to finish ($i/40)" >&2
    sleep 30
  done
fi
