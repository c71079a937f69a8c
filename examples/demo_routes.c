/* demo_routes.c - see demo_routes.h. */
#include "demo_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

#define APIKEY_MAX 48u
#define APIKEY_TTL_MS 60000u
#define APIKEY_NEGATIVE_TTL_MS 5000u
#define STORE_LOOKUP_MS 50u
#define REPORT_TTL_S 5u
#define REPORT_STALE_S 30u
#define TOKEN_LOCK_TIMEOUT_MS 5000u
#define TOKEN_CREATE_MS 100u

const char *demo_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

__attribute__((format(printf, 2, 3))) static void
add_header(struct response *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof res->headers - res->headers_len;
    int n = vsnprintf(res->headers + res->headers_len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n + 2 < room) {
        res->headers_len += (size_t)n;
        memcpy(res->headers + res->headers_len, "\r\n", 2);
        res->headers_len += 2;
    }
}

__attribute__((format(printf, 3, 4))) static void
reply(struct response *res, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = NULL;
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    res->status = status;
    free(res->body);
    res->body = n >= 0 ? body : NULL;
    res->body_len = n >= 0 ? (size_t)n : 0;
}

static void reply_error(struct response *res, const char *what, int rc)
{
    reply(res, 503, "%s: %s: %s\n", what, shmc_strerror(rc),
          shmc_last_error());
}

/* shmc_get_or_compute(), or with --no-cache (the baseline a benchmark
 * compares with) compute called every time, its answer handed back the
 * same way. */
static int get_or_compute(const struct demo *d, const char *key,
                          shmc_compute_fn compute, void *arg,
                          const shmc_compute_opts *opts, void **val,
                          size_t *len, shmc_meta *meta)
{
    if (!d->no_cache)
        return shmc_get_or_compute(d->cache, key, strlen(key), compute, arg,
                                   opts, val, len, meta);
    shmc_compute_out out = {0};
    int rc = compute(key, strlen(key), arg, &out);
    *val = NULL;
    if (rc || out.not_found)
        return rc ? rc : SHMC_ENOTFOUND;
    if (!(*val = malloc(out.len + 1)))
        return -ENOMEM;
    memcpy(*val, out.value, out.len);
    *len = out.len;
    if (meta)
        *meta = (shmc_meta){.version = shmc_now_ms(),
                            .fresh_until_ms = shmc_now_ms()};
    return 0;
}

/* ---- API keys ----------------------------------------------------------- */

/* A key the store knows: "ak_" and an owner of 1 to 32 of [a-z0-9]. */
static int apikey_owner(struct http_span key, char *owner)
{
    if (key.len < 4 || key.len > 35 || memcmp(key.at, "ak_", 3) != 0)
        return -1;
    for (size_t i = 3; i < key.len; i++)
        if (!((key.at[i] >= 'a' && key.at[i] <= 'z') ||
              (key.at[i] >= '0' && key.at[i] <= '9')))
            return -1;
    memcpy(owner, key.at + 3, key.len - 3);
    owner[key.len - 3] = '\0';
    return 0;
}

struct lookup {
    const struct demo *d;
    char key[APIKEY_MAX], owner[APIKEY_MAX], value[APIKEY_MAX + 16];
    int computed;
};

/* The slow key store: a database round trip, simulated; a revoked key is
 * a file in the store's "revoked" directory. */
static int store_lookup(const void *key, size_t klen, void *arg,
                        shmc_compute_out *out)
{
    (void)key;
    (void)klen;
    struct lookup *l = arg;
    char path[4096];
    struct stat st;
    l->computed = 1;
    sleep_ms(STORE_LOOKUP_MS);
    snprintf(path, sizeof path, "%s/revoked/%s", l->d->store, l->key);
    if (stat(path, &st) == 0) {
        out->not_found = 1;
        return 0;
    }
    snprintf(l->value, sizeof l->value, "owner=%s", l->owner);
    out->value = l->value;
    out->len = strlen(l->value);
    return 0;
}

static void apikey_check(const struct demo *d, const struct http_request *req,
                         struct response *res)
{
    struct lookup l = {.d = d};
    struct http_span key = http_request_header(req, "X-API-Key");
    if (!key.at || apikey_owner(key, l.owner) != 0) {
        reply(res, 401, "no API key, or not one of ours\n");
        return;
    }
    memcpy(l.key, key.at, key.len);
    char ckey[APIKEY_MAX + 8];
    snprintf(ckey, sizeof ckey, "apikey:%s", l.key);
    const shmc_compute_opts opts = {.ttl_ms = APIKEY_TTL_MS,
                                    .negative_ttl_ms = APIKEY_NEGATIVE_TTL_MS,
                                    .lock_timeout_ms = 5000};
    void *val = NULL;
    size_t len = 0;
    int rc = get_or_compute(d, ckey, store_lookup, &l, &opts, &val, &len,
                            NULL);
    add_header(res, "X-Cache: %s", l.computed ? "computed" : "hit");
    if (rc == SHMC_ENOTFOUND)
        reply(res, 401, "%s: revoked\n", l.key);
    else if (rc == 0 || rc == SHMC_STALE)
        reply(res, 200, "%s: valid (%s)\n", l.key, (char *)val);
    else
        reply_error(res, "key lookup", rc);
    shmc_free(val);
}

