/* test_locks.c - the per-key locks (lib/locks.c) and their table in
 * control.shm (lib/control.c: process-shared, robust, recursive mutexes).
 *
 * The promises (shmcache.h, "Per-key locks"): one holder at a time across
 * every process and thread of the instance; a timeout gives up with nothing
 * held; a holder that dies (kill -9, or a thread that exits) hands the next
 * locker SHMC_LOCK_RECOVERED instead of a hang, and nothing else is lost;
 * a thread may take a slot it already holds (the same key, or another key
 * of that slot) and then owes one unlock per lock; clearing and deleting
 * never touch the table; lock_slots is fixed at creation and checked on
 * every open. Every situation below is made for real: forked processes,
 * kill -9, threads. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "instance.h"
#include "keys.h"

#define CHILD_TIMEOUT_S 20
/* A table small enough that keys sharing a slot are easy to find and that
 * a child can try every slot. */
#define SMALL_SLOTS 8u
/* Generated keys a child tries before it gives up finding every slot. */
#define SLOT_PROBE_LIMIT 100000u
#define SHORT_TIMEOUT_MS 100u
/* The timeout of a waiter that must be served by a recovery, and the
 * share of it that counts as "well within". */
#define RECOVERY_TIMEOUT_MS 5000u
#define RECOVERY_BOUND_MS (RECOVERY_TIMEOUT_MS / 2)
#define PROCESS_COUNTERS 8
#define THREAD_COUNTERS 4
#define BYSTANDERS 16u
/* A holder that lets go once someone waits gives the waiter this long to
 * get from counting its wait into the wait itself. */
#define WAITER_SETTLE_MS 20

/* ---- handles, keys, counters -------------------------------------------- */

static shmc_cache *open_at(const char *path, unsigned lock_slots)
{
    shmc_opts opts = {.map_size = TU_MAP_SIZE, .lock_slots = lock_slots};
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, path, &opts), 0);
    return c;
}

/* tu_setup_cache's fixture, on an instance of SMALL_SLOTS slots. */
static int setup_small_table(void **state)
{
    const shmc_opts opts = {.map_size = TU_MAP_SIZE,
                            .lock_slots = SMALL_SLOTS};
    return tu_setup_cache_with(state, &opts);
}

#define test_with_small_table(fn)                                           \
    cmocka_unit_test_setup_teardown(fn, setup_small_table, tu_teardown_cache)

static uint32_t slots_of(shmc_cache *c)
{
    return c->inst->ctl.hdr->lock_slots;
}

/* locks.c's choice of slot, restated so that a test can find keys that
 * share one. */
static uint32_t lock_slot_of(const char *key, uint32_t slots)
{
    return (uint32_t)(shmc__key_hash(key, strlen(key)) >> 16) & (slots - 1);
}

struct slot_wish {
    uint32_t slots;
    const char *other;
    int same; /* 1: in other's slot; 0: in any other slot */
};

/* For tu_find_key: a key that is not wish->other and lies in its slot or
 * not, as wished. */
static int fits_wish(const char *key, const void *arg)
{
    const struct slot_wish *wish = arg;
    return strcmp(key, wish->other) != 0 &&
           (lock_slot_of(key, wish->slots) ==
            lock_slot_of(wish->other, wish->slots)) == wish->same;
}

static void expect_lock_stats(shmc_cache *c, uint64_t locks, uint64_t waits,
                              uint64_t timeouts, uint64_t recoveries)
{
    shmc_stats s = tu_stats(c);
    if (s.locks != locks || s.lock_waits != waits ||
        s.lock_timeouts != timeouts || s.lock_recoveries != recoveries)
        fail_msg("lock stats: locks %llu/%llu, waits %llu/%llu, timeouts "
                 "%llu/%llu, recoveries %llu/%llu (got/want)",
                 (unsigned long long)s.locks, (unsigned long long)locks,
                 (unsigned long long)s.lock_waits, (unsigned long long)waits,
                 (unsigned long long)s.lock_timeouts,
                 (unsigned long long)timeouts,
                 (unsigned long long)s.lock_recoveries,
                 (unsigned long long)recoveries);
}

static int lock_key(shmc_cache *c, const char *key, uint64_t timeout_ms,
                    shmc_keylock *lock)
{
    return shmc_lock(c, key, strlen(key), timeout_ms, lock);
}

/* How late a call may return past what it waits for: scheduling on a busy
 * machine, and valgrind. */
static uint64_t slack_ms(void)
{
    return tu_under_valgrind() ? 5000u : 1500u;
}

/* ---- what other processes can take ------------------------------------- */

/* shmc_lock(key, timeout_ms) in a child, released again if taken: whether
 * another process can have the lock now. */
