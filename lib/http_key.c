/* http_key.c - cache keys for HTTP responses (see "HTTP helpers" in
 * shmcache.h). */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http_syntax.h"
#include "shmcache.h"

#define MAX_PARAMS 256u

/* Where the key is being written. */
struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->size)
        memcpy(o->buf + o->len, s,
               n < o->size - o->len ? n : o->size - o->len);
    o->len += n;
}

static void put_char(struct out *o, char c)
{
    put(o, &c, 1);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* A query parameter, normalised into buf. -1 for a bad escape. */
static int normalise(const char *s, size_t n, char *buf, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            buf[o++] = s[i];
            continue;
        }
        if (i + 2 >= n)
            return -1;
        int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        unsigned char c = (unsigned char)(hi << 4 | lo);
        if (unreserved(c)) {
            buf[o++] = (char)c;
        } else {
            static const char digits[] = "0123456789ABCDEF";
            buf[o++] = '%';
            buf[o++] = digits[hi];
            buf[o++] = digits[lo];
        }
        i += 2;
    }
    *len = o;
    return 0;
}

struct param {
    const char *at;
    size_t len;
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->at, y->at, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The query (qn bytes) normalised, in sorted order, into o. */
static int put_query(struct out *o, const char *q, size_t qn)
{
    static _Thread_local char norm[SHMC_HTTP_MAX_FIELD];
    struct param p[MAX_PARAMS];
    size_t np = 0, used = 0;
    for (size_t i = 0; i <= qn;) {
        size_t j = i;
        while (j < qn && q[j] != '&')
            j++;
        if (j > i) {
            size_t len;
            if (np == MAX_PARAMS ||
                normalise(q + i, j - i, norm + used, &len))
                return -1;
            p[np++] = (struct param){norm + used, len};
            used += len;
        }
        i = j + 1;
    }
    qsort(p, np, sizeof p[0], param_cmp);
    for (size_t i = 0; i < np; i++) {
        if (i)
            put_char(o, '&');
        put(o, p[i].at, p[i].len);
    }
    return 0;
}

int shmc_http_key(const char *method, const char *host, const char *target,
                  char *out, size_t size, size_t *prefix_len)
{
    shmc__clear_error();
    if (!method || !host || !target || !out)
        return shmc__fail(SHMC_EINVAL, "http key: NULL argument");
    size_t mn = strlen(method), hn = strlen(host), tn = strlen(target);
    int ok = mn > 0 && mn <= 32 && hn > 0 && hn <= 255 && tn > 0 &&
             tn <= SHMC_HTTP_MAX_FIELD && target[0] == '/';
    for (size_t i = 0; ok && i < mn; i++)
        ok = shmc__http_tchar((unsigned char)method[i]);
    for (size_t i = 0; ok && i < hn; i++)
        ok = (unsigned char)host[i] > ' ' && host[i] != 0x7f &&
             host[i] != '/' && host[i] != '?' && host[i] != '#';
    for (size_t i = 0; ok && i < tn; i++)
        ok = (unsigned char)target[i] > ' ' && target[i] != 0x7f &&
             target[i] != '#';
    if (!ok)
        return shmc__fail(SHMC_EINVAL, "http key: bad method, host or "
                                       "target");
    const char *qm = memchr(target, '?', tn);
    size_t path_len = qm ? (size_t)(qm - target) : tn;
    struct out o = {out, size, 0};
    put(&o, "http:", 5);
    for (size_t i = 0; i < hn; i++) {
        char c = host[i];
        put_char(&o, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
    }
    put(&o, target, path_len);
    put_char(&o, '?');
    size_t prefix = o.len;
    if (qm && put_query(&o, qm + 1, tn - path_len - 1))
        return shmc__fail(SHMC_EINVAL, "http key: a bad %%-escape, or more "
                                       "than %u parameters",
                          MAX_PARAMS);
    put_char(&o, ' ');
    for (size_t i = 0; i < mn; i++) {
        char c = method[i];
        put_char(&o, c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
    }
    if (o.len >= size)
        return shmc__fail(SHMC_EBUFSMALL, "http key: %zu bytes needed",
                          o.len + 1);
    out[o.len] = '\0';
    if (prefix_len)
        *prefix_len = prefix;
    return 0;
}
