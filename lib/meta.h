/* meta.h - small facts of the instance kept in the meta table by name:
 * numbers and short strings that must change in the same transaction as
 * the entries they describe (the outbox's sequences, the bridge's cursor). */
#ifndef SHMC_META_H
#define SHMC_META_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The number stored under name into *v; dflt when there is none (or it is
 * not a number). 0 or a store error. */
int shmc__meta_get_u64(struct shmc__txn *t, const char *name, uint64_t dflt,
                       uint64_t *v);

/* Store v under name (t is a write transaction). */
int shmc__meta_put_u64(struct shmc__txn *t, const char *name, uint64_t v);

/* Store len bytes under name. */
int shmc__meta_put(struct shmc__txn *t, const char *name, const void *data,
                   size_t len);

#endif
