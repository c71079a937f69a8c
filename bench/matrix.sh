#!/bin/sh
# matrix.sh - the default benchmark matrix, run by `make bench`.
#
# usage: matrix.sh [path/to/shmcache-bench]    (or BENCH=path matrix.sh)
#
# Runs every cell of the matrix (procs x value size x read ratio x key
# distribution) BENCH_REPS times. Within a repetition every backend runs
# for a cell before the next cell starts, so that a backend is compared
# with the others measured moments apart; the order of the backends
# rotates from one repetition to the next, so that none is always first.
#
# Writes, next to the program (or into BENCH_OUT):
#   results.csv  every row, with its repetition number first
#   results.md   the table of medians per cell and backend, and each
#                backend's ratio to raw LMDB (also printed to stdout)
#   results.png  a chart of the same, if gnuplot is installed
#
# Knobs (environment): BENCH_DURATION (seconds per run, default 1),
# BENCH_REPS (3), BENCH_KEYS (100000), BENCH_BACKENDS (all),
# BENCH_PROCS ("1 2 4"), BENCH_VSIZES ("64 1024"), BENCH_READ_RATIOS
# ("1.0 0.9"), BENCH_DISTS ("uniform zipf:0.99"), BENCH_OUT.
set -u

BENCH=${1:-${BENCH:-./bench/shmcache-bench}}
DURATION=${BENCH_DURATION:-1}
REPS=${BENCH_REPS:-3}
KEYS=${BENCH_KEYS:-100000}
BACKENDS=${BENCH_BACKENDS:-shmcache,shmcache-l1,lmdb,redis-unix,redis-tcp,memcached}
PROCS=${BENCH_PROCS:-1 2 4}
VSIZES=${BENCH_VSIZES:-64 1024}
READ_RATIOS=${BENCH_READ_RATIOS:-1.0 0.9}
DISTS=${BENCH_DISTS:-uniform zipf:0.99}
OUT=${BENCH_OUT:-$(dirname "$BENCH")}
# The backend every other one is divided by, and those whose ratio to it
# the chart's second panel shows.
BASELINE=lmdb
RATIO_BACKENDS="shmcache shmcache-l1"

if [ ! -x "$BENCH" ]; then
    echo "matrix.sh: $BENCH is not an executable (build it: make bench/shmcache-bench)" >&2
    exit 1
fi
mkdir -p "$OUT" || exit 1
csv=$OUT/results.csv
md=$OUT/results.md
png=$OUT/results.png
chart_data=$OUT/results-chart.dat

# The comma list $1 rotated left by $2 places.
rotate() {
    echo "$1" | awk -F, -v k="$2" '{
        s = ""
        for (i = 0; i < NF; i++)
            s = s (i ? "," : "") $((i + k) % NF + 1)
        print s
    }'
}

status=0
cells=0
for procs in $PROCS; do for vsize in $VSIZES; do
    for read in $READ_RATIOS; do for dist in $DISTS; do
        cells=$((cells + 1))
    done; done
done; done

: >"$csv"
rep=1
while [ "$rep" -le "$REPS" ]; do
    order=$(rotate "$BACKENDS" $((rep - 1)))
    cell=0
    for procs in $PROCS; do for vsize in $VSIZES; do
        for read in $READ_RATIOS; do for dist in $DISTS; do
            cell=$((cell + 1))
            echo "rep $rep/$REPS, cell $cell/$cells: procs $procs, vsize $vsize, read $read, $dist" >&2
            # The header of the first run becomes the file's header.
            rows=$("$BENCH" --csv --procs "$procs" --vsize "$vsize" \
                --read-ratio "$read" --dist "$dist" --keys "$KEYS" \
                --duration "$DURATION" --seed "$rep" --backend "$order") ||
                status=1
            printf '%s\n' "$rows" | awk -v rep="$rep" -v first="$(test -s "$csv" || echo 1)" '
                /^backend,/ { if (first) print "rep," $0; next }
                NF { print rep "," $0 }' >>"$csv"
        done; done
    done; done
    rep=$((rep + 1))
done

# ---- medians and ratios ---------------------------------------------------

