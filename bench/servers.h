/* servers.h - the Redis and memcached servers a run starts for itself.
 *
 * Each server is started with fork/exec on a free port of 127.0.0.1, with
 * persistence off, and is ready when these functions return: it has
 * answered a PING (Redis) or a version request (memcached). It dies with
 * the benchmark if the benchmark is killed. When the executable is not in
 * PATH, start says so on stderr and returns BENCH_SKIP.
 */
#ifndef BENCH_SERVERS_H
#define BENCH_SERVERS_H

#include "bench.h"

/* redis-server with both a TCP port and a unix socket. */
int server_start_redis(struct bench_server *srv);
/* Kill a redis-server started above (SIGKILL: its data goes) and start a
 * new one on the same port; ready when it returns. */
int server_restart_redis(struct bench_server *srv);

/* memcached, TCP only, 1 GiB of item memory. */
int server_start_memcached(struct bench_server *srv);
/* SIGKILL and reap it (it keeps nothing); removes its scratch dir. */
void server_stop(struct bench_server *srv);

/* Connect a TCP socket to 127.0.0.1:port with TCP_NODELAY. Returns the
 * descriptor, or BENCH_ERR. */
int bench_tcp_connect(int port);

#endif
