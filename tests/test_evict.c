/* test_evict.c - expiry and eviction (lib/evict.c, and lib/write.c's
 * writers that make room), the maintenance calls (shmc_sweep, shmc_evict,
 * shmc_reader_check, shmc_scan, shmc_verify, shmc_revoke) and what
 * shmc_info says about them.
 *
 * The promises (shmcache.h, "EXPIRY AND EVICTION" and "Maintenance"): a
 * write never fails with SHMC_EFULL while something can be evicted, and
 * writers keep the map near their high watermark; eviction takes expired
 * entries first, then entries not read since the clock hand last passed
 * them, so a key that keeps being read stays; a sweep removes exactly the
 * expired entries, resuming where the last sweep of any process stopped;
 * an evicted key is never served from a per-thread copy; the reader slots
 * of killed processes are seen and freed; a scan lists the live entries of
 * a prefix; verify reports every damaged record. Processes are real
 * (fork, kill -9), and the damaged records are written with LMDB itself. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1u << 20)
#define CHILD_TIMEOUT_S 120
/* For calls that must finish their whole job in one go, however slow the
 * machine (valgrind, a busy host): the budget does not run out first,
 * unless the call goes wrong and would go on for ever. */
#define UNLIMITED_US 10000000u
/* How far above its high watermark a writer may leave the map: its own
 * record and the pages split on the way, when the clock hand's small
 * batch found every entry marked and evicted nothing. */
#define WATERMARK_SLACK_PERCENT 3
/* Long enough for a TTL of 1 ms to have passed, on any clock. */
#define EXPIRY_WAIT_MS 20
#define STALE_WINDOW_MS (3600u * 1000u)
/* A key longer than LMDB's key limit (511 bytes): stored under its
 * digest. */
#define LONG_KEY_LEN 600

static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static shmc_sweep_opts unlimited(void)
{
    return (shmc_sweep_opts){.budget_us = UNLIMITED_US};
}

static int above_percent(uint64_t used, uint64_t size, unsigned percent)
{
    return used * 100 > size * percent;
}

/* ---- values a reader checks without a table of what was written ------ */

#define VALUE_MIN 100u
#define VALUE_MAX 1000u

/* The value stored under a seed: 100 to 1000 bytes, their content the
 * seed's as well. */
static size_t made_value(uint32_t seed, char buf[VALUE_MAX])
{
    size_t len = VALUE_MIN + seed % (VALUE_MAX - VALUE_MIN + 1);
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)('a' + (seed + j * 7) % 26);
    return len;
}

static int put_made(shmc_cache *c, const char *key, uint32_t seed)
{
    char val[VALUE_MAX];
    size_t len = made_value(seed, val);
    return shmc_set(c, key, strlen(key), val, len, 0);
}

/* 0 when key holds the value of seed, SHMC_ENOTFOUND when it is not
 * there; otherwise (a wrong value, an error) says why (with the pid) on
 * stderr and returns -1. Safe in children. */
static int read_made(shmc_cache *c, const char *key, uint32_t seed)
{
    char want[VALUE_MAX], got[VALUE_MAX];
    size_t want_len = made_value(seed, want), len = sizeof got;
    int rc = shmc_get(c, key, strlen(key), got, &len, NULL, 0);
    if (rc == SHMC_ENOTFOUND ||
        (rc == 0 && len == want_len && memcmp(got, want, len) == 0))
        return rc;
    fprintf(stderr, "pid %d: get %s: %s (%zu bytes), expected %zu bytes\n",
            (int)getpid(), key, shmc_err_name(rc), rc == 0 ? len : 0,
            want_len);
    return -1;
}

/* read_made, where a miss is as wrong as anything else: 0 or 1. */
static int check_made(shmc_cache *c, const char *key, uint32_t seed)
{
    int rc = read_made(c, key, seed);
    if (rc == SHMC_ENOTFOUND)
        fprintf(stderr, "pid %d: %s is not there\n", (int)getpid(), key);
    return rc != 0;
}

/* put_batches: many entries of one value, a hundred per transaction. */
#define BATCH_VALUE_LEN 600u
#define BATCH_ITEMS 100u

/* Store keys "<prefix>-<i>", first <= i < first + n, in batches. */
static void put_batches(shmc_cache *c, const char *prefix, unsigned first,
                        unsigned n, uint64_t ttl_ms)
{
    static char keys[BATCH_ITEMS][32], val[BATCH_VALUE_LEN];
    shmc_item items[BATCH_ITEMS];
    shmc_set_opts o = {.ttl_ms = ttl_ms};
    memset(val, 'e', sizeof val);
    for (unsigned done = 0; done < n; done += BATCH_ITEMS) {
        unsigned count = n - done < BATCH_ITEMS ? n - done : BATCH_ITEMS;
        for (unsigned j = 0; j < count; j++) {
            snprintf(keys[j], sizeof keys[j], "%s-%05u", prefix,
                     first + done + j);
            items[j] = (shmc_item){keys[j], strlen(keys[j]), val, sizeof val};
        }
        tu_assert_rc(shmc_mset(c, items, count, &o), 0);
    }
}

/* ---- filling far beyond the map ----------------------------------------- */

#define FILL_MAP (2u * MIB)
#define HOT_KEYS 8u
#define WARM_KEYS 400u

/* The key of write i: a quarter of the writes go again and again to a few
 * hundred keys, the rest each to a key of its own. */
static void fill_key(char *key, size_t cap, const char *who, unsigned i,
                     uint32_t r)
{
    if (r % 4 == 0)
        snprintf(key, cap, "%swarm-%u", who, (r >> 8) % WARM_KEYS);
    else
        snprintf(key, cap, "%scold-%u", who, i);
}

static int is_cold(uint32_t r)
{
    return r % 4 != 0;
}

static void test_fill_far_beyond_capacity(void **state)
{
    shmc_opts o = {.map_size = FILL_MAP};
    shmc_cache *c = tu_open_owned(*state, NULL, &o);
    unsigned writes = tu_scaled(40000);
    char key[48], hot[16];
    for (uint32_t h = 0; h < HOT_KEYS; h++) {
        snprintf(hot, sizeof hot, "hot-%u", h);
        tu_assert_rc(put_made(c, hot, h), 0);
    }
    uint32_t rnd = 12345;
    uint64_t peak_used = 0;
    for (unsigned i = 0; i < writes; i++) {
        uint32_t r = next_random(&rnd);
        fill_key(key, sizeof key, "", i, r);
        tu_assert_rc(put_made(c, key, r), 0);
        if (check_made(c, key, r))
            fail_msg("write %u: the key just written does not read back", i);
        /* Each hot key is read every HOT_KEYS writes: far more often than
         * the clock hand comes round. */
        snprintf(hot, sizeof hot, "hot-%u", i % HOT_KEYS);
        if (check_made(c, hot, i % HOT_KEYS))
            fail_msg("write %u: a key read all along was evicted", i);
        if (i % 16 == 0 && tu_stats(c).evictions > 0) {
            shmc_info info = tu_info(c);
            if (info.map_used > peak_used)
                peak_used = info.map_used;
        }
    }
    shmc_stats s = tu_stats(c);
    assert_true(s.evictions > 0);
    assert_int_equal(s.sets, writes + HOT_KEYS);
    if (above_percent(peak_used, FILL_MAP,
                      SHMC_DEFAULT_HIGH_WATERMARK + WATERMARK_SLACK_PERCENT))
        fail_msg("%llu of %u bytes in use, above the high watermark",
                 (unsigned long long)peak_used, FILL_MAP);

    /* The cold keys of the first tenth of the run, never read again, are
     * mostly gone (the hand goes in key order, not by age: a few were
     * passed only once); the hot keys, older still, all stayed. */
    unsigned early = writes / 10, cold = 0, kept = 0;
    rnd = 12345;
    for (unsigned i = 0; i < early; i++) {
        uint32_t r = next_random(&rnd);
        if (!is_cold(r))
            continue;
        fill_key(key, sizeof key, "", i, r);
        char buf[VALUE_MAX];
        size_t len = sizeof buf;
        cold++;
        kept += shmc_get(c, key, strlen(key), buf, &len, NULL, 0) == 0;
    }
    if (kept * 4 > cold)
        fail_msg("%u of %u early cold keys are still there", kept, cold);
    tu_close_owned(c);
}

