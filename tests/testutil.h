/* testutil.h - what the tests share: a private instance directory per test,
 * cmocka fixtures around it, real child processes, and scaling for runs
 * under valgrind.
 *
 * Functions that fail the test (through cmocka's fail_msg) may only be
 * called from the test's own process and thread: in a forked child or
 * another thread cmocka's failure would unwind into a copy of the runner.
 * Each says below whether it is one of them. */
#ifndef SHMC_TESTUTIL_H
#define SHMC_TESTUTIL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <lmdb.h>

#include "shmcache.h"

/* ---- instance directories and handles ----------------------------------- */

/* A fresh directory under /dev/shm; the instance path inside it is inst,
 * which does not exist until something opens it. */
struct tu_dir {
    char root[256];
    char inst[300];
};

/* Create d's directory. Fails the test if it cannot. */
void tu_dir_make(struct tu_dir *d);

/* Remove d's directory and everything below it. Errors are ignored: it is
 * cleanup, also run after a failed test. */
void tu_dir_remove(struct tu_dir *d);

/* The map size tu_open gives an instance when the caller gives no options:
 * for children and threads that must open the instance without tu_open. */
#define TU_MAP_SIZE (16u << 20)

/* Open d's instance with opts, or with a map of TU_MAP_SIZE when opts is
 * NULL. Returns the handle; fails the test (with shmc_last_error()) if the
 * open fails. */
shmc_cache *tu_open(const struct tu_dir *d, const shmc_opts *opts);

/* shmc_info_get's answer for c. Fails the test if the call fails. */
shmc_info tu_info(shmc_cache *c);

/* shmc_stats_get's answer for c. Fails the test if the call fails. */
shmc_stats tu_stats(shmc_cache *c);

/* The library's instance behind c (shmc__instance_get), for tests of the
 * internals; its definition is in lib/instance.h. Fails the test if the
 * call fails. */
struct shmc__instance;
struct shmc__instance *tu_instance(shmc_cache *c);

/* Fail the test with shmc_last_error() when rc is not expected. */
#define tu_assert_rc(rc, expected)                                          \
    do {                                                                    \
        int tu_rc_ = (rc);                                                  \
        if (tu_rc_ != (expected))                                           \
            fail_msg("%s returned %d (%s), expected %d (%s): %s", #rc,      \
                     tu_rc_, shmc_err_name(tu_rc_), (int)(expected),        \
                     shmc_err_name(expected), shmc_last_error());           \
    } while (0)

/* ---- cmocka fixtures (cmocka_unit_test_setup_teardown) ------------------ */

/* *state becomes a struct tu_dir * made by tu_dir_make; the teardown
 * removes the directory and frees it, also after a failed test. Returns 0;
 * the setup fails the test if it cannot allocate or make the directory. */
int tu_setup_dir(void **state);
int tu_teardown_dir(void **state);

/* A test entry (for a CMUnitTest array) running fn between them. */
#define tu_test_in_dir(fn)                                                  \
    cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)

/* Handles a test opens with tu_open_owned are closed by tu_teardown_owned,
 * also after a failed test: a handle left open would be reported as a leak
 * by every child forked later (valgrind). */
#define TU_OWNED_MAX 8

/* Open d->root/name (name NULL: "inst", d->inst) with o; fails the test if
 * the open fails. */
shmc_cache *tu_open_owned(const struct tu_dir *d, const char *name,
                          const shmc_opts *o);
void tu_close_owned(shmc_cache *c);
int tu_teardown_owned(void **state);

/* A test entry with a directory of its own and handles from
 * tu_open_owned. */
#define tu_test_owning(fn)                                                  \
    cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_owned)

/* A change made to an instance's records behind the library's back:
 * dbi[0] is its entries table, dbi[1] its hashed table. Returns 0 to have
 * the transaction committed, or an LMDB error. */
typedef int (*tu_lmdb_fn)(MDB_txn *txn, const MDB_dbi dbi[2], void *arg);

/* Open the LMDB environment of the instance at dir (map of map_size
 * bytes) as the library does, under control.shm's lock, which serialises
 * the library's opens and closes, and run change in one write
 * transaction. Only in a child: LMDB forbids a second environment of one
 * file in a process. Returns 0, or an LMDB error, said on stderr. */
int tu_lmdb_write(const char *dir, uint64_t map_size, tu_lmdb_fn change,
                  void *arg);

