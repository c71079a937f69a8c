/* test_ops.c - the read and write calls (lib/read.c, lib/write.c): every
 * outcome each call documents, caused for real. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_get_copies_into_buffer(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    char buf[8];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_set(c, "k", 1, "value", 5, 0), 0);
    tu_assert_rc(shmc_get(c, "k", 1, buf, &len, NULL, 0), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "value", 5);

    /* Too small: nothing copied, the size needed reported. */
    char small[3] = {'x', 'x', 'x'};
    len = sizeof small;
    tu_assert_rc(shmc_get(c, "k", 1, small, &len, NULL, 0), SHMC_EBUFSMALL);
    assert_int_equal(len, 5);
    assert_memory_equal(small, "xxx", 3);

    /* A zero-capacity probe with no buffer asks for the size. */
    len = 0;
    tu_assert_rc(shmc_get(c, "k", 1, NULL, &len, NULL, 0), SHMC_EBUFSMALL);
    assert_int_equal(len, 5);
}

static void test_get_alloc_and_free(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    void *val = (void *)1;
    size_t len = 0;
    tu_assert_rc(shmc_set(c, "text", 4, "hello", 5, 0), 0);
    tu_assert_rc(shmc_get_alloc(c, "text", 4, &val, &len, NULL, 0), 0);
    assert_int_equal(len, 5);
    assert_string_equal(val, "hello"); /* NUL-terminated beyond len */
    shmc_free(val);

    tu_assert_rc(shmc_get_alloc(c, "none", 4, &val, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    assert_null(val);

    /* An empty value is a value, not a miss. */
    tu_assert_rc(shmc_set(c, "empty", 5, NULL, 0, 0), 0);
    tu_assert_rc(shmc_get_alloc(c, "empty", 5, &val, &len, NULL, 0), 0);
    assert_int_equal(len, 0);
    assert_string_equal(val, "");
    shmc_free(val);
}

struct seen {
    char bytes[64];
    size_t len;
    uint64_t version;
    int calls;
};

static int remember(const void *val, size_t len, const shmc_meta *meta,
                    void *arg)
{
    struct seen *s = arg;
    s->calls++;
    s->len = len;
    memcpy(s->bytes, val, len < sizeof s->bytes ? len : sizeof s->bytes);
    s->version = meta->version;
    return 7;
}

static void test_get_view_zero_copy(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct seen s = {0};
    uint64_t version;
    shmc_set_opts o = {0};
    tu_assert_rc(shmc_set_ex(c, "v", 1, "abc", 3, &o, &version), 0);
    /* The callback's result is the call's result. */
    tu_assert_rc(shmc_get_view(c, "v", 1, 0, remember, &s), 7);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.bytes, "abc", 3);
    assert_int_equal(s.version, version);

    tu_assert_rc(shmc_get_view(c, "missing", 7, 0, remember, &s),
                 SHMC_ENOTFOUND);
    assert_int_equal(s.calls, 1);
    tu_assert_rc(shmc_get_view(c, "v", 1, 0, NULL, NULL), SHMC_EINVAL);
}

static void test_meta_and_versions(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_meta m1, m2;
    char buf[16];
    size_t len = sizeof buf;
    uint64_t before = shmc_now_ms();
    tu_assert_rc(shmc_set(c, "m", 1, "one", 3, 60000), 0);
    tu_assert_rc(shmc_get(c, "m", 1, buf, &len, &m1, 0), 0);
    assert_true(m1.stored_at_ms >= before);
    assert_true(m1.stored_at_ms <= shmc_now_ms());
    assert_int_equal(m1.fresh_until_ms, m1.stored_at_ms + 60000);
    assert_int_equal(m1.expires_at_ms, m1.fresh_until_ms);
    assert_int_equal(m1.value_len, 3);

    /* Every write changes the version, even of the same bytes. */
    tu_assert_rc(shmc_set(c, "m", 1, "one", 3, 60000), 0);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, "m", 1, buf, &len, &m2, 0), 0);
    assert_true(m2.version != m1.version);

    /* No TTL: never stale, never expires. */
    tu_assert_rc(shmc_set(c, "forever", 7, "x", 1, 0), 0);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, "forever", 7, buf, &len, &m1, 0), 0);
    assert_int_equal(m1.fresh_until_ms, UINT64_MAX);
    assert_int_equal(m1.expires_at_ms, UINT64_MAX);
}

