/* locks.c - shmc_lock and shmc_unlock: the per-key lock table of
 * control.shm (mutexes made in control.c: process-shared, robust,
 * recursive). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "locks.h"
#include "shmcache.h"
#include "stats.h"

/* The hash's low bits pick the key's stamp slot; the lock slot takes the
 * next ones, so that keys sharing one do not also share the other. */
static uint32_t slot_of(const struct shmc__instance *inst, const void *key,
                        size_t klen)
{
    return (uint32_t)(shmc__key_hash(key, klen) >> 16) &
           (inst->ctl.hdr->lock_slots - 1);
}

/* Wait for m until timeout_ms has passed. */
static int wait_for(pthread_mutex_t *m, uint64_t timeout_ms)
{
    if (timeout_ms == SHMC_LOCK_FOREVER)
        return pthread_mutex_lock(m);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t secs = timeout_ms / 1000;
    deadline.tv_sec += (time_t)secs;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &deadline);
}

/* What the outcome of a lock attempt means for the caller: EOWNERDEAD is
 * handled here and only here. */
static int outcome(struct shmc__instance *inst, pthread_mutex_t *m, int rc)
{
    switch (rc) {
    case 0:
        shmc__count(inst->shard, SHMC__C_LOCKS, 1);
        return 0;
    case EOWNERDEAD:
        /* The holder died inside its critical section. The mutex itself is
         * ours and sound once marked so; what it protected is for the
         * caller to redo. */
        pthread_mutex_consistent(m);
        shmc__count(inst->shard, SHMC__C_LOCKS, 1);
        shmc__count(inst->shard, SHMC__C_LOCK_RECOVERIES, 1);
        return SHMC_LOCK_RECOVERED;
    case EBUSY:
    case ETIMEDOUT:
        shmc__count(inst->shard, SHMC__C_LOCK_TIMEOUTS, 1);
        return shmc__fail(SHMC_ETIMEDOUT, "lock: still held by another "
                                          "thread or process");
    }
    return shmc__fail(SHMC_EINTERNAL, "lock: %s", strerror(rc));
}

int shmc_lock(shmc_cache *c, const void *key, size_t klen,
              uint64_t timeout_ms, shmc_keylock *lock)
{
    struct shmc__instance *inst;
    if (lock)
        lock->cache = NULL;
    if (!c || !lock)
        return shmc__fail(SHMC_EINVAL, "shmc_lock: NULL argument");
    int rc = shmc__key_check(key, klen);
    if (rc == 0)
        rc = shmc__instance_get(c, &inst);
    if (rc)
        return rc;
    uint32_t slot = slot_of(inst, key, klen);
    pthread_mutex_t *m = shmc__control_lock_slot(&inst->ctl, slot);
    rc = pthread_mutex_trylock(m);
    if (rc == EBUSY && timeout_ms > 0) {
        shmc__count(inst->shard, SHMC__C_LOCK_WAITS, 1);
        rc = wait_for(m, timeout_ms);
    }
    rc = outcome(inst, m, rc);
    if (rc >= 0) {
        lock->cache = c;
        lock->slot = slot;
    }
    return rc;
}

int shmc_unlock(shmc_keylock *lock)
{
    struct shmc__instance *inst;
    if (!lock || !lock->cache)
        return shmc__fail(SHMC_EINVAL, "shmc_unlock: lock not held");
    int rc = shmc__instance_get(lock->cache, &inst);
    if (rc)
        return rc;
    if (lock->slot >= inst->ctl.hdr->lock_slots)
        return shmc__fail(SHMC_EINVAL, "shmc_unlock: no lock slot %u",
                          lock->slot);
    rc = pthread_mutex_unlock(shmc__control_lock_slot(&inst->ctl,
                                                      lock->slot));
    if (rc)
        return shmc__fail(SHMC_EINVAL, "shmc_unlock: %s", strerror(rc));
    lock->cache = NULL;
    return 0;
}

unsigned shmc__locks_held(struct shmc__control *ctl)
{
    unsigned held = 0;
    for (uint32_t i = 0; i < ctl->hdr->lock_slots; i++) {
        /* glibc keeps the holder's thread id in the mutex; a relaxed look
         * at it may be a moment out of date, which is all a count needs. */
        const pthread_mutex_t *m = shmc__control_lock_slot(ctl, i);
        held += __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != 0;
    }
    return held;
}
