/* hist.c - see hist.h. */
#include "hist.h"

#include <math.h>
#include <string.h>

static unsigned bucket_of(uint64_t ns)
{
    if (ns > HIST_MAX_NS)
        ns = HIST_MAX_NS;
    if (ns < HIST_SUB_BUCKETS)
        return (unsigned)ns;
    unsigned top_bit = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = top_bit - HIST_SUB_BITS;
    /* (ns >> shift) lies in [64, 128): its low six bits pick the
     * sub-bucket within this power of two. */
    return HIST_SUB_BUCKETS + shift * HIST_SUB_BUCKETS +
           (unsigned)((ns >> shift) - HIST_SUB_BUCKETS);
}

static uint64_t highest_value_of(unsigned bucket)
{
    if (bucket < HIST_SUB_BUCKETS)
        return bucket;
    unsigned shift = bucket / HIST_SUB_BUCKETS - 1;
    uint64_t sub = HIST_SUB_BUCKETS + bucket % HIST_SUB_BUCKETS;
    return ((sub + 1) << shift) - 1;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = highest_value_of(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
