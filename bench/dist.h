/* dist.h - a small fast PRNG and the key choosers of the benchmark.
 *
 * Every worker has its own generator, seeded from --seed and its index, so
 * that a run is repeatable and workers do not walk the keys in lockstep.
 * A key chooser is built once in the parent before fork and only read
 * afterwards, so its tables are shared copy-on-write and never copied.
 */
#ifndef BENCH_DIST_H
#define BENCH_DIST_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256**, seeded through splitmix64. */
struct rng {
    uint64_t s[4];
};

/* Seed a generator: one seed, many independent streams (one per worker). */
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1), 53 bits. */
double rng_unit(struct rng *r);
/* Uniform in [0, n), n >= 1. */
uint32_t rng_below(struct rng *r, uint32_t n);

enum dist_kind { DIST_UNIFORM, DIST_ZIPF };

struct dist_spec {
    enum dist_kind kind;
    double zipf_s; /* exponent, for DIST_ZIPF */
};

#define DIST_DEFAULT_ZIPF_S 0.99

/* Parse "uniform", "zipf" or "zipf:S" (S > 0). Returns 0, or -1. */
int dist_spec_parse(const char *text, struct dist_spec *out);
/* "uniform" or "zipf:0.99", as the rows print it. */
void dist_spec_format(const struct dist_spec *spec, char *buf, size_t len);

struct key_dist;

/* A chooser over key ids [0, n). For zipf, rank 0 is the most popular and
 * ranks map to key ids through a permutation drawn from seed, so that the
 * hot keys are spread over the key space (and over LMDB's pages) instead of
 * sitting together at its start. NULL when out of memory. */
struct key_dist *key_dist_new(const struct dist_spec *spec, uint32_t n,
                              uint64_t seed);
uint32_t key_dist_next(const struct key_dist *d, struct rng *r);
void key_dist_free(struct key_dist *d);

#endif
