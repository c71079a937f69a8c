/* keys.c - choose how a user's key is stored (see keys.h). */
#include "keys.h"

#include <openssl/sha.h>
#include <string.h>

#include "crypto.h"
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

/* The stored form of a key (or a namespace prefix: whole 0) under the
 * secret: a tag for each namespace level, then, for a whole key, its own
 * digest. Levels beyond SHMC__NS_LEVELS get no tag of their own: they
 * belong to the last level kept. */
static int secret_form(const struct shmc__keying *ky, const unsigned char *key,
                       size_t klen, int whole, unsigned char *out,
                       size_t *len)
{
    static const unsigned char level_domain = 'n', key_domain = 'k';
    unsigned char tag[SHMC__DIGEST_LEN];
    size_t levels = 0, n = 0;
    for (size_t i = 0; i < klen && levels < SHMC__NS_LEVELS; i++) {
        if (key[i] != ky->separator)
            continue;
        const struct shmc__part parts[] = {{&level_domain, 1}, {key, i + 1}};
        if (shmc__hmac_sha256(ky->secret, ky->secret_len, parts, 2, tag))
            return shmc__fail(SHMC_EINTERNAL, "HMAC of a key failed");
        levels++;
        memcpy(out + n, tag, SHMC__NS_TAG_LEN);
        n += SHMC__NS_TAG_LEN;
    }
    if (whole) {
        const struct shmc__part parts[] = {{&key_domain, 1}, {key, klen}};
        if (shmc__hmac_sha256(ky->secret, ky->secret_len, parts, 2, out + n))
            return shmc__fail(SHMC_EINTERNAL, "HMAC of a key failed");
        n += SHMC__DIGEST_LEN;
    }
    *len = n;
    return 0;
}

int shmc__key_make(struct shmc__key *k, const void *key, size_t klen,
                   const struct shmc__keying *ky)
{
    int rc = shmc__key_check(key, klen);
    if (rc)
        return rc;
    k->full = key;
    k->full_len = klen;
    k->table = SHMC__T_ENTRIES;
    if (ky->secret) {
        k->stored = k->digest;
        return secret_form(ky, key, klen, 1, k->digest, &k->stored_len);
    }
    if (klen <= ky->max_direct) {
        k->stored = key;
        k->stored_len = klen;
        return 0;
    }
    if (!SHA256(key, klen, k->digest))
        return shmc__fail(SHMC_EINTERNAL, "SHA-256 of a long key failed");
    k->table = SHMC__T_HASHED;
    k->stored = k->digest;
    k->stored_len = SHMC__DIGEST_LEN;
    return 0;
}

int shmc__key_namespace(const struct shmc__keying *ky, const void *prefix,
                        size_t plen, unsigned char *out, size_t *len)
{
    const unsigned char *p = prefix;
    if (plen == 0 || p[plen - 1] != ky->separator)
        return shmc__fail(SHMC_EINVAL,
                          "with a key secret, a prefix must end with the "
                          "namespace separator '%c'",
                          ky->separator);
    return secret_form(ky, p, plen, 0, out, len);
}