static int lock_in_child(shmc_cache *c, const char *key, uint64_t timeout_ms)
{
    int *result = tu_shared(sizeof *result);
    *result = INT_MIN;
    pid_t pid = tu_fork();
    if (pid == 0) {
        shmc_keylock lock;
        int rc = lock_key(c, key, timeout_ms, &lock);
        int failed = 0;
        if (rc >= 0 && (failed = shmc_unlock(&lock)) != 0)
            fprintf(stderr, "child: unlock %s: %s\n", key,
                    shmc_err_name(failed));
        *result = rc;
        shmc_close(c);
        _exit(failed != 0);
    }
    int failed = tu_wait_child(pid, CHILD_TIMEOUT_S);
    int rc = *result;
    tu_unshare(result, sizeof *result);
    if (failed)
        fail_msg("the child trying %s failed (why: above)", key);
    return rc;
}

/* In a child: take and release every one of the slots at once (timeout
 * 0). Returns non-zero, saying why, if one was held. */
static int take_every_slot(shmc_cache *c, uint32_t slots)
{
    char key[32];
    uint32_t taken = 0;
    unsigned char *seen = calloc(slots, 1);
    if (!seen) {
        fprintf(stderr, "child: no memory\n");
        return 1;
    }
    for (unsigned n = 0; taken < slots && n < SLOT_PROBE_LIMIT; n++) {
        snprintf(key, sizeof key, "probe-%u", n);
        if (seen[lock_slot_of(key, slots)])
            continue;
        shmc_keylock lock;
        int rc = lock_key(c, key, 0, &lock);
        if (rc == 0)
            rc = shmc_unlock(&lock);
        if (rc) {
            fprintf(stderr, "child: slot %u (%s): %s\n",
                    lock_slot_of(key, slots), key, shmc_err_name(rc));
            break;
        }
        seen[lock_slot_of(key, slots)] = 1;
        taken++;
    }
    free(seen);
    if (taken < slots)
        fprintf(stderr, "child: took %u of %u slots\n", taken, slots);
    return taken < slots;
}

/* No slot of c's table is held by this process (or any other). */
static void assert_every_slot_free(shmc_cache *c)
{
    uint32_t slots = slots_of(c);
    pid_t pid = tu_fork();
    if (pid == 0) {
        int failed = take_every_slot(c, slots);
        shmc_close(c);
        _exit(failed);
    }
    if (tu_wait_child(pid, CHILD_TIMEOUT_S))
        fail_msg("a child could not take every slot (why: above)");
}

/* ---- a holder in another process ---------------------------------------- */

static int write_byte(int fd)
{
    return write(fd, "x", 1) == 1;
}

static void make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
}

struct holder {
    pid_t pid;
    int held;    /* a byte comes once the child holds the lock */
    int release; /* a byte tells it to unlock and exit */
};

struct holding {
    const char *key;
    /* Stored under the lock before the child says it holds it: work a
     * dead holder leaves behind, or NULL. */
    const char *work;
    /* 0: hold until told; 1: let go once another locker waits. */
    int until_waited;
};

/* In the holder: wait until a locker has counted a wait beyond
 * waits_before, then a little more so that it is inside the wait. Returns
 * 0 if none came. */
static int await_waiter(shmc_cache *c, uint64_t waits_before)
{
    if (tu_await_lock_wait(c, waits_before, CHILD_TIMEOUT_S * 1000) != 0)
        return 0;
    tu_sleep_ms(WAITER_SETTLE_MS);
    return 1;
}

static _Noreturn void hold(shmc_cache *c, const struct holding *how,
                           int held_fd, int release_fd)
{
    shmc_keylock lock;
    shmc_stats at_lock;
    int rc = lock_key(c, how->key, SHMC_LOCK_FOREVER, &lock);
    if (rc == 0)
        rc = shmc_stats_get(c, &at_lock);
    if (rc == 0 && how->work)
        rc = shmc_set(c, how->key, strlen(how->key), how->work,
                      strlen(how->work), 0);
    if (rc || !write_byte(held_fd)) {
        fprintf(stderr, "holder: lock or store %s: %s\n", how->key,
                shmc_err_name(rc));
        _exit(1);
    }
    /* A parent that fails never says so: let go in the end rather than
     * hang whoever waits. */
    int told = how->until_waited
                   ? await_waiter(c, at_lock.lock_waits)
                   : tu_await_byte(release_fd, CHILD_TIMEOUT_S * 1000) == 1;
    rc = shmc_unlock(&lock);
    if (rc)
        fprintf(stderr, "holder: unlock %s: %s\n", how->key,
                shmc_err_name(rc));
    if (!told)
        fprintf(stderr, "holder: nobody %s %s\n",
                how->until_waited ? "waited for" : "told it to let go of",
                how->key);
    shmc_close(c);
    _exit(rc != 0 || !told);
}

