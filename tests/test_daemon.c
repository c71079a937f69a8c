/* test_daemon.c - shmcached, the built binary (daemon/shmcached), run
 * against private instances while real processes use them.
 *
 * The promises (shmcached(8)): every tick it frees the reader slots of
 * dead processes, sweeps expired entries within its budget and never
 * anything live, and evicts down to the low watermark when the map is
 * above the high one; SIGTERM stops it with status 0 and its pidfile gone;
 * a second daemon on an instance refuses to start and names the first;
 * SIGHUP rereads the settings file, and a bad one leaves the old settings
 * in force; --daemon detaches; a bad command line is status 2. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maint.h"
#include "procrun.h"

#define START_TIMEOUT_MS 10000u
#define STOP_TIMEOUT_MS 10000u
/* The tick of the daemons below, short so that the tests are. */
#define TICK_MS 50u
/* What "within one tick" allows on a busy machine: the tick itself, the
 * round that follows, and the scheduler's whims. */
#define ONE_TICK_SLACK_MS 400u
#define WORKERS 4
#define WORKER_TIMEOUT_S 60

/* ---- files -------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0)
        fail_msg("%s: %s", path, strerror(errno));
}

/* The whole file at path as a string (empty when missing), to free. */
static void assert_file_contains(const char *path, const char *text)
{
    char *s = pr_read_text(path);
    int found = strstr(s, text) != NULL;
    free(s);
    if (!found) {
        pr_show(path);
        fail_msg("%s does not say '%s'", path, text);
    }
}

static void assert_file_lacks(const char *path, const char *text)
{
    char *s = pr_read_text(path);
    int found = strstr(s, text) != NULL;
    free(s);
    if (found) {
        pr_show(path);
        fail_msg("%s says '%s'", path, text);
    }
}

