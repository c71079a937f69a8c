/* test_protect.c - protecting what the cache holds (shmcache.h,
 * "PROTECTING WHAT THE CACHE HOLDS"): key secrets, compression and value
 * encryption (lib/protect.c, lib/keys.c, lib/payload.c, lib/read.c,
 * lib/write.c).
 *
 * The promises: every call gives back exactly what was stored, whatever
 * the protections; with a key secret the files reveal neither keys nor
 * their lengths, and namespaces can still be deleted; an encrypted value
 * is nowhere in the files; every process of an instance must hold the
 * same secrets (SHMC_EKEYMISMATCH otherwise), and a value key can be
 * rotated; a record altered in any byte, or moved to another key, reads
 * as a miss, is counted, and is replaced by the next write. Records are
 * read and altered with LMDB itself, in child processes (LMDB forbids a
 * second environment of one file in a process). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "instance.h"
#include "keys.h"
#include "protect.h"
#include "record.h"

#define MIB (1u << 20)
#define MAP_SIZE (8u * MIB)
#define CHILD_TIMEOUT_S 120
/* Long enough for a TTL of 1 ms to have passed, on any clock. */
#define EXPIRY_WAIT_MS 20
#define HOUR_MS (3600u * 1000u)
/* The compression threshold of the tests that compress: the small values
 * stay below it, the big ones go above. */
#define COMPRESS_AT 1024u
/* A key longer than LMDB's key limit (511 bytes). */
#define LONG_KEY_LEN 600
#define KEY_MAX (LONG_KEY_LEN + 1)
#define BIG_VALUE 16384u
/* What encryption adds to a value: key id, nonce and tag. */
#define SEALED_OVERHEAD (SHMC__KEY_ID_LEN + SHMC__AEAD_OVERHEAD)

static unsigned char secret_a[32], secret_b[32];
static unsigned char key_1[SHMC_VALUE_KEY_LEN], key_2[SHMC_VALUE_KEY_LEN];

static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void fill_random(unsigned char *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)next_random(&seed);
}

static uint32_t get_le(const unsigned char *p, int bytes)
{
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- instances a test opens ------------------------------------------- */

static void instance_path(const struct tu_dir *d, const char *name,
                          char path[400])
{
    snprintf(path, 400, "%s/%s", d->root, name);
}

/* What an open of d->root/name with o returns; a handle it gives is
 * closed at once. */
static int open_rc(const struct tu_dir *d, const char *name,
                   const shmc_opts *o)
{
    char path[400];
    shmc_cache *c = NULL;
    instance_path(d, name, path);
    int rc = shmc_open(&c, path, o);
    if (rc == 0)
        shmc_close(c);
    return rc;
}

/* ---- protections -------------------------------------------------------- */

struct protection {
    int secret, compress, encrypt;
};

static shmc_opts opts_of(struct protection p)
{
    shmc_opts o = {
        .map_size = MAP_SIZE,
        .compress_threshold = p.compress ? COMPRESS_AT : SHMC_NO_COMPRESSION,
    };
    if (p.secret) {
        o.key_secret = secret_a;
        o.key_secret_len = sizeof secret_a;
    }
    if (p.encrypt)
        o.value_key = key_1;
    return o;
}

/* A name for p, also used as its instance's directory name. */
static const char *name_of(struct protection p, char buf[64])
{
    snprintf(buf, 64, "%s-%s-%s", p.secret ? "secret" : "plainkeys",
             p.compress ? "compressed" : "raw",
             p.encrypt ? "encrypted" : "clear");
    return buf;
}

/* ---- values and keys ---------------------------------------------------- */

enum { V_EMPTY, V_ONE, V_SMALL, V_JSON2K, V_JSON16K, V_RANDOM16K, VALUES };

struct value {
    const char *name;
    unsigned char *bytes;
    size_t len;
    int compressible; /* at or above COMPRESS_AT, and zstd shrinks it */
};

static struct value values[VALUES];

/* JSON-like text of len bytes: records that repeat with small changes. */
static void fill_json(unsigned char *p, size_t len)
{
    char rec[128];
    size_t n = 0;
    for (unsigned i = 0; n < len; i++) {
        int m = snprintf(rec, sizeof rec,
                         "{\"id\":%u,\"name\":\"user %u\",\"email\":\"user%u@"
                         "example.com\",\"roles\":[\"reader\",\"writer\"]},",
                         i, i, i);
        size_t take = (size_t)m < len - n ? (size_t)m : len - n;
        memcpy(p + n, rec, take);
        n += take;
    }
}

static void make_values(void)
{
    static unsigned char one[1] = {'x'}, small[100], json2k[2048],
                         json16k[BIG_VALUE], random16k[BIG_VALUE];
    fill_json(small, sizeof small);
    fill_json(json2k, sizeof json2k);
    fill_json(json16k, sizeof json16k);
    fill_random(random16k, sizeof random16k, 77);
    values[V_EMPTY] = (struct value){"empty", one, 0, 0};
    values[V_ONE] = (struct value){"one", one, 1, 0};
    values[V_SMALL] = (struct value){"small", small, sizeof small, 0};
    values[V_JSON2K] = (struct value){"json2k", json2k, sizeof json2k, 1};
    values[V_JSON16K] = (struct value){"json16k", json16k, sizeof json16k, 1};
    values[V_RANDOM16K] =
        (struct value){"random16k", random16k, sizeof random16k, 0};
}

enum { K_PLAIN, K_NAMESPACED, K_LONG, SHAPES };

/* The key of shape for value v in a phase of a test (tag): a plain one, one
 * with namespaces, or one longer than LMDB's key limit. */
static size_t key_of(int shape, int v, const char *tag, char key[KEY_MAX])
{
    int n;
    if (shape == K_PLAIN)
        n = snprintf(key, KEY_MAX, "%s-%s", tag, values[v].name);
    else if (shape == K_NAMESPACED)
        n = snprintf(key, KEY_MAX, "%s:%s:leaf", tag, values[v].name);
    else {
        n = snprintf(key, KEY_MAX, "%s:long:%s:", tag, values[v].name);
        memset(key + n, 'L', (size_t)(LONG_KEY_LEN - n));
        n = LONG_KEY_LEN;
        key[n] = '\0';
    }
    return (size_t)n;
}

/* ---- reading back ------------------------------------------------------ */

/* What a view callback saw, against the value it should have seen. */
struct view_check {
    const struct value *want;
    int calls;
    size_t len;
    uint32_t meta_len;
    int same;
};

static int view_check(const void *val, size_t len, const shmc_meta *meta,
                      void *arg)
{
    struct view_check *vc = arg;
    vc->calls++;
    vc->len = len;
    vc->meta_len = meta->value_len;
    vc->same = len == vc->want->len &&
               (len == 0 || memcmp(val, vc->want->bytes, len) == 0);
    return 0;
}

/* Read key with shmc_get, shmc_get_alloc and shmc_get_view (flags), and
 * fail the test unless each gives v with status expect (the view: 0) and
 * meta.value_len the plain length. */
static void assert_reads(shmc_cache *c, const char *key, size_t klen,
                         const struct value *v, unsigned flags, int expect)
{
    static unsigned char buf[BIG_VALUE + 1];
    shmc_meta m = {0};
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, klen, buf, &len, &m, flags);
    if (rc != expect || len != v->len || m.value_len != v->len ||
        (len && memcmp(buf, v->bytes, len) != 0))
        fail_msg("get %.40s (%s): rc %s, %zu bytes (meta %u), want %s of "
                 "%zu bytes: %s",
                 key, v->name, shmc_err_name(rc), len, m.value_len,
                 shmc_err_name(expect), v->len, shmc_last_error());
    if (v->len) {
        len = v->len - 1;
        tu_assert_rc(shmc_get(c, key, klen, buf, &len, NULL, flags),
                     SHMC_EBUFSMALL);
        assert_int_equal(len, v->len);
    }

    void *val = NULL;
    memset(&m, 0, sizeof m);
    rc = shmc_get_alloc(c, key, klen, &val, &len, &m, flags);
    if (rc != expect || !val || len != v->len || m.value_len != v->len ||
        (len && memcmp(val, v->bytes, len) != 0) ||
        ((char *)val)[len] != '\0')
        fail_msg("get_alloc %.40s (%s): rc %s, %zu bytes (meta %u)", key,
                 v->name, shmc_err_name(rc), len, m.value_len);
    shmc_free(val);

    struct view_check vc = {.want = v};
    rc = shmc_get_view(c, key, klen, flags, view_check, &vc);
    if (rc != 0 || vc.calls != 1 || !vc.same ||
        vc.meta_len != v->len)
        fail_msg("get_view %.40s (%s): rc %s, %d calls, %zu bytes (meta %u), "
                 "%s",
                 key, v->name, shmc_err_name(rc), vc.calls, vc.len,
                 vc.meta_len, vc.same ? "same" : "different");
}

