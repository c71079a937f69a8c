/* http_cache_control.c - Cache-Control, parsed, written and mapped onto
 * the cache's TTL and stale window (see "HTTP helpers" in shmcache.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "http_syntax.h"
#include "shmcache.h"

#define DELTA_MAX 2147483648ll /* 2^31, RFC 9111 1.2.2 */

static const struct {
    const char *name;
    unsigned flag;
} flag_names[] = {
    {"public", SHMC_CC_PUBLIC},
    {"private", SHMC_CC_PRIVATE},
    {"no-cache", SHMC_CC_NO_CACHE},
    {"no-store", SHMC_CC_NO_STORE},
    {"no-transform", SHMC_CC_NO_TRANSFORM},
    {"must-revalidate", SHMC_CC_MUST_REVALIDATE},
    {"proxy-revalidate", SHMC_CC_PROXY_REVALIDATE},
    {"immutable", SHMC_CC_IMMUTABLE},
};

static const struct {
    const char *name;
    size_t offset;
} duration_names[] = {
    {"max-age", offsetof(shmc_cache_control, max_age)},
    {"s-maxage", offsetof(shmc_cache_control, s_maxage)},
    {"stale-while-revalidate",
     offsetof(shmc_cache_control, stale_while_revalidate)},
    {"stale-if-error", offsetof(shmc_cache_control, stale_if_error)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* delta-seconds: 1*DIGIT, clamped at 2^31. -1 when not one. */
static int64_t delta_seconds(const char *s, size_t n)
{
    int64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v < DELTA_MAX)
            v = v * 10 + (s[i] - '0');
    }
    return v > DELTA_MAX ? DELTA_MAX : v;
}

static void all_absent(shmc_cache_control *cc)
{
    *cc = (shmc_cache_control){0, -1, -1, -1, -1};
}

static int bad(shmc_cache_control *cc, const char *why)
{
    all_absent(cc);
    return shmc__fail(SHMC_EINVAL, "Cache-Control: %s", why);
}

/* One directive: name[=value]. A quoted value's bytes (quotes and
 * escapes kept) are in [v, v + vn). */
static int apply(shmc_cache_control *cc, unsigned *seen, const char *name,
                 size_t nn, const char *v, size_t vn, int has_value)
{
    for (size_t i = 0; i < COUNT(flag_names); i++)
        if (name_is(name, nn, flag_names[i].name)) {
            /* no-cache="field" and private="field" keep their meaning for
             * a cache that stores whole responses. */
            cc->flags |= flag_names[i].flag;
            return 0;
        }
    for (size_t i = 0; i < COUNT(duration_names); i++)
        if (name_is(name, nn, duration_names[i].name)) {
            if (*seen & (1u << i))
                return 0; /* the first one counts */
            *seen |= 1u << i;
            if (has_value && vn >= 2 && v[0] == '"') {
                v++;
                vn -= 2;
            }
            int64_t d = has_value ? delta_seconds(v, vn) : -1;
            if (d < 0)
                return -1;
            memcpy((char *)cc + duration_names[i].offset, &d, sizeof d);
            return 0;
        }
    return 0;
}

int shmc_http_cache_control_parse(const char *header, size_t len,
                                  shmc_cache_control *out)
{
    shmc__clear_error();
    if (!out)
        return shmc__fail(SHMC_EINVAL, "Cache-Control: NULL argument");
    all_absent(out);
    if (!header || len > SHMC_HTTP_MAX_FIELD)
        return bad(out, "no field, or longer than 8 KiB");
    const char *p = header, *end = header + len;
    unsigned seen = 0;
    while (p < end) {
        p = shmc__http_skip_ows(p, end);
        if (p == end)
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        const char *name = p;
        while (p < end && shmc__http_tchar((unsigned char)*p))
            p++;
        size_t nn = (size_t)(p - name);
        if (nn == 0)
            return bad(out, "a directive name expected");
        const char *v = p;
        size_t vn = 0;
        int has_value = p < end && *p == '=';
        if (has_value) {
            v = ++p;
            if (p < end && *p == '"') {
                for (p++; p < end && *p != '"'; p++)
                    if (*p == '\\' && ++p == end)
                        break;
                if (p >= end)
                    return bad(out, "unterminated quoted string");
                p++;
            } else {
                while (p < end && shmc__http_tchar((unsigned char)*p))
                    p++;
            }
            vn = (size_t)(p - v);
            if (vn == 0)
                return bad(out, "a value expected after '='");
        }
        if (apply(out, &seen, name, nn, v, vn, has_value))
            return bad(out, "a duration that is not a number of seconds");
        p = shmc__http_skip_ows(p, end);
        if (p < end && *p != ',')
            return bad(out, "',' expected between directives");
    }
    return 0;
}

int shmc_http_cache_control_format(const shmc_cache_control *cc, char *out,
                                   size_t size)
{
    shmc__clear_error();
    if (!cc || !out)
        return shmc__fail(SHMC_EINVAL, "Cache-Control: NULL argument");
    size_t n = 0;
    int full = 0;
    out[0] = size ? '\0' : out[0];
    for (size_t i = 0; i < COUNT(flag_names) + COUNT(duration_names); i++) {
        char item[64];
        if (i < COUNT(flag_names)) {
            if (!(cc->flags & flag_names[i].flag))
                continue;
            snprintf(item, sizeof item, "%s", flag_names[i].name);
        } else {
            size_t d = i - COUNT(flag_names);
            int64_t v;
            memcpy(&v, (const char *)cc + duration_names[d].offset, sizeof v);
            if (v < 0)
                continue;
            snprintf(item, sizeof item, "%s=%lld", duration_names[d].name,
                     (long long)(v > DELTA_MAX ? DELTA_MAX : v));
        }
        int w = snprintf(out + (n < size ? n : size),
                         n < size ? size - n : 0, "%s%s", n ? ", " : "",
                         item);
        n += (size_t)w;
        full |= n >= size;
    }
    if (full || size == 0)
        return shmc__fail(SHMC_EBUFSMALL, "Cache-Control: %zu bytes needed",
                          n + 1);
    return 0;
}

int shmc_http_cache_policy(const shmc_cache_control *cc, shmc_set_opts *set,
                           uint64_t *stale_if_error_ms)
{
    if (set)
        memset(set, 0, sizeof *set);
    if (stale_if_error_ms)
        *stale_if_error_ms = 0;
    if (!cc || !set || (cc->flags & (SHMC_CC_NO_STORE | SHMC_CC_PRIVATE)))
        return 0;
    int64_t ttl = cc->s_maxage >= 0 ? cc->s_maxage : cc->max_age;
    /* No stated lifetime (a TTL of 0 would mean "never stale" here), or
     * stale at once: not worth storing. */
    if (ttl <= 0)
        return 0;
    set->ttl_ms = (uint64_t)ttl * 1000;
    unsigned strict = SHMC_CC_NO_CACHE | SHMC_CC_MUST_REVALIDATE |
                      SHMC_CC_PROXY_REVALIDATE;
    if (!(cc->flags & strict) && cc->stale_while_revalidate > 0)
        set->stale_ms = (uint64_t)cc->stale_while_revalidate * 1000;
    if (stale_if_error_ms && cc->stale_if_error > 0)
        *stale_if_error_ms = (uint64_t)cc->stale_if_error * 1000;
    return 1;
}
