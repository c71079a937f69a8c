/* redis_conn.h - one connection of the bridge to Redis, kept up across
 * failures: connect (AUTH, SELECT, learn the server's run id), retry with
 * capped exponential backoff, and log once per change of state (up, down),
 * never once per attempt. With bridge_send.c and bridge_recv.c, the only
 * files that see hiredis. */
#ifndef SHMCD_REDIS_CONN_H
#define SHMCD_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "redis_url.h"

#define REDIS_CONN_BACKOFF_MIN_MS 100u
#define REDIS_CONN_BACKOFF_MAX_MS 5000u

struct redis_conn {
    const struct redis_url *url;
    char who[160];           /* "PATH: sender", for the log */
    char url_text[1100];     /* the URL without its password */
    redisContext *ctx;       /* NULL while disconnected */
    pthread_mutex_t ctx_lock; /* ctx as redis_conn_interrupt sees it */
    /* The server's run id, which changes when Redis restarts (and, with
     * persistence off, loses the stream). */
    char run_id[48];
    int up;                  /* -1 never tried, 0 down, 1 up */
    unsigned backoff_ms;
    const _Atomic int *stop; /* set when the daemon stops */
};

void redis_conn_init(struct redis_conn *rc, const struct redis_url *url,
                     const char *who, const _Atomic int *stop);

/* Make sure rc is connected: connect if not, after waiting out the backoff
 * of the last failure. Returns 0 when connected, -1 when not (logged if the
 * state changed) or when the daemon is stopping. */
int redis_conn_ensure(struct redis_conn *rc);

/* The connection failed (why, e.g. the context's error): drop it, and log
 * if it was up. */
void redis_conn_lost(struct redis_conn *rc, const char *why);

/* Wake a thread blocked on rc's socket (from another thread), so that it
 * sees the stop. */
void redis_conn_interrupt(struct redis_conn *rc);

void redis_conn_close(struct redis_conn *rc);

/* The reply of a command, or NULL after marking the connection lost. A
 * REDIS_REPLY_ERROR reply is returned as it is. */
redisReply *redis_conn_command(struct redis_conn *rc, int argc,
                               const char **argv, const size_t *argvlen);

/* Sleep up to ms, in steps, returning early when the daemon stops. */
void redis_conn_pause(const struct redis_conn *rc, unsigned ms);

#endif
