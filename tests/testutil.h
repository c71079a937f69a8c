/* testutil.h - what the tests share: a private instance directory per test,
 * real child processes, and a barrier that releases them together. */
#ifndef SHMC_TESTUTIL_H
#define SHMC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "shmcache.h"

/* A fresh directory under /dev/shm (removed by tu_dir_remove); the instance
 * path inside it is tu->inst. */
struct tu_dir {
    char root[256];
    char inst[300];
};
void tu_dir_make(struct tu_dir *d);
void tu_dir_remove(struct tu_dir *d);

/* Open d's instance with small defaults suited to tests. */
shmc_cache *tu_open(const struct tu_dir *d, const shmc_opts *opts);

/* Fail the test with shmc_last_error() when rc is not expected. */
#define tu_assert_rc(rc, expected)                                          \
    do {                                                                    \
        int tu_rc_ = (rc);                                                  \
        if (tu_rc_ != (expected))                                           \
            fail_msg("%s returned %d (%s), expected %d (%s): %s", #rc,      \
                     tu_rc_, shmc_err_name(tu_rc_), (int)(expected),        \
                     shmc_err_name(expected), shmc_last_error());           \
    } while (0)

/* Run fn(arg, index) in n forked children, released together by a barrier;
 * fn must not use cmocka's asserts (they would unwind into the child's copy
 * of the test runner): it returns non-zero, and says why on stderr.
 * wait for all, failing the test if any child exits non-zero, dies of a
 * signal, or outlives timeout_s. A child's exit status is fn's return. */
typedef int (*tu_child_fn)(void *arg, int index);
void tu_run_children(int n, tu_child_fn fn, void *arg, int timeout_s);

/* Shared anonymous memory that children inherit (munmap with tu_unshare). */
void *tu_shared(size_t size);
void tu_unshare(void *p, size_t size);

/* Monotonic nanoseconds, for ordering events across processes. */
uint64_t tu_now_ns(void);

/* Sleep for ms milliseconds. */
void tu_sleep_ms(unsigned ms);

#endif
