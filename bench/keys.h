/* keys.h - the benchmark's keys and values, shared by the parent's
 * populate, the workers and the workloads. Inline: they sit on the
 * workloads' timed paths (format_key before, value_ok after each op). */
#ifndef BENCH_KEYS_H
#define BENCH_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* "key:%08u", without the cost of printf on the timed path. */
static inline size_t format_key(char *out, uint32_t id)
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
static inline void fill_value(unsigned char *val, size_t vsize)
{
    for (size_t i = 0; i < vsize; i++)
        val[i] = (unsigned char)('a' + i % 26);
}

static inline void stamp_value(unsigned char *val, size_t vsize, uint32_t id)
{
    if (vsize >= sizeof id)
        memcpy(val, &id, sizeof id);
}

static inline int value_ok(const unsigned char *got, size_t len,
                           size_t vsize, uint32_t id)
{
    if (len != vsize)
        return 0;
    if (vsize >= sizeof id && memcmp(got, &id, sizeof id) != 0)
        return 0;
    return vsize <= sizeof id ||
           got[vsize - 1] == (unsigned char)('a' + (vsize - 1) % 26);
}

#endif
