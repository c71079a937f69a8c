/* options.c - the command line of shmcache-bench and its usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_DURATION_S 3600.0
/* memcached's default item limit is 1 MiB, header included. */
#define MAX_VSIZE (512u * 1024)
/* shmcache-l1's read cache: 128 Ki entries (32 MiB per worker), room for
 * the default 100,000 keys, of which a direct map still loses some to
 * collisions. */
#define DEFAULT_L1_ENTRIES 131072u
/* 4 GiB of read cache per worker: more is a typo. */
#define MAX_L1_ENTRIES (1u << 24)
/* The stampede: one key fresh for 1 s, computed in 50 ms. A compute may
 * take at most a third of RUN_GRACE_S (run.c), so that the waiters of the
 * last one are never killed as hung. */
#define DEFAULT_TTL_MS 1000u
#define DEFAULT_COMPUTE_MS 50u
#define MAX_COMPUTE_MS 10000u
#define MAX_TTL_MS 3600000u

/* The options only some workloads take; the others apply to all. */
#define WORKLOAD_OPTIONS                                                    \
    (OPTION_BIT(OPT_KEYS) | OPTION_BIT(OPT_VSIZE) |                         \
     OPTION_BIT(OPT_READ_RATIO) | OPTION_BIT(OPT_DEL_RATIO) |               \
     OPTION_BIT(OPT_DIST) | OPTION_BIT(OPT_SEED) |                          \
     OPTION_BIT(OPT_COMPUTE_MS) | OPTION_BIT(OPT_TTL_MS) |                  \
     OPTION_BIT(OPT_STALE_MS))

void usage(FILE *out)
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
    for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++)
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
        while (i < BENCH_BACKEND_COUNT &&
               strcmp(bench_backends[i]->name, name) != 0)
            i++;
        if (i == BENCH_BACKEND_COUNT ||
            cfg->backend_count == ARRAY_LEN(cfg->backends))
            return -1;
        cfg->backends[cfg->backend_count++] = bench_backends[i];
    }
    return cfg->backend_count ? 0 : -1;
}

static const struct workload *find_workload(const char *name)
{
    for (size_t i = 0; i < WORKLOAD_COUNT; i++)
        if (strcmp(workloads[i]->name, name) == 0)
            return workloads[i];
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

int parse_options(int argc, char **argv, struct config *cfg)
{
    *cfg = (struct config){.workload = workloads[0],
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
    for (size_t i = 0; i < BENCH_BACKEND_COUNT; i++)
        cfg->backends[i] = bench_backends[i];
    cfg->backend_count = BENCH_BACKEND_COUNT;

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