static void test_ttl_expires(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_assert_rc(shmc_set(c, "short", 5, "v", 1, 50), 0);
    tu_assert_value(c, "short", "v");
    tu_sleep_ms(80);
    tu_assert_value(c, "short", NULL);
    /* Expired data is never returned, not even to a caller asking for
     * stale data. */
    char buf[4];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, "short", 5, buf, &len, NULL, SHMC_GET_STALE),
                 SHMC_ENOTFOUND);
}

static void test_stale_window(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_set_opts o = {.ttl_ms = 40, .stale_ms = 400};
    char buf[8];
    size_t len = sizeof buf;
    shmc_meta m;
    tu_assert_rc(shmc_set_ex(c, "s", 1, "old", 3, &o, NULL), 0);
    tu_assert_rc(shmc_get(c, "s", 1, buf, &len, &m, SHMC_GET_STALE), 0);
    assert_int_equal(m.expires_at_ms, m.fresh_until_ms + 400);
    tu_sleep_ms(70);
    /* Stale: a miss for ordinary readers, SHMC_STALE for those who ask. */
    tu_assert_value(c, "s", NULL);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, "s", 1, buf, &len, NULL, SHMC_GET_STALE),
                 SHMC_STALE);
    assert_memory_equal(buf, "old", 3);
    struct seen s = {0};
    tu_assert_rc(shmc_get_view(c, "s", 1, 0, remember, &s), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_get_view(c, "s", 1, SHMC_GET_STALE, remember, &s), 7);
    tu_assert_rc(shmc_get(c, "s", 1, buf, &len, NULL, 0x80), SHMC_EINVAL);
}

static void test_absolute_expiry(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    uint64_t at = shmc_now_ms() + 60;
    shmc_meta m;
    char buf[4];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_set_at(c, "eod", 3, "v", 1, at), 0);
    tu_assert_rc(shmc_get(c, "eod", 3, buf, &len, &m, 0), 0);
    assert_int_equal(m.fresh_until_ms, at);
    assert_int_equal(m.expires_at_ms, at);
    tu_sleep_ms(90);
    tu_assert_value(c, "eod", NULL);
    /* A time in the past stores an entry no reader will see. */
    tu_assert_rc(shmc_set_at(c, "past", 4, "v", 1, shmc_now_ms() - 1000), 0);
    tu_assert_value(c, "past", NULL);
}

static void test_add_only_if_absent(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_assert_rc(shmc_add(c, "a", 1, "first", 5, 0), 0);
    tu_assert_rc(shmc_add(c, "a", 1, "second", 6, 0), SHMC_EEXIST);
    tu_assert_value(c, "a", "first");
    /* An expired entry is absent: add takes its place. */
    tu_assert_rc(shmc_set(c, "b", 1, "old", 3, 20), 0);
    tu_sleep_ms(40);
    tu_assert_rc(shmc_add(c, "b", 1, "new", 3, 0), 0);
    tu_assert_value(c, "b", "new");
    /* A stale entry is still live: add refuses. */
    shmc_set_opts o = {.ttl_ms = 20, .stale_ms = 10000};
    tu_assert_rc(shmc_set_ex(c, "st", 2, "stale", 5, &o, NULL), 0);
    tu_sleep_ms(40);
    tu_assert_rc(shmc_add(c, "st", 2, "x", 1, 0), SHMC_EEXIST);
}

static void test_compare_and_set(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    uint64_t v1, v2;
    tu_assert_rc(shmc_set_ex(c, "cas", 3, "1", 1, NULL, &v1), 0);
    shmc_set_opts o = {.if_version = v1};
    tu_assert_rc(shmc_set_ex(c, "cas", 3, "2", 1, &o, &v2), 0);
    assert_true(v2 != v1);
    /* v1 is no longer current: the second writer with it loses. */
    tu_assert_rc(shmc_set_ex(c, "cas", 3, "3", 1, &o, NULL), SHMC_ECONFLICT);
    tu_assert_value(c, "cas", "2");
    /* Absent key: any expected version conflicts. */
    tu_assert_rc(shmc_set_ex(c, "nokey", 5, "x", 1, &o, NULL),
                 SHMC_ECONFLICT);
    tu_assert_value(c, "nokey", NULL);
}

