/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"

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
    shmc_opts small = {.map_size = TU_MAP_SIZE};
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, d->inst, opts ? opts : &small), 0);
    return c;
}

shmc_info tu_info(shmc_cache *c)
{
    shmc_info info;
    tu_assert_rc(shmc_info_get(c, &info), 0);
    return info;
}

shmc_stats tu_stats(shmc_cache *c)
{
    shmc_stats s;
    tu_assert_rc(shmc_stats_get(c, &s), 0);
    return s;
}

struct shmc__instance *tu_instance(shmc_cache *c)
{
    struct shmc__instance *inst = NULL;
    tu_assert_rc(shmc__instance_get(c, &inst), 0);
    return inst;
}

int tu_setup_dir(void **state)
{
    struct tu_dir *d = malloc(sizeof *d);
    assert_non_null(d);
    tu_dir_make(d);
    *state = d;
    return 0;
}

int tu_teardown_dir(void **state)
{
    tu_dir_remove(*state);
    free(*state);
    return 0;
}

int tu_setup_cache_with(void **state, const shmc_opts *opts)
{
    struct tu_cache *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tu_dir_make(&f->dir);
    f->c = tu_open(&f->dir, opts);
    *state = f;
    return 0;
}

int tu_setup_cache(void **state)
{
    return tu_setup_cache_with(state, NULL);
}

int tu_teardown_cache(void **state)
{
    struct tu_cache *f = *state;
    shmc_close(f->c);
    tu_dir_remove(&f->dir);
    free(f);
    return 0;
}

shmc_cache *tu_cache_of(void **state)
{
    return ((struct tu_cache *)*state)->c;
}

void tu_set(shmc_cache *c, const char *key, const char *val)
{
    tu_assert_rc(shmc_set(c, key, strlen(key), val, strlen(val), 0), 0);
}

int tu_check_value(shmc_cache *c, const char *key, const char *want)
{
    char buf[256];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
    if (want ? rc == 0 && len == strlen(want) && memcmp(buf, want, len) == 0
             : rc == SHMC_ENOTFOUND)
        return 0;
    fprintf(stderr, "pid %d: get \"%s\": %s, \"%.*s\", expected %s%s%s: %s\n",
            (int)getpid(), key, shmc_err_name(rc), rc == 0 ? (int)len : 0,
            buf, want ? "\"" : "", want ? want : "a miss", want ? "\"" : "",
            shmc_last_error());
    return 1;
}

void tu_assert_value(shmc_cache *c, const char *key, const char *want)
{
    if (tu_check_value(c, key, want))
        fail_msg("get \"%s\" did not read as expected (why: above)", key);
}

static void bystander(unsigned i, char key[32], char val[32])
{
    snprintf(key, 32, "bystander-%u", i);
    snprintf(val, 32, "value of bystander %u", i);
}

void tu_put_bystanders(shmc_cache *c, unsigned n)
{
    char key[32], val[32];
    for (unsigned i = 0; i < n; i++) {
        bystander(i, key, val);
        tu_set(c, key, val);
    }
}

void tu_assert_bystanders(shmc_cache *c, unsigned n)
{
    char key[32], val[32];
    for (unsigned i = 0; i < n; i++) {
        bystander(i, key, val);
        tu_assert_value(c, key, val);
    }
}

