/* handle.c - shmc_open, shmc_close, and what a handle reports about its
 * instance. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "instance.h"
#include "l1.h"
#include "locks.h"
#include "record.h"
#include "stats.h"

/* Below this the map cannot hold LMDB's own pages and a few entries. */
#define MIN_MAP_SIZE (1u << 20)

static _Atomic uint64_t next_handle_id = 1;

int shmc_open(shmc_cache **out, const char *path, const shmc_opts *opts)
{
    shmc__clear_error();
    if (!out)
        return shmc__fail(SHMC_EINVAL, "shmc_open: out is NULL");
    shmc_cache *c = calloc(1, sizeof *c);
    if (!c)
        return shmc__fail(-ENOMEM, "no memory for a handle");
    if (opts)
        c->opts = *opts;
    c->id = atomic_fetch_add(&next_handle_id, 1);
    int rc = 0;
    if (c->opts.map_size && c->opts.map_size < MIN_MAP_SIZE)
        rc = shmc__fail(SHMC_EINVAL, "map_size %llu is below the minimum %u",
                        (unsigned long long)c->opts.map_size, MIN_MAP_SIZE);
    else if (c->opts.lock_slots > SHMC__MAX_LOCK_SLOTS)
        rc = shmc__fail(SHMC_EINVAL, "lock_slots %u is above the maximum %u",
                        c->opts.lock_slots, SHMC__MAX_LOCK_SLOTS);
    else if (c->opts.recency_slots > SHMC__MAX_RECENCY_SLOTS)
        rc = shmc__fail(SHMC_EINVAL,
                        "recency_slots %u is above the maximum %u",
                        c->opts.recency_slots, SHMC__MAX_RECENCY_SLOTS);
    else if (c->opts.high_watermark &&
             (c->opts.high_watermark < 10 || c->opts.high_watermark > 99))
        rc = shmc__fail(SHMC_EINVAL,
                        "high_watermark %u is not a percentage from 10 to 99",
                        c->opts.high_watermark);
    else if (c->opts.flags & ~(SHMC_OPEN_NOCREATE | SHMC_OPEN_NOKEYS))
        rc = shmc__fail(SHMC_EINVAL, "unknown open flags %#x", c->opts.flags);
    if (rc == 0)
        rc = shmc__protect_init(&c->protect, &c->opts);
    /* The handle keeps its secrets in protect only. */
    c->opts.key_secret = NULL;
    c->opts.value_key = c->opts.old_value_keys = NULL;
    if (!c->opts.high_watermark)
        c->opts.high_watermark = SHMC_DEFAULT_HIGH_WATERMARK;
    c->path = strdup(path ? path : SHMC_DEFAULT_PATH);
    c->group = c->opts.group ? strdup(c->opts.group) : NULL;
    c->opts.group = c->group;
    if (rc == 0 && (!c->path || (c->opts.group && !c->group)))
        rc = shmc__fail(-ENOMEM, "no memory for a handle");
    int attached = 0;
    if (rc == 0)
        attached = (rc = shmc__instance_attach(c)) == 0;
    if (rc == 0 && !(c->opts.flags & SHMC_OPEN_NOKEYS))
        rc = shmc__protect_check(c, &c->protect);
    if (rc) {
        if (attached)
            shmc__instance_detach(c);
        shmc__protect_wipe(&c->protect);
        free(c->path);
        free(c->group);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void shmc_close(shmc_cache *c)
{
    if (!c)
        return;
    shmc__instance_detach(c);
    shmc__l1_forget(c->id);
    shmc__protect_wipe(&c->protect);
    free(c->path);
    free(c->group);
    free(c);
}

void shmc_free(void *p)
{
    free(p);
}

int shmc_stats_get(shmc_cache *c, shmc_stats *out)
{
    struct shmc__instance *inst;
    if (!c || !out)
        return shmc__fail(SHMC_EINVAL, "shmc_stats_get: NULL argument");
    int rc = shmc__instance_get(c, &inst);
    if (rc)
        return rc;
    uint64_t sum[SHMC__C_COUNT] = {0};
    for (unsigned s = 0; s < inst->ctl.hdr->counter_shards; s++) {
        _Atomic uint64_t *shard = shmc__control_shard(&inst->ctl, s);
        for (int i = 0; i < SHMC__C_COUNT; i++)
            sum[i] += atomic_load_explicit(&shard[i], memory_order_relaxed);
    }
    *out = (shmc_stats){
        .hits = sum[SHMC__C_HITS],
        .stale_hits = sum[SHMC__C_STALE_HITS],
        .misses = sum[SHMC__C_MISSES],
        .expired = sum[SHMC__C_EXPIRED],
        .sets = sum[SHMC__C_SETS],
        .deletes = sum[SHMC__C_DELETES],
        .l1_hits = sum[SHMC__C_L1_HITS],
        .locks = sum[SHMC__C_LOCKS],
        .lock_waits = sum[SHMC__C_LOCK_WAITS],
        .lock_timeouts = sum[SHMC__C_LOCK_TIMEOUTS],
        .lock_recoveries = sum[SHMC__C_LOCK_RECOVERIES],
        .computes = sum[SHMC__C_COMPUTES],
        .compute_errors = sum[SHMC__C_COMPUTE_ERRORS],
        .stale_served = sum[SHMC__C_STALE_SERVED],
        .revocations = sum[SHMC__C_REVOCATIONS],
        .evictions = sum[SHMC__C_EVICTIONS],
        .expired_removed = sum[SHMC__C_EXPIRED_REMOVED],
        .sweeps = sum[SHMC__C_SWEEPS],
        .sweep_passes = sum[SHMC__C_SWEEP_PASSES],
        .readers_reclaimed = sum[SHMC__C_READERS_RECLAIMED],
        .decrypt_failures = sum[SHMC__C_DECRYPT_FAILURES],
        .last_sweep_ms = atomic_load_explicit(&inst->ctl.hdr->last_sweep_ms,
                                              memory_order_relaxed),
        .outbox_overflows = sum[SHMC__C_OUTBOX_OVERFLOWS],
        .bridge_sent = sum[SHMC__C_BRIDGE_SENT],
        .bridge_received = sum[SHMC__C_BRIDGE_RECEIVED],
        .bridge_applied = sum[SHMC__C_BRIDGE_APPLIED],
        .bridge_skipped_own = sum[SHMC__C_BRIDGE_SKIPPED_OWN],
        .bridge_duplicates = sum[SHMC__C_BRIDGE_DUPLICATES],
        .bridge_rejected_signature = sum[SHMC__C_BRIDGE_REJECTED_SIGNATURE],
        .bridge_rejected_parse = sum[SHMC__C_BRIDGE_REJECTED_PARSE],
        .bridge_rejected_keyspace = sum[SHMC__C_BRIDGE_REJECTED_KEYSPACE],
        .bridge_gap_flushes = sum[SHMC__C_BRIDGE_GAP_FLUSHES],
        .bridge_newest_ms = atomic_load_explicit(
            &inst->ctl.hdr->bridge_newest_ms, memory_order_relaxed),
        .bridge_lag_ms = atomic_load_explicit(&inst->ctl.hdr->bridge_lag_ms,
                                              memory_order_relaxed),
    };
    return 0;
}

int shmc_info_get(shmc_cache *c, shmc_info *out)
{
    struct shmc__instance *inst;
    struct shmc__store_usage u;
    if (!c || !out)
        return shmc__fail(SHMC_EINVAL, "shmc_info_get: NULL argument");
    int rc = shmc__instance_get(c, &inst);
    shmc_outbox_info ob;
    if (rc == 0)
        rc = shmc__store_usage(inst->store, &u);
    if (rc == 0)
        rc = shmc_outbox_info_get(c, &ob);
    if (rc)
        return rc;
    *out = (shmc_info){
        .layout_version = inst->ctl.hdr->layout_version,
        .map_size = u.map_size,
        .map_used = u.map_used,
        .entries = u.entries,
        .max_readers = u.max_readers,
        .readers_used = u.readers_used,
        .readers_dead = u.readers_dead,
        .map_touched = u.map_touched,
        .page_size = u.page_size,
        .lock_slots = inst->ctl.hdr->lock_slots,
        .locks_held = shmc__locks_held(&inst->ctl),
        .recency_slots = inst->ctl.hdr->recency_slots,
        .outbox_max = ob.max_pending,
        .outbox_pending = ob.next_seq - 1 - ob.acked_seq,
    };
    return 0;
}

int shmc_reader_check(shmc_cache *c, unsigned *freed)
{
    struct shmc__instance *inst;
    unsigned n = 0;
    if (!c)
        return shmc__fail(SHMC_EINVAL, "shmc_reader_check: NULL handle");
    int rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__store_reader_check(inst->store, &n);
    if (rc == 0 && n)
        shmc__count(inst->shard, SHMC__C_READERS_RECLAIMED, n);
    if (freed)
        *freed = n;
    return rc;
}
