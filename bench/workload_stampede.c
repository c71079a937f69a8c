/* workload_stampede.c - many processes, one expiring key: every worker
 * asks for it through get_or_compute, and the parent counts the computes
 * of each expiry. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "keys.h"

/* Each call is counted under one of these, by what it took: */
enum {
    SP_COMPUTE, /* computed the value (the compute's sleep included) */
    SP_WAIT,    /* another process was computing it: waited for that */
    SP_HIT,     /* found it fresh */
    SP_STALE,   /* served the stale value while another computed */
    SP_OPS
};
static const char *const stampede_ops[SP_OPS] = {"compute", "wait", "hit",
                                                 "stale"};

static const char *stampede_unsupported(const struct bench_backend *be)
{
    return be->get_or_compute ? NULL : "it has no single flight";
}

/* The slow source of the hot key's value: sleeps --compute-ms, and leaves
 * a record of itself for the parent and the compute's number in the
 * value. */
static int stampede_compute(void *arg, const void **val, size_t *len)
{
    struct worker *w = arg;
    struct shared *sh = w->run->shared;
    const struct config *cfg = w->run->cfg;
    /* First, so that it is not before the time the backend found the
     * entry stale by. */
    uint64_t started_ms = bench_wall_ms();
    uint64_t n = atomic_fetch_add(&sh->computes, 1);
    atomic_store(&sh->compute_started_ms, started_ms);
    atomic_store(&sh->compute_started_ns, bench_now_ns());
    if (n < sh->record_cap)
        sh->records[n].started_ms = started_ms;
    else
        note_error(w, "compute", w->key,
                   "more computes than the records kept: far more than "
                   "one per expiry");
    sleep_ns(cfg->compute_ms * 1000000u);
    w->computed = 1;
    w->compute = n;
    stamp_value(w->val, cfg->vsize, (uint32_t)(n + 1));
    atomic_store(&sh->compute_returned_ns, bench_now_ns());
    *val = w->val;
    *len = cfg->vsize;
    return BENCH_OK;
}

/* Whether a call [t0, end] that did not compute waited for another's
 * compute: it overlapped the latest compute (the callback's run) and
 * returned that compute's value, fresh until after the compute began. A
 * call that read the previous value and was then descheduled while the
 * compute began overlaps it too, but returns the previous value, fresh
 * until no later than the compute's start: a hit, slowed by the
 * scheduler. */
static int waited_for_compute(const struct shared *sh, uint64_t t0,
                              uint64_t end, uint64_t fresh_until_ms)
{
    uint64_t started = atomic_load(&sh->compute_started_ns);
    uint64_t returned = atomic_load(&sh->compute_returned_ns);
    return started != 0 && started < end &&
           (returned < started /* still running */ || returned > t0) &&
           fresh_until_ms > atomic_load(&sh->compute_started_ms);
}

static unsigned stampede_outcome(const struct worker *w, int rc, uint64_t t0,
                                 uint64_t end, uint64_t fresh_until_ms)
{
    if (w->computed)
        return SP_COMPUTE;
    if (rc == BENCH_STALE)
        return SP_STALE;
    return waited_for_compute(w->run->shared, t0, end, fresh_until_ms)
               ? SP_WAIT
               : SP_HIT;
}

/* The value of a compute that has begun: its length, its alphabet, its
 * compute's number. */
static int computed_value_ok(const struct worker *w, size_t len)
{
    const size_t vsize = w->run->cfg->vsize;
    uint32_t n = 0;
    if (vsize < sizeof n)
        return value_ok(w->buf, len, vsize, 0);
    memcpy(&n, w->buf, sizeof n);
    return value_ok(w->buf, len, vsize, n) && n >= 1 &&
           n <= atomic_load(&w->run->shared->computes);
}

/* Nothing is stored yet: one untimed get of the hot key (a miss). */
static void stampede_warm_up(struct worker *w)
{
    size_t len;
    w->run->be->get(w->conn, w->key, w->klen, w->buf,
                    w->run->cfg->vsize + GET_SLACK, &len);
}

static uint64_t stampede_step(struct worker *w)
{
    const struct config *cfg = w->run->cfg;
    struct shared *sh = w->run->shared;
    struct bench_compute how = {cfg->ttl_ms, cfg->stale_ms, stampede_compute,
                                w};
    size_t len = 0;
    uint64_t fresh_until_ms = 0;
    w->computed = 0;

    uint64_t t0 = bench_now_ns();
    int rc = w->run->be->get_or_compute(w->conn, w->key, w->klen, &how,
                                        w->buf, cfg->vsize + GET_SLACK, &len,
                                        &fresh_until_ms);
    uint64_t end = bench_now_ns();
    record_op(w, stampede_outcome(w, rc, t0, end, fresh_until_ms),
              end - t0);

    if (rc == BENCH_ERR)
        note_error(w, "get_or_compute", w->key, bench_error());
    else if (!computed_value_ok(w, len))
        note_wrong_value(w, "get_or_compute", w->key, len);
    else if (w->computed && w->compute < sh->record_cap)
        sh->records[w->compute].fresh_until_ms = fresh_until_ms;
    return end;
}

