/* writer.c - the write transaction every change goes through (writer.h).
 *
 * The map can be found full for two reasons, told apart here. Either the
 * trees fill it: evict, and try again. Or pages freed by earlier writes are
 * still seen by a read of another process (a reader descheduled in the
 * middle of a get, with many busy processes on few cores): they are free
 * again once that read ends, so the writer waits for it instead of
 * evicting what it would otherwise keep. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errors.h"
#include "evict.h"
#include "outbox.h"
#include "recency.h"
#include "stats.h"
#include "writer.h"

/* Rounds of eviction, each going further down, a write that found the map
 * full may ask for. */
#define FULL_EVICTIONS 4
/* A record of more than this share of the map is a big one: it may need
 * more contiguous room than the first round of eviction leaves. */
#define BIG_SHARE 32u
/* How long, in all, a write that found the map full waits for readers to
 * let go of freed pages; and its pauses while it waits. */
#define FULL_WAIT_US 1000000u
#define FULL_PAUSE_MIN_US 50u
#define FULL_PAUSE_MAX_US 5000u

int shmc__writer_begin(shmc_cache *c, struct shmc__writer *w)
{
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    memset(&w->touched, 0, sizeof w->touched);
    w->sets = w->deletes = w->evicted = w->expired_removed = 0;
    w->hand_passes = 0;
    w->largest_record = 0;
    w->outbox_added = 0;
    w->outbox_overflows = 0;
    w->protect = &c->protect;
    int rc = shmc__instance_get(c, &w->inst);
    return rc ? rc : shmc__write_begin(w->inst->store, &w->t);
}

void shmc__writer_abort(struct shmc__writer *w)
{
    shmc__write_abort(&w->t);
}

int shmc__writer_commit(struct shmc__writer *w)
{
    struct shmc__instance *inst = w->inst;
    shmc__stamps_open(&inst->ctl, &w->touched);
    int rc = shmc__write_commit(&w->t);
    shmc__stamps_close(&inst->ctl, &w->touched);
    if (rc)
        return rc;
    /* Only now: a pass counted in an aborted transaction would age every
     * read mark for nothing. */
    for (unsigned i = 0; i < w->hand_passes; i++)
        shmc__recency_pass(&inst->ctl);
    if (w->outbox_added)
        shmc__outbox_signal(&inst->ctl);
    static const enum shmc__counter counter[] = {
        SHMC__C_SETS, SHMC__C_DELETES, SHMC__C_EVICTIONS,
        SHMC__C_EXPIRED_REMOVED, SHMC__C_OUTBOX_OVERFLOWS};
    const uint64_t n[] = {w->sets, w->deletes, w->evicted,
                          w->expired_removed, w->outbox_overflows};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        if (n[i])
            shmc__count(inst->shard, counter[i], n[i]);
    return 0;
}

static void pause_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static int no_room(void)
{
    return shmc__fail(SHMC_EFULL, "no room for this write in the map, with "
                                  "everything evictable evicted");
}

int shmc__writer_run(shmc_cache *c, unsigned flags, shmc__change_fn change,
                     void *arg)
{
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int allowed = flags & SHMC__WRITE_MAINTENANCE
                      ? 0
                      : shmc__protect_entries_allowed(c);
    if (allowed)
        return allowed;
    uint64_t deadline = 0;
    unsigned pause = FULL_PAUSE_MIN_US, evictions = 0;
    for (;;) {
        struct shmc__writer w;
        int answer = 0;
        int rc = shmc__writer_begin(c, &w);
        if (rc)
            return rc;
        if (flags & SHMC__WRITE_ADDS)
            rc = shmc__make_room(&w, c->opts.high_watermark);
        if (rc == 0)
            rc = change(&w, arg, &answer);
        if (rc == 0)
            rc = shmc__writer_commit(&w);
        else
            shmc__writer_abort(&w);
        if (rc != SHMC_EFULL)
            return rc ? rc : answer;
        uint64_t now = shmc__monotonic_us();
        if (!deadline)
            deadline = now + FULL_WAIT_US;
        if (now >= deadline)
            return shmc__fail(SHMC_EFULL,
                              "the map stayed full for a second (reads "
                              "holding the pages writes freed, or too "
                              "little contiguous room): raise map_size");
        if (evictions > FULL_EVICTIONS)
            return no_room();
        int big = w.largest_record > w.inst->ctl.hdr->map_size / BIG_SHARE;
        switch (shmc__evict_after_full(c, c->opts.high_watermark, evictions,
                                       big, &rc)) {
        case SHMC__ROOM_MADE:
            evictions++;
            continue;
        case SHMC__ROOM_NOTHING_LEFT:
            return no_room();
        case SHMC__ROOM_ERROR:
            return rc;
        case SHMC__ROOM_BELOW:
            /* Full, with little in the trees: pages freed lately are
             * still held by reads (wait for them), or the write needs
             * more contiguous room than is free (evict further). */
            if (!shmc__store_readers_behind(w.inst->store)) {
                evictions++;
                continue;
            }
            break;
        case SHMC__ROOM_BLOCKED:
            break;
        }
        pause_us(pause);
        if (pause < FULL_PAUSE_MAX_US)
            pause *= 2;
    }
}
