/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void tu_dir_make(struct tu_dir *d)
{
    snprintf(d->root, sizeof d->root, "/dev/shm/shmcache-test.XXXXXX");
    if (!mkdtemp(d->root))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(d->inst, sizeof d->inst, "%s/inst", d->root);
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_dir_remove(struct tu_dir *d)
{
    nftw(d->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

shmc_cache *tu_open(const struct tu_dir *d, const shmc_opts *opts)
{
    shmc_opts small = {.map_size = 16u << 20};
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, d->inst, opts ? opts : &small), 0);
    return c;
}

void *tu_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail_msg("mmap: %s", strerror(errno));
    return p;
}

void tu_unshare(void *p, size_t size)
{
    munmap(p, size);
}

uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void tu_run_children(int n, tu_child_fn fn, void *arg, int timeout_s)
{
    _Atomic int *go = tu_shared(sizeof *go);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    assert_non_null(pids);
    atomic_store(go, 0);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            fail_msg("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            /* cmocka catches these to report a crash and go on with the
             * next test: in a child that would run the parent's tests. */
            static const int crashes[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE,
                                          SIGSYS, SIGABRT};
            for (size_t s = 0; s < sizeof crashes / sizeof crashes[0]; s++)
                signal(crashes[s], SIG_DFL);
            /* The child never gets back to free its copy: a leak checker
             * would report it when the child exits. */
            free(pids);
            while (!atomic_load(go))
                sched_yield();
            _exit(fn(arg, i));
        }
    }
    atomic_store(go, 1);
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_s * 1000000000u;
    int failed = 0, left = n;
    while (left > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            left--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "child %d: %s %d\n", (int)pid,
                        WIFEXITED(status) ? "exit" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status)
                                          : WTERMSIG(status));
                failed++;
            }
            continue;
        }
        if (tu_now_ns() > deadline) {
            for (int i = 0; i < n; i++)
                kill(pids[i], SIGKILL);
            while (wait(NULL) > 0)
                ;
            fail_msg("%d children still running after %d s", left,
                     timeout_s);
        }
        tu_sleep_ms(2);
    }
    free(pids);
    tu_unshare(go, sizeof *go);
    if (failed)
        fail_msg("%d of %d children failed", failed, n);
}
