/* test_compute.c - shmc_get_or_compute (lib/compute.c): single flight over
 * the per-key locks, stale-while-revalidate, stale-if-error and negative
 * entries, with real processes: 64 of them missing one key at once, and
 * computing processes killed with SIGKILL in the middle of their compute.
 *
 * Processes hand each other events through pipes: a compute that must stay
 * inside its callback ("held") writes a byte when it starts and waits for
 * one before it answers, so that the test decides how long it holds the
 * key's lock instead of guessing with sleeps. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define KEY "product:42"
#define KLEN (sizeof KEY - 1)
/* Long enough that nothing stored with it goes stale during a test. */
#define LONG_TTL_MS 60000u
/* An entry stored with it is stale soon after. */
#define SHORT_TTL_MS 50u
/* The stampede's compute: long enough for every child to arrive while it
 * runs. */
#define STAMPEDE_COMPUTE_MS 50u
/* Stale-while-revalidate: how long a caller with a stale value waits for
 * the refreshing process, and how soon it must have its answer. */
#define STALE_WAIT_MS 50u
#define STALE_ANSWER_LIMIT_MS 300u
/* The lock_timeout_ms of waiters for a compute that outlasts it. */
#define WAITER_TIMEOUT_MS 100u
#define BYSTANDERS 32u

/* How long to wait for another process before calling the run hung. */
static int child_timeout_s(void)
{
    return tu_under_valgrind() ? 120 : 20;
}

static unsigned event_limit_ms(void)
{
    return (unsigned)child_timeout_s() * 1000u;
}

/* A window that calls made back to back must fit in: valgrind makes the
 * calls slower, so it gets a wider one (loop counts, by contrast, are
 * scaled down). */
static unsigned margin_ms(unsigned ms)
{
    return tu_under_valgrind() ? ms * 10 : ms;
}

/* ---- computes ----------------------------------------------------------- */

/* A compute whose answer the test sets in advance; it counts its calls
 * (atomically: a second concurrent call is the bug some tests look for). */
struct scripted {
    _Atomic unsigned calls;
    int rc; /* returned: < 0 for a failure */
    shmc_compute_out answer;
    unsigned sleep_ms; /* before answering */
};

/* A scripted compute answering a string literal. */
#define ANSWERING(text) {.answer = {.value = (text), .len = sizeof(text) - 1}}

static int scripted_compute(const void *key, size_t klen, void *arg,
                            shmc_compute_out *out)
{
    struct scripted *s = arg;
    (void)key;
    (void)klen;
    atomic_fetch_add(&s->calls, 1);
    if (s->sleep_ms)
        tu_sleep_ms(s->sleep_ms);
    *out = s->answer;
    return s->rc;
}

/* A compute the test holds inside its callback, and so holding the key's
 * lock: it writes a byte on started, then answers value once a byte comes
 * on release (or fails after event_limit_ms, so that a test that failed
 * without releasing it leaves no process behind for long). */
struct held {
    int started[2];
    int release[2];
    const char *value;
};

static int held_compute(const void *key, size_t klen, void *arg,
                        shmc_compute_out *out)
{
    struct held *h = arg;
    (void)key;
    (void)klen;
    if (write(h->started[1], "s", 1) != 1 ||
        tu_await_byte(h->release[0], event_limit_ms()) != 1) {
        fprintf(stderr, "[%d] held compute: never released\n", (int)getpid());
        return -EIO;
    }
    out->value = h->value;
    out->len = strlen(h->value);
    return 0;
}

static void held_open(struct held *h, const char *value)
{
    assert_int_equal(pipe(h->started), 0);
    assert_int_equal(pipe(h->release), 0);
    h->value = value;
}

static void held_close(struct held *h)
{
    close(h->started[0]);
    close(h->started[1]);
    close(h->release[0]);
    close(h->release[1]);
}

static void held_release(struct held *h)
{
    assert_int_equal(write(h->release[1], "r", 1), 1);
}

/* ---- calling get_or_compute ------------------------------------------- */

/* Call get_or_compute on key: 0 when it returned rc_want and, for
 * rc_want >= 0, the value want (NUL-terminated past its length), or no
 * value (*val NULL) for rc_want < 0; else say why on stderr and return 1.
 * Frees the value. Safe in children. */
static int check_compute(shmc_cache *c, const char *key,
                         shmc_compute_fn compute, void *arg,
                         const shmc_compute_opts *opts, int rc_want,
                         const char *want)
{
    void *unset = &unset;
    void *val = unset;
    size_t len = 0;
    int rc = shmc_get_or_compute(c, key, strlen(key), compute, arg, opts,
                                 &val, &len, NULL);
    int bad = rc != rc_want;
    if (rc_want < 0)
        bad |= val != NULL;
    else
        bad |= val == NULL || val == unset || len != strlen(want) ||
               memcmp(val, want, len) != 0 || ((char *)val)[len] != '\0';
    if (bad)
        fprintf(stderr,
                "[%d] get_or_compute(%s): %s, value %s (%zu bytes); "
                "expected %s, %s: %s\n",
                (int)getpid(), key, shmc_err_name(rc),
                val == unset ? "untouched" : val ? "set" : "NULL", len,
                shmc_err_name(rc_want), want ? want : "no value",
                shmc_last_error());
    if (val != unset)
        shmc_free(val);
    return bad;
}