/* A directory and a handle open on its instance. */
struct tu_cache {
    struct tu_dir dir;
    shmc_cache *c;
};

/* *state becomes a struct tu_cache * whose c is tu_open(&dir, NULL); the
 * teardown closes c, removes the directory and frees it, also after a
 * failed test (so a test must not close c itself). Returns 0; the setup
 * fails the test if it cannot allocate, make the directory or open. */
int tu_setup_cache(void **state);
int tu_teardown_cache(void **state);

/* tu_setup_cache with tu_open(&dir, opts): for a setup of a test file's
 * own that wants other options (pair it with tu_teardown_cache). */
int tu_setup_cache_with(void **state, const shmc_opts *opts);

/* A test entry (for a CMUnitTest array) running fn between them. */
#define tu_test_with_cache(fn)                                              \
    cmocka_unit_test_setup_teardown(fn, tu_setup_cache, tu_teardown_cache)

/* The handle of a test run with tu_test_with_cache (or a setup made with
 * tu_setup_cache_with): ((struct tu_cache *)*state)->c. */
shmc_cache *tu_cache_of(void **state);

/* ---- values ------------------------------------------------------------ */

/* Store the string val under the string key, with no TTL or options.
 * Fails the test if the set fails. */
void tu_set(shmc_cache *c, const char *key, const char *val);

/* Read the string key with a plain shmc_get (no flags) and compare it
 * with the string want; want NULL expects a miss. Returns 0 when it
 * matches; otherwise says on stderr (with the pid) what the read gave and
 * returns 1. Reads into a buffer of 256 bytes: a longer value counts as
 * wrong. Safe in children and threads: it never fails the test itself. */
int tu_check_value(shmc_cache *c, const char *key, const char *want);

/* tu_check_value for the test's own process: fails the test (the reason
 * is on stderr) where that returns 1. */
void tu_assert_value(shmc_cache *c, const char *key, const char *want);

/* n entries a test stores before something that must leave other keys
 * alone (a kill, a recovery) and checks afterwards: "bystander-<i>"
 * holds "value of bystander <i>" for i < n. Both fail the test if a call
 * fails or a value differs. */
void tu_put_bystanders(shmc_cache *c, unsigned n);
void tu_assert_bystanders(shmc_cache *c, unsigned n);

/* Decides whether a generated key will do, given the caller's arg. */
typedef int (*tu_key_filter)(const char *key, const void *arg);

/* How many generated keys tu_find_key tries: a condition that one key in
 * 65536 meets (a stamp slot shared with a given key) is met about 15
 * times among them. */
#define TU_KEY_SEARCH_LIMIT 1000000u

/* Write to out (cap bytes) the first key "<prefix>-<n>", n counting from
 * 0, for which fits(key, arg) holds: the same search always finds the
 * same key. Fails the test if no n < TU_KEY_SEARCH_LIMIT fits (or a key
 * does not fit in cap). */
void tu_find_key(char *out, size_t cap, const char *prefix,
                 tu_key_filter fits, const void *arg);

/* ---- child processes ---------------------------------------------------- */

/* fork(), with the child's crash signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGSYS, SIGABRT) back to their default: cmocka catches them to report a
 * crash and go on with the next test, which in a child would run the
 * parent's remaining tests. Returns the child's pid in the parent and 0 in
 * the child. Fails the test if fork fails: for that reason a child that
 * forks in turn calls fork() itself (its children inherit the defaults). */
pid_t tu_fork(void);

/* Wait up to timeout_s seconds for the child pid to end. Returns 0 when it
 * exited with status 0; otherwise (it exited non-zero, died of a signal,
 * or was still running and has been killed with SIGKILL) says why on
 * stderr and returns 1. Either way the child is reaped (unless pid is not
 * a child of this process: waitpid's error is what it says then). Safe in
 * children: it never fails the test itself. */
int tu_wait_child(pid_t pid, int timeout_s);

/* Run fn(arg, index) in n children forked as by tu_fork, released together
 * by a barrier, and wait up to timeout_s seconds for them all (those still
 * running then are killed; the reasons go to stderr as tu_wait_child's).
 * Fails the test if any child failed, or if a fork failed (after killing
 * the children already forked). A child's exit status is fn's return: fn
 * must not use cmocka's asserts, but return non-zero and say why on
 * stderr. */
