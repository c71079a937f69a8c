/* control.h - control.shm: the instance's own shared memory beside LMDB.
 *
 * Layout (all offsets from the start of the file):
 *   header   struct shmc__control_header, its magic written last
 *   counters counter_shards shards of SHMC__COUNTERS_PER_SHARD 64-bit
 *            counters, each shard on cache lines of its own
 *   stamps   stamp_slots + 1 64-bit version stamps (see stamps.h); the
 *            last one is the epoch, moved by changes to many keys at once
 *   locks    lock_slots process-shared robust recursive mutexes, one per
 *            cache line (see locks.c)
 *   recency  recency_slots bytes, the "read in which pass of the clock
 *            hand" marks of eviction (see recency.h)
 * Later sections are added at the end and announced by offsets in the
 * header, with a new layout version. */
#ifndef SHMC_CONTROL_H
#define SHMC_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "path.h"

#define SHMC__CONTROL_NAME "control.shm"
#define SHMC__CONTROL_MAGIC 0x314c5443434d4853ull /* "SHMCCTL1" */
#define SHMC__LAYOUT_VERSION 6u
#define SHMC__COUNTER_SHARDS 64u
#define SHMC__COUNTERS_PER_SHARD 32u /* one shard: four cache lines */
#define SHMC__STAMP_SLOTS 65536u     /* a power of two */
#define SHMC__MAX_LOCK_SLOTS (1u << 20)
#define SHMC__MAX_RECENCY_SLOTS (1u << 26)
#define SHMC__CACHE_LINE 64u

struct shmc__control_header {
    _Atomic uint64_t magic; /* SHMC__CONTROL_MAGIC once initialised */
    uint32_t layout_version;
    uint32_t header_size;
    uint32_t mutex_size;  /* sizeof(pthread_mutex_t) of the creator */
    uint32_t counter_shards;
    uint32_t counters_per_shard;
    uint32_t max_readers; /* creation option */
    uint64_t file_size;
    uint64_t counters_offset;
    uint64_t stamps_offset;
    uint32_t stamp_slots;
    uint32_t lock_slots; /* creation option, a power of two */
    uint64_t locks_offset;
    uint64_t map_size;    /* creation option */
    uint64_t created_at_ms;
    uint64_t recency_offset;
    uint32_t recency_slots; /* creation option, a power of two */
    uint32_t reserved;
    /* Wall clock of the last shmc_sweep(), for shmcache-stat. */
    _Atomic uint64_t last_sweep_ms;
    /* Moved by every commit that adds to the outbox: the futex the bridge
     * sleeps on (outbox.h). */
    _Atomic uint32_t outbox_signal;
    uint32_t reserved2;
    /* Origin time of the newest revocation the bridge applied, and how old
     * it was then (the bridge's lag). */
    _Atomic uint64_t bridge_newest_ms;
    _Atomic uint64_t bridge_lag_ms;
    /* Passes of the eviction clock hand round the cache (recency.h): read
     * by every get, so kept off the line every set writes. */
    _Alignas(SHMC__CACHE_LINE) _Atomic uint32_t evict_pass;
    /* The last entry version handed out (see shmc__version_time). */
    _Alignas(SHMC__CACHE_LINE) _Atomic uint64_t last_version;
};

struct shmc__control {
    int fd;
    size_t size;
    struct shmc__control_header *hdr;
    _Atomic uint64_t *counters; /* counter_shards * counters_per_shard */
    _Atomic uint64_t *stamps;   /* stamp_slots + 1, the last the epoch */
    unsigned char *locks;       /* lock_slots cache lines, a mutex each */
    _Atomic unsigned char *recency; /* recency_slots marks */
};

struct shmc__control_config {
    uint64_t map_size;
    unsigned max_readers;
    unsigned lock_slots;    /* a power of two */
    unsigned recency_slots; /* a power of two */
};

/* Open dirfd's control.shm, creating and initialising it if absent (or left
 * half-made by a creator that died). On success the file is flock()ed
 * exclusively: the caller opens LMDB, then calls shmc__control_unlock, so
 * that opens and closes of the instance never interleave. Returns 0,
 * SHMC_EVERSION, SHMC_ECORRUPT, SHMC_EUNSAFE, -errno. */
int shmc__control_open(struct shmc__control *ctl, int dirfd,
                       const char *dirpath, const struct shmc__access *a,
                       const struct shmc__control_config *cfg);

int shmc__control_lock(struct shmc__control *ctl);
void shmc__control_unlock(struct shmc__control *ctl);

/* Unmap and close. */
void shmc__control_close(struct shmc__control *ctl);

/* A new entry version: above every version handed out before, and above
 * the clock's now_ms << SHMC__VERSION_SHIFT. Because versions follow the
 * clock, a control.shm made anew (after being removed) does not hand out a
 * version an entry still carries. */
uint64_t shmc__control_next_version(struct shmc__control *ctl,
                                    uint64_t now_ms);

/* The mutex of lock slot i (i < lock_slots). */
static inline pthread_mutex_t *shmc__control_lock_slot(struct shmc__control *ctl,
                                                       uint32_t i)
{
    return (pthread_mutex_t *)(ctl->locks + (size_t)i * SHMC__CACHE_LINE);
}

/* The counters of shard i. */
static inline _Atomic uint64_t *shmc__control_shard(struct shmc__control *ctl,
                                                    unsigned i)
{
    return ctl->counters +
           (size_t)(i % ctl->hdr->counter_shards) *
               ctl->hdr->counters_per_shard;
}

#endif
