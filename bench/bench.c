/* bench.c - shmcache-bench: shmcache side by side with raw LMDB, Redis and
 * memcached, with many processes.
 *
 * For each backend asked for: start its server if it has one, store every
 * key from the parent, fork the workers, release them together, let each
 * run a get/set/del mix for the duration while timing every operation into
 * its own histograms (in shared memory), then merge them and print one row.
 * See bench/README.md for what the columns mean.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
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

enum bench_op { OP_GET, OP_SET, OP_DEL, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"get", "set", "del"};

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

struct config {
    unsigned procs;
    double duration;
    uint32_t keys;
    size_t vsize;
    double read_ratio;
    double del_ratio;
    struct dist_spec dist;
    uint64_t seed;
    unsigned l1_entries;
    int csv;
    int header;
    const struct bench_backend *backends[ARRAY_LEN(bench_backends)];
    size_t backend_count;
};

/* What one worker leaves for the parent, in shared memory. */
struct worker_result {
    uint64_t t_start, t_end;
    uint64_t misses, errors;
    struct hist hist[OP_COUNT];
};

enum { GO_WAIT, GO_RUN, GO_ABORT };

/* The start barrier and the results, shared by the parent and workers. */
struct shared {
    atomic_uint ready; /* workers connected and waiting */
    atomic_int go;
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
    struct hist hist[OP_COUNT];
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

/* ---- the worker --------------------------------------------------------- */

struct run {
    const struct config *cfg;
    const struct bench_backend *be;
    void *state;
    const struct key_dist *keys;
    struct shared *shared;
};

static void note_error(const struct run *run, unsigned index,
                       struct worker_result *res, enum bench_op op,
                       const char *key, const char *why)
{
    /* The first error of a worker says what went wrong; the count says
     * how often. */
    if (res->errors++ == 0)
        fprintf(stderr, "shmcache-bench: %s worker %u: %s %s: %s\n",
                run->be->name, index, op_names[op], key, why);
}

static void note_wrong_value(const struct run *run, unsigned index,
                             struct worker_result *res, const char *key,
                             size_t len)
{
    char why[96];
    if (len != run->cfg->vsize)
        snprintf(why, sizeof why, "value of %zu bytes, expected %zu", len,
                 run->cfg->vsize);
    else
        snprintf(why, sizeof why, "value of another key, or damaged");
    note_error(run, index, res, OP_GET, key, why);
}

static enum bench_op choose_op(const struct config *cfg, struct rng *rng)
{
    double u = rng_unit(rng);
    if (u < cfg->read_ratio)
        return OP_GET;
    return u < cfg->read_ratio + cfg->del_ratio ? OP_DEL : OP_SET;
}

static void run_loop(const struct run *run, unsigned index, void *conn,
                     unsigned char *val, unsigned char *buf)
{
    const struct config *cfg = run->cfg;
    const struct bench_backend *be = run->be;
    struct worker_result *res = &run->shared->results[index];
    const size_t cap = cfg->vsize + GET_SLACK;
    struct rng rng;
    rng_seed(&rng, cfg->seed, (uint64_t)index + 1);

    uint64_t start = bench_now_ns(), end;
    const uint64_t deadline = start + (uint64_t)(cfg->duration * 1e9);
    do {
        char key[KEY_BUF];
        uint32_t id = key_dist_next(run->keys, &rng);
        size_t klen = format_key(key, id);
        enum bench_op op = choose_op(cfg, &rng);
        size_t len = 0;
        int rc;
        if (op == OP_SET)
            stamp_value(val, cfg->vsize, id);

        uint64_t t0 = bench_now_ns();
        switch (op) {
        case OP_GET:
            rc = be->get(conn, key, klen, buf, cap, &len);
            break;
        case OP_SET:
            rc = be->set(conn, key, klen, val, cfg->vsize);
            break;
        default:
            rc = be->del(conn, key, klen);
            break;
        }
        end = bench_now_ns();
        hist_record(&res->hist[op], end - t0);

        if (rc == BENCH_MISS)
            res->misses++;
        else if (rc != BENCH_OK)
            note_error(run, index, res, op, key, bench_error());
        else if (op == OP_GET && !value_ok(buf, len, cfg->vsize, id))
            note_wrong_value(run, index, res, key, len);
    } while (end < deadline);
    res->t_start = start;
    res->t_end = end;
}

/* The body of a forked worker; its exit status. */
static int worker_main(const struct run *run, unsigned index)
{
    const struct config *cfg = run->cfg;
    struct shared *sh = run->shared;
    unsigned char *val = malloc(cfg->vsize + 1);
    unsigned char *buf = malloc(cfg->vsize + GET_SLACK);
    void *conn;
    if (!val || !buf || run->be->connect(run->state, &conn) != BENCH_OK) {
        fprintf(stderr, "shmcache-bench: %s worker %u: connect: %s\n",
                run->be->name, index,
                val && buf ? bench_error() : "out of memory");
        free(val);
        free(buf);
        return 1;
    }
    fill_value(val, cfg->vsize);
    for (unsigned op = 0; op < OP_COUNT; op++)
        hist_init(&sh->results[index].hist[op]);

    /* One untimed get first, so that the first timed one does not pay for
     * the connection's lazy setup (a reader slot, a first page fault). */
    char key[KEY_BUF];
    size_t len;
    run->be->get(conn, key, format_key(key, 0), buf, cfg->vsize + GET_SLACK,
                 &len);

    atomic_fetch_add(&sh->ready, 1);
    int go;
    while ((go = atomic_load(&sh->go)) == GO_WAIT)
        sched_yield();
    if (go == GO_RUN)
        run_loop(run, index, conn, val, buf);
    run->be->disconnect(conn);
    free(val);
    free(buf);
    return go == GO_RUN ? 0 : 1;
}

/* ---- the parent --------------------------------------------------------- */

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

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
    uint64_t first = UINT64_MAX, last = 0;
    for (unsigned op = 0; op < OP_COUNT; op++)
        hist_init(&row->hist[op]);
    for (unsigned i = 0; i < cfg->procs; i++) {
        const struct worker_result *res = &sh->results[i];
        for (unsigned op = 0; op < OP_COUNT; op++) {
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

/* Store every key through one connection from the parent, in batches. */
static int populate(const struct config *cfg, const struct bench_backend *be,
                    void *state, struct row *row)
{
    size_t batch = POPULATE_BATCH_BYTES / (cfg->vsize + 1);
    if (batch > POPULATE_BATCH)
        batch = POPULATE_BATCH;
    if (batch == 0)
        batch = 1;
    void *conn;
    if (be->connect(state, &conn) != BENCH_OK)
        return BENCH_ERR;
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
    be->disconnect(conn);
    free(items);
    free(keys);
    free(vals);
    return rc;
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
    void *state = NULL;
    struct shared *sh = MAP_FAILED;
    const size_t shared_size =
        sizeof *sh + cfg->procs * sizeof sh->results[0];
    const char *stage = "start";
    int rc = be->start ? be->start(&srv) : BENCH_OK;
    if (rc == BENCH_SKIP)
        return BENCH_SKIP;

    memset(row, 0, sizeof *row);
    row->backend = be->name;
    if (rc == BENCH_OK) {
        stage = "open";
        rc = be->open(&params, &srv, &state);
    }
    if (rc == BENCH_OK) {
        stage = "populate";
        rc = populate(cfg, be, state, row);
    }
    if (rc == BENCH_OK) {
        stage = "run";
        sh = mmap(NULL, shared_size, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
            rc = bench_fail("mmap: %m");
    }
    if (rc == BENCH_OK) {
        struct run run = {cfg, be, state, keys, sh};
        rc = run_workers(&run);
    }
    if (rc == BENCH_OK)
        merge_results(cfg, sh, row);
    else
        fprintf(stderr, "shmcache-bench: %s: %s: %s\n", be->name, stage,
                bench_error());

    if (sh != MAP_FAILED)
        munmap(sh, shared_size);
    if (state)
        be->close(state);
    if (be->stop)
        be->stop(&srv);
    return rc;
}

/* ---- output ------------------------------------------------------------- */

static const double percentiles[] = {50.0, 99.0, 99.9};
static const char *const percentile_names[] = {"p50", "p99", "p999"};
/* Columns of the table: wide enough for "get_p999" and 10 ms in ns. */
#define LATENCY_WIDTH 8

/* The ops whose latencies a row shows: dels only when the mix has them. */
static unsigned shown_ops(const struct config *cfg)
{
    return cfg->del_ratio > 0 ? OP_COUNT : OP_DEL;
}

static void print_header(const struct config *cfg)
{
    if (cfg->csv) {
        printf("backend,procs,vsize,read_ratio,del_ratio,dist,keys,"
               "seconds,ops_per_s");
        for (unsigned op = 0; op < OP_COUNT; op++) {
            printf(",%ss", op_names[op]);
            for (size_t p = 0; p < ARRAY_LEN(percentiles); p++)
                printf(",%s_%s_ns", op_names[op], percentile_names[p]);
        }
        printf(",misses,errors,map_bytes_per_key\n");
        return;
    }
    printf("%-11s %5s %6s %4s %-10s %10s", "backend", "procs", "vsize",
           "read", "dist", "ops/s");
    for (unsigned op = 0; op < shown_ops(cfg); op++) {
        for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
            char label[16];
            snprintf(label, sizeof label, "%s_%s", op_names[op],
                     percentile_names[p]);
            printf(" %*s", LATENCY_WIDTH, label);
        }
    }
    printf(" %7s %6s %6s\n", "misses", "errors", "B/key");
}

static void print_row(const struct config *cfg, const struct row *row)
{
    char dist[32];
    dist_spec_format(&cfg->dist, dist, sizeof dist);
    double ops_per_s = row->seconds > 0 ? (double)row->ops / row->seconds : 0;
    if (cfg->csv) {
        printf("%s,%u,%zu,%g,%g,%s,%u,%.3f,%.0f", row->backend, cfg->procs,
               cfg->vsize, cfg->read_ratio, cfg->del_ratio, dist, cfg->keys,
               row->seconds, ops_per_s);
        for (unsigned op = 0; op < OP_COUNT; op++) {
            const struct hist *h = &row->hist[op];
            printf(",%llu", (unsigned long long)h->count);
            for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
                if (h->count)
                    printf(",%llu", (unsigned long long)hist_percentile(
                                        h, percentiles[p]));
                else
                    printf(",");
            }
        }
        printf(",%llu,%llu,", (unsigned long long)row->misses,
               (unsigned long long)row->errors);
        if (row->have_mem)
            printf("%.1f", (double)row->mem_used / cfg->keys);
        printf("\n");
    } else {
        printf("%-11s %5u %6zu %4g %-10s %10.0f", row->backend, cfg->procs,
               cfg->vsize, cfg->read_ratio, dist, ops_per_s);
        for (unsigned op = 0; op < shown_ops(cfg); op++) {
            const struct hist *h = &row->hist[op];
            for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
                if (h->count)
                    printf(" %*llu", LATENCY_WIDTH,
                           (unsigned long long)hist_percentile(
                               h, percentiles[p]));
                else
                    printf(" %*s", LATENCY_WIDTH, "-");
            }
        }
        printf(" %7llu %6llu", (unsigned long long)row->misses,
               (unsigned long long)row->errors);
        if (row->have_mem)
            printf(" %6.0f\n", (double)row->mem_used / cfg->keys);
        else
            printf(" %6s\n", "-");
    }
    fflush(stdout);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shmcache-bench [options]\n"
            "\n"
            "Fork N workers, release them together, run a get/set/del mix for\n"
            "a fixed time on each backend in turn, time every operation, and\n"
            "print one row per backend.\n"
            "\n"
            "  --procs N         worker processes (1-%u; default 1)\n"
            "  --duration S      seconds of timed run, may be fractional "
            "(default 1)\n"
            "  --keys N          keys stored before timing (default 100000)\n"
            "  --vsize B         value size in bytes (0-%u; default 64)\n"
            "  --read-ratio R    share of gets, 0-1 (default 1)\n"
            "  --del-ratio D     share of deletes, 0-(1-R) (default 0); the\n"
            "                    rest of the operations are sets\n"
            "  --dist D          uniform | zipf | zipf:S (default uniform;\n"
            "                    zipf alone is zipf:%g)\n"
            "  --backend LIST    comma-separated, from:",
            MAX_PROCS, MAX_VSIZE, DIST_DEFAULT_ZIPF_S);
    for (size_t i = 0; i < ARRAY_LEN(bench_backends); i++)
        fprintf(out, " %s", bench_backends[i]->name);
    fprintf(out,
            "\n"
            "                    (default: all of them)\n"
            "  --seed N          seed of the key and operation choices "
            "(default 1)\n"
            "  --l1-entries N    shmcache-l1: entries of each worker's read "
            "cache\n"
            "                    (1-%u; default %u)\n"
            "  --csv             print CSV instead of a table\n"
            "  --no-header       leave out the header line\n"
            "  --help            print this and exit\n"
            "\n"
            "Exit status: 0, 1 if a backend failed or an operation erred, 2 "
            "for bad options.\n"
            "A backend whose server is not installed is skipped with a "
            "message.\n",
            MAX_L1_ENTRIES, DEFAULT_L1_ENTRIES);
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
    OPT_CSV,
    OPT_NO_HEADER,
    OPT_HELP,
};

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
    {"csv", no_argument, NULL, OPT_CSV},
    {"no-header", no_argument, NULL, OPT_NO_HEADER},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* 0 to run, 2 for bad options, -1 for --help. */