void tu_find_key(char *out, size_t cap, const char *prefix,
                 tu_key_filter fits, const void *arg)
{
    for (unsigned n = 0; n < TU_KEY_SEARCH_LIMIT; n++) {
        int len = snprintf(out, cap, "%s-%u", prefix, n);
        if (len < 0 || (size_t)len >= cap)
            fail_msg("key \"%s-%u\" does not fit in %zu bytes", prefix, n,
                     cap);
        if (fits(out, arg))
            return;
    }
    fail_msg("no key \"%s-<n>\" with n < %u fits", prefix,
             TU_KEY_SEARCH_LIMIT);
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

uint64_t tu_ms_since(uint64_t start_ns)
{
    return (tu_now_ns() - start_ns) / 1000000u;
}

void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int tu_under_valgrind(void)
{
    return getenv("SHMC_TEST_UNDER_VALGRIND") != NULL;
}

unsigned tu_scaled(unsigned n)
{
    return tu_under_valgrind() ? (n + 9) / 10 : n;
}

/* tu_fork's fork, which tu_run_children shares: -1 with errno on failure
 * (the caller decides how to fail). */
static pid_t fork_with_default_crash_signals(void)
{
    static const int crashes[] = {SIGSEGV, SIGBUS, SIGILL,
                                  SIGFPE,  SIGSYS, SIGABRT};
    pid_t pid = fork();
    if (pid == 0)
        for (size_t s = 0; s < sizeof crashes / sizeof crashes[0]; s++)
            signal(crashes[s], SIG_DFL);
    return pid;
}

pid_t tu_fork(void)
{
    pid_t pid = fork_with_default_crash_signals();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    return pid;
}

/* On stderr: how the child pid ended, as waitpid's status tells, then
 * note (appended as it is: "" or text that starts with its own ", "). */
static void say_how_child_ended(pid_t pid, int status, const char *note)
{
    fprintf(stderr, "child %d: %s %d%s\n", (int)pid,
            WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), note);
}

/* tu_wait_child with a deadline on the tu_now_ns() clock, so that children
 * started together share one; timeout_s is for the message. */
static int wait_child_until(pid_t pid, uint64_t deadline_ns, int timeout_s)
{
    int status;
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 ||
           (got < 0 && errno == EINTR)) {
        if (tu_now_ns() > deadline_ns) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            fprintf(stderr, "child %d still running after %d s: killed\n",
                    (int)pid, timeout_s);
            return 1;
        }
        tu_sleep_ms(2);
    }
    if (got < 0) {
        fprintf(stderr, "waitpid %d: %s\n", (int)pid, strerror(errno));
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    say_how_child_ended(pid, status, "");
    return 1;
}

static uint64_t deadline_after(int timeout_s)
{
    return tu_now_ns() + (uint64_t)timeout_s * 1000000000u;
}

int tu_wait_child(pid_t pid, int timeout_s)
{
    return wait_child_until(pid, deadline_after(timeout_s), timeout_s);
}

void tu_run_children(int n, tu_child_fn fn, void *arg, int timeout_s)
{
    _Atomic int *go = tu_shared(sizeof *go);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    assert_non_null(pids);
    atomic_store(go, 0);
    for (int i = 0; i < n; i++) {
        pids[i] = fork_with_default_crash_signals();
        if (pids[i] < 0) {
            int fork_errno = errno;
            /* Those already forked would wait for the barrier forever. */
            for (int j = 0; j < i; j++) {
                kill(pids[j], SIGKILL);
                waitpid(pids[j], NULL, 0);
            }
            fail_msg("fork: %s", strerror(fork_errno));
        }
        if (pids[i] == 0) {
            /* The child never gets back to free its copy: a leak checker
             * would report it when the child exits. */
            free(pids);
            while (!atomic_load(go))
                sched_yield();
            _exit(fn(arg, i));
        }
    }
    atomic_store(go, 1);
    uint64_t deadline = deadline_after(timeout_s);
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += wait_child_until(pids[i], deadline, timeout_s);
    free(pids);
    tu_unshare(go, sizeof *go);
    if (failed)
        fail_msg("%d of %d children failed (why: above)", failed, n);
}

pid_t tu_spawn(tu_child_fn fn, void *arg)
{
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(fn(arg, 0));
    return pid;
}

int tu_reaped_by_sigkill(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "waitpid %d: %s\n", (int)pid, strerror(errno));
            return 0;
        }
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return 1;
    say_how_child_ended(pid, status, ", not killed by SIGKILL");
    return 0;
}

int tu_kill_child(pid_t pid)
{
    if (kill(pid, SIGKILL) < 0) {
        fprintf(stderr, "kill %d: %s\n", (int)pid, strerror(errno));
        return 0;
    }
    return tu_reaped_by_sigkill(pid);
}

