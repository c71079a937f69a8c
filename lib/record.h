/* record.h - the bytes of one entry: a fixed little-endian header, the full
 * key (only for keys stored under their digest), then the value.
 *
 *   off size field
 *     0    1 format        SHMC__RECORD_FORMAT
 *     1    1 flags         SHMC__REC_* bits
 *     2    2 key_len       length of the stored full key, 0 if none
 *     4    8 version       changes on every write of the key; also the
 *                          write time: see shmc__version_time()
 *    12    6 fresh_until   ms since the epoch, 48 bits; all ones: never
 *    18    6 expires_at    ms since the epoch, 48 bits; all ones: never
 *    24      key bytes, then value bytes (value length: the rest)
 *
 * The header is small on purpose: a get's cost is LMDB's walk through the
 * pages, and every byte of header makes each entry bigger, the tree wider
 * and the walk slower. 48-bit milliseconds last until the year 10889.
 *
 * LMDB aligns values only to 2 bytes, so fields are read with memcpy. */
#ifndef SHMC_RECORD_H
#define SHMC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "shmcache.h"

#define SHMC__RECORD_FORMAT 1u
#define SHMC__RECORD_HEADER 24u
/* The largest time a record holds; later times are stored as "never". */
#define SHMC__TIME_NEVER48 0xffffffffffffull

/* Flags. A record with an unknown flag is refused; the byte keeps room for
 * compression and encryption. */
#define SHMC__REC_NEGATIVE 0x01u   /* a cached "not found": no value */
#define SHMC__REC_COMPRESSED 0x02u /* the value is stored compressed */
#define SHMC__REC_ENCRYPTED 0x04u  /* the value is stored encrypted */
#define SHMC__REC_KNOWN_FLAGS 0x07u
/* Flags whose values must go through payload.h to be read. */
#define SHMC__REC_ENCODED (SHMC__REC_COMPRESSED | SHMC__REC_ENCRYPTED)

struct shmc__record {
    uint8_t flags;
    uint64_t version;
    uint64_t fresh_until; /* UINT64_MAX: never */
    uint64_t expires_at;  /* UINT64_MAX: never */
    const void *key;      /* the full key, or NULL */
    uint16_t key_len;
    const void *value;
    size_t value_len;
    const void *raw; /* where the record starts (decode only) */
};

enum shmc__freshness { SHMC__FRESH, SHMC__STALE, SHMC__EXPIRED };

/* Versions are hybrid clocks: the wall clock in ms shifted left by
 * SHMC__VERSION_SHIFT, plus a counter for writes within one millisecond,
 * and never smaller than the previous version + 1. So a version is unique
 * and increasing, and tells when the entry was written without a field of
 * its own (it runs ahead of the clock only if the clock steps back or more
 * than 65536 writes land in one millisecond). */
#define SHMC__VERSION_SHIFT 16

static inline uint64_t shmc__version_time(uint64_t version)
{
    return version >> SHMC__VERSION_SHIFT;
}

/* Bytes needed to encode r (header + key + value). */
static inline size_t shmc__record_size(const struct shmc__record *r)
{
    return SHMC__RECORD_HEADER + (size_t)r->key_len + r->value_len;
}

/* Write r into dst, which holds shmc__record_size(r) bytes; with a NULL
 * value, the header and key only (the value's bytes are written after). */
void shmc__record_encode(void *dst, const struct shmc__record *r);

/* Parse len bytes at src into r; key and value point into src. Pure: reads
 * nothing but src[0..len). Returns NULL, or what makes the bytes something
 * other than a well-formed record of a known format. */
const char *shmc__record_problem(const void *src, size_t len,
                                 struct shmc__record *r);

/* shmc__record_problem() as 0 or SHMC_ECORRUPT. */
static inline int shmc__record_decode(const void *src, size_t len,
                                      struct shmc__record *r)
{
    return shmc__record_problem(src, len, r) ? SHMC_ECORRUPT : 0;
}

/* The metadata callers see of r. */
void shmc__record_meta(const struct shmc__record *r, shmc_meta *m);

static inline enum shmc__freshness
shmc__record_freshness(const struct shmc__record *r, uint64_t now)
{
    if (now < r->fresh_until)
        return SHMC__FRESH;
    return now < r->expires_at ? SHMC__STALE : SHMC__EXPIRED;
}

#endif