/* ---- child processes ---------------------------------------------------- */

/* Wait for the held compute of child to start; if it does not, kill the
 * child and fail. */
static void expect_started(struct held *h, pid_t child)
{
    if (tu_await_byte(h->started[0], event_limit_ms()) == 1)
        return;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    fail_msg("the compute of child %d never started", (int)child);
}

/* A process calling get_or_compute of KEY with a held compute. */
struct holder {
    shmc_cache *c;
    struct held *h;
    shmc_compute_opts opts;
};

static int run_holder(void *arg, int index)
{
    struct holder *r = arg;
    (void)index;
    return check_compute(r->c, KEY, held_compute, r->h, &r->opts, 0,
                         r->h->value);
}

/* Whether another process can take key's lock: checked in a child because
 * in this process a lock left held would be taken again (the locks are
 * recursive). */
struct lock_probe {
    shmc_cache *c;
    const char *key;
    int rc_want;
};

static int probe_lock(void *arg, int index)
{
    struct lock_probe *p = arg;
    shmc_keylock lock;
    (void)index;
    int rc = shmc_lock(p->c, p->key, strlen(p->key), 0, &lock);
    if (rc >= 0 && shmc_unlock(&lock) != 0)
        rc = SHMC_EINTERNAL;
    if (rc == p->rc_want)
        return 0;
    fprintf(stderr, "lock of %s from another process: %s, expected %s\n",
            p->key, shmc_err_name(rc), shmc_err_name(p->rc_want));
    return 1;
}

static void expect_lock_from_child(shmc_cache *c, const char *key,
                                   int rc_want)
{
    struct lock_probe p = {c, key, rc_want};
    tu_run_children(1, probe_lock, &p, child_timeout_s());
}

static void assert_lock_free(shmc_cache *c, const char *key)
{
    expect_lock_from_child(c, key, 0);
}

/* ---- fresh hits and misses ---------------------------------------------- */

static void test_fresh_hit_takes_no_lock(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted s = ANSWERING("computed");
    tu_assert_rc(shmc_set(c, KEY, KLEN, "cached", 6, 0), 0);
    shmc_stats before = tu_stats(c);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &s, NULL, 0,
                                   "cached"),
                     0);
    shmc_stats after = tu_stats(c);
    assert_int_equal(s.calls, 0);
    assert_int_equal(after.computes, before.computes);
    assert_int_equal(after.locks, before.locks);
    assert_int_equal(after.lock_waits, before.lock_waits);
    assert_int_equal(after.lock_timeouts, before.lock_timeouts);
    assert_int_equal(after.hits, before.hits + 1);
}

/* m was stored between before_ms and after_ms with ttl_ms and stale_ms. */
static void check_expiry(const shmc_meta *m, uint64_t before_ms,
                         uint64_t after_ms, uint64_t ttl_ms,
                         uint64_t stale_ms)
{
    assert_in_range(m->fresh_until_ms, before_ms + ttl_ms, after_ms + ttl_ms);
    assert_int_equal(m->expires_at_ms, m->fresh_until_ms + stale_ms);
}

static void test_miss_computes_once_and_stores(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS, .stale_ms = 5000};
    struct scripted s = ANSWERING("computed");
    void *val = NULL;
    size_t len = 0;
    shmc_meta m;
    shmc_stats before = tu_stats(c);
    uint64_t t0 = shmc_now_ms();
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s, &o,
                                     &val, &len, &m),
                 0);
    uint64_t t1 = shmc_now_ms();
    shmc_stats after = tu_stats(c);
    assert_int_equal(s.calls, 1);
    assert_int_equal(len, 8);
    assert_string_equal(val, "computed");
    shmc_free(val);
    assert_int_equal(m.value_len, 8);
    check_expiry(&m, t0, t1, o.ttl_ms, o.stale_ms);
    assert_int_equal(after.computes, before.computes + 1);
    assert_int_equal(after.compute_errors, before.compute_errors);
    assert_int_equal(after.locks, before.locks + 1);
    /* One call is one read: a miss, whatever the library looked at again
     * under the lock. */
    assert_int_equal(after.misses, before.misses + 1);
    assert_int_equal(after.hits, before.hits);

    /* Stored: a plain read sees the same entry, and the next
     * get_or_compute is a hit. */
    char buf[16];
    size_t blen = sizeof buf;
    shmc_meta seen;
    tu_assert_rc(shmc_get(c, KEY, KLEN, buf, &blen, &seen, 0), 0);
    assert_int_equal(blen, 8);
    assert_memory_equal(buf, "computed", 8);
    assert_int_equal(seen.version, m.version);
    assert_int_equal(seen.fresh_until_ms, m.fresh_until_ms);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &s, &o, 0,
                                   "computed"),
                     0);
    assert_int_equal(s.calls, 1);
    assert_lock_free(c, KEY);
}

