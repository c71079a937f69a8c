/* backend_shmcache.c - shmcache through its public API, as a user links it:
 * shmcache as it opens by default, and shmcache-l1, the same with each
 * worker's per-thread read cache (shmc_opts.l1_entries) turned on. The two
 * differ only in the options their handles are opened with. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shmcache.h"

struct shmcache_state {
    char scratch[64];
    char path[128];
    shmc_opts opts;
};

static int fail_shmc(const char *what, int rc)
{
    return bench_fail("%s: %s (%s)", what, shmc_strerror(rc),
                      shmc_last_error());
}

static int shmcache_connect(void *state, void **conn)
{
    struct shmcache_state *s = state;
    shmc_cache *c;
    int rc = shmc_open(&c, s->path, &s->opts);
    if (rc != 0)
        return fail_shmc("shmc_open", rc);
    *conn = c;
    return BENCH_OK;
}

static void shmcache_disconnect(void *conn)
{
    shmc_close(conn);
}

static void shmcache_close(void *state)
{
    struct shmcache_state *s = state;
    bench_remove_tree(s->scratch);
    free(s);
}

static int open_with(const struct bench_params *p, unsigned l1_entries,
                     void **state)
{
    struct shmcache_state *s = calloc(1, sizeof *s);
    if (!s)
        return bench_fail("out of memory");
    if (bench_scratch_dir("/dev/shm", s->scratch, sizeof s->scratch) !=
        BENCH_OK) {
        free(s);
        return BENCH_ERR;
    }
    snprintf(s->path, sizeof s->path, "%s/cache", s->scratch);
    s->opts.map_size = bench_map_size(p);
    s->opts.max_readers = SHMC_DEFAULT_MAX_READERS;
    s->opts.l1_entries = l1_entries;
    *state = s;
    return BENCH_OK;
}

static int shmcache_open(const struct bench_params *p,
                         const struct bench_server *srv, void **state)
{
    (void)srv;
    return open_with(p, 0, state);
}

static int shmcache_open_l1(const struct bench_params *p,
                            const struct bench_server *srv, void **state)
{
    (void)srv;
    return open_with(p, p->l1_entries, state);
}

static int shmcache_get(void *conn, const char *key, size_t klen, void *buf,
                        size_t cap, size_t *len)
{
    *len = cap;
    int rc = shmc_get(conn, key, klen, buf, len, NULL, 0);
    if (rc == 0 || rc == SHMC_EBUFSMALL)
        return BENCH_OK; /* *len is the value's length: the caller checks */
    if (rc == SHMC_ENOTFOUND)
        return BENCH_MISS;
    return fail_shmc("shmc_get", rc);
}

static int shmcache_set(void *conn, const char *key, size_t klen,
                        const void *val, size_t vlen)
{
    int rc = shmc_set(conn, key, klen, val, vlen, 0);
    return rc == 0 ? BENCH_OK : fail_shmc("shmc_set", rc);
}

static int shmcache_del(void *conn, const char *key, size_t klen)
{
    int rc = shmc_del(conn, key, klen);
    if (rc == 0)
        return BENCH_OK;
    if (rc == SHMC_ENOTFOUND)
        return BENCH_MISS;
    return fail_shmc("shmc_del", rc);
}

/* One transaction per batch. */
static int shmcache_populate(void *conn, const struct bench_item *items,
                             size_t n)
{
    shmc_item *batch = malloc(n * sizeof *batch);
    if (!batch)
        return bench_fail("out of memory");
    for (size_t i = 0; i < n; i++)
        batch[i] = (shmc_item){items[i].key, items[i].klen, items[i].val,
                               items[i].vlen};
    int rc = shmc_mset(conn, batch, n, NULL);
    free(batch);
    return rc == 0 ? BENCH_OK : fail_shmc("shmc_mset", rc);
}

static int shmcache_mem_used(void *conn, uint64_t *bytes)
{
    shmc_info info;
    int rc = shmc_info_get(conn, &info);
    if (rc != 0)
        return fail_shmc("shmc_info_get", rc);
    *bytes = info.map_used;
    return BENCH_OK;
}

static int shmcache_lock_unlock(void *conn, const char *key, size_t klen,
                                uint32_t *slot)
{
    shmc_keylock lock;
    /* SHMC_LOCK_RECOVERED is a lock held all the same. */
    int rc = shmc_lock(conn, key, klen, SHMC_LOCK_FOREVER, &lock);
    if (rc < 0)
        return fail_shmc("shmc_lock", rc);
    if (slot)
        *slot = lock.slot;
    rc = shmc_unlock(&lock);
    return rc == 0 ? BENCH_OK : fail_shmc("shmc_unlock", rc);
}

/* The harness's compute, as shmc_get_or_compute() calls it. */
struct compute_call {
    struct bench_compute *how;
    int failed; /* then the compute's own message is the one to keep */
};

static int compute_through(const void *key, size_t klen, void *arg,
                           shmc_compute_out *out)
{
    struct compute_call *call = arg;
    (void)key;
    (void)klen;
    if (call->how->fn(call->how->arg, &out->value, &out->len) == BENCH_OK)
        return 0;
    call->failed = 1;
    return -EIO;
}

static int shmcache_get_or_compute(void *conn, const char *key, size_t klen,
                                   struct bench_compute *how, void *buf,
                                   size_t cap, size_t *len,
                                   uint64_t *fresh_until_ms)
{
    const shmc_compute_opts opts = {.ttl_ms = how->ttl_ms,
                                    .stale_ms = how->stale_ms};
    struct compute_call call = {how, 0};
    void *val;
    shmc_meta meta;
    int rc = shmc_get_or_compute(conn, key, klen, compute_through, &call,
                                 &opts, &val, len, &meta);
    if (rc != 0 && rc != SHMC_STALE)
        return call.failed ? BENCH_ERR
                           : fail_shmc("shmc_get_or_compute", rc);
    memcpy(buf, val, *len < cap ? *len : cap);
    shmc_free(val);
    *fresh_until_ms = meta.fresh_until_ms;
    return rc == SHMC_STALE ? BENCH_STALE : BENCH_OK;
}

const struct bench_backend bench_backend_shmcache = {
    .name = "shmcache",
    .open = shmcache_open,
    .connect = shmcache_connect,
    .get = shmcache_get,
    .set = shmcache_set,
    .del = shmcache_del,
    .populate = shmcache_populate,
    .disconnect = shmcache_disconnect,
    .close = shmcache_close,
    .mem_used = shmcache_mem_used,
    .lock_unlock = shmcache_lock_unlock,
    .get_or_compute = shmcache_get_or_compute,
};

const struct bench_backend bench_backend_shmcache_l1 = {
    .name = "shmcache-l1",
    .open = shmcache_open_l1,
    .connect = shmcache_connect,
    .get = shmcache_get,
    .set = shmcache_set,
    .del = shmcache_del,
    .populate = shmcache_populate,
    .disconnect = shmcache_disconnect,
    .close = shmcache_close,
    .mem_used = shmcache_mem_used,
    .lock_unlock = shmcache_lock_unlock,
    .get_or_compute = shmcache_get_or_compute,
};
