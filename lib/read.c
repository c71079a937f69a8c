/* read.c - the get calls. One lookup serves all three: it finds the record,
 * decides fresh/stale/expired, and hands the record to a delivery function
 * while the read transaction is still open.
 *
 * Readers never write to the map: an expired entry is only skipped here and
 * counted, and removed later by a writer or the sweeper. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "entry.h"
#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "record.h"
#include "stats.h"

typedef int (*deliver_fn)(const struct shmc__record *r, int status,
                          void *arg);

static void fill_meta(shmc_meta *m, const struct shmc__record *r)
{
    m->version = r->version;
    m->stored_at_ms = shmc__version_time(r->version);
    m->fresh_until_ms = r->fresh_until;
    m->expires_at_ms = r->expires_at;
    m->value_len = (uint32_t)r->value_len;
}

static int read_entry(shmc_cache *c, const void *key, size_t klen,
                      unsigned flags, deliver_fn deliver, void *arg)
{
    struct shmc__instance *inst;
    struct shmc__key k;
    struct shmc__txn t;
    struct shmc__record r;
    if (!c || (flags & ~SHMC_GET_STALE))
        return shmc__fail(SHMC_EINVAL, "get: NULL handle or unknown flags");
    int rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__key_make(&k, key, klen, inst->max_direct_key);
    if (rc)
        return rc;
    rc = shmc__read_begin(inst->store, &t);
    if (rc)
        return rc;
    enum shmc__counter counted = SHMC__C_MISSES;
    rc = shmc__entry_find(&t, &k, &r);
    if (rc == 0) {
        switch (shmc__record_freshness(&r, shmc__now_ms())) {
        case SHMC__FRESH:
            counted = SHMC__C_HITS;
            rc = deliver(&r, 0, arg);
            break;
        case SHMC__STALE:
            if (flags & SHMC_GET_STALE) {
                counted = SHMC__C_STALE_HITS;
                rc = deliver(&r, SHMC_STALE, arg);
            } else {
                rc = SHMC_ENOTFOUND;
            }
            break;
        case SHMC__EXPIRED:
            shmc__count(inst->shard, SHMC__C_EXPIRED, 1);
            rc = SHMC_ENOTFOUND;
            break;
        }
    }
    shmc__read_end(&t);
    /* A hit counts even if delivery failed (a small buffer); an error that
     * prevented the lookup counts as nothing. */
    if (counted != SHMC__C_MISSES || rc == SHMC_ENOTFOUND)
        shmc__count(inst->shard, counted, 1);
    return rc;
}

struct copy_out {
    void *buf;
    size_t *len;
    shmc_meta *meta;
};

static int deliver_copy(const struct shmc__record *r, int status, void *arg)
{
    struct copy_out *o = arg;
    size_t cap = *o->len;
    *o->len = r->value_len;
    if (o->meta)
        fill_meta(o->meta, r);
    if (cap < r->value_len)
        return shmc__fail(SHMC_EBUFSMALL, "value of %zu bytes, buffer of %zu",
                          r->value_len, cap);
    if (r->value_len)
        memcpy(o->buf, r->value, r->value_len);
    return status;
}

int shmc_get(shmc_cache *c, const void *key, size_t klen, void *buf,
             size_t *len, shmc_meta *meta, unsigned flags)
{
    if (!len || (!buf && *len))
        return shmc__fail(SHMC_EINVAL, "shmc_get: NULL buffer or length");
    struct copy_out o = {buf, len, meta};
    return read_entry(c, key, klen, flags, deliver_copy, &o);
}

struct alloc_out {
    void **val;
    size_t *len;
    shmc_meta *meta;
};

static int deliver_alloc(const struct shmc__record *r, int status, void *arg)
{
    struct alloc_out *o = arg;
    char *p = malloc(r->value_len + 1);
    if (!p)
        return shmc__fail(-ENOMEM, "no memory for %zu bytes",
                          r->value_len);
    memcpy(p, r->value, r->value_len);
    p[r->value_len] = '\0';
    *o->val = p;
    *o->len = r->value_len;
    if (o->meta)
        fill_meta(o->meta, r);
    return status;
}

int shmc_get_alloc(shmc_cache *c, const void *key, size_t klen, void **val,
                   size_t *len, shmc_meta *meta, unsigned flags)
{
    if (!val || !len)
        return shmc__fail(SHMC_EINVAL, "shmc_get_alloc: NULL argument");
    *val = NULL;
    struct alloc_out o = {val, len, meta};
    return read_entry(c, key, klen, flags, deliver_alloc, &o);
}

struct view_out {
    shmc_view_fn fn;
    void *arg;
};

static int deliver_view(const struct shmc__record *r, int status, void *arg)
{
    struct view_out *o = arg;
    shmc_meta m;
    fill_meta(&m, r);
    (void)status;
    return o->fn(r->value, r->value_len, &m, o->arg);
}

int shmc_get_view(shmc_cache *c, const void *key, size_t klen,
                  unsigned flags, shmc_view_fn fn, void *arg)
{
    if (!fn)
        return shmc__fail(SHMC_EINVAL, "shmc_get_view: NULL callback");
    struct view_out o = {fn, arg};
    return read_entry(c, key, klen, flags, deliver_view, &o);
}