static void test_answer_overrides_ttl_and_stale_window(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS, .stale_ms = 5000};
    struct scripted s = ANSWERING("short-lived");
    s.answer.ttl_ms = 1000;
    s.answer.stale_ms = 2000;
    void *val = NULL;
    size_t len = 0;
    shmc_meta m;
    uint64_t t0 = shmc_now_ms();
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s, &o,
                                     &val, &len, &m),
                 0);
    uint64_t t1 = shmc_now_ms();
    shmc_free(val);
    check_expiry(&m, t0, t1, 1000, 2000);

    /* What was stored carries them too, not only the answer's copy. */
    char buf[16];
    size_t blen = sizeof buf;
    shmc_meta seen;
    tu_assert_rc(shmc_get(c, KEY, KLEN, buf, &blen, &seen, 0), 0);
    assert_int_equal(seen.fresh_until_ms, m.fresh_until_ms);
    assert_int_equal(seen.expires_at_ms, m.expires_at_ms);
}

static void test_result_is_a_copy_the_caller_owns(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    char source[] = "from the source";
    struct scripted s = {.answer = {.value = source, .len = strlen(source)}};
    void *val = NULL;
    size_t len = 0;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, &val, &len, NULL),
                 0);
    assert_ptr_not_equal(val, source);
    memset(source, 'x', strlen(source));
    assert_int_equal(len, 15);
    assert_string_equal(val, "from the source");
    shmc_free(val);
    tu_assert_value(c, KEY, "from the source");

    /* An empty value is a value: "" with length 0, not a miss. */
    struct scripted empty = {.answer = {.value = NULL, .len = 0}};
    assert_int_equal(check_compute(c, "empty", scripted_compute, &empty,
                                   NULL, 0, ""),
                     0);
    assert_int_equal(check_compute(c, "empty", scripted_compute, &empty,
                                   NULL, 0, ""),
                     0);
    assert_int_equal(empty.calls, 1);
}

static void test_result_pointers_may_be_null(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted s = ANSWERING("computed");
    /* A miss, then a hit, with nothing to receive the result. */
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, NULL, NULL, NULL),
                 0);
    assert_int_equal(s.calls, 1);
    tu_assert_value(c, KEY, "computed");
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, NULL, NULL, NULL),
                 0);

    /* Any one of them alone. */
    void *val = NULL;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, &val, NULL, NULL),
                 0);
    assert_string_equal(val, "computed");
    shmc_free(val);
    size_t len = 0;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, NULL, &len, NULL),
                 0);
    assert_int_equal(len, 8);
    shmc_meta m;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, scripted_compute, &s,
                                     NULL, NULL, NULL, &m),
                 0);
    assert_int_equal(m.value_len, 8);
    /* No options: no expiry. */
    assert_int_equal(m.fresh_until_ms, UINT64_MAX);
    assert_int_equal(m.expires_at_ms, UINT64_MAX);
    assert_int_equal(s.calls, 1);

    /* And on a miss computed into only some of them. */
    struct scripted other = ANSWERING("other");
    tu_assert_rc(shmc_get_or_compute(c, "other", 5, scripted_compute, &other,
                                     NULL, NULL, &len, &m),
                 0);
    assert_int_equal(len, 5);
    assert_int_equal(m.value_len, 5);
    tu_assert_value(c, "other", "other");
}

/* ---- many processes at once --------------------------------------------- */

struct stampede {
    shmc_cache *c;
    struct scripted compute;
};

static int stampede_child(void *arg, int index)
{
    struct stampede *s = arg;
    (void)index;
    return check_compute(s->c, KEY, scripted_compute, &s->compute, NULL, 0,
                         "computed once");
}

static void test_stampede_computes_once(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct stampede *s = tu_shared(sizeof *s);
    s->c = c;
    s->compute.answer.value = "computed once";
    s->compute.answer.len = strlen("computed once");
    s->compute.sleep_ms = STAMPEDE_COMPUTE_MS;
    shmc_stats before = tu_stats(c);
    tu_run_children(tu_under_valgrind() ? 16 : 64, stampede_child, s,
                    child_timeout_s());
    shmc_stats after = tu_stats(c);
    assert_int_equal(s->compute.calls, 1);
    assert_int_equal(after.computes, before.computes + 1);
    tu_assert_value(c, KEY, "computed once");
    tu_unshare(s, sizeof *s);
}

/* Callers that wait without limit (lock_timeout_ms 0) through many short
 * stale windows, each shorter than the compute: whichever way the clock
 * falls between a stale value's expiry and the end of stale_wait_ms, none
 * may get SHMC_ETIMEDOUT. */
struct churn {
    shmc_cache *c;
    struct scripted compute;
    uint64_t until_ms;
};

static int churn_child(void *arg, int index)
{
    struct churn *s = arg;
    shmc_compute_opts o = {.ttl_ms = 20, .stale_ms = 3, .stale_wait_ms = 2};
    (void)index;
    while (shmc_now_ms() < s->until_ms) {
        int rc = shmc_get_or_compute(s->c, KEY, strlen(KEY), scripted_compute,
                                     &s->compute, &o, NULL, NULL, NULL);
        if (rc != 0 && rc != SHMC_STALE) {
            fprintf(stderr, "pid %d: get_or_compute: %s: %s\n",
                    (int)getpid(), shmc_err_name(rc), shmc_last_error());
            return 1;
        }
    }
    return 0;
}

