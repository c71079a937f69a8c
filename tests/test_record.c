/* test_record.c - lib/record.c: the bytes of one entry, read back exactly,
 * and every malformed record refused without reading past its end. */
#include "testutil.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static const char full_key[] = "a key long enough to be kept in full";
static const char value[] = "the value bytes";

static struct shmc__record sample(const void *key, uint32_t key_len,
                                  const void *val, uint32_t value_len)
{
    return (struct shmc__record){
        .flags = 0,
        .stored_at = 1700000000123u,
        .fresh_until = 1700000060123u,
        .expires_at = 1700000090123u,
        .version = 0x0102030405060708u,
        .key = key,
        .key_len = key_len,
        .value = val,
        .value_len = value_len,
    };
}

/* An encoded record in a heap block of exactly its size, so that a read
 * past the end is caught by ASan and valgrind. */
static unsigned char *encode_exact(const struct shmc__record *r, size_t *len)
{
    *len = shmc__record_size(r);
    unsigned char *p = malloc(*len);
    assert_non_null(p);
    shmc__record_encode(p, r);
    return p;
}

static unsigned char *copy_exact(const unsigned char *src, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, src, len);
    return p;
}

static void put32_le(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof v);
}

static void put64_le(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof v);
}

static uint64_t get64_le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

static uint32_t get32_le(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

static void assert_same_record(const struct shmc__record *got,
                               const struct shmc__record *want)
{
    assert_int_equal(got->flags, want->flags);
    assert_int_equal(got->stored_at, want->stored_at);
    assert_int_equal(got->fresh_until, want->fresh_until);
    assert_int_equal(got->expires_at, want->expires_at);
    assert_int_equal(got->version, want->version);
    assert_int_equal(got->key_len, want->key_len);
    assert_int_equal(got->value_len, want->value_len);
    if (want->key_len)
        assert_memory_equal(got->key, want->key, want->key_len);
    else
        assert_null(got->key);
    if (want->value_len)
        assert_memory_equal(got->value, want->value, want->value_len);
}

static void assert_round_trip(const struct shmc__record *r)
{
    size_t len;
    unsigned char *buf = encode_exact(r, &len);
    assert_int_equal(len, SHMC__RECORD_HEADER + r->key_len + r->value_len);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_same_record(&got, r);
    /* Decoded key and value are views into the buffer, not copies. */
    if (r->key_len)
        assert_ptr_equal(got.key, buf + SHMC__RECORD_HEADER);
    assert_ptr_equal(got.value, buf + SHMC__RECORD_HEADER + r->key_len);
    free(buf);
}

static void round_trip_without_key(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    assert_round_trip(&r);
}

static void round_trip_with_full_key(void **state)
{
    (void)state;
    struct shmc__record r =
        sample(full_key, sizeof full_key, value, sizeof value);
    assert_round_trip(&r);
}

static void round_trip_of_empty_value(void **state)
{
    (void)state;
    struct shmc__record plain = sample(NULL, 0, NULL, 0);
    struct shmc__record keyed = sample(full_key, sizeof full_key, NULL, 0);
    assert_round_trip(&plain);
    assert_round_trip(&keyed);
}

static void round_trip_of_extreme_times(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    r.stored_at = 0;
    r.fresh_until = UINT64_MAX;
    r.expires_at = UINT64_MAX;
    r.version = UINT64_MAX;
    assert_round_trip(&r);
}

/* Records are shared between processes built at different times: the bytes
 * must follow the layout in record.h, little-endian, reserved fields 0. */
static void encoding_follows_the_documented_layout(void **state)
{
    (void)state;
    struct shmc__record r =
        sample(full_key, sizeof full_key, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    assert_int_equal(buf[0], SHMC__RECORD_FORMAT);
    assert_int_equal(buf[1], r.flags);
    assert_int_equal(buf[2], 0);
    assert_int_equal(buf[3], 0);
    assert_int_equal(get32_le(buf + 4), r.key_len);
    assert_int_equal(get64_le(buf + 8), r.stored_at);
    assert_int_equal(get64_le(buf + 16), r.fresh_until);
    assert_int_equal(get64_le(buf + 24), r.expires_at);
    assert_int_equal(get64_le(buf + 32), r.version);
    assert_int_equal(get32_le(buf + 40), r.value_len);
    assert_int_equal(get32_le(buf + 44), 0);
    assert_memory_equal(buf + 48, full_key, sizeof full_key);
    assert_memory_equal(buf + 48 + sizeof full_key, value, sizeof value);
    free(buf);
}

static void assert_rejected(const unsigned char *bytes, size_t len)
{
    unsigned char *buf = copy_exact(bytes, len);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), SHMC_ECORRUPT);
    free(buf);
}

static void every_truncation_is_rejected(void **state)
{
    (void)state;
    struct shmc__record r =
        sample(full_key, sizeof full_key, value, sizeof value);
    size_t len;
    unsigned char *valid = encode_exact(&r, &len);
    for (size_t cut = 0; cut < len; cut++)
        assert_rejected(valid, cut);
    free(valid);
}

