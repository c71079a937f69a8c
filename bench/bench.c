/* bench.c - shmcache-bench: shmcache side by side with raw LMDB, Redis and
 * memcached, with many processes.
 *
 * For each backend asked for: start its server if it has one, store what
 * the workload needs from the parent, fork the workers, release them
 * together, let each run the workload's operation for the duration while
 * timing every one into its own histograms (in shared memory), then merge
 * them and print one row. The workloads: the get/set/del mix, lock+unlock
 * of a key, and a stampede on one expiring key. See bench/README.md for
 * what the columns mean.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "dist.h"
#include "hist.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct bench_backend *const bench_backends[] = {
    &bench_backend_shmcache, &bench_backend_shmcache_l1, &bench_backend_lmdb,
    &bench_backend_redis_unix, &bench_backend_redis_tcp,
    &bench_backend_memcached,
};

/* The most timed operations of one workload: a histogram each. */
#define MAX_OPS 4u

#define MAX_PROCS 1024u
#define MAX_DURATION_S 3600.0
/* memcached's default item limit is 1 MiB, header included. */
#define MAX_VSIZE (512u * 1024)
/* "key:" + up to 10 digits + NUL */
#define KEY_BUF 16
/* A get's buffer is this much larger than the value, so that a value of
 * the wrong length is seen whole. */
#define GET_SLACK 64
/* How long past its duration a run may go before its workers are killed:
 * a server that stops answering must not hang the benchmark. */
#define RUN_GRACE_S 30.0
#define POLL_NS 1000000L
/* shmcache-l1's read cache: 128 Ki entries (32 MiB per worker), room for
 * the default 100,000 keys, of which a direct map still loses some to
 * collisions. */
#define DEFAULT_L1_ENTRIES 131072u
/* 4 GiB of read cache per worker: more is a typo. */
#define MAX_L1_ENTRIES (1u << 24)
/* The stampede: one key fresh for 1 s, computed in 50 ms. A compute may
 * take at most a third of RUN_GRACE_S, so that the waiters of the last one
 * are never killed as hung. */
#define DEFAULT_TTL_MS 1000u
#define DEFAULT_COMPUTE_MS 50u
#define MAX_COMPUTE_MS 10000u
#define MAX_TTL_MS 3600000u
/* Most computes the stampede keeps a record of: 16 MiB of shared memory,
 * taken only as far as it is written. */
#define MAX_COMPUTE_RECORDS (1u << 20)

struct workload;

struct config {
    const struct workload *workload;
    unsigned procs;
    double duration;
    uint32_t keys;
    size_t vsize;
    double read_ratio;
    double del_ratio;
    struct dist_spec dist;
    uint64_t seed;
    unsigned l1_entries;
    uint64_t ttl_ms, stale_ms, compute_ms;
    int csv;
    int header;
    unsigned given; /* OPTION_BIT of each option on the command line */
    const struct bench_backend *backends[ARRAY_LEN(bench_backends)];
    size_t backend_count;
};

/* What one worker leaves for the parent, in shared memory. */
struct worker_result {
    uint64_t t_start, t_end;
    uint64_t misses, errors;
    uint32_t key_id; /* the worker's own key (lock, stampede) */
    struct hist hist[MAX_OPS];
};

/* The stampede's account of one compute, for the parent to tell the
 * computes an expiry called for from those it did not. */
struct compute_record {
    uint64_t started_ms;     /* bench_wall_ms() as the compute began */
    uint64_t fresh_until_ms; /* of the value it stored; 0: none stored */
};

enum { GO_WAIT, GO_RUN, GO_ABORT };

/* The start barrier and the results, shared by the parent and workers. */
struct shared {
    atomic_uint ready; /* workers connected and waiting */
    atomic_int go;
    /* The stampede: computes begun (the next one's index), and when the
     * latest began (bench_now_ns, bench_wall_ms) and returned. */
    _Atomic uint64_t computes;
    _Atomic uint64_t compute_started_ns, compute_started_ms;
    _Atomic uint64_t compute_returned_ns;
    struct compute_record *records; /* record_cap, after results[] */
    uint64_t record_cap;
    struct worker_result results[];
};

/* One printed row: a run of one backend. */
struct row {
    const char *backend;
    double seconds;
    uint64_t ops;
    uint64_t misses, errors;
    int have_mem;
    uint64_t mem_used;
    uint64_t expiries, max_computes_per_expiry; /* the stampede */
    struct hist hist[MAX_OPS];
};

/* ---- keys and values ---------------------------------------------------- */

/* "key:%08u", without the cost of printf on the timed path. */
static size_t format_key(char *out, uint32_t id)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    memcpy(out, "key:", 4);
    size_t len = 4;
    for (int pad = n; pad < 8; pad++)
        out[len++] = '0';
    while (n)
        out[len++] = digits[--n];
    out[len] = '\0';
    return len;
}

