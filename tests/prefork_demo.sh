#!/bin/sh
# examples/prefork-demo runs to the end, and every worker saw the revocation and the
# expiry that the script makes.
dir=$(mktemp -d /dev/shm/shmcache-demo-test.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
out=$("${top_builddir:-.}/examples/prefork-demo" --path "$dir/inst" --workers 4) || {
    echo "$out"; echo "demo failed"; exit 1; }
echo "$out"
count() { printf '%s\n' "$out" | grep -c "$1"; }
fail=0
[ "$(count 'worker .* config:motd = "Welcome to shmcache"')" -eq 4 ] || { echo "not every worker read the master's value"; fail=1; }
[ "$(count 'feature:dark-mode = "on"')" -eq 5 ] || { echo "worker 1's write not seen by all"; fail=1; }
[ "$(count 'ak_alice is VALID')" -eq 4 ] || { echo "key not valid before revocation"; fail=1; }
[ "$(count 'ak_alice is REVOKED')" -eq 4 ] || { echo "revocation not seen by every worker"; fail=1; }
[ "$(count 'session:42 = ')" -eq 4 ] || { echo "session not readable before its TTL"; fail=1; }
[ "$(count 'session:42: not in the cache')" -eq 4 ] || { echo "session still readable after its TTL"; fail=1; }
exit $fail
