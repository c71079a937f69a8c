#!/bin/sh
# serverbench.sh - wrk against examples/prefork-server (make bench-server):
# /report/1 and /apikey/check served from the shared cache, then the same
# with --no-cache (every request computes: the report 20 ms, the key
# lookup 50 ms), 4 workers, 2 wrk threads, 4 connections (one per worker: a worker serves one keep-alive connection at a time), 5 s each.
# Run from the build directory.
set -eu
server=./examples/prefork-server
command -v wrk >/dev/null || { echo "serverbench: wrk is needed (apt-get install wrk)"; exit 1; }
[ -x "$server" ] || { echo "serverbench: build $server first"; exit 1; }
work=$(mktemp -d /dev/shm/shmcache-serverbench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill $pid; wait 2>/dev/null; rm -rf "$work"' EXIT
duration=${BENCH_DURATION:-5}

run() { # run LABEL [server options]
    label=$1; shift
    "$server" --port 0 --workers 4 --compute-ms 20 --path "$work/cache-$label" \
        --store "$work/store" "$@" >"$work/out" 2>&1 &
    pid=$!
    port=""
    while [ -z "$port" ]; do
        sleep 0.1
        port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
    done
    for path in /report/1 /apikey/check; do
        curl -s -o /dev/null -H 'X-API-Key: ak_alice' "http://127.0.0.1:$port$path"
        wrk -t2 -c4 -d"${duration}s" --latency -H 'X-API-Key: ak_alice' \
            "http://127.0.0.1:$port$path" >"$work/wrk"
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/wrk")
        p50=$(awk '$1 == "50%" {print $2}' "$work/wrk")
        p99=$(awk '$1 == "99%" {print $2}' "$work/wrk")
        printf '| %-8s | %-13s | %10s | %8s | %8s |\n' "$label" "$path" "$rps" "$p50" "$p99"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "| server   | endpoint      | requests/s |      p50 |      p99 |"
echo "|----------|---------------|-----------:|---------:|---------:|"
run cached
run uncached --no-cache
