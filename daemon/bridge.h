/* bridge.h - the Redis bridge of one instance: revocations made here go
 * from the instance's outbox to a Redis stream, and other hosts'
 * revocations come from the stream into the instance (see "Revocation
 * across hosts" in DESIGN.md and "The bridge" in shmcache.h).
 *
 * Two threads per instance, each with its own connection:
 *  - the sender (bridge_send.c) sleeps on the outbox's futex, XADDs what
 *    is pending, acknowledges it in the outbox once Redis replied, and
 *    prunes records only after they have sat in the same Redis (same run
 *    id) for BRIDGE_RETAIN_MS: a Redis restarted without persistence has
 *    lost its stream, and what it lost is sent again;
 *  - the receiver (bridge_recv.c) XREAD BLOCKs from the cursor saved in
 *    the instance, checks each message's signature, skips its own, and
 *    applies the rest once each; when revocations may have been missed
 *    (stream trimmed past the cursor, or lost while it was not reading), it
 *    flushes the instance and says so. */
#ifndef SHMCD_BRIDGE_H
#define SHMCD_BRIDGE_H

#include "bridge_msg.h"
#include "config.h"
#include "redis_url.h"
#include "shmcache.h"

/* How long a record stays in the outbox after Redis acknowledged it. */
#define BRIDGE_RETAIN_MS 10000u

struct bridge_settings {
    struct redis_url url;
    unsigned char secret[32];
    char host_id[BRIDGE_MSG_MAX_ORIGIN + 1];
    char stream[CONFIG_MAX_STREAM_LEN + CONFIG_MAX_PATH_LEN + 2];
    char maxlen[16]; /* stream_maxlen, as XADD takes it */
    unsigned outbox_max;
};

struct bridge;

/* The bridge settings cfg gives the instance at path: the URL parsed, the
 * secret read, the host id (cfg's, else the hostname), the stream's name.
 * Returns 0; or -1 after a warning that says why the instance goes on
 * without a bridge. */
int bridge_settings_make(const struct config *cfg, const char *path,
                         struct bridge_settings *out);

/* Turn the instance's outbox on and start both threads. Returns the
 * bridge, or NULL after logging why (the daemon goes on without it). */
struct bridge *bridge_start(shmc_cache *cache, const char *path,
                            const struct bridge_settings *s);

/* Stop both threads (within about a second) and free b (may be NULL). */
void bridge_stop(struct bridge *b);

#endif
