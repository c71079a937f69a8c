/* test_fork.c - handles across fork() (shmcache.h, FORK): a handle opened
 * before fork works in the child with no call from the user, and neither
 * the child's use nor its exit disturbs the parent's handle, its cached
 * read transaction or its reader slot. Every test forks real children. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHILD_TIMEOUT_S 20
/* Reader slots a parent with one cached reader may see in use after its
 * children, one at a time, read and exit: its own, the last child's, and
 * one spare. Slots of dead children that were never reclaimed would push
 * readers_used to one per child. */
#define READERS_BOUND 4

/* check_set and the helpers below return 0 or 1 and say why on stderr,
 * as tu_check_value does, so that children (which must not use cmocka)
 * and the parent (through assert_int_equal) share them. */

static int check_set(shmc_cache *c, const char *key, const char *val)
{
    int rc = shmc_set(c, key, strlen(key), val, strlen(val), 0);
    if (rc == 0)
        return 0;
    fprintf(stderr, "pid %d: set \"%s\": %s: %s\n", (int)getpid(), key,
            shmc_err_name(rc), shmc_last_error());
    return 1;
}

/* A parent whose thread has read once: its cached read transaction (and
 * so its reader slot) exists before any fork. */
static shmc_cache *open_with_active_reader(const struct tu_dir *d)
{
    shmc_cache *c = tu_open(d, NULL);
    assert_int_equal(check_set(c, "from-parent", "parent-value"), 0);
    assert_int_equal(tu_check_value(c, "from-parent", "parent-value"), 0);
    return c;
}

/* ---- the child uses the handle without any call ------------------------ */

static int child_reads_and_writes(void *arg, int child)
{
    shmc_cache *c = arg;
    (void)child;
    int failed = tu_check_value(c, "from-parent", "parent-value") ||
                 check_set(c, "from-child", "child-value");
    shmc_close(c);
    return failed;
}

static void test_child_uses_handle_opened_before_fork(void **state)
{
    shmc_cache *c = open_with_active_reader(*state);
    tu_run_children(1, child_reads_and_writes, c, CHILD_TIMEOUT_S);
    assert_int_equal(tu_check_value(c, "from-child", "child-value"), 0);
    assert_int_equal(tu_check_value(c, "from-parent", "parent-value"), 0);
    shmc_close(c);
}

/* ---- parent and child take turns -------------------------------------- */

static int send_token(int fd)
{
    char token = 1;
    if (write(fd, &token, 1) == 1)
        return 0;
    fprintf(stderr, "pid %d: write token: %s\n", (int)getpid(),
            strerror(errno));
    return 1;
}

static int await_token(int fd)
{
    int got = tu_await_byte(fd, CHILD_TIMEOUT_S * 1000);
    if (got == 1)
        return 0;
    fprintf(stderr, "pid %d: no token from the other side (%s)\n",
            (int)getpid(), got == 0 ? "timeout" : "closed");
    return 1;
}

static void round_names(char *key, char *val, size_t size, const char *who,
                        unsigned round)
{
    snprintf(key, size, "%s-key-%u", who, round);
    snprintf(val, size, "%s-value-%u", who, round);
}

static int write_round(shmc_cache *c, const char *who, unsigned round)
{
    char key[64], val[64];
    round_names(key, val, sizeof key, who, round);
    return check_set(c, key, val);
}

static int read_round(shmc_cache *c, const char *who, unsigned round)
{
    char key[64], val[64];
    round_names(key, val, sizeof key, who, round);
    return tu_check_value(c, key, val);
}

