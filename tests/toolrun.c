/* toolrun.c - see toolrun.h. */
#include "toolrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

const char *tr_tool(const char *name)
{
    static char path[512];
    const char *top = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/%s", top && *top ? top : ".", name);
    return path;
}

/* In the child: stdout and stderr to the files, then the shell. Only
 * async-signal-safe calls until exec; 127 as a shell's "cannot run". */
static void exec_command(const struct tr_child *ch, const char *command)
{
    int out = open(ch->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(ch->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(err, STDERR_FILENO) < 0)
        _exit(127);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
}

void tr_start(struct tr_child *ch, const char *dir, const char *command)
{
    static unsigned serial;
    char full[4096];
    snprintf(ch->out_path, sizeof ch->out_path, "%s/run%u.out", dir, serial);
    snprintf(ch->err_path, sizeof ch->err_path, "%s/run%u.err", dir, serial);
    serial++;
    snprintf(full, sizeof full, "exec %s", command);
    ch->start_ns = tu_now_ns();
    ch->pid = tu_fork();
    if (ch->pid == 0)
        exec_command(ch, full);
}

/* The whole file at path, NUL-terminated; the file is removed. Fails the
 * test if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (cap - n < 2) {
            cap = cap ? cap * 2 : 4096;
            char *bigger = realloc(buf, cap);
            if (!bigger)
                fail_msg("%s: no memory to read it", path);
            buf = bigger;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    if (ferror(f))
        fail_msg("%s: cannot read it", path);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    *len = n;
    return buf;
}

void tr_finish(struct tr_child *ch, unsigned timeout_ms, struct tr_result *r)
{
    uint64_t deadline = ch->start_ns + (uint64_t)timeout_ms * 1000000u;
    int status = 0;
    pid_t got;
    memset(r, 0, sizeof *r);
    while ((got = waitpid(ch->pid, &status, WNOHANG)) == 0 ||
           (got < 0 && errno == EINTR)) {
        if (tu_now_ns() > deadline) {
            kill(ch->pid, SIGKILL);
            r->timed_out = 1;
            while ((got = waitpid(ch->pid, &status, 0)) < 0 && errno == EINTR)
                ;
            break;
        }
        tu_sleep_ms(1);
    }
    if (got < 0)
        fail_msg("waitpid %d: %s", (int)ch->pid, strerror(errno));
    r->elapsed_ms = tu_ms_since(ch->start_ns);
    r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->out = slurp(ch->out_path, &r->out_len);
    r->err = slurp(ch->err_path, &r->err_len);
}

void tr_run(const char *dir, const char *command, unsigned timeout_ms,
            struct tr_result *r)
{
    struct tr_child ch;
    tr_start(&ch, dir, command);
    tr_finish(&ch, timeout_ms, r);
}

void tr_free(struct tr_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
