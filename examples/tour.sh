#!/bin/sh
# tour.sh - a scripted tour of examples/prefork-server: starts it, sends it
# requests with curl, says what each showed, checks it, and stops it.
#
#   sh examples/tour.sh          the tour; exits 0 when every step showed
#                                what it should, 1 otherwise
#   sh examples/tour.sh serve    start one server on 127.0.0.1:8080 and keep
#                                it serving until Ctrl-C
#
# With redis-server and daemon/shmcached built, the tour runs two "hosts"
# (two instances, each with its own shmcached bridged through one Redis,
# and its own server): a revocation on one is refused by the other.
# Run from the build directory (make demo does), or set top_builddir.
set -u
builddir=${top_builddir:-.}
server=$builddir/examples/prefork-server
daemon=$builddir/daemon/shmcached
command -v curl >/dev/null || { echo "tour: curl is needed (apt-get install curl)"; exit 1; }
[ -x "$server" ] || { echo "tour: $server not built (make examples/prefork-server)"; exit 1; }

work=$(mktemp -d /dev/shm/shmcache-tour.XXXXXX) || exit 1
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/store"

# start_server NAME INSTANCE [PORT]: starts it, sets port_NAME.
start_server() {
    "$server" --port "${3:-0}" --workers 4 --path "$2" --store "$work/store" \
        >"$work/$1.out" 2>"$work/$1.err" &
    pids="$pids $!"
    for _ in $(seq 100); do
        p=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/$1.out")
        if [ -n "$p" ]; then eval "port_$1=$p"; return 0; fi
        sleep 0.1
    done
    echo "tour: the server did not start:"; cat "$work/$1.err"; exit 1
}

if [ "${1:-}" = serve ]; then
    start_server main "$work/cache" 8080
    cat <<EOF
Serving on http://127.0.0.1:8080 with 4 workers (instance $work/cache). Try:
  curl -i -H 'X-API-Key: ak_alice' http://127.0.0.1:8080/apikey/check
  curl -i -X POST -H 'X-API-Key: ak_alice' http://127.0.0.1:8080/apikey/revoke
  curl -i http://127.0.0.1:8080/report/1
  curl -i -H 'If-None-Match: "v..."' http://127.0.0.1:8080/report/1
  curl -i -X POST http://127.0.0.1:8080/user/42/token
  curl http://127.0.0.1:8080/metrics
Ctrl-C stops it.
EOF
    wait
    exit 0
fi

failed=0
say() { printf '%s\n' "$*"; }
check() { # check CONDITION-TEXT RESULT(0 ok)
    if [ "$2" -eq 0 ]; then say "   ok: $1"; else say "   NOT AS EXPECTED: $1"; failed=1; fi
}
# req NAME METHOD PATH [curl args...]: the status, X-Cache and X-Worker of
# one request into $status $xcache $worker, its body into $body.
req() {
    name=$1 method=$2 path=$3; shift 3
    eval "port=\$port_$name"
    curl -s -X "$method" -D "$work/h" -o "$work/b" "$@" \
        "http://127.0.0.1:$port$path" >/dev/null 2>&1
    status=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$work/h")
    xcache=$(sed -n 's/^X-Cache: \([a-z]*\).*/\1/p' "$work/h")
    worker=$(sed -n 's/^X-Worker: \([0-9]*\).*/\1/p' "$work/h")
    etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' "$work/h")
    body=$(cat "$work/b")
}

two_hosts=0
if command -v redis-server >/dev/null && [ -x "$daemon" ]; then
    two_hosts=1
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$work/bridge.key"
    echo >>"$work/bridge.key"
    chmod 600 "$work/bridge.key"
    redis-server --port 0 --unixsocket "$work/redis.sock" --save '' \
        --appendonly no >"$work/redis.log" 2>&1 &
    pids="$pids $!"
    for h in a b; do
        mkdir -m 700 "$work/host-$h"
        "$daemon" --path "$work/host-$h/cache" --redis "unix://$work/redis.sock" \
            --bridge-secret-file "$work/bridge.key" --host-id "host-$h" \
            2>"$work/shmcached-$h.log" &
        pids="$pids $!"
    done
    for h in a b; do
        for _ in $(seq 100); do
            [ "$(grep -c 'connected to Redis' "$work/shmcached-$h.log")" -ge 2 ] && break
            sleep 0.1
        done
    done
    start_server a "$work/host-a/cache"
    start_server b "$work/host-b/cache"
    say "Two hosts on this machine: server A on port $port_a and server B on port $port_b,"
    say "4 workers each, each host's instance kept by its own shmcached, the two"
    say "bridged through Redis (unix://$work/redis.sock)."
else
    mkdir -m 700 "$work/host-a"
    start_server a "$work/host-a/cache"
    say "One host: server A on port $port_a, 4 workers (no redis-server or shmcached:"
    say "the cross-host steps are left out)."
fi

