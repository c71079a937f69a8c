/* test_stats.c - the shared counters (stats.h, kept in control.shm) and
 * shmc_info_get: exact counts after known sequences of calls, summed over
 * processes, kept across close and reopen and across shmc_clear. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"

#define STATS_CHILDREN 6
#define SHARD_THREADS 4
#define CHILD_TIMEOUT_S 25
/* A TTL long past by the time the test reads, and a stale window no run
 * outlasts. */
#define SHORT_TTL_MS 20u
#define PAST_SHORT_TTL_MS 150u
#define LONG_STALE_MS 600000u

static void expect_stats(shmc_cache *c, shmc_stats want)
{
    shmc_stats got = tu_stats(c);
    if (memcmp(&got, &want, sizeof got) != 0)
        fail_msg("stats: hits %llu/%llu, stale_hits %llu/%llu, misses "
                 "%llu/%llu, expired %llu/%llu, sets %llu/%llu, deletes "
                 "%llu/%llu (got/want)",
                 (unsigned long long)got.hits, (unsigned long long)want.hits,
                 (unsigned long long)got.stale_hits,
                 (unsigned long long)want.stale_hits,
                 (unsigned long long)got.misses,
                 (unsigned long long)want.misses,
                 (unsigned long long)got.expired,
                 (unsigned long long)want.expired,
                 (unsigned long long)got.sets, (unsigned long long)want.sets,
                 (unsigned long long)got.deletes,
                 (unsigned long long)want.deletes);
}

static void put(shmc_cache *c, const char *key)
{
    tu_set(c, key, key);
}

static void put_ex(shmc_cache *c, const char *key, uint64_t ttl_ms,
                   uint64_t stale_ms)
{
    shmc_set_opts o = {.ttl_ms = ttl_ms, .stale_ms = stale_ms};
    tu_assert_rc(shmc_set_ex(c, key, strlen(key), "v", 1, &o, NULL), 0);
}

static int get(shmc_cache *c, const char *key, unsigned flags)
{
    char buf[64];
    size_t len = sizeof buf;
    return shmc_get(c, key, strlen(key), buf, &len, NULL, flags);
}

static int count_view(const void *val, size_t len, const shmc_meta *meta,
                      void *arg)
{
    (void)val;
    (void)len;
    (void)meta;
    ++*(int *)arg;
    return 0;
}

static void test_new_instance_counts_nothing(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    expect_stats(c, (shmc_stats){0});
    shmc_close(c);
}