/* The pid written in path, 0 when none (yet). */
static pid_t pid_in(const char *path)
{
    char *s = pr_read_text(path);
    char *end;
    long pid = strtol(s, &end, 10);
    int whole = end != s && *end == '\n';
    free(s);
    return whole && pid > 0 ? (pid_t)pid : 0;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whether some process holds the flock of path. */
static int locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* ---- processes a test leaves behind when it fails ----------------------- */

/* Every process a test starts, killed by the teardown if still running:
 * a failed assertion leaves the test at once, and a daemon or worker left
 * running would outlive the suite. */
#define MAX_TRACKED 32
static pid_t tracked[MAX_TRACKED];
static int ntracked;
/* A daemon that detached: not our child, so tracked apart. */
static pid_t detached;
/* The test's handles, closed by the teardown. */
#define MAX_HANDLES 4
static shmc_cache *handles[MAX_HANDLES];
static int nhandles;

static pid_t track(pid_t pid)
{
    assert_true(ntracked < MAX_TRACKED);
    tracked[ntracked++] = pid;
    return pid;
}

/* In a child: die with the test process, even if it is killed -9. Kept
 * across exec, so it holds for the daemons too. */
static int is_shmcached(pid_t pid)
{
    char path[64], cmd[256] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    return strstr(cmd, "shmcached") != NULL;
}

static int teardown(void **state)
{
    for (int i = 0; i < ntracked; i++) {
        int status;
        /* Only a child not reaped yet: its pid cannot have been reused. */
        if (waitpid(tracked[i], &status, WNOHANG) == 0) {
            kill(tracked[i], SIGKILL);
            waitpid(tracked[i], &status, 0);
        }
    }
    ntracked = 0;
    if (detached && is_shmcached(detached))
        kill(detached, SIGKILL);
    detached = 0;
    for (int i = 0; i < nhandles; i++)
        shmc_close(handles[i]);
    nhandles = 0;
    return tu_teardown_dir(state);
}

#define test_in_dir(fn)                                                     \
    cmocka_unit_test_setup_teardown(fn, tu_setup_dir, teardown)

/* tu_spawn, tracked, for a child that calls die_with_parent. */
static pid_t spawn_child(tu_child_fn fn, void *arg)
{
    return track(tu_spawn(fn, arg));
}

/* ---- running the daemon ------------------------------------------------- */

static const char *daemon_binary(void)
{
    static char path[512];
    const char *top = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/daemon/shmcached", top ? top : ".");
    return path;
}

/* A daemon of the test: its process, where its stderr goes, its pidfile. */
struct daemon {
    pid_t pid;
    char log[320];
    char pidfile[320];
};

#define MAX_ARGS 24

/* Start the daemon with args (NULL-terminated), stdout and stderr appended
 * to log. Returns its pid. */
static pid_t spawn(const char *log, const char *const *args)
{
    char *argv[MAX_ARGS + 2] = {(char *)daemon_binary()};
    for (int i = 0; args[i]; i++) {
        assert_true(i < MAX_ARGS);
        argv[i + 1] = (char *)args[i];
    }
    return track(pr_spawn(log, argv));
}

/* Run the daemon with args to the end; its exit status. */
static int run_to_end(const char *log, const char *const *args)
{
    return pr_wait_exit(spawn(log, args), STOP_TIMEOUT_MS);
}

/* Start a daemon in the foreground with args plus a pidfile and a log in
 * dir's root, and wait until it has written the pidfile: it then maintains
 * every instance it was given. */
static void start_daemon(struct daemon *dm, const struct tu_dir *d,
                         const char *name, const char *const *args)
{
    snprintf(dm->log, sizeof dm->log, "%s/%s.log", d->root, name);
    snprintf(dm->pidfile, sizeof dm->pidfile, "%s/%s.pid", d->root, name);
    const char *all[MAX_ARGS + 1] = {"--pidfile", dm->pidfile};
    int n = 2;
    for (int i = 0; args[i]; i++) {
        assert_true(n < MAX_ARGS);
        all[n++] = args[i];
    }
    dm->pid = spawn(dm->log, all);
    uint64_t start = tu_now_ns();
    while (pid_in(dm->pidfile) != dm->pid) {
        int status;
        if (waitpid(dm->pid, &status, WNOHANG) == dm->pid) {
            pr_show(dm->log);
            fail_msg("shmcached exited before it started");
        }
        if (tu_ms_since(start) > START_TIMEOUT_MS)
            fail_msg("shmcached wrote no pidfile in %u ms",
                     START_TIMEOUT_MS);
        tu_sleep_ms(5);
    }
}

/* Fail the test, showing the log, if the daemon has ended. */
static void assert_running(const struct daemon *dm)
{
    int status;
    if (waitpid(dm->pid, &status, WNOHANG) == dm->pid) {
        pr_show(dm->log);
        fail_msg("shmcached ended early");
    }
}

/* Wait up to timeout_ms for the daemon to log text. */
static void await_log(const struct daemon *dm, const char *text,
                      unsigned timeout_ms)
{
    uint64_t start = tu_now_ns();
    for (;;) {
        char *log = pr_read_text(dm->log);
        int found = strstr(log, text) != NULL;
        free(log);
        if (found)
            return;
        assert_running(dm);
        if (tu_ms_since(start) > timeout_ms) {
            pr_show(dm->log);
            fail_msg("shmcached did not log '%s' within %u ms", text,
                     timeout_ms);
        }
        tu_sleep_ms(5);
    }
}

/* SIGTERM: it must exit 0 and remove its pidfile. */
static void stop_daemon(struct daemon *dm)
{
    assert_int_equal(kill(dm->pid, SIGTERM), 0);
    int status = pr_wait_exit(dm->pid, STOP_TIMEOUT_MS);
    if (status != 0)
        pr_show(dm->log);
    assert_int_equal(status, 0);
    assert_false(exists(dm->pidfile));
    assert_file_contains(dm->log, "stopped");
}

/* ---- the cache ---------------------------------------------------------- */

/* A handle on the instance at path, which the teardown closes. */
static shmc_cache *open_instance(const char *path, uint64_t map_size,
                                 unsigned high_watermark)
{
    shmc_opts opts = {.map_size = map_size, .high_watermark = high_watermark};
    shmc_cache *c = NULL;
    assert_true(nhandles < MAX_HANDLES);
    tu_assert_rc(shmc_open(&c, path, &opts), 0);
    handles[nhandles++] = c;
    return c;
}

/* n entries "<prefix><i>" that expire ttl_ms from now, stored in batches. */
static void put_expiring(shmc_cache *c, const char *prefix, unsigned n,
                         uint64_t ttl_ms)
{
    enum { BATCH = 500 };
    static char keys[BATCH][32];
    shmc_item items[BATCH];
    const shmc_set_opts opts = {.ttl_ms = ttl_ms};
    for (unsigned done = 0; done < n;) {
        unsigned k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            int len = snprintf(keys[k], sizeof keys[k], "%s%u", prefix, done);
            items[k] = (shmc_item){keys[k], (size_t)len, "short-lived", 11};
        }
        tu_assert_rc(shmc_mset(c, items, k, &opts), 0);
    }
}

