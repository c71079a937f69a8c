/* outbox.h - the revocations this host owes the others, kept in the
 * instance until the bridge has put them in Redis (see "The bridge" in
 * shmcache.h and "Revocation across hosts" in DESIGN.md).
 *
 * Table SHMC__T_OUTBOX maps an 8-byte big-endian sequence (so that LMDB's
 * order is the sequence's) to a record: the wall-clock time (8 bytes), the
 * kind (SHMC_REVOKE_*), the key's form (0 the application's key, 1 the
 * stored form under a key secret), then the key. The meta table holds the
 * bound, the next sequence, the acknowledged one and the incarnation. */
#ifndef SHMC_OUTBOX_H
#define SHMC_OUTBOX_H

#include <stddef.h>

#include "control.h"
#include "writer.h"

/* Add a revocation to the outbox in w's transaction, if the instance has a
 * bridge. When the pending records reach the bound, one SHMC_REVOKE_ALL
 * record stands for this and every later revocation until the bridge
 * catches up (counted as overflows), so nothing is silently dropped and
 * the outbox stays bounded. 0 or a store error. */
int shmc__outbox_append(struct shmc__writer *w, unsigned kind,
                        int stored_form, const void *key, size_t klen);

/* After a commit that added to the outbox: wake the bridge. */
void shmc__outbox_signal(struct shmc__control *ctl);

#endif
