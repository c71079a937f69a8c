/* dist.c - see dist.h. */
#include "dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t state = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&state);
}

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t rng_below(struct rng *r, uint32_t n)
{
    /* Multiply-shift (Lemire): no division; the bias for n < 2^32 is below
     * 2^-32, far under anything a benchmark can see. */
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

int dist_spec_parse(const char *text, struct dist_spec *out)
{
    if (strcmp(text, "uniform") == 0) {
        *out = (struct dist_spec){DIST_UNIFORM, 0};
        return 0;
    }
    if (strcmp(text, "zipf") == 0) {
        *out = (struct dist_spec){DIST_ZIPF, DIST_DEFAULT_ZIPF_S};
        return 0;
    }
    if (strncmp(text, "zipf:", 5) == 0) {
        char *end;
        double s = strtod(text + 5, &end);
        if (end == text + 5 || *end != '\0' || !(s > 0) || !isfinite(s))
            return -1;
        *out = (struct dist_spec){DIST_ZIPF, s};
        return 0;
    }
    return -1;
}

void dist_spec_format(const struct dist_spec *spec, char *buf, size_t len)
{
    if (spec->kind == DIST_UNIFORM)
        snprintf(buf, len, "uniform");
    else
        snprintf(buf, len, "zipf:%g", spec->zipf_s);
}

struct key_dist {
    enum dist_kind kind;
    uint32_t n;
    double *cdf;       /* zipf: cdf[i] = P(rank <= i) */
    uint32_t *key_of;  /* zipf: rank -> key id */
};

static int build_zipf(struct key_dist *d, double s, uint64_t seed)
{
    d->cdf = malloc(sizeof *d->cdf * d->n);
    d->key_of = malloc(sizeof *d->key_of * d->n);
    if (!d->cdf || !d->key_of)
        return -1;
    double sum = 0;
    for (uint32_t i = 0; i < d->n; i++) {
        sum += pow((double)i + 1, -s);
        d->cdf[i] = sum;
    }
    for (uint32_t i = 0; i < d->n; i++)
        d->cdf[i] /= sum;
    /* Rounding may leave the last entry a hair under 1; a draw above it
     * must still land on a key. */
    d->cdf[d->n - 1] = 1.0;

    struct rng r;
    rng_seed(&r, seed, UINT64_C(0x5eed));
    for (uint32_t i = 0; i < d->n; i++)
        d->key_of[i] = i;
    for (uint32_t i = d->n - 1; i > 0; i--) {
        uint32_t j = rng_below(&r, i + 1);
        uint32_t t = d->key_of[i];
        d->key_of[i] = d->key_of[j];
        d->key_of[j] = t;
    }
    return 0;
}

struct key_dist *key_dist_new(const struct dist_spec *spec, uint32_t n,
                              uint64_t seed)
{
    struct key_dist *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->kind = spec->kind;
    d->n = n;
    if (spec->kind == DIST_ZIPF && build_zipf(d, spec->zipf_s, seed) != 0) {
        key_dist_free(d);
        return NULL;
    }
    return d;
}

uint32_t key_dist_next(const struct key_dist *d, struct rng *r)
{
    if (d->kind == DIST_UNIFORM)
        return rng_below(r, d->n);
    double u = rng_unit(r);
    /* The first rank whose cumulative probability exceeds u. */
    uint32_t lo = 0, hi = d->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return d->key_of[lo];
}

void key_dist_free(struct key_dist *d)
{
    if (!d)
        return;
    free(d->cdf);
    free(d->key_of);
    free(d);
}