static void wrong_format_is_rejected(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    for (unsigned format = 0; format <= 0xff; format++) {
        if (format == SHMC__RECORD_FORMAT)
            continue;
        buf[0] = (unsigned char)format;
        assert_rejected(buf, len);
    }
    free(buf);
}

static void unknown_flags_are_rejected(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    for (unsigned bit = 1; bit <= 0x80; bit <<= 1) {
        if (bit & SHMC__REC_KNOWN_FLAGS)
            continue;
        buf[1] = (unsigned char)bit;
        assert_rejected(buf, len);
    }
    free(buf);
}

static void fresh_after_expiry_is_rejected(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    struct shmc__record got;

    put64_le(buf + 16, 2000);
    put64_le(buf + 24, 1999);
    assert_rejected(buf, len);
    put64_le(buf + 16, UINT64_MAX);
    put64_le(buf + 24, 0);
    assert_rejected(buf, len);

    /* Equal times are an entry that expires the moment it goes stale. */
    put64_le(buf + 16, 2000);
    put64_le(buf + 24, 2000);
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    free(buf);
}

static void assert_lengths_rejected(unsigned char *buf, size_t len,
                                    uint32_t key_len, uint32_t value_len)
{
    put32_le(buf + 4, key_len);
    put32_le(buf + 40, value_len);
    assert_rejected(buf, len);
}