static void test_parent_and_child_interleave(void **state)
{
    shmc_cache *c = open_with_active_reader(*state);
    unsigned rounds = tu_scaled(100);
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        int failed = 0;
        for (unsigned i = 0; i < rounds && !failed; i++)
            failed = await_token(to_child[0]) ||
                     read_round(c, "parent", i) ||
                     write_round(c, "child", i) || send_token(to_parent[1]);
        shmc_close(c);
        _exit(failed);
    }
    close(to_child[0]);
    close(to_parent[1]);
    int failed = 0;
    for (unsigned i = 0; i < rounds && !failed; i++)
        failed = write_round(c, "parent", i) || send_token(to_child[1]) ||
                 await_token(to_parent[0]) || read_round(c, "child", i) ||
                 read_round(c, "parent", i);
    /* A parent that failed closes its end, so the child stops too. */
    close(to_child[1]);
    close(to_parent[0]);
    assert_int_equal(tu_wait_child(pid, CHILD_TIMEOUT_S), 0);
    assert_int_equal(failed, 0);
    shmc_close(c);
}

/* ---- many children, one parent reader ---------------------------------- */

struct numbered_child {
    shmc_cache *c;
    unsigned number;
};

/* A worker that dies without closing: its reader slot stays taken until
 * some open reclaims it. */
static int child_writes_and_exits_without_close(void *arg, int child)
{
    struct numbered_child *nc = arg;
    (void)child;
    return tu_check_value(nc->c, "from-parent", "parent-value") ||
           write_round(nc->c, "child", nc->number) ||
           read_round(nc->c, "child", nc->number);
}

static void test_children_leave_parent_reader_alone(void **state)
{
    shmc_cache *c = open_with_active_reader(*state);
    struct numbered_child nc = {.c = c};
    for (nc.number = 0; nc.number < 50; nc.number++) {
        tu_run_children(1, child_writes_and_exits_without_close, &nc,
                        CHILD_TIMEOUT_S);
        /* Renewing the cached transaction fails (LMDB's MDB_BAD_RSLOT)
         * if a child released or took over the parent's reader slot. */
        assert_int_equal(tu_check_value(c, "from-parent", "parent-value"), 0);
        assert_int_equal(read_round(c, "child", nc.number), 0);
    }
    assert_in_range(tu_info(c).readers_used, 1, READERS_BOUND);
    shmc_close(c);
}

/* ---- pre-fork server --------------------------------------------------- */

struct prefork {
    shmc_cache *c;
    unsigned ops;
};

static int worker(void *arg, int child)
{
    struct prefork *p = arg;
    char who[32];
    snprintf(who, sizeof who, "worker-%d", child);
    int failed = tu_check_value(p->c, "from-parent", "parent-value");
    for (unsigned op = 0; op < p->ops && !failed; op++)
        failed = write_round(p->c, who, op) || read_round(p->c, who, op);
    shmc_close(p->c);
    return failed;
}

static void test_prefork_workers(void **state)
{
    enum { WORKERS = 4 };
    struct prefork p = {.c = open_with_active_reader(*state),
                        .ops = tu_scaled(2000)};
    char who[32];
    tu_run_children(WORKERS, worker, &p, CHILD_TIMEOUT_S);
    for (int w = 0; w < WORKERS; w++) {
        snprintf(who, sizeof who, "worker-%d", w);
        for (unsigned op = 0; op < p.ops; op++)
            assert_int_equal(read_round(p.c, who, op), 0);
    }
    assert_int_equal(tu_check_value(p.c, "from-parent", "parent-value"), 0);
    shmc_close(p.c);
}

/* ---- a grandchild ------------------------------------------------------ */

static int grandchild(shmc_cache *c)
{
    int failed = tu_check_value(c, "from-parent", "parent-value") ||
                 tu_check_value(c, "from-child", "child-value") ||
                 check_set(c, "from-grandchild", "grandchild-value");
    shmc_close(c);
    return failed;
}

static int child_forks_grandchild(void *arg, int child)
{
    shmc_cache *c = arg;
    (void)child;
    if (tu_check_value(c, "from-parent", "parent-value") ||
        check_set(c, "from-child", "child-value"))
        return 1;
    /* Not tu_fork, which fails the test: this is a child, and its crash
     * signals, reset by tu_run_children, are the grandchild's too. */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0)
        _exit(grandchild(c));
    int failed = tu_wait_child(pid, CHILD_TIMEOUT_S) ||
                 tu_check_value(c, "from-grandchild", "grandchild-value") ||
                 tu_check_value(c, "from-child", "child-value");
    shmc_close(c);
    return failed;
}

