/* record.c - encode and decode entries; see record.h for the layout. */
#include "record.h"

#include <endian.h>
#include <string.h>

#include "shmcache.h"

static void put16(unsigned char *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, sizeof v);
}

static void put64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof v);
}

static void put48(unsigned char *p, uint64_t v)
{
    unsigned char b[8];
    put64(b, v < SHMC__TIME_NEVER48 ? v : SHMC__TIME_NEVER48);
    memcpy(p, b, 6);
}

static uint16_t get16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return le16toh(v);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

static uint64_t get48(const unsigned char *p)
{
    unsigned char b[8] = {0};
    memcpy(b, p, 6);
    uint64_t v = get64(b);
    return v == SHMC__TIME_NEVER48 ? UINT64_MAX : v;
}

void shmc__record_encode(void *dst, const struct shmc__record *r)
{
    unsigned char *p = dst;
    p[0] = SHMC__RECORD_FORMAT;
    p[1] = r->flags;
    put16(p + 2, r->key_len);
    put64(p + 4, r->version);
    put48(p + 12, r->fresh_until);
    put48(p + 18, r->expires_at);
    if (r->key_len)
        memcpy(p + SHMC__RECORD_HEADER, r->key, r->key_len);
    if (r->value && r->value_len)
        memcpy(p + SHMC__RECORD_HEADER + r->key_len, r->value, r->value_len);
}

const char *shmc__record_problem(const void *src, size_t len,
                                 struct shmc__record *r)
{
    const unsigned char *p = src;
    if (len < SHMC__RECORD_HEADER)
        return "shorter than a record header";
    if (p[0] != SHMC__RECORD_FORMAT)
        return "unknown record format";
    r->flags = p[1];
    if (r->flags & ~SHMC__REC_KNOWN_FLAGS)
        return "unknown record flags";
    r->key_len = get16(p + 2);
    r->version = get64(p + 4);
    r->fresh_until = get48(p + 12);
    r->expires_at = get48(p + 18);
    if (r->fresh_until > r->expires_at)
        return "fresh-until after expires-at";
    if (r->key_len > len - SHMC__RECORD_HEADER)
        return "key length beyond the record";
    r->raw = p;
    r->key = r->key_len ? p + SHMC__RECORD_HEADER : NULL;
    r->value = p + SHMC__RECORD_HEADER + r->key_len;
    r->value_len = len - SHMC__RECORD_HEADER - r->key_len;
    return NULL;
}

void shmc__record_meta(const struct shmc__record *r, shmc_meta *m)
{
    m->version = r->version;
    m->stored_at_ms = shmc__version_time(r->version);
    m->fresh_until_ms = r->fresh_until;
    m->expires_at_ms = r->expires_at;
    m->value_len = (uint32_t)r->value_len;
}
