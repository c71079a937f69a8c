/*
 * shmcache.h - one shared, consistent cache in memory for every worker of a
 * pre-fork server.
 *
 * This header is the manual. Every call says what it takes, what it returns,
 * who owns what and for how long, and what to watch out for.
 *
 * OVERVIEW
 *
 * An instance is a directory, by default /dev/shm/shmcache/default (tmpfs:
 * memory, not disk). It holds an LMDB environment (data.mdb, lock.mdb) with
 * the entries, and control.shm, a small mapped file with the shared counters.
 * Every process that opens the same directory sees the same entries: a write
 * or delete committed by one worker is seen by every other worker on its next
 * read. Readers take no lock; writers are serialised by LMDB. Optionally
 * (shmc_opts.l1_entries) each reading thread keeps copies of hot entries,
 * trusted only while version stamps in control.shm show no write since.
 *
 * TIME
 *
 * Every entry has three points in time, in milliseconds of the wall clock
 * (CLOCK_REALTIME, so that hosts agree):
 *   stored-at    when it was written;
 *   fresh-until  until then a read is a hit;
 *   expires-at   between fresh-until and expires-at the entry is "stale":
 *                only a caller that asks for stale data (SHMC_GET_STALE)
 *                gets it; after expires-at it is gone for every reader,
 *                whether or not it has been removed from memory yet.
 * A TTL of 0 means "never expires".
 *
 * ERRORS
 *
 * Every call that can fail returns an int: 0 on success, a negative SHMC_E*
 * code below, or a negative errno value (-ENOMEM, -EACCES, ...) for a failed
 * system call. A few calls return a positive value for a success that carries
 * a note (SHMC_STALE). shmc_strerror() and shmc_err_name() describe any
 * return value and never return NULL. shmc_last_error() gives the details of
 * the last failure in the calling thread (which path, which field).
 *
 * FORK
 *
 * A handle opened before fork() works in the child without any call from the
 * user: on its first use in the child it notices the fork and opens the
 * instance again for the new process. It never calls into the parent's LMDB
 * state, and it does not close the descriptors inherited from the parent
 * (closing them would release file locks LMDB depends on): a child therefore
 * keeps about three extra descriptors and the parent's address-space
 * reservation for the map until it exits or calls exec (the descriptors are
 * close-on-exec). The parent's handle goes on working. Opening after fork()
 * works as well. Do not fork while another thread is inside a shmcache call.
 *
 * THREADS
 *
 * A handle may be used by many threads at once. Each thread keeps one LMDB
 * read slot per instance, released when the thread exits. shmc_close() must
 * not race with other calls on the same handle.
 *
 * KEYS AND VALUES
 *
 * A key is 1 to SHMC_MAX_KEY_LEN bytes of any content. Keys longer than
 * LMDB's key limit (511 bytes) are stored under their SHA-256 digest with the
 * full key kept in the entry and compared on every read, so two long keys
 * with one digest can never return each other's value. A value is 0 bytes or
 * more; one record (value plus a small header and, for long keys, the key)
 * may take at most half the map (SHMC_ETOOBIG beyond that).
 *
 * PROTECTING WHAT THE CACHE HOLDS
 *
 * Caches of API keys and tokens are the first thing an attacker on the host
 * reads. Three options, each set the same way by every process of an
 * instance (the instance records a fingerprint of each, never the secret,
 * and an open with another secret, or without one, is SHMC_EKEYMISMATCH):
 *  - key_secret: keys are stored as HMAC-SHA256 under the secret, so the
 *    files reveal neither keys nor their lengths. Prefix deletion still
 *    works on namespaces: a key is split at each namespace separator (':'
 *    by default) and every namespace level is stored as its own short HMAC
 *    before the key's, so "user:42:" names the stored prefix of every key
 *    that starts with it ("user:42:profile", "user:42:tokens:abc"). With a
 *    secret, shmc_del_prefix() takes only prefixes that end with the
 *    separator (SHMC_EINVAL otherwise), shmc_scan() cannot list keys
 *    (SHMC_EINVAL), and the file shows how many levels a key has and which
 *    keys share a namespace, nothing more. At most 8 levels are kept apart:
 *    deeper ones belong to the eighth, and a prefix deeper than that
 *    deletes its whole eighth-level namespace.
 *  - compress_threshold: values from a few KiB up are compressed with zstd.
 *  - value_key: values are encrypted with AES-256-GCM, a fresh random nonce
 *    per write; the stored key, the record header and the version are
 *    authenticated with it, so a record moved to another key or altered in
 *    any byte reads as a miss (never as wrong data), is counted
 *    (shmc_stats.decrypt_failures), and is replaced by the next write of its
 *    key. old_value_keys lets readers accept entries written before a key
 *    rotation. To rotate: give every process the new key with the old one
 *    in old_value_keys, then, once all run so (and the old entries have
 *    expired or do not matter), drop the old one; a process holding only
 *    the old key is then refused. Nonces are random (96 bits): rotate the
 *    value key before about 2^32 writes under it.
 *    What encryption does not stop: someone who can write the instance's
 *    files (its owner's other processes, or its group) can delete entries,
 *    put back an earlier record of the same key (until it expires), or
 *    replay a key's cached "not found"; the length of what is stored (and,
 *    with compression, how well a value compresses) shows. Protect the
 *    files; use SHMC_NO_COMPRESSION for values that mix what an attacker
 *    chooses with secrets.
 * Compression comes before encryption. A compressed or encrypted value is
 * copied out even by shmc_get_view() (into memory that lives for the
 * callback), and is not kept in the per-thread L1.
 *
 * EXPIRY AND EVICTION
 *
 * Reads never write to the map: an expired entry is invisible at once and
 * its memory is reclaimed later, by shmc_sweep() (which shmcached runs every
 * tick) or by a writer that needs room. When a write finds more of the map
 * in use than its high watermark (shmc_opts.high_watermark), or LMDB says
 * the map is full, the writer first evicts a small batch: expired entries,
 * then entries not read since the eviction clock hand last passed them
 * (CLOCK, an approximation of least-recently-used; every read marks its
 * key's slot in control.shm). A write therefore fails with SHMC_EFULL only
 * when it cannot fit: a transaction larger than the map; or a big record
 * (more than 1/32 of the map) in a map that many writes have fragmented:
 * it needs a run of contiguous free pages, so the cache is evicted further
 * and further for it, down to nothing, and if even that is not enough (as
 * can happen from a few percent of a churned map up, sooner while readers
 * hold freed pages), the write fails with SHMC_EFULL having emptied the
 * cache. A write may also wait up to a second for readers that hold the
 * pages writes freed. Size the map well above the largest value. "In use"
 * counts the pages LMDB's trees
 * hold, not the pages the file has ever touched: pages freed by deletes are
 * reused.
 */
#ifndef SHMCACHE_H
#define SHMCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMC_BUILDING_LIBRARY)
#define SHMC_EXPORT __attribute__((visibility("default")))
#else
#define SHMC_EXPORT
#endif

#define SHMC_VERSION_MAJOR 0
#define SHMC_VERSION_MINOR 1
#define SHMC_VERSION_PATCH 0
#define SHMC_VERSION_STRING "0.1.0"

