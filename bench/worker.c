/* worker.c - a forked worker of a run: connect, wait at the barrier, run
 * the workload's step until the deadline, timing into its histograms. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "keys.h"

void note_error(struct worker *w, const char *op, const char *key,
                const char *why)
{
    /* The first error of a worker says what went wrong; the count says
     * how often. */
    if (w->res->errors++ == 0)
        fprintf(stderr, "shmcache-bench: %s worker %u: %s %s: %s\n",
                w->run->be->name, w->index, op, key, why);
}

void note_wrong_value(struct worker *w, const char *op, const char *key,
                      size_t len)
{
    char why[96];
    if (len != w->run->cfg->vsize)
        snprintf(why, sizeof why, "value of %zu bytes, expected %zu", len,
                 w->run->cfg->vsize);
    else
        snprintf(why, sizeof why, "value of another key, or damaged");
    note_error(w, op, key, why);
}

/* The timed run of one worker: the workload's step until the deadline. */
static void run_loop(struct worker *w)
{
    uint64_t (*const step)(struct worker *) = w->run->cfg->workload->step;
    uint64_t start = bench_now_ns(), end;
    const uint64_t deadline =
        start + (uint64_t)(w->run->cfg->duration * 1e9);
    do
        end = step(w);
    while (end < deadline);
    w->res->t_start = start;
    w->res->t_end = end;
}

int worker_main(const struct run *run, unsigned index)
{
    const struct config *cfg = run->cfg;
    struct shared *sh = run->shared;
    struct worker w = {.run = run,
                       .index = index,
                       .res = &sh->results[index],
                       .val = malloc(cfg->vsize + 1),
                       .buf = malloc(cfg->vsize + GET_SLACK)};
    if (!w.val || !w.buf ||
        run->be->connect(run->state, &w.conn) != BENCH_OK) {
        fprintf(stderr, "shmcache-bench: %s worker %u: connect: %s\n",
                run->be->name, index,
                w.val && w.buf ? bench_error() : "out of memory");
        free(w.val);
        free(w.buf);
        return 1;
    }
    rng_seed(&w.rng, cfg->seed, (uint64_t)index + 1);
    fill_value(w.val, cfg->vsize);
    w.klen = format_key(w.key, w.res->key_id);
    for (unsigned op = 0; op < cfg->workload->op_count; op++)
        hist_init(&w.res->hist[op]);
    cfg->workload->warm_up(&w);

    atomic_fetch_add(&sh->ready, 1);
    int go;
    while ((go = atomic_load(&sh->go)) == GO_WAIT)
        sched_yield();
    if (go == GO_RUN)
        run_loop(&w);
    run->be->disconnect(w.conn);
    free(w.val);
    free(w.buf);
    return go == GO_RUN ? 0 : 1;
}
