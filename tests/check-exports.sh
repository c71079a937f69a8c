#!/bin/sh
# The shared library exports the public API (shmc_*) and nothing else.
lib="${top_builddir:-.}/lib/.libs/libshmcache.so"
[ -f "$lib" ] || { echo "no $lib (built with --disable-shared?)"; exit 77; }
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^shmc_[a-z]' | grep -v '^_' )
if [ -n "$bad" ]; then
    echo "exported beyond the public API:"; echo "$bad"; exit 1
fi
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^shmc__')
[ -z "$internal" ] || { echo "internal symbols exported: $internal"; exit 1; }
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^shmc_')
echo "$count public symbols exported, nothing else"
[ "$count" -gt 10 ]
