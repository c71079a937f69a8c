/* ctl_maint.c - shmcache-ctl's maintenance commands: verify, sweep, evict
 * and reader-check, the work shmcached does on its own, by hand. */
#include <stdio.h>

#include "ctl.h"
#include "escape.h"

static int print_problem(const void *key, size_t klen, const char *what,
                         void *arg)
{
    (void)arg;
    escape_write(stdout, key, klen);
    printf(": %s\n", what);
    return 0;
}

int ctl_verify(shmc_cache *c, const struct ctl_args *a)
{
    (void)a;
    shmc_verify_result res;
    int rc = shmc_verify(c, print_problem, NULL, &res);
    if (rc)
        return ctl_fail("verify", rc);
    printf("%llu records checked: %llu problems, %llu expired\n",
           (unsigned long long)res.records, (unsigned long long)res.problems,
           (unsigned long long)res.expired);
    return res.problems ? CTL_TROUBLE : CTL_DONE;
}

static void print_sweep(const shmc_sweep_result *res)
{
    printf("visited %llu records: removed %llu expired, evicted %llu; "
           "full passes %u; map in use %llu bytes\n",
           (unsigned long long)res->visited, (unsigned long long)res->expired,
           (unsigned long long)res->evicted, res->passes,
           (unsigned long long)res->map_used);
}

int ctl_sweep(shmc_cache *c, const struct ctl_args *a)
{
    shmc_sweep_result res;
    int rc = shmc_sweep(c, &a->sweep, &res);
    if (rc)
        return ctl_fail("sweep", rc);
    print_sweep(&res);
    return CTL_DONE;
}

int ctl_evict(shmc_cache *c, const struct ctl_args *a)
{
    shmc_sweep_result res;
    int rc = shmc_evict(c, a->percent, &a->sweep, &res);
    if (rc)
        return ctl_fail("evict", rc);
    print_sweep(&res);
    return CTL_DONE;
}

int ctl_reader_check(shmc_cache *c, const struct ctl_args *a)
{
    (void)a;
    unsigned freed;
    int rc = shmc_reader_check(c, &freed);
    if (rc)
        return ctl_fail("reader-check", rc);
    printf("%u reader slots freed\n", freed);
    return CTL_DONE;
}
