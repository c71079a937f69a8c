/* evict.c - making room: the sweep of expired entries and CLOCK eviction.
 *
 * Both walk the tables (entries, then hashed, then round again) from a
 * position saved in the meta table, so that each call resumes where the
 * last one, in any process, stopped: the sweep's cursor and eviction's
 * clock hand are two such positions. A walk runs in batches, one write
 * transaction each, so the LMDB writer lock is never held for long (Redis's
 * active expire cycle works the same way).
 *
 * Removing an expired record moves no version stamp: a per-thread copy of
 * it is judged expired on every read just as the record was, so nobody can
 * be served something LMDB would not serve. Evicting a live record moves
 * its key's stamp like any delete. */
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "evict.h"
#include "keys.h"
#include "recency.h"
#include "record.h"
#include "stats.h"
#include "walk.h"

#define POS_SWEEP "sweep-cursor"
#define POS_EVICT "evict-hand"

#define DEFAULT_BUDGET_US 2000
#define DEFAULT_BATCH 256
/* A writer making room for its own write evicts at most this many live
 * keys: with its own they fit the stamps one transaction tracks, so the
 * epoch (every process's every copy) does not move. */
#define ROOM_EVICT_MAX (SHMC__TOUCHED_MAX - 1)
#define ROOM_VISIT_MAX 64
/* How long a writer that found the map full may spend evicting. */
#define FULL_BUDGET_US 200000
/* Bytes of the map kept free beyond any watermark (see above()). */
#define RESERVE_BYTES (128u * 1024)
/* The smallest batch an eviction falls back to when deleting finds the map
 * full. */
#define MIN_BATCH 8
/* An entry just read stays for the rest of the hand's pass and the next
 * one (recency.h): an eviction that went round this many times more
 * without removing anything has nothing left to remove. */
#define FRUITLESS_PASSES 2
/* After a full map, evict down to this far below the high watermark. */
#define FULL_MARGIN_PERCENT 10

struct walk {
    const char *name; /* meta key of the saved position */
    enum walk_stop {
        STOP_BELOW_TARGET, /* the map is down to the target */
        STOP_WENT_ROUND,   /* a sweep went round, or an eviction found
                              nothing more to remove */
        STOP_BUDGET,       /* the time was spent */
        STOP_BLOCKED,      /* not even a small batch could be written */
    } stop;
    int evict;        /* also evict live entries not read lately */
    unsigned visit_max, evict_max; /* per batch; evict_max 0: no limit */
    uint64_t now;
    shmc_sweep_result res; /* summed over batches */
};

/* A missing or damaged position starts at the beginning. */
static int load_pos(struct shmc__txn *t, const char *name,
                    struct shmc__walk_pos *p)
{
    struct shmc__bytes v;
    p->table = SHMC__T_ENTRIES;
    p->len = 0;
    int rc = shmc__get(t, SHMC__T_META, name, strlen(name), &v);
    if (rc)
        return rc == SHMC_ENOTFOUND ? 0 : rc;
    const unsigned char *b = v.data;
    if (v.len >= 1 && v.len - 1 <= sizeof p->key &&
        (b[0] == SHMC__T_ENTRIES || b[0] == SHMC__T_HASHED)) {
        p->table = (enum shmc__table)b[0];
        p->len = v.len - 1;
        memcpy(p->key, b + 1, p->len);
    }
    return 0;
}

static int save_pos(struct shmc__txn *t, const char *name,
                    const struct shmc__walk_pos *p)
{
    void *dst;
    int rc = shmc__put(t, SHMC__T_META, name, strlen(name), p->len + 1, &dst);
    if (rc == 0) {
        unsigned char *b = dst;
        b[0] = (unsigned char)p->table;
        memcpy(b + 1, p->key, p->len);
    }
    return rc;
}

/* One batch of a walk as it goes. */
struct batch {
    struct shmc__writer *w;
    const struct walk *wk;
    enum shmc__table table;
    unsigned visited, evicted, expired;
};

static int batch_full(const struct batch *b)
{
    return b->visited == b->wk->visit_max ||
           (b->wk->evict_max && b->evicted == b->wk->evict_max);
}

/* What the walk does with one record: remove it if expired (or if no
 * reader could decode it: it only takes room); with eviction, evict it if
 * not read since the hand last came by. */
