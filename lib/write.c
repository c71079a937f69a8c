/* write.c - every call that changes entries.
 *
 * Each call is one LMDB write transaction (del_prefix: a series of small
 * ones) run through a struct writer and ended by commit_write(), the one
 * place every committed change passes through: it moves the version stamps
 * of the keys changed (so that no process trusts an old copy, see
 * stamps.h) around the commit, and counts the change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "entry.h"
#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "ops.h"
#include "record.h"
#include "stamps.h"
#include "stats.h"

/* Records visited per transaction by del_prefix: keeps the writer lock
 * short for other processes. */
#define PREFIX_BATCH 1024

struct expiry {
    uint64_t fresh_until, expires_at;
};

static struct expiry expiry_from(const shmc_set_opts *o, uint64_t now)
{
    struct expiry e;
    if (o->fresh_until_ms)
        e.fresh_until = o->fresh_until_ms;
    else
        e.fresh_until = o->ttl_ms ? shmc__add_ms(now, o->ttl_ms) : UINT64_MAX;
    e.expires_at = shmc__add_ms(e.fresh_until, o->stale_ms);
    return e;
}

/* One write transaction and what it changes. */
struct writer {
    struct shmc__instance *inst;
    struct shmc__txn t;
    struct shmc__touched touched;
};

static int begin_write(shmc_cache *c, struct writer *w)
{
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    memset(&w->touched, 0, sizeof w->touched);
    int rc = shmc__instance_get(c, &w->inst);
    return rc ? rc : shmc__write_begin(w->inst->store, &w->t);
}

static void abort_write(struct writer *w)
{
    shmc__write_abort(&w->t);
}

static int commit_write(struct writer *w, uint64_t sets, uint64_t deletes)
{
    struct shmc__instance *inst = w->inst;
    shmc__stamps_open(&inst->ctl, &w->touched);
    int rc = shmc__write_commit(&w->t);
    shmc__stamps_close(&inst->ctl, &w->touched);
    if (rc)
        return rc;
    if (sets)
        shmc__count(inst->shard, SHMC__C_SETS, sets);
    if (deletes)
        shmc__count(inst->shard, SHMC__C_DELETES, deletes);
    return 0;
}

/* Write a record for k with a new version and the given SHMC__REC_*
 * flags; *meta (may be NULL) describes it. */
static int put_entry(struct writer *w, const struct shmc__key *k,
                     const void *val, size_t vlen, uint64_t now,
                     struct expiry e, unsigned rec_flags, shmc_meta *meta)
{
    struct shmc__instance *inst = w->inst;
    if (vlen > UINT32_MAX || vlen > inst->max_record)
        return shmc__fail(SHMC_ETOOBIG,
                          "value of %zu bytes; a record may take at most %llu",
                          vlen, (unsigned long long)inst->max_record);
    int hashed = shmc__key_hashed(k);
    struct shmc__record r = {
        .flags = (uint8_t)rec_flags,
        .fresh_until = e.fresh_until,
        .expires_at = e.expires_at,
        .version = shmc__control_next_version(&inst->ctl, now),
        .key = hashed ? k->full : NULL,
        .key_len = hashed ? (uint16_t)k->full_len : 0,
        .value = val,
        .value_len = vlen,
    };
    size_t size = shmc__record_size(&r);
    if (size > inst->max_record)
        return shmc__fail(SHMC_ETOOBIG,
                          "record of %zu bytes; at most %llu (half the map)",
                          size, (unsigned long long)inst->max_record);
    void *dst;
    int rc = shmc__put(&w->t, k->table, k->stored, k->stored_len, size, &dst);
    if (rc)
        return rc;
    shmc__record_encode(dst, &r);
    shmc__touched_key(&w->touched, shmc__key_hash(k->full, k->full_len));
    if (meta)
        *meta = (shmc_meta){
            .version = r.version,
            .stored_at_ms = shmc__version_time(r.version),
            .fresh_until_ms = r.fresh_until,
            .expires_at_ms = r.expires_at,
            .value_len = (uint32_t)vlen,
        };
    return 0;
}

/* The live (fresh or stale) record of k: 0, or SHMC_ENOTFOUND when absent,
 * expired or unreadable (a writer may replace those). */
