/* redis_conn.c - see redis_conn.h. */
#include "redis_conn.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

/* Longer than any XREAD BLOCK the receiver asks for. */
#define COMMAND_TIMEOUT_MS 5000u
#define CONNECT_TIMEOUT_MS 2000u

void redis_conn_init(struct redis_conn *rc, const struct redis_url *url,
                     const char *who, const _Atomic int *stop)
{
    memset(rc, 0, sizeof *rc);
    rc->url = url;
    rc->stop = stop;
    rc->up = -1;
    snprintf(rc->who, sizeof rc->who, "%s", who);
    redis_url_describe(url, rc->url_text, sizeof rc->url_text);
    pthread_mutex_init(&rc->ctx_lock, NULL);
}

void redis_conn_pause(const struct redis_conn *rc, unsigned ms)
{
    while (ms && !atomic_load(rc->stop)) {
        unsigned step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static struct timeval ms_timeval(unsigned ms)
{
    return (struct timeval){.tv_sec = ms / 1000,
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

static void set_ctx(struct redis_conn *rc, redisContext *ctx)
{
    pthread_mutex_lock(&rc->ctx_lock);
    rc->ctx = ctx;
    pthread_mutex_unlock(&rc->ctx_lock);
}

static void went_down(struct redis_conn *rc, const char *why)
{
    /* A connection the stop itself broke is not news. */
    if (rc->up != 0 && !atomic_load(rc->stop))
        log_msg(LOG_LEVEL_WARNING,
                "%s: Redis %s unreachable (%s); retrying every %u ms at "
                "most, workers go on",
                rc->who, rc->url_text, why, REDIS_CONN_BACKOFF_MAX_MS);
    rc->up = 0;
    rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2
                                    : REDIS_CONN_BACKOFF_MIN_MS;
    if (rc->backoff_ms > REDIS_CONN_BACKOFF_MAX_MS)
        rc->backoff_ms = REDIS_CONN_BACKOFF_MAX_MS;
}

void redis_conn_lost(struct redis_conn *rc, const char *why)
{
    /* why may be the context's own errstr: keep it past the free. */
    char reason[320];
    snprintf(reason, sizeof reason, "%.300s", why);
    redisContext *ctx = rc->ctx;
    set_ctx(rc, NULL);
    if (ctx)
        redisFree(ctx);
    went_down(rc, reason);
}

redisReply *redis_conn_command(struct redis_conn *rc, int argc,
                               const char **argv, const size_t *argvlen)
{
    redisReply *r = redisCommandArgv(rc->ctx, argc, argv, argvlen);
    if (!r)
        redis_conn_lost(rc, rc->ctx->errstr[0] ? rc->ctx->errstr
                                               : "connection lost");
    return r;
}

/* A command whose failure (an error reply too) loses the connection.
 * Returns 0 or -1. */
static int setup_command(struct redis_conn *rc, int argc, const char **argv)
{
    redisReply *r = redis_conn_command(rc, argc, argv, NULL);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        char why[256];
        snprintf(why, sizeof why, "%s: %s", argv[0], r->str);
        freeReplyObject(r);
        redis_conn_lost(rc, why);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* The "run_id:" line of INFO server. */
static int learn_run_id(struct redis_conn *rc)
{
    const char *argv[] = {"INFO", "server"};
    redisReply *r = redis_conn_command(rc, 2, argv, NULL);
    if (!r)
        return -1;
    const char *at = r->type == REDIS_REPLY_STRING
                         ? strstr(r->str, "run_id:")
                         : NULL;
    size_t n = 0;
    if (at) {
        at += strlen("run_id:");
        while (n < sizeof rc->run_id - 1 && at[n] && at[n] != '\r' &&
               at[n] != '\n')
            n++;
        memcpy(rc->run_id, at, n);
    }
    rc->run_id[n] = '\0';
    freeReplyObject(r);
    if (n == 0) {
        redis_conn_lost(rc, "INFO server gave no run_id");
        return -1;
    }
    return 0;
}

static int connect_once(struct redis_conn *rc)
{
    const struct redis_url *u = rc->url;
    struct timeval tv = ms_timeval(CONNECT_TIMEOUT_MS);
    redisContext *ctx = u->is_unix
                            ? redisConnectUnixWithTimeout(u->path, tv)
                            : redisConnectWithTimeout(u->host, (int)u->port,
                                                      tv);
    if (!ctx || ctx->err) {
        char why[160];
        snprintf(why, sizeof why, "%s",
                 ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisFree(ctx);
        went_down(rc, why);
        return -1;
    }
    set_ctx(rc, ctx);
    redisSetTimeout(ctx, ms_timeval(COMMAND_TIMEOUT_MS));
    if (!u->is_unix)
        redisEnableKeepAlive(ctx);
    char db[16];
    snprintf(db, sizeof db, "%u", u->db);
    const char *auth_user[] = {"AUTH", u->user, u->password};
    const char *auth[] = {"AUTH", u->password};
    const char *select[] = {"SELECT", db};
    if ((u->user[0] && setup_command(rc, 3, auth_user)) ||
        (!u->user[0] && u->has_password && setup_command(rc, 2, auth)) ||
        (u->db && setup_command(rc, 2, select)) || learn_run_id(rc))
        return -1;
    return 0;
}

int redis_conn_ensure(struct redis_conn *rc)
{
    if (atomic_load(rc->stop))
        return -1;
    if (rc->ctx)
        return 0;
    if (rc->up == 0)
        redis_conn_pause(rc, rc->backoff_ms);
    if (atomic_load(rc->stop) || connect_once(rc))
        return -1;
    if (rc->up != 1)
        log_msg(LOG_LEVEL_NOTICE, "%s: connected to Redis %s (run id %.12s)",
                rc->who, rc->url_text, rc->run_id);
    rc->up = 1;
    rc->backoff_ms = 0;
    return 0;
}

void redis_conn_interrupt(struct redis_conn *rc)
{
    pthread_mutex_lock(&rc->ctx_lock);
    if (rc->ctx)
        shutdown(rc->ctx->fd, SHUT_RDWR);
    pthread_mutex_unlock(&rc->ctx_lock);
}

void redis_conn_close(struct redis_conn *rc)
{
    if (rc->ctx)
        redisFree(rc->ctx);
    set_ctx(rc, NULL);
    pthread_mutex_destroy(&rc->ctx_lock);
}
