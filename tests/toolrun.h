/* toolrun.h - running a command-line tool from a test as it would run from
 * a shell: a real child process through /bin/sh, its stdout and stderr
 * captured, its exit status, and how long it took. */
#ifndef SHMC_TOOLRUN_H
#define SHMC_TOOLRUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The path of a tool built in this tree ("tools/shmcache-stat"), under
 * $top_builddir (as make check sets it) or the current directory. The
 * string is static, overwritten by the next call. */
const char *tr_tool(const char *name);

/* A command started by tr_start. */
struct tr_child {
    pid_t pid;
    uint64_t start_ns;
    char out_path[320], err_path[320];
};

/* What it did. out and err are NUL-terminated (not counted in their
 * lengths) and may hold NUL bytes of their own; release with tr_free. */
struct tr_result {
    int exit_status; /* 0-255, or -1 if it did not exit (see signal) */
    int signal;      /* the signal that ended it, or 0 */
    int timed_out;   /* killed because it outlived the timeout */
    char *out, *err;
    size_t out_len, err_len;
    uint64_t elapsed_ms;
};

/* Run `exec <command>` with /bin/sh -c, stdout and stderr going to files
 * in dir (an existing directory the test owns; the exec makes the tool
 * itself the child, so that a signal sent to pid reaches it). Fails the
 * test if it cannot fork. */
void tr_start(struct tr_child *ch, const char *dir, const char *command);

/* Wait up to timeout_ms for ch to end (then kill it with SIGKILL and
 * mark it timed out) and collect what it did into *r. Fails the test if
 * the captured output cannot be read. */
void tr_finish(struct tr_child *ch, unsigned timeout_ms, struct tr_result *r);

/* tr_start then tr_finish. */
void tr_run(const char *dir, const char *command, unsigned timeout_ms,
            struct tr_result *r);

void tr_free(struct tr_result *r);

#endif