static enum shmc__verdict judge(struct shmc__bytes k, struct shmc__bytes v,
                                void *arg)
{
    struct batch *b = arg;
    struct shmc__record r;
    if (batch_full(b))
        return SHMC__STOP;
    b->visited++;
    if (shmc__record_decode(v.data, v.len, &r) != 0 ||
        shmc__record_freshness(&r, b->wk->now) == SHMC__EXPIRED) {
        b->expired++;
        return SHMC__DELETE;
    }
    if (!b->wk->evict)
        return SHMC__KEEP;
    uint64_t hash = b->table == SHMC__T_ENTRIES
                        ? shmc__key_hash(k.data, k.len)
                        : shmc__key_hash(r.key, r.key_len);
    if (shmc__recency_recent(&b->w->inst->ctl, hash))
        return SHMC__KEEP;
    shmc__touched_key(&b->w->touched, hash);
    b->evicted++;
    return SHMC__DELETE;
}

/* One batch of a walk inside w's transaction: at most one time round. */
static int walk_batch(struct shmc__writer *w, struct walk *wk)
{
    struct shmc__walk_pos pos;
    struct batch b = {.w = w, .wk = wk};
    unsigned passes = 0;
    int rc = load_pos(&w->t, wk->name, &pos);
    while (rc == 0 && !batch_full(&b) && passes == 0) {
        int ended;
        b.table = pos.table;
        rc = shmc__walk_table(&w->t, &pos, judge, &b, &ended);
        if (rc == 0 && ended) {
            /* The end of a table: on to the other one. */
            if (pos.table == SHMC__T_HASHED) {
                passes++;
                w->hand_passes += wk->evict;
            }
            pos.table = pos.table == SHMC__T_ENTRIES ? SHMC__T_HASHED
                                                     : SHMC__T_ENTRIES;
            pos.len = 0;
        }
    }
    if (rc == 0)
        rc = save_pos(&w->t, wk->name, &pos);
    if (rc == 0) {
        w->evicted += b.evicted;
        w->expired_removed += b.expired;
        wk->res.visited += b.visited;
        wk->res.evicted += b.evicted;
        wk->res.expired += b.expired;
        wk->res.passes += passes;
    }
    return rc;
}

/* Whether more than percent of the map is in use, or more than all but
 * the reserve: a write transaction takes new pages for every page it
 * changes (evicting ones too), so a small map needs room beyond its
 * watermark. */
static int above(uint64_t used, uint64_t size, unsigned percent)
{
    uint64_t limit = size / 100 * percent;
    if (size > 2 * RESERVE_BYTES && limit > size - RESERVE_BYTES)
        limit = size - RESERVE_BYTES;
    return used > limit;
}

/* Walk in batches, each in a transaction of its own, until the budget is
 * spent and: a sweep (target_percent 0) has gone once round; an eviction
 * has brought the map down to target_percent, or gone round without
 * removing anything. */
static int walk_batches(shmc_cache *c, struct walk *wk, unsigned target_percent,
                        uint64_t budget_us)
{
    uint64_t start = shmc__monotonic_us();
    unsigned fruitless_passes = 0;
    for (;;) {
        struct shmc__writer w;
        uint64_t used, size;
        int rc = shmc__writer_begin(c, &w);
        if (rc)
            return rc;
        rc = shmc__store_space(&w.t, &used, &size);
        wk->res.map_used = used;
        if (rc || (target_percent && !above(used, size, target_percent))) {
            shmc__writer_abort(&w);
            wk->stop = STOP_BELOW_TARGET;
            return rc;
        }
        shmc_sweep_result before = wk->res;
        wk->now = shmc__now_ms();
        rc = walk_batch(&w, wk);
        /* What this batch leaves, in case it is the last. */
        if (rc == 0)
            rc = shmc__store_space(&w.t, &wk->res.map_used, &size);
        if (rc == 0)
            rc = shmc__writer_commit(&w);
        else
            shmc__writer_abort(&w);
        if (rc == SHMC_EFULL) {
            /* Deleting copies the pages it changes (and saving the
             * position takes one): with almost no page left, because
             * reads still hold the pages freed lately, delete less at a
             * time; when not even a small batch fits, stop, and the next
             * call goes on once the readers have moved on. */
            wk->res = before;
            if (wk->visit_max <= MIN_BATCH) {
                wk->stop = STOP_BLOCKED;
                return 0;
            }
            wk->visit_max /= 2;
            continue;
        }
        if (rc)
            return rc;
        if (wk->res.evicted + wk->res.expired > before.evicted + before.expired)
            fruitless_passes = 0;
        else
            fruitless_passes += wk->res.passes - before.passes;
        if ((!target_percent && wk->res.passes) ||
            fruitless_passes > FRUITLESS_PASSES) {
            wk->stop = STOP_WENT_ROUND;
            return 0;
        }
        if (shmc__monotonic_us() - start >= budget_us) {
            wk->stop = STOP_BUDGET;
            return 0;
        }
    }
}

