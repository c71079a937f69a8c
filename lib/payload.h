/* payload.h - a value as a record stores it: compressed if that makes it
 * smaller, then encrypted, as the handle's protections say (protect.h).
 *
 *   compressed  u32 (little-endian) length of the value, then a zstd frame
 *   encrypted   4-byte key id, then AES-256-GCM nonce || ciphertext || tag
 *               of the (possibly compressed) bytes; authenticated with them:
 *               the stored key and the record's 24-byte header (format,
 *               flags, version, times), so a record moved to another key,
 *               or changed in any byte, does not open. */
#ifndef SHMC_PAYLOAD_H
#define SHMC_PAYLOAD_H

#include <stddef.h>

#include "keys.h"
#include "protect.h"
#include "record.h"

/* A value on its way into a record. */
struct shmc__payload {
    const void *data; /* what is stored, before encryption */
    size_t len;
    unsigned flags;    /* SHMC__REC_COMPRESSED, SHMC__REC_ENCRYPTED */
    size_t stored_len; /* what the record's value takes */
    void *owned;       /* freed by shmc__payload_free */
};

/* Prepare val for a record. 0 or -ENOMEM. */
int shmc__payload_make(const struct shmc__protect *p, const void *val,
                       size_t vlen, struct shmc__payload *pl);

/* Write an encrypted payload's stored bytes at dst (stored_len bytes),
 * once the record's header is written at record. 0 or SHMC_EINTERNAL. */
int shmc__payload_seal(const struct shmc__protect *p,
                       const struct shmc__payload *pl,
                       const struct shmc__key *k, const void *record,
                       void *dst);

void shmc__payload_free(struct shmc__payload *pl);

/* Wipe and free len bytes of a value taken out of a record: what the cache
 * holds may be keys and tokens. p may be NULL. */
void shmc__payload_release(void *p, size_t len);

/* The value of record r of key k: *val and *len point into r, or into
 * *owned (the caller frees it) when r is compressed or encrypted. 0;
 * SHMC_ECORRUPT when it does not open (wrong or unknown key, altered
 * bytes, damaged frame); -ENOMEM. */
int shmc__payload_open(const struct shmc__protect *p,
                       const struct shmc__key *k,
                       const struct shmc__record *r, void **owned,
                       const void **val, size_t *len);

#endif