static void test_unlimited_waiters_never_time_out(void **state)
{
    struct churn *s = tu_shared(sizeof *s);
    s->c = tu_cache_of(state);
    s->compute.answer.value = "v";
    s->compute.answer.len = 1;
    s->compute.sleep_ms = 10;
    s->until_ms = shmc_now_ms() + (tu_under_valgrind() ? 3000 : 1500);
    tu_run_children(4, churn_child, s, child_timeout_s());
    assert_true(s->compute.calls > 10); /* many expiries were raced */
    tu_unshare(s, sizeof *s);
}

/* ---- a computing process killed ----------------------------------------- */

/* Kills victim once a process waits for a lock. */
struct killer {
    shmc_cache *c;
    pid_t victim;
    uint64_t waits_before;
};

static int run_killer(void *arg, int index)
{
    struct killer *k = arg;
    (void)index;
    int bad = tu_await_lock_wait(k->c, k->waits_before, event_limit_ms()) != 0;
    if (bad)
        fprintf(stderr, "nobody waited for the lock of the computing "
                        "process\n");
    /* Even so: the victim would wait forever otherwise. */
    kill(k->victim, SIGKILL);
    return bad;
}

/* Waits for the lock of a computing process that is killed, and must then
 * compute value itself, once. */
struct successor {
    shmc_cache *c;
    shmc_compute_opts opts;
    const char *value;
};

static int run_successor(void *arg, int index)
{
    struct successor *s = arg;
    struct scripted compute = {
        .answer = {.value = s->value, .len = strlen(s->value)}};
    (void)index;
    int bad = check_compute(s->c, KEY, scripted_compute, &compute, &s->opts,
                            0, s->value);
    if (compute.calls != 1) {
        fprintf(stderr, "the successor computed %u times, not once\n",
                compute.calls);
        bad = 1;
    }
    return bad;
}

/* The successor is a child, already waiting when the parent kills the
 * holder. */
static void successor_in_child(struct successor *s, pid_t holder,
                               uint64_t waits_before)
{
    pid_t child = tu_spawn(run_successor, s);
    if (tu_await_lock_wait(s->c, waits_before, event_limit_ms()) != 0) {
        kill(holder, SIGKILL);
        kill(child, SIGKILL);
        waitpid(holder, NULL, 0);
        waitpid(child, NULL, 0);
        fail_msg("the successor never waited for the lock");
    }
    assert_true(tu_kill_child(holder));
    assert_int_equal(tu_wait_child(child, child_timeout_s()), 0);
}

/* The successor is this process, blocked in get_or_compute when a child
 * kills the holder. */
static void successor_here(struct successor *s, pid_t holder,
                           uint64_t waits_before)
{
    struct killer k = {s->c, holder, waits_before};
    pid_t killer = tu_spawn(run_killer, &k);
    int bad = run_successor(s, 0);
    assert_int_equal(tu_wait_child(killer, child_timeout_s()), 0);
    assert_true(tu_reaped_by_sigkill(holder));
    assert_int_equal(bad, 0);
}

static void test_killed_computer_hands_over(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct held h;
    held_open(&h, "never stored");
    struct holder holder_run = {c, &h, {.ttl_ms = LONG_TTL_MS}};
    tu_put_bystanders(c, BYSTANDERS);
    unsigned rounds = tu_scaled(100);
    for (unsigned round = 0; round < rounds; round++) {
        int rc = shmc_del(c, KEY, KLEN);
        assert_true(rc == 0 || rc == SHMC_ENOTFOUND);
        shmc_stats before = tu_stats(c);
        pid_t holder = tu_spawn(run_holder, &holder_run);
        expect_started(&h, holder);

        char value[32];
        snprintf(value, sizeof value, "recomputed %u", round);
        struct successor s = {
            c, {.ttl_ms = LONG_TTL_MS, .lock_timeout_ms = event_limit_ms()},
            value};
        /* Both kinds of waiter: a forked child, and the process that
         * opened the handle. */
        if (round % 2)
            successor_here(&s, holder, before.lock_waits);
        else
            successor_in_child(&s, holder, before.lock_waits);

        shmc_stats after = tu_stats(c);
        assert_int_equal(after.lock_recoveries, before.lock_recoveries + 1);
        assert_int_equal(after.computes, before.computes + 2);
        assert_int_equal(after.compute_errors, before.compute_errors);
        tu_assert_value(c, KEY, value);
        tu_assert_bystanders(c, BYSTANDERS);
    }
    held_close(&h);
    assert_lock_free(c, KEY);
}

/* ---- stale values ------------------------------------------------------- */

/* Store value under KEY so that it is stale now, with stale_ms left of
 * its stale window (less the time it took to go stale); returns its
 * metadata. */
static shmc_meta store_stale(shmc_cache *c, const char *value,
                             uint64_t stale_ms)
{
    shmc_set_opts so = {.ttl_ms = SHORT_TTL_MS, .stale_ms = stale_ms};
    tu_assert_rc(shmc_set_ex(c, KEY, KLEN, value, strlen(value), &so, NULL),
                 0);
    tu_sleep_ms(SHORT_TTL_MS + 20);
    char buf[64];
    size_t len = sizeof buf;
    shmc_meta m;
    tu_assert_rc(shmc_get(c, KEY, KLEN, buf, &len, &m, SHMC_GET_STALE),
                 SHMC_STALE);
    return m;
}

