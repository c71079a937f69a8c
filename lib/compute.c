/* compute.c - shmc_get_or_compute: single flight over the per-key locks.
 *
 * The lock is the only coordination: whoever holds a key's lock computes
 * it; everyone else waits for the lock and then finds the value stored.
 * Because the lock is robust, a computing process that dies hands it to a
 * waiter (SHMC_LOCK_RECOVERED) which simply computes again; because it is
 * held for the whole compute, a slow compute never lets a second one start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "instance.h"
#include "ops.h"
#include "record.h"
#include "stats.h"

/* What the cache holds for the key, read with everything visible. */
struct seen {
    int rc; /* 0 fresh, SHMC_STALE, SHMC__NEGATIVE, SHMC_ENOTFOUND, error */
    void *val;
    size_t len;
    shmc_meta meta;
};

/* extra: 0 for the caller's read, SHMC__GET_UNCOUNTED for the look again
 * under the lock (one call is one read in the counters). */
static void look(shmc_cache *c, const void *key, size_t klen, unsigned extra,
                 struct seen *s)
{
    s->rc = shmc__read_alloc(c, key, klen,
                             SHMC_GET_STALE | SHMC__GET_NEGATIVE | extra,
                             &s->val, &s->len, &s->meta);
}

static void forget(struct seen *s)
{
    shmc_free(s->val);
    s->val = NULL;
}

/* Hand what was seen to the caller: the public answer for it. */
static int give(struct seen *s, void **val, size_t *len, shmc_meta *meta)
{
    if (s->rc == SHMC__NEGATIVE) {
        forget(s);
        return shmc__fail(SHMC_ENOTFOUND, "cached as not found");
    }
    if (val)
        *val = s->val;
    else
        forget(s);
    if (len)
        *len = s->len;
    if (meta)
        *meta = s->meta;
    return s->rc;
}

static void count(shmc_cache *c, enum shmc__counter which)
{
    struct shmc__instance *inst;
    if (shmc__instance_get(c, &inst) == 0)
        shmc__count(inst->shard, which, 1);
}

/* Serve a stale value instead of a fresh one (counted), if it has not
 * expired meanwhile; else fail with rc. */
static int serve_stale(shmc_cache *c, struct seen *stale, int rc, void **val,
                       size_t *len, shmc_meta *meta)
{
    if (stale->rc != SHMC_STALE || shmc__now_ms() >= stale->meta.expires_at_ms) {
        forget(stale);
        return rc;
    }
    count(c, SHMC__C_STALE_SERVED);
    return give(stale, val, len, meta);
}

/* Call compute and store its answer. Under the key's lock. */
static int compute_and_store(shmc_cache *c, const void *key, size_t klen,
                             shmc_compute_fn compute, void *arg,
                             const shmc_compute_opts *o, struct seen *out)
{
    shmc_compute_out answer = {0};
    count(c, SHMC__C_COMPUTES);
    int rc = compute(key, klen, arg, &answer);
    if (rc >= 0 && !answer.not_found && !answer.value && answer.len)
        rc = shmc__fail(SHMC_EINVAL, "compute: NULL value of length %zu",
                        answer.len);
    if (rc < 0) {
        count(c, SHMC__C_COMPUTE_ERRORS);
        return rc;
    }
    if (answer.not_found) {
        uint64_t ttl = answer.negative_ttl_ms ? answer.negative_ttl_ms
                                              : o->negative_ttl_ms;
        out->rc = SHMC__NEGATIVE;
        if (ttl == 0) {
            /* Not cached; but a stale value must not outlive the source
             * saying there is no such thing. */
            rc = shmc_del(c, key, klen);
            return rc == SHMC_ENOTFOUND ? 0 : rc;
        }
        shmc_set_opts so = {.ttl_ms = ttl};
        return shmc__write_record(c, key, klen, NULL, 0, &so,
                                  SHMC__REC_NEGATIVE, NULL);
    }
    shmc_set_opts so = {
        .ttl_ms = answer.ttl_ms ? answer.ttl_ms : o->ttl_ms,
        .stale_ms = answer.stale_ms ? answer.stale_ms : o->stale_ms,
    };
    /* The caller gets what was computed, whatever happens to the entry
     * after the store (a tiny TTL, a delete by another process). */
    char *copy = malloc(answer.len + 1);
    if (!copy)
        return shmc__fail(-ENOMEM, "get_or_compute: no memory");
    rc = shmc__write_record(c, key, klen, answer.value, answer.len, &so, 0,
                            &out->meta);
    if (rc) {
        free(copy);
        return rc;
    }
    if (answer.len)
        memcpy(copy, answer.value, answer.len);
    copy[answer.len] = '\0';
    out->val = copy;
    out->len = answer.len;
    out->rc = 0;
    return 0;
}

int shmc_get_or_compute(shmc_cache *c, const void *key, size_t klen,
                        shmc_compute_fn compute, void *arg,
                        const shmc_compute_opts *opts, void **val,
                        size_t *len, shmc_meta *meta)
{
    static const shmc_compute_opts defaults;
    const shmc_compute_opts *o = opts ? opts : &defaults;
    if (val)
        *val = NULL;
    if (!c || !compute)
        return shmc__fail(SHMC_EINVAL, "get_or_compute: NULL argument");
    struct seen first = {0};
    look(c, key, klen, 0, &first);
    if (first.rc == 0 || first.rc == SHMC__NEGATIVE)
        return give(&first, val, len, meta);
    if (first.rc != SHMC_STALE && first.rc != SHMC_ENOTFOUND)
        return first.rc;

    shmc_keylock lock;
    uint64_t miss_wait = o->lock_timeout_ms ? o->lock_timeout_ms
                                            : SHMC_LOCK_FOREVER;
    int rc = shmc_lock(c, key, klen,
                       first.rc == SHMC_STALE ? o->stale_wait_ms : miss_wait,
                       &lock);
    if (rc == SHMC_ETIMEDOUT && first.rc == SHMC_STALE) {
        /* serve_stale() reads the clock once and decides: serve the stale
         * value, or (it expired while we waited) wait on for the computing
         * process as on a miss. */
        rc = serve_stale(c, &first, rc, val, len, meta);
        if (rc != SHMC_ETIMEDOUT)
            return rc;
        first.rc = SHMC_ENOTFOUND;
        rc = shmc_lock(c, key, klen, miss_wait, &lock);
    }
    if (rc == SHMC_ETIMEDOUT)
        return serve_stale(c, &first, rc, val, len, meta);
    if (rc < 0) {
        forget(&first);
        return rc;
    }
    /* Whoever held the lock may have stored the key meanwhile (unless it
     * died: SHMC_LOCK_RECOVERED, then there is nothing new to find). */
    struct seen now = {0};
    look(c, key, klen, SHMC__GET_UNCOUNTED, &now);
    if (now.rc == 0 || now.rc == SHMC__NEGATIVE) {
        shmc_unlock(&lock);
        forget(&first);
        return give(&now, val, len, meta);
    }
    forget(&now);
    rc = compute_and_store(c, key, klen, compute, arg, o, &now);
    shmc_unlock(&lock);
    if (rc < 0) {
        forget(&now);
        return serve_stale(c, &first, rc, val, len, meta);
    }
    forget(&first);
    return give(&now, val, len, meta);
}
