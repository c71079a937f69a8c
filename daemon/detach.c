/* detach.c - see detach.h. */
#include "detach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* The starting command: wait for the daemon's byte, reap the middle
 * process, exit with what the daemon said. */
static _Noreturn void await_daemon(int fd, pid_t middle)
{
    char status = 1;
    ssize_t n;
    do
        n = read(fd, &status, 1);
    while (n < 0 && errno == EINTR);
    while (waitpid(middle, NULL, 0) < 0 && errno == EINTR)
        ;
    _exit(n == 1 && status == 0 ? 0 : 1);
}

int detach_start(void)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -err;
    }
    if (pid > 0) {
        close(pipefd[1]);
        await_daemon(pipefd[0], pid);
    }
    close(pipefd[0]);

    /* The middle process leads a new session without a terminal; its child
     * is not a session leader, so opening a terminal can never make one
     * its controlling terminal. */
    if (setsid() < 0 || (pid = fork()) < 0) {
        cli_error("cannot detach: %s", strerror(errno));
        _exit(1);
    }
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0) {
        int err = errno;
        close(pipefd[1]);
        return -err;
    }
    return pipefd[1];
}

int detach_ready(int fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -errno;
    for (int std = 0; std <= 2; std++)
        if (dup2(null, std) < 0) {
            int err = errno;
            close(null);
            return -err;
        }
    if (null > 2)
        close(null);
    char ok = 0;
    ssize_t n;
    do
        n = write(fd, &ok, 1);
    while (n < 0 && errno == EINTR);
    int err = n == 1 ? 0 : -errno;
    close(fd);
    return err;
}