struct fill_run {
    shmc_cache *c;
    unsigned writes;
};

/* In a child: fill with keys of its own; every write must succeed and the
 * map stay near the watermark. */
static int fill_child(void *arg, int index)
{
    const struct fill_run *run = arg;
    char who[8], key[48];
    snprintf(who, sizeof who, "p%d-", index);
    uint32_t rnd = 777u + (uint32_t)index * 1000003u;
    unsigned misses = 0;
    for (unsigned i = 0; i < run->writes; i++) {
        uint32_t r = next_random(&rnd);
        fill_key(key, sizeof key, who, i, r);
        int rc = put_made(run->c, key, r);
        if (rc) {
            fprintf(stderr, "child %d: write %u of %s: %s: %s\n", index, i,
                    key, shmc_err_name(rc), shmc_last_error());
            return 1;
        }
        /* Another process may have evicted it already, but nobody may
         * have put anything else there. */
        rc = read_made(run->c, key, r);
        if (rc == -1)
            return 2;
        misses += rc == SHMC_ENOTFOUND;
        shmc_info info;
        if (i % 32 == 0 && shmc_info_get(run->c, &info) == 0 &&
            above_percent(info.map_used, info.map_size,
                          SHMC_DEFAULT_HIGH_WATERMARK +
                              WATERMARK_SLACK_PERCENT)) {
            fprintf(stderr, "child %d: %llu of %llu bytes in use\n", index,
                    (unsigned long long)info.map_used,
                    (unsigned long long)info.map_size);
            return 3;
        }
    }
    /* A miss needs the clock hand to come round twice between the write
     * and the read (or this process to be descheduled right there). */
    if (misses * 20 > run->writes) {
        fprintf(stderr, "child %d: %u of %u writes did not read back\n",
                index, misses, run->writes);
        return 4;
    }
    return 0;
}

static void test_fill_from_four_processes(void **state)
{
    shmc_opts o = {.map_size = FILL_MAP};
    struct fill_run run = {.c = tu_open_owned(*state, NULL, &o),
                           .writes = tu_scaled(10000)};
    tu_run_children(4, fill_child, &run, CHILD_TIMEOUT_S);
    shmc_stats s = tu_stats(run.c);
    assert_true(s.evictions > 0);
    assert_int_equal(s.sets, 4 * (uint64_t)run.writes);
    shmc_info info = tu_info(run.c);
    assert_false(above_percent(info.map_used, info.map_size,
                               SHMC_DEFAULT_HIGH_WATERMARK +
                                   WATERMARK_SLACK_PERCENT));
    tu_close_owned(run.c);
}

/* ---- options ------------------------------------------------------------ */

/* Map in use, in percent, once 2500 values of 900 bytes (twice what fits)
 * went through a handle of this high watermark. */
static unsigned used_percent_after_churn(const struct tu_dir *d,
                                         const char *name,
                                         unsigned high_watermark)
{
    shmc_opts o = {.map_size = MIB, .high_watermark = high_watermark};
    shmc_cache *c = tu_open_owned(d, name, &o);
    static char val[900];
    memset(val, 'w', sizeof val);
    for (unsigned i = 0; i < 2500; i++) {
        char key[32];
        snprintf(key, sizeof key, "churn-%05u", i);
        tu_assert_rc(shmc_set(c, key, strlen(key), val, sizeof val, 0), 0);
    }
    assert_true(tu_stats(c).evictions > 0);
    shmc_info info = tu_info(c);
    tu_close_owned(c);
    return (unsigned)(info.map_used * 100 / info.map_size);
}

static void test_high_watermark_respected(void **state)
{
    unsigned at50 = used_percent_after_churn(*state, "fifty", 50);
    unsigned at90 = used_percent_after_churn(*state, "ninety", 90);
    if (at50 > 50 + WATERMARK_SLACK_PERCENT || at50 < 35)
        fail_msg("high watermark 50: %u%% of the map in use", at50);
    if (at90 > 90 + WATERMARK_SLACK_PERCENT || at90 < 75)
        fail_msg("high watermark 90: %u%% of the map in use", at90);
}

static void expect_refused(const struct tu_dir *d, const shmc_opts *o,
                           const char *what)
{
    shmc_cache *c = NULL;
    struct stat st;
    int rc = shmc_open(&c, d->inst, o);
    if (rc != SHMC_EINVAL)
        fail_msg("%s: open returned %s, expected SHMC_EINVAL", what,
                 shmc_err_name(rc));
    assert_null(c);
    if (stat(d->inst, &st) == 0)
        fail_msg("%s: the refused open made %s", what, d->inst);
}

static void test_bad_options_refused(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts o = {.map_size = MIB};
    o.high_watermark = 5;
    expect_refused(d, &o, "high_watermark 5");
    o.high_watermark = 9;
    expect_refused(d, &o, "high_watermark 9");
    o.high_watermark = 100;
    expect_refused(d, &o, "high_watermark 100");
    o.high_watermark = 0;
    o.recency_slots = (1u << 26) + 1;
    expect_refused(d, &o, "recency_slots 2^26 + 1");
    o.recency_slots = 0;
    o.flags = 0x4;
    expect_refused(d, &o, "open flag 0x4");
    o.flags = 0x80000000u;
    expect_refused(d, &o, "open flag 0x80000000");

    /* The ends of the ranges are accepted. */
    o.flags = 0;
    o.high_watermark = 10;
    tu_close_owned(tu_open_owned(d, NULL, &o));
    o.high_watermark = 99;
    tu_close_owned(tu_open_owned(d, NULL, &o));
}

static void test_open_nocreate(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts nocreate = {.flags = SHMC_OPEN_NOCREATE};
    shmc_cache *c = NULL;
    struct stat st;
    char parent[300], deeper[310];

    tu_assert_rc(shmc_open(&c, d->inst, &nocreate), -ENOENT);
    assert_null(c);
    assert_int_equal(stat(d->inst, &st), -1);
    snprintf(parent, sizeof parent, "%.256s/deeper", d->root);
    snprintf(deeper, sizeof deeper, "%s/inst", parent);
    tu_assert_rc(shmc_open(&c, deeper, &nocreate), -ENOENT);
    assert_int_equal(stat(parent, &st), -1);

    /* A directory without an instance in it stays as it is. */
    assert_int_equal(mkdir(d->inst, 0700), 0);
    tu_assert_rc(shmc_open(&c, d->inst, &nocreate), -ENOENT);
    assert_int_equal(rmdir(d->inst), 0); /* still empty */

    shmc_opts make = {.map_size = MIB};
    c = tu_open_owned(d, NULL, &make);
    tu_set(c, "there", "before");
    tu_close_owned(c);
    c = tu_open_owned(d, NULL, &nocreate);
    tu_assert_value(c, "there", "before");
    assert_int_equal(tu_info(c).map_size, MIB);
    tu_close_owned(c);
}

