/* bridge_recv.c - the bridge's receiver: other hosts' revocations from the
 * Redis stream into the instance (see bridge.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_threads.h"
#include "log.h"

#define READ_COUNT "256"
#define BLOCK_MS "1000"
/* Whether the receiver had read everything shortly before Redis went away:
 * then what the restarted Redis lost was sent after that, and the senders
 * send it again (they keep it BRIDGE_RETAIN_MS); otherwise it may have
 * missed what no one will send again. */
#define CAUGHT_UP_MS (BRIDGE_RETAIN_MS / 4)
#define CURSOR_LEN 64u

struct receiver {
    struct bridge *b;
    struct redis_conn *conn;
    char cursor[CURSOR_LEN];   /* the last entry read ("" before the first) */
    char run_id[sizeof ((struct redis_conn *)0)->run_id];
    uint64_t caught_up_ms;     /* when the last read found nothing more */
    uint64_t lost_ms;          /* when the connection was last found lost */
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A stream entry id, "MS-SEQ", as two numbers. 0 or -1. */
static int id_parse(const char *id, uint64_t *ms, uint64_t *seq)
{
    char *end;
    if (!id || !*id)
        return -1;
    *ms = strtoull(id, &end, 10);
    if (*end != '-')
        return -1;
    *seq = strtoull(end + 1, &end, 10);
    return *end ? -1 : 0;
}

/* a < b as stream ids (an unparsable id sorts first). */
static int id_before(const char *a, const char *b)
{
    uint64_t ams, aseq, bms, bseq;
    if (id_parse(a, &ams, &aseq))
        return 1;
    if (id_parse(b, &bms, &bseq))
        return 0;
    return ams < bms || (ams == bms && aseq < bseq);
}

/* The id of the stream's first (XRANGE) or last (XREVRANGE) entry into
 * out, "" when the stream is empty or missing. 0, or -1 (connection lost). */
static int end_id(struct receiver *r, const char *command, char *out)
{
    const char *from = strcmp(command, "XRANGE") == 0 ? "-" : "+";
    const char *to = strcmp(command, "XRANGE") == 0 ? "+" : "-";
    const char *argv[] = {command, r->b->s.stream, from, to, "COUNT", "1"};
    redisReply *rep = redis_conn_command(r->conn, 6, argv, NULL);
    if (!rep)
        return -1;
    out[0] = '\0';
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY &&
        rep->element[0]->elements >= 1 &&
        rep->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(out, CURSOR_LEN, "%s", rep->element[0]->element[0]->str);
    freeReplyObject(rep);
    return 0;
}

static void flush(struct receiver *r, const char *cursor, const char *why)
{
    int rc = shmc_bridge_flush(r->b->cache, cursor);
    if (rc) {
        bridge_log_shmc(r->b, "flushing", rc);
        return;
    }
    log_msg(LOG_LEVEL_WARNING,
            "%s: bridge receiver: %s: revocations may have been missed, so "
            "the cache was flushed",
            r->b->path, why);
}

/* Where to read from on this connection: go on from the cursor when the
 * stream still holds it, else flush what revocations may have been missed.
 * Returns 0, or -1 (connection lost). */
static int choose_cursor(struct receiver *r)
{
    char first[CURSOR_LEN], last[CURSOR_LEN];
    const char *path = r->b->path;
    if (r->run_id[0] && strcmp(r->run_id, r->conn->run_id) != 0) {
        /* A Redis restarted without its stream: its new stream starts
         * empty, and the senders put back what they still keep. */
        memcpy(r->run_id, r->conn->run_id, sizeof r->run_id);
        if (r->lost_ms - r->caught_up_ms > CAUGHT_UP_MS)
            flush(r, "0-0", "Redis restarted while this host was behind");
        else
            log_msg(LOG_LEVEL_NOTICE,
                    "%s: bridge receiver: Redis restarted; reading its new "
                    "stream from the start",
                    path);
        snprintf(r->cursor, sizeof r->cursor, "0-0");
        return 0;
    }
    memcpy(r->run_id, r->conn->run_id, sizeof r->run_id);
    if (end_id(r, "XREVRANGE", last))
        return -1;
    if (!r->cursor[0]) {
        /* A host new to the stream has nothing to catch up on. */
        snprintf(r->cursor, sizeof r->cursor, "%s", last[0] ? last : "0-0");
        return 0;
    }
    if (end_id(r, "XRANGE", first))
        return -1;
    /* Entries up to last happened before the flush; read after it. */
    if (!first[0] && strcmp(r->cursor, "0-0") != 0) {
        flush(r, "0-0", "the stream is gone (Redis lost it)");
        snprintf(r->cursor, sizeof r->cursor, "0-0");
    } else if (first[0] && id_before(r->cursor, first) &&
               strcmp(r->cursor, "0-0") != 0) {
        flush(r, last, "the stream was trimmed past this host's cursor");
        snprintf(r->cursor, sizeof r->cursor, "%s", last);
    }
    return 0;
}

/* The value of field "m" of an entry's field list, or NULL. */
static const redisReply *message_field(const redisReply *fields)
{
    if (fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            fields->element[i]->len == 1 && fields->element[i]->str[0] == 'm' &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    return NULL;
}

static void reject(struct receiver *r, unsigned counter, const char *id,
                   const char *why)
{
    shmc_bridge_count(r->b->cache, counter, 1);
    log_msg(LOG_LEVEL_WARNING, "%s: bridge receiver: entry %s dropped: %s",
            r->b->path, id, why);
}

/* Returns whether the instance saved id as its cursor (it does with
 * every message it applies or refuses). */
static int handle_entry(struct receiver *r, const char *id,
                        const redisReply *fields)
{
    struct bridge *b = r->b;
    const redisReply *m = message_field(fields);
    struct bridge_msg msg;
    char why[128] = "no field m";
    shmc_bridge_count(b->cache, SHMC_BRIDGE_RECEIVED, 1);
    if (!m || bridge_msg_decode(m->str, m->len, &msg, why, sizeof why)) {
        reject(r, SHMC_BRIDGE_REJECTED_PARSE, id, why);
        return 0;
    }
    if (!bridge_msg_verify(m->str, m->len, b->s.secret, sizeof b->s.secret)) {
        reject(r, SHMC_BRIDGE_REJECTED_SIGNATURE, id,
               "its signature does not match the bridge secret");
        return 0;
    }
    char origin[BRIDGE_MSG_MAX_ORIGIN + 1];
    memcpy(origin, msg.origin, msg.origin_len);
    origin[msg.origin_len] = '\0';
    if (strcmp(origin, b->s.host_id) == 0) {
        shmc_bridge_count(b->cache, SHMC_BRIDGE_SKIPPED_OWN, 1);
        return 0;
    }
    shmc_revocation rev = {
        .seq = msg.seq,
        .time_ms = msg.time_ms,
        .kind = msg.kind,
        .stored_form = msg.key_form,
        .key = msg.key,
        .key_len = msg.key_len,
    };
    memcpy(rev.keyspace, msg.keyspace, sizeof rev.keyspace);
    int rc = shmc_bridge_apply(b->cache, origin, msg.incarnation, &rev, id);
    if (rc == SHMC_BRIDGE_GAP)
        log_msg(LOG_LEVEL_WARNING,
                "%s: bridge receiver: revocations from %s before sequence "
                "%" PRIu64 " were lost on the way: the cache was flushed",
                b->path, origin, msg.seq);
    else if (rc == SHMC_EKEYMISMATCH)
        log_msg(LOG_LEVEL_ERROR,
                "%s: bridge receiver: entry %s from %s dropped: %s", b->path,
                id, origin, shmc_last_error());
    else if (rc < 0)
        bridge_log_shmc(b, "applying a revocation", rc);
    return rc >= 0 || rc == SHMC_EKEYMISMATCH;
}

/* One XREAD. Returns 0, or -1 (connection lost). */
static int read_once(struct receiver *r)
{
    const char *argv[] = {"XREAD", "COUNT", READ_COUNT, "BLOCK", BLOCK_MS,
                          "STREAMS", r->b->s.stream, r->cursor};
    redisReply *rep = redis_conn_command(r->conn, 8, argv, NULL);
    if (!rep)
        return -1;
    size_t n = 0;
    int saved = 1; /* the cursor as the instance has it */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY &&
        rep->element[0]->elements == 2 &&
        rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *entries = rep->element[0]->element[1];
        n = entries->elements;
        for (size_t i = 0; i < n && !atomic_load(&r->b->stop); i++) {
            const redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[0]->len >= CURSOR_LEN)
                continue;
            saved = handle_entry(r, e->element[0]->str, e->element[1]);
            memcpy(r->cursor, e->element[0]->str, e->element[0]->len + 1);
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        log_msg(LOG_LEVEL_ERROR, "%s: bridge receiver: XREAD: %s",
                r->b->path, rep->str);
        freeReplyObject(rep);
        redis_conn_lost(r->conn, "XREAD refused");
        return -1;
    }
    if (n < (size_t)atoi(READ_COUNT))
        r->caught_up_ms = monotonic_ms();
    freeReplyObject(rep);
    /* Entries read but none applied (own ones): keep the cursor with them,
     * so that a restart does not read them again or, worse, find the
     * cursor trimmed away and flush for nothing. */
    if (!saved) {
        int rc = shmc_bridge_save_cursor(r->b->cache, r->cursor);
        if (rc)
            bridge_log_shmc(r->b, "saving the cursor", rc);
    }
    return 0;
}

void *bridge_recv_main(void *arg)
{
    struct bridge *b = arg;
    struct receiver r = {.b = b, .conn = &b->recv_conn};
    int rc = shmc_bridge_cursor(b->cache, r.cursor, sizeof r.cursor);
    if (rc) {
        bridge_log_shmc(b, "reading the saved cursor", rc);
        r.cursor[0] = '\0';
    }
    while (!atomic_load(&b->stop)) {
        if (redis_conn_ensure(r.conn))
            continue;
        if (choose_cursor(&r) == 0)
            while (!atomic_load(&b->stop) && read_once(&r) == 0)
                ;
        r.lost_ms = monotonic_ms();
    }
    return NULL;
}
