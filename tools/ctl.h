/* ctl.h - shmcache-ctl's commands and what its command line gives them.
 *
 * Exit status, like grep's: CTL_DONE when the command did its work (or
 * found the key), CTL_NOT_FOUND when the key of get, del or revoke was not
 * there, CTL_TROUBLE for an error, which is reported on stderr. */
#ifndef SHMC_CTL_H
#define SHMC_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "shmcache.h"

enum { CTL_DONE = 0, CTL_NOT_FOUND = 1, CTL_TROUBLE = 2 };

/* The most positional arguments a command takes (set KEY VALUE). */
#define CTL_MAX_ARGS 2

/* A positional argument as bytes: with --escaped, its \xNN escapes are
 * decoded, so it may hold any byte, NUL included. */
struct ctl_arg {
    const char *bytes;
    size_t len;
};

struct ctl_args {
    struct ctl_arg arg[CTL_MAX_ARGS];
    int count;
    uint64_t ttl_ms;          /* set --ttl */
    uint64_t stale_window_ms; /* set --stale-window */
    unsigned get_flags;       /* get --stale: SHMC_GET_STALE */
    uint64_t limit;           /* keys --limit */
    unsigned scan_flags;      /* keys --expired: SHMC_SCAN_EXPIRED */
    shmc_sweep_opts sweep;    /* sweep and evict --budget-us, --batch */
    unsigned percent;         /* evict PCT, checked */
};

/* The default of keys --limit. */
#define CTL_DEFAULT_LIMIT 1000u

/* Report that cmd failed with rc (with shmc_last_error()'s details) and
 * return CTL_TROUBLE. */
int ctl_fail(const char *cmd, int rc);

/* Commands on entries (ctl_entries.c). */
int ctl_get(shmc_cache *c, const struct ctl_args *a);
int ctl_set(shmc_cache *c, const struct ctl_args *a);
int ctl_del(shmc_cache *c, const struct ctl_args *a);
int ctl_revoke(shmc_cache *c, const struct ctl_args *a);
int ctl_invalidate_prefix(shmc_cache *c, const struct ctl_args *a);
int ctl_flush(shmc_cache *c, const struct ctl_args *a);
int ctl_keys(shmc_cache *c, const struct ctl_args *a);

/* Maintenance commands (ctl_maint.c). */
int ctl_verify(shmc_cache *c, const struct ctl_args *a);
int ctl_sweep(shmc_cache *c, const struct ctl_args *a);
int ctl_evict(shmc_cache *c, const struct ctl_args *a);
int ctl_reader_check(shmc_cache *c, const struct ctl_args *a);

#endif
