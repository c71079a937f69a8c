#!/bin/sh
# shmcache-ctl's commands round-trip on a private instance (values exactly,
# binary ones through stdin; keys listed, escaped and given back), and the
# command line of both tools: --help, --version, usage and exit 2 for bad
# arguments, exit 2 naming the path for a missing instance, which they must
# not create.
top=${top_builddir:-.}
ctl="$top/tools/shmcache-ctl"
stat="$top/tools/shmcache-stat"
dir=$(mktemp -d /dev/shm/shmcache-tools-test.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
inst="$dir/inst"
fail=0

bad() {
    echo "FAIL: $*"
    sed 's/^/  stderr: /' "$dir/err"
    fail=1
}

# run CMD ARGS...: runs it with stdout in $dir/out and stderr in $dir/err;
# $rc is its exit status.
run() {
    "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
}

# expect RC CMD ARGS...: run it and check its exit status.
expect() {
    want=$1
    shift
    run "$@"
    [ "$rc" -eq "$want" ] || bad "$* exited $rc, not $want"
}

# ctl_expect RC ARGS...: expect for shmcache-ctl on the test's instance.
ctl_expect() {
    want=$1
    shift
    expect "$want" "$ctl" --path "$inst" "$@"
}

# out_is TEXT: stdout was exactly TEXT (with printf's \n and \\, no newline
# added).
out_is() {
    printf '%b' "$1" >"$dir/want"
    cmp -s "$dir/want" "$dir/out" ||
        bad "stdout was (od -c) $(od -c "$dir/out" | head -4)
  not $(od -c "$dir/want" | head -4)"
}

err_has() {
    grep -q -- "$1" "$dir/err" || bad "stderr lacks '$1'"
}

# ---- a missing instance: exit 2, the path said, nothing created ----------

missing_instance() {
    expect 2 "$@"
    err_has "$dir/none"
    [ ! -e "$dir/none" ] || bad "$* created $dir/none"
}
missing_instance "$stat" --path "$dir/none"
missing_instance "$stat" --path "$dir/none" --json
missing_instance "$ctl" --path "$dir/none" keys
missing_instance "$ctl" --path "$dir/none" set k v

# ---- --help and --version ------------------------------------------------

for tool in "$stat" "$ctl"; do
    name=$(basename "$tool")
    expect 0 "$tool" --help
    grep -q "^usage: $name " "$dir/out" || bad "$name --help: no usage line"
    grep -q -- "--path DIR" "$dir/out" || bad "$name --help: no --path"
    expect 0 "$tool" --version
    grep -q "^$name (shmcache) [0-9][0-9.]*\$" "$dir/out" ||
        bad "$name --version said '$(cat "$dir/out")'"
done

# ---- create ----------------------------------------------------------------

ctl_expect 0 --map-size 16M create
[ -d "$inst" ] || bad "create made no instance"
ctl_expect 1 --map-size 32M create
err_has "already exists"
expect 0 "$stat" --path "$inst" --json
grep -q '"map_size":16777216,' "$dir/out" || bad "create ignored --map-size"

# ---- set and get -----------------------------------------------------------

ctl_expect 0 set greeting hello
ctl_expect 0 get greeting
out_is 'hello'
ctl_expect 0 set greeting 'hello again'
ctl_expect 0 get greeting
out_is 'hello again'

# Binary, with NUL, newline and high bytes, through stdin; then an empty
# value and one large enough to need several reads.
printf 'a\000b\377\nc\r\n' >"$dir/binary"
ctl_expect 0 set blob - <"$dir/binary"
ctl_expect 0 get blob
cmp -s "$dir/binary" "$dir/out" || bad "binary value changed on the way"
ctl_expect 0 set empty - </dev/null
ctl_expect 0 get empty
out_is ''
head -c 300000 /dev/urandom >"$dir/large"
ctl_expect 0 set large - <"$dir/large"
ctl_expect 0 get large
cmp -s "$dir/large" "$dir/out" || bad "large value changed on the way"

# A value that looks like an option, after "--"; options after arguments.
ctl_expect 0 set dash -- -5
ctl_expect 0 get dash
out_is '-5'
ctl_expect 0 set later value --ttl 600000
ctl_expect 0 get later
out_is 'value'

# --ttl: fresh, then gone.
ctl_expect 0 set --ttl 200 short soon-gone
ctl_expect 0 get short
out_is 'soon-gone'
sleep 0.5
ctl_expect 1 get short
out_is ''

# ---- missing keys, del, revoke -------------------------------------------

ctl_expect 1 get nothing-here
out_is ''
err_has "not found"
ctl_expect 0 del greeting
ctl_expect 1 get greeting
ctl_expect 1 del greeting
ctl_expect 0 set token secret
ctl_expect 0 revoke token
ctl_expect 1 get token
ctl_expect 1 revoke token
expect 0 "$stat" --path "$inst" --json
grep -q '"revocations":1,' "$dir/out" || bad "the revocation was not counted"

# ---- invalidate-prefix, keys, flush ----------------------------------------

ctl_expect 0 flush
ctl_expect 0 keys
out_is ''
for k in user:1 user:2 user:3 other; do
    ctl_expect 0 set "$k" v
done
ctl_expect 0 invalidate-prefix user:
out_is '3\n'
ctl_expect 0 keys
out_is 'other\n'

for k in a:3 a:1 b:1 a:2; do
    ctl_expect 0 set "$k" v
done
ctl_expect 0 keys
out_is 'a:1\na:2\na:3\nb:1\nother\n'
ctl_expect 0 keys a:
out_is 'a:1\na:2\na:3\n'
[ ! -s "$dir/err" ] || bad "keys said something on stderr"
ctl_expect 0 keys --limit 3 a:
out_is 'a:1\na:2\na:3\n'
[ ! -s "$dir/err" ] || bad "keys at exactly its limit said it was cut"
ctl_expect 0 keys --limit 2 a:
out_is 'a:1\na:2\n'
err_has "cut at 2"
ctl_expect 0 keys zzz
out_is ''

# Unprintable bytes and backslashes are escaped, and -e takes them back.
ctl_expect 0 set -e 'line\x0abreak' one
ctl_expect 0 set 'back\slash' two
ctl_expect 0 keys --escaped line
out_is 'line\\x0abreak\n'
ctl_expect 0 keys back
out_is 'back\\x5cslash\n'
ctl_expect 0 get -e 'line\x0abreak'
out_is 'one'
ctl_expect 0 get --escaped 'back\x5cslash'
out_is 'two'
ctl_expect 0 del -e 'line\x0Abreak'

ctl_expect 0 flush
ctl_expect 0 keys
out_is ''
expect 0 "$stat" --path "$inst" --json
grep -q '"entries":0,' "$dir/out" || bad "flush left entries"

# ---- verify, sweep, evict, reader-check ------------------------------------

ctl_expect 0 set kept v
ctl_expect 0 set --ttl 1 expiring v
sleep 0.1
ctl_expect 0 verify
grep -q '^2 records checked: 0 problems, 1 expired$' "$dir/out" ||
    bad "verify said '$(cat "$dir/out")'"
ctl_expect 0 sweep --budget-us 1000000
grep -q 'removed 1 expired' "$dir/out" || bad "sweep said '$(cat "$dir/out")'"
ctl_expect 0 get kept
ctl_expect 0 evict 50
grep -q '^visited ' "$dir/out" || bad "evict said '$(cat "$dir/out")'"
ctl_expect 0 reader-check
grep -q 'reader slots freed' "$dir/out" || bad "reader-check said nothing"

# ---- bad arguments: a short usage on stderr, exit 2, nothing done ---------

ctl_expect 0 set canary alive
while read -r args; do
    # shellcheck disable=SC2086 # each line is a list of arguments
    ctl_expect 2 $args
    err_has "^usage: shmcache-ctl "
    [ ! -s "$dir/out" ] || bad "shmcache-ctl $args wrote to stdout"
done <<'EOF'

frobnicate
get
get a b
get --ttl 5 k
get -e bad\x4
set k
set a b c
set --limit 2 k v
set --ttl abc k v
set --ttl -1 k v
set --stale k v
del
del a b
del --limit 3 k
revoke
revoke a b
invalidate-prefix
invalidate-prefix a b
flush x
flush --ttl 5
keys a b
keys --stale
keys --limit 0
keys --limit -1
keys --limit x
verify x
sweep x
sweep --batch 0
sweep --budget-us x
evict
evict 0
evict 100
evict abc
evict 50 60
reader-check x
create x
--frobnicate keys
--high-watermark 5 keys
--max-readers x keys
EOF
ctl_expect 2 invalidate-prefix ''
err_has "^usage: "
ctl_expect 2 --path '' keys
err_has "^usage: "
ctl_expect 0 get canary
out_is 'alive'

while read -r args; do
    # shellcheck disable=SC2086 # each line is a list of arguments
    expect 2 "$stat" --path "$inst" $args
    err_has "^usage: shmcache-stat "
    [ ! -s "$dir/out" ] || bad "shmcache-stat $args wrote to stdout"
done <<'EOF'
extra
--json --prometheus
--watch 0
--watch abc
--watch -1
--watch 1e3
--watch 2 --json
--watch 2 --prometheus
--count 3
--watch 1 --count 0
--frobnicate
--map-size 12Q
EOF

# ---- key files: a protected instance -------------------------------------

sec="$dir/secret.key"
vkey="$dir/value.key"
printf '%064d\n' 7 >"$sec"
printf '%064d\n' 9 >"$vkey"
chmod 600 "$sec" "$vkey"
pinst="$dir/protected"
# pctl RC ARGS...: expect for shmcache-ctl on it, with both key files.
pctl() {
    want=$1
    shift
    expect "$want" "$ctl" --path "$pinst" --key-secret-file "$sec" \
        --value-key-file "$vkey" "$@"
}
pctl 0 create
pctl 0 set user:42:token s3cr3t-value
pctl 0 get user:42:token
out_is 's3cr3t-value'
grep -a -q 'user:42\|s3cr3t' "$pinst/data.mdb" && bad "the key or value is in data.mdb in the clear"
expect 2 "$ctl" --path "$pinst" get user:42:token
grep -q 'key secret' "$dir/err" || bad "opening without the key secret did not say why"
expect 2 "$ctl" --path "$pinst" --key-secret-file "$sec" get user:42:token
grep -q 'value key' "$dir/err" || bad "opening without the value key did not say why"
pctl 0 invalidate-prefix user:42:
out_is '1\n'
expect 0 "$stat" --path "$pinst" --json
chmod 644 "$vkey"
expect 2 "$ctl" --path "$pinst" --key-secret-file "$sec" --value-key-file "$vkey" get k
grep -q 'value.key' "$dir/err" || bad "a readable key file was not refused by name"

# ---- under make check-valgrind: every command once through memcheck -------
# (The rest runs the tools natively: a run under valgrind takes a second.)

if [ -n "$SHMC_TEST_UNDER_VALGRIND" ] && command -v valgrind >/dev/null; then
    # shellcheck disable=SC2317 # called through expect
    memcheck() {
        "$top/libtool" --mode=execute valgrind -q --error-exitcode=99 \
            --leak-check=full --errors-for-leak-kinds=definite "$@"
    }
    for args in "" --json --prometheus "--watch 0.1 --count 2"; do
        # shellcheck disable=SC2086 # a list of arguments
        expect 0 memcheck "$stat" --path "$inst" $args
    done
    expect 2 memcheck "$stat" --path "$dir/none"
    expect 2 memcheck "$stat" --watch 0
    expect 0 memcheck "$ctl" --help
    expect 2 memcheck "$ctl" --path "$dir/none" keys
    expect 1 memcheck "$ctl" --path "$inst" create
    expect 2 memcheck "$ctl" --path "$inst" set onlykey
    ctl_expect 0 flush
    expect 0 memcheck "$ctl" --path "$inst" set --ttl 60000 vg:1 one
    expect 0 memcheck "$ctl" --path "$inst" set vg:2 - <"$dir/large"
    expect 0 memcheck "$ctl" --path "$inst" get vg:2
    cmp -s "$dir/large" "$dir/out" || bad "large value changed under valgrind"
    expect 1 memcheck "$ctl" --path "$inst" get vg:none
    expect 0 memcheck "$ctl" --path "$inst" set -e 'vg:\x00' three
    expect 0 memcheck "$ctl" --path "$inst" keys --limit 2
    out_is 'vg:\\x00\nvg:1\n'
    expect 0 memcheck "$ctl" --path "$inst" del vg:1
    expect 0 memcheck "$ctl" --path "$inst" revoke vg:2
    expect 0 memcheck "$ctl" --path "$inst" invalidate-prefix vg:
    out_is '1\n'
    for cmd in flush verify sweep "evict 50" reader-check; do
        # shellcheck disable=SC2086 # a command and its arguments
        expect 0 memcheck "$ctl" --path "$inst" $cmd
    done
fi

exit $fail
