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

static void put32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof v);
}

static void put64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof v);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

void shmc__record_restamp(void *dst, const struct shmc__record *r)
{
    unsigned char *p = dst;
    put64(p + 8, r->stored_at);
    put64(p + 16, r->fresh_until);
    put64(p + 24, r->expires_at);
    put64(p + 32, r->version);
}

void shmc__record_encode(void *dst, const struct shmc__record *r)
{
    unsigned char *p = dst;
    p[0] = SHMC__RECORD_FORMAT;
    p[1] = r->flags;
    put16(p + 2, 0);
    put32(p + 4, r->key_len);
    shmc__record_restamp(p, r);
    put32(p + 40, r->value_len);
    put32(p + 44, 0);
    if (r->key_len)
        memcpy(p + SHMC__RECORD_HEADER, r->key, r->key_len);
    if (r->value_len)
        memcpy(p + SHMC__RECORD_HEADER + r->key_len, r->value, r->value_len);
}

int shmc__record_decode(const void *src, size_t len, struct shmc__record *r)
{
    const unsigned char *p = src;
    if (len < SHMC__RECORD_HEADER || p[0] != SHMC__RECORD_FORMAT)
        return SHMC_ECORRUPT;
    r->flags = p[1];
    if (r->flags & ~SHMC__REC_KNOWN_FLAGS)
        return SHMC_ECORRUPT;
    r->key_len = get32(p + 4);
    r->stored_at = get64(p + 8);
    r->fresh_until = get64(p + 16);
    r->expires_at = get64(p + 24);
    r->version = get64(p + 32);
    r->value_len = get32(p + 40);
    if (r->fresh_until > r->expires_at)
        return SHMC_ECORRUPT;
    /* Compare in size_t so that a hostile key_len + value_len cannot wrap. */
    if ((size_t)r->key_len + r->value_len != len - SHMC__RECORD_HEADER)
        return SHMC_ECORRUPT;
    r->key = r->key_len ? p + SHMC__RECORD_HEADER : NULL;
    r->value = p + SHMC__RECORD_HEADER + r->key_len;
    return 0;
}
