/* http_etag.c - ETags and If-None-Match (see "HTTP helpers" in
 * shmcache.h). */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "http_syntax.h"
#include "shmcache.h"

static int put_etag(char kind, const unsigned char *bytes, size_t n,
                    int weak, char *out, size_t size)
{
    size_t need = (weak ? 2 : 0) + 3 + 2 * n + 1;
    if (!out || size < need)
        return shmc__fail(SHMC_EBUFSMALL, "ETag: %zu bytes needed", need);
    char *p = out;
    if (weak) {
        memcpy(p, "W/", 2);
        p += 2;
    }
    *p++ = '"';
    *p++ = kind;
    for (size_t i = 0; i < n; i++, p += 2)
        snprintf(p, 3, "%02x", bytes[i]);
    *p++ = '"';
    *p = '\0';
    return 0;
}

int shmc_http_etag(uint64_t version, int weak, char *out, size_t size)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--, version >>= 8)
        b[i] = (unsigned char)version;
    shmc__clear_error();
    return put_etag('v', b, sizeof b, weak, out, size);
}

int shmc_http_etag_of(const void *body, size_t len, int weak, char *out,
                      size_t size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    shmc__clear_error();
    if ((!body && len) ||
        !EVP_Digest(body ? body : "", len, digest, &dlen, EVP_sha256(), NULL))
        return shmc__fail(body || !len ? SHMC_EINTERNAL : SHMC_EINVAL,
                          "ETag: cannot hash the body");
    return put_etag('h', digest, 16, weak, out, size);
}

/* An entity-tag at *p (before end): [W/]"etagc*". Sets its opaque part
 * (quotes included) and moves *p past it. 0 or -1. */
static int entity_tag(const char **p, const char *end, const char **opaque,
                      size_t *olen)
{
    const char *s = *p;
    if (end - s >= 2 && s[0] == 'W' && s[1] == '/')
        s += 2;
    if (s == end || *s != '"')
        return -1;
    const char *q = s + 1;
    while (q < end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x21 || c == 0x7f)
            return -1;
        q++;
    }
    if (q == end)
        return -1;
    *opaque = s;
    *olen = (size_t)(q + 1 - s);
    *p = q + 1;
    return 0;
}

int shmc_http_if_none_match(const char *header, size_t len, const char *etag)
{
    shmc__clear_error();
    const char *mine, *end = header + len, *p = header;
    size_t mlen;
    const char *e = etag;
    if (!header || !etag || len > SHMC_HTTP_MAX_FIELD ||
        entity_tag(&e, etag + strlen(etag), &mine, &mlen) || *e)
        return shmc__fail(SHMC_EINVAL, "If-None-Match: bad field or ETag");
    p = shmc__http_skip_ows(p, end);
    if (end - p >= 1 && *p == '*' &&
        shmc__http_skip_ows(p + 1, end) == end)
        return 1;
    int match = 0, items = 0;
    while (p < end) {
        const char *opaque;
        size_t olen;
        if (*p == ',') { /* empty list elements are allowed */
            p = shmc__http_skip_ows(p + 1, end);
            continue;
        }
        if (entity_tag(&p, end, &opaque, &olen))
            return shmc__fail(SHMC_EINVAL, "If-None-Match: not a list of "
                                           "entity-tags");
        items++;
        match |= olen == mlen && memcmp(opaque, mine, mlen) == 0;
        p = shmc__http_skip_ows(p, end);
        if (p < end && *p != ',')
            return shmc__fail(SHMC_EINVAL,
                              "If-None-Match: ',' expected between tags");
    }
    if (!items)
        return shmc__fail(SHMC_EINVAL, "If-None-Match: empty");
    return match;
}
