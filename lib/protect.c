/* protect.c - see protect.h. */
#include "protect.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "errors.h"
#include "instance.h"
#include "writer.h"

#define MIN_SECRET 16u
#define MAX_SECRET 1024u

/* Where the instance keeps the fingerprints (meta table). */
#define FP_KEY_SECRET "fp-key-secret"
#define FP_VALUE_KEY "fp-value-key"

static int add_value_key(struct shmc__protect *p, const unsigned char *key)
{
    struct shmc__value_key *vk = &p->value_key[p->value_keys++];
    unsigned char fp[32];
    memcpy(vk->key, key, SHMC_VALUE_KEY_LEN);
    if (shmc__fingerprint(key, SHMC_VALUE_KEY_LEN, "value key id", fp))
        return SHMC_EINTERNAL;
    memcpy(vk->id, fp, SHMC__KEY_ID_LEN);
    return 0;
}

int shmc__protect_init(struct shmc__protect *p, const shmc_opts *o)
{
    memset(p, 0, sizeof *p);
    p->max_value = SIZE_MAX;
    p->keying.separator =
        o->namespace_separator ? (unsigned char)o->namespace_separator : ':';
    p->compress_threshold = o->compress_threshold
                                ? o->compress_threshold
                                : SHMC_DEFAULT_COMPRESS_THRESHOLD;
    p->compress_level = o->compress_level ? o->compress_level
                                          : SHMC_DEFAULT_COMPRESS_LEVEL;
    if (o->compress_level < 0 || o->compress_level > 19)
        return shmc__fail(SHMC_EINVAL, "compress_level %d is not from 1 to 19",
                          o->compress_level);
    if (o->key_secret || o->key_secret_len) {
        if (!o->key_secret || o->key_secret_len < MIN_SECRET ||
            o->key_secret_len > MAX_SECRET)
            return shmc__fail(SHMC_EINVAL,
                              "key_secret: %u to %u bytes are needed",
                              MIN_SECRET, MAX_SECRET);
        unsigned char *copy = malloc(o->key_secret_len);
        if (!copy)
            return shmc__fail(-ENOMEM, "no memory for the key secret");
        memcpy(copy, o->key_secret, o->key_secret_len);
        p->keying.secret = copy;
        p->keying.secret_len = o->key_secret_len;
    }
    if (o->old_value_key_count > SHMC_MAX_OLD_VALUE_KEYS ||
        (o->old_value_key_count && (!o->old_value_keys || !o->value_key)))
        return shmc__fail(SHMC_EINVAL,
                          "old_value_keys: at most %u, and only beside a "
                          "value_key",
                          SHMC_MAX_OLD_VALUE_KEYS);
    int rc = 0;
    if (o->value_key)
        rc = add_value_key(p, o->value_key);
    for (unsigned i = 0; rc == 0 && i < o->old_value_key_count; i++)
        rc = add_value_key(p, o->old_value_keys + i * SHMC_VALUE_KEY_LEN);
    return rc ? shmc__fail(rc, "fingerprint of a value key failed") : 0;
}

void shmc__protect_wipe(struct shmc__protect *p)
{
    shmc__hmac_forget();
    if (p->keying.secret) {
        OPENSSL_cleanse((void *)p->keying.secret, p->keying.secret_len);
        free((void *)p->keying.secret);
    }
    OPENSSL_cleanse(p, sizeof *p);
}

int shmc__protect_entries_allowed(const shmc_cache *c)
{
    if (c->opts.flags & SHMC_OPEN_NOKEYS)
        return shmc__fail(SHMC_EKEYMISMATCH,
                          "%s: opened without keys (SHMC_OPEN_NOKEYS), for "
                          "maintenance only",
                          c->path);
    return 0;
}

const struct shmc__value_key *shmc__protect_key(const struct shmc__protect *p,
                                                const unsigned char *id)
{
    for (unsigned i = 0; i < p->value_keys; i++)
        if (memcmp(p->value_key[i].id, id, SHMC__KEY_ID_LEN) == 0)
            return &p->value_key[i];
    return NULL;
}

/* The fingerprints p stands for: its key secret's (zeros for none), and
 * one per value key, the current first (zeros for none). */
struct fingerprints {
    unsigned char secret[1][32];
    unsigned values;
    unsigned char value[1 + SHMC_MAX_OLD_VALUE_KEYS][32];
};

