/* fuzz_record.c - the record decoder (lib/record.c) and the opening of
 * values (lib/payload.c) fed whatever comes, as if LMDB held it.
 *
 * Every input is decoded; one that decodes is opened as the value of one
 * fixed key under three protections in turn: none, compression only, and
 * compression with a value key. Whatever the input, the promises of
 * record.h and payload.h must hold: a decoded record lies inside the input
 * and accounts for all of it, goes stale no later than it expires; an open
 * fails with SHMC_ECORRUPT or -ENOMEM and nothing to free, or gives a
 * value of the length it says (every byte of which is read, for
 * AddressSanitizer and valgrind to check) in the input or in a buffer of
 * its own, never a value of an unsealed record under a value key.
 *
 * Built two ways. As a test (make check) it replays every file of a corpus
 * directory (default $srcdir/tests/fuzz/record) of records the library
 * wrote: a file named ok-* must decode and open under at least one of the
 * protections (the encrypted ones were written under the key and value key
 * below); a file named bad-* must be refused by the decoder. Every
 * truncation of an ok-* record is tried too, and every one-bit change of an
 * encrypted one, which must not open under the value key.
 *
 * Built with -fsanitize=fuzzer and SHMC_LIBFUZZER (./configure
 * --enable-fuzzers), it is libFuzzer's target, which aborts when a result
 * breaks a promise. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "payload.h"
#include "protect.h"
#include "record.h"

/* The protections, in the order they are tried. */
enum { UNPROTECTED, COMPRESSING, SEALING, PROTECTIONS };

static const char user_key[] = "fuzz:key";
static const char value_key[] = "fuzz-record-value-key-0123456789";
_Static_assert(sizeof value_key == SHMC_VALUE_KEY_LEN + 1,
               "a value key is 32 bytes");

static struct shmc__protect protection[PROTECTIONS];
static struct shmc__key key;

/* Set up the key and the protections once. Returns NULL or what failed. */
static const char *setup(void)
{
    static int ready;
    const shmc_opts opts[PROTECTIONS] = {
        [UNPROTECTED] = {.compress_threshold = SHMC_NO_COMPRESSION},
        [COMPRESSING] = {.compress_threshold = 64},
        [SEALING] = {.compress_threshold = 64,
                     .value_key = (const unsigned char *)value_key},
    };
    const struct shmc__keying keying = {.max_direct = SHMC__MAX_DIRECT_KEY};
    if (ready)
        return NULL;
    for (unsigned i = 0; i < PROTECTIONS; i++)
        if (shmc__protect_init(&protection[i], &opts[i]))
            return shmc_last_error();
    if (shmc__key_make(&key, user_key, sizeof user_key - 1, &keying))
        return shmc_last_error();
    ready = 1;
    return NULL;
}

/* Whether [p, p + len) lies within [base, base + size). */
static int inside(const void *p, size_t len, const uint8_t *base,
                  size_t size)
{
    uintptr_t at = (uintptr_t)p, start = (uintptr_t)base;
    return at >= start && len <= size && at - start <= size - len;
}

/* What record.h promises about a record decoded from data: NULL when
 * kept, else which promise broke. */
static const char *record_broken(const struct shmc__record *r,
                                 const uint8_t *data, size_t size)
{
    if (size < SHMC__RECORD_HEADER)
        return "decoded a record shorter than its header";
    if (r->raw != data)
        return "raw is not where the record starts";
    if ((r->key == NULL) != (r->key_len == 0) ||
        (r->key && !inside(r->key, r->key_len, data, size)))
        return "key outside the input, or not there with its length";
    if (!inside(r->value, r->value_len, data, size))
        return "value outside the input";
    if ((size_t)r->key_len + r->value_len + SHMC__RECORD_HEADER != size)
        return "header, key and value do not add up to the input";
    if (r->fresh_until > r->expires_at)
        return "fresh-until after expires-at";
    return NULL;
}

/* Read every byte of a value, so that a bad one is seen where it is. */
static void touch(const void *val, size_t len)
{
    const volatile unsigned char *p = val;
    unsigned char sum = 0;
    for (size_t i = 0; i < len; i++)
        sum ^= p[i];
    (void)sum;
}

/* Open r under p as payload.h promises: NULL when kept, else which promise
 * broke. *opened says whether it opened. */
