/* procrun.c - see procrun.h. */
#include "procrun.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

char *pr_read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t cap = 1, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    if (f) {
        size_t n;
        do {
            cap += 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
            n = fread(buf + len, 1, cap - len - 1, f);
            len += n;
        } while (n > 0);
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

void pr_show(const char *path)
{
    char *s = pr_read_text(path);
    fprintf(stderr, "--- %s ---\n%s--- end ---\n", path, s);
    free(s);
}

int pr_file_has(const char *path, const char *text)
{
    char *s = pr_read_text(path);
    int found = strstr(s, text) != NULL;
    free(s);
    return found;
}

void pr_die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
}

pid_t pr_spawn(const char *log, char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = tu_fork();
    if (pid == 0) {
        pr_die_with_parent(parent);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int pr_wait_exit(pid_t pid, unsigned timeout_ms)
{
    uint64_t start = tu_now_ns();
    int status;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        if (got < 0 && errno != EINTR)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        if (tu_ms_since(start) > timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("process %d still running after %u ms", (int)pid,
                     timeout_ms);
        }
        tu_sleep_ms(5);
    }
}
