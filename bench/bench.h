/* bench.h - the backend interface of shmcache-bench and the helpers the
 * backends share.
 *
 * A run of one backend goes:
 *
 *   start(server)            parent: its server, if it has one
 *   open(params, server)     parent: create what the run needs (a fresh
 *                            instance directory, connection settings)
 *   connect / populate... /  parent: pre-populate every key in batches
 *     disconnect             (set... for a backend without populate), then
 *                            disconnect before forking
 *   fork N workers:          each worker: connect, timed get/set/del loop,
 *     connect ... disconnect   disconnect
 *   close                    parent: remove what open created
 *   stop(server)             parent
 *
 * What the workers do is the workload's (workload_*.c): the get/set/del
 * mix, lock+unlock of a key, or many processes asking for one expiring key.
 *
 * Adding a backend: one file defining a const struct bench_backend, listed
 * in bench_backends[] (bench.c) and in Makefile.am. Adding a workload: one
 * file defining a const struct workload (harness.h: its timed operations,
 * its step, its columns), listed in workloads[] (bench.c) and in
 * Makefile.am; the fork, the barrier, the timed loop, the histograms and
 * the merge are shared. A workload that needs an operation not every
 * backend has adds it below as an optional member (NULL: the backend
 * cannot run that workload and is skipped with a message); the backends
 * only ever see single operations.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Results of the backend calls. */
#define BENCH_OK 0
#define BENCH_MISS 1   /* get: absent; del: nothing to delete */
#define BENCH_ERR (-1) /* details in bench_error() */
#define BENCH_SKIP 2   /* start: the server is not installed */
#define BENCH_STALE 3  /* get_or_compute: a stale value was served */

/* A server process started for one run (Redis, memcached). */
struct bench_server {
    pid_t pid;           /* 0: none running */
    int port;            /* TCP port on 127.0.0.1 */
    char dir[64];        /* scratch directory for its socket, "" if none */
    char unix_path[108]; /* unix socket, "" if none */
};

/* What open() needs to size and place the backend. */
struct bench_params {
    uint32_t keys;
    size_t vsize;
    unsigned procs;
    unsigned l1_entries; /* shmcache-l1: entries of each worker's L1 */
};

/* One key and value of a populate batch. */
struct bench_item {
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
};

/* How get_or_compute makes and keeps a value that is not in the cache. */
struct bench_compute {
    uint64_t ttl_ms;   /* fresh for this long once stored */
    uint64_t stale_ms; /* then served stale for this long, without waiting,
                          while one process computes it again */
    /* Point *val at the value (valid until get_or_compute returns) and
     * set *len. BENCH_OK, or BENCH_ERR with bench_fail() called. */
    int (*fn)(void *arg, const void **val, size_t *len);
    void *arg;
};

struct bench_backend {
    const char *name;
    /* Start this backend's server, or NULL when it needs none. Returns
     * BENCH_OK, BENCH_SKIP (not installed; the message is already printed)
     * or BENCH_ERR. */
    int (*start)(struct bench_server *srv);
    /* Stop what start() started; NULL when start is NULL. */
    void (*stop)(struct bench_server *srv);
    /* In the parent: prepare a run. *state is handed to connect and close. */
    int (*open)(const struct bench_params *p, const struct bench_server *srv,
                void **state);
    /* In the process that will use the connection (after fork). */
    int (*connect)(void *state, void **conn);
    /* Copy the value of key into buf (at most cap bytes); *len receives
     * the value's full length even when it exceeds cap. BENCH_OK,
     * BENCH_MISS or BENCH_ERR. */
    int (*get)(void *conn, const char *key, size_t klen, void *buf,
               size_t cap, size_t *len);
    /* Store with no expiry. BENCH_OK or BENCH_ERR. */
    int (*set)(void *conn, const char *key, size_t klen, const void *val,
               size_t vlen);
    /* BENCH_OK, BENCH_MISS or BENCH_ERR. */
    int (*del)(void *conn, const char *key, size_t klen);
    /* Optional (NULL: the parent calls set for each item): store n items
     * with no expiry in as few round trips or transactions as the backend
     * allows; only used to pre-populate, never timed. BENCH_OK or
     * BENCH_ERR (the connection is then given up). */
    int (*populate)(void *conn, const struct bench_item *items, size_t n);
    void (*disconnect)(void *conn);
    void (*close)(void *state);
    /* Optional (NULL if unknown): bytes of memory the entries take, read
     * through a connection after populating. BENCH_OK or BENCH_ERR. */
    int (*mem_used)(void *conn, uint64_t *bytes);
    /* Optional (NULL: no per-key locks; the lock workload skips the
     * backend): take the key's lock, waiting as long as it takes, and
     * release it. *slot (slot may be NULL) receives the lock's slot: two
     * keys with different slots never wait for each other. BENCH_OK or
     * BENCH_ERR. */
    int (*lock_unlock)(void *conn, const char *key, size_t klen,
                       uint32_t *slot);
    /* Optional (NULL: no single flight; the stampede workload skips the
     * backend): the key's value if it is fresh; otherwise computed with
     * how->fn by one of the processes that ask at the same time and
     * stored, the others waiting for it (or served the stale value, inside
     * how->stale_ms). Copies the value into buf as get does (*len: its
     * full length) and its fresh-until into *fresh_until_ms (bench_wall_ms()
     * time). BENCH_OK, BENCH_STALE or BENCH_ERR. */
    int (*get_or_compute)(void *conn, const char *key, size_t klen,
                          struct bench_compute *how, void *buf, size_t cap,
                          size_t *len, uint64_t *fresh_until_ms);
};

extern const struct bench_backend bench_backend_shmcache;
extern const struct bench_backend bench_backend_shmcache_l1;
extern const struct bench_backend bench_backend_lmdb;
extern const struct bench_backend bench_backend_redis_unix;
extern const struct bench_backend bench_backend_redis_tcp;
extern const struct bench_backend bench_backend_memcached;

/* ---- helpers shared by the backends (util.c) ---------------------------- */

/* Record why the last call failed, for the caller to print; returns
 * BENCH_ERR so that a backend can write `return bench_fail(...)`. */
int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message of the last bench_fail() in this process. */
const char *bench_error(void);

/* Make a fresh private directory base/shmcache-bench.XXXXXX into out.
 * Returns BENCH_OK or BENCH_ERR. */
int bench_scratch_dir(const char *base, char *out, size_t len);
/* Remove a directory and everything under it (best effort). */
void bench_remove_tree(const char *path);

/* The map size to give an LMDB environment that will hold p's keys, with
 * room for copy-on-write pages and for sets that replace values. */
uint64_t bench_map_size(const struct bench_params *p);

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The wall clock in ms since the epoch, as shmcache reads it for expiry
 * times (CLOCK_REALTIME, truncated to the ms): a time read after shmcache
 * found an entry stale is never before the entry's fresh-until. */
static inline uint64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
