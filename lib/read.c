/* read.c - the get calls. One lookup serves all three: it finds the record
 * (in the thread's L1 copy when the stamps vouch for it, else in LMDB),
 * decides fresh/stale/expired, and hands the record to a delivery function
 * while the bytes are still held: the read transaction open, or the L1
 * held against nested reads.
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
#include "l1.h"
#include "ops.h"
#include "payload.h"
#include "recency.h"
#include "record.h"
#include "stamps.h"
#include "stats.h"

typedef int (*deliver_fn)(const struct shmc__record *r, int status,
                          void *arg);

/* Hand r to deliver, opening a compressed or encrypted value first. A
 * value that does not open (another key, altered bytes) is a miss, never
 * wrong data. */
static int deliver_value(struct shmc__instance *inst,
                         const struct shmc__protect *p,
                         const struct shmc__key *k,
                         const struct shmc__record *r, int status,
                         deliver_fn deliver, void *arg,
                         enum shmc__counter *counted)
{
    if (!(r->flags & SHMC__REC_ENCODED) && !p->value_keys)
        return deliver(r, status, arg);
    struct shmc__record plain = *r;
    void *owned;
    int rc = shmc__payload_open(p, k, r, &owned, &plain.value,
                                &plain.value_len);
    if (rc == SHMC_ECORRUPT) {
        if (p->value_keys)
            shmc__count(inst->shard, SHMC__C_DECRYPT_FAILURES, 1);
        *counted = SHMC__C_MISSES;
        return SHMC_ENOTFOUND;
    }
    if (rc)
        return rc;
    rc = deliver(&plain, status, arg);
    shmc__payload_release(owned, plain.value_len);
    return rc;
}

/* Delivers nothing: for a cached "not found", whose only content is that
 * it opens. */
static int deliver_status(const struct shmc__record *r, int status,
                          void *arg)
{
    (void)r;
    (void)arg;
    return status;
}

/* A found record: judge it fresh, stale or expired, hand it to deliver if
 * the caller may have it, and say which counter the read goes to. */
static int serve(struct shmc__instance *inst, const struct shmc__protect *p,
                 const struct shmc__key *k, const struct shmc__record *r,
                 unsigned flags, deliver_fn deliver, void *arg,
                 enum shmc__counter *counted)
{
    /* An entry that never goes stale needs no clock, a good part of a
     * read's own time otherwise. */
    uint64_t now = r->fresh_until == UINT64_MAX ? 0 : shmc__now_ms();
    switch (shmc__record_freshness(r, now)) {
    case SHMC__FRESH:
        /* A cached "not found": a hit for get_or_compute, which asked for
         * it; an ordinary miss for everyone else. */
        if (r->flags & SHMC__REC_NEGATIVE) {
            if (!(flags & SHMC__GET_NEGATIVE))
                return SHMC_ENOTFOUND;
            *counted = SHMC__C_HITS;
            /* Sealed like a value, so that a flag flipped on another
             * record cannot make the key look absent. */
            return deliver_value(inst, p, k, r, SHMC__NEGATIVE,
                                 deliver_status, NULL, counted);
        }
        *counted = SHMC__C_HITS;
        return deliver_value(inst, p, k, r, 0, deliver, arg, counted);
    case SHMC__STALE:
        if (!(flags & SHMC_GET_STALE) || (r->flags & SHMC__REC_NEGATIVE))
            return SHMC_ENOTFOUND;
        *counted = SHMC__C_STALE_HITS;
        return deliver_value(inst, p, k, r, SHMC_STALE, deliver, arg,
                             counted);
    case SHMC__EXPIRED:
        break;
    }
    if (!(flags & SHMC__GET_UNCOUNTED))
        shmc__count(inst->shard, SHMC__C_EXPIRED, 1);
    return SHMC_ENOTFOUND;
}

/* serve() with the thread's cache held, so that a view callback reading
 * inside it is not overwritten by a nested read. */
static int serve_held(struct shmc__instance *inst,
                      const struct shmc__protect *p,
                      const struct shmc__key *k, struct shmc__l1 *l1,
                      const struct shmc__record *r, unsigned flags,
                      deliver_fn deliver, void *arg,
                      enum shmc__counter *counted)
{
    if (!l1)
        return serve(inst, p, k, r, flags, deliver, arg, counted);
    shmc__l1_hold(l1);
    int rc = serve(inst, p, k, r, flags, deliver, arg, counted);
    shmc__l1_release(l1);
    return rc;
}

/* Read from LMDB; with a cache, keep a copy if the key's stamps show that
 * no write of it began since `view` was read before the transaction (and
 * the value is stored as it is: the cache keeps no opened values). */