/* A child holding how->key once this returns. */
static struct holder start_holder(shmc_cache *c, const struct holding *how)
{
    int held[2], release[2];
    make_pipe(held);
    make_pipe(release);
    struct holder h = {.pid = tu_fork()};
    if (h.pid == 0) {
        close(held[0]);
        close(release[1]);
        hold(c, how, held[1], release[0]);
    }
    close(held[1]);
    close(release[0]);
    h.held = held[0];
    h.release = release[1];
    if (tu_await_byte(h.held, CHILD_TIMEOUT_S * 1000) != 1) {
        kill(h.pid, SIGKILL);
        tu_wait_child(h.pid, CHILD_TIMEOUT_S);
        fail_msg("the holder never took %s (why: above)", how->key);
    }
    return h;
}

static void close_holder(struct holder *h)
{
    close(h->held);
    close(h->release);
}

/* Tell h to unlock, and reap it: its unlock must have succeeded. */
static void release_holder(struct holder *h)
{
    if (!write_byte(h->release))
        fail_msg("telling the holder to let go: %s", strerror(errno));
    if (tu_wait_child(h->pid, CHILD_TIMEOUT_S))
        fail_msg("the holder failed (why: above)");
    close_holder(h);
}

/* kill -9 h while it holds its lock, and reap it. */
static void kill_holder(struct holder *h)
{
    int killed = tu_kill_child(h->pid);
    close_holder(h);
    if (!killed)
        fail_msg("the holder was not ended by the kill (why: above)");
}

/* ---- lock, unlock, bad arguments ---------------------------------------- */

static void lock_unlock_round_trip(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const char *key = "user:42";
    assert_int_equal(slots_of(c), SHMC_DEFAULT_LOCK_SLOTS);
    expect_lock_stats(c, 0, 0, 0, 0);

    /* Every timeout form takes a free lock at once. */
    const uint64_t timeouts[] = {0, SHORT_TIMEOUT_MS, SHMC_LOCK_FOREVER};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        shmc_keylock lock = {0};
        tu_assert_rc(lock_key(c, key, timeouts[i], &lock), 0);
        assert_ptr_equal(lock.cache, c);
        assert_int_equal(lock.slot, lock_slot_of(key, slots_of(c)));
        tu_assert_rc(shmc_unlock(&lock), 0);
        assert_null(lock.cache);
    }
    expect_lock_stats(c, 3, 0, 0, 0);

    shmc_keylock lock;
    tu_assert_rc(lock_key(c, key, 0, &lock), 0);
    assert_int_equal(lock_in_child(c, key, 0), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&lock), 0);
    assert_int_equal(lock_in_child(c, key, 0), 0);
    /* The child's timeout and its lock count as well. */
    expect_lock_stats(c, 5, 0, 1, 0);
}

static void unlock_of_a_lock_not_held(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const char *key = "not-held";
    shmc_keylock never = {0};
    tu_assert_rc(shmc_unlock(&never), SHMC_EINVAL);
    tu_assert_rc(shmc_unlock(NULL), SHMC_EINVAL);

    shmc_keylock lock;
    tu_assert_rc(lock_key(c, key, 0, &lock), 0);
    shmc_keylock copy = lock;
    tu_assert_rc(shmc_unlock(&lock), 0);
    tu_assert_rc(shmc_unlock(&lock), SHMC_EINVAL);
    /* A copy still names the slot, whose mutex nobody holds now. */
    tu_assert_rc(shmc_unlock(&copy), SHMC_EINVAL);

    /* The refused unlocks left the lock free and sound. */
    assert_int_equal(lock_in_child(c, key, 0), 0);
    tu_assert_rc(lock_key(c, key, 0, &lock), 0);
    tu_assert_rc(shmc_unlock(&lock), 0);
    expect_lock_stats(c, 3, 0, 0, 0);
}

static void bad_arguments_hold_nothing(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    static char big[SHMC_MAX_KEY_LEN + 1];
    const size_t longest = sizeof big;
    memset(big, 'k', longest);
    /* What a lock taken before looks like: a failure must not leave it
     * looking held. */
    const shmc_keylock looks_held = {.cache = c, .slot = 1};

    tu_assert_rc(shmc_lock(c, "k", 1, 0, NULL), SHMC_EINVAL);
    shmc_keylock lock = looks_held;
    tu_assert_rc(shmc_lock(c, "", 0, 0, &lock), SHMC_EKEYLEN);
    assert_null(lock.cache);
    lock = looks_held;
    tu_assert_rc(shmc_lock(c, NULL, 1, 0, &lock), SHMC_EKEYLEN);
    assert_null(lock.cache);
    lock = looks_held;
    tu_assert_rc(shmc_lock(c, big, longest, 0, &lock), SHMC_EKEYLEN);
    assert_null(lock.cache);
    expect_lock_stats(c, 0, 0, 0, 0);
    assert_every_slot_free(c);

    /* The longest key allowed is a key like any other. */
    tu_assert_rc(shmc_lock(c, big, longest - 1, 0, &lock), 0);
    assert_ptr_equal(lock.cache, c);
    tu_assert_rc(shmc_unlock(&lock), 0);
}

