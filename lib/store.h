/* store.h - the LMDB environment of an instance: the only module that sees
 * lmdb.h. Everything above it speaks of tables, transactions and cursors,
 * and gets SHMC_E* codes, never LMDB's. */
#ifndef SHMC_STORE_H
#define SHMC_STORE_H

#include <stddef.h>
#include <stdint.h>

enum shmc__table {
    SHMC__T_ENTRIES, /* key -> record, keys up to LMDB's limit */
    SHMC__T_HASHED,  /* SHA-256(key) -> record carrying the full key */
    SHMC__T_META,    /* name -> instance facts (record format, ...) */
    SHMC__T_OUTBOX,  /* sequence -> revocation for other hosts (outbox.h) */
    SHMC__T_COUNT
};

struct shmc__store;
struct shmc__reader;

/* A transaction, on the caller's stack. Read transactions come from a
 * per-thread cache and are reset, not freed, when they end. */
struct shmc__txn {
    void *mdb;
    struct shmc__store *store;
    struct shmc__reader *reader; /* NULL: not from the cache */
};

struct shmc__bytes {
    const void *data;
    size_t len;
};

struct shmc__store_config {
    const char *dir;      /* the instance directory, for messages */
    const char *open_dir; /* where LMDB opens its files, by name */
    uint64_t map_size;
    unsigned max_readers;
    unsigned file_mode;
};

/* Open (creating if needed) the environment in cfg->open_dir. The caller
 * serialises opens and closes of one directory across processes (LMDB's own
 * first-opener detection races otherwise); transient failures are retried.
 * Returns 0, SHMC_ECORRUPT (not a shmcache environment, or damaged),
 * SHMC_EVERSION (record format from another version), -errno. */
int shmc__store_open(struct shmc__store **out,
                     const struct shmc__store_config *cfg);

/* Close the environment, ending every thread's cached read transaction. */
void shmc__store_close(struct shmc__store *s);

/* Fork hooks, run by the instance registry's pthread_atfork handlers. In the
 * child every store is abandoned: LMDB forbids using the parent's
 * environment, and closing it would drop the parent's file locks. */
void shmc__store_fork_prepare(void);
void shmc__store_fork_parent(void);
void shmc__store_fork_child(void);

/* The longest key LMDB accepts in this environment. */
size_t shmc__store_max_key(const struct shmc__store *s);

/* A read transaction sees one snapshot; no lock is taken. Nested use by the
 * same thread (a view callback that reads again) gets a transaction of its
 * own. Returns 0, SHMC_EREADERS, SHMC_ECORRUPT, -ENOMEM. */
int shmc__read_begin(struct shmc__store *s, struct shmc__txn *t);
void shmc__read_end(struct shmc__txn *t);

/* One writer at a time across all processes (LMDB's robust writer mutex; a
 * writer that died is recovered from by the next one). */
int shmc__write_begin(struct shmc__store *s, struct shmc__txn *t);
int shmc__write_commit(struct shmc__txn *t);
void shmc__write_abort(struct shmc__txn *t);

/* Look a key up. val points into the map, valid until the transaction ends
 * or (in a write transaction) until the next change. 0 or SHMC_ENOTFOUND. */
int shmc__get(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen, struct shmc__bytes *val);

/* Make room for a value of len bytes under key and return where to write
 * it (*dst, valid until the next change in t). SHMC_EFULL when the map has
 * no room. */
int shmc__put(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen, size_t len, void **dst);

/* Delete a key: 0 or SHMC_ENOTFOUND. */
int shmc__del(struct shmc__txn *t, enum shmc__table tb, const void *key,
              size_t klen);

/* Remove every key of a table; *count (may be NULL) gets how many. */
int shmc__empty(struct shmc__txn *t, enum shmc__table tb, size_t *count);

/* Cursors walk a table in key order. */
struct shmc__cursor;
int shmc__cursor_open(struct shmc__txn *t, enum shmc__table tb,
                      struct shmc__cursor **c);
/* Position at the first key >= key (klen 0: the first key). 0 or
 * SHMC_ENOTFOUND when there is none. */
int shmc__cursor_seek(struct shmc__cursor *c, const void *key, size_t klen,
                      struct shmc__bytes *k, struct shmc__bytes *v);
int shmc__cursor_next(struct shmc__cursor *c, struct shmc__bytes *k,
                      struct shmc__bytes *v);
/* Delete the current key; the cursor then stands on the next one. */
int shmc__cursor_del(struct shmc__cursor *c);
void shmc__cursor_close(struct shmc__cursor *c);

struct shmc__store_usage {
    uint64_t map_size;
    uint64_t map_used;    /* bytes of the pages the tables hold */
    uint64_t map_touched; /* bytes of the map ever written */
    uint64_t entries;
    unsigned page_size, max_readers, readers_used, readers_dead;
};
int shmc__store_usage(struct shmc__store *s, struct shmc__store_usage *u);

/* Bytes of the map t's snapshot uses (its tables' pages), and the map's
 * size. Cheap: no walk. */
int shmc__store_space(struct shmc__txn *t, uint64_t *used, uint64_t *size);

/* An upper bound of shmc__store_space()'s used, at a fraction of its cost:
 * the bytes of the map ever written (LMDB's high-water mark as of the last
 * commit), which every page in use lies below. */
void shmc__store_space_bound(struct shmc__txn *t, uint64_t *bound,
                             uint64_t *size);

/* Whether a read in progress (of a live process) holds pages that
 * commits freed: they cannot be reused until it ends. */
int shmc__store_readers_behind(struct shmc__store *s);

/* Free the reader slots of processes that no longer exist; *freed gets
 * how many. */
int shmc__store_reader_check(struct shmc__store *s, unsigned *freed);

#endif
