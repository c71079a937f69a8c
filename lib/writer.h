/* writer.h - one LMDB write transaction and what it changes, shared by the
 * modules that write (write.c, evict.c).
 *
 * Every committed change passes through shmc__writer_commit(): it moves the
 * version stamps of the keys changed (so that no process trusts an old
 * copy, see stamps.h) around the commit, and counts the change. */
#ifndef SHMC_WRITER_H
#define SHMC_WRITER_H

#include <stdint.h>

#include "instance.h"
#include "stamps.h"
#include "store.h"

struct shmc__writer {
    struct shmc__instance *inst;
    const struct shmc__protect *protect; /* the handle's */
    struct shmc__txn t;
    struct shmc__touched touched;
    /* What the transaction did, counted at the commit: entries stored,
     * live entries deleted, live entries evicted, expired ones removed. */
    uint64_t sets, deletes, evicted, expired_removed;
    /* Times the eviction hand went round in it (recency.h). */
    unsigned hand_passes;
    /* Bytes of the largest record it wrote. */
    size_t largest_record;
    /* Records it added to the outbox; revocations that found it full. */
    unsigned outbox_added;
    uint64_t outbox_overflows;
};

/* Begin a write transaction on c's instance (reopened after a fork). */
int shmc__writer_begin(shmc_cache *c, struct shmc__writer *w);
void shmc__writer_abort(struct shmc__writer *w);
int shmc__writer_commit(struct shmc__writer *w);

/* A change made inside one write transaction by shmc__writer_run(). It
 * returns 0 to have the transaction committed, with the caller's answer in
 * *answer (0, or e.g. SHMC_ENOTFOUND for a delete that found nothing), or
 * an error to have it aborted. It may run more than once (see below), so
 * it must leave arg as it found it until the commit. */
typedef int (*shmc__change_fn)(struct shmc__writer *w, void *arg,
                               int *answer);

/* Writer flag: the change adds to the map; make room first. */
#define SHMC__WRITE_ADDS 0x1u
/* Writer flag: allowed on a handle opened with SHMC_OPEN_NOKEYS (it never
 * reads or writes a value, so it needs no keys). */
#define SHMC__WRITE_MAINTENANCE 0x2u
#define SHMC__WRITER_FLAGS (SHMC__WRITE_ADDS | SHMC__WRITE_MAINTENANCE)

/* Run change in a write transaction and commit it; return the change's
 * answer, or an error. With SHMC__WRITE_ADDS a small batch is evicted first
 * when the map is above the handle's high watermark. When LMDB finds the
 * map full, the change runs again: after waiting for readers that still
 * see freed pages, or after evicting, so that a write fails with
 * SHMC_EFULL only when it cannot fit with everything evictable evicted
 * (or readers held the pages for a second). */
int shmc__writer_run(shmc_cache *c, unsigned flags, shmc__change_fn change,
                     void *arg);

#endif
