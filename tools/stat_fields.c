/* stat_fields.c - the fields shmcache-stat shows, named after the members
 * of shmc_info and shmc_stats so that every format and the manual use one
 * name for one figure. */
#include <string.h>

#include "stat.h"

#define INFO(field, metric, help)                                           \
    {#field, metric, help, STAT_GAUGE,                                      \
     offsetof(struct stat_frame, info.field),                               \
     sizeof(((shmc_info *)0)->field)}
#define STATS(field, kind, metric, help)                                    \
    {#field, metric, help, kind, offsetof(struct stat_frame, stats.field),   \
     sizeof(((shmc_stats *)0)->field)},

/* Every member of shmc_stats, in its order. */
#define STATS_FIELDS(X)                                                     \
    X(hits, STAT_COUNTER, "hits", "Reads that returned a fresh value.")     \
    X(stale_hits, STAT_COUNTER, "stale_hits",                               \
      "Reads that returned a stale value.")                                 \
    X(misses, STAT_COUNTER, "misses", "Reads that found nothing usable.")   \
    X(expired, STAT_COUNTER, "expired",                                     \
      "Misses because the entry had expired.")                              \
    X(sets, STAT_COUNTER, "sets", "Entries stored.")                        \
    X(deletes, STAT_COUNTER, "deletes", "Live entries deleted.")            \
    X(l1_hits, STAT_COUNTER, "l1_hits",                                     \
      "Hits served by a per-thread read cache.")                            \
    X(locks, STAT_COUNTER, "locks", "Per-key lock acquisitions.")           \
    X(lock_waits, STAT_COUNTER, "lock_waits",                               \
      "Lock attempts that had to wait.")                                    \
    X(lock_timeouts, STAT_COUNTER, "lock_timeouts",                         \
      "Lock attempts that gave up after their timeout.")                    \
    X(lock_recoveries, STAT_COUNTER, "lock_recoveries",                     \
      "Locks acquired from a holder that died.")                            \
    X(computes, STAT_COUNTER, "computes",                                   \
      "Compute callbacks run by get_or_compute.")                           \
    X(compute_errors, STAT_COUNTER, "compute_errors",                       \
      "Compute callbacks that failed.")                                     \
    X(stale_served, STAT_COUNTER, "stale_served",                           \
      "Stale values served by get_or_compute.")                             \
    X(revocations, STAT_COUNTER, "revocations", "Keys revoked.")            \
    X(evictions, STAT_COUNTER, "evictions",                                 \
      "Live entries evicted to make room.")                                 \
    X(expired_removed, STAT_COUNTER, "expired_removed",                     \
      "Expired entries removed by sweeps and evictions.")                   \
    X(sweeps, STAT_COUNTER, "sweeps", "Sweeps that ran.")                   \
    X(sweep_passes, STAT_COUNTER, "sweep_passes",                           \
      "Times the sweep cursor went round the whole cache.")                 \
    X(readers_reclaimed, STAT_COUNTER, "readers_reclaimed",                 \
      "Reader slots of dead processes freed.")                              \
    X(last_sweep_ms, STAT_TIME_MS, "last_sweep_timestamp_seconds",          \
      "Wall-clock time of the last sweep, 0 if none ever ran.")             \
    X(decrypt_failures, STAT_COUNTER, "decrypt_failures",                   \
      "Encrypted entries that failed authentication (read as misses).")     \
    X(outbox_overflows, STAT_COUNTER, "outbox_overflows",                   \
      "Revocations made while the outbox was full (sent as a flush).")      \
    X(bridge_sent, STAT_COUNTER, "bridge_sent",                             \
      "Revocation messages the bridge put in Redis.")                       \
    X(bridge_received, STAT_COUNTER, "bridge_received",                     \
      "Revocation messages the bridge read from Redis.")                    \
    X(bridge_applied, STAT_COUNTER, "bridge_applied",                       \
      "Other hosts' revocations applied.")                                  \
    X(bridge_skipped_own, STAT_COUNTER, "bridge_skipped_own",               \
      "Own messages read back from Redis and skipped.")                     \
    X(bridge_duplicates, STAT_COUNTER, "bridge_duplicates",                 \
      "Messages skipped because they had been applied already.")            \
    X(bridge_rejected_signature, STAT_COUNTER, "bridge_rejected_signature", \
      "Messages dropped because their HMAC did not match.")                 \
    X(bridge_rejected_parse, STAT_COUNTER, "bridge_rejected_parse",         \
      "Messages dropped because they did not parse.")                       \
    X(bridge_rejected_keyspace, STAT_COUNTER, "bridge_rejected_keyspace",   \
      "Messages dropped: keys stored under another key secret.")            \
    X(bridge_gap_flushes, STAT_COUNTER, "bridge_gap_flushes",               \
      "Cache flushes because revocations may have been missed.")            \
    X(bridge_newest_ms, STAT_TIME_MS, "bridge_newest_timestamp_seconds",    \
      "Origin time of the newest revocation applied, 0 if none.")           \
    X(bridge_lag_ms, STAT_GAUGE, "bridge_lag_milliseconds",                 \
      "Age of the newest revocation applied when it was applied.")