/* A value is the alphabet repeated, with the key id in its first four
 * bytes, so that a get can tell it got its own key's value: the check
 * reads two places, not the whole value, to stay off the timed path's
 * budget. */
static void fill_value(unsigned char *val, size_t vsize)
{
    for (size_t i = 0; i < vsize; i++)
        val[i] = (unsigned char)('a' + i % 26);
}

static void stamp_value(unsigned char *val, size_t vsize, uint32_t id)
{
    if (vsize >= sizeof id)
        memcpy(val, &id, sizeof id);
}

static int value_ok(const unsigned char *got, size_t len, size_t vsize,
                    uint32_t id)
{
    if (len != vsize)
        return 0;
    if (vsize >= sizeof id && memcmp(got, &id, sizeof id) != 0)
        return 0;
    return vsize <= sizeof id ||
           got[vsize - 1] == (unsigned char)('a' + (vsize - 1) % 26);
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u),
                          (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* ---- the worker --------------------------------------------------------- */

struct run {
    const struct config *cfg;
    const struct bench_backend *be;
    void *state;
    const struct key_dist *keys;
    struct shared *shared;
};

/* What one worker process has at hand while it runs. */
struct worker {
    const struct run *run;
    unsigned index;
    void *conn;
    struct worker_result *res;
    struct rng rng;
    unsigned char *val; /* vsize bytes: what a set stores, a compute gives */
    unsigned char *buf; /* vsize + GET_SLACK bytes: what a read copies to */
    char key[KEY_BUF];  /* the worker's own key (lock, stampede) */
    size_t klen;
    int computed;     /* the stampede: this call ran the compute, */
    uint64_t compute; /* this one */
};

/* A workload: what the workers do, and what its rows show. The fork, the
 * barrier, the timed loop and the merge are the same for all. */
struct workload {
    const char *name;
    /* Timed operations: a latency histogram each, at most MAX_OPS. */
    unsigned op_count;
    /* OPTION_BIT of the options it takes beyond the common ones. */
    unsigned options;
    double default_duration;
    /* Store --keys keys from the parent before forking. */
    int populates;
    /* Keep a record of each compute (struct compute_record). */
    int records_computes;
    /* Why be cannot run it, or NULL when it can. */
    const char *(*unsupported)(const struct bench_backend *be);
    /* Optional: in the parent, through a connection, before forking. */
    int (*prepare)(const struct run *run, void *conn);
    /* In each worker once connected, untimed: the connection's lazy setup
     * (a reader slot, first page faults) is not the first timed op's. */
    void (*warm_up)(struct worker *w);
    /* One operation, timed and recorded; returns bench_now_ns() at its
     * end. */
    uint64_t (*step)(struct worker *w);
    /* Optional: in the parent after the run, its own figures into row. */
    void (*summarize)(const struct run *run, struct row *row);
    void (*print_header)(const struct config *cfg);
    void (*print_row)(const struct config *cfg, const struct row *row);
};

static void record_op(struct worker *w, unsigned op, uint64_t ns)
{
    hist_record(&w->res->hist[op], ns);
}

static void note_error(struct worker *w, const char *op, const char *key,
                       const char *why)
{
    /* The first error of a worker says what went wrong; the count says
     * how often. */
    if (w->res->errors++ == 0)
        fprintf(stderr, "shmcache-bench: %s worker %u: %s %s: %s\n",
                w->run->be->name, w->index, op, key, why);
}

static void note_wrong_value(struct worker *w, const char *op,
                             const char *key, size_t len)
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

/* The body of a forked worker; its exit status. */
static int worker_main(const struct run *run, unsigned index)
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

/* ---- workload get-set: the get/set/del mix ------------------------------ */

enum { GS_GET, GS_SET, GS_DEL, GS_OPS };
static const char *const get_set_ops[GS_OPS] = {"get", "set", "del"};

static unsigned choose_op(const struct config *cfg, struct rng *rng)
{
    double u = rng_unit(rng);
    if (u < cfg->read_ratio)
        return GS_GET;
    return u < cfg->read_ratio + cfg->del_ratio ? GS_DEL : GS_SET;
}

/* One untimed get of a stored key. */
static void get_set_warm_up(struct worker *w)
{
    char key[KEY_BUF];
    size_t len;
    w->run->be->get(w->conn, key, format_key(key, 0), w->buf,
                    w->run->cfg->vsize + GET_SLACK, &len);
}

static uint64_t get_set_step(struct worker *w)
{
    const struct config *cfg = w->run->cfg;
    const struct bench_backend *be = w->run->be;
    const size_t cap = cfg->vsize + GET_SLACK;
    char key[KEY_BUF];
    uint32_t id = key_dist_next(w->run->keys, &w->rng);
    size_t klen = format_key(key, id);
    unsigned op = choose_op(cfg, &w->rng);
    size_t len = 0;
    int rc;
    if (op == GS_SET)
        stamp_value(w->val, cfg->vsize, id);

    uint64_t t0 = bench_now_ns();
    switch (op) {
    case GS_GET:
        rc = be->get(w->conn, key, klen, w->buf, cap, &len);
        break;
    case GS_SET:
        rc = be->set(w->conn, key, klen, w->val, cfg->vsize);
        break;
    default:
        rc = be->del(w->conn, key, klen);
        break;
    }
    uint64_t end = bench_now_ns();
    record_op(w, op, end - t0);

    if (rc == BENCH_MISS)
        w->res->misses++;
    else if (rc != BENCH_OK)
        note_error(w, get_set_ops[op], key, bench_error());
    else if (op == GS_GET && !value_ok(w->buf, len, cfg->vsize, id))
        note_wrong_value(w, get_set_ops[op], key, len);
    return end;
}

/* ---- workload lock: uncontended lock+unlock ----------------------------- */

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

/* ---- workload stampede: many processes, one expiring key ---------------- */

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

/* ---- the parent --------------------------------------------------------- */

/* Reap whichever workers have exited; the number still running. A worker
 * that failed marks *failed. */
static unsigned reap_workers(pid_t *pids, unsigned n, int *failed)
{
    unsigned running = 0;
    for (unsigned i = 0; i < n; i++) {
        int status;
        if (pids[i] <= 0)
            continue;
        pid_t r = waitpid(pids[i], &status, WNOHANG);
        if (r == 0) {
            running++;
            continue;
        }
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            *failed = 1;
        pids[i] = 0;
    }
    return running;
}

static void kill_workers(pid_t *pids, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
        pids[i] = 0;
    }
}