static void lengths_that_disagree_are_rejected(void **state)
{
    (void)state;
    struct shmc__record r =
        sample(full_key, sizeof full_key, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    const uint32_t k = r.key_len, v = r.value_len;
    const uint32_t payload = (uint32_t)(len - SHMC__RECORD_HEADER);

    assert_lengths_rejected(buf, len, k + 1, v);
    assert_lengths_rejected(buf, len, k - 1, v);
    assert_lengths_rejected(buf, len, k, v + 1);
    assert_lengths_rejected(buf, len, k, v - 1);
    assert_lengths_rejected(buf, len, 0, 0);
    assert_lengths_rejected(buf, len, UINT32_MAX, v);
    assert_lengths_rejected(buf, len, k, UINT32_MAX);
    assert_lengths_rejected(buf, len, UINT32_MAX, UINT32_MAX);
    /* Pairs whose 32-bit sum wraps around to exactly the payload length: a
     * decoder adding in 32 bits would accept them and point far outside. */
    assert_lengths_rejected(buf, len, UINT32_MAX, payload + 1);
    assert_lengths_rejected(buf, len, payload + 1, UINT32_MAX);
    assert_lengths_rejected(buf, len, 0x80000000u, 0x80000000u + payload);
    assert_lengths_rejected(buf, len, UINT32_MAX - 4, payload + 5);
    free(buf);
}

static void restamp_changes_only_times_and_version(void **state)
{
    (void)state;
    struct shmc__record r =
        sample(full_key, sizeof full_key, value, sizeof value);
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    unsigned char *before = copy_exact(buf, len);

    /* Everything but the times and version differs in the stamp, and must
     * not leak into the record. */
    struct shmc__record stamp = {
        .flags = 0xff,
        .stored_at = 11,
        .fresh_until = 22,
        .expires_at = 33,
        .version = 44,
        .key = value,
        .key_len = 1,
        .value = full_key,
        .value_len = 2,
    };
    shmc__record_restamp(buf, &stamp);
    assert_memory_equal(buf, before, 8);
    assert_memory_equal(buf + 40, before + 40, len - 40);

    struct shmc__record got, want = r;
    want.stored_at = 11;
    want.fresh_until = 22;
    want.expires_at = 33;
    want.version = 44;
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_same_record(&got, &want);
    free(before);
    free(buf);
}

static enum shmc__freshness freshness_at(uint64_t fresh_until,
                                         uint64_t expires_at, uint64_t now)
{
    struct shmc__record r = sample(NULL, 0, NULL, 0);
    r.fresh_until = fresh_until;
    r.expires_at = expires_at;
    return shmc__record_freshness(&r, now);
}

static void freshness_boundaries(void **state)
{
    (void)state;
    assert_int_equal(freshness_at(1000, 2000, 0), SHMC__FRESH);
    assert_int_equal(freshness_at(1000, 2000, 999), SHMC__FRESH);
    assert_int_equal(freshness_at(1000, 2000, 1000), SHMC__STALE);
    assert_int_equal(freshness_at(1000, 2000, 1999), SHMC__STALE);
    assert_int_equal(freshness_at(1000, 2000, 2000), SHMC__EXPIRED);
    assert_int_equal(freshness_at(1000, 2000, UINT64_MAX - 1),
                     SHMC__EXPIRED);
    /* No stale window: straight from fresh to expired. */
    assert_int_equal(freshness_at(1000, 1000, 999), SHMC__FRESH);
    assert_int_equal(freshness_at(1000, 1000, 1000), SHMC__EXPIRED);
}

static void max_time_never_passes(void **state)
{
    (void)state;
    const uint64_t now = shmc_now_ms();
    assert_int_equal(freshness_at(UINT64_MAX, UINT64_MAX, now), SHMC__FRESH);
    assert_int_equal(freshness_at(UINT64_MAX, UINT64_MAX, UINT64_MAX - 1),
                     SHMC__FRESH);
    assert_int_equal(freshness_at(1000, UINT64_MAX, now), SHMC__STALE);
    assert_int_equal(freshness_at(1000, UINT64_MAX, UINT64_MAX - 1),
                     SHMC__STALE);
}

/* ---- robustness: random and damaged records -------------------------- */

#define RANDOM_MAX_LEN 200u

/* splitmix64: a fixed seed makes a failure reproducible. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fill_random(uint64_t *s, unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)next_random(s);
}

/* A valid record of random shape with a few random bytes flipped: most
 * flips land in the header and are refused, some in the payload and must
 * still decode consistently. */
static size_t make_damaged(uint64_t *s, unsigned char *p)
{
    unsigned char payload[RANDOM_MAX_LEN - SHMC__RECORD_HEADER];
    uint32_t total = (uint32_t)(next_random(s) % (sizeof payload + 1));
    uint32_t key_len = (uint32_t)(next_random(s) % (total + 1));
    fill_random(s, payload, total);
    uint64_t t1 = next_random(s), t2 = next_random(s);
    struct shmc__record r = {
        .stored_at = next_random(s),
        .fresh_until = t1 < t2 ? t1 : t2,
        .expires_at = t1 < t2 ? t2 : t1,
        .version = next_random(s),
        .key = key_len ? payload : NULL,
        .key_len = key_len,
        .value = payload + key_len,
        .value_len = total - key_len,
    };
    size_t len = shmc__record_size(&r);
    shmc__record_encode(p, &r);
    unsigned flips = (unsigned)(next_random(s) % 4);
    for (unsigned i = 0; i < flips; i++)
        p[next_random(s) % len] ^= (unsigned char)(1u << (next_random(s) % 8));
    return len;
}

/* What a successful decode promises, whatever the bytes were. */
static int consistent(const unsigned char *buf, size_t len,
                      const struct shmc__record *r)
{
    const unsigned char *end = buf + len;
    const unsigned char *key = r->key, *val = r->value;
    if (len < SHMC__RECORD_HEADER ||
        (size_t)r->key_len + r->value_len != len - SHMC__RECORD_HEADER)
        return 0;
    if (r->key_len ? key != buf + SHMC__RECORD_HEADER : key != NULL)
        return 0;
    if (val != buf + SHMC__RECORD_HEADER + r->key_len || val > end)
        return 0;
    return (r->flags & ~SHMC__REC_KNOWN_FLAGS) == 0 &&
           r->fresh_until <= r->expires_at;
}

static void random_bytes_never_decode_inconsistently(void **state)
{
    (void)state;
    unsigned rounds = getenv("SHMC_TEST_UNDER_VALGRIND") ? 20000 : 200000;
    uint64_t seed = 0x5eed5eed1234abcdu;
    unsigned accepted = 0, rejected = 0;
    for (unsigned i = 0; i < rounds; i++) {
        unsigned char scratch[RANDOM_MAX_LEN];
        size_t len;
        if (next_random(&seed) % 2) {
            len = make_damaged(&seed, scratch);
        } else {
            len = (size_t)(next_random(&seed) % (RANDOM_MAX_LEN + 1));
            fill_random(&seed, scratch, len);
        }
        unsigned char *buf = copy_exact(scratch, len);
        struct shmc__record r;
        int rc = shmc__record_decode(buf, len, &r);
        if (rc == 0) {
            if (!consistent(buf, len, &r))
                fail_msg("round %u: decode accepted %zu bytes but gave "
                         "key_len %u value_len %u", i, len, r.key_len,
                         r.value_len);
            accepted++;
        } else {
            assert_int_equal(rc, SHMC_ECORRUPT);
            rejected++;
        }
        free(buf);
    }
    /* Both outcomes must have been exercised, or the loop proved nothing. */
    assert_true(accepted > rounds / 20);
    assert_true(rejected > rounds / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_without_key),
        cmocka_unit_test(round_trip_with_full_key),
        cmocka_unit_test(round_trip_of_empty_value),
        cmocka_unit_test(round_trip_of_extreme_times),
        cmocka_unit_test(encoding_follows_the_documented_layout),
        cmocka_unit_test(every_truncation_is_rejected),
        cmocka_unit_test(wrong_format_is_rejected),
        cmocka_unit_test(unknown_flags_are_rejected),
        cmocka_unit_test(fresh_after_expiry_is_rejected),
        cmocka_unit_test(lengths_that_disagree_are_rejected),
        cmocka_unit_test(restamp_changes_only_times_and_version),
        cmocka_unit_test(freshness_boundaries),
        cmocka_unit_test(max_time_never_passes),
        cmocka_unit_test(random_bytes_never_decode_inconsistently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