static void lock_with_null_cache_marks_nothing_held(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    shmc_keylock lock = {.cache = c, .slot = 1};
    tu_assert_rc(shmc_lock(NULL, "k", 1, 0, &lock), SHMC_EINVAL);
    /* shmc_keylock: cache is NULL when not held, as after every other
     * failed shmc_lock(). */
    assert_null(lock.cache);
}

/* A child does not inherit its parent's locks: it can neither take nor
 * release them. */
static void fork_does_not_pass_on_locks(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const char *key = "parents-lock";
    shmc_keylock lock;
    tu_assert_rc(lock_key(c, key, 0, &lock), 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        int unlocked = shmc_unlock(&lock);
        shmc_keylock mine;
        int taken = lock_key(c, key, 0, &mine);
        if (unlocked != SHMC_EINVAL || taken != SHMC_ETIMEDOUT)
            fprintf(stderr, "child: unlock of the inherited lock: %s, "
                    "lock: %s\n", shmc_err_name(unlocked),
                    shmc_err_name(taken));
        shmc_close(c);
        _exit(unlocked != SHMC_EINVAL || taken != SHMC_ETIMEDOUT);
    }
    if (tu_wait_child(pid, CHILD_TIMEOUT_S))
        fail_msg("the child could release or take its parent's lock");
    assert_int_equal(lock_in_child(c, key, 0), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&lock), 0);
    assert_int_equal(lock_in_child(c, key, 0), 0);
}

/* ---- mutual exclusion ---------------------------------------------------- */

#define COUNTER_KEY "counter"

/* rounds increments of *count, each a read, a yield and a write: two
 * holders at once would lose increments. */
static int add_under_lock(shmc_cache *c, long *count, unsigned rounds,
                          uint64_t timeout_ms)
{
    for (unsigned i = 0; i < rounds; i++) {
        shmc_keylock lock;
        int rc = lock_key(c, COUNTER_KEY, timeout_ms, &lock);
        if (rc != 0)
            return rc == SHMC_LOCK_RECOVERED ? SHMC_EINTERNAL : rc;
        long seen = *count;
        sched_yield();
        *count = seen + 1;
        rc = shmc_unlock(&lock);
        if (rc)
            return rc;
    }
    return 0;
}

struct counting {
    shmc_cache *c;
    long *count;
    unsigned rounds;
};

static int count_in_child(void *arg, int index)
{
    struct counting *run = arg;
    int rc = add_under_lock(run->c, run->count, run->rounds,
                            SHMC_LOCK_FOREVER);
    if (rc)
        fprintf(stderr, "child %d: %s: %s\n", index, shmc_err_name(rc),
                shmc_last_error());
    shmc_close(run->c);
    return rc != 0;
}

static void processes_exclude_each_other(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    struct counting run = {.c = c,
                           .count = tu_shared(sizeof(long)),
                           .rounds = tu_scaled(2000)};
    *run.count = 0;
    tu_run_children(PROCESS_COUNTERS, count_in_child, &run, CHILD_TIMEOUT_S);
    assert_int_equal(*run.count, (long)PROCESS_COUNTERS * run.rounds);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.locks, (uint64_t)PROCESS_COUNTERS * run.rounds);
    assert_int_equal(s.lock_timeouts, 0);
    assert_int_equal(s.lock_recoveries, 0);
    tu_unshare(run.count, sizeof(long));
}

struct counting_thread {
    pthread_t thread;
    struct counting *run;
    /* All start together, so that they contend from the first round. */
    pthread_barrier_t *start;
    int rc;
};

static void *count_in_thread(void *arg)
{
    struct counting_thread *t = arg;
    pthread_barrier_wait(t->start);
    /* A finite timeout: the timed wait, not the plain one, under
     * contention. */
    t->rc = add_under_lock(t->run->c, t->run->count, t->run->rounds,
                           CHILD_TIMEOUT_S * 1000u);
    return NULL;
}

static void threads_exclude_each_other(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    long count = 0;
    struct counting run = {.c = c, .count = &count,
                           .rounds = tu_scaled(2000)};
    struct counting_thread threads[THREAD_COUNTERS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREAD_COUNTERS), 0);
    for (int i = 0; i < THREAD_COUNTERS; i++) {
        threads[i].run = &run;
        threads[i].start = &start;
        threads[i].rc = INT_MIN;
        tu_start_thread(&threads[i].thread, count_in_thread, &threads[i]);
    }
    for (int i = 0; i < THREAD_COUNTERS; i++)
        tu_join_thread(threads[i].thread);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREAD_COUNTERS; i++)
        tu_assert_rc(threads[i].rc, 0);
    assert_int_equal(count, (long)THREAD_COUNTERS * run.rounds);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.locks, (uint64_t)THREAD_COUNTERS * run.rounds);
    assert_int_equal(s.lock_timeouts, 0);
    assert_int_equal(s.lock_recoveries, 0);
}