/* Fork the workers, release them together once all are connected, and
 * wait for them. BENCH_OK when every worker ran to the end. */
static int run_workers(const struct run *run)
{
    const unsigned n = run->cfg->procs;
    /* On the stack, not the heap: a worker exits without returning here,
     * and a heap block would show as lost in each of them. */
    pid_t pids[MAX_PROCS] = {0};
    int failed = 0;
    fflush(NULL);
    for (unsigned i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(worker_main(run, i));
        if (pids[i] < 0) {
            bench_fail("fork: %m");
            failed = 1;
            break;
        }
    }
    /* A worker that fails to connect exits before it is ready: stop
     * waiting for the others then. */
    while (!failed && atomic_load(&run->shared->ready) < n) {
        if (reap_workers(pids, n, &failed) < n)
            failed = 1;
        else
            sleep_ns(POLL_NS);
    }
    atomic_store(&run->shared->go, failed ? GO_ABORT : GO_RUN);

    const uint64_t limit =
        bench_now_ns() + (uint64_t)((run->cfg->duration + RUN_GRACE_S) * 1e9);
    while (reap_workers(pids, n, &failed) > 0) {
        if (bench_now_ns() > limit) {
            kill_workers(pids, n);
            bench_fail("workers still running %.0f s after the end: killed",
                       RUN_GRACE_S);
            return BENCH_ERR;
        }
        sleep_ns(10 * POLL_NS);
    }
    if (failed)
        return bench_fail("a worker failed (see above)");
    return BENCH_OK;
}

static void merge_results(const struct config *cfg, const struct shared *sh,
                          struct row *row)
{
    const unsigned op_count = cfg->workload->op_count;
    uint64_t first = UINT64_MAX, last = 0;
    for (unsigned op = 0; op < op_count; op++)
        hist_init(&row->hist[op]);
    for (unsigned i = 0; i < cfg->procs; i++) {
        const struct worker_result *res = &sh->results[i];
        for (unsigned op = 0; op < op_count; op++) {
            hist_merge(&row->hist[op], &res->hist[op]);
            row->ops += res->hist[op].count;
        }
        row->misses += res->misses;
        row->errors += res->errors;
        if (res->t_start < first)
            first = res->t_start;
        if (res->t_end > last)
            last = res->t_end;
    }
    row->seconds = (double)(last - first) / 1e9;
}

/* Items per populate batch, and the most value bytes one batch holds: a
 * batch is what a backend pipelines or commits at once, and large values
 * make it smaller rather than the buffers huge. */
#define POPULATE_BATCH 1000u
#define POPULATE_BATCH_BYTES (4u << 20)

static int store_batch(const struct bench_backend *be, void *conn,
                       const struct bench_item *items, size_t n)
{
    if (be->populate)
        return be->populate(conn, items, n);
    for (size_t i = 0; i < n; i++)
        if (be->set(conn, items[i].key, items[i].klen, items[i].val,
                    items[i].vlen) != BENCH_OK)
            return BENCH_ERR;
    return BENCH_OK;
}

