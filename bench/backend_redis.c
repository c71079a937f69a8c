/* backend_redis.c - Redis through hiredis, one command per round trip,
 * over the unix socket (redis-unix) and over TCP 127.0.0.1 (redis-tcp).
 * The two backends differ only in how they connect. Populating pipelines
 * its SETs. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "servers.h"

struct redis_state {
    int use_unix;
    int port;
    char unix_path[108];
};

static int open_with(int use_unix, const struct bench_server *srv,
                     void **state)
{
    struct redis_state *s = calloc(1, sizeof *s);
    if (!s)
        return bench_fail("out of memory");
    s->use_unix = use_unix;
    s->port = srv->port;
    memcpy(s->unix_path, srv->unix_path, sizeof s->unix_path);
    *state = s;
    return BENCH_OK;
}

static int redis_open_unix(const struct bench_params *p,
                           const struct bench_server *srv, void **state)
{
    (void)p;
    return open_with(1, srv, state);
}

static int redis_open_tcp(const struct bench_params *p,
                          const struct bench_server *srv, void **state)
{
    (void)p;
    return open_with(0, srv, state);
}

static void redis_close(void *state)
{
    free(state);
}

static int redis_connect(void *state, void **conn)
{
    struct redis_state *s = state;
    /* hiredis sets TCP_NODELAY on its TCP connections itself. */
    redisContext *ctx = s->use_unix ? redisConnectUnix(s->unix_path)
                                    : redisConnect("127.0.0.1", s->port);
    if (!ctx)
        return bench_fail("redis connect: out of memory");
    if (ctx->err) {
        bench_fail("redis connect: %s", ctx->errstr);
        redisFree(ctx);
        return BENCH_ERR;
    }
    *conn = ctx;
    return BENCH_OK;
}

static void redis_disconnect(void *conn)
{
    redisFree(conn);
}

/* The reply, or NULL with the failure recorded. A connection error leaves
 * the context unusable: every later command fails too, and is counted. */
static redisReply *reply_of(redisContext *ctx, void *r, const char *cmd)
{
    redisReply *reply = r;
    if (!reply) {
        bench_fail("redis %s: %s", cmd, ctx->errstr);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        bench_fail("redis %s: %s", cmd, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static int redis_get(void *conn, const char *key, size_t klen, void *buf,
                     size_t cap, size_t *len)
{
    redisReply *r =
        reply_of(conn, redisCommand(conn, "GET %b", key, klen), "GET");
    if (!r)
        return BENCH_ERR;
    int rc = BENCH_MISS;
    if (r->type == REDIS_REPLY_STRING) {
        *len = r->len;
        memcpy(buf, r->str, r->len < cap ? r->len : cap);
        rc = BENCH_OK;
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = bench_fail("redis GET: unexpected reply type %d", r->type);
    }
    freeReplyObject(r);
    return rc;
}

/* The result of a SET, from its reply (NULL when hiredis failed). */
static int set_result(redisContext *ctx, void *reply)
{
    redisReply *r = reply_of(ctx, reply, "SET");
    if (!r)
        return BENCH_ERR;
    int rc = BENCH_OK;
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0)
        rc = bench_fail("redis SET: unexpected reply type %d", r->type);
    freeReplyObject(r);
    return rc;
}

static int redis_set(void *conn, const char *key, size_t klen,
                     const void *val, size_t vlen)
{
    return set_result(conn,
                      redisCommand(conn, "SET %b %b", key, klen, val, vlen));
}

/* Pipelined: every SET of the batch is written before the first reply is
 * read, so the batch costs about one round trip. */
static int redis_populate(void *conn, const struct bench_item *items,
                          size_t n)
{
    redisContext *ctx = conn;
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommand(ctx, "SET %b %b", items[i].key, items[i].klen,
                               items[i].val, items[i].vlen) != REDIS_OK)
            return bench_fail("redis SET: %s", ctx->errstr);
    int rc = BENCH_OK;
    for (size_t i = 0; i < n && rc == BENCH_OK; i++) {
        void *reply = NULL;
        redisGetReply(ctx, &reply);
        rc = set_result(ctx, reply);
    }
    return rc;
}

static int redis_del(void *conn, const char *key, size_t klen)
{
    redisReply *r =
        reply_of(conn, redisCommand(conn, "DEL %b", key, klen), "DEL");
    if (!r)
        return BENCH_ERR;
    int rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = bench_fail("redis DEL: unexpected reply type %d", r->type);
    else
        rc = r->integer > 0 ? BENCH_OK : BENCH_MISS;
    freeReplyObject(r);
    return rc;
}

const struct bench_backend bench_backend_redis_unix = {
    .name = "redis-unix",
    .start = server_start_redis,
    .stop = server_stop,
    .open = redis_open_unix,
    .connect = redis_connect,
    .get = redis_get,
    .set = redis_set,
    .del = redis_del,
    .populate = redis_populate,
    .disconnect = redis_disconnect,
    .close = redis_close,
};

const struct bench_backend bench_backend_redis_tcp = {
    .name = "redis-tcp",
    .start = server_start_redis,
    .stop = server_stop,
    .open = redis_open_tcp,
    .connect = redis_connect,
    .get = redis_get,
    .set = redis_set,
    .del = redis_del,
    .populate = redis_populate,
    .disconnect = redis_disconnect,
    .close = redis_close,
};
