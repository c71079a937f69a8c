/* ops.h - the read and write entry points behind the public calls, with
 * what only the library may ask for: negative entries. */
#ifndef SHMC_OPS_H
#define SHMC_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "shmcache.h"

/* Read flag: report a negative entry as SHMC__NEGATIVE instead of a miss. */
#define SHMC__GET_NEGATIVE 0x100u
/* Read flag: a second look by the library itself; counts as no read. */
#define SHMC__GET_UNCOUNTED 0x200u
/* Positive return of a read with SHMC__GET_NEGATIVE: a cached "not found"
 * (*val stays NULL). */
#define SHMC__NEGATIVE 16

/* shmc_get_alloc() with internal flags as well. */
int shmc__read_alloc(shmc_cache *c, const void *key, size_t klen,
                     unsigned flags, void **val, size_t *len,
                     shmc_meta *meta);

/* shmc_set_ex() writing a record with the given SHMC__REC_* flags; *meta
 * (may be NULL) receives what was stored. */
int shmc__write_record(shmc_cache *c, const void *key, size_t klen,
                       const void *val, size_t vlen,
                       const shmc_set_opts *opts, unsigned rec_flags,
                       shmc_meta *meta);

/* Delete flag: write the delete to the outbox too (a revocation), in the
 * same transaction, when the instance has a bridge. */
#define SHMC__DELETE_ANNOUNCE 0x100u

struct shmc__keying;

/* Delete one key (SHMC_ENOTFOUND when nothing live went), stored as keying
 * says (NULL: as the handle's). flags: SHMC__DELETE_ANNOUNCE and writer
 * flags (writer.h). */
int shmc__delete_key(shmc_cache *c, const void *key, size_t klen,
                     const struct shmc__keying *keying, unsigned flags);

/* shmc_del_prefix(); with stored_form, prefix is already the stored prefix
 * of a namespace (under a key secret), as revocations carry it. */
int shmc__delete_prefix(shmc_cache *c, const void *prefix, size_t plen,
                        int stored_form, unsigned flags, size_t *deleted);

/* shmc_clear() with flags as above. */
int shmc__delete_all(shmc_cache *c, unsigned flags);

#endif