/* ---- shmc_info ---------------------------------------------------------- */

static void test_info_fields(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts o = {.map_size = 2 * MIB, .lock_slots = 100,
                   .recency_slots = 1000};
    shmc_cache *c = tu_open_owned(d, NULL, &o);
    shmc_info info = tu_info(c);
    assert_int_equal(info.lock_slots, 128);
    assert_int_equal(info.recency_slots, 1024);
    assert_int_equal(info.page_size, (unsigned)sysconf(_SC_PAGESIZE));
    assert_int_equal(info.map_size, 2 * MIB);
    assert_int_equal(info.locks_held, 0);
    assert_int_equal(info.readers_dead, 0);

    char key[16];
    for (unsigned i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "info-%u", i);
        tu_assert_rc(put_made(c, key, i), 0);
    }
    info = tu_info(c);
    assert_int_equal(info.entries, 50);
    assert_true(info.map_used > 0);
    assert_true(info.map_touched >= info.map_used);
    assert_true(info.map_touched <= info.map_size);

    static const char *const keys[] = {"lock-one", "lock-two", "lock-three"};
    shmc_keylock locks[3];
    for (int i = 0; i < 3; i++)
        tu_assert_rc(shmc_lock(c, keys[i], strlen(keys[i]), 0, &locks[i]), 0);
    /* Three slots: otherwise the count below would mean nothing. */
    assert_true(locks[0].slot != locks[1].slot &&
                locks[0].slot != locks[2].slot &&
                locks[1].slot != locks[2].slot);
    assert_int_equal(tu_info(c).locks_held, 3);
    for (int i = 0; i < 3; i++)
        tu_assert_rc(shmc_unlock(&locks[i]), 0);
    assert_int_equal(tu_info(c).locks_held, 0);
    tu_close_owned(c);

    /* Defaults. */
    shmc_opts small = {.map_size = MIB};
    c = tu_open_owned(d, "defaults", &small);
    info = tu_info(c);
    assert_int_equal(info.lock_slots, SHMC_DEFAULT_LOCK_SLOTS);
    assert_int_equal(info.recency_slots, SHMC_DEFAULT_RECENCY_SLOTS);
    tu_close_owned(c);
}

/* ---- shmc_sweep --------------------------------------------------------- */

/* Entry i of a mixed set: expired (a TTL of 1 ms), fresh (no TTL) or stale
 * (a TTL of 1 ms and an hour's stale window), in turn, so that every kind
 * sits between the others in key order. */
enum kind { EXPIRED, FRESH, STALE, KINDS };

static enum kind kind_of(unsigned i)
{
    return (enum kind)(i % KINDS);
}

static void mixed_entry(unsigned i, char key[24], char val[24])
{
    snprintf(key, 24, "mixed-%05u", i);
    snprintf(val, 24, "value %u", i);
}

/* Store n mixed entries and wait until the 1-ms TTLs have passed. */
static void put_mixed(shmc_cache *c, unsigned n)
{
    char key[24], val[24];
    for (unsigned i = 0; i < n; i++) {
        shmc_set_opts o = {0};
        if (kind_of(i) != FRESH)
            o.ttl_ms = 1;
        if (kind_of(i) == STALE)
            o.stale_ms = STALE_WINDOW_MS;
        mixed_entry(i, key, val);
        tu_assert_rc(shmc_set_ex(c, key, strlen(key), val, strlen(val), &o,
                                 NULL),
                     0);
    }
    tu_sleep_ms(EXPIRY_WAIT_MS);
}

static unsigned expired_among(unsigned n)
{
    return (n + KINDS - 1 - EXPIRED) / KINDS;
}

/* Every fresh and stale entry of put_mixed reads as such; the expired are
 * gone. */
static void assert_mixed(shmc_cache *c, unsigned n)
{
    char key[24], val[24], buf[24];
    for (unsigned i = 0; i < n; i++) {
        size_t len = sizeof buf;
        mixed_entry(i, key, val);
        int rc = shmc_get(c, key, strlen(key), buf, &len, NULL,
                          SHMC_GET_STALE);
        int want = kind_of(i) == FRESH   ? 0
                   : kind_of(i) == STALE ? SHMC_STALE
                                         : SHMC_ENOTFOUND;
        if (rc != want || (rc >= 0 && (len != strlen(val) ||
                                       memcmp(buf, val, len) != 0)))
            fail_msg("%s: %s, expected %s", key, shmc_err_name(rc),
                     shmc_err_name(want));
    }
}

static void test_sweep_removes_exactly_the_expired(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    enum { N = 600 };
    unsigned expired = expired_among(N);
    put_mixed(c, N);
    assert_int_equal(tu_info(c).entries, N);

    shmc_sweep_opts o = unlimited();
    shmc_sweep_result res;
    uint64_t before = shmc_now_ms();
    tu_assert_rc(shmc_sweep(c, &o, &res), 0);
    uint64_t after = shmc_now_ms();
    assert_int_equal(res.visited, N);
    assert_int_equal(res.expired, expired);
    assert_int_equal(res.evicted, 0);
    assert_int_equal(res.passes, 1);
    shmc_info info = tu_info(c);
    assert_int_equal(info.entries, N - expired);
    assert_int_equal(res.map_used, info.map_used);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.expired_removed, expired);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.sweeps, 1);
    assert_int_equal(s.sweep_passes, 1);
    assert_true(s.last_sweep_ms >= before && s.last_sweep_ms <= after);
    assert_mixed(c, N);

    /* Another sweep finds nothing more to do. */
    tu_assert_rc(shmc_sweep(c, &o, &res), 0);
    assert_int_equal(res.visited, N - expired);
    assert_int_equal(res.expired, 0);
    assert_int_equal(tu_stats(c).sweeps, 2);
    assert_int_equal(tu_info(c).entries, N - expired);
    assert_mixed(c, N);
}

/* What a sweep says it left is what there is, also when its last batch
 * freed whole pages. */
static void test_sweep_reports_map_used_at_the_end(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    put_batches(c, "expired", 0, 300, 1);
    tu_sleep_ms(EXPIRY_WAIT_MS);
    uint64_t full = tu_info(c).map_used;
    shmc_sweep_opts o = unlimited();
    shmc_sweep_result res;
    tu_assert_rc(shmc_sweep(c, &o, &res), 0);
    assert_int_equal(res.expired, 300);
    assert_int_equal(tu_info(c).entries, 0);
    assert_true(res.map_used < full);
    assert_int_equal(res.map_used, tu_info(c).map_used);
}

static void test_sweep_empty_cache(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_sweep_result res;
    memset(&res, 0xff, sizeof res);
    tu_assert_rc(shmc_sweep(c, NULL, &res), 0);
    assert_int_equal(res.visited, 0);
    assert_int_equal(res.expired, 0);
    assert_int_equal(res.evicted, 0);
    assert_int_equal(res.passes, 1);
    tu_assert_rc(shmc_sweep(c, NULL, NULL), 0);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.sweeps, 2);
    assert_int_equal(s.sweep_passes, 2);
    assert_int_equal(s.expired_removed, 0);
}

/* A budget that runs out after the first batch. */
static const shmc_sweep_opts tiny = {.budget_us = 1, .batch = 8};

/* Sweep with tiny limits until the cursor goes round, over at most n
 * records; add what was done to *sum and return the number of calls. */