/* Poll until cond(c, arg) holds; fails after timeout_ms. Returns the time
 * it took in ms. */
typedef int (*cache_cond)(shmc_cache *c, const void *arg);
static uint64_t await_cond(shmc_cache *c, cache_cond cond, const void *arg,
                           const struct daemon *dm, unsigned timeout_ms,
                           const char *what)
{
    uint64_t start = tu_now_ns();
    while (!cond(c, arg)) {
        if (dm)
            assert_running(dm);
        if (tu_ms_since(start) > timeout_ms)
            fail_msg("%s: not within %u ms", what, timeout_ms);
        tu_sleep_ms(2);
    }
    return tu_ms_since(start);
}

static int entries_at_most(shmc_cache *c, const void *arg)
{
    return tu_info(c).entries <= *(const uint64_t *)arg;
}

/* ---- 1. sweeping beside workers ----------------------------------------- */

#define EXPIRED_ENTRIES 100000u
#define FRESH_PER_WORKER 2000u
#define SWEEP_MAP_SIZE (64u << 20)

struct worker {
    char path[300];
    pid_t parent;
    int index;
    atomic_int *stop;
    atomic_uint written; /* fresh keys this worker has stored */
};

static void fresh_key(char *key, size_t cap, int worker, unsigned i)
{
    snprintf(key, cap, "fresh-%d-%u", worker, i);
}

/* Store fresh keys (no TTL) and read back earlier ones until told to
 * stop; past FRESH_PER_WORKER keys, write the same ones again. A fresh key
 * that reads wrong or missing is a failure (exit 1). */
static int fresh_worker(void *arg, int unused)
{
    (void)unused;
    struct worker *w = arg;
    pr_die_with_parent(w->parent);
    shmc_opts opts = {.map_size = SWEEP_MAP_SIZE};
    shmc_cache *c;
    if (shmc_open(&c, w->path, &opts) != 0) {
        fprintf(stderr, "worker %d: open: %s\n", w->index, shmc_last_error());
        return 1;
    }
    unsigned seed = (unsigned)w->index * 7919u + 1;
    char key[48];
    int failed = 0;
    for (unsigned i = 0; !failed && !atomic_load(w->stop); i++) {
        unsigned slot = i % FRESH_PER_WORKER;
        fresh_key(key, sizeof key, w->index, slot);
        int rc = shmc_set(c, key, strlen(key), key, strlen(key), 0);
        if (rc) {
            fprintf(stderr, "worker %d: set %s: %s\n", w->index, key,
                    shmc_strerror(rc));
            failed = 1;
        }
        if (i < FRESH_PER_WORKER)
            atomic_store(&w->written, i + 1);
        fresh_key(key, sizeof key, w->index,
                  (unsigned)rand_r(&seed) % atomic_load(&w->written));
        failed |= tu_check_value(c, key, key);
    }
    shmc_close(c);
    return failed;
}