static void test_stale_while_revalidate(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    store_stale(c, "old", LONG_TTL_MS);
    struct held h;
    held_open(&h, "new");
    struct holder refresher_run = {c, &h, {.ttl_ms = LONG_TTL_MS}};
    shmc_stats before = tu_stats(c);
    pid_t refresher = tu_spawn(run_holder, &refresher_run);
    expect_started(&h, refresher);

    /* While the refresher computes: served the stale value after
     * stale_wait_ms, or at once without one, and never computing. */
    struct scripted s = ANSWERING("must not run");
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS,
                           .stale_wait_ms = STALE_WAIT_MS};
    uint64_t t0 = tu_now_ns();
    int bad_waiting = check_compute(c, KEY, scripted_compute, &s, &o,
                                    SHMC_STALE, "old");
    uint64_t waited = tu_ms_since(t0);
    o.stale_wait_ms = 0;
    int bad_at_once = check_compute(c, KEY, scripted_compute, &s, &o,
                                    SHMC_STALE, "old");
    shmc_stats during = tu_stats(c);
    held_release(&h);
    assert_int_equal(tu_wait_child(refresher, child_timeout_s()), 0);
    held_close(&h);

    assert_int_equal(bad_waiting, 0);
    assert_int_equal(bad_at_once, 0);
    assert_in_range(waited, STALE_WAIT_MS, STALE_ANSWER_LIMIT_MS - 1);
    assert_int_equal(s.calls, 0);
    assert_int_equal(during.stale_served, before.stale_served + 2);
    /* The refresher's compute, counted when it started. */
    assert_int_equal(during.computes, before.computes + 1);

    /* The refresher's value is there, fresh, for reads of either kind. */
    char buf[16];
    size_t len = sizeof buf;
    shmc_meta m;
    tu_assert_rc(shmc_get(c, KEY, KLEN, buf, &len, &m, SHMC_GET_STALE), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "new", 3);
    assert_true(m.fresh_until_ms > shmc_now_ms());
    assert_int_equal(check_compute(c, KEY, scripted_compute, &s, &o, 0,
                                   "new"),
                     0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(tu_stats(c).computes, before.computes + 1);
}

/* Has a stale value at hand, but one that expires while it waits
 * stale_wait_ms for the computing process: from then on there is nothing
 * to serve, and it must wait as on a miss (lock_timeout_ms 0: without
 * limit) for the computed value. */
struct outwaiting {
    shmc_cache *c;
    shmc_compute_opts opts;
};

static int run_outwaiting(void *arg, int index)
{
    struct outwaiting *w = arg;
    struct scripted s = ANSWERING("must not run");
    (void)index;
    int bad = check_compute(w->c, KEY, scripted_compute, &s, &w->opts, 0,
                            "new");
    if (s.calls) {
        fprintf(stderr, "the waiter computed\n");
        bad = 1;
    }
    return bad;
}

static void test_stale_expiring_during_wait_then_waits_as_on_miss(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    unsigned stale_wait = margin_ms(300);
    store_stale(c, "old", margin_ms(100));
    struct held h;
    held_open(&h, "new");
    struct holder refresher_run = {c, &h, {.ttl_ms = LONG_TTL_MS}};
    pid_t refresher = tu_spawn(run_holder, &refresher_run);
    expect_started(&h, refresher);
    uint64_t waits_before = tu_stats(c).lock_waits;
    struct outwaiting w = {c, {.ttl_ms = LONG_TTL_MS,
                               .stale_wait_ms = stale_wait}};
    pid_t waiter = tu_spawn(run_outwaiting, &w);
    int waiting = tu_await_lock_wait(c, waits_before, event_limit_ms());
    /* Released only once the waiter's stale wait is over. */
    tu_sleep_ms(stale_wait + 100);
    held_release(&h);
    int refresher_failed = tu_wait_child(refresher, child_timeout_s());
    int waiter_failed = tu_wait_child(waiter, child_timeout_s());
    held_close(&h);
    assert_int_equal(waiting, 0);
    assert_int_equal(refresher_failed, 0);
    assert_int_equal(waiter_failed, 0);
}

static void test_stale_refreshed_when_nobody_computes(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    store_stale(c, "old", LONG_TTL_MS);
    struct scripted s = ANSWERING("new");
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS,
                           .stale_wait_ms = STALE_WAIT_MS};
    shmc_stats before = tu_stats(c);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &s, &o, 0,
                                   "new"),
                     0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(tu_stats(c).stale_served, before.stale_served);
    tu_assert_value(c, KEY, "new");
}