/* ---- threads own their locks -------------------------------------------- */

struct thread_holder {
    shmc_cache *c;
    const char *key;
    shmc_keylock lock;
    int lock_rc, unlock_rc;
    /* 1: keep the lock until the second barrier, then unlock; 0: take it
     * and exit holding it. */
    int unlock;
    pthread_barrier_t *barrier;
};

static void *hold_in_thread(void *arg)
{
    struct thread_holder *h = arg;
    h->lock_rc = lock_key(h->c, h->key, 0, &h->lock);
    if (!h->unlock)
        return NULL;
    pthread_barrier_wait(h->barrier);
    pthread_barrier_wait(h->barrier);
    h->unlock_rc = shmc_unlock(&h->lock);
    return NULL;
}

static void threads_own_their_locks(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    struct thread_holder h = {.c = c, .key = "thread-owned", .unlock = 1,
                              .barrier = &barrier};
    pthread_t t;
    tu_start_thread(&t, hold_in_thread, &h);
    pthread_barrier_wait(&barrier);
    tu_assert_rc(h.lock_rc, 0);
    /* Another thread of the same process is excluded like any process,
     * and cannot release the holder's lock. */
    shmc_keylock theirs = h.lock, mine;
    tu_assert_rc(lock_key(c, h.key, 0, &mine), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&theirs), SHMC_EINVAL);
    pthread_barrier_wait(&barrier);
    tu_join_thread(t);
    tu_assert_rc(h.unlock_rc, 0);
    tu_assert_rc(lock_key(c, h.key, 0, &mine), 0);
    tu_assert_rc(shmc_unlock(&mine), 0);

    /* A thread that ends holding a lock is a holder that died. */
    struct thread_holder gone = {.c = c, .key = "thread-exits"};
    tu_start_thread(&t, hold_in_thread, &gone);
    tu_join_thread(t);
    tu_assert_rc(gone.lock_rc, 0);
    tu_assert_rc(lock_key(c, gone.key, RECOVERY_TIMEOUT_MS, &mine),
                 SHMC_LOCK_RECOVERED);
    tu_assert_rc(shmc_unlock(&mine), 0);
    tu_assert_rc(lock_key(c, gone.key, 0, &mine), 0);
    tu_assert_rc(shmc_unlock(&mine), 0);
    expect_lock_stats(c, 5, 0, 1, 1);
    pthread_barrier_destroy(&barrier);
}

/* ---- timeouts ------------------------------------------------------------ */

static void timeouts_give_up_holding_nothing(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const struct holding how = {.key = "timeout-key"};
    struct holder h = start_holder(c, &how);

    shmc_keylock lock = {.cache = c};
    uint64_t start = tu_now_ns();
    tu_assert_rc(lock_key(c, how.key, SHORT_TIMEOUT_MS, &lock),
                 SHMC_ETIMEDOUT);
    uint64_t waited = tu_ms_since(start);
    if (waited < SHORT_TIMEOUT_MS || waited > SHORT_TIMEOUT_MS + slack_ms())
        fail_msg("a %u ms timeout gave up after %llu ms", SHORT_TIMEOUT_MS,
                 (unsigned long long)waited);
    assert_null(lock.cache);
    tu_assert_rc(shmc_unlock(&lock), SHMC_EINVAL);

    lock.cache = c;
    start = tu_now_ns();
    tu_assert_rc(lock_key(c, how.key, 0, &lock), SHMC_ETIMEDOUT);
    waited = tu_ms_since(start);
    /* Tries once: far below the shortest timeout that waits. */
    if (waited >= SHORT_TIMEOUT_MS / 2)
        fail_msg("a timeout of 0 gave up after %llu ms",
                 (unsigned long long)waited);
    assert_null(lock.cache);
    /* The holder's lock; one wait (the timeout of 0 does not wait). */
    expect_lock_stats(c, 1, 1, 2, 0);

    release_holder(&h);
    assert_every_slot_free(c);
    tu_assert_rc(lock_key(c, how.key, 0, &lock), 0);
    tu_assert_rc(shmc_unlock(&lock), 0);
}

/* A waiter gets the lock when the holder lets go, with every form of
 * timeout that waits (the largest finite one must not overflow into an
 * instant timeout). */
