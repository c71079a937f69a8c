/* evict.h - making room: the sweep of expired entries and CLOCK eviction,
 * both a walk over the tables from a position saved in the instance. */
#ifndef SHMC_EVICT_H
#define SHMC_EVICT_H

#include "shmcache.h"
#include "writer.h"

/* Inside a writer's transaction, before it adds: if more of the map is in
 * use than high_percent, evict a small batch (few enough keys that their
 * stamps, not the epoch, move). */
int shmc__make_room(struct shmc__writer *w, unsigned high_percent);

/* After a write failed with SHMC_EFULL (and was aborted): evict in
 * transactions of its own until the map is well below high_percent, and
 * further below for each failed attempt before (0, 1, ...). 0 if
 * something was removed (the write is worth another try), else
 * SHMC_EFULL or an error. */
int shmc__evict_after_full(shmc_cache *c, unsigned high_percent,
                           unsigned attempt);

#endif
