/* inbox.c - other hosts' revocations, applied once each (see "The bridge"
 * in shmcache.h).
 *
 * Per origin host, the meta table keeps "bridge-origin:<host>": the
 * incarnation of its outbox and the last sequence applied from it. A
 * sequence at or below that one was applied already; one that is more
 * than the next means messages were lost on the way, any of which may have
 * been a revocation, so the only safe answer is to flush the cache. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "instance.h"
#include "keys.h"
#include "meta.h"
#include "ops.h"
#include "protect.h"
#include "stats.h"
#include "writer.h"

#define ORIGIN_PREFIX "bridge-origin:"
#define META_CURSOR "bridge-cursor"
#define MAX_ORIGIN 64u
#define MAX_CURSOR 63u

struct origin_state {
    uint64_t incarnation, last_seq; /* both 0: never heard from */
};

static void origin_name(const char *origin, char *name)
{
    snprintf(name, sizeof ORIGIN_PREFIX + MAX_ORIGIN, "%s%s", ORIGIN_PREFIX,
             origin);
}

/* What is known here before applying r: its origin's state, and whether
 * keys are stored the way r's key is. */
static int look(struct shmc__instance *inst, const char *origin,
                const shmc_revocation *r, struct origin_state *st,
                int *same_keyspace)
{
    struct shmc__txn t;
    char name[sizeof ORIGIN_PREFIX + MAX_ORIGIN];
    unsigned char mine[8];
    static const unsigned char none[8];
    int rc = shmc__read_begin(inst->store, &t);
    if (rc)
        return rc;
    rc = shmc__protect_keyspace(&t, mine);
    origin_name(origin, name);
    struct shmc__bytes v;
    int found = rc ? rc : shmc__get(&t, SHMC__T_META, name, strlen(name), &v);
    memset(st, 0, sizeof *st);
    if (found == 0 && v.len == sizeof *st)
        memcpy(st, v.data, sizeof *st);
    else if (found != SHMC_ENOTFOUND)
        rc = found;
    shmc__read_end(&t);
    /* A flush needs no key; a key as given needs an instance that stores
     * keys as given; a stored form needs the same secret. */
    *same_keyspace =
        r->kind == SHMC_REVOKE_ALL ||
        (r->stored_form ? memcmp(mine, r->keyspace, 8) == 0 &&
                              memcmp(mine, none, 8) != 0
                        : memcmp(mine, none, 8) == 0);
    return rc;
}

/* A key's stored form, as another host with the same key secret made it:
 * its stamp slot cannot be known without the key, so the epoch moves. */