typedef int (*tu_child_fn)(void *arg, int index);
void tu_run_children(int n, tu_child_fn fn, void *arg, int timeout_s);

/* A child forked as by tu_fork that runs fn(arg, 0) and exits with its
 * return (the same contract as tu_run_children's fn), for a test that
 * kills or reaps the child itself: with tu_wait_child, tu_kill_child or
 * tu_reaped_by_sigkill. Returns the child's pid; fails the test if fork
 * fails. */
pid_t tu_spawn(tu_child_fn fn, void *arg);

/* Wait, without a time limit, for the child pid to end and reap it.
 * Returns 1 when SIGKILL ended it; otherwise (it exited, died of another
 * signal, or waitpid failed) says how on stderr and returns 0. Safe in
 * children. */
int tu_reaped_by_sigkill(pid_t pid);

/* kill -9 the child pid, then tu_reaped_by_sigkill(pid): 1 when the kill
 * is what ended it, 0 (with the reason on stderr) when it had ended
 * before. If kill itself fails (pid is not a child that can be
 * signalled) it says why and returns 0 without waiting. Safe in
 * children. */
int tu_kill_child(pid_t pid);

/* Shared anonymous memory of size bytes that children inherit; free it
 * with tu_unshare. Fails the test if mmap fails. */
void *tu_shared(size_t size);
void tu_unshare(void *p, size_t size);

/* Wait up to timeout_ms until c's lock_waits counter (shmc_stats) has
 * gone past waits_before: some locker, in any process, found a lock held.
 * It counts the wait before it starts waiting, so a caller that needs it
 * inside the wait gives it a moment more. Returns 0 then; -1 at the time
 * limit or if shmc_stats_get fails. Safe in children. */
int tu_await_lock_wait(shmc_cache *c, uint64_t waits_before,
                       unsigned timeout_ms);

/* ---- pipes between processes -------------------------------------------- */

/* Wait up to timeout_ms for fd (a pipe's read end) to be readable, then
 * read size bytes into buf with one read(). Returns 1 when that read gave
 * size bytes; 0 when nothing came in time; -1 on end of file (every write
 * end closed: the other side is gone), an error or a short read. Retries
 * when a signal interrupts the wait. Safe in children. */
int tu_read_within(int fd, void *buf, size_t size, unsigned timeout_ms);

/* tu_read_within of one byte, whose value is dropped: for a handshake in
 * which a byte written means "go on". Returns as tu_read_within does. */
int tu_await_byte(int fd, unsigned timeout_ms);

/* ---- threads ------------------------------------------------------------ */

/* pthread_create(t, NULL, fn, arg). Fails the test if it fails. */
void tu_start_thread(pthread_t *t, void *(*fn)(void *), void *arg);

/* pthread_join(t), dropping what the thread returned. Fails the test if
 * the join fails. */
void tu_join_thread(pthread_t t);

/* What a thread (or any code that must not use cmocka's asserts) found
 * wrong, kept for the test's thread to report: a cmocka failure in
 * another thread would unwind the runner's stack from there. Start it
 * zeroed ({0}). Not itself thread-safe: give each thread its own, and
 * read it in the test's thread only after joining. */
struct tu_failures {
    int count;
    char first[512]; /* the first failure's message, cut to fit */
};

/* Count a failure in f, keeping its message if it is the first. */
__attribute__((format(printf, 2, 3))) void
tu_note_failure(struct tu_failures *f, const char *fmt, ...);

/* Fail the test, naming who, if f counts any failure. */
void tu_assert_no_failure(const struct tu_failures *f, const char *who);

/* ---- time and valgrind -------------------------------------------------- */

/* Monotonic nanoseconds, for ordering events across processes. */
uint64_t tu_now_ns(void);

/* Whole milliseconds from start_ns (a tu_now_ns() reading) until now. */
uint64_t tu_ms_since(uint64_t start_ns);

/* Sleep for ms milliseconds, resuming after signals. */
void tu_sleep_ms(unsigned ms);

/* Non-zero when the suite runs under valgrind (SHMC_TEST_UNDER_VALGRIND is
 * set, as `make check-valgrind` does): 20-50 times slower, with its own
 * allocator and system calls made on the program's behalf. */
int tu_under_valgrind(void);

/* A loop count or duration: n, or n / 10 rounded up (never 0 for n > 0)
 * under valgrind. Scale the work, never the assertions. */
unsigned tu_scaled(unsigned n);

#endif