static void test_stale_if_error(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted failing = {.rc = -EIO};
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS};

    /* A stale value: served in place of the failure, and kept. */
    store_stale(c, "old", LONG_TTL_MS);
    shmc_stats before = tu_stats(c);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &failing, &o,
                                   SHMC_STALE, "old"),
                     0);
    shmc_stats after = tu_stats(c);
    assert_int_equal(failing.calls, 1);
    assert_int_equal(after.computes, before.computes + 1);
    assert_int_equal(after.compute_errors, before.compute_errors + 1);
    assert_int_equal(after.stale_served, before.stale_served + 1);
    char buf[16];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, KEY, KLEN, buf, &len, NULL, SHMC_GET_STALE),
                 SHMC_STALE);
    assert_memory_equal(buf, "old", 3);
    assert_lock_free(c, KEY);

    /* Nothing stale: the compute's own code, and nothing stored. */
    before = after;
    assert_int_equal(check_compute(c, "absent", scripted_compute, &failing,
                                   &o, -EIO, NULL),
                     0);
    after = tu_stats(c);
    assert_int_equal(failing.calls, 2);
    assert_int_equal(after.compute_errors, before.compute_errors + 1);
    assert_int_equal(after.stale_served, before.stale_served);
    tu_assert_value(c, "absent", NULL);
    assert_lock_free(c, "absent");
}

static void test_expired_value_never_served_on_error(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted failing = {.rc = -EIO};
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS};
    shmc_set_opts so = {.ttl_ms = SHORT_TTL_MS, .stale_ms = SHORT_TTL_MS};
    tu_assert_rc(shmc_set_ex(c, KEY, KLEN, "old", 3, &so, NULL), 0);
    tu_sleep_ms(3 * SHORT_TTL_MS);
    shmc_stats before = tu_stats(c);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &failing, &o,
                                   -EIO, NULL),
                     0);
    shmc_stats after = tu_stats(c);
    assert_int_equal(failing.calls, 1);
    assert_int_equal(after.compute_errors, before.compute_errors + 1);
    assert_int_equal(after.stale_served, before.stale_served);
}

/* Fails only once the stale value it could fall back on has expired;
 * notes whether that value was still stale when it was called. */
struct outlived {
    shmc_cache *c;
    uint64_t expires_at_ms;
    int stale_when_called;
};

static int fail_after_expiry(const void *key, size_t klen, void *arg,
                             shmc_compute_out *out)
{
    struct outlived *o = arg;
    char buf[16];
    size_t len = sizeof buf;
    (void)out;
    o->stale_when_called = shmc_get(o->c, key, klen, buf, &len, NULL,
                                    SHMC_GET_STALE) == SHMC_STALE;
    while (shmc_now_ms() <= o->expires_at_ms)
        tu_sleep_ms(5);
    return -EIO;
}

static void test_value_expiring_during_compute_not_served(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_meta m = store_stale(c, "old", margin_ms(400));
    struct outlived o = {c, m.expires_at_ms, 0};
    shmc_stats before = tu_stats(c);
    void *val = &val;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, fail_after_expiry, &o,
                                     NULL, &val, NULL, NULL),
                 -EIO);
    assert_null(val);
    assert_true(o.stale_when_called);
    assert_int_equal(tu_stats(c).stale_served, before.stale_served);
}

/* ---- negative entries --------------------------------------------------- */

/* key, answered "not found" by absent, is cached for ttl_ms: two calls make
 * one compute and plain reads miss meanwhile; once ttl_ms has passed,
 * compute is asked again (and its answer cached again). */
static void check_not_found_cached_for(shmc_cache *c, const char *key,
                                       struct scripted *absent,
                                       const shmc_compute_opts *o,
                                       unsigned ttl_ms)
{
    unsigned calls = absent->calls;
    uint64_t t0 = tu_now_ns();
    for (int i = 0; i < 2; i++)
        assert_int_equal(check_compute(c, key, scripted_compute, absent, o,
                                       SHMC_ENOTFOUND, NULL),
                         0);
    char buf[16];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(c, key, strlen(key), buf, &len, NULL, 0),
                 SHMC_ENOTFOUND);
    len = sizeof buf;
    tu_assert_rc(shmc_get(c, key, strlen(key), buf, &len, NULL,
                          SHMC_GET_STALE),
                 SHMC_ENOTFOUND);
    /* Else the second call proved nothing about the cached answer. */
    assert_true(tu_ms_since(t0) < ttl_ms);
    assert_int_equal(absent->calls, calls + 1);

    tu_sleep_ms(ttl_ms + 20);
    assert_int_equal(check_compute(c, key, scripted_compute, absent, o,
                                   SHMC_ENOTFOUND, NULL),
                     0);
    assert_int_equal(absent->calls, calls + 2);
}

static void check_negative_entries(shmc_cache *c)
{
    unsigned negative_ttl = margin_ms(100);
    struct scripted absent = {.answer = {.not_found = 1}};
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS,
                           .negative_ttl_ms = negative_ttl};
    shmc_stats before = tu_stats(c);
    check_not_found_cached_for(c, KEY, &absent, &o, negative_ttl);

    /* A cached "not found" counts as absent for shmc_add, whose value is
     * then what get_or_compute finds. */
    tu_assert_rc(shmc_add(c, KEY, KLEN, "added", 5, 0), 0);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &absent, &o, 0,
                                   "added"),
                     0);
    assert_int_equal(absent.calls, 2);

    /* The answer's negative TTL wins over the options'. */
    o.negative_ttl_ms = LONG_TTL_MS;
    absent.answer.negative_ttl_ms = negative_ttl;
    check_not_found_cached_for(c, "other", &absent, &o, negative_ttl);
    assert_int_equal(tu_stats(c).computes, before.computes + absent.calls);
    assert_int_equal(tu_stats(c).compute_errors, before.compute_errors);
}

