/* run.c - see run.h. */
#include "run.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detach.h"
#include "lockfile.h"
#include "log.h"
#include "maint.h"
#include "settings.h"

struct daemon {
    const struct run_args *args;
    struct config cfg; /* in force */
    struct maint_instance inst[CONFIG_MAX_PATHS];
    unsigned ninst;
    /* Fixed at start: a pidfile that moved on reload would leave the old
     * one behind and confuse whoever reads either. */
    char *pidfile;
    int pidfile_fd;
    sigset_t signals; /* SIGTERM, SIGINT, SIGHUP: blocked, waited for */
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- instances ---------------------------------------------------------- */

static int find_instance(const struct daemon *d, const char *path)
{
    for (unsigned i = 0; i < d->ninst; i++)
        if (strcmp(d->inst[i].path, path) == 0)
            return (int)i;
    return -1;
}

/* Make the instances those of cfg: keep the ones already attached, attach
 * the new ones (one that fails is logged and left out), release the rest.
 * Returns how many of cfg's failed. */
static unsigned set_instances(struct daemon *d, const struct config *cfg)
{
    struct maint_instance next[CONFIG_MAX_PATHS];
    int kept[CONFIG_MAX_PATHS] = {0};
    unsigned n = 0, failed = 0;
    for (unsigned i = 0; i < cfg->npaths; i++) {
        int old = find_instance(d, cfg->paths[i]);
        if (old >= 0) {
            next[n++] = d->inst[old];
            kept[old] = 1;
        } else if (maint_attach(&next[n], cfg->paths[i], cfg) == 0) {
            log_msg(LOG_LEVEL_NOTICE, "maintaining %s", cfg->paths[i]);
            n++;
        } else {
            failed++;
        }
    }
    for (unsigned i = 0; i < d->ninst; i++)
        if (!kept[i]) {
            log_msg(LOG_LEVEL_NOTICE, "no longer maintaining %s",
                    d->inst[i].path);
            maint_release(&d->inst[i]);
        }
    memcpy(d->inst, next, n * sizeof next[0]);
    d->ninst = n;
    return failed;
}

static void release_instances(struct daemon *d)
{
    for (unsigned i = 0; i < d->ninst; i++)
        maint_release(&d->inst[i]);
    d->ninst = 0;
}

/* ---- signals ------------------------------------------------------------ */

static int stop_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT));
}

/* Wait for one of d's signals until the monotonic deadline. Returns the
 * signal, or 0 at the deadline. */
static int await_signal(const struct daemon *d, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = monotonic_ms();
        if (now >= deadline_ms)
            return 0;
        uint64_t left = deadline_ms - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000),
                              .tv_nsec = (long)(left % 1000) * 1000000};
        int sig = sigtimedwait(&d->signals, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
    }
}

static void reload(struct daemon *d)
{
    const char *file = d->args->config_file;
    if (!file) {
        log_msg(LOG_LEVEL_NOTICE,
                "SIGHUP: no configuration file to read again");
        return;
    }
    struct config next;
    if (settings_load(file, &d->args->overrides, &next) != 0) {
        log_msg(LOG_LEVEL_ERROR,
                "reload of %s failed: keeping the settings in force", file);
        return;
    }
    if (next.pidfile && d->pidfile && strcmp(next.pidfile, d->pidfile) != 0)
        log_msg(LOG_LEVEL_WARNING,
                "the pidfile changes on restart only: still %s", d->pidfile);
    unsigned failed = set_instances(d, &next);
    config_free(&d->cfg);
    d->cfg = next;
    log_msg(failed ? LOG_LEVEL_WARNING : LOG_LEVEL_NOTICE,
            "reloaded %s: maintaining %u instance%s%s", file, d->ninst,
            d->ninst == 1 ? "" : "s",
            failed ? " (see above for those left out)" : "");
}

/* ---- start, loop, stop -------------------------------------------------- */

/* The pidfile the daemon writes: the one given, else the default for a
 * detached root daemon, else none (foreground). Returns 0, or -1 when a
 * detached daemon has none. */