static void waiter_gets_the_lock_once_released(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const struct holding how = {.key = "released-key", .until_waited = 1};
    const uint64_t timeouts[] = {CHILD_TIMEOUT_S * 1000u,
                                 SHMC_LOCK_FOREVER - 1, SHMC_LOCK_FOREVER};
    const size_t n = sizeof timeouts / sizeof timeouts[0];
    for (size_t i = 0; i < n; i++) {
        struct holder h = start_holder(c, &how);
        shmc_keylock lock;
        uint64_t start = tu_now_ns();
        tu_assert_rc(lock_key(c, how.key, timeouts[i], &lock), 0);
        uint64_t waited = tu_ms_since(start);
        if (waited > WAITER_SETTLE_MS + slack_ms())
            fail_msg("got the lock only after %llu ms",
                     (unsigned long long)waited);
        tu_assert_rc(shmc_unlock(&lock), 0);
        if (tu_wait_child(h.pid, CHILD_TIMEOUT_S))
            fail_msg("the holder failed (why: above)");
        close_holder(&h);
    }
    expect_lock_stats(c, 2 * n, n, 0, 0);
}

/* ---- holders that die ---------------------------------------------------- */

#define DEAD_KEY "dead-holder-key"

static void killed_holder_is_recovered(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_put_bystanders(c, BYSTANDERS);
    const unsigned kills = tu_scaled(100);
    for (unsigned i = 0; i < kills; i++) {
        char work[32];
        snprintf(work, sizeof work, "work-%u", i);
        const struct holding how = {.key = DEAD_KEY, .work = work};
        struct holder h = start_holder(c, &how);
        kill_holder(&h);

        shmc_keylock lock;
        uint64_t start = tu_now_ns();
        tu_assert_rc(lock_key(c, DEAD_KEY, RECOVERY_TIMEOUT_MS, &lock),
                     SHMC_LOCK_RECOVERED);
        uint64_t waited = tu_ms_since(start);
        if (waited > RECOVERY_BOUND_MS)
            fail_msg("kill %u: recovered after %llu ms", i,
                     (unsigned long long)waited);
        assert_ptr_equal(lock.cache, c);
        /* Recovery hands over the lock and wipes nothing: what the holder
         * committed before it died is there. */
        tu_assert_value(c, DEAD_KEY, work);
        tu_assert_rc(shmc_unlock(&lock), 0);
        /* Consistent again: the next holder is told nothing happened. */
        tu_assert_rc(lock_key(c, DEAD_KEY, 0, &lock), 0);
        tu_assert_rc(shmc_unlock(&lock), 0);
    }
    tu_assert_bystanders(c, BYSTANDERS);
    expect_lock_stats(c, 3 * (uint64_t)kills, 0, 0, kills);
}

/* The state letter of /proc/<pid>/stat ('S': asleep), or '?'. */
static char process_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name, in parentheses, may itself hold ") ". */
    char *end = strrchr(buf, ')');
    return end && end[1] == ' ' && end[2] ? end[2] : '?';
}

/* Wait until the waiter has found the lock taken (it counts a wait, then
 * blocks) and sleeps: in the lock, as nothing after the count but the
 * mutex can put it to sleep. */
static void await_blocked_waiter(shmc_cache *c, pid_t waiter,
                                 uint64_t waits_before)
{
    uint64_t deadline = tu_now_ns() + CHILD_TIMEOUT_S * 1000000000ull;
    while (tu_stats(c).lock_waits == waits_before ||
           process_state(waiter) != 'S') {
        if (tu_now_ns() > deadline)
            fail_msg("the waiter never blocked in shmc_lock");
        tu_sleep_ms(1);
    }
}

struct waiter_report {
    int lock_rc, unlock_rc;
    uint64_t acquired_ns;
};

static pid_t start_waiter(shmc_cache *c, struct waiter_report *r)
{
    pid_t pid = tu_fork();
    if (pid == 0) {
        shmc_keylock lock;
        int rc = lock_key(c, DEAD_KEY, RECOVERY_TIMEOUT_MS, &lock);
        r->acquired_ns = tu_now_ns();
        r->unlock_rc = rc >= 0 ? shmc_unlock(&lock) : INT_MIN;
        r->lock_rc = rc;
        shmc_close(c);
        _exit(0);
    }
    return pid;
}

static void blocked_waiter_recovers_from_killed_holder(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    tu_put_bystanders(c, BYSTANDERS);
    struct waiter_report *r = tu_shared(sizeof *r);
    const unsigned kills = tu_scaled(20);
    for (unsigned i = 0; i < kills; i++) {
        const struct holding how = {.key = DEAD_KEY};
        struct holder h = start_holder(c, &how);
        uint64_t waits_before = tu_stats(c).lock_waits;
        memset(r, 0, sizeof *r);
        r->lock_rc = INT_MIN;
        pid_t waiter = start_waiter(c, r);
        await_blocked_waiter(c, waiter, waits_before);
        uint64_t killed_ns = tu_now_ns();
        kill_holder(&h);
        if (tu_wait_child(waiter, CHILD_TIMEOUT_S))
            fail_msg("kill %u: the waiter failed (why: above)", i);
        tu_assert_rc(r->lock_rc, SHMC_LOCK_RECOVERED);
        tu_assert_rc(r->unlock_rc, 0);
        uint64_t after_ms = (r->acquired_ns - killed_ns) / 1000000u;
        if (after_ms > RECOVERY_BOUND_MS)
            fail_msg("kill %u: the waiter recovered %llu ms after the kill",
                     i, (unsigned long long)after_ms);
    }
    tu_assert_bystanders(c, BYSTANDERS);
    expect_lock_stats(c, 2 * (uint64_t)kills, kills, 0, kills);
    shmc_keylock lock;
    tu_assert_rc(lock_key(c, DEAD_KEY, 0, &lock), 0);
    tu_assert_rc(shmc_unlock(&lock), 0);
    tu_unshare(r, sizeof *r);
}