say ""
say "1. An API key checked against a slow key store (50 ms), through get_or_compute:"
req a GET /apikey/check -H 'X-API-Key: ak_alice'
say "   A: $status $body (X-Cache: $xcache, worker $worker)"
check "the first check asks the store" "$([ "$status" = 200 ] && [ "$xcache" = computed ]; echo $?)"
hits=0
for _ in 1 2 3 4 5 6 7 8; do
    req a GET /apikey/check -H 'X-API-Key: ak_alice'
    [ "$status" = 200 ] && [ "$xcache" = hit ] && hits=$((hits + 1))
done
say "   8 more checks on A: $hits answered from the shared cache"
check "every worker reads the one cached answer" "$([ $hits -eq 8 ]; echo $?)"
if [ $two_hosts -eq 1 ]; then
    req b GET /apikey/check -H 'X-API-Key: ak_alice'
    req b GET /apikey/check -H 'X-API-Key: ak_alice'
    say "   B: $status $body (X-Cache: $xcache): B has cached it too, for 60 s"
fi

say ""
say "2. The key is revoked on A (POST /apikey/revoke: the store, then shmc_revoke):"
req a POST /apikey/revoke -H 'X-API-Key: ak_alice'
say "   A: $status $body"
refused=0 workers=""
for _ in 1 2 3 4 5 6 7 8; do
    req a GET /apikey/check -H 'X-API-Key: ak_alice'
    [ "$status" = 401 ] && refused=$((refused + 1))
    workers="$workers $worker"
done
nworkers=$(printf '%s\n' $workers | sort -u | wc -l)
say "   8 checks on A right after: $refused refused, by $nworkers different workers"
check "no worker accepts the revoked key" "$([ $refused -eq 8 ]; echo $?)"
if [ $two_hosts -eq 1 ]; then
    ok=1
    for _ in $(seq 50); do
        req b GET /apikey/check -H 'X-API-Key: ak_alice'
        [ "$status" = 401 ] && { ok=0; break; }
        sleep 0.02
    done
    say "   B: $status $body (X-Cache: $xcache)"
    check "the revocation crossed to host B (its cached entry is gone)" "$ok"
fi

say ""
say "3. An expensive page (300 ms), memoized, with ETag and Cache-Control:"
req a GET /report/1
t1=$etag
say "   GET /report/1: $status, X-Cache: $xcache, ETag: $etag"
say "   $(grep -i '^Cache-Control' "$work/h" | tr -d '\r')"
req a GET /report/1
say "   again: $status, X-Cache: $xcache"
check "the second request is served from the cache" "$([ "$status" = 200 ] && [ "$xcache" = hit ]; echo $?)"
req a GET /report/1 -H "If-None-Match: $t1"
say "   with If-None-Match: $t1 -> $status"
check "a matching ETag gets 304 Not Modified" "$([ "$status" = 304 ]; echo $?)"
req a GET /report/1 -H 'If-None-Match: W/"v0", "other"'
check "a list without it gets the page" "$([ "$status" = 200 ]; echo $?)"

say ""
say "4. A stampede: 16 requests at once for /report/2, which nobody has computed:"
clients=""
for i in $(seq 16); do
    curl -s -D "$work/stampede.$i" -o /dev/null "http://127.0.0.1:$port_a/report/2" &
    clients="$clients $!"
done
for p in $clients; do wait "$p"; done
computed=$(cat "$work"/stampede.* | grep -c '^X-Cache: computed')
oks=$(cat "$work"/stampede.* | grep -c '^HTTP/1.1 200')
say "   $oks answered 200; the page was computed $computed time(s)"
check "single flight: computed once for all" "$([ "$oks" -eq 16 ] && [ "$computed" -eq 1 ]; echo $?)"

say ""
say "5. 10 requests at once for user 42's token (POST /user/42/token):"
clients=""
for i in $(seq 10); do
    curl -s -X POST -o "$work/token.$i" "http://127.0.0.1:$port_a/user/42/token" &
    clients="$clients $!"
done
for p in $clients; do wait "$p"; done
tokens=$(cat "$work"/token.* | sed -n 's/.*token \([0-9a-f]*\).*/\1/p' | sort -u | wc -l)
created=$(cat "$work"/token.* | grep -c created)
say "   $(cat "$work"/token.* | grep created)"
say "   distinct tokens handed out: $tokens; created: $created"
check "a per-user lock: one token, made once" "$([ "$tokens" -eq 1 ] && [ "$created" -eq 1 ]; echo $?)"

say ""
say "6. GET /metrics (Prometheus text from the shared counters), a few lines:"
req a GET /metrics
printf '%s\n' "$body" | grep -E '^shmcache_(hits|misses|computes|revocations|locks|bridge_sent)_total' | sed 's/^/   /'
[ $two_hosts -eq 1 ] && {
    req b GET /metrics
    printf '%s\n' "$body" | grep -E '^shmcache_bridge_applied_total' | sed 's/^/   B: /'
}

say ""
if [ $failed -eq 0 ]; then
    say "Every step showed what it should. Stopping the servers."
else
    say "Some steps did not show what they should (see above)."
fi
exit $failed
