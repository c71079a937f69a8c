/* procrun.h - programs a test runs in the background and watches: started
 * with their output appended to a log file, killed if the test dies,
 * waited for with a time limit; and the text files they write, read
 * whole. Used by the daemon and bridge tests. */
#ifndef SHMC_PROCRUN_H
#define SHMC_PROCRUN_H

#include <sys/types.h>

/* The file at path, NUL-terminated, in memory the caller frees ("" when it
 * cannot be read). */
char *pr_read_text(const char *path);

/* Print the file at path on stderr, framed: what a failing test shows. */
void pr_show(const char *path);

/* Whether the file at path contains text. */
int pr_file_has(const char *path, const char *text);

/* In a forked child: be killed when parent (the test process) dies, and
 * exit at once if it already has. */
void pr_die_with_parent(pid_t parent);

/* Start argv[0] (a path) with argv, stdout and stderr appended to log; the
 * child is killed when the test process dies. Returns its pid (fails the
 * test if it cannot fork). */
pid_t pr_spawn(const char *log, char *const argv[]);

/* Wait up to timeout_ms for pid to end. Returns its exit status, or 128 +
 * the signal that ended it; fails the test (after killing it) at the time
 * limit. */
int pr_wait_exit(pid_t pid, unsigned timeout_ms);

#endif