static void test_negative_entries(void **state)
{
    check_negative_entries(tu_cache_of(state));
}

/* The same through a handle whose reads go through the per-thread cache,
 * which holds negative records as any other. */
static void test_negative_entries_through_l1(void **state)
{
    shmc_opts opts = {.map_size = TU_MAP_SIZE, .l1_entries = 64};
    shmc_cache *c = tu_open(*state, &opts);
    check_negative_entries(c);
    shmc_close(c);
}

static void test_negative_ttl_zero_is_not_cached(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted absent = {.answer = {.not_found = 1}};
    shmc_compute_opts o = {.ttl_ms = LONG_TTL_MS};
    for (unsigned i = 1; i <= 3; i++) {
        assert_int_equal(check_compute(c, KEY, scripted_compute, &absent, &o,
                                       SHMC_ENOTFOUND, NULL),
                         0);
        assert_int_equal(absent.calls, i);
    }
    assert_int_equal(tu_info(c).entries, 0);
    assert_lock_free(c, KEY);
}

/* ---- a compute that outlasts its waiters -------------------------------- */

struct impatient {
    shmc_cache *c;
    shmc_compute_opts opts;
};

/* Gives up waiting for the computing process: SHMC_ETIMEDOUT after
 * lock_timeout_ms, without computing. */
static int run_impatient(void *arg, int index)
{
    struct impatient *w = arg;
    struct scripted s = ANSWERING("second compute");
    (void)index;
    uint64_t t0 = tu_now_ns();
    int bad = check_compute(w->c, KEY, scripted_compute, &s, &w->opts,
                            SHMC_ETIMEDOUT, NULL);
    uint64_t waited = tu_ms_since(t0);
    if (s.calls || waited < w->opts.lock_timeout_ms) {
        fprintf(stderr, "[%d] waiter: %u computes, gave up after %llu ms\n",
                (int)getpid(), s.calls, (unsigned long long)waited);
        bad = 1;
    }
    return bad;
}

static void test_long_compute_times_out_waiters(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct held h;
    held_open(&h, "slow value");
    struct holder slow_run = {c, &h, {.ttl_ms = LONG_TTL_MS}};
    shmc_stats before = tu_stats(c);
    pid_t slow = tu_spawn(run_holder, &slow_run);
    expect_started(&h, slow);

    struct impatient w = {c, {.ttl_ms = LONG_TTL_MS,
                              .lock_timeout_ms = WAITER_TIMEOUT_MS}};
    const int children = 3;
    tu_run_children(children, run_impatient, &w, child_timeout_s());
    int bad_here = run_impatient(&w, 0);
    shmc_stats during = tu_stats(c);
    held_release(&h);
    assert_int_equal(tu_wait_child(slow, child_timeout_s()), 0);
    held_close(&h);

    assert_int_equal(bad_here, 0);
    assert_int_equal(during.lock_timeouts,
                     before.lock_timeouts + (uint64_t)children + 1);
    assert_int_equal(tu_stats(c).computes, before.computes + 1);
    tu_assert_value(c, KEY, "slow value");
    assert_lock_free(c, KEY);
}

/* ---- bad answers and arguments ------------------------------------------ */

static void test_invalid_answer_and_arguments(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct scripted no_bytes = {.answer = {.value = NULL, .len = 5}};
    shmc_stats before = tu_stats(c);
    assert_int_equal(check_compute(c, KEY, scripted_compute, &no_bytes, NULL,
                                   SHMC_EINVAL, NULL),
                     0);
    assert_int_equal(no_bytes.calls, 1);
    assert_int_equal(tu_stats(c).compute_errors, before.compute_errors + 1);
    tu_assert_value(c, KEY, NULL);
    assert_int_equal(tu_info(c).entries, 0);
    assert_lock_free(c, KEY);

    struct scripted s = ANSWERING("value");
    void *val = &val;
    tu_assert_rc(shmc_get_or_compute(c, KEY, KLEN, NULL, NULL, NULL, &val,
                                     NULL, NULL),
                 SHMC_EINVAL);
    assert_null(val);
    val = &val;
    tu_assert_rc(shmc_get_or_compute(NULL, KEY, KLEN, scripted_compute, &s,
                                     NULL, &val, NULL, NULL),
                 SHMC_EINVAL);
    assert_null(val);
    tu_assert_rc(shmc_get_or_compute(c, KEY, 0, scripted_compute, &s, NULL,
                                     NULL, NULL, NULL),
                 SHMC_EKEYLEN);
    tu_assert_rc(shmc_get_or_compute(c, NULL, 1, scripted_compute, &s, NULL,
                                     NULL, NULL, NULL),
                 SHMC_EKEYLEN);
    assert_int_equal(s.calls, 0);
}

/* ---- nested single flight ----------------------------------------------- */

/* A compute of outer_key that asks get_or_compute for inner_key inside,
 * run in a child so that a deadlock is a child killed at the timeout;
 * what each call returned is kept in shared memory for the test. */
struct nested {
    shmc_cache *c;
    const char *outer_key, *inner_key;
    _Atomic unsigned computes;
    int inner_rc, outer_rc;
    char inner_value[32], outer_value[64];
    char answer[64]; /* the outer compute's, valid until the call returns */
};