static unsigned sweep_until_round(shmc_cache *c, unsigned n,
                                  shmc_sweep_result *sum)
{
    unsigned calls = 0;
    shmc_sweep_result res;
    do {
        if (calls > n)
            fail_msg("%u sweeps of %u records and still not round", calls,
                     n);
        tu_assert_rc(shmc_sweep(c, &tiny, &res), 0);
        if (res.visited > tiny.batch * 2u)
            fail_msg("a sweep of a tiny budget visited %llu records",
                     (unsigned long long)res.visited);
        sum->visited += res.visited;
        sum->expired += res.expired;
        sum->passes += res.passes;
        calls++;
    } while (res.passes == 0);
    return calls;
}

static void test_sweep_resumes_across_calls(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    enum { N = 200 };
    put_mixed(c, N);
    shmc_sweep_result sum = {0};
    unsigned calls = sweep_until_round(c, N, &sum);
    /* Each record looked at once: a sweep that began again from the start
     * would look at the kept ones again (and never get round). */
    assert_true(calls >= N / (2 * tiny.batch));
    assert_int_equal(sum.visited, N);
    assert_int_equal(sum.expired, expired_among(N));
    assert_int_equal(sum.passes, 1);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.sweeps, calls);
    assert_int_equal(s.sweep_passes, 1);
    assert_int_equal(s.expired_removed, expired_among(N));
    assert_mixed(c, N);
}

struct partial_sweep {
    shmc_cache *c;
    shmc_sweep_result *res; /* shared with the parent */
};

static int sweep_once(void *arg, int index)
{
    const struct partial_sweep *p = arg;
    (void)index;
    int rc = shmc_sweep(p->c, &tiny, p->res);
    if (rc || p->res->passes || p->res->visited == 0) {
        fprintf(stderr, "child sweep: %s, %llu visited, %u passes\n",
                shmc_err_name(rc), (unsigned long long)p->res->visited,
                p->res->passes);
        return 1;
    }
    return 0;
}

static void test_sweep_resumes_across_processes(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    enum { N = 200 };
    put_mixed(c, N);
    struct partial_sweep p = {c, tu_shared(sizeof *p.res)};
    memset(p.res, 0, sizeof *p.res);
    if (tu_wait_child(tu_spawn(sweep_once, &p), CHILD_TIMEOUT_S))
        fail_msg("the child's sweep failed (why: above)");
    shmc_sweep_result sum = *p.res;
    tu_unshare(p.res, sizeof *p.res);
    unsigned calls = sweep_until_round(c, N, &sum);
    assert_int_equal(sum.visited, N);
    assert_int_equal(sum.expired, expired_among(N));
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.sweeps, calls + 1);
    assert_int_equal(s.sweep_passes, 1);
    assert_int_equal(s.expired_removed, expired_among(N));
    assert_mixed(c, N);
}

/* ---- a sweeper beside busy workers -------------------------------------- */

#define LOAD_WRITERS 4
#define LOAD_BATCH 1000u

struct load {
    shmc_cache *c;
    unsigned expired;    /* expired entries stored before the run */
    unsigned per_writer; /* fresh entries each writer stores */
    _Atomic int *writers_done;
};

static void load_fresh(int writer, unsigned i, char key[32], char val[32])
{
    snprintf(key, 32, "fresh-%d-%05u", writer, i);
    snprintf(val, 32, "value of %d/%u", writer, i);
}

static void load_expired_key(unsigned i, char key[16])
{
    snprintf(key, 16, "exp-%06u", i);
}

/* Store and read back fresh keys, reread older ones, and look at expired
 * ones. */
static int load_writer(const struct load *l, int writer)
{
    char key[32], val[32];
    uint32_t rnd = 99u + (uint32_t)writer;
    for (unsigned i = 0; i < l->per_writer; i++) {
        load_fresh(writer, i, key, val);
        int rc = shmc_set(l->c, key, strlen(key), val, strlen(val), 0);
        if (rc) {
            fprintf(stderr, "writer %d: set %s: %s\n", writer, key,
                    shmc_err_name(rc));
            return 1;
        }
        load_fresh(writer, next_random(&rnd) % (i + 1), key, val);
        if (tu_check_value(l->c, key, val))
            return 2;
        load_expired_key(next_random(&rnd) % l->expired, key);
        if (tu_check_value(l->c, key, NULL))
            return 3;
    }
    atomic_fetch_add(l->writers_done, 1);
    return 0;
}

/* Sweep until the writers are done and every expired entry is gone. */
static int load_sweeper(const struct load *l)
{
    uint64_t start = tu_now_ns();
    shmc_stats s;
    for (;;) {
        int done = atomic_load(l->writers_done) == LOAD_WRITERS;
        int rc = shmc_sweep(l->c, NULL, NULL);
        if (rc == 0)
            rc = shmc_stats_get(l->c, &s);
        if (rc) {
            fprintf(stderr, "sweeper: %s: %s\n", shmc_err_name(rc),
                    shmc_last_error());
            return 1;
        }
        if (done && s.expired_removed >= l->expired)
            return 0;
        if (tu_ms_since(start) > (CHILD_TIMEOUT_S - 10) * 1000u) {
            fprintf(stderr, "sweeper: %llu of %u removed in time\n",
                    (unsigned long long)s.expired_removed, l->expired);
            return 2;
        }
    }
}

static int load_child(void *arg, int index)
{
    const struct load *l = arg;
    return index == LOAD_WRITERS ? load_sweeper(l) : load_writer(l, index);
}

static void put_expired_many(shmc_cache *c, unsigned n)
{
    static char keys[LOAD_BATCH][16];
    shmc_item items[LOAD_BATCH];
    shmc_set_opts o = {.ttl_ms = 1};
    for (unsigned first = 0; first < n; first += LOAD_BATCH) {
        unsigned count = n - first < LOAD_BATCH ? n - first : LOAD_BATCH;
        for (unsigned j = 0; j < count; j++) {
            load_expired_key(first + j, keys[j]);
            items[j] = (shmc_item){keys[j], strlen(keys[j]), "gone soon", 9};
        }
        tu_assert_rc(shmc_mset(c, items, count, &o), 0);
    }
    tu_sleep_ms(EXPIRY_WAIT_MS);
}

static void test_sweeper_beside_workers(void **state)
{
    shmc_opts o = {.map_size = 64u * MIB};
    struct load l = {
        .c = tu_open_owned(*state, NULL, &o),
        .expired = tu_scaled(100000),
        .per_writer = tu_scaled(3000),
        .writers_done = tu_shared(sizeof *l.writers_done),
    };
    atomic_store(l.writers_done, 0);
    put_expired_many(l.c, l.expired);
    assert_int_equal(tu_info(l.c).entries, l.expired);
    tu_run_children(LOAD_WRITERS + 1, load_child, &l, CHILD_TIMEOUT_S);
    tu_unshare(l.writers_done, sizeof *l.writers_done);

    shmc_stats s = tu_stats(l.c);
    assert_int_equal(s.expired_removed, l.expired);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(tu_info(l.c).entries, LOAD_WRITERS * l.per_writer);
    char key[32], val[32];
    for (int w = 0; w < LOAD_WRITERS; w++)
        for (unsigned i = 0; i < l.per_writer; i++) {
            load_fresh(w, i, key, val);
            tu_assert_value(l.c, key, val);
        }
    tu_close_owned(l.c);
}

/* ---- shmc_evict --------------------------------------------------------- */

#define EVICT_MAP (4u * MIB)

