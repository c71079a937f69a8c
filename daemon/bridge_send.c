/* bridge_send.c - the bridge's sender: the outbox into the Redis stream
 * (see bridge.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_threads.h"
#include "log.h"

/* Messages sent in one pipeline. */
#define BATCH 256u
/* Acknowledgements remembered for pruning; when full, the newest is
 * overwritten, which only delays a prune. */
#define MAX_CHECKPOINTS 256u
/* Longest sleep on the outbox: how soon a stop is seen. */
#define WAIT_MS 200u

/* Redis acknowledged every record up to seq at time ms. */
struct checkpoint {
    uint64_t ms, seq;
};

struct sender {
    struct bridge *b;
    struct redis_conn *conn;
    uint64_t incarnation;
    uint64_t sent_upto; /* every record up to it is in the current Redis */
    char run_id[sizeof ((struct redis_conn *)0)->run_id];
    struct checkpoint checkpoint[MAX_CHECKPOINTS];
    unsigned checkpoints;
    /* The batch being sent. */
    unsigned char *msg[BATCH];
    size_t msg_len[BATCH];
    uint64_t msg_seq[BATCH];
    unsigned n;
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void batch_free(struct sender *s)
{
    for (unsigned i = 0; i < s->n; i++)
        free(s->msg[i]);
    s->n = 0;
}

/* shmc_outbox_read's callback: one record into the batch, signed. */
static int take(const shmc_revocation *r, void *arg)
{
    struct sender *s = arg;
    const struct bridge *b = s->b;
    struct bridge_msg m = {
        .kind = r->kind,
        .key_form = r->stored_form,
        .origin = b->s.host_id,
        .origin_len = strlen(b->s.host_id),
        .incarnation = s->incarnation,
        .seq = r->seq,
        .time_ms = r->time_ms,
        .key = r->key,
        .key_len = r->key_len,
    };
    memcpy(m.keyspace, r->keyspace, sizeof m.keyspace);
    unsigned char *buf = malloc(BRIDGE_MSG_MAX_LEN);
    size_t len = buf ? bridge_msg_encode(&m, b->s.secret, sizeof b->s.secret,
                                         buf, BRIDGE_MSG_MAX_LEN)
                     : 0;
    if (len == 0) {
        free(buf);
        return -1;
    }
    s->msg[s->n] = buf;
    s->msg_len[s->n] = len;
    s->msg_seq[s->n] = r->seq;
    return ++s->n == BATCH;
}

/* XADD the batch in one pipeline. Returns how many Redis acknowledged, in
 * order; fewer than the batch means the connection was lost. */
static unsigned send_batch(struct sender *s)
{
    struct bridge *b = s->b;
    redisContext *ctx = s->conn->ctx;
    for (unsigned i = 0; i < s->n; i++) {
        const char *argv[] = {"XADD", b->s.stream, "MAXLEN", "~",
                              b->s.maxlen, "*", "m", (char *)s->msg[i]};
        size_t argvlen[] = {4, strlen(b->s.stream), 6, 1,
                            strlen(b->s.maxlen), 1, 1, s->msg_len[i]};
        redisAppendCommandArgv(ctx, 8, argv, argvlen);
    }
    unsigned acked = 0;
    const char *why = NULL;
    for (unsigned i = 0; i < s->n && !why; i++) {
        redisReply *r;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK) {
            why = ctx->errstr[0] ? ctx->errstr : "connection lost";
            break;
        }
        if (r->type == REDIS_REPLY_STRING)
            acked += acked == i;
        else if (!why)
            log_msg(LOG_LEVEL_ERROR, "%s: bridge sender: XADD to %s: %s",
                    b->path, b->s.stream,
                    r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
        freeReplyObject(r);
    }
    if (why || acked < s->n)
        redis_conn_lost(s->conn, why ? why : "XADD refused");
    return acked;
}

/* Connected to a Redis other than the one the records up to sent_upto went
 * to (or the first since start): send again every record kept. */
static int new_redis(struct sender *s)
{
    shmc_outbox_info info;
    int rc = shmc_outbox_info_get(s->b->cache, &info);
    if (rc) {
        bridge_log_shmc(s->b, "reading the outbox", rc);
        return -1;
    }
    s->incarnation = info.incarnation;
    s->sent_upto = info.first_seq ? info.first_seq - 1 : info.acked_seq;
    if (s->run_id[0] && info.first_seq)
        log_msg(LOG_LEVEL_NOTICE,
                "%s: bridge sender: Redis restarted; sending again the "
                "%llu revocations kept since sequence %llu",
                s->b->path,
                (unsigned long long)(info.next_seq - info.first_seq),
                (unsigned long long)info.first_seq);
    memcpy(s->run_id, s->conn->run_id, sizeof s->run_id);
    s->checkpoints = 0;
    return 0;
}

static void remember_ack(struct sender *s, uint64_t seq)
{
    if (s->checkpoints == MAX_CHECKPOINTS)
        s->checkpoints--;
    s->checkpoint[s->checkpoints++] = (struct checkpoint){monotonic_ms(), seq};
}

/* Prune what has sat in this Redis for BRIDGE_RETAIN_MS. */
static void prune(struct sender *s)
{
    uint64_t now = monotonic_ms();
    unsigned old = 0;
    while (old < s->checkpoints &&
           now - s->checkpoint[old].ms >= BRIDGE_RETAIN_MS)
        old++;
    if (old == 0)
        return;
    int rc = shmc_outbox_prune(s->b->cache, s->checkpoint[old - 1].seq);
    if (rc) {
        bridge_log_shmc(s->b, "pruning the outbox", rc);
        return;
    }
    s->checkpoints -= old;
    memmove(s->checkpoint, s->checkpoint + old,
            s->checkpoints * sizeof s->checkpoint[0]);
}

/* Send what is pending. Returns 1 when a full batch went (more may be
 * waiting), 0 when nothing more is pending, -1 on a failure. */
static int send_pending(struct sender *s)
{
    struct bridge *b = s->b;
    int rc = shmc_outbox_read(b->cache, s->sent_upto, take, s);
    if (rc < 0 && s->n == 0) {
        bridge_log_shmc(b, "reading the outbox", rc);
        return -1;
    }
    if (s->n == 0)
        return 0;
    int full = s->n == BATCH;
    unsigned acked = send_batch(s);
    if (acked) {
        uint64_t seq = s->msg_seq[acked - 1];
        rc = shmc_outbox_ack(b->cache, seq);
        if (rc)
            bridge_log_shmc(b, "acknowledging the outbox", rc);
        shmc_bridge_count(b->cache, SHMC_BRIDGE_SENT, acked);
        s->sent_upto = seq;
        remember_ack(s, seq);
    }
    int sent_all = acked == s->n;
    batch_free(s);
    return sent_all ? full : -1;
}

void *bridge_send_main(void *arg)
{
    struct sender *s = calloc(1, sizeof *s);
    struct bridge *b = arg;
    if (!s) {
        log_msg(LOG_LEVEL_ERROR, "%s: bridge sender: out of memory",
                b->path);
        return NULL;
    }
    s->b = b;
    s->conn = &b->send_conn;
    while (!atomic_load(&b->stop)) {
        if (redis_conn_ensure(s->conn))
            continue;
        if (strcmp(s->run_id, s->conn->run_id) != 0 && new_redis(s)) {
            redis_conn_pause(s->conn, REDIS_CONN_BACKOFF_MAX_MS);
            continue;
        }
        shmc_outbox_info info;
        if (shmc_outbox_info_get(b->cache, &info) != 0) {
            redis_conn_pause(s->conn, WAIT_MS);
            continue;
        }
        int more = send_pending(s);
        if (more < 0 || !s->conn->ctx)
            continue;
        prune(s);
        if (!more)
            shmc_outbox_wait(b->cache, info.signal, WAIT_MS);
    }
    batch_free(s);
    free(s);
    return NULL;
}
