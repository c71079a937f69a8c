/* entry.h - finding a key's record inside a transaction, for readers and
 * writers alike. */
#ifndef SHMC_ENTRY_H
#define SHMC_ENTRY_H

#include "keys.h"
#include "record.h"
#include "store.h"

/* The record stored for k in t. A long key's digest slot may hold another
 * long key with the same digest: that is SHMC_ENOTFOUND, never its value.
 * Returns 0, SHMC_ENOTFOUND, SHMC_ECORRUPT, or a store error. */
int shmc__entry_find(struct shmc__txn *t, const struct shmc__key *k,
                     struct shmc__record *r);

#endif
