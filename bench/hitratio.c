/* hitratio.c - shmcache-hitratio: how well eviction keeps what is read.
 *
 * One process replays a zipf trace over --keys keys through shmcache as a
 * read-through cache (get; on a miss, set), with a map too small for them
 * all, and counts hits. The same trace goes through an exact LRU cache of
 * as many entries as shmcache held on average, and of --capacity entries.
 * The map is sized so that shmcache holds about --capacity entries: a first
 * short run measures what it holds, and the map is scaled to match.
 *
 * The ratio of the two hit ratios is the figure: CLOCK with shared recency
 * marks against the policy it approximates. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dist.h"
#include "keys.h"
#include "lru.h"
#include "shmcache.h"

struct params {
    uint32_t keys, capacity, vsize;
    uint64_t ops, warmup, seed;
    struct dist_spec dist;
};

struct outcome {
    uint64_t counted, hits;
    double resident; /* mean entries held after the warmup */
    uint64_t evictions;
};

/* Entries sampled every this many operations. */
#define SAMPLE_EVERY 10000u

static int replay(const struct params *p, const struct key_dist *d,
                  uint64_t map_size, uint64_t ops, struct outcome *out)
{
    char dir[256], path[300], key[32];
    if (bench_scratch_dir("/dev/shm", dir, sizeof dir))
        return -1;
    snprintf(path, sizeof path, "%s/cache", dir);
    shmc_opts o = {.map_size = map_size};
    shmc_cache *c;
    int rc = shmc_open(&c, path, &o);
    char *val = calloc(1, p->vsize), *buf = malloc(p->vsize);
    if (rc || !val || !buf) {
        fprintf(stderr, "shmcache-hitratio: open %s: %s %s\n", path,
                shmc_strerror(rc), shmc_last_error());
        free(val);
        free(buf);
        bench_remove_tree(dir);
        return -1;
    }
    struct rng r;
    rng_seed(&r, p->seed, 0);
    uint64_t samples = 0, resident_sum = 0;
    *out = (struct outcome){0};
    for (uint64_t i = 0; i < ops && rc == 0; i++) {
        uint32_t id = key_dist_next(d, &r);
        size_t klen = format_key(key, id), len = p->vsize;
        rc = shmc_get(c, key, klen, buf, &len, NULL, 0);
        int hit = rc == 0;
        if (rc == SHMC_ENOTFOUND)
            rc = shmc_set(c, key, klen, val, p->vsize, 0);
        if (i < p->warmup)
            continue;
        out->counted++;
        out->hits += hit;
        if (i % SAMPLE_EVERY == 0) {
            shmc_info info;
            if (shmc_info_get(c, &info) == 0) {
                resident_sum += info.entries;
                samples++;
            }
        }
    }
    if (rc)
        fprintf(stderr, "shmcache-hitratio: %s %s\n", shmc_strerror(rc),
                shmc_last_error());
    shmc_stats st;
    if (shmc_stats_get(c, &st) == 0)
        out->evictions = st.evictions;
    out->resident = samples ? (double)resident_sum / (double)samples : 0;
    shmc_close(c);
    free(val);
    free(buf);
    bench_remove_tree(dir);
    return rc ? -1 : 0;
}

static double lru_hit_ratio(const struct params *p, const struct key_dist *d,
                            uint32_t capacity)
{
    struct lru *l = lru_new(p->keys, capacity ? capacity : 1);
    if (!l)
        return -1;
    struct rng r;
    rng_seed(&r, p->seed, 0);
    uint64_t hits = 0;
    for (uint64_t i = 0; i < p->ops; i++) {
        int hit = lru_access(l, key_dist_next(d, &r));
        if (i >= p->warmup)
            hits += hit;
    }
    lru_free(l);
    return (double)hits / (double)(p->ops - p->warmup);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shmcache-hitratio [--keys N] [--capacity N] [--ops N]\n"
            "         [--warmup N] [--vsize BYTES] [--dist zipf:S]\n"
            "         [--seed N] [--map-size BYTES]\n"
            "defaults: 1000000 keys, capacity 100000 (10%%), 5000000 ops\n"
            "of which 1000000 warm up, 64-byte values, zipf:0.99.\n");
}

static int number(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct params *p, uint64_t *map)
{
    static const struct option longs[] = {
        {"keys", required_argument, 0, 'k'},
        {"capacity", required_argument, 0, 'c'},
        {"ops", required_argument, 0, 'o'},
        {"warmup", required_argument, 0, 'w'},
        {"vsize", required_argument, 0, 'v'},
        {"dist", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'},
        {"map-size", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        uint64_t v = 0;
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt == 'd') {
            if (dist_spec_parse(optarg, &p->dist))
                return -1;
            continue;
        }
        if (opt == '?' || number(optarg, &v))
            return -1;
        switch (opt) {
        case 'k': p->keys = (uint32_t)v; break;
        case 'c': p->capacity = (uint32_t)v; break;
        case 'o': p->ops = v; break;
        case 'w': p->warmup = v; break;
        case 'v': p->vsize = (uint32_t)v; break;
        case 's': p->seed = v; break;
        case 'm': *map = v; break;
        }
    }
    return optind == argc && p->keys && p->capacity &&
                   p->capacity <= p->keys && p->warmup < p->ops &&
                   p->vsize
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    struct params p = {
        .keys = 1000000, .capacity = 100000, .vsize = 64,
        .ops = 5000000, .warmup = 1000000, .seed = 42,
        .dist = {DIST_ZIPF, DIST_DEFAULT_ZIPF_S},
    };
    uint64_t map = 0;
    if (parse(argc, argv, &p, &map)) {
        usage(stderr);
        return 2;
    }
    struct key_dist *d = key_dist_new(&p.dist, p.keys, p.seed);
    if (!d)
        return 1;
    struct outcome out;
    if (!map) {
        /* A first guess from the entry size, then one short run to see
         * how many entries that map holds, scaled to --capacity. */
        uint64_t guess = (uint64_t)p.capacity * (p.vsize + 160) + (1u << 20);
        struct params brief = p;
        brief.warmup = p.warmup / 2;
        if (replay(&brief, d, guess, p.warmup, &out))
            return 1;
        map = (uint64_t)((double)guess * p.capacity / out.resident);
    }
    if (replay(&p, d, map, p.ops, &out))
        return 1;
    double ours = (double)out.hits / (double)out.counted;
    double lru_same = lru_hit_ratio(&p, d, (uint32_t)(out.resident + 0.5));
    double lru_nominal = lru_hit_ratio(&p, d, p.capacity);
    char dist[32];
    dist_spec_format(&p.dist, dist, sizeof dist);
    printf("trace: %s over %u keys, %llu ops (%llu warm-up), %u-byte "
           "values; map %llu bytes\n",
           dist, p.keys, (unsigned long long)p.ops,
           (unsigned long long)p.warmup, p.vsize, (unsigned long long)map);
    printf("%-34s %10s %10s\n", "cache", "entries", "hit ratio");
    printf("%-34s %10.0f %10.4f\n", "shmcache (CLOCK)", out.resident, ours);
    printf("%-34s %10.0f %10.4f\n", "exact LRU, same entries",
           out.resident + 0.5, lru_same);
    printf("%-34s %10u %10.4f\n", "exact LRU, --capacity entries",
           p.capacity, lru_nominal);
    printf("shmcache / exact LRU (same entries): %.3f; evictions %llu\n",
           ours / lru_same, (unsigned long long)out.evictions);
    key_dist_free(d);
    return 0;
}
