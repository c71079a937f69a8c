/* run.c - the parent's side of a run of one backend: start its server,
 * store what the workload needs, fork the workers, release them together,
 * wait for them, and merge their histograms into a row. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "keys.h"

/* How long past its duration a run may go before its workers are killed:
 * a server that stops answering must not hang the benchmark. */
#define RUN_GRACE_S 30.0
#define POLL_NS 1000000L
/* Most computes the stampede keeps a record of: 16 MiB of shared memory,
 * taken only as far as it is written. */
#define MAX_COMPUTE_RECORDS (1u << 20)

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

int run_backend(const struct config *cfg, const struct bench_backend *be,
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