static void apikey_revoke(const struct demo *d,
                          const struct http_request *req,
                          struct response *res)
{
    char owner[APIKEY_MAX], key[APIKEY_MAX], path[4096];
    struct http_span k = http_request_header(req, "X-API-Key");
    if (!k.at || apikey_owner(k, owner) != 0) {
        reply(res, 400, "no API key, or not one of ours\n");
        return;
    }
    memcpy(key, k.at, k.len);
    key[k.len] = '\0';
    /* The store first: a lookup racing the revocation then finds it
     * revoked there, and cannot put the key back into the cache. */
    snprintf(path, sizeof path, "%s/revoked/%s", d->store, key);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        reply(res, 503, "%s: %s\n", path, strerror(errno));
        return;
    }
    close(fd);
    char ckey[APIKEY_MAX + 8];
    int klen = snprintf(ckey, sizeof ckey, "apikey:%s", key);
    int rc = shmc_revoke(d->cache, ckey, (size_t)klen);
    if (rc == 0 || rc == SHMC_ENOTFOUND)
        reply(res, 200, "%s: revoked everywhere\n", key);
    else
        reply_error(res, "revoke", rc);
}

/* ---- reports -------------------------------------------------------- */

struct report {
    const struct demo *d;
    unsigned long id;
    char *page;
    int computed;
};

static int render_report(const void *key, size_t klen, void *arg,
                         shmc_compute_out *out)
{
    (void)key;
    (void)klen;
    struct report *r = arg;
    r->computed = 1;
    sleep_ms(r->d->compute_ms);
    int n = asprintf(&r->page,
                     "Report %lu\ncomputed by worker %ld at %llu ms\n"
                     "(an expensive page: %u ms of work, done once for "
                     "every worker)\n",
                     r->id, (long)getpid(),
                     (unsigned long long)shmc_now_ms(), r->d->compute_ms);
    if (n < 0)
        return -ENOMEM;
    out->value = r->page;
    out->len = (size_t)n;
    return 0;
}

static void report_get(const struct demo *d, const struct http_request *req,
                       unsigned long id, struct response *res)
{
    struct report r = {.d = d, .id = id};
    char target[64], key[256], host[128] = "localhost";
    struct http_span h = http_request_header(req, "Host");
    if (h.at && h.len < sizeof host) {
        memcpy(host, h.at, h.len);
        host[h.len] = '\0';
    }
    snprintf(target, sizeof target, "/report/%lu", id);
    int rc = shmc_http_key("GET", host, target, key, sizeof key, NULL);
    if (rc) {
        reply(res, 400, "bad Host header\n");
        return;
    }
    const shmc_compute_opts opts = {.ttl_ms = REPORT_TTL_S * 1000,
                                    .stale_ms = REPORT_STALE_S * 1000,
                                    .lock_timeout_ms = 10000};
    void *val = NULL;
    size_t len = 0;
    shmc_meta meta;
    rc = get_or_compute(d, key, render_report, &r, &opts, &val, &len, &meta);
    free(r.page);
    if (rc != 0 && rc != SHMC_STALE) {
        reply_error(res, "report", rc);
        return;
    }
    char etag[64], cc[128];
    uint64_t now = shmc_now_ms();
    shmc_cache_control c = {
        .flags = SHMC_CC_PUBLIC,
        .max_age = meta.fresh_until_ms > now
                       ? (int64_t)((meta.fresh_until_ms - now) / 1000)
                       : 0,
        .s_maxage = -1,
        .stale_while_revalidate = REPORT_STALE_S,
        .stale_if_error = -1,
    };
    shmc_http_etag(meta.version, 0, etag, sizeof etag);
    shmc_http_cache_control_format(&c, cc, sizeof cc);
    add_header(res, "ETag: %s", etag);
    add_header(res, "Cache-Control: %s", cc);
    add_header(res, "X-Cache: %s", r.computed ? "computed"
                                    : rc == SHMC_STALE ? "stale" : "hit");
    struct http_span inm = http_request_header(req, "If-None-Match");
    if (inm.at && shmc_http_if_none_match(inm.at, inm.len, etag) == 1) {
        res->status = 304;
        shmc_free(val);
        return;
    }
    res->status = 200;
    res->body = malloc(len ? len : 1);
    if (res->body) {
        memcpy(res->body, val, len);
        res->body_len = len;
    }
    shmc_free(val);
}