static void test_evict_to_target(void **state)
{
    /* Writers that never evict on their own. */
    shmc_opts o = {.map_size = EVICT_MAP, .high_watermark = 99};
    shmc_cache *c = tu_open_owned(*state, NULL, &o);
    unsigned stored = 0;
    while (!above_percent(tu_info(c).map_used, EVICT_MAP, 70)) {
        put_batches(c, "live", stored, BATCH_ITEMS, 0);
        stored += BATCH_ITEMS;
    }
    assert_int_equal(tu_stats(c).evictions, 0);

    shmc_sweep_opts so = unlimited();
    shmc_sweep_result res;
    tu_assert_rc(shmc_evict(c, 40, &so, &res), 0);
    shmc_info info = tu_info(c);
    assert_false(above_percent(info.map_used, EVICT_MAP, 40));
    assert_false(above_percent(res.map_used, EVICT_MAP, 40));
    /* Not much more than needed: a batch at most. */
    assert_true(above_percent(info.map_used, EVICT_MAP, 30));
    assert_true(res.evicted > 0);
    assert_int_equal(res.expired, 0);
    assert_int_equal(info.entries, stored - res.evicted);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.evictions, res.evicted);
    assert_int_equal(s.deletes, 0);

    /* Already below: nothing to do. */
    tu_assert_rc(shmc_evict(c, 60, &so, &res), 0);
    assert_int_equal(res.evicted + res.expired, 0);
    assert_int_equal(tu_info(c).entries, info.entries);
    tu_close_owned(c);
}

static void test_evict_takes_expired_first(void **state)
{
    /* Keys that share a recency slot share their mark (shmcache.h): the
     * hand's first visit to one clears the other's as well. 1200 keys in
     * the default 2^20 slots have about one pair that do; in 2^26, these
     * have none. */
    shmc_opts o = {.map_size = EVICT_MAP, .high_watermark = 99,
                   .recency_slots = 1u << 26};
    shmc_cache *c = tu_open_owned(*state, NULL, &o);
    enum { LIVE = 1200, EXPIRED_N = 1200 };
    /* The live keys come first in key order: the clock hand meets them
     * before the expired ones. */
    put_batches(c, "a-live", 0, LIVE, 0);
    uint64_t live_used = tu_info(c).map_used;
    put_batches(c, "b-expired", 0, EXPIRED_N, 1);
    tu_sleep_ms(EXPIRY_WAIT_MS);
    shmc_info info = tu_info(c);
    unsigned target = (unsigned)(live_used * 100 / EVICT_MAP) + 4;
    if (!above_percent(info.map_used, EVICT_MAP, target + 5))
        fail_msg("%llu bytes in use, too few for the test",
                 (unsigned long long)info.map_used);

    shmc_sweep_opts so = unlimited();
    shmc_sweep_result res;
    tu_assert_rc(shmc_evict(c, target, &so, &res), 0);
    assert_int_equal(res.evicted, 0);
    assert_true(res.expired > 0);
    assert_false(above_percent(tu_info(c).map_used, EVICT_MAP, target));
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.expired_removed, res.expired);
    static char val[BATCH_VALUE_LEN];
    memset(val, 'e', sizeof val);
    for (unsigned i = 0; i < LIVE; i++) {
        char key[32], buf[BATCH_VALUE_LEN];
        size_t len = sizeof buf;
        snprintf(key, sizeof key, "a-live-%05u", i);
        tu_assert_rc(shmc_get(c, key, strlen(key), buf, &len, NULL, 0), 0);
        assert_memory_equal(buf, val, sizeof val);
    }
    tu_close_owned(c);
}

static void test_evict_arguments_and_empty(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_sweep_result res;
    tu_assert_rc(shmc_evict(c, 0, NULL, &res), SHMC_EINVAL);
    tu_assert_rc(shmc_evict(c, 100, NULL, &res), SHMC_EINVAL);
    tu_assert_rc(shmc_evict(NULL, 50, NULL, &res), SHMC_EINVAL);
    tu_assert_rc(shmc_evict(c, 1, NULL, &res), 0);
    assert_int_equal(res.evicted + res.expired, 0);
    tu_assert_rc(shmc_evict(c, 99, NULL, NULL), 0);
    tu_assert_rc(shmc_sweep(NULL, NULL, NULL), SHMC_EINVAL);
    assert_int_equal(tu_stats(c).evictions, 0);
}

/* ---- evicted keys and the per-thread read cache ------------------------- */

static int evict_everything(void *arg, int index)
{
    shmc_sweep_opts o = unlimited();
    shmc_sweep_result res;
    (void)index;
    int rc = shmc_evict(arg, 1, &o, &res);
    if (rc || res.evicted == 0) {
        fprintf(stderr, "evict: %s, %llu evicted: %s\n", shmc_err_name(rc),
                (unsigned long long)res.evicted, shmc_last_error());
        return 1;
    }
    return 0;
}

/* A key in the parent's read cache, evicted by another process with
 * `others` other keys: the parent's next read misses. */
static void evicted_not_served_from_l1(const struct tu_dir *d,
                                       unsigned others)
{
    shmc_opts o = {.map_size = MIB, .l1_entries = 64};
    shmc_cache *c = tu_open_owned(d, NULL, &o);
    for (unsigned i = 0; i < others; i++) {
        char key[24];
        snprintf(key, sizeof key, "other-%04u", i);
        tu_assert_rc(put_made(c, key, 200), 0);
    }
    tu_set(c, "hot", "hot value");
    tu_assert_value(c, "hot", "hot value");
    uint64_t l1_hits = tu_stats(c).l1_hits;
    tu_assert_value(c, "hot", "hot value");
    assert_int_equal(tu_stats(c).l1_hits, l1_hits + 1); /* it is there */

    if (tu_wait_child(tu_spawn(evict_everything, c), CHILD_TIMEOUT_S))
        fail_msg("the evicting child failed (why: above)");
    assert_int_equal(tu_stats(c).evictions, others + 1);
    tu_assert_value(c, "hot", NULL);
    assert_int_equal(tu_stats(c).l1_hits, l1_hits + 1);
    tu_close_owned(c);
}

/* Few keys: their own stamps move. */
static void test_evicted_few_not_in_l1(void **state)
{
    evicted_not_served_from_l1(*state, 4);
}

/* Many keys: the epoch moves. */
static void test_evicted_many_not_in_l1(void **state)
{
    evicted_not_served_from_l1(*state, 300);
}

/* ---- shmc_reader_check -------------------------------------------------- */

static int announce_and_sleep(const void *val, size_t len,
                              const shmc_meta *meta, void *arg)
{
    (void)val;
    (void)len;
    (void)meta;
    if (write(*(int *)arg, "r", 1) != 1)
        return -1;
    for (;;)
        pause();
}

struct held_read {
    shmc_cache *c;
    int fd; /* gets a byte once the read is under way */
};

static int hold_a_read(void *arg, int index)
{
    struct held_read *h = arg;
    (void)index;
    int rc = shmc_get_view(h->c, "held", 4, 0, announce_and_sleep, &h->fd);
    fprintf(stderr, "reader: get_view returned %s\n", shmc_err_name(rc));
    return 1;
}