/* Store every key from the parent, in batches. */
static int populate(const struct config *cfg, const struct bench_backend *be,
                    void *conn, struct row *row)
{
    size_t batch = POPULATE_BATCH_BYTES / (cfg->vsize + 1);
    if (batch > POPULATE_BATCH)
        batch = POPULATE_BATCH;
    if (batch == 0)
        batch = 1;
    struct bench_item *items = calloc(batch, sizeof *items);
    char(*keys)[KEY_BUF] = calloc(batch, sizeof *keys);
    /* + 1: malloc(0) may return NULL */
    unsigned char *vals = malloc(batch * cfg->vsize + 1);
    int rc = items && keys && vals ? BENCH_OK : bench_fail("out of memory");
    for (size_t i = 0; rc == BENCH_OK && i < batch; i++) {
        items[i].key = keys[i];
        items[i].val = vals + i * cfg->vsize;
        items[i].vlen = cfg->vsize;
        fill_value(vals + i * cfg->vsize, cfg->vsize);
    }
    for (uint32_t id = 0; rc == BENCH_OK && id < cfg->keys;) {
        size_t n = 0;
        for (; n < batch && id < cfg->keys; n++, id++) {
            items[n].klen = format_key(keys[n], id);
            stamp_value(vals + n * cfg->vsize, cfg->vsize, id);
        }
        rc = store_batch(be, conn, items, n);
    }
    if (rc == BENCH_OK && be->mem_used &&
        be->mem_used(conn, &row->mem_used) == BENCH_OK)
        row->have_mem = 1;
    free(items);
    free(keys);
    free(vals);
    return rc;
}

/* What the parent does through one connection before forking: store the
 * keys, and the workload's own preparation. *stage names the step that
 * failed. */
static int set_up(const struct run *run, struct row *row, const char **stage)
{
    const struct workload *wl = run->cfg->workload;
    void *conn;
    if (run->be->connect(run->state, &conn) != BENCH_OK)
        return BENCH_ERR;
    int rc = BENCH_OK;
    if (wl->populates)
        rc = populate(run->cfg, run->be, conn, row);
    if (rc == BENCH_OK && wl->prepare) {
        *stage = "prepare";
        rc = wl->prepare(run, conn);
    }
    run->be->disconnect(conn);
    return rc;
}

/* The stampede's room for compute records: every compute of a correct run
 * (one per TTL, and the first) and, besides, one per worker per TTL, so
 * that a broken single flight is still counted. */
static uint64_t compute_record_cap(const struct config *cfg)
{
    if (!cfg->workload->records_computes)
        return 0;
    double periods = cfg->duration * 1000.0 / (double)cfg->ttl_ms + 2;
    double cap = periods * cfg->procs;
    return cap < MAX_COMPUTE_RECORDS ? (uint64_t)cap : MAX_COMPUTE_RECORDS;
}

/* Run one backend. BENCH_OK with *row filled, BENCH_SKIP, or BENCH_ERR
 * with the reason printed. */