/** Where shmc_open() puts the instance when path is NULL. */
#define SHMC_DEFAULT_PATH "/dev/shm/shmcache/default"
/** Default map size: the most memory the entries may take (bytes). */
#define SHMC_DEFAULT_MAP_SIZE (256u * 1024 * 1024)
/** Default number of LMDB reader slots (LMDB's own default is 126). */
#define SHMC_DEFAULT_MAX_READERS 1024u
/** Default number of per-key lock slots. */
#define SHMC_DEFAULT_LOCK_SLOTS 4096u
/** Default number of access-recency slots (one byte each). */
#define SHMC_DEFAULT_RECENCY_SLOTS (1u << 20)
/** Default high watermark: percent of the map in use above which writers
 *  evict. */
#define SHMC_DEFAULT_HIGH_WATERMARK 90u
/** The longest key accepted. */
#define SHMC_MAX_KEY_LEN 65535u

/**
 * Error codes. The list is also the table behind shmc_strerror() and
 * shmc_err_name(): XX(name, value, message).
 */
#define SHMC_ERRNO_MAP(XX)                                                    \
    XX(ENOTFOUND, -1001, "key not found")                                     \
    XX(EBUFSMALL, -1002, "buffer too small for the value")                   \
    XX(EINVAL, -1003, "invalid argument")                                     \
    XX(EKEYLEN, -1004, "key empty or longer than SHMC_MAX_KEY_LEN")          \
    XX(ETOOBIG, -1005, "value larger than the cache can hold")               \
    XX(EFULL, -1006, "cache full")                                            \
    XX(EVERSION, -1007, "instance made by an incompatible shmcache version") \
    XX(ECORRUPT, -1008, "instance file corrupt or not a shmcache file")      \
    XX(EUNSAFE, -1009,                                                        \
       "instance path unsafe: symlink, foreign owner or writable by others") \
    XX(EEXIST, -1010, "key already present")                                  \
    XX(ECONFLICT, -1011, "entry changed since the version given")            \
    XX(EREADERS, -1012, "no free reader slot (raise max_readers)")           \
    XX(EINTERNAL, -1013, "unexpected error inside the storage engine")      \
    XX(ETIMEDOUT, -1014, "timed out waiting for a lock")                     \
    XX(EKEYMISMATCH, -1015,                                                   \
       "instance made with another key secret or value key")

enum shmc_errno {
#define SHMC_XX_ENUM(name, value, msg) SHMC_##name = (value),
    SHMC_ERRNO_MAP(SHMC_XX_ENUM)
#undef SHMC_XX_ENUM
};

/** Positive return of a read asked with SHMC_GET_STALE: the value is stale. */
#define SHMC_STALE 1
/** Positive return of shmc_lock(): acquired, but the previous holder died
 *  holding it, so whatever it protected may be half done. */
#define SHMC_LOCK_RECOVERED 2

/**
 * Describe a return value: 0, a SHMC_E* code, a negative errno value, or
 * SHMC_STALE. Never NULL; the string is static.
 */
SHMC_EXPORT const char *shmc_strerror(int err);

/**
 * The symbolic name of a return value ("SHMC_ENOTFOUND", "ENOMEM", "OK").
 * Never NULL; the string is static.
 */
SHMC_EXPORT const char *shmc_err_name(int err);

/**
 * Details of the most recent failure in the calling thread, for a log line:
 * which path, which owner, which version. Read it right after the call that
 * failed: successful calls do not clear it, and the next failure replaces
 * it. Never NULL (an empty string when there is nothing to add).
 */
SHMC_EXPORT const char *shmc_last_error(void);

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                       */

typedef struct shmc_cache shmc_cache;

/**
 * Options of shmc_open(). A zeroed struct means "all defaults". Fields marked
 * "creation" are fixed when the instance is created; later opens use the
 * instance's own values and ignore them.
 */
typedef struct shmc_opts {
    /** creation: map size in bytes, 0 for SHMC_DEFAULT_MAP_SIZE. Rounded up
     *  to the page size. Must fit the file system (tmpfs size). A value
     *  below 1 MiB is refused on every open, as a bad argument.
     *  Size it for the data plus the churn: LMDB reuses a page freed by a
     *  write only once every read that started before that write has
     *  ended, so a reader descheduled in the middle of a get lets the
     *  writes of that moment take new pages. With many busy processes on
     *  few cores, a map of several times the live data is normal. Memory
     *  is taken only for pages actually written. */
    uint64_t map_size;
    /** creation: LMDB reader slots, 0 for SHMC_DEFAULT_MAX_READERS. Every
     *  process needs one per thread that reads. */
    unsigned max_readers;
    /** Group that may share the instance, by name or number; NULL for none.
     *  With a group, directories are created 0770 and files 0660 and owned
     *  by that group; without, 0700 and 0600. An existing instance whose
     *  files are group-writable is refused unless a group is given. */
    const char *group;
    /** Entries of this handle's per-thread read cache (the L1), 0 for
     *  none. Each thread that reads through the handle keeps copies of up
     *  to this many recently read items (key + value of at most 192 bytes;
     *  rounded up to a power of two; about 260 bytes each) and serves
     *  repeated reads from them without touching LMDB, as long as the
     *  key's version stamp in control.shm shows that no process has
     *  written it since: never a stale answer. Worth it for hot keys and
     *  small values; memory is entries x 260 bytes per reading thread. */
    unsigned l1_entries;
    /** creation: slots of the per-key lock table, 0 for
     *  SHMC_DEFAULT_LOCK_SLOTS; rounded up to a power of two, at most
     *  2^20. Keys whose hashes pick the same slot share its lock: with
     *  4096 slots, a lock shares its slot with one of 63 others held at
     *  the same moment about 1.5% of the time. 64 bytes each. */
    unsigned lock_slots;
    /** creation: slots of the access-recency array used by eviction, 0
     *  for SHMC_DEFAULT_RECENCY_SLOTS; rounded up to a power of two, at
     *  most 2^26. One byte each. Keys whose hashes pick the same slot share
     *  their "recently read" mark, so give it at least as many slots as
     *  the cache will hold entries. */
    unsigned recency_slots;
    /** Percent of the map this handle's writes let fill before they evict
     *  (see EVICTION below); 0 for SHMC_DEFAULT_HIGH_WATERMARK. 10 to 99. */
    unsigned high_watermark;
    /** SHMC_OPEN_* flags, 0 for none. */
    unsigned flags;
    /** Secret keys are stored under, or NULL (see PROTECTING WHAT THE
     *  CACHE HOLDS). 16 to 1024 bytes. Copied: the caller may wipe it after
     *  the call. Every process of an instance must give the same one. */
    const void *key_secret;
    size_t key_secret_len;
    /** With a key secret: the byte that ends a namespace in a key, 0 for
     *  ':'. Part of what must match across processes. */
    char namespace_separator;
    /** Values of at least this many bytes are compressed with zstd (and
     *  stored raw if that does not make them smaller); 0 for
     *  SHMC_DEFAULT_COMPRESS_THRESHOLD, SHMC_NO_COMPRESSION for never. */
    size_t compress_threshold;
    /** zstd level, 0 for SHMC_DEFAULT_COMPRESS_LEVEL; 1 to 19. */
    int compress_level;
    /** AES-256-GCM key (32 bytes) values are encrypted with, or NULL.
     *  Copied. Load it with shmc_key_file_read(); never log it. */
    const unsigned char *value_key;
    /** Earlier value keys, still accepted for reading while entries
     *  written with them remain (key rotation): old_value_key_count keys
     *  of 32 bytes each, one after the other. Copied. */
    const unsigned char *old_value_keys;
    unsigned old_value_key_count;
} shmc_opts;