static int read_lmdb(struct shmc__instance *inst,
                     const struct shmc__protect *p, const struct shmc__key *k,
                     struct shmc__l1 *l1, uint64_t hash,
                     const struct shmc__stamp_view *view, unsigned flags,
                     deliver_fn deliver, void *arg,
                     enum shmc__counter *counted)
{
    struct shmc__txn t;
    struct shmc__record r;
    int rc = shmc__read_begin(inst->store, &t);
    if (rc)
        return rc;
    rc = shmc__entry_find(&t, k, &r);
    /* A record that does not parse is no entry: a miss, which the next
     * write of the key replaces (shmc_verify reports it). */
    if (rc == SHMC_ECORRUPT)
        rc = SHMC_ENOTFOUND;
    if (rc == 0) {
        rc = serve_held(inst, p, k, l1, &r, flags, deliver, arg, counted);
        if (view && !(r.flags & SHMC__REC_ENCODED) && !p->value_keys &&
            shmc__stamps_same(&inst->ctl, view))
            shmc__l1_store(l1, view, hash, k->full, k->full_len, &r);
    }
    shmc__read_end(&t);
    return rc;
}

static int read_entry(shmc_cache *c, const void *key, size_t klen,
                      unsigned flags, deliver_fn deliver, void *arg)
{
    struct shmc__instance *inst;
    struct shmc__key k;
    struct shmc__record r;
    if (!c)
        return shmc__fail(SHMC_EINVAL, "get: NULL handle");
    int rc = shmc__protect_entries_allowed(c);
    if (rc == 0)
        rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__key_make(&k, key, klen, &c->protect.keying);
    if (rc)
        return rc;
    enum shmc__counter counted = SHMC__C_MISSES;
    struct shmc__l1 *l1 = NULL;
    struct shmc__stamp_view view;
    uint64_t hash = shmc__key_hash(key, klen);
    /* The mark is touched after the lookup; fetching its cache line now
     * lets that miss overlap LMDB's walk. */
    __builtin_prefetch((const void *)shmc__recency_mark(&inst->ctl, hash), 1);
    int cacheable = 0;
    if (c->opts.l1_entries)
        l1 = shmc__l1_of_thread(c->id, c->opts.l1_entries);
    if (l1 && shmc__l1_find(l1, &inst->ctl, hash, key, klen, &r) == 0) {
        /* The stamps vouch that LMDB holds this very record. */
        rc = serve_held(inst, &c->protect, &k, l1, &r, flags, deliver, arg,
                        &counted);
        if (counted != SHMC__C_MISSES && !(flags & SHMC__GET_UNCOUNTED))
            shmc__count(inst->shard, SHMC__C_L1_HITS, 1);
    } else {
        if (l1)
            cacheable = shmc__stamps_read(&inst->ctl, hash, &view);
        rc = read_lmdb(inst, &c->protect, &k, l1, hash,
                       cacheable ? &view : NULL, flags, deliver, arg,
                       &counted);
    }
    /* A hit counts even if delivery failed (a small buffer); an error that
     * prevented the lookup counts as nothing. */
    if (counted != SHMC__C_MISSES)
        shmc__recency_touch(&inst->ctl, hash);
    if ((counted != SHMC__C_MISSES || rc == SHMC_ENOTFOUND) &&
        !(flags & SHMC__GET_UNCOUNTED))
        shmc__count(inst->shard, counted, 1);
    return rc;
}

static int check_flags(unsigned flags)
{
    return flags & ~SHMC_GET_STALE
               ? shmc__fail(SHMC_EINVAL, "get: unknown flags %#x", flags)
               : 0;
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
        shmc__record_meta(r, o->meta);
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
    int rc = check_flags(flags);
    return rc ? rc : read_entry(c, key, klen, flags, deliver_copy, &o);
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
        shmc__record_meta(r, o->meta);
    return status;
}

int shmc__read_alloc(shmc_cache *c, const void *key, size_t klen,
                     unsigned flags, void **val, size_t *len,
                     shmc_meta *meta)
{
    if (!val || !len)
        return shmc__fail(SHMC_EINVAL, "shmc_get_alloc: NULL argument");
    *val = NULL;
    struct alloc_out o = {val, len, meta};
    return read_entry(c, key, klen, flags, deliver_alloc, &o);
}

int shmc_get_alloc(shmc_cache *c, const void *key, size_t klen, void **val,
                   size_t *len, shmc_meta *meta, unsigned flags)
{
    int rc = check_flags(flags);
    if (rc && val)
        *val = NULL;
    return rc ? rc : shmc__read_alloc(c, key, klen, flags, val, len, meta);
}

struct view_out {
    shmc_view_fn fn;
    void *arg;
};

static int deliver_view(const struct shmc__record *r, int status, void *arg)
{
    struct view_out *o = arg;
    shmc_meta m;
    shmc__record_meta(r, &m);
    (void)status;
    return o->fn(r->value, r->value_len, &m, o->arg);
}

int shmc_get_view(shmc_cache *c, const void *key, size_t klen,
                  unsigned flags, shmc_view_fn fn, void *arg)
{
    if (!fn)
        return shmc__fail(SHMC_EINVAL, "shmc_get_view: NULL callback");
    struct view_out o = {fn, arg};
    int rc = check_flags(flags);
    return rc ? rc : read_entry(c, key, klen, flags, deliver_view, &o);
}
