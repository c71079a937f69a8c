/* hist.h - a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values are nanoseconds. Below 64 ns every value has its own bucket; above,
 * every power of two is split into 64 equal sub-buckets, so a recorded value
 * is known to within 1/64 (1.6%) of itself, from 1 ns up to HIST_MAX_NS
 * (about 137 s; larger values are counted as HIST_MAX_NS). The struct is
 * plain data with no pointers, so it can live in memory shared between
 * processes and be merged by the parent.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS)
/* The top power of two tracked: values up to 2^37 ns. */
#define HIST_MAX_POWER 37
#define HIST_MAX_NS ((UINT64_C(1) << HIST_MAX_POWER) - 1)
#define HIST_BUCKETS \
    (HIST_SUB_BUCKETS + (HIST_MAX_POWER - HIST_SUB_BITS) * HIST_SUB_BUCKETS)

struct hist {
    uint64_t count;
    uint64_t max; /* exact, so that a percentile never exceeds it */
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile pct (0 < pct <= 100): the highest value of the
 * bucket holding that rank, capped at the exact maximum. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);

#endif