/* Every read call misses key (with and without SHMC_GET_STALE); a view
 * callback is never called. Returns a description of the first call that
 * did not, or NULL. */
static const char *read_problem(shmc_cache *c, const char *key, size_t klen,
                                char why[160])
{
    unsigned char buf[64];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, klen, buf, &len, NULL, 0);
    if (rc != SHMC_ENOTFOUND) {
        snprintf(why, 160, "get gave %s (%zu bytes)", shmc_err_name(rc),
                 len);
        return why;
    }
    len = sizeof buf;
    rc = shmc_get(c, key, klen, buf, &len, NULL, SHMC_GET_STALE);
    if (rc != SHMC_ENOTFOUND) {
        snprintf(why, 160, "get (stale) gave %s", shmc_err_name(rc));
        return why;
    }
    void *val = &len;
    rc = shmc_get_alloc(c, key, klen, &val, &len, NULL, SHMC_GET_STALE);
    if (rc != SHMC_ENOTFOUND || val) {
        snprintf(why, 160, "get_alloc gave %s", shmc_err_name(rc));
        shmc_free(rc >= 0 ? val : NULL);
        return why;
    }
    struct view_check vc = {.want = &values[V_EMPTY]};
    rc = shmc_get_view(c, key, klen, SHMC_GET_STALE, view_check, &vc);
    if (rc != SHMC_ENOTFOUND || vc.calls) {
        snprintf(why, 160, "get_view gave %s, %d calls", shmc_err_name(rc),
                 vc.calls);
        return why;
    }
    return NULL;
}

/* ---- records read and altered with LMDB ------------------------------ */

#define JOB_STEPS 48
#define RECORD_MAX (BIG_VALUE + LONG_KEY_LEN + 256)
#define LISTED_MAX 16

/* One record a child reads, and may write back altered. */
struct step {
    enum shmc__table table;
    unsigned char key[SHMC__MAX_DIRECT_KEY];
    size_t klen;
    /* What to write (write 0: nothing): the record read, with flip_mask
     * xor-ed into byte flip_at and cut bytes dropped from its end, or
     * replace_len bytes of replace instead; under to_key (to_klen 0: the
     * same key). */
    int write;
    unsigned char to_key[SHMC__MAX_DIRECT_KEY];
    size_t to_klen;
    size_t flip_at;
    unsigned char flip_mask;
    size_t cut;
    unsigned char replace[128];
    size_t replace_len;
    /* out: the record as it was read */
    int found;
    size_t len;
    unsigned char bytes[RECORD_MAX];
};

/* Lives in shared memory (tu_shared): the child writes its findings
 * there. */
struct job {
    char dir[400];
    uint64_t map_size;
    unsigned steps;
    struct step step[JOB_STEPS];
    /* out: the stored keys of each table (first LISTED_MAX of them) */
    unsigned listed[2];
    size_t listed_len[2][LISTED_MAX];
    unsigned char listed_key[2][LISTED_MAX][SHMC__SECRET_KEY_MAX];
    /* in: byte strings to look for in the instance's files; out: found */
    unsigned needles;
    const unsigned char *needle[8];
    size_t needle_len[8];
    int needle_found[8];
};

static struct job *job_new(shmc_cache *c)
{
    struct job *j = tu_shared(sizeof *j);
    memset(j, 0, sizeof *j);
    snprintf(j->dir, sizeof j->dir, "%s", c->path);
    j->map_size = tu_info(c).map_size;
    return j;
}

static void job_free(struct job *j)
{
    tu_unshare(j, sizeof *j);
}

/* A step for the user's key as c stores it. */
static struct step *job_add(struct job *j, shmc_cache *c, const void *key,
                            size_t klen)
{
    struct shmc__key k;
    if (j->steps == JOB_STEPS)
        fail_msg("more than %d steps", JOB_STEPS);
    struct step *s = &j->step[j->steps++];
    tu_assert_rc(shmc__key_make(&k, key, klen, &c->protect.keying), 0);
    s->table = k.table;
    memcpy(s->key, k.stored, k.stored_len);
    s->klen = k.stored_len;
    return s;
}

static int run_steps(MDB_txn *txn, const MDB_dbi dbi[2], struct job *j)
{
    static unsigned char altered[RECORD_MAX];
    int rc = 0;
    for (unsigned i = 0; i < j->steps && rc == 0; i++) {
        struct step *s = &j->step[i];
        MDB_val k = {s->klen, s->key}, v;
        rc = mdb_get(txn, dbi[s->table], &k, &v);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc || v.mv_size > RECORD_MAX)
            return rc ? rc : MDB_BAD_VALSIZE;
        s->found = 1;
        s->len = v.mv_size;
        memcpy(s->bytes, v.mv_data, v.mv_size);
        if (!s->write)
            continue;
        MDB_val out = {s->len - s->cut, altered};
        memcpy(altered, s->bytes, s->len);
        altered[s->flip_at] ^= s->flip_mask;
        if (s->replace_len)
            out = (MDB_val){s->replace_len, s->replace};
        MDB_val to = s->to_klen ? (MDB_val){s->to_klen, s->to_key} : k;
        rc = mdb_put(txn, dbi[s->table], &to, &out, 0);
    }
    return rc;
}