static void test_touch(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_meta before, after;
    char buf[8];
    size_t len = sizeof buf;
    shmc_set_opts o = {.ttl_ms = 60, .stale_ms = 500};
    tu_assert_rc(shmc_set_ex(c, "t", 1, "keep", 4, &o, NULL), 0);
    tu_assert_rc(shmc_get(c, "t", 1, buf, &len, &before, 0), 0);
    tu_assert_rc(shmc_touch(c, "t", 1, 60000), 0);
    tu_sleep_ms(90);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, "t", 1, buf, &len, &after, 0), 0);
    assert_memory_equal(buf, "keep", 4);
    assert_true(after.version != before.version);
    /* The stale window is kept. */
    assert_int_equal(after.expires_at_ms - after.fresh_until_ms, 500);
    tu_assert_rc(shmc_touch(c, "absent", 6, 10), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_set(c, "gone", 4, "v", 1, 10), 0);
    tu_sleep_ms(30);
    tu_assert_rc(shmc_touch(c, "gone", 4, 60000), SHMC_ENOTFOUND);
    tu_assert_value(c, "gone", NULL);
}

static void test_del(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_assert_rc(shmc_set(c, "d", 1, "v", 1, 0), 0);
    tu_assert_rc(shmc_del(c, "d", 1), 0);
    tu_assert_value(c, "d", NULL);
    tu_assert_rc(shmc_del(c, "d", 1), SHMC_ENOTFOUND);
    /* An expired entry: nothing live went, but the record is removed. */
    tu_assert_rc(shmc_set(c, "e", 1, "v", 1, 10), 0);
    tu_sleep_ms(30);
    uint64_t entries_before = tu_info(c).entries;
    tu_assert_rc(shmc_del(c, "e", 1), SHMC_ENOTFOUND);
    assert_int_equal(tu_info(c).entries, entries_before - 1);
}

static void test_mset_mdel(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_item items[3] = {
        {"m1", 2, "one", 3},
        {"m2", 2, "two", 3},
        {"m3", 2, "three", 5},
    };
    tu_assert_rc(shmc_mset(c, items, 3, NULL), 0);
    tu_assert_value(c, "m1", "one");
    tu_assert_value(c, "m3", "three");

    /* One bad key: nothing of the batch is stored. */
    shmc_item bad[2] = {{"ok", 2, "x", 1}, {"", 0, "y", 1}};
    tu_assert_rc(shmc_mset(c, bad, 2, NULL), SHMC_EKEYLEN);
    tu_assert_value(c, "ok", NULL);
    shmc_set_opts add = {.flags = SHMC_SET_ADD};
    tu_assert_rc(shmc_mset(c, items, 3, &add), SHMC_EINVAL);

    size_t deleted = 99;
    shmc_item dels[3] = {{"m1", 2, NULL, 0}, {"m3", 2, NULL, 0},
                         {"none", 4, NULL, 0}};
    tu_assert_rc(shmc_mdel(c, dels, 3, &deleted), 0);
    assert_int_equal(deleted, 2);
    tu_assert_value(c, "m1", NULL);
    tu_assert_value(c, "m2", "two");
    tu_assert_value(c, "m3", NULL);
}