static int find_live(struct shmc__txn *t, const struct shmc__key *k,
                     uint64_t now, struct shmc__record *r)
{
    int rc = shmc__entry_find(t, k, r);
    if (rc == SHMC_ECORRUPT ||
        (rc == 0 && shmc__record_freshness(r, now) == SHMC__EXPIRED))
        rc = SHMC_ENOTFOUND;
    return rc;
}

int shmc__write_record(shmc_cache *c, const void *key, size_t klen,
                       const void *val, size_t vlen,
                       const shmc_set_opts *opts, unsigned rec_flags,
                       shmc_meta *meta)
{
    static const shmc_set_opts none;
    const shmc_set_opts *o = opts ? opts : &none;
    struct writer w;
    struct shmc__key k;
    struct shmc__record old;
    if (o->flags & ~SHMC_SET_ADD)
        return shmc__fail(SHMC_EINVAL, "set: unknown flags %#x", o->flags);
    if (!val && vlen)
        return shmc__fail(SHMC_EINVAL, "set: NULL value of length %zu", vlen);
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    uint64_t now = shmc__now_ms();
    rc = shmc__key_make(&k, key, klen, w.inst->max_direct_key);
    if (rc == 0 && ((o->flags & SHMC_SET_ADD) || o->if_version)) {
        int live = find_live(&w.t, &k, now, &old);
        if (live != 0 && live != SHMC_ENOTFOUND)
            rc = live;
        else if ((o->flags & SHMC_SET_ADD) && live == 0 &&
                 !(old.flags & SHMC__REC_NEGATIVE))
            rc = shmc__fail(SHMC_EEXIST, "add: the key is present");
        else if (o->if_version && (live != 0 || old.version != o->if_version))
            rc = shmc__fail(SHMC_ECONFLICT, "set: version %llu expected",
                            (unsigned long long)o->if_version);
    }
    if (rc == 0)
        rc = put_entry(&w, &k, val, vlen, now, expiry_from(o, now),
                       rec_flags, meta);
    if (rc) {
        abort_write(&w);
        return rc;
    }
    return commit_write(&w, 1, 0);
}

int shmc_set_ex(shmc_cache *c, const void *key, size_t klen, const void *val,
                size_t vlen, const shmc_set_opts *opts, uint64_t *version)
{
    shmc_meta m;
    int rc = shmc__write_record(c, key, klen, val, vlen, opts, 0, &m);
    if (rc == 0 && version)
        *version = m.version;
    return rc;
}

int shmc_set(shmc_cache *c, const void *key, size_t klen, const void *val,
             size_t vlen, uint64_t ttl_ms)
{
    shmc_set_opts o = {.ttl_ms = ttl_ms};
    return shmc_set_ex(c, key, klen, val, vlen, &o, NULL);
}

int shmc_set_at(shmc_cache *c, const void *key, size_t klen, const void *val,
                size_t vlen, uint64_t expires_at_ms)
{
    shmc_set_opts o = {.fresh_until_ms = expires_at_ms};
    return shmc_set_ex(c, key, klen, val, vlen, &o, NULL);
}

int shmc_add(shmc_cache *c, const void *key, size_t klen, const void *val,
             size_t vlen, uint64_t ttl_ms)
{
    shmc_set_opts o = {.ttl_ms = ttl_ms, .flags = SHMC_SET_ADD};
    return shmc_set_ex(c, key, klen, val, vlen, &o, NULL);
}

int shmc_touch(shmc_cache *c, const void *key, size_t klen, uint64_t ttl_ms)
{
    struct writer w;
    struct shmc__key k;
    struct shmc__record old;
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    uint64_t now = shmc__now_ms();
    rc = shmc__key_make(&k, key, klen, w.inst->max_direct_key);
    if (rc == 0)
        rc = find_live(&w.t, &k, now, &old);
    void *copy = NULL;
    if (rc == 0) {
        /* The old value lives in a page the new record may overwrite. */
        copy = malloc(old.value_len ? old.value_len : 1);
        if (!copy)
            rc = shmc__fail(-ENOMEM, "touch: no memory");
    }
    if (rc == 0) {
        memcpy(copy, old.value, old.value_len);
        shmc_set_opts o = {.ttl_ms = ttl_ms,
                           .stale_ms = old.expires_at - old.fresh_until};
        rc = put_entry(&w, &k, copy, old.value_len, now, expiry_from(&o, now),
                       old.flags, NULL);
    }
    free(copy);
    if (rc) {
        abort_write(&w);
        return rc;
    }
    return commit_write(&w, 0, 0);
}