static int list_keys(MDB_txn *txn, const MDB_dbi dbi[2], struct job *j)
{
    for (int tb = 0; tb < 2; tb++) {
        MDB_cursor *cur;
        MDB_val k, v;
        int rc = mdb_cursor_open(txn, dbi[tb], &cur);
        if (rc)
            return rc;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            unsigned n = j->listed[tb]++;
            if (n >= LISTED_MAX)
                continue;
            j->listed_len[tb][n] = k.mv_size;
            memcpy(j->listed_key[tb][n], k.mv_data,
                   k.mv_size < SHMC__SECRET_KEY_MAX ? k.mv_size
                                                    : SHMC__SECRET_KEY_MAX);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Whether the file at path holds any of j's needles. */
static int search_file(const char *path, struct job *j)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    unsigned char *data = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (data && got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!data || got != (size_t)st.st_size) {
        fprintf(stderr, "%s: could not read it\n", path);
        free(data);
        return 1;
    }
    for (unsigned i = 0; i < j->needles; i++)
        if (memmem(data, got, j->needle[i], j->needle_len[i]))
            j->needle_found[i] = 1;
    free(data);
    return 0;
}

static int steps_and_keys(MDB_txn *txn, const MDB_dbi dbi[2], void *arg)
{
    struct job *j = arg;
    int rc = run_steps(txn, dbi, j);
    return rc ? rc : list_keys(txn, dbi, j);
}

/* In a child: run the steps in one write transaction, list the stored
 * keys, then search the files for the needles. */
static int job_child(void *arg, int index)
{
    struct job *j = arg;
    (void)index;
    int rc = tu_lmdb_write(j->dir, j->map_size, steps_and_keys, j);
    static const char *const files[] = {"data.mdb", "lock.mdb", "control.shm"};
    for (unsigned i = 0; rc == 0 && j->needles && i < 3; i++) {
        char path[450];
        snprintf(path, sizeof path, "%s/%s", j->dir, files[i]);
        rc = search_file(path, j);
    }
    return rc != 0;
}

static void job_run(struct job *j)
{
    if (tu_wait_child(tu_spawn(job_child, j), CHILD_TIMEOUT_S))
        fail_msg("the child reading the records failed (why: above)");
}

/* Where a record's value starts: after the header and the full key. */
static size_t value_offset(const struct step *s)
{
    return SHMC__RECORD_HEADER + get_le(s->bytes + 2, 2);
}

/* ---- round trips under every protection ------------------------------- */

/* Fail the test unless the record s of key (shape) holding v is stored as
 * p says: compressed when p compresses and v shrinks, otherwise raw;
 * encrypted under the current value key when p encrypts; a long key's full
 * key in it only without a key secret. */
static void assert_stored(shmc_cache *c, const struct step *s, int shape,
                          const char *key, const struct value *v,
                          struct protection p)
{
    if (!s->found)
        fail_msg("%.40s: no record under its stored key", key);
    unsigned flags = s->bytes[1];
    size_t off = value_offset(s), stored = s->len - off;
    int compressed = p.compress && v->compressible;
    if (!!(flags & SHMC__REC_COMPRESSED) != compressed ||
        !!(flags & SHMC__REC_ENCRYPTED) != p.encrypt)
        fail_msg("%.40s (%s): flags %#x, want%s compressed, %s encrypted",
                 key, v->name, flags, compressed ? "" : " not",
                 p.encrypt ? "" : "not");
    int carries_key = shape == K_LONG && !p.secret;
    assert_int_equal(s->table,
                     carries_key ? SHMC__T_HASHED : SHMC__T_ENTRIES);
    assert_int_equal(off - SHMC__RECORD_HEADER,
                     carries_key ? LONG_KEY_LEN : 0);
    if (carries_key)
        assert_memory_equal(s->bytes + SHMC__RECORD_HEADER, key,
                            LONG_KEY_LEN);
    const unsigned char *val = s->bytes + off;
    if (p.encrypt) {
        assert_memory_equal(val, c->protect.value_key[0].id,
                            SHMC__KEY_ID_LEN);
        val += SEALED_OVERHEAD - SHMC__AEAD_TAG_LEN;
        stored -= SEALED_OVERHEAD;
    }
    if (compressed) {
        if (stored * 2 > v->len)
            fail_msg("%.40s (%s): %zu bytes stored compressed", key,
                     v->name, stored);
        if (!p.encrypt)
            assert_int_equal(get_le(val, 4), v->len);
    } else {
        assert_int_equal(stored, v->len);
        if (!p.encrypt && v->len)
            assert_memory_equal(val, v->bytes, v->len);
    }
    /* Neither the value nor any 16 bytes of it are in a sealed record. */
    if (p.encrypt && v->len >= 16 &&
        memmem(s->bytes, s->len, v->bytes + v->len - 16, 16))
        fail_msg("%.40s (%s): the value shows through", key, v->name);
}

/* Read every (shape, value) record of the phase tag through LMDB and check
 * how it is stored. */
static void assert_all_stored(shmc_cache *c, const char *tag,
                              struct protection p)
{
    struct job *j = job_new(c);
    char key[KEY_MAX];
    for (int shape = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++)
            job_add(j, c, key, key_of(shape, v, tag, key));
    job_run(j);
    for (int shape = 0, i = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++, i++) {
            key_of(shape, v, tag, key);
            assert_stored(c, &j->step[i], shape, key, &values[v], p);
        }
    job_free(j);
}

struct computed {
    const struct value *v;
    int calls;
};

static int compute_value(const void *key, size_t klen, void *arg,
                         shmc_compute_out *out)
{
    struct computed *cp = arg;
    (void)key;
    (void)klen;
    cp->calls++;
    out->value = cp->v->bytes;
    out->len = cp->v->len;
    return 0;
}

/* get_or_compute of key: computes v when nothing is stored, and serves
 * what is stored without computing otherwise. */
static void assert_compute_round_trip(shmc_cache *c, const char *key,
                                      size_t klen, const struct value *v)
{
    static const shmc_compute_opts co = {.ttl_ms = HOUR_MS};
    for (int round = 0; round < 2; round++) {
        struct computed cp = {v, 0};
        void *val = NULL;
        size_t len = 0;
        shmc_meta m;
        tu_assert_rc(shmc_get_or_compute(c, key, klen, compute_value, &cp,
                                         &co, &val, &len, &m),
                     0);
        assert_int_equal(cp.calls, round == 0);
        assert_int_equal(len, v->len);
        assert_int_equal(m.value_len, v->len);
        if (len)
            assert_memory_equal(val, v->bytes, len);
        shmc_free(val);
    }
    assert_reads(c, key, klen, v, 0, 0);
}

static shmc_meta meta_of(shmc_cache *c, const char *key, size_t klen)
{
    void *val;
    size_t len;
    shmc_meta m;
    tu_assert_rc(shmc_get_alloc(c, key, klen, &val, &len, &m, 0), 0);
    shmc_free(val);
    return m;
}

static void round_trips_under(const struct tu_dir *d, struct protection p)
{
    char name[64], key[KEY_MAX];
    shmc_opts o = opts_of(p);
    shmc_cache *c = tu_open_owned(d, name_of(p, name), &o);
    shmc_set_opts fresh = {.ttl_ms = HOUR_MS, .stale_ms = HOUR_MS};

    for (int shape = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++) {
            size_t klen = key_of(shape, v, "set", key);
            uint64_t version;
            tu_assert_rc(shmc_set_ex(c, key, klen, values[v].bytes,
                                     values[v].len, &fresh, &version),
                         0);
            assert_reads(c, key, klen, &values[v], 0, 0);
            assert_reads(c, key, klen, &values[v], SHMC_GET_STALE, 0);
        }
    assert_all_stored(c, "set", p);

    /* A touch keeps the value, stored again as a new record. */
    for (int shape = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++) {
            size_t klen = key_of(shape, v, "set", key);
            shmc_meta before = meta_of(c, key, klen), after;
            tu_assert_rc(shmc_touch(c, key, klen, 2 * HOUR_MS), 0);
            assert_reads(c, key, klen, &values[v], 0, 0);
            after = meta_of(c, key, klen);
            assert_true(after.version > before.version);
            assert_true(after.fresh_until_ms > before.fresh_until_ms);
            /* The stale window is kept. */
            assert_int_equal(after.expires_at_ms - after.fresh_until_ms,
                             HOUR_MS);
        }
    assert_all_stored(c, "set", p);

    /* mset: every shape and value in one transaction. */
    shmc_item items[SHAPES * VALUES];
    static char keys[SHAPES * VALUES][KEY_MAX];
    for (int shape = 0, i = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++, i++)
            items[i] = (shmc_item){keys[i], key_of(shape, v, "mset", keys[i]),
                                   values[v].bytes, values[v].len};
    tu_assert_rc(shmc_mset(c, items, SHAPES * VALUES, &fresh), 0);
    for (int i = 0; i < SHAPES * VALUES; i++)
        assert_reads(c, keys[i], items[i].klen, &values[i % VALUES], 0, 0);
    assert_all_stored(c, "mset", p);

    /* Stale: a miss without SHMC_GET_STALE, the value with it. */
    shmc_set_opts soon = {.ttl_ms = 1, .stale_ms = HOUR_MS};
    for (int i = 0; i < SHAPES * VALUES; i++)
        tu_assert_rc(shmc_set_ex(c, keys[i], items[i].klen, items[i].val,
                                 items[i].vlen, &soon, NULL),
                     0);
    tu_sleep_ms(EXPIRY_WAIT_MS);
    for (int i = 0; i < SHAPES * VALUES; i++) {
        unsigned char buf[8];
        size_t len = sizeof buf;
        tu_assert_rc(shmc_get(c, keys[i], items[i].klen, buf, &len, NULL, 0),
                     SHMC_ENOTFOUND);
        assert_reads(c, keys[i], items[i].klen, &values[i % VALUES],
                     SHMC_GET_STALE, SHMC_STALE);
    }

    for (int shape = 0; shape < SHAPES; shape++)
        for (int v = 0; v < VALUES; v++) {
            size_t klen = key_of(shape, v, "compute", key);
            assert_compute_round_trip(c, key, klen, &values[v]);
        }
    assert_all_stored(c, "compute", p);
    assert_int_equal(tu_stats(c).decrypt_failures, 0);
    tu_close_owned(c);
}

static void test_round_trips_under_every_protection(void **state)
{
    for (int mask = 0; mask < 8; mask++)
        round_trips_under(*state, (struct protection){
                                      .secret = mask & 1,
                                      .compress = !!(mask & 2),
                                      .encrypt = !!(mask & 4),
                                  });
}

/* shmc_verify finds nothing wrong in what the library itself wrote under
 * any protection: values of every kind, and cached "not found" answers. */
static int not_found(const void *key, size_t klen, void *arg,
                     shmc_compute_out *out)
{
    (void)key;
    (void)klen;
    (void)arg;
    out->not_found = 1;
    return 0;
}

static void test_verify_accepts_protected_records(void **state)
{
    static const shmc_compute_opts co = {.negative_ttl_ms = HOUR_MS};
    char report[1024] = "";
    for (int mask = 0; mask < 8; mask++) {
        struct protection p = {mask & 1, !!(mask & 2), !!(mask & 4)};
        char name[64], key[KEY_MAX];
        shmc_opts o = opts_of(p);
        shmc_cache *c = tu_open_owned(*state, name_of(p, name), &o);
        for (int shape = 0; shape < SHAPES; shape++)
            for (int v = 0; v < VALUES; v++) {
                size_t klen = key_of(shape, v, "verify", key);
                tu_assert_rc(shmc_set(c, key, klen, values[v].bytes,
                                      values[v].len, 0),
                             0);
            }
        void *val;
        size_t len;
        tu_assert_rc(shmc_get_or_compute(c, "absent", 6, not_found, NULL,
                                         &co, &val, &len, NULL),
                     SHMC_ENOTFOUND);
        shmc_verify_result res;
        tu_assert_rc(shmc_verify(c, NULL, NULL, &res), 0);
        assert_int_equal(res.records, SHAPES * VALUES + 1);
        if (res.problems)
            snprintf(report + strlen(report), sizeof report - strlen(report),
                     " %s: %llu problems;", name,
                     (unsigned long long)res.problems);
        tu_close_owned(c);
    }
    if (report[0])
        fail_msg("verify reports records the library wrote:%s", report);
}

/* ---- what the files reveal ---------------------------------------------- */

static const char api_key[] = "customer:4711:api-token";
static const char api_value[] = "sk_live_7d0c1e5b9a4f4e3c8b2a1f0e9d8c7b6a";

/* Store api_key and a long key under p, then search the instance's files.
 * found[0]: the key, [1]: the long key's text, [2]: the value, [3]: the
 * key secret, [4]: the value key. */
static void search_instance(const struct tu_dir *d, struct protection p,
                            int found[5])
{
    char name[64], long_key[KEY_MAX];
    shmc_opts o = opts_of(p);
    shmc_cache *c = tu_open_owned(d, name_of(p, name), &o);
    size_t long_len = key_of(K_LONG, V_SMALL, "revealing", long_key);
    tu_assert_rc(shmc_set(c, api_key, strlen(api_key), api_value,
                          strlen(api_value), 0),
                 0);
    tu_assert_rc(shmc_set(c, long_key, long_len, api_value,
                          strlen(api_value), 0),
                 0);
    struct job *j = job_new(c);
    const unsigned char *needles[5] = {(const unsigned char *)api_key,
                                       (const unsigned char *)long_key,
                                       (const unsigned char *)api_value,
                                       secret_a, key_1};
    const size_t lens[5] = {strlen(api_key), 40, strlen(api_value),
                            sizeof secret_a, sizeof key_1};
    j->needles = 5;
    for (int i = 0; i < 5; i++) {
        j->needle[i] = needles[i];
        j->needle_len[i] = lens[i];
    }
    job_run(j);
    for (int i = 0; i < 5; i++)
        found[i] = j->needle_found[i];
    job_free(j);
    tu_close_owned(c);
}

static void test_files_reveal_no_key_and_no_encrypted_value(void **state)
{
    int found[5];
    /* Without protection the search finds both: it can fail. */
    search_instance(*state, (struct protection){0, 0, 0}, found);
    assert_true(found[0] && found[1] && found[2]);

    search_instance(*state, (struct protection){1, 0, 0}, found);
    assert_false(found[0] || found[1]);
    assert_true(found[2]);
    assert_false(found[3]);

    search_instance(*state, (struct protection){0, 0, 1}, found);
    assert_true(found[0] && found[1]);
    assert_false(found[2] || found[4]);

    search_instance(*state, (struct protection){1, 1, 1}, found);
    assert_false(found[0] || found[1] || found[2] || found[3] || found[4]);
}

/* Under a key secret a stored key is 8 bytes per namespace level and 32
 * for the key: keys of one depth are stored alike whatever their lengths,
 * and keys that share a namespace share its stored prefix. */
static void test_stored_keys_hide_lengths(void **state)
{
    shmc_opts o = opts_of((struct protection){1, 0, 0});
    shmc_cache *c = tu_open_owned(*state, "inst", &o);
    char long_key[KEY_MAX];
    size_t long_len = key_of(K_LONG, V_ONE, "x", long_key);
    const char *one_level[] = {
        "a:b",
        "a-much-longer-namespace-name:and-a-much-longer-key-after-it",
    };
    for (int i = 0; i < 2; i++)
        tu_set(c, one_level[i], "v");
    /* Three levels ("x:", "x:long:", "x:long:one:"). */
    tu_assert_rc(shmc_set(c, long_key, long_len, "v", 1, 0), 0);
    tu_set(c, "nolevel", "v");
    struct job *j = job_new(c);
    job_run(j);
    assert_int_equal(j->listed[SHMC__T_HASHED], 0);
    assert_int_equal(j->listed[SHMC__T_ENTRIES], 4);
    unsigned by_len[4 * SHMC__NS_TAG_LEN + SHMC__DIGEST_LEN + 1] = {0};
    for (unsigned i = 0; i < 4; i++) {
        size_t n = j->listed_len[SHMC__T_ENTRIES][i];
        assert_true(n < sizeof by_len / sizeof by_len[0]);
        by_len[n]++;
    }
    assert_int_equal(by_len[SHMC__DIGEST_LEN], 1);
    assert_int_equal(by_len[SHMC__NS_TAG_LEN + SHMC__DIGEST_LEN], 2);
    assert_int_equal(by_len[3 * SHMC__NS_TAG_LEN + SHMC__DIGEST_LEN], 1);
    job_free(j);

    /* Keys of one namespace share its tag, and only it. */
    tu_assert_rc(shmc_clear(c), 0);
    tu_set(c, "user:1:x", "v");
    tu_set(c, "user:2:y", "v");
    j = job_new(c);
    job_run(j);
    assert_int_equal(j->listed[SHMC__T_ENTRIES], 2);
    unsigned char(*k)[SHMC__SECRET_KEY_MAX] = j->listed_key[SHMC__T_ENTRIES];
    assert_memory_equal(k[0], k[1], SHMC__NS_TAG_LEN);
    assert_memory_not_equal(k[0] + SHMC__NS_TAG_LEN, k[1] + SHMC__NS_TAG_LEN,
                            SHMC__NS_TAG_LEN);
    job_free(j);
}

/* ---- namespaces -------------------------------------------------------- */

static void assert_present(shmc_cache *c, const char *key, int present)
{
    tu_assert_value(c, key, present ? key : NULL);
}

static void put_self(shmc_cache *c, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++)
        tu_set(c, keys[i], keys[i]);
}

