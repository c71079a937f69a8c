/* prefork-demo.c - a master opens the cache, forks workers, and walks them
 * through a script that shows what a shared cache changes for a pre-fork
 * server: a write or a revocation in one worker is seen by every other
 * worker on its next read, and a TTL ends an entry for all of them at once.
 *
 *   prefork-demo [--path DIR] [--workers N]
 *
 * Without --path the demo makes a private instance in a fresh directory
 * under /dev/shm and removes it at the end, so that it never meets an
 * instance left by another run or another version.
 *
 * The master writes a step number into each worker's command pipe; the
 * worker performs the step and answers with one line on the shared report
 * pipe; the master prints the answers in worker order. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmcache.h"

#define MAX_WORKERS 32
#define REPORT_LEN 200

enum step {
    STEP_READ_MOTD,
    STEP_WRITE_FLAG,
    STEP_READ_FLAG,
    STEP_CHECK_KEY,
    STEP_REVOKE_KEY,
    STEP_READ_SESSION,
    STEP_QUIT,
};

struct worker {
    pid_t pid;
    int cmd; /* master's end of the command pipe */
};

static const char *const step_titles[] = {
    [STEP_READ_MOTD] = "every worker reads config:motd (set before fork)",
    [STEP_WRITE_FLAG] = "worker 1 sets feature:dark-mode = on",
    [STEP_READ_FLAG] = "every worker reads feature:dark-mode",
    [STEP_CHECK_KEY] = "every worker checks API key ak_alice",
    [STEP_REVOKE_KEY] = "worker 2 revokes API key ak_alice",
    [STEP_READ_SESSION] = "every worker reads session:42 (TTL 300 ms)",
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "prefork-demo: %s: %s (%s)\n", what, shmc_strerror(rc),
            shmc_last_error());
    exit(1);
}

/* Describe what a read of key found, into out. */
static void describe_read(shmc_cache *c, const char *key, char *out,
                          size_t size)
{
    char val[128];
    size_t len = sizeof val - 1;
    int rc = shmc_get(c, key, strlen(key), val, &len, NULL, 0);
    if (rc == 0)
        snprintf(out, size, "%s = \"%.*s\"", key, (int)len, val);
    else if (rc == SHMC_ENOTFOUND)
        snprintf(out, size, "%s: not in the cache", key);
    else
        snprintf(out, size, "%s: error %s", key, shmc_err_name(rc));
}

static void check_api_key(shmc_cache *c, const char *key, char *out,
                          size_t size)
{
    int rc = shmc_get(c, key, strlen(key), NULL, &(size_t){0}, NULL, 0);
    /* A zero-length probe: found means SHMC_EBUFSMALL or 0. */
    int valid = rc == 0 || rc == SHMC_EBUFSMALL;
    snprintf(out, size, "%s is %s", key + strlen("apikey:"),
             valid ? "VALID: request accepted"
                   : "REVOKED: request refused (401)");
}

static void perform(shmc_cache *c, int index, enum step step, char *out,
                    size_t size)
{
    switch (step) {
    case STEP_READ_MOTD:
        describe_read(c, "config:motd", out, size);
        break;
    case STEP_WRITE_FLAG:
        if (index != 0)
            break;
        if (shmc_set(c, "feature:dark-mode", 17, "on", 2, 0) != 0)
            snprintf(out, size, "set failed: %s", shmc_last_error());
        else
            snprintf(out, size, "set feature:dark-mode = \"on\"");
        break;
    case STEP_READ_FLAG:
        describe_read(c, "feature:dark-mode", out, size);
        break;
    case STEP_CHECK_KEY:
        check_api_key(c, "apikey:ak_alice", out, size);
        break;
    case STEP_REVOKE_KEY:
        if (index != 1)
            break;
        snprintf(out, size, "revoked ak_alice: %s",
                 shmc_strerror(shmc_del(c, "apikey:ak_alice", 15)));
        break;
    case STEP_READ_SESSION:
        describe_read(c, "session:42", out, size);
        break;
    case STEP_QUIT:
        break;
    }
}

static int worker_main(shmc_cache *c, int index, int cmd, int report)
{
    unsigned char step;
    while (read(cmd, &step, 1) == 1 && step != STEP_QUIT) {
        char line[REPORT_LEN], text[REPORT_LEN - 40] = "";
        perform(c, index, (enum step)step, text, sizeof text);
        /* Workers with nothing to do in a step still answer (blank). */
        int n = snprintf(line, sizeof line, "%02d %d %s\n", index,
                         (int)getpid(), text);
        /* One write of less than PIPE_BUF bytes: lines never interleave. */
        if (write(report, line, (size_t)n) != n)
            return 1;
    }
    shmc_close(c);
    return 0;
}