static const char *open_broken(const struct shmc__protect *p,
                               const struct shmc__record *r,
                               const uint8_t *data, size_t size, int *opened)
{
    void *owned = NULL;
    const void *val = NULL;
    size_t len = 0;
    int rc = shmc__payload_open(p, &key, r, &owned, &val, &len);
    *opened = rc == 0;
    if (rc == SHMC_ECORRUPT || rc == -ENOMEM)
        return owned ? "a failed open left a buffer to free" : NULL;
    if (rc != 0)
        return "open failed with neither SHMC_ECORRUPT nor -ENOMEM";
    const char *broken = NULL;
    if (p->value_keys && !(r->flags & SHMC__REC_ENCRYPTED))
        broken = "an unsealed record opened under a value key";
    else if (!(r->flags & SHMC__REC_ENCODED) &&
             (owned || val != r->value || len != r->value_len))
        broken = "a plain record's value is not the record's own";
    else if ((r->flags & SHMC__REC_ENCODED) && (!owned || val != owned))
        broken = "an encoded value not in a buffer of its own";
    else if (!owned && !inside(val, len, data, size))
        broken = "value outside the input";
    if (!broken)
        touch(val, len);
    free(owned);
    return broken;
}

struct outcome {
    const char *problem; /* the decoder's, NULL when it decoded */
    unsigned opened;     /* bit i: opened under protection[i] */
};

/* Decode and open a copy of size bytes of data in a buffer of exactly
 * that size. Returns a broken promise or NULL. */
static const char *run_input(const uint8_t *data, size_t size,
                             struct outcome *out)
{
    const char *broken = setup();
    if (broken)
        return broken;
    uint8_t *copy = calloc(size ? size : 1, 1);
    if (!copy)
        return "no memory to copy the input";
    if (size)
        memcpy(copy, data, size);
    struct shmc__record r;
    *out = (struct outcome){0};
    out->problem = shmc__record_problem(copy, size, &r);
    if (!out->problem)
        broken = record_broken(&r, copy, size);
    for (unsigned i = 0; !out->problem && !broken && i < PROTECTIONS; i++) {
        int opened;
        broken = open_broken(&protection[i], &r, copy, size, &opened);
        out->opened |= (unsigned)opened << i;
    }
    free(copy);
    return broken;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome out;
    const char *broken = run_input(data, size, &out);
    if (broken) {
        fprintf(stderr, "fuzz_record: %s (%zu bytes)\n", broken, size);
        abort();
    }
    return 0;
}

#ifndef SHMC_LIBFUZZER

#include "fuzzreplay.h"

#define PROG "fuzz_record"

static int encrypted(const uint8_t *data, size_t size)
{
    return size > 1 && (data[1] & SHMC__REC_ENCRYPTED);
}

/* Every truncation of a good record keeps the promises; none shorter than
 * a header decodes. */
static void check_truncations(const char *name, const uint8_t *data,
                              size_t size)
{
    for (size_t n = 0; n < size; n++) {
        struct outcome out;
        const char *broken = run_input(data, n, &out);
        if (!broken && n < SHMC__RECORD_HEADER && !out.problem)
            broken = "decoded without a whole header";
        if (broken) {
            fr_fail(name, "cut to %zu bytes: %s", n, broken);
            return;
        }
    }
    fr_pass(name, "every truncation");
}

/* No one-bit change of an encrypted record opens under its value key: its
 * header, key and value are all authenticated. (With the encrypted flag
 * cleared it opens where no value key is asked for, as the sealed bytes.) */
static void check_alterations(const char *name, const uint8_t *data,
                              size_t size)
{
    uint8_t *altered = fr_xmalloc(PROG, size);
    memcpy(altered, data, size);
    for (size_t bit = 0; bit < size * 8; bit++) {
        struct outcome out;
        altered[bit / 8] ^= (uint8_t)(1u << bit % 8);
        const char *broken = run_input(altered, size, &out);
        altered[bit / 8] ^= (uint8_t)(1u << bit % 8);
        if (!broken && (out.opened & 1u << SEALING))
            broken = "opened under the value key";
        if (broken) {
            fr_fail(name, "bit %zu changed: %s", bit, broken);
            free(altered);
            return;
        }
    }
    free(altered);
    fr_pass(name, "every one-bit change refused by the value key");
}

static void check_input(const char *name, const uint8_t *data, size_t size)
{
    struct outcome out;
    const char *broken = run_input(data, size, &out);
    int ok = strncmp(name, "ok-", 3) == 0;
    int bad = strncmp(name, "bad-", 4) == 0;
    if (broken)
        fr_fail(name, "%s", broken);
    else if (ok && out.problem)
        fr_fail(name, "refused: %s", out.problem);
    else if (ok && !out.opened)
        fr_fail(name, "opens under no protection");
    else if (bad && !out.problem)
        fr_fail(name, "accepted");
    else
        fr_pass(name, out.problem);
    if (ok)
        check_truncations(name, data, size);
    if (ok && encrypted(data, size))
        check_alterations(name, data, size);
}

int main(int argc, char **argv)
{
    char dir[4096];
    fr_corpus_dir(argc, argv, "tests/fuzz/record", dir, sizeof dir);
    fr_replay_dir(PROG, dir, check_input);
    for (unsigned i = 0; i < PROTECTIONS; i++)
        shmc__protect_wipe(&protection[i]);
    return fr_finish(PROG, dir, 10);
}

#endif