static void test_namespace_deletion(void **state)
{
    shmc_opts o = opts_of((struct protection){1, 0, 1});
    shmc_cache *c = tu_open_owned(*state, "inst", &o);
    const char *const keys[] = {"user:42:profile", "user:42:tokens:abc",
                                "user:43:profile", "user:4:x", "user:42",
                                "user:420:x"};
    put_self(c, keys, 6);
    size_t deleted = 99;
    tu_assert_rc(shmc_del_prefix(c, "user:42:", 8, &deleted), 0);
    assert_int_equal(deleted, 2);
    for (int i = 0; i < 6; i++)
        assert_present(c, keys[i], i >= 2);

    /* Only whole namespaces can be named. */
    deleted = 99;
    tu_assert_rc(shmc_del_prefix(c, "user:4", 6, &deleted), SHMC_EINVAL);
    assert_int_equal(deleted, 0);
    tu_assert_rc(shmc_del_prefix(c, "user:43:p", 9, NULL), SHMC_EINVAL);
    for (int i = 2; i < 6; i++)
        assert_present(c, keys[i], 1);

    tu_assert_rc(shmc_del_prefix(c, "user:", 5, &deleted), 0);
    assert_int_equal(deleted, 4);
    for (int i = 0; i < 6; i++)
        assert_present(c, keys[i], 0);
}