/* Delete k's record: 0 if it was live, SHMC_ENOTFOUND if there was nothing
 * live (an expired or unreadable record of k goes all the same). */
static int delete_entry(struct writer *w, const struct shmc__key *k,
                        uint64_t now)
{
    struct shmc__record r;
    int rc = shmc__entry_find(&w->t, k, &r);
    if (rc != 0 && rc != SHMC_ECORRUPT)
        return rc;
    int was_live = rc == 0 && shmc__record_freshness(&r, now) !=
                                  SHMC__EXPIRED;
    rc = shmc__del(&w->t, k->table, k->stored, k->stored_len);
    if (rc)
        return rc;
    shmc__touched_key(&w->touched, shmc__key_hash(k->full, k->full_len));
    return was_live ? 0 : SHMC_ENOTFOUND;
}

int shmc_del(shmc_cache *c, const void *key, size_t klen)
{
    struct writer w;
    struct shmc__key k;
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    rc = shmc__key_make(&k, key, klen, w.inst->max_direct_key);
    if (rc == 0)
        rc = delete_entry(&w, &k, shmc__now_ms());
    if (rc != 0 && rc != SHMC_ENOTFOUND) {
        abort_write(&w);
        return rc;
    }
    /* Commit even when nothing live went: an expired record may have. */
    int crc = commit_write(&w, 0, rc == 0);
    return crc ? crc : rc;
}

int shmc_mset(shmc_cache *c, const shmc_item *items, size_t n,
              const shmc_set_opts *opts)
{
    static const shmc_set_opts none;
    const shmc_set_opts *o = opts ? opts : &none;
    struct writer w;
    if ((!items && n) || o->flags || o->if_version)
        return shmc__fail(SHMC_EINVAL,
                          "mset: NULL items, or add/compare-and-set asked");
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    uint64_t now = shmc__now_ms();
    struct expiry e = expiry_from(o, now);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct shmc__key k;
        if (!items[i].val && items[i].vlen)
            rc = shmc__fail(SHMC_EINVAL, "mset: item %zu has a NULL value",
                            i);
        else
            rc = shmc__key_make(&k, items[i].key, items[i].klen,
                                w.inst->max_direct_key);
        if (rc == 0)
            rc = put_entry(&w, &k, items[i].val, items[i].vlen, now, e, 0,
                           NULL);
    }
    if (rc) {
        abort_write(&w);
        return rc;
    }
    return commit_write(&w, n, 0);
}

int shmc_mdel(shmc_cache *c, const shmc_item *items, size_t n,
              size_t *deleted)
{
    struct writer w;
    size_t count = 0;
    if (!items && n)
        return shmc__fail(SHMC_EINVAL, "mdel: NULL items");
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    uint64_t now = shmc__now_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct shmc__key k;
        rc = shmc__key_make(&k, items[i].key, items[i].klen,
                            w.inst->max_direct_key);
        if (rc == 0)
            rc = delete_entry(&w, &k, now);
        if (rc == 0)
            count++;
        else if (rc == SHMC_ENOTFOUND)
            rc = 0;
    }
    if (rc == 0)
        rc = commit_write(&w, 0, count);
    else
        abort_write(&w);
    if (deleted)
        *deleted = rc == 0 ? count : 0;
    return rc;
}

/* ---- delete by prefix ----------------------------------------------- */

struct prefix_scan {
    enum shmc__table table;
    const void *prefix;
    size_t plen;
    /* Where the next batch starts: the first stored key >= pos. */
    unsigned char pos[SHMC__MAX_DIRECT_KEY];
    size_t pos_len;
    int done;
};

static int has_prefix(const void *p, size_t len, const struct prefix_scan *s)
{
    return len >= s->plen && memcmp(p, s->prefix, s->plen) == 0;
}