static void test_grandchild(void **state)
{
    shmc_cache *c = open_with_active_reader(*state);
    tu_run_children(1, child_forks_grandchild, c, CHILD_TIMEOUT_S);
    assert_int_equal(tu_check_value(c, "from-grandchild", "grandchild-value"),
                     0);
    assert_int_equal(tu_check_value(c, "from-child", "child-value"), 0);
    shmc_close(c);
}

/* ---- the instance's descriptors ---------------------------------------- */

static const char *const instance_files[] = {"data.mdb", "lock.mdb",
                                             "control.shm"};
#define INSTANCE_FILES (sizeof instance_files / sizeof instance_files[0])

struct instance_fds {
    int count[INSTANCE_FILES];
    int without_cloexec;
    char last_without_cloexec[PATH_MAX]; /* for the message */
};

/* Count this process's descriptors on each file of the instance at inst,
 * and those of them that would survive exec. */
static int scan_instance_fds(const char *inst, struct instance_fds *out)
{
    memset(out, 0, sizeof *out);
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        fprintf(stderr, "/proc/self/fd: %s\n", strerror(errno));
        return 1;
    }
    size_t inst_len = strlen(inst);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char link[sizeof "/proc/self/fd/" + sizeof e->d_name],
            target[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue; /* the directory stream's own descriptor, now gone */
        target[n] = '\0';
        if (strncmp(target, inst, inst_len) != 0 || target[inst_len] != '/')
            continue;
        for (size_t i = 0; i < INSTANCE_FILES; i++) {
            if (strcmp(target + inst_len + 1, instance_files[i]) != 0)
                continue;
            out->count[i]++;
            int flags = fcntl(atoi(e->d_name), F_GETFD);
            if (flags < 0 || !(flags & FD_CLOEXEC)) {
                out->without_cloexec++;
                memcpy(out->last_without_cloexec, target, (size_t)n + 1);
            }
        }
    }
    closedir(dir);
    return 0;
}

static int data_fds(const char *inst, int *count)
{
    struct instance_fds fds;
    if (scan_instance_fds(inst, &fds))
        return 1;
    *count = fds.count[0];
    return 0;
}

struct two_handles {
    shmc_cache *a, *b;
    const char *inst;
};

static int child_uses_two_handles(void *arg, int child)
{
    struct two_handles *h = arg;
    int inherited, after_a, after_b;
    (void)child;
    if (data_fds(h->inst, &inherited) ||
        tu_check_value(h->a, "from-parent", "parent-value") ||
        data_fds(h->inst, &after_a) ||
        tu_check_value(h->b, "from-parent", "parent-value") ||
        data_fds(h->inst, &after_b))
        return 1;
    /* The first handle opens the environment again for the child; the
     * second must share it, not open the files a second time. */
    if (after_a <= inherited || after_b != after_a) {
        fprintf(stderr,
                "descriptors on data.mdb: %d inherited, %d after the first "
                "handle, %d after the second\n",
                inherited, after_a, after_b);
        return 1;
    }
    if (check_set(h->a, "from-child", "child-value") ||
        tu_check_value(h->b, "from-child", "child-value"))
        return 1;
    shmc_close(h->a);
    int failed = check_set(h->b, "after-close", "still-works") ||
                 tu_check_value(h->b, "after-close", "still-works");
    shmc_close(h->b);
    return failed;
}

