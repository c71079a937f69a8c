/* backend_lmdb.c - raw LMDB with the flags shmcache uses: the floor that
 * shmcache is built on. A get renews one read transaction kept per worker
 * and copies the value out; a set or delete is one write transaction (and
 * so is a populate batch). */
#include <limits.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define ENV_FLAGS \
    (MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | MDB_NOTLS | MDB_NORDAHEAD)
#define MAX_READERS 1024
#define DB_NAME "entries"

struct lmdb_state {
    char dir[PATH_MAX];
    size_t map_size;
};

struct lmdb_conn {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *reader; /* reset between gets */
};

static int fail_mdb(const char *what, int rc)
{
    return bench_fail("%s: %s", what, mdb_strerror(rc));
}

static int env_open(const struct lmdb_state *s, MDB_env **out)
{
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc)
        return fail_mdb("mdb_env_create", rc);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_set_mapsize(env, s->map_size);
    mdb_env_set_maxreaders(env, MAX_READERS);
    rc = mdb_env_open(env, s->dir, ENV_FLAGS, 0600);
    if (rc) {
        mdb_env_close(env);
        return fail_mdb("mdb_env_open", rc);
    }
    *out = env;
    return BENCH_OK;
}

/* Open (creating it the first time) the entries database: its handle
 * stays valid for the life of the environment once the transaction that
 * opened it commits. */
static int dbi_open(MDB_env *env, MDB_dbi *dbi)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc)
        return fail_mdb("mdb_txn_begin", rc);
    rc = mdb_dbi_open(txn, DB_NAME, MDB_CREATE, dbi);
    if (rc) {
        mdb_txn_abort(txn);
        return fail_mdb("mdb_dbi_open", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail_mdb("mdb_txn_commit", rc) : BENCH_OK;
}

static int lmdb_open(const struct bench_params *p,
                     const struct bench_server *srv, void **state)
{
    (void)srv;
    struct lmdb_state *s = calloc(1, sizeof *s);
    if (!s)
        return bench_fail("out of memory");
    if (bench_scratch_dir("/dev/shm", s->dir, sizeof s->dir) != BENCH_OK) {
        free(s);
        return BENCH_ERR;
    }
    s->map_size = (size_t)bench_map_size(p);
    *state = s;
    return BENCH_OK;
}

static void lmdb_close(void *state)
{
    struct lmdb_state *s = state;
    bench_remove_tree(s->dir);
    free(s);
}

static void lmdb_disconnect(void *conn)
{
    struct lmdb_conn *c = conn;
    if (c->reader)
        mdb_txn_abort(c->reader);
    mdb_env_close(c->env);
    free(c);
}

static int lmdb_connect(void *state, void **conn)
{
    struct lmdb_conn *c = calloc(1, sizeof *c);
    if (!c)
        return bench_fail("out of memory");
    if (env_open(state, &c->env) != BENCH_OK) {
        free(c);
        return BENCH_ERR;
    }
    int rc = dbi_open(c->env, &c->dbi);
    if (rc == BENCH_OK) {
        rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &c->reader);
        if (rc) {
            c->reader = NULL;
            rc = fail_mdb("mdb_txn_begin (read)", rc);
        } else {
            mdb_txn_reset(c->reader);
        }
    }
    if (rc != BENCH_OK) {
        lmdb_disconnect(c);
        return BENCH_ERR;
    }
    *conn = c;
    return BENCH_OK;
}

static int lmdb_get(void *conn, const char *key, size_t klen, void *buf,
                    size_t cap, size_t *len)
{
    struct lmdb_conn *c = conn;
    int rc = mdb_txn_renew(c->reader);
    if (rc)
        return fail_mdb("mdb_txn_renew", rc);
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(c->reader, c->dbi, &k, &v);
    if (rc == 0) {
        *len = v.mv_size;
        memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    mdb_txn_reset(c->reader);
    if (rc == MDB_NOTFOUND)
        return BENCH_MISS;
    return rc ? fail_mdb("mdb_get", rc) : BENCH_OK;
}

/* One write transaction around put or del; MDB_NOTFOUND from del is a
 * miss, not an error. */
static int write_txn(struct lmdb_conn *c, const char *key, size_t klen,
                     const void *val, size_t vlen, int is_del)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc)
        return fail_mdb("mdb_txn_begin", rc);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    rc = is_del ? mdb_del(txn, c->dbi, &k, NULL)
                : mdb_put(txn, c->dbi, &k, &v, 0);
    if (rc) {
        mdb_txn_abort(txn);
        if (is_del && rc == MDB_NOTFOUND)
            return BENCH_MISS;
        return fail_mdb(is_del ? "mdb_del" : "mdb_put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail_mdb("mdb_txn_commit", rc) : BENCH_OK;
}

static int lmdb_set(void *conn, const char *key, size_t klen,
                    const void *val, size_t vlen)
{
    return write_txn(conn, key, klen, val, vlen, 0);
}

static int lmdb_del(void *conn, const char *key, size_t klen)
{
    return write_txn(conn, key, klen, NULL, 0, 1);
}

/* One write transaction per batch. */
static int lmdb_populate(void *conn, const struct bench_item *items, size_t n)
{
    struct lmdb_conn *c = conn;
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc)
        return fail_mdb("mdb_txn_begin", rc);
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {items[i].klen, (void *)items[i].key};
        MDB_val v = {items[i].vlen, (void *)items[i].val};
        rc = mdb_put(txn, c->dbi, &k, &v, 0);
        if (rc) {
            mdb_txn_abort(txn);
            return fail_mdb("mdb_put", rc);
        }
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail_mdb("mdb_txn_commit", rc) : BENCH_OK;
}

static int lmdb_mem_used(void *conn, uint64_t *bytes)
{
    struct lmdb_conn *c = conn;
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(c->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(c->env, &st);
    if (rc)
        return fail_mdb("mdb_env_info", rc);
    *bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    return BENCH_OK;
}

const struct bench_backend bench_backend_lmdb = {
    .name = "lmdb",
    .open = lmdb_open,
    .connect = lmdb_connect,
    .get = lmdb_get,
    .set = lmdb_set,
    .del = lmdb_del,
    .populate = lmdb_populate,
    .disconnect = lmdb_disconnect,
    .close = lmdb_close,
    .mem_used = lmdb_mem_used,
};