/* ---- per-user tokens -------------------------------------------------- */

static void user_token(const struct demo *d, unsigned long user,
                       struct response *res)
{
    char lock_key[64], token_key[64], token[33];
    size_t len = sizeof token - 1;
    snprintf(lock_key, sizeof lock_key, "user:%lu:token-lock", user);
    snprintf(token_key, sizeof token_key, "user:%lu:token", user);
    shmc_keylock lock;
    int rc = shmc_lock(d->cache, lock_key, strlen(lock_key),
                       TOKEN_LOCK_TIMEOUT_MS, &lock);
    if (rc != 0 && rc != SHMC_LOCK_RECOVERED) {
        reply_error(res, "lock", rc);
        return;
    }
    /* Under the lock: either a token exists, or this request makes the
     * only one. */
    rc = shmc_get(d->cache, token_key, strlen(token_key), token, &len, NULL,
                  0);
    if (rc == 0) {
        token[len] = '\0';
        reply(res, 200, "user %lu: token %s (existing)\n", user, token);
    } else if (rc == SHMC_ENOTFOUND) {
        unsigned char raw[16];
        if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
            shmc_unlock(&lock);
            reply(res, 503, "no random bytes\n");
            return;
        }
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(token + 2 * i, 3, "%02x", raw[i]);
        sleep_ms(TOKEN_CREATE_MS); /* the slow part of making one */
        rc = shmc_set(d->cache, token_key, strlen(token_key), token, 32, 0);
        if (rc == 0)
            reply(res, 201, "user %lu: token %s (created by worker %ld)\n",
                  user, token, (long)getpid());
        else
            reply_error(res, "store token", rc);
    } else {
        reply_error(res, "read token", rc);
    }
    shmc_unlock(&lock);
}

/* ---- metrics ---------------------------------------------------------- */

static void metrics(const struct demo *d, struct response *res)
{
    struct stat_frame f = {.path = d->path, .wall_ms = shmc_now_ms()};
    int rc = shmc_info_get(d->cache, &f.info);
    if (rc == 0)
        rc = shmc_stats_get(d->cache, &f.stats);
    if (rc) {
        reply_error(res, "metrics", rc);
        return;
    }
    FILE *out = open_memstream(&res->body, &res->body_len);
    if (!out) {
        reply(res, 503, "no memory\n");
        return;
    }
    stat_print_prometheus(out, &f);
    fclose(out);
    res->status = 200;
    add_header(res, "Content-Type: text/plain; version=0.0.4");
}

/* ---- routing -------------------------------------------------------- */

/* The number after prefix in target, up to end ("" or a suffix): 1 and
 * *id, or 0. */
static int path_id(struct http_span target, const char *prefix,
                   const char *end, unsigned long *id)
{
    size_t p = strlen(prefix), e = strlen(end), i = p;
    unsigned long v = 0;
    if (target.len <= p + e || memcmp(target.at, prefix, p) != 0)
        return 0;
    for (; i < target.len - e && i - p < 9; i++) {
        if (target.at[i] < '0' || target.at[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(target.at[i] - '0');
    }
    if (i == p || i != target.len - e || memcmp(target.at + i, end, e) != 0)
        return 0;
    *id = v;
    return 1;
}

void demo_route(const struct demo *d, const struct http_request *req,
                struct response *res)
{
    int get = http_span_is(req->method, "GET") ||
              http_span_is(req->method, "HEAD");
    int post = http_span_is(req->method, "POST");
    unsigned long id;
    add_header(res, "X-Worker: %ld", (long)getpid());
    if (http_span_is(req->target, "/apikey/check"))
        get ? apikey_check(d, req, res) : reply(res, 405, "GET only\n");
    else if (http_span_is(req->target, "/apikey/revoke"))
        post ? apikey_revoke(d, req, res) : reply(res, 405, "POST only\n");
    else if (path_id(req->target, "/report/", "", &id))
        get ? report_get(d, req, id, res) : reply(res, 405, "GET only\n");
    else if (path_id(req->target, "/user/", "/token", &id))
        post ? user_token(d, id, res) : reply(res, 405, "POST only\n");
    else if (http_span_is(req->target, "/metrics"))
        get ? metrics(d, res) : reply(res, 405, "GET only\n");
    else
        reply(res, 404,
              "try GET /apikey/check, POST /apikey/revoke (X-API-Key: "
              "ak_NAME), GET /report/ID, POST /user/ID/token, GET "
              "/metrics\n");
}
