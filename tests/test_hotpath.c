/* test_hotpath.c - the promise of shmc_get() and shmc_get_view() in
 * shmcache.h: once the thread has read from the instance, a read (keys up
 * to 511 bytes: longer ones are hashed) makes no system call and no
 * allocation. Proven by counting: this program wraps malloc and its
 * siblings, and a seccomp filter traps every system call of a child. */
#include "testutil.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* AddressSanitizer brings its own malloc: the wrappers below would fight
 * it, so they are left out and the allocation test is skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define BUILT_WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUILT_WITH_ASAN 1
#endif
#endif
#ifndef BUILT_WITH_ASAN
#define BUILT_WITH_ASAN 0
#endif

#define READS 10000
#define CHILD_TIMEOUT_S 20

/* ---- what is read ------------------------------------------------------ */

/* The longest key stored as itself. */
static char long_key[511];

static void store_entries(shmc_cache *c)
{
    uint64_t now = shmc_now_ms();
    shmc_set_opts stale = {.fresh_until_ms = now - 60000,
                           .stale_ms = 3600000};
    shmc_set_opts expired = {.fresh_until_ms = now - 60000, .stale_ms = 1000};
    memset(long_key, 'k', sizeof long_key);
    tu_assert_rc(shmc_set(c, "hot", 3, "hot-value", 9, 0), 0);
    tu_assert_rc(shmc_set_ex(c, "stale", 5, "stale-value", 11, &stale, NULL),
                 0);
    tu_assert_rc(
        shmc_set_ex(c, "expired", 7, "expired-value", 13, &expired, NULL), 0);
    tu_assert_rc(shmc_set(c, long_key, sizeof long_key, "long-value", 10, 0),
                 0);
}

/* What a view callback returns when it saw the value it expected. */
#define VIEW_SAW_VALUE 7

static int view_matches(const void *val, size_t len, const shmc_meta *meta,
                        void *want)
{
    (void)meta;
    return len == strlen(want) && memcmp(val, want, len) == 0
               ? VIEW_SAW_VALUE
               : VIEW_SAW_VALUE + 1;
}

struct read_case {
    const char *key;
    size_t klen;
    unsigned flags;
    int view;         /* shmc_get_view, else shmc_get */
    int want_rc;
    const char *want; /* the value, when one is delivered */
};

static const struct read_case read_cases[] = {
    {.key = "hot", .klen = 3, .want_rc = 0, .want = "hot-value"},
    {.key = "absent", .klen = 6, .want_rc = SHMC_ENOTFOUND},
    {.key = "hot", .klen = 3, .view = 1, .want_rc = VIEW_SAW_VALUE,
     .want = "hot-value"},
    {.key = "absent", .klen = 6, .view = 1, .want_rc = SHMC_ENOTFOUND},
    {.key = "stale", .klen = 5, .flags = SHMC_GET_STALE,
     .want_rc = SHMC_STALE, .want = "stale-value"},
    {.key = "stale", .klen = 5, .flags = SHMC_GET_STALE, .view = 1,
     .want_rc = VIEW_SAW_VALUE, .want = "stale-value"},
    {.key = "stale", .klen = 5, .want_rc = SHMC_ENOTFOUND},
    {.key = "expired", .klen = 7, .flags = SHMC_GET_STALE,
     .want_rc = SHMC_ENOTFOUND},
    {.key = long_key, .klen = sizeof long_key, .want_rc = 0,
     .want = "long-value"},
    {.key = long_key, .klen = sizeof long_key, .view = 1,
     .want_rc = VIEW_SAW_VALUE, .want = "long-value"},
};
#define READ_CASES (sizeof read_cases / sizeof read_cases[0])

/* 0 when the read gives what store_entries() stored. Prints nothing:
 * printing would make system calls of its own. */
static int read_as_expected(shmc_cache *c, const struct read_case *rc)
{
    char buf[32];
    size_t len = sizeof buf;
    int got = rc->view ? shmc_get_view(c, rc->key, rc->klen, rc->flags,
                                       view_matches, (void *)rc->want)
                       : shmc_get(c, rc->key, rc->klen, buf, &len, NULL,
                                  rc->flags);
    if (got != rc->want_rc)
        return 1;
    if (!rc->view && rc->want &&
        (len != strlen(rc->want) || memcmp(buf, rc->want, len) != 0))
        return 1;
    return 0;
}

/* Every kind of read in turn; returns how many went wrong. */
static long read_all_kinds(shmc_cache *c, int reads)
{
    long wrong = 0;
    for (int i = 0; i < reads; i++)
        wrong += read_as_expected(c, &read_cases[(size_t)i % READ_CASES]);
    return wrong;
}

/* ---- allocations ------------------------------------------------------- */

#if BUILT_WITH_ASAN

static void test_reads_allocate_nothing(void **state)
{
    (void)state;
    skip();
}

#else

