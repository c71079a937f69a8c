/* run.h - shmcached's life once its command line is read: start (settings,
 * detaching, instances, pidfile), the maintenance loop, reloads on SIGHUP,
 * a clean stop on SIGTERM or SIGINT. */
#ifndef SHMCD_RUN_H
#define SHMCD_RUN_H

#include "config.h"

/* Where the pidfile goes when detached as root and none is given. */
#define RUN_DEFAULT_PIDFILE "/run/shmcached.pid"

struct run_args {
    const char *config_file; /* absolute, or NULL for none */
    struct config overrides; /* what the command line gave */
    int detach;              /* --daemon */
};

/* Run until stopped. Returns the exit status: 0 after a clean stop, 1 when
 * it could not start, 2 when the settings are wrong. */
int run_daemon(const struct run_args *args);

#endif
