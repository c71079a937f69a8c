#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# examples/prefork-server beyond the tour (tests/demo.sh): what it answers
# to wrong requests, keep-alive, HEAD, the metrics' format, a worker killed
# with kill -9 replaced, and a clean stop on SIGTERM.
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }
server=${top_builddir:-.}/examples/prefork-server
work=$(mktemp -d /dev/shm/shmcache-server-test.XXXXXX) || exit 1
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
fail=0
expect() { # expect WHAT GOT WANTED
    if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', wanted '$3'"; fail=1; fi
}

"$server" --port 0 --workers 2 --path "$work/cache" --store "$work/store" \
    --compute-ms 50 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "server did not start"; cat "$work/err"; exit 1; }
url=http://127.0.0.1:$port
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

expect "unknown path" "$(code "$url/nothing")" 404
expect "POST-only endpoint with GET" "$(code "$url/apikey/revoke")" 405
expect "GET-only endpoint with POST" "$(code -X POST "$url/report/1")" 405
expect "report id not a number" "$(code "$url/report/x1")" 404
expect "no API key" "$(code "$url/apikey/check")" 401
expect "a key the store does not know" "$(code -H 'X-API-Key: sk_bob' "$url/apikey/check")" 401
expect "revoke without a key" "$(code -X POST "$url/apikey/revoke")" 400
expect "HEAD of a report" "$(curl -s -I -o /dev/null -w '%{http_code}' "$url/report/3")" 200
expect "HEAD has no body" "$(curl -s -I "$url/report/3" | wc -c | tr -d ' ' | awk '{print ($1 < 400)}')" 1

# Raw requests over bash's /dev/tcp: what curl would not send.
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%b' "$1" >&3
    timeout 5 cat <&3 2>/dev/null
    exec 3<&-
}
expect "not HTTP/1.x" "$(raw 'GET / HTTP/2.0\r\n\r\n' | head -1 | tr -d '\r')" "HTTP/1.1 400 Bad Request"
expect "a bare LF" "$(raw 'GET / HTTP/1.1\nHost: a\n\n' | head -1 | tr -d '\r')" "HTTP/1.1 400 Bad Request"
big=$(head -c 9000 /dev/zero | tr '\0' 'a')
expect "a head over 8 KiB" "$(raw "GET / HTTP/1.1\r\nX-Big: $big\r\n\r\n" | head -1 | tr -d '\r')" \
    "HTTP/1.1 431 Request Header Fields Too Large"
expect "a chunked body" "$(raw 'POST /user/1/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' | head -1 | tr -d '\r')" \
    "HTTP/1.1 400 Bad Request"
two=$(raw 'GET /report/4 HTTP/1.1\r\nHost: a\r\n\r\nGET /report/4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
      grep -c '^HTTP/1.1 200')
expect "two pipelined requests on one connection" "$two" 2

metrics=$(curl -s -D "$work/mh" "$url/metrics")
expect "metrics content type" "$(sed -n 's/^Content-Type: \(.*\)\r$/\1/p' "$work/mh")" "text/plain; version=0.0.4"
expect "metrics carry the hits counter" "$(printf '%s\n' "$metrics" | grep -c '^shmcache_hits_total{')" 1

# A worker killed with kill -9 is replaced, and the server goes on.
victim=$(curl -s -D - -o /dev/null "$url/report/5" | sed -n 's/^X-Worker: \([0-9]*\).*/\1/p')
kill -9 "$victim"
sleep 0.3
grep -q "worker $victim died" "$work/err"; expect "the master saw the worker die" $? 0
expect "still serving after a worker died" "$(code "$url/report/5")" 200
workers=$(pgrep -P "$pid" | wc -l)
expect "as many workers as before" "$workers" 2

kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
expect "SIGTERM stops it with status 0" $? 0
pid=""
exit $fail
