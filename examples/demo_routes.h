/* demo_routes.h - what the demo server answers, endpoint by endpoint, and
 * how each uses the cache the way a real application would:
 *
 *   GET  /apikey/check     (X-API-Key) get_or_compute against a slow key
 *                          store; keys stored under HMAC (key_secret)
 *   POST /apikey/revoke    (X-API-Key) mark it revoked in the store and
 *                          shmc_revoke() it: refused by every worker at
 *                          once, and by every host with a bridge
 *   GET  /report/{id}      an expensive page, memoized: ETag,
 *                          Cache-Control with stale-while-revalidate,
 *                          If-None-Match -> 304, a stampede computes once
 *   POST /user/{id}/token  one token per user, however many requests come
 *                          together: a per-user lock (shmc_lock)
 *   GET  /metrics          the instance's counters, Prometheus text
 */
#ifndef DEMO_ROUTES_H
#define DEMO_ROUTES_H

#include <stddef.h>

#include "http_request.h"
#include "shmcache.h"

#define RESPONSE_MAX_HEADERS 1024u

struct response {
    int status;
    char headers[RESPONSE_MAX_HEADERS]; /* extra header lines, CRLF each */
    size_t headers_len;
    char *body; /* malloc'd, or NULL */
    size_t body_len;
};

struct demo {
    shmc_cache *cache;
    const char *path;  /* the instance, for /metrics */
    const char *store; /* the key store's directory */
    unsigned compute_ms; /* how long a report takes to compute */
    int no_cache;        /* compute every time: the baseline of a bench */
};

/* Answer req into *res (res->body to be freed by the caller). */
void demo_route(const struct demo *d, const struct http_request *req,
                struct response *res);

/* The reason phrase of status. */
const char *demo_reason(int status);

#endif