static int compare_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Send step to every worker and print their answers in worker order. */
static void run_step(struct worker *w, int n, FILE *reports, enum step step)
{
    static int shown;
    unsigned char b = (unsigned char)step;
    char *lines[MAX_WORKERS];
    printf("\n[%d] %s\n", ++shown, step_titles[step]);
    for (int i = 0; i < n; i++)
        if (write(w[i].cmd, &b, 1) != 1)
            die("writing to a worker", -errno);
    for (int i = 0; i < n; i++) {
        lines[i] = malloc(REPORT_LEN);
        if (!lines[i] || !fgets(lines[i], REPORT_LEN, reports))
            die("reading a worker's report", -EIO);
    }
    qsort(lines, (size_t)n, sizeof lines[0], compare_lines);
    for (int i = 0; i < n; i++) {
        int index, pid, text = 0;
        if (sscanf(lines[i], "%d %d %n", &index, &pid, &text) == 2 &&
            lines[i][text] != '\0')
            printf("    worker %d (pid %d): %s", index + 1, pid,
                   lines[i] + text);
        free(lines[i]);
    }
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The directory of the private instance, "" when --path was given. */
static char scratch[48];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: prefork-demo [--path DIR] [--workers N (1-%d)]\n",
            MAX_WORKERS);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int n = 4;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (n < 1 || n > MAX_WORKERS) {
        usage(stderr);
        return 2;
    }

    char own[64];
    if (!path) {
        snprintf(scratch, sizeof scratch, "/dev/shm/shmcache-demo.XXXXXX");
        if (!mkdtemp(scratch))
            die("mkdtemp", -errno);
        atexit(remove_scratch); /* the master's exit only: workers _exit */
        snprintf(own, sizeof own, "%s/instance", scratch);
        path = own;
    }
    shmc_cache *c;
    int rc = shmc_open(&c, path, NULL);
    if (rc)
        die(path, rc);
    /* The master prepares the cache before forking, as an application
     * that loads its configuration at start-up would. */
    if ((rc = shmc_clear(c)) != 0 ||
        (rc = shmc_set(c, "config:motd", 11, "Welcome to shmcache", 19,
                       0)) != 0 ||
        (rc = shmc_set(c, "apikey:ak_alice", 15, "user=alice", 10, 0)) !=
            0 ||
        (rc = shmc_set(c, "session:42", 10, "cart=3 items", 12, 300)) != 0)
        die("preparing the cache", rc);
    printf("master %d opened %s and forks %d workers; the handle opened "
           "before the fork works in each of them.\n",
           (int)getpid(), path, n);
    fflush(stdout);

    int report[2];
    if (pipe(report) < 0)
        die("pipe", -errno);
    struct worker w[MAX_WORKERS];
    for (int i = 0; i < n; i++) {
        int cmd[2];
        if (pipe(cmd) < 0)
            die("pipe", -errno);
        w[i].pid = fork();
        if (w[i].pid < 0)
            die("fork", -errno);
        if (w[i].pid == 0) {
            close(cmd[1]);
            close(report[0]);
            for (int j = 0; j < i; j++)
                close(w[j].cmd);
            _exit(worker_main(c, i, cmd[0], report[1]));
        }
        close(cmd[0]);
        w[i].cmd = cmd[1];
    }
    close(report[1]);
    FILE *reports = fdopen(report[0], "r");
    if (!reports)
        die("fdopen", -errno);

    run_step(w, n, reports, STEP_READ_MOTD);
    run_step(w, n, reports, STEP_WRITE_FLAG);
    run_step(w, n, reports, STEP_READ_FLAG);
    run_step(w, n, reports, STEP_CHECK_KEY);
    run_step(w, n, reports, STEP_REVOKE_KEY);
    run_step(w, n, reports, STEP_CHECK_KEY);
    run_step(w, n, reports, STEP_READ_SESSION);
    printf("\n... the master waits 400 ms: session:42's TTL runs out\n");
    fflush(stdout);
    sleep_ms(400);
    run_step(w, n, reports, STEP_READ_SESSION);

    unsigned char quit = STEP_QUIT;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int status;
        if (write(w[i].cmd, &quit, 1) != 1)
            failed = 1;
        close(w[i].cmd);
        waitpid(w[i].pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    }
    fclose(reports);

    shmc_stats st;
    shmc_info info;
    if ((rc = shmc_stats_get(c, &st)) != 0 ||
        (rc = shmc_info_get(c, &info)) != 0)
        die("reading stats", rc);
    printf("\nshared stats, summed over the master and all workers:\n"
           "    hits %llu, misses %llu (of which expired %llu), sets %llu, "
           "deletes %llu\n"
           "    %llu entries, %llu KiB of the %llu MiB map in use\n",
           (unsigned long long)st.hits, (unsigned long long)st.misses,
           (unsigned long long)st.expired, (unsigned long long)st.sets,
           (unsigned long long)st.deletes, (unsigned long long)info.entries,
           (unsigned long long)info.map_used / 1024,
           (unsigned long long)info.map_size >> 20);
    shmc_close(c);
    if (failed) {
        fprintf(stderr, "prefork-demo: a worker failed\n");
        return 1;
    }
    printf("done: every worker saw every change at once.\n");
    return 0;
}
