/* maint.c - see maint.h. */
#include "maint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "bridge.h"
#include "lockfile.h"
#include "log.h"

static void log_shmc_failure(const char *path, const char *what, int rc)
{
    const char *detail = shmc_last_error();
    log_msg(LOG_LEVEL_ERROR, "%s: %s: %s%s%s", path, what, shmc_strerror(rc),
            *detail ? ": " : "", detail);
}

static int take_lock(struct maint_instance *m)
{
    char lock_path[CONFIG_MAX_PATH_LEN + sizeof "/" MAINT_LOCK_FILE];
    int n = snprintf(lock_path, sizeof lock_path, "%s/%s", m->path,
                     MAINT_LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof lock_path) {
        log_msg(LOG_LEVEL_ERROR, "%s: path too long", m->path);
        return -1;
    }
    pid_t holder;
    int fd = lockfile_take(lock_path, 0600, &holder);
    if (fd >= 0) {
        m->lock_fd = fd;
        return 0;
    }
    if (fd != -EWOULDBLOCK)
        log_msg(LOG_LEVEL_ERROR, "%s: %s", lock_path, strerror(-fd));
    else if (holder == getpid())
        log_msg(LOG_LEVEL_ERROR,
                "%s: given twice, under two names of one directory",
                m->path);
    else if (holder)
        log_msg(LOG_LEVEL_ERROR,
                "%s: already maintained by another shmcached (pid %ld)",
                m->path, (long)holder);
    else
        log_msg(LOG_LEVEL_ERROR,
                "%s: already maintained by another shmcached (pid not yet "
                "written in %s)",
                m->path, lock_path);
    return -1;
}

static void start_bridge(struct maint_instance *m, const struct config *cfg)
{
    struct bridge_settings s;
    if (cfg->redis && bridge_settings_make(cfg, m->path, &s) == 0)
        m->bridge = bridge_start(m->cache, m->path, &s);
    OPENSSL_cleanse(&s, sizeof s);
}

int maint_attach(struct maint_instance *m, const char *path,
                 const struct config *cfg)
{
    *m = (struct maint_instance){.lock_fd = -1};
    m->path = strdup(path);
    if (!m->path) {
        log_msg(LOG_LEVEL_ERROR, "%s: out of memory", path);
        return -1;
    }
    /* Open first: shmc_open checks that the directory is safe to use
     * (owner, mode, no symbolic link) before a file is created in it. */
    /* Sweeping, evicting and freeing reader slots read no entry: the
     * daemon holds no key. */
    shmc_opts maintenance = config_instance_opts(cfg);
    maintenance.flags |= SHMC_OPEN_NOKEYS;
    int rc = shmc_open(&m->cache, path, &maintenance);
    if (rc) {
        log_shmc_failure(path, "cannot open", rc);
        maint_release(m);
        return -1;
    }
    shmc_info info;
    rc = shmc_info_get(m->cache, &info);
    if (rc) {
        log_shmc_failure(path, "cannot read its size", rc);
        maint_release(m);
        return -1;
    }
    m->map_size = info.map_size;
    if (take_lock(m)) {
        maint_release(m);
        return -1;
    }
    start_bridge(m, cfg);
    return 0;
}

void maint_release(struct maint_instance *m)
{
    bridge_stop(m->bridge);
    shmc_close(m->cache);
    if (m->lock_fd >= 0)
        close(m->lock_fd);
    free(m->path);
    *m = (struct maint_instance){.lock_fd = -1};
}

static unsigned percent_of(uint64_t part, uint64_t whole)
{
    return whole ? (unsigned)(part * 100 / whole) : 0;
}

/* Evict down to the low watermark when the map is above the high one.
 * used: what the sweep just left (shmc_info_get would also walk the lock
 * table and every reader slot: too much for every tick). */
static int evict_if_full(struct maint_instance *m, const struct config *cfg,
                         const shmc_sweep_opts *limits, uint64_t used)
{
    if (used * 100 <= (uint64_t)cfg->high_watermark * m->map_size)
        return 0;
    shmc_sweep_result res = {0};
    int rc = shmc_evict(m->cache, cfg->low_watermark, limits, &res);
    if (rc)
        return rc;
    log_msg(LOG_LEVEL_INFO,
            "%s: map %u%% in use, above %u%%: evicted %llu entries and %llu "
            "expired ones; now %u%%",
            m->path, percent_of(used, m->map_size), cfg->high_watermark,
            (unsigned long long)res.evicted, (unsigned long long)res.expired,
            percent_of(res.map_used, m->map_size));
    return 0;
}

/* The round's steps; the first failure ends the round. */
static int run_round(struct maint_instance *m, const struct config *cfg,
                     const char **step)
{
    const shmc_sweep_opts limits = {
        .budget_us = (uint64_t)cfg->sweep_budget_ms * 1000};
    unsigned freed = 0;
    *step = "reader check";
    int rc = shmc_reader_check(m->cache, &freed);
    if (rc)
        return rc;
    if (freed)
        log_msg(LOG_LEVEL_INFO, "%s: freed %u reader slot%s of dead processes",
                m->path, freed, freed == 1 ? "" : "s");

    shmc_sweep_result swept = {0};
    *step = "sweep";
    rc = shmc_sweep(m->cache, &limits, &swept);
    if (rc)
        return rc;
    if (swept.expired)
        log_msg(LOG_LEVEL_DEBUG, "%s: swept %llu records, removed %llu expired",
                m->path, (unsigned long long)swept.visited,
                (unsigned long long)swept.expired);

    *step = "eviction";
    return evict_if_full(m, cfg, &limits, swept.map_used);
}

void maint_tick(struct maint_instance *m, const struct config *cfg)
{
    const char *step;
    int rc = run_round(m, cfg, &step);
    if (rc && rc != m->last_rc)
        log_shmc_failure(m->path, step, rc);
    else if (!rc && m->last_rc)
        log_msg(LOG_LEVEL_NOTICE, "%s: maintenance works again", m->path);
    m->last_rc = rc;
}
