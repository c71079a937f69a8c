/* keys.c - choose how a user's key is stored (see keys.h). */
#include "keys.h"

#include <openssl/sha.h>
#include <string.h>

#include "errors.h"
#include "shmcache.h"

_Static_assert(SHMC_MAX_KEY_LEN <= UINT16_MAX,
               "a record stores the full key's length in 16 bits");

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

uint64_t shmc__key_hash(const void *key, size_t klen)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (klen * 0xc2b2ae3d27d4eb4full);
    for (; klen >= 8; klen -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix(h ^ w) * 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, klen);
    return mix(h ^ tail);
}

int shmc__key_check(const void *key, size_t klen)
{
    if (!key || klen == 0 || klen > SHMC_MAX_KEY_LEN)
        return shmc__fail(SHMC_EKEYLEN, "key length %zu (allowed: 1 to %u)",
                          klen, SHMC_MAX_KEY_LEN);
    return 0;
}

int shmc__key_make(struct shmc__key *k, const void *key, size_t klen,
                   size_t max_direct)
{
    int rc = shmc__key_check(key, klen);
    if (rc)
        return rc;
    k->full = key;
    k->full_len = klen;
    if (klen <= max_direct) {
        k->table = SHMC__T_ENTRIES;
        k->stored = key;
        k->stored_len = klen;
        return 0;
    }
    if (!SHA256(key, klen, k->digest))
        return shmc__fail(SHMC_EINTERNAL, "SHA-256 of a long key failed");
    k->table = SHMC__T_HASHED;
    k->stored = k->digest;
    k->stored_len = sizeof k->digest;
    return 0;
}
