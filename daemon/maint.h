/* maint.h - one instance shmcached looks after, and one round of its
 * maintenance: free the reader slots of dead processes, sweep expired
 * entries for a bounded time, and evict down to the low watermark when the
 * map is above the high one. */
#ifndef SHMCD_MAINT_H
#define SHMCD_MAINT_H

#include "config.h"
#include "shmcache.h"

/* The file in an instance directory that shmcached holds locked, with its
 * pid inside, so that a second daemon on the instance refuses to start. */
#define MAINT_LOCK_FILE "shmcached.lock"

struct maint_instance {
    char *path;
    shmc_cache *cache;
    struct bridge *bridge; /* NULL: none */
    uint64_t map_size; /* fixed when the instance was made */
    int lock_fd;
    /* The failure of the last round, 0 for none: a failure that lasts is
     * logged once, not every tick. */
    int last_rc;
};

/* Open the instance at path with the options of cfg (creating it if
 * missing), take its lock file, and start its Redis bridge when cfg has
 * one (a bridge that cannot start is logged and left out). Returns 0, or
 * -1 after logging why. */
int maint_attach(struct maint_instance *m, const char *path,
                 const struct config *cfg);

/* Stop the bridge, close the instance and release its lock file. */
void maint_release(struct maint_instance *m);

/* One round of maintenance with the settings of cfg (sweep budget,
 * watermarks). Failures are logged, never fatal: the next round tries
 * again. */
void maint_tick(struct maint_instance *m, const struct config *cfg);

#endif
