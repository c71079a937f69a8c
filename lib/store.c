/* store.c - the LMDB environment of an instance (see store.h).
 *
 * Flags: the files live on tmpfs, so syncing buys nothing (MDB_NOSYNC,
 * MDB_NOMETASYNC); MDB_WRITEMAP lets a set write its record straight into
 * the map; MDB_NOTLS detaches read transactions from threads, which is what
 * lets this module keep one reset transaction per thread and renew it for
 * every read instead of taking a reader slot (under LMDB's shared reader
 * mutex) each time.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "record.h"
#include "shmcache.h"

#define ENV_FLAGS \
    (MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | MDB_NOTLS | MDB_NORDAHEAD)

/* LMDB's open can fail transiently when it races another process's open
 * or close; these are retried with a growing pause. */
#define OPEN_ATTEMPTS 20

static const char *const table_names[SHMC__T_COUNT] = {
    [SHMC__T_ENTRIES] = "entries",
    [SHMC__T_HASHED] = "hashed",
    [SHMC__T_META] = "meta",
    [SHMC__T_OUTBOX] = "outbox",
};

struct shmc__store {
    MDB_env *env;
    MDB_dbi dbi[SHMC__T_COUNT];
    uint64_t id; /* never reused in this process: names the store in the
                    per-thread reader lists even after it is freed */
    size_t max_key;
    uint64_t map_size;
    unsigned page_size;
    struct shmc__reader *readers; /* every thread's reader, under
                                     readers_lock */
};

/* One thread's read transaction for one store. It sits on two lists: its
 * thread's (walked without a lock by that thread only) and its store's
 * (under readers_lock, so that closing the store can end it). */
struct shmc__reader {
    MDB_txn *txn;               /* NULL once the store ended it */
    struct shmc__store *store;  /* NULL once the store ended it */
    uint64_t store_id;
    int busy;
    struct shmc__reader *thread_next;
    struct shmc__reader *store_next, *store_prev;
};

static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t readers_once = PTHREAD_ONCE_INIT;
static pthread_key_t readers_key; /* its destructor ends a thread's readers */
/* initial-exec: read on every get, and the default model would make that
 * a call to __tls_get_addr from the shared library. Eight bytes fit the
 * static TLS glibc keeps for libraries loaded later with dlopen. */
static _Thread_local struct shmc__reader *thread_readers
    __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t next_store_id = 1;

static int map_err(int rc, const char *what)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return SHMC_ENOTFOUND;
    case MDB_MAP_FULL:
        return shmc__fail(SHMC_EFULL, "%s: the map is full", what);
    case MDB_TXN_FULL:
        return shmc__fail(SHMC_ETOOBIG,
                          "%s: too many changes for one transaction", what);
    case MDB_READERS_FULL:
        return shmc__fail(SHMC_EREADERS, "%s: all reader slots are in use",
                          what);
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        return shmc__fail(SHMC_ECORRUPT, "%s: %s", what, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return shmc__fail(SHMC_EVERSION, "%s: %s", what, mdb_strerror(rc));
    }
    if (rc > 0)
        return shmc__fail(-rc, "%s: %s", what, strerror(rc));
    return shmc__fail(SHMC_EINTERNAL, "%s: %s", what, mdb_strerror(rc));
}

/* ---- per-thread read transactions ---------------------------------- */

/* Unlink r from its store and end its transaction. Under readers_lock. */
static void reader_end(struct shmc__reader *r)
{
    struct shmc__store *s = r->store;
    if (!s)
        return;
    if (r->store_prev)
        r->store_prev->store_next = r->store_next;
    else
        s->readers = r->store_next;
    if (r->store_next)
        r->store_next->store_prev = r->store_prev;
    mdb_txn_abort(r->txn);
    r->txn = NULL;
    r->store = NULL;
}

static void thread_exit(void *head)
{
    struct shmc__reader *r = head;
    pthread_mutex_lock(&readers_lock);
    while (r) {
        struct shmc__reader *next = r->thread_next;
        reader_end(r);
        free(r);
        r = next;
    }
    /* Another library's thread-exit destructor may still read the cache. */
    thread_readers = NULL;
    pthread_mutex_unlock(&readers_lock);
}

static void readers_init(void)
{
    pthread_key_create(&readers_key, thread_exit);
}