/* One transaction's worth of a prefix scan. The entries table is ordered by
 * the user's key, so the scan starts at the prefix and stops after it; the
 * hashed table is ordered by digest, so every record's full key is looked
 * at. */
static int prefix_batch(struct shmc__txn *t, struct prefix_scan *s,
                        uint64_t now, size_t *deleted)
{
    struct shmc__cursor *cur;
    struct shmc__bytes k, v;
    int rc = shmc__cursor_open(t, s->table, &cur);
    if (rc)
        return rc;
    rc = shmc__cursor_seek(cur, s->pos, s->pos_len, &k, &v);
    for (int visited = 0; rc == 0 && visited < PREFIX_BATCH; visited++) {
        struct shmc__record r;
        int decoded = shmc__record_decode(v.data, v.len, &r) == 0;
        const void *user_key = NULL;
        size_t user_len = 0;
        if (s->table == SHMC__T_ENTRIES) {
            if (!has_prefix(k.data, k.len, s)) {
                s->done = 1;
                break;
            }
            user_key = k.data;
            user_len = k.len;
        } else if (decoded) {
            user_key = r.key;
            user_len = r.key_len;
        }
        memcpy(s->pos, k.data, k.len);
        s->pos_len = k.len;
        if (user_key && has_prefix(user_key, user_len, s)) {
            if (decoded &&
                shmc__record_freshness(&r, now) != SHMC__EXPIRED)
                (*deleted)++;
            rc = shmc__cursor_del(cur);
            /* The cursor now stands past the deleted key: seek there. */
            if (rc == 0)
                rc = shmc__cursor_seek(cur, s->pos, s->pos_len, &k, &v);
        } else {
            rc = shmc__cursor_next(cur, &k, &v);
        }
    }
    shmc__cursor_close(cur);
    if (rc == SHMC_ENOTFOUND) {
        s->done = 1;
        rc = 0;
    }
    return rc;
}

int shmc_del_prefix(shmc_cache *c, const void *prefix, size_t plen,
                    size_t *deleted)
{
    size_t total = 0;
    if (!c || !prefix || plen == 0 || plen > SHMC_MAX_KEY_LEN)
        return shmc__fail(SHMC_EINVAL,
                          "del_prefix: a prefix of 1 to %u bytes is needed",
                          SHMC_MAX_KEY_LEN);
    struct shmc__instance *inst;
    int rc = shmc__instance_get(c, &inst);
    struct prefix_scan *s = calloc(1, sizeof *s);
    if (rc == 0 && !s)
        rc = shmc__fail(-ENOMEM, "del_prefix: no memory");
    for (int tb = SHMC__T_ENTRIES; tb <= SHMC__T_HASHED && rc == 0; tb++) {
        s->table = (enum shmc__table)tb;
        s->prefix = prefix;
        s->plen = plen;
        s->done = 0;
        s->pos_len = 0;
        if (tb == SHMC__T_ENTRIES) {
            /* A prefix longer than any direct key can only match long keys. */
            if (plen > inst->max_direct_key)
                continue;
            memcpy(s->pos, prefix, plen);
            s->pos_len = plen;
        }
        while (rc == 0 && !s->done) {
            struct writer w;
            size_t batch = 0;
            rc = begin_write(c, &w);
            if (rc)
                break;
            /* A batch deletes up to PREFIX_BATCH keys: more than the
             * stamps of single keys can say. */
            shmc__touched_all(&w.touched);
            rc = prefix_batch(&w.t, s, shmc__now_ms(), &batch);
            if (rc) {
                abort_write(&w);
                break;
            }
            rc = commit_write(&w, 0, batch);
            if (rc == 0)
                total += batch;
        }
    }
    free(s);
    if (deleted)
        *deleted = total;
    return rc;
}

int shmc_clear(shmc_cache *c)
{
    struct writer w;
    int rc = begin_write(c, &w);
    if (rc)
        return rc;
    shmc__touched_all(&w.touched);
    for (int tb = SHMC__T_ENTRIES; tb <= SHMC__T_HASHED && rc == 0; tb++)
        rc = shmc__empty(&w.t, (enum shmc__table)tb, NULL);
    if (rc) {
        abort_write(&w);
        return rc;
    }
    return commit_write(&w, 0, 0);
}
