/* l1.h - the per-thread read cache: copies of entries recently read from
 * LMDB, each trusted only while the version stamps of its key are what
 * they were when it was copied (see stamps.h). A hit costs a hash, two
 * loads from control.shm and a copy: no LMDB transaction, no B-tree walk.
 *
 * One cache per thread and handle, so a hit takes no lock and a view
 * callback can be handed bytes no other thread writes. Direct-mapped: a
 * key has one place, and a newer copy simply replaces what was there. */
#ifndef SHMC_L1_H
#define SHMC_L1_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "record.h"
#include "stamps.h"

/* Key + value bytes one entry holds; larger items are not copied. */
#define SHMC__L1_ITEM_MAX 192u

struct shmc__l1;

/* The calling thread's cache for the handle of this id, made on first use
 * with room for `entries` items (rounded up to a power of two). NULL if
 * memory is short: the caller reads from LMDB as if there were no cache. */
struct shmc__l1 *shmc__l1_of_thread(uint64_t handle_id, unsigned entries);

/* Free the calling thread's cache for this handle (at shmc_close; other
 * threads' caches of it are freed when those threads exit). */
void shmc__l1_forget(uint64_t handle_id);

/* A trusted copy of the key, as a record whose key and value point into
 * the cache (valid until the next store into it): 0, or SHMC_ENOTFOUND. */
int shmc__l1_find(struct shmc__l1 *l1, const struct shmc__control *ctl,
                  uint64_t key_hash, const void *key, size_t klen,
                  struct shmc__record *r);

/* Copy a record just read from LMDB, tagged with the stamps v read before
 * the read began. The caller has checked shmc__stamps_same(v). Items too
 * big, and stores while the cache is held, are skipped. */
void shmc__l1_store(struct shmc__l1 *l1, const struct shmc__stamp_view *v,
                    uint64_t key_hash, const void *key, size_t klen,
                    const struct shmc__record *r);

/* While held, nothing is stored into the cache: a view callback is reading
 * bytes inside it, and a nested read must not overwrite them. Nests. */
void shmc__l1_hold(struct shmc__l1 *l1);
void shmc__l1_release(struct shmc__l1 *l1);

#endif
