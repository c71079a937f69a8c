/* sweepbench.c - shmcache-sweepbench: what sweeping a million expired
 * entries costs the workers beside it.
 *
 * The parent stores --expired entries with a 1 ms TTL and --fresh entries
 * without one, forks --writers processes that set fresh keys and --readers
 * processes that get them, lets them run alone for a second (the baseline),
 * then sweeps with shmc_sweep() (--budget-us per call, --tick-ms between
 * calls; 0: back to back, the hardest case for the writers) until every
 * expired entry is gone. Every get and set is timed; the workers' latencies
 * are reported for both phases, with the sweep rate. A reader that misses
 * a fresh key counts an error: the sweep must never remove one. */
#include <errno.h>
#include <getopt.h>
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
#include "keys.h"
#include "shmcache.h"

enum { PHASE_ALONE, PHASE_SWEEP, PHASES };

struct params {
    uint64_t expired, fresh;
    unsigned writers, readers, tick_ms;
    uint64_t budget_us;
    uint32_t vsize;
};

/* Shared with the workers. */
struct board {
    _Atomic int phase; /* PHASES: stop */
    _Atomic uint64_t errors;
    struct hist hist[PHASES]; /* a worker's own board only */
};

static void work(const char *path, const struct params *p, int writer,
                 struct board *shared, struct board *mine, unsigned index)
{
    shmc_cache *c;
    char key[32], *val = calloc(1, p->vsize), *buf = malloc(p->vsize);
    if (!val || !buf || shmc_open(&c, path, NULL))
        _exit(1);
    struct rng r;
    rng_seed(&r, 7, index);
    int phase;
    while ((phase = atomic_load(&shared->phase)) < PHASES) {
        /* Fresh keys follow the expired ones. */
        uint32_t id = (uint32_t)p->expired + rng_below(&r, (uint32_t)p->fresh);
        size_t klen = format_key(key, id), len = p->vsize;
        uint64_t t0 = bench_now_ns();
        int rc = writer ? shmc_set(c, key, klen, val, p->vsize, 0)
                        : shmc_get(c, key, klen, buf, &len, NULL, 0);
        hist_record(&mine->hist[phase], bench_now_ns() - t0);
        if (rc)
            atomic_fetch_add(&shared->errors, 1);
    }
    shmc_close(c);
    _exit(0);
}

/* Store n entries from id first with the given TTL, 1,000 per call. */
static int populate(shmc_cache *c, uint64_t first, uint64_t n,
                    uint64_t ttl_ms, uint32_t vsize)
{
    enum { BATCH = 1000 };
    static char keys[BATCH][16];
    shmc_item items[BATCH];
    char *val = calloc(1, vsize);
    shmc_set_opts o = {.ttl_ms = ttl_ms};
    int rc = val ? 0 : -ENOMEM;
    for (uint64_t done = 0; done < n && rc == 0;) {
        size_t k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            size_t len = format_key(keys[k], (uint32_t)(first + done));
            items[k] = (shmc_item){keys[k], len, val, vsize};
        }
        rc = shmc_mset(c, items, k, &o);
    }
    free(val);
    return rc;
}