static void test_del_prefix(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    char key[700];
    /* More than one batch of user:42 keys, neighbours on both sides. */
    for (int i = 0; i < 2500; i++) {
        int n = snprintf(key, sizeof key, "user:42:%05d", i);
        tu_assert_rc(shmc_set(c, key, (size_t)n, "v", 1, 0), 0);
    }
    tu_assert_rc(shmc_set(c, "user:41:x", 9, "v", 1, 0), 0);
    tu_assert_rc(shmc_set(c, "user:43:x", 9, "v", 1, 0), 0);
    tu_assert_rc(shmc_set(c, "user:42", 7, "exact", 5, 0), 0);
    /* Long keys live under their digest, out of order: found all the same. */
    memset(key, 'z', sizeof key);
    memcpy(key, "user:42:", 8);
    tu_assert_rc(shmc_set(c, key, sizeof key, "long", 4, 0), 0);
    memcpy(key, "user:43:", 8);
    tu_assert_rc(shmc_set(c, key, sizeof key, "long", 4, 0), 0);
    /* An expired match is removed but not counted. */
    tu_assert_rc(shmc_set(c, "user:42:old", 11, "v", 1, 10), 0);
    tu_sleep_ms(30);

    size_t deleted = 0;
    tu_assert_rc(shmc_del_prefix(c, "user:42", 7, &deleted), 0);
    assert_int_equal(deleted, 2500 + 1 + 1);
    tu_assert_value(c, "user:42:00000", NULL);
    tu_assert_value(c, "user:42:02499", NULL);
    tu_assert_value(c, "user:42", NULL);
    tu_assert_value(c, "user:41:x", "v");
    tu_assert_value(c, "user:43:x", "v");
    char buf[8];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, key, sizeof key, buf, &len, NULL, 0), 0);
    memcpy(key, "user:42:", 8);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, key, sizeof key, buf, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    assert_int_equal(tu_info(c).entries, 3);

    tu_assert_rc(shmc_del_prefix(c, "nothing", 7, &deleted), 0);
    assert_int_equal(deleted, 0);
    tu_assert_rc(shmc_del_prefix(c, "", 0, &deleted), SHMC_EINVAL);
}

static void test_clear(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    char longkey[600];
    memset(longkey, 'k', sizeof longkey);
    tu_assert_rc(shmc_set(c, "a", 1, "v", 1, 0), 0);
    tu_assert_rc(shmc_set(c, longkey, sizeof longkey, "v", 1, 0), 0);
    tu_assert_rc(shmc_clear(c), 0);
    tu_assert_value(c, "a", NULL);
    assert_int_equal(tu_info(c).entries, 0);
    /* The cache goes on working after a clear. */
    tu_assert_rc(shmc_set(c, "a", 1, "again", 5, 0), 0);
    tu_assert_value(c, "a", "again");
}

