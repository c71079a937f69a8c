/* recency.h - the access marks eviction reads (control.shm's recency
 * array).
 *
 * A read of a key sets its slot's mark; the eviction clock hand clears the
 * mark of each live entry it passes and evicts the entries whose mark is
 * already clear: not read since the hand last came by (CLOCK). The mark is
 * only stored when it is clear, so a hot key does not dirty a shared cache
 * line on every read; the stores are relaxed because a lost mark only costs
 * an entry its second chance. Keys sharing a slot share the mark. */
#ifndef SHMC_RECENCY_H
#define SHMC_RECENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "control.h"

/* The hash's low bits pick the stamp slot and the next ones the lock slot
 * (see locks.c); the mark takes the high half. */
static inline _Atomic unsigned char *
shmc__recency_mark(const struct shmc__control *ctl, uint64_t key_hash)
{
    return &ctl->recency[(key_hash >> 32) & (ctl->hdr->recency_slots - 1)];
}

static inline void shmc__recency_touch(const struct shmc__control *ctl,
                                       uint64_t key_hash)
{
    _Atomic unsigned char *m = shmc__recency_mark(ctl, key_hash);
    if (!atomic_load_explicit(m, memory_order_relaxed))
        atomic_store_explicit(m, 1, memory_order_relaxed);
}

/* Clear the mark; 1 if it was set (the entry keeps its place). */
static inline int shmc__recency_take(const struct shmc__control *ctl,
                                     uint64_t key_hash)
{
    _Atomic unsigned char *m = shmc__recency_mark(ctl, key_hash);
    if (!atomic_load_explicit(m, memory_order_relaxed))
        return 0;
    atomic_store_explicit(m, 0, memory_order_relaxed);
    return 1;
}

#endif
