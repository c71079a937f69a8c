/* scan.c - walking every record in one read snapshot: shmc_scan lists
 * entries, shmc_verify checks them. */
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "protect.h"
#include "record.h"

/* A record written more than this far ahead of the clock is suspect. */
#define FUTURE_SLACK_MS 60000u

/* One record as a walk sees it. */
struct walked {
    enum shmc__table table;
    struct shmc__bytes stored; /* the key LMDB holds */
    struct shmc__bytes value;
};

typedef int (*visit_fn)(const struct walked *w, void *arg);

/* Call visit for each record of both tables, starting in entries at the
 * first key >= from (flen 0: the first); stop_after_prefix ends the
 * entries table once a key no longer starts with from. */
static int walk_all(shmc_cache *c, const void *from, size_t flen,
                    int stop_after_prefix, visit_fn visit, void *arg)
{
    struct shmc__instance *inst;
    struct shmc__txn t;
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__read_begin(inst->store, &t);
    if (rc)
        return rc;
    for (int tb = SHMC__T_ENTRIES; tb <= SHMC__T_HASHED && rc == 0; tb++) {
        struct shmc__cursor *cur;
        struct walked w = {.table = (enum shmc__table)tb};
        int direct = tb == SHMC__T_ENTRIES;
        /* A prefix longer than any direct key only matches long keys. */
        if (direct && flen > inst->max_direct_key)
            continue;
        rc = shmc__cursor_open(&t, w.table, &cur);
        if (rc)
            break;
        rc = shmc__cursor_seek(cur, direct ? from : NULL, direct ? flen : 0,
                               &w.stored, &w.value);
        while (rc == 0) {
            if (direct && stop_after_prefix && flen &&
                (w.stored.len < flen || memcmp(w.stored.data, from, flen)))
                break;
            rc = visit(&w, arg);
            if (rc == 0)
                rc = shmc__cursor_next(cur, &w.stored, &w.value);
        }
        shmc__cursor_close(cur);
        if (rc == SHMC_ENOTFOUND)
            rc = 0;
    }
    shmc__read_end(&t);
    return rc;
}

/* ---- shmc_scan ------------------------------------------------------- */

struct scan {
    const void *prefix;
    size_t plen;
    unsigned flags;
    uint64_t now;
    shmc_scan_fn fn;
    void *arg;
};

static int scan_one(const struct walked *w, void *arg)
{
    const struct scan *s = arg;
    struct shmc__record r;
    if (shmc__record_decode(w->value.data, w->value.len, &r) != 0)
        return 0;
    const void *key = w->table == SHMC__T_ENTRIES ? w->stored.data : r.key;
    size_t klen = w->table == SHMC__T_ENTRIES ? w->stored.len : r.key_len;
    /* Cached "not found" answers are no entries to a caller. */
    if (!key || (r.flags & SHMC__REC_NEGATIVE) || klen < s->plen ||
        (s->plen && memcmp(key, s->prefix, s->plen) != 0))
        return 0;
    if (!(s->flags & SHMC_SCAN_EXPIRED) &&
        shmc__record_freshness(&r, s->now) == SHMC__EXPIRED)
        return 0;
    shmc_meta m;
    shmc__record_meta(&r, &m);
    return s->fn(key, klen, &m, s->arg);
}

int shmc_scan(shmc_cache *c, const void *prefix, size_t plen, unsigned flags,
              shmc_scan_fn fn, void *arg)
{
    if (!fn || (plen && !prefix) || plen > SHMC_MAX_KEY_LEN)
        return shmc__fail(SHMC_EINVAL, "scan: no callback, or a bad prefix");
    if (flags & ~SHMC_SCAN_EXPIRED)
        return shmc__fail(SHMC_EINVAL, "scan: unknown flags %#x", flags);
    if (c && shmc__protect_entries_allowed(c))
        return SHMC_EKEYMISMATCH;
    if (c && c->protect.keying.secret)
        return shmc__fail(SHMC_EINVAL, "scan: keys are stored as HMACs "
                                       "under the key secret");
    struct scan s = {.prefix = prefix, .plen = plen, .flags = flags,
                     .now = shmc__now_ms(), .fn = fn, .arg = arg};
    return walk_all(c, prefix, plen, 1, scan_one, &s);
}

/* ---- shmc_verify ----------------------------------------------------- */

struct verify {
    uint64_t now;
    struct shmc__keying keying; /* how a long key is stored */
    shmc_verify_fn fn;
    void *arg;
    shmc_verify_result res;
};

/* What is wrong with a decoded record, beyond what decoding checks. */
static const char *record_problem(const struct verify *v,
                                  const struct walked *w,
                                  const struct shmc__record *r)
{
    if (shmc__version_time(r->version) > v->now + FUTURE_SLACK_MS)
        return "written in the future";
    /* An encrypted one holds the seal of an empty value. */
    size_t empty = r->flags & SHMC__REC_ENCRYPTED
                       ? SHMC__KEY_ID_LEN + SHMC__AEAD_OVERHEAD
                       : 0;
    if ((r->flags & SHMC__REC_NEGATIVE) && r->value_len != empty)
        return "a cached \"not found\" that holds a value";
    if (w->table == SHMC__T_ENTRIES)
        return r->key_len ? "a short key's record carries a key" : NULL;
    if (!r->key_len)
        return "a long key's record lacks its key";
    struct shmc__key k;
    if (shmc__key_make(&k, r->key, r->key_len, &v->keying) != 0 ||
        !shmc__key_hashed(&k))
        return "a short key stored under a digest";
    if (w->stored.len != SHMC__DIGEST_LEN ||
        memcmp(w->stored.data, k.digest, SHMC__DIGEST_LEN) != 0)
        return "the key does not match its digest";
    return NULL;
}

static int verify_one(const struct walked *w, void *arg)
{
    struct verify *v = arg;
    struct shmc__record r;
    v->res.records++;
    const char *what = shmc__record_problem(w->value.data, w->value.len, &r);
    if (!what)
        what = record_problem(v, w, &r);
    if (!what) {
        if (shmc__record_freshness(&r, v->now) == SHMC__EXPIRED)
            v->res.expired++;
        return 0;
    }
    v->res.problems++;
    return v->fn ? v->fn(w->stored.data, w->stored.len, what, v->arg) : 0;
}

int shmc_verify(shmc_cache *c, shmc_verify_fn fn, void *arg,
                shmc_verify_result *res)
{
    struct shmc__instance *inst;
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int rc = shmc__instance_get(c, &inst);
    if (rc)
        return rc;
    struct verify v = {.now = shmc__now_ms(),
                       .keying = {.max_direct = inst->max_direct_key},
                       .fn = fn,
                       .arg = arg};
    rc = walk_all(c, NULL, 0, 0, verify_one, &v);
    if (res)
        *res = v.res;
    return rc;
}