static void test_namespace_separator_and_depth(void **state)
{
    shmc_opts o = opts_of((struct protection){1, 0, 0});
    o.namespace_separator = '/';
    shmc_cache *c = tu_open_owned(*state, "inst", &o);
    const char *const keys[] = {"tenant/9/session/abc", "tenant/9/x",
                                "tenant/90/x", "tenant:9:x"};
    put_self(c, keys, 4);
    size_t deleted;
    tu_assert_rc(shmc_del_prefix(c, "tenant:9:", 9, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_del_prefix(c, "tenant/9/", 9, &deleted), 0);
    assert_int_equal(deleted, 2);
    for (int i = 0; i < 4; i++)
        assert_present(c, keys[i], i >= 2);

    /* Levels past the eighth belong to it: naming a deeper namespace
     * deletes the eighth's whole. */
    const char *const deep[] = {"1/2/3/4/5/6/7/8/9/a", "1/2/3/4/5/6/7/8/0/b",
                                "1/2/3/4/5/6/7/8/c", "1/2/3/4/5/6/7/x/d"};
    put_self(c, deep, 4);
    tu_assert_rc(shmc_del_prefix(c, "1/2/3/4/5/6/7/8/9/", 18, &deleted), 0);
    assert_int_equal(deleted, 3);
    for (int i = 0; i < 4; i++)
        assert_present(c, deep[i], i == 3);
}

static int count_entry(const void *key, size_t klen, const shmc_meta *meta,
                       void *arg)
{
    (void)key;
    (void)klen;
    (void)meta;
    ++*(int *)arg;
    return 0;
}

static void test_scan_refused_under_a_secret(void **state)
{
    shmc_opts o = opts_of((struct protection){1, 0, 0});
    shmc_cache *c = tu_open_owned(*state, "inst", &o);
    tu_set(c, "user:1", "v");
    int n = 0;
    tu_assert_rc(shmc_scan(c, NULL, 0, 0, count_entry, &n), SHMC_EINVAL);
    tu_assert_rc(shmc_scan(c, "user:", 5, 0, count_entry, &n), SHMC_EINVAL);
    assert_int_equal(n, 0);

    /* Without a secret the same scan lists the entry: the refusal is the
     * secret's. */
    shmc_cache *plain = tu_open_owned(*state, "plain", NULL);
    tu_set(plain, "user:1", "v");
    tu_assert_rc(shmc_scan(plain, "user:", 5, 0, count_entry, &n), 0);
    assert_int_equal(n, 1);
}

/* ---- fingerprints and rotation ------------------------------------------ */

/* An open of d->root/name with o fails with SHMC_EKEYMISMATCH, naming the
 * instance's path. */
static void assert_mismatch(const struct tu_dir *d, const char *name,
                            const shmc_opts *o)
{
    char path[400];
    instance_path(d, name, path);
    tu_assert_rc(open_rc(d, name, o), SHMC_EKEYMISMATCH);
    if (!strstr(shmc_last_error(), path))
        fail_msg("shmc_last_error() does not name %s: %s", path,
                 shmc_last_error());
}

static void test_key_secret_fingerprint(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts with_a = opts_of((struct protection){1, 0, 0});
    shmc_opts with_b = with_a, none = opts_of((struct protection){0, 0, 0});
    shmc_opts other_separator = with_a;
    with_b.key_secret = secret_b;
    other_separator.namespace_separator = '/';

    shmc_cache *c = tu_open_owned(d, "secret", &with_a);
    tu_set(c, "k", "v");
    assert_mismatch(d, "secret", &none);
    assert_mismatch(d, "secret", &with_b);
    assert_mismatch(d, "secret", &other_separator);
    /* A shorter secret that is a prefix of the right one is another. */
    with_b = with_a;
    with_b.key_secret_len = 16;
    assert_mismatch(d, "secret", &with_b);
    /* The refused opens left the instance and its handle alone. */
    tu_assert_value(c, "k", "v");
    tu_assert_rc(open_rc(d, "secret", &with_a), 0);
    tu_close_owned(c);
    tu_assert_rc(open_rc(d, "secret", &with_a), 0);

    c = tu_open_owned(d, "nosecret", &none);
    tu_set(c, "k", "v");
    tu_close_owned(c);
    assert_mismatch(d, "nosecret", &with_a);
    tu_assert_rc(open_rc(d, "nosecret", &none), 0);
}

static void test_value_key_fingerprint(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts with_1 = opts_of((struct protection){0, 0, 1});
    shmc_opts with_2 = with_1, none = opts_of((struct protection){0, 0, 0});
    with_2.value_key = key_2;

    shmc_cache *c = tu_open_owned(d, "key1", &with_1);
    tu_set(c, "k", "v");
    tu_close_owned(c);
    assert_mismatch(d, "key1", &none);
    assert_mismatch(d, "key1", &with_2);
    /* An unknown old key does not make another current key acceptable. */
    with_2.old_value_keys = key_2;
    with_2.old_value_key_count = 1;
    assert_mismatch(d, "key1", &with_2);
    c = tu_open_owned(d, "key1", &with_1);
    tu_assert_value(c, "k", "v");

    shmc_cache *plain = tu_open_owned(d, "nokey", &none);
    tu_set(plain, "k", "v");
    tu_close_owned(plain);
    assert_mismatch(d, "nokey", &with_1);
    tu_assert_rc(open_rc(d, "nokey", &none), 0);
}

static void test_value_key_rotation(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts with_1 = opts_of((struct protection){0, 0, 1});
    shmc_opts with_2 = with_1, rotating = with_1;
    with_2.value_key = key_2;
    rotating.value_key = key_2;
    rotating.old_value_keys = key_1;
    rotating.old_value_key_count = 1;

    shmc_cache *old = tu_open_owned(d, "inst", &with_1);
    tu_set(old, "before", "written under key 1");

    shmc_cache *c = tu_open_owned(d, "inst", &rotating);
    tu_assert_value(c, "before", "written under key 1");
    tu_set(c, "after", "written under key 2");
    tu_assert_value(c, "after", "written under key 2");

    /* The new writes are key 2's: a handle with key 2 alone reads them,
     * and not key 1's. */
    shmc_cache *key2_only = tu_open_owned(d, "inst", &with_2);
    tu_assert_value(key2_only, "after", "written under key 2");
    uint64_t failures = tu_stats(key2_only).decrypt_failures;
    tu_assert_value(key2_only, "before", NULL);
    assert_int_equal(tu_stats(key2_only).decrypt_failures, failures + 1);

    /* From now on key 1 alone is refused; a handle that held it before
     * the rotation goes on reading and writing (the rotating handles read
     * what it writes). */
    assert_mismatch(d, "inst", &with_1);
    tu_assert_value(old, "before", "written under key 1");
    tu_set(old, "late", "written under key 1 again");
    tu_assert_value(c, "late", "written under key 1 again");
    tu_assert_rc(open_rc(d, "inst", &rotating), 0);
    tu_close_owned(key2_only);
    tu_close_owned(c);
    tu_close_owned(old);
    tu_assert_rc(open_rc(d, "inst", &with_2), 0);
    assert_mismatch(d, "inst", &with_1);
}

/* A rolling rotation with a process configured the old way opening again
 * (key 1, with key 2 as an old one) does not swing the instance back: a
 * process with key 2 alone is still accepted after it. */
static void test_value_key_rotation_does_not_swing_back(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts with_1 = opts_of((struct protection){0, 0, 1});
    shmc_opts with_2 = with_1, forward = with_1, backward = with_1;
    with_2.value_key = key_2;
    forward.value_key = key_2;
    forward.old_value_keys = key_1;
    forward.old_value_key_count = 1;
    backward.old_value_keys = key_2;
    backward.old_value_key_count = 1;
    tu_assert_rc(open_rc(d, "inst", &with_1), 0);
    tu_assert_rc(open_rc(d, "inst", &forward), 0);
    tu_assert_rc(open_rc(d, "inst", &backward), 0);
    tu_assert_rc(open_rc(d, "inst", &with_2), 0);
    assert_mismatch(d, "inst", &with_1);
}

/* SHMC_OPEN_NOKEYS: maintenance works on an instance whatever its secrets,
 * and nothing that reads or writes entries does. */
static void test_open_without_keys_is_for_maintenance(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts keyed = opts_of((struct protection){1, 1, 1});
    shmc_opts nokeys = {.map_size = MAP_SIZE, .flags = SHMC_OPEN_NOKEYS};
    shmc_cache *c = tu_open_owned(d, "inst", &keyed);
    tu_set(c, "user:1:token", "v");
    shmc_cache *m = tu_open_owned(d, "inst", &nokeys);

    unsigned char buf[8];
    size_t len = sizeof buf, n;
    void *val = &len;
    int calls = 0;
    struct view_check vc = {.want = &values[V_EMPTY]};
    shmc_item item = {"user:1:token", 12, "w", 1};
    shmc_keylock lock;
    const int refused[] = {
        shmc_get(m, "user:1:token", 12, buf, &len, NULL, 0),
        shmc_get_alloc(m, "user:1:token", 12, &val, &len, NULL, 0),
        shmc_get_view(m, "user:1:token", 12, 0, view_check, &vc),
        shmc_get_or_compute(m, "user:1:token", 12, compute_value,
                            &(struct computed){&values[V_ONE], 0}, NULL,
                            NULL, NULL, NULL),
        shmc_set(m, "user:1:token", 12, "w", 1, 0),
        shmc_add(m, "user:2:token", 12, "w", 1, 0),
        shmc_touch(m, "user:1:token", 12, 0),
        shmc_del(m, "user:1:token", 12),
        shmc_revoke(m, "user:1:token", 12),
        shmc_mset(m, &item, 1, NULL),
        shmc_mdel(m, &item, 1, &n),
        shmc_del_prefix(m, "user:", 5, &n),
        shmc_clear(m),
        shmc_scan(m, NULL, 0, 0, count_entry, &calls),
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (refused[i] != SHMC_EKEYMISMATCH)
            fail_msg("entry call %zu without keys: %s", i,
                     shmc_err_name(refused[i]));
    assert_null(val);
    assert_int_equal(vc.calls + calls, 0);

    shmc_sweep_result res;
    shmc_verify_result vr;
    unsigned freed;
    tu_assert_rc(shmc_sweep(m, NULL, &res), 0);
    tu_assert_rc(shmc_evict(m, 50, NULL, &res), 0);
    tu_assert_rc(shmc_reader_check(m, &freed), 0);
    tu_assert_rc(shmc_verify(m, NULL, NULL, &vr), 0);
    assert_int_equal(vr.records, 1);
    assert_int_equal(tu_info(m).entries, 1);
    assert_true(tu_stats(m).sets >= 1);
    tu_assert_rc(shmc_lock(m, "user:1:token", 12, 0, &lock), 0);
    tu_assert_rc(shmc_unlock(&lock), 0);
    tu_assert_value(c, "user:1:token", "v");

    /* It decides nothing: the first open with keys records them. */
    shmc_opts none = opts_of((struct protection){0, 0, 0});
    shmc_cache *first = tu_open_owned(d, "fresh", &nokeys);
    tu_assert_rc(open_rc(d, "fresh", &keyed), 0);
    assert_mismatch(d, "fresh", &none);
    tu_close_owned(first);
}

static void test_bad_protection_options(void **state)
{
    const struct tu_dir *d = *state;
    static unsigned char huge[1025], old_keys[9 * SHMC_VALUE_KEY_LEN];
    shmc_opts good = opts_of((struct protection){1, 1, 1});
    struct {
        const char *what;
        shmc_opts o;
    } bad[] = {{"a 15-byte secret", good},  {"a 1025-byte secret", good},
               {"a NULL secret", good},     {"old keys, no value key", good},
               {"nine old keys", good},     {"compress_level 20", good},
               {"compress_level -1", good}, {"old keys NULL", good}};
    bad[0].o.key_secret_len = 15;
    bad[1].o.key_secret = huge;
    bad[1].o.key_secret_len = sizeof huge;
    bad[2].o.key_secret = NULL;
    bad[3].o.value_key = NULL;
    bad[3].o.old_value_keys = old_keys;
    bad[3].o.old_value_key_count = 1;
    bad[4].o.old_value_keys = old_keys;
    bad[4].o.old_value_key_count = SHMC_MAX_OLD_VALUE_KEYS + 1;
    bad[5].o.compress_level = 20;
    bad[6].o.compress_level = -1;
    bad[7].o.old_value_key_count = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = open_rc(d, "inst", &bad[i].o);
        if (rc != SHMC_EINVAL)
            fail_msg("%s: %s, not SHMC_EINVAL", bad[i].what,
                     shmc_err_name(rc));
    }
    /* Refused before anything was made. */
    char path[400];
    struct stat st;
    instance_path(d, "inst", path);
    assert_int_equal(stat(path, &st), -1);

    /* The limits themselves are accepted. */
    good.key_secret_len = 16;
    good.compress_level = 19;
    good.old_value_keys = old_keys;
    good.old_value_key_count = SHMC_MAX_OLD_VALUE_KEYS;
    tu_assert_rc(open_rc(d, "inst", &good), 0);
}

/* ---- altered records --------------------------------------------------- */

enum tamper {
    T_CIPHERTEXT,
    T_TAG,
    T_NONCE,
    T_KEY_ID,
    T_VERSION,
    T_FRESH_UNTIL,
    T_EXPIRES_AT,
    T_FLAG_COMPRESSED,
    T_FLAG_ENCRYPTED,
    T_FLAG_NEGATIVE,
    T_CUT_ONE,
    T_CUT_SHORT,
    T_SWAPPED,
    T_PLAIN_RECORD,
    /* Alterations after which the header no longer parses. */
    T_FORMAT,
    T_FLAG_UNKNOWN,
    T_CUT_INTO_HEADER,
    TAMPERS
};

static const struct {
    const char *name;
    /* The read must count a decrypt failure: it reaches authentication
     * (-1: a miss without it is as good). */
    int counted;
} tampers[TAMPERS] = {
    [T_CIPHERTEXT] = {"ciphertext", 1},
    [T_TAG] = {"tag", 1},
    [T_NONCE] = {"nonce", 1},
    [T_KEY_ID] = {"key-id", 1},
    [T_VERSION] = {"version", 1},
    [T_FRESH_UNTIL] = {"fresh-until", 1},
    [T_EXPIRES_AT] = {"expires-at", 1},
    [T_FLAG_COMPRESSED] = {"flag-compressed", 1},
    [T_FLAG_ENCRYPTED] = {"flag-encrypted-cleared", 1},
    [T_FLAG_NEGATIVE] = {"flag-negative", -1},
    [T_CUT_ONE] = {"cut-one-byte", 1},
    [T_CUT_SHORT] = {"cut-below-a-seal", 1},
    [T_SWAPPED] = {"swapped", 1},
    [T_PLAIN_RECORD] = {"plain-record", 1},
    [T_FORMAT] = {"format", -1},
    [T_FLAG_UNKNOWN] = {"flag-unknown", -1},
    [T_CUT_INTO_HEADER] = {"cut-into-header", -1},
};

/* The key whose record is copied under "victim:swapped": stored as long
 * as the victim's (so only the stored key's bytes tell them apart). */
#define DONOR "victim:donated"

static size_t victim_key(enum tamper t, char key[64])
{
    return (size_t)snprintf(key, 64, "victim:%s", tampers[t].name);
}

/* Set up step s to alter the record it reads as t says; the record was
 * read before (r) to find its layout. */
static void tamper_step(struct step *s, enum tamper t, const struct step *r,
                        const struct step *donor)
{
    size_t value = value_offset(r);
    size_t nonce = value + SHMC__KEY_ID_LEN;
    size_t cipher = nonce + SHMC__AEAD_NONCE_LEN;
    s->write = 1;
    s->flip_mask = 0x01;
    switch (t) {
    case T_CIPHERTEXT:
        s->flip_at = cipher + 1;
        break;
    case T_TAG:
        s->flip_at = r->len - 1;
        break;
    case T_NONCE:
        s->flip_at = nonce + 3;
        break;
    case T_KEY_ID:
        s->flip_at = value + 1;
        break;
    case T_VERSION:
        s->flip_at = 4;
        break;
    case T_FRESH_UNTIL: /* 65 s either way: still fresh, before expiry */
        s->flip_at = 12 + 2;
        break;
    case T_EXPIRES_AT:
        s->flip_at = 18 + 2;
        break;
    case T_FLAG_COMPRESSED:
        s->flip_at = 1;
        s->flip_mask = SHMC__REC_COMPRESSED;
        break;
    case T_FLAG_ENCRYPTED:
        s->flip_at = 1;
        s->flip_mask = SHMC__REC_ENCRYPTED;
        break;
    case T_FLAG_NEGATIVE:
        s->flip_at = 1;
        s->flip_mask = SHMC__REC_NEGATIVE;
        break;
    case T_CUT_ONE:
        s->flip_mask = 0;
        s->cut = 1;
        break;
    case T_CUT_SHORT:
        s->flip_mask = 0;
        s->cut = r->len - (value + SEALED_OVERHEAD - 1);
        break;
    case T_SWAPPED:
        /* The donor's record, under this key. */
        s->flip_mask = 0;
        memcpy(s->to_key, s->key, s->klen);
        s->to_klen = s->klen;
        memcpy(s->key, donor->key, donor->klen);
        s->klen = donor->klen;
        break;
    case T_PLAIN_RECORD:
        /* A header of the record's own, without the encrypted flag, and a
         * value of the attacker's. */
        memcpy(s->replace, r->bytes, SHMC__RECORD_HEADER);
        s->replace[1] = 0;
        memcpy(s->replace + SHMC__RECORD_HEADER, "admin", 5);
        s->replace_len = SHMC__RECORD_HEADER + 5;
        break;
    case T_FORMAT:
        s->flip_at = 0;
        break;
    case T_FLAG_UNKNOWN:
        s->flip_at = 1;
        s->flip_mask = 0x80;
        break;
    case T_CUT_INTO_HEADER:
        s->flip_mask = 0;
        s->cut = r->len - (SHMC__RECORD_HEADER - 1);
        break;
    case TAMPERS:
        break;
    }
}

static int compute_fixed(const void *key, size_t klen, void *arg,
                         shmc_compute_out *out)
{
    (void)key;
    (void)klen;
    ++*(int *)arg;
    out->value = "recomputed";
    out->len = 10;
    return 0;
}

/* What is wrong with the reads of victim t after its record was altered,
 * or NULL: every read a miss (counted as a decrypt failure when t says
 * so), a touch too, get_or_compute computes again, and a set replaces the
 * record. */
static const char *tampered_problem(shmc_cache *c, enum tamper t,
                                    char why[160])
{
    char key[64];
    size_t klen = victim_key(t, key);
    uint64_t before = tu_stats(c).decrypt_failures;
    unsigned char buf[64];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, klen, buf, &len, NULL, 0);
    uint64_t counted = tu_stats(c).decrypt_failures - before;
    if (rc != SHMC_ENOTFOUND) {
        snprintf(why, 160, "get gave %s (%zu bytes)", shmc_err_name(rc),
                 len);
        return why;
    }
    if (tampers[t].counted >= 0 && counted != (uint64_t)tampers[t].counted) {
        snprintf(why, 160, "%llu decrypt failures counted, not %d",
                 (unsigned long long)counted, tampers[t].counted);
        return why;
    }
    if (read_problem(c, key, klen, why))
        return why;
    rc = shmc_touch(c, key, klen, HOUR_MS);
    if (rc != SHMC_ENOTFOUND) {
        snprintf(why, 160, "touch gave %s", shmc_err_name(rc));
        return why;
    }
    /* An add takes the key as absent, as a read does. */
    rc = shmc_add(c, key, klen, "added", 5, 0);
    if (rc != 0 || tu_check_value(c, key, "added")) {
        snprintf(why, 160, "add gave %s", shmc_err_name(rc));
        return why;
    }
    tu_assert_rc(shmc_del(c, key, klen), 0);
    int calls = 0;
    void *val = NULL;
    static const shmc_compute_opts co = {.ttl_ms = HOUR_MS};
    rc = shmc_get_or_compute(c, key, klen, compute_fixed, &calls, &co, &val,
                             &len, NULL);
    int right = rc == 0 && calls == 1 && len == 10 &&
                memcmp(val, "recomputed", 10) == 0;
    shmc_free(val);
    if (!right) {
        snprintf(why, 160, "get_or_compute gave %s after %d computes",
                 shmc_err_name(rc), calls);
        return why;
    }
    rc = shmc_set(c, key, klen, "set again", 9, 0);
    if (rc != 0 || tu_check_value(c, key, "set again")) {
        snprintf(why, 160, "set afterwards: %s", shmc_err_name(rc));
        return why;
    }
    return NULL;
}

