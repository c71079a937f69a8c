/* stats.h - the shared counters, sharded by process (see control.h).
 *
 * Each process adds into the shard its pid picks, so workers do not bounce
 * one cache line between cores; two processes whose pids pick the same
 * shard stay correct because the adds are atomic (relaxed: a counter needs
 * no ordering with anything else). Readers sum all shards without a lock. */
#ifndef SHMC_STATS_H
#define SHMC_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "control.h"

enum shmc__counter {
    SHMC__C_HITS,
    SHMC__C_STALE_HITS,
    SHMC__C_MISSES,
    SHMC__C_EXPIRED,
    SHMC__C_SETS,
    SHMC__C_DELETES,
    SHMC__C_L1_HITS,
    SHMC__C_LOCKS,
    SHMC__C_LOCK_WAITS,
    SHMC__C_LOCK_TIMEOUTS,
    SHMC__C_LOCK_RECOVERIES,
    SHMC__C_COMPUTES,
    SHMC__C_COMPUTE_ERRORS,
    SHMC__C_STALE_SERVED,
    SHMC__C_REVOCATIONS,
    SHMC__C_EVICTIONS,
    SHMC__C_EXPIRED_REMOVED,
    SHMC__C_SWEEPS,
    SHMC__C_SWEEP_PASSES,
    SHMC__C_READERS_RECLAIMED,
    SHMC__C_DECRYPT_FAILURES,
    SHMC__C_OUTBOX_OVERFLOWS,
    SHMC__C_BRIDGE_SENT,
    SHMC__C_BRIDGE_RECEIVED,
    SHMC__C_BRIDGE_APPLIED,
    SHMC__C_BRIDGE_SKIPPED_OWN,
    SHMC__C_BRIDGE_DUPLICATES,
    SHMC__C_BRIDGE_REJECTED_SIGNATURE,
    SHMC__C_BRIDGE_REJECTED_PARSE,
    SHMC__C_BRIDGE_REJECTED_KEYSPACE,
    SHMC__C_BRIDGE_GAP_FLUSHES,
    SHMC__C_COUNT
};

_Static_assert(SHMC__C_COUNT <= SHMC__COUNTERS_PER_SHARD,
               "the counters must fit one shard");

static inline void shmc__count(_Atomic uint64_t *shard, enum shmc__counter c,
                               uint64_t n)
{
    atomic_fetch_add_explicit(&shard[c], n, memory_order_relaxed);
}

#endif