/* ---- recursion ----------------------------------------------------------- */

static void same_key_twice_needs_two_unlocks(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const char *key = "twice";
    shmc_keylock outer, inner;
    tu_assert_rc(lock_key(c, key, SHMC_LOCK_FOREVER, &outer), 0);
    /* A timeout of 0: taken at once, with no wait. */
    tu_assert_rc(lock_key(c, key, 0, &inner), 0);
    assert_int_equal(inner.slot, outer.slot);
    expect_lock_stats(c, 2, 0, 0, 0);

    tu_assert_rc(shmc_unlock(&inner), 0);
    assert_int_equal(lock_in_child(c, key, 0), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&outer), 0);
    assert_int_equal(lock_in_child(c, key, 0), 0);
    tu_assert_rc(shmc_unlock(&outer), SHMC_EINVAL);
}

static void keys_sharing_a_slot_lock_without_deadlock(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const char *first = "slot-first";
    char second[32], elsewhere[32];
    struct slot_wish wish = {.slots = SMALL_SLOTS, .other = first, .same = 1};
    tu_find_key(second, sizeof second, "slot-second", fits_wish, &wish);
    wish.same = 0;
    tu_find_key(elsewhere, sizeof elsewhere, "slot-elsewhere", fits_wish,
                &wish);

    shmc_keylock a, b;
    tu_assert_rc(lock_key(c, first, 0, &a), 0);
    /* A mutex that is not recursive would time out here, or with no
     * timeout hang for good. */
    tu_assert_rc(lock_key(c, second, SHORT_TIMEOUT_MS, &b), 0);
    assert_int_equal(a.slot, lock_slot_of(first, SMALL_SLOTS));
    assert_int_equal(b.slot, a.slot);
    assert_int_equal(lock_in_child(c, first, 0), SHMC_ETIMEDOUT);
    assert_int_equal(lock_in_child(c, second, 0), SHMC_ETIMEDOUT);
    assert_int_equal(lock_in_child(c, elsewhere, 0), 0);

    tu_assert_rc(shmc_unlock(&a), 0);
    assert_int_equal(lock_in_child(c, second, 0), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&b), 0);
    assert_int_equal(lock_in_child(c, first, 0), 0);
    assert_int_equal(lock_in_child(c, second, 0), 0);
}

/* ---- the lock_slots option ----------------------------------------------- */

static void instance_path(char *out, size_t cap, const struct tu_dir *d,
                          const char *name)
{
    snprintf(out, cap, "%s/%s", d->root, name);
}

static void lock_slots_option(void **state)
{
    struct tu_dir *d = *state;
    const struct {
        unsigned asked, made;
    } cases[] = {
        {SMALL_SLOTS, SMALL_SLOTS},
        {5, 8},
        {1, 1},
        {3000, 4096},
        {0, SHMC_DEFAULT_LOCK_SLOTS},
        {SHMC__MAX_LOCK_SLOTS, SHMC__MAX_LOCK_SLOTS},
    };
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "slots-%u", cases[i].asked);
        instance_path(path, sizeof path, d, name);
        shmc_cache *c = open_at(path, cases[i].asked);
        assert_int_equal(slots_of(c), cases[i].made);
        shmc_keylock lock;
        tu_assert_rc(lock_key(c, "k", 0, &lock), 0);
        assert_true(lock.slot < cases[i].made);
        tu_assert_rc(shmc_unlock(&lock), 0);
        shmc_close(c);
    }

    const unsigned too_many[] = {SHMC__MAX_LOCK_SLOTS + 1, UINT_MAX};
    for (size_t i = 0; i < sizeof too_many / sizeof too_many[0]; i++) {
        shmc_opts opts = {.map_size = TU_MAP_SIZE,
                          .lock_slots = too_many[i]};
        shmc_cache *c = NULL;
        instance_path(path, sizeof path, d, "too-many");
        tu_assert_rc(shmc_open(&c, path, &opts), SHMC_EINVAL);
        assert_null(c);
        struct stat st;
        if (stat(path, &st) == 0)
            fail_msg("lock_slots %u was refused but %s was made",
                     too_many[i], path);
    }

    /* Creation fixes it: other values, later or meanwhile, change nothing. */
    instance_path(path, sizeof path, d, "reopened");
    shmc_cache *first = open_at(path, SMALL_SLOTS);
    shmc_cache *meanwhile = open_at(path, 64);
    assert_int_equal(slots_of(meanwhile), SMALL_SLOTS);
    shmc_close(meanwhile);
    shmc_close(first);
    shmc_cache *later = open_at(path, 1024);
    assert_int_equal(slots_of(later), SMALL_SLOTS);
    shmc_close(later);
}

