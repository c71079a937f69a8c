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

/* What evicting after a full map did. */
enum shmc__room {
    SHMC__ROOM_MADE,         /* entries went: the write may fit now */
    SHMC__ROOM_BELOW,        /* the trees are already below the target */
    SHMC__ROOM_BLOCKED,      /* not even a small batch of deletes could be
                                written (reads hold the pages freed
                                lately), or the time ran out: wait */
    SHMC__ROOM_NOTHING_LEFT, /* went round: nothing more can be evicted */
    SHMC__ROOM_ERROR,        /* another error, in *err */
};

/* After a write failed with SHMC_EFULL (and was aborted): evict in
 * transactions of their own until the map is well below high_percent, and,
 * for a big write, further below for each attempt before (0, 1, ...). */
enum shmc__room shmc__evict_after_full(shmc_cache *c, unsigned high_percent,
                                       unsigned attempt, int big, int *err);

#endif