static int by_start(const void *a, const void *b)
{
    const struct compute_record *x = a, *y = b;
    return (x->started_ms > y->started_ms) - (x->started_ms < y->started_ms);
}

/* Which computes an expiry called for: one that began when no value
 * stored by an earlier one was still fresh (the first is the initial
 * miss). Any other began while a fresh value existed, or while another
 * compute was running (its value not stored yet: fresh until later than
 * now): a second compute for the same expiry. */
static void stampede_summarize(const struct run *run, struct row *row)
{
    struct shared *sh = run->shared;
    uint64_t n = atomic_load(&sh->computes);
    if (n > sh->record_cap)
        n = sh->record_cap;
    qsort(sh->records, n, sizeof sh->records[0], by_start);
    uint64_t fresh_until = 0, in_this_expiry = 0;
    for (uint64_t i = 0; i < n; i++) {
        const struct compute_record *r = &sh->records[i];
        if (r->started_ms >= fresh_until) {
            row->expiries++;
            in_this_expiry = 0;
        }
        if (++in_this_expiry > row->max_computes_per_expiry)
            row->max_computes_per_expiry = in_this_expiry;
        if (r->fresh_until_ms > fresh_until)
            fresh_until = r->fresh_until_ms;
    }
}

/* stampede: the table shows stale values only when there is a window. */
static unsigned stampede_shown_ops(const struct config *cfg)
{
    return cfg->csv || cfg->stale_ms > 0 ? SP_OPS : SP_STALE;
}

static void stampede_header(const struct config *cfg)
{
    struct line l = {cfg->csv, 0};
    first_heads(&l);
    head(&l, 6, "vsize", "vsize");
    head(&l, 7, "ttl_ms", "ttl_ms");
    head(&l, 8, "stale_ms", "stale_ms");
    head(&l, 10, "compute_ms", "compute_ms");
    head(&l, 7, "seconds", "seconds");
    if (l.csv)
        cell(&l, 0, "calls_per_s");
    head(&l, 8, "expiries", "expiries");
    head(&l, 10, "per_expiry", "computes_per_expiry");
    head(&l, 11, "max_per_exp", "max_computes_per_expiry");
    for (unsigned op = 0; op < stampede_shown_ops(cfg); op++)
        op_heads(&l, stampede_ops[op], 1);
    head(&l, 6, "errors", "errors");
    end_line();
}

static void stampede_row(const struct config *cfg, const struct row *row)
{
    struct line l = {cfg->csv, 0};
    const uint64_t computes = row->hist[SP_COMPUTE].count;
    first_cells(&l, cfg, row);
    cell(&l, 6, "%zu", cfg->vsize);
    cell(&l, 7, "%llu", (unsigned long long)cfg->ttl_ms);
    cell(&l, 8, "%llu", (unsigned long long)cfg->stale_ms);
    cell(&l, 10, "%llu", (unsigned long long)cfg->compute_ms);
    cell(&l, 7, "%.3f", row->seconds);
    if (l.csv)
        cell(&l, 0, "%.0f", ops_per_s(row));
    cell(&l, 8, "%llu", (unsigned long long)row->expiries);
    if (row->expiries)
        cell(&l, 10, "%.2f", (double)computes / (double)row->expiries);
    else
        cell_none(&l, 10);
    cell(&l, 11, "%llu", (unsigned long long)row->max_computes_per_expiry);
    for (unsigned op = 0; op < stampede_shown_ops(cfg); op++)
        op_cells(&l, stampede_ops[op], &row->hist[op], 1);
    cell(&l, 6, "%llu", (unsigned long long)row->errors);
    end_line();
}

_Static_assert(SP_OPS <= MAX_OPS, "stampede times more operations than a "
                                  "worker has histograms for");

const struct workload workload_stampede = {
    .name = "stampede",
    .op_count = SP_OPS,
    .options = OPTION_BIT(OPT_VSIZE) | OPTION_BIT(OPT_COMPUTE_MS) |
               OPTION_BIT(OPT_TTL_MS) | OPTION_BIT(OPT_STALE_MS),
    .default_duration = 5.0,
    .records_computes = 1,
    .unsupported = stampede_unsupported,
    .warm_up = stampede_warm_up,
    .step = stampede_step,
    .summarize = stampede_summarize,
    .print_header = stampede_header,
    .print_row = stampede_row,
};