static void test_reader_check_frees_dead_readers(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_set(c, "held", "pinned");
    tu_assert_value(c, "held", "pinned"); /* the parent's own slot */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    struct held_read h = {c, fds[1]};
    pid_t pid = tu_spawn(hold_a_read, &h);
    close(fds[1]);
    int got = tu_await_byte(fds[0], CHILD_TIMEOUT_S * 1000);
    close(fds[0]);
    int killed = tu_kill_child(pid);
    if (got != 1 || !killed)
        fail_msg("the reader never held its read, or outlived the kill");

    shmc_info info = tu_info(c);
    assert_true(info.readers_dead >= 1);
    unsigned used = info.readers_used;
    uint64_t reclaimed = tu_stats(c).readers_reclaimed;
    unsigned freed = 0;
    tu_assert_rc(shmc_reader_check(c, &freed), 0);
    assert_true(freed >= 1);
    info = tu_info(c);
    assert_int_equal(info.readers_dead, 0);
    assert_int_equal(info.readers_used, used - freed);
    assert_int_equal(tu_stats(c).readers_reclaimed, reclaimed + freed);

    /* Nothing more to free; the parent's reads go on. */
    tu_assert_rc(shmc_reader_check(c, &freed), 0);
    assert_int_equal(freed, 0);
    tu_assert_rc(shmc_reader_check(c, NULL), 0);
    tu_assert_value(c, "held", "pinned");
    tu_assert_rc(shmc_reader_check(NULL, &freed), SHMC_EINVAL);
}

/* ---- shmc_scan ---------------------------------------------------------- */

#define SCAN_MAX 32

struct scanned {
    unsigned n;
    size_t len[SCAN_MAX];
    char key[SCAN_MAX][LONG_KEY_LEN + 8];
    uint32_t value_len[SCAN_MAX];
    unsigned stop_after; /* 0: never */
};