static void report(const char *what, const struct hist *h)
{
    printf("  %-24s %10llu ops  p50 %8.1f us  p99 %8.1f us  p999 %8.1f us"
           "  max %8.1f us\n",
           what, (unsigned long long)h->count,
           hist_percentile(h, 50) / 1e3, hist_percentile(h, 99) / 1e3,
           hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
}

static int parse(int argc, char **argv, struct params *p)
{
    static const struct option longs[] = {
        {"expired", required_argument, 0, 'e'},
        {"fresh", required_argument, 0, 'f'},
        {"writers", required_argument, 0, 'w'},
        {"readers", required_argument, 0, 'r'},
        {"budget-us", required_argument, 0, 'b'},
        {"tick-ms", required_argument, 0, 't'},
        {"vsize", required_argument, 0, 'v'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end;
        errno = 0;
        unsigned long long v = opt == '?' ? 0 : strtoull(optarg, &end, 10);
        if (opt == '?' || errno || *end)
            return -1;
        switch (opt) {
        case 'e': p->expired = v; break;
        case 'f': p->fresh = v; break;
        case 'w': p->writers = (unsigned)v; break;
        case 'r': p->readers = (unsigned)v; break;
        case 'b': p->budget_us = v; break;
        case 't': p->tick_ms = (unsigned)v; break;
        case 'v': p->vsize = (uint32_t)v; break;
        }
    }
    return optind == argc && p->fresh && p->vsize &&
                   p->expired + p->fresh <= UINT32_MAX
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    struct params p = {.expired = 1000000, .fresh = 10000, .writers = 2,
                       .readers = 2, .budget_us = 5000, .vsize = 64};
    if (parse(argc, argv, &p)) {
        fprintf(stderr,
                "usage: shmcache-sweepbench [--expired N] [--fresh N] "
                "[--writers N] [--readers N]\n"
                "         [--budget-us US] [--tick-ms MS] [--vsize B]\n");
        return 2;
    }
    char dir[256], path[300];
    if (bench_scratch_dir("/dev/shm", dir, sizeof dir)) {
        fprintf(stderr, "shmcache-sweepbench: %s\n", bench_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/cache", dir);
    uint64_t entries = p.expired + p.fresh;
    shmc_opts o = {.map_size = (64u << 20) + entries * (p.vsize + 128) * 3};
    shmc_cache *c;
    int rc = shmc_open(&c, path, &o);
    if (rc == 0)
        rc = populate(c, 0, p.expired, 1, p.vsize);
    if (rc == 0)
        rc = populate(c, p.expired, p.fresh, 0, p.vsize);
    unsigned workers = p.writers + p.readers;
    struct board *boards = mmap(NULL, sizeof *boards * (workers + 1),
                                PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rc || boards == MAP_FAILED) {
        fprintf(stderr, "shmcache-sweepbench: %s %s\n", shmc_strerror(rc),
                shmc_last_error());
        bench_remove_tree(dir);
        return 1;
    }
    struct board *shared = &boards[workers];
    pid_t *pids = calloc(workers, sizeof *pids);
    for (unsigned i = 0; i < workers && pids; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            work(path, &p, i < p.writers, shared, &boards[i], i);
    }
    sleep(1);
    atomic_store(&shared->phase, PHASE_SWEEP);
    shmc_sweep_opts so = {.budget_us = p.budget_us};
    shmc_sweep_result res;
    uint64_t removed = 0, calls = 0, t0 = bench_now_ns();
    do {
        rc = shmc_sweep(c, &so, &res);
        removed += res.expired;
        calls++;
        if (p.tick_ms)
            usleep(p.tick_ms * 1000u);
    } while (rc == 0 && removed < p.expired);
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    atomic_store(&shared->phase, PHASES);
    for (unsigned i = 0; i < workers && pids; i++)
        waitpid(pids[i], NULL, 0);
    shmc_info info;
    shmc_info_get(c, &info);
    printf("swept %llu expired entries in %.2f s (%llu calls of %llu us "
           "budget, %u ms apart): %.0f entries/s; %llu entries left\n",
           (unsigned long long)removed, secs, (unsigned long long)calls,
           (unsigned long long)p.budget_us, p.tick_ms, removed / secs,
           (unsigned long long)info.entries);
    static const char *const phase_name[PHASES] = {"alone", "while sweeping"};
    for (int ph = 0; ph < PHASES; ph++) {
        struct hist sets, gets;
        hist_init(&sets);
        hist_init(&gets);
        for (unsigned i = 0; i < workers; i++)
            hist_merge(i < p.writers ? &sets : &gets, &boards[i].hist[ph]);
        printf("%s (%u writers, %u readers):\n", phase_name[ph], p.writers,
               p.readers);
        report("set", &sets);
        report("get", &gets);
    }
    uint64_t errors = atomic_load(&shared->errors);
    printf("worker errors (a fresh key missed, or a failed set): %llu\n",
           (unsigned long long)errors);
    shmc_close(c);
    free(pids);
    bench_remove_tree(dir);
    return rc || errors || info.entries != p.fresh ? 1 : 0;
}