/* Store v under every victim key with protection p, alter the records of
 * tampers first to last through LMDB, and fail the test with every
 * alteration whose reads are not misses. */
static void tampering_under(const struct tu_dir *d, struct protection p,
                            const struct value *v, enum tamper first,
                            enum tamper last)
{
    char name[64], key[64];
    shmc_opts o = opts_of(p);
    shmc_cache *c = tu_open_owned(d, name_of(p, name), &o);
    shmc_set_opts so = {.ttl_ms = HOUR_MS, .stale_ms = HOUR_MS};
    tu_assert_rc(shmc_set_ex(c, DONOR, strlen(DONOR), v->bytes, v->len, &so,
                             NULL),
                 0);
    int n = (int)last - (int)first + 1;
    for (int i = 0; i < n; i++) {
        size_t klen = victim_key((enum tamper)(first + i), key);
        tu_assert_rc(shmc_set_ex(c, key, klen, v->bytes, v->len, &so, NULL),
                     0);
        assert_reads(c, key, klen, v, 0, 0);
    }

    /* Read each record first: where its parts lie decides what to alter. */
    struct job *seen = job_new(c), *j = job_new(c);
    for (int i = 0; i < n; i++)
        job_add(seen, c, key, victim_key((enum tamper)(first + i), key));
    const struct step *donor = job_add(seen, c, DONOR, strlen(DONOR));
    job_run(seen);
    for (int i = 0; i < n; i++) {
        enum tamper t = (enum tamper)(first + i);
        struct step *s = job_add(j, c, key, victim_key(t, key));
        tamper_step(s, t, &seen->step[i], donor);
    }
    job_run(j);
    for (int i = 0; i < n; i++)
        if (!j->step[i].found)
            fail_msg("%s: no record to alter", tampers[first + i].name);
    job_free(j);
    job_free(seen);