static void test_sweeps_expired_beside_workers(void **state)
{
    struct tu_dir *d = *state;
    const unsigned expired = tu_scaled(EXPIRED_ENTRIES);
    shmc_cache *c = open_instance(d->inst, SWEEP_MAP_SIZE, 0);
    put_expiring(c, "gone-", expired, 5);
    assert_true(tu_info(c).entries >= expired);
    const shmc_stats before = tu_stats(c);

    struct worker *w = tu_shared(WORKERS * sizeof *w);
    atomic_int *stop = tu_shared(sizeof *stop);
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        snprintf(w[i].path, sizeof w[i].path, "%s", d->inst);
        w[i].parent = getpid();
        w[i].index = i;
        w[i].stop = stop;
        pids[i] = spawn_child(fresh_worker, &w[i]);
    }

    struct daemon dm;
    start_daemon(&dm, d, "sweeper",
                 (const char *const[]){"--path", d->inst, "--tick-ms", "20",
                                       "--sweep-budget-ms", "10", NULL});
    uint64_t start = tu_now_ns();
    shmc_stats now = before;
    do {
        assert_running(&dm);
        if (tu_ms_since(start) > 60000)
            fail_msg("the sweeper removed %llu of %u expired entries in 60 s",
                     (unsigned long long)(now.expired_removed -
                                          before.expired_removed),
                     expired);
        tu_sleep_ms(10);
        now = tu_stats(c);
    } while (now.expired_removed - before.expired_removed < expired);
    uint64_t took = tu_ms_since(start);
    atomic_store(stop, 1);
    int failed = 0;
    for (int i = 0; i < WORKERS; i++)
        failed += tu_wait_child(pids[i], WORKER_TIMEOUT_S);
    assert_int_equal(failed, 0);

    /* Every fresh key is still there, and nothing else is. */
    uint64_t fresh = 0;
    char key[48];
    for (int i = 0; i < WORKERS; i++) {
        unsigned n = atomic_load(&w[i].written);
        assert_true(n > 0);
        for (unsigned k = 0; k < n; k++) {
            fresh_key(key, sizeof key, i, k);
            tu_assert_value(c, key, key);
        }
        fresh += n;
    }
    printf("%u expired entries swept in %llu ms beside %d workers, %llu "
           "fresh keys kept\n",
           expired, (unsigned long long)took, WORKERS,
           (unsigned long long)fresh);
    assert_int_equal(tu_info(c).entries, fresh);
    now = tu_stats(c);
    assert_int_equal(now.evictions, before.evictions);
    assert_true(now.sweeps > before.sweeps);
    assert_true(now.last_sweep_ms > 0);
    stop_daemon(&dm);
    tu_unshare(stop, sizeof *stop);
    tu_unshare(w, WORKERS * sizeof *w);
}

/* ---- 2. reader slots of killed processes -------------------------------- */

#define HOLDERS 3

struct holder {
    char path[300];
    pid_t parent;
    int fd; /* write end of the pipe to the test */
};

/* shmc_get_view's callback: inside the read, say so, then hang there. */
static int say_and_hang(const void *val, size_t len, const shmc_meta *meta,
                        void *arg)
{
    (void)val;
    (void)len;
    (void)meta;
    int fd = *(int *)arg;
    if (write(fd, "r", 1) != 1)
        return -1;
    for (;;)
        pause();
}

static int hold_read(void *arg, int unused)
{
    (void)unused;
    struct holder *h = arg;
    pr_die_with_parent(h->parent);
    shmc_opts opts = {.map_size = TU_MAP_SIZE};
    shmc_cache *c;
    if (shmc_open(&c, h->path, &opts) != 0)
        return 1;
    shmc_get_view(c, "held", 4, 0, say_and_hang, &h->fd);
    return 1; /* a hang that ended */
}

/* A child inside a read transaction; returns its pid once it is in. */
static pid_t spawn_reader(const char *path)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct holder h = {.parent = getpid(), .fd = pipefd[1]};
    snprintf(h.path, sizeof h.path, "%s", path);
    pid_t pid = spawn_child(hold_read, &h);
    close(pipefd[1]);
    int got = tu_await_byte(pipefd[0], 10000);
    close(pipefd[0]);
    if (got != 1) {
        tu_kill_child(pid);
        fail_msg("the reader did not get inside its read");
    }
    return pid;
}

static int no_dead_readers(shmc_cache *c, const void *arg)
{
    (void)arg;
    return tu_info(c).readers_dead == 0;
}

/* Rewrite a few keys 300 times (a few MiB of copied pages if none is
 * reused, well within the map); the bytes of the map touched after. */
static uint64_t churn(shmc_cache *c)
{
    char key[16], val[1000];
    memset(val, 'c', sizeof val);
    for (int i = 0; i < 300; i++) {
        int n = snprintf(key, sizeof key, "churn%d", i % 8);
        tu_assert_rc(shmc_set(c, key, (size_t)n, val, sizeof val, 0), 0);
    }
    return tu_info(c).map_touched;
}