/* glibc's own entry points, which its malloc() is an alias of. Every
 * library in the process calls the definitions below instead. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

static int counting;
static long allocator_calls;

void *malloc(size_t size)
{
    allocator_calls += counting;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    allocator_calls += counting;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    allocator_calls += counting;
    return __libc_realloc(p, size);
}

void free(void *p)
{
    allocator_calls += counting;
    __libc_free(p);
}

static void test_reads_allocate_nothing(void **state)
{
    /* Valgrind replaces the allocator behind these wrappers. */
    if (tu_under_valgrind())
        skip();
    shmc_cache *c = tu_open(*state, NULL);
    store_entries(c);
    assert_int_equal(read_as_expected(c, &read_cases[0]), 0);

    allocator_calls = 0;
    counting = 1;
    long wrong = read_all_kinds(c, READS);
    long calls_in_reads = allocator_calls;
    /* The control: the counter sees the library allocate and free. */
    void *val;
    size_t len;
    int alloc_rc = shmc_get_alloc(c, "hot", 3, &val, &len, NULL, 0);
    shmc_free(val);
    long calls_in_control = allocator_calls - calls_in_reads;
    counting = 0;

    shmc_close(c);
    assert_int_equal(wrong, 0);
    assert_int_equal(calls_in_reads, 0);
    tu_assert_rc(alloc_rc, 0);
    assert_true(calls_in_control >= 2);
}

#endif

/* ---- system calls ------------------------------------------------------ */

#if defined(__x86_64__)

#define TRAPS_KEPT 16

static volatile sig_atomic_t traps;
static volatile int trapped_syscalls[TRAPS_KEPT];

static void count_trap(int sig, siginfo_t *si, void *context)
{
    (void)sig;
    (void)context;
    if (traps < TRAPS_KEPT)
        trapped_syscalls[traps] = si->si_syscall;
    traps++;
}

struct trap_report {
    long wrong_reads;
    int traps_in_reads;
    int traps_in_all; /* after the deliberate getppid() */
    int syscalls[TRAPS_KEPT];
};

/* Jump offsets in a BPF program are counted from the next instruction. */
#define JUMP(from, to) ((to) - (from)-1)

/* From now on every system call but exit, sigreturn and the report's one
 * write raises SIGSYS instead of running. */
static int trap_every_syscall(int report_fd)
{
    enum {
        CHECK_ARCH = 1,
        IS_EXIT_GROUP = 4,
        IS_EXIT,
        IS_SIGRETURN,
        IS_WRITE,
        FD_LOW = 9,
        FD_HIGH = 11,
        TRAP,
        ALLOW
    };
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, arch)),
        [CHECK_ARCH] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64,
                                1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        [IS_EXIT_GROUP] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group,
                                   JUMP(IS_EXIT_GROUP, ALLOW), 0),
        [IS_EXIT] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit,
                             JUMP(IS_EXIT, ALLOW), 0),
        [IS_SIGRETURN] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn,
                                  JUMP(IS_SIGRETURN, ALLOW), 0),
        [IS_WRITE] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 0,
                              JUMP(IS_WRITE, TRAP)),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args)),
        [FD_LOW] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)report_fd, 0,
                            JUMP(FD_LOW, TRAP)),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args) + 4),
        [FD_HIGH] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0,
                             JUMP(FD_HIGH, ALLOW), JUMP(FD_HIGH, TRAP)),
        [TRAP] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        [ALLOW] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0],
                              .filter = code};
    struct sigaction sa = {.sa_sigaction = count_trap, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        fprintf(stderr, "installing the seccomp filter: %s\n",
                strerror(errno));
        return 1;
    }
    return 0;
}

/* In the child: warm up, then read under the filter and report. Ends the
 * process itself, as exit() would run handlers that make system calls. */
static int report_read_syscalls(shmc_cache *c, int report_fd)
{
    struct trap_report r = {0};
    /* The warm-up reopens the instance for this process and creates the
     * thread's reader: the last read allowed to make system calls. */
    if (read_as_expected(c, &read_cases[0])) {
        fprintf(stderr, "warm-up read failed: %s\n", shmc_last_error());
        return 1;
    }
    if (trap_every_syscall(report_fd))
        return 1;
    r.wrong_reads = read_all_kinds(c, READS);
    r.traps_in_reads = traps;
    syscall(SYS_getppid);
    r.traps_in_all = traps;
    for (int i = 0; i < TRAPS_KEPT && i < r.traps_in_all; i++)
        r.syscalls[i] = trapped_syscalls[i];
    ssize_t n = write(report_fd, &r, sizeof r);
    syscall(SYS_exit_group, n == (ssize_t)sizeof r ? 0 : 1);
    return 1;
}

static void test_reads_make_no_syscall(void **state)
{
    /* Valgrind runs system calls on the program's behalf. */
    if (tu_under_valgrind())
        skip();
    shmc_cache *c = tu_open(*state, NULL);
    int fds[2];
    struct trap_report r;
    store_entries(c);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(report_read_syscalls(c, fds[1]));
    }
    close(fds[1]);
    int reported = tu_read_within(fds[0], &r, sizeof r,
                                  CHILD_TIMEOUT_S * 1000) == 1;
    close(fds[0]);
    assert_int_equal(tu_wait_child(pid, CHILD_TIMEOUT_S), 0);
    shmc_close(c);
    assert_true(reported);
    assert_int_equal(r.wrong_reads, 0);
    if (r.traps_in_reads) {
        char list[TRAPS_KEPT * 12] = "";
        for (int i = 0; i < TRAPS_KEPT && i < r.traps_in_reads; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), " %d",
                     r.syscalls[i]);
        fail_msg("%d reads made %d system calls; the first numbers:%s", READS,
                 r.traps_in_reads, list);
    }
    /* The control: the filter does trap a system call. */
    assert_int_equal(r.traps_in_all, 1);
    assert_int_equal(r.syscalls[0], SYS_getppid);
}

#else

static void test_reads_make_no_syscall(void **state)
{
    /* The filter checks the x86-64 system call ABI only. */
    (void)state;
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_in_dir(test_reads_allocate_nothing),
        tu_test_in_dir(test_reads_make_no_syscall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
