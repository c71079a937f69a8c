/* test_keys.c - lib/keys.c: which table a key goes to and under what bytes,
 * and, through the public API, that long keys stored under their digest
 * never return another key's value. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "instance.h"
#include "keys.h"
#include "record.h"
#include "store.h"

/* Key bytes that differ from one seed to the next at every position. */
static unsigned char *long_key(size_t len, unsigned seed)
{
    unsigned char *k = malloc(len);
    assert_non_null(k);
    for (size_t i = 0; i < len; i++)
        k[i] = (unsigned char)(i * 31u + seed);
    return k;
}

static void sha256(const void *data, size_t len,
                   unsigned char out[SHMC__DIGEST_LEN])
{
    unsigned int out_len = 0;
    assert_int_equal(EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL),
                     1);
    assert_int_equal(out_len, SHMC__DIGEST_LEN);
}

/* ---- shmc__key_make ---------------------------------------------------- */

static const struct shmc__keying plain_keying = {
    .max_direct = SHMC__MAX_DIRECT_KEY};
static const struct shmc__keying limit_100 = {.max_direct = 100};

static void assert_stored_as_itself(size_t len)
{
    unsigned char *key = long_key(len, 1);
    struct shmc__key k;
    assert_int_equal(shmc__key_make(&k, key, len, &plain_keying), 0);
    assert_int_equal(k.table, SHMC__T_ENTRIES);
    assert_false(shmc__key_hashed(&k));
    assert_ptr_equal(k.stored, key);
    assert_int_equal(k.stored_len, len);
    assert_ptr_equal(k.full, key);
    assert_int_equal(k.full_len, len);
    free(key);
}

static void assert_stored_as_digest(size_t len)
{
    unsigned char *key = long_key(len, 2);
    unsigned char want[SHMC__DIGEST_LEN];
    sha256(key, len, want);
    struct shmc__key k;
    assert_int_equal(shmc__key_make(&k, key, len, &plain_keying), 0);
    assert_int_equal(k.table, SHMC__T_HASHED);
    assert_true(shmc__key_hashed(&k));
    assert_ptr_equal(k.stored, k.digest);
    assert_int_equal(k.stored_len, SHMC__DIGEST_LEN);
    assert_memory_equal(k.stored, want, SHMC__DIGEST_LEN);
    assert_ptr_equal(k.full, key);
    assert_int_equal(k.full_len, len);
    free(key);
}

static void short_keys_are_stored_as_themselves(void **state)
{
    (void)state;
    assert_int_equal(SHMC__MAX_DIRECT_KEY, 511);
    assert_stored_as_itself(1);
    assert_stored_as_itself(SHMC__MAX_DIRECT_KEY);
}

static void long_keys_are_stored_as_their_sha256(void **state)
{
    (void)state;
    assert_stored_as_digest(SHMC__MAX_DIRECT_KEY + 1);
    assert_stored_as_digest(SHMC_MAX_KEY_LEN);
}

/* The limit is the environment's (LMDB may be built with another), not a
 * constant baked into key_make. */
static void limit_follows_max_direct(void **state)
{
    (void)state;
    unsigned char *key = long_key(101, 3);
    struct shmc__key k;
    assert_int_equal(shmc__key_make(&k, key, 100, &limit_100), 0);
    assert_int_equal(k.table, SHMC__T_ENTRIES);
    assert_int_equal(shmc__key_make(&k, key, 101, &limit_100), 0);
    assert_int_equal(k.table, SHMC__T_HASHED);
    free(key);
}

static void different_long_keys_get_different_digests(void **state)
{
    (void)state;
    const size_t len = 600;
    unsigned char *a = long_key(len, 4);
    unsigned char *b = long_key(len, 4);
    b[len - 1] ^= 1;
    struct shmc__key ka, kb;
    assert_int_equal(shmc__key_make(&ka, a, len, &plain_keying), 0);
    assert_int_equal(shmc__key_make(&kb, b, len, &plain_keying), 0);
    assert_memory_not_equal(ka.digest, kb.digest, SHMC__DIGEST_LEN);
    free(a);
    free(b);
}