static int run_backend(const struct config *cfg,
                       const struct bench_backend *be,
                       const struct key_dist *keys, struct row *row)
{
    const struct bench_params params = {cfg->keys, cfg->vsize, cfg->procs,
                                        cfg->l1_entries};
    struct bench_server srv = {0};
    struct run run = {cfg, be, NULL, keys, MAP_FAILED};
    const size_t records_at = sizeof *run.shared +
                              cfg->procs * sizeof run.shared->results[0];
    const uint64_t record_cap = compute_record_cap(cfg);
    const size_t shared_size =
        records_at + record_cap * sizeof run.shared->records[0];
    const char *stage = "start";
    int rc = be->start ? be->start(&srv) : BENCH_OK;
    if (rc == BENCH_SKIP)
        return BENCH_SKIP;

    memset(row, 0, sizeof *row);
    row->backend = be->name;
    if (rc == BENCH_OK) {
        stage = "open";
        rc = be->open(&params, &srv, &run.state);
    }
    if (rc == BENCH_OK) {
        run.shared = mmap(NULL, shared_size, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (run.shared == MAP_FAILED)
            rc = bench_fail("mmap: %m");
    }
    if (rc == BENCH_OK) {
        run.shared->records =
            (struct compute_record *)((char *)run.shared + records_at);
        run.shared->record_cap = record_cap;
        stage = "populate";
        rc = set_up(&run, row, &stage);
    }
    if (rc == BENCH_OK) {
        stage = "run";
        rc = run_workers(&run);
    }
    if (rc == BENCH_OK) {
        merge_results(cfg, run.shared, row);
        if (cfg->workload->summarize)
            cfg->workload->summarize(&run, row);
    } else {
        fprintf(stderr, "shmcache-bench: %s: %s: %s\n", be->name, stage,
                bench_error());
    }

    if (run.shared != MAP_FAILED)
        munmap(run.shared, shared_size);
    if (run.state)
        be->close(run.state);
    if (be->stop)
        be->stop(&srv);
    return rc;
}

/* ---- output ------------------------------------------------------------- */

static const double percentiles[] = {50.0, 99.0, 99.9};
static const char *const percentile_names[] = {"p50", "p99", "p999"};
/* Latency columns of the table: wide enough for "get_p999" and 10 ms in
 * ns; a longer label widens its column. */
#define LATENCY_WIDTH 8

/* One line of output, a table row or a CSV record, written cell by cell:
 * a workload lists its columns once for both forms. */
struct line {
    int csv;
    unsigned cells;
};

/* A cell: in the table, width wide (negative: left-aligned). */
static void cell(struct line *l, int width, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cell(struct line *l, int width, const char *fmt, ...)
{
    char text[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (l->csv)
        printf("%s%s", l->cells ? "," : "", text);
    else
        printf("%s%*s", l->cells ? " " : "", width, text);
    l->cells++;
}

/* No value: empty in CSV, "-" in the table. */
static void cell_none(struct line *l, int width)
{
    cell(l, width, "%s", l->csv ? "" : "-");
}

/* A header cell: the table's label, or the CSV's name. */
static void head(struct line *l, int width, const char *label,
                 const char *csv_name)
{
    cell(l, width, "%s", l->csv ? csv_name : label);
}

static void end_line(void)
{
    printf("\n");
    fflush(stdout);
}

/* The label of an operation's percentile column ("get_p50"); the column's
 * width. */
static int percentile_label(char *out, size_t len, const char *op, size_t p)
{
    int n = snprintf(out, len, "%s_%s", op, percentile_names[p]);
    return n > LATENCY_WIDTH ? n : LATENCY_WIDTH;
}

/* An operation's columns: its count (<op>s: always in CSV, in the table
 * if count_in_table) and its percentiles (<op>_p50, ...; <op>_p50_ns in
 * CSV). */
static void op_heads(struct line *l, const char *op, int count_in_table)
{
    char label[32], csv_name[40];
    if (l->csv || count_in_table) {
        snprintf(label, sizeof label, "%ss", op);
        cell(l, LATENCY_WIDTH, "%s", label);
    }
    for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
        int width = percentile_label(label, sizeof label, op, p);
        snprintf(csv_name, sizeof csv_name, "%s_ns", label);
        head(l, width, label, csv_name);
    }
}

static void op_cells(struct line *l, const char *op, const struct hist *h,
                     int count_in_table)
{
    char label[32];
    if (l->csv || count_in_table)
        cell(l, LATENCY_WIDTH, "%llu", (unsigned long long)h->count);
    for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
        int width = percentile_label(label, sizeof label, op, p);
        if (h->count)
            cell(l, width, "%llu",
                 (unsigned long long)hist_percentile(h, percentiles[p]));
        else
            cell_none(l, width);
    }
}

/* The columns every workload starts with. */
static void first_heads(struct line *l)
{
    head(l, -11, "backend", "backend");
    head(l, 5, "procs", "procs");
}

static void first_cells(struct line *l, const struct config *cfg,
                        const struct row *row)
{
    cell(l, -11, "%s", row->backend);
    cell(l, 5, "%u", cfg->procs);
}

static double ops_per_s(const struct row *row)
{
    return row->seconds > 0 ? (double)row->ops / row->seconds : 0;
}

/* get-set: the table shows dels only when the mix has them. */
static unsigned get_set_shown_ops(const struct config *cfg)
{
    return cfg->csv || cfg->del_ratio > 0 ? GS_OPS : GS_DEL;
}

static void get_set_header(const struct config *cfg)
{
    struct line l = {cfg->csv, 0};
    first_heads(&l);
    head(&l, 6, "vsize", "vsize");
    head(&l, 4, "read", "read_ratio");
    if (l.csv)
        cell(&l, 0, "del_ratio");
    head(&l, -10, "dist", "dist");
    if (l.csv) {
        cell(&l, 0, "keys");
        cell(&l, 0, "seconds");
    }
    head(&l, 10, "ops/s", "ops_per_s");
    for (unsigned op = 0; op < get_set_shown_ops(cfg); op++)
        op_heads(&l, get_set_ops[op], 0);
    head(&l, 7, "misses", "misses");
    head(&l, 6, "errors", "errors");
    head(&l, 6, "B/key", "map_bytes_per_key");
    end_line();
}

static void get_set_row(const struct config *cfg, const struct row *row)
{
    struct line l = {cfg->csv, 0};
    char dist[32];
    dist_spec_format(&cfg->dist, dist, sizeof dist);
    first_cells(&l, cfg, row);
    cell(&l, 6, "%zu", cfg->vsize);
    cell(&l, 4, "%g", cfg->read_ratio);
    if (l.csv)
        cell(&l, 0, "%g", cfg->del_ratio);
    cell(&l, -10, "%s", dist);
    if (l.csv) {
        cell(&l, 0, "%u", cfg->keys);
        cell(&l, 0, "%.3f", row->seconds);
    }
    cell(&l, 10, "%.0f", ops_per_s(row));
    for (unsigned op = 0; op < get_set_shown_ops(cfg); op++)
        op_cells(&l, get_set_ops[op], &row->hist[op], 0);
    cell(&l, 7, "%llu", (unsigned long long)row->misses);
    cell(&l, 6, "%llu", (unsigned long long)row->errors);
    if (!row->have_mem)
        cell_none(&l, 6);
    else if (l.csv)
        cell(&l, 6, "%.1f", (double)row->mem_used / cfg->keys);
    else
        cell(&l, 6, "%.0f", (double)row->mem_used / cfg->keys);
    end_line();
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

/* ---- the workloads ------------------------------------------------------ */

enum {
    OPT_PROCS = 256,
    OPT_DURATION,
    OPT_KEYS,
    OPT_VSIZE,
    OPT_READ_RATIO,
    OPT_DEL_RATIO,
    OPT_DIST,
    OPT_BACKEND,
    OPT_SEED,
    OPT_L1_ENTRIES,
    OPT_WORKLOAD,
    OPT_COMPUTE_MS,
    OPT_TTL_MS,
    OPT_STALE_MS,
    OPT_CSV,
    OPT_NO_HEADER,
    OPT_HELP,
};
#define OPTION_BIT(opt) (1u << ((opt) - OPT_PROCS))
/* The options only some workloads take; the others apply to all. */
#define WORKLOAD_OPTIONS                                                    \
    (OPTION_BIT(OPT_KEYS) | OPTION_BIT(OPT_VSIZE) |                         \
     OPTION_BIT(OPT_READ_RATIO) | OPTION_BIT(OPT_DEL_RATIO) |               \
     OPTION_BIT(OPT_DIST) | OPTION_BIT(OPT_SEED) |                          \
     OPTION_BIT(OPT_COMPUTE_MS) | OPTION_BIT(OPT_TTL_MS) |                  \
     OPTION_BIT(OPT_STALE_MS))

_Static_assert(GS_OPS <= MAX_OPS && LK_OPS <= MAX_OPS && SP_OPS <= MAX_OPS,
               "a workload times more operations than a worker has "
               "histograms for");

static const struct workload workloads[] = {
    {
        .name = "get-set",
        .op_count = GS_OPS,
        .options = OPTION_BIT(OPT_KEYS) | OPTION_BIT(OPT_VSIZE) |
                   OPTION_BIT(OPT_READ_RATIO) | OPTION_BIT(OPT_DEL_RATIO) |
                   OPTION_BIT(OPT_DIST) | OPTION_BIT(OPT_SEED),
        .default_duration = 1.0,
        .populates = 1,
        .warm_up = get_set_warm_up,
        .step = get_set_step,
        .print_header = get_set_header,
        .print_row = get_set_row,
    },
    {
        .name = "lock",
        .op_count = LK_OPS,
        .default_duration = 1.0,
        .unsupported = lock_unsupported,
        .prepare = lock_prepare,
        .warm_up = lock_warm_up,
        .step = lock_step,
        .print_header = lock_header,
        .print_row = lock_row,
    },
    {
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
    },
};

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shmcache-bench [options]\n"
            "\n"
            "Fork N workers, release them together, run a workload for a\n"
            "fixed time on each backend in turn, time every operation, and\n"
            "print one row per backend.\n"
            "\n"
            "  --workload W      get-set (default): the get/set/del mix\n"
            "                    below; lock: lock+unlock of a key of each\n"
            "                    worker's own; stampede: every worker asks\n"
            "                    for one key that expires every --ttl-ms and\n"
            "                    takes --compute-ms to compute\n"
            "                    (get_or_compute)\n"
            "  --procs N         worker processes (1-%u; default 1)\n"
            "  --duration S      seconds of timed run, may be fractional "
            "(default 1;\n"
            "                    stampede: 5)\n"
            "  --backend LIST    comma-separated, from:",
            MAX_PROCS);
    for (size_t i = 0; i < ARRAY_LEN(bench_backends); i++)
        fprintf(out, " %s", bench_backends[i]->name);
    fprintf(out,
            "\n"
            "                    (default: all of them; lock and stampede "
            "skip those\n"
            "                    without per-key locks and single flight)\n"
            "  --l1-entries N    shmcache-l1: entries of each worker's read "
            "cache\n"
            "                    (1-%u; default %u)\n"
            "  --csv             print CSV instead of a table\n"
            "  --no-header       leave out the header line\n"
            "  --help            print this and exit\n"
            "\n"
            "get-set:\n"
            "  --keys N          keys stored before timing (default 100000)\n"
            "  --vsize B         value size in bytes (0-%u; default 64)\n"
            "  --read-ratio R    share of gets, 0-1 (default 1)\n"
            "  --del-ratio D     share of deletes, 0-(1-R) (default 0); the\n"
            "                    rest of the operations are sets\n"
            "  --dist D          uniform | zipf | zipf:S (default uniform;\n"
            "                    zipf alone is zipf:%g)\n"
            "  --seed N          seed of the key and operation choices "
            "(default 1)\n"
            "stampede:\n"
            "  --vsize B         value size in bytes (default 64)\n"
            "  --ttl-ms N        the key is fresh for N ms once computed\n"
            "                    (1-%u; default %u)\n"
            "  --stale-ms N      then served stale for N ms while one "
            "worker\n"
            "                    computes it again (0-%u; default 0)\n"
            "  --compute-ms N    a compute takes N ms (0-%u; default %u)\n"
            "\n"
            "Exit status: 0, 1 if a backend failed or an operation erred, 2 "
            "for bad options.\n"
            "A backend whose server is not installed, or that cannot run "
            "the workload,\n"
            "is skipped with a message.\n",
            MAX_L1_ENTRIES, DEFAULT_L1_ENTRIES, MAX_VSIZE,
            DIST_DEFAULT_ZIPF_S, MAX_TTL_MS, DEFAULT_TTL_MS, MAX_TTL_MS,
            MAX_COMPUTE_MS, DEFAULT_COMPUTE_MS);
}

