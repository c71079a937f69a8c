/* workload_lock.c - uncontended lock+unlock: each worker takes and
 * releases the lock of a key of its own. */
#include <stdlib.h>

#include "harness.h"
#include "keys.h"

enum { LK_LOCK, LK_OPS };
static const char *const lock_ops[LK_OPS] = {"lock"};

static const char *lock_unsupported(const struct bench_backend *be)
{
    return be->lock_unlock ? NULL : "it has no per-key locks";
}

/* Most candidate keys tried for one worker: with fewer free slots than
 * that, the backend's table is too small for this many workers. */
#define MAX_KEY_CANDIDATES 100000u

static int slot_taken(const uint32_t *slots, unsigned n, uint32_t slot)
{
    for (unsigned i = 0; i < n; i++)
        if (slots[i] == slot)
            return 1;
    return 0;
}

/* From key *id on, the first whose lock slot is none of slots[0..n): its
 * id into *id, its slot into slots[n]. */
static int next_key_with_own_slot(const struct run *run, void *conn,
                                  uint32_t *slots, unsigned n, uint32_t *id)
{
    for (uint32_t tries = 0; tries < MAX_KEY_CANDIDATES; tries++, (*id)++) {
        char key[KEY_BUF];
        if (run->be->lock_unlock(conn, key, format_key(key, *id),
                                 &slots[n]) != BENCH_OK)
            return BENCH_ERR;
        if (!slot_taken(slots, n, slots[n]))
            return BENCH_OK;
    }
    return bench_fail("no key with a lock slot of its own for worker %u",
                      n);
}

/* Give each worker a key whose lock slot no other worker's key has, so
 * that no lock+unlock ever waits: what is timed is the uncontended path.
 * The slot is the one the backend reports taking (shmc_keylock.slot), not
 * a copy of the library's hash. */
static int lock_prepare(const struct run *run, void *conn)
{
    const unsigned n = run->cfg->procs;
    uint32_t *slots = malloc(n * sizeof *slots);
    if (!slots)
        return bench_fail("out of memory");
    int rc = BENCH_OK;
    uint32_t id = 0;
    for (unsigned i = 0; rc == BENCH_OK && i < n; i++, id++) {
        rc = next_key_with_own_slot(run, conn, slots, i, &id);
        run->shared->results[i].key_id = id;
    }
    free(slots);
    return rc;
}

static void lock_warm_up(struct worker *w)
{
    w->run->be->lock_unlock(w->conn, w->key, w->klen, NULL);
}

static uint64_t lock_step(struct worker *w)
{
    uint64_t t0 = bench_now_ns();
    int rc = w->run->be->lock_unlock(w->conn, w->key, w->klen, NULL);
    uint64_t end = bench_now_ns();
    record_op(w, LK_LOCK, end - t0);
    if (rc != BENCH_OK)
        note_error(w, "lock+unlock", w->key, bench_error());
    return end;
}

static void lock_header(const struct config *cfg)
{
    struct line l = {cfg->csv, 0};
    first_heads(&l);
    head(&l, 7, "seconds", "seconds");
    head(&l, 10, "ops/s", "ops_per_s");
    op_heads(&l, lock_ops[LK_LOCK], 0);
    head(&l, 6, "errors", "errors");
    end_line();
}

static void lock_row(const struct config *cfg, const struct row *row)
{
    struct line l = {cfg->csv, 0};
    first_cells(&l, cfg, row);
    cell(&l, 7, "%.3f", row->seconds);
    cell(&l, 10, "%.0f", ops_per_s(row));
    op_cells(&l, lock_ops[LK_LOCK], &row->hist[LK_LOCK], 0);
    cell(&l, 6, "%llu", (unsigned long long)row->errors);
    end_line();
}

_Static_assert(LK_OPS <= MAX_OPS, "lock times more operations than a "
                                  "worker has histograms for");

const struct workload workload_lock = {
    .name = "lock",
    .op_count = LK_OPS,
    .default_duration = 1.0,
    .unsupported = lock_unsupported,
    .prepare = lock_prepare,
    .warm_up = lock_warm_up,
    .step = lock_step,
    .print_header = lock_header,
    .print_row = lock_row,
};