static int delete_stored(struct shmc__writer *w, void *arg, int *answer)
{
    const shmc_revocation *r = arg;
    int rc = shmc__del(&w->t, SHMC__T_ENTRIES, r->key, r->key_len);
    *answer = 0;
    shmc__touched_all(&w->touched);
    w->deletes = rc == 0;
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

static int apply_deletes(shmc_cache *c, struct shmc__instance *inst,
                         const shmc_revocation *r)
{
    const unsigned flags = SHMC__WRITE_MAINTENANCE;
    switch (r->kind) {
    case SHMC_REVOKE_KEY:
        if (r->stored_form)
            return shmc__writer_run(c, flags, delete_stored, (void *)r);
        /* Keys as given, whatever keying the handle was opened with. */
        const struct shmc__keying plain = {.max_direct =
                                               inst->max_direct_key};
        int rc = shmc__delete_key(c, r->key, r->key_len, &plain, flags);
        return rc == SHMC_ENOTFOUND ? 0 : rc;
    case SHMC_REVOKE_PREFIX:
        return shmc__delete_prefix(c, r->key, r->key_len, r->stored_form,
                                   flags, NULL);
    default:
        return shmc__delete_all(c, flags);
    }
}

struct bookkeeping {
    const char *origin;
    struct origin_state st; /* to save, or nothing when incarnation 0 */
    const char *cursor;     /* to save, or NULL */
    int forget_origins;     /* after a flush: every origin starts afresh */
};

/* Delete every origin's state: after a flush, the next message of each
 * origin is taken as it comes, whatever sequence it carries (a gap before
 * it is covered by the flush). */
static int forget_origins(struct shmc__txn *t)
{
    struct shmc__cursor *cur;
    struct shmc__bytes k, v;
    const size_t plen = sizeof ORIGIN_PREFIX - 1;
    int rc = shmc__cursor_open(t, SHMC__T_META, &cur);
    if (rc)
        return rc;
    rc = shmc__cursor_seek(cur, ORIGIN_PREFIX, plen, &k, &v);
    while (rc == 0 && k.len >= plen && memcmp(k.data, ORIGIN_PREFIX, plen) == 0) {
        rc = shmc__cursor_del(cur);
        if (rc == 0)
            rc = shmc__cursor_seek(cur, ORIGIN_PREFIX, plen, &k, &v);
    }
    shmc__cursor_close(cur);
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

static int save(struct shmc__writer *w, void *arg, int *answer)
{
    const struct bookkeeping *b = arg;
    char name[sizeof ORIGIN_PREFIX + MAX_ORIGIN];
    int rc = b->forget_origins ? forget_origins(&w->t) : 0;
    *answer = 0;
    if (rc == 0 && b->st.incarnation) {
        origin_name(b->origin, name);
        rc = shmc__meta_put(&w->t, name, &b->st, sizeof b->st);
    }
    if (rc == 0 && b->cursor)
        rc = shmc__meta_put(&w->t, META_CURSOR, b->cursor,
                            strlen(b->cursor));
    return rc;
}

static int save_run(shmc_cache *c, const struct bookkeeping *b)
{
    return shmc__writer_run(c, SHMC__WRITE_MAINTENANCE, save, (void *)b);
}

static int check_args(const char *origin, uint64_t incarnation,
                      const shmc_revocation *r, const char *cursor)
{
    size_t olen = origin ? strnlen(origin, MAX_ORIGIN + 1) : 0;
    if (olen == 0 || olen > MAX_ORIGIN || incarnation == 0 || !r ||
        r->seq == 0 || r->stored_form > 1 ||
        (cursor && strnlen(cursor, MAX_CURSOR + 1) > MAX_CURSOR))
        return shmc__fail(SHMC_EINVAL,
                          "bridge apply: an origin of 1 to %u bytes, an "
                          "incarnation, a sequence from 1 and a cursor of "
                          "at most %u bytes are needed",
                          MAX_ORIGIN, MAX_CURSOR);
    int keyed = r->kind == SHMC_REVOKE_KEY || r->kind == SHMC_REVOKE_PREFIX;
    size_t max = r->stored_form ? SHMC__SECRET_KEY_MAX : SHMC_MAX_KEY_LEN;
    if (keyed ? !r->key || r->key_len == 0 || r->key_len > max
              : r->kind != SHMC_REVOKE_ALL)
        return shmc__fail(SHMC_EINVAL,
                          "bridge apply: kind %u with a key of %zu bytes",
                          r->kind, r->key_len);
    return 0;
}

static void count(shmc_cache *c, enum shmc__counter which)
{
    struct shmc__instance *inst;
    if (shmc__instance_get(c, &inst) == 0)
        shmc__count(inst->shard, which, 1);
}

int shmc_bridge_apply(shmc_cache *c, const char *origin, uint64_t incarnation,
                      const shmc_revocation *r, const char *cursor)
{
    struct shmc__instance *inst;
    shmc__clear_error();
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int rc = check_args(origin, incarnation, r, cursor);
    if (rc == 0)
        rc = shmc__instance_get(c, &inst);
    struct bookkeeping b = {.origin = origin, .cursor = cursor};
    int same_keyspace = 0;
    if (rc == 0)
        rc = look(inst, origin, r, &b.st, &same_keyspace);
    if (rc)
        return rc;
    if (!same_keyspace) {
        /* Refused, but taken: its sequence counts as seen, so that the
         * origin's next message is not a gap. */
        count(c, SHMC__C_BRIDGE_REJECTED_KEYSPACE);
        b.st = (struct origin_state){incarnation, r->seq};
        rc = save_run(c, &b);
        return rc ? rc
                  : shmc__fail(SHMC_EKEYMISMATCH,
                               "%s: a revocation from %s with keys stored "
                               "under %s key secret",
                               c->path, origin,
                               r->stored_form ? "another" : "no");
    }
    int outcome = SHMC_BRIDGE_APPLIED;
    if (b.st.incarnation == incarnation && r->seq <= b.st.last_seq)
        outcome = SHMC_BRIDGE_DUPLICATE;
    else if (b.st.incarnation != 0 &&
             r->seq != (b.st.incarnation == incarnation ? b.st.last_seq + 1
                                                        : 1))
        outcome = SHMC_BRIDGE_GAP;
    if (outcome == SHMC_BRIDGE_GAP)
        rc = shmc__delete_all(c, SHMC__WRITE_MAINTENANCE);
    if (rc == 0 && outcome != SHMC_BRIDGE_DUPLICATE)
        rc = apply_deletes(c, inst, r);
    if (rc)
        return rc;
    if (outcome == SHMC_BRIDGE_DUPLICATE)
        b.st.incarnation = 0;
    else
        b.st = (struct origin_state){incarnation, r->seq};
    rc = save_run(c, &b);
    if (rc)
        return rc;
    if (outcome == SHMC_BRIDGE_DUPLICATE) {
        count(c, SHMC__C_BRIDGE_DUPLICATES);
        return outcome;
    }
    if (outcome == SHMC_BRIDGE_GAP)
        count(c, SHMC__C_BRIDGE_GAP_FLUSHES);
    count(c, SHMC__C_BRIDGE_APPLIED);
    struct shmc__control_header *hdr = inst->ctl.hdr;
    uint64_t now = shmc__now_ms();
    if (r->time_ms > atomic_load_explicit(&hdr->bridge_newest_ms,
                                          memory_order_relaxed)) {
        atomic_store_explicit(&hdr->bridge_newest_ms, r->time_ms,
                              memory_order_relaxed);
        atomic_store_explicit(&hdr->bridge_lag_ms,
                              now > r->time_ms ? now - r->time_ms : 0,
                              memory_order_relaxed);
    }
    return outcome;
}

int shmc_bridge_cursor(shmc_cache *c, char *buf, size_t size)
{
    struct shmc__instance *inst;
    struct shmc__txn t;
    shmc__clear_error();
    if (!c || !buf || size == 0)
        return shmc__fail(SHMC_EINVAL, "bridge cursor: NULL argument");
    int rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__read_begin(inst->store, &t);
    if (rc)
        return rc;
    struct shmc__bytes v;
    rc = shmc__get(&t, SHMC__T_META, META_CURSOR, strlen(META_CURSOR), &v);
    buf[0] = '\0';
    if (rc == 0 && v.len >= size)
        rc = shmc__fail(SHMC_EBUFSMALL, "bridge cursor: %zu bytes needed",
                        v.len + 1);
    else if (rc == 0) {
        memcpy(buf, v.data, v.len);
        buf[v.len] = '\0';
    }
    shmc__read_end(&t);
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

int shmc_bridge_flush(shmc_cache *c, const char *cursor)
{
    shmc__clear_error();
    if (!c || (cursor && strnlen(cursor, MAX_CURSOR + 1) > MAX_CURSOR))
        return shmc__fail(SHMC_EINVAL, "bridge flush: NULL handle, or a "
                                       "cursor longer than %u bytes",
                          MAX_CURSOR);
    int rc = shmc__delete_all(c, SHMC__WRITE_MAINTENANCE);
    struct bookkeeping b = {.cursor = cursor, .forget_origins = 1};
    if (rc == 0)
        rc = save_run(c, &b);
    if (rc == 0)
        count(c, SHMC__C_BRIDGE_GAP_FLUSHES);
    return rc;
}

int shmc_bridge_save_cursor(shmc_cache *c, const char *cursor)
{
    shmc__clear_error();
    if (!c || !cursor || strnlen(cursor, MAX_CURSOR + 1) > MAX_CURSOR)
        return shmc__fail(SHMC_EINVAL, "bridge cursor: NULL argument, or "
                                       "longer than %u bytes",
                          MAX_CURSOR);
    struct bookkeeping b = {.cursor = cursor};
    return save_run(c, &b);
}

void shmc_bridge_count(shmc_cache *c, unsigned event, uint64_t n)
{
    static const enum shmc__counter counter[] = {
        [SHMC_BRIDGE_SENT] = SHMC__C_BRIDGE_SENT,
        [SHMC_BRIDGE_RECEIVED] = SHMC__C_BRIDGE_RECEIVED,
        [SHMC_BRIDGE_SKIPPED_OWN] = SHMC__C_BRIDGE_SKIPPED_OWN,
        [SHMC_BRIDGE_REJECTED_SIGNATURE] = SHMC__C_BRIDGE_REJECTED_SIGNATURE,
        [SHMC_BRIDGE_REJECTED_PARSE] = SHMC__C_BRIDGE_REJECTED_PARSE,
    };
    struct shmc__instance *inst;
    if (c && event >= SHMC_BRIDGE_SENT &&
        event < sizeof counter / sizeof counter[0] &&
        shmc__instance_get(c, &inst) == 0)
        shmc__count(inst->shard, counter[event], n);
}
