/* instance.h - an open instance in this process, and the handles on it.
 *
 * LMDB forbids opening one environment twice in a process, so every handle
 * on one directory (same device and inode) shares one instance, counted by
 * references. After fork() the child abandons every instance it inherited
 * (see shmcache.h, FORK) and each handle, on its next call, opens the
 * instance again for the child. */
#ifndef SHMC_INSTANCE_H
#define SHMC_INSTANCE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"
#include "path.h"
#include "protect.h"
#include "shmcache.h"
#include "store.h"

struct shmc__instance {
    dev_t dev;
    ino_t ino;
    unsigned refs;                 /* under the registry lock */
    char *path;
    struct shmc__control ctl;
    struct shmc__store *store;
    _Atomic uint64_t *shard;       /* this process's counters */
    size_t max_direct_key;         /* longer keys are stored hashed */
    uint64_t max_record;           /* half the map */
    struct shmc__instance *next;
};

struct shmc_cache {
    uint64_t id; /* unique in the process: names its per-thread L1 */
    struct shmc__instance *inst;
    /* The fork generation inst was opened in: inst is written before it,
     * with release order, so a thread that sees the generation match sees
     * the instance that goes with it. */
    _Atomic uint64_t generation;
    char *path;
    char *group;
    shmc_opts opts; /* its secrets cleared: protect holds them */
    struct shmc__protect protect;
};

extern _Atomic uint64_t shmc__fork_generation;

/* Open or share the instance of c's path for this process. */
int shmc__instance_attach(shmc_cache *c);

/* Drop c's reference (if c's instance belongs to this process). */
void shmc__instance_detach(shmc_cache *c);

/* The instance to use for c in this process: reopens after a fork. Cheap
 * when nothing has changed: two loads, no system call. */
static inline int shmc__instance_get(shmc_cache *c,
                                     struct shmc__instance **inst)
{
    if (__builtin_expect(
            atomic_load_explicit(&c->generation, memory_order_acquire) ==
                atomic_load_explicit(&shmc__fork_generation,
                                     memory_order_relaxed),
            1)) {
        *inst = c->inst;
        return 0;
    }
    int rc = shmc__instance_attach(c);
    *inst = c->inst;
    return rc;
}

#endif
