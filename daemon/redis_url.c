/* redis_url.c - see redis_url.h. */
#include "redis_url.h"

#include <stdio.h>
#include <string.h>

static int fail(char *why, size_t whysize, const char *reason)
{
    if (whysize)
        snprintf(why, whysize, "%s", reason);
    return -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes of s into out (size bytes, NUL-terminated).
 * 0, or -1 for a bad escape, a NUL byte or no room. */
static int decode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* A decimal number of 1 to 5 digits from min to max, the whole of s[0..n). */
static int number(const char *s, size_t n, unsigned min, unsigned max,
                  unsigned *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static int ipv6_char(char c)
{
    return hex_value(c) >= 0 || c == ':' || c == '.';
}

static int parse_unix(const char *path, struct redis_url *u, char *why,
                      size_t whysize)
{
    size_t n = strlen(path);
    if (path[0] != '/')
        return fail(why, whysize, "unix:// needs an absolute path");
    if (n >= sizeof u->path)
        return fail(why, whysize, "socket path longer than 107 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)path[i] <= ' ' || path[i] == 0x7f ||
            path[i] == '?' || path[i] == '#')
            return fail(why, whysize, "blank, control character, '?' or "
                                      "'#' in the socket path");
    u->is_unix = 1;
    memcpy(u->path, path, n + 1);
    return 0;
}

/* [user:]password@ before at (exclusive). */
static int parse_userinfo(const char *s, size_t n, struct redis_url *u,
                          char *why, size_t whysize)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return fail(why, whysize,
                    "user information needs a password (user:password@)");
    size_t ulen = (size_t)(colon - s);
    if (decode(s, ulen, u->user, sizeof u->user) ||
        decode(colon + 1, n - ulen - 1, u->password, sizeof u->password))
        return fail(why, whysize,
                    "bad user or password (a bad %-escape, a NUL byte, or "
                    "too long)");
    u->has_password = 1;
    return 0;
}

/* host[:port] of n bytes. */
static int parse_hostport(const char *s, size_t n, struct redis_url *u,
                          char *why, size_t whysize)
{
    size_t hlen;
    const char *rest;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return fail(why, whysize, "bad bracketed IPv6 address");
        for (const char *p = s + 1; p < close; p++)
            if (!ipv6_char(*p))
                return fail(why, whysize, "bad bracketed IPv6 address");
        hlen = (size_t)(close - s - 1);
        memcpy(u->host, s + 1, hlen);
        rest = close + 1;
    } else {
        hlen = 0;
        while (hlen < n && host_char(s[hlen]))
            hlen++;
        if (hlen == 0)
            return fail(why, whysize, "no host");
        memcpy(u->host, s, hlen);
        rest = s + hlen;
    }
    if (hlen >= sizeof u->host)
        return fail(why, whysize, "host longer than 255 bytes");
    u->host[hlen] = '\0';
    size_t left = n - (size_t)(rest - s);
    if (left == 0)
        return 0;
    if (rest[0] != ':' || number(rest + 1, left - 1, 1, 65535, &u->port))
        return fail(why, whysize,
                    "expected ':' and a port from 1 to 65535 after the host");
    return 0;
}

int redis_url_parse(const char *s, struct redis_url *u, char *why,
                    size_t whysize)
{
    memset(u, 0, sizeof *u);
    u->port = REDIS_URL_DEFAULT_PORT;
    if (!s || !*s)
        return fail(why, whysize, "empty URL");
    if (strlen(s) > REDIS_URL_MAX_LEN)
        return fail(why, whysize, "URL longer than 1024 bytes");
    if (strncmp(s, "unix://", 7) == 0)
        return parse_unix(s + 7, u, why, whysize);
    if (strncmp(s, "redis://", 8) != 0)
        return fail(why, whysize,
                    "expected redis://[user:password@]host[:port][/db] or "
                    "unix:///path");
    const char *auth = s + 8;
    const char *slash = strchr(auth, '/');
    const char *end = slash ? slash : auth + strlen(auth);
    /* The last '@' before the path: a password may hold one encoded. */
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *hostport = auth;
    if (at) {
        if (parse_userinfo(auth, (size_t)(at - auth), u, why, whysize))
            return -1;
        hostport = at + 1;
    }
    if (parse_hostport(hostport, (size_t)(end - hostport), u, why, whysize))
        return -1;
    if (slash && number(slash + 1, strlen(slash + 1), 0, 65535, &u->db))
        return fail(why, whysize, "expected a database number from 0 to "
                                  "65535 after '/'");
    return 0;
}

void redis_url_describe(const struct redis_url *u, char *out, size_t outsize)
{
    if (u->is_unix) {
        snprintf(out, outsize, "unix://%s", u->path);
        return;
    }
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(out, outsize, "redis://%s%s%s%s%s:%u/%u", u->user,
             u->has_password ? ":***@" : "", v6 ? "[" : "", u->host,
             v6 ? "]" : "", u->port, u->db);
}