/* A member added to shmc_stats must be added above, or it would not be
 * shown. */
#define ONE_MORE(field, kind, metric, help) +1
_Static_assert((0 STATS_FIELDS(ONE_MORE)) * sizeof(uint64_t) ==
                   sizeof(shmc_stats),
               "STATS_FIELDS must list every member of shmc_stats");

const struct stat_field stat_fields[] = {
    INFO(layout_version, "layout_version",
         "Layout version of control.shm and of the record format."),
    INFO(map_size, "map_size_bytes", "Size of the map: the most memory "
                                     "the entries may take."),
    INFO(map_used, "map_used_bytes",
         "Bytes of the map in use by the entries' trees."),
    INFO(map_touched, "map_touched_bytes",
         "Bytes of the map ever written: memory the file holds."),
    INFO(page_size, "page_size_bytes", "Bytes of an LMDB page."),
    INFO(entries, "entries", "Records stored, expired ones included."),
    INFO(max_readers, "max_readers", "LMDB reader slots."),
    INFO(readers_used, "readers_used",
         "Reader slots in use, dead ones included."),
    INFO(readers_dead, "readers_dead",
         "Reader slots held by processes that no longer exist."),
    INFO(lock_slots, "lock_slots", "Slots of the per-key lock table."),
    INFO(locks_held, "locks_held", "Lock slots held right now."),
    INFO(recency_slots, "recency_slots",
         "Slots of the access-recency array used by eviction."),
    INFO(outbox_max, "outbox_max",
         "Pending revocations the outbox holds, 0 without a bridge."),
    INFO(outbox_pending, "outbox_pending",
         "Revocations not yet acknowledged by Redis."),
    STATS_FIELDS(STATS)
};

const size_t stat_field_count = sizeof stat_fields / sizeof stat_fields[0];

uint64_t stat_value(const struct stat_frame *frame,
                    const struct stat_field *f)
{
    const char *p = (const char *)frame + f->offset;
    if (f->size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

int stat_hit_ratio(const struct stat_frame *frame, double *out)
{
    const shmc_stats *s = &frame->stats;
    uint64_t reads = s->hits + s->misses;
    if (reads == 0)
        return -1;
    *out = (double)s->hits / (double)reads;
    return 0;
}

/* l1_hits counts fresh and stale hits, so its share is of both. */
int stat_l1_share(const struct stat_frame *frame, double *out)
{
    const shmc_stats *s = &frame->stats;
    uint64_t served = s->hits + s->stale_hits;
    if (served == 0)
        return -1;
    *out = (double)s->l1_hits / (double)served;
    return 0;
}

double stat_map_used_percent(const struct stat_frame *frame)
{
    if (frame->info.map_size == 0)
        return 0;
    return 100.0 * (double)frame->info.map_used /
           (double)frame->info.map_size;
}