/** Default compression threshold (bytes). */
#define SHMC_DEFAULT_COMPRESS_THRESHOLD 4096u
/** compress_threshold: never compress. */
#define SHMC_NO_COMPRESSION ((size_t)-1)
/** Default zstd level. */
#define SHMC_DEFAULT_COMPRESS_LEVEL 3
/** Length of a value key. */
#define SHMC_VALUE_KEY_LEN 32u
/** At most this many old value keys. */
#define SHMC_MAX_OLD_VALUE_KEYS 8u

/**
 * Read a key (a value key, or a key secret of 32 bytes) from a file: 32 raw
 * bytes, or 64 hex digits and an optional newline. The file must belong to
 * the caller (root may read any), not be a symbolic link, and be readable by
 * no one else (mode 0600 or 0400).
 *
 * @return 0, SHMC_EINVAL (not 32 bytes or 64 hex digits), SHMC_EUNSAFE
 *         (owner, mode or symbolic link: the path and reason in
 *         shmc_last_error(), never the key), or -errno.
 */
SHMC_EXPORT int shmc_key_file_read(const char *path,
                                   unsigned char key[SHMC_VALUE_KEY_LEN]);

/** Open flag: do not create the instance (or its directories); a missing
 *  one is -ENOENT. For tools that inspect. */
#define SHMC_OPEN_NOCREATE 0x1u
/** Open flag: open without the key secret and value keys, whatever the
 *  instance was made with, for maintenance only: shmc_sweep, shmc_evict,
 *  shmc_reader_check, shmc_verify, the stats and info calls, and the
 *  per-key locks work; every call that reads or writes entries is
 *  SHMC_EKEYMISMATCH. What shmcached and shmcache-stat use. */
#define SHMC_OPEN_NOKEYS 0x2u

/**
 * Open the instance at path (NULL: SHMC_DEFAULT_PATH), creating it and any
 * missing parent directories if absent. Safe when many processes open the
 * same new instance at the same instant: creation is serialised.
 *
 * Path safety: no component of path may be a symbolic link. Every directory
 * on the path must be public (writable by all, with the sticky bit, like
 * /tmp and /dev/shm), whoever owns it, or be owned by root or the caller
 * and, if writable by group or others, have the sticky bit. The instance
 * directory and its files must be owned by the caller (root is no
 * exception) or, with opts.group, belong to that group, and be writable by
 * no one else. A violation is SHMC_EUNSAFE with the path and the reason in
 * shmc_last_error(); another user's instance that the caller may not even
 * enter is -EACCES, with its owner and mode in shmc_last_error().
 *
 * Users on one machine share the default root as they share /tmp: a
 * directory created on the way inside a public directory is made public
 * too (mode 01777), so whoever opens an instance first creates
 * /dev/shm/shmcache and every user then has their own instance directories
 * in it, 0700 (0770 with a group), which the sticky bit keeps others from
 * removing or renaming. The owner of that root can still remove what is in
 * it, or swap two of one user's instances (never read one): where users do
 * not trust each other, have root create it at boot (mode 01777) or give
 * each user a path of their own. The default name is one for all: the
 * first user to open it owns it, and other users' default opens are
 * -EACCES, so give each service its own name. Other directories created
 * on the way are 0755.
 *
 * @param out   receives the handle; untouched on failure.
 * @param path  instance directory, or NULL.
 * @param opts  options, or NULL for defaults. Not kept after the call.
 * @return 0, or SHMC_EUNSAFE, SHMC_EVERSION (the instance was made by an
 *         incompatible layout), SHMC_ECORRUPT (control.shm or the LMDB files
 *         are damaged or foreign), SHMC_EINVAL (bad option, or a map size the
 *         file system cannot hold), -errno (e.g. -EACCES, -ENOMEM, -EMFILE).
 *
 * Two opens of one directory in one process share one LMDB environment
 * underneath (LMDB forbids opening it twice). Each handle must be closed.
 */
SHMC_EXPORT int shmc_open(shmc_cache **out, const char *path,
                          const shmc_opts *opts);

/**
 * Close a handle. The environment underneath is closed with its last handle
 * in this process; the instance and its entries stay for other processes.
 * c may be NULL. No other thread may use c during or after the call.
 */
SHMC_EXPORT void shmc_close(shmc_cache *c);

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */

/** Read flag: also return a stale entry (fresh-until passed, expires-at
 *  not yet); the call then returns SHMC_STALE instead of 0. */
#define SHMC_GET_STALE 0x1u

/** An entry's metadata, filled by the read calls when asked for. */
typedef struct shmc_meta {
    uint64_t version;        /**< changes on every write of the key */
    uint64_t stored_at_ms;   /**< wall clock, ms since the epoch (read from
                                  the version: may run ahead of the clock
                                  if the clock was stepped back) */
    uint64_t fresh_until_ms; /**< UINT64_MAX: never goes stale */
    uint64_t expires_at_ms;  /**< UINT64_MAX: never expires */
    uint32_t value_len;      /**< length of the value in bytes */
} shmc_meta;

/**
 * Copy a value into the caller's buffer.
 *
 * @param buf   destination, capacity *len bytes (may be NULL if *len is 0).
 * @param len   in: capacity of buf; out: length of the value (also when
 *              SHMC_EBUFSMALL, so the caller can retry with that size).
 * @param meta  receives the entry's metadata, or NULL.
 * @param flags 0 or SHMC_GET_STALE.
 * @return 0 (fresh), SHMC_STALE (stale, only with SHMC_GET_STALE),
 *         SHMC_ENOTFOUND (absent, expired, stale without the flag, or a
 *         "not found" answer cached by shmc_get_or_compute()),
 *         SHMC_EBUFSMALL (nothing copied; *len set), SHMC_EKEYLEN,
 *         SHMC_EINVAL, SHMC_ECORRUPT, SHMC_EREADERS.
 *
 * Makes no system call and no allocation once the thread has read through
 * this handle before (the first read makes the thread's reader and, with
 * l1_entries, its cache).
 */
SHMC_EXPORT int shmc_get(shmc_cache *c, const void *key, size_t klen,
                         void *buf, size_t *len, shmc_meta *meta,
                         unsigned flags);

/**
 * Copy a value into memory that the caller owns and releases with
 * shmc_free(). On success *val holds *len bytes followed by a NUL byte that
 * is not counted (so a text value can be used as a C string). Returns as
 * shmc_get(), plus -ENOMEM; *val is NULL on failure.
 */
SHMC_EXPORT int shmc_get_alloc(shmc_cache *c, const void *key, size_t klen,
                               void **val, size_t *len, shmc_meta *meta,
                               unsigned flags);

/** Release memory returned by shmc_get_alloc(). p may be NULL. */
SHMC_EXPORT void shmc_free(void *p);

