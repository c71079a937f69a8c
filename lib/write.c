/* write.c - every call that changes entries.
 *
 * Each call is one change run by shmc__writer_run() in one LMDB write
 * transaction (del_prefix: a series of small ones); calls that add to the
 * map ask it to make room first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "entry.h"
#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "ops.h"
#include "outbox.h"
#include "payload.h"
#include "recency.h"
#include "record.h"
#include "stamps.h"
#include "stats.h"
#include "walk.h"
#include "writer.h"

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

/* Write a record for k with a new version and the given SHMC__REC_*
 * flags (the value's own, compressed and encrypted, are added here);
 * *meta (may be NULL) describes it. */
static int put_entry(struct shmc__writer *w, const struct shmc__key *k,
                     const void *val, size_t vlen, uint64_t now,
                     struct expiry e, unsigned rec_flags, shmc_meta *meta)
{
    struct shmc__instance *inst = w->inst;
    struct shmc__payload pl;
    if (vlen > UINT32_MAX || vlen > inst->max_record)
        return shmc__fail(SHMC_ETOOBIG,
                          "value of %zu bytes; a record may take at most %llu",
                          vlen, (unsigned long long)inst->max_record);
    int rc = shmc__payload_make(w->protect, val, vlen, &pl);
    if (rc)
        return rc;
    int hashed = shmc__key_hashed(k);
    struct shmc__record r = {
        .flags = (uint8_t)(rec_flags | pl.flags),
        .fresh_until = e.fresh_until,
        .expires_at = e.expires_at,
        .version = shmc__control_next_version(&inst->ctl, now),
        .key = hashed ? k->full : NULL,
        .key_len = hashed ? (uint16_t)k->full_len : 0,
        /* Encrypted bytes are written in place, after the header. */
        .value = pl.flags & SHMC__REC_ENCRYPTED ? NULL : pl.data,
        .value_len = pl.stored_len,
    };
    size_t size = shmc__record_size(&r);
    void *dst = NULL;
    if (size > inst->max_record)
        rc = shmc__fail(SHMC_ETOOBIG,
                        "record of %zu bytes; at most %llu (half the map)",
                        size, (unsigned long long)inst->max_record);
    if (size > w->largest_record)
        w->largest_record = size;
    if (rc == 0)
        rc = shmc__put(&w->t, k->table, k->stored, k->stored_len, size, &dst);
    if (rc == 0)
        shmc__record_encode(dst, &r);
    if (rc == 0 && (pl.flags & SHMC__REC_ENCRYPTED))
        rc = shmc__payload_seal(w->protect, &pl, k, dst,
                                (char *)dst + SHMC__RECORD_HEADER + r.key_len);
    shmc__payload_free(&pl);
    if (rc)
        return rc;
    r.value_len = vlen;
    uint64_t hash = shmc__key_hash(k->full, k->full_len);
    shmc__touched_key(&w->touched, hash);
    /* A new entry gets the second chance a read would give it. */
    shmc__recency_touch(&inst->ctl, hash);
    if (meta)
        shmc__record_meta(&r, meta);
    return 0;
}

/* A live record's value in the clear: val points into the record, or
 * into owned (free it with shmc__payload_release). */
struct live_value {
    void *owned;
    const void *val;
    size_t len;
};

/* The live (fresh or stale) record of k: 0, or SHMC_ENOTFOUND when absent,
 * expired, unreadable or not opening (a writer may replace those, as a
 * reader would miss them). *v (may be NULL) gets its value. */
static int find_live(struct shmc__writer *w, const struct shmc__key *k,
                     uint64_t now, struct shmc__record *r,
                     struct live_value *v)
{
    struct live_value unused;
    int rc = shmc__entry_find(&w->t, k, r);
    if (rc == SHMC_ECORRUPT ||
        (rc == 0 && shmc__record_freshness(r, now) == SHMC__EXPIRED))
        return SHMC_ENOTFOUND;
    if (rc)
        return rc;
    if (!v)
        v = &unused;
    rc = shmc__payload_open(w->protect, k, r, &v->owned, &v->val, &v->len);
    if (rc == SHMC_ECORRUPT) {
        if (r->flags & SHMC__REC_ENCRYPTED)
            shmc__count(w->inst->shard, SHMC__C_DECRYPT_FAILURES, 1);
        return SHMC_ENOTFOUND;
    }
    if (rc == 0 && v == &unused)
        shmc__payload_release(unused.owned, unused.len);
    return rc;
}

struct record_write {
    const void *key, *val;
    size_t klen, vlen;
    const shmc_set_opts *opts;
    unsigned rec_flags;
    shmc_meta *meta;
};