static int fingerprints_of(const struct shmc__protect *p,
                           struct fingerprints *f)
{
    memset(f, 0, sizeof *f);
    if (p->keying.secret) {
        /* The separator is part of how keys are stored. */
        char purpose[32];
        snprintf(purpose, sizeof purpose, "key secret %c",
                 p->keying.separator);
        if (shmc__fingerprint(p->keying.secret, p->keying.secret_len,
                              purpose, f->secret[0]))
            return SHMC_EINTERNAL;
    }
    f->values = p->value_keys ? p->value_keys : 1;
    for (unsigned i = 0; i < p->value_keys; i++)
        if (shmc__fingerprint(p->value_key[i].key, SHMC_VALUE_KEY_LEN,
                              "value key", f->value[i]))
            return SHMC_EINTERNAL;
    return 0;
}

static int among(const unsigned char *fp, const unsigned char (*set)[32],
                 size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(fp, set[i], 32) == 0)
            return 1;
    return 0;
}

/* Compare the fingerprints recorded under name (the current key's first,
 * then the old keys') with the opener's, mine[0] its current key's. The
 * opener is accepted when it holds the instance's current key (as its own
 * current key, or as an old one it still reads). The record is written when
 * there is none yet (the first opener decides), and moves to the opener's
 * keys only forward: when the opener holds the recorded current key as an
 * old one and its own current key is not one of the recorded old ones. So
 * a rolling rotation (K0, then K1 with K0 old) never swings back when a
 * process still configured the old way opens again. *mismatch: refused. */
static int compare_or_record(struct shmc__txn *t, const char *name,
                             const unsigned char (*mine)[32], size_t n,
                             int *mismatch)
{
    struct shmc__bytes v;
    int rc = shmc__get(t, SHMC__T_META, name, strlen(name), &v);
    if (rc != 0 && rc != SHMC_ENOTFOUND)
        return rc;
    int write = rc == SHMC_ENOTFOUND;
    *mismatch = 0;
    if (rc == 0) {
        const unsigned char (*recorded)[32] = v.data;
        size_t m = v.len / 32;
        if (m == 0 || v.len % 32) {
            *mismatch = 1;
            return 0;
        }
        *mismatch = !among(recorded[0], mine, n);
        write = !*mismatch && memcmp(recorded[0], mine[0], 32) != 0 &&
                among(recorded[0], mine + 1, n - 1) &&
                !among(mine[0], recorded + 1, m - 1);
    }
    if (write) {
        void *dst;
        rc = shmc__put(t, SHMC__T_META, name, strlen(name), n * 32, &dst);
        if (rc == 0)
            memcpy(dst, mine, n * 32);
    }
    return rc;
}

struct check {
    const struct fingerprints *mine;
    int secret_mismatch, value_mismatch;
};

static int check_in(struct shmc__writer *w, void *arg, int *answer)
{
    struct check *ck = arg;
    *answer = 0;
    int rc = compare_or_record(&w->t, FP_KEY_SECRET, ck->mine->secret, 1,
                               &ck->secret_mismatch);
    if (rc == 0)
        rc = compare_or_record(&w->t, FP_VALUE_KEY, ck->mine->value,
                               ck->mine->values, &ck->value_mismatch);
    return rc;
}

int shmc__protect_check(shmc_cache *c, const struct shmc__protect *p)
{
    struct fingerprints f;
    if (fingerprints_of(p, &f))
        return shmc__fail(SHMC_EINTERNAL, "fingerprint of a secret failed");
    struct check ck = {.mine = &f};
    int rc = shmc__writer_run(c, 0, check_in, &ck);
    OPENSSL_cleanse(&f, sizeof f);
    if (rc)
        return rc;
    if (ck.secret_mismatch)
        return shmc__fail(SHMC_EKEYMISMATCH,
                          "%s: made with %s key secret", c->path,
                          p->keying.secret ? "another" : "a");
    if (ck.value_mismatch)
        return shmc__fail(SHMC_EKEYMISMATCH,
                          "%s: made with %s value key", c->path,
                          p->value_keys ? "another" : "a");
    return 0;
}

int shmc__protect_keyspace(struct shmc__txn *t, unsigned char out[8])
{
    struct shmc__bytes v;
    int rc = shmc__get(t, SHMC__T_META, FP_KEY_SECRET, strlen(FP_KEY_SECRET),
                       &v);
    memset(out, 0, 8);
    if (rc == 0 && v.len >= 32)
        memcpy(out, v.data, 8);
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

int shmc_key_file_read(const char *path, unsigned char key[SHMC_VALUE_KEY_LEN])
{
    shmc__clear_error();
    if (!path || !key)
        return shmc__fail(SHMC_EINVAL, "shmc_key_file_read: NULL argument");
    return shmc__key_file_read(path, key);
}