static int bad_option(const char *opt, const char *why)
{
    fprintf(stderr, "shmcache-bench: %s: %s\n\n", opt, why);
    usage(stderr);
    return 2;
}

static int parse_u64(const char *text, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-')
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *text, double min, double max,
                        double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

static int parse_backends(char *list, struct config *cfg)
{
    cfg->backend_count = 0;
    for (char *save, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < ARRAY_LEN(bench_backends) &&
               strcmp(bench_backends[i]->name, name) != 0)
            i++;
        if (i == ARRAY_LEN(bench_backends) ||
            cfg->backend_count == ARRAY_LEN(cfg->backends))
            return -1;
        cfg->backends[cfg->backend_count++] = bench_backends[i];
    }
    return cfg->backend_count ? 0 : -1;
}

static const struct workload *find_workload(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(workloads); i++)
        if (strcmp(workloads[i].name, name) == 0)
            return &workloads[i];
    return NULL;
}

static const struct option long_options[] = {
    {"procs", required_argument, NULL, OPT_PROCS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"vsize", required_argument, NULL, OPT_VSIZE},
    {"read-ratio", required_argument, NULL, OPT_READ_RATIO},
    {"del-ratio", required_argument, NULL, OPT_DEL_RATIO},
    {"dist", required_argument, NULL, OPT_DIST},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"seed", required_argument, NULL, OPT_SEED},
    {"l1-entries", required_argument, NULL, OPT_L1_ENTRIES},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"compute-ms", required_argument, NULL, OPT_COMPUTE_MS},
    {"ttl-ms", required_argument, NULL, OPT_TTL_MS},
    {"stale-ms", required_argument, NULL, OPT_STALE_MS},
    {"csv", no_argument, NULL, OPT_CSV},
    {"no-header", no_argument, NULL, OPT_NO_HEADER},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The options given that the chosen workload does not take, and whether
 * any chosen backend can run it: 0, or 2 with the usage printed. */
