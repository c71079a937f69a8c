/* payload.c - see payload.h. */
#include "payload.h"

#include <endian.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "crypto.h"
#include "errors.h"

#define RAW_LEN_BYTES 4u

static void put32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof v);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

int shmc__payload_make(const struct shmc__protect *p, const void *val,
                       size_t vlen, struct shmc__payload *pl)
{
    *pl = (struct shmc__payload){.data = val, .len = vlen};
    if (p->compress_threshold != SHMC_NO_COMPRESSION &&
        vlen >= p->compress_threshold && vlen > RAW_LEN_BYTES &&
        vlen <= UINT32_MAX) {
        unsigned char *buf = malloc(vlen);
        if (!buf)
            return shmc__fail(-ENOMEM, "no memory to compress a value");
        /* Worth it only if the frame and its length take less than the
         * value itself. */
        size_t n = shmc__compress(val, vlen, buf + RAW_LEN_BYTES,
                                  vlen - RAW_LEN_BYTES - 1,
                                  p->compress_level);
        if (n) {
            put32(buf, (uint32_t)vlen);
            *pl = (struct shmc__payload){.data = buf,
                                         .len = RAW_LEN_BYTES + n,
                                         .flags = SHMC__REC_COMPRESSED,
                                         .owned = buf};
        } else {
            free(buf);
        }
    }
    pl->stored_len = pl->len;
    if (p->value_keys) {
        pl->flags |= SHMC__REC_ENCRYPTED;
        pl->stored_len += SHMC__KEY_ID_LEN + SHMC__AEAD_OVERHEAD;
    }
    return 0;
}

/* What encryption authenticates beside the bytes: the stored key and the
 * record header. */
static int aad_of(const struct shmc__key *k, const void *record,
                  unsigned char *aad)
{
    memcpy(aad, k->stored, k->stored_len);
    memcpy(aad + k->stored_len, record, SHMC__RECORD_HEADER);
    return (int)(k->stored_len + SHMC__RECORD_HEADER);
}

#define AAD_MAX (SHMC__MAX_DIRECT_KEY + SHMC__RECORD_HEADER)

int shmc__payload_seal(const struct shmc__protect *p,
                       const struct shmc__payload *pl,
                       const struct shmc__key *k, const void *record,
                       void *dst)
{
    unsigned char aad[AAD_MAX];
    const struct shmc__value_key *vk = &p->value_key[0];
    size_t aad_len = (size_t)aad_of(k, record, aad);
    memcpy(dst, vk->id, SHMC__KEY_ID_LEN);
    return shmc__aead_seal(vk->key, aad, aad_len, pl->data, pl->len,
                           (unsigned char *)dst + SHMC__KEY_ID_LEN);
}

void shmc__payload_release(void *p, size_t len)
{
    if (p)
        OPENSSL_cleanse(p, len);
    free(p);
}

void shmc__payload_free(struct shmc__payload *pl)
{
    free(pl->owned);
    pl->owned = NULL;
}

/* Decrypt r's value into a new buffer. */
static int decrypt(const struct shmc__protect *p, const struct shmc__key *k,
                   const struct shmc__record *r, unsigned char **out,
                   size_t *len)
{
    const unsigned char *v = r->value;
    if (r->value_len < SHMC__KEY_ID_LEN + SHMC__AEAD_OVERHEAD)
        return SHMC_ECORRUPT;
    const struct shmc__value_key *vk = shmc__protect_key(p, v);
    if (!vk)
        return SHMC_ECORRUPT;
    unsigned char aad[AAD_MAX];
    size_t aad_len = (size_t)aad_of(k, r->raw, aad);
    size_t sealed = r->value_len - SHMC__KEY_ID_LEN;
    *len = sealed - SHMC__AEAD_OVERHEAD;
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return shmc__fail(-ENOMEM, "no memory to decrypt a value");
    int rc = shmc__aead_open(vk->key, aad, aad_len, v + SHMC__KEY_ID_LEN,
                             sealed, *out);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int shmc__payload_open(const struct shmc__protect *p,
                       const struct shmc__key *k,
                       const struct shmc__record *r, void **owned,
                       const void **val, size_t *len)
{
    unsigned char *plain = NULL;
    const unsigned char *bytes = r->value;
    size_t n = r->value_len;
    *owned = NULL;
    /* Under a value key every record is sealed: one that is not was
     * written by someone without the key, or had its flag cleared. */
    if (p->value_keys && !(r->flags & SHMC__REC_ENCRYPTED))
        return SHMC_ECORRUPT;
    if (r->flags & SHMC__REC_ENCRYPTED) {
        int rc = decrypt(p, k, r, &plain, &n);
        if (rc)
            return rc;
        bytes = plain;
    }
    if (r->flags & SHMC__REC_COMPRESSED) {
        size_t raw = n >= RAW_LEN_BYTES ? get32(bytes) : 0;
        /* The frame vouches for the length before anything is allocated
         * for it, and no write stores more than max_value: a small frame
         * of one repeated byte claiming gigabytes is no value. */
        int rc = n < RAW_LEN_BYTES || raw > p->max_value
                     ? SHMC_ECORRUPT
                     : shmc__frame_check(bytes + RAW_LEN_BYTES,
                                         n - RAW_LEN_BYTES, raw);
        unsigned char *out = rc == 0 ? malloc(raw ? raw : 1) : NULL;
        if (rc == 0)
            rc = !out ? -ENOMEM
                      : shmc__decompress(bytes + RAW_LEN_BYTES,
                                         n - RAW_LEN_BYTES, out, raw);
        free(plain);
        if (rc) {
            free(out);
            return rc == -ENOMEM ? shmc__fail(rc, "no memory to decompress")
                                 : rc;
        }
        plain = out;
        bytes = out;
        n = raw;
    }
    *owned = plain;
    *val = bytes;
    *len = n;
    return 0;
}