/* ---- what leaves the table alone ---------------------------------------- */

static void set_and_delete_every_way(shmc_cache *c, const char *key)
{
    tu_set(c, key, "v");
    tu_assert_rc(shmc_del(c, key, strlen(key)), 0);
    tu_set(c, key, "v");
    shmc_item item = {.key = key, .klen = strlen(key)};
    size_t deleted = 0;
    tu_assert_rc(shmc_mdel(c, &item, 1, &deleted), 0);
    assert_int_equal(deleted, 1);
    tu_set(c, key, "v");
    tu_assert_rc(shmc_del_prefix(c, key, strlen(key), &deleted), 0);
    assert_int_equal(deleted, 1);
    tu_set(c, key, "v");
    tu_assert_rc(shmc_clear(c), 0);
    size_t len = 0;
    tu_assert_rc(shmc_get(c, key, strlen(key), NULL, &len, NULL, 0),
                 SHMC_ENOTFOUND);
}

static void clear_and_deletes_keep_locks(void **state)
{
    shmc_cache *c = tu_cache_of(state);
    const struct holding how = {.key = "kept-key"};
    struct holder h = start_holder(c, &how);
    set_and_delete_every_way(c, how.key);
    shmc_keylock lock;
    tu_assert_rc(lock_key(c, how.key, 0, &lock), SHMC_ETIMEDOUT);
    release_holder(&h);
    tu_assert_rc(lock_key(c, how.key, 0, &lock), 0);

    /* And the other way round: the lock of the one who clears. */
    set_and_delete_every_way(c, how.key);
    assert_int_equal(lock_in_child(c, how.key, 0), SHMC_ETIMEDOUT);
    tu_assert_rc(shmc_unlock(&lock), 0);
    assert_int_equal(lock_in_child(c, how.key, 0), 0);
}

/* ---- a damaged table size ------------------------------------------------ */

static void write_control_u32(const char *inst, size_t offset, uint32_t v)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" SHMC__CONTROL_NAME, inst);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fail_msg("%s: %s", path, strerror(errno));
    ssize_t n = pwrite(fd, &v, sizeof v, (off_t)offset);
    close(fd);
    assert_int_equal(n, (ssize_t)sizeof v);
}

static void corrupt_lock_slots_refused(void **state)
{
    struct tu_dir *d = *state;
    shmc_close(open_at(d->inst, SMALL_SLOTS));
    const size_t at = offsetof(struct shmc__control_header, lock_slots);
    /* Zero, not a power of two, above the maximum, and a sound-looking
     * value that does not match the file. */
    const uint32_t bad[] = {0, 3, SHMC__MAX_LOCK_SLOTS << 1, 2 * SMALL_SLOTS};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_control_u32(d->inst, at, bad[i]);
        shmc_cache *c = NULL;
        shmc_opts opts = {.map_size = TU_MAP_SIZE, .lock_slots = SMALL_SLOTS};
        tu_assert_rc(shmc_open(&c, d->inst, &opts), SHMC_ECORRUPT);
        assert_null(c);
        /* Put back, the instance opens again: the field was the fault. */
        write_control_u32(d->inst, at, SMALL_SLOTS);
        c = open_at(d->inst, SMALL_SLOTS);
        assert_int_equal(slots_of(c), SMALL_SLOTS);
        shmc_close(c);
    }
}

int main(void)
{
    /* A holder that died early must fail the test, not kill it with
     * SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        tu_test_with_cache(lock_unlock_round_trip),
        tu_test_with_cache(unlock_of_a_lock_not_held),
        test_with_small_table(bad_arguments_hold_nothing),
        tu_test_with_cache(lock_with_null_cache_marks_nothing_held),
        tu_test_with_cache(fork_does_not_pass_on_locks),
        tu_test_with_cache(processes_exclude_each_other),
        tu_test_with_cache(threads_exclude_each_other),
        tu_test_with_cache(threads_own_their_locks),
        test_with_small_table(timeouts_give_up_holding_nothing),
        tu_test_with_cache(waiter_gets_the_lock_once_released),
        tu_test_with_cache(killed_holder_is_recovered),
        tu_test_with_cache(blocked_waiter_recovers_from_killed_holder),
        tu_test_with_cache(same_key_twice_needs_two_unlocks),
        test_with_small_table(keys_sharing_a_slot_lock_without_deadlock),
        tu_test_in_dir(lock_slots_option),
        tu_test_with_cache(clear_and_deletes_keep_locks),
        tu_test_in_dir(corrupt_lock_slots_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