{
    echo "## shmcache-bench: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`BENCH_DURATION=$DURATION BENCH_REPS=$REPS make bench\`" \
        "($KEYS keys, backends $BACKENDS; procs $PROCS, values $VSIZES B," \
        "read ratios $READ_RATIOS, distributions $DISTS)."
    echo "Machine: $(uname -srm), $(getconf _NPROCESSORS_ONLN) CPUs," \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)."
    echo
    echo "Medians over $REPS repetitions of $DURATION s each; latencies in ns." \
        "\"×$BASELINE\": the backend's ops/s (or set p99) divided by $BASELINE's" \
        "in the same repetition and cell, median over the repetitions."
    echo
    awk -F, -v backends="$BACKENDS" -v base="$BASELINE" -v chart="$chart_data" \
        -v ratio_backends="$RATIO_BACKENDS" '
    function median(a, n,    i, j, t) {
        if (n == 0)
            return ""
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    # Median of field f over the repetitions of cell c and backend b.
    function median_of(c, b, f,    a, n, i, v) {
        split("", a); n = 0
        for (i = 1; i <= count[c, b]; i++) {
            v = val[c, b, i, f]
            if (v != "")
                a[++n] = v + 0
        }
        return median(a, n)
    }
    # Median over the repetitions of b/base for field f, each repetition
    # divided by its own baseline row.
    function ratio_of(c, b, f,    a, n, i, r, v, d) {
        split("", a); n = 0
        for (i = 1; i <= count[c, b]; i++) {
            r = val[c, b, i, "rep"]
            v = val[c, b, i, f]
            if (!((c, base, r) in base_row) || v == "")
                continue
            d = val[c, base, base_row[c, base, r], f]
            if (d != "" && d + 0 > 0)
                a[++n] = v / d
        }
        return median(a, n)
    }
    function fmt(v, spec) { return v == "" ? "-" : sprintf(spec, v) }
    function short_dist(d) { sub(/^uniform$/, "uni", d); sub(/^zipf:/, "z", d); return d }
    BEGIN {
        nb = split(backends, order, ",")
        nr = split(ratio_backends, ratio_order, " ")
        nf = split("ops_per_s get_p50_ns get_p99_ns get_p999_ns set_p50_ns set_p99_ns set_p999_ns errors", fields, " ")
    }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        c = $col["procs"] SUBSEP $col["vsize"] SUBSEP $col["read_ratio"] SUBSEP $col["dist"]
        if (!(c in seen)) { seen[c] = 1; cells[++nc] = c }
        b = $col["backend"]
        i = ++count[c, b]
        val[c, b, i, "rep"] = $col["rep"]
        for (k = 1; k <= nf; k++)
            val[c, b, i, fields[k]] = $col[fields[k]]
        if (b == base)
            base_row[c, base, $col["rep"]] = i
    }
    END {
        print "| procs | value | read | dist | backend | ops/s | ×" base \
            " | get p50 | get p99 | get p999 | set p50 | set p99 | set p999 | set p99 ×" base " | errors |"
        print "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        printf "cell" > chart
        for (j = 1; j <= nb; j++)
            printf " %s", order[j] > chart
        for (j = 1; j <= nr; j++)
            printf " %s/%s", ratio_order[j], base > chart
        printf "\n" > chart
        for (ci = 1; ci <= nc; ci++) {
            c = cells[ci]
            split(c, p, SUBSEP)
            printf "\"p%s %sB r%s %s\"", p[1], p[2], p[3], short_dist(p[4]) > chart
            for (j = 1; j <= nb; j++) {
                b = order[j]
                if (!((c, b) in count)) {
                    printf " ?" > chart
                    continue
                }
                ops = median_of(c, b, "ops_per_s")
                printf " %s", fmt(ops, "%.0f") > chart
                errors = 0
                for (i = 1; i <= count[c, b]; i++)
                    errors += val[c, b, i, "errors"]
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    p[1], p[2], p[3], p[4], b, fmt(ops, "%.0f"),
                    fmt(ratio_of(c, b, "ops_per_s"), "%.3g"),
                    fmt(median_of(c, b, "get_p50_ns"), "%.0f"),
                    fmt(median_of(c, b, "get_p99_ns"), "%.0f"),
                    fmt(median_of(c, b, "get_p999_ns"), "%.0f"),
                    fmt(median_of(c, b, "set_p50_ns"), "%.0f"),
                    fmt(median_of(c, b, "set_p99_ns"), "%.0f"),
                    fmt(median_of(c, b, "set_p999_ns"), "%.0f"),
                    fmt(ratio_of(c, b, "set_p99_ns"), "%.3g"),
                    errors
            }
            for (j = 1; j <= nr; j++) {
                b = ratio_order[j]
                r = ((c, b) in count) ? ratio_of(c, b, "ops_per_s") : ""
                printf " %s", (r == "" ? "?" : r) > chart
            }
            printf "\n" > chart
        }
    }' "$csv"
} >"$md"
cat "$md"
echo
echo "rows: $csv; table: $md" >&2

# ---- chart ----------------------------------------------------------------

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "gnuplot not installed (apt-get install gnuplot-nox): no chart" >&2
    exit "$status"
fi
nbackends=$(echo "$BACKENDS" | awk -F, '{ print NF }')
nratios=$(echo "$RATIO_BACKENDS" | awk '{ print NF }')
# Room above 1 for the reference line, and for ratios above it.
# The ratios are the last fields: a cell's label has spaces in it.
ratio_top=$(awk -v nratios="$nratios" 'NR > 1 {
        for (i = NF - nratios + 1; i <= NF; i++)
            if ($i != "?" && $i + 0 > m)
                m = $i + 0
    }
    END { print (m * 1.1 > 1.2 ? m * 1.1 : 1.2) }' "$chart_data")
gnuplot <<EOF || status=1
set terminal pngcairo size 1600,1000 font ",9"
set output '$png'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set xtics rotate by 45 right scale 0 nomirror
set grid ytics
set key outside right top
# The same margins in both panels, so that their bars line up.
set lmargin 12
set rmargin 22
set multiplot layout 2,1 title "shmcache-bench: medians of $REPS repetitions of $DURATION s, $KEYS keys"
set logscale y
set ylabel "ops/s (log scale)"
plot for [i=2:$((nbackends + 1))] '$chart_data' using i:xtic(1) title columnhead(i)
unset logscale y
set yrange [0:$ratio_top]
set ylabel "ops/s / $BASELINE ops/s (same repetition)"
plot for [i=$((nbackends + 2)):$((nbackends + nratios + 1))] '$chart_data' using i:xtic(1) title columnhead(i), \
     0.85 with lines dashtype 2 lc rgb "red" title "0.85", \
     1 with lines lc rgb "black" notitle
unset multiplot
EOF
echo "chart: $png" >&2
exit "$status"