static void test_two_handles_share_environment_in_child(void **state)
{
    const struct tu_dir *d = *state;
    struct two_handles h = {.a = open_with_active_reader(d),
                            .b = tu_open(d, NULL),
                            .inst = d->inst};
    assert_int_equal(tu_check_value(h.b, "from-parent", "parent-value"), 0);
    tu_run_children(1, child_uses_two_handles, &h, CHILD_TIMEOUT_S);
    assert_int_equal(tu_check_value(h.a, "after-close", "still-works"), 0);
    assert_int_equal(tu_check_value(h.b, "from-child", "child-value"), 0);
    assert_int_equal(tu_check_value(h.a, "from-parent", "parent-value"), 0);
    shmc_close(h.a);
    shmc_close(h.b);
}

/* ---- a handle the child only closes ------------------------------------ */

static int child_closes_unused_handle(void *arg, int child)
{
    (void)child;
    shmc_close(arg);
    return 0;
}

static int child_opens_and_reads(void *arg, int child)
{
    const struct tu_dir *d = arg;
    shmc_opts opts = {.map_size = TU_MAP_SIZE};
    shmc_cache *c;
    (void)child;
    int rc = shmc_open(&c, d->inst, &opts);
    if (rc) {
        fprintf(stderr, "open: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 1;
    }
    int failed = tu_check_value(c, "after-child", "parent-still-writes");
    shmc_close(c);
    return failed;
}

static void test_close_unused_handle_in_child(void **state)
{
    const struct tu_dir *d = *state;
    shmc_cache *c = open_with_active_reader(d);
    tu_run_children(1, child_closes_unused_handle, c, CHILD_TIMEOUT_S);
    /* Closing the parent's environment in the child would have released
     * the parent's reader slot: the next renew would fail. */
    assert_int_equal(tu_check_value(c, "from-parent", "parent-value"), 0);
    assert_int_equal(check_set(c, "after-child", "parent-still-writes"), 0);
    assert_int_equal(tu_check_value(c, "after-child", "parent-still-writes"),
                     0);
    tu_run_children(1, child_opens_and_reads, (void *)d, CHILD_TIMEOUT_S);
    shmc_close(c);
}

/* ---- exec -------------------------------------------------------------- */

struct exec_ctx {
    shmc_cache *c;
    const char *inst;
};

static int child_checks_cloexec_then_execs(void *arg, int child)
{
    struct exec_ctx *x = arg;
    struct instance_fds fds;
    (void)child;
    if (tu_check_value(x->c, "from-parent", "parent-value") ||
        scan_instance_fds(x->inst, &fds))
        return 1;
    int failed = fds.without_cloexec != 0;
    if (failed)
        fprintf(stderr, "%d descriptors would survive exec, one on %s\n",
                fds.without_cloexec, fds.last_without_cloexec);
    /* Both the inherited descriptors and the child's own must be seen, or
     * the scan proves nothing. */
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        if (fds.count[i] < 2) {
            fprintf(stderr, "%d descriptors on %s, expected 2 or more\n",
                    fds.count[i], instance_files[i]);
            failed = 1;
        }
    if (failed)
        return 1;
    char *const argv[] = {(char *)"true", NULL};
    execv("/bin/true", argv);
    fprintf(stderr, "execv /bin/true: %s\n", strerror(errno));
    return 127;
}

static void test_child_execs(void **state)
{
    const struct tu_dir *d = *state;
    struct exec_ctx x = {.c = open_with_active_reader(d), .inst = d->inst};
    tu_run_children(1, child_checks_cloexec_then_execs, &x, CHILD_TIMEOUT_S);
    assert_int_equal(tu_check_value(x.c, "from-parent", "parent-value"), 0);
    shmc_close(x.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_in_dir(test_child_uses_handle_opened_before_fork),
        tu_test_in_dir(test_parent_and_child_interleave),
        tu_test_in_dir(test_children_leave_parent_reader_alone),
        tu_test_in_dir(test_prefork_workers),
        tu_test_in_dir(test_grandchild),
        tu_test_in_dir(test_two_handles_share_environment_in_child),
        tu_test_in_dir(test_close_unused_handle_in_child),
        tu_test_in_dir(test_child_execs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