/* Free this thread's readers whose store has gone. Under readers_lock. */
static void prune_thread_readers(void)
{
    int pruned = 0;
    struct shmc__reader **pp = &thread_readers;
    while (*pp) {
        struct shmc__reader *r = *pp;
        if (r->store) {
            pp = &r->thread_next;
            continue;
        }
        *pp = r->thread_next;
        free(r);
        pruned = 1;
    }
    /* The thread-exit destructor starts from the key's value: it must not
     * be a reader freed here. (A reader was freed, so the key exists.) */
    if (pruned)
        pthread_setspecific(readers_key, thread_readers);
}

static int reader_create(struct shmc__store *s, struct shmc__reader **out)
{
    struct shmc__reader *r = calloc(1, sizeof *r);
    if (!r)
        return shmc__fail(-ENOMEM, "no memory for a reader");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc) {
        free(r);
        return map_err(rc, "starting a read transaction");
    }
    mdb_txn_reset(r->txn);
    r->store = s;
    r->store_id = s->id;
    pthread_once(&readers_once, readers_init);
    pthread_mutex_lock(&readers_lock);
    prune_thread_readers();
    r->thread_next = thread_readers;
    thread_readers = r;
    r->store_next = s->readers;
    if (s->readers)
        s->readers->store_prev = r;
    s->readers = r;
    pthread_mutex_unlock(&readers_lock);
    pthread_setspecific(readers_key, thread_readers);
    *out = r;
    return 0;
}

int shmc__read_begin(struct shmc__store *s, struct shmc__txn *t)
{
    struct shmc__reader *r;
    int rc;
    t->store = s;
    for (r = thread_readers; r; r = r->thread_next)
        if (r->store_id == s->id)
            break;
    if (!r) {
        rc = reader_create(s, &r);
        if (rc)
            return rc;
    }
    if (r->busy) {
        /* A view callback reading again: a transaction of its own. */
        t->reader = NULL;
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, (MDB_txn **)&t->mdb);
        return map_err(rc, "starting a nested read transaction");
    }
    rc = mdb_txn_renew(r->txn);
    if (rc)
        return map_err(rc, "renewing a read transaction");
    r->busy = 1;
    t->reader = r;
    t->mdb = r->txn;
    return 0;
}

void shmc__read_end(struct shmc__txn *t)
{
    if (t->reader) {
        mdb_txn_reset(t->mdb);
        t->reader->busy = 0;
    } else {
        mdb_txn_abort(t->mdb);
    }
}

/* ---- fork ----------------------------------------------------------- */

void shmc__store_fork_prepare(void)
{
    pthread_mutex_lock(&readers_lock);
}

void shmc__store_fork_parent(void)
{
    pthread_mutex_unlock(&readers_lock);
}

void shmc__store_fork_child(void)
{
    /* The forking thread's transactions belong to the parent's
     * environment: drop them from the thread without calling LMDB, which
     * would clear the parent's reader slots. They stay on their store's
     * list, reachable (for leak checkers) through the abandoned instance. */
    if (thread_readers) {
        thread_readers = NULL;
        pthread_setspecific(readers_key, NULL);
    }
    pthread_mutex_init(&readers_lock, NULL);
}

/* ---- open and close ------------------------------------------------- */

static void pause_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* LMDB opens the lock file close-on-exec but not the data file: a worker
 * that execs must not carry the map's file into the new program. */
