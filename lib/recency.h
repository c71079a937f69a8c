/* recency.h - the access marks eviction reads (control.shm's recency
 * array).
 *
 * The eviction clock hand counts its passes round the cache. A read of a
 * key writes the current pass into its slot's mark; when the hand comes to
 * an entry whose mark is older than the previous pass, the entry has not
 * been read since the hand last came by, and is evicted (CLOCK). The hand
 * never writes a mark: keys sharing a slot share the mark, and a hand that
 * cleared it while passing one key would take a recent read from the other.
 * The mark is only stored when it changes (once a pass for a hot key), so a
 * hot key does not dirty a shared cache line on every read; the stores are
 * relaxed because a lost mark only costs an entry its second chance. */
#ifndef SHMC_RECENCY_H
#define SHMC_RECENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "control.h"

/* Marks hold the pass modulo 255, plus one: 0 is "never read". */
#define SHMC__RECENCY_PERIOD 255u

/* The hash's low bits pick the stamp slot and the next ones the lock slot
 * (see locks.c); the mark takes the high half. */
static inline _Atomic unsigned char *
shmc__recency_mark(const struct shmc__control *ctl, uint64_t key_hash)
{
    return &ctl->recency[(key_hash >> 32) & (ctl->hdr->recency_slots - 1)];
}

static inline unsigned char shmc__recency_now(const struct shmc__control *ctl)
{
    uint32_t pass = atomic_load_explicit(&ctl->hdr->evict_pass,
                                         memory_order_relaxed);
    return (unsigned char)(pass % SHMC__RECENCY_PERIOD + 1);
}

static inline void shmc__recency_touch(const struct shmc__control *ctl,
                                       uint64_t key_hash)
{
    _Atomic unsigned char *m = shmc__recency_mark(ctl, key_hash);
    unsigned char now = shmc__recency_now(ctl);
    if (atomic_load_explicit(m, memory_order_relaxed) != now)
        atomic_store_explicit(m, now, memory_order_relaxed);
}

/* Whether the key was read in this pass of the hand or the one before. */
static inline int shmc__recency_recent(const struct shmc__control *ctl,
                                       uint64_t key_hash)
{
    unsigned mark = atomic_load_explicit(shmc__recency_mark(ctl, key_hash),
                                         memory_order_relaxed);
    unsigned now = shmc__recency_now(ctl);
    return mark && (now - mark + SHMC__RECENCY_PERIOD) %
                           SHMC__RECENCY_PERIOD <= 1;
}

/* The hand went once more round the cache. */
static inline void shmc__recency_pass(struct shmc__control *ctl)
{
    atomic_fetch_add_explicit(&ctl->hdr->evict_pass, 1, memory_order_relaxed);
}

#endif
