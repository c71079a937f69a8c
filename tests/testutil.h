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

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

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

/* A test entry (for a CMUnitTest array) running fn between them. */
#define tu_test_with_cache(fn)                                              \
    cmocka_unit_test_setup_teardown(fn, tu_setup_cache, tu_teardown_cache)

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

/* Shared anonymous memory of size bytes that children inherit; free it
 * with tu_unshare. Fails the test if mmap fails. */
void *tu_shared(size_t size);
void tu_unshare(void *p, size_t size);

/* ---- time and valgrind -------------------------------------------------- */

/* Monotonic nanoseconds, for ordering events across processes. */
uint64_t tu_now_ns(void);

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