static void test_frees_readers_of_killed_processes(void **state)
{
    struct tu_dir *d = *state;
    shmc_cache *c = open_instance(d->inst, TU_MAP_SIZE, 0);
    tu_set(c, "held", "by a reader");
    const shmc_stats before = tu_stats(c);

    /* Without the daemon, a killed reader's slot stays taken, and the
     * snapshot it held keeps every page freed since from reuse: the map
     * grows with every write. */
    assert_true(tu_kill_child(spawn_reader(d->inst)));
    tu_sleep_ms(3 * TICK_MS);
    assert_int_equal(tu_info(c).readers_dead, 1);
    uint64_t pinned = tu_info(c).map_touched;
    assert_true(churn(c) > pinned + (1u << 20));
    assert_int_equal(tu_info(c).readers_dead, 1);

    struct daemon dm;
    char tick[16];
    snprintf(tick, sizeof tick, "%u", TICK_MS);
    start_daemon(&dm, d, "readers",
                 (const char *const[]){"--path", d->inst, "--tick-ms", tick,
                                       NULL});
    await_cond(c, no_dead_readers, NULL, &dm, TICK_MS + ONE_TICK_SLACK_MS,
               "the slot of the reader killed before the start freed");

    /* With the daemon running: kill readers inside their reads. */
    pid_t readers[HOLDERS];
    for (int i = 0; i < HOLDERS; i++)
        readers[i] = spawn_reader(d->inst);
    assert_int_equal(tu_info(c).readers_dead, 0);
    for (int i = 0; i < HOLDERS; i++)
        assert_true(tu_kill_child(readers[i]));
    uint64_t took =
        await_cond(c, no_dead_readers, NULL, &dm, TICK_MS + ONE_TICK_SLACK_MS,
                   "the slots of readers killed in their reads freed");
    printf("slots of %d killed readers freed %llu ms after the kills\n",
           HOLDERS, (unsigned long long)took);
    /* The first slot may have gone with the daemon's shmc_open, which
     * frees dead readers' slots without counting them. */
    assert_true(tu_stats(c).readers_reclaimed - before.readers_reclaimed >=
                HOLDERS);
    assert_file_contains(dm.log, "reader slot");
    tu_assert_value(c, "held", "by a reader");
    /* Freed pages are reused again: the map stops growing. */
    uint64_t settled = churn(c);
    assert_true(churn(c) <= settled + 64 * 1024);
    stop_daemon(&dm);
}

/* ---- 3. the command line, signals, settings ----------------------------- */