static int check_combination(const struct config *cfg)
{
    const struct workload *wl = cfg->workload;
    unsigned stray = cfg->given & WORKLOAD_OPTIONS & ~wl->options;
    for (const struct option *o = long_options; stray && o->name; o++) {
        if (stray & OPTION_BIT(o->val)) {
            char opt[32], why[64];
            snprintf(opt, sizeof opt, "--%s", o->name);
            snprintf(why, sizeof why, "not used by --workload %s",
                     wl->name);
            return bad_option(opt, why);
        }
    }
    for (size_t i = 0; i < cfg->backend_count; i++)
        if (!wl->unsupported || !wl->unsupported(cfg->backends[i]))
            return 0;
    char why[64];
    snprintf(why, sizeof why, "none of these can run --workload %s",
             wl->name);
    return bad_option("--backend", why);
}

/* 0 to run, 2 for bad options, -1 for --help. */
static int parse_options(int argc, char **argv, struct config *cfg)
{
    *cfg = (struct config){.workload = &workloads[0],
                           .procs = 1,
                           .keys = 100000,
                           .vsize = 64,
                           .read_ratio = 1.0,
                           .dist = {DIST_UNIFORM, 0},
                           .seed = 1,
                           .l1_entries = DEFAULT_L1_ENTRIES,
                           .ttl_ms = DEFAULT_TTL_MS,
                           .compute_ms = DEFAULT_COMPUTE_MS,
                           .header = 1};
    for (size_t i = 0; i < ARRAY_LEN(bench_backends); i++)
        cfg->backends[i] = bench_backends[i];
    cfg->backend_count = ARRAY_LEN(bench_backends);

    opterr = 0;
    int opt, rc;
    uint64_t u;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        if (opt >= OPT_PROCS && opt <= OPT_HELP)
            cfg->given |= OPTION_BIT(opt);
        switch (opt) {
        case OPT_PROCS:
            if (parse_u64(optarg, 1, MAX_PROCS, &u))
                return bad_option("--procs", "expected 1 to 1024");
            cfg->procs = (unsigned)u;
            break;
        case OPT_DURATION:
            if (parse_double(optarg, 0, MAX_DURATION_S, &cfg->duration) ||
                cfg->duration <= 0)
                return bad_option("--duration",
                                  "expected seconds, above 0, at most 3600");
            break;
        case OPT_KEYS:
            if (parse_u64(optarg, 1, UINT32_MAX, &u))
                return bad_option("--keys", "expected 1 to 4294967295");
            cfg->keys = (uint32_t)u;
            break;
        case OPT_VSIZE:
            if (parse_u64(optarg, 0, MAX_VSIZE, &u))
                return bad_option("--vsize", "expected 0 to 524288 bytes");
            cfg->vsize = (size_t)u;
            break;
        case OPT_READ_RATIO:
            if (parse_double(optarg, 0, 1, &cfg->read_ratio))
                return bad_option("--read-ratio", "expected 0 to 1");
            break;
        case OPT_DEL_RATIO:
            if (parse_double(optarg, 0, 1, &cfg->del_ratio))
                return bad_option("--del-ratio", "expected 0 to 1");
            break;
        case OPT_DIST:
            if (dist_spec_parse(optarg, &cfg->dist))
                return bad_option("--dist",
                                  "expected uniform, zipf or zipf:S, S > 0");
            break;
        case OPT_BACKEND:
            if (parse_backends(optarg, cfg))
                return bad_option("--backend",
                                  "expected a comma-separated list of "
                                  "backend names");
            break;
        case OPT_SEED:
            if (parse_u64(optarg, 0, UINT64_MAX, &u))
                return bad_option("--seed", "expected an unsigned integer");
            cfg->seed = u;
            break;
        case OPT_L1_ENTRIES:
            if (parse_u64(optarg, 1, MAX_L1_ENTRIES, &u))
                return bad_option("--l1-entries", "expected 1 to 16777216");
            cfg->l1_entries = (unsigned)u;
            break;
        case OPT_WORKLOAD:
            if (!(cfg->workload = find_workload(optarg)))
                return bad_option("--workload",
                                  "expected get-set, lock or stampede");
            break;
        case OPT_COMPUTE_MS:
            if (parse_u64(optarg, 0, MAX_COMPUTE_MS, &cfg->compute_ms))
                return bad_option("--compute-ms", "expected 0 to 10000");
            break;
        case OPT_TTL_MS:
            if (parse_u64(optarg, 1, MAX_TTL_MS, &cfg->ttl_ms))
                return bad_option("--ttl-ms", "expected 1 to 3600000");
            break;
        case OPT_STALE_MS:
            if (parse_u64(optarg, 0, MAX_TTL_MS, &cfg->stale_ms))
                return bad_option("--stale-ms", "expected 0 to 3600000");
            break;
        case OPT_CSV:
            cfg->csv = 1;
            break;
        case OPT_NO_HEADER:
            cfg->header = 0;
            break;
        case OPT_HELP:
            return -1;
        default:
            return bad_option(argv[optind - 1], "unknown option or missing "
                                                "argument");
        }
    }
    if (optind < argc)
        return bad_option(argv[optind], "unexpected argument");
    rc = check_combination(cfg);
    if (rc)
        return rc;
    if (cfg->read_ratio + cfg->del_ratio > 1.0 + 1e-9)
        return bad_option("--del-ratio", "read ratio + del ratio exceeds 1");
    if (!(cfg->given & OPTION_BIT(OPT_DURATION)))
        cfg->duration = cfg->workload->default_duration;
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int rc = parse_options(argc, argv, &cfg);
    if (rc < 0) {
        usage(stdout);
        return 0;
    }
    if (rc)
        return rc;

    struct key_dist *keys = NULL;
    if (cfg.workload->populates &&
        !(keys = key_dist_new(&cfg.dist, cfg.keys, cfg.seed))) {
        fprintf(stderr, "shmcache-bench: out of memory for the key "
                        "distribution\n");
        return 1;
    }
    int status = 0;
    if (cfg.header)
        cfg.workload->print_header(&cfg);
    for (size_t i = 0; i < cfg.backend_count; i++) {
        const struct bench_backend *be = cfg.backends[i];
        const char *why = cfg.workload->unsupported
                              ? cfg.workload->unsupported(be)
                              : NULL;
        if (why) {
            fprintf(stderr, "shmcache-bench: %s: skipped: --workload %s: "
                            "%s\n",
                    be->name, cfg.workload->name, why);
            continue;
        }
        struct row row;
        rc = run_backend(&cfg, be, keys, &row);
        if (rc == BENCH_SKIP)
            continue;
        if (rc != BENCH_OK) {
            status = 1;
            continue;
        }
        cfg.workload->print_row(&cfg, &row);
        if (row.errors)
            status = 1;
    }
    key_dist_free(keys);
    return status;
}