/**
 * Callback of shmc_get_view(): val points into the shared map and is valid
 * only until the callback returns. It must not be written to. The callback
 * may call other shmcache functions. Its return value becomes the return
 * value of shmc_get_view(); return 0 (or any value >= 0) on success.
 */
typedef int (*shmc_view_fn)(const void *val, size_t len,
                            const shmc_meta *meta, void *arg);

/**
 * Zero-copy read: call fn with the value in place, inside the read
 * transaction. Keep fn short: while it runs, the pages it sees cannot be
 * reused by writers. Returns fn's result, or an error as shmc_get() (fn is
 * not called then). A stale entry is passed only with SHMC_GET_STALE, and
 * then fn's result is returned as is (check meta->fresh_until_ms).
 */
SHMC_EXPORT int shmc_get_view(shmc_cache *c, const void *key, size_t klen,
                              unsigned flags, shmc_view_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */

/** Set flag: store only if no live (fresh or stale) entry holds the key. */
#define SHMC_SET_ADD 0x1u

/**
 * How shmc_set_ex() stores an entry. A zeroed struct stores with no expiry.
 */
typedef struct shmc_set_opts {
    /** Time to live in ms: fresh until now + ttl_ms. 0: never stale. */
    uint64_t ttl_ms;
    /** Stale window in ms after fresh-until: expires at fresh-until +
     *  stale_ms. 0: expires when it goes stale. */
    uint64_t stale_ms;
    /** Absolute fresh-until in ms since the epoch; when non-zero it is used
     *  instead of ttl_ms (for "end of day" expiries the caller computes). */
    uint64_t fresh_until_ms;
    /** Compare-and-set: when non-zero, store only if the live entry's version
     *  is this one (SHMC_ECONFLICT otherwise, also when absent). */
    uint64_t if_version;
    /** 0 or SHMC_SET_ADD. */
    unsigned flags;
} shmc_set_opts;

/**
 * Store a value: the general form behind shmc_set(), shmc_set_at() and
 * shmc_add(). The value is copied into the cache.
 *
 * @param opts     how to store it, or NULL (no expiry).
 * @param version  receives the new entry's version, or NULL.
 * @return 0, SHMC_EEXIST (SHMC_SET_ADD and a live entry exists),
 *         SHMC_ECONFLICT (if_version did not match), SHMC_EKEYLEN,
 *         SHMC_ETOOBIG (the record would exceed half the map),
 *         SHMC_EFULL (no room left), SHMC_EINVAL.
 */
SHMC_EXPORT int shmc_set_ex(shmc_cache *c, const void *key, size_t klen,
                            const void *val, size_t vlen,
                            const shmc_set_opts *opts, uint64_t *version);

/** Store with a TTL in ms (0: no expiry). Returns as shmc_set_ex(). */
SHMC_EXPORT int shmc_set(shmc_cache *c, const void *key, size_t klen,
                         const void *val, size_t vlen, uint64_t ttl_ms);

/** Store until an absolute time (ms since the epoch; 0: no expiry). */
SHMC_EXPORT int shmc_set_at(shmc_cache *c, const void *key, size_t klen,
                            const void *val, size_t vlen,
                            uint64_t expires_at_ms);

/** Store only if absent: SHMC_EEXIST when a live entry holds the key (a
 *  cached "not found" of shmc_get_or_compute() counts as absent). */
SHMC_EXPORT int shmc_add(shmc_cache *c, const void *key, size_t klen,
                         const void *val, size_t vlen, uint64_t ttl_ms);

/**
 * Give a live entry a new TTL (0: no expiry), keeping its value and its
 * stale window. The version changes. Returns 0, SHMC_ENOTFOUND (absent or
 * expired), SHMC_EKEYLEN, SHMC_EFULL.
 */
SHMC_EXPORT int shmc_touch(shmc_cache *c, const void *key, size_t klen,
                           uint64_t ttl_ms);

/**
 * Delete a key. Every process's next read misses. Returns 0, SHMC_ENOTFOUND
 * (nothing live was there; an expired entry is removed all the same),
 * SHMC_EKEYLEN.
 */
SHMC_EXPORT int shmc_del(shmc_cache *c, const void *key, size_t klen);

/** One key and value of a batch. val/vlen are ignored by shmc_mdel(). */
typedef struct shmc_item {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} shmc_item;

/**
 * Store n entries in one transaction: all or none. Other processes see
 * either none of them or all. opts applies to each (SHMC_SET_ADD and
 * if_version are not accepted here: SHMC_EINVAL). Returns as shmc_set_ex();
 * on error nothing was stored.
 */
SHMC_EXPORT int shmc_mset(shmc_cache *c, const shmc_item *items, size_t n,
                          const shmc_set_opts *opts);

/**
 * Delete n keys in one transaction. *deleted (may be NULL) receives how many
 * live entries went. Returns 0 (also when none was present), SHMC_EKEYLEN
 * (nothing deleted), SHMC_EINVAL.
 */
SHMC_EXPORT int shmc_mdel(shmc_cache *c, const shmc_item *items, size_t n,
                          size_t *deleted);

/**
 * Delete every key that starts with prefix (1 byte or more). Works in
 * batches of bounded size, so that other writers are not held up: a key
 * written with the prefix while the call runs may or may not be deleted.
 * *deleted (may be NULL) receives how many entries went. Long keys (stored
 * under their digest) are found by their full key.
 */
SHMC_EXPORT int shmc_del_prefix(shmc_cache *c, const void *prefix,
                                size_t plen, size_t *deleted);

/** Delete every entry. Counters and locks are not touched. */
SHMC_EXPORT int shmc_clear(shmc_cache *c);

/* ------------------------------------------------------------------------ */
/* Per-key locks                                                             */

/** A held lock; filled by shmc_lock(), given back to shmc_unlock(). */
typedef struct shmc_keylock {
    shmc_cache *cache; /**< NULL when not held */
    uint32_t slot;
} shmc_keylock;

/** shmc_lock() timeout: wait as long as it takes. */
#define SHMC_LOCK_FOREVER UINT64_MAX

/**
 * Take the lock of a key, shared by every process of the instance: for a
 * critical section of your own ("create one token per user"). Locks live
 * in control.shm, a key's lock chosen by its hash among
 * shmc_opts.lock_slots; shmc_clear() and deletes never touch them.
 *
 * @param timeout_ms  how long to wait: 0 tries once, SHMC_LOCK_FOREVER
 *                    waits without limit (measured on CLOCK_MONOTONIC).
 * @param lock        receives the held lock.
 * @return 0 (acquired); SHMC_LOCK_RECOVERED (acquired, but its previous
 *         holder died holding it: the lock is made consistent again and
 *         counted, and the caller should redo what the holder may have
 *         left half done); SHMC_ETIMEDOUT (not acquired; nothing is
 *         held); SHMC_EKEYLEN, SHMC_EINVAL.
 *
 * Rules: the lock belongs to the calling thread and must be released by
 * it. A thread may lock a key it already holds, or another key whose slot
 * it already holds: the slot's mutex is recursive, so this never
 * deadlocks, and each successful shmc_lock() needs its own shmc_unlock().
 * Two threads locking two keys in opposite orders can deadlock like any
 * two mutexes (and so can two keys that share a slot, in opposite orders,
 * with a third key): take several locks in one order, or with a timeout.
 * A child process does not inherit the locks its parent holds at fork().
 */
SHMC_EXPORT int shmc_lock(shmc_cache *c, const void *key, size_t klen,
                          uint64_t timeout_ms, shmc_keylock *lock);

/**
 * Release a lock taken by shmc_lock() in this thread. Returns 0, or
 * SHMC_EINVAL if lock is not held (or is held by another thread).
 */
SHMC_EXPORT int shmc_unlock(shmc_keylock *lock);

/* ------------------------------------------------------------------------ */
/* Single flight                                                            */

/** What a compute callback answers; zeroed before the call. */
typedef struct shmc_compute_out {
    /** The value: memory of the callback's that stays valid until
     *  shmc_get_or_compute() returns (a buffer in arg, a static string);
     *  it is copied into the cache and into the caller's result. */
    const void *value;
    size_t len;
    /** Non-zero: there is no such thing; cache that answer ("negative
     *  entry") for negative_ttl_ms instead of a value. */
    int not_found;
    /** Non-zero: override the options' ttl_ms / stale_ms /
     *  negative_ttl_ms for this answer. */
    uint64_t ttl_ms, stale_ms, negative_ttl_ms;
} shmc_compute_out;

/**
 * Compute the value of key (from a database, a remote service...).
 * Return 0 and fill *out, or a negative code of your choice for a failure
 * (it is returned to the caller unless a stale value can be served).
 */
typedef int (*shmc_compute_fn)(const void *key, size_t klen, void *arg,
                               shmc_compute_out *out);

/** Options of shmc_get_or_compute(). A zeroed struct is valid: no expiry,
 *  no stale window, not-found answers not cached, waits without limit. */
typedef struct shmc_compute_opts {
    uint64_t ttl_ms;          /**< TTL of a computed value (0: none) */
    uint64_t stale_ms;        /**< its stale window after the TTL */
    uint64_t negative_ttl_ms; /**< TTL of a "not found" (0: not cached) */
    /** How long to wait for the process computing the key when there is
     *  nothing to serve meanwhile; 0 waits without limit. */
    uint64_t lock_timeout_ms;
    /** With a stale value at hand, how long to wait for the computing
     *  process before serving the stale value instead (0: not at all). */
    uint64_t stale_wait_ms;
} shmc_compute_opts;

/**
 * Read key; if it is missing, compute it in exactly one process of all
 * that ask at the same time, store it, and return it to all of them.
 *
 *  - Fresh in the cache: returned at once, no lock taken.
 *  - Missing: the key's lock is taken (shmc_lock), the cache read again
 *    (another process may have just stored it), compute called, its
 *    answer stored with its TTL, the lock released. Processes waiting for
 *    the lock then find the stored value and do not compute.
 *  - Stale (fresh-until passed, expires-at not yet): if the lock cannot be
 *    had within stale_wait_ms, the stale value is returned
 *    (stale-while-revalidate: someone else is refreshing it). If compute
 *    fails, the stale value is returned (stale-if-error) for as long as it
 *    has not expired, and the failure is counted.
 *  - A compute that dies (the process is killed) hands the lock to the next
 *    waiter, which computes again; a compute that runs long keeps the lock:
 *    no second compute starts, and waiters give up after lock_timeout_ms
 *    with SHMC_ETIMEDOUT (or take the stale value, if there is one).
 *
 * @param val, len  receive the value in memory the caller frees with
 *                  shmc_free() (NUL-terminated beyond len), or NULL.
 * @param meta      receives the entry's metadata, or NULL.
 * @return 0 (a fresh value, cached or just computed); SHMC_STALE (a stale
 *         value, as above); SHMC_ENOTFOUND (compute answered not_found, or
 *         that answer is cached; *val is NULL); SHMC_ETIMEDOUT (waited
 *         lock_timeout_ms for another computing process, nothing to
 *         serve); compute's own negative code when it failed with nothing
 *         stale to serve; or an error as shmc_get_alloc() or shmc_set_ex().
 */
SHMC_EXPORT int shmc_get_or_compute(shmc_cache *c, const void *key,
                                    size_t klen, shmc_compute_fn compute,
                                    void *arg, const shmc_compute_opts *opts,
                                    void **val, size_t *len,
                                    shmc_meta *meta);

/* ------------------------------------------------------------------------ */
/* Statistics and information                                               */

/** Counters summed over every process that used the instance. */
typedef struct shmc_stats {
    uint64_t hits;        /**< reads that returned a fresh value */
    uint64_t stale_hits;  /**< reads that returned a stale value */
    uint64_t misses;      /**< reads that found nothing usable */
    uint64_t expired;     /**< misses because the entry had expired */
    uint64_t sets;        /**< entries stored */
    uint64_t deletes;     /**< live entries deleted */
    uint64_t l1_hits;     /**< hits (fresh or stale) served by a
                               per-thread read cache, without LMDB */
    uint64_t locks;       /**< shmc_lock() calls that acquired */
    uint64_t lock_waits;  /**< of those and the timeouts: had to wait */
    uint64_t lock_timeouts;   /**< gave up after their timeout */
    uint64_t lock_recoveries; /**< acquired from a holder that died */
    uint64_t computes;        /**< compute callbacks run */
    uint64_t compute_errors;  /**< of those, failed */
    uint64_t stale_served;    /**< stale values served by get_or_compute
                                   (while another refreshed, or after a
                                   failed compute) */
    uint64_t revocations;     /**< keys revoked (shmc_revoke; also counted
                                   in deletes) */
    uint64_t evictions;       /**< live entries evicted to make room */
    uint64_t expired_removed; /**< expired entries removed (sweeps and
                                   evictions) */
    uint64_t sweeps;          /**< shmc_sweep() calls that ran */
    uint64_t sweep_passes;    /**< times the sweep cursor went round the
                                   whole cache */
    uint64_t readers_reclaimed; /**< reader slots of dead processes freed */
    uint64_t last_sweep_ms;   /**< wall clock of the last sweep, 0: never */
    uint64_t decrypt_failures; /**< encrypted entries that failed
                                    authentication (read as misses) */
    /* Revocations across hosts (see "The bridge" below). */
    uint64_t outbox_overflows; /**< revocations made while the outbox was
                                    full: applied here, and replaced for
                                    the other hosts by a flush */
    uint64_t bridge_sent;      /**< messages the bridge put in Redis */
    uint64_t bridge_received;  /**< messages read from Redis, own included */
    uint64_t bridge_applied;   /**< other hosts' revocations applied */
    uint64_t bridge_skipped_own; /**< own messages read back and skipped */
    uint64_t bridge_duplicates;  /**< messages already applied (resent
                                      after Redis restarted) */
    uint64_t bridge_rejected_signature; /**< dropped: HMAC did not match */
    uint64_t bridge_rejected_parse;     /**< dropped: not a message */
    uint64_t bridge_rejected_keyspace;  /**< dropped: keys stored under
                                             another key secret */
    uint64_t bridge_gap_flushes; /**< whole-cache flushes because
                                      revocations may have been missed */
    uint64_t bridge_newest_ms;   /**< origin time of the newest revocation
                                      applied, 0: none yet */
    uint64_t bridge_lag_ms;      /**< when it was applied, how old it was */
} shmc_stats;

/** Sum the shared counters. Lock-free; never blocks a worker. */
SHMC_EXPORT int shmc_stats_get(shmc_cache *c, shmc_stats *out);

/** What the instance is and how full. */
typedef struct shmc_info {
    uint32_t layout_version; /**< of control.shm and the record format */
    uint64_t map_size;       /**< bytes */
    uint64_t map_used;       /**< bytes of the map in use */
    uint64_t entries;        /**< records stored, expired ones included */
    unsigned max_readers;
    unsigned readers_used;   /**< reader slots in use, dead ones included */
    unsigned readers_dead;   /**< of those, held by processes that no
                                  longer exist (shmc_reader_check frees
                                  them) */
    uint64_t map_touched;    /**< bytes of the map ever written: memory the
                                  file holds, never given back */
    unsigned page_size;      /**< bytes of an LMDB page */
    unsigned lock_slots;     /**< per-key lock table size */
    unsigned locks_held;     /**< lock slots held right now */
    unsigned recency_slots;  /**< access-recency array size */
    uint64_t outbox_max;     /**< pending revocations the outbox holds; 0:
                                  no bridge (shmc_outbox_enable) */
    uint64_t outbox_pending; /**< revocations not yet acknowledged by Redis */
} shmc_info;

/** Fill *out. Returns 0, or an error as shmc_get(). */
SHMC_EXPORT int shmc_info_get(shmc_cache *c, shmc_info *out);

/* ------------------------------------------------------------------------ */
/* Maintenance: what shmcached and shmcache-ctl do                           */

/** Limits of one shmc_sweep() or shmc_evict() call. Zeroed: defaults. */
typedef struct shmc_sweep_opts {
    /** Stop after about this long (microseconds), at the end of the
     *  current batch; 0 for 2000. */
    uint64_t budget_us;
    /** Records visited per write transaction, 0 for 256. The LMDB writer
     *  lock is held for one batch at a time, so a long sweep makes other
     *  writers wait at most one batch. */
    unsigned batch;
} shmc_sweep_opts;

/** What one shmc_sweep() or shmc_evict() call did. */
typedef struct shmc_sweep_result {
    uint64_t visited;  /**< records looked at */
    uint64_t expired;  /**< expired records removed */
    uint64_t evicted;  /**< live records evicted (shmc_evict only) */
    unsigned passes;   /**< times the cursor went round the whole cache */
    uint64_t map_used; /**< bytes of the map in use at the end */
} shmc_sweep_result;

/**
 * Remove expired entries, resuming from the cursor the previous sweep saved
 * in the instance (any process's), in small write transactions, until the
 * time budget is spent or the cursor reaches the end of the tables (from
 * where it started: a call that resumes mid-cache covers the rest; the next
 * call starts again at the beginning). Entries
 * that are fresh or stale are never touched. Safe beside any number of
 * readers and writers.
 *
 * @param opts  limits, or NULL for the defaults.
 * @param res   receives what was done, or NULL.
 * @return 0, or an error as shmc_set() (but never SHMC_EFULL from a lack of
 *         room: deleting needs little).
 */
SHMC_EXPORT int shmc_sweep(shmc_cache *c, const shmc_sweep_opts *opts,
                           shmc_sweep_result *res);

/**
 * Evict until at most target_percent of the map is in use, or the time
 * budget is spent, or nothing more can be evicted: expired entries first,
 * then entries not read since the clock hand last passed them. Writers do
 * this themselves in small batches above their high watermark; shmcached
 * calls it to bring the cache down to its low watermark.
 *
 * @param target_percent  1 to 99.
 * @return 0, SHMC_EINVAL, or an error as shmc_sweep().
 */
SHMC_EXPORT int shmc_evict(shmc_cache *c, unsigned target_percent,
                           const shmc_sweep_opts *opts,
                           shmc_sweep_result *res);

/**
 * Free the LMDB reader slots held by processes that no longer exist (a
 * worker killed inside a read). A leaked slot pins the pages of its old
 * snapshot, so the map grows until it is freed.
 *
 * @param freed  receives how many slots were freed, or NULL.
 * @return 0, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_reader_check(shmc_cache *c, unsigned *freed);

/** Scan flag: also report expired entries (shmc_scan skips them). */
#define SHMC_SCAN_EXPIRED 0x1u

/**
 * Called by shmc_scan() for each entry, in key order within each table
 * (keys longer than 511 bytes come after the others, in no useful order).
 * key and meta are valid during the call only. Return 0 to go on, anything
 * else to stop the scan, which then returns that value.
 */
typedef int (*shmc_scan_fn)(const void *key, size_t klen,
                            const shmc_meta *meta, void *arg);

/**
 * Call fn for every live entry whose key starts with prefix (plen 0: every
 * entry). The scan reads one snapshot in one read transaction: it blocks
 * no one, but a long scan keeps the pages of its snapshot from reuse, so
 * bound it (stop from fn). Records that cannot be decoded are skipped (see
 * shmc_verify).
 *
 * @return 0, fn's non-zero value, SHMC_EINVAL, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_scan(shmc_cache *c, const void *prefix, size_t plen,
                          unsigned flags, shmc_scan_fn fn, void *arg);

/**
 * Called by shmc_verify() for each problem found. key is the stored key (for
 * a long key, its digest when the record is too damaged to hold the key);
 * what says what is wrong. Return 0 to go on.
 */
typedef int (*shmc_verify_fn)(const void *key, size_t klen, const char *what,
                              void *arg);

/** What shmc_verify() looked at. */
typedef struct shmc_verify_result {
    uint64_t records;  /**< records checked */
    uint64_t problems; /**< records reported to fn */
    uint64_t expired;  /**< expired records (not a problem) */
} shmc_verify_result;

/**
 * Walk every record of the instance in one read transaction and check it:
 * record format, header length, fresh-until not after expires-at, stored
 * time not in the future, a long key's record holding a key of that
 * digest. Every problem goes to fn (may be NULL).
 *
 * @return 0 (whether or not problems were found: see res->problems),
 *         fn's non-zero value, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_verify(shmc_cache *c, shmc_verify_fn fn, void *arg,
                            shmc_verify_result *res);

/* ------------------------------------------------------------------------ */
/* Revocation                                                                */

/**
 * Revoke a key: delete it and count a revocation. Use it for what must not
 * be accepted any more (an API key, a session). When the instance has a
 * bridge (shmc_outbox_enable, done by shmcached --redis), the revocation is
 * written to the outbox in the same LMDB transaction as the delete, so that
 * no crash can apply one without the other; shmcached then carries it to
 * every other host. Without a bridge it is a counted delete.
 *
 * When the outbox is full (Redis unreachable for long), the key is still
 * revoked here, the overflow is counted (shmc_stats.outbox_overflows), and
 * the outbox asks every other host to flush its cache instead.
 *
 * @return 0 (a live entry was revoked), SHMC_ENOTFOUND (there was none:
 *         the revocation travels all the same), or an error as shmc_del().
 */
SHMC_EXPORT int shmc_revoke(shmc_cache *c, const void *key, size_t klen);

/**
 * shmc_del_prefix() that travels like shmc_revoke(): every key starting
 * with prefix, on every host. The outbox record is written with the first
 * batch of deletes.
 */
SHMC_EXPORT int shmc_revoke_prefix(shmc_cache *c, const void *prefix,
                                   size_t plen, size_t *deleted);

/** shmc_clear() that travels like shmc_revoke(): every entry, every host. */
SHMC_EXPORT int shmc_revoke_all(shmc_cache *c);

/* ------------------------------------------------------------------------ */
/* The bridge: what shmcached calls to carry revocations between hosts       */
/*                                                                           */
/* Applications do not call these. The outbox is a table of the instance:  */
/* records numbered from 1 (the sequence), each a revocation made here and  */
/* not yet pruned. The daemon reads the pending ones (those after the      */
/* acknowledged sequence), puts them in Redis, acknowledges them, and      */
/* prunes them once it is sure Redis kept them. Another host's daemon reads */
/* them from Redis and applies them with shmc_bridge_apply().               */
/* These calls are allowed on a handle opened with SHMC_OPEN_NOKEYS.        */

#define SHMC_REVOKE_KEY 1u    /**< one key */
#define SHMC_REVOKE_PREFIX 2u /**< every key starting with the key */
#define SHMC_REVOKE_ALL 3u    /**< every key (no key bytes) */

/** One revocation, as the outbox holds it and the bridge carries it. */
typedef struct shmc_revocation {
    uint64_t seq;          /**< the origin's outbox sequence, from 1 */
    uint64_t time_ms;      /**< wall clock at the origin when revoked */
    unsigned kind;         /**< SHMC_REVOKE_* */
    /** 0: key is the application's key (or prefix); 1: it is the stored
     *  form under a key secret, which only hosts with the same secret can
     *  apply, and which never shows the key itself. */
    unsigned stored_form;
    /** The first bytes of the fingerprint of the origin's key secret (all
     *  zero without one): a host whose instance stores keys otherwise
     *  cannot apply the revocation and must not pretend it did. */
    unsigned char keyspace[8];
    const unsigned char *key; /**< key_len bytes; NULL for SHMC_REVOKE_ALL */
    size_t key_len;
} shmc_revocation;

/**
 * Turn the outbox on, holding at most max_pending revocations not yet
 * acknowledged (0 turns it off: revocations become counted deletes again,
 * and records already pending stay until read). Every process of the
 * instance sees the change with its next revocation.
 *
 * @return 0, SHMC_EINVAL (max_pending above 2^32), or an error as shmc_set().
 */
SHMC_EXPORT int shmc_outbox_enable(shmc_cache *c, uint64_t max_pending);

/** The outbox's state. */
typedef struct shmc_outbox_info {
    uint64_t max_pending; /**< 0: off */
    /** Random, made when the outbox was first turned on: a host whose
     *  instance was made anew (a reboot empties tmpfs) starts its sequence
     *  again under another incarnation, which the others must tell apart. */
    uint64_t incarnation;
    uint64_t next_seq;    /**< the sequence the next revocation gets */
    uint64_t acked_seq;   /**< every record up to it is in Redis */
    uint64_t first_seq;   /**< the oldest record kept, 0: none */
    /** Moves on every revocation committed: give it to shmc_outbox_wait(). */
    uint32_t signal;
} shmc_outbox_info;

/** Fill *out. Returns 0, or an error as shmc_get(). */
SHMC_EXPORT int shmc_outbox_info_get(shmc_cache *c, shmc_outbox_info *out);

/**
 * Called by shmc_outbox_read() for each record, in sequence order. r and
 * what it points to are valid during the call only; the read holds an LMDB
 * snapshot open, so copy and return quickly (send after the read). Return
 * 0 to go on, anything else to stop the read, which returns that value.
 */
typedef int (*shmc_outbox_fn)(const shmc_revocation *r, void *arg);

/**
 * Hand every outbox record with a sequence above after_seq to fn.
 *
 * @return 0, fn's non-zero value, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_outbox_read(shmc_cache *c, uint64_t after_seq,
                                 shmc_outbox_fn fn, void *arg);

/**
 * Record that Redis holds every record up to seq (acknowledgements only
 * move forward). Records stay until pruned: the sender keeps them for a
 * while in case Redis restarts without them.
 *
 * @return 0, SHMC_EINVAL (seq beyond the last record), or an error as
 *         shmc_set().
 */
SHMC_EXPORT int shmc_outbox_ack(shmc_cache *c, uint64_t seq);

/**
 * Delete the records up to seq that are acknowledged (never a pending one).
 *
 * @return 0, or an error as shmc_set().
 */
SHMC_EXPORT int shmc_outbox_prune(shmc_cache *c, uint64_t seq);

/**
 * Wait until a revocation is committed after info.signal was read, or
 * timeout_ms passes. Read the info first, then the outbox, then wait: a
 * revocation committed in between returns at once, so none is slept past.
 *
 * @return 0 (the signal moved), SHMC_ETIMEDOUT, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_outbox_wait(shmc_cache *c, uint32_t signal,
                                 unsigned timeout_ms);

/** What shmc_bridge_apply() did (its non-negative results). */
#define SHMC_BRIDGE_APPLIED 0   /**< applied */
#define SHMC_BRIDGE_DUPLICATE 1 /**< this origin's sequence had been applied
                                     already: nothing done */
#define SHMC_BRIDGE_GAP 2       /**< the origin's sequence skipped some, so
                                     revocations were missed: the whole
                                     cache was flushed, and this applied */

/**
 * Apply another host's revocation, once: the instance remembers, per
 * origin, the incarnation and the last sequence applied, so a message
 * delivered twice is skipped, and a sequence that jumps (messages lost
 * while Redis restarted, or trimmed while this host was away) flushes the
 * cache, since some revocation may be among the missing. The deletes move
 * the version stamps as any delete does, so no worker's per-thread cache
 * keeps the old value. The origin's record and cursor (the stream
 * position, kept for shmc_bridge_cursor, may be NULL) are saved after the
 * deletes: a crash in between applies the message again, which is
 * harmless.
 *
 * @param origin  the origin host's id (1 to 64 bytes, NUL-terminated).
 * @param incarnation  the origin outbox's (shmc_outbox_info).
 * @return SHMC_BRIDGE_APPLIED, _DUPLICATE or _GAP; SHMC_EKEYMISMATCH (the
 *         keys are stored under another key secret here: nothing applied,
 *         counted); SHMC_EINVAL; or an error as shmc_set().
 */
SHMC_EXPORT int shmc_bridge_apply(shmc_cache *c, const char *origin,
                                  uint64_t incarnation,
                                  const shmc_revocation *r,
                                  const char *cursor);

/**
 * The cursor saved by the last shmc_bridge_apply() or shmc_bridge_flush()
 * into buf (size bytes, NUL-terminated; "" when none).
 *
 * @return 0, SHMC_EBUFSMALL, or an error as shmc_get().
 */
SHMC_EXPORT int shmc_bridge_cursor(shmc_cache *c, char *buf, size_t size);

/**
 * Save cursor (at most 63 bytes) as shmc_bridge_apply() does, for messages
 * read but not applied (own ones, rejected ones).
 *
 * @return 0, SHMC_EINVAL, or an error as shmc_set().
 */
SHMC_EXPORT int shmc_bridge_save_cursor(shmc_cache *c, const char *cursor);

/**
 * Flush the whole cache because revocations may have been missed (the
 * stream was trimmed past the cursor, or Redis lost it), count it
 * (shmc_stats.bridge_gap_flushes), and save cursor (may be NULL). Every
 * origin's remembered sequence is forgotten: the flush covers whatever
 * came before each one's next message.
 *
 * @return 0, or an error as shmc_set().
 */
SHMC_EXPORT int shmc_bridge_flush(shmc_cache *c, const char *cursor);

/** Events the daemon counts with shmc_bridge_count(). */
#define SHMC_BRIDGE_SENT 1u
#define SHMC_BRIDGE_RECEIVED 2u
#define SHMC_BRIDGE_SKIPPED_OWN 3u
#define SHMC_BRIDGE_REJECTED_SIGNATURE 4u
#define SHMC_BRIDGE_REJECTED_PARSE 5u

/** Add n to the counter of event (an unknown event is ignored). */
SHMC_EXPORT void shmc_bridge_count(shmc_cache *c, unsigned event,
                                   uint64_t n);

/* ------------------------------------------------------------------------ */
/* HTTP helpers                                                              */
/*                                                                           */
/* Pure functions for servers that cache responses: no I/O, no allocation,  */
/* every input bounded (a field over SHMC_HTTP_MAX_FIELD bytes is refused). */

#define SHMC_HTTP_MAX_FIELD 8192u
/** Room an ETag made by shmc_http_etag() or _etag_of() needs. */
#define SHMC_HTTP_ETAG_LEN 40u

/**
 * An ETag from an entry's version (shmc_meta.version, which changes on
 * every write of the key): "v" and 16 hex digits in quotes, or the same
 * after W/ when weak is non-zero. NUL-terminated in out.
 *
 * @return 0, or SHMC_EBUFSMALL (size below SHMC_HTTP_ETAG_LEN is enough
 *         to be sure).
 */
SHMC_EXPORT int shmc_http_etag(uint64_t version, int weak, char *out,
                               size_t size);

/** An ETag from the content itself: "h" and the first 16 bytes of its
 *  SHA-256 in hex, in quotes (W/ before when weak). Returns as above, or
 *  SHMC_EINTERNAL when the hash fails. */
SHMC_EXPORT int shmc_http_etag_of(const void *body, size_t len, int weak,
                                  char *out, size_t size);

/**
 * Evaluate an If-None-Match field value against the current ETag of the
 * resource (RFC 9110, 13.1.2): "*", or a comma-separated list of
 * entity-tags, compared weakly (a W/ prefix on either side is ignored).
 *
 * @param header  the field value, len bytes (need not be NUL-terminated).
 * @param etag    the resource's ETag, NUL-terminated, as made above.
 * @return 1 when one of them matches (answer 304 Not Modified to a GET or
 *         HEAD), 0 when none does (send the resource), SHMC_EINVAL when
 *         the field does not parse or is too long (RFC 9110 lets a server
 *         ignore it then: send the resource).
 */
SHMC_EXPORT int shmc_http_if_none_match(const char *header, size_t len,
                                        const char *etag);

/* Cache-Control directives without a value (shmc_cache_control.flags). */
#define SHMC_CC_NO_CACHE 0x01u
#define SHMC_CC_NO_STORE 0x02u
#define SHMC_CC_PRIVATE 0x04u
#define SHMC_CC_PUBLIC 0x08u
#define SHMC_CC_IMMUTABLE 0x10u
#define SHMC_CC_MUST_REVALIDATE 0x20u
#define SHMC_CC_PROXY_REVALIDATE 0x40u
#define SHMC_CC_NO_TRANSFORM 0x80u

/** A Cache-Control field (RFC 9111, 5.2; RFC 5861). Durations in seconds,
 *  -1 when absent. */
typedef struct shmc_cache_control {
    unsigned flags; /**< SHMC_CC_* */
    int64_t max_age, s_maxage, stale_while_revalidate, stale_if_error;
} shmc_cache_control;

/**
 * Parse a Cache-Control field value: comma-separated directives, names
 * case-insensitive, values a token or a quoted string. Unknown directives
 * are ignored; a directive given twice keeps its first value; a duration
 * above 2^31 reads as 2^31 (RFC 9111, 1.2.2). no-cache and private with a
 * field list count as the plain directive.
 *
 * @return 0; SHMC_EINVAL when the field does not parse, a known duration
 *         is not a number, or it is longer than SHMC_HTTP_MAX_FIELD (*out
 *         is then all absent).
 */
SHMC_EXPORT int shmc_http_cache_control_parse(const char *header, size_t len,
                                              shmc_cache_control *out);

/**
 * Write cc as a field value, directives in a fixed order ("public,
 * max-age=60, stale-while-revalidate=30"), NUL-terminated in out.
 *
 * @return 0, or SHMC_EBUFSMALL.
 */
SHMC_EXPORT int shmc_http_cache_control_format(const shmc_cache_control *cc,
                                               char *out, size_t size);

/**
 * What a shared cache keeping this response should do, in this cache's
 * terms: no-store or private means do not store, and so does a response
 * without a lifetime above 0 (s-maxage, else max-age); the TTL is that
 * lifetime; the stale window is stale-while-revalidate, unless no-cache,
 * must-revalidate or proxy-revalidate forbid serving it stale.
 *
 * @param set  receives ttl_ms and stale_ms (zeroed when not storable).
 * @param stale_if_error_ms  receives stale-if-error in ms (0 when absent),
 *                           or NULL.
 * @return 1 storable, 0 not.
 */
SHMC_EXPORT int shmc_http_cache_policy(const shmc_cache_control *cc,
                                       shmc_set_opts *set,
                                       uint64_t *stale_if_error_ms);

/**
 * A cache key for a response, so that variants never collide: "http:",
 * the host lower-cased (a port kept as given), the path as given, "?",
 * the query normalised, " " and the method. The query is split on '&'
 * (empty parameters dropped), sorted by bytes, its percent-escapes made
 * upper-case and those of unreserved characters (letters, digits, -._~)
 * decoded, so that the same parameters in any order and spelling make one
 * key. Every variant of a path shares the key's first *prefix_len bytes
 * (up to the '?'): give them to shmc_revoke_prefix() to invalidate that
 * path's responses together ("/report/1?" never starts "/report/10?").
 *
 * @param method  a token ("GET"); upper-cased in the key.
 * @param target  the request target in origin form ("/path?query"): it
 *                must start with '/' and hold no blank, control byte or
 *                '#'; at most SHMC_HTTP_MAX_FIELD bytes, 256 parameters.
 * @param prefix_len  receives the length of the path's prefix, or NULL.
 * @return 0, SHMC_EINVAL (a bad method, host or target, a bad escape),
 *         SHMC_EBUFSMALL.
 */
SHMC_EXPORT int shmc_http_key(const char *method, const char *host,
                              const char *target, char *out, size_t size,
                              size_t *prefix_len);

/** The wall clock as shmcache reads it: ms since the epoch. */
SHMC_EXPORT uint64_t shmc_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMCACHE_H */
