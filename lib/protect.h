/* protect.h - what a handle does to protect what the cache holds (see
 * shmcache.h, PROTECTING WHAT THE CACHE HOLDS): its copies of the key
 * secret and value keys, its compression settings, and the check that
 * they are the instance's. */
#ifndef SHMC_PROTECT_H
#define SHMC_PROTECT_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "shmcache.h"

#define SHMC__KEY_ID_LEN 4u

struct shmc__value_key {
    unsigned char key[SHMC_VALUE_KEY_LEN];
    unsigned char id[SHMC__KEY_ID_LEN]; /* names it in a record */
};

struct shmc__protect {
    struct shmc__keying keying; /* max_direct: set once attached */
    size_t compress_threshold;  /* SHMC_NO_COMPRESSION: never */
    int compress_level;
    size_t max_value;           /* the largest value a write stores: set
                                   once attached (SIZE_MAX before) */
    unsigned value_keys;        /* 0: no encryption; [0] is the current */
    struct shmc__value_key value_key[1 + SHMC_MAX_OLD_VALUE_KEYS];
};

/* Check o's protection options and copy them into p. 0 or SHMC_EINVAL. */
int shmc__protect_init(struct shmc__protect *p, const shmc_opts *o);

/* Wipe and free p's copies of secrets. */
void shmc__protect_wipe(struct shmc__protect *p);

/* Check p against the fingerprints the instance recorded, recording them
 * if it has none yet (its first opener decides), and moving the value
 * key's to p's current key when the recorded one is among p's old keys (a
 * rotation). 0, SHMC_EKEYMISMATCH, or a store error. */
int shmc__protect_check(shmc_cache *c, const struct shmc__protect *p);

/* The first 8 bytes of the recorded key-secret fingerprint (zeros when the
 * instance stores keys as given): what says, across hosts, which key
 * secret stored forms are made with. 0 or a store error. */
int shmc__protect_keyspace(struct shmc__txn *t, unsigned char out[8]);

/* SHMC_EKEYMISMATCH if c was opened without keys (SHMC_OPEN_NOKEYS), so
 * that it may not read or write entries; else 0. */
int shmc__protect_entries_allowed(const shmc_cache *c);

/* The value key named id, or NULL. */
const struct shmc__value_key *shmc__protect_key(const struct shmc__protect *p,
                                                const unsigned char *id);

#endif