static int parse_options(int argc, char **argv, struct config *cfg)
{
    *cfg = (struct config){.procs = 1,
                           .duration = 1.0,
                           .keys = 100000,
                           .vsize = 64,
                           .read_ratio = 1.0,
                           .dist = {DIST_UNIFORM, 0},
                           .seed = 1,
                           .l1_entries = DEFAULT_L1_ENTRIES,
                           .header = 1};
    for (size_t i = 0; i < ARRAY_LEN(bench_backends); i++)
        cfg->backends[i] = bench_backends[i];
    cfg->backend_count = ARRAY_LEN(bench_backends);

    opterr = 0;
    int opt;
    uint64_t u;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
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
    if (cfg->read_ratio + cfg->del_ratio > 1.0 + 1e-9)
        return bad_option("--del-ratio", "read ratio + del ratio exceeds 1");
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

    struct key_dist *keys = key_dist_new(&cfg.dist, cfg.keys, cfg.seed);
    if (!keys) {
        fprintf(stderr, "shmcache-bench: out of memory for the key "
                        "distribution\n");
        return 1;
    }
    int status = 0;
    if (cfg.header)
        print_header(&cfg);
    for (size_t i = 0; i < cfg.backend_count; i++) {
        struct row row;
        rc = run_backend(&cfg, cfg.backends[i], keys, &row);
        if (rc == BENCH_SKIP)
            continue;
        if (rc != BENCH_OK) {
            status = 1;
            continue;
        }
        print_row(&cfg, &row);
        if (row.errors)
            status = 1;
    }
    key_dist_free(keys);
    return status;
}
