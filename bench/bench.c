/* bench.c - shmcache-bench: shmcache side by side with raw LMDB, Redis and
 * memcached, with many processes.
 *
 * For each backend asked for: start its server if it has one, store what
 * the workload needs from the parent, fork the workers, release them
 * together, let each run the workload's operation for the duration while
 * timing every one into its own histograms (in shared memory), then merge
 * them and print one row. The workloads: the get/set/del mix, lock+unlock
 * of a key, and a stampede on one expiring key. See bench/README.md for
 * what the columns mean, and harness.h for where each part lives.
 */
#include <stdio.h>

#include "harness.h"

const struct bench_backend *const bench_backends[] = {
    &bench_backend_shmcache, &bench_backend_shmcache_l1, &bench_backend_lmdb,
    &bench_backend_redis_unix, &bench_backend_redis_tcp,
    &bench_backend_memcached,
};
_Static_assert(ARRAY_LEN(bench_backends) == BENCH_BACKEND_COUNT,
               "BENCH_BACKEND_COUNT (harness.h) is not the number of "
               "backends");

const struct workload *const workloads[] = {
    &workload_get_set,
    &workload_lock,
    &workload_stampede,
};
_Static_assert(ARRAY_LEN(workloads) == WORKLOAD_COUNT,
               "WORKLOAD_COUNT (harness.h) is not the number of workloads");

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
