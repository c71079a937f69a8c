/* compressbench.c - shmcache-compressbench: what compression and
 * encryption cost and save on 16 KiB JSON-like values.
 *
 * One process stores --keys values of --vsize bytes (JSON-like: an array of
 * records with ids, names and tags drawn from a small vocabulary, as API
 * responses are) into a fresh instance per configuration, then reads them
 * back in a random order for --duration seconds. It reports the map bytes
 * per entry, the set and get rates and median latencies, for values stored
 * raw, compressed, encrypted, and both. Every get checks the value. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dist.h"
#include "hist.h"
#include "keys.h"
#include "shmcache.h"

static const char *const words[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    "hotel", "india", "juliet", "kilo", "lima", "mike", "november",
    "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
};
#define WORDS (sizeof words / sizeof words[0])

/* Fill buf with len bytes of JSON-like text that varies with seed. */
static void json_like(char *buf, size_t len, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed, 1);
    size_t n = 0;
    buf[n++] = '[';
    while (n < len) {
        char item[160];
        int m = snprintf(item, sizeof item,
                         "{\"id\":%u,\"name\":\"%s %s\",\"score\":%u,"
                         "\"tags\":[\"%s\",\"%s\"],\"active\":%s},",
                         rng_below(&r, 1000000), words[rng_below(&r, WORDS)],
                         words[rng_below(&r, WORDS)], rng_below(&r, 100),
                         words[rng_below(&r, WORDS)],
                         words[rng_below(&r, WORDS)],
                         rng_below(&r, 2) ? "true" : "false");
        size_t take = (size_t)m < len - n ? (size_t)m : len - n;
        memcpy(buf + n, item, take);
        n += take;
    }
}

struct config {
    const char *name;
    int compress, encrypt;
};

struct params {
    uint32_t keys, vsize;
    double duration;
};

static int run(const struct params *p, const struct config *cfg,
               char *const *values)
{
    static const unsigned char value_key[SHMC_VALUE_KEY_LEN] = {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    char dir[256], path[300], key[32];
    if (bench_scratch_dir("/dev/shm", dir, sizeof dir))
        return -1;
    snprintf(path, sizeof path, "%s/cache", dir);
    shmc_opts o = {
        .map_size = (64u << 20) + (uint64_t)p->keys * (p->vsize + 256) * 2,
        .compress_threshold = cfg->compress ? 0 : SHMC_NO_COMPRESSION,
        .value_key = cfg->encrypt ? value_key : NULL,
    };
    shmc_cache *c;
    int rc = shmc_open(&c, path, &o);
    char *buf = malloc(p->vsize);
    struct hist sets, gets;
    hist_init(&sets);
    hist_init(&gets);
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; rc == 0 && buf && i < p->keys; i++) {
        size_t klen = format_key(key, i);
        uint64_t s = bench_now_ns();
        rc = shmc_set(c, key, klen, values[i % 64], p->vsize, 0);
        hist_record(&sets, bench_now_ns() - s);
    }
    double set_secs = (double)(bench_now_ns() - t0) / 1e9;
    shmc_info info = {0};
    if (rc == 0)
        rc = shmc_info_get(c, &info);
    struct rng r;
    rng_seed(&r, 9, 0);
    uint64_t errors = 0, end = bench_now_ns() + (uint64_t)(p->duration * 1e9);
    t0 = bench_now_ns();
    while (rc == 0 && bench_now_ns() < end) {
        uint32_t i = rng_below(&r, p->keys);
        size_t klen = format_key(key, i), len = p->vsize;
        uint64_t s = bench_now_ns();
        rc = shmc_get(c, key, klen, buf, &len, NULL, 0);
        hist_record(&gets, bench_now_ns() - s);
        errors += rc == 0 && (len != p->vsize ||
                              memcmp(buf, values[i % 64], len) != 0);
    }
    double get_secs = (double)(bench_now_ns() - t0) / 1e9;
    if (rc)
        fprintf(stderr, "shmcache-compressbench: %s: %s %s\n", cfg->name,
                shmc_strerror(rc), shmc_last_error());
    else
        printf("| %-22s | %8.0f | %5.2f | %9.0f | %7.1f | %9.0f | %7.1f |\n",
               cfg->name, (double)info.map_used / p->keys,
               (double)p->keys * p->vsize / (double)info.map_used,
               p->keys / set_secs, hist_percentile(&sets, 50) / 1e3,
               gets.count / get_secs, hist_percentile(&gets, 50) / 1e3);
    shmc_close(c);
    free(buf);
    bench_remove_tree(dir);
    return rc || errors ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct params p = {.keys = 20000, .vsize = 16384, .duration = 2};
    static const struct option longs[] = {
        {"keys", required_argument, 0, 'k'},
        {"vsize", required_argument, 0, 'v'},
        {"duration", required_argument, 0, 'd'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end;
        errno = 0;
        double v = opt == '?' ? 0 : strtod(optarg, &end);
        if (opt == '?' || errno || *end || v <= 0) {
            fprintf(stderr, "usage: shmcache-compressbench [--keys N] "
                            "[--vsize BYTES] [--duration SECONDS]\n");
            return 2;
        }
        if (opt == 'k')
            p.keys = (uint32_t)v;
        else if (opt == 'v')
            p.vsize = (uint32_t)v;
        else
            p.duration = v;
    }
    /* 64 different values, reused round the keys. */
    char *values[64];
    for (int i = 0; i < 64; i++) {
        values[i] = malloc(p.vsize);
        if (!values[i])
            return 1;
        json_like(values[i], p.vsize, (uint64_t)i);
    }
    static const struct config configs[] = {
        {"raw", 0, 0},
        {"compressed (zstd 3)", 1, 0},
        {"encrypted (AES-GCM)", 0, 1},
        {"compressed + encrypted", 1, 1},
    };
    printf("%u keys, %u-byte JSON-like values\n\n", p.keys, p.vsize);
    printf("| stored as | map B/entry | ratio | sets/s | set p50 us | "
           "gets/s | get p50 us |\n|---|---:|---:|---:|---:|---:|---:|\n");
    int failed = 0;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        failed |= run(&p, &configs[i], values) != 0;
    for (int i = 0; i < 64; i++)
        free(values[i]);
    return failed;
}