static int write_record(struct shmc__writer *w, void *arg, int *answer)
{
    const struct record_write *a = arg;
    const shmc_set_opts *o = a->opts;
    struct shmc__key k;
    struct shmc__record old;
    uint64_t now = shmc__now_ms();
    int rc = shmc__key_make(&k, a->key, a->klen, &w->protect->keying);
    if (rc == 0 && ((o->flags & SHMC_SET_ADD) || o->if_version)) {
        int live = find_live(w, &k, now, &old, NULL);
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
        rc = put_entry(w, &k, a->val, a->vlen, now, expiry_from(o, now),
                       a->rec_flags, a->meta);
    w->sets = 1;
    *answer = 0;
    return rc;
}

int shmc__write_record(shmc_cache *c, const void *key, size_t klen,
                       const void *val, size_t vlen,
                       const shmc_set_opts *opts, unsigned rec_flags,
                       shmc_meta *meta)
{
    static const shmc_set_opts none;
    struct record_write a = {
        .key = key, .klen = klen, .val = val, .vlen = vlen,
        .opts = opts ? opts : &none, .rec_flags = rec_flags, .meta = meta,
    };
    if (a.opts->flags & ~SHMC_SET_ADD)
        return shmc__fail(SHMC_EINVAL, "set: unknown flags %#x",
                          a.opts->flags);
    if (!val && vlen)
        return shmc__fail(SHMC_EINVAL, "set: NULL value of length %zu", vlen);
    return shmc__writer_run(c, SHMC__WRITE_ADDS, write_record, &a);
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

struct touch_write {
    const void *key;
    size_t klen;
    uint64_t ttl_ms;
};

static int touch_record(struct shmc__writer *w, void *arg, int *answer)
{
    const struct touch_write *a = arg;
    struct shmc__key k;
    struct shmc__record old;
    uint64_t now = shmc__now_ms();
    int rc = shmc__key_make(&k, a->key, a->klen, &w->protect->keying);
    struct live_value v;
    if (rc == 0)
        rc = find_live(w, &k, now, &old, &v);
    if (rc)
        return rc;
    /* The old value lives in a page the new record may overwrite, and an
     * encrypted one is bound to the old header: take it out in the clear,
     * and store it again. */
    size_t vlen = v.len;
    void *copy = v.owned ? v.owned : malloc(vlen ? vlen : 1);
    if (!copy)
        return shmc__fail(-ENOMEM, "touch: no memory");
    if (!v.owned)
        memcpy(copy, v.val, vlen);
    shmc_set_opts o = {.ttl_ms = a->ttl_ms,
                       .stale_ms = old.expires_at - old.fresh_until};
    rc = put_entry(w, &k, copy, vlen, now, expiry_from(&o, now),
                   old.flags & ~SHMC__REC_ENCODED, NULL);
    shmc__payload_release(copy, vlen);
    *answer = 0;
    return rc;
}

int shmc_touch(shmc_cache *c, const void *key, size_t klen, uint64_t ttl_ms)
{
    struct touch_write a = {.key = key, .klen = klen, .ttl_ms = ttl_ms};
    return shmc__writer_run(c, SHMC__WRITE_ADDS, touch_record, &a);
}

/* Delete k's record: 0 if it was live, SHMC_ENOTFOUND if there was nothing
 * live (an expired or unreadable record of k goes all the same). */
static int delete_entry(struct shmc__writer *w, const struct shmc__key *k,
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

struct key_delete {
    const void *key;
    size_t klen;
    const struct shmc__keying *keying;
    unsigned flags; /* SHMC__DELETE_ANNOUNCE */
};

/* Commits even when nothing live went: an expired record may have, and a
 * revocation travels whether or not this host held the key. */
static int delete_key(struct shmc__writer *w, void *arg, int *answer)
{
    const struct key_delete *a = arg;
    struct shmc__key k;
    int rc = shmc__key_make(&k, a->key, a->klen, a->keying);
    if (rc == 0)
        rc = delete_entry(w, &k, shmc__now_ms());
    if (rc != 0 && rc != SHMC_ENOTFOUND)
        return rc;
    w->deletes = rc == 0;
    *answer = rc;
    if (a->flags & SHMC__DELETE_ANNOUNCE)
        rc = a->keying->secret
                 ? shmc__outbox_append(w, SHMC_REVOKE_KEY, 1, k.stored,
                                       k.stored_len)
                 : shmc__outbox_append(w, SHMC_REVOKE_KEY, 0, a->key,
                                       a->klen);
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

int shmc__delete_key(shmc_cache *c, const void *key, size_t klen,
                     const struct shmc__keying *keying, unsigned flags)
{
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    struct key_delete a = {key, klen, keying ? keying : &c->protect.keying,
                           flags};
    return shmc__writer_run(c, flags & SHMC__WRITER_FLAGS, delete_key, &a);
}

int shmc_del(shmc_cache *c, const void *key, size_t klen)
{
    return shmc__delete_key(c, key, klen, NULL, 0);
}

struct many_write {
    const shmc_item *items;
    size_t n;
    const shmc_set_opts *opts;
};

static int write_many(struct shmc__writer *w, void *arg, int *answer)
{
    const struct many_write *a = arg;
    uint64_t now = shmc__now_ms();
    struct expiry e = expiry_from(a->opts, now);
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        const shmc_item *it = &a->items[i];
        struct shmc__key k;
        if (!it->val && it->vlen)
            rc = shmc__fail(SHMC_EINVAL, "mset: item %zu has a NULL value",
                            i);
        else
            rc = shmc__key_make(&k, it->key, it->klen,
                                &w->protect->keying);
        if (rc == 0)
            rc = put_entry(w, &k, it->val, it->vlen, now, e, 0, NULL);
    }
    w->sets = a->n;
    *answer = 0;
    return rc;
}

int shmc_mset(shmc_cache *c, const shmc_item *items, size_t n,
              const shmc_set_opts *opts)
{
    static const shmc_set_opts none;
    struct many_write a = {.items = items, .n = n,
                           .opts = opts ? opts : &none};
    if ((!items && n) || a.opts->flags || a.opts->if_version)
        return shmc__fail(SHMC_EINVAL,
                          "mset: NULL items, or add/compare-and-set asked");
    return shmc__writer_run(c, SHMC__WRITE_ADDS, write_many, &a);
}

struct many_delete {
    const shmc_item *items;
    size_t n;
    size_t deleted; /* out */
};

static int delete_many(struct shmc__writer *w, void *arg, int *answer)
{
    struct many_delete *a = arg;
    uint64_t now = shmc__now_ms();
    int rc = 0;
    a->deleted = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        struct shmc__key k;
        rc = shmc__key_make(&k, a->items[i].key, a->items[i].klen,
                            &w->protect->keying);
        if (rc == 0)
            rc = delete_entry(w, &k, now);
        if (rc == 0)
            a->deleted++;
        else if (rc == SHMC_ENOTFOUND)
            rc = 0;
    }
    w->deletes = a->deleted;
    *answer = 0;
    return rc;
}

int shmc_mdel(shmc_cache *c, const shmc_item *items, size_t n,
              size_t *deleted)
{
    struct many_delete a = {items, n, 0};
    if (!items && n)
        return shmc__fail(SHMC_EINVAL, "mdel: NULL items");
    int rc = shmc__writer_run(c, 0, delete_many, &a);
    if (deleted)
        *deleted = rc == 0 ? a.deleted : 0;
    return rc;
}

/* ---- delete by prefix ----------------------------------------------- */

struct prefix_scan {
    const void *prefix;
    size_t plen;
    unsigned flags;             /* SHMC__DELETE_ANNOUNCE: not yet done */
    int stored_form;            /* prefix is stored keys' own */
    struct shmc__walk_pos at;   /* committed */
    int done;                   /* the table is done with */
    struct shmc__walk_pos next; /* where the running batch got to */
    int next_done;
    size_t deleted;             /* live entries the running batch deleted */
    unsigned visited;
    uint64_t now;
};

static int has_prefix(const void *p, size_t len, const struct prefix_scan *s)
{
    return len >= s->plen && memcmp(p, s->prefix, s->plen) == 0;
}

/* The entries table is ordered by the user's key, so the scan starts at
 * the prefix and stops after it; the hashed table is ordered by digest, so
 * every record's full key is looked at. */
static enum shmc__verdict judge_prefix(struct shmc__bytes k,
                                       struct shmc__bytes v, void *arg)
{
    struct prefix_scan *s = arg;
    struct shmc__record r;
    if (s->visited++ == PREFIX_BATCH)
        return SHMC__STOP;
    int decoded = shmc__record_decode(v.data, v.len, &r) == 0;
    if (s->next.table == SHMC__T_ENTRIES && !has_prefix(k.data, k.len, s)) {
        s->next_done = 1;
        return SHMC__STOP;
    }
    /* A long key is in its record; one that does not decode is kept. */
    if (s->next.table == SHMC__T_HASHED &&
        (!decoded || !has_prefix(r.key, r.key_len, s)))
        return SHMC__KEEP;
    if (decoded && shmc__record_freshness(&r, s->now) != SHMC__EXPIRED)
        s->deleted++;
    return SHMC__DELETE;
}

/* One transaction's worth of a prefix scan, from s->at. A batch deletes
 * up to PREFIX_BATCH keys: more than the stamps of single keys can say, so
 * the epoch moves. The first batch of a revocation writes its outbox
 * record. */
static int prefix_batch(struct shmc__writer *w, void *arg, int *answer)
{
    struct prefix_scan *s = arg;
    int ended;
    s->next = s->at;
    s->next_done = 0;
    s->deleted = 0;
    s->visited = 0;
    s->now = shmc__now_ms();
    *answer = 0;
    shmc__touched_all(&w->touched);
    int rc = shmc__walk_table(&w->t, &s->next, judge_prefix, s, &ended);
    s->next_done |= ended;
    w->deletes = s->deleted;
    if (rc == 0 && (s->flags & SHMC__DELETE_ANNOUNCE))
        rc = shmc__outbox_append(w, SHMC_REVOKE_PREFIX, s->stored_form,
                                 s->prefix, s->plen);
    return rc;
}

int shmc__delete_prefix(shmc_cache *c, const void *prefix, size_t plen,
                        int stored_form, unsigned flags, size_t *deleted)
{
    size_t total = 0;
    if (!c || !prefix || plen == 0 || plen > SHMC_MAX_KEY_LEN)
        return shmc__fail(SHMC_EINVAL,
                          "del_prefix: a prefix of 1 to %u bytes is needed",
                          SHMC_MAX_KEY_LEN);
    struct shmc__instance *inst;
    unsigned char stored[SHMC__SECRET_KEY_MAX];
    const struct shmc__keying *ky = &c->protect.keying;
    int rc = shmc__instance_get(c, &inst);
    /* Under a key secret, a namespace's keys share a stored prefix, and
     * no key is in the hashed table. */
    if (rc == 0 && ky->secret && !stored_form) {
        rc = shmc__key_namespace(ky, prefix, plen, stored, &plen);
        prefix = stored;
        stored_form = 1;
    }
    int last_table = stored_form ? SHMC__T_ENTRIES : SHMC__T_HASHED;
    struct prefix_scan *s = calloc(1, sizeof *s);
    if (rc == 0 && !s)
        rc = shmc__fail(-ENOMEM, "del_prefix: no memory");
    for (int tb = SHMC__T_ENTRIES; tb <= last_table && rc == 0; tb++) {
        *s = (struct prefix_scan){.at.table = (enum shmc__table)tb,
                                  .prefix = prefix,
                                  .plen = plen,
                                  .flags = flags,
                                  .stored_form = stored_form};
        if (tb == SHMC__T_ENTRIES) {
            /* A prefix longer than any direct key can only match long
             * keys (the hashed table's first batch announces it). */
            if (plen > inst->max_direct_key)
                continue;
            memcpy(s->at.key, prefix, plen);
            s->at.len = plen;
        }
        while (rc == 0 && !s->done) {
            rc = shmc__writer_run(c, flags & SHMC__WRITER_FLAGS,
                                  prefix_batch, s);
            if (rc == 0) {
                s->at = s->next;
                s->done = s->next_done;
                total += s->deleted;
                flags &= ~SHMC__DELETE_ANNOUNCE;
                s->flags = flags;
            }
        }
    }
    free(s);
    if (deleted)
        *deleted = total;
    return rc;
}

int shmc_del_prefix(shmc_cache *c, const void *prefix, size_t plen,
                    size_t *deleted)
{
    return shmc__delete_prefix(c, prefix, plen, 0, 0, deleted);
}

static int clear_all(struct shmc__writer *w, void *arg, int *answer)
{
    const unsigned *flags = arg;
    int rc = 0;
    shmc__touched_all(&w->touched);
    for (int tb = SHMC__T_ENTRIES; tb <= SHMC__T_HASHED && rc == 0; tb++)
        rc = shmc__empty(&w->t, (enum shmc__table)tb, NULL);
    if (rc == 0 && (*flags & SHMC__DELETE_ANNOUNCE))
        rc = shmc__outbox_append(w, SHMC_REVOKE_ALL, 0, NULL, 0);
    *answer = 0;
    return rc;
}

int shmc__delete_all(shmc_cache *c, unsigned flags)
{
    return shmc__writer_run(c, flags & SHMC__WRITER_FLAGS, clear_all,
                            &flags);
}

int shmc_clear(shmc_cache *c)
{
    return shmc__delete_all(c, 0);
}
