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
    struct shmc__txn t;
    struct shmc__touched touched;
    uint64_t evicted, expired_removed; /* counted at the commit */
};

/* Begin a write transaction on c's instance (reopened after a fork). */
int shmc__writer_begin(shmc_cache *c, struct shmc__writer *w);
void shmc__writer_abort(struct shmc__writer *w);
/* Commit, counting sets entries stored and deletes live entries deleted. */
int shmc__writer_commit(struct shmc__writer *w, uint64_t sets,
                        uint64_t deletes);

#endif
