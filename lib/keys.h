/* keys.h - where a user's key is stored: as itself, or under its digest. */
#ifndef SHMC_KEYS_H
#define SHMC_KEYS_H

#include <stddef.h>

#include "store.h"

#define SHMC__DIGEST_LEN 32u
/* The longest key stored as itself: LMDB's default key limit. An LMDB
 * built with a larger limit must not change which table a key goes to. */
#define SHMC__MAX_DIRECT_KEY 511u
/* Under a key secret, a key is stored as one short HMAC per namespace level
 * (up to SHMC__NS_LEVELS) followed by the HMAC of the whole key: every key
 * of a namespace shares the namespace's stored prefix. */
#define SHMC__NS_LEVELS 8u
#define SHMC__NS_TAG_LEN 8u
#define SHMC__SECRET_KEY_MAX (SHMC__NS_LEVELS * SHMC__NS_TAG_LEN + SHMC__DIGEST_LEN)

/* A key as the store sees it. Keys that fit LMDB's key limit are stored as
 * themselves in the entries table. Longer ones are stored in the hashed
 * table under their SHA-256; their record carries the full key, which every
 * read compares, so a digest collision can only ever be a miss. The two
 * tables keep a short key that happens to equal some digest from ever
 * meeting a long key's record. */
struct shmc__key {
    enum shmc__table table;
    const void *stored;     /* what LMDB is given */
    size_t stored_len;
    const void *full;       /* the user's key */
    size_t full_len;
    /* A long key's SHA-256; or, under a key secret, the stored key. */
    unsigned char digest[SHMC__SECRET_KEY_MAX];
};

/* How a handle stores keys: the instance's direct-key limit and, with a
 * key secret, the secret and its namespace separator. */
struct shmc__keying {
    size_t max_direct;
    const unsigned char *secret; /* NULL: keys are stored as given */
    size_t secret_len;
    unsigned char separator;
};

/* 0 if key is a key the cache accepts (1 to SHMC_MAX_KEY_LEN bytes), else
 * SHMC_EKEYLEN with the length in shmc_last_error(). */
int shmc__key_check(const void *key, size_t klen);

/* Fill k for the user's key. k->stored may point to k->digest or to key, so
 * k and key must outlive its use. Returns 0, SHMC_EKEYLEN, or SHMC_EINTERNAL
 * when the digest cannot be computed. */
int shmc__key_make(struct shmc__key *k, const void *key, size_t klen,
                   const struct shmc__keying *ky);

/* Under a key secret: the stored prefix shared by every key that starts
 * with prefix, which must end with the separator, into out (room for
 * SHMC__SECRET_KEY_MAX bytes); *len gets its length. 0, SHMC_EINVAL (the
 * prefix does not end a namespace), SHMC_EINTERNAL. */
int shmc__key_namespace(const struct shmc__keying *ky, const void *prefix,
                        size_t plen, unsigned char *out, size_t *len);

/* A fast 64-bit hash of the user's key, for the version-stamp slots and
 * the per-thread read cache (not for storage: collisions only cost a
 * needless invalidation or an L1 miss). */
uint64_t shmc__key_hash(const void *key, size_t klen);

/* Whether k is stored under its digest, so its record carries the full key. */
static inline int shmc__key_hashed(const struct shmc__key *k)
{
    return k->table == SHMC__T_HASHED;
}

#endif