static int collect(const void *key, size_t klen, const shmc_meta *meta,
                   void *arg)
{
    struct scanned *s = arg;
    if (s->n == SCAN_MAX || klen > sizeof s->key[0])
        return -1;
    memcpy(s->key[s->n], key, klen);
    s->len[s->n] = klen;
    s->value_len[s->n] = meta->value_len;
    s->n++;
    return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

/* A key of LONG_KEY_LEN bytes: prefix, then fill up to the end with tag's
 * letter. */
static void long_key(char key[LONG_KEY_LEN], const char *prefix, char tag)
{
    size_t plen = strlen(prefix);
    memcpy(key, prefix, plen);
    memset(key + plen, tag, LONG_KEY_LEN - plen);
}

/* Whether s found key (klen bytes) exactly once. */
static int found_once(const struct scanned *s, const void *key, size_t klen)
{
    int times = 0;
    for (unsigned i = 0; i < s->n; i++)
        times += s->len[i] == klen && memcmp(s->key[i], key, klen) == 0;
    return times == 1;
}

static void scan_expect(shmc_cache *c, const void *prefix, size_t plen,
                        unsigned flags, const char *const *shorts,
                        size_t nshort, char (*longs)[LONG_KEY_LEN],
                        size_t nlong)
{
    static struct scanned s;
    memset(&s, 0, sizeof s);
    tu_assert_rc(shmc_scan(c, prefix, plen, flags, collect, &s), 0);
    if (s.n != nshort + nlong)
        fail_msg("scan of \"%.*s\": %u keys, expected %zu", (int)plen,
                 (const char *)prefix, s.n, nshort + nlong);
    for (size_t i = 0; i < nshort; i++) {
        if (!found_once(&s, shorts[i], strlen(shorts[i])))
            fail_msg("scan of \"%.*s\" missed %s", (int)plen,
                     (const char *)prefix, shorts[i]);
        /* Short keys first, in key order. */
        assert_int_equal(s.len[i], strlen(shorts[i]));
        assert_memory_equal(s.key[i], shorts[i], s.len[i]);
    }
    for (size_t i = 0; i < nlong; i++)
        if (!found_once(&s, longs[i], LONG_KEY_LEN))
            fail_msg("scan of \"%.*s\" missed long key %zu", (int)plen,
                     (const char *)prefix, i);
}

static void test_scan_lists_live_keys_by_prefix(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    static const char *const users[] = {"user:1", "user:2", "user:3",
                                        "user:30", "user:4"};
    static const char *const expired_user = "user:5";
    static const char *const others[] = {"other:1", "use", "userx",
                                         "users:1"};
    /* Two live long "user:" keys, an expired one, and another. */
    static char longs[4][LONG_KEY_LEN];
    long_key(longs[0], "user:long-", 'a');
    long_key(longs[1], "user:long-", 'b');
    long_key(longs[2], "user:long-", 'd');
    long_key(longs[3], "other:long-", 'c');
    for (size_t i = 0; i < 5; i++)
        tu_set(c, users[i], "u");
    for (size_t i = 0; i < 4; i++)
        tu_set(c, others[i], "o");
    for (size_t i = 0; i < 4; i++)
        tu_assert_rc(shmc_set(c, longs[i], LONG_KEY_LEN, "long", 4,
                              i == 2 ? 1 : 0),
                     0);
    tu_assert_rc(shmc_set(c, expired_user, strlen(expired_user), "x", 1, 1),
                 0);
    tu_sleep_ms(EXPIRY_WAIT_MS);

    scan_expect(c, "user:", 5, 0, users, 5, longs, 2);
    static const char *const with_expired[] = {
        "user:1", "user:2", "user:3", "user:30", "user:4", "user:5"};
    scan_expect(c, "user:", 5, SHMC_SCAN_EXPIRED, with_expired, 6, longs, 3);
    scan_expect(c, "user:3", 6, 0, users + 2, 2, NULL, 0);
    scan_expect(c, "nothing", 7, 0, NULL, 0, NULL, 0);
    /* A prefix longer than any short key: only long keys can match. */
    scan_expect(c, longs[1], 520, 0, NULL, 0, longs + 1, 1);
    scan_expect(c, longs[1], LONG_KEY_LEN, 0, NULL, 0, longs + 1, 1);

    /* Everything. */
    static struct scanned s;
    memset(&s, 0, sizeof s);
    tu_assert_rc(shmc_scan(c, NULL, 0, 0, collect, &s), 0);
    assert_int_equal(s.n, 5 + 4 + 3);
    assert_true(found_once(&s, longs[3], LONG_KEY_LEN));
    assert_int_equal(s.value_len[s.n - 1], 4); /* a long key's value */

    /* A callback that stops the scan. */
    memset(&s, 0, sizeof s);
    s.stop_after = 3;
    tu_assert_rc(shmc_scan(c, "user:", 5, 0, collect, &s), 42);
    assert_int_equal(s.n, 3);

    tu_assert_rc(shmc_scan(c, "user:", 5, 0, NULL, &s), SHMC_EINVAL);
    tu_assert_rc(shmc_scan(c, NULL, 3, 0, collect, &s), SHMC_EINVAL);
    tu_assert_rc(shmc_scan(c, "user:", 5, 0x4, collect, &s), SHMC_EINVAL);
    tu_assert_rc(shmc_scan(c, "user:", SHMC_MAX_KEY_LEN + 1u, 0, collect, &s),
                 SHMC_EINVAL);
    tu_assert_rc(shmc_scan(NULL, "user:", 5, 0, collect, &s), SHMC_EINVAL);
}

static int negative(const void *key, size_t klen, void *arg,
                    shmc_compute_out *out)
{
    (void)key;
    (void)klen;
    (void)arg;
    out->not_found = 1;
    return 0;
}

static void test_scan_skips_cached_not_found(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_compute_opts co = {.negative_ttl_ms = 60000};
    void *val = NULL;
    size_t len = 0;
    tu_set(c, "user:real", "r");
    tu_assert_rc(shmc_get_or_compute(c, "user:none", 9, negative, NULL, &co,
                                     &val, &len, NULL),
                 SHMC_ENOTFOUND);
    assert_int_equal(tu_info(c).entries, 2);
    const char *const real[] = {"user:real"};
    scan_expect(c, "user:", 5, 0, real, 1, NULL, 0);
    scan_expect(c, "user:", 5, SHMC_SCAN_EXPIRED, real, 1, NULL, 0);
}

/* ---- shmc_verify -------------------------------------------------------- */

/* A damaged record, written behind the library's back. Header layout:
 * lib/record.h. */
struct damage {
    const char *key; /* the user's key; a long one is stored hashed */
    size_t klen;
    unsigned char bytes[64 + LONG_KEY_LEN];
    size_t len;
    const char *what; /* what verify must say */
    int decodable;    /* a reader can parse it; a sweep keeps it */
};

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

#define NEVER48 0xffffffffffffull

/* Start d's record with a header, followed by extra (extra_len bytes). */
static void damage_record(struct damage *d, unsigned format, unsigned flags,
                          unsigned key_len, uint64_t version,
                          uint64_t fresh_until, uint64_t expires_at,
                          const void *extra, size_t extra_len)
{
    unsigned char *p = d->bytes;
    p[0] = (unsigned char)format;
    p[1] = (unsigned char)flags;
    put_le(p + 2, key_len, 2);
    put_le(p + 4, version, 8);
    put_le(p + 12, fresh_until, 6);
    put_le(p + 18, expires_at, 6);
    memcpy(p + 24, extra, extra_len);
    d->len = 24 + extra_len;
}

#define DAMAGES 11

/* Long keys of the damaged records, and the one a record under another's
 * digest names. */
static char long_a[LONG_KEY_LEN], long_b[LONG_KEY_LEN],
    long_c[LONG_KEY_LEN], long_d[LONG_KEY_LEN];

static void make_damages(struct damage d[DAMAGES])
{
    uint64_t now = shmc_now_ms(), version = now << 16;
    static unsigned char b_and_value[LONG_KEY_LEN + 1];
    long_key(long_a, "damaged-", 'A');
    long_key(long_b, "damaged-", 'B');
    long_key(long_c, "damaged-", 'C');
    long_key(long_d, "damaged-", 'D');
    memcpy(b_and_value, long_b, LONG_KEY_LEN);
    b_and_value[LONG_KEY_LEN] = 'v';
    static const struct {
        const char *key, *what;
        int decodable;
    } names[DAMAGES] = {
        {"bad-format", "unknown record format", 0},
        {"bad-short", "shorter than a record header", 0},
        {"bad-times", "fresh-until after expires-at", 0},
        {"bad-flags", "unknown record flags", 0},
        {"bad-key-length", "key length beyond the record", 0},
        {"bad-future", "written in the future", 1},
        {"bad-carries-key", "a short key's record carries a key", 1},
        {"bad-negative", "a cached \"not found\" that holds a value", 1},
        {long_a, "the key does not match its digest", 1},
        {long_c, "a short key stored under a digest", 1},
        {long_d, "a long key's record lacks its key", 1},
    };
    for (int i = 0; i < DAMAGES; i++)
        d[i] = (struct damage){
            .key = names[i].key,
            .klen = i < 8 ? strlen(names[i].key) : LONG_KEY_LEN,
            .what = names[i].what,
            .decodable = names[i].decodable,
        };
    damage_record(&d[0], 9, 0, 0, version, NEVER48, NEVER48, "v", 1);
    damage_record(&d[1], 1, 0, 0, version, NEVER48, NEVER48, "", 0);
    d[1].len = 10;
    damage_record(&d[2], 1, 0, 0, version, now + 7200000, now + 3600000, "",
                  0);
    damage_record(&d[3], 1, 0x80, 0, version, NEVER48, NEVER48, "v", 1);
    damage_record(&d[4], 1, 0, 500, version, NEVER48, NEVER48, "0123456789",
                  10);
    damage_record(&d[5], 1, 0, 0, (now + 86400000) << 16, NEVER48, NEVER48,
                  "v", 1);
    damage_record(&d[6], 1, 0, 3, version, NEVER48, NEVER48, "abcv", 4);
    damage_record(&d[7], 1, 0x01, 0, version, NEVER48, NEVER48, "v", 1);
    damage_record(&d[8], 1, 0, LONG_KEY_LEN, version, NEVER48, NEVER48,
                  b_and_value, sizeof b_and_value);
    damage_record(&d[9], 1, 0, 5, version, NEVER48, NEVER48, "shortv", 6);
    damage_record(&d[10], 1, 0, 0, version, NEVER48, NEVER48, "v", 1);
}

static int is_long(const struct damage *d)
{
    return d->klen > 511;
}

/* The key LMDB holds d under: the user's key, or its SHA-256. */
static MDB_val stored_key(const struct damage *d,
                          unsigned char digest[SHA256_DIGEST_LENGTH])
{
    if (!is_long(d))
        return (MDB_val){d->klen, (void *)d->key};
    SHA256((const unsigned char *)d->key, d->klen, digest);
    return (MDB_val){SHA256_DIGEST_LENGTH, digest};
}

struct lmdb_write {
    const char *dir;
    uint64_t map_size;
    const struct damage *d;
};

static int put_damage(MDB_txn *txn, const MDB_dbi dbi[2], void *arg)
{
    const struct damage *d = arg;
    int rc = 0;
    for (int i = 0; i < DAMAGES && rc == 0; i++) {
        unsigned char digest[SHA256_DIGEST_LENGTH];
        MDB_val k = stored_key(&d[i], digest);
        MDB_val v = {d[i].len, (void *)d[i].bytes};
        rc = mdb_put(txn, dbi[is_long(&d[i])], &k, &v, 0);
    }
    return rc;
}

/* In a child: write the damaged records. */
static int write_damage(void *arg, int index)
{
    const struct lmdb_write *w = arg;
    (void)index;
    return tu_lmdb_write(w->dir, w->map_size, put_damage, (void *)w->d) != 0;
}

#define PROBLEMS_MAX 16

struct problems {
    unsigned n;
    unsigned char key[PROBLEMS_MAX][512];
    size_t klen[PROBLEMS_MAX];
    char what[PROBLEMS_MAX][80];
};

static int note_problem(const void *key, size_t klen, const char *what,
                        void *arg)
{
    struct problems *p = arg;
    if (p->n == PROBLEMS_MAX || klen > sizeof p->key[0])
        return -1;
    memcpy(p->key[p->n], key, klen);
    p->klen[p->n] = klen;
    snprintf(p->what[p->n], sizeof p->what[0], "%s", what);
    p->n++;
    return 0;
}

/* Whether p holds the report verify owes for d. */
static int reported(const struct problems *p, const struct damage *d)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    MDB_val k = stored_key(d, digest);
    for (unsigned i = 0; i < p->n; i++)
        if (p->klen[i] == k.mv_size &&
            memcmp(p->key[i], k.mv_data, k.mv_size) == 0 &&
            strcmp(p->what[i], d->what) == 0)
            return 1;
    return 0;
}

static void put_healthy(shmc_cache *c)
{
    static char lk[LONG_KEY_LEN];
    long_key(lk, "healthy-long-", 'h');
    tu_set(c, "healthy-1", "one");
    tu_set(c, "healthy-2", "two");
    tu_assert_rc(shmc_set(c, lk, sizeof lk, "long", 4, 0), 0);
    shmc_set_opts stale = {.ttl_ms = 1, .stale_ms = STALE_WINDOW_MS};
    tu_assert_rc(shmc_set_ex(c, "healthy-stale", 13, "s", 1, &stale, NULL),
                 0);
    tu_assert_rc(shmc_set(c, "healthy-expired", 15, "e", 1, 1), 0);
    tu_sleep_ms(EXPIRY_WAIT_MS);
}

#define HEALTHY_RECORDS 5
#define HEALTHY_EXPIRED 1

