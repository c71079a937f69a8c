/* clock.h - the one wall clock every entry's times are measured with. */
#ifndef SHMC_CLOCK_H
#define SHMC_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME: hosts compare these). */
uint64_t shmc__now_ms(void);

/* Microseconds of CLOCK_MONOTONIC: for budgets and pauses. */
uint64_t shmc__monotonic_us(void);

/* a + b, or UINT64_MAX when the sum would not fit: "never" stays never. */
static inline uint64_t shmc__add_ms(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