static void keep_result(char *dst, size_t size, const void *val, size_t len)
{
    snprintf(dst, size, "%.*s", val ? (int)len : 0,
             val ? (const char *)val : "");
}

static int inner_compute(const void *key, size_t klen, void *arg,
                         shmc_compute_out *out)
{
    struct nested *n = arg;
    (void)key;
    (void)klen;
    atomic_fetch_add(&n->computes, 1);
    out->value = "inner value";
    out->len = strlen("inner value");
    return 0;
}

static int outer_compute(const void *key, size_t klen, void *arg,
                         shmc_compute_out *out)
{
    struct nested *n = arg;
    void *val = NULL;
    size_t len = 0;
    (void)key;
    (void)klen;
    atomic_fetch_add(&n->computes, 1);
    n->inner_rc = shmc_get_or_compute(n->c, n->inner_key,
                                      strlen(n->inner_key), inner_compute, n,
                                      NULL, &val, &len, NULL);
    keep_result(n->inner_value, sizeof n->inner_value, val, len);
    shmc_free(val);
    snprintf(n->answer, sizeof n->answer, "outer of [%s]", n->inner_value);
    out->value = n->answer;
    out->len = strlen(n->answer);
    return 0;
}

static int run_nested(void *arg, int index)
{
    struct nested *n = arg;
    void *val = NULL;
    size_t len = 0;
    (void)index;
    n->outer_rc = shmc_get_or_compute(n->c, n->outer_key,
                                      strlen(n->outer_key), outer_compute, n,
                                      NULL, &val, &len, NULL);
    keep_result(n->outer_value, sizeof n->outer_value, val, len);
    shmc_free(val);
    return 0;
}

static struct nested *run_nested_child(shmc_cache *c, const char *outer_key,
                                       const char *inner_key)
{
    struct nested *n = tu_shared(sizeof *n);
    n->c = c;
    n->outer_key = outer_key;
    n->inner_key = inner_key;
    tu_run_children(1, run_nested, n, child_timeout_s());
    tu_assert_rc(n->outer_rc, 0);
    tu_assert_rc(n->inner_rc, 0);
    assert_string_equal(n->inner_value, "inner value");
    assert_string_equal(n->outer_value, "outer of [inner value]");
    assert_int_equal(n->computes, 2);
    return n;
}

static void check_nested_other_key(shmc_cache *c)
{
    struct nested *n = run_nested_child(c, "outer", "inner");
    tu_assert_value(c, "outer", "outer of [inner value]");
    tu_assert_value(c, "inner", "inner value");
    assert_lock_free(c, "outer");
    assert_lock_free(c, "inner");
    tu_unshare(n, sizeof *n);
}

static void test_nested_other_key(void **state)
{
    check_nested_other_key(tu_cache_of(state));
}

/* With one lock slot every key shares it: the inner call takes the lock
 * its own thread already holds. */
static void test_nested_other_key_same_slot(void **state)
{
    shmc_opts opts = {.map_size = TU_MAP_SIZE, .lock_slots = 1};
    shmc_cache *c = tu_open(*state, &opts);
    shmc_keylock lock;
    tu_assert_rc(shmc_lock(c, "outer", 5, 0, &lock), 0);
    expect_lock_from_child(c, "inner", SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&lock), 0);
    check_nested_other_key(c);
    shmc_close(c);
}

/* A compute asking for its own key: the lock is recursive, so the inner
 * call does not wait for itself; it computes and stores the key, and the
 * outer compute's answer, stored after it, is what stays. */
static void test_nested_same_key(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct nested *n = run_nested_child(c, KEY, KEY);
    tu_assert_value(c, KEY, "outer of [inner value]");
    assert_lock_free(c, KEY);
    tu_unshare(n, sizeof *n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_with_cache(test_fresh_hit_takes_no_lock),
        tu_test_with_cache(test_miss_computes_once_and_stores),
        tu_test_with_cache(test_answer_overrides_ttl_and_stale_window),
        tu_test_with_cache(test_result_is_a_copy_the_caller_owns),
        tu_test_with_cache(test_result_pointers_may_be_null),
        tu_test_with_cache(test_stampede_computes_once),
        tu_test_with_cache(test_killed_computer_hands_over),
        tu_test_with_cache(test_stale_while_revalidate),
        tu_test_with_cache(test_stale_expiring_during_wait_then_waits_as_on_miss),
        tu_test_with_cache(test_unlimited_waiters_never_time_out),
        tu_test_with_cache(test_stale_refreshed_when_nobody_computes),
        tu_test_with_cache(test_stale_if_error),
        tu_test_with_cache(test_expired_value_never_served_on_error),
        tu_test_with_cache(test_value_expiring_during_compute_not_served),
        tu_test_with_cache(test_negative_entries),
        tu_test_in_dir(test_negative_entries_through_l1),
        tu_test_with_cache(test_negative_ttl_zero_is_not_cached),
        tu_test_with_cache(test_long_compute_times_out_waiters),
        tu_test_with_cache(test_invalid_answer_and_arguments),
        tu_test_with_cache(test_nested_other_key),
        tu_test_in_dir(test_nested_other_key_same_slot),
        tu_test_with_cache(test_nested_same_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