static void test_help_version_and_bad_flags(void **state)
{
    struct tu_dir *d = *state;
    char log[320];
    snprintf(log, sizeof log, "%s/out.log", d->root);

    assert_int_equal(run_to_end(log, (const char *const[]){"--help", NULL}),
                     0);
    assert_file_contains(log, "Usage: shmcached");
    assert_file_contains(log, "--sweep-budget-ms");
    assert_file_contains(log, "--path DIR");
    unlink(log);
    assert_int_equal(run_to_end(log, (const char *const[]){"--version", NULL}),
                     0);
    assert_file_contains(log, "shmcached (shmcache) " SHMC_VERSION_STRING);

    static const char *const bad[][4] = {
        {"--bogus", NULL},
        {"--tick-ms", "0", NULL},
        {"--tick-ms", NULL},
        {"--map-size", "lots", NULL},
        {"--path", "", NULL},
        {"--low-watermark", "95", NULL}, /* not below the default high */
        {"--tick-ms", "10", "--sweep-budget-ms", "20"},
        {"stray-argument", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unlink(log);
        const char *args[7] = {"--path", d->inst};
        memcpy(args + 2, bad[i], sizeof bad[i]);
        assert_int_equal(run_to_end(log, args), 2);
        char *out = pr_read_text(log);
        if (!strstr(out, "shmcached: ")) {
            fprintf(stderr, "%s", out);
            fail_msg("case %zu (%s): no message", i, bad[i][0]);
        }
        free(out);
    }
    /* None of them touched the instance. */
    assert_false(exists(d->inst));
}

static void test_sigterm_and_a_second_daemon(void **state)
{
    struct tu_dir *d = *state;
    struct daemon first;
    start_daemon(&first, d, "first",
                 (const char *const[]){"--path", d->inst, NULL});
    char lock[400];
    snprintf(lock, sizeof lock, "%s/%s", d->inst, MAINT_LOCK_FILE);
    assert_true(locked(lock));
    assert_int_equal(pid_in(lock), first.pid);

    char log[320], pidfile[320], want[400];
    snprintf(log, sizeof log, "%s/second.log", d->root);
    snprintf(pidfile, sizeof pidfile, "%s/second.pid", d->root);
    int status = run_to_end(log, (const char *const[]){
                                     "--path", d->inst, "--pidfile", pidfile,
                                     NULL});
    assert_int_equal(status, 1);
    snprintf(want, sizeof want, "%s: already maintained by another shmcached "
             "(pid %d)", d->inst, (int)first.pid);
    assert_file_contains(log, want);
    assert_false(exists(pidfile));
    assert_running(&first);

    stop_daemon(&first);
    assert_false(locked(lock));
}

/* A daemon that was stopped by SIGINT stops as cleanly. */
static void test_sigint(void **state)
{
    struct tu_dir *d = *state;
    struct daemon dm;
    start_daemon(&dm, d, "int",
                 (const char *const[]){"--path", d->inst, NULL});
    assert_int_equal(kill(dm.pid, SIGINT), 0);
    assert_int_equal(pr_wait_exit(dm.pid, STOP_TIMEOUT_MS), 0);
    assert_false(exists(dm.pidfile));
}

static void test_sighup_reloads_the_settings(void **state)
{
    struct tu_dir *d = *state;
    char conf[320], second[320], text[1024];
    snprintf(conf, sizeof conf, "%s/shmcached.conf", d->root);
    snprintf(second, sizeof second, "%s/second", d->root);
    snprintf(text, sizeof text, "# one instance\npath = %s\nmap_size = 16M\n",
             d->inst);
    write_text(conf, text);

    /* An instance the daemon does not know yet, full of expired entries. */
    shmc_cache *c2 = open_instance(second, TU_MAP_SIZE, 0);
    put_expiring(c2, "old-", 1000, 1);
    const uint64_t none = 0;

    struct daemon dm;
    char tick[16];
    snprintf(tick, sizeof tick, "%u", TICK_MS);
    start_daemon(&dm, d, "hup",
                 (const char *const[]){"--config", conf, "--tick-ms", tick,
                                       NULL});
    tu_sleep_ms(3 * TICK_MS);
    assert_int_equal(tu_info(c2).entries, 1000);

    snprintf(text, sizeof text, "path = %s\npath = %s\nmap_size = 16M\n",
             d->inst, second);
    write_text(conf, text);
    assert_int_equal(kill(dm.pid, SIGHUP), 0);
    await_cond(c2, entries_at_most, &none, &dm, 10000,
               "the instance added on SIGHUP swept");
    assert_file_contains(dm.log, "maintaining 2 instances");

    /* A bad file on SIGHUP: the old settings stay, both still swept. */
    snprintf(text, sizeof text, "path = %s\ntick_ms = soon\n", d->inst);
    write_text(conf, text);
    assert_int_equal(kill(dm.pid, SIGHUP), 0);
    char want[400];
    snprintf(want, sizeof want, "%s:2: tick_ms: 'soon' is not a number",
             conf);
    await_log(&dm, "keeping the settings in force", 10000);
    assert_file_contains(dm.log, want);
    put_expiring(c2, "newer-", 500, 1);
    await_cond(c2, entries_at_most, &none, &dm, 10000,
               "the second instance still swept after a bad reload");
    stop_daemon(&dm);
}

static void test_bad_settings_file_at_start(void **state)
{
    struct tu_dir *d = *state;
    char conf[320], log[320], want[400];
    snprintf(conf, sizeof conf, "%s/bad.conf", d->root);
    snprintf(log, sizeof log, "%s/bad.log", d->root);
    write_text(conf, "path = /dev/shm/x\n\nflavour = strawberry\n");
    assert_int_equal(
        run_to_end(log, (const char *const[]){"--config", conf, NULL}), 2);
    snprintf(want, sizeof want, "%s:3: unknown key 'flavour'", conf);
    assert_file_contains(log, want);

    unlink(log);
    snprintf(conf, sizeof conf, "%s/missing.conf", d->root);
    assert_int_equal(
        run_to_end(log, (const char *const[]){"--config", conf, NULL}), 1);
    assert_file_contains(log, "No such file");
}

static void test_detaches_with_daemon(void **state)
{
    struct tu_dir *d = *state;
    char log[320], pidfile[320], lock[400];
    snprintf(log, sizeof log, "%s/detached.log", d->root);
    snprintf(pidfile, sizeof pidfile, "%s/detached.pid", d->root);
    snprintf(lock, sizeof lock, "%s/%s", d->inst, MAINT_LOCK_FILE);
    pid_t starter = spawn(log, (const char *const[]){
                                   "--daemon", "--pidfile", pidfile, "--path",
                                   d->inst, NULL});
    /* The starting command returns once the daemon runs. */
    assert_int_equal(pr_wait_exit(starter, START_TIMEOUT_MS), 0);
    pid_t pid = detached = pid_in(pidfile);
    assert_true(pid > 0);
    assert_true(pid != starter);
    assert_int_equal(kill(pid, 0), 0);
    assert_true(locked(lock));
    assert_int_equal(pid_in(lock), pid);

    /* It is not our child: its end shows as the pidfile and lock gone. */
    assert_int_equal(kill(pid, SIGTERM), 0);
    uint64_t start = tu_now_ns();
    while (exists(pidfile) || locked(lock)) {
        if (tu_ms_since(start) > STOP_TIMEOUT_MS)
            fail_msg("the detached daemon did not stop on SIGTERM");
        tu_sleep_ms(5);
    }
    /* A failure to start shows in the starting command's status. */
    unlink(log);
    struct daemon holder;
    start_daemon(&holder, d, "holder",
                 (const char *const[]){"--path", d->inst, NULL});
    starter = spawn(log, (const char *const[]){"--daemon", "--pidfile",
                                               pidfile, "--path", d->inst,
                                               NULL});
    assert_int_equal(pr_wait_exit(starter, START_TIMEOUT_MS), 1);
    assert_file_contains(log, "already maintained by another shmcached");
    assert_false(exists(pidfile));
    stop_daemon(&holder);
}

/* ---- 4. far beyond capacity --------------------------------------------- */

#define FILL_MAP_SIZE (4u << 20)
#define FILL_KEYS 50000u
#define FILL_SETS_PER_WORKER 20000u
#define FILL_WRITER_WATERMARK 95u
#define DAEMON_HIGH 90u

struct filler {
    char path[300];
    pid_t parent;
    int index;
    atomic_uint sets;
};

/* A key index skewed toward 0, zipf-like: u^3 of a uniform u in [0, 1). */
static unsigned skewed(unsigned *seed, unsigned n)
{
    double u = (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
    return (unsigned)(u * u * u * n);
}

/* Sets of 100-400 bytes (times 10 under valgrind) over FILL_KEYS skewed
 * keys, a read before each:
 * every set must succeed (exit 1 otherwise, saying which failed). */
static int fill_worker(void *arg, int unused)
{
    (void)unused;
    struct filler *f = arg;
    pr_die_with_parent(f->parent);
    shmc_opts opts = {.map_size = FILL_MAP_SIZE,
                      .high_watermark = FILL_WRITER_WATERMARK};
    shmc_cache *c;
    if (shmc_open(&c, f->path, &opts) != 0) {
        fprintf(stderr, "filler %d: open: %s\n", f->index, shmc_last_error());
        return 1;
    }
    unsigned seed = (unsigned)f->index * 104729u + 3;
    char key[32], val[400 * 10], buf[sizeof val];
    memset(val, 'v', sizeof val);
    /* Fewer sets under valgrind, of larger values: as many bytes. */
    unsigned sets = tu_scaled(FILL_SETS_PER_WORKER);
    unsigned scale = FILL_SETS_PER_WORKER / sets;
    for (unsigned i = 0; i < sets; i++) {
        int len = snprintf(key, sizeof key, "k%u", skewed(&seed, FILL_KEYS));
        size_t blen = sizeof buf;
        shmc_get(c, key, (size_t)len, buf, &blen, NULL, 0);
        size_t vlen = (100 + (size_t)rand_r(&seed) % 301) * scale;
        int rc = shmc_set(c, key, (size_t)len, val, vlen, 0);
        if (rc) {
            fprintf(stderr, "filler %d: set %u (%s, %zu bytes): %s: %s\n",
                    f->index, i, key, vlen, shmc_err_name(rc),
                    shmc_last_error());
            shmc_close(c);
            return 1;
        }
        atomic_store(&f->sets, i + 1);
    }
    shmc_close(c);
    return 0;
}

static unsigned percent_used(shmc_cache *c)
{
    shmc_info info = tu_info(c);
    return (unsigned)(info.map_used * 100 / info.map_size);
}

static int below_high_watermark(shmc_cache *c, const void *arg)
{
    (void)arg;
    return percent_used(c) < DAEMON_HIGH;
}

static void start_evictor(struct daemon *dm, const struct tu_dir *d,
                          const char *name)
{
    char tick[16], high[16];
    snprintf(tick, sizeof tick, "%u", TICK_MS);
    snprintf(high, sizeof high, "%u", DAEMON_HIGH);
    start_daemon(dm, d, name,
                 (const char *const[]){"--path", d->inst, "--tick-ms", tick,
                                       "--sweep-budget-ms", tick,
                                       "--high-watermark", high,
                                       "--low-watermark", "80", NULL});
}

static void test_keeps_a_full_cache_below_its_watermark(void **state)
{
    struct tu_dir *d = *state;
    shmc_cache *c =
        open_instance(d->inst, FILL_MAP_SIZE, FILL_WRITER_WATERMARK);
    struct daemon dm;
    start_evictor(&dm, d, "evictor");

    /* Writers and the daemon together: no set may fail. */
    struct filler *f = tu_shared(WORKERS * sizeof *f);
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        snprintf(f[i].path, sizeof f[i].path, "%s", d->inst);
        f[i].parent = getpid();
        f[i].index = i;
        pids[i] = spawn_child(fill_worker, &f[i]);
    }
    int failed = 0;
    for (int i = 0; i < WORKERS; i++)
        failed += tu_wait_child(pids[i], WORKER_TIMEOUT_S);
    assert_int_equal(failed, 0);
    uint64_t sets = 0;
    for (int i = 0; i < WORKERS; i++)
        sets += atomic_load(&f[i].sets);
    assert_int_equal(sets, (uint64_t)WORKERS *
                               tu_scaled(FILL_SETS_PER_WORKER));
    shmc_stats s = tu_stats(c);
    printf("%llu sets into a %u MiB map: %llu evictions\n",
           (unsigned long long)sets, FILL_MAP_SIZE >> 20,
           (unsigned long long)s.evictions);
    assert_true(s.evictions > 0);
    stop_daemon(&dm);
    /* Its sweeps and evictions kept working beside the writers (the
     * library promises that they never fail for want of room). */
    assert_file_lacks(dm.log, "error:");

    /* Whether the map ended above the daemon's high watermark depends on
     * who evicted last: put it there, then one tick of a new daemon must
     * bring it down. */
    char key[32], val[300];
    memset(val, 'w', sizeof val);
    for (unsigned i = 0; percent_used(c) <= DAEMON_HIGH + 1; i++) {
        assert_true(i < 100000);
        int len = snprintf(key, sizeof key, "top-%u", i);
        tu_assert_rc(shmc_set(c, key, (size_t)len, val, sizeof val, 0), 0);
    }
    uint64_t evictions = tu_stats(c).evictions;
    start_evictor(&dm, d, "evictor2");
    await_cond(c, below_high_watermark, NULL, &dm,
               TICK_MS + ONE_TICK_SLACK_MS,
               "the map below the daemon's high watermark");
    assert_true(tu_stats(c).evictions > evictions);
    await_log(&dm, "evicted", 10000);
    stop_daemon(&dm);
    tu_unshare(f, WORKERS * sizeof *f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        test_in_dir(test_help_version_and_bad_flags),
        test_in_dir(test_sigterm_and_a_second_daemon),
        test_in_dir(test_sigint),
        test_in_dir(test_bad_settings_file_at_start),
        test_in_dir(test_detaches_with_daemon),
        test_in_dir(test_sighup_reloads_the_settings),
        test_in_dir(test_frees_readers_of_killed_processes),
        test_in_dir(test_sweeps_expired_beside_workers),
        test_in_dir(test_keeps_a_full_cache_below_its_watermark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
