/* test_record.c - lib/record.c: the bytes of one entry, read back exactly,
 * and every malformed record refused without reading past its end. Also
 * the versions records carry (lib/control.c hands them out): a version is
 * part of the record's meaning, being both the entry's ETag and its write
 * time, so its promises are tested here with the record's. */
#include "testutil.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "instance.h"
#include "record.h"

#define TIME_BITS_MAX SHMC__TIME_NEVER48 /* 2^48 - 1 */

static const char full_key[] = "a key long enough to be kept in full";
static const char value[] = "the value bytes";

static struct shmc__record sample(const void *key, uint16_t key_len,
                                  const void *val, size_t value_len)
{
    return (struct shmc__record){
        .flags = 0,
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

/* Byte by byte rather than through the byte-order functions record.c uses,
 * so that a mistake shared by both cannot hide. */
static void put_le(unsigned char *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void assert_le(const unsigned char *p, uint64_t want, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        if (p[i] != (unsigned char)(want >> (8 * i)))
            fail_msg("byte %u of a %u-byte field is %#x, want %#x", i, bytes,
                     p[i], (unsigned)(unsigned char)(want >> (8 * i)));
}

static void assert_same_record(const struct shmc__record *got,
                               const struct shmc__record *want)
{
    assert_int_equal(got->flags, want->flags);
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

/* key_len is 16 bits: the longest key a user may give must fit it. */
static void round_trip_of_longest_key(void **state)
{
    (void)state;
    unsigned char *key = malloc(SHMC_MAX_KEY_LEN);
    assert_non_null(key);
    for (size_t i = 0; i < SHMC_MAX_KEY_LEN; i++)
        key[i] = (unsigned char)(i * 7u + 3u);
    struct shmc__record r =
        sample(key, (uint16_t)SHMC_MAX_KEY_LEN, value, sizeof value);
    assert_int_equal(r.key_len, SHMC_MAX_KEY_LEN);
    assert_round_trip(&r);
    free(key);
}

static void round_trip_of_extreme_times(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    r.fresh_until = UINT64_MAX;
    r.expires_at = UINT64_MAX;
    r.version = UINT64_MAX;
    assert_round_trip(&r);
    r.fresh_until = 0;
    r.expires_at = 0;
    r.version = 0;
    assert_round_trip(&r);
}

/* The time fields hold 48 bits; all ones means "never" and every time it
 * cannot hold is stored as never, never as a wrapped-around early time. */
static uint64_t time_read_back(uint64_t t)
{
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    r.fresh_until = t;
    r.expires_at = t;
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_int_equal(got.fresh_until, got.expires_at);
    free(buf);
    return got.fresh_until;
}

static void times_are_kept_to_48_bits(void **state)
{
    (void)state;
    assert_int_equal(TIME_BITS_MAX, (1ull << 48) - 1);
    assert_int_equal(time_read_back(TIME_BITS_MAX - 1), TIME_BITS_MAX - 1);
    assert_int_equal(time_read_back(1ull << 47), 1ull << 47);
    static const uint64_t never[] = {
        TIME_BITS_MAX,     1ull << 48,        (1ull << 48) + 1,
        1ull << 63,        UINT64_MAX - 1,    UINT64_MAX,
        0x0001000000000001ull, /* low 48 bits: 1, a wrap would be early */
    };
    for (unsigned i = 0; i < sizeof never / sizeof never[0]; i++)
        if (time_read_back(never[i]) != UINT64_MAX)
            fail_msg("time %#llx did not come back as never",
                     (unsigned long long)never[i]);
}

/* Clamping to never keeps the order of the two times, so a valid pair
 * stays valid when only the later one is out of range. */
static void only_the_later_time_out_of_range(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    r.fresh_until = TIME_BITS_MAX - 1;
    r.expires_at = TIME_BITS_MAX;
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_int_equal(got.fresh_until, TIME_BITS_MAX - 1);
    assert_int_equal(got.expires_at, UINT64_MAX);
    free(buf);
}

/* Records are shared between processes built at different times: the bytes
 * must follow the layout in record.h, little-endian, with nothing between
 * the header, the key and the value. */
static void encoding_follows_the_documented_layout(void **state)
{
    (void)state;
    /* Over 255 bytes, so that both bytes of key_len are seen. */
    unsigned char key[300];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i ^ 0x5a);
    struct shmc__record r = sample(key, sizeof key, value, sizeof value);
    /* Every byte of every time field differs from its neighbours. */
    r.fresh_until = 0x0000a1a2a3a4a5a6u;
    r.expires_at = 0x0000b1b2b3b4b5b6u;
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    assert_int_equal(SHMC__RECORD_HEADER, 24);
    assert_int_equal(len, 24 + sizeof key + sizeof value);
    assert_int_equal(buf[0], SHMC__RECORD_FORMAT);
    assert_int_equal(buf[1], r.flags);
    assert_le(buf + 2, sizeof key, 2);
    assert_le(buf + 4, r.version, 8);
    assert_le(buf + 12, r.fresh_until, 6);
    assert_le(buf + 18, r.expires_at, 6);
    assert_memory_equal(buf + 24, key, sizeof key);
    assert_memory_equal(buf + 24 + sizeof key, value, sizeof value);
    free(buf);
}

static void never_is_all_ones_in_the_layout(void **state)
{
    (void)state;
    struct shmc__record r = sample(NULL, 0, value, sizeof value);
    r.fresh_until = 1700000060123u;
    r.expires_at = UINT64_MAX;
    size_t len;
    unsigned char *buf = encode_exact(&r, &len);
    assert_le(buf + 12, r.fresh_until, 6);
    assert_le(buf + 18, TIME_BITS_MAX, 6);
    assert_le(buf + 4, r.version, 8);
    assert_memory_equal(buf + 24, value, sizeof value);
    free(buf);
}

static void assert_rejected(const unsigned char *bytes, size_t len)
{
    unsigned char *buf = copy_exact(bytes, len);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), SHMC_ECORRUPT);
    free(buf);
}

/* The value's length is not stored but is what follows the key, so a
 * record cut after its key is, by the format's nature, a valid record with
 * a shorter value: only a cut into the header or the key can be told. The
 * store must therefore hand decode exactly the bytes that were written
 * (LMDB does). */
static void truncation(const struct shmc__record *r)
{
    size_t len;
    unsigned char *valid = encode_exact(r, &len);
    const size_t key_end = SHMC__RECORD_HEADER + r->key_len;
    for (size_t cut = 0; cut < key_end; cut++)
        assert_rejected(valid, cut);
    for (size_t cut = key_end; cut < len; cut++) {
        unsigned char *buf = copy_exact(valid, cut);
        struct shmc__record got, want = *r;
        want.value_len = cut - key_end;
        assert_int_equal(shmc__record_decode(buf, cut, &got), 0);
        assert_same_record(&got, &want);
        assert_ptr_equal(got.value, buf + key_end);
        free(buf);
    }
    free(valid);
}

static void truncation_into_header_or_key_is_rejected(void **state)
{
    (void)state;
    struct shmc__record keyed =
        sample(full_key, sizeof full_key, value, sizeof value);
    struct shmc__record plain = sample(NULL, 0, value, sizeof value);
    truncation(&keyed);
    truncation(&plain);
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

    put_le(buf + 12, 2000, 6);
    put_le(buf + 18, 1999, 6);
    assert_rejected(buf, len);
    put_le(buf + 12, TIME_BITS_MAX, 6);
    put_le(buf + 18, 0, 6);
    assert_rejected(buf, len);
    put_le(buf + 12, TIME_BITS_MAX, 6);
    put_le(buf + 18, TIME_BITS_MAX - 1, 6);
    assert_rejected(buf, len);

    /* Equal times are an entry that expires the moment it goes stale. */
    put_le(buf + 12, 2000, 6);
    put_le(buf + 18, 2000, 6);
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_int_equal(got.fresh_until, 2000);
    assert_int_equal(got.expires_at, 2000);
    put_le(buf + 12, TIME_BITS_MAX, 6);
    put_le(buf + 18, TIME_BITS_MAX, 6);
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_int_equal(got.fresh_until, UINT64_MAX);
    assert_int_equal(got.expires_at, UINT64_MAX);
    free(buf);
}

/* Every key_len that reaches past the end, up to the largest 16 bits hold,
 * against a record with a value and one that is a bare header. */
static void assert_every_overlong_key_rejected(const struct shmc__record *r)
{
    size_t len;
    unsigned char *buf = encode_exact(r, &len);
    struct shmc__record got;
    for (uint32_t k = (uint32_t)(len - SHMC__RECORD_HEADER) + 1;
         k <= UINT16_MAX; k++) {
        put_le(buf + 2, k, 2);
        int rc = shmc__record_decode(buf, len, &got);
        if (rc != SHMC_ECORRUPT)
            fail_msg("key_len %u in a record of %zu bytes: decode gave %d",
                     k, len, rc);
    }
    free(buf);
}

static void key_longer_than_the_record_is_rejected(void **state)
{
    (void)state;
    struct shmc__record keyed =
        sample(full_key, sizeof full_key, value, sizeof value);
    struct shmc__record bare = sample(NULL, 0, NULL, 0);
    assert_every_overlong_key_rejected(&keyed);
    assert_every_overlong_key_rejected(&bare);

    /* A key_len reaching exactly to the end leaves an empty value. */
    size_t len;
    unsigned char *buf = encode_exact(&keyed, &len);
    put_le(buf + 2, len - SHMC__RECORD_HEADER, 2);
    struct shmc__record got;
    assert_int_equal(shmc__record_decode(buf, len, &got), 0);
    assert_int_equal(got.key_len, len - SHMC__RECORD_HEADER);
    assert_int_equal(got.value_len, 0);
    assert_ptr_equal(got.value, buf + len);
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
    /* Stored "never" reads back as never, even past the 48-bit range. */
    assert_int_equal(freshness_at(time_read_back(UINT64_MAX),
                                  time_read_back(UINT64_MAX), TIME_BITS_MAX),
                     SHMC__FRESH);
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

/* A random time: half of them inside the 48-bit range, so that both kept
 * times and "never" are made. */
static uint64_t random_time(uint64_t *s)
{
    uint64_t t = next_random(s);
    return next_random(s) % 2 ? t & TIME_BITS_MAX : t;
}

/* A valid record of random shape with a few random bytes flipped: most
 * flips land in the payload and must still decode consistently, some in
 * the header and are refused. */
static size_t make_damaged(uint64_t *s, unsigned char *p)
{
    unsigned char payload[RANDOM_MAX_LEN - SHMC__RECORD_HEADER];
    size_t total = (size_t)(next_random(s) % (sizeof payload + 1));
    uint16_t key_len = (uint16_t)(next_random(s) % (total + 1));
    fill_random(s, payload, total);
    uint64_t t1 = random_time(s), t2 = random_time(s);
    struct shmc__record r = {
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

static int is_48_bit_or_never(uint64_t t)
{
    return t < TIME_BITS_MAX || t == UINT64_MAX;
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
    if (val != buf + SHMC__RECORD_HEADER + r->key_len || val > end ||
        r->value_len > (size_t)(end - val))
        return 0;
    return (r->flags & ~SHMC__REC_KNOWN_FLAGS) == 0 &&
           r->fresh_until <= r->expires_at &&
           is_48_bit_or_never(r->fresh_until) &&
           is_48_bit_or_never(r->expires_at);
}

static void random_bytes_never_decode_inconsistently(void **state)
{
    (void)state;
    unsigned rounds = tu_scaled(200000);
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
                fail_msg("round %u: decode accepted %zu bytes as flags "
                         "%#x key_len %u value_len %zu fresh_until %llu "
                         "expires_at %llu", i, len, r.flags, r.key_len,
                         r.value_len, (unsigned long long)r.fresh_until,
                         (unsigned long long)r.expires_at);
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

/* ---- versions (shmc__control_next_version) --------------------------- */

/* Calls at one now_ms, more than the 65536 a millisecond's counter holds,
 * so the versions run on past the millisecond; returns the last. */
#define CALLS_IN_ONE_MS 100000u

static uint64_t assert_increasing_at(struct shmc__control *ctl,
                                     uint64_t now_ms, uint64_t prev)
{
    for (unsigned i = 0; i < CALLS_IN_ONE_MS; i++) {
        uint64_t v = shmc__control_next_version(ctl, now_ms);
        if (v <= prev)
            fail_msg("call %u at %llu ms: version %#llx after %#llx", i,
                     (unsigned long long)now_ms, (unsigned long long)v,
                     (unsigned long long)prev);
        prev = v;
    }
    return prev;
}

static void versions_increase_and_tell_the_write_time(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const uint64_t start = shmc_now_ms();
    assert_true(shmc__version_time(atomic_load(&ctl->hdr->last_version)) <
                start);

    uint64_t v = shmc__control_next_version(ctl, start);
    assert_int_equal(shmc__version_time(v), start);
    uint64_t last = assert_increasing_at(ctl, start, v);
    /* Documented: past 65536 writes in a millisecond, versions run ahead. */
    assert_true(shmc__version_time(last) > start);

    const uint64_t later = shmc__version_time(last) + 1;
    v = shmc__control_next_version(ctl, later);
    assert_true(v > last);
    assert_int_equal(shmc__version_time(v), later);

    /* A clock stepped back must not make a version repeat or go back. */
    uint64_t back = shmc__control_next_version(ctl, start - 60000);
    assert_true(back > v);
    uint64_t zero = shmc__control_next_version(ctl, 0);
    assert_true(zero > back);
    assert_increasing_at(ctl, start - 60000, zero);
}

/* ---- versions from many processes at once ---------------------------- */

#define VERSION_CHILDREN 4

struct version_run {
    shmc_cache *c;
    uint64_t floor; /* the parent's last version before the fork */
    unsigned per_child;
    uint64_t *versions; /* shared: per_child for each child */
    _Atomic int *reopened; /* shared: children past their reopen */
};

static int child_takes_versions(void *arg, int index)
{
    struct version_run *run = arg;
    struct shmc__instance *inst = NULL;
    int rc = shmc__instance_get(run->c, &inst);
    if (rc) {
        fprintf(stderr, "child %d: reopening: %s\n", index,
                shmc_err_name(rc));
        return 1;
    }
    /* Reopening takes far longer than the loop: without this, children
     * would take their versions one after the other, not at once. */
    atomic_fetch_add(run->reopened, 1);
    while (atomic_load(run->reopened) < VERSION_CHILDREN)
        sched_yield();
    uint64_t *mine = run->versions + (size_t)index * run->per_child;
    uint64_t prev = run->floor;
    int failed = 0;
    for (unsigned i = 0; i < run->per_child && !failed; i++) {
        mine[i] = shmc__control_next_version(&inst->ctl, shmc_now_ms());
        if (mine[i] <= prev) {
            fprintf(stderr, "child %d: version %#llx after %#llx\n", index,
                    (unsigned long long)mine[i], (unsigned long long)prev);
            failed = 1;
        }
        prev = mine[i];
    }
    shmc_close(run->c);
    return failed;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Versions live in control.shm so that every worker's writes get distinct
 * ones: concurrent writers in different processes never share one. */
static void versions_are_unique_across_processes(void **state)
{
    struct tu_cache *f = *state;
    struct version_run run = {
        .c = f->c,
        .floor = shmc__control_next_version(&tu_instance(f->c)->ctl,
                                            shmc_now_ms()),
        .per_child = tu_scaled(20000),
    };
    const size_t n = (size_t)VERSION_CHILDREN * run.per_child;
    run.versions = tu_shared(n * sizeof *run.versions);
    run.reopened = tu_shared(sizeof *run.reopened);
    atomic_store(run.reopened, 0);
    tu_run_children(VERSION_CHILDREN, child_takes_versions, &run, 20);

    qsort(run.versions, n, sizeof *run.versions, compare_u64);
    assert_true(run.versions[0] > run.floor);
    for (size_t i = 1; i < n; i++)
        if (run.versions[i] == run.versions[i - 1])
            fail_msg("version %#llx handed out twice",
                     (unsigned long long)run.versions[i]);
    /* And the parent's next one is above all of the children's. */
    assert_true(shmc__control_next_version(&tu_instance(f->c)->ctl, 0) >
                run.versions[n - 1]);
    tu_unshare(run.versions, n * sizeof *run.versions);
    tu_unshare(run.reopened, sizeof *run.reopened);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_without_key),
        cmocka_unit_test(round_trip_with_full_key),
        cmocka_unit_test(round_trip_of_empty_value),
        cmocka_unit_test(round_trip_of_longest_key),
        cmocka_unit_test(round_trip_of_extreme_times),
        cmocka_unit_test(times_are_kept_to_48_bits),
        cmocka_unit_test(only_the_later_time_out_of_range),
        cmocka_unit_test(encoding_follows_the_documented_layout),
        cmocka_unit_test(never_is_all_ones_in_the_layout),
        cmocka_unit_test(truncation_into_header_or_key_is_rejected),
        cmocka_unit_test(wrong_format_is_rejected),
        cmocka_unit_test(unknown_flags_are_rejected),
        cmocka_unit_test(fresh_after_expiry_is_rejected),
        cmocka_unit_test(key_longer_than_the_record_is_rejected),
        cmocka_unit_test(freshness_boundaries),
        cmocka_unit_test(max_time_never_passes),
        cmocka_unit_test(random_bytes_never_decode_inconsistently),
        tu_test_with_cache(versions_increase_and_tell_the_write_time),
        tu_test_with_cache(versions_are_unique_across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