    char report[2048] = "", why[160];
    for (int t = (int)first; t <= (int)last; t++)
        if (tampered_problem(c, (enum tamper)t, why))
            snprintf(report + strlen(report), sizeof report - strlen(report),
                     "\n  %s: %s", tampers[t].name, why);
    /* The donor lent its record, and keeps it. */
    assert_reads(c, DONOR, strlen(DONOR), v, 0, 0);
    tu_close_owned(c);
    if (report[0])
        fail_msg("%s: altered records not read as misses:%s", name, report);
}

static void test_altered_encrypted_records_are_misses(void **state)
{
    tampering_under(*state, (struct protection){0, 0, 1}, &values[V_SMALL],
                    T_CIPHERTEXT, T_PLAIN_RECORD);
}

static void test_altered_compressed_encrypted_records_are_misses(void **state)
{
    tampering_under(*state, (struct protection){1, 1, 1}, &values[V_JSON2K],
                    T_CIPHERTEXT, T_PLAIN_RECORD);
}

/* "Altered in any byte reads as a miss ... and is replaced by the next
 * write of its key": also when the header no longer parses. */
static void test_altered_headers_are_misses(void **state)
{
    tampering_under(*state, (struct protection){0, 0, 1}, &values[V_SMALL],
                    T_FORMAT, T_CUT_INTO_HEADER);
}

/* ---- damaged compressed values, not encrypted ------------------------- */

#define FLIPS 32

/* Sanitizers and valgrind reserve more address space than a limit on it
 * leaves. */
#if defined(__SANITIZE_ADDRESS__)
#define ADDRESS_SPACE_RESERVED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADDRESS_SPACE_RESERVED 1
#endif
#endif
#ifndef ADDRESS_SPACE_RESERVED
#define ADDRESS_SPACE_RESERVED 0
#endif

struct tight_read {
    shmc_cache *c;
    char key[32];
};

/* In a child whose address space may grow by 1 GiB at most (as under a
 * ulimit -v, or without overcommit): a read of the key misses. What a
 * record says about a value's length must not decide what is allocated
 * before the frame confirms it. */
static int read_in_tight_memory(void *arg, int index)
{
    const struct tight_read *t = arg;
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    (void)index;
    if (!f || fscanf(f, "%lu", &pages) != 1) {
        fprintf(stderr, "/proc/self/statm: cannot read it\n");
        return 1;
    }
    fclose(f);
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1u << 30);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        fprintf(stderr, "setrlimit: %s\n", strerror(errno));
        return 1;
    }
    unsigned char buf[64];
    size_t len = sizeof buf;
    int rc = shmc_get(t->c, t->key, strlen(t->key), buf, &len, NULL, 0);
    if (rc != SHMC_ENOTFOUND)
        fprintf(stderr, "%s with 1 GiB of address space to spare: %s (%s)\n",
                t->key, shmc_err_name(rc), shmc_last_error());
    return rc != SHMC_ENOTFOUND;
}