static void test_hits_and_misses(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put(c, "a");
    put(c, "b");
    put(c, "c");
    tu_assert_rc(get(c, "a", 0), 0);
    tu_assert_rc(get(c, "b", 0), 0);
    tu_assert_rc(get(c, "b", SHMC_GET_STALE), 0);
    void *val = NULL;
    size_t len;
    tu_assert_rc(shmc_get_alloc(c, "c", 1, &val, &len, NULL, 0), 0);
    shmc_free(val);
    int viewed = 0;
    tu_assert_rc(shmc_get_view(c, "a", 1, 0, count_view, &viewed), 0);
    assert_int_equal(viewed, 1);
    tu_assert_rc(get(c, "x", 0), SHMC_ENOTFOUND);
    tu_assert_rc(get(c, "y", SHMC_GET_STALE), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_get_alloc(c, "z", 1, &val, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    tu_assert_rc(shmc_get_view(c, "z", 1, 0, count_view, &viewed),
                 SHMC_ENOTFOUND);
    expect_stats(c, (shmc_stats){.hits = 5, .misses = 4, .sets = 3});
    shmc_close(c);
}

static void test_stale_hits(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put_ex(c, "s", SHORT_TTL_MS, LONG_STALE_MS);
    tu_sleep_ms(PAST_SHORT_TTL_MS);
    tu_assert_rc(get(c, "s", SHMC_GET_STALE), SHMC_STALE);
    void *val = NULL;
    size_t len;
    tu_assert_rc(shmc_get_alloc(c, "s", 1, &val, &len, NULL, SHMC_GET_STALE),
                 SHMC_STALE);
    shmc_free(val);
    /* Stale data asked for by nobody is a miss, but it has not expired. */
    tu_assert_rc(get(c, "s", 0), SHMC_ENOTFOUND);
    expect_stats(c, (shmc_stats){.stale_hits = 2, .misses = 1, .sets = 1});
    shmc_close(c);
}

static void test_expired_reads_are_misses_and_expired(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put_ex(c, "no-window", SHORT_TTL_MS, 0);
    put_ex(c, "past-window", SHORT_TTL_MS, SHORT_TTL_MS);
    tu_sleep_ms(PAST_SHORT_TTL_MS);
    tu_assert_rc(get(c, "no-window", 0), SHMC_ENOTFOUND);
    tu_assert_rc(get(c, "no-window", SHMC_GET_STALE), SHMC_ENOTFOUND);
    tu_assert_rc(get(c, "past-window", 0), SHMC_ENOTFOUND);
    tu_assert_rc(get(c, "past-window", SHMC_GET_STALE), SHMC_ENOTFOUND);
    /* Removing an expired record deletes nothing live. */
    tu_assert_rc(shmc_del(c, "no-window", 9), SHMC_ENOTFOUND);
    expect_stats(c, (shmc_stats){.misses = 4, .expired = 4, .sets = 2});
    shmc_close(c);
}

static void test_sets_count_entries_stored(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    shmc_item items[7];
    char keys[7][8];
    for (int i = 0; i < 7; i++) {
        snprintf(keys[i], sizeof keys[i], "m%d", i);
        items[i] = (shmc_item){keys[i], strlen(keys[i]), "v", 1};
    }
    tu_assert_rc(shmc_mset(c, items, 7, NULL), 0);
    put(c, "one");
    tu_assert_rc(shmc_set_at(c, "two", 3, "v", 1, shmc_now_ms() + 600000),
                 0);
    tu_assert_rc(shmc_add(c, "three", 5, "v", 1, 0), 0);
    /* Calls that store nothing count nothing. */
    tu_assert_rc(shmc_add(c, "one", 3, "v", 1, 0), SHMC_EEXIST);
    uint64_t version;
    tu_assert_rc(shmc_set_ex(c, "four", 4, "v", 1, NULL, &version), 0);
    shmc_set_opts stale_version = {.if_version = version + 1000};
    tu_assert_rc(shmc_set_ex(c, "four", 4, "v", 1, &stale_version, NULL),
                 SHMC_ECONFLICT);
    shmc_set_opts add = {.flags = SHMC_SET_ADD};
    tu_assert_rc(shmc_mset(c, items, 7, &add), SHMC_EINVAL);
    expect_stats(c, (shmc_stats){.sets = 11});
    shmc_close(c);
}

static void put_many(shmc_cache *c, const char *prefix, int n)
{
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%d", prefix, i);
        put(c, key);
    }
}

static void test_deletes_count_live_entries_only(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put_many(c, "d:", 5);
    put_many(c, "p:", 10);
    put_many(c, "q:", 3);
    tu_assert_rc(shmc_del(c, "d:0", 3), 0);
    tu_assert_rc(shmc_del(c, "d:1", 3), 0);
    tu_assert_rc(shmc_del(c, "d:1", 3), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_del(c, "never", 5), SHMC_ENOTFOUND);
    expect_stats(c, (shmc_stats){.sets = 18, .deletes = 2});

    shmc_item items[] = {
        {"d:2", 3, NULL, 0}, {"d:3", 3, NULL, 0},
        {"d:0", 3, NULL, 0}, {"never", 5, NULL, 0}};
    size_t deleted = 0;
    tu_assert_rc(shmc_mdel(c, items, 4, &deleted), 0);
    assert_int_equal(deleted, 2);
    expect_stats(c, (shmc_stats){.sets = 18, .deletes = 4});

    tu_assert_rc(shmc_del_prefix(c, "p:", 2, &deleted), 0);
    assert_int_equal(deleted, 10);
    tu_assert_rc(shmc_del_prefix(c, "p:", 2, &deleted), 0);
    assert_int_equal(deleted, 0);
    expect_stats(c, (shmc_stats){.sets = 18, .deletes = 14});
    shmc_close(c);
}

/* What worker i (a child process or a thread) does: distinct counts per
 * worker, so that one counted twice or not at all shows in the sum. */
struct worker_calls {
    unsigned sets, hits, misses;
};

static struct worker_calls calls_of(int i, unsigned scale)
{
    unsigned n = (unsigned)i + 1;
    return (struct worker_calls){n * scale, 2 * n * scale, (n + 2) * scale};
}

static shmc_stats stats_of_workers(int workers, unsigned scale)
{
    shmc_stats sum = {0};
    for (int i = 0; i < workers; i++) {
        struct worker_calls calls = calls_of(i, scale);
        sum.sets += calls.sets;
        sum.hits += calls.hits;
        sum.misses += calls.misses;
    }
    return sum;
}

static int worker_call_failed(int i, const char *what, int rc)
{
    fprintf(stderr, "worker %d: %s: %s: %s\n", i, what, shmc_err_name(rc),
            shmc_last_error());
    return 1;
}

/* Worker i's calls: 0, or 1 after saying on stderr what went wrong (no
 * cmocka assert: it would unwind into a child's copy of the runner). */
static int make_calls(shmc_cache *c, int i, unsigned scale)
{
    struct worker_calls want = calls_of(i, scale);
    char key[32], buf[32];
    int rc;
    for (unsigned j = 0; j < want.sets; j++) {
        int klen = snprintf(key, sizeof key, "worker%d:%u", i, j);
        if ((rc = shmc_set(c, key, (size_t)klen, "v", 1, 0)) != 0)
            return worker_call_failed(i, "set", rc);
    }
    for (unsigned j = 0; j < want.hits; j++) {
        int klen = snprintf(key, sizeof key, "worker%d:%u", i, j % want.sets);
        size_t len = sizeof buf;
        rc = shmc_get(c, key, (size_t)klen, buf, &len, NULL, 0);
        if (rc != 0)
            return worker_call_failed(i, "get of a key it set", rc);
    }
    for (unsigned j = 0; j < want.misses; j++) {
        int klen = snprintf(key, sizeof key, "absent%d:%u", i, j);
        size_t len = sizeof buf;
        rc = shmc_get(c, key, (size_t)klen, buf, &len, NULL, 0);
        if (rc != SHMC_ENOTFOUND)
            return worker_call_failed(i, "get of an absent key", rc);
    }
    return 0;
}

/* A reader descheduled inside its read pins the pages the writers free
 * meanwhile, so with many workers on few cores the map needs room far
 * beyond the data (14 MB was seen for 1.5 MB of entries). */
static shmc_cache *open_roomy(void **state)
{
    const shmc_opts roomy = {.map_size = 64u << 20};
    return tu_open(*state, &roomy);
}

struct counting_run {
    shmc_cache *c;
    unsigned scale;
};

/* Uses the handle the parent opened before fork, as a pre-fork worker
 * does. */
static int counting_child(void *arg, int i)
{
    const struct counting_run *run = arg;
    return make_calls(run->c, i, run->scale);
}

static void test_counters_sum_across_processes(void **state)
{
    struct counting_run run = {open_roomy(state), tu_scaled(100)};
    tu_run_children(STATS_CHILDREN, counting_child, &run, CHILD_TIMEOUT_S);
    expect_stats(run.c, stats_of_workers(STATS_CHILDREN, run.scale));
    shmc_close(run.c);
}

struct counting_thread {
    pthread_t id;
    const struct counting_run *run;
    pthread_barrier_t *start;
    int index;
    int failed;
};

static void *counting_thread(void *arg)
{
    struct counting_thread *t = arg;
    pthread_barrier_wait(t->start);
    t->failed = make_calls(t->run->c, t->index, t->run->scale);
    return NULL;
}

/* Threads of one process add into its one shard at the same moment, as
 * processes whose pids pick the same shard do: no add may be lost. */
static void test_shared_shard_loses_no_count(void **state)
{
    struct counting_run run = {open_roomy(state), tu_scaled(1000)};
    struct counting_thread threads[SHARD_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, SHARD_THREADS), 0);
    for (int i = 0; i < SHARD_THREADS; i++) {
        threads[i] = (struct counting_thread){
            .run = &run, .start = &start, .index = i};
        tu_start_thread(&threads[i].id, counting_thread, &threads[i]);
    }
    int failed = 0;
    for (int i = 0; i < SHARD_THREADS; i++) {
        tu_join_thread(threads[i].id);
        failed += threads[i].failed;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(failed, 0);
    expect_stats(run.c, stats_of_workers(SHARD_THREADS, run.scale));
    shmc_close(run.c);
}

static void test_counters_survive_reopen(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put(c, "a");
    put(c, "b");
    tu_assert_rc(get(c, "a", 0), 0);
    tu_assert_rc(get(c, "x", 0), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_del(c, "b", 1), 0);
    const shmc_stats before = {
        .hits = 1, .misses = 1, .sets = 2, .deletes = 1};
    expect_stats(c, before);
    /* The last handle in the process: the instance is unmapped. */
    shmc_close(c);
    c = tu_open(*state, NULL);
    expect_stats(c, before);
    shmc_close(c);
}

static void test_clear_keeps_counters(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    put_many(c, "k", 4);
    tu_assert_rc(get(c, "k0", 0), 0);
    tu_assert_rc(shmc_del(c, "k1", 2), 0);
    tu_assert_rc(shmc_clear(c), 0);
    expect_stats(c, (shmc_stats){.hits = 1, .sets = 4, .deletes = 1});
    tu_assert_rc(get(c, "k0", 0), SHMC_ENOTFOUND);
    expect_stats(c, (shmc_stats){
                        .hits = 1, .misses = 1, .sets = 4, .deletes = 1});
    shmc_close(c);
}

static void test_info_reports_map_and_entries(void **state)
{
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const shmc_opts opts = {.map_size = (8u << 20) + 1, .max_readers = 200};
    shmc_cache *c = tu_open(*state, &opts);
    shmc_info info = tu_info(c);
    assert_int_equal(info.layout_version, SHMC__LAYOUT_VERSION);
    assert_int_equal(info.map_size, (8u << 20) + page);
    assert_int_equal(info.max_readers, 200);
    assert_int_equal(info.entries, 0);
    const uint64_t used_empty = info.map_used;
    assert_true(used_empty > 0 && used_empty <= info.map_size);

    /* Each value needs a page of its own at least. */
    enum { BIG_VALUES = 256, BIG_VALUE = 4000 };
    char *value = calloc(1, BIG_VALUE);
    assert_non_null(value);
    char key[32];
    for (int i = 0; i < BIG_VALUES; i++) {
        int klen = snprintf(key, sizeof key, "big%d", i);
        tu_assert_rc(shmc_set(c, key, (size_t)klen, value, BIG_VALUE, 0), 0);
    }
    free(value);
    info = tu_info(c);
    assert_int_equal(info.entries, BIG_VALUES);
    assert_true(info.map_used >= used_empty + BIG_VALUES * BIG_VALUE);
    assert_true(info.map_used <= info.map_size);

    /* An expired record is still stored until something removes it. */
    put_ex(c, "expired", 1, 0);
    tu_sleep_ms(PAST_SHORT_TTL_MS);
    tu_assert_rc(get(c, "expired", 0), SHMC_ENOTFOUND);
    assert_int_equal(tu_info(c).entries, BIG_VALUES + 1);
    tu_assert_rc(shmc_del(c, "big0", 4), 0);
    assert_int_equal(tu_info(c).entries, BIG_VALUES);
    info = tu_info(c);
    assert_true(info.readers_used >= 1 &&
                info.readers_used <= info.max_readers);
    shmc_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_in_dir(test_new_instance_counts_nothing),
        tu_test_in_dir(test_hits_and_misses),
        tu_test_in_dir(test_stale_hits),
        tu_test_in_dir(test_expired_reads_are_misses_and_expired),
        tu_test_in_dir(test_sets_count_entries_stored),
        tu_test_in_dir(test_deletes_count_live_entries_only),
        tu_test_in_dir(test_counters_sum_across_processes),
        tu_test_in_dir(test_shared_shard_loses_no_count),
        tu_test_in_dir(test_counters_survive_reopen),
        tu_test_in_dir(test_clear_keeps_counters),
        tu_test_in_dir(test_info_reports_map_and_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
