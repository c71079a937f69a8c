/* record.h - the bytes of one entry: a fixed little-endian header, the full
 * key (only for keys stored under their digest), then the value.
 *
 *   off size field
 *     0    1 format        SHMC__RECORD_FORMAT
 *     1    1 flags         SHMC__REC_* bits
 *     2    2 reserved      0
 *     4    4 key_len       length of the stored full key, 0 if none
 *     8    8 stored_at     ms since the epoch
 *    16    8 fresh_until   ms since the epoch, UINT64_MAX: never stale
 *    24    8 expires_at    ms since the epoch, UINT64_MAX: never expires
 *    32    8 version       changes on every write of the key
 *    40    4 value_len
 *    44    4 reserved      0
 *    48      key bytes, then value bytes
 *
 * LMDB aligns values only to 2 bytes, so fields are read with memcpy. */
#ifndef SHMC_RECORD_H
#define SHMC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define SHMC__RECORD_FORMAT 1u
#define SHMC__RECORD_HEADER 48u

/* No flag is defined yet; the byte is kept for compression, encryption and
 * negative entries, and a record with an unknown flag is refused. */
#define SHMC__REC_KNOWN_FLAGS 0x00u

struct shmc__record {
    uint8_t flags;
    uint64_t stored_at;
    uint64_t fresh_until;
    uint64_t expires_at;
    uint64_t version;
    const void *key; /* the full key, or NULL */
    uint32_t key_len;
    const void *value;
    uint32_t value_len;
};

enum shmc__freshness { SHMC__FRESH, SHMC__STALE, SHMC__EXPIRED };

/* Bytes needed to encode r (header + key + value). */
static inline size_t shmc__record_size(const struct shmc__record *r)
{
    return SHMC__RECORD_HEADER + (size_t)r->key_len + r->value_len;
}

/* Write r into dst, which holds shmc__record_size(r) bytes. */
void shmc__record_encode(void *dst, const struct shmc__record *r);

/* Parse len bytes at src into r; key and value point into src. Pure: reads
 * nothing but src[0..len). Returns 0, or SHMC_ECORRUPT if the bytes are not
 * a well-formed record of a known format. */
int shmc__record_decode(const void *src, size_t len, struct shmc__record *r);

/* Rewrite only the times and version of an encoded record in place. */
void shmc__record_restamp(void *dst, const struct shmc__record *r);

static inline enum shmc__freshness
shmc__record_freshness(const struct shmc__record *r, uint64_t now)
{
    if (now < r->fresh_until)
        return SHMC__FRESH;
    return now < r->expires_at ? SHMC__STALE : SHMC__EXPIRED;
}

#endif