int tu_await_lock_wait(shmc_cache *c, uint64_t waits_before,
                       unsigned timeout_ms)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000u;
    shmc_stats s;
    while (shmc_stats_get(c, &s) == 0) {
        if (s.lock_waits > waits_before)
            return 0;
        if (tu_now_ns() > deadline)
            break;
        tu_sleep_ms(1);
    }
    return -1;
}

int tu_read_within(int fd, void *buf, size_t size, unsigned timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, (int)timeout_ms)) < 0 && errno == EINTR)
        ;
    if (n == 0)
        return 0;
    return n == 1 && read(fd, buf, size) == (ssize_t)size ? 1 : -1;
}

int tu_await_byte(int fd, unsigned timeout_ms)
{
    char byte;
    return tu_read_within(fd, &byte, 1, timeout_ms);
}

void tu_start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc)
        fail_msg("pthread_create: %s", strerror(rc));
}

void tu_join_thread(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    if (rc)
        fail_msg("pthread_join: %s", strerror(rc));
}

void tu_note_failure(struct tu_failures *f, const char *fmt, ...)
{
    if (f->count++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->first, sizeof f->first, fmt, ap);
        va_end(ap);
    }
}

void tu_assert_no_failure(const struct tu_failures *f, const char *who)
{
    if (f->count)
        fail_msg("%s: %d failures, the first: %s", who, f->count, f->first);
}

/* ---- handles closed by the teardown ------------------------------------ */

static shmc_cache *owned[TU_OWNED_MAX];

shmc_cache *tu_open_owned(const struct tu_dir *d, const char *name,
                          const shmc_opts *o)
{
    char path[400];
    shmc_cache *c = NULL;
    snprintf(path, sizeof path, "%s/%s", d->root, name ? name : "inst");
    tu_assert_rc(shmc_open(&c, path, o), 0);
    for (int i = 0; i < TU_OWNED_MAX; i++)
        if (!owned[i]) {
            owned[i] = c;
            return c;
        }
    shmc_close(c);
    fail_msg("more than %d handles open at once", TU_OWNED_MAX);
    return NULL;
}

void tu_close_owned(shmc_cache *c)
{
    for (int i = 0; i < TU_OWNED_MAX; i++)
        if (owned[i] == c)
            owned[i] = NULL;
    shmc_close(c);
}

int tu_teardown_owned(void **state)
{
    for (int i = 0; i < TU_OWNED_MAX; i++)
        tu_close_owned(owned[i]);
    return tu_teardown_dir(state);
}

/* ---- records written behind the library's back ------------------------ */

int tu_lmdb_write(const char *dir, uint64_t map_size, tu_lmdb_fn change,
                  void *arg)
{
    char control[512];
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi dbi[2];
    snprintf(control, sizeof control, "%s/control.shm", dir);
    int lockfd = open(control, O_RDWR | O_CLOEXEC);
    if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
        fprintf(stderr, "%s: %s\n", control, strerror(errno));
        return 1;
    }
    /* The flags of lib/store.c. */
    int rc = mdb_env_create(&env);
    if (rc == 0) {
        mdb_env_set_maxdbs(env, 16);
        mdb_env_set_mapsize(env, (size_t)map_size);
        rc = mdb_env_open(env, dir,
                          MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP |
                              MDB_NOTLS | MDB_NORDAHEAD,
                          0600);
    }
    flock(lockfd, LOCK_UN);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "entries", 0, &dbi[0]);
        if (rc == 0)
            rc = mdb_dbi_open(txn, "hashed", 0, &dbi[1]);
        if (rc == 0)
            rc = change(txn, dbi, arg);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc)
        fprintf(stderr, "records through LMDB: %s\n", mdb_strerror(rc));
    flock(lockfd, LOCK_EX);
    mdb_env_close(env);
    flock(lockfd, LOCK_UN);
    close(lockfd);
    return rc;
}