static int choose_pidfile(struct daemon *d)
{
    const char *chosen = d->cfg.pidfile;
    if (!chosen && d->args->detach) {
        if (geteuid() != 0) {
            log_msg(LOG_LEVEL_ERROR,
                    "--daemon needs --pidfile (or pidfile in the "
                    "configuration file) when not run as root");
            return -1;
        }
        chosen = RUN_DEFAULT_PIDFILE;
    }
    if (chosen && !(d->pidfile = strdup(chosen))) {
        log_msg(LOG_LEVEL_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

static int write_pidfile(struct daemon *d)
{
    if (!d->pidfile)
        return 0;
    pid_t holder;
    d->pidfile_fd = lockfile_take(d->pidfile, 0644, &holder);
    if (d->pidfile_fd >= 0)
        return 0;
    if (d->pidfile_fd == -EWOULDBLOCK)
        log_msg(LOG_LEVEL_ERROR, "%s: held by another shmcached (pid %ld)",
                d->pidfile, (long)holder);
    else
        log_msg(LOG_LEVEL_ERROR, "%s: %s", d->pidfile,
                strerror(-d->pidfile_fd));
    return -1;
}

static void remove_pidfile(struct daemon *d)
{
    if (d->pidfile_fd < 0)
        return;
    /* Unlinked while still locked, so that no other daemon can take the
     * file in between and lose it. */
    unlink(d->pidfile);
    close(d->pidfile_fd);
    d->pidfile_fd = -1;
}

/* Instances, pidfile, then (detached) let the starting command go.
 * Returns 0, or -1 after logging why. */
static int start(struct daemon *d, int ready_fd)
{
    if (set_instances(d, &d->cfg) != 0 || write_pidfile(d) != 0)
        return -1;
    if (ready_fd >= 0) {
        log_to_syslog();
        int rc = detach_ready(ready_fd);
        if (rc) {
            log_msg(LOG_LEVEL_ERROR, "cannot detach: %s", strerror(-rc));
            return -1;
        }
    }
    log_msg(LOG_LEVEL_NOTICE,
            "started (pid %ld): %u instance%s, tick %u ms, sweep budget %u "
            "ms, watermarks %u%%/%u%%",
            (long)getpid(), d->ninst, d->ninst == 1 ? "" : "s",
            d->cfg.tick_ms, d->cfg.sweep_budget_ms, d->cfg.low_watermark,
            d->cfg.high_watermark);
    return 0;
}

/* Rounds every tick until SIGTERM or SIGINT; SIGHUP reloads. A stop asked
 * during a round waits only for the current instance's step, which the
 * sweep budget keeps short. */
static void loop(struct daemon *d)
{
    for (;;) {
        uint64_t deadline = monotonic_ms() + d->cfg.tick_ms;
        for (unsigned i = 0; i < d->ninst && !stop_pending(); i++)
            maint_tick(&d->inst[i], &d->cfg);
        int sig;
        while ((sig = await_signal(d, deadline)) != 0) {
            if (sig != SIGHUP) {
                log_msg(LOG_LEVEL_NOTICE, "stopping on %s", strsignal(sig));
                return;
            }
            reload(d);
        }
    }
}

int run_daemon(const struct run_args *args)
{
    struct daemon d = {.args = args, .pidfile_fd = -1};
    int rc = settings_load(args->config_file, &args->overrides, &d.cfg);
    if (rc)
        return rc == SETTINGS_INVALID ? 2 : 1;
    if (choose_pidfile(&d) != 0) {
        config_free(&d.cfg);
        return 2;
    }
    int ready_fd = -1;
    if (args->detach && (ready_fd = detach_start()) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot detach: %s", strerror(-ready_fd));
        rc = 1;
    }
    /* Blocked, so that they arrive only where the loop waits for them:
     * never in the middle of a step. */
    sigemptyset(&d.signals);
    sigaddset(&d.signals, SIGTERM);
    sigaddset(&d.signals, SIGINT);
    sigaddset(&d.signals, SIGHUP);
    if (rc == 0 && sigprocmask(SIG_BLOCK, &d.signals, NULL) != 0) {
        log_msg(LOG_LEVEL_ERROR, "sigprocmask: %s", strerror(errno));
        rc = 1;
    }
    if (rc == 0 && start(&d, ready_fd) != 0)
        rc = 1;
    if (rc == 0)
        loop(&d);
    release_instances(&d);
    remove_pidfile(&d);
    free(d.pidfile);
    config_free(&d.cfg);
    if (rc == 0)
        log_msg(LOG_LEVEL_NOTICE, "stopped");
    return rc;
}