static void data_fd_cloexec(MDB_env *env)
{
    mdb_filehandle_t fd;
    int flags;
    if (mdb_env_get_fd(env, &fd) == 0 && (flags = fcntl(fd, F_GETFD)) >= 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

static int env_open(MDB_env **out, const struct shmc__store_config *cfg)
{
    unsigned wait_ms = 1;
    int rc = 0;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        MDB_env *env;
        rc = mdb_env_create(&env);
        if (rc)
            return map_err(rc, "creating the LMDB environment");
        /* Four tables are used; room is left for those to come. */
        mdb_env_set_maxdbs(env, 16);
        mdb_env_set_mapsize(env, (size_t)cfg->map_size);
        mdb_env_set_maxreaders(env, cfg->max_readers);
        rc = mdb_env_open(env, cfg->open_dir, ENV_FLAGS, cfg->file_mode);
        if (rc == 0) {
            data_fd_cloexec(env);
            *out = env;
            return 0;
        }
        mdb_env_close(env);
        if (rc != EAGAIN && rc != EBUSY && rc != EINTR)
            break;
        pause_ms(wait_ms);
        if (wait_ms < 64)
            wait_ms *= 2;
    }
    return map_err(rc, cfg->dir);
}

/* The main (unnamed) database of a shmcache environment holds only the
 * names of its tables; anything else means the files are another
 * program's. */
static int check_foreign(MDB_txn *txn, const char *dir)
{
    MDB_dbi main_db;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_db, &cur);
    if (rc)
        return map_err(rc, dir);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int known = 0;
        for (int i = 0; i < SHMC__T_COUNT; i++)
            if (k.mv_size == strlen(table_names[i]) &&
                memcmp(k.mv_data, table_names[i], k.mv_size) == 0)
                known = 1;
        if (!known) {
            mdb_cursor_close(cur);
            return shmc__fail(SHMC_ECORRUPT,
                              "%s: LMDB files of another program", dir);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : map_err(rc, dir);
}

#define META_FORMAT_KEY "record-format"

static int check_format(MDB_txn *txn, MDB_dbi meta, const char *dir)
{
    MDB_val k = {sizeof META_FORMAT_KEY - 1, (void *)META_FORMAT_KEY}, v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND
                   ? shmc__fail(SHMC_ECORRUPT, "%s: no record format", dir)
                   : map_err(rc, dir);
    unsigned char format;
    if (v.mv_size != 1 || (format = *(unsigned char *)v.mv_data) !=
                              SHMC__RECORD_FORMAT)
        return shmc__fail(SHMC_EVERSION,
                          "%s: records of format %u, this library reads %u",
                          dir, v.mv_size == 1 ? format : 0u,
                          SHMC__RECORD_FORMAT);
    return 0;
}

/* Open the tables in a read transaction when they exist (the usual case:
 * no writer lock needed), else create them in a write transaction. */
static int tables_open(struct shmc__store *s, const char *dir)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return map_err(rc, dir);
    for (int i = 0; i < SHMC__T_COUNT && rc == 0; i++)
        rc = mdb_dbi_open(txn, table_names[i], 0, &s->dbi[i]);
    if (rc == 0) {
        rc = check_format(txn, s->dbi[SHMC__T_META], dir);
        if (rc) {
            mdb_txn_abort(txn);
            return rc;
        }
        return map_err(mdb_txn_commit(txn), dir);
    }
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
        return map_err(rc, dir);

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return map_err(rc, dir);
    rc = check_foreign(txn, dir);
    for (int i = 0; i < SHMC__T_COUNT && rc == 0; i++)
        rc = map_err(mdb_dbi_open(txn, table_names[i], MDB_CREATE,
                                  &s->dbi[i]),
                     dir);
    if (rc == 0) {
        unsigned char format = SHMC__RECORD_FORMAT;
        MDB_val k = {sizeof META_FORMAT_KEY - 1, (void *)META_FORMAT_KEY};
        MDB_val v = {1, &format};
        rc = map_err(mdb_put(txn, s->dbi[SHMC__T_META], &k, &v, 0), dir);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return map_err(mdb_txn_commit(txn), dir);
}

int shmc__store_open(struct shmc__store **out,
                     const struct shmc__store_config *cfg)
{
    struct shmc__store *s = calloc(1, sizeof *s);
    if (!s)
        return shmc__fail(-ENOMEM, "no memory for a store");
    int rc = env_open(&s->env, cfg);
    if (rc) {
        free(s);
        return rc;
    }
    /* Free the reader slots of processes that died, so that a cache used
     * without the daemon does not run out of them. */
    int dead;
    mdb_reader_check(s->env, &dead);
    rc = tables_open(s, cfg->dir);
    if (rc) {
        mdb_env_close(s->env);
        free(s);
        return rc;
    }
    s->id = atomic_fetch_add(&next_store_id, 1);
    s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    s->map_size = info.me_mapsize;
    s->page_size = st.ms_psize;
    *out = s;
    return 0;
}

void shmc__store_close(struct shmc__store *s)
{
    pthread_mutex_lock(&readers_lock);
    while (s->readers)
        reader_end(s->readers);
    prune_thread_readers();
    pthread_mutex_unlock(&readers_lock);
    mdb_env_close(s->env);
    free(s);
}

size_t shmc__store_max_key(const struct shmc__store *s)
{
    return s->max_key;
}

/* ---- writes --------------------------------------------------------- */

int shmc__write_begin(struct shmc__store *s, struct shmc__txn *t)
{
    t->store = s;
    t->reader = NULL;
    return map_err(mdb_txn_begin(s->env, NULL, 0, (MDB_txn **)&t->mdb),
                   "starting a write transaction");
}

int shmc__write_commit(struct shmc__txn *t)
{
    return map_err(mdb_txn_commit(t->mdb), "committing");
}

void shmc__write_abort(struct shmc__txn *t)
{
    mdb_txn_abort(t->mdb);
}

int shmc__get(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen, struct shmc__bytes *val)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(t->mdb, t->store->dbi[tb], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? SHMC_ENOTFOUND : map_err(rc, "reading");
    val->data = v.mv_data;
    val->len = v.mv_size;
    return 0;
}

int shmc__put(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen, size_t len, void **dst)
{
    MDB_val k = {klen, (void *)key}, v = {len, NULL};
    int rc = mdb_put(t->mdb, t->store->dbi[tb], &k, &v, MDB_RESERVE);
    if (rc)
        return map_err(rc, "writing");
    *dst = v.mv_data;
    return 0;
}

int shmc__del(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen)
{
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(t->mdb, t->store->dbi[tb], &k, NULL);
    return rc == MDB_NOTFOUND ? SHMC_ENOTFOUND : map_err(rc, "deleting");
}

int shmc__empty(struct shmc__txn *t, enum shmc__table tb, size_t *count)
{
    MDB_stat st;
    int rc = mdb_stat(t->mdb, t->store->dbi[tb], &st);
    if (rc)
        return map_err(rc, "counting");
    if (count)
        *count = st.ms_entries;
    return map_err(mdb_drop(t->mdb, t->store->dbi[tb], 0), "emptying");
}

/* ---- cursors -------------------------------------------------------- */

int shmc__cursor_open(struct shmc__txn *t, enum shmc__table tb,
                      struct shmc__cursor **c)
{
    return map_err(mdb_cursor_open(t->mdb, t->store->dbi[tb],
                                   (MDB_cursor **)c),
                   "opening a cursor");
}

static int cursor_get(struct shmc__cursor *c, struct shmc__bytes *k,
                      struct shmc__bytes *v, MDB_val *mk, MDB_cursor_op op)
{
    MDB_val mv;
    int rc = mdb_cursor_get((MDB_cursor *)c, mk, &mv, op);
    if (rc)
        return rc == MDB_NOTFOUND ? SHMC_ENOTFOUND : map_err(rc, "walking");
    k->data = mk->mv_data;
    k->len = mk->mv_size;
    v->data = mv.mv_data;
    v->len = mv.mv_size;
    return 0;
}

int shmc__cursor_seek(struct shmc__cursor *c, const void *key, size_t klen,
                      struct shmc__bytes *k, struct shmc__bytes *v)
{
    MDB_val mk = {klen, (void *)key};
    return cursor_get(c, k, v, &mk, klen ? MDB_SET_RANGE : MDB_FIRST);
}

int shmc__cursor_next(struct shmc__cursor *c, struct shmc__bytes *k,
                      struct shmc__bytes *v)
{
    MDB_val mk;
    return cursor_get(c, k, v, &mk, MDB_NEXT);
}

int shmc__cursor_del(struct shmc__cursor *c)
{
    return map_err(mdb_cursor_del((MDB_cursor *)c, 0), "deleting");
}

void shmc__cursor_close(struct shmc__cursor *c)
{
    mdb_cursor_close((MDB_cursor *)c);
}

/* ---- usage ---------------------------------------------------------- */

/* The pages t's snapshot keeps in its trees. Pages freed by deletes sit in
 * LMDB's free list and are reused, so this, not the file's high-water
 * mark, is how full the map is. (The free list's own few pages cannot be
 * counted through LMDB's API.) */
static int tree_pages(struct shmc__txn *t, uint64_t *pages)
{
    MDB_stat st;
    MDB_dbi main_db = 1; /* LMDB's MAIN_DBI: the table of table names */
    *pages = 0;
    for (int tb = 0; tb <= SHMC__T_COUNT; tb++) {
        int rc = mdb_stat(t->mdb, tb < SHMC__T_COUNT ? t->store->dbi[tb]
                                                    : main_db,
                          &st);
        if (rc)
            return map_err(rc, "counting pages");
        *pages += st.ms_branch_pages + st.ms_leaf_pages +
                  st.ms_overflow_pages;
    }
    return 0;
}

int shmc__store_space(struct shmc__txn *t, uint64_t *used, uint64_t *size)
{
    uint64_t pages;
    int rc = tree_pages(t, &pages);
    *used = pages * t->store->page_size;
    *size = t->store->map_size;
    return rc;
}

void shmc__store_space_bound(struct shmc__txn *t, uint64_t *bound,
                             uint64_t *size)
{
    MDB_envinfo info;
    *size = t->store->map_size;
    *bound = mdb_env_info(t->store->env, &info) == 0
                 ? (uint64_t)(info.me_last_pgno + 1) * t->store->page_size
                 : *size;
}

/* mdb_reader_list() hands out one formatted line per reader slot in use:
 * "pid thread txnid" (after a header line). Count them, and those whose
 * process is gone. */
struct reader_count {
    unsigned used, dead;
};

static int count_reader(const char *line, void *arg)
{
    struct reader_count *n = arg;
    char *end;
    long pid = strtol(line, &end, 10);
    if (end == line || pid <= 0)
        return 0;
    n->used++;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        n->dead++;
    return 0;
}

/* mdb_reader_list's line of a slot in use: "pid thread txnid", the txnid
 * "-" when the slot holds no read. Keep the oldest txnid. */
static int oldest_read(const char *line, void *arg)
{
    unsigned long long pid, thread, txnid;
    if (sscanf(line, "%llu %llx %llu", &pid, &thread, &txnid) == 3 &&
        txnid < *(uint64_t *)arg)
        *(uint64_t *)arg = txnid;
    return 0;
}

int shmc__store_readers_behind(struct shmc__store *s)
{
    MDB_envinfo info;
    uint64_t oldest = UINT64_MAX;
    /* A process killed inside a read would be waited for in vain. */
    mdb_reader_check(s->env, NULL);
    if (mdb_env_info(s->env, &info) != 0)
        return 0;
    mdb_reader_list(s->env, oldest_read, &oldest);
    /* A transaction reuses the pages commit T freed only when every read
     * began at T or later, and never those of the last commit (LMDB keeps
     * them for the one after): a read of the last commit holds nothing
     * more. */
    return oldest < info.me_last_txnid;
}

int shmc__store_reader_check(struct shmc__store *s, unsigned *freed)
{
    int dead = 0;
    int rc = mdb_reader_check(s->env, &dead);
    *freed = (unsigned)dead;
    return map_err(rc, "checking readers");
}

int shmc__store_usage(struct shmc__store *s, struct shmc__store_usage *u)
{
    MDB_envinfo info;
    MDB_stat st;
    struct shmc__txn t;
    int rc = mdb_env_info(s->env, &info);
    if (rc)
        return map_err(rc, "reading the environment");
    rc = mdb_env_stat(s->env, &st);
    if (rc)
        return map_err(rc, "reading the environment");
    u->map_size = info.me_mapsize;
    u->map_touched = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    u->page_size = st.ms_psize;
    u->max_readers = info.me_maxreaders;
    /* me_numreaders is the most slots ever used, not those in use. */
    struct reader_count n = {0, 0};
    mdb_reader_list(s->env, count_reader, &n);
    u->readers_used = n.used;
    u->readers_dead = n.dead;
    u->entries = 0;
    rc = shmc__read_begin(s, &t);
    if (rc)
        return rc;
    for (int tb = SHMC__T_ENTRIES; tb <= SHMC__T_HASHED && rc == 0; tb++) {
        rc = map_err(mdb_stat(t.mdb, s->dbi[tb], &st), "counting");
        u->entries += st.ms_entries;
    }
    uint64_t pages = 0;
    if (rc == 0)
        rc = tree_pages(&t, &pages);
    u->map_used = pages * u->page_size;
    shmc__read_end(&t);
    return rc;
}