static void bad_key_lengths_are_refused(void **state)
{
    (void)state;
    unsigned char *key = long_key(SHMC_MAX_KEY_LEN + 1, 5);
    struct shmc__key k;
    assert_int_equal(shmc__key_make(&k, key, 0, &plain_keying),
                     SHMC_EKEYLEN);
    assert_int_equal(shmc__key_make(&k, NULL, 5, &plain_keying),
                     SHMC_EKEYLEN);
    assert_int_equal(shmc__key_make(&k, key, SHMC_MAX_KEY_LEN + 1,
                                    &plain_keying),
                     SHMC_EKEYLEN);
    char limit[16];
    snprintf(limit, sizeof limit, "%u", SHMC_MAX_KEY_LEN);
    assert_non_null(strstr(shmc_last_error(), limit));
    free(key);
}

/* ---- through the public API ------------------------------------------ */

static void assert_value(shmc_cache *c, const void *key, size_t klen,
                         const void *want, size_t want_len)
{
    void *got = NULL;
    size_t len = 0;
    tu_assert_rc(shmc_get_alloc(c, key, klen, &got, &len, NULL, 0), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    shmc_free(got);
}

/* The record in the hashed table under digest, read with the store API
 * rather than the code under test. Returns 0 or SHMC_ENOTFOUND; on 0 the
 * record's full key is compared with want_key. */
static int hashed_record_key_is(shmc_cache *c,
                                const unsigned char digest[SHMC__DIGEST_LEN],
                                const void *want_key, size_t want_len)
{
    struct shmc__txn t;
    struct shmc__bytes v;
    struct shmc__record r;
    tu_assert_rc(shmc__read_begin(tu_instance(c)->store, &t), 0);
    int rc = shmc__get(&t, SHMC__T_HASHED, digest, SHMC__DIGEST_LEN, &v);
    int same = 0;
    if (rc == 0) {
        rc = shmc__record_decode(v.data, v.len, &r);
        same = rc == 0 && r.key_len == want_len &&
               memcmp(r.key, want_key, want_len) == 0;
    }
    shmc__read_end(&t);
    if (rc == 0 && !same)
        fail_msg("the record under the digest carries another key");
    return rc;
}

static void long_keys_round_trip(void **state)
{
    struct tu_cache *f = *state;
    static const size_t lens[] = {SHMC__MAX_DIRECT_KEY + 1, 600, 4096,
                                  SHMC_MAX_KEY_LEN};
    for (unsigned i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char *key = long_key(lens[i], 10 + i);
        char val[32];
        int vlen = snprintf(val, sizeof val, "value of key %u", i);
        tu_assert_rc(shmc_set(f->c, key, lens[i], val, (size_t)vlen, 0), 0);
        assert_value(f->c, key, lens[i], val, (size_t)vlen);

        unsigned char digest[SHMC__DIGEST_LEN];
        sha256(key, lens[i], digest);
        assert_int_equal(hashed_record_key_is(f->c, digest, key, lens[i]), 0);

        tu_assert_rc(shmc_del(f->c, key, lens[i]), 0);
        size_t len = 0;
        tu_assert_rc(shmc_get(f->c, key, lens[i], NULL, &len, NULL, 0),
                     SHMC_ENOTFOUND);
        free(key);
    }
}

static void long_keys_with_a_shared_prefix_stay_apart(void **state)
{
    struct tu_cache *f = *state;
    const size_t len = 601;
    unsigned char *a = long_key(len, 20);
    unsigned char *b = long_key(len, 20);
    b[len - 1] ^= 0x80;
    tu_assert_rc(shmc_set(f->c, a, len, "A", 1, 0), 0);
    tu_assert_rc(shmc_set(f->c, b, len, "BB", 2, 0), 0);
    assert_value(f->c, a, len, "A", 1);
    assert_value(f->c, b, len, "BB", 2);
    tu_assert_rc(shmc_del(f->c, a, len), 0);
    size_t vlen = 0;
    tu_assert_rc(shmc_get(f->c, a, len, NULL, &vlen, NULL, 0),
                 SHMC_ENOTFOUND);
    assert_value(f->c, b, len, "BB", 2);
    free(a);
    free(b);
}

/* A short key whose bytes equal a long key's digest is a different key. */
static void short_key_equal_to_a_digest_is_another_key(void **state)
{
    struct tu_cache *f = *state;
    const size_t len = 700;
    unsigned char *long_k = long_key(len, 30);
    unsigned char digest[SHMC__DIGEST_LEN];
    sha256(long_k, len, digest);
    tu_assert_rc(shmc_set(f->c, digest, sizeof digest, "short", 5, 0), 0);
    size_t vlen = 0;
    tu_assert_rc(shmc_get(f->c, long_k, len, NULL, &vlen, NULL, 0),
                 SHMC_ENOTFOUND);
    tu_assert_rc(shmc_set(f->c, long_k, len, "long", 4, 0), 0);
    assert_value(f->c, digest, sizeof digest, "short", 5);
    assert_value(f->c, long_k, len, "long", 4);
    free(long_k);
}

/* Write, under the digest of stored_under, a live record that carries
 * carried as its full key: what a SHA-256 collision would leave. */
static void plant_collision(shmc_cache *c, const void *stored_under,
                            size_t stored_len, const void *carried,
                            size_t carried_len, const void *val,
                            size_t vlen)
{
    unsigned char digest[SHMC__DIGEST_LEN];
    sha256(stored_under, stored_len, digest);
    struct shmc__record r = {
        .fresh_until = UINT64_MAX,
        .expires_at = UINT64_MAX,
        .version = shmc__control_next_version(&tu_instance(c)->ctl,
                                              shmc_now_ms()),
        .key = carried,
        .key_len = (uint16_t)carried_len,
        .value = val,
        .value_len = vlen,
    };
    struct shmc__txn t;
    void *dst;
    tu_assert_rc(shmc__write_begin(tu_instance(c)->store, &t), 0);
    int rc = shmc__put(&t, SHMC__T_HASHED, digest, sizeof digest,
                       shmc__record_size(&r), &dst);
    if (rc) {
        shmc__write_abort(&t);
        tu_assert_rc(rc, 0);
    }
    shmc__record_encode(dst, &r);
    tu_assert_rc(shmc__write_commit(&t), 0);
}

static int view_must_not_run(const void *val, size_t len,
                             const shmc_meta *meta, void *arg)
{
    (void)val;
    (void)len;
    (void)meta;
    *(int *)arg = 1;
    return 0;
}

static void assert_collision_is_a_miss(shmc_cache *c, const void *key,
                                       size_t klen, const void *carried,
                                       size_t carried_len)
{
    char buf[64];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, key, klen, buf, &len, NULL, SHMC_GET_STALE),
                 SHMC_ENOTFOUND);
    void *alloc = NULL;
    tu_assert_rc(shmc_get_alloc(c, key, klen, &alloc, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    assert_null(alloc);
    int viewed = 0;
    tu_assert_rc(shmc_get_view(c, key, klen, 0, view_must_not_run, &viewed),
                 SHMC_ENOTFOUND);
    assert_false(viewed);

    /* Deleting key must leave the other key's record alone. */
    tu_assert_rc(shmc_del(c, key, klen), SHMC_ENOTFOUND);
    unsigned char digest[SHMC__DIGEST_LEN];
    sha256(key, klen, digest);
    assert_int_equal(hashed_record_key_is(c, digest, carried, carried_len),
                     0);
}

static void collision_with_same_length_key_is_a_miss(void **state)
{
    struct tu_cache *f = *state;
    const size_t len = 800;
    unsigned char *a = long_key(len, 40);
    unsigned char *b = long_key(len, 40);
    b[len - 1] ^= 1;
    static const char val[] = "value of the other key";
    plant_collision(f->c, a, len, b, len, val, sizeof val);
    assert_collision_is_a_miss(f->c, a, len, b, len);
    free(a);
    free(b);
}

/* The carried key is a prefix of the one looked up, and the value starts
 * with the missing last byte, so the record's bytes read on past the key
 * spell the looked-up key: only the lengths tell them apart. */
static void collision_with_prefix_key_is_a_miss(void **state)
{
    struct tu_cache *f = *state;
    const size_t len = 800;
    unsigned char *a = long_key(len, 50);
    plant_collision(f->c, a, len, a, len - 1, a + len - 1, 1);
    assert_collision_is_a_miss(f->c, a, len, a, len - 1);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_keys_are_stored_as_themselves),
        cmocka_unit_test(long_keys_are_stored_as_their_sha256),
        cmocka_unit_test(limit_follows_max_direct),
        cmocka_unit_test(different_long_keys_get_different_digests),
        cmocka_unit_test(bad_key_lengths_are_refused),
        tu_test_with_cache(long_keys_round_trip),
        tu_test_with_cache(long_keys_with_a_shared_prefix_stay_apart),
        tu_test_with_cache(short_key_equal_to_a_digest_is_another_key),
        tu_test_with_cache(collision_with_same_length_key_is_a_miss),
        tu_test_with_cache(collision_with_prefix_key_is_a_miss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