int shmc__make_room(struct shmc__writer *w, unsigned high_percent)
{
    uint64_t used, size;
    /* Most writes find the map far from full: the high-water mark says so
     * without counting the tables' pages, a fifth of a set's work. */
    shmc__store_space_bound(&w->t, &used, &size);
    if (!above(used, size, high_percent))
        return 0;
    int rc = shmc__store_space(&w->t, &used, &size);
    if (rc || !above(used, size, high_percent))
        return rc;
    struct walk wk = {
        .name = POS_EVICT,
        .evict = 1,
        .visit_max = ROOM_VISIT_MAX,
        .evict_max = ROOM_EVICT_MAX,
        .now = shmc__now_ms(),
    };
    return walk_batch(w, &wk);
}

/* LMDB lets a transaction reuse the pages a commit freed only from the
 * second transaction after it: commit one that rewrites the hand's
 * position, so that the write tried next can have the pages an eviction
 * just freed. */
static void let_freed_pages_go(shmc_cache *c)
{
    struct shmc__writer w;
    struct shmc__walk_pos pos;
    if (shmc__writer_begin(c, &w))
        return;
    int rc = load_pos(&w.t, POS_EVICT, &pos);
    if (rc == 0)
        rc = save_pos(&w.t, POS_EVICT, &pos);
    if (rc == 0)
        shmc__writer_commit(&w);
    else
        shmc__writer_abort(&w);
}

enum shmc__room shmc__evict_after_full(shmc_cache *c, unsigned high_percent,
                                       unsigned attempt, int big, int *err)
{
    struct walk wk = {
        .name = POS_EVICT,
        .evict = 1,
        .visit_max = DEFAULT_BATCH,
    };
    /* A big write (a few percent of the map or more) that did not fit
     * after the first round needs a run of contiguous free pages: quarter
     * the target each time, down to 1%, which evicts everything. A small
     * one only ever asks for the first round's room. */
    unsigned shift = big ? (2 * attempt < 8 ? 2 * attempt : 8) : 0;
    unsigned target = high_percent > FULL_MARGIN_PERCENT
                          ? (high_percent - FULL_MARGIN_PERCENT) >> shift
                          : 0;
    if (target == 0)
        target = 1;
    *err = walk_batches(c, &wk, target, FULL_BUDGET_US);
    if (*err)
        return SHMC__ROOM_ERROR;
    int removed = wk.res.evicted + wk.res.expired > 0;
    if (removed || wk.stop == STOP_BELOW_TARGET)
        let_freed_pages_go(c);
    if (removed)
        return SHMC__ROOM_MADE;
    switch (wk.stop) {
    case STOP_BELOW_TARGET:
        return SHMC__ROOM_BELOW;
    case STOP_WENT_ROUND:
        return SHMC__ROOM_NOTHING_LEFT;
    case STOP_BUDGET:
    case STOP_BLOCKED:
        break;
    }
    return SHMC__ROOM_BLOCKED;
}

static void limits(const shmc_sweep_opts *o, uint64_t *budget_us,
                   unsigned *batch)
{
    *budget_us = o && o->budget_us ? o->budget_us : DEFAULT_BUDGET_US;
    *batch = o && o->batch ? o->batch : DEFAULT_BATCH;
}

int shmc_sweep(shmc_cache *c, const shmc_sweep_opts *opts,
               shmc_sweep_result *res)
{
    struct walk wk = {.name = POS_SWEEP};
    uint64_t budget;
    limits(opts, &budget, &wk.visit_max);
    int rc = walk_batches(c, &wk, 0, budget);
    if (res)
        *res = wk.res;
    if (rc)
        return rc;
    struct shmc__instance *inst;
    rc = shmc__instance_get(c, &inst);
    if (rc)
        return rc;
    shmc__count(inst->shard, SHMC__C_SWEEPS, 1);
    shmc__count(inst->shard, SHMC__C_SWEEP_PASSES, wk.res.passes);
    atomic_store_explicit(&inst->ctl.hdr->last_sweep_ms, shmc__now_ms(),
                          memory_order_relaxed);
    return 0;
}

int shmc_evict(shmc_cache *c, unsigned target_percent,
               const shmc_sweep_opts *opts, shmc_sweep_result *res)
{
    struct walk wk = {.name = POS_EVICT, .evict = 1};
    uint64_t budget;
    if (target_percent < 1 || target_percent > 99)
        return shmc__fail(SHMC_EINVAL,
                          "evict: target %u%% is not from 1 to 99",
                          target_percent);
    limits(opts, &budget, &wk.visit_max);
    int rc = walk_batches(c, &wk, target_percent, budget);
    if (res)
        *res = wk.res;
    return rc;
}
