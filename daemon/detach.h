/* detach.h - leaving the terminal as a classic daemon does (fork, setsid,
 * fork again, chdir /, standard streams to /dev/null), with the command
 * that started it waiting until the daemon has really started: a failure
 * to start then shows in that command's exit status, and its message,
 * written while stderr is still the terminal, where the user looks. */
#ifndef SHMCD_DETACH_H
#define SHMCD_DETACH_H

/* Fork the daemon. The calling process never returns: it exits 0 once the
 * daemon calls detach_ready(), 1 if the daemon ends before. In the daemon
 * (a new session's child, working directory /, standard streams untouched)
 * it returns the descriptor to give detach_ready(). Returns -errno when the
 * first fork or a pipe fails (in the calling process) or when chdir fails
 * (in the daemon): either way, the caller says why and exits. */
int detach_start(void);

/* Point stdin, stdout and stderr at /dev/null and let the starting command
 * exit 0. Returns 0 or -errno (the starting command then exits 1). */
int detach_ready(int fd);

#endif
