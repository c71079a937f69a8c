/* clock.c - wall clock in milliseconds.
 *
 * CLOCK_REALTIME rather than CLOCK_MONOTONIC: expiry times are stored in the
 * shared map and, through the bridge, compared across hosts; a monotonic
 * clock means nothing outside one boot. On Linux the call is served by the
 * vDSO, so the read path stays free of system calls. */
#include "clock.h"

#include <time.h>

#include "shmcache.h"

uint64_t shmc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t shmc_now_ms(void)
{
    return shmc__now_ms();
}

uint64_t shmc__monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
