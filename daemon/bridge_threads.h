/* bridge_threads.h - what the bridge's two threads share (see bridge.h):
 * bridge.c starts them, bridge_send.c and bridge_recv.c are their bodies. */
#ifndef SHMCD_BRIDGE_THREADS_H
#define SHMCD_BRIDGE_THREADS_H

#include <pthread.h>
#include <stdatomic.h>

#include "bridge.h"
#include "redis_conn.h"

struct bridge {
    shmc_cache *cache;
    const char *path;
    struct bridge_settings s;
    _Atomic int stop;
    struct redis_conn send_conn, recv_conn;
    pthread_t sender, receiver;
    int threads; /* started: 0, 1 or 2 */
};

void *bridge_send_main(void *bridge);
void *bridge_recv_main(void *bridge);

/* Log a failure of a shmc_* call. */
void bridge_log_shmc(const struct bridge *b, const char *what, int rc);

#endif
