#!/bin/sh
# The main job (make demo): the tour of examples/prefork-server runs to the
# end and every step showed what it should (the tour checks each, and exits
# 1 otherwise). curl is what the tour drives the server with.
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }
out=$(top_builddir=${top_builddir:-.} sh "${srcdir:-.}/examples/tour.sh" 2>&1)
status=$?
echo "$out"
[ $status -eq 0 ] || { echo "the tour failed (status $status)"; exit 1; }
printf '%s\n' "$out" | grep -q "Every step showed what it should" || exit 1
if command -v redis-server >/dev/null; then
    printf '%s\n' "$out" | grep -q "ok: the revocation crossed to host B" || {
        echo "the cross-host step did not run"; exit 1; }
fi