static void test_bad_arguments(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    char buf[4];
    size_t len = sizeof buf;
    static char huge[SHMC_MAX_KEY_LEN + 1];
    tu_assert_rc(shmc_set(c, "", 0, "v", 1, 0), SHMC_EKEYLEN);
    tu_assert_rc(shmc_set(c, NULL, 3, "v", 1, 0), SHMC_EKEYLEN);
    tu_assert_rc(shmc_set(c, huge, sizeof huge, "v", 1, 0), SHMC_EKEYLEN);
    tu_assert_rc(shmc_get(c, huge, sizeof huge, buf, &len, NULL, 0),
                 SHMC_EKEYLEN);
    tu_assert_rc(shmc_del(c, "", 0), SHMC_EKEYLEN);
    tu_assert_rc(shmc_set(c, "k", 1, NULL, 5, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_get(c, "k", 1, NULL, &len, NULL, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_get(c, "k", 1, buf, NULL, NULL, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_get(NULL, "k", 1, buf, &len, NULL, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_set(NULL, "k", 1, "v", 1, 0), SHMC_EINVAL);
    shmc_set_opts o = {.flags = 0x100};
    tu_assert_rc(shmc_set_ex(c, "k", 1, "v", 1, &o, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_stats_get(c, NULL), SHMC_EINVAL);
    /* The longest key is accepted. */
    tu_assert_rc(shmc_set(c, huge, SHMC_MAX_KEY_LEN, "v", 1, 0), 0);
}

static void test_value_too_big(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    size_t big = (size_t)tu_info(c).map_size / 2 + 1;
    char *val = calloc(1, big);
    assert_non_null(val);
    tu_assert_rc(shmc_set(c, "big", 3, val, big, 0), SHMC_ETOOBIG);
    assert_non_null(strstr(shmc_last_error(), "at most"));
    /* A value of a quarter of the map fits. */
    tu_assert_rc(shmc_set(c, "quarter", 7, val, big / 2, 0), 0);
    free(val);
}

/* A full map evicts (see test_evict); SHMC_EFULL is left for a write that
 * cannot fit however much is evicted: one transaction larger than the
 * map. What was stored before is evicted in the attempt, nothing else. */
static void test_write_larger_than_map(void **state)
{
    shmc_opts small = {.map_size = 1u << 20};
    shmc_cache *c = tu_open(*state, &small);
    enum { ITEMS = 400 };
    static char keys[ITEMS][16], val[4000];
    shmc_item items[ITEMS];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < ITEMS; i++) {
        int n = snprintf(keys[i], sizeof keys[i], "many%05d", i);
        items[i] = (shmc_item){keys[i], (size_t)n, val, sizeof val};
    }
    tu_assert_rc(shmc_set(c, "before", 6, "v", 1, 0), 0);
    tu_assert_rc(shmc_mset(c, items, ITEMS, NULL), SHMC_EFULL);
    assert_non_null(strstr(shmc_last_error(), "no room"));
    /* Nothing of the failed write is stored; smaller writes go on. */
    char buf[8];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, "many00000", 9, buf, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    tu_assert_rc(shmc_mset(c, items, 10, NULL), 0);
    len = sizeof val;
    tu_assert_rc(shmc_get(c, "many00009", 9, val, &len, NULL, 0), 0);
    assert_int_equal(len, sizeof val);
    shmc_close(c);
}

/* A big value (a quarter of the map) arriving at a map filled with
 * small ones: enough of them are evicted for it to fit. */
static void test_big_value_into_full_map(void **state)
{
    shmc_opts small = {.map_size = 1u << 20};
    shmc_cache *c = tu_open(*state, &small);
    char key[32], val[200];
    memset(val, 's', sizeof val);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof key, "small%05d", i);
        tu_assert_rc(shmc_set(c, key, (size_t)n, val, sizeof val, 0), 0);
    }
    size_t big = (size_t)tu_info(c).map_size / 4;
    char *bigval = malloc(big), *back = malloc(big);
    assert_non_null(bigval);
    assert_non_null(back);
    memset(bigval, 'B', big);
    tu_assert_rc(shmc_set(c, "big", 3, bigval, big, 0), 0);
    size_t len = big;
    tu_assert_rc(shmc_get(c, "big", 3, back, &len, NULL, 0), 0);
    assert_int_equal(len, big);
    assert_memory_equal(back, bigval, big);
    assert_true(tu_stats(c).evictions > 0);
    free(bigval);
    free(back);
    shmc_close(c);
}

/* One process, no daemon, the smallest map, values of 1.5% and 0.8% of
 * it: the pages each eviction frees come back to the next write, so no
 * set ever finds the map full for good. */
static void test_small_map_keeps_taking_writes(void **state)
{
    static const size_t sizes[] = {16000, 8000};
    for (size_t s = 0; s < 2; s++) {
        shmc_opts small = {.map_size = 1u << 20};
        shmc_cache *c = tu_open(*state, &small);
        char key[32], *val = calloc(1, sizes[s]);
        assert_non_null(val);
        for (int i = 0; i < 1000; i++) {
            int n = snprintf(key, sizeof key, "v%zu-%d", s, i);
            tu_assert_rc(shmc_set(c, key, (size_t)n, val, sizes[s], 0), 0);
        }
        assert_true(tu_info(c).entries > 0);
        free(val);
        tu_assert_rc(shmc_clear(c), 0);
        shmc_close(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_with_cache(test_get_copies_into_buffer),
        tu_test_with_cache(test_get_alloc_and_free),
        tu_test_with_cache(test_get_view_zero_copy),
        tu_test_with_cache(test_meta_and_versions),
        tu_test_with_cache(test_ttl_expires),
        tu_test_with_cache(test_stale_window),
        tu_test_with_cache(test_absolute_expiry),
        tu_test_with_cache(test_add_only_if_absent),
        tu_test_with_cache(test_compare_and_set),
        tu_test_with_cache(test_touch),
        tu_test_with_cache(test_del),
        tu_test_with_cache(test_mset_mdel),
        tu_test_with_cache(test_del_prefix),
        tu_test_with_cache(test_clear),
        tu_test_with_cache(test_bad_arguments),
        tu_test_with_cache(test_value_too_big),
        tu_test_in_dir(test_write_larger_than_map),
        tu_test_in_dir(test_big_value_into_full_map),
        tu_test_in_dir(test_small_map_keeps_taking_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