static void test_verify_healthy(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    put_healthy(c);
    static struct problems p;
    shmc_verify_result res;
    memset(&p, 0, sizeof p);
    tu_assert_rc(shmc_verify(c, note_problem, &p, &res), 0);
    assert_int_equal(res.records, HEALTHY_RECORDS);
    assert_int_equal(res.problems, 0);
    assert_int_equal(res.expired, HEALTHY_EXPIRED);
    assert_int_equal(p.n, 0);
    tu_assert_rc(shmc_verify(c, NULL, NULL, NULL), 0);
    tu_assert_rc(shmc_verify(NULL, NULL, NULL, &res), SHMC_EINVAL);
}

/* Verify reports each damage (the undecodable ones only if asked), and
 * nothing else, among healthy + the damages records of which expired are
 * expired. */
static void verify_reports(shmc_cache *c, const struct damage *d,
                           int undecodable_too, unsigned healthy,
                           unsigned expired)
{
    static struct problems p;
    shmc_verify_result res;
    unsigned want = 0;
    memset(&p, 0, sizeof p);
    tu_assert_rc(shmc_verify(c, note_problem, &p, &res), 0);
    for (int i = 0; i < DAMAGES; i++) {
        if (!d[i].decodable && !undecodable_too)
            continue;
        want++;
        if (!reported(&p, &d[i]))
            fail_msg("verify did not report \"%s\" for %.20s", d[i].what,
                     d[i].key);
    }
    assert_int_equal(res.problems, want);
    assert_int_equal(p.n, want);
    assert_int_equal(res.records, healthy + want);
    assert_int_equal(res.expired, expired);
}

/* Reads of the records a reader cannot use are misses (or say the record
 * is corrupt): never a hit, never a crash. */
static void assert_not_served(shmc_cache *c, const struct damage *d)
{
    char buf[64];
    size_t len;
    for (int i = 0; i < DAMAGES; i++) {
        /* A short key's record from the future, or carrying a key, is
         * readable if suspect. */
        if (d[i].decodable && !is_long(&d[i]))
            continue;
        len = sizeof buf;
        int rc = shmc_get(c, d[i].key, d[i].klen, buf, &len, NULL,
                          SHMC_GET_STALE);
        if (rc != SHMC_ENOTFOUND && rc != SHMC_ECORRUPT)
            fail_msg("read of damaged %.20s: %s", d[i].key,
                     shmc_err_name(rc));
    }
    /* The key a record under another key's digest names is not there. */
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, long_b, sizeof long_b, buf, &len, NULL, 0),
                 SHMC_ENOTFOUND);
}

static void test_verify_reports_damage(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct tu_cache *f = *state;
    static struct damage d[DAMAGES];
    put_healthy(c);
    make_damages(d);
    struct lmdb_write w = {f->dir.inst, tu_info(c).map_size, d};
    if (tu_wait_child(tu_spawn(write_damage, &w), CHILD_TIMEOUT_S))
        fail_msg("writing the damaged records failed (why: above)");
    assert_int_equal(tu_info(c).entries, HEALTHY_RECORDS + DAMAGES);

    verify_reports(c, d, 1, HEALTHY_RECORDS, HEALTHY_EXPIRED);
    assert_not_served(c, d);
    /* A scan skips what it cannot decode, and goes on. */
    static struct scanned s;
    memset(&s, 0, sizeof s);
    tu_assert_rc(shmc_scan(c, "healthy-", 8, 0, collect, &s), 0);
    assert_int_equal(s.n, 4);

    /* Undecodable records are of no use to anyone: a sweep takes them. */
    unsigned undecodable = 0;
    for (int i = 0; i < DAMAGES; i++)
        undecodable += !d[i].decodable;
    shmc_sweep_opts so = unlimited();
    shmc_sweep_result res;
    tu_assert_rc(shmc_sweep(c, &so, &res), 0);
    assert_int_equal(res.expired, undecodable + HEALTHY_EXPIRED);
    verify_reports(c, d, 0, HEALTHY_RECORDS - HEALTHY_EXPIRED, 0);
    assert_not_served(c, d);
    tu_assert_value(c, "healthy-1", "one");
}

/* ---- shmc_revoke -------------------------------------------------------- */

static int revoke_session(void *arg, int index)
{
    (void)index;
    int rc = shmc_revoke(arg, "session:7", 9);
    if (rc)
        fprintf(stderr, "revoke: %s\n", shmc_err_name(rc));
    return rc != 0;
}

static void test_revoke(void **state)
{
    shmc_opts o = {.map_size = MIB, .l1_entries = 64};
    shmc_cache *c = tu_open_owned(*state, NULL, &o);
    tu_set(c, "api-key", "secret");
    tu_assert_rc(shmc_revoke(c, "api-key", 7), 0);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.revocations, 1);
    assert_int_equal(s.deletes, 1);
    tu_assert_value(c, "api-key", NULL);
    tu_assert_rc(shmc_revoke(c, "api-key", 7), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_revoke(c, "never", 5), SHMC_ENOTFOUND);

    /* An expired entry is no live entry: not counted, but removed. */
    tu_assert_rc(shmc_set(c, "old", 3, "v", 1, 1), 0);
    tu_sleep_ms(EXPIRY_WAIT_MS);
    tu_assert_rc(shmc_revoke(c, "old", 3), SHMC_ENOTFOUND);
    assert_int_equal(tu_info(c).entries, 0);

    static char lk[LONG_KEY_LEN];
    long_key(lk, "long-session-", 's');
    tu_assert_rc(shmc_set(c, lk, sizeof lk, "v", 1, 0), 0);
    tu_assert_rc(shmc_revoke(c, lk, sizeof lk), 0);
    tu_assert_rc(shmc_revoke(c, "", 0), SHMC_EKEYLEN);

    /* Revoked by another process while this one holds a copy. */
    tu_set(c, "session:7", "alice");
    tu_assert_value(c, "session:7", "alice");
    tu_assert_value(c, "session:7", "alice");
    if (tu_wait_child(tu_spawn(revoke_session, c), CHILD_TIMEOUT_S))
        fail_msg("the revoking child failed (why: above)");
    tu_assert_value(c, "session:7", NULL);
    s = tu_stats(c);
    assert_int_equal(s.revocations, 3);
    assert_int_equal(s.deletes, 3);
    tu_close_owned(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_owning(test_fill_far_beyond_capacity),
        tu_test_owning(test_fill_from_four_processes),
        tu_test_owning(test_high_watermark_respected),
        tu_test_owning(test_bad_options_refused),
        tu_test_owning(test_open_nocreate),
        tu_test_owning(test_info_fields),
        tu_test_with_cache(test_sweep_removes_exactly_the_expired),
        tu_test_with_cache(test_sweep_reports_map_used_at_the_end),
        tu_test_with_cache(test_sweep_empty_cache),
        tu_test_with_cache(test_sweep_resumes_across_calls),
        tu_test_with_cache(test_sweep_resumes_across_processes),
        tu_test_owning(test_sweeper_beside_workers),
        tu_test_owning(test_evict_to_target),
        tu_test_owning(test_evict_takes_expired_first),
        tu_test_with_cache(test_evict_arguments_and_empty),
        tu_test_owning(test_evicted_few_not_in_l1),
        tu_test_owning(test_evicted_many_not_in_l1),
        tu_test_with_cache(test_reader_check_frees_dead_readers),
        tu_test_with_cache(test_scan_lists_live_keys_by_prefix),
        tu_test_with_cache(test_scan_skips_cached_not_found),
        tu_test_with_cache(test_verify_healthy),
        tu_test_with_cache(test_verify_reports_damage),
        tu_test_owning(test_revoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