static void test_damaged_frames_are_misses(void **state)
{
    shmc_opts o = opts_of((struct protection){0, 1, 0});
    shmc_cache *c = tu_open_owned(*state, "inst", &o);
    const struct value *v = &values[V_JSON16K];
    enum { MAGIC, RAW_LEN, RAW_LEN_HUGE, CUT_END, CUT_TO_TWO, NAMED };
    static const char *const named[NAMED] = {"magic", "raw-length",
                                             "raw-length-huge", "cut-end",
                                             "cut-to-two"};
    char key[64];
    for (int i = 0; i < NAMED + FLIPS; i++) {
        snprintf(key, sizeof key, "frame-%d", i);
        tu_assert_rc(shmc_set(c, key, strlen(key), v->bytes, v->len, 0), 0);
    }
    struct job *seen = job_new(c);
    job_add(seen, c, "frame-0", 7);
    job_run(seen);
    const struct step *r = &seen->step[0];
    assert_true(r->found && (r->bytes[1] & SHMC__REC_COMPRESSED));
    size_t value = value_offset(r), frame = value + 4;

    struct job *j = job_new(c);
    for (int i = 0; i < NAMED + FLIPS; i++) {
        snprintf(key, sizeof key, "frame-%d", i);
        struct step *s = job_add(j, c, key, strlen(key));
        s->write = 1;
        s->flip_mask = 0x10;
        if (i == MAGIC)
            s->flip_at = frame;
        else if (i == RAW_LEN)
            s->flip_at = value;
        else if (i == RAW_LEN_HUGE) {
            s->flip_at = value + 3;
            s->flip_mask = 0xf0;
        } else if (i == CUT_END) {
            s->flip_mask = 0;
            s->cut = 8;
        } else if (i == CUT_TO_TWO) {
            s->flip_mask = 0;
            s->cut = r->len - value - 2;
        } else { /* spread over the frame, its header and end included */
            s->flip_at = frame + (r->len - frame - 1) *
                                     (size_t)(i - NAMED) / (FLIPS - 1);
        }
    }
    job_run(j);
    job_free(j);
    job_free(seen);

    char why[160];
    for (int i = 0; i < NAMED; i++) {
        snprintf(key, sizeof key, "frame-%d", i);
        if (read_problem(c, key, strlen(key), why))
            fail_msg("%s: %s", named[i], why);
    }
    if (!tu_under_valgrind() && !ADDRESS_SPACE_RESERVED) {
        struct tight_read t = {c, ""};
        snprintf(t.key, sizeof t.key, "frame-%d", RAW_LEN_HUGE);
        if (tu_wait_child(tu_spawn(read_in_tight_memory, &t),
                          CHILD_TIMEOUT_S))
            fail_msg("%s: not a miss in tight memory (why: above)",
                     named[RAW_LEN_HUGE]);
    }
    /* A flip inside the literals may decode to other bytes of the right
     * length (frames carry no checksum, as a raw value would carry none):
     * a flipped frame is a miss or a value of the right length, never
     * anything else, and never a crash. */
    static unsigned char buf[BIG_VALUE + 1];
    for (int i = NAMED; i < NAMED + FLIPS; i++) {
        snprintf(key, sizeof key, "frame-%d", i);
        size_t len = sizeof buf;
        int rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
        if (rc != SHMC_ENOTFOUND && (rc != 0 || len != v->len))
            fail_msg("flip %d: %s, %zu bytes", i - NAMED, shmc_err_name(rc),
                     len);
    }
    assert_int_equal(tu_stats(c).decrypt_failures, 0);
    for (int i = 0; i < NAMED + FLIPS; i++) {
        snprintf(key, sizeof key, "frame-%d", i);
        tu_assert_rc(shmc_set(c, key, strlen(key), v->bytes, v->len, 0), 0);
        assert_reads(c, key, strlen(key), v, 0, 0);
    }
}

/* ---- key files ---------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len,
                       mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len ||
        fchmod(fd, mode) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    close(fd);
}

static void test_key_file_read(void **state)
{
    const struct tu_dir *d = *state;
    char raw[400], hex[400], bare[400], open_mode[400], missing[400],
        link[400], short_file[400], bad_hex[400];
    instance_path(d, "raw.key", raw);
    instance_path(d, "hex.key", hex);
    instance_path(d, "bare.key", bare);
    instance_path(d, "open.key", open_mode);
    instance_path(d, "missing.key", missing);
    instance_path(d, "link.key", link);
    instance_path(d, "short.key", short_file);
    instance_path(d, "badhex.key", bad_hex);
    char digits[66];
    for (unsigned i = 0; i < 32; i++)
        snprintf(digits + 2 * i, 3, "%02x", key_1[i]);
    digits[64] = '\n';
    write_file(raw, key_1, 32, 0600);
    write_file(hex, digits, 65, 0600);
    write_file(bare, digits, 64, 0400);
    write_file(open_mode, key_1, 32, 0644);
    write_file(short_file, key_1, 31, 0600);
    digits[7] = 'g';
    write_file(bad_hex, digits, 65, 0600);
    assert_int_equal(symlink(raw, link), 0);

    unsigned char got[SHMC_VALUE_KEY_LEN];
    const char *good[] = {raw, hex, bare};
    for (int i = 0; i < 3; i++) {
        memset(got, 0, sizeof got);
        tu_assert_rc(shmc_key_file_read(good[i], got), 0);
        assert_memory_equal(got, key_1, sizeof got);
    }
    memset(got, 0xaa, sizeof got);
    tu_assert_rc(shmc_key_file_read(open_mode, got), SHMC_EUNSAFE);
    assert_non_null(strstr(shmc_last_error(), open_mode));
    static const unsigned char zeros[SHMC_VALUE_KEY_LEN];
    assert_memory_equal(got, zeros, sizeof got);
    tu_assert_rc(shmc_key_file_read(missing, got), -ENOENT);
    tu_assert_rc(shmc_key_file_read(link, got), SHMC_EUNSAFE);
    tu_assert_rc(shmc_key_file_read(short_file, got), SHMC_EINVAL);
    tu_assert_rc(shmc_key_file_read(bad_hex, got), SHMC_EINVAL);
    tu_assert_rc(shmc_key_file_read(NULL, got), SHMC_EINVAL);

    /* What it reads opens an instance like the key itself. */
    shmc_opts o = opts_of((struct protection){0, 0, 1});
    shmc_cache *c = tu_open_owned(d, "inst", &o);
    tu_set(c, "k", "v");
    tu_assert_rc(shmc_key_file_read(hex, got), 0);
    o.value_key = got;
    shmc_cache *from_file = tu_open_owned(d, "inst", &o);
    tu_assert_value(from_file, "k", "v");
}

/* ---- the per-thread L1 ----------------------------------------------- */

struct rewrite {
    shmc_cache *c;
    char value[32];
};

static int rewrite_child(void *arg, int index)
{
    struct rewrite *w = arg;
    (void)index;
    int rc = shmc_set(w->c, "hot", 3, w->value, strlen(w->value), 0);
    if (rc)
        fprintf(stderr, "rewrite: %s\n", shmc_err_name(rc));
    return rc != 0 || tu_check_value(w->c, "hot", w->value);
}

/* Another process rewrites a key this one keeps reading, with L1 on: every
 * read gives the latest value. Values opened from a compressed or
 * encrypted form are not kept in the L1 (l1_kept: whether p's are). */
static void l1_under(const struct tu_dir *d, struct protection p,
                     int l1_kept)
{
    char name[64];
    shmc_opts o = opts_of(p);
    o.l1_entries = 64;
    shmc_cache *c = tu_open_owned(d, name_of(p, name), &o);
    struct rewrite w = {.c = c, .value = "round 0"};
    tu_set(c, "hot", w.value);
    unsigned rounds = tu_scaled(20);
    for (unsigned r = 1; r <= rounds; r++) {
        for (int i = 0; i < 3; i++)
            tu_assert_value(c, "hot", w.value);
        snprintf(w.value, sizeof w.value, "round %u%.*s", r, (int)(r % 7),
                 "-------");
        if (tu_wait_child(tu_spawn(rewrite_child, &w), CHILD_TIMEOUT_S))
            fail_msg("the rewriting child failed (why: above)");
        tu_assert_value(c, "hot", w.value);
    }
    shmc_stats s = tu_stats(c);
    if (l1_kept)
        assert_true(s.l1_hits > 0);
    else
        assert_int_equal(s.l1_hits, 0);
    assert_int_equal(s.decrypt_failures, 0);
    tu_close_owned(c);
}

static void test_l1_with_encryption_sees_other_writers(void **state)
{
    l1_under(*state, (struct protection){0, 0, 1}, 0);
    l1_under(*state, (struct protection){1, 1, 1}, 0);
    /* A key secret alone leaves values as they are: the L1 keeps them. */
    l1_under(*state, (struct protection){1, 0, 0}, 1);
}

int main(void)
{
    make_values();
    fill_random(secret_a, sizeof secret_a, 1);
    fill_random(secret_b, sizeof secret_b, 2);
    fill_random(key_1, sizeof key_1, 3);
    fill_random(key_2, sizeof key_2, 4);
    const struct CMUnitTest tests[] = {
        tu_test_owning(test_round_trips_under_every_protection),
        tu_test_owning(test_verify_accepts_protected_records),
        tu_test_owning(test_files_reveal_no_key_and_no_encrypted_value),
        tu_test_owning(test_stored_keys_hide_lengths),
        tu_test_owning(test_namespace_deletion),
        tu_test_owning(test_namespace_separator_and_depth),
        tu_test_owning(test_scan_refused_under_a_secret),
        tu_test_owning(test_key_secret_fingerprint),
        tu_test_owning(test_value_key_fingerprint),
        tu_test_owning(test_value_key_rotation),
        tu_test_owning(test_value_key_rotation_does_not_swing_back),
        tu_test_owning(test_open_without_keys_is_for_maintenance),
        tu_test_owning(test_bad_protection_options),
        tu_test_owning(test_altered_encrypted_records_are_misses),
        tu_test_owning(test_altered_compressed_encrypted_records_are_misses),
        tu_test_owning(test_altered_headers_are_misses),
        tu_test_owning(test_damaged_frames_are_misses),
        tu_test_owning(test_key_file_read),
        tu_test_owning(test_l1_with_encryption_sees_other_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
